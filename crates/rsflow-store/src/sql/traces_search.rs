//! `search_traces`: the §2.10 filter and `order_by` rendered as SQL over `trace_info`.

use rsflow_core::trace::TraceInfo;
use rsflow_core::wire::Page;
use rsflow_core::{MlflowError, Result};

use super::SqlStore;
use crate::SearchTraces;

impl SqlStore {
    pub(crate) async fn search_traces_impl(
        &self,
        _query: &SearchTraces,
    ) -> Result<Page<TraceInfo>> {
        Err(MlflowError::not_implemented(
            "search_traces is not implemented yet",
        ))
    }
}
