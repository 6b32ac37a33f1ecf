//! The HTTP surface of rsflow: MLflow's REST API on axum. Handlers see only the store traits.
//!
//! # Layout
//! - [`router`]: every route, under `/api/2.0`, `/ajax-api/2.0` and the static prefix.
//! - `extract`: MLflow's request decoding ([`extract::Params`]).
//! - `error`: the single `MlflowError` -> HTTP response mapping.
//! - `tracking`: experiments, runs, metrics, params, tags, inputs and outputs.
//! - `meta`: `/health`, `/version`, server-info, the JSON 404.
//! - `registry`: registered models and model versions (and `source` admission).
//! - `logged_models`: MLflow 3 logged models.

pub mod error;
pub mod extract;
mod logged_models;
mod meta;
mod registry;
pub mod state;
mod tracking;

use axum::Router;
use axum::routing::get;

pub use state::{AppState, ServerConfig};

/// The MLflow version rsflow answers on `/version` (the client parses it as PEP 440, >= 3.4).
pub const MLFLOW_COMPAT_VERSION: &str = "3.17.2";

/// Routes that live under both `/api/2.0` and `/ajax-api/2.0`.
fn api_v2(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(tracking::routes(state))
        .merge(registry::routes())
        .merge(logged_models::routes())
}

/// The whole application, ready to serve.
pub fn router(state: AppState) -> Router {
    let prefix = state.config.static_prefix.clone();
    let app = Router::new()
        .nest("/api/2.0", api_v2(&state))
        .nest(
            "/ajax-api/2.0",
            api_v2(&state).merge(tracking::ajax_only_routes(&state)),
        )
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
    app.with_state(state)
}
