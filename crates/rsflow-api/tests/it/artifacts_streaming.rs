//! A 256 MiB artifact goes through PUT and GET as a stream: generated on the fly, hashed on the
//! fly, never held whole. The body runs alone in a child process of the test binary (the other
//! tests share the binary) so the process's peak RSS means something: if any layer buffered the
//! body, it would pass 256 MiB.

use crate::common::{ART, Options, app};
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use futures_util::{StreamExt, stream};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const CHUNK: usize = 1024 * 1024;
const CHUNKS: usize = 256;

/// Chunk `i` of the artifact: a pseudo-random block made distinct by its index.
fn chunk(block: &Bytes, i: usize) -> Bytes {
    let mut c = block.to_vec();
    c[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Bytes::from(c)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const NAME: &str = "artifacts_streaming::a_256_mib_artifact_streams_both_ways";
const ALONE: &str = "RSFLOW_TEST_STREAMING_ALONE";

#[test]
fn a_256_mib_artifact_streams_both_ways() {
    if std::env::var_os(ALONE).is_some() {
        return tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(streams_both_ways());
    }
    // Peak RSS is per process: run this test alone in a fresh copy of the binary.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the child ran no test:\n{stdout}"
    );
}

async fn streams_both_ways() {
    let t = app(Options::default()).await;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let block: Bytes = (0..CHUNK)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into();
    let mut expected = Sha256::new();
    for i in 0..CHUNKS {
        expected.update(chunk(&block, i));
    }
    let expected = expected.finalize();

    let up = block.clone();
    let body = Body::from_stream(
        stream::iter(0..CHUNKS).map(move |i| Ok::<_, std::io::Error>(chunk(&up, i))),
    );
    let req = Request::put(format!("{ART}/big/model.bin"))
        .header("content-length", (CHUNK * CHUNKS).to_string())
        .body(body)
        .unwrap();
    let resp = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let on_disk = std::fs::metadata(t.dest.join("big/model.bin"))
        .unwrap()
        .len();
    assert_eq!(on_disk, (CHUNK * CHUNKS) as u64);

    let resp = t
        .router
        .clone()
        .oneshot(
            Request::get(format!("{ART}/big/model.bin"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-length"].to_str().unwrap(),
        (CHUNK * CHUNKS).to_string()
    );
    let mut got = Sha256::new();
    let mut len = 0usize;
    let mut largest = 0usize;
    let mut data = resp.into_body().into_data_stream();
    while let Some(piece) = data.next().await {
        let piece = piece.unwrap();
        len += piece.len();
        largest = largest.max(piece.len());
        got.update(&piece);
    }
    assert_eq!(len, CHUNK * CHUNKS);
    assert_eq!(got.finalize(), expected);
    assert!(largest <= 1024 * 1024, "download chunks of {largest} bytes");
    let names: Vec<_> = std::fs::read_dir(t.dest.join("big"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["model.bin"]);
    let peak = peak_rss_kib();
    eprintln!("peak RSS: {peak} KiB");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}
