//! The HTTP surface of rsflow: MLflow's REST API on axum. Handlers see only the store traits.
//!
//! # Layout
//! - [`router`]: every route, under `/api/2.0`, `/ajax-api/2.0` and the static prefix.
//! - `extract`: MLflow's request decoding ([`extract::Params`]).
//! - `error`: the single `MlflowError` -> HTTP response mapping.
//! - `locations`: checks on client-supplied storage locations (host policy, traversal).
//! - `tracking`: experiments, runs, metrics, params, tags, inputs and outputs.
//! - [`security`]: Host allow-list, cross-origin blocking, security headers.
//! - `meta`: `/health`, `/version`, server-info, the JSON 404.
//! - `registry`: registered models and model versions (and `source` admission).
//! - `logged_models`: MLflow 3 logged models.
//! - `model_artifacts`: artifact listing and downloads of logged models and model versions.
//! - `artifacts`: the artifact proxy (`mlflow-artifacts/*`) and the run-based artifact routes.
//! - [`limits`]: concurrency slots per route class, body idle timeouts, JSON body caps.
//! - `gate`: the 503 answers of `--no-serve-artifacts` and `--artifacts-only`.

mod artifacts;
pub mod error;
pub mod extract;
mod gate;
pub mod limits;
pub mod locations;
mod logged_models;
mod meta;
mod model_artifacts;
mod registry;
pub mod security;
pub mod state;
mod tracking;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;

pub use state::{AppState, ServerConfig};

/// The MLflow version rsflow answers on `/version` (the client parses it as PEP 440, >= 3.4).
pub const MLFLOW_COMPAT_VERSION: &str = "3.17.2";

/// Routes that live under both `/api/2.0` and `/ajax-api/2.0`.
fn api_v2(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(tracking_only(
            state,
            tracking::routes(state)
                .merge(artifacts::run_routes())
                .merge(registry::routes())
                .merge(logged_models::routes())
                .merge(model_artifacts::routes()),
        ))
        .merge(artifacts::proxy_routes())
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
            api_v2(&state).merge(tracking_only(
                &state,
                tracking::ajax_only_routes(&state)
                    .merge(artifacts::ajax_only_routes())
                    .merge(model_artifacts::ajax_only_routes()),
            )),
        )
        .merge(tracking_only(
            &state,
            artifacts::top_level_routes().merge(model_artifacts::top_level_routes()),
        ))
        .route("/api/3.0/mlflow/server-info", get(meta::server_info))
        .route("/ajax-api/3.0/mlflow/server-info", get(meta::server_info))
        .route("/health", get(meta::health))
        .route("/version", get(meta::version))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed);
    let app = if prefix.is_empty() {
        app
    } else {
        Router::new().nest(&prefix, app).fallback(meta::not_found)
    };
    // Security runs first (outermost): refused requests never take a concurrency slot.
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        limits::middleware,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        security::middleware,
    ))
    .with_state(state)
}
