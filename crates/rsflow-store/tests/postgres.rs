//! The behaviour suite on PostgreSQL, when `RSFLOW_TEST_PG_URL` names a server whose user may
//! create databases (e.g. `postgresql://postgres@127.0.0.1:15232/postgres`); each test gets a
//! fresh database. Without the variable every test prints why it skipped and returns.

mod common;
#[macro_use]
mod suite;

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

all_suite_tests!(crate::fresh_pg);

/// A PostgreSQL database that `mlflow db upgrade` created opens in place (same revision).
#[tokio::test]
async fn opens_database_created_by_mlflow() {
    let Ok(admin_url) = std::env::var("RSFLOW_TEST_PG_URL") else {
        eprintln!("skipping: RSFLOW_TEST_PG_URL is not set");
        return;
    };
    let Some(venv) = common::reference_venv() else {
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
    suite::search::run_ordering_and_paging(&store).await;
    store.close().await;
}
