//! Webhooks on MLflow's tables (`webhooks`, `webhook_events`), in the `default` workspace, as
//! `store/model_registry/sqlalchemy_store.py` keeps them: soft delete through
//! `deleted_timestamp`, lists newest first with offset page tokens, events stored lower-case.

use std::collections::HashMap;

use async_trait::async_trait;
use rsflow_core::page_token::{decode_offset, encode_offset};
use rsflow_core::wire::Page;
use rsflow_core::{MlflowError, Result, now_ms};
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::query::{Sql, db_err};
use super::registry::WORKSPACE;
use crate::webhooks::{NewWebhook, WebhookEventKey, WebhookRecord, WebhookStore, WebhookUpdate};

const COLUMNS: &str = "w.webhook_id, w.name, w.description, w.url, w.status, w.secret, \
     w.creation_timestamp, w.last_updated_timestamp";

fn not_found(webhook_id: &str) -> MlflowError {
    MlflowError::not_found(format!("Webhook with ID {webhook_id} not found."))
}

fn record_from_row(r: &sqlx::any::AnyRow) -> Result<WebhookRecord> {
    let get = || -> std::result::Result<WebhookRecord, sqlx::Error> {
        Ok(WebhookRecord {
            webhook_id: r.try_get(0)?,
            name: r.try_get(1)?,
            description: r.try_get(2)?,
            url: r.try_get(3)?,
            status: r.try_get(4)?,
            secret: r.try_get(5)?,
            creation_timestamp: r.try_get(6)?,
            last_updated_timestamp: r.try_get(7)?,
            events: vec![],
        })
    };
    get().map_err(db_err)
}

/// Attach each webhook's events (in MLflow's relationship order: by primary key).
async fn with_events(
    conn: &mut AnyConnection,
    mut hooks: Vec<WebhookRecord>,
) -> Result<Vec<WebhookRecord>> {
    if hooks.is_empty() {
        return Ok(hooks);
    }
    let ids: Vec<String> = hooks.iter().map(|h| h.webhook_id.clone()).collect();
    let mut q =
        Sql::new("SELECT webhook_id, entity, action FROM webhook_events WHERE webhook_id IN ");
    q.bind_list(&ids)
        .push(" ORDER BY webhook_id, entity, action");
    let rows = q.query().fetch_all(&mut *conn).await.map_err(db_err)?;
    let mut by_id: HashMap<String, Vec<WebhookEventKey>> = HashMap::new();
    for r in rows {
        let id: String = r.try_get(0).map_err(db_err)?;
        by_id.entry(id).or_default().push(WebhookEventKey {
            entity: r.try_get(1).map_err(db_err)?,
            action: r.try_get(2).map_err(db_err)?,
        });
    }
    for h in &mut hooks {
        h.events = by_id.remove(&h.webhook_id).unwrap_or_default();
    }
    Ok(hooks)
}

async fn fetch_live(conn: &mut AnyConnection, webhook_id: &str) -> Result<WebhookRecord> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM webhooks w WHERE w.webhook_id = "
    ));
    q.bind(webhook_id)
        .push(" AND w.workspace = ")
        .bind(WORKSPACE)
        .push(" AND w.deleted_timestamp IS NULL");
    let row = q
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| not_found(webhook_id))?;
    let hook = record_from_row(&row)?;
    Ok(with_events(conn, vec![hook]).await?.remove(0))
}

async fn insert_events(
    conn: &mut AnyConnection,
    webhook_id: &str,
    events: &[WebhookEventKey],
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for e in events.iter().filter(|e| seen.insert((*e).clone())) {
        let mut q = Sql::new("INSERT INTO webhook_events (webhook_id, entity, action) VALUES (");
        q.bind(webhook_id)
            .push(", ")
            .bind(e.entity.as_str())
            .push(", ")
            .bind(e.action.as_str())
            .push(")");
        q.query().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// One page (`limit` + 1 rows, to know whether another follows) of live webhooks, optionally
/// only those subscribed to `event`.
async fn page(
    conn: &mut AnyConnection,
    event: Option<&WebhookEventKey>,
    max_results: i64,
    offset: i64,
) -> Result<Page<WebhookRecord>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM webhooks w"));
    if event.is_some() {
        q.push(" JOIN webhook_events e ON e.webhook_id = w.webhook_id");
    }
    q.push(" WHERE w.workspace = ")
        .bind(WORKSPACE)
        .push(" AND w.deleted_timestamp IS NULL");
    if let Some(e) = event {
        q.push(" AND e.entity = ")
            .bind(e.entity.as_str())
            .push(" AND e.action = ")
            .bind(e.action.as_str());
    }
    q.push(" ORDER BY w.creation_timestamp DESC, w.webhook_id LIMIT ")
        .bind(max_results + 1)
        .push(" OFFSET ")
        .bind(offset);
    let rows = q.query().fetch_all(&mut *conn).await.map_err(db_err)?;
    let mut hooks = rows
        .iter()
        .map(record_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next_page_token = (hooks.len() as i64 > max_results).then(|| {
        hooks.truncate(max_results as usize);
        encode_offset(offset + max_results)
    });
    Ok(Page {
        items: with_events(conn, hooks).await?,
        next_page_token,
    })
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_webhook(&self, webhook: NewWebhook) -> Result<WebhookRecord> {
        let id = uuid_v4();
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new(
            "INSERT INTO webhooks (workspace, webhook_id, name, description, url, status, \
             secret, creation_timestamp, last_updated_timestamp, deleted_timestamp) VALUES (",
        );
        q.bind(WORKSPACE)
            .push(", ")
            .bind(id.as_str())
            .push(", ")
            .bind(webhook.name.as_str())
            .push(", ")
            .bind(webhook.description.clone())
            .push(", ")
            .bind(webhook.url.as_str())
            .push(", ")
            .bind(webhook.status.as_str())
            .push(", ")
            .bind(webhook.secret.clone())
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(", NULL)");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        insert_events(&mut tx, &id, &webhook.events).await?;
        let created = fetch_live(&mut tx, &id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn get_webhook(&self, webhook_id: &str) -> Result<WebhookRecord> {
        let mut tx = self.read_tx().await?;
        fetch_live(&mut tx, webhook_id).await
    }

    async fn list_webhooks(
        &self,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<WebhookRecord>> {
        let offset = decode_offset(page_token)?;
        let mut tx = self.read_tx().await?;
        page(&mut tx, None, max_results, offset).await
    }

    async fn list_webhooks_by_event(&self, event: &WebhookEventKey) -> Result<Vec<WebhookRecord>> {
        let mut tx = self.read_tx().await?;
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let p = page(&mut tx, Some(event), 100, offset).await?;
            all.extend(p.items);
            if p.next_page_token.is_none() {
                return Ok(all);
            }
            offset += 100;
        }
    }

    async fn update_webhook(
        &self,
        webhook_id: &str,
        update: WebhookUpdate,
    ) -> Result<WebhookRecord> {
        let mut tx = self.write_tx().await?;
        fetch_live(&mut tx, webhook_id).await?;
        let mut q = Sql::new("UPDATE webhooks SET last_updated_timestamp = ");
        q.bind(now_ms());
        for (column, value) in [
            ("name", update.name),
            ("description", update.description),
            ("url", update.url),
            ("secret", update.secret),
            ("status", update.status),
        ] {
            if let Some(v) = value {
                q.push(&format!(", {column} = ")).bind(v);
            }
        }
        q.push(" WHERE webhook_id = ").bind(webhook_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        if let Some(events) = update.events {
            let mut q = Sql::new("DELETE FROM webhook_events WHERE webhook_id = ");
            q.bind(webhook_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
            insert_events(&mut tx, webhook_id, &events).await?;
        }
        let updated = fetch_live(&mut tx, webhook_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn delete_webhook(&self, webhook_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        fetch_live(&mut tx, webhook_id).await?;
        let now = now_ms();
        let mut q = Sql::new("UPDATE webhooks SET deleted_timestamp = ");
        q.bind(now)
            .push(", last_updated_timestamp = ")
            .bind(now)
            .push(" WHERE webhook_id = ")
            .bind(webhook_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}

/// A dashed uuid4, as MLflow's `str(uuid.uuid4())`.
fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}
