//! MLflow's basic-auth app (`--app-name basic-auth`, mlflow-genai §8, security §3): HTTP Basic
//! credentials checked against the auth database, MLflow 3.17.2's permission model, and one
//! declared permission per route ([`rules`]), refused for everyone but admins when undeclared.
//!
//! # Layout
//! - [`rules`]: the route table (method + path template -> [`rules::Need`]).
//! - [`password`]: Werkzeug's hash strings (scrypt, PBKDF2), constant-time checks.
//! - `perm`: permission levels and how grants resolve.
//! - `check`: the middleware: credentials, cache, throttling, the decision, response filters.
//! - `handlers`: the users/roles/permissions endpoints under `/api` and `/ajax-api`.

mod check;
pub mod handlers;
pub mod password;
mod perm;
pub mod rules;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use rsflow_store::AuthStore;
use rsflow_store::auth::GrantRow;

pub(crate) use check::graphql_field_allowed;
pub use check::middleware;
pub use perm::Perm;

/// A user's grants, the grant generation they were read at and when they expire.
type CachedGrants = (u64, std::time::Instant, Arc<Vec<GrantRow>>);

/// The basic-auth settings (`basic_auth.ini` and rsflow's flags), read once by the binary.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `default_permission`: what a user holds on a resource without a grant.
    pub default_permission: Perm,
    /// `admin_username` (the bootstrap admin).
    pub admin_username: String,
    /// `auth_cache_max_size`.
    pub cache_max_size: usize,
    /// `auth_cache_ttl_seconds` (0 turns the cache off).
    pub cache_ttl: Duration,
    /// `--auth-trusted-header`: a user name set by an SSO proxy.
    pub trusted_header: Option<String>,
    /// `--auth-trusted-proxies`: the peers whose trusted header is honoured.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Failed logins allowed per user name in one window.
    pub max_failures: u32,
    /// Failed logins allowed per client address in one window (higher: many users may share
    /// one address behind a NAT or proxy).
    pub max_failures_per_address: u32,
    /// The throttling window.
    pub failure_window: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            default_permission: Perm::Read,
            admin_username: "admin".into(),
            cache_max_size: 10_000,
            cache_ttl: Duration::from_secs(60),
            trusted_header: None,
            trusted_proxies: Vec::new(),
            max_failures: 10,
            max_failures_per_address: 100,
            failure_window: Duration::from_secs(60),
        }
    }
}

/// The signed-in user of a request (a request extension once authenticated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
}

/// The auth layer's state: the store, the route table and the caches.
pub struct Auth {
    pub store: Arc<dyn AuthStore>,
    pub config: AuthConfig,
    rules: rules::RuleTable,
    /// Random per process: the credential cache is keyed by HMAC(key, user, password), so
    /// neither the password nor an offline-attackable digest of it is held.
    cache_key: [u8; 32],
    creds: Mutex<HashMap<[u8; 32], check::CachedLogin>>,
    /// Bumped by every change of a password, admin flag or user: cached logins older than
    /// it are void.
    cred_generation: AtomicU64,
    /// Bumped by every change of a grant, role or assignment.
    grant_generation: AtomicU64,
    grants: Mutex<HashMap<i64, CachedGrants>>,
    failures: Mutex<HashMap<check::ThrottleKey, check::Failures>>,
    /// Run -> experiment, which never changes (bounded).
    run_experiments: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(store: Arc<dyn AuthStore>, config: AuthConfig) -> Auth {
        let mut cache_key = [0u8; 32];
        getrandom::fill(&mut cache_key).expect("the operating system's random source");
        Auth {
            store,
            config,
            rules: rules::RuleTable::new(),
            cache_key,
            creds: Mutex::new(HashMap::new()),
            cred_generation: AtomicU64::new(0),
            grant_generation: AtomicU64::new(0),
            grants: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            run_experiments: Mutex::new(HashMap::new()),
        }
    }

    /// Creates the admin on first start, as MLflow's `create_admin_user`; refuses to start
    /// against an empty user store without a password (no default password since 3.5).
    pub async fn bootstrap(&self, admin_password: Option<&str>) -> Result<(), String> {
        let name = &self.config.admin_username;
        let exists = self
            .store
            .get_user(name)
            .await
            .map_err(|e| e.message.clone())?;
        if exists.is_some() {
            return Ok(());
        }
        let Some(password) = admin_password.filter(|p| !p.is_empty()) else {
            return Err(format!(
                "The basic-auth admin user '{name}' does not exist and no admin password is \
                 configured: set admin_password in the file MLFLOW_AUTH_CONFIG_PATH names, or \
                 the MLFLOW_AUTH_ADMIN_PASSWORD environment variable (MLflow ships no default \
                 password)."
            ));
        };
        let hash = password::generate(password);
        self.store
            .create_user(name, &hash, true)
            .await
            .map_err(|e| e.message.clone())?;
        tracing::info!(username = %name, "created the basic-auth admin user");
        Ok(())
    }

    /// Void every cached login (a password, admin flag or user changed).
    pub(crate) fn logins_changed(&self) {
        self.cred_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.creds.lock().expect("cache lock").clear();
    }

    /// Void every cached grant list (a grant, role or assignment changed).
    pub(crate) fn grants_changed(&self) {
        self.grant_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.grants.lock().expect("cache lock").clear();
    }

    /// Whether a peer may set the trusted user header.
    fn trusted_peer(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.config.trusted_proxies.iter().any(|n| n.contains(&ip))
    }
}
