//! The [`LoggedModelStore`] trait: MLflow 3 logged models, their params, tags and metrics.

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::wire::{KeyValue, Page};
use rsflow_core::wire_models::{LoggedModel, LoggedModelStatus};

/// `POST /logged-models` after request validation.
#[derive(Debug, Clone, Default)]
pub struct CreateLoggedModel {
    pub experiment_id: String,
    /// A generated `adjective-noun-NNN` name when absent.
    pub name: Option<String>,
    /// Stored as sent; MLflow keeps `""` when absent.
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

/// One `datasets[]` entry of a logged-model search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatasetFilter {
    pub dataset_name: String,
    pub dataset_digest: Option<String>,
}

/// One structured `order_by[]` entry of a logged-model search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedModelOrderBy {
    pub field_name: String,
    pub ascending: bool,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchLoggedModels {
    pub experiment_ids: Vec<String>,
    pub filter: Option<String>,
    pub datasets: Vec<DatasetFilter>,
    /// `None` means MLflow's default page of 50.
    pub max_results: Option<i64>,
    pub order_by: Vec<LoggedModelOrderBy>,
    /// Base64 JSON carrying the offset and the query it belongs to.
    pub page_token: Option<String>,
}

/// Logged-model metadata. Deleted models are invisible unless `allow_deleted` says otherwise.
#[async_trait]
pub trait LoggedModelStore: Send + Sync + 'static {
    async fn create_logged_model(&self, model: CreateLoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, model_id: &str, allow_deleted: bool) -> Result<LoggedModel>;
    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel>;
    async fn delete_logged_model(&self, model_id: &str) -> Result<()>;
    /// Upsert; a key repeated in one call keeps its last value.
    async fn set_logged_model_tags(&self, model_id: &str, tags: &[KeyValue]) -> Result<()>;
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()>;
    async fn log_logged_model_params(&self, model_id: &str, params: &[KeyValue]) -> Result<()>;
    async fn search_logged_models(&self, query: &SearchLoggedModels) -> Result<Page<LoggedModel>>;
    /// Appends `{"name", "version"}` to the model's `mlflow.modelVersions` tag in one
    /// transaction (the server-side half of `register_model`).
    async fn record_model_version(&self, model_id: &str, name: &str, version: i64) -> Result<()>;
}
