//! Artifact storage for rsflow: canonical paths, artifact URIs, and streaming stores.
//!
//! # Layout
//! - [`path`]: [`ArtifactPath`], the one validated relative path every route and store uses.
//! - [`uri`]: [`ArtifactUri`], what a stored `artifact_location` / `artifact_uri` points at.
//! - [`range`]: HTTP byte ranges resolved against an object's size.
//! - [`store`]: the [`ArtifactStore`] trait, its value types and [`StoreError`].
//! - [`local`]: [`LocalStore`], files under a local or NFS directory, symlink-proof and atomic.
//! - [`resolve`]: [`ArtifactResolver`], from a run's artifact root to a store and a prefix.

pub mod local;
pub mod path;
pub mod range;
pub mod resolve;
pub mod store;
pub mod uri;

use std::sync::Arc;

pub use local::{LocalStore, SweepReport};
pub use path::{ArtifactPath, PathError};
pub use range::ByteRange;
pub use resolve::{ArtifactResolver, ResolvedRoot};
pub use store::{
    ArtifactStore, ByteStream, FileInfo, GetObject, GetOptions, IfRange, ObjectMeta, Stat,
    StoreError,
};
pub use uri::{ArtifactUri, UriError};

/// Open the store behind `--artifacts-destination`: a local path (relative paths are taken
/// against the working directory) or a `file:` URI. Other schemes are recognised and refused
/// until their backends exist; `mlflow-artifacts:` and `http(s)` cannot be a destination
/// (the proxy would proxy to itself).
pub async fn open_destination(uri_or_path: &str) -> Result<Arc<dyn ArtifactStore>, StoreError> {
    let unsupported = |why: String| StoreError::Unsupported(why);
    match ArtifactUri::parse(uri_or_path).map_err(|e| {
        unsupported(format!(
            "Invalid artifacts destination '{uri_or_path}': {e}"
        ))
    })? {
        ArtifactUri::Local(dir) => {
            let store = LocalStore::open(&dir).await.map_err(|e| StoreError::Io {
                op: "open the artifacts destination",
                path: dir.display().to_string(),
                source: e,
            })?;
            Ok(Arc::new(store))
        }
        ArtifactUri::Proxied { .. } => Err(unsupported(format!(
            "The artifacts destination '{uri_or_path}' cannot be an mlflow-artifacts or http(s) URI."
        ))),
        ArtifactUri::Unsupported { scheme } => Err(unsupported(format!(
            "Artifacts destinations with scheme '{scheme}' are not supported by rsflow yet."
        ))),
    }
}
