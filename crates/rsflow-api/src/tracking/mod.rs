//! Tracking handlers: experiments, runs, metrics, params, tags, inputs and outputs
//! (spec `mlflow-tracking.md` §2.1, §2.2). Handlers decode and validate the request the way
//! MLflow's `handlers.py` does, call the [`TrackingStore`](rsflow_store::TrackingStore), and
//! shape the response.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::{get, post};
use rsflow_core::validation;
use rsflow_core::wire::{
    DatasetInput, ExperimentTag, KeyValue, Metric, MetricValue, ModelInput, ModelOutput, Run,
    RunOutputs, RunStatus, ViewType,
};
use rsflow_core::{MlflowError, Result};
use rsflow_store::{BulkIntervalQuery, CreateRun, SearchExperiments, SearchRuns};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult, json_ok};
use crate::extract::{Params, invalid_type, parse_f64, require_json};
use crate::locations::validate_artifact_location;

mod experiments;
mod history;
mod logging;
mod runs;

use experiments::*;
use history::*;
use logging::*;
use runs::*;

// The handlers that `/graphql` resolves its fields with.
pub(crate) use experiments::{get_experiment_core, search_datasets_core};
pub(crate) use history::bulk_interval_core;
pub(crate) use runs::{get_run_core, search_runs_core};

type Handler = ApiResult<Response>;

/// Search caps from MLflow's handlers and stores (spec §2.6).
const MAX_RUNS_PER_SEARCH: i64 = 50_000;
const MAX_EXPERIMENTS_PER_SEARCH: i64 = 50_000;
const MAX_RUNS_BULK_INTERVAL: usize = 100;
pub(crate) const MAX_RESULTS_BULK_INTERVAL: i64 = 2_500;
const MAX_RUNS_HISTORY_BULK: usize = 100;
const MAX_RESULTS_HISTORY_BULK: i64 = 25_000;

pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/mlflow/experiments/create", post(create_experiment))
        .route("/mlflow/experiments/get", get(get_experiment))
        .route(
            "/mlflow/experiments/get-by-name",
            get(get_experiment_by_name),
        )
        .route(
            "/mlflow/experiments/search",
            get(search_experiments).post(search_experiments),
        )
        .route("/mlflow/experiments/delete", post(delete_experiment))
        .route("/mlflow/experiments/restore", post(restore_experiment))
        .route("/mlflow/experiments/update", post(update_experiment))
        .route(
            "/mlflow/experiments/set-experiment-tag",
            post(set_experiment_tag),
        )
        .route(
            "/mlflow/experiments/delete-experiment-tag",
            post(delete_experiment_tag),
        )
        .route("/mlflow/runs/create", post(create_run))
        .route("/mlflow/runs/get", get(get_run))
        .route("/mlflow/runs/update", post(update_run))
        .route("/mlflow/runs/delete", post(delete_run))
        .route("/mlflow/runs/restore", post(restore_run))
        .route("/mlflow/runs/search", post(search_runs))
        .route("/mlflow/runs/log-metric", post(log_metric))
        .route("/mlflow/runs/log-parameter", post(log_param))
        .route("/mlflow/runs/set-tag", post(set_tag))
        .route("/mlflow/runs/delete-tag", post(delete_tag))
        .route("/mlflow/runs/log-batch", post(log_batch))
        .route("/mlflow/runs/log-model", post(log_model))
        .route("/mlflow/runs/log-inputs", post(log_inputs))
        .route("/mlflow/runs/outputs", post(log_outputs))
        .route("/mlflow/metrics/get-history", get(get_metric_history))
        .route(
            "/mlflow/metrics/get-history-bulk-interval",
            get(get_history_bulk_interval),
        )
}

/// Routes MLflow registers only under `/ajax-api/2.0` (the web UI's helpers).
pub fn ajax_only_routes(_state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/mlflow/metrics/get-history-bulk", get(get_history_bulk))
        .route(
            "/mlflow/experiments/search-datasets",
            post(search_datasets_route),
        )
}

pub(super) fn empty() -> Handler {
    json_ok(&json!({}))
}

pub(super) fn view_type(p: &Params, name: &str) -> ApiResult<ViewType> {
    match p.get(name) {
        None => Ok(ViewType::ActiveOnly),
        Some(v) => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => return Err(invalid_type(name, other)),
            };
            ViewType::parse(&s).ok_or_else(|| invalid_type(name, v))
        }
    }
}
