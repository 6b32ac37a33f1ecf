//! Webhooks: soft delete, newest-first offset paging, events replaced on update, lookup by
//! event (spec §7, `store/model_registry/sqlalchemy_store.py`).

use rsflow_core::ErrorCode;
use rsflow_store::MetadataStore;
use rsflow_store::webhooks::{NewWebhook, WebhookEventKey, WebhookUpdate};

use super::assert_err;

fn ev(entity: &str, action: &str) -> WebhookEventKey {
    WebhookEventKey {
        entity: entity.into(),
        action: action.into(),
    }
}

fn new(name: &str, events: Vec<WebhookEventKey>) -> NewWebhook {
    NewWebhook {
        name: name.into(),
        url: "https://example.com/hook".into(),
        events,
        description: None,
        secret: Some("gAAAA-opaque".into()),
        status: "ACTIVE".into(),
    }
}

pub async fn crud_and_events(s: &dyn MetadataStore) {
    let a = s
        .create_webhook(new(
            "a",
            vec![
                ev("registered_model", "created"),
                ev("model_version", "created"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(a.webhook_id.len(), 36);
    assert_eq!(a.secret.as_deref(), Some("gAAAA-opaque"));
    // Events come back in primary-key order, as MLflow's relationship loads them.
    assert_eq!(
        a.events,
        vec![
            ev("model_version", "created"),
            ev("registered_model", "created")
        ]
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = s
        .create_webhook(new("b", vec![ev("model_version", "created")]))
        .await
        .unwrap();

    let page = s.list_webhooks(1, None).await.unwrap();
    assert_eq!(page.items[0].webhook_id, b.webhook_id, "newest first");
    let next = s
        .list_webhooks(1, page.next_page_token.as_deref())
        .await
        .unwrap();
    assert_eq!(next.items[0].webhook_id, a.webhook_id);
    assert!(next.next_page_token.is_none());

    let by_event = s
        .list_webhooks_by_event(&ev("model_version", "created"))
        .await
        .unwrap();
    assert_eq!(by_event.len(), 2);
    let updated = s
        .update_webhook(
            &a.webhook_id,
            WebhookUpdate {
                description: Some("d".into()),
                events: Some(vec![ev("prompt_alias", "deleted")]),
                status: Some("DISABLED".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.events, vec![ev("prompt_alias", "deleted")]);
    assert_eq!(updated.description.as_deref(), Some("d"));
    assert_eq!(updated.status, "DISABLED");
    assert_eq!(
        updated.secret, a.secret,
        "an update without a secret keeps it"
    );
    let by_event = s
        .list_webhooks_by_event(&ev("model_version", "created"))
        .await
        .unwrap();
    assert_eq!(by_event.len(), 1);

    s.delete_webhook(&a.webhook_id).await.unwrap();
    let msg = format!("Webhook with ID {} not found.", a.webhook_id);
    assert_err(
        s.get_webhook(&a.webhook_id).await,
        ErrorCode::ResourceDoesNotExist,
        &msg,
    );
    assert_err(
        s.delete_webhook(&a.webhook_id).await,
        ErrorCode::ResourceDoesNotExist,
        &msg,
    );
    assert_err(
        s.update_webhook(&a.webhook_id, WebhookUpdate::default())
            .await,
        ErrorCode::ResourceDoesNotExist,
        &msg,
    );
    assert_eq!(s.list_webhooks(100, None).await.unwrap().items.len(), 1);
    assert!(
        s.list_webhooks_by_event(&ev("prompt_alias", "deleted"))
            .await
            .unwrap()
            .is_empty()
    );
}
