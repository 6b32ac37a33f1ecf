//! [`GenAiStore`] for [`SqlStore`]: every write retried on a PostgreSQL conflict.

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::genai::{
    DatasetRecord, EvaluationDataset, Issue, IssueUpdate, LabelSchema, LabelSchemaUpdate,
    OnlineScoringConfig, RecordUpsert, ReviewQueue, ReviewQueueItem, ReviewQueueUpdate,
    ScorerVersion, SearchDatasets, UpsertCounts,
};
use rsflow_core::wire::Page;

use super::SqlStore;
use crate::GenAiStore;

#[async_trait]
impl GenAiStore for SqlStore {
    async fn create_dataset(
        &self,
        name: &str,
        tags: &[(String, String)],
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        self.retrying(|| self.create_dataset_impl(name, tags, experiment_ids))
            .await
    }
    async fn get_dataset(&self, dataset_id: &str) -> Result<EvaluationDataset> {
        self.get_dataset_impl(dataset_id).await
    }
    async fn delete_dataset(&self, dataset_id: &str) -> Result<()> {
        self.retrying(|| self.delete_dataset_impl(dataset_id)).await
    }
    async fn search_datasets(&self, query: &SearchDatasets) -> Result<Page<EvaluationDataset>> {
        self.search_datasets_impl(query).await
    }
    async fn set_dataset_tags(&self, dataset_id: &str, tags: &[(String, String)]) -> Result<()> {
        self.retrying(|| self.set_dataset_tags_impl(dataset_id, tags))
            .await
    }
    async fn delete_dataset_tag(&self, dataset_id: &str, key: &str) -> Result<()> {
        self.retrying(|| self.delete_dataset_tag_impl(dataset_id, key))
            .await
    }
    async fn upsert_dataset_records(
        &self,
        dataset_id: &str,
        records: &[RecordUpsert],
    ) -> Result<UpsertCounts> {
        self.retrying(|| self.upsert_dataset_records_impl(dataset_id, records))
            .await
    }
    async fn dataset_records(
        &self,
        dataset_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<DatasetRecord>> {
        self.dataset_records_impl(dataset_id, max_results, page_token)
            .await
    }
    async fn delete_dataset_records(&self, dataset_id: &str, record_ids: &[String]) -> Result<i64> {
        self.retrying(|| self.delete_dataset_records_impl(dataset_id, record_ids))
            .await
    }
    async fn dataset_experiment_ids(&self, dataset_id: &str) -> Result<Vec<String>> {
        self.dataset_experiment_ids_impl(dataset_id).await
    }
    async fn add_dataset_to_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        self.retrying(|| self.add_dataset_to_experiments_impl(dataset_id, experiment_ids))
            .await
    }
    async fn remove_dataset_from_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        self.retrying(|| self.remove_dataset_from_experiments_impl(dataset_id, experiment_ids))
            .await
    }

    async fn register_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        serialized_scorer: &str,
    ) -> Result<ScorerVersion> {
        self.retrying(|| self.register_scorer_impl(experiment_id, name, serialized_scorer))
            .await
    }
    async fn list_scorers(&self, experiment_ids: &[String]) -> Result<Vec<ScorerVersion>> {
        self.list_scorers_impl(experiment_ids).await
    }
    async fn list_scorer_versions(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<Vec<ScorerVersion>> {
        self.list_scorer_versions_impl(experiment_id, name).await
    }
    async fn get_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<ScorerVersion> {
        self.get_scorer_impl(experiment_id, name, version).await
    }
    async fn delete_scorer(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<()> {
        self.retrying(|| self.delete_scorer_impl(experiment_id, name, version))
            .await
    }
    async fn online_scoring_configs(
        &self,
        scorer_ids: &[String],
    ) -> Result<Vec<OnlineScoringConfig>> {
        self.online_scoring_configs_impl(scorer_ids).await
    }
    async fn upsert_online_scoring_config(
        &self,
        experiment_id: &str,
        name: &str,
        sample_rate: f64,
        filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig> {
        self.retrying(|| {
            self.upsert_online_scoring_config_impl(experiment_id, name, sample_rate, filter_string)
        })
        .await
    }

    async fn create_label_schema(&self, schema: &LabelSchema) -> Result<LabelSchema> {
        self.retrying(|| self.create_label_schema_impl(schema))
            .await
    }
    async fn get_label_schema(&self, schema_id: &str) -> Result<LabelSchema> {
        self.get_label_schema_impl(schema_id).await
    }
    async fn get_label_schema_by_name(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<LabelSchema> {
        self.get_label_schema_by_name_impl(experiment_id, name)
            .await
    }
    async fn list_label_schemas(
        &self,
        experiment_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<LabelSchema>> {
        self.retrying(|| self.list_label_schemas_impl(experiment_id, max_results, page_token))
            .await
    }
    async fn update_label_schema(
        &self,
        schema_id: &str,
        update: &LabelSchemaUpdate,
    ) -> Result<LabelSchema> {
        self.retrying(|| self.update_label_schema_impl(schema_id, update))
            .await
    }
    async fn delete_label_schema(&self, schema_id: &str) -> Result<()> {
        self.retrying(|| self.delete_label_schema_impl(schema_id))
            .await
    }
    async fn create_review_queue(&self, queue: &ReviewQueue) -> Result<ReviewQueue> {
        self.retrying(|| self.create_review_queue_impl(queue)).await
    }
    async fn get_review_queue(&self, queue_id: &str) -> Result<ReviewQueue> {
        self.get_review_queue_impl(queue_id).await
    }
    async fn get_review_queue_by_name(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<ReviewQueue> {
        self.get_review_queue_by_name_impl(experiment_id, name)
            .await
    }
    async fn list_review_queues(
        &self,
        experiment_id: &str,
        user: Option<&str>,
        item_id: Option<&str>,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<ReviewQueue>> {
        self.list_review_queues_impl(experiment_id, user, item_id, max_results, page_token)
            .await
    }
    async fn update_review_queue(
        &self,
        queue_id: &str,
        update: &ReviewQueueUpdate,
    ) -> Result<ReviewQueue> {
        self.retrying(|| self.update_review_queue_impl(queue_id, update))
            .await
    }
    async fn delete_review_queue(&self, queue_id: &str) -> Result<()> {
        self.retrying(|| self.delete_review_queue_impl(queue_id))
            .await
    }
    async fn add_review_queue_items(
        &self,
        queue_id: &str,
        item_ids: &[String],
    ) -> Result<Vec<ReviewQueueItem>> {
        self.retrying(|| self.add_review_queue_items_impl(queue_id, item_ids))
            .await
    }
    async fn remove_review_queue_items(&self, queue_id: &str, item_ids: &[String]) -> Result<()> {
        self.retrying(|| self.remove_review_queue_items_impl(queue_id, item_ids))
            .await
    }
    async fn list_review_queue_items(
        &self,
        queue_id: &str,
        status: Option<&str>,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<ReviewQueueItem>> {
        self.list_review_queue_items_impl(queue_id, status, max_results, page_token)
            .await
    }
    async fn set_review_queue_item_status(
        &self,
        queue_id: &str,
        item_id: &str,
        status: &str,
        completed_by: Option<&str>,
    ) -> Result<ReviewQueueItem> {
        self.retrying(|| {
            self.set_review_queue_item_status_impl(queue_id, item_id, status, completed_by)
        })
        .await
    }
    async fn create_issue(&self, issue: &Issue) -> Result<Issue> {
        self.retrying(|| self.create_issue_impl(issue)).await
    }
    async fn get_issue(&self, issue_id: &str) -> Result<Issue> {
        self.get_issue_impl(issue_id).await
    }
    async fn update_issue(&self, issue_id: &str, update: &IssueUpdate) -> Result<Issue> {
        self.retrying(|| self.update_issue_impl(issue_id, update))
            .await
    }
    async fn search_issues(
        &self,
        experiment_id: Option<&str>,
        filters: &[(String, bool, String)],
        max_results: i64,
        page_token: Option<&str>,
        include_trace_count: bool,
    ) -> Result<Page<Issue>> {
        self.search_issues_impl(
            experiment_id,
            filters,
            max_results,
            page_token,
            include_trace_count,
        )
        .await
    }
}
