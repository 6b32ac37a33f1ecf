//! Delivering registry events to webhooks, as `mlflow/webhooks/delivery.py` does: the same
//! body, headers and HMAC signature, the same retries (urllib3 `Retry(total=3)` on
//! 429/500/502/503/504, backoff 1 s × 2^n capped at 60 s with up to 1 s of jitter, honouring
//! `Retry-After`), no proxies, no redirects, and the per-event webhook list cached for
//! `MLFLOW_WEBHOOK_CACHE_TTL`.
//!
//! A request only puts a job on a bounded queue (`try_send`): it never waits for the database
//! lookup or the delivery, and a full queue drops the event with a warning rather than slow the
//! API down. One dispatcher task drains the queue and runs at most
//! `MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS` deliveries at once. The replica that served the write
//! is the one that delivers its event, so replicas sharing a database deliver each event once.
//! Like MLflow, rsflow keeps no delivery records: outcomes are logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rsflow_core::{MlflowError, Result};
use rsflow_store::ModelRegistryStore;
use rsflow_store::webhooks::{WebhookRecord, WebhookStore};
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};

use super::events::{Event, PyJson, delivery_body};
use super::guard::{PublicOnlyResolver, UrlPolicy, literal_host_allowed};

/// Status codes urllib3 retries for MLflow (`status_forcelist`).
const RETRY_STATUSES: &[u16] = &[429, 500, 502, 503, 504];
/// urllib3's `RETRY_AFTER_STATUS_CODES`.
const RETRY_AFTER_STATUSES: &[u16] = &[413, 429, 503];
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The webhook settings MLflow reads from its environment (and rsflow's queue bound).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY`; when unset a key is made for the life of the
    /// process (with a warning), as MLflow makes one per worker.
    pub encryption_key: Option<String>,
    pub url_policy: UrlPolicy,
    /// `MLFLOW_WEBHOOK_REQUEST_TIMEOUT` (30 s).
    pub request_timeout: Duration,
    /// `MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES` (3).
    pub max_retries: u32,
    /// `MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS` (10).
    pub max_workers: usize,
    /// `MLFLOW_WEBHOOK_CACHE_TTL` (60 s).
    pub cache_ttl: Duration,
    /// How many events may wait for delivery before new ones are dropped.
    pub queue_capacity: usize,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "***"),
            )
            .field("url_policy", &self.url_policy)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("max_workers", &self.max_workers)
            .field("cache_ttl", &self.cache_ttl)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            encryption_key: None,
            url_policy: UrlPolicy::default(),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            max_workers: 10,
            cache_ttl: Duration::from_secs(60),
            queue_capacity: 1000,
        }
    }
}

/// An event waiting for delivery.
enum Job {
    Fire(Event, PyJson),
    /// The event depends on whether the model is a prompt (`_is_prompt(name)` in MLflow's
    /// handlers); `model` is `None` when plain models fire nothing.
    ByKind {
        name: String,
        prompt: (Event, PyJson),
        model: Option<(Event, PyJson)>,
    },
}

/// What `webhooks/<id>/test` reports.
pub struct TestOutcome {
    pub status: u16,
    pub body: String,
}

/// The process's webhook deliverer and secret cipher.
pub struct Webhooks {
    settings: WebhookSettings,
    cipher: fernet::Fernet,
    store: Arc<dyn WebhookStore>,
    registry: Arc<dyn ModelRegistryStore>,
    /// `None` only if the TLS stack could not start; deliveries then fail and are logged.
    client: Option<reqwest::Client>,
    queue: OnceLock<mpsc::Sender<Job>>,
    cache: Mutex<HashMap<Event, (Instant, Vec<WebhookRecord>)>>,
}

impl Webhooks {
    /// A key Fernet can use, or why not (checked once at start-up: MLflow fails at import).
    pub fn check_key(key: &str) -> std::result::Result<(), String> {
        fernet::Fernet::new(key).map(|_| ()).ok_or_else(|| {
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY must be 32 url-safe base64-encoded bytes (a \
             Fernet key, e.g. from Fernet.generate_key())"
                .to_string()
        })
    }

    pub fn new(
        settings: WebhookSettings,
        store: Arc<dyn WebhookStore>,
        registry: Arc<dyn ModelRegistryStore>,
    ) -> Self {
        let configured = settings
            .encryption_key
            .as_deref()
            .and_then(fernet::Fernet::new);
        let cipher = configured.unwrap_or_else(|| {
            tracing::warn!(
                "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not set: webhook secrets are encrypted \
                 with a key made for this process only; they cannot be read after a restart or \
                 by other replicas"
            );
            fernet::Fernet::new(&fernet::Fernet::generate_key())
                .expect("a generated Fernet key is valid")
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.request_timeout)
            .dns_resolver(Arc::new(PublicOnlyResolver {
                allow_private_ips: settings.url_policy.allow_private_ips,
            }))
            .build()
            .map_err(|e| tracing::error!(error = %e, "could not build the webhook HTTP client"))
            .ok();
        Webhooks {
            settings,
            cipher,
            store,
            registry,
            client,
            queue: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn url_policy(&self) -> &UrlPolicy {
        &self.settings.url_policy
    }

    /// The stored form of a secret (`EncryptedString.process_bind_param`).
    pub fn encrypt(&self, secret: &str) -> String {
        self.cipher.encrypt(secret.as_bytes())
    }

    fn decrypt(&self, stored: &str) -> Result<String> {
        let plain = self.cipher.decrypt(stored).map_err(|_| {
            MlflowError::internal(
                "cannot decrypt the webhook secret: it was encrypted with another \
                 MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
            )
        })?;
        String::from_utf8(plain).map_err(|_| MlflowError::internal("webhook secret is not UTF-8"))
    }

    /// Webhooks changed here: forget the cached lists so the next event sees them.
    pub fn invalidate(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Queue an event whose kind is already known.
    pub fn emit(self: &Arc<Self>, event: Event, data: PyJson) {
        self.enqueue(Job::Fire(event, data));
    }

    /// Queue an event that is a prompt event when the model `name` is a prompt.
    pub fn emit_by_kind(
        self: &Arc<Self>,
        name: &str,
        prompt: (Event, PyJson),
        model: Option<(Event, PyJson)>,
    ) {
        self.enqueue(Job::ByKind {
            name: name.to_owned(),
            prompt,
            model,
        });
    }

    fn enqueue(self: &Arc<Self>, job: Job) {
        let tx = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(self.settings.queue_capacity.max(1));
            tokio::spawn(Arc::clone(self).dispatch(rx));
            tx
        });
        if tx.try_send(job).is_err() {
            tracing::warn!("webhook delivery queue is full: event dropped");
        }
    }

    async fn dispatch(self: Arc<Self>, mut rx: mpsc::Receiver<Job>) {
        let slots = Arc::new(Semaphore::new(self.settings.max_workers.max(1)));
        while let Some(job) = rx.recv().await {
            let Some((event, data)) = self.resolve_kind(job).await else {
                continue;
            };
            let hooks = match self.hooks_for(&event).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(event = %event_name(&event), error = %e.message, "failed to list webhooks");
                    continue;
                }
            };
            for hook in hooks.into_iter().filter(|h| h.status == "ACTIVE") {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let me = Arc::clone(&self);
                let (event, data) = (event.clone(), data.clone());
                tokio::spawn(async move {
                    if let Err(e) = me.send(&hook, &event, &data).await {
                        tracing::error!(
                            url = %hook.url, event = %event_name(&event), error = %e,
                            "failed to send webhook"
                        );
                    }
                    drop(permit);
                });
            }
        }
    }

    async fn resolve_kind(&self, job: Job) -> Option<(Event, PyJson)> {
        match job {
            Job::Fire(e, d) => Some((e, d)),
            Job::ByKind {
                name,
                prompt,
                model,
            } => match self.registry.get_registered_model(&name).await {
                Ok(rm) if rm.is_prompt() => Some(prompt),
                Ok(_) => model,
                Err(_) => model,
            },
        }
    }

    /// `_get_cached_webhooks_by_event`.
    async fn hooks_for(&self, event: &Event) -> Result<Vec<WebhookRecord>> {
        let ttl = self.settings.cache_ttl;
        if let Some((at, hooks)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(event)
            && at.elapsed() < ttl
        {
            return Ok(hooks.clone());
        }
        let hooks = self.store.list_webhooks_by_event(event).await?;
        if !ttl.is_zero() {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(event.clone(), (Instant::now(), hooks.clone()));
        }
        Ok(hooks)
    }

    /// `_send_webhook_request`: validate the URL again, sign, post with retries.
    pub async fn send(
        &self,
        hook: &WebhookRecord,
        event: &Event,
        data: &PyJson,
    ) -> std::result::Result<TestOutcome, String> {
        // MLflow signs only when the decrypted secret is non-empty (`if webhook.secret:`).
        let secret = match hook.secret.as_deref() {
            Some(stored) => Some(self.decrypt(stored).map_err(|e| e.message)?),
            None => None,
        }
        .filter(|s| !s.is_empty());
        self.settings
            .url_policy
            .validate(&hook.url)
            .await
            .map_err(|e| {
                format!(
                    "MlflowException({})",
                    rsflow_core::pyfmt::repr_str(&e.message)
                )
            })?;
        let url = reqwest::Url::parse(&hook.url).map_err(|e| format!("InvalidURL({e})"))?;
        literal_host_allowed(&url, self.settings.url_policy.allow_private_ips)?;
        let body = delivery_body(event, &iso_now(), data);
        let delivery_id = uuid::Uuid::new_v4().to_string();
        let timestamp = unix_seconds().to_string();
        let signature = secret.map(|s| sign(&s, &delivery_id, &timestamp, &body));
        let client = self
            .client
            .as_ref()
            .ok_or("the webhook HTTP client is not available")?;
        let mut attempt = 0u32;
        loop {
            let mut req = client
                .post(url.clone())
                .header("Content-Type", "application/json")
                .header("X-MLflow-Delivery-Id", &delivery_id)
                .header("X-MLflow-Timestamp", &timestamp)
                .body(body.clone());
            if let Some(sig) = &signature {
                req = req.header("X-MLflow-Signature", sig);
            }
            let retries_left = attempt < self.settings.max_retries;
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if retries_left && RETRY_STATUSES.contains(&status) {
                        let wait = retry_after(&resp, status).unwrap_or_else(|| backoff(attempt));
                        attempt += 1;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let body = resp.text().await.unwrap_or_default();
                    return Ok(TestOutcome { status, body });
                }
                Err(e) => {
                    let blocked = is_blocked(&e);
                    if retries_left && !blocked {
                        attempt += 1;
                        tokio::time::sleep(backoff(attempt - 1)).await;
                        continue;
                    }
                    return Err(error_chain(&e));
                }
            }
        }
    }
}

/// `X-MLflow-Signature`: `v1,` + base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>")).
pub fn sign(secret: &str, delivery_id: &str, timestamp: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(format!("{delivery_id}.{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// urllib3's backoff before retry `n + 1` (n consecutive failures so far): 0 after the first,
/// then 1 s × 2^n, capped, plus up to 1 s of jitter.
fn backoff(n: u32) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    let base = Duration::from_secs(1u64 << n.min(6));
    (base + Duration::from_millis(fastrand::u64(0..=1000))).min(BACKOFF_MAX)
}

fn retry_after(resp: &reqwest::Response, status: u16) -> Option<Duration> {
    if !RETRY_AFTER_STATUSES.contains(&status) {
        return None;
    }
    let v = resp.headers().get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// A refusal by the SSRF resolver is never retried (MLflow's `SSRFProtectionError`).
fn is_blocked(e: &reqwest::Error) -> bool {
    error_chain(e).contains("Webhook connection blocked")
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

fn event_name(e: &Event) -> String {
    format!("{}.{}", e.entity, e.action)
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `datetime.now(timezone.utc).isoformat()`: microseconds unless they are zero.
fn iso_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    iso_utc(d.as_secs() as i64, d.subsec_micros())
}

fn iso_utc(secs: i64, micros: u32) -> String {
    let (y, m, day) = crate::traces::wire::days_to_civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    );
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out.push_str("+00:00");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_mlflows_hmac() {
        // hmac.new(b"s3cr3t", b"id.1700000000.{}", hashlib.sha256), base64-encoded.
        assert_eq!(
            sign("s3cr3t", "id", "1700000000", "{}"),
            "v1,ItVlbKoSOiXhnKQkC9K5DvfnVcpg0mVAJwIV9SDuNcs="
        );
    }

    #[test]
    fn timestamps_are_python_isoformat() {
        assert_eq!(
            iso_utc(1_796_548_283, 89_969),
            "2026-12-06T09:11:23.089969+00:00"
        );
        assert_eq!(iso_utc(0, 0), "1970-01-01T00:00:00+00:00");
    }

    #[test]
    fn backoff_is_capped() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert!(backoff(2) >= Duration::from_secs(4));
        assert!(backoff(30) <= BACKOFF_MAX);
    }
}
