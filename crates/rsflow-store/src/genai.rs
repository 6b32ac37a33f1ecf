//! The [`GenAiStore`] trait: MLflow 3 evaluation datasets, registered scorers and the labeling
//! entities (spec `mlflow-genai.md` §5), in MLflow's own tables so that `mlflow server` reads
//! what rsflow writes.

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::genai::{
    DatasetRecord, EvaluationDataset, Issue, IssueUpdate, LabelSchema, LabelSchemaUpdate,
    OnlineScoringConfig, RecordUpsert, ReviewQueue, ReviewQueueItem, ReviewQueueUpdate,
    ScorerVersion, SearchDatasets, UpsertCounts,
};
use rsflow_core::wire::Page;

/// GenAI evaluation metadata. Every method answers MLflow's error codes and messages.
#[async_trait]
pub trait GenAiStore: Send + Sync + 'static {
    /// Names are not unique; `experiment_ids` become entity associations.
    async fn create_dataset(
        &self,
        name: &str,
        tags: &[(String, String)],
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset>;
    /// 404 "Evaluation dataset with id '<id>' not found".
    async fn get_dataset(&self, dataset_id: &str) -> Result<EvaluationDataset>;
    /// Hard delete; an unknown id is a no-op.
    async fn delete_dataset(&self, dataset_id: &str) -> Result<()>;
    async fn search_datasets(&self, query: &SearchDatasets) -> Result<Page<EvaluationDataset>>;
    /// Upsert; `None` values are skipped.
    async fn set_dataset_tags(&self, dataset_id: &str, tags: &[(String, String)]) -> Result<()>;
    /// Idempotent.
    async fn delete_dataset_tag(&self, dataset_id: &str, key: &str) -> Result<()>;
    /// MLflow's merge: de-duplicated on the inputs' hash (spec §5.1).
    async fn upsert_dataset_records(
        &self,
        dataset_id: &str,
        records: &[RecordUpsert],
    ) -> Result<UpsertCounts>;
    /// Ordered by (created_time, id); the token is base64 "created_time:id" or an offset.
    async fn dataset_records(
        &self,
        dataset_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<DatasetRecord>>;
    async fn delete_dataset_records(&self, dataset_id: &str, record_ids: &[String]) -> Result<i64>;
    async fn dataset_experiment_ids(&self, dataset_id: &str) -> Result<Vec<String>>;
    async fn add_dataset_to_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset>;
    async fn remove_dataset_from_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset>;

    /// A new version of (experiment, name); the experiment must exist.
    async fn register_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        serialized_scorer: &str,
    ) -> Result<ScorerVersion>;
    /// The latest version of every scorer of the experiments (all active ones when empty).
    async fn list_scorers(&self, experiment_ids: &[String]) -> Result<Vec<ScorerVersion>>;
    async fn list_scorer_versions(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<Vec<ScorerVersion>>;
    /// `version`: `None` means the latest.
    async fn get_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<ScorerVersion>;
    /// `version`: `None` deletes every version (and the scorer).
    async fn delete_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<()>;
    /// The online configs of some scorer ids.
    async fn online_scoring_configs(
        &self,
        scorer_ids: &[String],
    ) -> Result<Vec<OnlineScoringConfig>>;
    /// Replaces the scorer's config; a positive rate needs a gateway model.
    async fn upsert_online_scoring_config(
        &self,
        experiment_id: &str,
        name: &str,
        sample_rate: f64,
        filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig>;

    /// The schema is validated by the caller; name unique per experiment.
    async fn create_label_schema(&self, schema: &LabelSchema) -> Result<LabelSchema>;
    async fn get_label_schema(&self, schema_id: &str) -> Result<LabelSchema>;
    async fn get_label_schema_by_name(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<LabelSchema>;
    /// Seeds the protected default schema first (MLflow's list does).
    async fn list_label_schemas(
        &self,
        experiment_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<LabelSchema>>;
    async fn update_label_schema(
        &self,
        schema_id: &str,
        update: &LabelSchemaUpdate,
    ) -> Result<LabelSchema>;
    /// A no-op for an unknown id; the default schema is refused.
    async fn delete_label_schema(&self, schema_id: &str) -> Result<()>;

    /// The queue is validated and normalised by the caller.
    async fn create_review_queue(&self, queue: &ReviewQueue) -> Result<ReviewQueue>;
    async fn get_review_queue(&self, queue_id: &str) -> Result<ReviewQueue>;
    async fn get_review_queue_by_name(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<ReviewQueue>;
    async fn list_review_queues(
        &self,
        experiment_id: &str,
        user: Option<&str>,
        item_id: Option<&str>,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<ReviewQueue>>;
    async fn update_review_queue(
        &self,
        queue_id: &str,
        update: &ReviewQueueUpdate,
    ) -> Result<ReviewQueue>;
    async fn delete_review_queue(&self, queue_id: &str) -> Result<()>;
    async fn add_review_queue_items(
        &self,
        queue_id: &str,
        item_ids: &[String],
    ) -> Result<Vec<ReviewQueueItem>>;
    async fn remove_review_queue_items(&self, queue_id: &str, item_ids: &[String]) -> Result<()>;
    async fn list_review_queue_items(
        &self,
        queue_id: &str,
        status: Option<&str>,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<ReviewQueueItem>>;
    async fn set_review_queue_item_status(
        &self,
        queue_id: &str,
        item_id: &str,
        status: &str,
        completed_by: Option<&str>,
    ) -> Result<ReviewQueueItem>;

    async fn create_issue(&self, issue: &Issue) -> Result<Issue>;
    async fn get_issue(&self, issue_id: &str) -> Result<Issue>;
    async fn update_issue(&self, issue_id: &str, update: &IssueUpdate) -> Result<Issue>;
    /// `filters`: (column, equal?, value) on `status` / `source_run_id`.
    async fn search_issues(
        &self,
        experiment_id: Option<&str>,
        filters: &[(String, bool, String)],
        max_results: i64,
        page_token: Option<&str>,
        include_trace_count: bool,
    ) -> Result<Page<Issue>>;
}
