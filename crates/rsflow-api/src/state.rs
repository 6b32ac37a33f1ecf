//! What every handler shares: the stores and the server's configuration.

use std::sync::Arc;

use std::time::Duration;

use rsflow_artifacts::{ArtifactResolver, ArtifactStore, HostPolicy, ResolvedRoot, StorageEnv};
use rsflow_store::{
    GenAiStore, LoggedModelStore, MetadataStore, ModelRegistryStore, TraceStore, TrackingStore,
    WebhookStore,
};

use crate::limits::{Limiter, LimitsConfig};
use crate::security::SecurityConfig;
use crate::ui::{UiConfig, UiFiles};
use crate::webhooks::{WebhookSettings, Webhooks};

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
    /// `MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX`: what new model-version sources
    /// must match, when set.
    pub model_version_source_pattern: Option<crate::registry::source::SourcePattern>,
    /// MLflow's server-side environment settings.
    pub mlflow: MlflowSettings,
    /// Credentials, endpoints and timeouts of artifact storage (for the destination and for
    /// direct-mode roots).
    pub storage: StorageEnv,
    /// `MLFLOW_WEBHOOK_*`: secrets' key, SSRF policy, delivery timeouts and retries.
    pub webhooks: WebhookSettings,
}

/// The `MLFLOW_*` environment settings `mlflow server` reads while serving; rsflow reads them
/// once at start (the binary's `config.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowSettings {
    /// `MLFLOW_TRUNCATE_LONG_VALUES`: long param and tag values are cut to the limit instead
    /// of refused.
    pub truncate_long_values: bool,
    /// `MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS`.
    pub presigned_download_ttl: Duration,
    /// `MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH`.
    pub artifact_location_max_length: usize,
    /// `MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS`.
    pub graphql_max_root_fields: usize,
    /// `MLFLOW_SERVER_GRAPHQL_MAX_ALIASES`.
    pub graphql_max_aliases: usize,
    /// `MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`.
    pub proxy_multipart_upload: bool,
    /// `MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD`.
    pub proxy_multipart_download: bool,
    /// `MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES`, lower case.
    pub allowed_host_schemes: Vec<String>,
    /// `MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS`: `@scorer` payloads may be registered (they are
    /// stored, never run by rsflow).
    pub enable_custom_scorers: bool,
}

impl Default for MlflowSettings {
    fn default() -> Self {
        MlflowSettings {
            truncate_long_values: true,
            presigned_download_ttl: Duration::from_secs(300),
            artifact_location_max_length: crate::locations::DEFAULT_MAX_LOCATION_LEN,
            graphql_max_root_fields: crate::graphql::MAX_ROOT_FIELDS,
            graphql_max_aliases: crate::graphql::MAX_ALIASES,
            proxy_multipart_upload: false,
            proxy_multipart_download: false,
            allowed_host_schemes: Vec::new(),
            enable_custom_scorers: false,
        }
    }
}

impl ServerConfig {
    /// Locations whose hosts the server may connect to (MLflow's host policy).
    pub fn trusted_roots(&self) -> Vec<String> {
        vec![
            self.default_artifact_root.clone(),
            self.artifacts_destination.clone(),
        ]
    }

    /// The whole host policy: the trusted roots and the schemes the operator allowed.
    pub fn host_policy(&self) -> HostPolicy {
        HostPolicy {
            trusted_roots: self.trusted_roots(),
            allowed_schemes: self.mlflow.allowed_host_schemes.clone(),
        }
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
    /// Registry webhooks (rows).
    pub webhook_store: Arc<dyn WebhookStore>,
    /// Registry webhooks (secrets' cipher and the delivery queue).
    pub webhooks: Arc<Webhooks>,
    /// Evaluation datasets, scorers and labeling.
    pub genai: Arc<dyn GenAiStore>,
    /// The proxy destination (`--artifacts-destination`); `None` when it is not configured.
    pub artifacts: Option<Arc<dyn ArtifactStore>>,
    /// The concurrency slots, shared by every clone of the state.
    pub limiter: Arc<Limiter>,
    /// MLflow's web UI build; `None` when it is not installed.
    pub ui: Option<UiFiles>,
    /// The basic-auth app (`--app-name basic-auth`); `None` serves without access control.
    pub auth: Option<Arc<crate::auth::Auth>>,
    /// Built once per server (and again by [`AppState::with_artifacts`]); its clones share
    /// the stores it opened for direct-mode roots.
    resolver: ArtifactResolver,
    /// What the scheduled gc has done (shown on `/metrics`).
    pub gc_progress: Arc<crate::gc::GcProgress>,
    /// `/metrics`, when `--expose-prometheus` is given.
    pub metrics: Option<Arc<crate::observe::Metrics>>,
}

impl AppState {
    /// One metadata store serves tracking, the registry and logged models (MLflow keeps them
    /// in one database unless `--registry-store-uri` says otherwise).
    pub fn new(config: ServerConfig, store: Arc<dyn MetadataStore>) -> Self {
        let webhooks = Arc::new(Webhooks::new(
            config.webhooks.clone(),
            store.clone(),
            store.clone(),
        ));
        AppState {
            webhooks,
            webhook_store: store.clone(),
            limiter: Arc::new(Limiter::new(config.limits)),
            ui: UiFiles::new(&config.ui),
            config: Arc::new(config),
            tracking: store.clone(),
            registry: store.clone(),
            traces: store.clone(),
            genai: store.clone(),
            logged_models: store,
            artifacts: None,
            auth: None,
            resolver: ArtifactResolver::default(),
            gc_progress: Arc::default(),
            metrics: None,
        }
        .with_resolver()
    }

    /// Serve `/metrics` (`--expose-prometheus`).
    pub fn with_metrics(mut self) -> Self {
        self.metrics = Some(Arc::new(crate::observe::Metrics::new(
            &self.config.artifacts_destination,
            &self.gc_progress,
        )));
        self
    }

    pub fn with_auth(mut self, auth: Arc<crate::auth::Auth>) -> Self {
        self.auth = Some(auth);
        self
    }

    pub fn with_artifacts(mut self, destination: Arc<dyn ArtifactStore>) -> Self {
        self.artifacts = Some(destination);
        self.with_resolver()
    }

    fn with_resolver(mut self) -> Self {
        let destination = self
            .artifacts
            .clone()
            .filter(|_| self.config.serve_artifacts);
        self.resolver = ArtifactResolver::new(destination)
            .with_host_policy(self.config.host_policy())
            .with_storage_env(self.config.storage.clone());
        self
    }

    /// Resolves run artifact roots; proxied roots use the destination only while serving.
    pub fn artifact_resolver(&self) -> ArtifactResolver {
        self.resolver.clone()
    }

    /// Resolve a stored artifact root for a server-side read or write; the resolver applies
    /// the host policy to every location it would connect to.
    pub fn resolve_root(&self, uri: &str) -> rsflow_core::Result<ResolvedRoot> {
        self.artifact_resolver().resolve(uri)
    }
}
