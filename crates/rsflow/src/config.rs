//! `rsflow server` flags: the same names, defaults and environment variables as `mlflow server`,
//! resolved once into the settings the server runs with.
//!
//! This is the one place that reads the process environment: every setting, the libraries'
//! too (`RSFLOW_DB_*`, `RSFLOW_SQLITE_*`, `MLFLOW_*`, the storage credentials), is read here at
//! start into typed settings that are passed down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use rsflow_api::limits::LimitsConfig;
use rsflow_api::security::SecurityConfig;
use rsflow_api::ui::UiConfig;
use rsflow_api::webhooks::guard::UrlPolicy;
use rsflow_api::webhooks::{WebhookSettings, Webhooks};
use rsflow_api::{MlflowSettings, ServerConfig, SourcePattern};
use rsflow_artifacts::StorageEnv;
use rsflow_core::SecretUri;
use rsflow_store::StoreSettings;

const DEFAULT_BACKEND_STORE_URI: &str = "sqlite:///mlflow.db";
const DEFAULT_ARTIFACTS_DESTINATION: &str = "./mlartifacts";

#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct ServerArgs {
    /// Print help (`-h` is `--host`, as in `mlflow server`).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// The network address to listen on.
    #[arg(short = 'h', long, env = "MLFLOW_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// The port to listen on.
    #[arg(short = 'p', long, env = "MLFLOW_PORT", default_value_t = 5000)]
    pub port: u16,
    /// Where run metadata lives: sqlite:///relative.db or sqlite:////abs/path.db.
    #[arg(long, env = "MLFLOW_BACKEND_STORE_URI")]
    pub backend_store_uri: Option<String>,
    /// Where registry metadata lives; defaults to the backend store.
    #[arg(long, env = "MLFLOW_REGISTRY_STORE_URI")]
    pub registry_store_uri: Option<String>,
    /// Root for new experiments' artifacts (default: mlflow-artifacts:/ when serving artifacts).
    #[arg(long, env = "MLFLOW_DEFAULT_ARTIFACT_ROOT")]
    pub default_artifact_root: Option<String>,
    /// Proxy artifact uploads and downloads through this server (default on).
    #[arg(long, overrides_with = "no_serve_artifacts", action = ArgAction::SetTrue)]
    pub serve_artifacts: bool,
    /// Do not serve artifacts: clients write to the artifact root themselves.
    #[arg(long, overrides_with = "serve_artifacts", action = ArgAction::SetTrue)]
    pub no_serve_artifacts: bool,
    /// Storage behind the artifact proxy.
    #[arg(long, env = "MLFLOW_ARTIFACTS_DESTINATION")]
    pub artifacts_destination: Option<String>,
    /// Serve only the artifact proxy; tracking routes answer 503.
    #[arg(long, action = ArgAction::SetTrue)]
    pub artifacts_only: bool,
    /// Serve every route under this prefix (must start with '/').
    #[arg(long, env = "MLFLOW_STATIC_PREFIX")]
    pub static_prefix: Option<String>,
    /// MLflow's web UI build (`mlflow/server/js/build` of the mlflow wheel; `scripts/ui.sh`
    /// installs it). Default: `<dir of rsflow>/../share/rsflow/ui` if it exists.
    #[arg(long, env = "RSFLOW_UI_DIR", value_name = "DIR")]
    pub ui_dir: Option<String>,
    /// Host headers to accept (comma-separated, '*' wildcards; '*' alone disables the check).
    #[arg(long, env = "MLFLOW_SERVER_ALLOWED_HOSTS")]
    pub allowed_hosts: Option<String>,
    /// Origins allowed to make cross-origin state-changing requests (comma-separated).
    #[arg(long, env = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS")]
    pub cors_allowed_origins: Option<String>,
    /// X-Frame-Options header: SAMEORIGIN (default), DENY or NONE.
    #[arg(
        long,
        env = "MLFLOW_SERVER_X_FRAME_OPTIONS",
        default_value = "SAMEORIGIN"
    )]
    pub x_frame_options: String,
    /// Turn off the Host/CORS/header security middleware.
    #[arg(long, env = "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE", action = ArgAction::SetTrue)]
    pub disable_security_middleware: bool,
    /// Accepted for drop-in compatibility: rsflow is one multi-threaded process.
    #[arg(short = 'w', long, env = "MLFLOW_WORKERS")]
    pub workers: Option<u32>,
    /// Not supported: rsflow is its own HTTP server.
    #[arg(long, hide = true)]
    pub gunicorn_opts: Option<String>,
    /// Not supported: rsflow is its own HTTP server.
    #[arg(long, hide = true)]
    pub uvicorn_opts: Option<String>,
    /// Not supported: rsflow is its own HTTP server.
    #[arg(long, hide = true)]
    pub waitress_opts: Option<String>,
    /// `basic-auth`: MLflow's basic-auth app (configured by the file MLFLOW_AUTH_CONFIG_PATH
    /// names); the only app rsflow has.
    #[arg(long, value_name = "NAME")]
    pub app_name: Option<String>,
    /// With --app-name basic-auth: take the user name from this header (set by an SSO proxy),
    /// honoured only from --auth-trusted-proxies.
    #[arg(long, env = "RSFLOW_AUTH_TRUSTED_HEADER", value_name = "NAME")]
    pub auth_trusted_header: Option<String>,
    /// Peers (addresses or CIDRs, comma-separated) whose --auth-trusted-header is honoured.
    #[arg(long, env = "RSFLOW_AUTH_TRUSTED_PROXIES", value_name = "CIDR,...")]
    pub auth_trusted_proxies: Option<String>,
    /// Not supported: rsflow serves no presigned artifact URLs (MLflow 3.18.0's flag; its
    /// environment variable is read too, so that it is refused, not silently ignored).
    #[arg(long, hide = true, env = "MLFLOW_ARTIFACTS_PRESIGNED_ONLY", action = ArgAction::SetTrue)]
    pub artifacts_presigned_only: bool,
    /// Not supported yet.
    #[arg(long, hide = true)]
    pub read_replica_backend_store_uri: Option<String>,
    /// Alembic revision at which an empty backend store is created: dc11669786a5 (MLflow
    /// 3.17.2's head, the default) or f4a9b2c7d1e6 (3.18.0's). An existing database is served
    /// at the revision it has, never migrated (`rsflow db upgrade` does that).
    #[arg(long, env = "RSFLOW_SCHEMA_REVISION", value_name = "REV")]
    pub schema_revision: Option<String>,
    /// Largest JSON request body in bytes; larger ones get 413 (artifact uploads are not capped).
    #[arg(long, env = "RSFLOW_MAX_JSON_BODY_BYTES", default_value_t = 32 * 1024 * 1024, help_heading = "rsflow limits")]
    pub max_json_body_bytes: usize,
    /// JSON request bodies held in memory at once over all requests, in bytes (at least
    /// --max-json-body-bytes); a body that would go past it waits up to --queue-timeout, then 503.
    #[arg(long, env = "RSFLOW_JSON_BODY_BUDGET_BYTES", default_value_t = 256 * 1024 * 1024, help_heading = "rsflow limits")]
    pub json_body_budget_bytes: usize,
    /// Tracking/registry requests served at once; more wait up to --queue-timeout, then 503.
    #[arg(
        long,
        env = "RSFLOW_MAX_API_REQUESTS",
        default_value_t = 256,
        help_heading = "rsflow limits"
    )]
    pub max_api_requests: usize,
    /// Artifact transfers served at once; more wait up to --queue-timeout, then 503.
    #[arg(
        long,
        env = "RSFLOW_MAX_ARTIFACT_REQUESTS",
        default_value_t = 64,
        help_heading = "rsflow limits"
    )]
    pub max_artifact_requests: usize,
    /// Seconds a request waits for a free slot before the 503 (with Retry-After).
    #[arg(
        long,
        env = "RSFLOW_QUEUE_TIMEOUT",
        default_value_t = 10.0,
        help_heading = "rsflow limits"
    )]
    pub queue_timeout: f64,
    /// Seconds a client may take to send its request headers (also the keep-alive idle limit).
    #[arg(
        long,
        env = "RSFLOW_HEADER_READ_TIMEOUT",
        default_value_t = 30.0,
        help_heading = "rsflow limits"
    )]
    pub header_read_timeout: f64,
    /// Seconds a request body may pause between two pieces before the request fails.
    #[arg(
        long,
        env = "RSFLOW_BODY_IDLE_TIMEOUT",
        default_value_t = 60.0,
        help_heading = "rsflow limits"
    )]
    pub body_idle_timeout: f64,
    /// Seconds a client may take to send a whole JSON body (408 past it).
    #[arg(
        long,
        env = "RSFLOW_JSON_BODY_TIMEOUT",
        default_value_t = 120.0,
        help_heading = "rsflow limits"
    )]
    pub json_body_timeout: f64,
    /// Open client connections; further ones wait in the kernel's accept queue.
    #[arg(
        long,
        env = "RSFLOW_MAX_CONNECTIONS",
        default_value_t = 4096,
        help_heading = "rsflow limits"
    )]
    pub max_connections: usize,
    /// Serve Prometheus metrics at /metrics. The directory (where MLflow's exporter keeps its
    /// multiprocess files) is created and otherwise unused: rsflow is one process.
    #[arg(long, env = "MLFLOW_EXPOSE_PROMETHEUS", value_name = "DIR")]
    pub expose_prometheus: Option<String>,
    /// Run gc inside the server this often (`#d#h#m#s` or seconds; off when unset). Replicas
    /// on one database take turns: one pass at a time holds the gc lease.
    #[arg(
        long,
        env = "RSFLOW_GC_INTERVAL",
        value_name = "DURATION",
        help_heading = "rsflow gc"
    )]
    pub gc_interval: Option<String>,
    /// What the scheduled gc removes: rows deleted at least this long ago (`mlflow gc
    /// --older-than` format; default 30d).
    #[arg(
        long,
        env = "RSFLOW_GC_OLDER_THAN",
        value_name = "DURATION",
        help_heading = "rsflow gc"
    )]
    pub gc_older_than: Option<String>,
}

/// The server's scheduled gc (`--gc-interval`, `--gc-older-than`).
#[derive(Debug, Clone)]
pub struct ScheduledGc {
    pub interval: Duration,
    pub older_than: (i64, String),
}

/// `--gc-interval`: a bare number of seconds, or the `#d#h#m#s` form.
fn parse_interval(flag: &str, text: &str) -> anyhow::Result<Duration> {
    let ms = match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => (secs * 1000.0) as i64,
        Ok(_) => bail!("{flag} must be positive, not {text}"),
        Err(_) => rsflow_api::gc::parse_older_than(text.trim())
            .map_err(|e| anyhow::anyhow!("{flag}: {}", e.message))?,
    };
    if ms <= 0 {
        bail!("{flag} must be positive, not {text}");
    }
    Ok(Duration::from_millis(ms as u64))
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
        bail!("{flag} must be a number of seconds between 0 and 86400, not {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

/// Everything the server needs, resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    /// Shown redacted wherever it is formatted.
    pub backend_store_uri: SecretUri,
    /// Where an empty backend store is created (`--schema-revision`).
    pub schema_revision: String,
    /// How the metadata store runs (`RSFLOW_DB_*`, `RSFLOW_SQLITE_*`).
    pub store: StoreSettings,
    pub server: ServerConfig,
    /// Connection-level limits, applied by the accept loop.
    pub connections: ConnectionLimits,
    /// `None` unless `--gc-interval` is given.
    pub gc: Option<ScheduledGc>,
    /// `--expose-prometheus`: serve /metrics.
    pub expose_prometheus: Option<PathBuf>,
    /// `--app-name basic-auth`.
    pub auth: Option<crate::auth_config::AuthSettings>,
}

/// One setting from the process environment (unset and unreadable are alike).
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// How log lines are written: `RSFLOW_LOG_FORMAT=json` for one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn log_format() -> LogFormat {
    match env_var("RSFLOW_LOG_FORMAT").as_deref().map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

/// `RSFLOW_ARTIFACT_DIGESTS=off`: store new local artifacts without their SHA-256.
pub fn artifact_digests() -> bool {
    !env_var("RSFLOW_ARTIFACT_DIGESTS").is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "off" | "false" | "0"
        )
    })
}

/// `RSFLOW_LOG`: the log filter (default `info`).
pub fn log_filter() -> Option<String> {
    env_var("RSFLOW_LOG")
}

/// The value `ssh` hands to rsflow when it runs it as its askpass helper (`ssh_askpass`).
pub fn askpass_password() -> Option<std::ffi::OsString> {
    std::env::var_os(rsflow_artifacts::ssh_askpass::ASKPASS_ENV)
}

/// The storage settings: a snapshot of the environment taken once (the stores look up the
/// variables MLflow's artifact repositories and the cloud SDKs read).
fn storage_env() -> StorageEnv {
    StorageEnv::from_vars(
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
    )
}

/// A number setting; an unparsable value keeps the default, as MLflow's readers of these do.
fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    env_var(name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// MLflow's boolean environment flags (`true`/`1`, any case).
fn env_true(name: &str) -> bool {
    env_var(name).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"))
}

/// MLflow's webhook settings (`environment_variables.py`); a key Fernet cannot use is refused
/// here, as MLflow fails on it at start.
fn webhook_settings() -> anyhow::Result<WebhookSettings> {
    let d = WebhookSettings::default();
    let encryption_key = env_var("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY").filter(|k| !k.is_empty());
    if let Some(key) = &encryption_key {
        Webhooks::check_key(key).map_err(anyhow::Error::msg)?;
    }
    Ok(WebhookSettings {
        encryption_key,
        url_policy: UrlPolicy {
            allowed_schemes: env_var("MLFLOW_WEBHOOK_ALLOWED_SCHEMES")
                .map(|v| split_list(&v))
                .unwrap_or(d.url_policy.allowed_schemes),
            allow_private_ips: env_true("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"),
        },
        request_timeout: Duration::from_secs(env_number(
            "MLFLOW_WEBHOOK_REQUEST_TIMEOUT",
            d.request_timeout.as_secs(),
        )),
        max_retries: env_number("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", d.max_retries),
        max_workers: env_number("MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS", d.max_workers),
        cache_ttl: Duration::from_secs(env_number(
            "MLFLOW_WEBHOOK_CACHE_TTL",
            d.cache_ttl.as_secs(),
        )),
        queue_capacity: env_number("RSFLOW_WEBHOOK_QUEUE_CAPACITY", d.queue_capacity),
    })
}

fn mlflow_settings(storage: &StorageEnv) -> MlflowSettings {
    let d = MlflowSettings::default();
    MlflowSettings {
        truncate_long_values: rsflow_core::validation::truncate_long_values(
            env_var("MLFLOW_TRUNCATE_LONG_VALUES").as_deref(),
        ),
        presigned_download_ttl: Duration::from_secs(env_number(
            "MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS",
            d.presigned_download_ttl.as_secs(),
        )),
        artifact_location_max_length: env_number(
            "MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH",
            d.artifact_location_max_length,
        ),
        graphql_max_root_fields: env_number(
            "MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS",
            d.graphql_max_root_fields,
        ),
        graphql_max_aliases: env_number("MLFLOW_SERVER_GRAPHQL_MAX_ALIASES", d.graphql_max_aliases),
        proxy_multipart_upload: env_true("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"),
        proxy_multipart_download: env_true("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"),
        allowed_host_schemes: storage.allowed_host_schemes(),
        enable_custom_scorers: env_true("MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS"),
    }
}

/// Prefixes of the storage variables the start-up log names (values are never shown).
const STORAGE_VARIABLE_PREFIXES: &[&str] = &[
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "MLFLOW_S3_",
    "MLFLOW_GCS_",
    "MLFLOW_ARTIFACT",
    "MLFLOW_BOTO_",
    "MLFLOW_EXPERIMENTAL_S3_",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "RSFLOW_STORAGE_",
    "STORAGE_EMULATOR_HOST",
];

impl Settings {
    /// The effective configuration, one line, secrets redacted: database and artifact URIs
    /// through [`SecretUri`], storage variables by name only.
    pub fn log_effective(&self) {
        let s = &self.server;
        let storage: Vec<&str> = s
            .storage
            .names()
            .into_iter()
            .filter(|n| STORAGE_VARIABLE_PREFIXES.iter().any(|p| n.starts_with(p)))
            .collect();
        tracing::info!(
            backend_store_uri = %self.backend_store_uri,
            default_artifact_root = %SecretUri::show(&s.default_artifact_root),
            artifacts_destination = %SecretUri::show(&s.artifacts_destination),
            serve_artifacts = s.serve_artifacts,
            artifacts_only = s.artifacts_only,
            static_prefix = %s.static_prefix,
            store = ?self.store,
            limits = ?s.limits,
            connections = ?self.connections,
            mlflow = ?s.mlflow,
            security = ?s.security,
            ui_dir = ?s.ui.dir,
            auth = ?self.auth,
            storage_variables_set = ?storage,
            "effective configuration"
        );
    }
}

/// What the accept loop enforces before a request reaches the router.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

fn env_flag(name: &str) -> Option<bool> {
    env_var(name).map(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn make_absolute(path: &str) -> anyhow::Result<String> {
    let p = Path::new(path);
    if p.is_absolute() {
        return Ok(path.to_owned());
    }
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let joined = cwd.join(p);
    // Normalise `./x` without touching the filesystem.
    let mut out = std::path::PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Ok(out.to_string_lossy().into_owned())
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether two backend store URIs name the same database (driver suffixes such as
/// `+psycopg2` and relative SQLite paths do not make a difference).
fn same_database(a: &str, b: &str) -> bool {
    use rsflow_store::sql::uri::parse_backend_uri;
    match (parse_backend_uri(a), parse_backend_uri(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Where an installed UI build lives, relative to the directory of the `rsflow` executable:
/// `/usr/local/bin/rsflow` finds `/usr/local/share/rsflow/ui`, and `target/debug/rsflow`
/// finds `target/share/rsflow/ui` (what `scripts/ui.sh` installs by default). The first entry
/// is where the not-installed page says to install.
const UI_DIRS_BESIDE_EXE: &[&str] = &["../share/rsflow/ui", "share/rsflow/ui"];

/// `--ui-dir` must hold a UI build; without it the first default place that has one is used.
fn resolve_ui(flag: Option<&str>) -> anyhow::Result<UiConfig> {
    if let Some(dir) = flag.filter(|d| !d.is_empty()) {
        let dir = Path::new(&make_absolute(dir)?).to_path_buf();
        if !dir.join("index.html").is_file() {
            bail!(
                "--ui-dir {} holds no index.html: point it at an extracted mlflow/server/js/build \
                 directory (scripts/ui.sh installs one)",
                dir.display()
            );
        }
        return Ok(UiConfig {
            dir: Some(dir.clone()),
            searched: vec![dir],
            install_to: None,
        });
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let Some(exe_dir) = exe_dir else {
        return Ok(UiConfig::default());
    };
    Ok(default_ui(&exe_dir))
}

fn default_ui(exe_dir: &Path) -> UiConfig {
    let searched: Vec<PathBuf> = UI_DIRS_BESIDE_EXE
        .iter()
        .map(|rel| normalize(&exe_dir.join(rel)))
        .collect();
    UiConfig {
        dir: searched
            .iter()
            .find(|d| d.join("index.html").is_file())
            .cloned(),
        install_to: searched.first().cloned(),
        searched,
    }
}

/// `a/b/../c` as `a/c`, lexically (for the paths shown to the user).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir if out.parent().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl ServerArgs {
    pub fn resolve(self) -> anyhow::Result<Settings> {
        for (flag, set) in [
            ("--gunicorn-opts", self.gunicorn_opts.is_some()),
            ("--uvicorn-opts", self.uvicorn_opts.is_some()),
            ("--waitress-opts", self.waitress_opts.is_some()),
            ("--artifacts-presigned-only", self.artifacts_presigned_only),
            (
                "--read-replica-backend-store-uri",
                self.read_replica_backend_store_uri.is_some(),
            ),
        ] {
            if set {
                bail!("{flag} is not supported by rsflow; remove it from the command line");
            }
        }
        let auth = match self.app_name.as_deref() {
            None => {
                if self.auth_trusted_header.is_some() {
                    bail!("--auth-trusted-header needs --app-name basic-auth");
                }
                None
            }
            Some("basic-auth") => Some(crate::auth_config::read(
                &env_var,
                self.auth_trusted_header.as_deref(),
                self.auth_trusted_proxies.as_deref(),
            )?),
            Some(other) => {
                bail!("--app-name {other} is not supported by rsflow; the only app is basic-auth")
            }
        };
        if let Some(w) = self.workers {
            tracing::info!(
                workers = w,
                "--workers accepted: rsflow serves every core from one process"
            );
        }
        let serve_artifacts = if self.no_serve_artifacts {
            false
        } else if self.serve_artifacts {
            true
        } else {
            env_flag("MLFLOW_SERVE_ARTIFACTS").unwrap_or(true)
        };
        let artifacts_only =
            self.artifacts_only || env_flag("MLFLOW_ARTIFACTS_ONLY").unwrap_or(false);
        // MLflow reads it per request and ignores it when empty; a bad pattern would be a 500 on
        // every registration there, so it stops the server here.
        let model_version_source_pattern =
            match std::env::var("MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX") {
                Ok(p) if !p.is_empty() => Some(SourcePattern::new(&p).map_err(|e| {
                    anyhow::anyhow!(
                        "MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX is not a valid \
                         regular expression: {e}"
                    )
                })?),
                _ => None,
            };
        if artifacts_only && !serve_artifacts {
            bail!("--artifacts-only cannot be used with --no-serve-artifacts");
        }
        if artifacts_only && self.backend_store_uri.is_some() {
            bail!(
                "--artifacts-only is set, so --backend-store-uri would be ignored; remove one of them"
            );
        }

        // An artifacts-only server serves no metadata: it must not create ./mlflow.db.
        let backend_store_uri = match self.backend_store_uri {
            Some(uri) => uri,
            None if artifacts_only => "sqlite://".to_owned(),
            None => DEFAULT_BACKEND_STORE_URI.to_owned(),
        };
        if let Some(reg) = &self.registry_store_uri
            && !same_database(reg, &backend_store_uri)
        {
            bail!(
                "--registry-store-uri {} differs from --backend-store-uri: a separate registry database is not supported yet",
                SecretUri::show(reg)
            );
        }

        let schema_revision = match self.schema_revision.as_deref().map(str::trim) {
            None | Some("") => rsflow_store::ALEMBIC_HEAD.to_owned(),
            Some(rev) => {
                if !rsflow_store::sql::CREATABLE_REVISIONS
                    .iter()
                    .any(|(r, _)| *r == rev)
                {
                    bail!(
                        "--schema-revision {rev} is not one rsflow creates databases at; use {}",
                        rsflow_store::sql::CREATABLE_REVISIONS
                            .iter()
                            .map(|(r, v)| format!("{r} (MLflow {v})"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    );
                }
                rev.to_owned()
            }
        };

        let artifacts_destination = self
            .artifacts_destination
            .unwrap_or_else(|| DEFAULT_ARTIFACTS_DESTINATION.to_owned());
        let artifacts_destination = match artifacts_destination.split_once("://") {
            Some(("file", path)) => format!("file://{}", make_absolute(path)?),
            Some(_) => artifacts_destination,
            None => make_absolute(&artifacts_destination)?,
        };

        let default_artifact_root = match self.default_artifact_root {
            Some(root) if root.contains(':') && !root.starts_with('/') => root,
            Some(root) => make_absolute(&root)?,
            None if serve_artifacts => "mlflow-artifacts:/".to_owned(),
            None => make_absolute("./mlruns")?,
        };

        let static_prefix = match self.static_prefix {
            None => String::new(),
            Some(p) if p.is_empty() => String::new(),
            Some(p) if !p.starts_with('/') => bail!("--static-prefix must begin with a '/'."),
            Some(p) => p.trim_end_matches('/').to_owned(),
        };

        let ui = resolve_ui(self.ui_dir.as_deref())?;
        let store = StoreSettings::from_lookup(&env_var)?;
        let storage = storage_env();
        let mlflow = mlflow_settings(&storage);

        for (flag, n) in [
            ("--max-json-body-bytes", self.max_json_body_bytes),
            ("--json-body-budget-bytes", self.json_body_budget_bytes),
            ("--max-api-requests", self.max_api_requests),
            ("--max-artifact-requests", self.max_artifact_requests),
            ("--max-connections", self.max_connections),
        ] {
            if n == 0 {
                bail!("{flag} must be at least 1");
            }
        }
        let limits = LimitsConfig {
            max_json_body: self.max_json_body_bytes,
            json_body_budget: self.json_body_budget_bytes,
            max_api_requests: self.max_api_requests,
            max_artifact_requests: self.max_artifact_requests,
            queue_timeout: seconds("--queue-timeout", self.queue_timeout)?,
            body_idle_timeout: seconds("--body-idle-timeout", self.body_idle_timeout)?,
            json_body_timeout: seconds("--json-body-timeout", self.json_body_timeout)?,
        };
        let connections = ConnectionLimits {
            header_read_timeout: seconds("--header-read-timeout", self.header_read_timeout)?,
            max_connections: self.max_connections,
        };

        let gc = match &self.gc_interval {
            None => None,
            Some(text) => {
                let interval = parse_interval("--gc-interval", text)?;
                let older = self
                    .gc_older_than
                    .clone()
                    .unwrap_or_else(|| "30d".to_owned());
                let ms = rsflow_api::gc::parse_older_than(&older)
                    .map_err(|e| anyhow::anyhow!("--gc-older-than: {}", e.message))?;
                Some(ScheduledGc {
                    interval,
                    older_than: (ms, older),
                })
            }
        };
        if gc.is_none() && self.gc_older_than.is_some() {
            bail!("--gc-older-than needs --gc-interval");
        }

        let expose_prometheus = match self.expose_prometheus.as_deref() {
            None | Some("") => None,
            Some(dir) => Some(PathBuf::from(make_absolute(dir)?)),
        };

        Ok(Settings {
            expose_prometheus,
            gc,
            connections,
            auth,
            host: self.host,
            port: self.port,
            backend_store_uri: SecretUri::new(backend_store_uri),
            schema_revision,
            store,
            server: ServerConfig {
                static_prefix,
                serve_artifacts,
                artifacts_only,
                default_artifact_root,
                artifacts_destination,
                security: SecurityConfig {
                    disabled: self.disable_security_middleware,
                    allowed_hosts: self.allowed_hosts.as_deref().map(split_list),
                    cors_allowed_origins: self
                        .cors_allowed_origins
                        .as_deref()
                        .map(split_list)
                        .unwrap_or_default(),
                    x_frame_options: match self.x_frame_options.to_ascii_uppercase().as_str() {
                        "NONE" => None,
                        v @ ("DENY" | "SAMEORIGIN") => Some(v.to_owned()),
                        other => {
                            bail!("--x-frame-options must be SAMEORIGIN, DENY or NONE, not {other}")
                        }
                    },
                },
                limits,
                ui,
                model_version_source_pattern,
                mlflow,
                storage,
                webhooks: webhook_settings()?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> anyhow::Result<Settings> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cmd {
            #[command(flatten)]
            args: ServerArgs,
        }
        let argv = ["rsflow", "--backend-store-uri", "sqlite:///x.db"];
        Cmd::try_parse_from(argv.iter().chain(extra))?
            .args
            .resolve()
    }

    #[test]
    fn artifacts_presigned_only_is_refused() {
        let err = parse(&["--artifacts-presigned-only"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--artifacts-presigned-only is not supported"),
            "{err}"
        );
    }

    #[test]
    fn schema_revision_flag() {
        assert_eq!(parse(&[]).unwrap().schema_revision, "dc11669786a5");
        let s = parse(&["--schema-revision", "f4a9b2c7d1e6"]).unwrap();
        assert_eq!(s.schema_revision, "f4a9b2c7d1e6");
        // An intermediate revision serves but is not one a database is created at.
        let err = parse(&["--schema-revision", "8b6ad64cb8f5"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("dc11669786a5 (MLflow 3.17.2)"), "{err}");
        assert!(err.contains("f4a9b2c7d1e6 (MLflow 3.18.0)"), "{err}");
    }

    #[test]
    fn limit_flags() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.server.limits, LimitsConfig::default());
        assert_eq!(s.connections.header_read_timeout, Duration::from_secs(30));
        let s = parse(&[
            "--max-json-body-bytes",
            "1000",
            "--queue-timeout",
            "0.5",
            "--header-read-timeout",
            "2",
        ])
        .unwrap();
        assert_eq!(s.server.limits.max_json_body, 1000);
        assert_eq!(s.server.limits.queue_timeout, Duration::from_millis(500));
        assert_eq!(s.connections.header_read_timeout, Duration::from_secs(2));
        for bad in [
            &["--queue-timeout", "0"][..],
            &["--body-idle-timeout", "-1"],
            &["--json-body-timeout", "NaN"],
            &["--max-api-requests", "0"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ui_dir_flag_and_default_places() {
        let tmp = tempfile::tempdir().unwrap();
        let build = tmp.path().join("build");
        std::fs::create_dir_all(&build).unwrap();
        let flag = build.to_str().unwrap();
        // A directory without index.html is refused at startup, with the reason.
        let err = parse(&["--ui-dir", flag]).unwrap_err().to_string();
        assert!(err.contains("no index.html"), "{err}");
        std::fs::write(build.join("index.html"), "<html></html>").unwrap();
        let s = parse(&["--ui-dir", flag]).unwrap();
        assert_eq!(s.server.ui.dir.as_deref(), Some(build.as_path()));

        let bin = tmp.path().join("prefix/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let missing = default_ui(&bin);
        assert_eq!(missing.dir, None);
        let installed = tmp.path().join("prefix/share/rsflow/ui");
        assert_eq!(missing.install_to.as_deref(), Some(installed.as_path()));
        std::fs::create_dir_all(&installed).unwrap();
        std::fs::write(installed.join("index.html"), "<html></html>").unwrap();
        assert_eq!(default_ui(&bin).dir.as_deref(), Some(installed.as_path()));
    }

    #[test]
    fn registry_uri_may_differ_only_by_driver() {
        assert!(same_database(
            "postgresql+psycopg2://u:p@h:5432/db",
            "postgresql://u:p@h:5432/db"
        ));
        assert!(same_database(
            "postgresql+pg8000://u@h/db",
            "postgresql+psycopg://u@h/db"
        ));
        assert!(!same_database(
            "postgresql://u@h/db",
            "postgresql://u@h/other"
        ));
        let cwd = std::env::current_dir().unwrap();
        assert!(same_database(
            "sqlite:///m.db",
            &format!("sqlite:///{}/m.db", cwd.display())
        ));
    }
}

/// `rsflow gc`: the flags of `mlflow gc`.
#[derive(Args, Debug, Clone)]
pub struct GcArgs {
    /// Remove rows deleted longer ago than this (`#d#h#m#s`, decimals allowed: 1d2h3m4s, 1.5h).
    #[arg(long)]
    pub older_than: Option<String>,
    /// The backend store (default: $MLFLOW_BACKEND_STORE_URI, else sqlite:///mlflow.db).
    #[arg(long, value_name = "URI")]
    pub backend_store_uri: Option<String>,
    /// Where `mlflow-artifacts:` locations live (the server's --artifacts-destination).
    #[arg(long, env = "MLFLOW_ARTIFACTS_DESTINATION", value_name = "URI")]
    pub artifacts_destination: Option<String>,
    /// Comma-separated runs to remove (they must be deleted); default: every deleted run.
    #[arg(long)]
    pub run_ids: Option<String>,
    /// Comma-separated experiments to remove with their runs (they must be deleted).
    #[arg(long)]
    pub experiment_ids: Option<String>,
    /// Comma-separated logged models to remove (they must be deleted).
    #[arg(long)]
    pub logged_model_ids: Option<String>,
    /// A running server through which `mlflow-artifacts:` locations are deleted when no
    /// --artifacts-destination is given (as `mlflow gc` does).
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URI")]
    pub tracking_uri: Option<String>,
    /// List what would be removed and the artifact bytes it holds; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rows per page (one delete transaction each).
    #[arg(long, default_value_t = 500, hide = true)]
    pub page_size: usize,
    /// Artifact locations deleted at once.
    #[arg(long, default_value_t = 16, hide = true)]
    pub concurrency: usize,
}

/// `rsflow gc`, resolved.
#[derive(Debug, Clone)]
pub struct GcSettings {
    pub backend_store_uri: SecretUri,
    pub artifacts_destination: Option<String>,
    /// `http(s)://host:port[/prefix]` of a running server, when no destination is given.
    pub tracking_server: Option<String>,
    pub options: rsflow_api::gc::GcOptions,
    pub store: StoreSettings,
    pub storage: StorageEnv,
}

fn id_list(s: &Option<String>) -> Option<Vec<String>> {
    s.as_deref().map(|v| {
        v.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

impl GcArgs {
    pub fn resolve(self) -> anyhow::Result<GcSettings> {
        let older_than = match &self.older_than {
            None => None,
            Some(t) => Some((
                rsflow_api::gc::parse_older_than(t).map_err(|e| anyhow::anyhow!(e.message))?,
                t.clone(),
            )),
        };
        let backend_store_uri = self
            .backend_store_uri
            .or_else(|| env_var("MLFLOW_BACKEND_STORE_URI"))
            .unwrap_or_else(|| DEFAULT_BACKEND_STORE_URI.to_owned());
        let artifacts_destination = match self.artifacts_destination {
            None => None,
            Some(d) => Some(match d.split_once("://") {
                Some(("file", path)) => format!("file://{}", make_absolute(path)?),
                Some(_) => d,
                None => make_absolute(&d)?,
            }),
        };
        let tracking_server = self
            .tracking_uri
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .map(|u| u.trim_end_matches('/').to_owned());
        Ok(GcSettings {
            backend_store_uri: SecretUri::new(backend_store_uri),
            artifacts_destination,
            tracking_server,
            options: rsflow_api::gc::GcOptions {
                older_than,
                run_ids: id_list(&self.run_ids),
                experiment_ids: id_list(&self.experiment_ids),
                logged_model_ids: id_list(&self.logged_model_ids),
                dry_run: self.dry_run,
                page_size: self.page_size,
                concurrency: self.concurrency,
            },
            store: StoreSettings::from_lookup(&env_var)?,
            storage: storage_env(),
        })
    }
}

/// `rsflow artifacts verify`.
#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// Check the artifacts of this run (its artifact URI is read from --backend-store-uri).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Check the artifacts under this URI (mlflow-artifacts:/..., s3://..., a path, ...).
    #[arg(long, value_name = "URI")]
    pub artifact_uri: Option<String>,
    /// The proxy's destination (needed for mlflow-artifacts: URIs; alone: check all of it).
    #[arg(long, env = "MLFLOW_ARTIFACTS_DESTINATION", value_name = "URI")]
    pub artifacts_destination: Option<String>,
    /// For --run-id, and the digest index that names files deleted behind rsflow's back
    /// (default: $MLFLOW_BACKEND_STORE_URI, else sqlite:///mlflow.db; without --run-id the
    /// index is read only when this flag or the variable is given).
    #[arg(long, value_name = "URI")]
    pub backend_store_uri: Option<String>,
    /// Files without a stored digest count as failures too.
    #[arg(long)]
    pub strict: bool,
    /// Files read at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub run_id: Option<String>,
    pub artifact_uri: Option<String>,
    pub artifacts_destination: Option<String>,
    pub backend_store_uri: SecretUri,
    /// Whether the backend store was named (flag or variable), not defaulted.
    pub backend_store_given: bool,
    pub strict: bool,
    pub concurrency: usize,
    pub store: StoreSettings,
    pub storage: StorageEnv,
}

impl VerifyArgs {
    pub fn resolve(self) -> anyhow::Result<VerifySettings> {
        let artifacts_destination = match self.artifacts_destination {
            None => None,
            Some(d) => Some(match d.split_once("://") {
                Some(("file", path)) => format!("file://{}", make_absolute(path)?),
                Some(_) => d,
                None => make_absolute(&d)?,
            }),
        };
        let backend = self
            .backend_store_uri
            .or_else(|| env_var("MLFLOW_BACKEND_STORE_URI"));
        Ok(VerifySettings {
            run_id: self.run_id,
            artifact_uri: self.artifact_uri,
            artifacts_destination,
            backend_store_given: backend.is_some(),
            backend_store_uri: SecretUri::new(
                backend.unwrap_or_else(|| DEFAULT_BACKEND_STORE_URI.to_owned()),
            ),
            strict: self.strict,
            concurrency: self.concurrency,
            store: StoreSettings::from_lookup(&env_var)?,
            storage: storage_env(),
        })
    }
}

/// `rsflow artifacts upload|download|list|rm`: the flags of `mlflow artifacts`.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// The run whose artifacts to use.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Or an artifact URI (mlflow-artifacts:/..., or the proxy's http(s) URL).
    #[arg(long, value_name = "URI")]
    pub artifact_uri: Option<String>,
    /// A path under the run's (or URI's) root.
    #[arg(long)]
    pub artifact_path: Option<String>,
    /// upload: the directory to upload.
    #[arg(long)]
    pub local_dir: Option<PathBuf>,
    /// upload: one file to upload.
    #[arg(long)]
    pub local_file: Option<PathBuf>,
    /// download: where to put the files (default: the working directory).
    #[arg(long)]
    pub dst_path: Option<PathBuf>,
    /// The server (default: $MLFLOW_TRACKING_URI).
    #[arg(long, env = "MLFLOW_TRACKING_URI", value_name = "URI")]
    pub tracking_uri: Option<String>,
    /// Files transferred at once.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// No progress bar (it is never drawn when stderr is not a terminal).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// download: skip the check against the server's SHA-256.
    #[arg(long)]
    pub no_verify: bool,
}

pub type ClientSettings = ClientArgs;

/// `rsflow artifacts migrate`.
#[derive(Args, Debug, Clone)]
pub struct MigrateArgs {
    /// The artifact root to copy from (a path, file://, s3://, gs://, wasbs://, sftp://).
    #[arg(long, value_name = "URI")]
    pub from: String,
    /// The artifact root to copy to.
    #[arg(long, value_name = "URI")]
    pub to: String,
    /// Files copied at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct MigrateSettings {
    pub from: String,
    pub to: String,
    pub concurrency: usize,
    pub storage: StorageEnv,
}

fn absolute_root(uri: &str) -> anyhow::Result<String> {
    Ok(match uri.split_once("://") {
        Some(("file", path)) => format!("file://{}", make_absolute(path)?),
        Some(_) => uri.to_owned(),
        None => make_absolute(uri)?,
    })
}

impl MigrateArgs {
    pub fn resolve(self) -> anyhow::Result<MigrateSettings> {
        Ok(MigrateSettings {
            from: absolute_root(&self.from)?,
            to: absolute_root(&self.to)?,
            concurrency: self.concurrency,
            storage: storage_env(),
        })
    }
}
