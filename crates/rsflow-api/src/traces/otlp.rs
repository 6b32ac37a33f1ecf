//! `POST /v1/traces`: OTLP/HTTP trace ingestion as `mlflow server`'s FastAPI route answers it
//! (spec §2.6): FastAPI-shaped `{"detail": ...}` errors for the transport, MLflow JSON errors
//! from the store, an empty protobuf `ExportTraceServiceResponse` on success.
//!
//! Limits: the body as sent is capped like every JSON body (`--max-json-body`, 413 past it,
//! held against the shared body memory budget), and a gzip/deflate body is inflated only up to
//! that same cap (413 past it), so a small compressed body cannot expand without bound.

use std::io::Read as _;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use rsflow_core::MlflowError;

use super::otlp_convert::{ConvertError, convert};
use super::otlp_json;
use crate::AppState;
use crate::error::{ApiError, json_body};
use crate::extract::read_json_body;
use crate::limits::BodyLimits;

pub const EXPERIMENT_HEADER: &str = "x-mlflow-experiment-id";
pub const RUN_HEADER: &str = "x-mlflow-run-id";

/// A FastAPI `HTTPException` answer.
fn detail(status: StatusCode, text: &str) -> Response {
    (status, json_body(&serde_json::json!({ "detail": text }))).into_response()
}

/// FastAPI's 422 for a missing required header.
fn missing_header(name: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        json_body(&serde_json::json!({"detail": [{
            "type": "missing", "loc": ["header", name], "msg": "Field required", "input": null,
        }]})),
    )
        .into_response()
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub async fn export(State(state): State<AppState>, req: Request) -> Response {
    let headers = req.headers().clone();
    let Some(experiment_id) = header_str(&headers, EXPERIMENT_HEADER).map(str::to_owned) else {
        return missing_header(EXPERIMENT_HEADER);
    };
    let run_id = header_str(&headers, RUN_HEADER)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let content_type = header_str(&headers, header::CONTENT_TYPE.as_str());
    let media = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
    let json = match media {
        Some("application/x-protobuf") => false,
        Some("application/json") => true,
        _ => {
            return detail(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Invalid Content-Type: {}. Expected: application/x-protobuf or application/json",
                    content_type.unwrap_or("None")
                ),
            );
        }
    };
    let encoding = header_str(&headers, header::CONTENT_ENCODING.as_str())
        .filter(|e| !e.is_empty())
        .map(str::to_ascii_lowercase);
    if let Some(e) = encoding.as_deref()
        && e != "gzip"
        && e != "deflate"
    {
        return detail(
            StatusCode::BAD_REQUEST,
            &format!("Unsupported Content-Encoding: {e}"),
        );
    }
    let limits = req
        .extensions()
        .get::<BodyLimits>()
        .cloned()
        .unwrap_or_default();
    let (raw, _share) = match read_json_body(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (body, _inflated_share) = match encoding.as_deref() {
        None => (raw.to_vec(), None),
        Some(e) => match inflate(&raw, e, limits.max_json_body) {
            Ok(b) => match limits.reserve(b.len()).await {
                Ok(share) => (b, share),
                Err(busy) => return ApiError(busy).into_response(),
            },
            Err(Inflate::TooLarge) => {
                return ApiError(MlflowError::payload_too_large(format!(
                    "Decompressed request body exceeds the limit of {} bytes.",
                    limits.max_json_body
                )))
                .into_response();
            }
            Err(Inflate::Corrupt) => {
                return detail(
                    StatusCode::BAD_REQUEST,
                    &format!("Failed to decompress {e} payload"),
                );
            }
        },
    };
    drop(raw);
    // Decoding and converting a request is about 1 ms of CPU per 100 spans, in one piece that
    // cannot yield: it runs on the blocking pool, so that the async workers stay free to wake
    // the task that commits the spans after each of its statements. On the async workers, that
    // task waited ~1.7 ms per statement behind the conversions of the requests that arrived
    // right after a commit, and the SQLite writer sat idle half of the time.
    let truncate = state.config.mlflow.truncate_long_values;
    let decoded = tokio::task::spawn_blocking(move || {
        let parsed = if json {
            otlp_json::parse(&body).ok()
        } else {
            ExportTraceServiceRequest::decode(body.as_slice()).ok()
        };
        drop(body);
        let request = parsed.ok_or(Decode::Invalid)?;
        if request.resource_spans.is_empty() {
            return Err(Decode::NoSpans);
        }
        convert(&request, truncate).map_err(Decode::Convert)
    })
    .await;
    let converted = match decoded {
        Ok(Ok(c)) => c,
        Ok(Err(Decode::Invalid)) => {
            return detail(StatusCode::BAD_REQUEST, "Invalid OpenTelemetry format");
        }
        Ok(Err(Decode::NoSpans)) => {
            return detail(
                StatusCode::BAD_REQUEST,
                "Invalid OpenTelemetry format - no spans found",
            );
        }
        Ok(Err(Decode::Convert(ConvertError::Span))) => {
            return detail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Cannot convert OpenTelemetry span to MLflow span",
            );
        }
        Ok(Err(Decode::Convert(ConvertError::Mlflow(e)))) => return ApiError(e).into_response(),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => {
            return ApiError(MlflowError::internal(format!(
                "The OTLP request could not be decoded: {e}"
            )))
            .into_response();
        }
    };
    if converted.span_count() > 0 {
        if let Err(e) = state
            .traces
            .log_spans(&experiment_id, &converted.traces, run_id.as_deref())
            .await
        {
            return ApiError(e).into_response();
        }
        tracing::debug!(
            spans = converted.span_count(),
            traces = converted.traces.len(),
            "otlp spans stored"
        );
    }
    // The serialized empty ExportTraceServiceResponse is zero bytes.
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        )],
        Vec::<u8>::new(),
    )
        .into_response()
}

/// Why a request body did not give spans to store.
enum Decode {
    /// Neither OTLP protobuf nor OTLP JSON.
    Invalid,
    /// No `resource_spans` at all.
    NoSpans,
    Convert(ConvertError),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inflate {
    TooLarge,
    Corrupt,
}

/// `decompress_otlp_body`: gzip, or deflate as zlib then raw DEFLATE; at most `max` bytes out.
pub(crate) fn inflate(body: &[u8], encoding: &str, max: usize) -> Result<Vec<u8>, Inflate> {
    fn read_capped(mut r: impl std::io::Read, max: usize) -> Result<Vec<u8>, Inflate> {
        let mut out = Vec::new();
        let n = (&mut r)
            .take(max as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|_| Inflate::Corrupt)?;
        if n > max {
            return Err(Inflate::TooLarge);
        }
        Ok(out)
    }
    match encoding {
        // Python's gzip.decompress reads every member and rejects trailing garbage.
        "gzip" => {
            let out = read_capped(flate2::read::MultiGzDecoder::new(body), max)?;
            if out.is_empty() && !body.is_empty() && !is_complete_gzip(body) {
                return Err(Inflate::Corrupt);
            }
            Ok(out)
        }
        _ => match read_capped(flate2::read::ZlibDecoder::new(body), max) {
            Err(Inflate::TooLarge) => Err(Inflate::TooLarge),
            Ok(out) if zlib_complete(body) => Ok(out),
            _ => read_capped(flate2::read::DeflateDecoder::new(body), max),
        },
    }
}

/// An empty gzip member still decodes: tell it apart from garbage that inflates to nothing.
fn is_complete_gzip(body: &[u8]) -> bool {
    body.len() >= 18 && body[0] == 0x1f && body[1] == 0x8b
}

/// Whether a zlib stream has a valid header (else try raw DEFLATE, as `zlib.decompress(...,
/// -MAX_WBITS)` does after the first attempt fails).
fn zlib_complete(body: &[u8]) -> bool {
    body.len() >= 2
        && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0
        && body[0] & 0x0f == 8
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_within_the_cap() {
        let data = b"hello otlp".repeat(100);
        assert_eq!(inflate(&gzip(&data), "gzip", 10_000).unwrap(), data);
        let mut z = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::default());
        z.write_all(&data).unwrap();
        assert_eq!(
            inflate(&z.finish().unwrap(), "deflate", 10_000).unwrap(),
            data
        );
        let mut raw = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::default());
        raw.write_all(&data).unwrap();
        assert_eq!(
            inflate(&raw.finish().unwrap(), "deflate", 10_000).unwrap(),
            data
        );
        assert_eq!(inflate(b"not gzip", "gzip", 10_000), Err(Inflate::Corrupt));
        assert_eq!(
            inflate(b"\x00\x01garbage", "deflate", 10_000),
            Err(Inflate::Corrupt)
        );
        let truncated = gzip(&data);
        assert_eq!(
            inflate(&truncated[..truncated.len() / 2], "gzip", 10_000),
            Err(Inflate::Corrupt)
        );
    }

    #[test]
    fn a_zip_bomb_stops_at_the_cap() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(inflate(&bomb, "gzip", 1024 * 1024), Err(Inflate::TooLarge));
    }
}
