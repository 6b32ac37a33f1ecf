//! Run-based artifact routes (spec mlflow-artifacts §6): `mlflow/artifacts/list`,
//! `/get-artifact` and the UI's `upload-artifact`. A run's root resolves through the proxy
//! destination when it is proxied and serving is on, otherwise to its local directory.

use std::io;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt, stream};
use rsflow_artifacts::{ArtifactPath, StoreError};
use rsflow_core::MlflowError;

use super::download::send_artifact;
use super::files_json;
use crate::AppState;
use crate::error::{ApiError, ApiResult, json_body};
use crate::extract::{Params, query_to_map};
use crate::limits::MAX_UI_UPLOAD;

const TOO_LARGE: &str = "Artifact size is too large. Max size is 10MB.";

/// `GET mlflow/artifacts/list?run_id=&path=`: paths come back run-relative, prefix included.
pub(crate) async fn list_artifacts(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let run_id = params.req_str_any(&["run_id", "run_uuid"])?;
    let path = params.opt_str("path")?;
    Ok(json_body(
        &list_artifacts_core(&state, &run_id, path.as_deref())
            .await?
            .into(),
    ))
}

/// The typed core of `artifacts/list` and GraphQL's `mlflowListArtifacts` (MLflow's
/// `list_artifacts_impl`): `path` checked, the run looked up, its root listed.
pub(crate) async fn list_artifacts_core(
    state: &AppState,
    run_id: &str,
    path: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, MlflowError> {
    let rel = match path {
        Some(raw) => ArtifactPath::parse(raw)?,
        None => ArtifactPath::root(),
    };
    let run = state.tracking.get_run(run_id).await?;
    let root_uri = run.info.artifact_uri;
    let resolved = state.resolve_root(&root_uri)?;
    let files = resolved
        .store
        .list(&resolved.path(&rel)?)
        .await
        .map_err(MlflowError::from)?;
    let mut body = serde_json::Map::new();
    body.insert("root_uri".into(), root_uri.into());
    if !files.is_empty() {
        let prefix = rel.clone();
        let value = files_json(files, move |name| {
            if prefix.is_root() {
                name
            } else {
                format!("{prefix}/{name}")
            }
        });
        body.insert("files".into(), value);
    }
    Ok(body)
}

/// `GET /get-artifact?run_id|run_uuid=&path=`: the UI's preview and download route.
pub(crate) async fn get_artifact(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    let raw = params
        .opt_str("path")?
        .ok_or_else(|| MlflowError::missing_param("path"))?;
    // MLflow looks the run up even without an id, and reports it as missing.
    let run_id = match params.opt_str("run_id")?.filter(|s| !s.is_empty()) {
        Some(id) => Some(id),
        None => params.opt_str("run_uuid")?.filter(|s| !s.is_empty()),
    };
    let rel = ArtifactPath::parse(&raw)?;
    let Some(run_id) = run_id else {
        return Err(MlflowError::not_found("Run with id=None not found").into());
    };
    let run = state.tracking.get_run(&run_id).await?;
    let resolved = state.resolve_root(&run.info.artifact_uri)?;
    let path = resolved.path(&rel)?;
    Ok(send_artifact(resolved.store.as_ref(), &path, &headers, true).await)
}

/// Marks the body error raised when an upload passes [`MAX_UI_UPLOAD`].
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(TOO_LARGE)
    }
}

impl std::error::Error for TooLarge {}

/// `POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=`: a raw body of at most 10 MB,
/// streamed into the run's artifact root (never buffered whole).
pub(crate) async fn upload_artifact(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let query = Params(query_to_map(query.as_deref().unwrap_or("")));
    let invalid = |m: &str| ApiError(MlflowError::invalid_param(m));
    let run_uuid = query
        .opt_str("run_uuid")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("Request must specify run_uuid."))?;
    let raw = query
        .opt_str("path")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("Request must specify path."))?;
    let rel = ArtifactPath::parse_file(&raw)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UI_UPLOAD) {
        return Err(invalid(TOO_LARGE));
    }
    // Flask parses form bodies into `request.form`, leaving `request.data` empty.
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.trim_start().to_ascii_lowercase();
            ct.starts_with("application/x-www-form-urlencoded")
                || ct.starts_with("multipart/form-data")
        });
    let mut data = body.into_data_stream().map_err(io::Error::other);
    let first = if is_form {
        None
    } else {
        first_chunk(&mut data).await.map_err(|e| {
            ApiError(MlflowError::invalid_param(format!(
                "Failed to read the request body: {e}"
            )))
        })?
    };
    let Some(first) = first else {
        return Err(invalid("Request must specify data."));
    };

    let run = state.tracking.get_run(&run_uuid).await?;
    let resolved = state.resolve_root(&run.info.artifact_uri)?;
    let target = resolved.path(&rel)?;
    let mut seen = 0u64;
    let limited =
        stream::once(async move { Ok(first) })
            .chain(data)
            .map(move |chunk: io::Result<Bytes>| {
                let chunk = chunk?;
                seen += chunk.len() as u64;
                if seen > MAX_UI_UPLOAD {
                    return Err(io::Error::other(TooLarge));
                }
                Ok(chunk)
            });
    match resolved.store.put(&target, Box::pin(limited)).await {
        Ok(_) => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            "",
        )
            .into_response()),
        Err(StoreError::Body(e)) if e.get_ref().is_some_and(|inner| inner.is::<TooLarge>()) => {
            Err(invalid(TOO_LARGE))
        }
        Err(e) => Err(ApiError::from(e)),
    }
}

/// The first non-empty chunk of a body, or `None` for an empty body.
async fn first_chunk(
    data: &mut (impl futures_util::Stream<Item = io::Result<Bytes>> + Unpin),
) -> io::Result<Option<Bytes>> {
    while let Some(chunk) = data.next().await {
        let chunk = chunk?;
        if !chunk.is_empty() {
            return Ok(Some(chunk));
        }
    }
    Ok(None)
}
