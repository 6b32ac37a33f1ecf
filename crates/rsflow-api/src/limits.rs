//! Resource limits on the HTTP surface (security.md §4.3 D11/D12, §5): bounded concurrency per
//! route class with a short queue and a JSON 503 + `Retry-After` past it, an idle timeout on
//! every request body (a client that stops sending mid-body cannot hold a worker forever), and
//! the size and time caps [`Params`](crate::extract::Params) applies to JSON bodies.
//!
//! Artifact bodies are never size-capped here: they stream to the store in constant memory.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use http_body::{Frame, SizeHint};
use rsflow_core::MlflowError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::AppState;
use crate::error::ApiError;

/// The limits an operator can set (`rsflow server --max-…`, see `docs/hardening.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Largest JSON request body, in bytes (413 past it).
    pub max_json_body: usize,
    /// JSON request bodies held in memory at once, in bytes, over all requests (a request
    /// that would go past it waits up to `queue_timeout`, then gets a 503). Never below
    /// `max_json_body`, so one request of the largest size always fits.
    pub json_body_budget: usize,
    /// Requests on the tracking/registry (JSON) routes served at once.
    pub max_api_requests: usize,
    /// Artifact transfers (proxy PUT/GET/DELETE/list, downloads, uploads) served at once.
    pub max_artifact_requests: usize,
    /// How long a request waits for a free slot before the 503.
    pub queue_timeout: Duration,
    /// Longest pause between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// Longest time to receive a whole JSON body.
    pub json_body_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_json_body: 32 * 1024 * 1024,
            json_body_budget: 256 * 1024 * 1024,
            max_api_requests: 256,
            max_artifact_requests: 64,
            queue_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(60),
            json_body_timeout: Duration::from_secs(120),
        }
    }
}

/// What the body readers need, carried to them as a request extension.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    pub max_json_body: usize,
    pub json_body_timeout: Duration,
    /// Bytes of JSON bodies that may still be taken into memory (see
    /// [`LimitsConfig::json_body_budget`]); `None` means unbounded.
    pub budget: Option<Arc<Semaphore>>,
    /// How long a body waits for its share of the budget before the 503.
    pub budget_wait: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        let c = LimitsConfig::default();
        BodyLimits {
            max_json_body: c.max_json_body,
            json_body_timeout: c.json_body_timeout,
            budget: None,
            budget_wait: c.queue_timeout,
        }
    }
}

impl BodyLimits {
    /// Take `bytes` of the memory budget, waiting at most `budget_wait`; `Ok(None)` when
    /// unbounded. The share is returned when the permit is dropped.
    pub async fn reserve(&self, bytes: usize) -> Result<Option<OwnedSemaphorePermit>, MlflowError> {
        let Some(budget) = &self.budget else {
            return Ok(None);
        };
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        if let Ok(p) = budget.clone().try_acquire_many_owned(n) {
            return Ok(Some(p));
        }
        match tokio::time::timeout(self.budget_wait, budget.clone().acquire_many_owned(n)).await {
            Ok(Ok(p)) => Ok(Some(p)),
            _ => {
                tracing::warn!(bytes, "JSON body memory budget exhausted, answering 503");
                Err(MlflowError::unavailable(
                    "The server is busy: too many large request bodies in memory. Retry later.",
                    1,
                ))
            }
        }
    }
}

/// The semaphores behind the concurrency limits; one per server.
#[derive(Debug)]
pub struct Limiter {
    config: LimitsConfig,
    api: Arc<Semaphore>,
    artifact: Arc<Semaphore>,
    json_budget: Arc<Semaphore>,
}

impl Limiter {
    pub fn new(config: LimitsConfig) -> Self {
        // Semaphore permits are counted in u32 per acquisition: bodies stay below 4 GiB.
        let budget = config
            .json_body_budget
            .max(config.max_json_body)
            .min(Semaphore::MAX_PERMITS);
        Limiter {
            config,
            api: Arc::new(Semaphore::new(config.max_api_requests.max(1))),
            artifact: Arc::new(Semaphore::new(config.max_artifact_requests.max(1))),
            json_budget: Arc::new(Semaphore::new(budget)),
        }
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }
}

/// Which pool a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `/health` and `/version`: never queued, so probes see a busy server as alive.
    Exempt,
    /// Artifact bytes in or out.
    Artifact,
    /// Everything else (tracking, registry, logged models, the JSON 404).
    Api,
}

/// Classify a path (with the static prefix already removed).
pub fn route_class(path: &str) -> RouteClass {
    if path == "/health" || path == "/version" {
        RouteClass::Exempt
    } else if path.contains("/mlflow-artifacts/")
        || path.ends_with("/mlflow-artifacts")
        || path.ends_with("/get-artifact")
        || path.ends_with("/mlflow/upload-artifact")
        || (path.contains("/logged-models/") && path.ends_with("/artifacts/files"))
        || path.starts_with("/static-files/")
    {
        RouteClass::Artifact
    } else {
        RouteClass::Api
    }
}

/// Middleware: take a slot for the request's class (waiting at most `queue_timeout`), hold it
/// until the response body is finished, and put an idle timeout on the request body.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limiter = &state.limiter;
    let config = *limiter.config();
    let path = req.uri().path();
    let local = path
        .strip_prefix(state.config.static_prefix.as_str())
        .unwrap_or(path);
    let class = route_class(local);
    let semaphore = match class {
        RouteClass::Exempt => return next.run(req).await,
        RouteClass::Artifact => &limiter.artifact,
        RouteClass::Api => &limiter.api,
    };
    let permit = match semaphore.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            match tokio::time::timeout(config.queue_timeout, semaphore.clone().acquire_owned())
                .await
            {
                Ok(Ok(p)) => p,
                _ => return busy(class),
            }
        }
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let drain_bound = match class {
        RouteClass::Artifact => MAX_UI_UPLOAD,
        _ => config.max_json_body as u64,
    }
    .saturating_mul(DRAIN_CAP_FACTOR);
    let mut req = req.map(|b| {
        if b.is_end_stream() {
            b
        } else {
            let timed = Body::from_stream(IdleTimeout::new(
                b.into_data_stream(),
                config.body_idle_timeout,
            ));
            Body::new(DrainOnDrop::new(timed, declared, drain_bound))
        }
    });
    req.extensions_mut().insert(BodyLimits {
        max_json_body: config.max_json_body,
        json_body_timeout: config.json_body_timeout,
        budget: Some(limiter.json_budget.clone()),
        budget_wait: config.queue_timeout,
    });
    let resp = next.run(req).await;
    resp.map(|body| {
        Body::new(PermitBody {
            inner: body,
            _permit: permit,
        })
    })
}

fn busy(class: RouteClass) -> Response {
    let what = match class {
        RouteClass::Artifact => "artifact transfers",
        _ => "API requests",
    };
    tracing::warn!(class = what, "concurrency limit reached, answering 503");
    ApiError(MlflowError::unavailable(
        format!("The server is busy: too many concurrent {what}. Retry later."),
        1,
    ))
    .into_response()
}

/// A response body that keeps its request's slot until it has been sent (or dropped).
struct PermitBody {
    inner: Body,
    _permit: OwnedSemaphorePermit,
}

impl HttpBody for PermitBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `upload-artifact` bodies are capped at MLflow's 10 MB (`10 * 1024 * 1024` bytes).
pub const MAX_UI_UPLOAD: u64 = 10 * 1024 * 1024;

/// A refused body is read and thrown away up to this many times its route's cap (JSON bodies:
/// `max_json_body`; artifact routes: the UI upload's 10 MB), for at most [`DRAIN_MAX_TIME`].
const DRAIN_CAP_FACTOR: u64 = 4;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);
/// Refused bodies drained at once; past it the connection is closed at once, as before.
const MAX_DRAINS: usize = 128;

fn drains() -> &'static Arc<Semaphore> {
    static DRAINS: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    DRAINS.get_or_init(|| Arc::new(Semaphore::new(MAX_DRAINS)))
}

/// A request body that, when the handler lets go of it before its end (an early refusal: too
/// large, a missing parameter, a failed store), reads and discards the rest in the background
/// instead of leaving hyper to close the connection while the client is still sending.
///
/// A client that writes its whole body before reading the answer (Python's `http.client`,
/// hence `requests` on some paths) otherwise gets a broken pipe or a reset and never sees the
/// JSON error; `mlflow server` reads every body whole first. A body whose declared rest is
/// past the bound is not read at all: the answer goes out and the connection closes.
pub struct DrainOnDrop {
    inner: Option<Body>,
    read: u64,
    declared: Option<u64>,
    bound: u64,
    finished: bool,
}

impl DrainOnDrop {
    pub fn new(inner: Body, declared: Option<u64>, bound: u64) -> Self {
        DrainOnDrop {
            inner: Some(inner),
            read: 0,
            declared,
            bound,
            finished: false,
        }
    }
}

impl HttpBody for DrainOnDrop {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read += data.len() as u64;
                }
            }
            Poll::Ready(_) => this.finished = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if self.finished || body.is_end_stream() {
            return;
        }
        let rest = self.declared.map(|n| n.saturating_sub(self.read));
        if rest.is_some_and(|r| r > self.bound) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(permit) = drains().clone().try_acquire_owned() else {
            return;
        };
        let bound = self.bound;
        handle.spawn(async move {
            let _permit = permit;
            drain(body, bound).await;
        });
    }
}

/// Read and discard up to `bound` bytes of `body` within [`DRAIN_MAX_TIME`].
async fn drain(mut body: Body, bound: u64) {
    let mut seen = 0u64;
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, async {
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let Ok(frame) = frame else { break };
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > bound {
                    break;
                }
            }
        }
    })
    .await;
    tracing::debug!(bytes = seen, "discarded the rest of a refused request body");
}

/// Marks the error a body stream ends with when the client stopped sending.
#[derive(Debug)]
pub struct BodyIdle(pub Duration);

impl std::fmt::Display for BodyIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no request body data received for {} s",
            self.0.as_secs()
        )
    }
}

impl StdError for BodyIdle {}

/// A body stream that fails with [`BodyIdle`] when no data arrives for `idle`.
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    done: bool,
}

impl<S> IdleTimeout<S> {
    pub fn new(inner: S, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            done: false,
        }
    }
}

impl<S, E> Stream for IdleTimeout<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let deadline = Instant::now() + this.idle;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(io::Error::other(e))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        BodyIdle(this.idle),
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Whether an error (or anything it wraps) is a body that stopped arriving.
pub fn is_body_timeout(e: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(e);
    let mut depth = 0;
    while let Some(err) = current {
        if err.is::<BodyIdle>() {
            return true;
        }
        depth += 1;
        if depth > 16 {
            break;
        }
        // io::Error hides its payload from `source()`; look inside it explicitly.
        current = match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn classes() {
        for p in [
            "/api/2.0/mlflow-artifacts/artifacts/a/b",
            "/ajax-api/2.0/mlflow-artifacts/artifacts",
            "/api/2.0/mlflow-artifacts/mpu/create/x",
            "/get-artifact",
            "/model-versions/get-artifact",
            "/ajax-api/2.0/mlflow/upload-artifact",
            "/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/files",
        ] {
            assert_eq!(route_class(p), RouteClass::Artifact, "{p}");
        }
        for p in [
            "/api/2.0/mlflow/runs/create",
            "/api/2.0/mlflow/artifacts/list",
            "/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/directories",
            "/nope",
        ] {
            assert_eq!(route_class(p), RouteClass::Api, "{p}");
        }
        assert_eq!(route_class("/health"), RouteClass::Exempt);
        assert_eq!(route_class("/version"), RouteClass::Exempt);
    }

    #[tokio::test]
    async fn idle_body_times_out_and_is_recognised() {
        let chunks = futures_util::stream::iter([Ok::<_, io::Error>(Bytes::from_static(b"ab"))])
            .chain(futures_util::stream::pending());
        let mut s = IdleTimeout::new(Box::pin(chunks), Duration::from_millis(50));
        assert_eq!(s.next().await.unwrap().unwrap(), Bytes::from_static(b"ab"));
        let err = s.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(is_body_timeout(&err));
        let wrapped = io::Error::other(axum::Error::new(err));
        assert!(is_body_timeout(&wrapped));
        assert!(!is_body_timeout(&io::Error::other("other")));
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn body_budget_is_shared_and_returned() {
        let limiter = Limiter::new(LimitsConfig {
            max_json_body: 6,
            json_body_budget: 10,
            queue_timeout: Duration::from_millis(50),
            ..LimitsConfig::default()
        });
        let limits = BodyLimits {
            budget: Some(limiter.json_budget.clone()),
            budget_wait: limiter.config().queue_timeout,
            ..BodyLimits::default()
        };
        let first = limits.reserve(6).await.unwrap().unwrap();
        let small = limits.reserve(4).await.unwrap().unwrap();
        let err = limits.reserve(1).await.unwrap_err();
        assert_eq!(err.code, rsflow_core::ErrorCode::TemporarilyUnavailable);
        assert_eq!(err.retry_after, Some(1));
        drop(small);
        let again = limits.reserve(4).await.unwrap().unwrap();
        assert_eq!(again.num_permits(), 4);
        drop(first);
        assert_eq!(limiter.json_budget.available_permits(), 6);
        // Never below the body cap: one body of the largest size always fits.
        let tight = Limiter::new(LimitsConfig {
            max_json_body: 100,
            json_body_budget: 1,
            ..LimitsConfig::default()
        });
        assert_eq!(tight.json_budget.available_permits(), 100);
        assert!(
            BodyLimits::default()
                .reserve(1 << 30)
                .await
                .unwrap()
                .is_none()
        );
    }
}
