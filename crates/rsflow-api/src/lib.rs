//! The HTTP surface of rsflow: MLflow's REST API on axum. Handlers see only the store traits.
//!
//! # Layout
//! - [`router`]: every route, under `/api/2.0`, `/ajax-api/2.0` and the static prefix.
//! - `extract`: MLflow's request decoding ([`extract::Params`]).
//! - `error`: the single `MlflowError` -> HTTP response mapping.
//! - `locations`: checks on client-supplied storage locations (host policy, traversal).
//! - `tracking`: experiments, runs, metrics, params, tags, inputs and outputs.
//! - `traces`: MLflow 3 tracing: OTLP `/v1/traces`, the v2/v3 trace routes, assessments.
//! - `genai`: evaluation datasets, scorers, label schemas, review queues and issues.
//! - [`security`]: Host allow-list, cross-origin blocking, security headers.
//! - [`observe`]: request ids, the per-request span, `/metrics` (`--expose-prometheus`).
//! - `meta`: `/health`, `/version`, server-info, the JSON 404.
//! - `registry`: registered models and model versions (and `source` admission).
//! - `logged_models`: MLflow 3 logged models.
//! - `model_artifacts`: artifact listing and downloads of logged models and model versions.
//! - `artifacts`: the artifact proxy (`mlflow-artifacts/*`) and the run-based artifact routes.
//! - [`limits`]: concurrency slots per route class, body idle timeouts, JSON body caps.
//! - `graphql`: `/graphql`, the queries the web UI sends, answered by the REST handlers.
//! - [`gc`]: permanent removal of deleted runs, logged models and experiments (`rsflow gc`).
//! - `gate`: the 503 answers of `--no-serve-artifacts` and `--artifacts-only`.
//! - [`auth`]: the basic-auth app (`--app-name basic-auth`): credentials, the route
//!   permission table, users/roles/permissions endpoints.
//! - [`ui`]: MLflow's web UI (`/` and `/static-files/*`) from the `--ui-dir` build.
//! - `webhooks`: registry webhooks (`/mlflow/webhooks*`) and the delivery of registry events.
//! - `unconfigured`: the AI gateway proxy and the assistant's config/providers, answered as
//!   `mlflow server` answers them when neither is set up.

mod artifacts;
pub mod auth;
pub mod error;
pub mod extract;
mod gate;
pub mod gc;
mod genai;
mod graphql;
pub mod limits;
pub mod locations;
mod logged_models;
mod meta;
mod model_artifacts;
pub mod observe;
mod registry;
pub mod security;
pub mod state;
mod traces;
mod tracking;
pub mod ui;
mod unconfigured;
pub mod webhooks;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use artifacts::DbDigestIndex;
pub use graphql::check_query as check_graphql_query;
pub use registry::source::SourcePattern;
pub use state::{AppState, MlflowSettings, ServerConfig};

/// The MLflow version rsflow answers on `/version` (the client parses it as PEP 440, >= 3.4).
pub const MLFLOW_COMPAT_VERSION: &str = "3.17.2";

/// Routes that live under both `/api/2.0` and `/ajax-api/2.0`.
fn api_v2(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .merge(tracking_only(
            state,
            tracking::routes(state)
                .merge(artifacts::run_routes())
                .merge(registry::routes())
                .merge(logged_models::routes())
                .merge(model_artifacts::routes())
                .merge(traces::v2_routes())
                .merge(webhooks::routes()),
        ))
        .merge(artifacts::proxy_routes())
        .merge(auth_routes(state, auth::handlers::v2_routes()));
    with_route_template(routes)
}

/// The users/roles/permissions routes exist only under `--app-name basic-auth`: without it
/// `mlflow server` has no such routes (the web UI asks `users/current` and takes the 404).
fn auth_routes(state: &AppState, routes: Router<AppState>) -> Router<AppState> {
    if state.auth.is_some() {
        routes
    } else {
        Router::new()
    }
}

/// Record the matched route template (the full one, inside nested routers).
fn with_route_template(routes: Router<AppState>) -> Router<AppState> {
    routes.route_layer(from_fn(observe::route_template))
}

/// Routes under `/api/3.0` and `/ajax-api/3.0`.
fn api_v3(state: &AppState) -> Router<AppState> {
    with_route_template(
        Router::new()
            .route("/mlflow/server-info", get(meta::server_info))
            .merge(tracking_only(state, traces::v3_routes()))
            .merge(tracking_only(state, genai::routes()))
            .merge(auth_routes(state, auth::handlers::v3_routes())),
    )
}

/// Tracking, registry and run-artifact routes answer 503 under `--artifacts-only`.
fn tracking_only(state: &AppState, routes: Router<AppState>) -> Router<AppState> {
    routes.route_layer(from_fn_with_state(state.clone(), gate::artifacts_only))
}

/// The whole application, ready to serve.
pub fn router(state: AppState) -> Router {
    let prefix = state.config.static_prefix.clone();
    let app = Router::new()
        .nest("/api/2.0", api_v2(&state))
        .nest(
            "/ajax-api/2.0",
            api_v2(&state)
                .merge(tracking_only(
                    &state,
                    tracking::ajax_only_routes(&state)
                        .merge(artifacts::ajax_only_routes())
                        .merge(model_artifacts::ajax_only_routes())
                        .merge(traces::ajax_only_routes()),
                ))
                // MLflow's gateway proxy is served even under `--artifacts-only`.
                .route(
                    "/mlflow/gateway-proxy",
                    get(unconfigured::gateway_proxy).post(unconfigured::gateway_proxy),
                ),
        )
        .nest("/api/3.0", api_v3(&state))
        .nest(
            "/ajax-api/3.0",
            api_v3(&state)
                .merge(tracking_only(&state, traces::ajax_only_routes()))
                .route(
                    "/mlflow/ui-telemetry",
                    get(meta::ui_telemetry_config).post(meta::ui_telemetry_records),
                )
                .route(
                    "/mlflow/assistant/config",
                    get(unconfigured::assistant_config),
                )
                .route(
                    "/mlflow/assistant/providers",
                    get(unconfigured::assistant_providers),
                ),
        )
        .merge(tracking_only(
            &state,
            artifacts::top_level_routes()
                .merge(model_artifacts::top_level_routes())
                .route("/graphql", get(graphql::handler).post(graphql::handler)),
        ))
        .route(
            "/v1/traces",
            axum::routing::post(traces::otlp::export).get(meta::not_found),
        )
        .route("/health", get(meta::health))
        .route("/version", get(meta::version))
        .route("/static-files/{*path}", get(ui::static_file))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed);
    let app = with_route_template(app);
    // `/metrics` is served at the root, as prometheus_flask_exporter serves it in MLflow.
    let metrics = state.metrics.is_some();
    let app = if prefix.is_empty() {
        let app = app.route("/", get(ui::index));
        if metrics {
            app.route("/metrics", get(observe::metrics))
        } else {
            app
        }
    } else if metrics {
        Router::new()
            .route("/metrics", get(observe::metrics))
            .route(&prefix, get(ui::redirect_to_index))
            .route(&format!("{prefix}/"), get(ui::index))
            .nest(&prefix, app)
            .fallback(meta::not_found)
    } else {
        // `<prefix>/` is the UI's index; Flask redirects the bare `<prefix>` to it.
        Router::new()
            .route(&prefix, get(ui::redirect_to_index))
            .route(&format!("{prefix}/"), get(ui::index))
            .nest(&prefix, app)
            .fallback(meta::not_found)
    };
    // Security runs first (outermost): refused requests never take a concurrency slot.
    let app = app
        // Basic auth (when enabled) runs inside the limits: it may read a JSON body.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::middleware,
        ))
        .layer(from_fn(run_to_completion))
        .with_state(state.clone());
    // Layers of a router run after its routing: the path is merged in a router of its own.
    Router::new()
        .fallback_service(app)
        .layer(from_fn(merge_leading_slashes))
        .layer(from_fn_with_state(state, observe::middleware))
}

/// MLflow's server routes a path that starts with several slashes as if it had one
/// (`//model-versions/get-artifact?...` is that route, as some clients build it), so rsflow
/// does too. Only the leading run is merged: nothing else of the path changes, so no check
/// sees a different path than the handler; a doubled slash further in gets Flask's 308 to the
/// merged path from the 404 fallback (`meta::not_found`).
async fn merge_leading_slashes(mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("//") {
        let merged = format!("/{}", path.trim_start_matches('/'));
        let mut target = merged;
        if let Some(q) = req.uri().query() {
            target.push('?');
            target.push_str(q);
        }
        let mut parts = req.uri().clone().into_parts();
        match target.parse() {
            Ok(pq) => parts.path_and_query = Some(pq),
            Err(_) => return meta::endpoint_not_found(req.uri()),
        }
        match axum::http::Uri::from_parts(parts) {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => return meta::endpoint_not_found(req.uri()),
        }
    }
    next.run(req).await
}

/// Runs every request in a task of its own, which finishes even when the client goes away.
///
/// Without it a disconnect drops the handler wherever it is awaiting, including inside sqlx's
/// `BEGIN`: the SQLite worker has begun the transaction, but the future that would own it is
/// gone, so the connection goes back to the pool mid-transaction. On the single write
/// connection every later write then fails with "attempted to call begin_with at non-zero
/// transaction depth" until a restart (a load test that stops with requests in flight does it).
/// MLflow's handlers also run to completion whatever the client does.
async fn run_to_completion(req: Request, next: Next) -> Response {
    use tracing::Instrument as _;
    match tokio::spawn(next.run(req).instrument(tracing::Span::current())).await {
        Ok(response) => response,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => {
            tracing::error!(error = %e, "request task ended abnormally");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_request_dropped_by_its_client_still_runs_to_the_end() {
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let app = Router::new()
            .route(
                "/slow",
                post(move || async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    flag.store(true, Ordering::SeqCst);
                }),
            )
            .layer(from_fn(run_to_completion));
        let req = Request::post("/slow").body(Body::empty()).unwrap();
        // The caller gives up long before the handler is done, as a disconnect would.
        let gave_up = tokio::time::timeout(Duration::from_millis(5), app.oneshot(req)).await;
        assert!(gave_up.is_err());
        assert!(!finished.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(finished.load(Ordering::SeqCst));
    }
}
