//! Both schema heads rsflow creates (MLflow 3.17.2's dc11669786a5 and 3.18.0's f4a9b2c7d1e6)
//! against `mlflow db upgrade` of that version, and `rsflow db upgrade` (3.17.2 -> 3.18.0)
//! against MLflow 3.18.0's own, on SQLite and, with `RSFLOW_TEST_PG_URL`, PostgreSQL.
//! SQLite is compared with the normalised sqlite_master of `common::schema_model`, PostgreSQL
//! with `pg_dump --schema-only` of both databases.

mod common;

use std::path::{Path, PathBuf};

use rsflow_store::sql::ALEMBIC_HEAD_3_18;
use rsflow_store::sql::migrate;
use rsflow_store::{ALEMBIC_HEAD, SqlStore, TrackingStore};
use sqlx::postgres::PgPool;

use common::{mlflow_db_upgrade, reference_venv, reference_venv_318, schema_model};

const INTERMEDIATE: [&str; 2] = ["e7d1f4b2a9c6", "8b6ad64cb8f5"];

async fn rsflow_creates(url: &str, revision: &str) {
    let store = SqlStore::open_at(
        url,
        "/tmp/unused",
        &rsflow_store::StoreSettings::default(),
        revision,
    )
    .await
    .unwrap();
    store.close().await;
}

async fn assert_same_sqlite(ours: &Path, theirs: &Path, what: &str) {
    let (ours, theirs) = (schema_model(ours).await, schema_model(theirs).await);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{what}: objects differ"
    );
    for (k, v) in &ours {
        assert_eq!(Some(v), theirs.get(k), "{what}: {k:?} differs");
    }
}

fn sqlite_url(p: &Path) -> String {
    format!("sqlite:///{}", p.display())
}

#[tokio::test]
async fn sqlite_each_head_is_mlflows() {
    let (Some(v3172), Some(v318)) = (reference_venv(), reference_venv_318()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (venv, rev) in [(&v3172, ALEMBIC_HEAD), (&v318, ALEMBIC_HEAD_3_18)] {
        let ours = dir.path().join(format!("ours-{rev}.db"));
        let theirs = dir.path().join(format!("mlflow-{rev}.db"));
        rsflow_creates(&sqlite_url(&ours), rev).await;
        mlflow_db_upgrade(venv, &sqlite_url(&theirs));
        assert_same_sqlite(&ours, &theirs, rev).await;
        let report = migrate::check(&sqlite_url(&theirs)).await.unwrap();
        assert_eq!(report.revision.as_deref(), Some(rev));
        assert!(report.ok(), "{}", report.render());
    }
}

/// rsflow's upgrade of its own 3.17.2 database gives MLflow 3.18.0's schema; each revision on
/// the way is served and checks clean.
#[tokio::test]
async fn sqlite_upgrade_reaches_mlflow_318() {
    let Some(v318) = reference_venv_318() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.db");
    let url = sqlite_url(&ours);
    rsflow_creates(&url, ALEMBIC_HEAD).await;
    let dry = migrate::upgrade(&url, None, true).await.unwrap().0;
    assert_eq!(dry.steps.len(), 3);
    assert_eq!(
        migrate::check(&url).await.unwrap().revision.as_deref(),
        Some(ALEMBIC_HEAD),
        "a dry run changes nothing"
    );
    for rev in INTERMEDIATE.into_iter().chain([ALEMBIC_HEAD_3_18]) {
        let report = migrate::upgrade(&url, Some(rev), false).await.unwrap().0;
        assert_eq!((report.to.as_str(), report.steps.len()), (rev, 1));
        let check = migrate::check(&url).await.unwrap();
        assert!(check.ok(), "{}", check.render());
        let store = SqlStore::open(&url, "/tmp/unused").await.unwrap();
        let id = store
            .create_experiment(&format!("at-{rev}"), None, &[])
            .await
            .unwrap();
        assert_eq!(
            store.get_experiment(&id).await.unwrap().name,
            format!("at-{rev}")
        );
        store.close().await;
    }
    let err = migrate::upgrade(&url, Some(ALEMBIC_HEAD), false)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not downgrade"), "{err}");
    let theirs = dir.path().join("mlflow.db");
    mlflow_db_upgrade(&v318, &sqlite_url(&theirs));
    assert_same_sqlite(&ours, &theirs, "rsflow db upgrade vs mlflow 3.18.0").await;
}

/// An older MLflow revision and an unknown one are reported, not served, and not upgraded.
#[tokio::test]
async fn sqlite_older_and_unknown_revisions_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let url = sqlite_url(&db);
    rsflow_creates(&url, ALEMBIC_HEAD).await;
    let pool = common::raw(&db).await;
    for (rev, words) in [
        ("75868b020152", "older MLflow revision"),
        ("deadbeef0000", "not a revision of MLflow"),
    ] {
        sqlx::query("UPDATE alembic_version SET version_num = ?")
            .bind(rev)
            .execute(&pool)
            .await
            .unwrap();
        let report = migrate::check(&url).await.unwrap();
        assert!(!report.servable && !report.ok());
        assert!(report.render().contains(words), "{}", report.render());
        let err = migrate::upgrade(&url, None, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(rev) && err.contains("mlflow db upgrade"),
            "{err}"
        );
        let err = SqlStore::open(&url, "/tmp/unused")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(rev) && err.contains(ALEMBIC_HEAD_3_18),
            "{err}"
        );
    }
    pool.close().await;
}

// ---- PostgreSQL ----

fn pg_dump_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RSFLOW_PG_DUMP") {
        return PathBuf::from(p);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_dump"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| PathBuf::from("pg_dump"))
}

/// `pg_dump --schema-only` without its comments, session settings and per-run `\restrict` keys.
fn pg_schema(url: &str) -> String {
    let out = std::process::Command::new(pg_dump_bin())
        .args(["--schema-only", "--no-owner", "--no-privileges", url])
        .output()
        .expect("pg_dump (set RSFLOW_PG_DUMP)");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("--") && !l.starts_with('\\') && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_same_pg(ours: &str, theirs: &str, what: &str) {
    let (a, b) = (pg_schema(ours), pg_schema(theirs));
    if a != b {
        let diff: Vec<String> = a
            .lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .take(10)
            .map(|(x, y)| format!("rsflow: {x}\nmlflow: {y}"))
            .collect();
        panic!("{what}: pg_dump differs\n{}", diff.join("\n"));
    }
}

struct PgDbs {
    admin: String,
    names: Vec<String>,
}

impl PgDbs {
    async fn new() -> Option<PgDbs> {
        let Ok(admin) = std::env::var("RSFLOW_TEST_PG_URL") else {
            eprintln!("skipping: RSFLOW_TEST_PG_URL is not set");
            return None;
        };
        Some(PgDbs {
            admin,
            names: Vec::new(),
        })
    }

    async fn create(&mut self) -> String {
        let name = format!("rsflow_{}", uuid::Uuid::new_v4().simple());
        let pool = PgPool::connect(&self.admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        self.names.push(name.clone());
        let (base, _) = self.admin.rsplit_once('/').unwrap();
        format!("{base}/{name}")
    }

    async fn drop_all(self) {
        let pool = PgPool::connect(&self.admin).await.unwrap();
        for name in &self.names {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&pool)
                .await;
        }
        pool.close().await;
    }
}

fn psycopg2(url: &str) -> String {
    url.replacen("postgresql://", "postgresql+psycopg2://", 1)
}

#[tokio::test]
async fn postgres_each_head_and_the_upgrade_are_mlflows() {
    let Some(mut dbs) = PgDbs::new().await else {
        return;
    };
    let (Some(v3172), Some(v318)) = (reference_venv(), reference_venv_318()) else {
        return;
    };
    for (venv, rev) in [(&v3172, ALEMBIC_HEAD), (&v318, ALEMBIC_HEAD_3_18)] {
        let (ours, theirs) = (dbs.create().await, dbs.create().await);
        rsflow_creates(&ours, rev).await;
        mlflow_db_upgrade(venv, &psycopg2(&theirs));
        assert_same_pg(&ours, &theirs, rev);
        let report = migrate::check(&theirs).await.unwrap();
        assert!(report.ok(), "{}", report.render());
    }
    // rsflow's upgrade of its own 3.17.2 database, one revision at a time.
    let (ours, theirs) = (dbs.create().await, dbs.create().await);
    rsflow_creates(&ours, ALEMBIC_HEAD).await;
    for rev in INTERMEDIATE.into_iter().chain([ALEMBIC_HEAD_3_18]) {
        migrate::upgrade(&ours, Some(rev), false).await.unwrap();
        let check = migrate::check(&ours).await.unwrap();
        assert!(check.ok(), "{}", check.render());
        let store = SqlStore::open(&ours, "/tmp/unused").await.unwrap();
        store.create_experiment(rev, None, &[]).await.unwrap();
        store.close().await;
    }
    mlflow_db_upgrade(&v318, &psycopg2(&theirs));
    assert_same_pg(&ours, &theirs, "rsflow db upgrade vs mlflow 3.18.0");
    // The drift check's scratch schema is rolled back.
    let pool = PgPool::connect(&ours).await.unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rsflow\\_check\\_%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(left, 0);
    dbs.drop_all().await;
}
