//! Optional PostgreSQL indexes for `search_runs` (`RSFLOW_DB_SEARCH_INDEXES=1`), which
//! MLflow's schema lacks: with them the first page of a search ordered by `start_time` or by
//! a metric is read in index order and stops early instead of sorting every run.
//!
//! They are additive and harmless to MLflow: named `rsflow_*` (no clash with alembic's
//! names), on fixed-width columns only (a varchar(8000) value could exceed a b-tree entry and
//! make MLflow's inserts fail), created `CONCURRENTLY` (writers are not blocked), and nothing
//! depends on them: searches return the same rows without them. `DROP INDEX` removes them.

use sqlx::{AnyConnection, ConnectOptions as _, Connection as _, Row as _};

use super::StoreOpenError;

/// Name and definition of each index.
pub const SEARCH_INDEXES: &[(&str, &str)] = &[
    (
        "rsflow_runs_experiment_start_time",
        "ON runs (experiment_id, start_time, run_uuid)",
    ),
    (
        "rsflow_latest_metrics_key_value",
        "ON latest_metrics (key, is_nan, value DESC, run_uuid)",
    ),
];

/// Session advisory lock key, so that replicas starting together build each index once.
const LOCK_KEY: i64 = 72_570_311;

/// Create the missing indexes (and rebuild ones a failed concurrent build left invalid), on a
/// connection of their own: `CREATE INDEX CONCURRENTLY` cannot run in a transaction, and may
/// outlast the pool's statement timeout.
pub async fn ensure(url: &str) -> Result<(), StoreOpenError> {
    let opts: sqlx::any::AnyConnectOptions = url.parse()?;
    let mut conn: AnyConnection = opts.connect().await?;
    sqlx::raw_sql("SET statement_timeout = 0")
        .execute(&mut conn)
        .await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut conn)
        .await?;
    let result = create_missing(&mut conn).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    result
}

async fn create_missing(conn: &mut AnyConnection) -> Result<(), StoreOpenError> {
    for (name, definition) in SEARCH_INDEXES {
        let valid: Option<bool> = sqlx::query(
            "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
             WHERE c.relname = $1 AND c.relnamespace = CAST(current_schema() AS regnamespace)",
        )
        .bind(*name)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        match valid {
            Some(true) => continue,
            Some(false) => {
                sqlx::raw_sql(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                    .execute(&mut *conn)
                    .await?;
            }
            None => {}
        }
        tracing::info!(
            index = name,
            "creating search index (RSFLOW_DB_SEARCH_INDEXES)"
        );
        sqlx::raw_sql(&format!("CREATE INDEX CONCURRENTLY {name} {definition}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
