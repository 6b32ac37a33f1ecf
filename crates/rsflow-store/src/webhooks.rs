//! The [`WebhookStore`] trait: MLflow's registry webhooks (`webhooks`, `webhook_events`).
//!
//! The store keeps secrets exactly as given: the HTTP layer encrypts them (Fernet, as MLflow's
//! `EncryptedString` column does) before they reach it and decrypts what it reads back.

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::wire::Page;

/// One subscribed event, in MLflow's stored (lower-case) form: `("model_version", "created")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookEventKey {
    pub entity: String,
    pub action: String,
}

/// A live (not soft-deleted) webhook row with its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub webhook_id: String,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    /// `ACTIVE` or `DISABLED`.
    pub status: String,
    /// The stored (encrypted) secret.
    pub secret: Option<String>,
    pub creation_timestamp: Option<i64>,
    pub last_updated_timestamp: Option<i64>,
    pub events: Vec<WebhookEventKey>,
}

/// `webhooks` create, after validation.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<WebhookEventKey>,
    pub description: Option<String>,
    /// Already encrypted.
    pub secret: Option<String>,
    pub status: String,
}

/// `webhooks/<id>` PATCH: `None` leaves a field as it is; `events` replaces the whole list.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEventKey>>,
    /// Already encrypted.
    pub secret: Option<String>,
    pub status: Option<String>,
}

/// Webhook metadata with MLflow's semantics: soft delete, newest first, offset paging.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn create_webhook(&self, webhook: NewWebhook) -> Result<WebhookRecord>;
    /// `RESOURCE_DOES_NOT_EXIST` "Webhook with ID x not found." for missing or deleted rows.
    async fn get_webhook(&self, webhook_id: &str) -> Result<WebhookRecord>;
    /// `max_results` already checked (1..=1000).
    async fn list_webhooks(
        &self,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<WebhookRecord>>;
    /// Every live webhook subscribed to the event (all pages), newest first.
    async fn list_webhooks_by_event(&self, event: &WebhookEventKey) -> Result<Vec<WebhookRecord>>;
    async fn update_webhook(
        &self,
        webhook_id: &str,
        update: WebhookUpdate,
    ) -> Result<WebhookRecord>;
    /// Soft delete: sets `deleted_timestamp`.
    async fn delete_webhook(&self, webhook_id: &str) -> Result<()>;
}
