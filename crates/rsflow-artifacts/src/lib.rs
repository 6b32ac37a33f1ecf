//! Artifact storage for rsflow: canonical paths, artifact URIs, and streaming stores.
//!
//! # Layout
//! - [`path`]: [`ArtifactPath`], the one validated relative path every route and store uses.
//! - [`uri`]: [`ArtifactUri`], what a stored `artifact_location` / `artifact_uri` points at.
//! - [`digest`]: SHA-256 of artifacts, computed as they stream in, kept beside them.
//! - [`range`]: HTTP byte ranges resolved against an object's size.
//! - [`store`]: the [`ArtifactStore`] trait, its value types and [`StoreError`].
//! - [`local`]: [`LocalStore`], files under a local or NFS directory, symlink-proof and atomic.
//! - [`remote`]: [`OpendalStore`], S3 and compatibles (RustFS, MinIO, B2, R2, Spaces), Azure
//!   Blob and GCS through OpenDAL, plus S3 multipart uploads with presigned parts.
//! - [`sftp`]: [`SftpStore`], a directory on an SFTP server through the system `ssh`.
//! - [`ssh_askpass`]: password logins for SFTP; [`ssh_askpass::askpass_main`] must run first
//!   thing in `main`.
//! - [`http`]: [`HttpStore`], artifacts held by another MLflow artifact server.
//! - [`resolve`]: [`ArtifactResolver`], from a run's artifact root to a store and a prefix.
//! - [`storage_env`]: [`StorageEnv`], the storage settings the binary reads once at start.
//!
//! NFS needs no backend of its own: mount the export and point `--artifacts-destination` (or
//! `--default-artifact-root`) at the mount; [`LocalStore`] publishes by rename in the target
//! directory and tolerates servers without `flock`, which is what NFS gives.

pub mod digest;
pub mod http;
pub mod indexed;
pub mod local;
pub mod path;
pub mod range;
pub mod remote;
pub mod resolve;
pub mod sftp;
pub mod ssh_askpass;
pub mod storage_env;
pub mod store;
pub mod uri;

use std::sync::Arc;

pub use http::HttpStore;
pub use local::{LocalStore, SweepReport};
pub use path::{ArtifactPath, PathError};
pub use range::ByteRange;
pub use remote::{OpendalStore, StorageTimeouts};
pub use resolve::{ArtifactResolver, ResolvedRoot};
pub use sftp::SftpStore;
pub use storage_env::StorageEnv;
pub use store::{
    ArtifactStore, ByteStream, CompletedPart, FileInfo, GetObject, GetOptions, IfRange,
    MultipartStore, MultipartUpload, ObjectMeta, PartCredential, PresignedDownload, Stat,
    StorageFault, StoreError,
};
pub use uri::{ArtifactUri, HostPolicy, UriError};

/// Open the store behind `--artifacts-destination`: a local path (relative paths are taken
/// against the working directory), a `file:` URI, or a remote URI (`s3://`, `b2://`, `r2://`,
/// `wasbs://`, `gs://`, `sftp://`). Other schemes MLflow knows are refused with a message;
/// `mlflow-artifacts:` and `http(s)` cannot be a destination (the proxy would proxy to
/// itself). Nothing is contacted here: call [`ArtifactStore::check`] to prove the store works.
/// Remote stores take their credentials and endpoints from `env`.
pub async fn open_destination_with(
    uri_or_path: &str,
    env: &StorageEnv,
) -> Result<Arc<dyn ArtifactStore>, StoreError> {
    let unsupported = |why: String| StoreError::Unsupported(why);
    // A password in the URI (sftp://user:password@…) must not reach logs through an error.
    let shown = remote::redact_uri(uri_or_path);
    match ArtifactUri::parse(uri_or_path)
        .map_err(|e| unsupported(format!("Invalid artifacts destination '{shown}': {e}")))?
    {
        ArtifactUri::Local(dir) => {
            let store = LocalStore::open(&dir).await.map_err(|e| StoreError::Io {
                op: "open the artifacts destination",
                path: dir.display().to_string(),
                source: e,
            })?;
            Ok(Arc::new(store))
        }
        ArtifactUri::Proxied { .. } => Err(unsupported(format!(
            "The artifacts destination '{shown}' cannot be an mlflow-artifacts or http(s) URI."
        ))),
        ArtifactUri::Remote { uri, .. } => remote::open_remote(&uri, env).await,
        ArtifactUri::Unsupported { scheme } => Err(unsupported(format!(
            "Artifacts destinations with scheme '{scheme}' are not supported by rsflow."
        ))),
    }
}

/// [`open_destination_with`] with no storage settings: local destinations, and remote ones
/// that need no credentials.
pub async fn open_destination(uri_or_path: &str) -> Result<Arc<dyn ArtifactStore>, StoreError> {
    open_destination_with(uri_or_path, &StorageEnv::default()).await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn destination_errors_hide_passwords() {
        let e = super::open_destination("sftp://me:hunter2@h/x#frag")
            .await
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("me:***@h"), "{e}");
    }
}
