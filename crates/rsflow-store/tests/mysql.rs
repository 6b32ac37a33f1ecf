//! The behaviour suite (traces included) on MySQL / MariaDB, when `RSFLOW_TEST_MYSQL_URL`
//! names a server whose user may create databases (e.g. from `scripts/mariadb.sh env`:
//! `mysql://rsflow:rsflow-secret@127.0.0.1:13306/rsflow`); each test gets a fresh database.
//! Without the variable every test prints why it skipped and returns.

mod common;
#[macro_use]
mod suite;

use rsflow_store::SqlStore;
use sqlx::mysql::MySqlPool;

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
                if let Ok(pool) = MySqlPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                        .execute(&pool)
                        .await;
                }
            });
        })
        .join();
    }
}

fn base(admin_url: &str) -> &str {
    admin_url
        .rsplit_once('/')
        .expect("URL ends with /<database>")
        .0
}

async fn create_db(admin_url: &str) -> String {
    let name = format!("rsflow_{}", uuid::Uuid::new_v4().simple());
    let admin = MySqlPool::connect(admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    name
}

async fn fresh_mysql() -> Option<(FreshDb, SqlStore)> {
    let Ok(admin_url) = std::env::var("RSFLOW_TEST_MYSQL_URL") else {
        eprintln!("skipping: RSFLOW_TEST_MYSQL_URL is not set");
        return None;
    };
    let name = create_db(&admin_url).await;
    let store = SqlStore::open(&format!("{}/{name}", base(&admin_url)), "/tmp/artifacts")
        .await
        .unwrap();
    Some((FreshDb { admin_url, name }, store))
}

// The suite, but for four functions that assert SQLite's and PostgreSQL's case-sensitive
// answers or insertion order, where MySQL (and MLflow on MySQL) differ: `create_and_get`
// (get_experiment_by_name("EXP-A") finds "exp-a" under a case-insensitive collation, as
// MLflow's `name ==` does there), `experiment_search` and `run_ordering_and_paging` (ORDER BY
// name sorts case-insensitively), `logged_model_metrics_in_logging_order` (no insertion-order
// column on InnoDB yet). Dialect-aware versions of these are still to write.
suite_tests!(
    crate::fresh_mysql;
    experiments: [
        default_experiment,
        duplicate_names,
        invalid_and_missing_ids,
        rename,
        delete_restore_cascade,
        tags,
    ];
    runs: [create_run, get_missing_run, update_run, delete_restore_run];
    logging: [
        params,
        batch_is_atomic,
        metrics_and_latest,
        tags,
        inputs_and_outputs,
        dataset_summaries,
        dataset_summaries_cap,
        metric_history,
        bulk_interval,
    ];
    search: [run_filters, run_view_types_and_results];
    traces: [
        start_and_get,
        spans_then_start_trace,
        start_trace_then_spans,
        log_spans_rules,
        token_usage_across_batches,
        span_paging,
        tags_and_v2,
        delete_and_links,
        assessments,
        search,
        metrics,
        large_trace,
    ];
);

/// A MySQL database that `mlflow db upgrade` (PyMySQL) created opens in place, with the
/// Default experiment at id 0 and new experiments counting from 1.
#[tokio::test]
async fn opens_database_created_by_mlflow() {
    let Ok(admin_url) = std::env::var("RSFLOW_TEST_MYSQL_URL") else {
        eprintln!("skipping: RSFLOW_TEST_MYSQL_URL is not set");
        return;
    };
    let Some(venv) = common::reference_venv() else {
        return;
    };
    let name = create_db(&admin_url).await;
    let _guard = FreshDb {
        admin_url: admin_url.clone(),
        name: name.clone(),
    };
    let url = format!("{}/{name}", base(&admin_url));
    let out = std::process::Command::new(venv.join("bin/mlflow"))
        .args(["db", "upgrade"])
        .arg(url.replacen("mysql://", "mysql+pymysql://", 1))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mlflow db upgrade failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = rsflow_store::sql::migrate::check(&url).await.unwrap();
    assert!(report.ok(), "{}", report.render());
    let store = SqlStore::open(&url, "s3://bucket/root").await.unwrap();
    use rsflow_store::TrackingStore;
    let default = store.get_experiment("0").await.unwrap();
    assert_eq!(default.artifact_location, "s3://bucket/root/0");
    let id = store
        .create_experiment("on-mysql", None, &[])
        .await
        .unwrap();
    assert_eq!(id, "1");
    store.close().await;
}

/// A database rsflow created reads as MLflow's schema to `rsflow db check` (same columns,
/// types, collations, index prefixes, keys and trigger), at both heads.
#[tokio::test]
async fn created_schema_checks_clean_at_both_heads() {
    let Ok(admin_url) = std::env::var("RSFLOW_TEST_MYSQL_URL") else {
        eprintln!("skipping: RSFLOW_TEST_MYSQL_URL is not set");
        return;
    };
    for (rev, _) in rsflow_store::sql::CREATABLE_REVISIONS {
        let name = create_db(&admin_url).await;
        let _guard = FreshDb {
            admin_url: admin_url.clone(),
            name: name.clone(),
        };
        let url = format!("{}/{name}", base(&admin_url));
        let store = SqlStore::open_at(&url, "/tmp/a", &Default::default(), rev)
            .await
            .unwrap();
        store.close().await;
        let report = rsflow_store::sql::migrate::check(&url).await.unwrap();
        assert_eq!(report.revision.as_deref(), Some(*rev));
        assert!(report.ok(), "{}", report.render());
    }
}

/// An unknown revision is refused, and the database is left as it was.
#[tokio::test]
async fn unknown_revision_is_refused() {
    let Some((db, store)) = fresh_mysql().await else {
        return;
    };
    store.close().await;
    let url = format!("{}/{}", base(&db.admin_url), db.name);
    let pool = MySqlPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE alembic_version SET version_num = 'abc123'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = SqlStore::open(&url, "/tmp/a")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("found version abc123"), "{err}");
}
