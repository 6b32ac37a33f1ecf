//! Proxied downloads from object storage as a window of concurrent ranged GETs, delivered in
//! order, in bounded and exactly accounted memory.
//!
//! One GET stream from an S3 server is much slower than several (s3s-fs, which reads its files
//! 4 KiB at a time, serves one stream at 20-85 MiB/s and four at ~200), so a download is cut
//! into ranges of [`RANGE`] bytes and up to [`WINDOW`] of them are fetched at once. Each range streams into one buffer of exactly its
//! size, allocated once; the response takes whatever has arrived of the head range as it
//! arrives (a split of that buffer, no copy), so the head range is never held back until it is
//! complete, and the ranges behind it fill their own buffers meanwhile. When the head range is
//! done, the next range becomes the head and a new range starts. Memory is therefore at most
//! `WINDOW x RANGE` plus what the HTTP client holds in flight, however large the object.
//!
//! OpenDAL's own concurrent reader (`chunk` + `concurrent`) keeps every range as the HTTP
//! client's chunks until the range is complete; those chunks share larger receive buffers, and a
//! new buffer per range left glibc's heap fragmented, so the same window held two to three times
//! its size (8 MiB x 4: 100 MiB peak on a fresh server). Buffers of finished ranges are reused
//! here once the response has dropped their bytes.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Bytes per ranged GET, and ranges fetched at once (the head included). Measured with
/// bench/run.sh's S3 section (1 GiB, stock client, s3s-fs; 2026-12-03, bench/README.md): 4 MiB x
/// 4 downloaded at 0.72-0.87x boto3 with a 54 MiB peak, where the former OpenDAL reader (1 MiB x
/// 12) was at 0.59x the same afternoon; 8 MiB x 4 reached 0.74x but peaked at 74 MiB and 6 MiB x 4
/// at 63 MiB (the 64 MiB budget covers the upload before it, whose heap glibc keeps).
/// Ten at once, as boto3's `download_file` reads (10 threads), in 2 MiB ranges so that the
/// window stays at 20 MiB (`RSFLOW_STORAGE_READ_RANGE` / `RSFLOW_STORAGE_READ_CONCURRENCY`
/// change both).
pub const RANGE: u64 = 2 * 1024 * 1024;
pub const WINDOW: usize = 10;

/// Buffers whose bytes were handed out as [`Bytes`], kept to be reused once every one of those
/// bytes was dropped (`BytesMut::try_reclaim`), so a transfer of any size allocates a handful of
/// buffers instead of one per range or part. Used by downloads here and by uploads' parts.
pub(super) struct Reused {
    spare: Vec<BytesMut>,
    keep: usize,
}

impl Reused {
    pub(super) fn new(keep: usize) -> Self {
        Reused {
            spare: Vec::new(),
            keep,
        }
    }

    /// An empty buffer with room for `len` bytes: a released one whose bytes are all dropped,
    /// or a new one.
    pub(super) fn get(&mut self, len: usize) -> BytesMut {
        match self.spare.iter_mut().position(|b| b.try_reclaim(len)) {
            Some(i) => self.spare.swap_remove(i),
            None => BytesMut::with_capacity(len),
        }
    }

    /// Keeps what is left of a buffer (its allocation) for a later [`Reused::get`].
    pub(super) fn release(&mut self, buf: BytesMut) {
        if self.spare.len() < self.keep {
            self.spare.push(buf);
        }
    }
}

/// What one range's task has delivered so far.
#[derive(Default)]
struct Filled {
    buf: BytesMut,
    done: bool,
    error: Option<io::Error>,
}

struct Shared {
    filled: Mutex<Filled>,
    ready: Notify,
}

/// One range in the window; its task is stopped when the download is dropped.
struct Slot {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How to read one byte range of the object (a ranged GET, with the object's ETag as a
/// condition where the store supports it).
pub type RangeReader = Arc<
    dyn Fn(u64, u64) -> Pin<Box<dyn Future<Output = io::Result<crate::store::ByteStream>> + Send>>
        + Send
        + Sync,
>;

/// Reads `start..end` of one object through `read` as a window of ranged GETs.
pub fn stream(read: RangeReader, start: u64, end: u64, range: u64, window: usize) -> Ranged {
    Ranged {
        read,
        next: start,
        end,
        range: range.max(1),
        window: window.max(1),
        slots: std::collections::VecDeque::new(),
        buffers: Reused::new(window.max(1) + 1),
        waiting: None,
    }
}

pub struct Ranged {
    read: RangeReader,
    next: u64,
    end: u64,
    range: u64,
    window: usize,
    slots: std::collections::VecDeque<Slot>,
    /// Buffers of finished ranges, reused once the response has let go of their bytes: a
    /// download allocates about `window + 1` buffers whatever its size.
    buffers: Reused,
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Ranged {
    fn fill_window(&mut self) {
        while self.slots.len() < self.window && self.next < self.end {
            let (a, b) = (self.next, self.end.min(self.next + self.range));
            self.next = b;
            let buf = self.buffers.get((b - a) as usize);
            let shared = Arc::new(Shared {
                filled: Mutex::new(Filled {
                    buf,
                    ..Filled::default()
                }),
                ready: Notify::new(),
            });
            let task = tokio::spawn(fetch(self.read.clone(), a, b, shared.clone()));
            self.slots.push_back(Slot { shared, task });
        }
    }
}

async fn fetch(read: RangeReader, a: u64, b: u64, shared: Arc<Shared>) {
    let result = async {
        let mut body = read(a, b).await?;
        let mut got = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            got += chunk.len() as u64;
            if got > b - a {
                return Err(io::Error::other(
                    "the store sent more bytes than the range asked for",
                ));
            }
            shared.filled.lock().unwrap().buf.extend_from_slice(&chunk);
            shared.ready.notify_one();
        }
        if got < b - a {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the store ended a range after {got} of {} bytes", b - a),
            ));
        }
        Ok(())
    }
    .await;
    {
        let mut filled = shared.filled.lock().unwrap();
        filled.done = true;
        filled.error = result.err();
    }
    shared.ready.notify_one();
}

impl Stream for Ranged {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(waiting) = this.waiting.as_mut() {
                if waiting.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.waiting = None;
            }
            this.fill_window();
            let Some(head) = this.slots.front() else {
                return Poll::Ready(None);
            };
            let shared = head.shared.clone();
            let mut filled = shared.filled.lock().unwrap();
            if !filled.buf.is_empty() {
                return Poll::Ready(Some(Ok(filled.buf.split().freeze())));
            }
            if let Some(e) = filled.error.take() {
                drop(filled);
                this.slots.clear();
                this.next = this.end;
                return Poll::Ready(Some(Err(e)));
            }
            if filled.done {
                let buf = std::mem::take(&mut filled.buf);
                drop(filled);
                this.slots.pop_front();
                this.buffers.release(buf);
                continue;
            }
            drop(filled);
            // `notify_one` stores a permit when nobody waits, so a chunk that arrives between
            // the check above and this wait is not missed.
            let owned = shared.clone();
            this.waiting = Some(Box::pin(async move { owned.ready.notified().await }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves ranges of `data` in small chunks, each range after a delay that makes later
    /// ranges finish first, so order must come from the window and not from completion.
    fn reader(data: Arc<Vec<u8>>, fail_at: Option<u64>) -> RangeReader {
        Arc::new(move |a, b| {
            let data = data.clone();
            Box::pin(async move {
                let delay = 20u64.saturating_sub(a / 1000);
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                let chunks: Vec<io::Result<Bytes>> = data[a as usize..b as usize]
                    .chunks(7)
                    .enumerate()
                    .map(|(i, c)| match fail_at {
                        Some(f) if a + (i as u64) * 7 >= f => Err(io::Error::other("store failed")),
                        _ => Ok(Bytes::copy_from_slice(c)),
                    })
                    .collect();
                Ok(Box::pin(futures_util::stream::iter(chunks)) as crate::store::ByteStream)
            })
        })
    }

    async fn collect(s: Ranged) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut s = Box::pin(s);
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn delivers_every_byte_in_order_for_any_geometry() {
        let data: Arc<Vec<u8>> = Arc::new((0..10_007u32).map(|i| (i * 31 % 251) as u8).collect());
        for (range, window) in [(1000, 4), (4096, 1), (10_007, 2), (20_000, 8), (333, 12)] {
            let got = collect(stream(reader(data.clone(), None), 0, 10_007, range, window))
                .await
                .unwrap();
            assert_eq!(got, *data, "range {range} window {window}");
        }
        // One-byte ranges (each waits its delay, so a short object).
        let got = collect(stream(reader(data.clone(), None), 0, 200, 1, 3))
            .await
            .unwrap();
        assert_eq!(got, data[..200]);
        let got = collect(stream(reader(data.clone(), None), 5, 2_345, 100, 4))
            .await
            .unwrap();
        assert_eq!(got, data[5..2_345]);
        assert!(
            collect(stream(reader(data.clone(), None), 9, 9, 100, 4))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_failed_range_ends_the_stream_with_its_error() {
        let data: Arc<Vec<u8>> = Arc::new(vec![7u8; 5_000]);
        let err = collect(stream(reader(data, Some(2_500)), 0, 5_000, 1_000, 3))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "store failed");
    }

    #[tokio::test]
    async fn a_short_range_is_an_error_not_a_truncated_file() {
        let short: RangeReader = Arc::new(|a, b| {
            Box::pin(async move {
                let n = if a == 0 { b - a } else { (b - a) / 2 };
                let body = futures_util::stream::iter([Ok(Bytes::from(vec![1u8; n as usize]))]);
                Ok(Box::pin(body) as crate::store::ByteStream)
            })
        });
        let err = collect(stream(short, 0, 300, 100, 2)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
