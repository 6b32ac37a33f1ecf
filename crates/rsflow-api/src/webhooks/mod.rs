//! Registry webhooks (spec §7): `/api/2.0/mlflow/webhooks*` and the events registry writes
//! fire.
//!
//! - [`events`]: (entity, action) pairs, MLflow's payloads, the delivered body.
//! - [`guard`]: webhook names and MLflow's SSRF guard on URLs.
//! - [`delivery`]: the queue, the signed POST with retries, secrets at rest (Fernet).
//! - [`registry_events`]: what each registry write fires, as `server/handlers.py` sends it.

pub mod delivery;
pub mod events;
pub mod guard;
pub mod registry_events;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use rsflow_core::MlflowError;
use rsflow_store::webhooks::{NewWebhook, WebhookRecord, WebhookUpdate};
use serde_json::{Value, json};

pub use delivery::{WebhookSettings, Webhooks};
use events::{Event, event_json, example_payload, parse_event};

use crate::AppState;
use crate::error::{ApiError, ApiResult, json_ok};
use crate::extract::{Params, invalid_type};

/// `ListWebhooks` bounds (`max_results or 100`, then 1..=1000).
const LIST_DEFAULT: i64 = 100;
const LIST_MAX: i64 = 1000;

/// The webhook routes, relative to `/api/2.0` (and `/ajax-api/2.0`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mlflow/webhooks", post(create_webhook).get(list_webhooks))
        .route(
            "/mlflow/webhooks/{webhook_id}",
            get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .route("/mlflow/webhooks/{webhook_id}/test", post(test_webhook))
}

/// The `Webhook` message; the secret is never returned.
fn webhook_json(w: &WebhookRecord) -> Value {
    let mut v = json!({
        "webhook_id": w.webhook_id,
        "name": w.name,
        "url": w.url,
        "events": w.events.iter().map(event_json).collect::<Vec<_>>(),
        "status": w.status,
    });
    if let Some(d) = &w.description {
        v["description"] = json!(d);
    }
    if let Some(t) = w.creation_timestamp {
        v["creation_timestamp"] = json!(t);
    }
    if let Some(t) = w.last_updated_timestamp {
        v["last_updated_timestamp"] = json!(t);
    }
    v
}

/// `events`: a list of `{entity, action}` messages (absent = empty).
fn parse_events(p: &Params) -> ApiResult<Vec<Event>> {
    match p.get("events") {
        None => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                if !item.is_object() {
                    return Err(invalid_type("events", &Value::Array(items.clone())));
                }
                parse_event(item).map_err(ApiError)
            })
            .collect(),
        Some(other) => Err(invalid_type("events", other)),
    }
}

/// `status`: `ACTIVE` or `DISABLED`. MLflow's parser drops an unknown name silently; rsflow
/// refuses it.
fn parse_status(p: &Params) -> ApiResult<Option<String>> {
    match p.opt_str("status")? {
        None => Ok(None),
        Some(s) if s == "ACTIVE" || s == "DISABLED" => Ok(Some(s)),
        Some(s) => Err(ApiError(MlflowError::invalid_param(format!(
            "Invalid webhook status: {}. Valid statuses are: ACTIVE, DISABLED.",
            Value::String(s)
        )))),
    }
}

fn events_not_empty(events: &[Event]) -> Result<(), MlflowError> {
    if events.is_empty() {
        return Err(MlflowError::invalid_param(
            "Webhook events must be a non-empty list of WebhookEvent objects: [].",
        ));
    }
    Ok(())
}

async fn create_webhook(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let name = p.req_str("name")?;
    let url = p.req_str("url")?;
    if !p.has("events") {
        return Err(ApiError(MlflowError::missing_param("events")));
    }
    let description = p.opt_str("description")?;
    let secret = p.opt_str("secret")?;
    let events = parse_events(&p)?;
    let status = parse_status(&p)?;
    guard::validate_name(&name)?;
    st.webhooks.url_policy().validate(&url).await?;
    events_not_empty(&events)?;
    let created = st
        .webhook_store
        .create_webhook(NewWebhook {
            name,
            url,
            events,
            description: description.filter(|d| !d.is_empty()),
            secret: secret
                .filter(|s| !s.is_empty())
                .map(|s| st.webhooks.encrypt(&s)),
            status: status.unwrap_or_else(|| "ACTIVE".into()),
        })
        .await?;
    st.webhooks.invalidate();
    json_ok(&json!({ "webhook": webhook_json(&created) }))
}

async fn list_webhooks(State(st): State<AppState>, p: Params) -> ApiResult<Response> {
    let max_results = match p.opt_i64("max_results")? {
        None | Some(0) => LIST_DEFAULT,
        Some(n) => n,
    };
    if !(1..=LIST_MAX).contains(&max_results) {
        return Err(ApiError(MlflowError::invalid_param(
            "max_results must be between 1 and 1000.",
        )));
    }
    let token = p.opt_str("page_token")?.filter(|t| !t.is_empty());
    let page = st
        .webhook_store
        .list_webhooks(max_results, token.as_deref())
        .await?;
    let mut body = json!({});
    if !page.items.is_empty() {
        body["webhooks"] = page.items.iter().map(webhook_json).collect();
    }
    if let Some(t) = page.next_page_token {
        body["next_page_token"] = json!(t);
    }
    json_ok(&body)
}

async fn get_webhook(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let hook = st.webhook_store.get_webhook(&id).await?;
    json_ok(&json!({ "webhook": webhook_json(&hook) }))
}

async fn update_webhook(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let name = p.opt_str("name")?.filter(|n| !n.is_empty());
    let description = p.opt_str("description")?;
    let url = p.opt_str("url")?.filter(|u| !u.is_empty());
    let events = parse_events(&p)?;
    let secret = p.opt_str("secret")?;
    let status = parse_status(&p)?;
    // The store's order: the webhook must exist, then the name, then the URL.
    st.webhook_store.get_webhook(&id).await?;
    if let Some(n) = &name {
        guard::validate_name(n)?;
    }
    if let Some(u) = &url {
        st.webhooks.url_policy().validate(u).await?;
    }
    let updated = st
        .webhook_store
        .update_webhook(
            &id,
            WebhookUpdate {
                name,
                description,
                url,
                events: (!events.is_empty()).then_some(events),
                secret: secret.map(|s| st.webhooks.encrypt(&s)),
                status,
            },
        )
        .await?;
    st.webhooks.invalidate();
    json_ok(&json!({ "webhook": webhook_json(&updated) }))
}

async fn delete_webhook(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    st.webhook_store.delete_webhook(&id).await?;
    st.webhooks.invalidate();
    json_ok(&json!({}))
}

/// Sends the example payload of the event (the webhook's first by default) and reports what
/// the receiver answered; a failure is a result, not an error.
async fn test_webhook(
    State(st): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    let event = match p.get("event") {
        None => None,
        Some(v @ Value::Object(_)) => Some(parse_event(v)?),
        Some(other) => return Err(invalid_type("event", other)),
    };
    let hook = st.webhook_store.get_webhook(&id).await?;
    let Some(event) = event.or_else(|| hook.events.first().cloned()) else {
        return Err(ApiError(MlflowError::invalid_param(
            "Webhook events cannot be empty",
        )));
    };
    let result = match st
        .webhooks
        .send(&hook, &event, &example_payload(&event))
        .await
    {
        Ok(out) => json!({
            "success": out.status < 400,
            "response_status": out.status,
            "response_body": out.body,
        }),
        Err(e) => json!({
            "success": false,
            "error_message": format!("Failed to test webhook: {e}"),
        }),
    };
    json_ok(&json!({ "result": result }))
}
