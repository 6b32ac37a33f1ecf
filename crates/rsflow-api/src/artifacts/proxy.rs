//! The proxy API (`MlflowArtifactsService`, spec mlflow-artifacts §3): PUT, GET, DELETE and
//! list under `--artifacts-destination`, and the multipart and presigned routes, which answer
//! 501 so the client falls back to plain proxied transfers.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{MatchedPath, RawPathParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use rsflow_artifacts::{ArtifactPath, ArtifactStore, PathError, StoreError};
use rsflow_core::MlflowError;

use super::download::send_artifact;
use super::files_json;
use crate::AppState;
use crate::error::{ApiError, json_body};
use crate::extract::Params;
use crate::gate;

const MPU_UNSUPPORTED: &str =
    "Multipart upload is not supported for the current artifact repository";
const MPD_UNSUPPORTED: &str =
    "Multipart download is not supported for the current artifact repository";

/// How a proxy request ends early: an MLflow error, or one of the gates' own responses.
enum Stop {
    Api(ApiError),
    Gate(Box<Response>),
}

impl<E: Into<ApiError>> From<E> for Stop {
    fn from(e: E) -> Self {
        Stop::Api(e.into())
    }
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        match self {
            Stop::Api(e) => e.into_response(),
            Stop::Gate(r) => *r,
        }
    }
}

type ProxyResult = Result<Response, Stop>;

fn finish(result: ProxyResult) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

type PathCapture = Result<RawPathParams, RawPathParamsRejection>;

/// The `{*path}` capture, percent-decoded once by routing. A capture that does not decode to
/// UTF-8 is as invalid as any other bad path.
fn raw_path(params: &PathCapture) -> Result<String, PathError> {
    match params {
        Ok(p) => Ok(p
            .iter()
            .find(|(k, _)| *k == "path")
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default()),
        Err(_) => Err(PathError::Invalid),
    }
}

/// MLflow's native upload and download routes answer JSON 503s.
fn native_gate(state: &AppState) -> Result<(), Stop> {
    if state.config.serve_artifacts {
        Ok(())
    } else {
        Err(Stop::Gate(Box::new(gate::detail_503(
            gate::SERVING_DISABLED,
        ))))
    }
}

/// The routes MLflow serves from Flask (list, delete, mpu, presigned) answer its text 503.
fn flask_gate(state: &AppState, matched: Option<&MatchedPath>) -> Result<(), Stop> {
    if state.config.serve_artifacts {
        return Ok(());
    }
    let rule = gate::flask_rule(matched, "/api/2.0/mlflow-artifacts/artifacts");
    Err(Stop::Gate(Box::new(gate::no_serve_artifacts(&rule))))
}

/// The destination, or the 503 MLflow's native routes answer when none is configured.
fn destination(state: &AppState) -> Result<Arc<dyn ArtifactStore>, Stop> {
    state
        .artifacts
        .clone()
        .ok_or_else(|| Stop::Gate(Box::new(gate::detail_503(gate::SERVING_NOT_CONFIGURED))))
}

/// `GET mlflow-artifacts/artifacts/{*path}` (and `…/artifacts/`, the root, a directory).
pub(crate) async fn download(
    State(state): State<AppState>,
    params: PathCapture,
    headers: HeaderMap,
) -> Response {
    finish(
        async {
            native_gate(&state)?;
            let path = ArtifactPath::parse(&raw_path(&params)?)?;
            let store = destination(&state)?;
            Ok(send_artifact(store.as_ref(), &path, &headers, false).await)
        }
        .await,
    )
}

/// `PUT mlflow-artifacts/artifacts/{*path}`: the body streams into the store.
pub(crate) async fn upload(
    State(state): State<AppState>,
    params: PathCapture,
    body: Body,
) -> Response {
    finish(
        async {
            native_gate(&state)?;
            let path = ArtifactPath::parse_file(&raw_path(&params)?)?;
            let store = destination(&state)?;
            let stream = body.into_data_stream().map_err(io::Error::other);
            if let Err(e) = store.put(&path, Box::pin(stream)).await {
                tracing::info!(path = %path, error = %e, "artifact upload failed");
                return Err(e.into());
            }
            // MLflow's native route answers an empty 200.
            Ok(StatusCode::OK.into_response())
        }
        .await,
    )
}

/// `DELETE mlflow-artifacts/artifacts/{*path}`: a file or a whole directory; missing is fine.
/// The destination root itself is refused (MLflow 3.17.2 deletes everything for
/// `DELETE …/artifacts/%2e`).
pub(crate) async fn delete(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: PathCapture,
) -> Response {
    finish(
        async {
            flask_gate(&state, matched.as_ref())?;
            let path = ArtifactPath::parse(&raw_path(&params)?)?;
            if path.is_root() {
                return Err(StoreError::RootTarget.into());
            }
            destination(&state)?.delete(&path).await?;
            Ok(json_body(&serde_json::json!({})))
        }
        .await,
    )
}

/// `GET mlflow-artifacts/artifacts?path=`: basenames only, `{}` for a file or missing path.
pub(crate) async fn list(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: Result<Params, ApiError>,
) -> Response {
    finish(
        async {
            flask_gate(&state, matched.as_ref())?;
            let path = match params?.opt_str("path")? {
                Some(raw) => ArtifactPath::parse(&raw)?,
                None => ArtifactPath::root(),
            };
            let files = destination(&state)?.list(&path).await?;
            let mut body = serde_json::Map::new();
            if !files.is_empty() {
                body.insert("files".into(), files_json(files, |name| name));
            }
            Ok(json_body(&body.into()))
        }
        .await,
    )
}

/// Which multipart step a request is.
#[derive(Clone, Copy)]
enum MpuStep {
    Create,
    Complete,
    Abort,
}

pub(crate) async fn mpu_create(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: PathCapture,
    body: Result<Params, ApiError>,
) -> Response {
    finish(multipart(MpuStep::Create, &state, matched, &params, body))
}

pub(crate) async fn mpu_complete(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: PathCapture,
    body: Result<Params, ApiError>,
) -> Response {
    finish(multipart(MpuStep::Complete, &state, matched, &params, body))
}

pub(crate) async fn mpu_abort(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: PathCapture,
    body: Result<Params, ApiError>,
) -> Response {
    finish(multipart(MpuStep::Abort, &state, matched, &params, body))
}

/// `POST mlflow-artifacts/mpu/{create,complete,abort}/{*path}`: validated as MLflow validates
/// it (path, then body schema), then 501 because the local destination has no multipart API.
fn multipart(
    step: MpuStep,
    state: &AppState,
    matched: Option<MatchedPath>,
    params: &PathCapture,
    body: Result<Params, ApiError>,
) -> ProxyResult {
    flask_gate(state, matched.as_ref())?;
    ArtifactPath::parse(&raw_path(params)?)?;
    let body = body?;
    // MLflow 3.18 basenames the body `path`; a traversing one is refused outright here.
    ArtifactPath::parse(&body.req_str("path")?)?;
    match step {
        MpuStep::Create => {
            body.opt_i64("num_parts")?;
        }
        MpuStep::Complete => {
            body.opt_str("upload_id")?;
            if body.get("parts").is_none() {
                return Err(MlflowError::missing_param("parts").into());
            }
        }
        MpuStep::Abort => {
            body.opt_str("upload_id")?;
        }
    }
    Err(MlflowError::not_implemented(MPU_UNSUPPORTED).into())
}

/// `GET mlflow-artifacts/presigned/{*path}`: no presigned downloads from a local destination.
pub(crate) async fn presigned(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: PathCapture,
) -> Response {
    finish((|| {
        flask_gate(&state, matched.as_ref())?;
        ArtifactPath::parse(&raw_path(&params)?)?;
        Err(MlflowError::not_implemented(MPD_UNSUPPORTED).into())
    })())
}
