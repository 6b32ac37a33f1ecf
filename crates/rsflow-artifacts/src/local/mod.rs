//! [`LocalStore`]: artifacts as files under a local (or NFS-mounted) directory.
//!
//! Every path is opened beneath the root by the kernel (`beneath`), uploads are published
//! atomically through a locked temp file (`upload`), and walks never follow symlinks (`tree`).
//! File I/O runs on tokio's blocking pool in bounded chunks.

mod beneath;
mod pending;
mod read;
mod serial;
mod tree;
mod upload;

use std::ffi::CString;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use rustix::fs::{AtFlags, FileType, OFlags};
use rustix::io::Errno;

use crate::path::{ArtifactPath, PathError};
use crate::store::{ArtifactStore, ByteStream, FileInfo, GetObject, GetOptions, Stat, StoreError};
use beneath::{Root, file_type, is_errno, is_not_found, lookup_error, object_meta};
pub use upload::SweepReport;
use upload::TempFile;

/// Uploads are written to disk in batches of about this size (the chunks as received, one
/// `writev` each, while the next batch arrives). Small enough that a batch is still in the CPU
/// cache when it is copied into the page cache and hashed: with 4 MiB batches that copy
/// (`copy_folio_from_iter_atomic`) was 42% of the server's CPU during a 256 MiB upload, with
/// 256 KiB 6% (perf, bench/local_upload_bench.py), and the server's CPU per GiB fell ~15%.
const WRITE_BUFFER: usize = 256 * 1024;
/// Downloads are read and sent in pieces of at most this size. Each piece is one trip to the
/// blocking pool: 1 MiB costs about 30% less CPU per GiB served than 256 KiB did.
const READ_CHUNK: usize = 1024 * 1024;
/// While an upload is received, what has reached the file is flushed to disk in the background
/// every this many bytes (one flush at a time, the next as soon as the last is done). The final
/// fsync then waits for the last stretch only: receiving and disk writeback overlap instead of
/// running one after the other (the kernel on its own starts writeback only past
/// `dirty_background_ratio`, i.e. gigabytes on a large machine). 16 MiB against the 64 MiB used
/// before: the final fsync waited ~100 ms of a 256 MiB upload's ~550, and the upload's median
/// ratio to a copy + fsync of the same file rose from 0.82-0.83 to 0.90 (bench/local_upload_bench.py,
/// 2 x 5 runs each, alternated).
const SYNC_EVERY: u64 = 16 * 1024 * 1024;

/// Artifacts stored as plain files under `root`, in MLflow's layout, so `mlflow server` can
/// serve the same directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    /// How many batches an upload's hash may fall behind before it is left to finish after
    /// the upload ([`HASH_DEPTH`]; the tests vary it).
    hash_depth: usize,
}

impl LocalStore {
    /// Open the proxy destination: made absolute, created if missing, and swept of temp files
    /// that a killed process left behind (see [`LocalStore::sweep_temp_files`]).
    pub async fn open(root: impl AsRef<Path>) -> io::Result<LocalStore> {
        let root = beneath::absolute(root.as_ref())?;
        let store = LocalStore {
            root,
            hash_depth: HASH_DEPTH,
        };
        let path = store.root.clone();
        blocking(move || Root::open_or_create(&path).map(drop), |e| e).await?;
        let report = store.sweep_temp_files().await?;
        if report.removed > 0 || report.truncated {
            tracing::info!(
                root = %store.root.display(),
                removed = report.removed,
                in_use = report.in_use,
                truncated = report.truncated,
                "swept abandoned uploads"
            );
        }
        Ok(store)
    }

    /// A store over an existing run artifact directory (a direct local root). Nothing is
    /// created or swept; a missing root lists as empty and is created by the first write.
    pub fn attach(root: impl AsRef<Path>) -> io::Result<LocalStore> {
        Ok(LocalStore {
            root: beneath::absolute(root.as_ref())?,
            hash_depth: HASH_DEPTH,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Remove temp files under the root that no live upload holds (each upload keeps an
    /// exclusive `flock` on its temp file, so a sweep is safe while other servers write to the
    /// same directory). The walk is bounded in entries and depth.
    pub async fn sweep_temp_files(&self) -> io::Result<SweepReport> {
        let path = self.root.clone();
        blocking(move || upload::sweep(&Root::open(&path)?), |e| e).await
    }

    fn open_root(&self, path: &ArtifactPath) -> Result<Option<Root>, StoreError> {
        match Root::open(&self.root) {
            Ok(root) => Ok(Some(root)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(StoreError::io("open the artifact root for", path, e)),
        }
    }
}

/// Run blocking file-system work off the async workers. A panic inside is re-raised here.
async fn blocking<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
    on_cancel: impl FnOnce(io::Error) -> E,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(on_cancel(io::Error::other(e))),
    }
}

/// Write `chunks` in order at the file's position, as few `writev` calls as the kernel allows.
fn write_all_chunks(file: &std::fs::File, chunks: &[Bytes]) -> io::Result<()> {
    use std::io::{IoSlice, Write as _};
    let mut f = file;
    let mut start = 0;
    while start < chunks.len() {
        let end = (start + 1024).min(chunks.len());
        let mut slices: Vec<IoSlice<'_>> =
            chunks[start..end].iter().map(|c| IoSlice::new(c)).collect();
        let mut rest: &mut [IoSlice<'_>] = &mut slices;
        while !rest.is_empty() {
            match f.write_vectored(rest) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        start = end;
    }
    Ok(())
}

/// How many batches each stage of an upload may have queued: the writer 512 KiB
/// ([`WRITE_BUFFER`] batches), the hasher 1 MiB, so that the hash may fall a little behind the
/// disk (the scheduler's hiccups) before it is left to finish after the upload. The queues hold
/// the same chunks: an upload holds about 1.25 MiB of its body at most.
const WRITE_DEPTH: usize = 2;
const HASH_DEPTH: usize = 4;
/// How long a download waits for the digest of a file still being hashed (see `put`) before
/// it is served without one.
const DIGEST_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

fn write_step(file: &mut Arc<std::fs::File>, chunks: &[Bytes]) -> io::Result<()> {
    write_all_chunks(file, chunks)
}

fn hash_step(hasher: &mut crate::digest::Hasher, chunks: &[Bytes]) -> io::Result<()> {
    for c in chunks {
        hasher.update(c);
    }
    Ok(())
}

/// The result of an early flush of an upload.
async fn background_sync(
    handle: tokio::task::JoinHandle<io::Result<()>>,
    path: &ArtifactPath,
) -> Result<(), StoreError> {
    match handle.await {
        Ok(result) => result.map_err(|e| StoreError::io("sync", path, e)),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::io("sync", path, io::Error::other(e))),
    }
}

/// Keep `sha256` as the digest of `file` (a filesystem without user xattrs keeps none).
fn keep_digest(file: &std::fs::File, sha256: &str) {
    if let Err(e) = rustix::fs::fsetxattr(
        file,
        crate::digest::XATTR,
        sha256.as_bytes(),
        rustix::fs::XattrFlags::empty(),
    ) {
        tracing::debug!(error = %e, "artifact digest not kept (no user xattrs)");
    }
}

/// Hash bytes `from..len` of a published upload from the page cache, after the `hasher`
/// that took bytes `..from` as they arrived, and keep the digest on the file. Nothing is kept
/// if the file no longer has the upload's size (rewritten in the meantime).
fn finish_digest(
    file: &std::fs::File,
    mut hasher: crate::digest::Hasher,
    from: u64,
    len: u64,
) -> io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut at = from;
    while at < len {
        let want = buf
            .len()
            .min(usize::try_from(len - at).unwrap_or(usize::MAX));
        match file.read_at(&mut buf[..want], at) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(n) => {
                hasher.update(&buf[..n]);
                at += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if file.metadata()?.len() != len {
        return Err(io::Error::other(
            "the file changed size while it was hashed",
        ));
    }
    keep_digest(file, &hasher.finish_hex());
    // Durable like the bytes it describes.
    file.sync_all()
}

fn cancelled(path: &ArtifactPath) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |e| StoreError::io("access", path, e)
}

/// Lookups that find nothing: the path or one of its parents is missing or is a file.
fn is_absent(e: &io::Error) -> bool {
    is_not_found(e) || is_errno(e, Errno::NOTDIR)
}

#[async_trait]
impl ArtifactStore for LocalStore {
    fn uri(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn put(&self, path: &ArtifactPath, mut body: ByteStream) -> Result<u64, StoreError> {
        let (Some(name), Some(parent)) = (path.file_name().map(str::to_owned), path.parent())
        else {
            return Err(PathError::NoFileName.into());
        };
        let root_path = self.root.clone();
        let target = path.clone();
        let mut temp = blocking(
            move || {
                let root = Root::open_or_create(&root_path)
                    .map_err(|e| StoreError::io("open the artifact root for", &target, e))?;
                let dir = root
                    .create_dirs(&parent)
                    .map_err(|e| lookup_error("create the directories of", &target, e))?;
                TempFile::create(dir).map_err(|e| StoreError::io("start writing", &target, e))
            },
            cancelled(path),
        )
        .await?;
        // From here on, dropping `temp` (an error, or this future being dropped because the
        // client went away) removes the partial file.
        let fd = temp
            .take_file()
            .ok_or_else(|| StoreError::io("start writing", path, io::Error::other("no file")))?;
        let file = Arc::new(std::fs::File::from(fd));
        // The body's chunks are written as they came (no copy into a buffer), a batch of about
        // WRITE_BUFFER bytes per `writev`, and hashed, each stage on the blocking pool (see
        // `serial`), while the task reading the socket does nothing but read it.
        //
        // The hash (SHA-256, ~0.5 s/GiB with the CPU's SHA instructions, several times that
        // without) is the largest cost of an upload, so it never holds the upload back: it
        // takes the batches it has room for, and once it falls HASH_DEPTH batches behind it
        // takes no more. Whatever it did not take is hashed after the file is published, from
        // the page cache (`finish_digest`). With a core to spare the hash keeps up and the
        // digest appears with the bytes, as before; where client, server and disk share a
        // few cores, the upload ends at the disk's pace and its digest follows (the file is
        // served without one until then, and a download of it here waits for it).
        let mut writer = serial::Serial::new(file.clone(), WRITE_DEPTH, write_step);
        let mut hasher = crate::digest::enabled().then(|| {
            serial::Serial::new(crate::digest::Hasher::default(), self.hash_depth, hash_step)
        });
        let mut hashed = 0u64;
        let mut behind = false;
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batch_len = 0usize;
        let mut written = 0u64;
        let mut sync_mark = 0u64;
        let mut syncing: Option<tokio::task::JoinHandle<io::Result<()>>> = None;
        let mut end = false;
        while !end {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(StoreError::Body)?;
                    written += chunk.len() as u64;
                    batch_len += chunk.len();
                    batch.push(chunk);
                    if batch_len < WRITE_BUFFER {
                        continue;
                    }
                }
                None if batch.is_empty() => break,
                None => end = true,
            }
            let bufs = Arc::new(std::mem::take(&mut batch));
            if let Some(h) = hasher.as_mut().filter(|_| !behind) {
                if h.try_push(bufs.clone())
                    .map_err(|e| StoreError::io("hash", path, e))?
                {
                    hashed += batch_len as u64;
                } else {
                    behind = true;
                }
            }
            batch_len = 0;
            writer
                .push(bufs)
                .await
                .map_err(|e| StoreError::io("write", path, e))?;
            if !end
                && written - sync_mark >= SYNC_EVERY
                && syncing.as_ref().is_none_or(|h| h.is_finished())
            {
                if let Some(done) = syncing.take() {
                    background_sync(done, path).await?;
                }
                sync_mark = written;
                let f = file.clone();
                syncing = Some(tokio::task::spawn_blocking(move || f.sync_data()));
            }
        }
        drop(
            writer
                .finish()
                .await
                .map_err(|e| StoreError::io("write", path, e))?,
        );
        if let Some(done) = syncing.take() {
            background_sync(done, path).await?;
        }
        let f = file.clone();
        blocking(move || f.sync_all(), |e| e)
            .await
            .map_err(|e| StoreError::io("sync", path, e))?;
        let hasher = match hasher {
            Some(h) => Some(
                h.finish()
                    .await
                    .map_err(|e| StoreError::io("hash", path, e))?,
            ),
            None => None,
        };
        let file = Arc::try_unwrap(file)
            .map_err(|_| StoreError::io("write", path, io::Error::other("file still shared")))?;
        // The temp file stays open (and locked) until it has its final name.
        let target = path.clone();
        // A hash left behind is announced before the file appears under its name, so that no
        // reader here sees it without either its digest or this note.
        let (sha256, deferred) = match hasher {
            Some(h) if hashed == written => (Some(h.finish_hex()), None),
            Some(h) => (
                None,
                Some((h, pending::register(&self.root, path.as_str()))),
            ),
            None => (None, None),
        };
        let published = blocking(
            move || {
                // A hash that kept up: set before the rename, the digest appears with the bytes.
                if let Some(sha256) = sha256 {
                    keep_digest(&file, &sha256);
                }
                temp.publish(&name)
                    .map(|()| file)
                    .map_err(|e| lookup_error("publish", &target, e))
            },
            cancelled(path),
        )
        .await?;
        if let Some((hasher, pending)) = deferred {
            let target = path.clone();
            // Not awaited: the upload is complete (durable and published) without it.
            tokio::task::spawn_blocking(move || {
                let _turn = pending::digest_turn();
                if let Err(e) = finish_digest(&published, hasher, hashed, written) {
                    tracing::warn!(path = %target, error = %e, "artifact digest not kept");
                }
                drop(pending);
            });
        }
        Ok(written)
    }

    async fn get(&self, path: &ArtifactPath, opts: GetOptions) -> Result<GetObject, StoreError> {
        pending::settle(&self.root, path.as_str(), DIGEST_WAIT).await;
        let this = self.clone();
        let target = path.clone();
        let (file, meta, range) = blocking(
            move || {
                let not_found = || StoreError::NotFound(target.clone());
                let root = this.open_root(&target)?.ok_or_else(not_found)?;
                // NONBLOCK: opening a FIFO someone planted must not hang a worker thread.
                let fd = root
                    .open_at(target.as_str(), OFlags::RDONLY | OFlags::NONBLOCK)
                    .map_err(|e| {
                        if is_absent(&e) {
                            not_found()
                        } else {
                            lookup_error("open", &target, e)
                        }
                    })?;
                let st = rustix::fs::fstat(&fd)
                    .map_err(|e| StoreError::io("stat", &target, e.into()))?;
                match file_type(&st) {
                    FileType::RegularFile => {}
                    FileType::Directory => return Err(StoreError::IsDirectory(target.clone())),
                    _ => return Err(not_found()),
                }
                let mut meta = object_meta(&st);
                let mut digest = [0u8; 64];
                if let Ok(64) = rustix::fs::fgetxattr(&fd, crate::digest::XATTR, &mut digest)
                    && let Ok(hex) = std::str::from_utf8(&digest)
                    && crate::digest::is_sha256_hex(hex)
                {
                    // The content's own hash: the strongest validator there is.
                    meta.etag = Some(format!("\"sha256-{hex}\""));
                    meta.sha256 = Some(hex.to_owned());
                }
                let wanted = opts
                    .range
                    .filter(|_| opts.if_range.as_ref().is_none_or(|c| c.matches(&meta)));
                let range = match wanted {
                    Some(r) => Some(r.resolve(meta.size).map_err(StoreError::Range)?),
                    None => None,
                };
                let mut file = std::fs::File::from(fd);
                if let Some((start, _)) = range {
                    file.seek(SeekFrom::Start(start))
                        .map_err(|e| StoreError::io("read", &target, e))?;
                }
                Ok((file, meta, range))
            },
            cancelled(path),
        )
        .await?;
        let len = range.map_or(meta.size, |(a, b)| b - a + 1);
        Ok(GetObject {
            meta,
            range,
            body: read::chunks(file, len, READ_CHUNK),
        })
    }

    async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, StoreError> {
        let this = self.clone();
        let rel = dir.clone();
        blocking(
            move || {
                let Some(root) = this.open_root(&rel)? else {
                    return Ok(vec![]);
                };
                let fd = match root.open_dir(rel.as_str()) {
                    Ok(fd) => fd,
                    Err(e) if is_absent(&e) => return Ok(vec![]),
                    Err(e) => return Err(lookup_error("list", &rel, e)),
                };
                tree::list_dir(&root, &rel, fd).map_err(|e| StoreError::io("list", &rel, e))
            },
            cancelled(dir),
        )
        .await
    }

    async fn delete(&self, path: &ArtifactPath) -> Result<(), StoreError> {
        let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else {
            return Err(StoreError::RootTarget);
        };
        let name = CString::new(name).map_err(|_| PathError::Invalid)?;
        let this = self.clone();
        let target = path.clone();
        blocking(
            move || {
                let Some(root) = this.open_root(&target)? else {
                    return Ok(());
                };
                let dir = match root.open_dir(parent.as_str()) {
                    Ok(fd) => fd,
                    Err(e) if is_absent(&e) => return Ok(()),
                    Err(e) => return Err(lookup_error("delete", &target, e)),
                };
                let io_err = |e: io::Error| StoreError::io("delete", &target, e);
                let st = match rustix::fs::statat(&dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                {
                    Ok(st) => st,
                    Err(Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(io_err(e.into())),
                };
                if file_type(&st) == FileType::Directory {
                    // A concurrent upload may add a file between emptying and removing a directory.
                    let mut attempt = 0;
                    loop {
                        match tree::remove_tree(rustix::fd::AsFd::as_fd(&dir), &name) {
                            Err(e) if is_errno(&e, Errno::NOTEMPTY) && attempt < 3 => attempt += 1,
                            Err(e) if is_not_found(&e) => break,
                            other => break other.map_err(io_err)?,
                        }
                    }
                } else {
                    match rustix::fs::unlinkat(&dir, name.as_c_str(), AtFlags::empty()) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(io_err(e.into())),
                    }
                }
                rustix::fs::fsync(&dir).map_err(|e| io_err(e.into()))
            },
            cancelled(path),
        )
        .await
    }

    async fn check(&self) -> Result<(), StoreError> {
        let path = self.root.clone();
        let at = ArtifactPath::root();
        blocking(
            move || {
                let fail = |e: io::Error| StoreError::Io {
                    op: "write a probe file to",
                    path: path.display().to_string(),
                    source: e,
                };
                let root = Root::open_or_create(&path).map_err(fail)?;
                let dir = rustix::fs::openat(
                    root.fd(),
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| fail(e.into()))?;
                // Dropping the unpublished temp file removes it again.
                let mut temp = TempFile::create(dir).map_err(fail)?;
                let fd = temp
                    .take_file()
                    .ok_or_else(|| fail(io::Error::other("no file")))?;
                let mut file = std::fs::File::from(fd);
                std::io::Write::write_all(&mut file, b"rsflow").map_err(fail)?;
                file.sync_all().map_err(fail)?;
                Ok(())
            },
            cancelled(&at),
        )
        .await
    }

    async fn stat(&self, path: &ArtifactPath) -> Result<Option<Stat>, StoreError> {
        let this = self.clone();
        let target = path.clone();
        blocking(
            move || {
                let Some(root) = this.open_root(&target)? else {
                    return Ok(None);
                };
                let fd = match root.open_at(target.as_str(), OFlags::PATH) {
                    Ok(fd) => fd,
                    Err(e) if is_absent(&e) => return Ok(None),
                    Err(e) => return Err(lookup_error("stat", &target, e)),
                };
                let st = rustix::fs::fstat(&fd)
                    .map_err(|e| StoreError::io("stat", &target, e.into()))?;
                Ok(match file_type(&st) {
                    FileType::Directory => Some(Stat::Dir),
                    FileType::RegularFile => Some(Stat::File(object_meta(&st))),
                    _ => None,
                })
            },
            cancelled(path),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..len).map(|_| rng.u8(..)).collect()
    }

    fn body_of(data: &[u8], chunk: usize) -> ByteStream {
        let chunks: Vec<io::Result<Bytes>> = data
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(futures_util::stream::iter(chunks))
    }

    fn sha256(data: &[u8]) -> String {
        let mut h = crate::digest::Hasher::default();
        h.update(data);
        h.finish_hex()
    }

    /// The digest kept on the file itself (`None`: none, or no user xattrs here).
    fn on_disk(path: &Path) -> Option<String> {
        let mut buf = [0u8; 64];
        match rustix::fs::getxattr(path, crate::digest::XATTR, &mut buf) {
            Ok(64) => Some(String::from_utf8(buf.to_vec()).unwrap()),
            _ => None,
        }
    }

    async fn store(depth: usize) -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LocalStore::open(dir.path()).await.unwrap();
        store.hash_depth = depth;
        // The tests below need a filesystem that keeps user xattrs (ext4, xfs, tmpfs >= 6.6).
        let probe = dir.path().join("probe");
        std::fs::write(&probe, b"x").unwrap();
        rustix::fs::setxattr(
            &probe,
            crate::digest::XATTR,
            sha256(b"x").as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .expect("the test directory keeps user xattrs");
        std::fs::remove_file(probe).unwrap();
        (dir, store)
    }

    async fn read_back(store: &LocalStore, path: &ArtifactPath) -> (Option<String>, Vec<u8>) {
        let mut got = store.get(path, GetOptions::default()).await.unwrap();
        let mut bytes = Vec::new();
        while let Some(c) = got.body.next().await {
            bytes.extend_from_slice(&c.unwrap());
        }
        (got.meta.sha256, bytes)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_left_behind_is_finished_after_the_upload_and_a_download_waits_for_it() {
        // Depth 0: the hash takes no batch while the body streams, all of it is read back.
        let (dir, store) = store(0).await;
        let bytes = data(3 * 1024 * 1024 + 17, 1);
        let path = ArtifactPath::parse("run/model.bin").unwrap();
        assert_eq!(
            store.put(&path, body_of(&bytes, 64 * 1024)).await.unwrap(),
            bytes.len() as u64
        );
        let (digest, back) = read_back(&store, &path).await;
        assert_eq!(back, bytes);
        assert_eq!(digest.as_deref(), Some(sha256(&bytes).as_str()));
        assert_eq!(on_disk(&dir.path().join("run/model.bin")), digest);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_that_falls_behind_midway_ends_with_the_whole_files_digest() {
        // Depth 1: some batches hashed as they came, the rest read back; either way the digest
        // is of the whole file, in order.
        let (dir, store) = store(1).await;
        for seed in 0..4 {
            let bytes = data(9 * 1024 * 1024 + seed as usize, seed);
            let path = ArtifactPath::parse(&format!("f{seed}.bin")).unwrap();
            store.put(&path, body_of(&bytes, 100_000)).await.unwrap();
            let (digest, back) = read_back(&store, &path).await;
            assert!(back == bytes);
            assert_eq!(
                digest.as_deref(),
                Some(sha256(&bytes).as_str()),
                "seed {seed}"
            );
            assert_eq!(on_disk(&dir.path().join(path.as_str())), digest);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_digest_follows_the_last_of_two_uploads_of_a_path() {
        let (dir, store) = store(0).await;
        let first = data(4 * 1024 * 1024, 7);
        let second = data(2 * 1024 * 1024 + 5, 8);
        let path = ArtifactPath::parse("same.bin").unwrap();
        store.put(&path, body_of(&first, 1 << 20)).await.unwrap();
        store.put(&path, body_of(&second, 1 << 20)).await.unwrap();
        let (digest, back) = read_back(&store, &path).await;
        assert!(back == second);
        assert_eq!(digest.as_deref(), Some(sha256(&second).as_str()));
        // The first upload's job, however late, wrote to the replaced file only.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(on_disk(&dir.path().join("same.bin")), digest);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_that_keeps_up_is_on_the_file_when_it_appears() {
        // A body within the hash's queue: hashed before the rename, no note needed.
        let (dir, store) = store(HASH_DEPTH).await;
        let bytes = data(WRITE_BUFFER * (HASH_DEPTH - 1), 3);
        let path = ArtifactPath::parse("small.bin").unwrap();
        store.put(&path, body_of(&bytes, 32 * 1024)).await.unwrap();
        assert_eq!(
            on_disk(&dir.path().join("small.bin")).as_deref(),
            Some(sha256(&bytes).as_str())
        );
    }
}
