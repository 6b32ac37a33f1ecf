//! The behaviour suite (traces included) on MySQL / MariaDB, when `RSFLOW_TEST_MYSQL_URL`
//! names a server whose user may create databases (e.g. from `scripts/mariadb.sh env`:
//! `mysql://rsflow:rsflow-secret@127.0.0.1:13306/rsflow`); each test gets a fresh database.
//! Without the variable every test prints why it skipped and returns.

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

// The suite; four of its functions assert byte-wise text comparison and insertion order where
// MySQL (and MLflow on MySQL) sorts and looks up under the columns' case-insensitive collation
// and scans InnoDB tables in primary-key order: their MySQL versions are in `collation` below
// (the expectations checked against `mlflow server` on MariaDB in compat/test_mysql_backend.py).
suite_tests!(
    crate::mysql::fresh_mysql;
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

/// The suite functions whose answers depend on the collation, with MySQL's.
mod collation {
    use crate::suite::Collation::CaseInsensitive;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn create_and_get() {
        let Some((_guard, store)) = crate::mysql::fresh_mysql().await else {
            return;
        };
        crate::suite::experiments::create_and_get_under(&store, CaseInsensitive).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn experiment_search() {
        let Some((_guard, store)) = crate::mysql::fresh_mysql().await else {
            return;
        };
        crate::suite::search::experiment_search_under(&store, CaseInsensitive).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_ordering_and_paging() {
        let Some((_guard, store)) = crate::mysql::fresh_mysql().await else {
            return;
        };
        crate::suite::search::run_ordering_and_paging_under(&store, CaseInsensitive).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logged_model_metrics_in_scan_order() {
        let Some((_guard, store)) = crate::mysql::fresh_mysql().await else {
            return;
        };
        crate::suite::logging::logged_model_metrics_in_scan_order(&store, CaseInsensitive).await;
    }
}

/// A MySQL database that `mlflow db upgrade` (PyMySQL) created opens in place, with the
/// Default experiment at id 0 and new experiments counting from 1.
#[tokio::test]
async fn opens_database_created_by_mlflow() {
    let Ok(admin_url) = std::env::var("RSFLOW_TEST_MYSQL_URL") else {
        eprintln!("skipping: RSFLOW_TEST_MYSQL_URL is not set");
        return;
    };
    let Some(venv) = crate::common::reference_venv() else {
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

/// `rsflow db upgrade` takes a 3.17.2-head database to 3.18.0's head with MLflow's MySQL DDL
/// (one commit per step) and the issue_categories data migration: `rsflow db check` then finds
/// MLflow 3.18.0's schema with no drift, the store serves it, and a second run has nothing to do.
/// (compat/test_db_upgrade.py compares the result with `mlflow db upgrade` 3.18.0's own.)
#[tokio::test]
async fn upgrade_from_3172_head_reaches_mlflow_318() {
    use rsflow_store::TrackingStore;
    use rsflow_store::sql::migrate;
    use rsflow_store::sql::{ALEMBIC_HEAD, ALEMBIC_HEAD_3_18};
    let Ok(admin_url) = std::env::var("RSFLOW_TEST_MYSQL_URL") else {
        eprintln!("skipping: RSFLOW_TEST_MYSQL_URL is not set");
        return;
    };
    let name = create_db(&admin_url).await;
    let _guard = FreshDb {
        admin_url: admin_url.clone(),
        name: name.clone(),
    };
    let url = format!("{}/{name}", base(&admin_url));
    let store = SqlStore::open_at(&url, "/tmp/a", &Default::default(), ALEMBIC_HEAD)
        .await
        .unwrap();
    let exp = store.create_experiment("issues", None, &[]).await.unwrap();
    store.close().await;
    let pool = MySqlPool::connect(&url).await.unwrap();
    for (id, categories) in [
        ("i1", Some(r#"["Quality", " quality ", "Grounding"]"#)),
        ("i2", None),
    ] {
        sqlx::query(
            "INSERT INTO issues (issue_id, experiment_id, name, description, status, \
             categories, created_timestamp, last_updated_timestamp) \
             VALUES (?, ?, 'n', 'd', 'open', ?, 7, 8)",
        )
        .bind(id)
        .bind(exp.parse::<i64>().unwrap())
        .bind(categories)
        .execute(&pool)
        .await
        .unwrap();
    }

    let dry = migrate::upgrade(&url, None, true).await.unwrap().0;
    assert_eq!(dry.steps.len(), 3);
    let text = dry.render();
    assert!(text.contains("one commit per step"), "{text}");
    assert!(
        text.contains("ALTER TABLE mcp_server_versions MODIFY version VARCHAR(128) COLLATE utf8mb4_bin NOT NULL"),
        "{text}"
    );
    assert_eq!(
        migrate::check(&url).await.unwrap().revision.as_deref(),
        Some(ALEMBIC_HEAD),
        "a dry run changes nothing"
    );

    let done = migrate::upgrade(&url, None, false).await.unwrap().0;
    assert_eq!((done.steps.len(), done.to.as_str()), (3, ALEMBIC_HEAD_3_18));
    assert_eq!((done.issues_updated, done.categories_written), (2, 2));
    let report = migrate::check(&url).await.unwrap();
    assert_eq!(report.revision.as_deref(), Some(ALEMBIC_HEAD_3_18));
    assert!(report.ok(), "{}", report.render());
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT issue_id, category FROM issue_categories ORDER BY issue_id, category",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            ("i1".to_string(), " quality ".to_string()),
            ("i1".to_string(), "Grounding".to_string()),
        ]
    );
    let seen: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT issue_id, last_seen_timestamp FROM issues ORDER BY issue_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        seen,
        vec![("i1".to_string(), Some(7)), ("i2".to_string(), Some(7))]
    );
    pool.close().await;

    let again = migrate::upgrade(&url, None, false).await.unwrap().0;
    assert!(again.steps.is_empty());
    let store = SqlStore::open(&url, "/tmp/a").await.unwrap();
    assert_eq!(store.get_experiment(&exp).await.unwrap().name, "issues");
    let id = store.create_experiment("after", None, &[]).await.unwrap();
    assert_eq!(id, "2");
    store.close().await;
}
