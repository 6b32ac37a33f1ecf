//! Registered scorers (spec §5.2) on MLflow's `scorers`, `scorer_versions` and
//! `online_scoring_configs` tables. The serialized scorer is stored as text and never run.

use rsflow_core::genai::{OnlineScoringConfig, ScorerVersion};
use rsflow_core::genai::{is_gateway_model, scorer_model};
use rsflow_core::{MlflowError, Result, now_ms};
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::query::{Sql, db_err};

fn scorer_not_found(name: &str, experiment_id: &str) -> MlflowError {
    MlflowError::not_found(format!(
        "Scorer with name '{name}' not found for experiment {experiment_id}."
    ))
}

const V_COLUMNS: &str = "s.experiment_id, s.scorer_name, v.scorer_version, v.serialized_scorer, \
     v.creation_time, s.scorer_id";

fn version_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<ScorerVersion, sqlx::Error> {
    Ok(ScorerVersion {
        experiment_id: r.try_get::<i64, _>(0)?,
        scorer_name: r.try_get(1)?,
        scorer_version: r.try_get::<i64, _>(2)?,
        serialized_scorer: r.try_get(3)?,
        creation_time: r.try_get::<Option<i64>, _>(4)?.unwrap_or_default(),
        scorer_id: r.try_get(5)?,
    })
}

/// The active experiment's numeric id, with MLflow's errors for unknown and deleted ones.
async fn active_experiment(conn: &mut AnyConnection, experiment_id: &str) -> Result<i64> {
    let (id, _) = super::experiments::parse_experiment_id(experiment_id)?;
    let not_found =
        || MlflowError::not_found(format!("No Experiment with id={experiment_id} exists"));
    let id = id.ok_or_else(not_found)?;
    let mut q = Sql::new("SELECT lifecycle_stage FROM experiments WHERE experiment_id = ");
    q.bind(id);
    let stage: String = q
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(not_found)?
        .try_get(0)
        .map_err(db_err)?;
    if stage != "active" {
        return Err(MlflowError::invalid_param(format!(
            "The experiment {id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok(id)
}

async fn scorer_id_of(
    conn: &mut AnyConnection,
    experiment_id: i64,
    name: &str,
) -> Result<Option<String>> {
    let mut q = Sql::new("SELECT scorer_id FROM scorers WHERE experiment_id = ");
    q.bind(experiment_id).push(" AND scorer_name = ").bind(name);
    match q.query().fetch_optional(&mut *conn).await.map_err(db_err)? {
        Some(r) => Ok(Some(r.try_get(0).map_err(db_err)?)),
        None => Ok(None),
    }
}

async fn versions_of(
    conn: &mut AnyConnection,
    scorer_id: &str,
    version: Option<i64>,
    latest_only: bool,
) -> Result<Vec<ScorerVersion>> {
    let mut q = Sql::new(&format!(
        "SELECT {V_COLUMNS} FROM scorer_versions v JOIN scorers s ON s.scorer_id = v.scorer_id \
         WHERE v.scorer_id = "
    ));
    q.bind(scorer_id);
    if let Some(v) = version {
        q.push(" AND v.scorer_version = ").bind(v);
    }
    q.push(if latest_only {
        " ORDER BY v.scorer_version DESC LIMIT 1"
    } else {
        " ORDER BY v.scorer_version ASC"
    });
    q.query()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| version_from_row(r).map_err(db_err))
        .collect()
}

impl SqlStore {
    pub(crate) async fn register_scorer_impl(
        &self,
        experiment_id: &str,
        name: &str,
        serialized_scorer: &str,
    ) -> Result<ScorerVersion> {
        if name.trim().is_empty() {
            return Err(MlflowError::invalid_param(
                "Scorer name cannot be empty or contain only whitespace.",
            ));
        }
        let mut tx = self.write_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        let data: serde_json::Value = serde_json::from_str(serialized_scorer)
            .map_err(|_| MlflowError::invalid_param("serialized_scorer must be valid JSON"))?;
        let model = scorer_model(&data);
        if model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(MlflowError::invalid_param(
                "Scorer model cannot be empty or contain only whitespace.",
            ));
        }
        if is_gateway_model(model.as_deref()) {
            // rsflow serves no AI gateway: only an endpoint written by MLflow could match,
            // and MLflow would rewrite the payload with its id; refuse as for a missing one.
            let endpoint = model
                .as_deref()
                .and_then(|m| m.split_once(":/"))
                .map(|(_, p)| p.trim_start_matches('/').to_string())
                .unwrap_or_default();
            return Err(MlflowError::not_found(format!(
                "GatewayEndpoint not found (name='{endpoint}')"
            )));
        }
        let scorer_id = match scorer_id_of(&mut tx, exp, name).await? {
            Some(id) => id,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let mut q = Sql::new(
                    "INSERT INTO scorers (experiment_id, scorer_name, scorer_id) VALUES (",
                );
                q.bind(exp)
                    .push(", ")
                    .bind(name)
                    .push(", ")
                    .bind(id.as_str())
                    .push(")");
                q.query().execute(&mut *tx).await.map_err(db_err)?;
                id
            }
        };
        let mut q = Sql::new("SELECT MAX(scorer_version) FROM scorer_versions WHERE scorer_id = ");
        q.bind(scorer_id.as_str());
        let max: Option<i64> = q
            .query()
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_err)?;
        let version = max.unwrap_or(0) + 1;
        let mut q = Sql::new(
            "INSERT INTO scorer_versions (scorer_id, scorer_version, serialized_scorer, \
             creation_time) VALUES (",
        );
        q.bind(scorer_id.as_str())
            .push(", ")
            .bind(version)
            .push(", ")
            .bind(serialized_scorer)
            .push(", ")
            .bind(now_ms())
            .push(")");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let v = versions_of(&mut tx, &scorer_id, Some(version), true)
            .await?
            .pop()
            .ok_or_else(|| MlflowError::internal("the new scorer version vanished"))?;
        tx.commit().await.map_err(db_err)?;
        Ok(v)
    }

    pub(crate) async fn list_scorers_impl(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<ScorerVersion>> {
        let mut tx = self.read_tx().await?;
        let mut ids: Vec<i64> = Vec::new();
        if experiment_ids.is_empty() {
            let rows =
                Sql::new("SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'active'")
                    .query()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?;
            for r in rows {
                ids.push(r.try_get(0).map_err(db_err)?);
            }
        } else {
            for e in experiment_ids {
                if let (Some(id), _) = super::experiments::parse_experiment_id(e)? {
                    ids.push(id);
                }
            }
        }
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let mut q = Sql::new(&format!(
                "SELECT {V_COLUMNS} FROM scorer_versions v JOIN scorers s ON s.scorer_id = \
                 v.scorer_id WHERE v.scorer_version = (SELECT MAX(m.scorer_version) FROM \
                 scorer_versions m WHERE m.scorer_id = v.scorer_id) AND s.experiment_id IN "
            ));
            q.bind_list(chunk);
            for r in q.query().fetch_all(&mut *tx).await.map_err(db_err)? {
                out.push(version_from_row(&r).map_err(db_err)?);
            }
        }
        out.sort_by(|a, b| {
            (a.experiment_id, &a.scorer_name).cmp(&(b.experiment_id, &b.scorer_name))
        });
        Ok(out)
    }

    pub(crate) async fn list_scorer_versions_impl(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<Vec<ScorerVersion>> {
        let mut tx = self.read_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        let id = scorer_id_of(&mut tx, exp, name)
            .await?
            .ok_or_else(|| scorer_not_found(name, experiment_id))?;
        let v = versions_of(&mut tx, &id, None, false).await?;
        if v.is_empty() {
            return Err(scorer_not_found(name, experiment_id));
        }
        Ok(v)
    }

    pub(crate) async fn get_scorer_impl(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<ScorerVersion> {
        let mut tx = self.read_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        let id = scorer_id_of(&mut tx, exp, name)
            .await?
            .ok_or_else(|| scorer_not_found(name, experiment_id))?;
        versions_of(&mut tx, &id, version, true)
            .await?
            .pop()
            .ok_or_else(|| match version {
                Some(v) => MlflowError::not_found(format!(
                    "Scorer with name '{name}' and version {v} not found for experiment \
                     {experiment_id}."
                )),
                None => scorer_not_found(name, experiment_id),
            })
    }

    pub(crate) async fn delete_scorer_impl(
        &self,
        experiment_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        let id = scorer_id_of(&mut tx, exp, name)
            .await?
            .ok_or_else(|| scorer_not_found(name, experiment_id))?;
        let mut q = Sql::new("DELETE FROM scorer_versions WHERE scorer_id = ");
        q.bind(id.as_str());
        if let Some(v) = version {
            q.push(" AND scorer_version = ").bind(v);
        }
        let n = q
            .query()
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(match version {
                Some(v) => MlflowError::not_found(format!(
                    "Scorer with name '{name}' and version {v} not found for experiment \
                     {experiment_id}."
                )),
                None => scorer_not_found(name, experiment_id),
            });
        }
        if version.is_none() {
            for table in ["online_scoring_configs", "scorers"] {
                let mut q = Sql::new(&format!("DELETE FROM {table} WHERE scorer_id = "));
                q.bind(id.as_str());
                q.query().execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn online_scoring_configs_impl(
        &self,
        scorer_ids: &[String],
    ) -> Result<Vec<OnlineScoringConfig>> {
        if scorer_ids.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.read_tx().await?;
        let mut out = Vec::new();
        for chunk in scorer_ids.chunks(500) {
            let mut q = Sql::new(
                "SELECT online_scoring_config_id, scorer_id, sample_rate, experiment_id, \
                 filter_string FROM online_scoring_configs WHERE scorer_id IN ",
            );
            q.bind_list(chunk);
            for r in q.query().fetch_all(&mut *tx).await.map_err(db_err)? {
                out.push(OnlineScoringConfig {
                    online_scoring_config_id: r.try_get(0).map_err(db_err)?,
                    scorer_id: r.try_get(1).map_err(db_err)?,
                    sample_rate: r.try_get(2).map_err(db_err)?,
                    experiment_id: r.try_get::<i64, _>(3).map_err(db_err)?.to_string(),
                    filter_string: r.try_get(4).map_err(db_err)?,
                });
            }
        }
        Ok(out)
    }

    /// `PUT online-config`: the scorer must exist; a positive rate needs a gateway model.
    pub(crate) async fn upsert_online_scoring_config_impl(
        &self,
        experiment_id: &str,
        name: &str,
        sample_rate: f64,
        filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig> {
        let mut tx = self.write_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        let id = scorer_id_of(&mut tx, exp, name)
            .await?
            .ok_or_else(|| scorer_not_found(name, experiment_id))?;
        if let Some(latest) = versions_of(&mut tx, &id, None, true).await?.pop()
            && sample_rate > 0.0
        {
            let data: serde_json::Value =
                serde_json::from_str(&latest.serialized_scorer).unwrap_or_default();
            if !is_gateway_model(scorer_model(&data).as_deref()) {
                return Err(MlflowError::invalid_param(format!(
                    "Scorer '{name}' does not use a gateway model. Automatic evaluation is only \
                     supported for scorers that use gateway models."
                )));
            }
        }
        let mut q = Sql::new("DELETE FROM online_scoring_configs WHERE scorer_id = ");
        q.bind(id.as_str());
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let config = OnlineScoringConfig {
            online_scoring_config_id: uuid::Uuid::new_v4().simple().to_string(),
            scorer_id: id,
            sample_rate,
            experiment_id: exp.to_string(),
            filter_string: filter_string.map(str::to_string),
        };
        let mut q = Sql::new(
            "INSERT INTO online_scoring_configs (online_scoring_config_id, scorer_id, \
             sample_rate, experiment_id, filter_string) VALUES (",
        );
        q.bind(config.online_scoring_config_id.as_str())
            .push(", ")
            .bind(config.scorer_id.as_str())
            .push(", ")
            .bind(sample_rate)
            .push(", ")
            .bind(exp)
            .push(", ")
            .bind(config.filter_string.clone())
            .push(")");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(config)
    }
}
