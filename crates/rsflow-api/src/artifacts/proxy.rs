//! The proxy API (`MlflowArtifactsService`, spec mlflow-artifacts §3): PUT, GET, DELETE and
//! list under `--artifacts-destination`, and the multipart and presigned routes, served where
//! the destination supports them (S3) and 501 otherwise, so the client falls back to plain
//! proxied transfers.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{MatchedPath, RawPathParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use rsflow_artifacts::{ArtifactPath, ArtifactStore, CompletedPart, PathError, StoreError};
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
    finish(multipart(MpuStep::Create, &state, matched, &params, body).await)
}

pub(crate) async fn mpu_complete(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: PathCapture,
    body: Result<Params, ApiError>,
) -> Response {
    finish(multipart(MpuStep::Complete, &state, matched, &params, body).await)
}

pub(crate) async fn mpu_abort(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: PathCapture,
    body: Result<Params, ApiError>,
) -> Response {
    finish(multipart(MpuStep::Abort, &state, matched, &params, body).await)
}

/// The file name of a multipart upload. Clients before 3.18 send their full local path (even
/// a Windows one), so the name is what follows the last `/` or `\`.
fn multipart_file_name(raw: &str) -> Result<&str, MlflowError> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or("");
    if matches!(name, "" | "." | "..") {
        return Err(MlflowError::invalid_param(format!(
            "Invalid file name for multipart upload: '{raw}'"
        )));
    }
    Ok(name)
}

/// `POST mlflow-artifacts/mpu/{create,complete,abort}/{*path}`: validated as MLflow validates
/// it (path, then body schema), then run against the destination's multipart API, or 501 so
/// the client falls back to a proxied `PUT` when the destination has none.
async fn multipart(
    step: MpuStep,
    state: &AppState,
    matched: Option<MatchedPath>,
    params: &PathCapture,
    body: Result<Params, ApiError>,
) -> ProxyResult {
    flask_gate(state, matched.as_ref())?;
    let dir = ArtifactPath::parse(&raw_path(params)?)?;
    let body = body?;
    let file = body.req_str("path")?;
    let num_parts = match step {
        MpuStep::Create => body.opt_i64("num_parts")?,
        _ => None,
    };
    let upload_id = match step {
        MpuStep::Complete | MpuStep::Abort => body.opt_str("upload_id")?,
        MpuStep::Create => None,
    };
    let parts = match step {
        MpuStep::Complete => match body.get("parts") {
            None => return Err(MlflowError::missing_param("parts").into()),
            Some(v) => parse_parts(v)?,
        },
        _ => Vec::new(),
    };
    // Clients before 3.18 send the full local path; MLflow 3.18 keeps its basename and
    // refuses "", "." and "..". Checked before anything else, on every destination.
    let target = dir.join(&ArtifactPath::parse_file(multipart_file_name(&file)?)?)?;
    let store = destination(state)?;
    let Some(mpu) = store.multipart() else {
        return Err(MlflowError::not_implemented(MPU_UNSUPPORTED).into());
    };
    let upload_id = upload_id.unwrap_or_default();
    match step {
        MpuStep::Create => {
            let n = num_parts.unwrap_or(1);
            let n = u32::try_from(n).map_err(|_| {
                MlflowError::invalid_param(format!("Invalid value {n} for parameter 'num_parts'"))
            })?;
            let upload = mpu.create(&target, n).await?;
            let credentials: Vec<serde_json::Value> = upload
                .credentials
                .into_iter()
                .map(|c| {
                    let mut v = serde_json::json!({"url": c.url, "part_number": c.part_number});
                    // An empty header map is left out, as protobuf's JSON does.
                    if !c.headers.is_empty() {
                        v["headers"] = c
                            .headers
                            .into_iter()
                            .map(|(k, v)| (k, serde_json::Value::from(v)))
                            .collect::<serde_json::Map<_, _>>()
                            .into();
                    }
                    v
                })
                .collect();
            let mut out = serde_json::json!({"credentials": credentials});
            if let Some(id) = upload.upload_id {
                out["upload_id"] = id.into();
            }
            Ok(json_body(&out))
        }
        MpuStep::Complete => {
            mpu.complete(&target, &upload_id, &parts).await?;
            Ok(json_body(&serde_json::json!({})))
        }
        MpuStep::Abort => {
            mpu.abort(&target, &upload_id).await?;
            Ok(json_body(&serde_json::json!({})))
        }
    }
}

/// `parts` of a complete request: `[{"part_number": 1, "etag": "\"…\"", "url": "…"}, …]`.
fn parse_parts(v: &serde_json::Value) -> Result<Vec<CompletedPart>, MlflowError> {
    let bad = || {
        MlflowError::invalid_param("Invalid value for parameter 'parts': expected a list of parts")
    };
    let list = v.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|p| {
            let part_number = p
                .get("part_number")
                .and_then(|n| n.as_u64().or_else(|| n.as_str()?.parse().ok()))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(bad)?;
            let text = |k: &str| p.get(k).and_then(|s| s.as_str()).unwrap_or("").to_owned();
            Ok(CompletedPart {
                part_number,
                etag: text("etag"),
                url: text("url"),
            })
        })
        .collect()
}

/// `GET mlflow-artifacts/presigned/{*path}`: a presigned store URL (S3), else 501 so the
/// client falls back to a proxied download.
pub(crate) async fn presigned(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: PathCapture,
) -> Response {
    finish(
        async {
            flask_gate(&state, matched.as_ref())?;
            let path = ArtifactPath::parse(&raw_path(&params)?)?;
            let store = destination(&state)?;
            if !store.presigns_downloads() {
                return Err(MlflowError::not_implemented(MPD_UNSUPPORTED).into());
            }
            let ttl = state.config.mlflow.presigned_download_ttl;
            let Some(signed) = store.presign_download(&path, ttl).await? else {
                return Err(MlflowError::not_implemented(MPD_UNSUPPORTED).into());
            };
            let headers: serde_json::Map<String, serde_json::Value> = signed
                .headers
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect();
            let mut out = serde_json::json!({"url": signed.url, "headers": headers});
            if let Some(size) = signed.file_size {
                out["file_size"] = size.into();
            }
            Ok(json_body(&out))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_file_names() {
        assert_eq!(multipart_file_name("big.bin").unwrap(), "big.bin");
        assert_eq!(multipart_file_name("/home/u/big.bin").unwrap(), "big.bin");
        assert_eq!(multipart_file_name("C:\\data\\big.bin").unwrap(), "big.bin");
        for bad in ["", "dir/", "..", "a/.", "x\\.."] {
            assert!(multipart_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parts_parse() {
        let v = serde_json::json!([{"part_number": 2, "etag": "\"b\"", "url": "u2"}, {"part_number": "1", "etag": "\"a\""}]);
        let parts = parse_parts(&v).unwrap();
        assert_eq!(parts[0].part_number, 2);
        assert_eq!(parts[1].part_number, 1);
        assert_eq!(parts[1].url, "");
        assert!(parse_parts(&serde_json::json!({"x": 1})).is_err());
        assert!(parse_parts(&serde_json::json!([{"etag": "x"}])).is_err());
    }
}
