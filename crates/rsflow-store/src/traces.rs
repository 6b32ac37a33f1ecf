//! The [`TraceStore`] trait: MLflow 3 traces, spans and assessments (spec `mlflow-genai.md`
//! §2 and §3), in MLflow's own tables so that `mlflow server` reads what rsflow writes.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::trace::{
    Assessment, AssessmentUpdate, MetricDataPoint, SpanCursor, SpanRow, TraceFilterCorrelation,
    TraceInfo, TraceMetricsQuery, TraceSpans, TraceState,
};
use rsflow_core::wire::Page;

/// `traces/search` (v3) and `GET /traces` (v2) after request decoding.
#[derive(Debug, Clone, Default)]
pub struct SearchTraces {
    pub experiment_ids: Vec<String>,
    /// The §2.10 filter grammar; empty means no filter.
    pub filter: Option<String>,
    /// `None` means MLflow's default of 100; the store rejects values outside 1..=500.
    pub max_results: Option<i64>,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

/// `delete-traces` after request decoding; the store checks the combinations (§2.11).
#[derive(Debug, Clone, Default)]
pub struct DeleteTraces {
    pub experiment_id: String,
    pub max_timestamp_millis: Option<i64>,
    pub max_traces: Option<i64>,
    pub trace_ids: Vec<String>,
}

/// Trace metadata. Every method answers MLflow's error codes and messages.
#[async_trait]
pub trait TraceStore: Send + Sync + 'static {
    /// StartTraceV3: create or merge (§2.7). Returns the stored state incl. server-set tags.
    async fn start_trace(&self, info: TraceInfo) -> Result<TraceInfo>;
    /// v2 StartTrace: a new 32-hex id, `IN_PROGRESS`, duration 0.
    async fn start_trace_v2(
        &self,
        experiment_id: &str,
        timestamp_ms: i64,
        request_metadata: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<TraceInfo>;
    /// v2 EndTrace: duration = `timestamp_ms` - start, the state, merged metadata and tags.
    async fn end_trace_v2(
        &self,
        request_id: &str,
        timestamp_ms: i64,
        state: TraceState,
        request_metadata: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<TraceInfo>;
    /// 404 "Trace with ID '<id>' not found." when absent.
    async fn get_trace_info(&self, trace_id: &str) -> Result<TraceInfo>;
    /// Unknown ids are skipped; with `experiment_ids`, only traces in those experiments.
    /// In the order of `trace_ids`.
    async fn batch_get_trace_infos(
        &self,
        trace_ids: &[String],
        experiment_ids: &[String],
    ) -> Result<Vec<TraceInfo>>;
    async fn search_traces(&self, query: &SearchTraces) -> Result<Page<TraceInfo>>;
    /// Returns how many traces were deleted.
    async fn delete_traces(&self, request: &DeleteTraces) -> Result<i64>;
    /// Upsert; `mlflow.traceName` goes to the `trace_name` column. Immutable keys refused.
    async fn set_trace_tag(&self, trace_id: &str, key: &str, value: &str) -> Result<()>;
    async fn delete_trace_tag(&self, trace_id: &str, key: &str) -> Result<()>;
    /// At most 100 ids; neither the run nor the traces are checked (MLflow writes the rows).
    async fn link_traces_to_run(&self, trace_ids: &[String], run_id: &str) -> Result<()>;
    /// `(name, version)` pairs; the trace must exist, the prompts are not checked.
    async fn link_prompts_to_trace(
        &self,
        trace_id: &str,
        prompt_versions: &[(String, String)],
    ) -> Result<()>;

    /// One transaction, all or nothing (§2.6 "What log_spans does in the DB"). With `run_id`,
    /// every trace whose root span is in the batch is linked to that run.
    async fn log_spans(
        &self,
        experiment_id: &str,
        traces: &[TraceSpans],
        run_id: Option<&str>,
    ) -> Result<()>;
    async fn count_spans(&self, trace_id: &str) -> Result<i64>;
    /// Spans ordered root first, then start time, then span id, strictly after `after`.
    async fn list_spans(
        &self,
        trace_id: &str,
        after: Option<SpanCursor>,
        limit: usize,
    ) -> Result<Vec<SpanRow>>;

    /// The trace must exist; `valid` is stored as true; `overrides` invalidates its target.
    async fn create_assessment(&self, assessment: Assessment) -> Result<Assessment>;
    async fn get_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<Assessment>;
    /// `mask`: FieldMask paths (snake_case or lowerCamel).
    async fn update_assessment(
        &self,
        trace_id: &str,
        assessment_id: &str,
        patch: AssessmentUpdate,
        mask: &[String],
    ) -> Result<Assessment>;
    /// Idempotent; deleting an overriding assessment makes its target valid again.
    async fn delete_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<()>;

    /// `POST /traces/metrics`: aggregates over traces, spans or assessments (no paging: MLflow
    /// never returns a next page either).
    async fn query_trace_metrics(&self, query: &TraceMetricsQuery) -> Result<Vec<MetricDataPoint>>;
    /// `calculate-filter-correlation`: counts of traces matching `filter1`, `filter2`, both,
    /// and all (within `base_filter` when given), and their NPMI.
    async fn calculate_filter_correlation(
        &self,
        experiment_ids: &[String],
        filter1: &str,
        filter2: &str,
        base_filter: Option<&str>,
    ) -> Result<TraceFilterCorrelation>;
}
