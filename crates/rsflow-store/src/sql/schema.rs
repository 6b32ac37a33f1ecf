//! MLflow's own schema: created on an empty database, verified (by alembic revision) on an
//! existing one, never migrated here (`rsflow db upgrade`, in `migrate`, migrates when asked).
//! `schema/sqlite.sql` is the reference's DDL, byte for byte.

use sqlx::{Any, Row as _, Transaction};

use super::StoreOpenError;
use super::query::{Dialect, Sql};

/// The alembic head of MLflow 3.17.2, at which new databases are created by default (so that
/// `mlflow server` 3.17.2 opens them as they are).
pub const ALEMBIC_HEAD: &str = "dc11669786a5";
/// The alembic head of MLflow 3.18.0 (`--schema-revision f4a9b2c7d1e6` creates new databases
/// there).
pub const ALEMBIC_HEAD_3_18: &str = "f4a9b2c7d1e6";
/// Every revision this build serves: the 3.17.2 head, MLflow 3.18.0's two intermediate
/// revisions and its head. None of 3.18.0's migrations touches a table rsflow reads or writes
/// (they add the skill registry tables and extend issues), so each is served as it is.
pub const SUPPORTED_REVISIONS: &[&str] = &[
    ALEMBIC_HEAD,
    "e7d1f4b2a9c6",
    "8b6ad64cb8f5",
    ALEMBIC_HEAD_3_18,
];
/// The revisions a new database can be created at, with the MLflow release of each.
pub const CREATABLE_REVISIONS: &[(&str, &str)] =
    &[(ALEMBIC_HEAD, "3.17.2"), (ALEMBIC_HEAD_3_18, "3.18.0")];

/// The reference DDL for SQLite (see the header of the file for its provenance).
pub const SQLITE_SCHEMA: &str = include_str!("../../schema/sqlite.sql");
/// The reference DDL for PostgreSQL (pg_dump of `mlflow db upgrade`).
pub const POSTGRES_SCHEMA: &str = include_str!("../../schema/postgres.sql");
/// MLflow 3.18.0's DDL for SQLite, made as [`SQLITE_SCHEMA`] was.
pub const SQLITE_SCHEMA_3_18: &str = include_str!("../../schema/sqlite-3.18.0.sql");
/// MLflow 3.18.0's DDL for PostgreSQL, made as [`POSTGRES_SCHEMA`] was.
pub const POSTGRES_SCHEMA_3_18: &str = include_str!("../../schema/postgres-3.18.0.sql");

/// MLflow 3.17.2's DDL for MySQL and MariaDB (`SHOW CREATE TABLE` of `mlflow db upgrade`).
pub const MYSQL_SCHEMA: &str = include_str!("../../schema/mysql.sql");
/// MLflow 3.18.0's DDL for MySQL and MariaDB, made as [`MYSQL_SCHEMA`] was.
pub const MYSQL_SCHEMA_3_18: &str = include_str!("../../schema/mysql-3.18.0.sql");

/// The DDL that creates a database at `revision` (one of [`CREATABLE_REVISIONS`]).
pub fn schema_ddl(revision: &str, dialect: Dialect) -> Option<&'static str> {
    match (revision, dialect) {
        (ALEMBIC_HEAD, Dialect::Sqlite) => Some(SQLITE_SCHEMA),
        (ALEMBIC_HEAD, Dialect::Postgres) => Some(POSTGRES_SCHEMA),
        (ALEMBIC_HEAD_3_18, Dialect::Sqlite) => Some(SQLITE_SCHEMA_3_18),
        (ALEMBIC_HEAD_3_18, Dialect::Postgres) => Some(POSTGRES_SCHEMA_3_18),
        (ALEMBIC_HEAD, Dialect::Mysql) => Some(MYSQL_SCHEMA),
        (ALEMBIC_HEAD_3_18, Dialect::Mysql) => Some(MYSQL_SCHEMA_3_18),
        _ => None,
    }
}

/// The statements of a schema file, split on the `-- ;;` separator lines, without the
/// trailing `;`, exactly as they should land in `sqlite_master`.
pub fn statements(schema: &str) -> Vec<&str> {
    schema
        .split("\n-- ;;\n")
        .map(|s| {
            let s = s.trim_end();
            // Drop the leading comment block of the first chunk.
            let start = s
                .lines()
                .take_while(|l| l.starts_with("--") || l.trim().is_empty())
                .map(|l| l.len() + 1)
                .sum::<usize>();
            let s = &s[start.min(s.len())..];
            s.strip_suffix(';').unwrap_or(s)
        })
        .filter(|s| !s.trim().is_empty())
        .collect()
}

/// What an opened database held before we touched it.
pub(crate) enum Found {
    Empty,
    Revision(Option<String>),
    NoAlembic,
}

pub(crate) async fn inspect(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
) -> Result<Found, sqlx::Error> {
    let tables: Vec<String> = match dialect {
        Dialect::Sqlite => {
            sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            )
            .fetch_all(&mut **tx)
            .await?
        }
        Dialect::Postgres => {
            sqlx::query(
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_all(&mut **tx)
            .await?
        }
        Dialect::Mysql => {
            sqlx::query(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()",
            )
            .fetch_all(&mut **tx)
            .await?
        }
    }
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    if tables.is_empty() {
        return Ok(Found::Empty);
    }
    if !tables.iter().any(|t| t == "alembic_version") {
        return Ok(Found::NoAlembic);
    }
    let rev: Option<String> = sqlx::query("SELECT version_num FROM alembic_version")
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.get::<String, _>(0));
    Ok(Found::Revision(rev))
}

/// Create the schema on an empty database (at `create_revision`, one of
/// [`CREATABLE_REVISIONS`]) or check the revision of an existing one.
/// Returns whether the schema was created.
pub async fn ensure(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    create_revision: &str,
) -> Result<bool, StoreOpenError> {
    match inspect(tx, dialect).await? {
        Found::Empty => {
            let schema = schema_ddl(create_revision, dialect).ok_or_else(|| {
                StoreOpenError::Config(format!(
                    "Cannot create a database at schema revision {create_revision}: \
                     rsflow creates {}",
                    creatable_list()
                ))
            })?;
            for stmt in statements(schema) {
                sqlx::raw_sql(stmt).execute(&mut **tx).await?;
            }
            Ok(true)
        }
        Found::NoAlembic => Err(StoreOpenError::Unversioned),
        Found::Revision(rev) => match rev {
            Some(r) if SUPPORTED_REVISIONS.contains(&r.as_str()) => Ok(false),
            other => Err(StoreOpenError::Revision { found: other }),
        },
    }
}

/// "dc11669786a5 (MLflow 3.17.2), f4a9b2c7d1e6 (MLflow 3.18.0)".
pub fn creatable_list() -> String {
    CREATABLE_REVISIONS
        .iter()
        .map(|(rev, version)| format!("{rev} (MLflow {version})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The refusals of [`ensure`] and [`check_workspaces`], reading only: a database this build
/// will refuse is refused before anything in it changes. An empty database passes.
pub async fn refuse_unservable(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
) -> Result<(), StoreOpenError> {
    match inspect(tx, dialect).await? {
        Found::Empty => Ok(()),
        Found::NoAlembic => Err(StoreOpenError::Unversioned),
        Found::Revision(Some(r)) if SUPPORTED_REVISIONS.contains(&r.as_str()) => {
            check_workspaces(tx).await
        }
        Found::Revision(other) => Err(StoreOpenError::Revision { found: other }),
    }
}

/// MLflow refuses to start in single-tenant mode when experiments live in other workspaces.
pub async fn check_workspaces(tx: &mut Transaction<'static, Any>) -> Result<(), StoreOpenError> {
    let other = Sql::new(
        "SELECT experiment_id FROM experiments WHERE workspace IS NOT NULL AND workspace != 'default' LIMIT 1",
    )
    .query()
    .fetch_optional(&mut **tx)
    .await?;
    if other.is_some() {
        return Err(StoreOpenError::Workspaces);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_schema_splits_into_statements() {
        let stmts = statements(POSTGRES_SCHEMA);
        assert!(stmts[0].starts_with("CREATE FUNCTION prevent_secrets_aad_mutation()"));
        assert!(stmts[0].ends_with("$$"));
        assert!(stmts.iter().all(|s| !s.contains("public.")));
        assert!(
            stmts
                .iter()
                .any(|s| s.starts_with("CREATE TABLE experiments ("))
        );
        assert!(
            stmts
                .last()
                .unwrap()
                .starts_with("INSERT INTO alembic_version")
        );
    }

    #[test]
    fn each_creatable_head_inserts_its_revision() {
        for (rev, _) in CREATABLE_REVISIONS {
            for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
                let stmts = statements(schema_ddl(rev, dialect).unwrap());
                assert_eq!(
                    *stmts.last().unwrap(),
                    format!("INSERT INTO alembic_version (version_num) VALUES ('{rev}')")
                );
            }
        }
    }

    #[test]
    fn schema_splits_into_reference_statements() {
        let stmts = statements(SQLITE_SCHEMA);
        assert!(stmts[0].starts_with("CREATE TABLE alembic_version ("));
        assert!(
            stmts
                .iter()
                .all(|s| !s.ends_with(';') || s.contains("END;"))
        );
        assert!(
            stmts
                .last()
                .unwrap()
                .starts_with("INSERT INTO alembic_version")
        );
        assert!(stmts.iter().any(|s| s.starts_with("CREATE TRIGGER")));
    }
}
