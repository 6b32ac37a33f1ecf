//! MLflow 3 logged models on `logged_models`, `logged_model_params`, `logged_model_tags` and
//! `logged_model_metrics`. Metrics arrive through the tracking store's log-metric/log-batch
//! (rows with a `model_id`); this module reads them. Search lives in `logged_model_search`.

use std::collections::HashMap;

use async_trait::async_trait;
use rsflow_core::wire::{
    KeyValue, LIFECYCLE_ACTIVE, LIFECYCLE_DELETED, MetricValue, Page, ViewType,
};
use rsflow_core::wire_models::{
    LoggedModel, LoggedModelData, LoggedModelInfo, LoggedModelMetric, LoggedModelStatus,
    MODEL_VERSIONS_TAG_KEY,
};
use rsflow_core::{MlflowError, Result, names, now_ms};
use serde_json::Value;
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::experiments::{dedupe_last, fetch_experiment};
use super::query::{Dialect, Sql, db_err};
use super::registry_rules as rules;
use super::uri::append_to_uri_path;
use crate::{CreateLoggedModel, LoggedModelStore, SearchLoggedModels};
use rsflow_core::pyfmt::{json_dumps, repr_str};

pub(crate) const LM_COLUMNS: &str = "lm.model_id, lm.experiment_id, lm.name, \
     lm.artifact_location, lm.creation_timestamp_ms, lm.last_updated_timestamp_ms, lm.status, \
     lm.model_type, lm.source_run_id, lm.status_message";

fn not_found(model_id: &str) -> MlflowError {
    MlflowError::not_found(format!("Logged model with ID '{model_id}' not found."))
}

/// A `logged_models` row in [`LM_COLUMNS`] order, without tags, params or metrics.
pub(crate) fn info_from_row(r: &sqlx::any::AnyRow) -> Result<LoggedModelInfo> {
    let get = || -> std::result::Result<LoggedModelInfo, sqlx::Error> {
        Ok(LoggedModelInfo {
            model_id: r.try_get(0)?,
            experiment_id: r.try_get::<i64, _>(1)?.to_string(),
            name: r.try_get(2)?,
            artifact_uri: r.try_get(3)?,
            creation_timestamp_ms: r.try_get(4)?,
            last_updated_timestamp_ms: r.try_get(5)?,
            status: LoggedModelStatus::from_int(r.try_get(6)?).unwrap_or_default(),
            model_type: r.try_get(7)?,
            source_run_id: r.try_get(8)?,
            status_message: r.try_get(9)?,
            tags: vec![],
        })
    };
    get().map_err(db_err)
}

/// Fill tags, params and metrics of models. Tags and params are ordered by key; metrics come in
/// the order they were logged, as MLflow's unordered relationship load returns them (the UI
/// lays out a model's charts in that order).
pub(crate) async fn complete(
    conn: &mut AnyConnection,
    dialect: Dialect,
    infos: Vec<LoggedModelInfo>,
) -> Result<Vec<LoggedModel>> {
    let ids: Vec<String> = infos.iter().map(|i| i.model_id.clone()).collect();
    let mut tags: HashMap<String, Vec<KeyValue>> = HashMap::new();
    let mut params: HashMap<String, Vec<KeyValue>> = HashMap::new();
    let mut metrics: HashMap<String, Vec<LoggedModelMetric>> = HashMap::new();
    for chunk in ids.chunks(400) {
        for (table, key, value, out) in [
            ("logged_model_tags", "tag_key", "tag_value", &mut tags),
            (
                "logged_model_params",
                "param_key",
                "param_value",
                &mut params,
            ),
        ] {
            let mut q = Sql::new(&format!(
                "SELECT model_id, {key}, {value} FROM {table} WHERE model_id IN "
            ));
            q.bind_list(chunk)
                .push(&format!(" ORDER BY model_id, {key}"));
            for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
                out.entry(r.try_get(0).map_err(db_err)?)
                    .or_default()
                    .push(KeyValue {
                        key: r.try_get(1).map_err(db_err)?,
                        value: r
                            .try_get::<Option<String>, _>(2)
                            .map_err(db_err)?
                            .unwrap_or_default(),
                    });
            }
        }
        let mut q = Sql::new(
            "SELECT model_id, metric_name, metric_value, metric_timestamp_ms, metric_step, \
             dataset_name, dataset_digest, run_id FROM logged_model_metrics WHERE model_id IN ",
        );
        // MLflow's relationship load has no ORDER BY: logging order on SQLite and PostgreSQL,
        // the primary key (model_id, metric_name, metric_timestamp_ms, metric_step, run_id)
        // on MySQL, where the lookup by model_id walks that clustered key.
        q.bind_list(chunk).push(&format!(
            " ORDER BY model_id, {}",
            dialect.scan_order("metric_name, metric_timestamp_ms, metric_step, run_id")
        ));
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let get = || -> std::result::Result<(String, LoggedModelMetric), sqlx::Error> {
                let model_id: String = r.try_get(0)?;
                let value: Option<f64> = r.try_get(2)?;
                Ok((
                    model_id.clone(),
                    LoggedModelMetric {
                        key: r.try_get(1)?,
                        // NaN was stored as 0 (MLflow's sanitising; this table has no is_nan).
                        value: MetricValue(value.unwrap_or_default()),
                        timestamp: r.try_get(3)?,
                        step: r.try_get(4)?,
                        dataset_name: r.try_get(5)?,
                        dataset_digest: r.try_get(6)?,
                        model_id,
                        run_id: r.try_get(7)?,
                    },
                ))
            };
            let (id, m) = get().map_err(db_err)?;
            metrics.entry(id).or_default().push(m);
        }
    }
    Ok(infos
        .into_iter()
        .map(|mut info| {
            info.tags = tags.remove(&info.model_id).unwrap_or_default();
            LoggedModel {
                data: LoggedModelData {
                    params: params.remove(&info.model_id).unwrap_or_default(),
                    metrics: metrics.remove(&info.model_id).unwrap_or_default(),
                },
                info,
            }
        })
        .collect())
}

/// The model row, deleted or not (MLflow's `_get_logged_model_record`).
async fn fetch_record(
    conn: &mut AnyConnection,
    model_id: &str,
    allow_deleted: bool,
) -> Result<LoggedModelInfo> {
    let mut q = Sql::new(&format!(
        "SELECT {LM_COLUMNS} FROM logged_models lm WHERE lm.model_id = "
    ));
    q.bind(model_id);
    if !allow_deleted {
        q.push(" AND (lm.lifecycle_stage IS NULL OR lm.lifecycle_stage != ")
            .bind(LIFECYCLE_DELETED)
            .push(")");
    }
    match q.query().fetch_optional(&mut *conn).await.map_err(db_err)? {
        Some(r) => info_from_row(&r),
        None => Err(not_found(model_id)),
    }
}

async fn get_model(
    conn: &mut AnyConnection,
    dialect: Dialect,
    model_id: &str,
    allow_deleted: bool,
) -> Result<LoggedModel> {
    let info = fetch_record(conn, model_id, allow_deleted).await?;
    Ok(complete(conn, dialect, vec![info])
        .await?
        .pop()
        .unwrap_or_default())
}

async fn upsert_tags(
    conn: &mut AnyConnection,
    model_id: &str,
    experiment_id: &str,
    tags: &[(&str, &str)],
) -> Result<()> {
    for (k, v) in tags {
        let mut q = Sql::new(
            "INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES (",
        );
        q.bind(model_id)
            .push(", ")
            .bind(experiment_id.parse::<i64>().unwrap_or_default())
            .push(", ")
            .bind(*k)
            .push(", ")
            .bind(*v)
            .push(") ON CONFLICT (model_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value");
        q.query().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

async fn upsert_params(
    conn: &mut AnyConnection,
    model_id: &str,
    experiment_id: &str,
    params: &[(&str, &str)],
) -> Result<()> {
    for (k, v) in params {
        let mut q = Sql::new(
            "INSERT INTO logged_model_params (model_id, experiment_id, param_key, param_value) \
             VALUES (",
        );
        q.bind(model_id)
            .push(", ")
            .bind(experiment_id.parse::<i64>().unwrap_or_default())
            .push(", ")
            .bind(*k)
            .push(", ")
            .bind(*v)
            .push(
                ") ON CONFLICT (model_id, param_key) DO UPDATE SET param_value = \
                 excluded.param_value",
            );
        q.query().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl LoggedModelStore for SqlStore {
    async fn create_logged_model(&self, model: CreateLoggedModel) -> Result<LoggedModel> {
        if let Some(name) = &model.name {
            rules::logged_model_name(name)?;
        }
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, &model.experiment_id, ViewType::All).await?;
        exp.check_active()?;
        let model_id = format!("m-{}", uuid::Uuid::new_v4().simple());
        let artifact_location =
            append_to_uri_path(&exp.artifact_location, &["models", &model_id, "artifacts"])?;
        let name = model.name.clone().unwrap_or_else(names::random_name);
        let now = now_ms();
        let mut q = Sql::new(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, \
             creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage, \
             model_type, source_run_id, status_message) VALUES (",
        );
        q.bind(model_id.as_str())
            .push(", ")
            .bind(exp.id)
            .push(", ")
            .bind(name)
            .push(", ")
            .bind(artifact_location)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(LoggedModelStatus::Pending.to_int())
            .push(", ")
            .bind(LIFECYCLE_ACTIVE)
            .push(", ")
            .bind(model.model_type.clone())
            .push(", ")
            .bind(model.source_run_id.clone())
            .push(", NULL)");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let exp_id = exp.id.to_string();
        let params = dedupe_last(
            model
                .params
                .iter()
                .map(|p| (p.key.as_str(), p.value.as_str())),
        );
        upsert_params(&mut tx, &model_id, &exp_id, &params).await?;
        let tags = dedupe_last(
            model
                .tags
                .iter()
                .map(|t| (t.key.as_str(), t.value.as_str())),
        );
        upsert_tags(&mut tx, &model_id, &exp_id, &tags).await?;
        let created = get_model(&mut tx, self.dialect, &model_id, false).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn get_logged_model(&self, model_id: &str, allow_deleted: bool) -> Result<LoggedModel> {
        let mut tx = self.read_tx().await?;
        get_model(&mut tx, self.dialect, model_id, allow_deleted).await
    }

    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        let mut tx = self.write_tx().await?;
        fetch_record(&mut tx, model_id, true).await?;
        let mut q = Sql::new("UPDATE logged_models SET status = ");
        q.bind(status.to_int())
            .push(", last_updated_timestamp_ms = ")
            .bind(now_ms())
            .push(" WHERE model_id = ")
            .bind(model_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let model = get_model(&mut tx, self.dialect, model_id, true).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(model)
    }

    async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        fetch_record(&mut tx, model_id, true).await?;
        let mut q = Sql::new("UPDATE logged_models SET lifecycle_stage = ");
        q.bind(LIFECYCLE_DELETED)
            .push(", last_updated_timestamp_ms = ")
            .bind(now_ms())
            .push(" WHERE model_id = ")
            .bind(model_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn set_logged_model_tags(&self, model_id: &str, tags: &[KeyValue]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let info = fetch_record(&mut tx, model_id, true).await?;
        let pairs = dedupe_last(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
        upsert_tags(&mut tx, model_id, &info.experiment_id, &pairs).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        fetch_record(&mut tx, model_id, true).await?;
        let mut q = Sql::new("DELETE FROM logged_model_tags WHERE model_id = ");
        q.bind(model_id).push(" AND tag_key = ").bind(key);
        let done = q.query().execute(&mut *tx).await.map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(MlflowError::not_found(format!(
                "No tag with key {} found for model with ID {}.",
                repr_str(key),
                repr_str(model_id)
            )));
        }
        tx.commit().await.map_err(db_err)
    }

    async fn log_logged_model_params(&self, model_id: &str, params: &[KeyValue]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let info = fetch_record(&mut tx, model_id, true).await?;
        let pairs = dedupe_last(params.iter().map(|p| (p.key.as_str(), p.value.as_str())));
        upsert_params(&mut tx, model_id, &info.experiment_id, &pairs).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn search_logged_models(&self, query: &SearchLoggedModels) -> Result<Page<LoggedModel>> {
        self.search_logged_models_impl(query).await
    }

    async fn record_model_version(&self, model_id: &str, name: &str, version: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let model = get_model(&mut tx, self.dialect, model_id, false).await?;
        let entry = serde_json::json!({"name": name, "version": version});
        let mut list: Vec<Value> = model
            .tag(MODEL_VERSIONS_TAG_KEY)
            .and_then(|v| serde_json::from_str::<Vec<Value>>(v).ok())
            .unwrap_or_default();
        if !list.contains(&entry) {
            list.push(entry);
        }
        let text = json_dumps(&Value::Array(list));
        upsert_tags(
            &mut tx,
            model_id,
            &model.info.experiment_id,
            &[(MODEL_VERSIONS_TAG_KEY, text.as_str())],
        )
        .await?;
        tx.commit().await.map_err(db_err)
    }
}
