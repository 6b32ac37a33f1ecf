//! MLflow 3 logged-model handlers (spec §2.3): create, get, finalize, delete, tags, params and
//! the structured search.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use rsflow_core::MlflowError;
use rsflow_core::wire::KeyValue;
use rsflow_core::wire_models::LoggedModelStatus;
use rsflow_store::{CreateLoggedModel, DatasetFilter, LoggedModelOrderBy, SearchLoggedModels};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult, json_ok};
use crate::extract::{Params, invalid_type};

/// The proto default page size of `logged-models/search`.
const SEARCH_LOGGED_MODELS_DEFAULT: i64 = 50;

/// Every logged-model route, relative to `/api/2.0` (and `/ajax-api/2.0`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mlflow/logged-models", post(create_logged_model))
        .route("/mlflow/logged-models/search", post(search_logged_models))
        .route(
            "/mlflow/logged-models/{model_id}",
            get(get_logged_model)
                .patch(finalize_logged_model)
                .delete(delete_logged_model),
        )
        .route(
            "/mlflow/logged-models/{model_id}/tags",
            axum::routing::patch(set_logged_model_tags),
        )
        .route(
            "/mlflow/logged-models/{model_id}/tags/{tag_key}",
            delete(delete_logged_model_tag),
        )
        .route(
            "/mlflow/logged-models/{model_id}/params",
            post(log_logged_model_params),
        )
}

async fn create_logged_model(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let experiment_id = p.req_str("experiment_id")?;
    let model = CreateLoggedModel {
        experiment_id,
        name: p.opt_str("name")?.filter(|n| !n.is_empty()),
        // Absent proto strings reach MLflow's store as "" and are echoed as "".
        model_type: Some(p.opt_str("model_type")?.unwrap_or_default()),
        source_run_id: Some(p.opt_str("source_run_id")?.unwrap_or_default()),
        params: p.list::<KeyValue>("params")?,
        tags: p.list::<KeyValue>("tags")?,
    };
    let model = st.logged_models.create_logged_model(model).await?;
    json_ok(&json!({ "model": model }))
}

#[derive(serde::Deserialize)]
struct GetQuery {
    allow_deleted: Option<String>,
}

async fn get_logged_model(
    State(st): State<AppState>,
    Path(model_id): Path<String>,
    Query(q): Query<GetQuery>,
) -> ApiResult<Response> {
    // Read from the query string only, and anything but "true" means false, as in MLflow.
    let allow_deleted = q
        .allow_deleted
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let model = st
        .logged_models
        .get_logged_model(&model_id, allow_deleted)
        .await?;
    json_ok(&json!({ "model": model }))
}

async fn finalize_logged_model(
    State(st): State<AppState>,
    Path(path_id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let model_id = p.req_str("model_id")?;
    let raw = p
        .get("status")
        .cloned()
        .ok_or_else(|| ApiError(MlflowError::missing_param("status")))?;
    let status = match &raw {
        Value::String(s) => LoggedModelStatus::parse(s),
        Value::Number(n) => n.as_i64().and_then(LoggedModelStatus::from_int),
        _ => None,
    }
    .ok_or_else(|| invalid_type("status", &raw))?;
    // The path names the resource; a body naming another model is a client error.
    if model_id != path_id {
        return Err(ApiError(MlflowError::invalid_param(format!(
            "The model_id in the request body ('{model_id}') does not match the model_id in the \
             path ('{path_id}')."
        ))));
    }
    let model = st
        .logged_models
        .finalize_logged_model(&model_id, status)
        .await?;
    json_ok(&json!({ "model": model }))
}

async fn delete_logged_model(
    State(st): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Response> {
    st.logged_models.delete_logged_model(&model_id).await?;
    json_ok(&json!({}))
}

async fn set_logged_model_tags(
    State(st): State<AppState>,
    Path(model_id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let tags = p.list::<KeyValue>("tags")?;
    st.logged_models
        .set_logged_model_tags(&model_id, &tags)
        .await?;
    // The proto declares `{model}`, but MLflow answers `{}` (spec §9.11).
    json_ok(&json!({}))
}

async fn delete_logged_model_tag(
    State(st): State<AppState>,
    Path((model_id, tag_key)): Path<(String, String)>,
) -> ApiResult<Response> {
    st.logged_models
        .delete_logged_model_tag(&model_id, &tag_key)
        .await?;
    json_ok(&json!({}))
}

async fn log_logged_model_params(
    State(st): State<AppState>,
    Path(path_id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let model_id = p.req_str("model_id")?;
    if model_id != path_id {
        return Err(ApiError(MlflowError::invalid_param(format!(
            "The model_id in the request body ('{model_id}') does not match the model_id in the \
             path ('{path_id}')."
        ))));
    }
    let params = p.list::<KeyValue>("params")?;
    st.logged_models
        .log_logged_model_params(&model_id, &params)
        .await?;
    json_ok(&json!({}))
}

fn opt_string_field(item: &Value, key: &str, field: &str) -> ApiResult<Option<String>> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(other) => Err(invalid_type(field, other)),
    }
}

fn datasets(p: &Params) -> ApiResult<Vec<DatasetFilter>> {
    let items = match p.get("datasets") {
        None => return Ok(vec![]),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => return Err(invalid_type("datasets", other)),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        if !item.is_object() {
            return Err(invalid_type("datasets", &Value::Array(items.clone())));
        }
        let name = opt_string_field(item, "dataset_name", "datasets")?.ok_or_else(|| {
            MlflowError::invalid_param("`dataset_name` in the `datasets` clause must be specified.")
        })?;
        out.push(DatasetFilter {
            dataset_name: name,
            dataset_digest: opt_string_field(item, "dataset_digest", "datasets")?,
        });
    }
    Ok(out)
}

fn order_by(p: &Params) -> ApiResult<Vec<LoggedModelOrderBy>> {
    let items = match p.get("order_by") {
        None => return Ok(vec![]),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => return Err(invalid_type("order_by", other)),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        if !item.is_object() {
            return Err(invalid_type("order_by", &Value::Array(items.clone())));
        }
        let field_name = opt_string_field(item, "field_name", "order_by")?
            .ok_or_else(|| MlflowError::missing_param("order_by.field_name"))?;
        let ascending = match item.get("ascending") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(other) => return Err(invalid_type("order_by", other)),
        };
        let dataset_name = opt_string_field(item, "dataset_name", "order_by")?;
        let dataset_digest = opt_string_field(item, "dataset_digest", "order_by")?;
        out.push(LoggedModelOrderBy {
            field_name,
            ascending,
            dataset_name,
            dataset_digest,
        });
    }
    Ok(out)
}

async fn search_logged_models(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    // The key must be present even when the list is empty.
    if p.get("experiment_ids").is_none() {
        return Err(ApiError(MlflowError::missing_param("experiment_ids")));
    }
    if let Some(Value::Array(ids)) = p.get("experiment_ids")
        && ids.iter().any(|v| !v.is_string())
    {
        return Err(invalid_type("experiment_ids", &Value::Array(ids.clone())));
    }
    let query = SearchLoggedModels {
        experiment_ids: p.str_list("experiment_ids")?,
        filter: p.opt_str("filter")?.filter(|f| !f.is_empty()),
        datasets: datasets(&p)?,
        max_results: Some(
            p.opt_i64("max_results")?
                .filter(|m| *m != 0)
                .unwrap_or(SEARCH_LOGGED_MODELS_DEFAULT),
        ),
        order_by: order_by(&p)?,
        page_token: p.opt_str("page_token")?.filter(|t| !t.is_empty()),
    };
    let page = st.logged_models.search_logged_models(&query).await?;
    let mut body = json!({});
    if !page.items.is_empty() {
        body["models"] = json!(page.items);
    }
    if let Some(token) = page.next_page_token {
        body["next_page_token"] = json!(token);
    }
    json_ok(&body)
}
