//! Artifact routes: the proxy API under `mlflow-artifacts/` (`proxy`), the run-based routes the
//! UI and clients use (`runs`), and file downloads with MLflow's headers (`download`, with
//! Python's `mimetypes` tables in `mime_table`).

mod download;
mod mime_table;
mod proxy;
mod runs;

use axum::Router;
use axum::routing::{get, post};
use rsflow_artifacts::FileInfo;

use crate::AppState;

pub(crate) use download::send_artifact;
pub(crate) use runs::list_artifacts_core;

/// Proxy routes, nested under both `/api/2.0` and `/ajax-api/2.0`.
pub(crate) fn proxy_routes() -> Router<AppState> {
    Router::new()
        .route("/mlflow-artifacts/artifacts", get(proxy::list))
        // `{*path}` needs at least one character: an empty path gets the same handlers.
        .route(
            "/mlflow-artifacts/artifacts/",
            get(proxy::download)
                .put(proxy::upload)
                .delete(proxy::delete),
        )
        .route(
            "/mlflow-artifacts/artifacts/{*path}",
            get(proxy::download)
                .put(proxy::upload)
                .delete(proxy::delete),
        )
        .route(
            "/mlflow-artifacts/mpu/create/{*path}",
            post(proxy::mpu_create),
        )
        .route(
            "/mlflow-artifacts/mpu/complete/{*path}",
            post(proxy::mpu_complete),
        )
        .route(
            "/mlflow-artifacts/mpu/abort/{*path}",
            post(proxy::mpu_abort),
        )
        .route("/mlflow-artifacts/presigned/{*path}", get(proxy::presigned))
}

/// Tracking-side artifact routes under both prefixes (503 in `--artifacts-only`).
pub(crate) fn run_routes() -> Router<AppState> {
    Router::new().route("/mlflow/artifacts/list", get(runs::list_artifacts))
}

/// Routes MLflow serves only under `/ajax-api/2.0` (503 in `--artifacts-only`).
pub(crate) fn ajax_only_routes() -> Router<AppState> {
    Router::new().route("/mlflow/upload-artifact", post(runs::upload_artifact))
}

/// Routes at the top level, behind the static prefix only (503 in `--artifacts-only`).
pub(crate) fn top_level_routes() -> Router<AppState> {
    Router::new().route("/get-artifact", get(runs::get_artifact))
}

/// A listing as MLflow serialises `FileInfo`: `is_dir` always, `file_size` only when non-zero.
pub(crate) fn files_json(
    files: Vec<FileInfo>,
    name: impl Fn(String) -> String,
) -> serde_json::Value {
    let files: Vec<rsflow_core::wire::FileInfo> = files
        .into_iter()
        .map(|f| rsflow_core::wire::FileInfo {
            path: name(f.path),
            is_dir: f.is_dir,
            file_size: f.file_size.and_then(|s| i64::try_from(s).ok()),
        })
        .collect();
    serde_json::to_value(files).unwrap_or_default()
}

impl From<rsflow_artifacts::PathError> for crate::error::ApiError {
    fn from(e: rsflow_artifacts::PathError) -> Self {
        crate::error::ApiError(e.into())
    }
}

impl From<rsflow_artifacts::StoreError> for crate::error::ApiError {
    fn from(e: rsflow_artifacts::StoreError) -> Self {
        // A client that stopped sending mid-upload gets a 408, not a 400 about its body.
        if let rsflow_artifacts::StoreError::Body(inner) = &e
            && crate::limits::is_body_timeout(inner)
        {
            return crate::error::ApiError(rsflow_core::MlflowError::request_timeout(format!(
                "Failed to read the request body: {inner}"
            )));
        }
        crate::error::ApiError(e.into())
    }
}

/// The digest index kept in the backend database (`rsflow_artifact_index`).
pub struct DbDigestIndex(pub std::sync::Arc<dyn rsflow_store::MetadataStore>);

#[async_trait::async_trait]
impl rsflow_artifacts::indexed::DigestIndex for DbDigestIndex {
    async fn record(&self, location: &str, size: u64) -> Result<(), String> {
        self.0
            .index_artifact(location, size)
            .await
            .map_err(|e| e.message)
    }

    async fn forget(&self, location: &str) -> Result<(), String> {
        self.0
            .unindex_artifacts(location)
            .await
            .map(|_| ())
            .map_err(|e| e.message)
    }

    async fn under(&self, location: &str) -> Result<Vec<String>, String> {
        self.0
            .indexed_artifacts(location)
            .await
            .map_err(|e| e.message)
    }
}
