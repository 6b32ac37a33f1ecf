//! The behaviour suite on SQLite files, plus SQLite-specific checks: the schema against the
//! reference's, revision checks, databases written by MLflow itself, and concurrent writers.

mod suite;

use rsflow_store::SqlStore;
use tempfile::TempDir;

/// A fresh database file in a temp dir, with `<dir>/artifacts` as the artifact root.
async fn fresh() -> (TempDir, SqlStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mlflow.db");
    let root = dir.path().join("artifacts");
    let store = SqlStore::open(
        &format!("sqlite:///{}", db.display()),
        root.to_str().unwrap(),
    )
    .await
    .unwrap();
    (dir, store)
}

macro_rules! suite_tests {
    ($($module:ident: [$($name:ident),* $(,)?]);* $(;)?) => {
        $(
            mod $module {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let (_dir, store) = super::fresh().await;
                        crate::suite::$module::$name(&store).await;
                    }
                )*
            }
        )*
    };
}

suite_tests!(
    experiments: [
        default_experiment,
        create_and_get,
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
        metric_history,
        bulk_interval,
    ];
);
