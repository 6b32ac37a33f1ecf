//! Experiments: create, read, rename, soft delete/restore (cascading to runs), tags.

use std::collections::HashMap;

use rsflow_core::wire::{Experiment, ExperimentTag, LIFECYCLE_ACTIVE, LIFECYCLE_DELETED, ViewType};
use rsflow_core::{ErrorCode, MlflowError, Result, now_ms};
use sqlx::{AnyConnection, Row as _};

use super::integrity::{Statement, Violation};
use super::query::{DbErrorKind, Dialect, Sql, classify, db_err};
use super::uri::{append_to_uri_path, resolve_uri_if_local};
use super::{SqlStore, runs};
use rsflow_core::pyfmt::{repr_opt_str, repr_str};

pub(crate) const DEFAULT_EXPERIMENT_ID: &str = "0";
const EXPERIMENT_COLUMNS: &str =
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time";

/// Python's `int(s)` on an experiment id: surrounding whitespace, a sign and single `_`
/// between digits are accepted. Returns the canonical decimal form.
fn python_int(s: &str) -> Option<String> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let d: String = digits.chars().filter(|c| *c != '_').collect();
    let d = d.trim_start_matches('0');
    Some(match (d.is_empty(), neg) {
        (true, _) => "0".to_string(),
        (false, true) => format!("-{d}"),
        (false, false) => d.to_string(),
    })
}

/// MLflow's `_parse_experiment_id`, plus the canonical form for "not found" messages.
/// Ids beyond 64 bits parse (Python ints are unbounded) but match nothing.
pub(crate) fn parse_experiment_id(experiment_id: &str) -> Result<(Option<i64>, String)> {
    let canonical = python_int(experiment_id).ok_or_else(|| {
        MlflowError::invalid_param(format!(
            "Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        ))
    })?;
    Ok((canonical.parse::<i64>().ok(), canonical))
}

/// An experiment row without its tags.
#[derive(Debug, Clone)]
pub(crate) struct ExperimentRow {
    pub id: i64,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: String,
    pub creation_time: Option<i64>,
    pub last_update_time: Option<i64>,
}

impl ExperimentRow {
    fn from_row(r: &sqlx::any::AnyRow) -> std::result::Result<Self, sqlx::Error> {
        Ok(ExperimentRow {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            artifact_location: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
            lifecycle_stage: r.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
            creation_time: r.try_get(4)?,
            last_update_time: r.try_get(5)?,
        })
    }

    pub(crate) fn into_entity(self, tags: Vec<ExperimentTag>) -> Experiment {
        Experiment {
            experiment_id: self.id.to_string(),
            name: self.name,
            artifact_location: self.artifact_location,
            lifecycle_stage: self.lifecycle_stage,
            last_update_time: self.last_update_time,
            creation_time: self.creation_time,
            tags,
            workspace: "default".to_string(),
        }
    }

    /// MLflow's `_check_experiment_is_active`.
    pub(crate) fn check_active(&self) -> Result<()> {
        if self.lifecycle_stage != LIFECYCLE_ACTIVE {
            return Err(MlflowError::invalid_param(format!(
                "The experiment {} must be in the 'active' state. Current state is {}.",
                self.id, self.lifecycle_stage
            )));
        }
        Ok(())
    }
}

pub(crate) fn stages_sql(view: ViewType) -> &'static str {
    match view {
        ViewType::ActiveOnly => "('active')",
        ViewType::DeletedOnly => "('deleted')",
        ViewType::All => "('active', 'deleted')",
    }
}

/// MLflow's `_get_experiment`: an empty id means the Default experiment.
pub(crate) async fn fetch_experiment(
    conn: &mut AnyConnection,
    experiment_id: &str,
    view: ViewType,
) -> Result<ExperimentRow> {
    let experiment_id = if experiment_id.is_empty() {
        DEFAULT_EXPERIMENT_ID
    } else {
        experiment_id
    };
    let (id, canonical) = parse_experiment_id(experiment_id)?;
    let not_found = || MlflowError::not_found(format!("No Experiment with id={canonical} exists"));
    let Some(id) = id else {
        return Err(not_found());
    };
    let mut q = Sql::new(&format!(
        "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = "
    ));
    q.bind(id)
        .push(" AND lifecycle_stage IN ")
        .push(stages_sql(view));
    let row = q.query().fetch_optional(&mut *conn).await.map_err(db_err)?;
    match row {
        Some(r) => ExperimentRow::from_row(&r).map_err(db_err),
        None => Err(not_found()),
    }
}

/// Tags of several experiments, in storage order.
pub(crate) async fn fetch_tags(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<ExperimentTag>>> {
    let mut out: HashMap<i64, Vec<ExperimentTag>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut q = Sql::new(
            "SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN ",
        );
        q.bind_list(chunk);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let id: i64 = r.try_get(0).map_err(db_err)?;
            out.entry(id).or_default().push(ExperimentTag {
                key: r.try_get(1).map_err(db_err)?,
                value: r
                    .try_get::<Option<String>, _>(2)
                    .map_err(db_err)?
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

pub(crate) async fn fetch_experiments_by_sql(
    conn: &mut AnyConnection,
    q: &Sql,
) -> Result<Vec<Experiment>> {
    let rows = q.query().fetch_all(&mut *conn).await.map_err(db_err)?;
    let rows = rows
        .iter()
        .map(ExperimentRow::from_row)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db_err)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut tags = fetch_tags(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let t = tags.remove(&r.id).unwrap_or_default();
            r.into_entity(t)
        })
        .collect())
}

/// MLflow's `_create_default_experiment` (run when experiment 0 is missing).
pub(crate) async fn ensure_default_experiment(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    artifact_root: &str,
) -> Result<()> {
    let exists = Sql::new("SELECT experiment_id FROM experiments WHERE experiment_id = 0")
        .query()
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    if exists.is_some() {
        return Ok(());
    }
    let now = now_ms();
    let mut q = Sql::new(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, \
         creation_time, last_update_time, workspace) VALUES (0, 'Default', ",
    );
    q.bind(append_to_uri_path(artifact_root, &["0"])?)
        .push(", 'active', ")
        .bind(now)
        .push(", ")
        .bind(now)
        .push(", 'default')");
    q.query().execute(&mut **tx).await.map_err(db_err)?;
    Ok(())
}

/// Keep the last value for each key, in first-seen key order.
pub(crate) fn dedupe_last<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(&'a str, &'a str)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<(&str, &str)> = Vec::new();
    for (k, v) in pairs {
        match index.get(k) {
            Some(&i) => out[i].1 = v,
            None => {
                index.insert(k, out.len());
                out.push((k, v));
            }
        }
    }
    out
}

impl SqlStore {
    pub(crate) async fn create_experiment_impl(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[ExperimentTag],
    ) -> Result<String> {
        let artifact_location = artifact_location
            .filter(|s| !s.is_empty())
            .map(resolve_uri_if_local);
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new(
            "INSERT INTO experiments (name, workspace, artifact_location, lifecycle_stage, \
             creation_time, last_update_time) VALUES (",
        );
        q.bind(name)
            .push(", 'default', ")
            .bind(artifact_location.clone())
            .push(", 'active', ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(")");
        // MySQL has no RETURNING: the new id is the connection's last insert id.
        let inserted = if self.dialect == Dialect::Mysql {
            q.query()
                .execute(&mut *tx)
                .await
                .map(|r| r.last_insert_id().unwrap_or_default())
        } else {
            q.push(" RETURNING experiment_id");
            q.query()
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get::<i64, _>(0))
        };
        let id = match inserted {
            Ok(id) => id,
            Err(e) if classify(&e) == DbErrorKind::UniqueViolation => {
                let err = Violation {
                    table: "experiments",
                    key: &[("workspace", "default"), ("name", name)],
                    constraint: "uq_experiments_workspace_name",
                    statement: Statement::Insert {
                        returning: Some("experiment_id"),
                    },
                    params: &[
                        ("name", repr_str(name)),
                        ("workspace", "'default'".into()),
                        (
                            "artifact_location",
                            repr_opt_str(artifact_location.as_deref()),
                        ),
                        ("lifecycle_stage", "'active'".into()),
                        ("creation_time", now.to_string()),
                        ("last_update_time", now.to_string()),
                    ],
                }
                .message(self.error_flavor);
                return Err(MlflowError::already_exists(format!(
                    "Experiment(name={name}) already exists. Error: {err}"
                )));
            }
            Err(e) => return Err(db_err(e)),
        };
        if artifact_location.is_none() {
            let loc = append_to_uri_path(&self.artifact_root, &[&id.to_string()])?;
            let mut q = Sql::new("UPDATE experiments SET artifact_location = ");
            q.bind(loc).push(" WHERE experiment_id = ").bind(id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        upsert_tags(&mut tx, id, tags).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(id.to_string())
    }

    pub(crate) async fn get_experiment_impl(&self, experiment_id: &str) -> Result<Experiment> {
        let mut tx = self.read_tx().await?;
        let row = fetch_experiment(&mut tx, experiment_id, ViewType::All).await?;
        let tags = fetch_tags(&mut tx, &[row.id])
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        Ok(row.into_entity(tags))
    }

    pub(crate) async fn get_experiment_by_name_impl(
        &self,
        name: &str,
    ) -> Result<Option<Experiment>> {
        let mut tx = self.read_tx().await?;
        let mut q = Sql::new(&format!(
            "SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE name = "
        ));
        q.bind(name);
        Ok(fetch_experiments_by_sql(&mut tx, &q)
            .await?
            .into_iter()
            .next())
    }

    pub(crate) async fn delete_experiment_impl(&self, experiment_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, experiment_id, ViewType::ActiveOnly).await?;
        let now = now_ms();
        set_lifecycle(&mut tx, exp.id, LIFECYCLE_DELETED, now).await?;
        runs::delete_source_run_assessments(&mut tx, runs::AssessmentScope::Experiment(exp.id))
            .await?;
        let mut q = Sql::new("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = ");
        q.bind(now).push(" WHERE experiment_id = ").bind(exp.id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn restore_experiment_impl(&self, experiment_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, experiment_id, ViewType::DeletedOnly).await?;
        set_lifecycle(&mut tx, exp.id, LIFECYCLE_ACTIVE, now_ms()).await?;
        let mut q = Sql::new(
            "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE experiment_id = ",
        );
        q.bind(exp.id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn rename_experiment_impl(
        &self,
        experiment_id: &str,
        new_name: &str,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, experiment_id, ViewType::All).await?;
        if exp.lifecycle_stage != LIFECYCLE_ACTIVE {
            // MLflow answers INVALID_STATE (HTTP 500, which clients retry); a 400 says the same
            // without the retries.
            return Err(MlflowError::new(
                ErrorCode::InvalidParameterValue,
                "Cannot rename a non-active experiment.",
            ));
        }
        let now = now_ms();
        let mut q = Sql::new("UPDATE experiments SET name = ");
        q.bind(new_name)
            .push(", last_update_time = ")
            .bind(now)
            .push(" WHERE experiment_id = ")
            .bind(exp.id);
        match q.query().execute(&mut *tx).await {
            Ok(_) => {}
            Err(e) if classify(&e) == DbErrorKind::UniqueViolation => {
                return Err(MlflowError::bad_request(
                    Violation {
                        table: "experiments",
                        key: &[("workspace", "default"), ("name", new_name)],
                        constraint: "uq_experiments_workspace_name",
                        statement: Statement::UpdateWhere,
                        params: &[
                            ("name", repr_str(new_name)),
                            ("last_update_time", now.to_string()),
                            ("experiment_id", exp.id.to_string()),
                        ],
                    }
                    .message(self.error_flavor),
                ));
            }
            Err(e) => return Err(db_err(e)),
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn set_experiment_tag_impl(
        &self,
        experiment_id: &str,
        tag: &ExperimentTag,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, experiment_id, ViewType::All).await?;
        exp.check_active()?;
        upsert_tags(&mut tx, exp.id, std::slice::from_ref(tag)).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_experiment_tag_impl(
        &self,
        experiment_id: &str,
        key: &str,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, experiment_id, ViewType::All).await?;
        exp.check_active()?;
        let mut q = Sql::new("DELETE FROM experiment_tags WHERE experiment_id = ");
        q.bind(exp.id).push(" AND key = ").bind(key);
        let done = q.query().execute(&mut *tx).await.map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(MlflowError::not_found(format!(
                "No tag with name: {key} in experiment with id {experiment_id}"
            )));
        }
        tx.commit().await.map_err(db_err)
    }
}

async fn set_lifecycle(conn: &mut AnyConnection, id: i64, stage: &str, now: i64) -> Result<()> {
    let mut q = Sql::new("UPDATE experiments SET lifecycle_stage = ");
    q.bind(stage)
        .push(", last_update_time = ")
        .bind(now)
        .push(" WHERE experiment_id = ")
        .bind(id);
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

async fn upsert_tags(conn: &mut AnyConnection, id: i64, tags: &[ExperimentTag]) -> Result<()> {
    let tags = dedupe_last(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
    for chunk in tags.chunks(300) {
        let mut q = Sql::new("INSERT INTO experiment_tags (key, value, experiment_id) VALUES ");
        for (i, (k, v)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(")
                .bind(*k)
                .push(", ")
                .bind(*v)
                .push(", ")
                .bind(id)
                .push(")");
        }
        q.push(" ON CONFLICT (key, experiment_id) DO UPDATE SET value = excluded.value");
        q.query().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_ids_parse_like_python_int() {
        assert_eq!(python_int(" 7 ").as_deref(), Some("7"));
        assert_eq!(python_int("+0012").as_deref(), Some("12"));
        assert_eq!(python_int("1_0").as_deref(), Some("10"));
        assert_eq!(python_int("-0").as_deref(), Some("0"));
        assert_eq!(python_int("abc"), None);
        assert_eq!(python_int("1__0"), None);
        assert_eq!(python_int("_1"), None);
        assert_eq!(python_int(""), None);
        assert_eq!(python_int("1.0"), None);
        let e = parse_experiment_id("abc").unwrap_err();
        assert_eq!(
            e.message,
            "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."
        );
        assert_eq!(parse_experiment_id("99999999999999999999").unwrap().0, None);
    }

    #[test]
    fn dedupe_keeps_last_value_first_position() {
        let d = dedupe_last([("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(d, vec![("a", "3"), ("b", "2")]);
    }
}
