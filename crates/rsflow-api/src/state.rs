//! What every handler shares: the stores and the server's configuration.

use std::sync::Arc;

use rsflow_store::{LoggedModelStore, ModelRegistryStore, TrackingStore};

/// Flags that shape the HTTP surface (mirrors `mlflow server`).
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// `--static-prefix`, normalised to "" or "/prefix" (no trailing slash).
    pub static_prefix: String,
    /// `--serve-artifacts` (default on).
    pub serve_artifacts: bool,
    /// `--artifacts-only`: tracking routes answer 503.
    pub artifacts_only: bool,
    /// Root for new experiments' `artifact_location` (`mlflow-artifacts:/` when serving).
    pub default_artifact_root: String,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub tracking: Arc<dyn TrackingStore>,
    pub registry: Arc<dyn ModelRegistryStore>,
    pub logged_models: Arc<dyn LoggedModelStore>,
}
