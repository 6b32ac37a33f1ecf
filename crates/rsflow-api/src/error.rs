//! The one mapping from [`MlflowError`] to an HTTP response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rsflow_core::MlflowError;

/// An error on its way to the client as MLflow's JSON error body.
#[derive(Debug)]
pub struct ApiError(pub MlflowError);

impl From<MlflowError> for ApiError {
    fn from(e: MlflowError) -> Self {
        ApiError(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let status =
            StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // The one log line of a failed request: lower layers return their errors with the
        // cause attached and log nothing themselves.
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(code = err.code.as_str(), status = status.as_u16(), error = %err.with_causes(), "request failed");
        } else if status.is_server_error() {
            tracing::warn!(code = err.code.as_str(), status = status.as_u16(), error = %err.with_causes(), "request failed");
        }
        let mut resp = (status, json_body(&err.to_json())).into_response();
        if let Some(secs) = err.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// A JSON response with MLflow's content type.
pub fn json_body(v: &serde_json::Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

/// Serialise any wire value as a 200 JSON response.
pub fn json_ok<T: serde::Serialize>(v: &T) -> ApiResult<Response> {
    let bytes = serde_json::to_vec(v)
        .map_err(|e| MlflowError::internal(format!("failed to serialise response: {e}")))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response())
}
