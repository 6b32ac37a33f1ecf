//! The basic-auth app's configuration, read once at start as MLflow 3.17.2's
//! `mlflow.server.auth.config.read_auth_config` reads it: the `[mlflow]` section of the INI
//! file `MLFLOW_AUTH_CONFIG_PATH` names (else the packaged defaults), with
//! `MLFLOW_AUTH_ADMIN_USERNAME` / `MLFLOW_AUTH_ADMIN_PASSWORD` taking precedence when set,
//! even empty; plus rsflow's trusted-header flags.

use std::time::Duration;

use anyhow::{Context, bail};
use rsflow_api::auth::{AuthConfig, Perm};

use rsflow_core::SecretUri;

/// What `--app-name basic-auth` runs with.
#[derive(Clone)]
pub struct AuthSettings {
    pub config: AuthConfig,
    /// `database_uri`.
    pub database_uri: SecretUri,
    /// `admin_password` / `MLFLOW_AUTH_ADMIN_PASSWORD`; used only to create the admin.
    pub admin_password: Option<String>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("config", &self.config)
            .field("database_uri", &self.database_uri)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// The packaged `basic_auth.ini`'s values.
const DEFAULT_DATABASE_URI: &str = "sqlite:///basic_auth.db";

/// `lookup` reads one environment variable (the binary passes the process environment).
pub fn read(
    lookup: &dyn Fn(&str) -> Option<String>,
    trusted_header: Option<&str>,
    trusted_proxies: Option<&str>,
) -> anyhow::Result<AuthSettings> {
    let mut ini = std::collections::HashMap::<String, String>::new();
    let path = lookup("MLFLOW_AUTH_CONFIG_PATH").filter(|p| !p.is_empty());
    if path.is_none() {
        ini.insert("admin_username".into(), "admin".into());
    }
    if let Some(path) = path {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read MLFLOW_AUTH_CONFIG_PATH={path}"))?;
        let parsed = ini::Ini::load_from_str(&text)
            .with_context(|| format!("cannot parse MLFLOW_AUTH_CONFIG_PATH={path}"))?;
        let Some(section) = parsed.section(Some("mlflow")) else {
            bail!("{path} has no [mlflow] section (MLflow's auth config reads config[\"mlflow\"])");
        };
        for (k, v) in section.iter() {
            // configparser lower-cases keys.
            ini.insert(k.to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let get = |k: &str| ini.get(k).cloned();
    let default_permission = get("default_permission").unwrap_or_else(|| "READ".into());
    let Some(default_permission_level) = Perm::parse(&default_permission) else {
        bail!(
            "default_permission = {default_permission} is not a permission (READ, USE, EDIT, \
             MANAGE, NO_PERMISSIONS)"
        );
    };
    let database_uri = get("database_uri").unwrap_or_else(|| DEFAULT_DATABASE_URI.into());
    // MLflow also takes MySQL here; rsflow does not yet. Refused before anything is opened,
    // in one line, the URI redacted.
    let scheme = database_uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    if scheme == "mysql" || scheme.starts_with("mysql+") || scheme == "mariadb" {
        bail!(
            "database_uri = {} in the basic-auth config: rsflow keeps the auth database on \
             SQLite or PostgreSQL only, not MySQL (use sqlite:///basic_auth.db or a \
             postgresql:// database; the tracking store may stay on MySQL)",
            SecretUri::show(&database_uri)
        );
    }
    let admin_username = match lookup("MLFLOW_AUTH_ADMIN_USERNAME") {
        Some(v) => v,
        None => get("admin_username").unwrap_or_default(),
    };
    if admin_username.is_empty() {
        bail!(
            "basic-auth needs an admin_username (in the config file or MLFLOW_AUTH_ADMIN_USERNAME)"
        );
    }
    let admin_password = match lookup("MLFLOW_AUTH_ADMIN_PASSWORD") {
        Some(v) => Some(v),
        None => get("admin_password"),
    }
    .filter(|p| !p.is_empty());
    if let Some(f) = get("authorization_function")
        && f != "mlflow.server.auth:authenticate_request_basic_auth"
    {
        bail!(
            "authorization_function = {f}: rsflow runs only MLflow's HTTP Basic check (use \
             --auth-trusted-header for an SSO proxy)"
        );
    }
    let number = |k: &str, default: u64| -> anyhow::Result<u64> {
        match get(k) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .with_context(|| format!("{k} = {v} is not a whole number")),
        }
    };
    let cache_max_size = number("auth_cache_max_size", 10_000)? as usize;
    // MLflow's default is 0 (off) because its cache is per worker and stale across workers;
    // rsflow is one process and drops cached logins on every password or user change, so it
    // caches for 60 s unless the file says otherwise (0 still turns it off).
    let cache_ttl = Duration::from_secs(number("auth_cache_ttl_seconds", 60)?);
    let trusted_proxies = match trusted_proxies {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| {
                        format!("--auth-trusted-proxies: {s} is not an address or CIDR")
                    })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    let trusted_header = trusted_header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase);
    if trusted_header.is_some() && trusted_proxies.is_empty() {
        bail!(
            "--auth-trusted-header needs --auth-trusted-proxies: the header is honoured only from those peers"
        );
    }
    if let Some(h) = &trusted_header
        && axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        bail!("--auth-trusted-header {h} is not a valid header name");
    }
    Ok(AuthSettings {
        config: AuthConfig {
            default_permission: default_permission_level,
            admin_username,
            cache_max_size,
            cache_ttl,
            trusted_header,
            trusted_proxies,
            ..AuthConfig::default()
        },
        database_uri: SecretUri::new(database_uri),
        admin_password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn ini_and_environment_as_mlflow_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("basic_auth.ini");
        std::fs::write(
            &path,
            "[mlflow]\ndefault_permission = EDIT\ndatabase_uri = sqlite:///x.db\n\
             admin_username = root\nadmin_password = fromthefile123\nauth_cache_ttl_seconds = 0\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let s = read(&env(&[("MLFLOW_AUTH_CONFIG_PATH", p)]), None, None).unwrap();
        assert_eq!(s.config.default_permission, Perm::Edit);
        assert_eq!(s.config.admin_username, "root");
        assert_eq!(s.admin_password.as_deref(), Some("fromthefile123"));
        assert_eq!(s.config.cache_ttl, Duration::ZERO);
        assert_eq!(s.database_uri.expose(), "sqlite:///x.db");
        // A set environment variable wins even when empty (then: no password).
        let s = read(
            &env(&[
                ("MLFLOW_AUTH_CONFIG_PATH", p),
                ("MLFLOW_AUTH_ADMIN_PASSWORD", ""),
            ]),
            None,
            None,
        )
        .unwrap();
        assert_eq!(s.admin_password, None);
        assert!(!format!("{s:?}").contains("fromthefile"));
        // Defaults: the packaged file.
        let s = read(&env(&[]), None, None).unwrap();
        assert_eq!(s.config.default_permission, Perm::Read);
        assert_eq!(s.database_uri.expose(), "sqlite:///basic_auth.db");
        assert_eq!(s.config.admin_username, "admin");
        assert!(read(&env(&[]), Some("X-User"), None).is_err());
        let s = read(&env(&[]), Some("X-User"), Some("10.0.0.0/8,127.0.0.1")).unwrap();
        assert_eq!(s.config.trusted_proxies.len(), 2);
    }

    #[test]
    fn a_mysql_auth_database_is_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("basic_auth.ini");
        for uri in [
            "mysql://bob:s3cr3t@db.example:3306/auth",
            "mysql+pymysql://bob:s3cr3t@db.example/auth?charset=utf8mb4",
            "MySQL+mysqldb://bob:s3cr3t@db.example/auth",
            "mariadb://bob:s3cr3t@db.example/auth",
        ] {
            std::fs::write(
                &path,
                format!("[mlflow]\ndatabase_uri = {uri}\nadmin_username = a\n"),
            )
            .unwrap();
            let p = path.to_str().unwrap();
            let err = read(&env(&[("MLFLOW_AUTH_CONFIG_PATH", p)]), None, None)
                .unwrap_err()
                .to_string();
            assert!(!err.contains("s3cr3t") && err.contains("bob:***@"), "{err}");
            assert!(
                err.contains("not MySQL") && !err.contains('\n') && !err.contains("  "),
                "{err}"
            );
        }
        for uri in ["postgresql://bob:pw@h/db", "postgresql+psycopg2://h/db"] {
            std::fs::write(
                &path,
                format!("[mlflow]\ndatabase_uri = {uri}\nadmin_username = a\n"),
            )
            .unwrap();
            let p = path.to_str().unwrap();
            let s = read(&env(&[("MLFLOW_AUTH_CONFIG_PATH", p)]), None, None).unwrap();
            assert_eq!(s.database_uri.expose(), uri);
        }
    }
}
