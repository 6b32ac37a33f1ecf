//! [`GcStore`] on SQL: keyset pages of deleted rows and their removal, with the same child
//! tables MLflow's `_hard_delete_*` remove (spec: `sqlalchemy_store._RUN_DELETE_CASCADE_MODELS`).

use async_trait::async_trait;
use rsflow_core::Result;
use rsflow_core::wire::LIFECYCLE_DELETED;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::query::{Dialect, Sql, db_err};
use crate::gc::{DeletedRunFilter, GcExperiment, GcLease, GcLoggedModel, GcRun, GcStore, GcTrace};

/// The key of the PostgreSQL advisory lock one gc pass holds (any fixed number; schema
/// creation uses 72570310).
const PG_GC_LOCK_KEY: i64 = 72_570_311;

const RUN_COLUMNS: &str = "run_uuid, experiment_id, artifact_uri, lifecycle_stage, deleted_time";
const LM_COLUMNS: &str =
    "model_id, experiment_id, artifact_location, lifecycle_stage, last_updated_timestamp_ms";

fn run_row(r: &AnyRow) -> std::result::Result<GcRun, sqlx::Error> {
    Ok(GcRun {
        run_id: r.try_get(0)?,
        experiment_id: r.try_get::<i64, _>(1)?.to_string(),
        artifact_uri: r.try_get(2)?,
        deleted: r.try_get::<Option<String>, _>(3)?.as_deref() == Some(LIFECYCLE_DELETED),
        deleted_time: r.try_get(4)?,
    })
}

fn model_row(r: &AnyRow) -> std::result::Result<GcLoggedModel, sqlx::Error> {
    Ok(GcLoggedModel {
        model_id: r.try_get(0)?,
        experiment_id: r.try_get::<i64, _>(1)?.to_string(),
        artifact_location: r.try_get(2)?,
        deleted: r.try_get::<Option<String>, _>(3)?.as_deref() == Some(LIFECYCLE_DELETED),
        last_updated_timestamp_ms: r.try_get(4)?,
    })
}

fn experiment_row(r: &AnyRow) -> std::result::Result<GcExperiment, sqlx::Error> {
    Ok(GcExperiment {
        experiment_id: r.try_get::<i64, _>(0)?.to_string(),
        deleted: r.try_get::<Option<String>, _>(1)?.as_deref() == Some(LIFECYCLE_DELETED),
        last_update_time: r.try_get(2)?,
    })
}

/// Experiment ids as numbers; ids that are not numbers name no experiment.
fn numeric_ids(ids: &[String]) -> Vec<i64> {
    ids.iter().filter_map(|i| i.trim().parse().ok()).collect()
}

/// Rows of a statement, each turned into a value.
async fn fetch<T>(
    pool: &sqlx::AnyPool,
    q: &Sql,
    f: impl Fn(&AnyRow) -> std::result::Result<T, sqlx::Error>,
) -> Result<Vec<T>> {
    let rows = q.query().fetch_all(pool).await.map_err(db_err)?;
    rows.iter().map(|r| f(r).map_err(db_err)).collect()
}

/// Lists are bound in chunks well under SQLite's and PostgreSQL's parameter limits.
const CHUNK: usize = 500;

impl SqlStore {
    pub(crate) async fn table_exists(
        &self,
        conn: &mut sqlx::AnyConnection,
        table: &str,
    ) -> Result<bool> {
        let mut q = match self.dialect {
            Dialect::Sqlite => {
                Sql::new("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ")
            }
            Dialect::Postgres => Sql::new(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = ",
            ),
            Dialect::Mysql => Sql::new(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ",
            ),
        };
        q.bind(table);
        let n: i64 = q
            .query()
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl GcStore for SqlStore {
    async fn gc_deleted_runs(
        &self,
        filter: &DeletedRunFilter,
        after: &str,
        limit: i64,
    ) -> Result<Vec<GcRun>> {
        let mut q = Sql::new(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE lifecycle_stage = 'deleted' AND run_uuid > "
        ));
        q.bind(after);
        if let Some(cutoff) = filter.deleted_before {
            q.push(" AND deleted_time <= ").bind(cutoff);
        }
        if let Some(ids) = &filter.experiment_ids {
            let ids = numeric_ids(ids);
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND experiment_id IN ").bind_list(&ids);
        }
        q.push(" ORDER BY run_uuid LIMIT ").bind(limit);
        fetch(&self.read, &q, run_row).await
    }

    async fn gc_runs(&self, run_ids: &[String]) -> Result<Vec<GcRun>> {
        let mut out = Vec::new();
        for chunk in run_ids.chunks(CHUNK) {
            let mut q = Sql::new(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid IN "
            ));
            q.bind_list(chunk);
            out.extend(fetch(&self.read, &q, run_row).await?);
        }
        Ok(out)
    }

    async fn gc_deleted_experiments(
        &self,
        updated_before: Option<i64>,
    ) -> Result<Vec<GcExperiment>> {
        let mut q = Sql::new(
            "SELECT experiment_id, lifecycle_stage, last_update_time FROM experiments \
             WHERE lifecycle_stage = 'deleted'",
        );
        if let Some(t) = updated_before {
            q.push(" AND last_update_time < ").bind(t);
        }
        q.push(" ORDER BY experiment_id");
        fetch(&self.read, &q, experiment_row).await
    }

    async fn gc_experiments(&self, experiment_ids: &[String]) -> Result<Vec<GcExperiment>> {
        let ids = numeric_ids(experiment_ids);
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut q = Sql::new(
                "SELECT experiment_id, lifecycle_stage, last_update_time FROM experiments \
                 WHERE experiment_id IN ",
            );
            q.bind_list(chunk);
            out.extend(fetch(&self.read, &q, experiment_row).await?);
        }
        Ok(out)
    }

    async fn gc_deleted_logged_models(
        &self,
        updated_before: Option<i64>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<GcLoggedModel>> {
        let mut q = Sql::new(&format!(
            "SELECT {LM_COLUMNS} FROM logged_models WHERE lifecycle_stage = 'deleted' \
             AND model_id > "
        ));
        q.bind(after);
        if let Some(t) = updated_before {
            q.push(" AND last_updated_timestamp_ms <= ").bind(t);
        }
        q.push(" ORDER BY model_id LIMIT ").bind(limit);
        fetch(&self.read, &q, model_row).await
    }

    async fn gc_logged_models(&self, model_ids: &[String]) -> Result<Vec<GcLoggedModel>> {
        let mut out = Vec::new();
        for chunk in model_ids.chunks(CHUNK) {
            let mut q = Sql::new(&format!(
                "SELECT {LM_COLUMNS} FROM logged_models WHERE model_id IN "
            ));
            q.bind_list(chunk);
            out.extend(fetch(&self.read, &q, model_row).await?);
        }
        Ok(out)
    }

    async fn gc_logged_models_of(
        &self,
        experiment_ids: &[String],
        after: &str,
        limit: i64,
    ) -> Result<Vec<GcLoggedModel>> {
        let ids = numeric_ids(experiment_ids);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::new(&format!(
            "SELECT {LM_COLUMNS} FROM logged_models WHERE model_id > "
        ));
        q.bind(after);
        q.push(" AND experiment_id IN ").bind_list(&ids);
        q.push(" ORDER BY model_id LIMIT ").bind(limit);
        fetch(&self.read, &q, model_row).await
    }

    async fn gc_traces_of(
        &self,
        experiment_ids: &[String],
        after: &str,
        limit: i64,
    ) -> Result<Vec<GcTrace>> {
        let ids = numeric_ids(experiment_ids);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::new(
            "SELECT t.request_id, (SELECT g.value FROM trace_tags g WHERE g.request_id = \
             t.request_id AND g.key = 'mlflow.artifactLocation') FROM trace_info t \
             WHERE t.request_id > ",
        );
        q.bind(after);
        q.push(" AND t.experiment_id IN ").bind_list(&ids);
        q.push(" ORDER BY t.request_id LIMIT ").bind(limit);
        fetch(&self.read, &q, |r| {
            Ok(GcTrace {
                trace_id: r.try_get(0)?,
                artifact_location: r.try_get(1)?,
            })
        })
        .await
    }

    async fn gc_hard_delete_runs(&self, run_ids: &[String]) -> Result<Vec<String>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.retrying(|| async {
            let mut tx = self.write_tx().await?;
            let mut gone = Vec::new();
            for chunk in run_ids.chunks(CHUNK) {
                // Only runs still deleted: one restored since it was listed stays.
                let mut q = Sql::new(
                    "SELECT run_uuid FROM runs WHERE lifecycle_stage = 'deleted' AND run_uuid IN ",
                );
                q.bind_list(chunk);
                let rows = q.query().fetch_all(&mut *tx).await.map_err(db_err)?;
                let ids: Vec<String> = rows
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(db_err)?;
                if ids.is_empty() {
                    continue;
                }
                for table in ["metrics", "latest_metrics", "params", "tags", "runs"] {
                    let mut q = Sql::new(&format!("DELETE FROM {table} WHERE run_uuid IN "));
                    q.bind_list(&ids);
                    q.query().execute(&mut *tx).await.map_err(db_err)?;
                }
                gone.extend(ids);
            }
            tx.commit().await.map_err(db_err)?;
            Ok(gone)
        })
        .await
    }

    async fn gc_hard_delete_logged_models(
        &self,
        model_ids: &[String],
        whole_experiment: bool,
    ) -> Result<Vec<String>> {
        if model_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.retrying(|| async {
            let mut tx = self.write_tx().await?;
            let mut gone = Vec::new();
            for chunk in model_ids.chunks(CHUNK) {
                let mut q = Sql::new("SELECT model_id FROM logged_models WHERE model_id IN ");
                q.bind_list(chunk);
                if !whole_experiment {
                    q.push(" AND lifecycle_stage = 'deleted'");
                }
                let rows = q.query().fetch_all(&mut *tx).await.map_err(db_err)?;
                let ids: Vec<String> = rows
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(db_err)?;
                if ids.is_empty() {
                    continue;
                }
                for table in [
                    "logged_model_metrics",
                    "logged_model_params",
                    "logged_model_tags",
                    "logged_models",
                ] {
                    let mut q = Sql::new(&format!("DELETE FROM {table} WHERE model_id IN "));
                    q.bind_list(&ids);
                    q.query().execute(&mut *tx).await.map_err(db_err)?;
                }
                gone.extend(ids);
            }
            tx.commit().await.map_err(db_err)?;
            Ok(gone)
        })
        .await
    }

    async fn gc_hard_delete_experiment(&self, experiment_id: &str) -> Result<bool> {
        let Ok(id) = experiment_id.trim().parse::<i64>() else {
            return Ok(false);
        };
        self.retrying(|| async {
            let mut tx = self.write_tx().await?;
            let mut q = Sql::new(
                "SELECT COUNT(*) FROM experiments WHERE lifecycle_stage = 'deleted' \
                 AND experiment_id = ",
            );
            q.bind(id);
            let deleted: i64 = q
                .query()
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
            let mut q = Sql::new("SELECT COUNT(*) FROM runs WHERE experiment_id = ");
            q.bind(id);
            let runs: i64 = q
                .query()
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
            if deleted == 0 || runs > 0 {
                return Ok(false);
            }
            // Children whose foreign key to the experiment does not cascade, then the rollups
            // MLflow 3.18 keeps without a foreign key, then the experiment (the rest cascades).
            let mut tables = vec![
                "experiment_tags",
                "logged_model_metrics",
                "logged_model_params",
                "logged_model_tags",
                "logged_models",
                "spans",
                "trace_info",
                "online_scoring_configs",
            ];
            for rollup in [
                "sql_trace_rollup_rebuild_queue",
                "sql_trace_metric_daily_rollups",
                "sql_span_cost_daily_rollups",
                "sql_assessment_daily_rollups",
            ] {
                if self.table_exists(&mut tx, rollup).await? {
                    tables.push(rollup);
                }
            }
            tables.push("experiments");
            for table in tables {
                let mut q = Sql::new(&format!("DELETE FROM {table} WHERE experiment_id = "));
                q.bind(id);
                q.query().execute(&mut *tx).await.map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn gc_lease(&self) -> Result<Option<GcLease>> {
        match self.dialect {
            Dialect::Mysql => {
                // MySQL's named lock, like PostgreSQL's advisory lock, belongs to the session.
                let mut conn = self.write.acquire().await.map_err(db_err)?;
                let got: Option<i64> = Sql::new("SELECT GET_LOCK('rsflow_gc', 0)")
                    .query()
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .try_get(0)
                    .map_err(db_err)?;
                if got != Some(1) {
                    return Ok(None);
                }
                Ok(Some(GcLease::new(conn.detach())))
            }
            Dialect::Postgres => {
                let mut conn = self.write.acquire().await.map_err(db_err)?;
                let mut q = Sql::new("SELECT pg_try_advisory_lock(");
                q.bind(PG_GC_LOCK_KEY).push(")");
                let got: bool = q
                    .query()
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .try_get(0)
                    .map_err(db_err)?;
                if !got {
                    return Ok(None);
                }
                // The lock belongs to the session: the connection leaves the pool with the
                // lease and is closed when the lease drops, which releases the lock (and a
                // crashed process releases it too).
                Ok(Some(GcLease::new(conn.detach())))
            }
            Dialect::Sqlite => match &self.gc_lock_path {
                None => Ok(Some(GcLease::new(()))),
                Some(path) => {
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(path)
                        .map_err(|e| {
                            rsflow_core::MlflowError::internal(format!(
                                "cannot open the gc lock file {}: {e}",
                                path.display()
                            ))
                        })?;
                    match file.try_lock() {
                        Ok(()) => Ok(Some(GcLease::new(file))),
                        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                        Err(std::fs::TryLockError::Error(e)) => {
                            Err(rsflow_core::MlflowError::internal(format!(
                                "cannot lock the gc lock file {}: {e}",
                                path.display()
                            )))
                        }
                    }
                }
            },
        }
    }
}
