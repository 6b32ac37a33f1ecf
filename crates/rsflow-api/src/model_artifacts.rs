//! Artifact routes of models (spec mlflow-artifacts §6): `/model-versions/get-artifact` (top
//! level, behind the static prefix), `logged-models/{id}/artifacts/directories` and the UI's
//! `logged-models/{id}/artifacts/files`. Proxied roots resolve through the destination.
//!
//! A version's storage location is checked again before any byte is read: the registry admits
//! what MLflow admits (`s3://another-bucket/...`), and a database written by an older MLflow may
//! hold sources it accepted (CVE-2023-1177 and successors), so a location is served only inside
//! the server's default root, its destination or the version's run root (proxied locations
//! always resolve inside the destination).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use rsflow_artifacts::{ArtifactPath, ArtifactStore};
use rsflow_core::model_source::{Location, is_proxy_location};
use rsflow_core::{ErrorCode, MlflowError};
use std::sync::Arc;

use crate::AppState;
use crate::artifacts::{files_json, send_artifact};
use crate::error::{ApiResult, json_body};
use crate::extract::Params;

/// `logged-models/{id}/artifacts/directories`, under both API prefixes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/mlflow/logged-models/{model_id}/artifacts/directories",
        get(list_logged_model_artifacts),
    )
}

/// Served by MLflow only under `/ajax-api/2.0`.
pub(crate) fn ajax_only_routes() -> Router<AppState> {
    Router::new().route(
        "/mlflow/logged-models/{model_id}/artifacts/files",
        get(get_logged_model_artifact),
    )
}

/// Top-level routes, behind the static prefix only.
pub(crate) fn top_level_routes() -> Router<AppState> {
    Router::new().route(
        "/model-versions/get-artifact",
        get(get_model_version_artifact),
    )
}

/// Where a root's files live: the store and the root's own path inside it.
struct Root {
    store: Arc<dyn ArtifactStore>,
    prefix: ArtifactPath,
}

fn resolve(state: &AppState, uri: &str) -> Result<Root, MlflowError> {
    let r = state.resolve_root(uri)?;
    Ok(Root {
        store: r.store,
        prefix: r.prefix,
    })
}

fn refused(location: &str) -> MlflowError {
    MlflowError::permission_denied(format!(
        "The model version's artifact location '{location}' lies outside the server's artifact \
         roots; rsflow does not serve it."
    ))
}

/// Resolve a version's download URI to a root, following `runs:/` and `models:/<model_id>`,
/// and refusing local locations outside the trusted roots.
async fn version_root(
    state: &AppState,
    location: &str,
    run_id: Option<&str>,
) -> Result<Root, MlflowError> {
    if let Some(rest) = location.strip_prefix("runs:/") {
        let (rid, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let run = state.tracking.get_run(rid).await?;
        let root = resolve(state, &run.info.artifact_uri)?;
        let sub = ArtifactPath::parse(sub)?;
        return Ok(Root {
            prefix: root.prefix.join(&sub)?,
            store: root.store,
        });
    }
    if let Some(model_id) = location.strip_prefix("models:/")
        && model_id.starts_with("m-")
        && !model_id.contains('/')
    {
        let model = state
            .logged_models
            .get_logged_model(model_id, false)
            .await?;
        return resolve(state, &model.info.artifact_uri);
    }
    let Some(loc) = Location::parse_root(location) else {
        return Err(refused(location));
    };
    // Proxied locations resolve inside the destination whatever they name. Anything else is
    // read only inside the server's own roots or the version's run's root: the registry admits
    // `s3://another-bucket/...` as MLflow does, but the server's credentials never fetch it.
    if !is_proxy_location(&loc) {
        let mut roots = state.config.trusted_roots();
        if let Some(rid) = run_id.filter(|r| !r.is_empty()) {
            match state.tracking.get_run(rid).await {
                Ok(run) => roots.push(run.info.artifact_uri),
                Err(e) if e.code == ErrorCode::ResourceDoesNotExist => {}
                Err(e) => return Err(e),
            }
        }
        let inside = roots
            .iter()
            .filter_map(|r| Location::parse_root(r))
            .any(|root| loc.is_within(&root));
        if !inside {
            return Err(refused(location));
        }
    }
    resolve(state, location)
}

/// `GET /model-versions/get-artifact?name=&version=&path=`.
async fn get_model_version_artifact(
    State(state): State<AppState>,
    headers: HeaderMap,
    p: Params,
) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let version = p.req_str("version")?;
    let raw = p
        .opt_str("path")?
        .ok_or_else(|| MlflowError::missing_param("path"))?;
    let rel = ArtifactPath::parse(&raw)?;
    let location = state
        .registry
        .get_model_version_download_uri(&name, &version)
        .await?;
    let mv = state.registry.get_model_version(&name, &version).await?;
    let root = version_root(&state, &location, mv.run_id.as_deref()).await?;
    let path = root.prefix.join(&rel)?;
    Ok(send_artifact(root.store.as_ref(), &path, &headers, true).await)
}

/// `GET .../logged-models/{id}/artifacts/directories?artifact_directory_path=`.
async fn list_logged_model_artifacts(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let rel = match p.opt_str("artifact_directory_path")? {
        Some(raw) => ArtifactPath::parse(&raw)?,
        None => ArtifactPath::root(),
    };
    let model = state
        .logged_models
        .get_logged_model(&model_id, false)
        .await?;
    let root_uri = model.info.artifact_uri;
    let root = resolve(&state, &root_uri)?;
    let files = root
        .store
        .list(&root.prefix.join(&rel)?)
        .await
        .map_err(MlflowError::from)?;
    let mut body = serde_json::Map::new();
    body.insert("root_uri".into(), root_uri.into());
    if !files.is_empty() {
        let value = files_json(files, move |name| {
            if rel.is_root() {
                name
            } else {
                format!("{rel}/{name}")
            }
        });
        body.insert("files".into(), value);
    }
    Ok(json_body(&body.into()))
}

/// `GET /ajax-api/2.0/mlflow/logged-models/{id}/artifacts/files?artifact_file_path=`.
async fn get_logged_model_artifact(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    p: Params,
) -> ApiResult<Response> {
    let raw = p
        .opt_str("artifact_file_path")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            MlflowError::bad_request(
                "Request must include the \"artifact_file_path\" query parameter.",
            )
        })?;
    let rel = ArtifactPath::parse(&raw)?;
    let model = state
        .logged_models
        .get_logged_model(&model_id, false)
        .await?;
    let root = resolve(&state, &model.info.artifact_uri)?;
    let path = root.prefix.join(&rel)?;
    Ok(send_artifact(root.store.as_ref(), &path, &headers, true).await)
}
