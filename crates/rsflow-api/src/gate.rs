//! The 503 answers of `--no-serve-artifacts` and `--artifacts-only`, in MLflow's words
//! (spec mlflow-artifacts §3.5; `_disable_unless_serve_artifacts`, `_disable_if_artifacts_only`).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The route as Flask names it in these messages: `{*path}` becomes `<path:artifact_path>`.
pub(crate) fn flask_rule(matched: Option<&MatchedPath>, fallback: &str) -> String {
    let Some(m) = matched else {
        return fallback.to_owned();
    };
    m.as_str()
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if name.starts_with('*') => "<path:artifact_path>".to_owned(),
                Some(name) => format!("<{name}>"),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Flask's plain `Response(text, 503)`: text/html, no JSON.
fn flask_503(text: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// A proxy route while artifact serving is off.
pub(crate) fn no_serve_artifacts(rule: &str) -> Response {
    flask_503(format!(
        "Endpoint: {rule} disabled due to the mlflow server running with `--no-serve-artifacts`. \
         To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`"
    ))
}

/// A tracking route while the server runs `--artifacts-only`.
pub(crate) fn artifacts_only_response(rule: &str) -> Response {
    flask_503(format!(
        "Endpoint: {rule} disabled due to the mlflow server running in `--artifacts-only` mode. \
         To enable tracking server functionality, run `mlflow server` without `--artifacts-only`"
    ))
}

/// Middleware for every tracking, registry and run-artifact route: 503 in `--artifacts-only`.
/// Apply it with `route_layer` so unknown paths still reach the JSON 404.
pub(crate) async fn artifacts_only(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    if state.config.artifacts_only {
        let path = req.uri().path().to_owned();
        return artifacts_only_response(&flask_rule(matched.as_ref(), &path));
    }
    next.run(req).await
}

/// The JSON 503 of the native (uvicorn) upload and download routes.
pub(crate) fn detail_503(detail: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        crate::error::json_body(&serde_json::json!({ "detail": detail })),
    )
        .into_response()
}

pub(crate) const SERVING_DISABLED: &str =
    "Artifact serving is disabled. Run `mlflow server` with `--serve-artifacts` to enable.";
pub(crate) const SERVING_NOT_CONFIGURED: &str = "Artifact serving is not configured.";
