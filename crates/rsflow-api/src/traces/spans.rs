//! Trace payloads streamed page by page from the store (spec §2.9): `traces/get`,
//! `traces/batchGet` and the UI's `get-trace-artifact`. A trace is never held whole in memory:
//! spans are read `PAGE` at a time with a keyset cursor and written as they come.

use std::io;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use rsflow_core::MlflowError;
use rsflow_core::trace::{SpanCursor, TraceInfo};
use rsflow_store::TraceStore;
use tokio::sync::mpsc;

use super::wire;

/// Spans read from the store per query (and so per chunk of the response body, four of which
/// may wait for the client): 500 keeps a 10,000-span `get_trace` under ~60 MiB of peak RSS.
const PAGE: usize = 500;

/// How a trace's spans are written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpanForm {
    /// OTel proto-JSON (`traces/get`, `batchGet`).
    Otel,
    /// The stored JSON as is (`get-trace-artifact`, like `traces.json`).
    Stored,
}

/// Whether the DB holds the trace's spans (`mlflow.trace.spansLocation`).
pub(crate) fn in_tracking_store(info: &TraceInfo) -> bool {
    info.tags
        .get(rsflow_core::trace::TAG_SPANS_LOCATION)
        .is_some_and(|v| v == rsflow_core::trace::SPANS_LOCATION_TRACKING_STORE)
}

/// `num_spans` of `mlflow.trace.sizeStats`, when the client recorded it.
pub(crate) fn expected_spans(info: &TraceInfo) -> Option<i64> {
    let stats = info
        .trace_metadata
        .get(rsflow_core::trace::META_SIZE_STATS)?;
    let v: serde_json::Value = serde_json::from_str(stats).ok()?;
    Some(
        v.get("num_spans")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
    )
}

/// `_get_spans_with_trace_info` with `allow_partial=false`: every span the client counted is
/// in (and at least one when it did not count).
pub(crate) fn complete(info: &TraceInfo, count: i64) -> bool {
    match expected_spans(info) {
        Some(n) => count >= n && count > 0,
        None => count > 0,
    }
}

/// One piece of a streamed answer: fixed text, or a trace's spans.
pub(crate) enum Part {
    Text(String),
    Spans { trace_id: String, form: SpanForm },
}

/// A JSON response whose body is written piece by piece from the store.
pub(crate) fn stream_response(
    store: Arc<dyn TraceStore>,
    parts: Vec<Part>,
    content_type: &'static str,
) -> Response {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::spawn(async move {
        for part in parts {
            let ok = match part {
                Part::Text(t) => tx.send(Ok(Bytes::from(t))).await.is_ok(),
                Part::Spans { trace_id, form } => {
                    write_spans(store.as_ref(), &trace_id, form, &tx).await
                }
            };
            if !ok {
                return;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Write `a,b,c` (no brackets) for every span of the trace; false when the client is gone or
/// the store failed (the body then ends with an error).
async fn write_spans(
    store: &dyn TraceStore,
    trace_id: &str,
    form: SpanForm,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> bool {
    let mut after: Option<SpanCursor> = None;
    let mut first = true;
    loop {
        let page = match store.list_spans(trace_id, after.clone(), PAGE).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(trace_id, error = %e.message, "listing spans failed mid-stream");
                let _ = tx.send(Err(io::Error::other(e.message))).await;
                return false;
            }
        };
        let Some(last) = page.last() else {
            return true;
        };
        after = Some(SpanCursor::after(last));
        let full = page.len() == PAGE;
        let size: usize = page.iter().map(|s| s.content.len() + 1).sum();
        let mut chunk = Vec::with_capacity(size + size / 2);
        for span in &page {
            let mark = chunk.len();
            if !first {
                chunk.push(b',');
            }
            let ok = match form {
                SpanForm::Stored => {
                    chunk.extend_from_slice(span.content.as_bytes());
                    true
                }
                SpanForm::Otel => wire::write_otel_span(&span.content, &mut chunk),
            };
            if !ok {
                chunk.truncate(mark);
                tracing::warn!(trace_id, span_id = span.span_id, "unreadable stored span");
                continue;
            }
            first = false;
        }
        if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
            return false;
        }
        if !full {
            return true;
        }
    }
}

/// The error of `traces/get` when the spans are not in the DB.
pub(crate) fn not_in_tracking_store() -> MlflowError {
    MlflowError::not_found("Trace data not stored in tracking store")
}
