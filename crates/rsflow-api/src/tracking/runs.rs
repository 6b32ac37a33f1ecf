//! Run lifecycle and search handlers (spec §2.2).

use super::*;

pub(super) fn run_id(p: &Params) -> ApiResult<String> {
    let id = p.req_str_any(&["run_id", "run_uuid"])?;
    validation::run_id(&id)?;
    Ok(id)
}

pub(super) async fn create_run(State(s): State<AppState>, p: Params) -> Handler {
    let truncate = s.config.mlflow.truncate_long_values;
    let tags = p
        .list::<KeyValue>("tags")?
        .into_iter()
        .map(|t| validation::run_tag(t, truncate))
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

pub(super) fn with_outputs(mut run: Run) -> Run {
    run.outputs.get_or_insert_with(RunOutputs::default);
    run
}

/// The typed core of `runs/get` and GraphQL's `mlflowGetRun` (MLflow's `get_run_impl`): the
/// id is not checked here, the store reports what it cannot find.
pub(crate) async fn get_run_core(s: &AppState, run_id: &str) -> Result<Run> {
    Ok(with_outputs(s.tracking.get_run(run_id).await?))
}

pub(crate) async fn get_run(State(s): State<AppState>, p: Params) -> Handler {
    let run = get_run_core(&s, &run_id(&p)?).await?;
    json_ok(&json!({ "run": run }))
}

pub(super) async fn update_run(State(s): State<AppState>, p: Params) -> Handler {
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

pub(super) async fn delete_run(State(s): State<AppState>, p: Params) -> Handler {
    s.tracking.delete_run(&p.req_str("run_id")?).await?;
    empty()
}

pub(super) async fn restore_run(State(s): State<AppState>, p: Params) -> Handler {
    s.tracking.restore_run(&p.req_str("run_id")?).await?;
    empty()
}

pub(crate) async fn search_runs(State(s): State<AppState>, p: Params) -> Handler {
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
    json_ok(&search_runs_core(&s, &query).await?)
}

/// The typed core of `runs/search` and GraphQL's `mlflowSearchRuns` (MLflow's
/// `search_runs_impl`): the store checks `max_results` and the filter.
pub(crate) async fn search_runs_core(s: &AppState, query: &SearchRuns) -> Result<SearchRunsBody> {
    if query.experiment_ids.is_empty() {
        return Ok(SearchRunsBody::default());
    }
    let page = s.tracking.search_runs(query).await?;
    Ok(SearchRunsBody {
        next_page_token: page.next_page_token,
        runs: page.items.into_iter().map(with_outputs).collect(),
    })
}

/// The search answer, serialised without a `serde_json::Value` in between (building one was a
/// fifth of a search's server CPU). Fields in byte order, like the run types: the same bytes as the
/// sorted map the other handlers build.
#[derive(serde::Serialize, Default)]
pub(crate) struct SearchRunsBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    runs: Vec<Run>,
}
