//! The security middleware MLflow 3.5+ runs (spec `security.md` §3.5): a Host-header allow-list
//! against DNS rebinding, a block on cross-origin state-changing API calls, CORS headers for
//! allowed origins, and `X-Content-Type-Options` / `X-Frame-Options` on every response.
//! Refusals are JSON `PERMISSION_DENIED` 403s with MLflow's messages (MLflow sends text/plain).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rsflow_core::MlflowError;

use crate::AppState;
use crate::error::ApiError;

pub const INVALID_HOST_MSG: &str = "Invalid Host header - possible DNS rebinding attack detected";
pub const CORS_BLOCKED_MSG: &str = "Cross-origin request blocked";

/// Security settings (`--allowed-hosts`, `--cors-allowed-origins`, `--x-frame-options`,
/// `--disable-security-middleware`).
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    pub disabled: bool,
    /// `None`: MLflow's defaults (loopback and private ranges).
    pub allowed_hosts: Option<Vec<String>>,
    pub cors_allowed_origins: Vec<String>,
    /// `None` when set to NONE.
    pub x_frame_options: Option<String>,
}

fn default_allowed_hosts() -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]", "0.0.0.0"]
        .iter()
        .flat_map(|h| [h.to_string(), format!("{h}:*")])
        .collect();
    hosts.extend(["192.168.*", "10.*", "fc00:*", "fd00:*"].map(String::from));
    hosts.extend((16..32).map(|i| format!("172.{i}.*")));
    hosts
}

/// `fnmatch` with `*` as the only wildcard (the forms MLflow documents), exact otherwise.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl SecurityConfig {
    pub fn host_allowed(&self, host: &str) -> bool {
        if host.is_empty() {
            return false;
        }
        let defaults;
        let allowed = match &self.allowed_hosts {
            Some(list) => list,
            None => {
                defaults = default_allowed_hosts();
                &defaults
            }
        };
        allowed.iter().any(|p| p == "*" || wildcard_match(p, host))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        is_localhost_origin(origin)
            || self
                .cors_allowed_origins
                .iter()
                .any(|p| p == "*" || wildcard_match(p, origin))
    }
}

fn is_localhost_origin(origin: &str) -> bool {
    let Some(rest) = origin.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or("").to_owned()
    };
    matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

fn forbidden(message: &str) -> Response {
    ApiError(MlflowError::permission_denied(message)).into_response()
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let sec = &state.config.security;
    if sec.disabled {
        return next.run(req).await;
    }
    let prefix = &state.config.static_prefix;
    let path = req.uri().path();
    let local = path.strip_prefix(prefix.as_str()).unwrap_or(path);
    let is_health = local == "/health" || local == "/version";
    let is_api = local.starts_with("/api/") || local.starts_with("/ajax-api/");
    if !is_health {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !sec.host_allowed(host) {
            tracing::warn!(host, "rejected request with an invalid Host header");
            return forbidden(INVALID_HOST_MSG);
        }
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let method = req.method().clone();
    let state_changing = matches!(
        method,
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    );
    let origin_ok = origin.as_deref().is_some_and(|o| sec.origin_allowed(o));
    if is_api && state_changing && origin.is_some() && !origin_ok {
        tracing::warn!(
            origin = origin.as_deref().unwrap_or(""),
            "blocked a cross-origin request"
        );
        return forbidden(CORS_BLOCKED_MSG);
    }
    let mut resp = if method == Method::OPTIONS && is_api {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let headers = resp.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(xfo) = sec
        .x_frame_options
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::X_FRAME_OPTIONS, xfo);
    }
    if is_api
        && origin_ok
        && let Some(o) = origin
            .as_deref()
            .and_then(|o| HeaderValue::from_str(o).ok())
    {
        let wildcard = sec.cors_allowed_origins.iter().any(|p| p == "*");
        if !wildcard {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if method == Method::OPTIONS {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("*"),
            );
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hosts() {
        let c = SecurityConfig::default();
        for ok in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "[::1]:5000",
            "10.1.2.3:5000",
            "172.20.0.1",
            "192.168.1.1:1",
        ] {
            assert!(c.host_allowed(ok), "{ok}");
        }
        for bad in ["evil.com", "evil.com:5000", "172.32.0.1", "", "11.0.0.1"] {
            assert!(!c.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn configured_hosts_and_origins() {
        let c = SecurityConfig {
            allowed_hosts: Some(vec!["mlflow.example.com".into(), "*.corp:5000".into()]),
            cors_allowed_origins: vec!["https://ui.example.com".into()],
            ..Default::default()
        };
        assert!(c.host_allowed("mlflow.example.com"));
        assert!(c.host_allowed("a.corp:5000"));
        assert!(!c.host_allowed("localhost:5000"));
        assert!(c.origin_allowed("https://ui.example.com"));
        assert!(c.origin_allowed("http://localhost:3000"));
        assert!(!c.origin_allowed("https://evil.com"));
    }
}
