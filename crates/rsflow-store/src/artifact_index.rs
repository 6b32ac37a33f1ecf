//! rsflow's digest index: which artifact files rsflow published, so that
//! `rsflow artifacts verify` can name the ones deleted behind its back (`MISSING`) on stores
//! whose listings cannot tell (local disk, S3, Azure Blob, GCS).
//!
//! It is one table of rsflow's own, `rsflow_artifact_index`, in the backend database: MLflow's
//! artifact listings gain nothing (no file or object is added to the store), and MLflow ignores
//! tables it does not know (`mlflow server` and `mlflow db upgrade` check only the alembic
//! revision). A row is keyed by the file's full location (`<store uri>/<path>`), so the index
//! answers for the destination, for one run's root and for a root opened directly alike.

use async_trait::async_trait;
use rsflow_core::Result;

/// The table (created with [`ArtifactIndexStore::ensure_artifact_index`], never by MLflow).
pub const ARTIFACT_INDEX_TABLE: &str = "rsflow_artifact_index";

#[async_trait]
pub trait ArtifactIndexStore: Send + Sync + 'static {
    /// Create the table if it is not there (idempotent; safe when replicas start together).
    async fn ensure_artifact_index(&self) -> Result<()>;
    /// Whether the table exists (a database no rsflow server wrote to has none).
    async fn has_artifact_index(&self) -> Result<bool>;
    /// Record that a file of `size` bytes was published at `location` (replaces a row).
    async fn index_artifact(&self, location: &str, size: u64) -> Result<()>;
    /// Forget `location` and every file under `location/`.
    async fn unindex_artifacts(&self, location: &str) -> Result<u64>;
    /// Every location recorded at `location` or under `location/`, sorted.
    async fn indexed_artifacts(&self, location: &str) -> Result<Vec<String>>;
}
