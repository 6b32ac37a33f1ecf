//! Model registry handlers (spec §2.4): registered models, versions, tags, aliases, stages.
//!
//! Requests are decoded as MLflow's `_get_request_message` does; the store enforces names,
//! lengths and existence; [`source`] decides which model-version sources may be stored.

pub mod source;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, patch, post};
use rsflow_core::MlflowError;
use rsflow_core::wire::KeyValue;
use rsflow_store::{CreateModelVersion, SearchRegistry};
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, ApiResult, json_ok};
use crate::extract::{Params, invalid_type};
use crate::webhooks::registry_events as hooks;

/// `registered-models/search`: proto default and the handler's cap.
const SEARCH_REGISTERED_MODELS_DEFAULT: i64 = 100;
const SEARCH_REGISTERED_MODELS_MAX: i64 = 1000;
/// `model-versions/search`: proto default and cap.
pub(crate) const SEARCH_MODEL_VERSIONS_DEFAULT: i64 = 200_000;
const SEARCH_MODEL_VERSIONS_MAX: i64 = 200_000;

/// Every registry route, relative to `/api/2.0` (and `/ajax-api/2.0`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/mlflow/registered-models/create",
            post(create_registered_model),
        )
        .route(
            "/mlflow/registered-models/rename",
            post(rename_registered_model),
        )
        .route(
            "/mlflow/registered-models/update",
            patch(update_registered_model),
        )
        .route(
            "/mlflow/registered-models/delete",
            axum::routing::delete(delete_registered_model),
        )
        .route("/mlflow/registered-models/get", get(get_registered_model))
        .route(
            "/mlflow/registered-models/search",
            get(search_registered_models),
        )
        .route(
            "/mlflow/registered-models/get-latest-versions",
            post(get_latest_versions).get(get_latest_versions),
        )
        .route(
            "/mlflow/registered-models/set-tag",
            post(set_registered_model_tag),
        )
        .route(
            "/mlflow/registered-models/delete-tag",
            axum::routing::delete(delete_registered_model_tag),
        )
        .route(
            "/mlflow/registered-models/alias",
            post(set_alias).delete(delete_alias).get(get_by_alias),
        )
        .route("/mlflow/model-versions/create", post(create_model_version))
        .route("/mlflow/model-versions/update", patch(update_model_version))
        .route(
            "/mlflow/model-versions/transition-stage",
            post(transition_stage),
        )
        .route(
            "/mlflow/model-versions/delete",
            axum::routing::delete(delete_model_version),
        )
        .route("/mlflow/model-versions/get", get(get_model_version))
        .route("/mlflow/model-versions/search", get(search_model_versions))
        .route(
            "/mlflow/model-versions/get-download-uri",
            get(get_download_uri),
        )
        .route(
            "/mlflow/model-versions/set-tag",
            post(set_model_version_tag),
        )
        .route(
            "/mlflow/model-versions/delete-tag",
            axum::routing::delete(delete_model_version_tag),
        )
}

/// `tags[]` as MLflow reads them: a list of `{key, value}` objects.
pub(crate) fn tags(p: &Params) -> ApiResult<Vec<KeyValue>> {
    p.list::<KeyValue>("tags")
}

/// A bounded `max_results` for registry searches, with MLflow's type/limit message.
fn max_results(p: &Params, default: i64, max: i64) -> ApiResult<i64> {
    let Some(v) = p.opt_i64("max_results")? else {
        return Ok(default);
    };
    if v > max {
        let raw = p.get("max_results").cloned().unwrap_or(json!(v));
        return Err(invalid_type("max_results", &raw));
    }
    Ok(v)
}

fn order_by(p: &Params) -> ApiResult<Vec<String>> {
    match p.get("order_by") {
        Some(serde_json::Value::Array(items)) if items.iter().any(|v| !v.is_string()) => Err(
            invalid_type("order_by", &serde_json::Value::Array(items.clone())),
        ),
        _ => p.str_list("order_by"),
    }
}

async fn create_registered_model(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let tags = tags(&p)?;
    let description = p.opt_str("description")?;
    let rm = st
        .registry
        .create_registered_model(&name, &tags, description.as_deref())
        .await?;
    let is_prompt = source::is_prompt_request(&tags);
    hooks::registered_model_created(&st, &name, &tags, description.as_deref(), is_prompt);
    json_ok(&json!({ "registered_model": rm }))
}

async fn rename_registered_model(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let new_name = p.req_str("new_name")?;
    let rm = st
        .registry
        .rename_registered_model(&name, &new_name)
        .await?;
    json_ok(&json!({ "registered_model": rm }))
}

async fn update_registered_model(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    // MLflow passes the proto field through, so an absent description clears it to "".
    let description = p.opt_str("description")?.unwrap_or_default();
    let rm = st
        .registry
        .update_registered_model(&name, Some(&description))
        .await?;
    json_ok(&json!({ "registered_model": rm }))
}

async fn delete_registered_model(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    st.registry.delete_registered_model(&name).await?;
    json_ok(&json!({}))
}

async fn get_registered_model(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let rm = st.registry.get_registered_model(&name).await?;
    json_ok(&json!({ "registered_model": rm }))
}

async fn search_registered_models(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let query = SearchRegistry {
        filter: p.opt_str("filter")?.unwrap_or_default(),
        max_results: max_results(
            &p,
            SEARCH_REGISTERED_MODELS_DEFAULT,
            SEARCH_REGISTERED_MODELS_MAX,
        )?,
        order_by: order_by(&p)?,
        page_token: p.opt_str("page_token")?.filter(|t| !t.is_empty()),
    };
    let page = st.registry.search_registered_models(&query).await?;
    let mut body = json!({});
    if !page.items.is_empty() {
        body["registered_models"] = json!(page.items);
    }
    if let Some(token) = page.next_page_token {
        body["next_page_token"] = json!(token);
    }
    json_ok(&body)
}

async fn get_latest_versions(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let stages = p.str_list("stages")?;
    let versions = st.registry.get_latest_versions(&name, &stages).await?;
    let mut body = json!({});
    if !versions.is_empty() {
        body["model_versions"] = json!(versions);
    }
    json_ok(&body)
}

async fn set_registered_model_tag(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let key = p.req_str("key")?;
    let value = p.opt_str("value")?.unwrap_or_default();
    st.registry
        .set_registered_model_tag(&name, &key, &value)
        .await?;
    hooks::registered_model_tag(&st, &name, &key, Some(&value));
    json_ok(&json!({}))
}

async fn delete_registered_model_tag(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let key = p.req_str("key")?;
    st.registry.delete_registered_model_tag(&name, &key).await?;
    hooks::registered_model_tag(&st, &name, &key, None);
    json_ok(&json!({}))
}

async fn set_alias(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let alias = p.req_str("alias")?;
    let version = p.req_json_string("version")?;
    st.registry
        .set_registered_model_alias(&name, &alias, &version)
        .await?;
    hooks::alias(&st, &name, &alias, Some(&version));
    json_ok(&json!({}))
}

async fn delete_alias(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let alias = p.req_str("alias")?;
    st.registry
        .delete_registered_model_alias(&name, &alias)
        .await?;
    hooks::alias(&st, &name, &alias, None);
    json_ok(&json!({}))
}

async fn get_by_alias(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let alias = p.req_str("alias")?;
    let mv = st
        .registry
        .get_model_version_by_alias(&name, &alias)
        .await?;
    json_ok(&json!({ "model_version": mv }))
}

async fn create_model_version(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let source = p.req_str("source")?;
    let run_id = p.opt_str("run_id")?;
    let model_id = p.opt_str("model_id")?;
    let tags = tags(&p)?;
    let run_link = p.opt_str("run_link")?;
    let description = p.opt_str("description")?;
    let is_prompt = source::is_prompt_request(&tags);
    let admitted = source::admit(
        &st,
        source::SourceRequest {
            source: &source,
            run_id: run_id.as_deref(),
            model_id: model_id.as_deref(),
            tags: &tags,
        },
    )
    .await?;
    // Absent string fields reach MLflow's store as "" and are stored and echoed that way.
    let mv = st
        .registry
        .create_model_version(CreateModelVersion {
            name: name.clone(),
            source: admitted.source.clone(),
            storage_location: admitted.storage_location,
            run_id: Some(admitted.run_id.clone().unwrap_or_default()),
            run_link: Some(run_link.unwrap_or_default()),
            description: Some(description.clone().unwrap_or_default()),
            tags: tags.clone(),
        })
        .await?;
    hooks::model_version_created(
        &st,
        &name,
        &mv.version,
        &admitted.source,
        admitted.run_id.as_deref(),
        &tags,
        description.as_deref(),
        is_prompt,
    );
    if let Some(mid) = model_id.filter(|m| !m.is_empty() && !is_prompt) {
        st.logged_models
            .record_model_version(&mid, &name, mv.version_number())
            .await?;
    }
    json_ok(&json!({ "model_version": mv }))
}

async fn update_model_version(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let version = p.req_json_string("version")?;
    let description = p.opt_str("description")?;
    let mv = st
        .registry
        .update_model_version(&name, &version, description.as_deref())
        .await?;
    json_ok(&json!({ "model_version": mv }))
}

async fn transition_stage(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let version = p.req_json_string("version")?;
    let stage = p.req_str("stage")?;
    let archive = p.opt_bool("archive_existing_versions")?.unwrap_or(false);
    let mv = st
        .registry
        .transition_model_version_stage(&name, &version, &stage, archive)
        .await?;
    json_ok(&json!({ "model_version": mv }))
}

async fn delete_model_version(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let version = p.req_json_string("version")?;
    st.registry.delete_model_version(&name, &version).await?;
    json_ok(&json!({}))
}

async fn get_model_version(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let version = p.req_json_string("version")?;
    let mv = st.registry.get_model_version(&name, &version).await?;
    json_ok(&json!({ "model_version": mv }))
}

async fn search_model_versions(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let max = max_results(&p, SEARCH_MODEL_VERSIONS_DEFAULT, SEARCH_MODEL_VERSIONS_MAX)?;
    let query = SearchRegistry {
        filter: p.opt_str("filter")?.unwrap_or_default(),
        max_results: max,
        order_by: order_by(&p)?,
        page_token: p.opt_str("page_token")?.filter(|t| !t.is_empty()),
    };
    json_ok(&search_model_versions_core(&st, &query).await?)
}

/// The typed core of `model-versions/search`, GraphQL's `mlflowSearchModelVersions` and a run's
/// `modelVersions` extension (MLflow's `search_model_versions_impl`): the store checks the rest.
pub(crate) async fn search_model_versions_core(
    st: &AppState,
    query: &SearchRegistry,
) -> rsflow_core::Result<serde_json::Value> {
    let page = st.registry.search_model_versions(query).await?;
    let mut body = json!({});
    if !page.items.is_empty() {
        body["model_versions"] = json!(page.items);
    }
    if let Some(token) = page.next_page_token {
        body["next_page_token"] = json!(token);
    }
    Ok(body)
}

async fn get_download_uri(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    // MLflow runs this one without a schema, so absent fields reach the store as "".
    let name = p.opt_str("name")?.unwrap_or_default();
    let version = p.opt_str("version")?.unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError(MlflowError::missing_param("name")));
    }
    let uri = st
        .registry
        .get_model_version_download_uri(&name, &version)
        .await?;
    json_ok(&json!({ "artifact_uri": uri }))
}

async fn set_model_version_tag(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let version = p.req_json_string("version")?;
    let key = p.req_str("key")?;
    let value = p.opt_str("value")?.unwrap_or_default();
    st.registry
        .set_model_version_tag(&name, &version, &key, &value)
        .await?;
    hooks::model_version_tag(&st, &name, &version, &key, Some(&value));
    json_ok(&json!({}))
}

async fn delete_model_version_tag(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let version = p.req_json_string("version")?;
    let key = p.req_str("key")?;
    st.registry
        .delete_model_version_tag(&name, &version, &key)
        .await?;
    hooks::model_version_tag(&st, &name, &version, &key, None);
    json_ok(&json!({}))
}
