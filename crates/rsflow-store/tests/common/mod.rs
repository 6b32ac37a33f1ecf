//! Helpers shared by the SQLite test binaries: fresh stores, raw connections, the reference
//! MLflow venv and its client script.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rsflow_store::SqlStore;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tempfile::TempDir;

/// A fresh database file in a temp dir, with `<dir>/artifacts` as the artifact root.
pub async fn fresh() -> (TempDir, SqlStore) {
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

/// The venv holding the reference MLflow 3.17.2 (its `mlflow` CLI and Python).
///
/// `RSFLOW_REF_VENV`, when set, must name one: `scripts/test.sh` sets it to `.venv`, so in the
/// test command a missing reference fails these tests instead of skipping them. Unset, the
/// repository's own `.venv` is used when it exists; otherwise the reference part is skipped,
/// saying so.
pub fn reference_venv() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("RSFLOW_REF_VENV") {
        let venv = PathBuf::from(v);
        assert!(
            venv.join("bin/mlflow").exists(),
            "RSFLOW_REF_VENV={} has no bin/mlflow (bash scripts/venv.sh creates .venv)",
            venv.display()
        );
        return Some(venv);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
    if venv.join("bin/mlflow").exists() {
        Some(venv)
    } else {
        eprintln!(
            "skipping the reference part: no MLflow venv at {} (set RSFLOW_REF_VENV)",
            venv.display()
        );
        None
    }
}

pub async fn raw(path: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

pub type MasterRow = (String, String, String, Option<String>);

pub async fn sqlite_master(path: &Path) -> Vec<MasterRow> {
    let pool = raw(path).await;
    let rows = sqlx::query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

pub fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("mlflow.db")
}

pub fn run_reference_client(venv: &Path, cwd: &Path, args: &[&str]) -> serde_json::Value {
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

/// Like [`run_reference_client`], with `input` on stdin.
pub fn run_reference_client_stdin(
    venv: &Path,
    cwd: &Path,
    args: &[&str],
    input: &str,
) -> serde_json::Value {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mlflow_client.py");
    let mut child = std::process::Command::new(venv.join("bin/python"))
        .arg(script)
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "reference client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}
