//! Search (temporary placeholder while the filter parser lands).

use rsflow_core::wire::{Experiment, Page, Run};
use rsflow_core::{MlflowError, Result};

use super::SqlStore;
use crate::{SearchExperiments, SearchRuns};

impl SqlStore {
    pub(crate) async fn search_experiments_impl(
        &self,
        _q: &SearchExperiments,
    ) -> Result<Page<Experiment>> {
        Err(MlflowError::not_implemented("pending"))
    }
    pub(crate) async fn search_runs_impl(&self, _q: &SearchRuns) -> Result<Page<Run>> {
        Err(MlflowError::not_implemented("pending"))
    }
}
