//! Features `mlflow server` serves that rsflow runs as MLflow does when they are not set up:
//! the AI gateway proxy with no `MLFLOW_DEPLOYMENTS_TARGET`, and the assistant's `config` and
//! `providers` with no provider configured and no assistant CLI on the host. The web UI calls
//! them on every page; answering as MLflow does keeps its pages free of error toasts.

use axum::response::Response;
use serde_json::json;

use crate::error::json_body;

/// `GET|POST /ajax-api/2.0/mlflow/gateway-proxy`: MLflow's `gateway_proxy_handler` without a
/// deployments target "pretends an empty gateway service is running" before it looks at the
/// request, so every `gateway_path` (or none) and any body gets the same answer.
pub async fn gateway_proxy() -> Response {
    json_body(&json!({ "endpoints": [] }))
}

/// `GET /ajax-api/3.0/mlflow/assistant/config`: an empty `AssistantConfig`, no provider
/// resolved (neither the `claude` nor the `codex` CLI exists for rsflow), so no remote access.
pub async fn assistant_config() -> Response {
    json_body(&json!({
        "providers": {},
        "projects": {},
        "remote_access_allowed": false,
    }))
}

/// `GET /ajax-api/3.0/mlflow/assistant/providers`: MLflow 3.17.2's provider list as it stands
/// with nothing configured: the CLI providers unavailable, the AI gateway without endpoints
/// (rsflow serves none), Ollama "available" (its `is_available` is always true) and therefore
/// auto-selected, and the fixed vendor options of `_GATEWAY_VENDOR_MODELS`.
pub async fn assistant_providers() -> Response {
    let provider = |name: &str,
                    display_name: &str,
                    description: &str,
                    available: bool,
                    allows_remote_access: bool,
                    client_tool_delivery: &str| {
        json!({
            "name": name,
            "display_name": display_name,
            "description": description,
            "available": available,
            "selected": false,
            "requires_api_key": false,
            "has_api_key": false,
            "allows_remote_access": allows_remote_access,
            "client_tool_delivery": client_tool_delivery,
            "model_options": [],
        })
    };
    json_body(&json!({
        "providers": [
            provider(
                "claude_code",
                "Claude Code",
                "AI-powered assistant using Claude Code CLI",
                false,
                false,
                "structured",
            ),
            provider(
                "codex",
                "Codex",
                "AI-powered assistant using the Codex CLI",
                false,
                false,
                "structured",
            ),
            provider(
                "mlflow_gateway",
                "MLflow AI Gateway",
                "AI-powered assistant backed by an MLflow AI Gateway endpoint configured on \
                 this server.",
                false,
                true,
                "tool",
            ),
            provider(
                "ollama",
                "Ollama",
                "AI-powered assistant using a locally running Ollama server.",
                true,
                false,
                "tool",
            ),
        ],
        "resolved": {
            "name": "ollama",
            "model": null,
            "auto_selected": true,
            "requires_api_key": false,
            "has_api_key": false,
            "client_tool_delivery": "tool",
            "model_provider": null,
            "model_options": [],
            "provider_model": null,
        },
        "gateway_vendor_options": {
            "openai": ["gpt-5.5"],
            "anthropic": ["claude-sonnet-5"],
            "gemini": ["gemini-3-pro"],
        },
    }))
}
