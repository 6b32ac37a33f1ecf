//! The SQL [`TrackingStore`](crate::TrackingStore) on MLflow's own schema, through sqlx's `Any`
//! driver so that PostgreSQL can reuse every statement.
//!
//! # Layout
//! - [`uri`]: backend URIs and MLflow's artifact-URI joining rules.
//! - `schema`: the embedded reference DDL and the revision check.
//! - `query`: `$N` statement builder, dialect switches, error mapping.
//! - `experiments`, `runs` (+ `run_data` for loading a run's children), `logging` (batch
//!   writes), `inputs` (datasets, model inputs/outputs), `metrics` (history, sampling),
//!   `search`: the trait methods by area.
//! - `registry`, `registry_rows`, `registry_search`, `registry_rules`: the [`ModelRegistryStore`](crate::ModelRegistryStore).
//! - `logged_models`, `logged_model_search`: the [`LoggedModelStore`](crate::LoggedModelStore).
//! - `datasets`, `scorers` (+ `genai` for the trait): the [`GenAiStore`](crate::GenAiStore).
//! - `traces` (+ `traces_spans`, `traces_assessments`, `traces_search`, `traces_metrics`): the
//!   [`TraceStore`](crate::TraceStore).
//! - `webhooks`: the [`WebhookStore`](crate::WebhookStore).
//!
//! # Concurrency on SQLite
//! SQLite allows one writer at a time. Two pools keep that explicit: a write pool with exactly
//! one connection, where every write runs in `BEGIN IMMEDIATE` (the write lock is taken before
//! the first read, so read-modify-write sequences such as "latest metric" or "param already
//! logged?" can never interleave or fail to upgrade), and a read pool whose connections see the
//! last committed state through WAL while the writer works. Writers queue on the pool instead
//! of spinning on `SQLITE_BUSY`; `busy_timeout` covers other processes (e.g. `mlflow server` on
//! the same file). Nothing is lost because no two transactions ever write concurrently.

mod artifact_index;
mod auth;
mod checkpoint;
mod datasets;
mod experiments;
mod gc;
mod genai;
mod group_commit;
mod inputs;
mod integrity;
mod labeling;
mod logged_model_search;
mod logged_models;
mod logging;
mod metrics;
pub mod migrate;
mod pool;
mod query;
mod registry;
mod registry_rows;
mod registry_rules;
mod registry_search;
mod run_data;
mod runs;
mod schema;
mod scorers;
mod search;
pub mod search_indexes;
mod traces;
mod traces_assessments;
mod traces_metrics;
mod traces_search;
mod traces_spans;
pub mod uri;
mod webhooks;

use std::time::Duration;

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::wire::{
    DatasetInput, DatasetSummary, Experiment, ExperimentTag, Metric, ModelInput, ModelOutput, Page,
    Param, Run, RunInfo, RunStatus, RunTag,
};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Transaction};

pub use auth::SqlAuthStore;
pub use integrity::ErrorFlavor;
pub use pool::{Lookup, PoolSettings, SqliteSynchronous, StoreSettings};
pub use query::Dialect;
pub use schema::{
    ALEMBIC_HEAD, ALEMBIC_HEAD_3_18, CREATABLE_REVISIONS, POSTGRES_SCHEMA, POSTGRES_SCHEMA_3_18,
    SQLITE_SCHEMA, SQLITE_SCHEMA_3_18, SUPPORTED_REVISIONS, schema_ddl,
};

/// The statements of the embedded SQLite schema, in creation order, as they appear in
/// `sqlite_master` (the last one inserts the alembic revision).
pub fn schema_statements() -> Vec<&'static str> {
    schema::statements(SQLITE_SCHEMA)
}
use uri::BackendTarget;

use crate::{BulkIntervalQuery, CreateRun, SearchExperiments, SearchRuns, TrackingStore};

/// Why a backend store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    #[error("{0}")]
    InvalidUri(String),
    #[error("{0}")]
    Config(String),
    #[error("Unsupported backend store: {0}")]
    Unsupported(String),
    #[error("Database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "Detected unsupported database schema (found version {}, but this build supports {}). \
         rsflow serves MLflow 3.17.2's and 3.18.0's schemas; 'rsflow db check <database_uri>' \
         tells what the database holds, and 'mlflow db upgrade <database_uri>' with \
         mlflow==3.17.2 or 3.18.0 migrates an older one (take a backup first).",
        found.as_deref().unwrap_or("None"),
        SUPPORTED_REVISIONS.join(", ")
    )]
    Revision { found: Option<String> },
    #[error(
        "The database has tables but no alembic_version table, so it is not an MLflow database \
         (or its schema version is unknown). Supported revisions: {}.",
        SUPPORTED_REVISIONS.join(", ")
    )]
    Unversioned,
    #[error(
        "Cannot disable workspaces because experiments exist outside the default workspace \
         (i.e., assigned to non-default workspaces). Enable workspace support \
         (MLFLOW_ENABLE_WORKSPACES=true) or move those experiments back to the default \
         workspace before starting the tracking store in single-tenant mode."
    )]
    Workspaces,
    #[error("Could not create the Default experiment: {}", .0.message)]
    DefaultExperiment(rsflow_core::MlflowError),
}

/// MLflow's per-session pragmas (FKs on, case-sensitive LIKE; the busy wait and `synchronous`
/// are added per pool, see [`SqliteSynchronous`]). The writer's auto-checkpoint threshold
/// is raised because a background task checkpoints (`checkpoint`). The writer keeps 16 MiB of
/// pages (SQLite's default is 2 MiB) for the index pages that inserts touch; a cache, once
/// filled, stays resident for the life of the process, and the OS page cache holds the rest
/// of the file anyway.
const WRITE_PRAGMAS: &str = "PRAGMA foreign_keys = ON; \
     PRAGMA case_sensitive_like = ON; PRAGMA cache_size = -16384;";
/// The same for readers, which also refuse to write.
const READ_PRAGMAS: &str = "PRAGMA foreign_keys = ON; \
     PRAGMA case_sensitive_like = ON; PRAGMA query_only = ON;";
/// Read connections: reads run in parallel under WAL.
const READ_POOL_SIZE: u32 = 4;
/// SQLite's own driver's connections for searches (see [`SqliteSearch`]), and the rows
/// its worker thread hands over before it waits (sqlx's default is 50; a search page has up
/// to 100 by default).
const SEARCH_POOL_SIZE: u32 = 2;
const SEARCH_ROW_BUFFER: usize = 128;

/// MLflow's tracking store on an SQL database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    write: AnyPool,
    read: AnyPool,
    /// SQLite files: the pool of SQLite's own driver that trace searches read through.
    sqlite_search: Option<std::sync::Arc<SqliteSearch>>,
    dialect: Dialect,
    /// How often a PostgreSQL transaction that lost a race runs again.
    conflict_retries: u32,
    /// Whose words MLflow would quote a unique-key violation in, for this URI.
    error_flavor: ErrorFlavor,
    /// `--default-artifact-root`, resolved like MLflow does (relative paths made absolute).
    artifact_root: String,
    /// SQLite files: the background WAL checkpoint task, stopped with the last clone.
    checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
    /// SQLite: the writer task that commits concurrent metric logging in groups.
    group_writer: Option<std::sync::Arc<group_commit::GroupWriter>>,
    /// SQLite: the writer task that commits concurrent `log_spans` requests in groups.
    span_writer: Option<std::sync::Arc<group_commit::SpanWriter>>,
    /// SQLite files: `<database>-rsflow-gc.lock`, locked while a gc pass runs.
    gc_lock_path: Option<std::path::PathBuf>,
    /// Whether `rsflow_artifact_index` is known to exist (it is never dropped by rsflow).
    artifact_index: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// SQLite creates a missing database file but not its directory, and then says only "unable
/// to open database file". Name the directory instead, and how the URI's slashes place it:
/// `sqlite:///a/b.db` is relative to the working directory, as in MLflow.
fn check_sqlite_dir(path: &std::path::Path) -> Result<(), StoreOpenError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(()),
    };
    if dir.is_dir() {
        return Ok(());
    }
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    Err(StoreOpenError::Config(format!(
        "Cannot open the SQLite database {}: the directory {} does not exist. \
         sqlite:///relative/path.db is relative to the working directory, \
         sqlite:////absolute/path.db is absolute.",
        path.display(),
        shown.display()
    )))
}

/// Switching a file to WAL rewrites its header, so a database that will be refused (unknown
/// revision, no alembic table, other workspaces) is checked first through a read-only
/// connection and left exactly as it was found. Files already in WAL mode (every file rsflow
/// or MLflow's server opened before) do not change by the switch and are checked as usual.
async fn refuse_before_changing(path: &std::path::Path) -> Result<(), StoreOpenError> {
    let mut header = [0u8; 100];
    let read = std::fs::File::open(path).and_then(|mut f| {
        use std::io::Read as _;
        f.read_exact(&mut header)
    });
    // Missing, empty or not SQLite (SQLite's own error follows), or already WAL (bytes 18
    // and 19, the read and write versions, are 2 in WAL mode).
    if read.is_err() || !header.starts_with(b"SQLite format 3\0") || header[18] == 2 {
        return Ok(());
    }
    let opts: AnyConnectOptions = sqlite_url(path, "ro").parse()?;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?;
    let checked = async {
        let mut tx = pool.begin().await?;
        let verdict = schema::refuse_unservable(&mut tx, Dialect::Sqlite).await;
        tx.rollback().await?;
        verdict
    }
    .await;
    pool.close().await;
    checked
}

fn sqlite_url(path: &std::path::Path, mode: &str) -> String {
    // sqlx percent-decodes the path, so every byte outside a safe set is encoded.
    let mut enc = String::new();
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~') {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("sqlite://{enc}?mode={mode}")
}

/// The pragmas every SQLite connection of a pool runs first.
fn sqlite_pragmas(read_only: bool, settings: &StoreSettings) -> std::sync::Arc<str> {
    let busy_ms = settings.sqlite_busy_timeout_ms;
    let synchronous = settings.sqlite_synchronous.pragma();
    let base = if read_only {
        READ_PRAGMAS
    } else {
        WRITE_PRAGMAS
    };
    let checkpoint = if read_only {
        String::new()
    } else {
        format!(
            " PRAGMA synchronous = {synchronous}; PRAGMA wal_autocheckpoint = {}; \
             PRAGMA journal_size_limit = {};",
            checkpoint::WRITER_AUTOCHECKPOINT_PAGES,
            checkpoint::WAL_SIZE_LIMIT_BYTES
        )
    };
    format!("{base} PRAGMA busy_timeout = {busy_ms};{checkpoint}").into()
}

/// How long a request waits for an SQLite connection. Writers queue there while one waits on
/// another process's lock: the queue is bounded too.
fn sqlite_acquire_timeout(settings: &StoreSettings) -> Duration {
    Duration::from_millis(settings.sqlite_busy_timeout_ms.saturating_mul(2).max(5_000))
}

fn sqlite_pool(max: u32, read_only: bool, settings: &StoreSettings) -> AnyPoolOptions {
    let pragmas = sqlite_pragmas(read_only, settings);
    AnyPoolOptions::new()
        .max_connections(max)
        // A local file's connection cannot go stale between requests, and sqlx already pings
        // it when it comes back to the pool: a second ping on the way out is one more round
        // trip to SQLite's worker thread per request.
        .test_before_acquire(false)
        .acquire_timeout(sqlite_acquire_timeout(settings))
        .after_connect(move |conn, _meta| run_pragmas(conn, pragmas.clone()))
}

/// A pool's `after_connect`: run `pragmas` on the new connection (either driver's).
fn run_pragmas<C>(
    conn: &mut C,
    pragmas: std::sync::Arc<str>,
) -> std::pin::Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>>
where
    C: Send,
    for<'e> &'e mut C: sqlx::Executor<'e>,
{
    Box::pin(async move {
        sqlx::Executor::execute(&mut *conn, &*pragmas).await?;
        Ok(())
    })
}

/// Close `pool` and every connection of it. sqlx's `close` waits until no connection is checked
/// out, but a connection that was on its way back then (a query had just ended) reaches the idle
/// queue after `close` looked at it and stays open until the pool is dropped: a second `close`
/// closes it. (For SQLite that open handle kept the file from changing journal mode right after
/// the store closed.)
async fn close_pool<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) {
    pool.close().await;
    pool.close().await;
}

/// SQLite's own driver, for the reads that return many rows (trace searches): the `Any` driver
/// copies every value of every row once more, with the column names. Read-only connections
/// with the read pool's pragmas, opened on first use; a page of rows comes back whole.
///
/// One connection is kept out of the pool between searches: a connection going back to an
/// sqlx pool is pinged first (one more round trip to its worker thread, from a task spawned
/// for it). A search that finds it taken, by a concurrent search, uses the pool.
#[derive(Debug)]
pub(crate) struct SqliteSearch {
    pool: sqlx::SqlitePool,
    held: tokio::sync::Mutex<Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>>,
}

impl SqliteSearch {
    fn open(path: &std::path::Path, settings: &StoreSettings) -> Result<Self, StoreOpenError> {
        let opts: sqlx::sqlite::SqliteConnectOptions = sqlite_url(path, "rw").parse()?;
        let pragmas = sqlite_pragmas(true, settings);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(SEARCH_POOL_SIZE)
            .test_before_acquire(false)
            .acquire_timeout(sqlite_acquire_timeout(settings))
            .after_connect(move |conn, _meta| run_pragmas(conn, pragmas.clone()))
            .connect_lazy_with(opts.row_buffer_size(SEARCH_ROW_BUFFER));
        Ok(SqliteSearch {
            pool,
            held: tokio::sync::Mutex::new(None),
        })
    }

    /// The rows of `sql`, on the held connection when it is free. The connection is put back
    /// only after a query that completed: one that failed, or whose search was dropped half-way,
    /// goes back to the pool, which checks it.
    pub(crate) async fn fetch_all(
        &self,
        sql: &query::Sql,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error> {
        if let Ok(mut slot) = self.held.try_lock() {
            let mut conn = match slot.take() {
                Some(c) => c,
                None => self.pool.acquire().await?,
            };
            let rows = sql.sqlite_query().fetch_all(&mut *conn).await?;
            *slot = Some(conn);
            return Ok(rows);
        }
        let mut conn = self.pool.acquire().await?;
        sql.sqlite_query().fetch_all(&mut *conn).await
    }

    async fn close(&self) {
        drop(self.held.lock().await.take());
        close_pool(&self.pool).await;
    }
}

impl SqlStore {
    /// Open (creating if empty) the database at an MLflow backend store URI, with the default
    /// [`StoreSettings`].
    pub async fn open(uri: &str, default_artifact_root: &str) -> Result<SqlStore, StoreOpenError> {
        Self::open_with(uri, default_artifact_root, &StoreSettings::default()).await
    }

    /// [`SqlStore::open`] with the operator's settings.
    pub async fn open_with(
        uri: &str,
        default_artifact_root: &str,
        settings: &StoreSettings,
    ) -> Result<SqlStore, StoreOpenError> {
        Self::open_at(uri, default_artifact_root, settings, ALEMBIC_HEAD).await
    }

    /// [`SqlStore::open_with`], creating an empty database at `create_revision` (one of
    /// [`CREATABLE_REVISIONS`]) instead of the 3.17.2 head. An existing database is served at
    /// the revision it has, if supported; it is never migrated.
    pub async fn open_at(
        uri: &str,
        default_artifact_root: &str,
        settings: &StoreSettings,
        create_revision: &str,
    ) -> Result<SqlStore, StoreOpenError> {
        sqlx::any::install_default_drivers();
        let target = uri::parse_backend_uri(uri).map_err(StoreOpenError::InvalidUri)?;
        let artifact_root = uri::resolve_uri_if_local(default_artifact_root);
        let mut pg_url = None;
        let mut checkpointer = None;
        let mut gc_lock_path = None;
        let mut sqlite_search = None;
        let (write, read, dialect) = match target {
            BackendTarget::SqliteFile(path) => {
                check_sqlite_dir(&path)?;
                let mut lock = path.clone().into_os_string();
                lock.push("-rsflow-gc.lock");
                gc_lock_path = Some(lock.into());
                refuse_before_changing(&path).await?;
                let opts: AnyConnectOptions = sqlite_url(&path, "rwc").parse()?;
                let write = sqlite_pool(1, false, settings).connect_with(opts).await?;
                // WAL is a property of the file: set it once, before any reader connects.
                sqlx::raw_sql("PRAGMA journal_mode = WAL")
                    .execute(&write)
                    .await?;
                let opts: AnyConnectOptions = sqlite_url(&path, "rw").parse()?;
                let read =
                    sqlite_pool(READ_POOL_SIZE, true, settings).connect_lazy_with(opts.clone());
                checkpointer = Some(checkpoint::spawn(opts, settings.sqlite_busy_timeout_ms));
                sqlite_search = Some(std::sync::Arc::new(SqliteSearch::open(&path, settings)?));
                (write, read, Dialect::Sqlite)
            }
            BackendTarget::SqliteMemory => {
                // One connection that never closes holds the whole in-memory database.
                let opts: AnyConnectOptions = "sqlite::memory:".parse()?;
                let pool = sqlite_pool(1, false, settings)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(opts)
                    .await?;
                (pool.clone(), pool, Dialect::Sqlite)
            }
            BackendTarget::Postgres(url) => {
                // PostgreSQL has row locks and MVCC: one pool serves reads and writes.
                let pool = pool::open_postgres(&url, &settings.pool).await?;
                pg_url = Some(url);
                (pool.clone(), pool, Dialect::Postgres)
            }
            BackendTarget::Mysql(url) => {
                // InnoDB too: one pool.
                let pool = pool::open_mysql(&url, &settings.pool).await?;
                (pool.clone(), pool, Dialect::Mysql)
            }
        };
        let group_writer =
            (dialect == Dialect::Sqlite).then(|| group_commit::GroupWriter::spawn(write.clone()));
        let span_writer =
            (dialect == Dialect::Sqlite).then(|| group_commit::SpanWriter::spawn(write.clone()));
        let store = SqlStore {
            write,
            read,
            sqlite_search,
            dialect,
            conflict_retries: settings.pool.conflict_retries,
            error_flavor: ErrorFlavor::for_uri(uri),
            artifact_root,
            checkpointer,
            group_writer,
            span_writer,
            gc_lock_path,
            artifact_index: Default::default(),
        };
        if let Err(e) = store.initialize(create_revision).await {
            // A refused database is let go of at once: no connection (or the rollback of the
            // refused transaction) outlives the refusal.
            store.close().await;
            return Err(e);
        }
        if let Some(url) = pg_url
            && settings.search_indexes
        {
            search_indexes::ensure(&url).await?;
        }
        Ok(store)
    }

    /// Schema, revision and the Default experiment, in one write transaction so that two
    /// servers starting on the same empty file cannot both create the schema.
    async fn initialize(&self, create_revision: &str) -> Result<(), StoreOpenError> {
        if self.dialect == Dialect::Mysql {
            // MySQL commits DDL at once and has no transaction-scoped advisory lock: a named
            // lock, held on a connection of its own until the schema and the Default
            // experiment are committed, keeps two starting servers apart.
            let mut lock = self.write.acquire().await?;
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK('rsflow_initialize', 60)")
                .fetch_one(&mut *lock)
                .await?;
            if got != Some(1) {
                return Err(StoreOpenError::Config(
                    "Another server has been initializing this MySQL database for 60 s \
                     (named lock rsflow_initialize)"
                        .into(),
                ));
            }
            let done = self.initialize_tx(create_revision).await;
            let _ = sqlx::query("SELECT RELEASE_LOCK('rsflow_initialize')")
                .execute(&mut *lock)
                .await;
            return done;
        }
        self.initialize_tx(create_revision).await
    }

    async fn initialize_tx(&self, create_revision: &str) -> Result<(), StoreOpenError> {
        let mut tx = self.write.begin_with(self.dialect.begin_write()).await?;
        if self.dialect == Dialect::Postgres {
            // PostgreSQL DDL does not take the table locks SQLite's BEGIN IMMEDIATE does.
            sqlx::query("SELECT pg_advisory_xact_lock(72570310)")
                .execute(&mut *tx)
                .await?;
        }
        schema::ensure(&mut tx, self.dialect, create_revision).await?;
        schema::check_workspaces(&mut tx).await?;
        experiments::ensure_default_experiment(&mut tx, &self.artifact_root)
            .await
            .map_err(StoreOpenError::DefaultExperiment)?;
        tx.commit().await?;
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The resolved `--default-artifact-root`.
    pub fn artifact_root(&self) -> &str {
        &self.artifact_root
    }

    /// Close both pools (waits for in-flight queries).
    pub async fn close(&self) {
        if let Some(c) = &self.checkpointer {
            c.close().await;
        }
        if let Some(g) = &self.group_writer {
            g.stop();
        }
        if let Some(w) = &self.span_writer {
            w.stop();
        }
        close_pool(&self.write).await;
        close_pool(&self.read).await;
        if let Some(s) = &self.sqlite_search {
            s.close().await;
        }
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Any>> {
        self.write
            .begin_with(self.dialect.begin_write())
            .await
            .map_err(query::db_err)
    }

    /// A read transaction: several queries that must see one snapshot.
    async fn read_tx(&self) -> Result<Transaction<'static, Any>> {
        self.read.begin().await.map_err(query::db_err)
    }
}

#[async_trait]
impl TrackingStore for SqlStore {
    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[ExperimentTag],
    ) -> Result<String> {
        self.retrying(|| self.create_experiment_impl(name, artifact_location, tags))
            .await
    }
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        self.get_experiment_impl(experiment_id).await
    }
    async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        self.get_experiment_by_name_impl(name).await
    }
    async fn search_experiments(&self, query: &SearchExperiments) -> Result<Page<Experiment>> {
        self.search_experiments_impl(query).await
    }
    async fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        self.retrying(|| self.delete_experiment_impl(experiment_id))
            .await
    }
    async fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
        self.retrying(|| self.restore_experiment_impl(experiment_id))
            .await
    }
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()> {
        self.retrying(|| self.rename_experiment_impl(experiment_id, new_name))
            .await
    }
    async fn set_experiment_tag(&self, experiment_id: &str, tag: &ExperimentTag) -> Result<()> {
        self.retrying(|| self.set_experiment_tag_impl(experiment_id, tag))
            .await
    }
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        self.retrying(|| self.delete_experiment_tag_impl(experiment_id, key))
            .await
    }

    async fn create_run(&self, run: CreateRun) -> Result<Run> {
        self.retrying(|| self.create_run_impl(run.clone())).await
    }
    async fn get_run(&self, run_id: &str) -> Result<Run> {
        self.get_run_impl(run_id).await
    }
    async fn update_run(
        &self,
        run_id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo> {
        self.retrying(|| self.update_run_impl(run_id, status, end_time, run_name))
            .await
    }
    async fn delete_run(&self, run_id: &str) -> Result<()> {
        self.retrying(|| self.delete_run_impl(run_id)).await
    }
    async fn restore_run(&self, run_id: &str) -> Result<()> {
        self.retrying(|| self.restore_run_impl(run_id)).await
    }
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        if let Some(g) = &self.group_writer
            && params.is_empty()
            && tags.is_empty()
            && !metrics.is_empty()
        {
            return g.log_metrics(run_id, metrics).await;
        }
        self.retrying(|| self.log_batch_impl(run_id, metrics, params, tags, false))
            .await
    }
    async fn log_param(&self, run_id: &str, param: &Param) -> Result<()> {
        self.retrying(|| self.log_batch_impl(run_id, &[], std::slice::from_ref(param), &[], true))
            .await
    }
    async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        self.retrying(|| self.delete_tag_impl(run_id, key)).await
    }
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()> {
        self.retrying(|| self.log_inputs_impl(run_id, datasets, models))
            .await
    }
    async fn log_outputs(&self, run_id: &str, models: &[ModelOutput]) -> Result<()> {
        self.retrying(|| self.log_outputs_impl(run_id, models))
            .await
    }
    async fn get_metric_history(
        &self,
        run_id: &str,
        metric_key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<Metric>> {
        self.get_metric_history_impl(run_id, metric_key, max_results, page_token)
            .await
    }
    async fn get_metric_history_bulk_interval(
        &self,
        query: &BulkIntervalQuery,
    ) -> Result<Vec<Metric>> {
        self.get_metric_history_bulk_interval_impl(query).await
    }
    async fn search_runs(&self, query: &SearchRuns) -> Result<Page<Run>> {
        self.search_runs_impl(query).await
    }
    async fn search_dataset_summaries(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<DatasetSummary>> {
        self.search_dataset_summaries_impl(experiment_ids).await
    }

    fn pool_stats(&self) -> crate::PoolStats {
        let stat = |name, pool: &AnyPool| {
            (
                name,
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                pool.options().get_max_connections(),
            )
        };
        let pools = match self.dialect {
            Dialect::Sqlite => vec![stat("write", &self.write), stat("read", &self.read)],
            Dialect::Postgres | Dialect::Mysql => vec![stat("main", &self.write)],
        };
        crate::PoolStats {
            pools,
            writer_queue: self.group_writer.as_ref().map(|g| g.queued()),
        }
    }

    fn store_type(&self) -> &'static str {
        "SqlStore"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request dropped mid-transaction (its task cancelled, or an early `?` before commit)
    /// must hand the writer back rolled back: the single SQLite writer would otherwise refuse
    /// every later `BEGIN IMMEDIATE` or, worse, commit the half-done work with the next one.
    #[tokio::test]
    async fn abandoned_write_transactions_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("sqlite:///{}", dir.path().join("db.sqlite").display());
        let store = SqlStore::open(&uri, "/tmp/rsflow-test-artifacts")
            .await
            .unwrap();
        let rename = |name: &'static str| {
            sqlx::query("UPDATE experiments SET name = $1 WHERE experiment_id = 0").bind(name)
        };

        let mut tx = store.write_tx().await.unwrap();
        rename("dropped").execute(&mut *tx).await.unwrap();
        drop(tx);

        let cancelled = async {
            let mut tx = store.write_tx().await?;
            rename("cancelled")
                .execute(&mut *tx)
                .await
                .map_err(query::db_err)?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            tx.commit().await.map_err(query::db_err)
        };
        let timed_out = tokio::time::timeout(Duration::from_millis(200), cancelled).await;
        assert!(timed_out.is_err(), "the transaction must have been cut off");

        // The writer works again, and neither rename happened.
        let id = store.create_experiment("after", None, &[]).await.unwrap();
        assert_eq!(store.get_experiment(&id).await.unwrap().name, "after");
        assert_eq!(store.get_experiment("0").await.unwrap().name, "Default");
    }

    /// Commits are fsynced by default (`RSFLOW_SQLITE_SYNCHRONOUS` unset): FULL is 2.
    #[tokio::test]
    async fn the_writer_syncs_every_commit_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("sqlite:///{}", dir.path().join("db.sqlite").display());
        let store = SqlStore::open(&uri, "/tmp/rsflow-test-artifacts")
            .await
            .unwrap();
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.write)
            .await
            .unwrap();
        assert_eq!(level, 2);
    }
}
