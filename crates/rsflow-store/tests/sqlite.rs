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
    search: [
        run_filters,
        run_view_types_and_results,
        run_ordering_and_paging,
        experiment_search,
    ];
);

mod sqlite_specific {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rsflow_core::wire::{RunStatus, ViewType};
    use rsflow_store::{ALEMBIC_HEAD, CreateRun, SqlStore, TrackingStore};
    use sqlx::Row;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

    use super::fresh;
    use crate::suite::{kv, metric};

    /// The reference MLflow virtualenv, if this machine has one.
    fn reference_venv() -> Option<PathBuf> {
        let venv = PathBuf::from(
            std::env::var("RSFLOW_REF_VENV").unwrap_or_else(|_| "/work/ref/venv".into()),
        );
        if venv.join("bin/python").exists() {
            Some(venv)
        } else {
            eprintln!(
                "skipping the reference part: no MLflow venv at {} (set RSFLOW_REF_VENV)",
                venv.display()
            );
            None
        }
    }

    async fn raw(path: &Path) -> SqlitePool {
        SqlitePool::connect_with(SqliteConnectOptions::new().filename(path))
            .await
            .unwrap()
    }

    type MasterRow = (String, String, String, Option<String>);

    async fn sqlite_master(path: &Path) -> Vec<MasterRow> {
        let pool = raw(path).await;
        let rows =
            sqlx::query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    }

    fn db_path(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("mlflow.db")
    }

    #[tokio::test]
    async fn schema_matches_embedded_reference_ddl() {
        let (dir, store) = fresh().await;
        store.close().await;
        let master = sqlite_master(&db_path(&dir)).await;
        let with_sql: Vec<&str> = master.iter().filter_map(|r| r.3.as_deref()).collect();
        let embedded: Vec<&str> = rsflow_store::sql::schema_statements()
            .into_iter()
            .filter(|s| !s.starts_with("INSERT"))
            .collect();
        assert_eq!(with_sql, embedded);
        assert_eq!(with_sql.len(), 150);
        let pool = raw(&db_path(&dir)).await;
        let rev: String = sqlx::query_scalar("SELECT version_num FROM alembic_version")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rev, ALEMBIC_HEAD);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let default: (i64, String, String) =
            sqlx::query_as("SELECT experiment_id, name, lifecycle_stage FROM experiments")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(default, (0, "Default".into(), "active".into()));
    }

    /// One schema object, normalised: MLflow's own migrations emit table constraints in a
    /// per-process hash order, so two `mlflow db upgrade` runs differ textually there.
    #[derive(Debug, PartialEq, Eq)]
    enum Object {
        /// Columns in order, constraints as a set, and the PK/UNIQUE autoindexes by columns.
        Table {
            columns: Vec<String>,
            constraints: std::collections::BTreeSet<String>,
            autoindexes: std::collections::BTreeSet<Vec<String>>,
        },
        Other(Option<String>),
    }

    /// Split a CREATE TABLE body at top-level commas.
    fn table_items(sql: &str) -> Vec<String> {
        let body = &sql[sql.find('(').unwrap() + 1..sql.rfind(')').unwrap()];
        let (mut depth, mut cur, mut out) = (0, String::new(), Vec::new());
        for c in body.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(cur.trim().to_string());
                    cur.clear();
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        out.push(cur.trim().to_string());
        out
    }

    async fn schema_model(path: &Path) -> std::collections::BTreeMap<(String, String), Object> {
        let pool = raw(path).await;
        let mut out = std::collections::BTreeMap::new();
        for (ty, name, tbl, sql) in sqlite_master(path).await {
            if name.starts_with("sqlite_autoindex") {
                continue;
            }
            let obj = if ty == "table" {
                let sql = sql.unwrap();
                let (constraints, columns): (Vec<String>, Vec<String>) =
                    table_items(&sql).into_iter().partition(|i| {
                        [
                            "CONSTRAINT",
                            "PRIMARY KEY",
                            "FOREIGN KEY",
                            "UNIQUE",
                            "CHECK",
                        ]
                        .iter()
                        .any(|p| i.starts_with(p))
                    });
                let mut autoindexes = std::collections::BTreeSet::new();
                let list = sqlx::query(&format!("PRAGMA index_list(\"{tbl}\")"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                for idx in list {
                    let idx_name: String = idx.get("name");
                    if !idx_name.starts_with("sqlite_autoindex") {
                        continue;
                    }
                    let cols = sqlx::query(&format!("PRAGMA index_info(\"{idx_name}\")"))
                        .fetch_all(&pool)
                        .await
                        .unwrap()
                        .iter()
                        .map(|c| c.get::<String, _>("name"))
                        .collect();
                    autoindexes.insert(cols);
                }
                Object::Table {
                    columns,
                    constraints: constraints.into_iter().collect(),
                    autoindexes,
                }
            } else {
                Object::Other(sql)
            };
            out.insert((ty, name), obj);
        }
        pool.close().await;
        out
    }

    /// Same tables, columns (in order), constraints, indexes and triggers as a database that
    /// the reference `mlflow db upgrade` creates.
    #[tokio::test]
    async fn schema_matches_mlflow_db_upgrade() {
        let Some(venv) = reference_venv() else { return };
        let dir = tempfile::tempdir().unwrap();
        let reference = dir.path().join("ref.db");
        let status = std::process::Command::new(venv.join("bin/mlflow"))
            .args(["db", "upgrade"])
            .arg(format!("sqlite:///{}", reference.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let (ours_dir, store) = fresh().await;
        store.close().await;
        let ours = schema_model(&db_path(&ours_dir)).await;
        let theirs = schema_model(&reference).await;
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        );
        for (k, v) in &ours {
            assert_eq!(Some(v), theirs.get(k), "{k:?} differs");
        }
        let pool = raw(&reference).await;
        let rev: String = sqlx::query_scalar("SELECT version_num FROM alembic_version")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rev, ALEMBIC_HEAD);
    }

    #[tokio::test]
    async fn refuses_other_revisions_and_unversioned_databases() {
        let (dir, store) = fresh().await;
        store.close().await;
        let path = db_path(&dir);
        let uri = format!("sqlite:///{}", path.display());
        let pool = raw(&path).await;
        sqlx::query("UPDATE alembic_version SET version_num = '1b5f0d9ad7c1'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let err = SqlStore::open(&uri, "/tmp/a")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("found version 1b5f0d9ad7c1"), "{err}");
        assert!(err.contains(ALEMBIC_HEAD), "{err}");

        let pool = raw(&path).await;
        sqlx::query("DELETE FROM alembic_version")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let err = SqlStore::open(&uri, "/tmp/a")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("found version None"), "{err}");

        let other = dir.path().join("other.db");
        let pool = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&other)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let err = SqlStore::open(&format!("sqlite:///{}", other.display()), "/tmp/a")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no alembic_version table"), "{err}");
        assert!(err.contains(ALEMBIC_HEAD), "{err}");
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_one_default_experiment() {
        let (dir, store) = fresh().await;
        let id = store.create_experiment("kept", None, &[]).await.unwrap();
        store.close().await;
        let uri = format!("sqlite:///{}", db_path(&dir).display());
        let store = SqlStore::open(&uri, "/elsewhere").await.unwrap();
        assert_eq!(store.get_experiment(&id).await.unwrap().name, "kept");
        // The Default experiment keeps the root it was created with.
        let default = store.get_experiment("0").await.unwrap();
        assert!(default.artifact_location.ends_with("artifacts/0"));
        store.close().await;
    }

    #[tokio::test]
    async fn memory_and_relative_uris() {
        let store = SqlStore::open("sqlite://", "mlflow-artifacts:/")
            .await
            .unwrap();
        let id = store.create_experiment("mem", None, &[]).await.unwrap();
        assert_eq!(
            store.get_experiment(&id).await.unwrap().artifact_location,
            "mlflow-artifacts:/1"
        );
        let run = store
            .create_run(CreateRun {
                experiment_id: id,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            run.info.artifact_uri,
            format!("mlflow-artifacts:/1/{}/artifacts", run.info.run_id)
        );
        let err = SqlStore::open("mysql://u@h/db", "/a").await.unwrap_err();
        assert!(err.to_string().contains("Unsupported"), "{err}");
    }

    fn run_reference_client(venv: &Path, cwd: &Path, args: &[&str]) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mlflow_client.py");
        let out = std::process::Command::new(venv.join("bin/python"))
            .arg(script)
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "reference client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
    }

    /// A database written by MLflow's own store opens in place with its data visible, and
    /// MLflow reads back what rsflow then writes (switching servers in both directions).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn database_written_by_mlflow_round_trips() {
        let Some(venv) = reference_venv() else { return };
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mlflow.db");
        let root = dir.path().join("art");
        let ids = run_reference_client(
            &venv,
            dir.path(),
            &["write", db.to_str().unwrap(), root.to_str().unwrap()],
        );
        let (exp_id, run_id, deleted) = (
            ids["experiment_id"].as_str().unwrap(),
            ids["run_id"].as_str().unwrap(),
            ids["deleted_run_id"].as_str().unwrap(),
        );

        let store = SqlStore::open(&format!("sqlite:///{}", db.display()), "/unused")
            .await
            .unwrap();
        let exp = store.get_experiment(exp_id).await.unwrap();
        assert_eq!(exp.name, "ref-exp");
        assert_eq!(exp.artifact_location, format!("{}/1", root.display()));
        assert_eq!(exp.tags, vec![kv("team", "ref")]);
        assert_eq!(
            store.get_experiment("0").await.unwrap().artifact_location,
            format!("{}/0", root.display())
        );
        let run = store.get_run(run_id).await.unwrap();
        assert_eq!(run.info.run_name, "ref-run");
        assert_eq!(run.info.status, "FINISHED");
        assert_eq!(run.info.end_time, Some(5000));
        assert_eq!(run.info.user_id, "ref-user");
        assert_eq!(
            run.info.artifact_uri,
            format!("{}/1/{run_id}/artifacts", root.display())
        );
        assert_eq!(run.data.params, vec![kv("alpha", "0.1")]);
        assert_eq!(crate::suite::tag_value(&run.data.tags, "t"), Some("x"));
        assert_eq!(crate::suite::tag_value(&run.data.tags, "k"), Some("v"));
        assert_eq!(
            crate::suite::tag_value(&run.data.tags, "mlflow.runName"),
            Some("ref-run")
        );
        assert_eq!(run.data.metrics.len(), 1);
        assert_eq!(run.data.metrics[0].step, 3);
        assert!(run.data.metrics[0].value.0.is_nan());
        let history = store
            .get_metric_history(run_id, "loss", None, None)
            .await
            .unwrap();
        assert_eq!(history.items.len(), 3);
        assert_eq!(run.inputs.dataset_inputs.len(), 1);
        assert_eq!(run.inputs.dataset_inputs[0].dataset.name, "train");
        assert_eq!(
            run.inputs.dataset_inputs[0].tags,
            vec![kv("mlflow.data.context", "training")]
        );
        assert_eq!(
            store.get_run(deleted).await.unwrap().info.lifecycle_stage,
            "deleted"
        );
        let page = store
            .search_runs(&rsflow_store::SearchRuns {
                experiment_ids: vec![exp_id.to_string()],
                view_type: ViewType::All,
                max_results: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2);

        // Now rsflow writes, and MLflow reads.
        store
            .log_batch(
                run_id,
                &[metric("loss", 0.125, 2000, 4), metric("acc", 0.9, 2000, 4)],
                &[kv("beta", "2")],
                &[kv("writer", "rsflow")],
            )
            .await
            .unwrap();
        store
            .update_run(run_id, Some(RunStatus::Failed), Some(6000), Some("renamed"))
            .await
            .unwrap();
        let new_run = store
            .create_run(CreateRun {
                experiment_id: exp_id.to_string(),
                run_name: Some("from-rsflow".into()),
                start_time: 7000,
                ..Default::default()
            })
            .await
            .unwrap()
            .info
            .run_id;
        store
            .log_batch(&new_run, &[metric("m", 1.0, 1, 0)], &[], &[])
            .await
            .unwrap();
        store.close().await;

        let seen = run_reference_client(&venv, dir.path(), &["read", db.to_str().unwrap(), run_id]);
        assert_eq!(seen["name"], "renamed");
        assert_eq!(seen["status"], "FAILED");
        assert_eq!(seen["experiment"], "ref-exp");
        assert_eq!(seen["params"]["beta"], "2");
        assert_eq!(seen["params"]["alpha"], "0.1");
        assert_eq!(seen["tags"]["writer"], "rsflow");
        assert_eq!(seen["tags"]["mlflow.runName"], "renamed");
        assert_eq!(seen["metrics"]["loss"], 0.125);
        assert_eq!(seen["metrics"]["acc"], 0.9);
        assert_eq!(seen["history"].as_array().unwrap().len(), 4);
        assert_eq!(seen["datasets"][0], "train");
        let seen =
            run_reference_client(&venv, dir.path(), &["read", db.to_str().unwrap(), &new_run]);
        assert_eq!(seen["name"], "from-rsflow");
        assert_eq!(seen["metrics"]["m"], 1.0);
    }

    /// 16 writers on one run plus 16 concurrent run creations: every write lands once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_lose_nothing() {
        let (_dir, store) = fresh().await;
        let store = Arc::new(store);
        let exp = store.create_experiment("busy", None, &[]).await.unwrap();
        let run = crate::suite::new_run(store.as_ref(), &exp, "shared")
            .await
            .info
            .run_id;
        let mut tasks = Vec::new();
        for t in 0..16i64 {
            let store = store.clone();
            let run = run.clone();
            let exp = exp.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10i64 {
                    let metrics: Vec<_> = (0..20i64)
                        .map(|j| metric("m", (t * 1000 + i * 20 + j) as f64, t, i * 20 + j))
                        .collect();
                    store
                        .log_batch(
                            &run,
                            &metrics,
                            &[kv(&format!("p{t}-{i}"), "v")],
                            &[
                                kv("last-writer", &t.to_string()),
                                kv(&format!("t{t}"), &i.to_string()),
                            ],
                        )
                        .await
                        .unwrap();
                }
                store
                    .create_run(CreateRun {
                        experiment_id: exp,
                        run_name: Some(format!("r{t}")),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .info
                    .run_id
            }));
        }
        let mut created = std::collections::HashSet::new();
        for t in tasks {
            created.insert(t.await.unwrap());
        }
        assert_eq!(created.len(), 16);
        let got = store.get_run(&run).await.unwrap();
        assert_eq!(got.data.params.len(), 160);
        for t in 0..16 {
            assert_eq!(
                crate::suite::tag_value(&got.data.tags, &format!("t{t}")),
                Some("9")
            );
        }
        let history = store
            .get_metric_history(&run, "m", None, None)
            .await
            .unwrap();
        // Steps repeat across writers but timestamps (the writer id) differ: 16 * 200 rows.
        assert_eq!(history.items.len(), 3200);
        let latest = &got.data.metrics[0];
        // Highest step is 199; among writers the highest timestamp (15) wins.
        assert_eq!(
            (latest.step, latest.timestamp, latest.value.0),
            (199, 15, 15199.0)
        );
        let runs = store
            .search_runs(&rsflow_store::SearchRuns {
                experiment_ids: vec![exp],
                max_results: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(runs.items.len(), 17);
    }

    /// Two stores on one file (two server processes): SQLite's lock plus busy_timeout
    /// serialise them and nothing is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_stores_on_one_file() {
        let (dir, a) = fresh().await;
        let uri = format!("sqlite:///{}", db_path(&dir).display());
        let b = SqlStore::open(&uri, "/x").await.unwrap();
        let run = crate::suite::new_run(&a, "0", "two").await.info.run_id;
        let stores = [Arc::new(a), Arc::new(b)];
        let mut tasks = Vec::new();
        for (n, store) in stores.iter().enumerate() {
            for t in 0..4i64 {
                let store = store.clone();
                let run = run.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..25i64 {
                        let key = format!("s{n}-t{t}");
                        store
                            .log_batch(&run, &[metric(&key, i as f64, i, i)], &[], &[])
                            .await
                            .unwrap();
                    }
                }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        let got = stores[0].get_run(&run).await.unwrap();
        assert_eq!(got.data.metrics.len(), 8);
        assert!(
            got.data
                .metrics
                .iter()
                .all(|m| m.step == 24 && m.value.0 == 24.0)
        );
    }
}
