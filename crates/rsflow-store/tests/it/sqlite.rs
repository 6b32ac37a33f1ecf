//! The behaviour suite on SQLite files (a fresh database per test), plus SQLite-specific checks:
//! the embedded schema, revision checks, reopening, URI forms.

use crate::common::fresh;

async fn fresh_file() -> Option<(tempfile::TempDir, rsflow_store::SqlStore)> {
    Some(fresh().await)
}

all_suite_tests!(crate::sqlite::fresh_file);

mod checks {
    use rsflow_store::{ALEMBIC_HEAD, CreateRun, SqlStore, TrackingStore};
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

    use crate::common::{db_path, fresh, raw, sqlite_master};

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

    #[tokio::test]
    async fn names_a_missing_database_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir");
        let uri = format!("sqlite:///{}/mlflow.db", missing.display());
        let err = SqlStore::open(&uri, "/tmp/a")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "the directory {} does not exist",
                missing.display()
            )),
            "{err}"
        );
        assert!(!missing.exists(), "nothing may be created on the way");
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

    /// The file's bytes and the side files next to it.
    fn snapshot(path: &std::path::Path) -> (Vec<u8>, bool, bool) {
        let side = |ext: &str| {
            let mut p = path.as_os_str().to_owned();
            p.push(ext);
            std::path::PathBuf::from(p).exists()
        };
        (std::fs::read(path).unwrap(), side("-wal"), side("-shm"))
    }

    #[tokio::test]
    async fn a_refused_database_is_left_as_it_was_found() {
        // A database of another MLflow version, in rollback-journal mode (as `mlflow db
        // upgrade` or a copy leaves it): refused, and not switched to WAL on the way.
        let (dir, store) = fresh().await;
        store.close().await;
        let path = db_path(&dir);
        // `close` leaves no connection open (the background checkpointer's, a connection on its
        // way back to a pool), so the journal mode can change right away.
        let open: Vec<_> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|t| t.starts_with(dir.path()))
            .collect();
        assert!(open.is_empty(), "still open after close: {open:?}");
        let pool = raw(&path).await;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode = DELETE")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(mode, "delete");
        sqlx::query("UPDATE alembic_version SET version_num = '0000deadbeef'")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let before = snapshot(&path);
        assert_eq!((before.1, before.2), (false, false));
        assert_eq!(before.0[18..20], [1, 1], "rollback-journal header");
        let uri = format!("sqlite:///{}", path.display());
        let err = SqlStore::open(&uri, "/tmp/a")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("found version 0000deadbeef"), "{err}");
        assert!(snapshot(&path) == before, "the refused file changed");

        // No alembic table at all: the same.
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
        let before = snapshot(&other);
        let err = SqlStore::open(&format!("sqlite:///{}", other.display()), "/tmp/a")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("no alembic_version table"), "{err}");
        assert!(snapshot(&other) == before, "the refused file changed");

        // A database at the supported revision in rollback mode is served (and switched).
        let pool = raw(&path).await;
        sqlx::query("UPDATE alembic_version SET version_num = ?")
            .bind(ALEMBIC_HEAD)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let store = SqlStore::open(&uri, "/tmp/a").await.unwrap();
        store.close().await;
        let pool = raw(&path).await;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
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
        let err = SqlStore::open("mssql://u@h/db", "/a").await.unwrap_err();
        assert!(err.to_string().contains("Unsupported"), "{err}");
    }
}
