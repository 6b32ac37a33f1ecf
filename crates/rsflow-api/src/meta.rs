//! Routes outside the entity APIs: health, version, server capabilities, and the JSON 404.

use axum::extract::{OriginalUri, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rsflow_core::{ErrorCode, MlflowError};

use crate::error::ApiError;
use crate::{AppState, MLFLOW_COMPAT_VERSION};

pub async fn health() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "OK")
}

pub async fn version() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        MLFLOW_COMPAT_VERSION,
    )
}

/// `GET /api/3.0/mlflow/server-info`: advertises only what rsflow implements.
pub async fn server_info(State(state): State<AppState>) -> Response {
    let destination = state.artifacts.as_deref();
    let serving = state.config.serve_artifacts && destination.is_some();
    let body = serde_json::json!({
        "store_type": state.tracking.store_type(),
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": serving && state.config.mlflow.proxy_multipart_upload
            && destination.is_some_and(|d| d.multipart().is_some()),
        "multipart_downloads_enabled": serving && state.config.mlflow.proxy_multipart_download
            && destination.is_some_and(|d| d.presigns_downloads()),
        "artifact_serving_enabled": state.config.serve_artifacts && state.artifacts.is_some(),
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "model_artifact_presigned_downloads_supported": false,
        "features_enabled": {"gateway": false, "scheduled_issue_detection": false},
        "tracking_auth": "",
        "artifacts_presigned_only": false,
    });
    crate::error::json_body(&body)
}

/// `GET /ajax-api/3.0/mlflow/ui-telemetry` (called by MLflow 3.18.0's UI): rsflow collects no
/// telemetry, so it answers what MLflow answers with telemetry disabled.
pub async fn ui_telemetry_config() -> Response {
    crate::error::json_body(&serde_json::json!({
        "disable_ui_telemetry": true,
        "disable_ui_events": [],
        "ui_rollout_percentage": 0,
    }))
}

/// `POST /ajax-api/3.0/mlflow/ui-telemetry`: the records are dropped, and the UI told to stop
/// sending them, as MLflow does with telemetry disabled.
pub async fn ui_telemetry_records() -> Response {
    crate::error::json_body(&serde_json::json!({"status": "disabled"}))
}

/// Unknown routes get a JSON `ENDPOINT_NOT_FOUND` (MLflow answers an HTML page; on purpose).
/// A path with a doubled slash inside gets werkzeug's `merge_slashes` answer instead: a 308 to
/// the path with every run of slashes merged (the query kept), which is then routed normally.
pub async fn not_found(uri: Uri, OriginalUri(original): OriginalUri) -> Response {
    // The full path: under `--static-prefix` `uri` has lost the prefix.
    let path = original.path();
    if path.contains("//") {
        let mut merged = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && merged.ends_with('/')) {
                merged.push(c);
            }
        }
        if let Some(q) = original.query() {
            merged.push('?');
            merged.push_str(q);
        }
        if let Ok(location) = axum::http::HeaderValue::from_str(&merged) {
            return (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    endpoint_not_found(&uri)
}

pub async fn method_not_allowed(uri: Uri) -> Response {
    let mut r = ApiError(MlflowError::new(
        ErrorCode::BadRequest,
        format!("Method not allowed for {}", uri.path()),
    ))
    .into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// The JSON 404 for a request the router never saw.
pub fn endpoint_not_found(uri: &Uri) -> Response {
    ApiError(MlflowError::new(
        ErrorCode::EndpointNotFound,
        format!("No endpoint found for {}", uri.path()),
    ))
    .into_response()
}
