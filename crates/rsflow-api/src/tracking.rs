//! Tracking handlers: experiments, runs, metrics, params, tags, inputs and outputs
//! (spec `mlflow-tracking.md` §2.1, §2.2). Handlers decode and validate the request the way
//! MLflow's `handlers.py` does, call the [`TrackingStore`](rsflow_store::TrackingStore), and
//! shape the response.

use axum::Router;
use axum::extract::State;
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
use crate::extract::{Params, invalid_type, parse_f64};
use crate::locations::validate_artifact_location;

type Handler = ApiResult<Response>;

/// Search caps from MLflow's handlers and stores (spec §2.6).
const MAX_RUNS_PER_SEARCH: i64 = 50_000;
const MAX_EXPERIMENTS_PER_SEARCH: i64 = 50_000;
const MAX_RUNS_BULK_INTERVAL: usize = 100;
const MAX_RESULTS_BULK_INTERVAL: i64 = 2_500;
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
    Router::new().route("/mlflow/metrics/get-history-bulk", get(get_history_bulk))
}

fn empty() -> Handler {
    json_ok(&json!({}))
}

fn view_type(p: &Params, name: &str) -> ApiResult<ViewType> {
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

// ---------------------------------------------------------------- experiments

async fn create_experiment(State(s): State<AppState>, p: Params) -> Handler {
    let name = p.req_str("name")?;
    let tags: Vec<ExperimentTag> = p.list("tags")?;
    validation::experiment_name(&name)?;
    for t in &tags {
        validation::experiment_tag(t)?;
    }
    let location = match p.opt_str("artifact_location")?.filter(|l| !l.is_empty()) {
        Some(l) => Some(validate_artifact_location(&l, &s.config.trusted_roots())?),
        None => None,
    };
    let id = s
        .tracking
        .create_experiment(&name, location.as_deref(), &tags)
        .await?;
    json_ok(&json!({ "experiment_id": id }))
}

async fn get_experiment(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let exp = s.tracking.get_experiment(&id).await?;
    json_ok(&json!({ "experiment": exp }))
}

async fn get_experiment_by_name(State(s): State<AppState>, p: Params) -> Handler {
    let name = p.req_str("experiment_name")?;
    match s.tracking.get_experiment_by_name(&name).await? {
        Some(exp) => json_ok(&json!({ "experiment": exp })),
        None => Err(MlflowError::not_found(format!(
            "Could not find experiment with name '{name}'"
        ))
        .into()),
    }
}

async fn search_experiments(State(s): State<AppState>, p: Params) -> Handler {
    let max_results = p.opt_i64("max_results")?.unwrap_or(0);
    if max_results <= 0 || max_results > MAX_EXPERIMENTS_PER_SEARCH {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        ))
        .into());
    }
    let query = SearchExperiments {
        filter: p.opt_str("filter")?.unwrap_or_default(),
        view_type: view_type(&p, "view_type")?,
        max_results,
        order_by: p.str_list("order_by")?,
        page_token: p.opt_str("page_token")?,
    };
    let page = s.tracking.search_experiments(&query).await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        body.insert(
            "experiments".into(),
            serde_json::to_value(&page.items).unwrap_or_default(),
        );
    }
    if let Some(t) = page.next_page_token {
        body.insert("next_page_token".into(), Value::String(t));
    }
    json_ok(&body)
}

async fn delete_experiment(State(s): State<AppState>, p: Params) -> Handler {
    s.tracking
        .delete_experiment(&p.req_str("experiment_id")?)
        .await?;
    empty()
}

async fn restore_experiment(State(s): State<AppState>, p: Params) -> Handler {
    s.tracking
        .restore_experiment(&p.req_str("experiment_id")?)
        .await?;
    empty()
}

async fn update_experiment(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let new_name = p.req_str("new_name")?;
    validation::experiment_name(&new_name)?;
    s.tracking.rename_experiment(&id, &new_name).await?;
    empty()
}

async fn set_experiment_tag(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let tag = KeyValue {
        key: p.req_str("key")?,
        value: p.opt_str("value")?.unwrap_or_default(),
    };
    validation::experiment_tag(&tag)?;
    s.tracking.set_experiment_tag(&id, &tag).await?;
    empty()
}

async fn delete_experiment_tag(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let key = p.req_str("key")?;
    s.tracking.delete_experiment_tag(&id, &key).await?;
    empty()
}

// ---------------------------------------------------------------- runs

fn run_id(p: &Params) -> ApiResult<String> {
    let id = p.req_str_any(&["run_id", "run_uuid"])?;
    validation::run_id(&id)?;
    Ok(id)
}

async fn create_run(State(s): State<AppState>, p: Params) -> Handler {
    let truncate = validation::truncate_long_values_from_env();
    let tags = p
        .list::<KeyValue>("tags")?
        .into_iter()
        .map(|t| {
            validation::tag_name(&t.key)?;
            validation::run_tag(t, truncate)
        })
        .collect::<Result<Vec<_>>>()?;
    let req = CreateRun {
        experiment_id: p.opt_str("experiment_id")?.unwrap_or_default(),
        user_id: p.opt_str("user_id")?.unwrap_or_default(),
        run_name: p.opt_str("run_name")?.filter(|n| !n.is_empty()),
        start_time: p.opt_i64("start_time")?.unwrap_or(0),
        tags,
    };
    let mut run = s.tracking.create_run(req).await?;
    // runs/create answers `inputs: {}` and no `outputs` (observed on the reference).
    run.outputs = None;
    json_ok(&json!({ "run": run }))
}

fn with_outputs(mut run: Run) -> Run {
    run.outputs.get_or_insert_with(RunOutputs::default);
    run
}

async fn get_run(State(s): State<AppState>, p: Params) -> Handler {
    let run = s.tracking.get_run(&run_id(&p)?).await?;
    json_ok(&json!({ "run": with_outputs(run) }))
}

async fn update_run(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let status = match p.get("status") {
        None => None,
        Some(v) => {
            let raw = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => return Err(invalid_type("status", other)),
            };
            Some(RunStatus::parse(&raw).ok_or_else(|| invalid_type("status", v))?)
        }
    };
    let end_time = p.opt_i64("end_time")?;
    let run_name = p.opt_str("run_name")?;
    let info = s
        .tracking
        .update_run(&id, status, end_time, run_name.as_deref())
        .await?;
    json_ok(&json!({ "run_info": info }))
}

async fn delete_run(State(s): State<AppState>, p: Params) -> Handler {
    s.tracking.delete_run(&p.req_str("run_id")?).await?;
    empty()
}

async fn restore_run(State(s): State<AppState>, p: Params) -> Handler {
    s.tracking.restore_run(&p.req_str("run_id")?).await?;
    empty()
}

async fn search_runs(State(s): State<AppState>, p: Params) -> Handler {
    let max_results = p.opt_i64("max_results")?.unwrap_or(1000);
    if max_results > MAX_RUNS_PER_SEARCH {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied:  Hint: Value was of type 'int'. See the API docs for more information about request parameters."
        ))
        .into());
    }
    let query = SearchRuns {
        experiment_ids: p.str_list("experiment_ids")?,
        filter: p.opt_str("filter")?.unwrap_or_default(),
        view_type: view_type(&p, "run_view_type")?,
        max_results,
        order_by: p.str_list("order_by")?,
        page_token: p.opt_str("page_token")?.filter(|t| !t.is_empty()),
    };
    if query.experiment_ids.is_empty() {
        return empty();
    }
    let page = s.tracking.search_runs(&query).await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        let runs: Vec<Run> = page.items.into_iter().map(with_outputs).collect();
        body.insert(
            "runs".into(),
            serde_json::to_value(&runs).unwrap_or_default(),
        );
    }
    if let Some(t) = page.next_page_token {
        body.insert("next_page_token".into(), Value::String(t));
    }
    json_ok(&body)
}

/// A metric from a log-metric request or one item of a log-batch list.
fn parse_metric(obj: &Map<String, Value>, path: &str) -> ApiResult<Metric> {
    let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
    let required = |name: &str| -> ApiResult<&Value> {
        match field(name) {
            Some(Value::String(s)) if s.is_empty() => {
                Err(MlflowError::missing_param(&format!("{path}{name}")).into())
            }
            Some(v) => Ok(v),
            None => Err(MlflowError::missing_param(&format!("{path}{name}")).into()),
        }
    };
    let key = match required("key")? {
        Value::String(s) => s.clone(),
        other => return Err(invalid_type(&format!("{path}key"), other)),
    };
    let value_json = required("value")?;
    if value_json.is_boolean() {
        return Err(invalid_type(&format!("{path}value"), value_json));
    }
    let value =
        parse_f64(value_json).ok_or_else(|| invalid_type(&format!("{path}value"), value_json))?;
    let int = |name: &str, v: &Value| -> ApiResult<i64> {
        let p = Params(Map::from_iter([(name.to_owned(), v.clone())]));
        p.opt_i64(name)?
            .ok_or_else(|| invalid_type(&format!("{path}{name}"), v))
    };
    let timestamp = int("timestamp", required("timestamp")?)?;
    let step = match field("step") {
        Some(v) => int("step", v)?,
        None => 0,
    };
    let opt_string = |name: &str| -> Option<String> {
        field(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let metric = Metric {
        key,
        value: MetricValue(value),
        timestamp,
        step,
        run_id: opt_string("run_id"),
        dataset_name: opt_string("dataset_name"),
        dataset_digest: opt_string("dataset_digest"),
        model_id: opt_string("model_id"),
    };
    validation::metric(&metric)?;
    Ok(metric)
}

async fn log_metric(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let metric = parse_metric(&p.0, "")?;
    s.tracking.log_batch(&id, &[metric], &[], &[]).await?;
    empty()
}

async fn log_param(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let param = KeyValue {
        key: p.req_str("key")?,
        value: p.opt_str("value")?.unwrap_or_default(),
    };
    validation::param_name(&param.key)?;
    let param = validation::param(param, validation::truncate_long_values_from_env())?;
    s.tracking.log_param(&id, &param).await?;
    empty()
}

async fn set_tag(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let tag = KeyValue {
        key: p.req_str("key")?,
        value: p.opt_str("value")?.unwrap_or_default(),
    };
    validation::tag_name(&tag.key)?;
    let tag = validation::run_tag(tag, validation::truncate_long_values_from_env())?;
    s.tracking.log_batch(&id, &[], &[], &[tag]).await?;
    empty()
}

async fn delete_tag(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let key = p.req_str("key")?;
    s.tracking.delete_tag(&id, &key).await?;
    empty()
}

/// Items of a repeated message field as JSON objects.
fn objects<'a>(p: &'a Params, name: &str) -> ApiResult<Vec<&'a Map<String, Value>>> {
    match p.get(name) {
        None => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_object().ok_or_else(|| invalid_type(name, v)))
            .collect(),
        Some(other) => Err(invalid_type(name, other)),
    }
}

fn key_values(
    p: &Params,
    name: &str,
    check: impl Fn(KeyValue) -> Result<KeyValue>,
) -> ApiResult<Vec<KeyValue>> {
    objects(p, name)?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let key = match o.get("key") {
                Some(Value::String(k)) if !k.is_empty() => k.clone(),
                Some(Value::String(_)) | None | Some(Value::Null) => {
                    return Err(MlflowError::missing_param(&format!("{name}[{i}].key")).into());
                }
                Some(other) => return Err(invalid_type(&format!("{name}[{i}].key"), other)),
            };
            let value = match o.get("value") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(v)) => v.clone(),
                Some(other) => return Err(invalid_type(&format!("{name}[{i}].value"), other)),
            };
            Ok(check(KeyValue { key, value })?)
        })
        .collect()
}

async fn log_batch(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("run_id")?;
    validation::run_id(&id)?;
    let truncate = validation::truncate_long_values_from_env();
    let metric_items = objects(&p, "metrics")?;
    let params = key_values(&p, "params", |kv| {
        validation::param_name(&kv.key)?;
        validation::param(kv, truncate)
    })?;
    let tags = key_values(&p, "tags", |kv| {
        validation::tag_name(&kv.key)?;
        validation::run_tag(kv, truncate)
    })?;
    validation::batch_limits(metric_items.len(), params.len(), tags.len())?;
    let metrics = metric_items
        .into_iter()
        .enumerate()
        .map(|(i, o)| parse_metric(o, &format!("metrics[{i}].")))
        .collect::<ApiResult<Vec<_>>>()?;
    validation::unique_param_keys(&params)?;
    s.tracking.log_batch(&id, &metrics, &params, &tags).await?;
    empty()
}

/// Legacy MLflow 2 `log-model`: records the model in the run tag `mlflow.log-model.history`.
async fn log_model(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("run_id")?;
    let model_json = p.req_str("model_json")?;
    let model: Value = serde_json::from_str(&model_json).map_err(|_| {
        MlflowError::invalid_param(format!(
            "Malformed model info. \n {model_json} \n is not a valid JSON."
        ))
    })?;
    let Some(obj) = model.as_object() else {
        return Err(MlflowError::invalid_param(format!(
            "Malformed model info. \n {model_json} \n is not a valid JSON."
        ))
        .into());
    };
    let mut missing: Vec<&str> = ["artifact_path", "flavors", "utc_time_created", "run_id"]
        .into_iter()
        .filter(|k| !obj.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        let set = missing
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(MlflowError::invalid_param(format!(
            "Model json is missing mandatory fields: {{{set}}}"
        ))
        .into());
    }
    let run = s.tracking.get_run(&id).await?;
    let history_key = "mlflow.log-model.history";
    let mut history: Vec<Value> = run
        .data
        .tags
        .iter()
        .find(|t| t.key == history_key)
        .and_then(|t| serde_json::from_str(&t.value).ok())
        .unwrap_or_default();
    history.push(model);
    let tag = KeyValue {
        key: history_key.into(),
        value: Value::Array(history).to_string(),
    };
    s.tracking.log_batch(&id, &[], &[], &[tag]).await?;
    empty()
}

fn parse_dataset_input(o: &Map<String, Value>, i: usize) -> ApiResult<DatasetInput> {
    let path = format!("datasets[{i}]");
    let tags = match o.get("tags") {
        None | Some(Value::Null) => vec![],
        Some(v) => serde_json::from_value::<Vec<KeyValue>>(v.clone())
            .map_err(|_| invalid_type(&format!("{path}.tags"), v))?,
    };
    let dataset = match o.get("dataset") {
        Some(v @ Value::Object(_)) => serde_json::from_value(v.clone())
            .map_err(|_| invalid_type(&format!("{path}.dataset"), v))?,
        _ => return Err(MlflowError::missing_param(&format!("{path}.dataset")).into()),
    };
    let input = DatasetInput { tags, dataset };
    validation::dataset_input(&input)?;
    Ok(input)
}

async fn log_inputs(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("run_id")?;
    let datasets = objects(&p, "datasets")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| parse_dataset_input(o, i))
        .collect::<ApiResult<Vec<_>>>()?;
    let models: Vec<ModelInput> = p.list("models")?;
    s.tracking.log_inputs(&id, &datasets, &models).await?;
    empty()
}

async fn log_outputs(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("run_id")?;
    if !p.has("models") {
        return Err(MlflowError::missing_param("models").into());
    }
    let models = objects(&p, "models")?
        .into_iter()
        .map(|o| {
            let model_id = o
                .get("model_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if model_id.is_empty() {
                return Err(ApiError(MlflowError::missing_param("model_id")));
            }
            let step = Params(o.clone()).opt_i64("step")?.unwrap_or(0);
            Ok(ModelOutput {
                model_id: model_id.to_owned(),
                step,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    s.tracking.log_outputs(&id, &models).await?;
    empty()
}

// ---------------------------------------------------------------- metric history

async fn get_metric_history(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let key = p.req_str("metric_key")?;
    let max_results = p.opt_i64("max_results")?;
    if let Some(m) = max_results.filter(|m| *m <= 0) {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value {m} for parameter 'max_results' supplied. It must be a positive integer."
        ))
        .into());
    }
    let token = p.opt_str("page_token")?.filter(|t| !t.is_empty());
    let page = s
        .tracking
        .get_metric_history(&id, &key, max_results, token.as_deref())
        .await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        body.insert(
            "metrics".into(),
            serde_json::to_value(&page.items).unwrap_or_default(),
        );
    }
    if let Some(t) = page.next_page_token {
        body.insert("next_page_token".into(), Value::String(t));
    }
    json_ok(&body)
}

async fn get_history_bulk_interval(State(s): State<AppState>, p: Params) -> Handler {
    let run_ids = p.str_list("run_ids")?;
    if run_ids.is_empty() {
        return Err(MlflowError::missing_param("run_ids").into());
    }
    if run_ids.len() > MAX_RUNS_BULK_INTERVAL {
        return Err(MlflowError::invalid_param(format!(
            "GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_BULK_INTERVAL} run_ids. Received {} run_ids. See the API docs for more information about request parameters.",
            run_ids.len()
        ))
        .into());
    }
    let metric_key = p.req_str("metric_key")?;
    let max_results = p
        .opt_i64("max_results")?
        .unwrap_or(MAX_RESULTS_BULK_INTERVAL);
    if !(1..=MAX_RESULTS_BULK_INTERVAL).contains(&max_results) {
        return Err(MlflowError::invalid_param(format!(
            "max_results must be between 1 and {MAX_RESULTS_BULK_INTERVAL}. See the API docs for more information about request parameters."
        ))
        .into());
    }
    let (start_step, end_step) = match (p.opt_i64("start_step")?, p.opt_i64("end_step")?) {
        (Some(a), Some(b)) if a > b => {
            return Err(MlflowError::invalid_param(format!(
                "end_step must be greater than start_step. Found start_step={a} and end_step={b}."
            ))
            .into());
        }
        (Some(a), Some(b)) => (Some(a), Some(b)),
        (None, None) => (None, None),
        _ => {
            return Err(MlflowError::invalid_param(
                "If either start step or end step are specified, both must be specified.",
            )
            .into());
        }
    };
    let query = BulkIntervalQuery {
        run_ids,
        metric_key,
        start_step,
        end_step,
        max_results,
    };
    let metrics = s.tracking.get_metric_history_bulk_interval(&query).await?;
    if metrics.is_empty() {
        return empty();
    }
    json_ok(&json!({ "metrics": metrics }))
}

/// Ajax-only `metrics/get-history-bulk` (repeated `run_id`), per run ordered by
/// (timestamp, step, value), capped at 25000 in total.
async fn get_history_bulk(State(s): State<AppState>, p: Params) -> Handler {
    let mut run_ids = p.str_list("run_id")?;
    if run_ids.is_empty() {
        return Err(MlflowError::invalid_param(
            "GetMetricHistoryBulk request must specify at least one run_id.",
        )
        .into());
    }
    if run_ids.len() > MAX_RUNS_HISTORY_BULK {
        return Err(MlflowError::invalid_param(format!(
            "GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_HISTORY_BULK} run_ids. Received {} run_ids.",
            run_ids.len()
        ))
        .into());
    }
    let Some(metric_key) = p.opt_str("metric_key")? else {
        return Err(MlflowError::invalid_param(
            "GetMetricHistoryBulk request must specify a metric_key.",
        )
        .into());
    };
    let max_results = p
        .opt_i64("max_results")?
        .unwrap_or(MAX_RESULTS_HISTORY_BULK)
        .min(MAX_RESULTS_HISTORY_BULK);
    run_ids.sort();
    let mut out = Vec::new();
    for id in run_ids {
        let page = s
            .tracking
            .get_metric_history(&id, &metric_key, Some(max_results.max(1)), None)
            .await?;
        out.extend(page.items.into_iter().map(|mut m| {
            m.run_id = Some(id.clone());
            m
        }));
        if out.len() as i64 >= max_results {
            break;
        }
    }
    out.truncate(max_results.max(0) as usize);
    json_ok(&json!({ "metrics": out }))
}
