//! [`OpendalStore`]: artifacts in object storage (S3 and compatibles, Azure Blob, GCS) through
//! Apache OpenDAL, streaming both ways in bounded memory.
//!
//! - `location`: parsing `s3://`, `b2://`, `r2://`, `wasbs://`, `gs://`, `sftp://` URIs.
//! - `build`: from a location and MLflow's environment variables to an OpenDAL operator.
//! - `errors`: OpenDAL errors to [`StoreError`]s (404/400/503, never a hang).
//! - `gcs_upload`: GCS uploads of any size through the resumable protocol of the JSON API.
//! - `s3_mpu`, `azure_mpu`: the S3 and Azure Blob multipart uploads behind the proxy's `mpu/*`
//!   routes (presigned part URLs; the bytes go from the client to the store).
//!
//! Object stores have no directories: a "directory" is a key prefix, listings use a `/`
//! delimiter, and 0-byte keys ending in `/` (directory markers) are never shown.

mod azure_mpu;
mod build;
mod errors;
mod gcs_upload;
mod location;
mod ranged;
mod s3_mpu;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use opendal::{EntryMode, ErrorKind, Operator};

use crate::digest::Hasher;
use crate::path::{ALT_TEMP_PREFIX, ArtifactPath, PathError, is_temp_name};
use crate::store::{
    ArtifactStore, ByteStream, FileInfo, GetObject, GetOptions, MultipartStore, ObjectMeta,
    PresignedDownload, Stat, StoreError,
};

pub use build::{S3Settings, StorageTimeouts, open_remote, open_remote_with_env};
pub(crate) use errors::remote_error;
pub use gcs_upload::RESUMABLE_CHUNK as GCS_RESUMABLE_CHUNK;
pub use location::{LocationError, RemoteLocation, S3Flavour, redact_uri};
pub use s3_mpu::S3Multipart;

/// Uploads are sent to the store in parts of this size (S3's minimum part); at most
/// [`UPLOAD_CONCURRENCY`] parts are in flight, so an upload holds a few parts in memory.
/// Measured with bench/run.sh's S3 section: 8 MiB parts were no faster and peaked ~20 MiB
/// higher (77 MiB), 5 MiB keeps a 1 GiB upload near 55 MiB at boto3's throughput.
pub const UPLOAD_CHUNK: usize = 5 * 1024 * 1024;
pub const UPLOAD_CONCURRENCY: usize = 2;
/// Stored objects are opaque bytes; rsflow sets the download type itself from the name.
const CONTENT_TYPE: &str = "application/octet-stream";

/// Which version of an object an upload produced, as the store named it.
enum Version {
    Etag(String),
    Generation(String),
}

/// Rewrites the user metadata of an object already stored, keeping its bytes and its other
/// properties: how the digest of a multipart upload, known only once the last part is sent,
/// becomes metadata of the object itself (S3: in-place `CopyObject`; Azure: Set Blob
/// Metadata; GCS: `objects.patch`). `current` is the object as a stat returned it after the
/// upload; the write is conditional on its ETag (GCS: generation), so it never lands on other
/// bytes. `user` is the full set of user metadata the object is to have.
#[async_trait]
pub(crate) trait MetadataWriter: Send + Sync {
    async fn set_user_metadata(
        &self,
        path: &ArtifactPath,
        current: &opendal::Metadata,
        user: &[(String, String)],
    ) -> Result<(), String>;
}

/// An artifact store over one OpenDAL operator whose root is the artifact root.
#[derive(Clone)]
pub struct OpendalStore {
    op: Operator,
    /// For logs and errors, credentials removed (`s3://bucket/prefix`).
    uri: String,
    multipart: Option<Arc<dyn MultipartStore>>,
    /// Presigned downloads are offered where MLflow offers them (S3).
    presign: bool,
    /// GCS: uploads longer than one chunk go through the resumable protocol, not OpenDAL's
    /// writer (XML multipart, which emulators lack).
    resumable: Option<Arc<gcs_upload::GcsResumable>>,
    /// Rewrites an object's metadata after a multipart upload, to add its digest.
    metadata_writer: Option<Arc<dyn MetadataWriter>>,
    /// Downloads: bytes per ranged GET and ranges fetched at once.
    read_window: ReadWindow,
}

/// How wide a download reads the store: `range` bytes per ranged GET, `concurrent` GETs at
/// once (memory: at most `range x concurrent` per download). `RSFLOW_STORAGE_READ_RANGE`
/// (bytes) and `RSFLOW_STORAGE_READ_CONCURRENCY`; defaults [`ranged::RANGE`] and
/// [`ranged::WINDOW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadWindow {
    pub range: u64,
    pub concurrent: usize,
}

impl Default for ReadWindow {
    fn default() -> Self {
        ReadWindow {
            range: ranged::RANGE,
            concurrent: ranged::WINDOW,
        }
    }
}

impl ReadWindow {
    /// From the settings; out-of-range values (ranges outside 64 KiB..=64 MiB, 1..=64 GETs)
    /// fall back to the defaults.
    pub(crate) fn from_env(env: &build::EnvFn<'_>) -> Self {
        let d = ReadWindow::default();
        let num = |k: &str| env(k).and_then(|v| v.trim().parse::<u64>().ok());
        ReadWindow {
            range: num("RSFLOW_STORAGE_READ_RANGE")
                .filter(|r| (64 * 1024..=64 * 1024 * 1024).contains(r))
                .unwrap_or(d.range),
            concurrent: num("RSFLOW_STORAGE_READ_CONCURRENCY")
                .filter(|c| (1..=64).contains(c))
                .map_or(d.concurrent, |c| c as usize),
        }
    }
}

impl std::fmt::Debug for OpendalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpendalStore")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl OpendalStore {
    pub fn new(op: Operator, uri: String) -> Self {
        OpendalStore {
            op,
            uri,
            multipart: None,
            presign: false,
            resumable: None,
            metadata_writer: None,
            read_window: ReadWindow::default(),
        }
    }

    pub fn with_read_window(mut self, window: ReadWindow) -> Self {
        self.read_window = window;
        self
    }

    pub(crate) fn with_resumable_uploads(mut self, uploads: Arc<gcs_upload::GcsResumable>) -> Self {
        self.resumable = Some(uploads);
        self
    }

    pub(crate) fn with_metadata_writer(mut self, writer: Arc<dyn MetadataWriter>) -> Self {
        self.metadata_writer = Some(writer);
        self
    }

    pub fn with_presigned_downloads(mut self) -> Self {
        self.presign = true;
        self
    }

    pub fn with_multipart(mut self, multipart: Arc<dyn MultipartStore>) -> Self {
        self.multipart = Some(multipart);
        self
    }

    pub fn operator(&self) -> &Operator {
        &self.op
    }

    fn err(&self, op: &'static str, path: &ArtifactPath, e: opendal::Error) -> StoreError {
        remote_error(&self.uri, op, path, e)
    }

    /// `true` when at least one key lives under `path/` (so `path` is a directory).
    async fn has_children(&self, path: &ArtifactPath) -> Result<bool, StoreError> {
        let prefix = dir_key(path);
        let mut lister = match self.op.lister_with(&prefix).limit(2).await {
            Ok(l) => l,
            Err(e) if is_absent(&e) => return Ok(false),
            Err(e) => return Err(self.err("list", path, e)),
        };
        while let Some(entry) = lister.next().await {
            match entry {
                Ok(entry) if entry.path() == prefix => continue,
                Ok(_) => return Ok(true),
                Err(e) if is_absent(&e) => return Ok(false),
                Err(e) => return Err(self.err("list", path, e)),
            }
        }
        Ok(false)
    }

    /// Stream `body` to `path` as a multipart upload; returns the bytes written and the ETag
    /// the store gave the completed object, if it said.
    async fn put_parts(
        &self,
        path: &ArtifactPath,
        mut body: ByteStream,
    ) -> Result<(u64, Option<String>), StoreError> {
        let writer = self
            .op
            .writer_with(path.as_str())
            .content_type(CONTENT_TYPE)
            .chunk(UPLOAD_CHUNK)
            .concurrent(UPLOAD_CONCURRENCY)
            .await
            .map_err(|e| self.err("start writing", path, e))?;
        let mut guard = WriterGuard {
            writer: Some(writer),
        };
        let mut written = 0u64;
        // The request's chunks are copied into part-sized buffers that are reused once the
        // store has sent them: handing the chunks over as they are kept the HTTP server's
        // receive buffers alive until a whole part had gathered (about twice the part in
        // memory, and glibc kept the peak), while an upload of any size now allocates about
        // `UPLOAD_CONCURRENCY + 2` buffers.
        let mut parts = PartBuffers::new(UPLOAD_CHUNK, UPLOAD_CONCURRENCY + 2);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(StoreError::Body)?;
            written += chunk.len() as u64;
            while !chunk.is_empty() {
                let Some(part) = parts.fill(&mut chunk) else {
                    continue;
                };
                if let Some(w) = guard.writer.as_mut() {
                    w.write(part)
                        .await
                        .map_err(|e| self.err("write", path, e))?;
                }
            }
        }
        if let Some(part) = parts.rest()
            && let Some(w) = guard.writer.as_mut()
        {
            w.write(part)
                .await
                .map_err(|e| self.err("write", path, e))?;
        }
        let mut etag = None;
        if let Some(mut w) = guard.writer.take() {
            match w.close().await {
                Ok(meta) => etag = meta.etag().map(strong_etag),
                Err(e) => {
                    guard.writer = Some(w);
                    return Err(self.err("write", path, e));
                }
            }
        }
        Ok((written, etag))
    }

    /// Add the digest of the object just stored at `path` in parts to its own metadata. The
    /// bytes are stored already: a digest that cannot be written leaves the artifact without
    /// one (logged), never the upload failed. `version` is what the upload's completion
    /// reported (S3, Azure: the ETag; GCS: the generation).
    async fn keep_digest(
        &self,
        path: &ArtifactPath,
        sha256: String,
        size: u64,
        version: Option<Version>,
    ) {
        let Some(writer) = &self.metadata_writer else {
            tracing::warn!(path = %path, store = %self.uri, "artifact digest not kept: this store's credentials cannot rewrite object metadata");
            return;
        };
        let current = match self.op.stat(path.as_str()).await {
            Ok(meta) => meta,
            Err(e) => {
                tracing::warn!(path = %path, error = %e, "artifact digest not kept: the object could not be read back");
                return;
            }
        };
        // Another upload replaced the object meanwhile: its bytes are not the ones hashed.
        let replaced = match &version {
            Some(Version::Etag(e)) => current.etag().map(strong_etag).as_ref() != Some(e),
            Some(Version::Generation(g)) => current.version() != Some(g.as_str()),
            None => false,
        };
        if replaced || current.content_length() != size {
            tracing::warn!(path = %path, "artifact digest not kept: the object changed while it was stored");
            return;
        }
        let mut user: Vec<(String, String)> = current
            .user_metadata()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !crate::digest::is_digest_key(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        user.extend(crate::digest::metadata(&sha256, size));
        if let Err(e) = writer.set_user_metadata(path, &current, &user).await {
            tracing::warn!(path = %path, error = %e, "artifact digest not kept: the object's metadata could not be rewritten");
        }
    }

    /// Whether an object has exactly the key `path`, from one listing of the keys that start
    /// with it (no HEAD or DELETE on what may be a directory); `None` when the listing could
    /// not tell (an error, or too many keys sharing the prefix).
    async fn key_listed(&self, path: &ArtifactPath) -> Option<bool> {
        let key = path.as_str();
        let mut lister = self.op.lister(key).await.ok()?;
        let mut seen = 0;
        while let Some(entry) = lister.next().await {
            let entry = entry.ok()?;
            if entry.path().trim_start_matches('/') == key && !entry.metadata().is_dir() {
                return Some(true);
            }
            seen += 1;
            if seen > 100 {
                return None;
            }
        }
        Some(false)
    }

    /// The file at `path`, `Ok(None)` when no object has that exact key.
    async fn stat_file(&self, path: &ArtifactPath) -> Result<Option<ObjectMeta>, StoreError> {
        match self.op.stat(path.as_str()).await {
            Ok(meta) if meta.is_dir() => Ok(None),
            Ok(meta) => Ok(Some(object_meta(&meta))),
            Err(e) if is_absent(&e) => Ok(None),
            // File-system-backed S3 servers (s3s-fs, gateways) fail a HEAD on a "directory"
            // instead of answering 404; a prefix with children is a directory, not a fault.
            Err(e) if self.has_children(path).await.unwrap_or(false) => {
                tracing::debug!(path = %path, error = %e, "HEAD on a prefix failed; it is a directory");
                Ok(None)
            }
            Err(e) => Err(self.err("stat", path, e)),
        }
    }
}

/// The key prefix of a directory: `a/b/`, or `/` (OpenDAL's root) for the root.
fn dir_key(path: &ArtifactPath) -> String {
    if path.is_root() {
        "/".to_owned()
    } else {
        format!("{path}/")
    }
}

fn is_absent(e: &opendal::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn object_meta(meta: &opendal::Metadata) -> ObjectMeta {
    // Served only when it describes an object of this size (see `digest::metadata`).
    let sha256 = stored_digest(meta).filter(|(_, size)| *size == Some(meta.content_length()));
    ObjectMeta {
        size: meta.content_length(),
        modified: meta.last_modified().map(SystemTime::from),
        etag: meta.etag().map(strong_etag),
        sha256: sha256.map(|(hex, _)| hex),
    }
}

/// The digest in an object's metadata and the size it was stored for, stale or not.
fn stored_digest(meta: &opendal::Metadata) -> Option<(String, Option<u64>)> {
    let user = meta.user_metadata()?;
    let hex = user
        .get(crate::digest::METADATA_KEY)
        .filter(|v| crate::digest::is_sha256_hex(v))?;
    let size = user
        .get(crate::digest::SIZE_KEY)
        .and_then(|v| v.trim().parse().ok());
    Some((hex.to_owned(), size))
}

fn lock(h: &Mutex<Hasher>) -> std::sync::MutexGuard<'_, Hasher> {
    h.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Entity tags as HTTP wants them: quoted. Stores that return bare tags get them quoted.
fn strong_etag(tag: &str) -> String {
    if tag.starts_with('"') || tag.starts_with("W/") {
        tag.to_owned()
    } else {
        format!("\"{tag}\"")
    }
}

/// Aborts an unfinished multipart write when the upload future is dropped (client gone),
/// so the store does not keep orphaned parts.
struct WriterGuard {
    writer: Option<opendal::Writer>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Some(mut writer) = self.writer.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::debug!(error = %e, "aborting an unfinished upload failed");
                }
            });
        }
    }
}

/// Part-sized buffers for uploads, reused once every byte handed out of them was dropped.
struct PartBuffers {
    size: usize,
    cur: BytesMut,
    buffers: ranged::Reused,
}

impl PartBuffers {
    fn new(size: usize, keep: usize) -> Self {
        PartBuffers {
            size,
            cur: BytesMut::new(),
            buffers: ranged::Reused::new(keep),
        }
    }

    /// Moves the front of `chunk` into the current part; returns the part once it is full.
    fn fill(&mut self, chunk: &mut Bytes) -> Option<Bytes> {
        if self.cur.capacity() == 0 {
            self.cur = self.buffers.get(self.size);
        }
        let room = self.size - self.cur.len();
        let take = room.min(chunk.len());
        self.cur.extend_from_slice(&chunk.split_to(take));
        (self.cur.len() == self.size).then(|| self.take())
    }

    fn take(&mut self) -> Bytes {
        let part = self.cur.split().freeze();
        self.buffers.release(std::mem::take(&mut self.cur));
        part
    }

    /// What is left once the body has ended.
    fn rest(&mut self) -> Option<Bytes> {
        (!self.cur.is_empty()).then(|| self.take())
    }
}

#[async_trait]
impl ArtifactStore for OpendalStore {
    fn uri(&self) -> String {
        self.uri.clone()
    }

    async fn put(&self, path: &ArtifactPath, mut body: ByteStream) -> Result<u64, StoreError> {
        if path.file_name().is_none() {
            return Err(PathError::NoFileName.into());
        }
        let digests = crate::digest::enabled();
        // Up to one part is read first: a body that fits is stored in one request that carries
        // its SHA-256 as metadata, so the digest appears with the bytes.
        let mut head: Vec<Bytes> = Vec::new();
        let mut head_len = 0usize;
        let mut hasher = Hasher::default();
        let mut ended = false;
        while head_len <= UPLOAD_CHUNK {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(StoreError::Body)?;
                    if digests {
                        hasher.update(&chunk);
                    }
                    head_len += chunk.len();
                    head.push(chunk);
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            let mut write = self
                .op
                .write_with(path.as_str(), opendal::Buffer::from(head))
                .content_type(CONTENT_TYPE);
            if digests {
                write = write.user_metadata(crate::digest::metadata(
                    &hasher.finish_hex(),
                    head_len as u64,
                ));
            }
            write.await.map_err(|e| self.err("write", path, e))?;
            return Ok(head_len as u64);
        }
        // Larger: the parts go out as they fill, hashed on the way; the digest is known once
        // the last byte is in, and is then added to the completed object's own metadata.
        let hasher = Arc::new(Mutex::new(hasher));
        let rest = {
            let hasher = hasher.clone();
            body.inspect(move |chunk| {
                if digests && let Ok(c) = chunk {
                    lock(&hasher).update(c);
                }
            })
        };
        let body: ByteStream =
            Box::pin(futures_util::stream::iter(head.into_iter().map(Ok)).chain(rest));
        let (written, version) = match &self.resumable {
            Some(uploads) => {
                let (written, generation) = uploads.put(&self.op, path, body).await?;
                (written, generation.map(Version::Generation))
            }
            None => {
                let (written, etag) = self.put_parts(path, body).await?;
                (written, etag.map(Version::Etag))
            }
        };
        if digests {
            let sha256 = std::mem::take(&mut *lock(&hasher)).finish_hex();
            self.keep_digest(path, sha256, written, version).await;
        }
        Ok(written)
    }

    async fn get(&self, path: &ArtifactPath, opts: GetOptions) -> Result<GetObject, StoreError> {
        if path.is_root() {
            return Err(StoreError::IsDirectory(path.clone()));
        }
        let Some(meta) = self.stat_file(path).await? else {
            return Err(if self.has_children(path).await? {
                StoreError::IsDirectory(path.clone())
            } else {
                StoreError::NotFound(path.clone())
            });
        };
        let wanted = opts
            .range
            .filter(|_| opts.if_range.as_ref().is_none_or(|c| c.matches(&meta)));
        let range = match wanted {
            Some(r) => Some(r.resolve(meta.size).map_err(StoreError::Range)?),
            None => None,
        };
        // The bytes must come from the version the headers describe.
        let if_match = meta
            .etag
            .clone()
            .filter(|_| self.op.info().capability().read_with_if_match);
        let (start, end) = range.unwrap_or((0, meta.size.saturating_sub(1)));
        let stream = if meta.size == 0 {
            Box::pin(futures_util::stream::empty()) as ByteStream
        } else {
            let op = self.op.clone();
            let key = path.as_str().to_owned();
            let read: ranged::RangeReader = Arc::new(move |a, b| {
                let (op, key, if_match) = (op.clone(), key.clone(), if_match.clone());
                Box::pin(async move {
                    let mut reader = op.reader_with(&key);
                    if let Some(tag) = if_match {
                        reader = reader.if_match(&tag);
                    }
                    let body = reader.await?.into_bytes_stream(a..b).await?;
                    Ok(Box::pin(body) as ByteStream)
                })
            });
            Box::pin(ranged::stream(
                read,
                start,
                end + 1,
                self.read_window.range,
                self.read_window.concurrent,
            ))
        };
        Ok(GetObject {
            meta,
            range,
            body: stream,
        })
    }

    async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, StoreError> {
        let prefix = dir_key(dir);
        let mut lister = match self.op.lister(&prefix).await {
            Ok(l) => l,
            Err(e) if is_absent(&e) => return Ok(vec![]),
            Err(e) => return Err(self.err("list", dir, e)),
        };
        let own = if dir.is_root() { "" } else { prefix.as_str() };
        let mut out: HashMap<String, FileInfo> = HashMap::new();
        while let Some(entry) = lister.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if is_absent(&e) => break,
                Err(e) => return Err(self.err("list", dir, e)),
            };
            let Some(rest) = entry.path().trim_start_matches('/').strip_prefix(own) else {
                continue;
            };
            let is_dir = rest.ends_with('/') || entry.metadata().mode() == EntryMode::DIR;
            let name = rest.trim_end_matches('/');
            // The directory itself (or its marker object), nested keys, hidden and unaddressable names.
            if name.is_empty()
                || name.contains('/')
                || is_temp_name(name.as_bytes())
                || !ArtifactPath::parse(name).is_ok_and(|p| p.as_str() == name)
            {
                continue;
            }
            let size = entry.metadata().content_length();
            let info = FileInfo {
                path: name.to_owned(),
                is_dir,
                file_size: (!is_dir && size > 0).then_some(size),
            };
            // A prefix that is also a key: MLflow lists both; the directory wins the name.
            match out.get(name) {
                Some(existing) if existing.is_dir => {}
                _ => {
                    out.insert(name.to_owned(), info);
                }
            }
        }
        let mut files: Vec<FileInfo> = out.into_values().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    async fn delete(&self, path: &ArtifactPath) -> Result<(), StoreError> {
        if path.is_root() {
            return Err(StoreError::RootTarget);
        }
        // A directory (a run's root, for gc) is not also deleted as a key when one listing
        // shows no object by that name: file-system-backed servers (s3s-fs) answer a DELETE
        // of their directory with a 500, which the retry layer waited on for every run.
        if self.key_listed(path).await != Some(false) {
            match self.op.delete(path.as_str()).await {
                Ok(()) => {}
                Err(e) if is_absent(&e) || e.kind() == ErrorKind::IsADirectory => {}
                // As in `stat_file`: some servers refuse to delete a key that is their directory.
                Err(_) if self.has_children(path).await.unwrap_or(false) => {}
                Err(e) => return Err(self.err("delete", path, e)),
            }
        }
        match self.op.delete_with(&dir_key(path)).recursive(true).await {
            Ok(()) => Ok(()),
            Err(e) if is_absent(&e) => Ok(()),
            Err(e) => Err(self.err("delete", path, e)),
        }
    }

    async fn stat(&self, path: &ArtifactPath) -> Result<Option<Stat>, StoreError> {
        if path.is_root() {
            return Ok(Some(Stat::Dir));
        }
        if let Some(meta) = self.stat_file(path).await? {
            return Ok(Some(Stat::File(meta)));
        }
        Ok(self.has_children(path).await?.then_some(Stat::Dir))
    }

    async fn check(&self) -> Result<(), StoreError> {
        let probe = format!("{ALT_TEMP_PREFIX}check-{:016x}", fastrand::u64(..));
        let at = ArtifactPath::root();
        let fail = |op, e| self.err(op, &at, e);
        self.op
            .write_with(&probe, b"rsflow".to_vec())
            .content_type(CONTENT_TYPE)
            .await
            .map_err(|e| fail("write a probe object", e))?;
        let read = self
            .op
            .read(&probe)
            .await
            .map_err(|e| fail("read back a probe object", e))?;
        self.op
            .delete(&probe)
            .await
            .map_err(|e| fail("delete a probe object", e))?;
        if read.to_vec() != b"rsflow" {
            return Err(StoreError::Unsupported(format!(
                "The artifact store {} returned different bytes than were written.",
                self.uri
            )));
        }
        Ok(())
    }

    async fn stored_digest(&self, path: &ArtifactPath) -> Result<Option<String>, StoreError> {
        Ok(match self.op.stat(path.as_str()).await {
            Ok(meta) => stored_digest(&meta).map(|(hex, _)| hex),
            Err(e) if is_absent(&e) => None,
            Err(e) => return Err(self.err("stat", path, e)),
        })
    }

    fn multipart(&self) -> Option<&dyn MultipartStore> {
        self.multipart.as_deref()
    }

    fn presigns_downloads(&self) -> bool {
        self.presign && self.op.info().capability().presign_read
    }

    async fn presign_download(
        &self,
        path: &ArtifactPath,
        ttl: std::time::Duration,
    ) -> Result<Option<PresignedDownload>, StoreError> {
        if !self.presigns_downloads() {
            return Ok(None);
        }
        let Some(meta) = self.stat_file(path).await? else {
            return Err(StoreError::NotFound(path.clone()));
        };
        let name = path.file_name().unwrap_or_default();
        let signed = self
            .op
            .presign_read_with(path.as_str(), ttl)
            .override_content_disposition(&format!("attachment; filename=\"{name}\""))
            .await
            .map_err(|e| self.err("presign", path, e))?;
        let headers = signed
            .header()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        Ok(Some(PresignedDownload {
            url: signed.uri().to_string(),
            headers,
            file_size: Some(meta.size),
        }))
    }
}

/// Stores opened for direct-mode roots (`s3://bucket/...` in a run's `artifact_uri`), one per
/// bucket/container/host, shared by every request of the resolver that owns it.
#[derive(Debug, Clone, Default)]
pub struct RemoteCache(Arc<Mutex<HashMap<String, Arc<dyn ArtifactStore>>>>);

/// The store for a remote artifact root and the root's path inside it, opened with the
/// settings in `env` (or taken from `cache`).
pub fn resolve_remote(
    uri: &str,
    env: &crate::StorageEnv,
    cache: &RemoteCache,
) -> Result<(Arc<dyn ArtifactStore>, ArtifactPath), StoreError> {
    let location =
        RemoteLocation::parse(uri).map_err(|e| StoreError::Unsupported(e.to_string()))?;
    let prefix = location.prefix().clone();
    let key = location.store_key();
    let mut cache = cache
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(store) = cache.get(&key) {
        return Ok((store.clone(), prefix));
    }
    let store = build::open_location(&location.without_prefix(), &|k: &str| env.get(k))?;
    // Direct-mode roots come from the database; bound the cache so a flood of distinct
    // buckets cannot grow it without end.
    if cache.len() >= 64 {
        cache.clear();
    }
    cache.insert(key, store.clone());
    Ok((store, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted() {
        assert_eq!(strong_etag("abc"), "\"abc\"");
        assert_eq!(strong_etag("\"abc\""), "\"abc\"");
        assert_eq!(strong_etag("W/\"abc\""), "W/\"abc\"");
    }

    /// A multipart upload whose metadata rewrite the store refuses (the copy is signed with a
    /// wrong secret: s3s-fs answers 403) still succeeds, without a digest (none served, none
    /// stored for `verify`), and the bucket holds the object only. Needs the s3s-fs of
    /// `scripts/storage-servers.sh` (RSFLOW_TEST_S3_ENDPOINT); passes, saying so, without.
    #[tokio::test]
    async fn a_refused_metadata_rewrite_leaves_the_upload_without_a_digest() {
        let Ok(endpoint) = std::env::var("RSFLOW_TEST_S3_ENDPOINT") else {
            eprintln!("skipping: RSFLOW_TEST_S3_ENDPOINT is not set");
            return;
        };
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        let bucket = var("RSFLOW_TEST_S3_BUCKET", "rsflow-test");
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let location =
            RemoteLocation::parse(&format!("s3://{bucket}/rewrite-refused-{nanos}")).unwrap();
        let good: HashMap<&str, String> = HashMap::from([
            ("MLFLOW_S3_ENDPOINT_URL", endpoint),
            (
                "AWS_ACCESS_KEY_ID",
                var("RSFLOW_TEST_S3_ACCESS_KEY", "rsflowtest"),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                var("RSFLOW_TEST_S3_SECRET_KEY", "rsflowtestsecret"),
            ),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]);
        let mut bad = good.clone();
        bad.insert("AWS_SECRET_ACCESS_KEY", "not-the-secret".into());
        let good_env = |k: &str| good.get(k).cloned();
        let bad_env = |k: &str| bad.get(k).cloned();
        let timeouts = build::StorageTimeouts::default();
        let settings = build::S3Settings::from_env(&location, &good_env).unwrap();
        let op = build::finish(
            settings.builder(&location, &good_env).unwrap(),
            &location,
            timeouts,
            false,
        )
        .unwrap();
        let writer = s3_mpu::S3Multipart::new(
            build::S3Settings::from_env(&location, &bad_env).unwrap(),
            location.prefix(),
            timeouts,
            &bad_env,
        )
        .unwrap();
        let store =
            OpendalStore::new(op, location.to_string()).with_metadata_writer(Arc::new(writer));
        let data: Vec<u8> = (0..UPLOAD_CHUNK + 7777).map(|i| (i % 253) as u8).collect();
        let chunks: Vec<std::io::Result<Bytes>> = data
            .chunks(1 << 20)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let path = ArtifactPath::parse("d/big.bin").unwrap();
        let written = store
            .put(&path, Box::pin(futures_util::stream::iter(chunks)))
            .await
            .unwrap();
        assert_eq!(written, data.len() as u64);
        let mut got = store.get(&path, GetOptions::default()).await.unwrap();
        assert_eq!(got.meta.sha256, None);
        let mut back = Vec::new();
        while let Some(c) = got.body.next().await {
            back.extend_from_slice(&c.unwrap());
        }
        assert!(back == data, "the bytes differ");
        assert_eq!(store.stored_digest(&path).await.unwrap(), None);
        let mut keys = Vec::new();
        let mut lister = store.op.lister_with("").recursive(true).await.unwrap();
        while let Some(e) = lister.next().await {
            let e = e.unwrap();
            if !e.metadata().is_dir() {
                keys.push(e.path().to_owned());
            }
        }
        assert_eq!(keys, ["d/big.bin"]);
        store
            .delete(&ArtifactPath::parse("d").unwrap())
            .await
            .unwrap();
    }

    #[test]
    fn directory_keys() {
        assert_eq!(dir_key(&ArtifactPath::root()), "/");
        assert_eq!(dir_key(&ArtifactPath::parse("a/b").unwrap()), "a/b/");
    }
}
