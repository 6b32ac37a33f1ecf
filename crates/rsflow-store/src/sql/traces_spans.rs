//! Spans on MLflow's `spans` table: `log_spans` (the OTLP write path, spec §2.6) and paged reads.

use rsflow_core::trace::{SpanCursor, SpanRow, TraceSpans};
use rsflow_core::{MlflowError, Result};

use super::SqlStore;

impl SqlStore {
    pub(crate) async fn log_spans_impl(
        &self,
        _experiment_id: &str,
        _traces: &[TraceSpans],
        _run_id: Option<&str>,
    ) -> Result<()> {
        Err(MlflowError::not_implemented(
            "log_spans is not implemented yet",
        ))
    }

    pub(crate) async fn count_spans_impl(&self, _trace_id: &str) -> Result<i64> {
        Err(MlflowError::not_implemented(
            "count_spans is not implemented yet",
        ))
    }

    pub(crate) async fn list_spans_impl(
        &self,
        _trace_id: &str,
        _after: Option<SpanCursor>,
        _limit: usize,
    ) -> Result<Vec<SpanRow>> {
        Err(MlflowError::not_implemented(
            "list_spans is not implemented yet",
        ))
    }
}
