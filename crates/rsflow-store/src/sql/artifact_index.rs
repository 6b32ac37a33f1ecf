//! [`ArtifactIndexStore`] on SQLite, PostgreSQL and MySQL.
//!
//! The key is compared byte-wise (SQLite's default, PostgreSQL `COLLATE "C"`, MySQL
//! `utf8mb4_bin`), so "everything under a directory" is the key range
//! `[dir/, dir0)` (`0` follows `/`), read from the primary key's index.

use async_trait::async_trait;
use rsflow_core::Result;
use sqlx::Row as _;

use super::SqlStore;
use super::query::{Dialect, Sql, db_err};
use crate::artifact_index::{ARTIFACT_INDEX_TABLE, ArtifactIndexStore};

fn ddl(dialect: Dialect) -> String {
    let key = match dialect {
        Dialect::Sqlite => "TEXT NOT NULL",
        Dialect::Postgres => "TEXT COLLATE \"C\" NOT NULL",
        // 768 characters of utf8mb4 is InnoDB's key limit (3072 bytes).
        Dialect::Mysql => "VARCHAR(768) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {ARTIFACT_INDEX_TABLE} (location {key}, size BIGINT NOT NULL, \
         indexed_at BIGINT NOT NULL, CONSTRAINT {ARTIFACT_INDEX_TABLE}_pk PRIMARY KEY (location))"
    )
}

/// `location = $a OR (location >= $b AND location < $c)`.
fn under(q: &mut Sql, location: &str) {
    let location = location.trim_end_matches('/');
    q.push("location = ")
        .bind(location.to_owned())
        .push(" OR (location >= ")
        .bind(format!("{location}/"))
        .push(" AND location < ")
        .bind(format!("{location}0"))
        .push(")");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait]
impl ArtifactIndexStore for SqlStore {
    async fn ensure_artifact_index(&self) -> Result<()> {
        let created = sqlx::raw_sql(&ddl(self.dialect)).execute(&self.write).await;
        if let Err(e) = created {
            // Two replicas creating it at once: PostgreSQL may refuse the loser (a unique
            // violation on its catalog) although the table is there now.
            if !self.has_artifact_index().await? {
                return Err(db_err(e));
            }
        }
        Ok(())
    }

    async fn has_artifact_index(&self) -> Result<bool> {
        use std::sync::atomic::Ordering;
        if self.artifact_index.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let mut conn = self.read.acquire().await.map_err(db_err)?;
        let there = self.table_exists(&mut conn, ARTIFACT_INDEX_TABLE).await?;
        if there {
            self.artifact_index.store(true, Ordering::Relaxed);
        }
        Ok(there)
    }

    async fn index_artifact(&self, location: &str, size: u64) -> Result<()> {
        if !self.has_artifact_index().await? {
            return Ok(());
        }
        let mut q = Sql::new(&format!(
            "INSERT INTO {ARTIFACT_INDEX_TABLE} (location, size, indexed_at) VALUES ("
        ));
        q.bind(location.to_owned())
            .push(", ")
            .bind(size as i64)
            .push(", ")
            .bind(now_ms())
            .push(")");
        q.push(match self.dialect {
            Dialect::Mysql => {
                " ON DUPLICATE KEY UPDATE size = VALUES(size), indexed_at = VALUES(indexed_at)"
            }
            _ => {
                " ON CONFLICT (location) DO UPDATE SET size = excluded.size, \
                 indexed_at = excluded.indexed_at"
            }
        });
        q.query().execute(&self.write).await.map_err(db_err)?;
        Ok(())
    }

    async fn unindex_artifacts(&self, location: &str) -> Result<u64> {
        // A database no rsflow server indexed into (gc on MLflow's database): nothing to do.
        if !self.has_artifact_index().await? {
            return Ok(0);
        }
        let mut q = Sql::new(&format!("DELETE FROM {ARTIFACT_INDEX_TABLE} WHERE "));
        under(&mut q, location);
        let done = q.query().execute(&self.write).await.map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn indexed_artifacts(&self, location: &str) -> Result<Vec<String>> {
        if !self.has_artifact_index().await? {
            return Ok(Vec::new());
        }
        let mut q = Sql::new(&format!(
            "SELECT location FROM {ARTIFACT_INDEX_TABLE} WHERE "
        ));
        under(&mut q, location);
        q.push(" ORDER BY location");
        let rows = q.query().fetch_all(&self.read).await.map_err(db_err)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(db_err))
            .collect()
    }
}
