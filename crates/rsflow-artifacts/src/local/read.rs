//! Downloads from a local file: chunks read on the blocking pool, one read ahead.
//!
//! Each chunk is read by the kernel straight into the `Vec` that becomes the response's
//! `Bytes` (`Read::read_to_end` fills spare capacity without zeroing it first), so a byte is
//! copied twice on its way out (page cache to the chunk, chunk to the socket) instead of three
//! times through `tokio::fs::File`'s own buffer. While the response sends one chunk, the next
//! is already being read, so a cold read from disk overlaps with the network.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use tokio::task::JoinHandle;

use crate::store::ByteStream;

type Pending = JoinHandle<io::Result<Vec<u8>>>;

/// `len` bytes of `file` from its current position, as a stream of chunks of at most `chunk`
/// bytes. A file that ends early (truncated while it is read) ends the stream with an error,
/// never with silently fewer bytes than the response announced.
pub(super) fn chunks(file: File, len: u64, chunk: usize) -> ByteStream {
    let file = Arc::new(file);
    let first = start(&file, len, chunk);
    let state = (file, len, first);
    Box::pin(stream::try_unfold(
        state,
        move |(file, left, pending)| async move {
            let Some(pending) = pending else {
                return Ok(None);
            };
            let buf = match pending.await {
                Ok(result) => result?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => return Err(io::Error::other(e)),
            };
            if buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file ended {left} bytes early"),
                ));
            }
            let left = left - buf.len() as u64;
            let next = start(&file, left, chunk);
            Ok(Some((Bytes::from(buf), (file, left, next))))
        },
    ))
}

/// Starts reading the next chunk, unless nothing is left.
fn start(file: &Arc<File>, left: u64, chunk: usize) -> Option<Pending> {
    if left == 0 {
        return None;
    }
    let n = left.min(chunk as u64);
    let file = Arc::clone(file);
    Some(tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(n as usize);
        // Reads at the file's own position; only one read is ever in flight.
        (&*file).take(n).read_to_end(&mut buf)?;
        Ok(buf)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;
    use std::io::{Seek, SeekFrom, Write};

    fn temp_file(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f
    }

    #[tokio::test]
    async fn reads_exactly_len_bytes_in_chunks() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut f = temp_file(&data);
        f.seek(SeekFrom::Start(100)).unwrap();
        let parts: Vec<Bytes> = chunks(f, 5_000, 1_024).try_collect().await.unwrap();
        assert_eq!(
            parts.iter().map(Bytes::len).collect::<Vec<_>>(),
            [1024, 1024, 1024, 1024, 904]
        );
        assert_eq!(parts.concat(), &data[100..5_100]);
    }

    #[tokio::test]
    async fn empty_range_is_an_empty_stream() {
        let parts: Vec<Bytes> = chunks(temp_file(b"abc"), 0, 1_024)
            .try_collect()
            .await
            .unwrap();
        assert!(parts.is_empty());
    }

    #[tokio::test]
    async fn a_file_shorter_than_announced_is_an_error() {
        let mut s = chunks(temp_file(&[7u8; 3_000]), 5_000, 1_024);
        let mut got = 0;
        let err = loop {
            match s.try_next().await {
                Ok(Some(b)) => got += b.len(),
                Ok(None) => panic!("stream ended without an error after {got} bytes"),
                Err(e) => break e,
            }
        };
        assert_eq!(got, 3_000);
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
