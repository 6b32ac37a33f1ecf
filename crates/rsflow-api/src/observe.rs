//! Observability: `X-Request-Id` and one `tracing` span per request (always), and the
//! Prometheus `/metrics` endpoint (with `--expose-prometheus`, served where MLflow serves it).
//!
//! Metric names follow what `mlflow server --expose-prometheus` (prometheus_flask_exporter,
//! prefix `mlflow`) exports for requests, so dashboards keep working; rsflow's own figures
//! (proxy bytes, pools, storage errors, gc) are named `rsflow_*`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument as _;

use crate::AppState;
use crate::gc::GcProgress;

pub const REQUEST_ID: &str = "x-request-id";

/// The matched route template of a request, carried from routing out to the metrics layer.
#[derive(Debug, Clone)]
struct RouteTemplate(Arc<str>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    path: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CountLabels {
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    direction: &'static str,
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    mlflow_version: &'static str,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    requests: Family<CountLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    proxy_bytes: Family<BytesLabels, Counter>,
    storage_errors: Family<BackendLabels, Counter>,
    pool: Family<PoolLabels, Gauge>,
    writer_queue: Gauge,
    /// The scheme of `--artifacts-destination` (`file`, `s3`, ...), the proxy's backend label.
    backend: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(artifacts_destination: &str, gc: &GcProgress) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<CountLabels, Counter>::default();
        registry.register(
            "mlflow_http_request",
            "Requests served, by method and status",
            requests.clone(),
        );
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        registry.register(
            "mlflow_http_request_duration_seconds",
            "Request latency by method, route template and status",
            latency.clone(),
        );
        let proxy_bytes = Family::<BytesLabels, Counter>::default();
        registry.register(
            "rsflow_artifact_proxy_bytes",
            "Artifact bytes through the proxy (in: uploads, out: downloads) per backend",
            proxy_bytes.clone(),
        );
        let storage_errors = Family::<BackendLabels, Counter>::default();
        registry.register(
            "rsflow_storage_errors",
            "Artifact requests that failed on the storage side (5xx answers)",
            storage_errors.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "rsflow_db_pool_connections",
            "Database pool connections by pool and state (open, idle, max)",
            pool.clone(),
        );
        let writer_queue = Gauge::default();
        registry.register(
            "rsflow_sqlite_writer_queue",
            "SQLite metric writes waiting for the group-commit writer",
            writer_queue.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                mlflow_version: crate::MLFLOW_COMPAT_VERSION,
            })
            .set(1);
        registry.register("rsflow_build_info", "Build information", build);
        registry.register(
            "rsflow_gc_passes",
            "Scheduled gc passes finished",
            gc.passes.clone(),
        );
        registry.register(
            "rsflow_gc_runs_deleted",
            "Runs removed by the scheduled gc",
            gc.runs_deleted.clone(),
        );
        registry.register(
            "rsflow_gc_logged_models_deleted",
            "Logged models removed by the scheduled gc",
            gc.logged_models_deleted.clone(),
        );
        registry.register(
            "rsflow_gc_experiments_deleted",
            "Experiments removed by the scheduled gc",
            gc.experiments_deleted.clone(),
        );
        registry.register(
            "rsflow_gc_traces_deleted",
            "Traces whose artifacts the scheduled gc removed",
            gc.traces_deleted.clone(),
        );
        registry.register(
            "rsflow_gc_artifact_roots_deleted",
            "Artifact locations removed by the scheduled gc",
            gc.artifact_roots_deleted.clone(),
        );
        registry.register(
            "rsflow_gc_artifact_errors",
            "Artifact locations the scheduled gc failed to remove (retried next pass)",
            gc.artifact_errors.clone(),
        );
        registry.register(
            "rsflow_gc_last_pass_end_timestamp_ms",
            "When the last scheduled gc pass ended (ms since the epoch)",
            gc.last_pass_end_ms.clone(),
        );
        let backend = match artifacts_destination.split_once("://") {
            Some((scheme, _)) => scheme.to_ascii_lowercase(),
            None => "file".to_owned(),
        };
        Metrics {
            registry,
            requests,
            latency,
            proxy_bytes,
            storage_errors,
            pool,
            writer_queue,
            backend,
        }
    }
}

/// Whether a client's request id may be echoed: short, printable, no separators that would
/// let it forge log fields.
fn sane_request_id(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        }))
    .then_some(s)
}

fn new_request_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Outermost layer: the request id, the request's span, and (with `/metrics` on) the request
/// count, latency and proxy bytes.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = match req.headers().get(REQUEST_ID).and_then(sane_request_id) {
        Some(s) => s.to_owned(),
        None => new_request_id(),
    };
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let metrics = state.metrics.clone();
    let started = Instant::now();
    if let (Some(m), true) = (&metrics, is_proxy(req.uri().path())) {
        let counter = m.proxy_bytes.get_or_create(&BytesLabels {
            direction: "in",
            backend: m.backend.clone(),
        });
        let counter = counter.clone();
        let body = std::mem::take(req.body_mut());
        *req.body_mut() = Body::from_stream(body.into_data_stream().inspect(move |chunk| {
            if let Ok(b) = chunk {
                counter.inc_by(b.len() as u64);
            }
        }));
    }
    let mut resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status();
    span.record("status", status.as_u16());
    tracing::debug!(
        parent: &span,
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request done"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    if let Some(m) = metrics {
        let route = resp
            .extensions()
            .get::<RouteTemplate>()
            .map_or_else(|| "unmatched".to_owned(), |r| r.0.to_string());
        let proxy = is_proxy(&route);
        m.requests
            .get_or_create(&CountLabels {
                method: method_label(&method),
                status: status.as_u16(),
            })
            .inc();
        m.latency
            .get_or_create(&RequestLabels {
                method: method_label(&method),
                path: route,
                status: status.as_u16(),
            })
            .observe(started.elapsed().as_secs_f64());
        if proxy {
            if status.is_server_error() {
                m.storage_errors
                    .get_or_create(&BackendLabels {
                        backend: m.backend.clone(),
                    })
                    .inc();
            }
            let counter = m
                .proxy_bytes
                .get_or_create(&BytesLabels {
                    direction: "out",
                    backend: m.backend.clone(),
                })
                .clone();
            let body = std::mem::take(resp.body_mut());
            *resp.body_mut() = Body::from_stream(body.into_data_stream().inspect(move |chunk| {
                if let Ok(b) = chunk {
                    counter.inc_by(b.len() as u64);
                }
            }));
        }
    }
    resp
}

/// The method label: the standard methods, anything else as `other` (a client must not be able
/// to grow the label set).
fn method_label(m: &axum::http::Method) -> String {
    use axum::http::Method;
    for known in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ] {
        if *m == known {
            return known.as_str().to_owned();
        }
    }
    "other".to_owned()
}

fn is_proxy(path: &str) -> bool {
    path.contains("/mlflow-artifacts/artifacts")
}

/// Inside routing: the matched route template goes into the span and out with the response.
pub async fn route_template(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| Arc::<str>::from(p.as_str()));
    if let Some(r) = &route {
        tracing::Span::current().record("route", r.as_ref());
    }
    let mut resp = next.run(req).await;
    // Nested routers run this again inside: the innermost (the full template) wins.
    if let Some(r) = route
        && resp.extensions().get::<RouteTemplate>().is_none()
    {
        resp.extensions_mut().insert(RouteTemplate(r));
    }
    resp
}

/// `GET /metrics`: the Prometheus text format (OpenMetrics 1.0).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(m) = &state.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let stats = state.tracking.pool_stats();
    for (pool, open, idle, max) in stats.pools {
        for (st, v) in [("open", open), ("idle", idle), ("max", max)] {
            m.pool
                .get_or_create(&PoolLabels { pool, state: st })
                .set(i64::from(v));
        }
    }
    if let Some(q) = stats.writer_queue {
        m.writer_queue.set(i64::try_from(q).unwrap_or(i64::MAX));
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &m.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
