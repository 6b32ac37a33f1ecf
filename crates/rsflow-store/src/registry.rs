//! The [`ModelRegistryStore`] trait: registered models, versions, tags, aliases and stages.

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::wire::{KeyValue, Page};
use rsflow_core::wire_models::{ModelVersion, RegisteredModel};

/// `model-versions/create` after the handler has validated and resolved the source.
#[derive(Debug, Clone, Default)]
pub struct CreateModelVersion {
    pub name: String,
    /// The validated source, stored exactly as given.
    pub source: String,
    /// Where the artifacts are read from (`get-download-uri`): the logged model's artifact
    /// location for `models:/m-...`, the referenced version's location for `models:/name/v`,
    /// otherwise the source itself.
    pub storage_location: String,
    /// Stored as sent: MLflow keeps `""` when the request had no `run_id`.
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<KeyValue>,
}

/// `registered-models/search` and `model-versions/search` after request validation.
#[derive(Debug, Clone, Default)]
pub struct SearchRegistry {
    pub filter: String,
    pub max_results: i64,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

/// Registry metadata with MLflow's semantics and messages. Versions are decimal strings on the
/// wire; the store parses them ("Parameter 'version' must be an integer, got 'x'.").
#[async_trait]
pub trait ModelRegistryStore: Send + Sync + 'static {
    async fn create_registered_model(
        &self,
        name: &str,
        tags: &[KeyValue],
        description: Option<&str>,
    ) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    async fn update_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<RegisteredModel>;
    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel>;
    /// Removes the model with its versions, tags and aliases.
    async fn delete_registered_model(&self, name: &str) -> Result<()>;
    async fn search_registered_models(
        &self,
        query: &SearchRegistry,
    ) -> Result<Page<RegisteredModel>>;
    /// The latest version per stage; all stages when `stages` is empty.
    async fn get_latest_versions(&self, name: &str, stages: &[String])
    -> Result<Vec<ModelVersion>>;
    async fn set_registered_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()>;
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()>;

    /// Allocates `max(version) + 1` atomically: concurrent creates get distinct numbers.
    async fn create_model_version(&self, mv: CreateModelVersion) -> Result<ModelVersion>;
    async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion>;
    async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: Option<&str>,
    ) -> Result<ModelVersion>;
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion>;
    /// Marks the version `Deleted_Internal`, redacts it and drops its aliases (MLflow keeps the
    /// row so version numbers are never reused).
    async fn delete_model_version(&self, name: &str, version: &str) -> Result<()>;
    /// `storage_location`, or `source` when no location was recorded.
    async fn get_model_version_download_uri(&self, name: &str, version: &str) -> Result<String>;
    async fn search_model_versions(&self, query: &SearchRegistry) -> Result<Page<ModelVersion>>;
    async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<()>;
    async fn delete_model_version_tag(&self, name: &str, version: &str, key: &str) -> Result<()>;

    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()>;
    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()>;
    /// `latest` (any case) selects the highest live version.
    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;
}
