//! Runs: create, read (with latest metrics, params, tags, inputs, outputs), update, soft
//! delete and restore.

use rsflow_core::wire::{
    LIFECYCLE_ACTIVE, Run, RunData, RunInfo, RunInputs, RunStatus, RunTag, ViewType,
};
use rsflow_core::{MlflowError, Result, new_run_id, now_ms};
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::experiments::{dedupe_last, fetch_experiment};
use super::query::{Sql, db_err, sorts_for_locks};
use super::run_data::{assemble, fetch_children};
use super::uri::append_to_uri_path;

pub(crate) const MLFLOW_RUN_NAME: &str = "mlflow.runName";
pub(crate) const RUN_COLUMNS: &str = "runs.run_uuid, runs.name, runs.experiment_id, runs.user_id, \
     runs.status, runs.start_time, runs.end_time, runs.lifecycle_stage, runs.artifact_uri";

/// A `runs` row.
#[derive(Debug, Clone)]
pub(crate) struct RunRow {
    pub run_uuid: String,
    pub name: Option<String>,
    pub experiment_id: i64,
    pub user_id: Option<String>,
    pub status: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub lifecycle_stage: String,
    pub artifact_uri: Option<String>,
}

impl RunRow {
    /// Decode the first nine columns, in [`RUN_COLUMNS`] order.
    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self> {
        let get = || -> std::result::Result<RunRow, sqlx::Error> {
            Ok(RunRow {
                run_uuid: r.try_get(0)?,
                name: r.try_get(1)?,
                experiment_id: r.try_get::<Option<i64>, _>(2)?.unwrap_or_default(),
                user_id: r.try_get(3)?,
                status: r.try_get(4)?,
                start_time: r.try_get(5)?,
                end_time: r.try_get(6)?,
                lifecycle_stage: r.try_get::<Option<String>, _>(7)?.unwrap_or_default(),
                artifact_uri: r.try_get(8)?,
            })
        };
        get().map_err(db_err)
    }

    /// MLflow's `_check_run_is_active`.
    pub(crate) fn check_active(&self) -> Result<()> {
        if self.lifecycle_stage != LIFECYCLE_ACTIVE {
            return Err(MlflowError::invalid_param(format!(
                "The run {} must be in the 'active' state. Current state is {}.",
                self.run_uuid, self.lifecycle_stage
            )));
        }
        Ok(())
    }

    /// `RunInfo`; an empty name falls back to the `mlflow.runName` tag (runs from MLflow
    /// <= 1.29 have no name column value).
    pub(crate) fn info(&self, tags: &[RunTag]) -> RunInfo {
        let mut run_name = self.name.clone().unwrap_or_default();
        if run_name.is_empty()
            && let Some(t) = tags.iter().find(|t| t.key == MLFLOW_RUN_NAME)
        {
            run_name = t.value.clone();
        }
        RunInfo {
            run_uuid: self.run_uuid.clone(),
            run_id: self.run_uuid.clone(),
            experiment_id: self.experiment_id.to_string(),
            run_name,
            user_id: self.user_id.clone().unwrap_or_default(),
            status: self.status.clone().unwrap_or_default(),
            start_time: self.start_time.unwrap_or_default(),
            end_time: self.end_time,
            artifact_uri: self.artifact_uri.clone().unwrap_or_default(),
            lifecycle_stage: self.lifecycle_stage.clone(),
        }
    }
}

/// MLflow's `_get_run`: "Run with id=<id> not found".
pub(crate) async fn fetch_run(conn: &mut AnyConnection, run_id: &str) -> Result<RunRow> {
    let mut q = Sql::new(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid = "));
    q.bind(run_id);
    match q.query().fetch_optional(&mut *conn).await.map_err(db_err)? {
        Some(r) => RunRow::from_row(&r),
        None => Err(MlflowError::not_found(format!(
            "Run with id={run_id} not found"
        ))),
    }
}

/// Which runs' assessments to drop when runs are deleted.
pub(crate) enum AssessmentScope<'a> {
    Run(&'a str),
    Experiment(i64),
}

/// MLflow deletes the assessments a run produced (found by the source-run id in their
/// metadata) when it marks the run deleted.
pub(crate) async fn delete_source_run_assessments(
    conn: &mut AnyConnection,
    scope: AssessmentScope<'_>,
) -> Result<()> {
    // The common case, no assessments at all, costs one indexed probe.
    let any = Sql::new("SELECT assessment_id FROM assessments LIMIT 1")
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    if any.is_none() {
        return Ok(());
    }
    let prefix = "%\"mlflow.assessment.sourceRunId\": \"";
    let mut q = Sql::new("DELETE FROM assessments WHERE ");
    match scope {
        AssessmentScope::Run(run_id) => {
            q.push("assessment_metadata LIKE ")
                .bind(format!("{prefix}{run_id}\"%"));
        }
        AssessmentScope::Experiment(id) => {
            q.push("EXISTS (SELECT 1 FROM runs WHERE runs.experiment_id = ")
                .bind(id)
                .push(" AND assessments.assessment_metadata LIKE ")
                .bind(prefix)
                .push(" || runs.run_uuid || '\"%')");
        }
    }
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// Upsert run tags (last value wins for a key repeated in one call).
pub(crate) async fn upsert_run_tags(
    conn: &mut AnyConnection,
    run_id: &str,
    tags: &[(&str, &str)],
) -> Result<()> {
    let mut sorted = Vec::new();
    let tags = if sorts_for_locks(conn) {
        sorted.extend_from_slice(tags);
        sorted.sort_unstable_by_key(|(k, _)| *k);
        &sorted[..]
    } else {
        tags
    };
    for chunk in tags.chunks(300) {
        let mut q = Sql::new("INSERT INTO tags (key, value, run_uuid) VALUES ");
        for (i, (k, v)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(")
                .bind(*k)
                .push(", ")
                .bind(*v)
                .push(", ")
                .bind(run_id)
                .push(")");
        }
        q.push(" ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value");
        q.query().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// Rename a run: the `name` column and the `mlflow.runName` tag move together.
pub(crate) async fn set_run_name(conn: &mut AnyConnection, run_id: &str, name: &str) -> Result<()> {
    let mut q = Sql::new("UPDATE runs SET name = ");
    q.bind(name).push(" WHERE run_uuid = ").bind(run_id);
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    upsert_run_tags(conn, run_id, &[(MLFLOW_RUN_NAME, name)]).await
}

impl SqlStore {
    pub(crate) async fn create_run_impl(&self, run: crate::CreateRun) -> Result<Run> {
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, &run.experiment_id, ViewType::All).await?;
        exp.check_active()?;
        let run_id = new_run_id();
        let artifact_uri = append_to_uri_path(&exp.artifact_location, &[&run_id, "artifacts"])?;
        let mut tags = run.tags.clone();
        let tag_name = tags
            .iter()
            .find(|t| t.key == MLFLOW_RUN_NAME)
            .map(|t| t.value.clone());
        let arg_name = run.run_name.clone().filter(|n| !n.is_empty());
        if let (Some(a), Some(t)) = (&arg_name, tag_name.as_ref().filter(|t| !t.is_empty()))
            && a != t
        {
            return Err(MlflowError::invalid_param(format!(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with \
                 different values (run_name='{a}', mlflow.runName='{t}')."
            )));
        }
        let run_name = arg_name
            .or_else(|| tag_name.clone().filter(|t| !t.is_empty()))
            .unwrap_or_else(rsflow_core::names::random_name);
        if tag_name.as_deref().is_none_or(str::is_empty) {
            tags.push(RunTag {
                key: MLFLOW_RUN_NAME.to_string(),
                value: run_name.clone(),
            });
        }
        let mut q = Sql::new(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, \
             user_id, status, start_time, end_time, source_version, lifecycle_stage, \
             artifact_uri, experiment_id, deleted_time) VALUES (",
        );
        q.bind(run_id.as_str())
            .push(", ")
            .bind(run_name.as_str())
            .push(", 'UNKNOWN', '', '', ")
            .bind(run.user_id.as_str())
            .push(", 'RUNNING', ")
            .bind(run.start_time)
            .push(", NULL, '', 'active', ")
            .bind(artifact_uri.as_str())
            .push(", ")
            .bind(exp.id)
            .push(", NULL)");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let deduped = dedupe_last(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
        upsert_run_tags(&mut tx, &run_id, &deduped).await?;
        tx.commit().await.map_err(db_err)?;
        let tags: Vec<RunTag> = deduped
            .into_iter()
            .map(|(k, v)| RunTag {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect();
        Ok(Run {
            info: RunInfo {
                run_uuid: run_id.clone(),
                run_id,
                experiment_id: exp.id.to_string(),
                run_name,
                user_id: run.user_id,
                status: RunStatus::Running.as_str().to_string(),
                start_time: run.start_time,
                end_time: None,
                artifact_uri,
                lifecycle_stage: LIFECYCLE_ACTIVE.to_string(),
            },
            data: RunData {
                tags,
                ..Default::default()
            },
            inputs: RunInputs::default(),
            outputs: None,
        })
    }

    pub(crate) async fn get_run_impl(&self, run_id: &str) -> Result<Run> {
        let mut tx = self.read_tx().await?;
        let row = fetch_run(&mut tx, run_id).await?;
        let ids = [row.run_uuid.clone()];
        let children = fetch_children(&mut tx, &ids, true).await?;
        Ok(assemble(vec![row], children).remove(0))
    }

    pub(crate) async fn update_run_impl(
        &self,
        run_id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo> {
        let mut tx = self.write_tx().await?;
        let row = fetch_run(&mut tx, run_id).await?;
        row.check_active()?;
        if status.is_some() || end_time.is_some() {
            let mut q = Sql::new("UPDATE runs SET ");
            if let Some(s) = status {
                q.push("status = ").bind(s.as_str());
            }
            if let Some(t) = end_time {
                if status.is_some() {
                    q.push(", ");
                }
                q.push("end_time = ").bind(t);
            }
            q.push(" WHERE run_uuid = ").bind(run_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        if let Some(name) = run_name.filter(|n| !n.is_empty()) {
            set_run_name(&mut tx, run_id, name).await?;
        }
        let row = fetch_run(&mut tx, run_id).await?;
        // Runs from MLflow <= 1.29 have no name column value: the info falls back to the tag.
        let mut tags = Vec::new();
        if row.name.as_deref().is_none_or(str::is_empty) {
            let mut q = Sql::new("SELECT value FROM tags WHERE run_uuid = ");
            q.bind(run_id).push(" AND key = ").bind(MLFLOW_RUN_NAME);
            if let Some(r) = q.query().fetch_optional(&mut *tx).await.map_err(db_err)? {
                let value: Option<String> = r.try_get(0).map_err(db_err)?;
                tags.push(RunTag {
                    key: MLFLOW_RUN_NAME.to_string(),
                    value: value.unwrap_or_default(),
                });
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(row.info(&tags))
    }

    pub(crate) async fn delete_run_impl(&self, run_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let row = fetch_run(&mut tx, run_id).await?;
        delete_source_run_assessments(&mut tx, AssessmentScope::Run(&row.run_uuid)).await?;
        let mut q = Sql::new("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ");
        q.bind(now_ms()).push(" WHERE run_uuid = ").bind(run_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn restore_run_impl(&self, run_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        fetch_run(&mut tx, run_id).await?;
        let mut q = Sql::new(
            "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE run_uuid = ",
        );
        q.bind(run_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}
