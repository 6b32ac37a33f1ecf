//! Metadata stores: the [`TrackingStore`] trait the HTTP layer sees, and its SQL implementation
//! on MLflow's own schema (SQLite today, PostgreSQL through the same code).
//!
//! # Layout
//! - [`error`]: [`DbError`], a failed database call by kind, with the `sqlx` error as source.
//! - [`TrackingStore`]: experiments, runs, metrics, params, tags, inputs and outputs.
//! - [`sql`]: the sqlx implementation ([`SqlStore`]), schema creation and revision check.
//! - [`registry`]: the [`ModelRegistryStore`] trait (registered models and versions).
//! - [`logged_models`]: the [`LoggedModelStore`] trait (MLflow 3 logged models).
//! - [`auth`]: the [`AuthStore`] trait (basic-auth users, roles, grants; `SqlAuthStore`).
//! - [`traces`]: the [`TraceStore`] trait (MLflow 3 traces, spans, assessments).
//! - [`webhooks`]: the [`WebhookStore`] trait (registry webhooks and their events).
//! - [`genai`]: the [`GenAiStore`] trait (evaluation datasets, scorers, labeling).
//! - [`gc`]: the [`GcStore`] trait (deleted rows by page, their permanent removal, the gc lease).

pub mod artifact_index;
pub mod auth;
pub mod error;
pub mod gc;
pub mod genai;
pub mod logged_models;
pub mod registry;
pub mod sql;
pub mod traces;
pub mod webhooks;

pub use artifact_index::{ARTIFACT_INDEX_TABLE, ArtifactIndexStore};
pub use auth::{AUTH_ALEMBIC_HEAD, AuthStore};
pub use error::DbError;
pub use gc::{DeletedRunFilter, GcExperiment, GcLease, GcLoggedModel, GcRun, GcStore, GcTrace};
pub use genai::GenAiStore;
pub use logged_models::{
    CreateLoggedModel, DatasetFilter, LoggedModelOrderBy, LoggedModelStore, SearchLoggedModels,
};
pub use registry::{CreateModelVersion, ModelRegistryStore, SearchRegistry};
pub use sql::{ALEMBIC_HEAD, SqlAuthStore, SqlStore, StoreOpenError, StoreSettings};
pub use traces::{DeleteTraces, SearchTraces, TraceStore};
pub use webhooks::WebhookStore;

/// Everything one metadata database serves: tracking, the model registry, logged models,
/// traces.
pub trait MetadataStore:
    TrackingStore
    + ModelRegistryStore
    + LoggedModelStore
    + TraceStore
    + WebhookStore
    + GenAiStore
    + GcStore
    + ArtifactIndexStore
{
}
impl<
    T: TrackingStore
        + ModelRegistryStore
        + LoggedModelStore
        + TraceStore
        + WebhookStore
        + GenAiStore
        + GcStore
        + ArtifactIndexStore,
> MetadataStore for T
{
}

/// Open the metadata store a `--backend-store-uri` names: the backend is chosen once, here,
/// from the URI scheme.
/// An empty database is created at `schema_revision` (one of [`sql::CREATABLE_REVISIONS`]).
pub async fn open_metadata_store(
    uri: &str,
    default_artifact_root: &str,
    schema_revision: &str,
) -> Result<std::sync::Arc<dyn MetadataStore>, StoreOpenError> {
    open_metadata_store_with(
        uri,
        default_artifact_root,
        schema_revision,
        &StoreSettings::default(),
    )
    .await
}

/// [`open_metadata_store`] with the operator's settings.
pub async fn open_metadata_store_with(
    uri: &str,
    default_artifact_root: &str,
    schema_revision: &str,
    settings: &StoreSettings,
) -> Result<std::sync::Arc<dyn MetadataStore>, StoreOpenError> {
    Ok(std::sync::Arc::new(
        SqlStore::open_at(uri, default_artifact_root, settings, schema_revision).await?,
    ))
}

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::wire::{
    DatasetInput, DatasetSummary, Experiment, ExperimentTag, Metric, ModelInput, ModelOutput, Page,
    Param, Run, RunInfo, RunStatus, RunTag, ViewType,
};

/// `runs/create` after request validation.
#[derive(Debug, Clone, Default)]
pub struct CreateRun {
    /// Empty means the Default experiment "0".
    pub experiment_id: String,
    pub user_id: String,
    pub run_name: Option<String>,
    pub start_time: i64,
    pub tags: Vec<RunTag>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchRuns {
    pub experiment_ids: Vec<String>,
    pub filter: String,
    pub view_type: ViewType,
    pub max_results: i64,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchExperiments {
    pub filter: String,
    pub view_type: ViewType,
    pub max_results: i64,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

/// `metrics/get-history-bulk-interval` after validation.
#[derive(Debug, Clone, Default)]
pub struct BulkIntervalQuery {
    pub run_ids: Vec<String>,
    pub metric_key: String,
    pub start_step: Option<i64>,
    pub end_step: Option<i64>,
    pub max_results: i64,
}

/// Run metadata. Every method validates what the database must enforce (existence, lifecycle,
/// uniqueness, param immutability) and answers MLflow's error codes and messages.
#[async_trait]
pub trait TrackingStore: Send + Sync + 'static {
    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[ExperimentTag],
    ) -> Result<String>;
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment>;
    /// `None` when no experiment has that name (deleted ones included).
    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>>;
    async fn search_experiments(&self, query: &SearchExperiments) -> Result<Page<Experiment>>;
    async fn delete_experiment(&self, experiment_id: &str) -> Result<()>;
    async fn restore_experiment(&self, experiment_id: &str) -> Result<()>;
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()>;
    async fn set_experiment_tag(&self, experiment_id: &str, tag: &ExperimentTag) -> Result<()>;
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()>;

    async fn create_run(&self, run: CreateRun) -> Result<Run>;
    /// Deleted runs are returned too.
    async fn get_run(&self, run_id: &str) -> Result<Run>;
    async fn update_run(
        &self,
        run_id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo>;
    async fn delete_run(&self, run_id: &str) -> Result<()>;
    async fn restore_run(&self, run_id: &str) -> Result<()>;
    /// One transaction: all or nothing. `log-metric`, `log-parameter` and `set-tag` use it too.
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()>;
    /// `runs/log-parameter`: like a one-param `log_batch`, but MLflow words the conflict error
    /// differently for the single call ("Param with key='k' was already logged ...").
    async fn log_param(&self, run_id: &str, param: &Param) -> Result<()>;
    async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()>;
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()>;
    async fn log_outputs(&self, run_id: &str, models: &[ModelOutput]) -> Result<()>;
    async fn get_metric_history(
        &self,
        run_id: &str,
        metric_key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<Metric>>;
    async fn get_metric_history_bulk_interval(
        &self,
        query: &BulkIntervalQuery,
    ) -> Result<Vec<Metric>>;
    async fn search_runs(&self, query: &SearchRuns) -> Result<Page<Run>>;
    /// The distinct (experiment, dataset name, digest, context) of the datasets logged to
    /// `experiment_ids`, deleted experiments and runs included, at most 1000 (MLflow's
    /// `_search_datasets`). Ids must parse as integers; ids past 64 bits match nothing.
    async fn search_dataset_summaries(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<DatasetSummary>>;

    /// `store_type` for server-info ("SqlStore").
    fn store_type(&self) -> &'static str;

    /// Connection pool use, for `/metrics`.
    fn pool_stats(&self) -> PoolStats {
        PoolStats::default()
    }
}

/// What the metadata store's connection pools are doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Per pool (`write`, `read`; one `main` pool on PostgreSQL): (name, open, idle, max).
    pub pools: Vec<(&'static str, u32, u32, u32)>,
    /// SQLite: metric writes waiting for the group-commit writer.
    pub writer_queue: Option<usize>,
}
