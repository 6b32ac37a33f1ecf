//! Metric history handlers, paged and sampled (spec §2.2).

use super::*;

pub(super) async fn get_metric_history(State(s): State<AppState>, p: Params) -> Handler {
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

pub(crate) async fn get_history_bulk_interval(State(s): State<AppState>, p: Params) -> Handler {
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
    json_ok(&bulk_interval_core(&s, &query).await?)
}

/// The typed core of `metrics/get-history-bulk-interval` and GraphQL's
/// `mlflowGetMetricHistoryBulkInterval` (MLflow's `get_metric_history_bulk_interval_impl`):
/// `{}` without metrics, else `{"metrics": [...]}`.
pub(crate) async fn bulk_interval_core(s: &AppState, query: &BulkIntervalQuery) -> Result<Value> {
    let metrics = s.tracking.get_metric_history_bulk_interval(query).await?;
    if metrics.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "metrics": metrics }))
}

/// Ajax-only `metrics/get-history-bulk` (repeated `run_id`), per run ordered by
/// (timestamp, step, value), capped at 25000 in total.
pub(super) async fn get_history_bulk(State(s): State<AppState>, p: Params) -> Handler {
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
