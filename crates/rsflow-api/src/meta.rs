//! Routes outside the entity APIs: health, version, server capabilities, and the JSON 404.

use axum::extract::State;
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

/// Unknown routes get a JSON `ENDPOINT_NOT_FOUND` (MLflow answers an HTML page; on purpose).
pub async fn not_found(uri: Uri) -> Response {
    ApiError(MlflowError::new(
        ErrorCode::EndpointNotFound,
        format!("No endpoint found for {}", uri.path()),
    ))
    .into_response()
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
