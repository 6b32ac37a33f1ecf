//! The store's settings ([`StoreSettings`]: the PostgreSQL pool, `RSFLOW_DB_*`, and SQLite's
//! `RSFLOW_SQLITE_*`, parsed from values the binary's configuration reads once), opening the
//! pool so that start-up errors are the database's own words, and the retry of transactions
//! that lost a race to another writer (another request or another replica).

use std::future::Future;
use std::time::Duration;

use rsflow_core::Result;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions as _, Connection as _};

use super::query::{Dialect, is_conflict};
use super::{SqlStore, StoreOpenError};

/// How the PostgreSQL pool is sized and how long things may take. SQLite ignores these: its
/// single writer and small read pool are part of its concurrency design.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// `RSFLOW_DB_MAX_CONNECTIONS`: connections this process opens at most.
    pub max_connections: u32,
    /// `RSFLOW_DB_MIN_CONNECTIONS`: connections kept open while idle.
    pub min_connections: u32,
    /// `RSFLOW_DB_ACQUIRE_TIMEOUT_SECS`: how long a request waits for a connection (including
    /// reconnecting to a database that went away) before it gets a 503.
    pub acquire_timeout: Duration,
    /// `RSFLOW_DB_CONNECT_TIMEOUT_SECS`: how long the first connection at start-up may take.
    pub connect_timeout: Duration,
    /// `RSFLOW_DB_STATEMENT_TIMEOUT_SECS`: PostgreSQL's `statement_timeout` per session
    /// (0 turns it off); a statement that runs longer fails with a 503.
    pub statement_timeout: Duration,
    /// `RSFLOW_DB_IDLE_TIMEOUT_SECS`: idle connections above the minimum close after this.
    pub idle_timeout: Duration,
    /// `RSFLOW_DB_MAX_LIFETIME_SECS`: connections are replaced after this (0 = never).
    pub max_lifetime: Duration,
    /// `RSFLOW_DB_CONFLICT_RETRIES`: how often a transaction that hit a deadlock,
    /// serialization failure or unique-key race runs again before the client gets a 503.
    pub conflict_retries: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(1800),
            conflict_retries: 5,
        }
    }
}

/// Reads one setting by its variable name; the binary passes the process environment, read
/// once at start, and tests a map.
pub type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

fn number(get: &Lookup<'_>, name: &str, min: u64, max: u64) -> Result<Option<u64>, StoreOpenError> {
    let Some(raw) = get(name) else {
        return Ok(None);
    };
    let bad = || {
        StoreOpenError::Config(format!(
            "Invalid value {raw:?} for {name}: expected a whole number from {min} to {max}"
        ))
    };
    let n: u64 = raw.trim().parse().map_err(|_| bad())?;
    if !(min..=max).contains(&n) {
        return Err(bad());
    }
    Ok(Some(n))
}

impl PoolSettings {
    /// The defaults, overridden by the `RSFLOW_DB_*` settings that are set.
    pub fn from_lookup(get: &Lookup<'_>) -> Result<PoolSettings, StoreOpenError> {
        let mut s = PoolSettings::default();
        let secs = |name: &str, min: u64| -> Result<Option<Duration>, StoreOpenError> {
            Ok(number(get, name, min, 86_400)?.map(Duration::from_secs))
        };
        if let Some(n) = number(get, "RSFLOW_DB_MAX_CONNECTIONS", 1, 10_000)? {
            s.max_connections = n as u32;
        }
        if let Some(n) = number(get, "RSFLOW_DB_MIN_CONNECTIONS", 0, 10_000)? {
            s.min_connections = n as u32;
        }
        if s.min_connections > s.max_connections {
            return Err(StoreOpenError::Config(format!(
                "RSFLOW_DB_MIN_CONNECTIONS ({}) exceeds RSFLOW_DB_MAX_CONNECTIONS ({})",
                s.min_connections, s.max_connections
            )));
        }
        if let Some(d) = secs("RSFLOW_DB_ACQUIRE_TIMEOUT_SECS", 1)? {
            s.acquire_timeout = d;
        }
        if let Some(d) = secs("RSFLOW_DB_CONNECT_TIMEOUT_SECS", 1)? {
            s.connect_timeout = d;
        }
        if let Some(d) = secs("RSFLOW_DB_STATEMENT_TIMEOUT_SECS", 0)? {
            s.statement_timeout = d;
        }
        if let Some(d) = secs("RSFLOW_DB_IDLE_TIMEOUT_SECS", 1)? {
            s.idle_timeout = d;
        }
        if let Some(d) = secs("RSFLOW_DB_MAX_LIFETIME_SECS", 0)? {
            s.max_lifetime = d;
        }
        if let Some(n) = number(get, "RSFLOW_DB_CONFLICT_RETRIES", 0, 100)? {
            s.conflict_retries = n as u32;
        }
        Ok(s)
    }
}

/// `RSFLOW_SQLITE_SYNCHRONOUS`: `full` (the default) fsyncs the WAL at every commit, so an
/// acknowledged write survives an OS crash or power loss, as with MLflow's own SQLite store
/// (rollback journal, `synchronous=FULL`); group commit shares that fsync among concurrent
/// metric writes. `normal` (WAL's usual setting) survives a crash of rsflow but may lose the
/// last commits to a power loss, for about half a millisecond less per write on a fast disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSynchronous {
    #[default]
    Full,
    Normal,
}

impl SqliteSynchronous {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Normal => "NORMAL",
        }
    }
}

/// MLflow waits 20 s for another process's lock; past it the request is a 503 with Retry-After.
const DEFAULT_BUSY_TIMEOUT_MS: u64 = 20_000;

/// Everything about how the store runs that the operator sets.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    /// PostgreSQL's pool (`RSFLOW_DB_*`).
    pub pool: PoolSettings,
    /// `RSFLOW_SQLITE_SYNCHRONOUS`.
    pub sqlite_synchronous: SqliteSynchronous,
    /// `RSFLOW_SQLITE_BUSY_TIMEOUT_MS`: how long SQLite waits for another process's lock.
    pub sqlite_busy_timeout_ms: u64,
    /// `RSFLOW_DB_SEARCH_INDEXES`: create rsflow's optional PostgreSQL search indexes at start.
    pub search_indexes: bool,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            pool: PoolSettings::default(),
            sqlite_synchronous: SqliteSynchronous::Full,
            sqlite_busy_timeout_ms: DEFAULT_BUSY_TIMEOUT_MS,
            search_indexes: false,
        }
    }
}

impl StoreSettings {
    /// The defaults, overridden by the settings that are set.
    pub fn from_lookup(get: &Lookup<'_>) -> Result<StoreSettings, StoreOpenError> {
        let sqlite_synchronous = match get("RSFLOW_SQLITE_SYNCHRONOUS") {
            None => SqliteSynchronous::Full,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "full" => SqliteSynchronous::Full,
                "normal" => SqliteSynchronous::Normal,
                _ => {
                    return Err(StoreOpenError::Config(format!(
                        "Invalid value {v:?} for RSFLOW_SQLITE_SYNCHRONOUS: expected 'full' or 'normal'"
                    )));
                }
            },
        };
        Ok(StoreSettings {
            pool: PoolSettings::from_lookup(get)?,
            sqlite_synchronous,
            // An unparsable value keeps the default, as before.
            sqlite_busy_timeout_ms: get("RSFLOW_SQLITE_BUSY_TIMEOUT_MS")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(DEFAULT_BUSY_TIMEOUT_MS),
            search_indexes: get("RSFLOW_DB_SEARCH_INDEXES").is_some_and(|v| {
                matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
            }),
        })
    }
}

/// Open the PostgreSQL pool. One direct connection first, so that a wrong password, a
/// missing database or a server that is down fails start-up with the server's own message
/// (the pool would retry a refused connection until its timeout and report only that).
pub(crate) async fn open_postgres(
    url: &str,
    settings: &PoolSettings,
) -> Result<AnyPool, StoreOpenError> {
    let opts: AnyConnectOptions = url.parse()?;
    let probe = tokio::time::timeout(settings.connect_timeout, opts.connect())
        .await
        .map_err(|_| {
            StoreOpenError::Database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no connection within {}s (RSFLOW_DB_CONNECT_TIMEOUT_SECS)",
                    settings.connect_timeout.as_secs()
                ),
            )))
        })??;
    let _ = probe.close().await;
    let statement_timeout_ms = settings.statement_timeout.as_millis();
    let pool = AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Some(settings.idle_timeout))
        .max_lifetime((!settings.max_lifetime.is_zero()).then_some(settings.max_lifetime))
        .after_connect(move |conn: &mut AnyConnection, _meta| {
            Box::pin(async move {
                // Searches are planned for their values (`Sql::search_query`); every other
                // statement uses PostgreSQL's default plan caching.
                let set = format!("SET statement_timeout = {statement_timeout_ms}");
                sqlx::Executor::execute(&mut *conn, set.as_str()).await?;
                Ok(())
            })
        })
        .connect_lazy_with(opts);
    Ok(pool)
}

/// The session settings every MySQL connection runs with: the store's SQL is written once for
/// every dialect, so the session reads it the standard way (`"..."` quotes identifiers, `||`
/// concatenates (sqlx sets PIPES_AS_CONCAT), a backslash in a literal is a plain character),
/// accepts experiment id 0 (MLflow's Default experiment, as MLflow's own session does with
/// NO_AUTO_VALUE_ON_ZERO), and sees other transactions' commits as PostgreSQL's default
/// isolation does (the store takes row locks where it reads to write).
const MYSQL_SESSION: &str = "SET SESSION sql_mode = (SELECT CONCAT(@@sql_mode, \
     ',ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES,NO_AUTO_VALUE_ON_ZERO'))";
const MYSQL_ISOLATION: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// Open the MySQL / MariaDB pool, probing one connection first as [`open_postgres`] does.
/// The statement timeout is MariaDB's `max_statement_time` (every statement) or MySQL's
/// `max_execution_time` (SELECTs).
pub(crate) async fn open_mysql(
    url: &str,
    settings: &PoolSettings,
) -> Result<AnyPool, StoreOpenError> {
    let opts: AnyConnectOptions = url.parse()?;
    let probe = tokio::time::timeout(settings.connect_timeout, opts.connect())
        .await
        .map_err(|_| {
            StoreOpenError::Database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no connection within {}s (RSFLOW_DB_CONNECT_TIMEOUT_SECS)",
                    settings.connect_timeout.as_secs()
                ),
            )))
        })??;
    let _ = probe.close().await;
    let timeout = settings.statement_timeout;
    let pool = AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Some(settings.idle_timeout))
        .max_lifetime((!settings.max_lifetime.is_zero()).then_some(settings.max_lifetime))
        .after_connect(move |conn: &mut AnyConnection, _meta| {
            Box::pin(async move {
                sqlx::Executor::execute(&mut *conn, MYSQL_SESSION).await?;
                sqlx::Executor::execute(&mut *conn, MYSQL_ISOLATION).await?;
                let version: String = sqlx::Row::get(
                    &sqlx::Executor::fetch_one(&mut *conn, "SELECT CAST(VERSION() AS CHAR)")
                        .await?,
                    0,
                );
                let set = if version.contains("MariaDB") {
                    format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64())
                } else {
                    format!("SET SESSION max_execution_time = {}", timeout.as_millis())
                };
                sqlx::Executor::execute(&mut *conn, set.as_str()).await?;
                Ok(())
            })
        })
        .connect_lazy_with(opts);
    Ok(pool)
}

impl SqlStore {
    /// Run a whole request again when it lost a race that a fresh transaction resolves
    /// (deadlock, serialization failure, lock wait timeout, a unique key another writer took
    /// first): PostgreSQL and MySQL writers run concurrently, within and across processes. SQLite serialises writers, so
    /// there the request runs once, as before.
    pub(crate) async fn retrying<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if self.dialect == Dialect::Sqlite {
            return f().await;
        }
        let mut attempt = 0u32;
        loop {
            match f().await {
                Err(e) if is_conflict(&e) && attempt < self.conflict_retries => {
                    attempt += 1;
                    // Jittered, growing pauses so that the racers do not meet again.
                    let cap = 10u64 << attempt.min(6);
                    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=cap))).await;
                    tracing::debug!(attempt, error = %e.message, "retrying after a conflict");
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_bounded() {
        let s = PoolSettings::default();
        assert_eq!(s.max_connections, 10);
        assert_eq!(s.acquire_timeout, Duration::from_secs(10));
        assert!(s.statement_timeout > Duration::ZERO);
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let get = |k: &str| (k == "X").then(|| "abc".to_owned());
        let err = number(&get, "X", 0, 10).unwrap_err().to_string();
        assert!(err.starts_with("Invalid value"), "{err}");
        assert!(
            err.contains("for X: expected a whole number from 0 to 10"),
            "{err}"
        );
        assert_eq!(number(&get, "Y", 0, 10).unwrap(), None);
    }

    #[test]
    fn settings_from_values() {
        let none = |_: &str| None;
        assert_eq!(
            StoreSettings::from_lookup(&none).unwrap(),
            StoreSettings::default()
        );
        let get = |k: &str| {
            match k {
                "RSFLOW_SQLITE_SYNCHRONOUS" => Some("Normal"),
                "RSFLOW_SQLITE_BUSY_TIMEOUT_MS" => Some("2000"),
                "RSFLOW_DB_SEARCH_INDEXES" => Some("true"),
                "RSFLOW_DB_MAX_CONNECTIONS" => Some("3"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let s = StoreSettings::from_lookup(&get).unwrap();
        assert_eq!(s.sqlite_synchronous, SqliteSynchronous::Normal);
        assert_eq!(s.sqlite_busy_timeout_ms, 2000);
        assert!(s.search_indexes);
        assert_eq!(s.pool.max_connections, 3);
        let bad = |k: &str| (k == "RSFLOW_SQLITE_SYNCHRONOUS").then(|| "off".to_owned());
        assert!(StoreSettings::from_lookup(&bad).is_err());
    }
}
