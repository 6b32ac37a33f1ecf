//! Tracking handlers: experiments, runs, metrics, params, tags, inputs and outputs.

use axum::Router;

use crate::AppState;

pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
}

pub fn ajax_only_routes(_state: &AppState) -> Router<AppState> {
    Router::new()
}
