//! The REST trace routes of `mlflow server` 3.17.2 (spec §2.1, §3.1), v2 and v3.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use rsflow_artifacts::ArtifactPath;
use rsflow_core::MlflowError;
use rsflow_core::trace::{AssessmentUpdate, AssessmentValue, TraceState};
use rsflow_store::{DeleteTraces, SearchTraces};
use serde_json::{Map, Value, json};

use super::spans::{Part, SpanForm, complete, in_tracking_store, stream_response};
use super::wire;
use crate::AppState;
use crate::error::{ApiResult, json_body, json_ok};
use crate::extract::{Params, invalid_type};

type Handler = ApiResult<Response>;

const MAX_SEARCH_RESULTS: i64 = 500;

/// Routes under `/api/2.0` and `/ajax-api/2.0`.
pub(crate) fn v2_routes() -> Router<AppState> {
    Router::new()
        .route("/mlflow/traces", get(search_traces_v2).post(start_trace_v2))
        .route("/mlflow/traces/{request_id}", patch(end_trace_v2))
        .route("/mlflow/traces/{request_id}/info", get(get_trace_info_v2))
        .route(
            "/mlflow/traces/{request_id}/tags",
            patch(set_trace_tag).delete(delete_trace_tag),
        )
        .route("/mlflow/traces/delete-traces", post(delete_traces))
        .route("/mlflow/traces/link-to-run", post(link_traces_to_run))
        .route("/mlflow/traces/link-prompts", post(link_prompts))
        // Declared in the proto without a handler: an empty 404, as MLflow answers.
        .route("/mlflow/unified-traces", get(empty_404))
        .route("/mlflow/get-online-trace-details", get(empty_404))
}

/// Routes under `/api/3.0` and `/ajax-api/3.0`.
pub(crate) fn v3_routes() -> Router<AppState> {
    Router::new()
        .route("/mlflow/traces", post(start_trace_v3))
        .route("/mlflow/traces/{trace_id}", get(get_trace_info_v3))
        .route(
            "/mlflow/traces/{trace_id}/tags",
            patch(set_trace_tag).delete(delete_trace_tag),
        )
        .route("/mlflow/traces/get", get(get_trace))
        .route("/mlflow/traces/batchGet", get(batch_get_traces))
        .route("/mlflow/traces/batchGetInfos", post(batch_get_trace_infos))
        .route("/mlflow/traces/search", post(search_traces_v3))
        .route("/mlflow/traces/delete-traces", post(delete_traces))
        .route("/mlflow/traces/metrics", post(query_trace_metrics))
        .route(
            "/mlflow/traces/calculate-filter-correlation",
            post(calculate_filter_correlation),
        )
        .route(
            "/mlflow/traces/{trace_id}/assessments",
            post(create_assessment),
        )
        .route(
            "/mlflow/traces/{trace_id}/assessments/{assessment_id}",
            get(get_assessment)
                .patch(update_assessment)
                .delete(delete_assessment),
        )
}

/// `get-trace-artifact`, which MLflow registers under `/ajax-api` only (2.0 and 3.0).
pub(crate) fn ajax_only_routes() -> Router<AppState> {
    Router::new().route("/mlflow/get-trace-artifact", get(get_trace_artifact))
}

async fn empty_404() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

fn bad(msg: impl Into<String>) -> crate::error::ApiError {
    MlflowError::invalid_param(msg).into()
}

/// A compact `{"trace": {"trace_info": ...}}`.
fn trace_info_response(info: &rsflow_core::trace::TraceInfo) -> Handler {
    json_ok(&json!({"trace": {"trace_info": wire::trace_info_v3(info)}}))
}

// ------------------------------------------------------------------ v3

async fn start_trace_v3(State(s): State<AppState>, p: Params) -> Handler {
    let trace = p
        .get("trace")
        .ok_or_else(|| MlflowError::missing_param("trace"))?;
    let trace = trace
        .as_object()
        .ok_or_else(|| invalid_type("trace", trace))?;
    let info = match trace.get("trace_info") {
        Some(v) if !v.is_null() => wire::parse_trace_info_v3(v)?,
        _ => wire::parse_trace_info_v3(&json!({}))?,
    };
    check_trace_id(&info.trace_id)?;
    let stored = s.traces.start_trace(info).await?;
    trace_info_response(&stored)
}

/// Trace ids become artifact paths (`<experiment>/traces/<id>/artifacts`): only the id
/// alphabet clients generate is accepted (`tr-<hex>`, v2 hex ids), at most the column's 50
/// characters. MLflow 3.17.2 stores `../x` as given (CVE-2026-53995 on its file store).
fn check_trace_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 50
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "Invalid trace ID '{id}': expected letters, digits, '-' or '_' (at most 50 characters)."
        )))
    }
}

async fn get_trace_info_v3(State(s): State<AppState>, Path(trace_id): Path<String>) -> Handler {
    trace_info_response(&s.traces.get_trace_info(&trace_id).await?)
}

async fn batch_get_trace_infos(State(s): State<AppState>, p: Params) -> Handler {
    if !p.has("trace_ids") {
        return Err(MlflowError::missing_param("trace_ids").into());
    }
    let ids = p.str_list("trace_ids")?;
    let exps = p.str_list("experiment_ids")?;
    let infos = s.traces.batch_get_trace_infos(&ids, &exps).await?;
    if infos.is_empty() {
        return json_ok(&json!({}));
    }
    json_ok(&json!({"trace_infos": infos.iter().map(wire::trace_info_v3).collect::<Vec<_>>()}))
}

fn max_results(p: &Params) -> ApiResult<Option<i64>> {
    let n = p.opt_i64("max_results")?;
    if let Some(n) = n
        && n > MAX_SEARCH_RESULTS
    {
        return Err(invalid_type(
            "max_results",
            p.get("max_results").unwrap_or(&json!(n)),
        ));
    }
    Ok(n)
}

async fn search_traces_v3(State(s): State<AppState>, p: Params) -> Handler {
    let locations = match p.get("locations") {
        None => return Err(MlflowError::missing_param("locations").into()),
        Some(Value::Array(l)) => l.clone(),
        Some(other) => return Err(invalid_type("locations", other)),
    };
    let experiment_ids = locations
        .iter()
        .filter_map(|l| l.get("mlflow_experiment"))
        .filter_map(|e| match e.get("experiment_id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let query = SearchTraces {
        experiment_ids,
        filter: p.opt_str("filter")?.filter(|f| !f.is_empty()),
        max_results: max_results(&p)?,
        order_by: p.str_list("order_by")?,
        page_token: p.opt_str("page_token")?.filter(|t| !t.is_empty()),
    };
    let page = s.traces.search_traces(&query).await?;
    json_ok(&SearchPageV3 {
        next_page_token: page.next_page_token,
        traces: page.items.iter().map(wire::TraceInfoV3).collect(),
    })
}

/// One page of a v3 trace search: the keys of [`search_page_v2`]'s map, in its (sorted) order,
/// with each info written by [`wire::TraceInfoV3`] without a `Value` tree.
#[derive(serde::Serialize)]
struct SearchPageV3<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    traces: Vec<wire::TraceInfoV3<'a>>,
}

/// `GET traces/get`: the trace with its spans, streamed.
async fn get_trace(State(s): State<AppState>, p: Params) -> Handler {
    let trace_id = p.req_str("trace_id")?;
    let allow_partial = p.opt_bool("allow_partial")?.unwrap_or(false);
    let mut attempt = 0;
    let (info, count) = loop {
        let info = match s.traces.get_trace_info(&trace_id).await {
            Ok(i) => i,
            Err(e) if e.code == rsflow_core::ErrorCode::ResourceDoesNotExist => {
                return Err(MlflowError::not_found(format!(
                    "Trace with ID {trace_id} is not found."
                ))
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        if !in_tracking_store(&info) {
            return Err(super::spans::not_in_tracking_store().into());
        }
        let count = s.traces.count_spans(&trace_id).await?;
        if allow_partial || complete(&info, count) {
            break (info, count);
        }
        // MLflow retries three times, sleeping 1 s then 2 s, before giving up.
        attempt += 1;
        if attempt == 3 {
            return Err(MlflowError::not_found(format!(
                "Trace with ID {trace_id} is not fully exported yet, please try again later."
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
    };
    let head = format!(
        "{{\"trace\":{{\"trace_info\":{}",
        wire::trace_info_v3(&info)
    );
    let parts = if count > 0 {
        vec![
            Part::Text(format!("{head},\"spans\":[")),
            Part::Spans {
                trace_id,
                form: SpanForm::Otel,
            },
            Part::Text("]}}".into()),
        ]
    } else {
        vec![Part::Text(format!("{head}}}}}"))]
    };
    Ok(stream_response(s.traces.clone(), parts, "application/json"))
}

/// `GET traces/batchGet`: complete traces only, spans streamed trace by trace.
async fn batch_get_traces(State(s): State<AppState>, p: Params) -> Handler {
    if !p.has("trace_ids") {
        return Err(MlflowError::missing_param("trace_ids").into());
    }
    let ids = p.str_list("trace_ids")?;
    let exps = p.str_list("experiment_ids")?;
    let infos = s.traces.batch_get_trace_infos(&ids, &exps).await?;
    let mut parts = vec![];
    for info in infos {
        // Traces whose spans are not (all) in the DB are left out, as MLflow's search needs.
        if !in_tracking_store(&info) {
            continue;
        }
        let count = s.traces.count_spans(&info.trace_id).await?;
        if !complete(&info, count) {
            continue;
        }
        let sep = if parts.is_empty() {
            "{\"traces\":["
        } else {
            ","
        };
        parts.push(Part::Text(format!(
            "{sep}{{\"trace_info\":{},\"spans\":[",
            wire::trace_info_v3(&info)
        )));
        parts.push(Part::Spans {
            trace_id: info.trace_id.clone(),
            form: SpanForm::Otel,
        });
        parts.push(Part::Text("]}".into()));
    }
    if parts.is_empty() {
        return json_ok(&json!({}));
    }
    parts.push(Part::Text("]}".into()));
    Ok(stream_response(s.traces.clone(), parts, "application/json"))
}

/// `GET get-trace-artifact` (UI): `{"spans": [...]}` from the DB, else the `traces.json`
/// artifact; with `path`, an attachment.
async fn get_trace_artifact(State(s): State<AppState>, headers: HeaderMap, p: Params) -> Handler {
    let Some(request_id) = p.opt_str("request_id")?.filter(|r| !r.is_empty()) else {
        return Err(MlflowError::new(
            rsflow_core::ErrorCode::BadRequest,
            "Request must include the \"request_id\" query parameter.",
        )
        .into());
    };
    let info = s.traces.get_trace_info(&request_id).await?;
    if let Some(path) = p.opt_str("path")?.filter(|x| !x.is_empty()) {
        // MLflow's `validate_path_is_safe` runs first ("Invalid path").
        ArtifactPath::parse(&path)?;
        let canonical = is_canonical_uuid(&path);
        if !canonical {
            return Err(bad(format!(
                "Invalid attachment path: '{path}'. Attachment path must be a valid UUID."
            )));
        }
        return artifact_file(&s, &info, &format!("attachments/{path}"), &headers).await;
    }
    if in_tracking_store(&info) && s.traces.count_spans(&request_id).await? > 0 {
        let mut resp = stream_response(
            s.traces.clone(),
            vec![
                Part::Text("{\"spans\":[".into()),
                Part::Spans {
                    trace_id: request_id,
                    form: SpanForm::Stored,
                },
                Part::Text("]}".into()),
            ],
            "text/plain",
        );
        let h = resp.headers_mut();
        h.insert(
            axum::http::header::CONTENT_DISPOSITION,
            axum::http::HeaderValue::from_static("attachment; filename=traces.json"),
        );
        h.insert(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            axum::http::HeaderValue::from_static("nosniff"),
        );
        return Ok(resp);
    }
    artifact_file(&s, &info, "traces.json", &headers).await
}

fn is_canonical_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// A file under the trace's artifact location, through the artifact proxy or its store.
async fn artifact_file(
    s: &AppState,
    info: &rsflow_core::trace::TraceInfo,
    rel: &str,
    headers: &HeaderMap,
) -> Handler {
    let root = info
        .tags
        .get(rsflow_core::trace::TAG_ARTIFACT_LOCATION)
        .ok_or_else(|| {
            MlflowError::not_found(format!(
                "Trace with ID '{}' has no artifact location.",
                info.trace_id
            ))
        })?;
    let resolved = s.resolve_root(root)?;
    let path = resolved.path(&ArtifactPath::parse(rel)?)?;
    Ok(crate::artifacts::send_artifact(resolved.store.as_ref(), &path, headers, false).await)
}

/// `POST traces/metrics` (the experiment Overview page's charts).
async fn query_trace_metrics(State(s): State<AppState>, p: Params) -> Handler {
    use rsflow_core::trace::{
        AggregationType, MetricAggregation, MetricViewType, TraceMetricsQuery,
    };
    if !p.has("experiment_ids") {
        return Err(MlflowError::missing_param("experiment_ids").into());
    }
    let experiment_ids = p.str_list("experiment_ids")?;
    let view_type = match p.get("view_type") {
        None => return Err(MlflowError::missing_param("view_type").into()),
        Some(v) => match v.as_str().or_else(|| {
            v.as_i64().and_then(|i| {
                ["", "TRACES", "SPANS", "ASSESSMENTS"]
                    .get(i as usize)
                    .copied()
            })
        }) {
            Some("TRACES") => MetricViewType::Traces,
            Some("SPANS") => MetricViewType::Spans,
            Some("ASSESSMENTS") => MetricViewType::Assessments,
            _ => return Err(invalid_type("view_type", v)),
        },
    };
    let metric_name = p.req_str("metric_name")?;
    let aggregations = match p.get("aggregations") {
        None => return Err(MlflowError::missing_param("aggregations").into()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| {
                let t = match a.get("aggregation_type").and_then(Value::as_str) {
                    Some("COUNT") => AggregationType::Count,
                    Some("SUM") => AggregationType::Sum,
                    Some("AVG") => AggregationType::Avg,
                    Some("PERCENTILE") => AggregationType::Percentile,
                    Some("MIN") => AggregationType::Min,
                    Some("MAX") => AggregationType::Max,
                    _ => return Err(invalid_type("aggregations", a)),
                };
                let percentile_value = match a.get("percentile_value") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        crate::extract::parse_f64(v)
                            .ok_or_else(|| invalid_type("percentile_value", v))?,
                    ),
                };
                Ok(MetricAggregation {
                    aggregation_type: t,
                    percentile_value,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?,
        Some(other) => return Err(invalid_type("aggregations", other)),
    };
    let query = TraceMetricsQuery {
        experiment_ids,
        view_type,
        metric_name,
        aggregations,
        dimensions: p.str_list("dimensions")?,
        filters: p.str_list("filters")?,
        time_interval_seconds: p.opt_i64("time_interval_seconds")?,
        start_time_ms: p.opt_i64("start_time_ms")?,
        end_time_ms: p.opt_i64("end_time_ms")?,
        max_results: p.opt_i64("max_results")?,
    };
    let points = s.traces.query_trace_metrics(&query).await?;
    if points.is_empty() {
        return Ok(json_body(&json!({})));
    }
    let points: Vec<Value> = points
        .iter()
        .map(|d| {
            let mut o = Map::new();
            o.insert("metric_name".into(), json!(d.metric_name));
            if !d.dimensions.is_empty() {
                o.insert("dimensions".into(), json!(d.dimensions));
            }
            let values: Map<String, Value> = d
                .values
                .iter()
                .map(|(k, v)| (k.clone(), proto_double(*v)))
                .collect();
            o.insert("values".into(), Value::Object(values));
            Value::Object(o)
        })
        .collect();
    Ok(json_body(&json!({ "data_points": points })))
}

/// A proto `double` in JSON: numbers, and `"NaN"`/`"Infinity"` as strings.
fn proto_double(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(v)
    }
}

/// `POST traces/calculate-filter-correlation` (the UI's insights).
async fn calculate_filter_correlation(State(s): State<AppState>, p: Params) -> Handler {
    if !p.has("experiment_ids") {
        return Err(MlflowError::missing_param("experiment_ids").into());
    }
    let experiment_ids = p.str_list("experiment_ids")?;
    let filter1 = p.req_str("filter_string1")?;
    let filter2 = p.req_str("filter_string2")?;
    let base = p.opt_str("base_filter")?;
    let c = s
        .traces
        .calculate_filter_correlation(&experiment_ids, &filter1, &filter2, base.as_deref())
        .await?;
    let mut o = Map::new();
    o.insert("npmi".into(), proto_double(c.npmi));
    if let Some(sm) = c.npmi_smoothed {
        o.insert("npmi_smoothed".into(), proto_double(sm));
    }
    o.insert("filter1_count".into(), json!(c.filter1_count));
    o.insert("filter2_count".into(), json!(c.filter2_count));
    o.insert("joint_count".into(), json!(c.joint_count));
    o.insert("total_count".into(), json!(c.total_count));
    Ok(json_body(&Value::Object(o)))
}

// ------------------------------------------------------------------ shared v2/v3

async fn delete_traces(State(s): State<AppState>, p: Params) -> Handler {
    let request = DeleteTraces {
        experiment_id: p.req_str("experiment_id")?,
        max_timestamp_millis: p.opt_i64("max_timestamp_millis")?,
        max_traces: p.opt_i64("max_traces")?,
        trace_ids: p.str_list("request_ids")?,
    };
    let n = s.traces.delete_traces(&request).await?;
    Ok(json_body(&json!({ "traces_deleted": n })))
}

async fn set_trace_tag(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    let key = p.req_str("key")?;
    let value = p.opt_str("value")?.unwrap_or_default();
    s.traces.set_trace_tag(&id, &key, &value).await?;
    Ok(json_body(&json!({})))
}

async fn delete_trace_tag(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    let key = p.req_str("key")?;
    s.traces.delete_trace_tag(&id, &key).await?;
    Ok(json_body(&json!({})))
}

async fn link_traces_to_run(State(s): State<AppState>, p: Params) -> Handler {
    if !p.has("trace_ids") {
        return Err(MlflowError::missing_param("trace_ids").into());
    }
    let ids = p.str_list("trace_ids")?;
    let run_id = p.req_str("run_id")?;
    s.traces.link_traces_to_run(&ids, &run_id).await?;
    Ok(json_body(&json!({})))
}

async fn link_prompts(State(s): State<AppState>, p: Params) -> Handler {
    let trace_id = p.req_str("trace_id")?;
    let versions = match p.get("prompt_versions") {
        None => return Err(MlflowError::missing_param("prompt_versions").into()),
        Some(Value::Array(v)) => v.clone(),
        Some(other) => return Err(invalid_type("prompt_versions", other)),
    };
    let mut pairs = vec![];
    for v in &versions {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        let version = match v.get("version") {
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
        .ok_or_else(|| {
            bad(format!(
                "Invalid prompt version {}: the version must be an integer.",
                v.get("version").unwrap_or(&Value::Null)
            ))
        })?;
        pairs.push((name.to_owned(), version.to_string()));
    }
    s.traces.link_prompts_to_trace(&trace_id, &pairs).await?;
    Ok(json_body(&json!({})))
}

// ------------------------------------------------------------------ v2 (deprecated)

fn key_values(p: &Params, name: &str) -> ApiResult<BTreeMap<String, String>> {
    match p.get(name) {
        None => Ok(BTreeMap::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|kv| {
                let k = kv.get("key").and_then(Value::as_str);
                let v = kv.get("value").and_then(Value::as_str).unwrap_or("");
                match k {
                    Some(k) => Ok((k.to_owned(), v.to_owned())),
                    None => Err(bad(format!(
                        "Invalid value {kv} for parameter '{name}' supplied: every entry needs a 'key'."
                    ))),
                }
            })
            .collect(),
        Some(other) => Err(invalid_type(name, other)),
    }
}

async fn start_trace_v2(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.opt_str("experiment_id")?.unwrap_or_default();
    if experiment_id.is_empty() {
        // MLflow answers 500 ("invalid literal for int()") here.
        return Err(MlflowError::missing_param("experiment_id").into());
    }
    let info = s
        .traces
        .start_trace_v2(
            &experiment_id,
            p.opt_i64("timestamp_ms")?.unwrap_or(0),
            &key_values(&p, "request_metadata")?,
            &key_values(&p, "tags")?,
        )
        .await?;
    Ok(json_body(
        &json!({ "trace_info": wire::trace_info_v2(&info) }),
    ))
}

async fn end_trace_v2(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    let state = match p.get("status") {
        None => TraceState::Unspecified,
        Some(Value::String(st)) => TraceState::parse(st).unwrap_or(TraceState::Unspecified),
        Some(other) => return Err(invalid_type("status", other)),
    };
    let info = s
        .traces
        .end_trace_v2(
            &id,
            p.opt_i64("timestamp_ms")?.unwrap_or(0),
            state,
            &key_values(&p, "request_metadata")?,
            &key_values(&p, "tags")?,
        )
        .await?;
    Ok(json_body(
        &json!({ "trace_info": wire::trace_info_v2(&info) }),
    ))
}

async fn get_trace_info_v2(State(s): State<AppState>, Path(id): Path<String>) -> Handler {
    let info = s.traces.get_trace_info(&id).await?;
    Ok(json_body(
        &json!({ "trace_info": wire::trace_info_v2(&info) }),
    ))
}

/// One page of a v2 trace search: `traces` (omitted when empty) and `next_page_token`.
async fn search_page_v2(s: &AppState, query: &SearchTraces) -> ApiResult<Map<String, Value>> {
    let page = s.traces.search_traces(query).await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        body.insert(
            "traces".into(),
            page.items.iter().map(wire::trace_info_v2).collect(),
        );
    }
    if let Some(t) = page.next_page_token {
        body.insert("next_page_token".into(), json!(t));
    }
    Ok(body)
}

async fn search_traces_v2(State(s): State<AppState>, p: Params) -> Handler {
    if !p.has("experiment_ids") {
        return Err(MlflowError::missing_param("experiment_ids").into());
    }
    let query = SearchTraces {
        experiment_ids: p.str_list("experiment_ids")?,
        filter: p.opt_str("filter")?.filter(|f| !f.is_empty()),
        max_results: max_results(&p)?,
        order_by: p.str_list("order_by")?,
        page_token: p.opt_str("page_token")?.filter(|t| !t.is_empty()),
    };
    let body = search_page_v2(&s, &query).await?;
    Ok(json_body(&Value::Object(body)))
}

// ------------------------------------------------------------------ assessments

async fn create_assessment(
    State(s): State<AppState>,
    Path(trace_id): Path<String>,
    p: Params,
) -> Handler {
    let body = p
        .get("assessment")
        .ok_or_else(|| MlflowError::missing_param("assessment"))?;
    let mut a = wire::parse_assessment(body)?;
    // The path wins over the body.
    a.trace_id = trace_id;
    let created = s.traces.create_assessment(a).await?;
    Ok(json_body(
        &json!({ "assessment": wire::assessment(&created) }),
    ))
}

async fn get_assessment(
    State(s): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
) -> Handler {
    let a = s.traces.get_assessment(&trace_id, &assessment_id).await?;
    Ok(json_body(&json!({ "assessment": wire::assessment(&a) })))
}

/// A FieldMask as JSON: one comma-separated string of lowerCamel paths (or a `paths` list).
fn mask_paths(v: &Value) -> ApiResult<Vec<String>> {
    let raw: Vec<String> = match v {
        Value::String(s) => s.split(',').map(|x| x.trim().to_owned()).collect(),
        Value::Object(o) => match o.get("paths") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => vec![],
        },
        other => return Err(invalid_type("update_mask", other)),
    };
    Ok(raw
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            // lowerCamel to the proto field names.
            let mut out = String::new();
            for c in p.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                    out.push(c.to_ascii_lowercase());
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect())
}

async fn update_assessment(
    State(s): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
    p: Params,
) -> Handler {
    let body = p
        .get("assessment")
        .ok_or_else(|| MlflowError::missing_param("assessment"))?;
    let mask = p
        .get("update_mask")
        .ok_or_else(|| MlflowError::missing_param("update_mask"))?;
    let paths = mask_paths(mask)?;
    let o = body
        .as_object()
        .ok_or_else(|| invalid_type("assessment", body))?;
    let value = wire::parse_assessment_value(o)?;
    let mut patch = AssessmentUpdate::default();
    for path in &paths {
        match path.as_str() {
            "assessment_name" => {
                patch.assessment_name = Some(
                    o.get("assessment_name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            "expectation" => {
                patch.value = Some(match &value {
                    Some(v @ AssessmentValue::Expectation { .. }) => v.clone(),
                    _ => AssessmentValue::Expectation { value: Value::Null },
                });
            }
            "feedback" => {
                patch.value = Some(match &value {
                    Some(v @ AssessmentValue::Feedback { .. }) => v.clone(),
                    _ => AssessmentValue::Feedback {
                        value: None,
                        error: None,
                    },
                });
            }
            "rationale" => {
                patch.rationale = Some(
                    o.get("rationale")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            "metadata" => {
                if let Some(Value::Object(m)) = o.get("metadata") {
                    patch.metadata = m
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                            )
                        })
                        .collect();
                }
            }
            "valid" => {
                patch.valid = Some(o.get("valid").and_then(Value::as_bool).unwrap_or(false));
            }
            _ => {}
        }
    }
    let updated = s
        .traces
        .update_assessment(&trace_id, &assessment_id, patch, &paths)
        .await?;
    Ok(json_body(
        &json!({ "assessment": wire::assessment(&updated) }),
    ))
}

async fn delete_assessment(
    State(s): State<AppState>,
    Path((trace_id, assessment_id)): Path<(String, String)>,
) -> Handler {
    s.traces
        .delete_assessment(&trace_id, &assessment_id)
        .await?;
    Ok(json_body(&json!({})))
}
