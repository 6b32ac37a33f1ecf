//! The [`ArtifactStore`] trait the HTTP layer sees, its value types and its error.
//!
//! Every method takes an [`ArtifactPath`] (already validated and canonical) relative to the
//! store's root. The trait is deliberately small and object-safe so that object-store backends
//! (S3, Azure, GCS, SFTP through OpenDAL) can implement it the same way `LocalStore` does.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use rsflow_core::MlflowError;

use crate::path::{ArtifactPath, PathError};
use crate::range::{ByteRange, Unsatisfiable};

/// A stream of bytes: a request body going in, or an object's content coming out.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// One entry of a directory listing, as MLflow's `FileInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The entry's name (a basename, never a path).
    pub path: String,
    pub is_dir: bool,
    /// `None` for directories and for empty files (MLflow only sets it when non-zero).
    pub file_size: Option<u64>,
}

/// What is known about a stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// A strong validator, quotes included (`"…"`), changing whenever the content may have.
    pub etag: Option<String>,
    /// The SHA-256 of the content (lower-case hex), computed when it was stored, where the
    /// backend keeps it (see [`crate::digest`]).
    pub sha256: Option<String>,
}

/// `stat` of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stat {
    File(ObjectMeta),
    Dir,
}

/// An `If-Range` precondition: serve the range only if the object still matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfRange {
    ETag(String),
    Date(SystemTime),
}

impl IfRange {
    /// Parse an `If-Range` header value (an entity tag or an HTTP date).
    pub fn parse_header(value: &str) -> Option<IfRange> {
        let v = value.trim();
        if v.starts_with('"') || v.starts_with("W/") {
            return Some(IfRange::ETag(v.to_owned()));
        }
        httpdate::parse_http_date(v).ok().map(IfRange::Date)
    }

    /// Strong comparison (RFC 9110 §13.1.5): weak tags never match.
    pub fn matches(&self, meta: &ObjectMeta) -> bool {
        match self {
            IfRange::ETag(tag) => !tag.starts_with("W/") && meta.etag.as_deref() == Some(tag),
            IfRange::Date(date) => meta.modified.is_some_and(|m| {
                let secs = |t: SystemTime| {
                    t.duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .ok()
                };
                secs(m) == secs(*date)
            }),
        }
    }
}

/// How to read a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetOptions {
    pub range: Option<ByteRange>,
    /// Checked against the opened file, so the decision and the bytes come from one version.
    pub if_range: Option<IfRange>,
}

/// An opened file, ready to stream.
pub struct GetObject {
    pub meta: ObjectMeta,
    /// The inclusive byte range being sent, or `None` for the whole file.
    pub range: Option<(u64, u64)>,
    pub body: ByteStream,
}

impl fmt::Debug for GetObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetObject")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Storage failures, each with one MLflow mapping ([`From<StoreError> for MlflowError`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("No such artifact: '{0}'")]
    NotFound(ArtifactPath),
    #[error("Artifact path refers to a directory, not a file: '{0}'")]
    IsDirectory(ArtifactPath),
    #[error("Invalid path: a parent of '{0}' is a file, not a directory")]
    NotADirectory(ArtifactPath),
    #[error("Refusing to delete the root of the artifact store")]
    RootTarget,
    #[error("Requested range not satisfiable (artifact size {})", .0.size)]
    Range(Unsatisfiable),
    /// The request body failed mid-stream (client went away, or a body limit tripped).
    #[error("Failed to read the request body: {0}")]
    Body(#[source] io::Error),
    #[error("{0}")]
    Unsupported(String),
    /// A request the store refused as malformed (a bad multipart part list, say).
    #[error("{0}")]
    Invalid(String),
    /// An object store or SFTP server failed or could not be reached in time.
    #[error("Artifact storage {store} failed to {op}{}: {message}", quoted(path))]
    Remote {
        store: String,
        op: &'static str,
        path: String,
        message: String,
        denied: bool,
    },
    /// An object store call through OpenDAL failed; its error (an `opendal::Error`, boxed:
    /// it is large) stays the source, and the fault, read from its kind, decides the answer.
    #[error("Artifact storage {store} failed to {op}{}: {message}", quoted(path))]
    Backend {
        store: String,
        op: &'static str,
        path: String,
        fault: StorageFault,
        /// One bounded line that says why, without credentials or response dumps.
        message: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("Artifact storage failed to {op} '{path}': {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Why an object store call failed, as far as the answer to the client goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// The store refused the server's credentials (MLflow: PERMISSION_DENIED).
    Denied,
    /// The store is throttling requests.
    Throttled,
    /// The store did not answer in time.
    Timeout,
    /// The store's configuration is wrong (a bad endpoint, a missing credential).
    Config,
    /// The object or container is not there.
    NotFound,
    /// Anything else: down, refusing connections, answering 5xx.
    Unavailable,
}

/// ` 'a/b'`, or nothing for the store's root (the store is named already).
fn quoted(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" '{path}'")
    }
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: &ArtifactPath, source: io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.to_string(),
            source,
        }
    }
}

impl From<StoreError> for MlflowError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        let err = match &e {
            StoreError::Path(p) => p.clone().into(),
            StoreError::NotFound(_) => MlflowError::not_found(message),
            StoreError::IsDirectory(_)
            | StoreError::NotADirectory(_)
            | StoreError::RootTarget
            | StoreError::Range(_)
            | StoreError::Body(_)
            | StoreError::Invalid(_) => MlflowError::invalid_param(message),
            StoreError::Unsupported(_) => MlflowError::not_implemented(message),
            // MLflow maps the store's AccessDenied to PERMISSION_DENIED; everything else a
            // remote store does wrong (down, slow, throttling, 5xx) is worth retrying.
            StoreError::Remote { denied: true, .. }
            | StoreError::Backend {
                fault: StorageFault::Denied,
                ..
            } => MlflowError::permission_denied(message),
            StoreError::Remote { .. } | StoreError::Backend { .. } => {
                MlflowError::unavailable(message, 5)
            }
            // Security spec D10: a full disk is a 503 the operator can fix, not a bare 500.
            StoreError::Io { source, .. } if is_exhaustion(source) => {
                MlflowError::unavailable(message, 30)
            }
            StoreError::Io { .. } => MlflowError::internal(message),
        };
        err.with_source(e)
    }
}

/// Disk full or quota exceeded: the operator must act, but the request itself was fine.
fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error()
            || code == rustix::io::Errno::DQUOT.raw_os_error()
    )
}

/// One presigned URL a client `PUT`s a part to (MLflow's `MultipartUploadCredential`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartCredential {
    pub part_number: u32,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// A started multipart upload (MLflow's `CreateMultipartUpload.Response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub upload_id: Option<String>,
    pub credentials: Vec<PartCredential>,
}

/// A part the client uploaded, as it reports it on `complete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
    pub url: String,
}

/// A presigned download (MLflow's `GetPresignedDownloadUrl.Response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedDownload {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub file_size: Option<u64>,
}

/// Client-driven multipart uploads with presigned part URLs (spec mlflow-artifacts §4.3):
/// the bytes go from the client straight to the store; the server only signs and commits.
#[async_trait]
pub trait MultipartStore: Send + Sync + fmt::Debug + 'static {
    async fn create(
        &self,
        path: &ArtifactPath,
        num_parts: u32,
    ) -> Result<MultipartUpload, StoreError>;
    async fn complete(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), StoreError>;
    async fn abort(&self, path: &ArtifactPath, upload_id: &str) -> Result<(), StoreError>;
}

/// Storage of artifact files under one root. Implementations must never touch anything outside
/// that root, must publish writes atomically (readers see the old or the new bytes, never a
/// mix), and must stream: no method may hold a whole file in memory.
#[async_trait]
pub trait ArtifactStore: Send + Sync + fmt::Debug + 'static {
    /// Where the store lives, for logs (`file:///srv/mlartifacts`).
    fn uri(&self) -> String;

    /// Write `body` to `path`, creating parent directories and replacing any existing file.
    /// Nothing is visible at `path` until the whole body has been stored. Returns bytes written.
    async fn put(&self, path: &ArtifactPath, body: ByteStream) -> Result<u64, StoreError>;

    /// Open a file for streaming, optionally one byte range of it.
    async fn get(&self, path: &ArtifactPath, opts: GetOptions) -> Result<GetObject, StoreError>;

    /// The direct children of `dir`, sorted by name, temp files hidden. A missing path or a file
    /// path lists as empty (the MLflow client relies on that to tell files from directories).
    async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, StoreError>;

    /// Remove a file, or a directory and everything under it. A missing path is not an error.
    /// The root itself is never a valid target.
    async fn delete(&self, path: &ArtifactPath) -> Result<(), StoreError>;

    /// What `path` is, or `None` if nothing is there.
    async fn stat(&self, path: &ArtifactPath) -> Result<Option<Stat>, StoreError>;

    /// Prove the store is reachable and writable (write, read back and delete a hidden probe),
    /// with an error that says what is wrong. Run once at startup.
    async fn check(&self) -> Result<(), StoreError>;

    /// The digest stored for the file at `path` (64 hex digits), even one that no longer
    /// describes its bytes (object metadata for another size, a stale SFTP sidecar), so that
    /// `rsflow artifacts verify` can report those bytes as corrupted. `None`: no digest.
    async fn stored_digest(&self, _path: &ArtifactPath) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// The files directly in `dir` that have a digest sidecar (the store's digest index), so
    /// that `rsflow artifacts verify` can name the ones whose bytes are gone.
    async fn digest_index(&self, _dir: &ArtifactPath) -> Result<Vec<ArtifactPath>, StoreError> {
        Ok(Vec::new())
    }

    /// Multipart uploads with presigned part URLs, where the store supports them.
    fn multipart(&self) -> Option<&dyn MultipartStore> {
        None
    }

    /// Whether [`ArtifactStore::presign_download`] can give URLs (advertised in server-info).
    fn presigns_downloads(&self) -> bool {
        false
    }

    /// A presigned URL to download `path` straight from the store, where supported.
    async fn presign_download(
        &self,
        _path: &ArtifactPath,
        _ttl: std::time::Duration,
    ) -> Result<Option<PresignedDownload>, StoreError> {
        Ok(None)
    }
}
