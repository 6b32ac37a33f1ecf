//! MLflow's own schema: created on an empty database, verified (by alembic revision) on an
//! existing one, never migrated. `schema/sqlite.sql` is the reference's DDL, byte for byte.

use sqlx::{Any, Row as _, Transaction};

use super::StoreOpenError;
use super::query::{Dialect, Sql};

/// The alembic head of MLflow 3.17.2; the only revision this build reads and writes.
pub const ALEMBIC_HEAD: &str = "dc11669786a5";
/// Every revision this build accepts (just the head: older schemas need `mlflow db upgrade`).
pub const SUPPORTED_REVISIONS: &[&str] = &[ALEMBIC_HEAD];

/// The reference DDL for SQLite (see the header of the file for its provenance).
pub const SQLITE_SCHEMA: &str = include_str!("../../schema/sqlite.sql");
/// The reference DDL for PostgreSQL (pg_dump of `mlflow db upgrade`).
pub const POSTGRES_SCHEMA: &str = include_str!("../../schema/postgres.sql");

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
enum Found {
    Empty,
    Revision(Option<String>),
    NoAlembic,
}

async fn inspect(
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

/// Create the schema on an empty database or check the revision of an existing one.
/// Returns whether the schema was created.
pub async fn ensure(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
) -> Result<bool, StoreOpenError> {
    match inspect(tx, dialect).await? {
        Found::Empty => {
            let schema = match dialect {
                Dialect::Sqlite => SQLITE_SCHEMA,
                Dialect::Postgres => POSTGRES_SCHEMA,
            };
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
