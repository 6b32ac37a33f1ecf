//! What every handler shares: the stores and the server's configuration.

use std::sync::Arc;

use rsflow_artifacts::{ArtifactResolver, ArtifactStore, ResolvedRoot};
use rsflow_store::{
    LoggedModelStore, MetadataStore, ModelRegistryStore, TraceStore, TrackingStore,
};

use crate::limits::{Limiter, LimitsConfig};
use crate::security::SecurityConfig;
use crate::ui::{UiConfig, UiFiles};

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
    /// `--artifacts-destination` as given (proxied storage).
    pub artifacts_destination: String,
    pub security: SecurityConfig,
    /// Body sizes, timeouts and concurrency (`--max-…` flags).
    pub limits: LimitsConfig,
    /// Where MLflow's web UI build is read from (`--ui-dir`).
    pub ui: UiConfig,
}

impl ServerConfig {
    /// Locations whose hosts the server may connect to (MLflow's host policy).
    pub fn trusted_roots(&self) -> Vec<String> {
        vec![
            self.default_artifact_root.clone(),
            self.artifacts_destination.clone(),
        ]
    }
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub tracking: Arc<dyn TrackingStore>,
    pub registry: Arc<dyn ModelRegistryStore>,
    pub logged_models: Arc<dyn LoggedModelStore>,
    /// MLflow 3 traces, spans and assessments.
    pub traces: Arc<dyn TraceStore>,
    /// The proxy destination (`--artifacts-destination`); `None` when it is not configured.
    pub artifacts: Option<Arc<dyn ArtifactStore>>,
    /// The concurrency slots, shared by every clone of the state.
    pub limiter: Arc<Limiter>,
    /// MLflow's web UI build; `None` when it is not installed.
    pub ui: Option<UiFiles>,
}

impl AppState {
    /// One metadata store serves tracking, the registry and logged models (MLflow keeps them
    /// in one database unless `--registry-store-uri` says otherwise).
    pub fn new(config: ServerConfig, store: Arc<dyn MetadataStore>) -> Self {
        AppState {
            limiter: Arc::new(Limiter::new(config.limits)),
            ui: UiFiles::new(&config.ui),
            config: Arc::new(config),
            tracking: store.clone(),
            registry: store.clone(),
            traces: store.clone(),
            logged_models: store,
            artifacts: None,
        }
    }

    pub fn with_artifacts(mut self, destination: Arc<dyn ArtifactStore>) -> Self {
        self.artifacts = Some(destination);
        self
    }

    /// Resolves run artifact roots; proxied roots use the destination only while serving.
    pub fn artifact_resolver(&self) -> ArtifactResolver {
        let destination = self
            .artifacts
            .clone()
            .filter(|_| self.config.serve_artifacts);
        ArtifactResolver::new(destination).with_trusted_roots(self.config.trusted_roots())
    }

    /// Resolve a stored artifact root for a server-side read or write; the resolver applies
    /// the host policy to every location it would connect to.
    pub fn resolve_root(&self, uri: &str) -> rsflow_core::Result<ResolvedRoot> {
        self.artifact_resolver().resolve(uri)
    }
}
