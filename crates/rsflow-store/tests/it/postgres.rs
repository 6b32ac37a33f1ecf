//! The behaviour suite on PostgreSQL, when `RSFLOW_TEST_PG_URL` names a server whose user may
//! create databases (e.g. `postgresql://postgres@127.0.0.1:15232/postgres`); each test gets a
//! fresh database. Without the variable every test prints why it skipped and returns.

use rsflow_store::SqlStore;
use sqlx::postgres::PgPool;

/// Drops the per-test database when the test ends.
struct FreshDb {
    admin_url: String,
    name: String,
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // A separate thread: the test's runtime is shutting down when this runs.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = PgPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&pool)
                        .await;
                }
            });
        })
        .join();
    }
}

async fn fresh_pg() -> Option<(FreshDb, SqlStore)> {
    let Ok(admin_url) = std::env::var("RSFLOW_TEST_PG_URL") else {
        eprintln!("skipping: RSFLOW_TEST_PG_URL is not set");
        return None;
    };
    let name = format!("rsflow_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("URL ends with /<database>");
    let store = SqlStore::open(&format!("{base}/{name}"), "/tmp/artifacts")
        .await
        .unwrap();
    Some((FreshDb { admin_url, name }, store))
}

all_suite_tests!(crate::postgres::fresh_pg);

/// A PostgreSQL database that `mlflow db upgrade` created opens in place (same revision).
#[tokio::test]
async fn opens_database_created_by_mlflow() {
    let Ok(admin_url) = std::env::var("RSFLOW_TEST_PG_URL") else {
        eprintln!("skipping: RSFLOW_TEST_PG_URL is not set");
        return;
    };
    let Some(venv) = crate::common::reference_venv() else {
        return;
    };
    let name = format!("rsflow_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let _guard = FreshDb {
        admin_url: admin_url.clone(),
        name: name.clone(),
    };
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let out = std::process::Command::new(venv.join("bin/mlflow"))
        .args(["db", "upgrade"])
        .arg(url.replacen("postgresql://", "postgresql+psycopg2://", 1))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mlflow db upgrade failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = SqlStore::open(&url, "s3://bucket/root").await.unwrap();
    use rsflow_store::TrackingStore;
    let default = store.get_experiment("0").await.unwrap();
    assert_eq!(default.artifact_location, "s3://bucket/root/0");
    let id = store.create_experiment("on-pg", None, &[]).await.unwrap();
    assert_eq!(id, "1");
    store.close().await;
}

/// The optional search indexes: created valid, idempotent, and searches keep their exact order
/// (and paging) with them in place.
#[tokio::test]
async fn search_indexes_keep_results() {
    let Some((db, store)) = fresh_pg().await else {
        return;
    };
    let (base, _) = db.admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{}", db.name);
    rsflow_store::sql::search_indexes::ensure(&url)
        .await
        .unwrap();
    rsflow_store::sql::search_indexes::ensure(&url)
        .await
        .unwrap();
    let pool = PgPool::connect(&url).await.unwrap();
    let valid: Vec<(String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, i.indisvalid FROM pg_class c JOIN pg_index i \
         ON i.indexrelid = c.oid WHERE c.relname LIKE 'rsflow\\_%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(
        valid,
        vec![
            ("rsflow_latest_metrics_key_value".to_string(), true),
            ("rsflow_runs_experiment_start_time".to_string(), true),
        ]
    );
    crate::suite::search::run_ordering_and_paging(&store).await;
    store.close().await;
}

/// A serialization failure that PostgreSQL itself raises (SQLSTATE 40001, from a trigger on
/// the first insert) is retried because of its kind, and the request succeeds; an error that
/// only says the same words is not retried and is a 500.
#[tokio::test]
async fn a_serialization_conflict_is_retried_by_kind() {
    use rsflow_store::TrackingStore as _;
    let Some((db, store)) = fresh_pg().await else {
        return;
    };
    let (base, _) = db.admin_url.rsplit_once('/').unwrap();
    let pool = PgPool::connect(&format!("{base}/{}", db.name))
        .await
        .unwrap();
    // Sequences count attempts: nextval survives the rollback of the failed attempt.
    sqlx::raw_sql(
        "CREATE SEQUENCE conflict_attempts; CREATE SEQUENCE lookalike_attempts;
         CREATE FUNCTION force_conflict() RETURNS trigger AS $$
         BEGIN
           IF NEW.name = 'conflicted' AND nextval('conflict_attempts') = 1 THEN
             RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure';
           END IF;
           IF NEW.name = 'lookalike' THEN
             PERFORM nextval('lookalike_attempts');
             RAISE EXCEPTION 'Database transaction conflict, retry the request';
           END IF;
           RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER force_conflict BEFORE INSERT ON experiments
           FOR EACH ROW EXECUTE FUNCTION force_conflict();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let attempts = |seq: &'static str| {
        let pool = pool.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(&format!("SELECT last_value FROM {seq}"))
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };

    let id = store.create_experiment("conflicted", None, &[]).await;
    assert!(id.is_ok(), "{id:?}");
    assert_eq!(
        attempts("conflict_attempts").await,
        2,
        "one failure, one retry"
    );

    let err = store
        .create_experiment("lookalike", None, &[])
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 500, "{err:?}");
    assert!(matches!(
        err.cause::<rsflow_store::DbError>(),
        Some(rsflow_store::DbError::Other(_))
    ));
    assert_eq!(attempts("lookalike_attempts").await, 1, "not retried");
    pool.close().await;
    store.close().await;
}
