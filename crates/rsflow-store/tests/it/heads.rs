//! Both schema heads rsflow creates (MLflow 3.17.2's dc11669786a5 and 3.18.0's f4a9b2c7d1e6)
//! against `mlflow db upgrade` of that version, and `rsflow db upgrade` (3.17.2 -> 3.18.0)
//! against MLflow 3.18.0's own, on SQLite and, with `RSFLOW_TEST_PG_URL`, PostgreSQL.
//! SQLite is compared with the normalised sqlite_master of `common::schema_model`, PostgreSQL
//! with `pg_dump --schema-only` of both databases.

use std::path::Path;

use rsflow_store::sql::ALEMBIC_HEAD_3_18;
use rsflow_store::sql::migrate;
use rsflow_store::{ALEMBIC_HEAD, SqlStore, TrackingStore};
use sqlx::postgres::PgPool;

use crate::common::{
    PgDbs, assert_same_pg, mlflow_db_upgrade, reference_venv, reference_venv_318, schema_model,
};

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
    let pool = crate::common::raw(&db).await;
    for (rev, words) in [
        ("cc1f77228345", "older MLflow revision"),
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
    // A revision rsflow upgrades from, on a schema that is not MLflow's at it (3.17.2's
    // tables): the first step fails and, in one transaction, nothing changes.
    sqlx::query("UPDATE alembic_version SET version_num = '75868b020152'")
        .execute(&pool)
        .await
        .unwrap();
    let report = migrate::check(&url).await.unwrap();
    assert!(!report.servable);
    assert!(report.render().contains("older MLflow revision"));
    let err = migrate::upgrade(&url, None, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("75868b020152 -> dc11669786a5")
            || err.contains("Cannot migrate to 75868b020152"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    let rev: String = sqlx::query_scalar("SELECT version_num FROM alembic_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rev, "75868b020152");
    pool.close().await;
}

// ---- PostgreSQL ----

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
