//! `rsflow db check` and `rsflow db upgrade`: what an MLflow database holds, and MLflow's own
//! migrations replayed natively (no Python), in one transaction (on MySQL, which commits DDL as
//! it runs, one commit per step, as alembic's run there).
//!
//! The steps are MLflow 3.18.0's three migrations from the 3.17.2 head: their DDL is the text
//! alembic runs (`schema/upgrade-3.18.0.sql`, byte for byte, so SQLite's stored CREATE TABLE
//! texts come out as MLflow's; `schema/upgrade-3.18.0-mysql.sql` on MySQL), and the data
//! migration of `8b6ad64cb8f5` is
//! [`fill_issue_categories`]. Drift is measured against MLflow's schema at the revision found,
//! built in a scratch database (SQLite: in memory; PostgreSQL: a schema created and rolled back
//! in one transaction) from the embedded DDL plus the same steps.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};
use sqlx::any::AnyConnectOptions;
use sqlx::{Any, AnyPool, Row as _, Transaction};

use super::query::{Dialect, Sql};
use super::schema::{self, ALEMBIC_HEAD, ALEMBIC_HEAD_3_18, Found, SUPPORTED_REVISIONS};
use super::uri::{BackendTarget, parse_backend_uri};
use super::{PoolSettings, StoreOpenError, StoreSettings, pool, sqlite_pool, sqlite_url};

mod analytics;

/// Every alembic revision MLflow has shipped up to 3.18.0, oldest first (the chain of
/// `down_revision`s of mlflow/store/db_migrations/versions).
pub const MLFLOW_REVISIONS: &[&str] = &[
    "451aebb31d03",
    "90e64c465722",
    "181f10493468",
    "df50e92ffc5e",
    "7ac759974ad8",
    "89d4b8295536",
    "2b4d017a5e9b",
    "cfd24bdc0731",
    "0a8213491aaa",
    "728d730b5ebd",
    "27a6a02d2cf1",
    "84291f40a231",
    "a8c4a736bde6",
    "39d1c3be5f05",
    "c48cb773bb87",
    "bd07f7e963c5",
    "0c779009ac13",
    "cc1f77228345",
    "97727af70f4d",
    "3500859a5d39",
    "7f2a7d5fae7d",
    "2d6e25af4d3e",
    "acf3f17fdcc7",
    "867495a8f9d4",
    "5b0e9adcef9c",
    "4465047574b1",
    "f5a4f2784254",
    "0584bdc529eb",
    "400f98739977",
    "6953534de441",
    "bda7b8c39065",
    "cbc13b556ace",
    "770bee3ae1dd",
    "a1b2c3d4e5f6",
    "de4033877273",
    "1a0cddfcaa16",
    "534353b11cbc",
    "71994744cf8e",
    "3da73c924c2f",
    "bf29a5ff90ea",
    "1bd49d398cd23",
    "b7c8d9e0f1a2",
    "5d2d30f0abce",
    "c9d4e5f6a7b8",
    "2c33131f4dae",
    "d3e4f5a6b7c8",
    "d0e1f2a3b4c5",
    "c8d9e0f1a2b3",
    "1b5f0d9ad7c1",
    "e1f2a3b4c5d6",
    "76601a5f987d",
    "c3d6457b6d8a",
    "a5b4c3d2e1f0",
    "ae8bbe7743c9",
    "7d34483879f0",
    "da6fb0208061",
    "89d3d66ed43f",
    "b7e4c1a90f23",
    "a8b9c0d1e2f3",
    "c1d2e3f4a5b6",
    "c3d9e7f1a2b4",
    "6f8d9c3b2a1e",
    "1971f2d9a75b",
    "17e22815139b",
    "b7e2c1a4d9f3",
    "75868b020152",
    ALEMBIC_HEAD,
    "e7d1f4b2a9c6",
    "8b6ad64cb8f5",
    ALEMBIC_HEAD_3_18,
];

/// One MLflow migration rsflow replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub from: &'static str,
    pub to: &'static str,
    pub title: &'static str,
}

/// MLflow 2.0.x's head: the oldest revision `rsflow db upgrade` starts from.
pub const MLFLOW_2_0_HEAD: &str = "97727af70f4d";

/// The migration whose data part (the SQL trace analytics backfill) is Rust code:
/// [`analytics`].
const ANALYTICS_STEP: &str = "75868b020152";

/// MLflow's 48 migrations from 2.0's head to 3.17.2's, as alembic runs them on SQLite and on
/// PostgreSQL (scripts/upgrade_steps.py).
const OLD_SQL_SQLITE: &str = include_str!("../../schema/upgrade-2.0-sqlite.sql");
const OLD_SQL_POSTGRES: &str = include_str!("../../schema/upgrade-2.0-postgres.sql");

/// The steps of an `upgrade-2.0-*.sql` file: (revision, title, statements text).
fn old_file_steps(sql: &'static str) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(i) = rest.find("\n-- step ") {
        let after = &rest[i + "\n-- step ".len()..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let (rev, title) = after[..line_end]
            .split_once(": ")
            .unwrap_or((&after[..line_end], ""));
        let body = &after[(line_end + 1).min(after.len())..];
        let end = body.find("\n-- step ").unwrap_or(body.len());
        out.push((rev, title, &body[..end]));
        rest = &body[end..];
    }
    out
}

/// The migrations `rsflow db upgrade` runs, in order: MLflow 2.0's head onwards.
pub fn steps() -> Vec<Step> {
    let mut out = Vec::new();
    let mut from = MLFLOW_2_0_HEAD;
    for (to, title, _) in old_file_steps(OLD_SQL_SQLITE) {
        out.push(Step { from, to, title });
        from = to;
    }
    out.extend_from_slice(STEPS);
    out
}

/// Whether the step to `to` is one of the migrations before 3.17.2's head.
fn is_old_step(to: &str) -> bool {
    old_file_steps(OLD_SQL_SQLITE)
        .iter()
        .any(|(r, _, _)| *r == to)
}

/// The migrations from 3.17.2's head to 3.18.0's (also on MySQL).
pub const STEPS: &[Step] = &[
    Step {
        from: ALEMBIC_HEAD,
        to: "e7d1f4b2a9c6",
        title: "add skill registry tables (MLflow 3.18.0)",
    },
    Step {
        from: "e7d1f4b2a9c6",
        to: "8b6ad64cb8f5",
        title: "extend issues: last_seen_timestamp, last_updated_by, metadata, two indexes, \
                issue_categories; data: last_seen_timestamp = created_timestamp, \
                issue_categories from issues.categories (MLflow 3.18.0)",
    },
    Step {
        from: "8b6ad64cb8f5",
        to: ALEMBIC_HEAD_3_18,
        title: "make MCP server versions case-sensitive: no change on SQLite and PostgreSQL \
                (MLflow 3.18.0)",
    },
];

/// The newest revision `rsflow db upgrade` reaches.
pub const UPGRADE_HEAD: &str = ALEMBIC_HEAD_3_18;

const UPGRADE_SQL: &str = include_str!("../../schema/upgrade-3.18.0.sql");
const UPGRADE_SQL_MYSQL: &str = include_str!("../../schema/upgrade-3.18.0-mysql.sql");

/// The DDL statements of the step to `to` on SQLite and PostgreSQL, without trailing `;`.
pub fn step_statements(to: &str) -> Vec<&'static str> {
    dialect_step_statements(Dialect::Sqlite, to)
}

/// The DDL statements of the step to `to` as MLflow runs them on `dialect` (MySQL has its own
/// text: `COLLATE utf8mb4_bin`, `LONGTEXT`, and the MCP version columns of the last step).
pub fn dialect_step_statements(dialect: Dialect, to: &str) -> Vec<&'static str> {
    if is_old_step(to) {
        let sql = match dialect {
            Dialect::Sqlite => OLD_SQL_SQLITE,
            Dialect::Postgres => OLD_SQL_POSTGRES,
            Dialect::Mysql => return Vec::new(),
        };
        return old_file_steps(sql)
            .into_iter()
            .find(|(r, _, _)| *r == to)
            .map(|(_, _, body)| schema::statements(body))
            .unwrap_or_default();
    }
    let sql = match dialect {
        Dialect::Mysql => UPGRADE_SQL_MYSQL,
        Dialect::Sqlite | Dialect::Postgres => UPGRADE_SQL,
    };
    let marker = format!("\n-- step {to}\n");
    let Some(start) = sql.find(&marker) else {
        return Vec::new();
    };
    let body = &sql[start + marker.len()..];
    let body = &body[..body.find("\n-- step ").unwrap_or(body.len())];
    schema::statements(body)
}

/// The MLflow release whose head `revision` is, if it is one.
fn release_of(revision: &str) -> Option<&'static str> {
    schema::CREATABLE_REVISIONS
        .iter()
        .find(|(r, _)| *r == revision)
        .map(|(_, v)| *v)
}

/// What `revision` is, in words.
pub fn describe(revision: &str) -> String {
    if let Some(v) = release_of(revision) {
        return format!("{revision} (head of MLflow {v})");
    }
    if SUPPORTED_REVISIONS.contains(&revision) {
        return format!("{revision} (between the heads of MLflow 3.17.2 and 3.18.0)");
    }
    match MLFLOW_REVISIONS.iter().position(|r| *r == revision) {
        Some(i) => {
            let head = MLFLOW_REVISIONS
                .iter()
                .position(|r| *r == ALEMBIC_HEAD)
                .unwrap_or(i);
            format!(
                "{revision} (an older MLflow revision, {} migrations before MLflow 3.17.2's head)",
                head - i
            )
        }
        None => format!("{revision} (not a revision of MLflow up to 3.18.0)"),
    }
}

/// A connection to the database a backend store URI names, for the `db` commands: the file
/// must exist (nothing is created), and nothing about it is changed on connecting.
async fn connect(uri: &str) -> Result<(AnyPool, Dialect), StoreOpenError> {
    sqlx::any::install_default_drivers();
    match parse_backend_uri(uri).map_err(StoreOpenError::InvalidUri)? {
        BackendTarget::SqliteFile(path) => {
            if !path.is_file() {
                return Err(StoreOpenError::Config(format!(
                    "There is no SQLite database at {}",
                    std::path::absolute(&path).unwrap_or(path.clone()).display()
                )));
            }
            let opts: AnyConnectOptions = sqlite_url(&path, "rw").parse()?;
            let pool = sqlite_pool(1, false, &StoreSettings::default())
                .connect_with(opts)
                .await?;
            Ok((pool, Dialect::Sqlite))
        }
        BackendTarget::SqliteMemory => Err(StoreOpenError::Config(
            "An in-memory SQLite database has nothing to check or upgrade".into(),
        )),
        BackendTarget::Postgres(url) => {
            let settings = PoolSettings {
                max_connections: 1,
                ..PoolSettings::default()
            };
            Ok((
                pool::open_postgres(&url, &settings).await?,
                Dialect::Postgres,
            ))
        }
        BackendTarget::Mysql(url) => {
            let settings = PoolSettings {
                max_connections: 1,
                ..PoolSettings::default()
            };
            Ok((pool::open_mysql(&url, &settings).await?, Dialect::Mysql))
        }
    }
}

/// What `rsflow db check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub dialect: Dialect,
    /// `None`: empty database, or tables without alembic_version (see `state`).
    pub revision: Option<String>,
    /// "empty", "unversioned", "no revision" or "versioned".
    pub state: &'static str,
    /// Whether `rsflow server` serves it as it is.
    pub servable: bool,
    /// The steps `rsflow db upgrade` would run to reach [`UPGRADE_HEAD`].
    pub upgrade_steps: Vec<Step>,
    /// Differences from MLflow's schema at the revision found (`None`: not checked, with
    /// the reason in `drift_note`).
    pub drift: Option<Vec<String>>,
    pub drift_note: Option<String>,
}

impl CheckReport {
    /// Servable and as MLflow made it (an empty database is: rsflow creates the schema).
    pub fn ok(&self) -> bool {
        self.servable && (self.state == "empty" || self.drift.as_ref().is_some_and(Vec::is_empty))
    }

    /// The report as `rsflow db check` prints it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let dialect = match self.dialect {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL",
        };
        let _ = writeln!(out, "database: {dialect}");
        match (&self.revision, self.state) {
            (Some(rev), _) => {
                let _ = writeln!(out, "revision: {}", describe(rev));
            }
            (None, "empty") => {
                let _ = writeln!(
                    out,
                    "revision: none (empty database: rsflow server creates the schema)"
                );
            }
            (None, "unversioned") => {
                let _ = writeln!(
                    out,
                    "revision: none (tables but no alembic_version: not an MLflow database)"
                );
            }
            (None, _) => {
                let _ = writeln!(out, "revision: none (alembic_version is empty)");
            }
        }
        let _ = writeln!(
            out,
            "servable: {} (rsflow serves {})",
            if self.servable { "yes" } else { "no" },
            SUPPORTED_REVISIONS.join(", ")
        );
        if let Some(rev) = &self.revision {
            if !self.upgrade_steps.is_empty() {
                let _ = writeln!(
                    out,
                    "upgrade: `rsflow db upgrade` takes it to {UPGRADE_HEAD} in {} step(s)",
                    self.upgrade_steps.len()
                );
            } else if rev == UPGRADE_HEAD {
                let _ = writeln!(out, "upgrade: at the newest head this build knows");
            } else if MLFLOW_REVISIONS.contains(&rev.as_str())
                && !SUPPORTED_REVISIONS.contains(&rev.as_str())
            {
                let _ = writeln!(
                    out,
                    "upgrade: rsflow migrates from {MLFLOW_2_0_HEAD} (MLflow 2.0's head) \
                     onwards ({ALEMBIC_HEAD} on MySQL); run `mlflow db upgrade <uri>` with \
                     mlflow==2.0.1 first"
                );
            }
        }
        match (&self.drift, &self.drift_note) {
            (Some(d), _) if d.is_empty() => {
                let _ = writeln!(
                    out,
                    "drift: none (tables, columns, indexes, constraints and triggers as in \
                     MLflow's schema at this revision)"
                );
            }
            (Some(d), _) => {
                let _ = writeln!(out, "drift: {} difference(s) from MLflow's schema", d.len());
                for line in d {
                    let _ = writeln!(out, "  {line}");
                }
            }
            (None, Some(note)) => {
                let _ = writeln!(out, "drift: not checked ({note})");
            }
            (None, None) => {}
        }
        out
    }
}

/// The steps from `from` to `to` (both in the chain of [`STEPS`]); `None` when there is no
/// forward path.
fn path(from: &str, to: &str) -> Option<Vec<Step>> {
    let all = steps();
    let chain: Vec<&str> = std::iter::once(MLFLOW_2_0_HEAD)
        .chain(all.iter().map(|s| s.to))
        .collect();
    let a = chain.iter().position(|r| *r == from)?;
    let b = chain.iter().position(|r| *r == to)?;
    (a <= b).then(|| all[a..b].to_vec())
}

/// `rsflow db check <uri>`.
pub async fn check(uri: &str) -> Result<CheckReport, StoreOpenError> {
    let (pool, dialect) = connect(uri).await?;
    let result = check_on(&pool, dialect).await;
    pool.close().await;
    result
}

async fn check_on(pool: &AnyPool, dialect: Dialect) -> Result<CheckReport, StoreOpenError> {
    let mut tx = pool.begin().await?;
    let found = schema::inspect(&mut tx, dialect).await?;
    tx.rollback().await?;
    let mut report = CheckReport {
        dialect,
        revision: None,
        state: "versioned",
        servable: false,
        upgrade_steps: Vec::new(),
        drift: None,
        drift_note: None,
    };
    let rev = match found {
        Found::Empty => {
            report.state = "empty";
            report.servable = true;
            report.drift_note = Some("the database is empty".into());
            return Ok(report);
        }
        Found::NoAlembic => {
            report.state = "unversioned";
            report.drift_note = Some("no alembic revision to compare with".into());
            return Ok(report);
        }
        Found::Revision(None) => {
            report.state = "no revision";
            report.drift_note = Some("no alembic revision to compare with".into());
            return Ok(report);
        }
        Found::Revision(Some(rev)) => rev,
    };
    report.servable = SUPPORTED_REVISIONS.contains(&rev.as_str());
    report.upgrade_steps = path(&rev, UPGRADE_HEAD).unwrap_or_default();
    if report.servable && dialect == Dialect::Mysql && schema::schema_ddl(&rev, dialect).is_none() {
        report.drift_note = Some(format!(
            "on MySQL rsflow compares the schema at {} only",
            schema::creatable_list()
        ));
    } else if report.servable {
        let expected = expected_model(pool, dialect, &rev).await?;
        let actual = read_model(pool, dialect, None).await?;
        report.drift = Some(diff_models(&expected, &actual));
    } else {
        report.drift_note = Some(format!(
            "rsflow knows MLflow's schema at {} only",
            SUPPORTED_REVISIONS.join(", ")
        ));
    }
    report.revision = Some(rev);
    Ok(report)
}

/// What `rsflow db upgrade` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeReport {
    pub from: String,
    pub to: String,
    pub steps: Vec<Step>,
    pub dry_run: bool,
    /// Issues whose last_seen_timestamp was set, and issue_categories rows written.
    pub issues_updated: u64,
    pub categories_written: u64,
    /// What the trace analytics backfill of 75868b020152 wrote.
    pub analytics: analytics::Counts,
    /// Differences from MLflow's schema at the target after the upgrade (`None`: not
    /// checked: a target before 3.17.2's head, or MySQL).
    pub drift: Option<Vec<String>>,
    /// The database's dialect (its step DDL, and how the steps commit).
    pub dialect: Dialect,
}

impl UpgradeReport {
    /// The steps (with their statements on a dry run) as `rsflow db upgrade` prints them.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.steps.is_empty() {
            let _ = writeln!(out, "already at {}: nothing to do", describe(&self.to));
            return out;
        }
        let _ = writeln!(
            out,
            "{} {} -> {} in {} step(s), {}:",
            if self.dry_run {
                "would upgrade"
            } else {
                "upgraded"
            },
            self.from,
            self.to,
            self.steps.len(),
            if self.dialect == Dialect::Mysql {
                "one commit per step (MySQL commits DDL as it runs)"
            } else {
                "one transaction"
            }
        );
        for step in &self.steps {
            let _ = writeln!(out, "  {} -> {}: {}", step.from, step.to, step.title);
            if self.dry_run {
                for stmt in dialect_step_statements(self.dialect, step.to) {
                    let _ = writeln!(out, "{};", indent(stmt));
                }
                if step.to == ANALYTICS_STEP {
                    let _ = writeln!(out, "    {}", analytics::DRY_RUN_NOTE);
                }
                if step.to == "8b6ad64cb8f5" {
                    let _ = writeln!(
                        out,
                        "    UPDATE issues SET last_seen_timestamp=issues.created_timestamp;\n    \
                         -- then one issue_categories row per distinct \
                         sha256(lower(strip(category))) of each issue's categories JSON"
                    );
                }
                let _ = writeln!(
                    out,
                    "    UPDATE alembic_version SET version_num='{}' WHERE \
                     alembic_version.version_num = '{}';",
                    step.to, step.from
                );
            }
        }
        if !self.dry_run {
            if self.steps.iter().any(|s| s.to == "8b6ad64cb8f5") {
                let _ = writeln!(
                    out,
                    "data: last_seen_timestamp set on {} issue(s), {} issue_categories row(s) \
                     written",
                    self.issues_updated, self.categories_written
                );
            }
            if self.steps.iter().any(|s| s.to == ANALYTICS_STEP) {
                let a = &self.analytics;
                let _ = writeln!(
                    out,
                    "data: trace analytics backfilled on {} trace(s), {} span(s), {} \
                     assessment(s); {} legacy analytics row(s) removed",
                    a.traces, a.spans, a.assessments, a.legacy_rows_deleted
                );
            }
            match &self.drift {
                Some(d) if d.is_empty() => {
                    let _ = writeln!(out, "schema: as MLflow's at {} (no drift)", self.to);
                }
                Some(d) => {
                    let _ = writeln!(
                        out,
                        "schema: {} difference(s) from MLflow's at {}",
                        d.len(),
                        self.to
                    );
                    for line in d {
                        let _ = writeln!(out, "  {line}");
                    }
                }
                None => {}
            }
        }
        out
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `rsflow db upgrade <uri> [--to REV] [--dry-run]`.
pub async fn upgrade(
    uri: &str,
    to: Option<&str>,
    dry_run: bool,
) -> Result<(UpgradeReport, Dialect), StoreOpenError> {
    let (pool, dialect) = connect(uri).await?;
    let result = upgrade_on(&pool, dialect, to, dry_run).await;
    pool.close().await;
    result.map(|r| (r, dialect))
}

async fn upgrade_on(
    pool: &AnyPool,
    dialect: Dialect,
    to: Option<&str>,
    dry_run: bool,
) -> Result<UpgradeReport, StoreOpenError> {
    let target = to.unwrap_or(UPGRADE_HEAD);
    if target != MLFLOW_2_0_HEAD && !steps().iter().any(|s| s.to == target) {
        return Err(StoreOpenError::Config(format!(
            "--to {target}: not a revision rsflow db upgrade reaches (MLflow's revisions from \
             2.0's head {MLFLOW_2_0_HEAD} to 3.18.0's {UPGRADE_HEAD})"
        )));
    }
    if dialect == Dialect::Sqlite {
        // Alembic's SQLite "move and copy" rebuilds drop and re-create tables other tables
        // point at: it runs them with foreign keys off (pysqlite's default), and so does
        // rsflow. (The pragma is a no-op inside a transaction, so it comes first.)
        sqlx::raw_sql("PRAGMA foreign_keys = OFF")
            .execute(pool)
            .await?;
    }
    let mut tx = pool.begin_with(dialect.begin_write()).await?;
    // The lock rsflow servers take to create the schema: no server creates or checks it half
    // way through the upgrade. (The pool has one connection: on MySQL the named lock is held
    // by the session that upgrades, until the pool closes.)
    match dialect {
        Dialect::Postgres => {
            sqlx::query("SELECT pg_advisory_xact_lock(72570310)")
                .execute(&mut *tx)
                .await?;
        }
        Dialect::Mysql => {
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK('rsflow_initialize', 60)")
                .fetch_one(&mut *tx)
                .await?;
            if got != Some(1) {
                return Err(StoreOpenError::Config(
                    "A server has been initializing this MySQL database for 60 s (named lock \
                     rsflow_initialize): try again"
                        .into(),
                ));
            }
        }
        Dialect::Sqlite => {}
    }
    let from = match schema::inspect(&mut tx, dialect).await? {
        Found::Empty => {
            return Err(StoreOpenError::Config(
                "The database is empty: there is nothing to upgrade (rsflow server creates the \
                 schema, at --schema-revision)"
                    .into(),
            ));
        }
        Found::NoAlembic => return Err(StoreOpenError::Unversioned),
        Found::Revision(None) => return Err(StoreOpenError::Revision { found: None }),
        Found::Revision(Some(rev)) => rev,
    };
    let steps = match path(&from, target) {
        Some(steps) => steps,
        None if path(target, &from).is_some() => {
            return Err(StoreOpenError::Config(format!(
                "The database is at {}, past --to {target}: rsflow does not downgrade",
                describe(&from)
            )));
        }
        None => {
            return Err(StoreOpenError::Config(format!(
                "The database is at {}; rsflow db upgrade migrates from {MLFLOW_2_0_HEAD} \
                 (MLflow 2.0's head) onwards: run `mlflow db upgrade <uri>` with mlflow==2.0.1 \
                 first (take a backup), then rsflow db upgrade",
                describe(&from)
            )));
        }
    };
    if dialect == Dialect::Mysql && steps.iter().any(|s| is_old_step(s.to)) {
        return Err(StoreOpenError::Config(format!(
            "The database is at {}; on MySQL rsflow db upgrade migrates from {ALEMBIC_HEAD} \
             (MLflow 3.17.2's head) onwards only: run `mlflow db upgrade <uri>` with \
             mlflow==3.17.2 first (take a backup), then rsflow db upgrade",
            describe(&from)
        )));
    }
    let mut report = UpgradeReport {
        from: from.clone(),
        to: target.to_string(),
        steps: steps.clone(),
        dry_run,
        issues_updated: 0,
        categories_written: 0,
        analytics: analytics::Counts::default(),
        drift: None,
        dialect,
    };
    if dry_run {
        tx.rollback().await?;
        return Ok(report);
    }
    for step in &steps {
        if dialect == Dialect::Mysql {
            // Each DDL statement commits on its own (as under alembic); the step's data and
            // its alembic_version update then commit together, so the recorded revision is
            // always the last step completed.
            run_step_ddl(&mut tx, dialect, step.to)
                .await
                .map_err(|e| mysql_step_failed(step, &e.to_string()))?;
            sqlx::raw_sql("BEGIN").execute(&mut *tx).await?;
        } else if step.to == ANALYTICS_STEP {
            report.analytics = analytics::run(&mut tx, dialect)
                .await
                .map_err(|e| step_failed(step, e))?;
        } else {
            run_step_ddl(&mut tx, dialect, step.to)
                .await
                .map_err(|e| step_failed(step, e.into()))?;
        }
        if step.to == "8b6ad64cb8f5" {
            let (issues, categories) = fill_issue_categories(&mut tx).await?;
            report.issues_updated = issues;
            report.categories_written = categories;
        }
        let done = Sql::new("UPDATE alembic_version SET version_num = ")
            .bind(step.to)
            .push(" WHERE alembic_version.version_num = ")
            .bind(step.from)
            .query()
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreOpenError::Config(format!(
                "alembic_version changed while upgrading (expected {} at step {} -> {})",
                step.from, step.from, step.to
            )));
        }
        if dialect == Dialect::Mysql {
            sqlx::raw_sql("COMMIT").execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    // The schema reached, against MLflow's at the target (as `rsflow db check` measures it).
    if SUPPORTED_REVISIONS.contains(&target) && dialect != Dialect::Mysql {
        let expected = expected_model(pool, dialect, target).await?;
        let actual = read_model(pool, dialect, None).await?;
        report.drift = Some(diff_models(&expected, &actual));
    }
    Ok(report)
}

/// A step that failed in the one transaction (SQLite, PostgreSQL): nothing stays applied.
fn step_failed(step: &Step, e: StoreOpenError) -> StoreOpenError {
    match e {
        StoreOpenError::Config(why) if why.contains("nothing was changed") => {
            StoreOpenError::Config(why)
        }
        e => StoreOpenError::Config(format!(
            "Step {} -> {} failed: {e}; the upgrade ran in one transaction, so nothing was \
             changed (is the schema the one MLflow made at {}? `rsflow db check` compares)",
            step.from, step.to, step.from
        )),
    }
}

/// A MySQL step whose DDL failed: what ran of it stays (MySQL commits DDL as it runs).
fn mysql_step_failed(step: &Step, why: &str) -> StoreOpenError {
    StoreOpenError::Config(format!(
        "Step {} -> {} failed: {why}. MySQL commits each DDL statement as it runs, so the \
         statements of this step before the failing one stay applied while alembic_version \
         still says {}; restore the backup taken before the upgrade (as after a failed \
         `mlflow db upgrade` on MySQL)",
        step.from, step.to, step.from
    ))
}

async fn run_step_ddl(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    to: &str,
) -> Result<(), sqlx::Error> {
    // From 3.17.2's head on, PostgreSQL runs alembic's SQLite text too: it reads `"key"` as
    // `key`.
    run_statements(tx, &dialect_step_statements(dialect, to)).await
}

/// Run captured statements in order; `{NOW_MS}` is the time now in milliseconds (where
/// MLflow's migration writes `int(time.time() * 1000)`).
async fn run_statements(
    tx: &mut Transaction<'static, Any>,
    stmts: &[&str],
) -> Result<(), sqlx::Error> {
    for stmt in stmts {
        if stmt.contains("{NOW_MS}") {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default();
            let stmt = stmt.replace("{NOW_MS}", &now.to_string());
            sqlx::raw_sql(&stmt).execute(&mut **tx).await?;
        } else {
            sqlx::raw_sql(stmt).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// Python's `str.strip()` whitespace: Unicode White_Space plus the four ASCII separators.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The rows migration `8b6ad64cb8f5` derives from one issue's `categories` JSON, as its Python
/// does: `{sha256(c.strip().lower()): c for c in json.loads(categories)}`, so the last
/// category of equal hashes wins. Iterating a JSON string yields its characters and an object
/// its keys, as in Python; anything else fails the migration, as it does in MLflow.
pub fn issue_categories(categories: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(categories).map_err(|e| format!("not JSON ({e})"))?;
    let items: Vec<String> = match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                other => Err(format!("holds {other}, not a string")),
            })
            .collect::<Result<_, _>>()?,
        serde_json::Value::String(s) => s.chars().map(String::from).collect(),
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        other => return Err(format!("is {other}, not a list of categories")),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for category in items {
        let norm = category.trim_matches(py_space).to_lowercase();
        let hash = format!("{:x}", Sha256::digest(norm.as_bytes()));
        match out.iter_mut().find(|(h, _)| *h == hash) {
            Some(slot) => slot.1 = category,
            None => out.push((hash, category)),
        }
    }
    Ok(out)
}

/// The data part of `8b6ad64cb8f5`: every issue's last_seen_timestamp is its created_timestamp,
/// and issue_categories gets a row per distinct normalised category. Returns (issues updated,
/// category rows written).
async fn fill_issue_categories(
    tx: &mut Transaction<'static, Any>,
) -> Result<(u64, u64), StoreOpenError> {
    let updated = sqlx::query("UPDATE issues SET last_seen_timestamp=issues.created_timestamp")
        .execute(&mut **tx)
        .await?
        .rows_affected();
    let rows = sqlx::query(
        "SELECT issues.issue_id, issues.categories FROM issues \
         WHERE issues.categories IS NOT NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut entries = Vec::new();
    for row in rows {
        let id: String = row.try_get(0)?;
        let categories: String = row.try_get(1)?;
        let cats = issue_categories(&categories).map_err(|why| {
            StoreOpenError::Config(format!(
                "Cannot migrate issue {id}: its categories {why} (MLflow's own migration \
                 fails on it too); nothing was changed"
            ))
        })?;
        entries.extend(cats.into_iter().map(|(h, c)| (id.clone(), h, c)));
    }
    let written = entries.len() as u64;
    for chunk in entries.chunks(500) {
        let mut sql =
            Sql::new("INSERT INTO issue_categories (issue_id, category_hash, category) VALUES ");
        for (i, (id, hash, category)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind(id.as_str())
                .push(", ")
                .bind(hash.as_str())
                .push(", ")
                .bind(category.as_str())
                .push(")");
        }
        sql.query().execute(&mut **tx).await?;
    }
    Ok((updated, written))
}

/// A schema as comparable lines: object key -> definition.
type Model = BTreeMap<String, String>;

/// MLflow's schema at `revision`: the 3.17.2 DDL plus the steps up to `revision`, built in a
/// scratch database and read back like the real one.
async fn expected_model(
    pool: &AnyPool,
    dialect: Dialect,
    revision: &str,
) -> Result<Model, StoreOpenError> {
    let steps = path(ALEMBIC_HEAD, revision).unwrap_or_default();
    let base = schema::schema_ddl(ALEMBIC_HEAD, dialect).expect("3.17.2 DDL");
    match dialect {
        Dialect::Sqlite => {
            let opts: AnyConnectOptions = "sqlite::memory:".parse()?;
            let scratch = sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?;
            let mut tx = scratch.begin().await?;
            for stmt in schema::statements(base) {
                sqlx::raw_sql(stmt).execute(&mut *tx).await?;
            }
            for step in &steps {
                run_step_ddl(&mut tx, dialect, step.to).await?;
            }
            tx.commit().await?;
            let model = read_model(&scratch, dialect, None).await;
            scratch.close().await;
            model
        }
        Dialect::Postgres => {
            let name = format!("rsflow_check_{}", uuid::Uuid::new_v4().simple());
            let mut tx = pool.begin().await?;
            sqlx::raw_sql(&format!(
                "CREATE SCHEMA {name}; SET LOCAL search_path TO {name}"
            ))
            .execute(&mut *tx)
            .await?;
            for stmt in schema::statements(base) {
                sqlx::raw_sql(stmt).execute(&mut *tx).await?;
            }
            for step in &steps {
                run_step_ddl(&mut tx, dialect, step.to).await?;
            }
            let model = read_pg_model(&mut tx).await;
            tx.rollback().await?;
            model
        }
        Dialect::Mysql => {
            // A scratch database beside the checked one, made from the DDL of the head and
            // read back the same way, then dropped.
            let ddl = schema::schema_ddl(revision, dialect).expect("checked by the caller");
            let name = format!("rsflow_check_{}", uuid::Uuid::new_v4().simple());
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut *conn)
                .await?;
            let built = async {
                sqlx::raw_sql(&format!("USE {name}"))
                    .execute(&mut *conn)
                    .await?;
                for stmt in schema::statements(ddl) {
                    sqlx::raw_sql(stmt).execute(&mut *conn).await?;
                }
                read_mysql_model(&mut conn).await
            }
            .await;
            let _ = sqlx::raw_sql(&format!("DROP DATABASE {name}"))
                .execute(&mut *conn)
                .await;
            // The connection's default database is gone: it is not handed back to the pool.
            let _ = conn.close().await;
            built
        }
    }
}

/// Columns (type, nullability, default, collation), indexes (with prefix lengths), foreign
/// keys, CHECKs and triggers of the connection's database, from `information_schema`.
async fn read_mysql_model(
    conn: &mut sqlx::pool::PoolConnection<Any>,
) -> Result<Model, StoreOpenError> {
    let mut model = Model::new();
    let queries: [(&str, &str); 5] = [
        (
            "column",
            "SELECT CAST(CONCAT(table_name, '.', column_name) AS CHAR), CAST(CONCAT(column_type, \
             ' ', is_nullable, ' default=', COALESCE(column_default, 'NULL'), ' collation=', \
             COALESCE(collation_name, '-'), ' ', extra) AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE()",
        ),
        (
            "index",
            "SELECT CAST(CONCAT(table_name, '.', index_name) AS CHAR), CAST(CONCAT(IF(non_unique \
             = 0, 'UNIQUE ', ''), GROUP_CONCAT(CONCAT(column_name, COALESCE(CONCAT('(', \
             sub_part, ')'), '')) ORDER BY seq_in_index SEPARATOR ', ')) AS CHAR) FROM \
             information_schema.statistics WHERE table_schema = DATABASE() GROUP BY table_name, \
             index_name, non_unique",
        ),
        (
            "foreign key",
            "SELECT CAST(CONCAT(k.table_name, '.', k.constraint_name) AS CHAR), \
             CAST(CONCAT(GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position), ' -> ', \
             MIN(k.referenced_table_name), ' ', MIN(r.delete_rule)) AS CHAR) FROM \
             information_schema.key_column_usage k JOIN information_schema.referential_constraints \
             r ON r.constraint_schema = k.constraint_schema AND r.constraint_name = \
             k.constraint_name AND r.table_name = k.table_name WHERE k.table_schema = DATABASE() \
             AND k.referenced_table_name IS NOT NULL GROUP BY k.table_name, k.constraint_name",
        ),
        (
            "check",
            "SELECT CAST(CONCAT(table_name, '.', constraint_name) AS CHAR), \
             CAST(check_clause AS CHAR) FROM information_schema.check_constraints WHERE \
             constraint_schema = DATABASE()",
        ),
        (
            "trigger",
            "SELECT CAST(trigger_name AS CHAR), CAST(CONCAT(action_timing, ' ', \
             event_manipulation, ' ON ', event_object_table) AS CHAR) FROM \
             information_schema.triggers WHERE trigger_schema = DATABASE()",
        ),
    ];
    for (kind, sql) in queries {
        for row in sqlx::query(sql).fetch_all(&mut **conn).await? {
            let key: String = row.get(0);
            let def: String = row.get(1);
            model.insert(format!("{kind} {key}"), def);
        }
    }
    Ok(model)
}

async fn read_model(
    pool: &AnyPool,
    dialect: Dialect,
    _schema: Option<&str>,
) -> Result<Model, StoreOpenError> {
    let mut tx = pool.begin().await?;
    let model = match dialect {
        Dialect::Sqlite => read_sqlite_model(&mut tx).await,
        Dialect::Postgres => read_pg_model(&mut tx).await,
        Dialect::Mysql => {
            tx.rollback().await?;
            let mut conn = pool.acquire().await?;
            return read_mysql_model(&mut conn).await;
        }
    };
    tx.rollback().await?;
    model
}

/// Split a CREATE TABLE body at top-level commas.
fn table_items(sql: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (sql.find('('), sql.rfind(')')) else {
        return Vec::new();
    };
    let body = &sql[open + 1..close];
    let (mut depth, mut cur, mut out) = (0i32, String::new(), Vec::new());
    let mut quote: Option<char> = None;
    for c in body.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
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

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SQLite: a table is its columns (each by name, and their order) and its constraints (as a
/// set: MLflow's migrations emit them in a per-process hash order); indexes, triggers and
/// views are their SQL. Whitespace is not significant.
async fn read_sqlite_model(tx: &mut Transaction<'static, Any>) -> Result<Model, StoreOpenError> {
    let rows = sqlx::query(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut model = Model::new();
    for row in rows {
        let ty: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let sql: String = row.try_get(2)?;
        if ty != "table" {
            model.insert(format!("{ty} {name}"), squash(&sql));
            continue;
        }
        let mut order = Vec::new();
        for item in table_items(&sql) {
            let item = squash(&item);
            let is_constraint = [
                "CONSTRAINT",
                "PRIMARY KEY",
                "FOREIGN KEY",
                "UNIQUE",
                "CHECK",
            ]
            .iter()
            .any(|p| item.starts_with(p));
            if is_constraint {
                model.insert(format!("table {name}: constraint {item}"), String::new());
            } else {
                let col = item
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .trim_matches(['"', '`', '[', ']'])
                    .to_string();
                model.insert(format!("table {name}: column {col}"), item.clone());
                order.push(col);
            }
        }
        model.insert(format!("table {name}: column order"), order.join(", "));
    }
    Ok(model)
}

/// PostgreSQL: columns (type, nullability, default, order), indexes, constraints and triggers of
/// the current schema, printed with the search path at that schema so no name is qualified.
async fn read_pg_model(tx: &mut Transaction<'static, Any>) -> Result<Model, StoreOpenError> {
    let mut model = Model::new();
    let schema: String = sqlx::query("SELECT CAST(current_schema() AS TEXT)")
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    let columns = sqlx::query(
        "SELECT CAST(c.relname AS TEXT), CAST(a.attname AS TEXT), \
         CAST(format_type(a.atttypid, a.atttypmod) AS TEXT), a.attnotnull, \
         CAST(pg_get_expr(d.adbin, d.adrelid) AS TEXT) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 \
         AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut orders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in columns {
        let table: String = row.try_get(0)?;
        let col: String = row.try_get(1)?;
        let ty: String = row.try_get(2)?;
        let not_null: bool = row.try_get(3)?;
        let default: Option<String> = row.try_get(4)?;
        let mut def = format!("{col} {ty}");
        if let Some(d) = default {
            def.push_str(&format!(" DEFAULT {d}"));
        }
        if not_null {
            def.push_str(" NOT NULL");
        }
        model.insert(format!("table {table}: column {col}"), def);
        orders.entry(table).or_default().push(col);
    }
    for (table, cols) in orders {
        model.insert(format!("table {table}: column order"), cols.join(", "));
    }
    let indexes = sqlx::query(
        "SELECT CAST(indexname AS TEXT), CAST(indexdef AS TEXT) FROM pg_indexes \
         WHERE schemaname = current_schema()",
    )
    .fetch_all(&mut **tx)
    .await?;
    let qualified = format!(" ON {schema}.");
    for row in indexes {
        let name: String = row.try_get(0)?;
        let def: String = row.try_get(1)?;
        model.insert(format!("index {name}"), def.replace(&qualified, " ON "));
    }
    let constraints = sqlx::query(
        "SELECT CAST(c.conrelid::regclass AS TEXT), CAST(c.conname AS TEXT), \
         CAST(pg_get_constraintdef(c.oid) AS TEXT) FROM pg_constraint c \
         JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema()",
    )
    .fetch_all(&mut **tx)
    .await?;
    for row in constraints {
        let table: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let def: String = row.try_get(2)?;
        model.insert(format!("table {table}: constraint {name}"), def);
    }
    let triggers = sqlx::query(
        "SELECT CAST(event_object_table AS TEXT), CAST(trigger_name AS TEXT), \
         CAST(action_timing AS TEXT), CAST(event_manipulation AS TEXT), \
         CAST(action_statement AS TEXT) FROM information_schema.triggers \
         WHERE trigger_schema = current_schema()",
    )
    .fetch_all(&mut **tx)
    .await?;
    for row in triggers {
        let table: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let timing: String = row.try_get(2)?;
        let event: String = row.try_get(3)?;
        let action: String = row.try_get(4)?;
        model.insert(
            format!("table {table}: trigger {name} {event}"),
            format!("{timing} {action}").replace(&format!("{schema}."), ""),
        );
    }
    Ok(model)
}

/// rsflow's own optional objects (the PostgreSQL search indexes, the artifact digest index
/// table and what belongs to it) are not drift.
fn rsflow_own(key: &str) -> bool {
    key.starts_with("index rsflow_")
        || key.starts_with("table rsflow_artifact_index")
        || key.contains(" rsflow_artifact_index.")
}

fn diff_models(expected: &Model, actual: &Model) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in expected {
        match actual.get(k) {
            None => out.push(format!("missing {k}")),
            Some(a) if a != v => out.push(format!("{k}: expected `{v}`, found `{a}`")),
            Some(_) => {}
        }
    }
    for k in actual.keys() {
        if !expected.contains_key(k) && !rsflow_own(k) {
            out.push(format!("unexpected {k}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_chain_through_the_steps() {
        assert_eq!(MLFLOW_REVISIONS.len(), 70);
        let i = MLFLOW_REVISIONS
            .iter()
            .position(|r| *r == ALEMBIC_HEAD)
            .unwrap();
        let tail: Vec<&str> = STEPS.iter().map(|s| s.to).collect();
        assert_eq!(&MLFLOW_REVISIONS[i + 1..], &tail[..]);
        assert_eq!(&SUPPORTED_REVISIONS[1..], &tail[..]);
        assert_eq!(path(ALEMBIC_HEAD, UPGRADE_HEAD).unwrap().len(), 3);
        assert_eq!(path("e7d1f4b2a9c6", "8b6ad64cb8f5").unwrap().len(), 1);
        assert!(path(UPGRADE_HEAD, ALEMBIC_HEAD).is_none());
        assert_eq!(path("75868b020152", UPGRADE_HEAD).unwrap().len(), 4);
        // From MLflow 2.0's head: every revision MLflow shipped after it, in order.
        let all = steps();
        let j = MLFLOW_REVISIONS
            .iter()
            .position(|r| *r == MLFLOW_2_0_HEAD)
            .unwrap();
        let tos: Vec<&str> = all.iter().map(|s| s.to).collect();
        assert_eq!(&MLFLOW_REVISIONS[j + 1..], &tos[..]);
        assert_eq!(all.len(), 51);
        assert!(all.windows(2).all(|w| w[0].to == w[1].from));
        assert_eq!(path(MLFLOW_2_0_HEAD, UPGRADE_HEAD).unwrap().len(), 51);
        assert!(path("cc1f77228345", UPGRADE_HEAD).is_none());
        // Both dialects' files hold the same steps, and every one has statements.
        for (s, p) in old_file_steps(OLD_SQL_SQLITE)
            .iter()
            .zip(old_file_steps(OLD_SQL_POSTGRES))
        {
            assert_eq!(s.0, p.0);
            // 4465047574b1 widens a column on MySQL only.
            let empty = s.0 == "4465047574b1";
            assert_eq!(schema::statements(s.2).is_empty(), empty, "{}", s.0);
            assert_eq!(schema::statements(p.2).is_empty(), empty, "{}", p.0);
        }
        assert!(dialect_step_statements(Dialect::Mysql, "3500859a5d39").is_empty());
        assert!(
            dialect_step_statements(Dialect::Postgres, "1b5f0d9ad7c1")
                .iter()
                .any(|s| s.starts_with("INSERT INTO workspaces"))
        );
    }

    #[test]
    fn step_statements_split() {
        let skills = step_statements("e7d1f4b2a9c6");
        assert_eq!(skills.len(), 7);
        assert!(skills[0].starts_with("CREATE TABLE skills ("));
        let issues = step_statements("8b6ad64cb8f5");
        assert_eq!(
            issues[0],
            "ALTER TABLE issues ADD COLUMN last_seen_timestamp BIGINT"
        );
        assert_eq!(issues.len(), 7);
        assert!(step_statements("f4a9b2c7d1e6").is_empty());
        // MySQL: MLflow's own text for each step; the last one re-collates the MCP versions.
        let mysql = |to| dialect_step_statements(Dialect::Mysql, to);
        assert_eq!(mysql("e7d1f4b2a9c6").len(), 7);
        assert!(mysql("e7d1f4b2a9c6")[2].contains("`key` VARCHAR(250) COLLATE utf8mb4_bin"));
        assert_eq!(
            mysql("8b6ad64cb8f5")[2],
            "ALTER TABLE issues ADD COLUMN metadata LONGTEXT"
        );
        let mcp = mysql("f4a9b2c7d1e6");
        assert_eq!(mcp.len(), 12);
        assert!(mcp[0].starts_with("ALTER TABLE mcp_server_version_tags DROP FOREIGN KEY"));
        assert!(mcp[11].starts_with("CREATE INDEX ix_mcp_access_endpoints_version"));
    }

    #[test]
    fn categories_as_mlflow_hashes_them() {
        // hashlib.sha256("quality".encode()).hexdigest()
        let got = issue_categories(r#"["Quality", " quality ", "Latency"]"#).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].0,
            "acef2c15bcd349db900dffece73e1256e881c4416fc1f2d3a494640183490d9a"
        );
        // The last category of equal hashes wins, in the first one's place.
        assert_eq!(got[0].1, " quality ");
        assert_eq!(got[1].1, "Latency");
        assert_eq!(issue_categories("[]").unwrap(), vec![]);
        assert_eq!(issue_categories(r#""ab""#).unwrap().len(), 2);
        assert!(issue_categories("[1]").is_err());
        assert!(issue_categories("null").is_err());
        assert!(issue_categories("{").is_err());
        // Python's str.strip() also strips the ASCII information separators.
        assert_eq!(
            issue_categories("[\"\\u001fA\\u00a0\"]").unwrap()[0].0,
            format!("{:x}", Sha256::digest(b"a"))
        );
    }
}
