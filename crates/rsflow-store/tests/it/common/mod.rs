//! Helpers shared by the store's integration tests: fresh stores, raw connections, the reference
//! MLflow venv and its client script.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rsflow_store::SqlStore;
use sqlx::Row;
use sqlx::postgres::PgPool;
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

/// One schema object, normalised: MLflow's own migrations emit table constraints in a
/// per-process hash order, so two `mlflow db upgrade` runs differ textually there.
#[derive(Debug, PartialEq, Eq)]
pub enum Object {
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

pub async fn schema_model(path: &Path) -> std::collections::BTreeMap<(String, String), Object> {
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

/// The venv holding MLflow 3.18.0 (`.venv-mlflow318`, built by `scripts/venv.sh` from
/// compat/requirements-mlflow318.txt). `RSFLOW_REF_VENV_318`, when set, must name one
/// (`scripts/test.sh` sets it); unset, the repository's own is used if it exists, else the
/// 3.18.0 part is skipped, saying so.
pub fn reference_venv_318() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("RSFLOW_REF_VENV_318") {
        let venv = PathBuf::from(v);
        assert!(
            venv.join("bin/mlflow").exists(),
            "RSFLOW_REF_VENV_318={} has no bin/mlflow (scripts/test.sh creates .venv-mlflow318)",
            venv.display()
        );
        return Some(venv);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-mlflow318");
    if venv.join("bin/mlflow").exists() {
        Some(venv)
    } else {
        eprintln!(
            "skipping the MLflow 3.18.0 part: no venv at {} (set RSFLOW_REF_VENV_318)",
            venv.display()
        );
        None
    }
}

/// `mlflow db upgrade <url>` with the `mlflow` of `venv`; panics with its stderr on failure.
pub fn mlflow_db_upgrade(venv: &Path, url: &str) {
    let out = std::process::Command::new(venv.join("bin/mlflow"))
        .args(["db", "upgrade", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mlflow db upgrade {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- PostgreSQL (RSFLOW_TEST_PG_URL) ----

pub fn pg_dump_bin() -> PathBuf {
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
pub fn pg_schema(url: &str) -> String {
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

pub fn assert_same_pg(ours: &str, theirs: &str, what: &str) {
    let (a, b) = (pg_schema(ours), pg_schema(theirs));
    if a != b {
        let diff: Vec<String> = a
            .lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .take(10)
            .map(|(x, y)| format!("rsflow: {x}\nmlflow: {y}"))
            .collect();
        let (na, nb) = (a.lines().count(), b.lines().count());
        panic!(
            "{what}: pg_dump differs ({na} lines from rsflow, {nb} from mlflow)\n{}",
            diff.join("\n")
        );
    }
}

pub struct PgDbs {
    pub admin: String,
    pub names: Vec<String>,
}

impl PgDbs {
    pub async fn new() -> Option<PgDbs> {
        let Ok(admin) = std::env::var("RSFLOW_TEST_PG_URL") else {
            eprintln!("skipping: RSFLOW_TEST_PG_URL is not set");
            return None;
        };
        Some(PgDbs {
            admin,
            names: Vec::new(),
        })
    }

    pub async fn create(&mut self) -> String {
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

    pub async fn drop_all(self) {
        let pool = PgPool::connect(&self.admin).await.unwrap();
        for name in &self.names {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&pool)
                .await;
        }
        pool.close().await;
    }
}
