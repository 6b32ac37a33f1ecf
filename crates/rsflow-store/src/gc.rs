//! The [`GcStore`] trait: what `rsflow gc` (and the server's scheduled gc) needs from the
//! metadata store: the rows in the `deleted` lifecycle stage, page by page, and their
//! permanent removal (MLflow's `_get_deleted_runs`, `_hard_delete_run`,
//! `_hard_delete_experiment`, `_hard_delete_logged_model`).

use async_trait::async_trait;
use rsflow_core::Result;

/// A run as gc sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRun {
    pub run_id: String,
    pub experiment_id: String,
    pub artifact_uri: Option<String>,
    pub deleted: bool,
    pub deleted_time: Option<i64>,
}

/// An experiment as gc sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcExperiment {
    pub experiment_id: String,
    pub deleted: bool,
    pub last_update_time: Option<i64>,
}

/// A logged model as gc sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcLoggedModel {
    pub model_id: String,
    pub experiment_id: String,
    pub artifact_location: Option<String>,
    pub deleted: bool,
    pub last_updated_timestamp_ms: i64,
}

/// A trace of an experiment that is being removed, with its artifact location tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcTrace {
    pub trace_id: String,
    pub artifact_location: Option<String>,
}

/// Which deleted runs a page is taken from.
#[derive(Debug, Clone, Default)]
pub struct DeletedRunFilter {
    /// Only runs deleted at or before this time (ms since the epoch).
    pub deleted_before: Option<i64>,
    /// Only runs of these experiments (any experiment when `None`).
    pub experiment_ids: Option<Vec<String>>,
}

/// Held while one gc pass runs; dropping it lets another process (or replica) run one.
/// On PostgreSQL a session advisory lock on a connection of its own; on an SQLite file an
/// exclusive lock on `<database>-rsflow-gc.lock` beside it.
pub struct GcLease {
    _held: Box<dyn Send>,
}

impl GcLease {
    pub fn new(held: impl Send + 'static) -> Self {
        GcLease {
            _held: Box::new(held),
        }
    }
}

impl std::fmt::Debug for GcLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcLease")
    }
}

/// Pages are keyset-ordered by id: `after` is the last id of the previous page ("" first).
#[async_trait]
pub trait GcStore: Send + Sync + 'static {
    /// Runs in the `deleted` stage, by run id.
    async fn gc_deleted_runs(
        &self,
        filter: &DeletedRunFilter,
        after: &str,
        limit: i64,
    ) -> Result<Vec<GcRun>>;
    /// These runs, whatever their stage; missing ids are left out.
    async fn gc_runs(&self, run_ids: &[String]) -> Result<Vec<GcRun>>;
    /// Experiments in the `deleted` stage last updated before `updated_before` (all when `None`).
    async fn gc_deleted_experiments(
        &self,
        updated_before: Option<i64>,
    ) -> Result<Vec<GcExperiment>>;
    /// These experiments, whatever their stage; missing ids (or ids that are not numbers) are
    /// left out.
    async fn gc_experiments(&self, experiment_ids: &[String]) -> Result<Vec<GcExperiment>>;
    /// Logged models in the `deleted` stage last updated at or before `updated_before`.
    async fn gc_deleted_logged_models(
        &self,
        updated_before: Option<i64>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<GcLoggedModel>>;
    /// These logged models, whatever their stage; missing ids are left out.
    async fn gc_logged_models(&self, model_ids: &[String]) -> Result<Vec<GcLoggedModel>>;
    /// Every logged model of these experiments, whatever its stage.
    async fn gc_logged_models_of(
        &self,
        experiment_ids: &[String],
        after: &str,
        limit: i64,
    ) -> Result<Vec<GcLoggedModel>>;
    /// Every trace of these experiments.
    async fn gc_traces_of(
        &self,
        experiment_ids: &[String],
        after: &str,
        limit: i64,
    ) -> Result<Vec<GcTrace>>;
    /// Remove these runs and their metrics, params and tags, in one transaction; runs no
    /// longer in the `deleted` stage (restored meanwhile) are kept. Returns the ids removed.
    async fn gc_hard_delete_runs(&self, run_ids: &[String]) -> Result<Vec<String>>;
    /// Remove these logged models (their params, tags and metrics cascade); only those still
    /// deleted, unless `whole_experiment` (the models of an experiment being removed).
    async fn gc_hard_delete_logged_models(
        &self,
        model_ids: &[String],
        whole_experiment: bool,
    ) -> Result<Vec<String>>;
    /// Remove a deleted experiment with its tags, traces and everything that cascades from
    /// it. `Ok(false)` when it still has runs or is no longer deleted (then nothing changes).
    async fn gc_hard_delete_experiment(&self, experiment_id: &str) -> Result<bool>;
    /// Take the gc lease without waiting: `None` when another process holds it.
    async fn gc_lease(&self) -> Result<Option<GcLease>>;
}
