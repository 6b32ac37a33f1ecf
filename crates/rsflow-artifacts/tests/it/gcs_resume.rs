//! GCS resumable uploads when the connection drops in the middle of a chunk: the upload asks
//! the session how many bytes it committed and sends only the rest.
//!
//! A TCP relay between the store and gcp-storage-emulator cuts one connection once a given
//! number of request bytes has gone through it (the emulator keeps the bytes of the chunk it
//! received before the cut, as GCS may).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rsflow_artifacts::remote::{GCS_RESUMABLE_CHUNK, open_remote_with_env};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cases::{digest, p, patterned};
use crate::{skip, unique, var};

#[derive(Default)]
struct Relay {
    /// Request bytes relayed so far, over all connections.
    sent: AtomicUsize,
    /// The connection is cut once `sent` reaches this.
    cut_at: usize,
    cut: AtomicBool,
    connections: AtomicUsize,
    /// The `Content-Range` of every request relayed (headers start a read on these requests).
    ranges: Mutex<Vec<String>>,
}

impl Relay {
    fn note_ranges(&self, bytes: &[u8]) {
        const NAME: &[u8] = b"content-range: ";
        let lower = bytes.to_ascii_lowercase();
        let mut at = 0;
        while let Some(i) = lower[at..].windows(NAME.len()).position(|w| w == NAME) {
            let start = at + i + NAME.len();
            let end = lower[start..]
                .iter()
                .position(|&b| b == b'\r')
                .map_or(lower.len(), |e| start + e);
            let value = String::from_utf8_lossy(&bytes[start..end]).into_owned();
            self.ranges.lock().unwrap().push(value);
            at = end;
        }
    }
}

async fn relay(upstream: String, cut_at: usize) -> (String, Arc<Relay>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stats = Arc::new(Relay {
        cut_at,
        ..Relay::default()
    });
    let shared = stats.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            shared.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(pipe(client, server, shared.clone()));
        }
    });
    (addr, stats)
}

async fn pipe(mut client: TcpStream, mut server: TcpStream, stats: Arc<Relay>) {
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut up = vec![0u8; 64 * 1024];
    let mut down = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            r = cr.read(&mut up) => {
                let n = match r { Ok(0) | Err(_) => return, Ok(n) => n };
                let before = stats.sent.fetch_add(n, Ordering::SeqCst);
                // Request heads arrive at the start of a read; bodies are mostly past them.
                stats.note_ranges(&up[..n.min(4096)]);
                if before + n >= stats.cut_at && !stats.cut.swap(true, Ordering::SeqCst) {
                    // Pass on the bytes up to the cut, then drop both ends mid-request.
                    let keep = stats.cut_at.saturating_sub(before).min(n);
                    let _ = sw.write_all(&up[..keep]).await;
                    let _ = sw.flush().await;
                    return;
                }
                if sw.write_all(&up[..n]).await.is_err() { return; }
            }
            r = sr.read(&mut down) => {
                let n = match r { Ok(0) | Err(_) => return, Ok(n) => n };
                if cw.write_all(&down[..n]).await.is_err() { return; }
            }
        }
    }
}

#[tokio::test]
async fn gcs_resumes_after_a_dropped_chunk() {
    let Some(host) = var("RSFLOW_TEST_GCS_EMULATOR") else {
        skip("GCS (gcp-storage-emulator)", "RSFLOW_TEST_GCS_EMULATOR");
        return;
    };
    let upstream = host
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    // In the middle of the second chunk (the first went through whole).
    let cut_at = GCS_RESUMABLE_CHUNK + GCS_RESUMABLE_CHUNK / 2 + 12_345;
    let (addr, stats) = relay(upstream, cut_at).await;
    let bucket = var("RSFLOW_TEST_GCS_BUCKET").unwrap_or_else(|| "rsflow-test".into());
    let env = HashMap::from([("STORAGE_EMULATOR_HOST", addr)]);
    let uri = format!("gs://{bucket}/{}", unique("gcs-resume"));
    let store = open_remote_with_env(&uri, &move |k: &str| env.get(k).cloned()).unwrap();

    let len = 2 * GCS_RESUMABLE_CHUNK + 777;
    let (body, want) = patterned(len, 3);
    let n = store.put(&p("resumed/blob.bin"), body).await.unwrap();
    assert_eq!(n, len as u64);
    assert!(
        stats.cut.load(Ordering::SeqCst),
        "the relay never cut a connection"
    );
    assert!(stats.connections.load(Ordering::SeqCst) >= 2);
    // After the cut: a status query, then the rest of the chunk from the committed offset
    // (the emulator kept what it received, which is not a whole chunk), then the last piece.
    let ranges = stats.ranges.lock().unwrap().clone();
    let query = ranges
        .iter()
        .position(|r| r == "bytes */*")
        .unwrap_or_else(|| panic!("no status query: {ranges:?}"));
    let resumed: u64 = ranges[query + 1]
        .strip_prefix("bytes ")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no resumed chunk: {ranges:?}"));
    let chunk = GCS_RESUMABLE_CHUNK as u64;
    assert!(
        resumed > chunk && resumed < 2 * chunk,
        "resumed at {resumed}: {ranges:?}"
    );
    assert_eq!(
        ranges.last().unwrap(),
        &format!("bytes {}-{}/{len}", 2 * chunk, len - 1),
        "{ranges:?}"
    );
    let (got, size) = digest(store.as_ref(), "resumed/blob.bin").await;
    assert_eq!(size, len as u64);
    assert_eq!(got, want, "the resumed upload's bytes differ");
}
