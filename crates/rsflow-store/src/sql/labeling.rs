//! Label schemas, review queues and issues (spec §5.3) on MLflow's `label_schemas`,
//! `review_queues`, `review_queue_items`, `review_queue_users`, `review_queue_label_schemas`
//! and `issues` tables, with the checks of MLflow's SQL store (the request-level validation
//! lives in the HTTP layer).

use rsflow_core::genai::{
    Issue, IssueUpdate, LabelSchema, LabelSchemaUpdate, ReviewQueue, ReviewQueueItem,
    ReviewQueueUpdate,
};
use rsflow_core::pyfmt::json_dumps;
use rsflow_core::wire::Page;
use rsflow_core::{MlflowError, Result, now_ms, page_token};
use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::query::{Sql, db_err};

/// `DEFAULT_LABEL_SCHEMA_NAME` / `_INSTRUCTION`.
const DEFAULT_SCHEMA_NAME: &str = "Feedback";
const DEFAULT_SCHEMA_INSTRUCTION: &str = "Share any feedback on this trace.";

/// The experiment must exist and be active (`_get_experiment(..., ACTIVE_ONLY)`).
async fn active_experiment(conn: &mut AnyConnection, experiment_id: &str) -> Result<i64> {
    let (id, _) = super::experiments::parse_experiment_id(experiment_id)?;
    let not_found =
        || MlflowError::not_found(format!("No Experiment with id={experiment_id} exists"));
    let id = id.ok_or_else(not_found)?;
    let mut q =
        Sql::new("SELECT 1 FROM experiments WHERE lifecycle_stage = 'active' AND experiment_id = ");
    q.bind(id);
    q.query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(not_found)?;
    Ok(id)
}

/// `_input_to_dict`'s JSON, in MLflow's key order.
pub(crate) fn input_config_json(input_type: &str, config: &Map<String, Value>) -> String {
    let keys: &[&str] = match input_type {
        "pass_fail" => &["positive_label", "negative_label"],
        "categorical" => &["options", "multi_select"],
        "numeric" => &["min_value", "max_value"],
        _ => &["max_length"],
    };
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let v = config.get(*k).cloned().unwrap_or(match *k {
                "multi_select" => Value::Bool(false),
                _ => Value::Null,
            });
            format!("\"{k}\": {}", json_dumps(&v))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

const LS_COLUMNS: &str = "schema_id, experiment_id, name, type, instruction, \
     CASE WHEN enable_comment THEN 1 ELSE 0 END, input_type, input_config, created_by, \
     created_time, last_update_time, CASE WHEN is_default THEN 1 ELSE 0 END";

fn schema_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<LabelSchema, sqlx::Error> {
    let config: String = r.try_get(7)?;
    Ok(LabelSchema {
        schema_id: r.try_get(0)?,
        experiment_id: r.try_get::<i64, _>(1)?.to_string(),
        name: r.try_get(2)?,
        schema_type: r.try_get(3)?,
        instruction: r.try_get(4)?,
        enable_comment: r.try_get::<i64, _>(5)? != 0,
        input_type: r.try_get(6)?,
        input_config: serde_json::from_str(&config).unwrap_or_default(),
        created_by: r.try_get(8)?,
        created_time: r.try_get(9)?,
        last_update_time: r.try_get(10)?,
        is_default: r.try_get::<i64, _>(11)? != 0,
    })
}

async fn fetch_schema(conn: &mut AnyConnection, schema_id: &str) -> Result<Option<LabelSchema>> {
    let mut q = Sql::new(&format!(
        "SELECT {LS_COLUMNS} FROM label_schemas WHERE schema_id = "
    ));
    q.bind(schema_id);
    match q.query().fetch_optional(&mut *conn).await.map_err(db_err)? {
        Some(r) => Ok(Some(schema_from_row(&r).map_err(db_err)?)),
        None => Ok(None),
    }
}

async fn schema_by_name(
    conn: &mut AnyConnection,
    exp: i64,
    name: &str,
) -> Result<Option<LabelSchema>> {
    let mut q = Sql::new(&format!(
        "SELECT {LS_COLUMNS} FROM label_schemas WHERE experiment_id = "
    ));
    q.bind(exp).push(" AND name = ").bind(name);
    match q.query().fetch_optional(&mut *conn).await.map_err(db_err)? {
        Some(r) => Ok(Some(schema_from_row(&r).map_err(db_err)?)),
        None => Ok(None),
    }
}

fn schema_not_found(schema_id: &str) -> MlflowError {
    MlflowError::not_found(format!("Label schema with id '{schema_id}' not found."))
}

fn schema_exists_error(name: &str, experiment_id: &str) -> MlflowError {
    MlflowError::already_exists(format!(
        "Label schema with name '{name}' already exists for experiment '{experiment_id}'."
    ))
}

async fn insert_schema(conn: &mut AnyConnection, s: &LabelSchema, exp: i64) -> Result<()> {
    let mut q = Sql::new(
        "INSERT INTO label_schemas (schema_id, experiment_id, name, type, instruction, \
         enable_comment, input_type, input_config, created_by, created_time, last_update_time, \
         is_default) VALUES (",
    );
    q.bind(s.schema_id.as_str())
        .push(", ")
        .bind(exp)
        .push(", ")
        .bind(s.name.as_str())
        .push(", ")
        .bind(s.schema_type.as_str())
        .push(", ")
        .bind(s.instruction.clone())
        .push(", ")
        .bind(s.enable_comment)
        .push(", ")
        .bind(s.input_type.as_str())
        .push(", ")
        .bind(input_config_json(&s.input_type, &s.input_config))
        .push(", ")
        .bind(s.created_by.clone())
        .push(", ")
        .bind(s.created_time)
        .push(", ")
        .bind(s.last_update_time)
        .push(", ")
        .bind(s.is_default)
        .push(")");
    q.query()
        .execute(&mut *conn)
        .await
        .map_err(|e| match super::query::classify(&e) {
            super::query::DbErrorKind::UniqueViolation => {
                schema_exists_error(&s.name, &s.experiment_id)
            }
            _ => db_err(e),
        })?;
    Ok(())
}

/// `_ensure_default_label_schema`.
async fn ensure_default_schema(conn: &mut AnyConnection, exp: i64) -> Result<()> {
    let mut q = Sql::new("SELECT 1 FROM label_schemas WHERE is_default = ");
    q.bind(true).push(" AND experiment_id = ").bind(exp);
    if q.query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .is_some()
    {
        return Ok(());
    }
    if schema_by_name(conn, exp, DEFAULT_SCHEMA_NAME)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let now = now_ms();
    let s = LabelSchema {
        schema_id: format!("ls-{}", uuid::Uuid::new_v4().simple()),
        experiment_id: exp.to_string(),
        name: DEFAULT_SCHEMA_NAME.into(),
        schema_type: "feedback".into(),
        instruction: Some(DEFAULT_SCHEMA_INSTRUCTION.into()),
        enable_comment: false,
        input_type: "text".into(),
        input_config: Map::new(),
        created_by: None,
        created_time: now,
        last_update_time: now,
        is_default: true,
    };
    insert_schema(conn, &s, exp).await
}

// --------------------------------------------------------------------------- review queues

const RQ_COLUMNS: &str = "queue_id, experiment_id, name, queue_type, created_by, \
     creation_time_ms, last_update_time_ms";

fn queue_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<ReviewQueue, sqlx::Error> {
    Ok(ReviewQueue {
        queue_id: r.try_get(0)?,
        experiment_id: r.try_get::<i64, _>(1)?.to_string(),
        name: r.try_get(2)?,
        queue_type: r.try_get(3)?,
        created_by: r.try_get(4)?,
        creation_time_ms: r.try_get(5)?,
        last_update_time_ms: r.try_get(6)?,
        users: vec![],
        schema_ids: vec![],
    })
}

async fn hydrate(conn: &mut AnyConnection, queues: &mut [ReviewQueue]) -> Result<()> {
    for q in queues.iter_mut() {
        let mut s = Sql::new("SELECT user_id FROM review_queue_users WHERE queue_id = ");
        s.bind(q.queue_id.as_str()).push(" ORDER BY user_id ASC");
        for r in s.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            q.users.push(r.try_get(0).map_err(db_err)?);
        }
        let mut s = Sql::new("SELECT schema_id FROM review_queue_label_schemas WHERE queue_id = ");
        s.bind(q.queue_id.as_str()).push(" ORDER BY schema_id ASC");
        for r in s.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            q.schema_ids.push(r.try_get(0).map_err(db_err)?);
        }
    }
    Ok(())
}

async fn fetch_queue(conn: &mut AnyConnection, queue_id: &str) -> Result<ReviewQueue> {
    let mut q = Sql::new(&format!(
        "SELECT {RQ_COLUMNS} FROM review_queues WHERE queue_id = "
    ));
    q.bind(queue_id);
    let row = q
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| {
            MlflowError::not_found(format!("Review queue with id '{queue_id}' not found."))
        })?;
    let mut out = [queue_from_row(&row).map_err(db_err)?];
    hydrate(conn, &mut out).await?;
    let [q] = out;
    Ok(q)
}

async fn queue_by_name_key(
    conn: &mut AnyConnection,
    exp: i64,
    key: &str,
) -> Result<Option<ReviewQueue>> {
    let mut q = Sql::new(&format!(
        "SELECT {RQ_COLUMNS} FROM review_queues WHERE experiment_id = "
    ));
    q.bind(exp).push(" AND name_key = ").bind(key);
    let Some(row) = q.query().fetch_optional(&mut *conn).await.map_err(db_err)? else {
        return Ok(None);
    };
    let mut out = [queue_from_row(&row).map_err(db_err)?];
    hydrate(conn, &mut out).await?;
    let [q] = out;
    Ok(Some(q))
}

/// `_validate_schema_ids_exist`: the schemas must be in the queue's experiment.
async fn check_schema_ids(conn: &mut AnyConnection, exp: i64, ids: &[String]) -> Result<()> {
    let mut missing = Vec::new();
    for id in ids {
        let mut q = Sql::new("SELECT 1 FROM label_schemas WHERE experiment_id = ");
        q.bind(exp).push(" AND schema_id = ").bind(id.as_str());
        if q.query()
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?
            .is_none()
        {
            missing.push(rsflow_core::pyfmt::repr_str(id));
        }
    }
    if !missing.is_empty() {
        return Err(MlflowError::invalid_param(format!(
            "Label schema id(s) [{}] not found for experiment '{exp}'.",
            missing.join(", ")
        )));
    }
    Ok(())
}

async fn replace_members(
    conn: &mut AnyConnection,
    table: &str,
    column: &str,
    queue_id: &str,
    values: &[String],
) -> Result<()> {
    let mut q = Sql::new(&format!("DELETE FROM {table} WHERE queue_id = "));
    q.bind(queue_id);
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    for v in values {
        let mut q = Sql::new(&format!(
            "INSERT INTO {table} (queue_id, {column}) VALUES ("
        ));
        q.bind(queue_id).push(", ").bind(v.as_str()).push(")");
        q.query().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

const ITEM_COLUMNS: &str = "queue_id, item_type, item_id, status, completed_by, \
     completed_time_ms, creation_time_ms, last_update_time_ms";

fn item_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<ReviewQueueItem, sqlx::Error> {
    Ok(ReviewQueueItem {
        queue_id: r.try_get(0)?,
        item_type: r.try_get(1)?,
        item_id: r.try_get(2)?,
        status: r.try_get(3)?,
        completed_by: r.try_get(4)?,
        completed_time_ms: r.try_get(5)?,
        creation_time_ms: r.try_get(6)?,
        last_update_time_ms: r.try_get(7)?,
    })
}

// --------------------------------------------------------------------------- issues

const ISSUE_COLUMNS: &str = "issue_id, experiment_id, name, description, status, severity, \
     root_causes, source_run_id, categories, created_timestamp, last_updated_timestamp, \
     created_by";

fn json_list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str::<Vec<Value>>(&t).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect()
}

fn issue_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<Issue, sqlx::Error> {
    Ok(Issue {
        issue_id: r.try_get(0)?,
        experiment_id: r.try_get::<i64, _>(1)?.to_string(),
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        status: r.try_get(4)?,
        severity: r.try_get(5)?,
        root_causes: json_list(r.try_get(6)?),
        source_run_id: r.try_get(7)?,
        categories: json_list(r.try_get(8)?),
        created_timestamp: r.try_get(9)?,
        last_updated_timestamp: r.try_get(10)?,
        created_by: r.try_get(11)?,
        trace_count: None,
    })
}

async fn fetch_issue(conn: &mut AnyConnection, issue_id: &str) -> Result<Issue> {
    let mut q = Sql::new(&format!(
        "SELECT {ISSUE_COLUMNS} FROM issues WHERE issue_id = "
    ));
    q.bind(issue_id);
    let row = q
        .query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| MlflowError::not_found(format!("Issue with ID '{issue_id}' not found")))?;
    issue_from_row(&row).map_err(db_err)
}

fn list_json(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| {
        json_dumps(&Value::Array(
            v.iter().cloned().map(Value::String).collect(),
        ))
    })
}

impl SqlStore {
    // ------------------------------------------------------------------ label schemas

    pub(crate) async fn create_label_schema_impl(
        &self,
        schema: &LabelSchema,
    ) -> Result<LabelSchema> {
        let mut tx = self.write_tx().await?;
        let exp = active_experiment(&mut tx, &schema.experiment_id).await?;
        if schema_by_name(&mut tx, exp, &schema.name).await?.is_some() {
            return Err(schema_exists_error(&schema.name, &schema.experiment_id));
        }
        let now = now_ms();
        let s = LabelSchema {
            schema_id: format!("ls-{}", uuid::Uuid::new_v4().simple()),
            experiment_id: exp.to_string(),
            created_time: now,
            last_update_time: now,
            is_default: false,
            ..schema.clone()
        };
        insert_schema(&mut tx, &s, exp).await?;
        let out = fetch_schema(&mut tx, &s.schema_id)
            .await?
            .ok_or_else(|| schema_not_found(&s.schema_id))?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    pub(crate) async fn get_label_schema_impl(&self, schema_id: &str) -> Result<LabelSchema> {
        let mut tx = self.read_tx().await?;
        fetch_schema(&mut tx, schema_id)
            .await?
            .ok_or_else(|| schema_not_found(schema_id))
    }

    pub(crate) async fn get_label_schema_by_name_impl(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<LabelSchema> {
        let mut tx = self.read_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        schema_by_name(&mut tx, exp, name).await?.ok_or_else(|| {
            MlflowError::not_found(format!(
                "Label schema with name '{name}' not found for experiment '{experiment_id}'."
            ))
        })
    }

    pub(crate) async fn list_label_schemas_impl(
        &self,
        experiment_id: &str,
        max_results: i64,
        token: Option<&str>,
    ) -> Result<Page<LabelSchema>> {
        let offset = page_token::decode_offset(token)?;
        let mut tx = self.write_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        ensure_default_schema(&mut tx, exp).await?;
        let mut q = Sql::new(&format!(
            "SELECT {LS_COLUMNS} FROM label_schemas WHERE experiment_id = "
        ));
        q.bind(exp)
            .push(" ORDER BY created_time DESC, schema_id ASC LIMIT ")
            .bind(max_results + 1)
            .push(" OFFSET ")
            .bind(offset);
        let rows = q.query().fetch_all(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let items = rows
            .iter()
            .map(schema_from_row)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(super::search::page(items, max_results, offset))
    }

    pub(crate) async fn update_label_schema_impl(
        &self,
        schema_id: &str,
        update: &LabelSchemaUpdate,
    ) -> Result<LabelSchema> {
        let mut tx = self.write_tx().await?;
        let existing = fetch_schema(&mut tx, schema_id)
            .await?
            .ok_or_else(|| schema_not_found(schema_id))?;
        if existing.is_default {
            return Err(MlflowError::invalid_param(
                "The experiment's default question cannot be edited.",
            ));
        }
        if let Some((ty, config)) = &update.input {
            if *ty != existing.input_type {
                let cls = |t: &str| match t {
                    "pass_fail" => "InputPassFail",
                    "categorical" => "InputCategorical",
                    "numeric" => "InputNumeric",
                    _ => "InputText",
                };
                return Err(MlflowError::invalid_param(format!(
                    "A label schema's input type cannot be changed after creation (existing: \
                     {}, got: {}).",
                    cls(&existing.input_type),
                    cls(ty)
                )));
            }
            let ms = |m: &Map<String, Value>| {
                m.get("multi_select")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            };
            if ty == "categorical" && ms(config) != ms(&existing.input_config) {
                return Err(MlflowError::invalid_param(
                    "`InputCategorical.multi_select` cannot be changed after creation.",
                ));
            }
        }
        let exp: i64 = existing.experiment_id.parse().unwrap_or_default();
        if let Some(name) = update.name.as_ref().filter(|n| **n != existing.name)
            && schema_by_name(&mut tx, exp, name).await?.is_some()
        {
            return Err(schema_exists_error(name, &existing.experiment_id));
        }
        let mut q = Sql::new("UPDATE label_schemas SET last_update_time = ");
        q.bind(now_ms());
        if let Some(n) = &update.name {
            q.push(", name = ").bind(n.as_str());
        }
        if let Some(i) = &update.instruction {
            q.push(", instruction = ").bind(i.as_str());
        }
        if let Some(c) = update.enable_comment {
            q.push(", enable_comment = ").bind(c);
        }
        if let Some((ty, config)) = &update.input {
            q.push(", input_type = ")
                .bind(ty.as_str())
                .push(", input_config = ")
                .bind(input_config_json(ty, config));
        }
        q.push(" WHERE schema_id = ").bind(schema_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let out = fetch_schema(&mut tx, schema_id)
            .await?
            .ok_or_else(|| schema_not_found(schema_id))?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    pub(crate) async fn delete_label_schema_impl(&self, schema_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let Some(s) = fetch_schema(&mut tx, schema_id).await? else {
            return Ok(());
        };
        if s.is_default {
            return Err(MlflowError::invalid_param(
                "The experiment's default question cannot be deleted.",
            ));
        }
        let mut q = Sql::new("DELETE FROM label_schemas WHERE schema_id = ");
        q.bind(schema_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    // ------------------------------------------------------------------ review queues

    /// The queue is validated and normalised by the caller (`validate_queue_for_create`).
    pub(crate) async fn create_review_queue_impl(
        &self,
        queue: &ReviewQueue,
    ) -> Result<ReviewQueue> {
        let mut tx = self.write_tx().await?;
        let exp = active_experiment(&mut tx, &queue.experiment_id).await?;
        check_schema_ids(&mut tx, exp, &queue.schema_ids).await?;
        let key = queue.name.to_lowercase();
        if queue_by_name_key(&mut tx, exp, &key).await?.is_some() {
            return Err(MlflowError::already_exists(format!(
                "Review queue with name '{}' already exists (names are case-insensitive).",
                queue.name
            )));
        }
        let now = now_ms();
        let id = format!("rq-{}", uuid::Uuid::new_v4().simple());
        let mut q = Sql::new(&format!(
            "INSERT INTO review_queues ({RQ_COLUMNS}, name_key) VALUES ("
        ));
        q.bind(id.as_str())
            .push(", ")
            .bind(exp)
            .push(", ")
            .bind(queue.name.as_str())
            .push(", ")
            .bind(queue.queue_type.as_str())
            .push(", ")
            .bind(queue.created_by.clone())
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(key)
            .push(")");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        replace_members(&mut tx, "review_queue_users", "user_id", &id, &queue.users).await?;
        replace_members(
            &mut tx,
            "review_queue_label_schemas",
            "schema_id",
            &id,
            &queue.schema_ids,
        )
        .await?;
        let out = fetch_queue(&mut tx, &id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    pub(crate) async fn get_review_queue_impl(&self, queue_id: &str) -> Result<ReviewQueue> {
        let mut tx = self.read_tx().await?;
        fetch_queue(&mut tx, queue_id).await
    }

    pub(crate) async fn get_review_queue_by_name_impl(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<ReviewQueue> {
        let mut tx = self.read_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        queue_by_name_key(&mut tx, exp, &name.to_lowercase())
            .await?
            .ok_or_else(|| {
                MlflowError::not_found(format!(
                    "Review queue with name '{name}' not found for experiment '{experiment_id}'."
                ))
            })
    }

    pub(crate) async fn list_review_queues_impl(
        &self,
        experiment_id: &str,
        user: Option<&str>,
        item_id: Option<&str>,
        max_results: i64,
        token: Option<&str>,
    ) -> Result<Page<ReviewQueue>> {
        let offset = page_token::decode_offset(token)?;
        let mut tx = self.read_tx().await?;
        let exp = active_experiment(&mut tx, experiment_id).await?;
        let mut q = Sql::new(&format!(
            "SELECT {RQ_COLUMNS} FROM review_queues WHERE experiment_id = "
        ));
        q.bind(exp);
        if let Some(u) = user {
            q.push(" AND queue_id IN (SELECT queue_id FROM review_queue_users WHERE user_id = ")
                .bind(u.trim().to_lowercase())
                .push(")");
        }
        if let Some(i) = item_id {
            q.push(" AND queue_id IN (SELECT queue_id FROM review_queue_items WHERE item_id = ")
                .bind(i)
                .push(")");
        }
        q.push(" ORDER BY creation_time_ms DESC, queue_id ASC LIMIT ")
            .bind(max_results + 1)
            .push(" OFFSET ")
            .bind(offset);
        let rows = q.query().fetch_all(&mut *tx).await.map_err(db_err)?;
        let mut items = rows
            .iter()
            .map(queue_from_row)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        hydrate(&mut tx, &mut items).await?;
        Ok(super::search::page(items, max_results, offset))
    }

    pub(crate) async fn update_review_queue_impl(
        &self,
        queue_id: &str,
        update: &ReviewQueueUpdate,
    ) -> Result<ReviewQueue> {
        let mut tx = self.write_tx().await?;
        let queue = fetch_queue(&mut tx, queue_id).await?;
        if queue.queue_type == "user" {
            return Err(MlflowError::invalid_param(
                "A user queue's name, assigned user, schemas, and owner are fixed and cannot be \
                 updated.",
            ));
        }
        if update.name.is_none()
            && update.users.is_none()
            && update.schema_ids.is_none()
            && update.new_owner.is_none()
        {
            return Ok(queue);
        }
        let exp: i64 = queue.experiment_id.parse().unwrap_or_default();
        let mut q = Sql::new("UPDATE review_queues SET last_update_time_ms = ");
        q.bind(now_ms());
        if let Some(o) = &update.new_owner {
            q.push(", created_by = ").bind(o.as_str());
        }
        if let Some(n) = update.name.as_ref().filter(|n| **n != queue.name) {
            let key = n.to_lowercase();
            if key != queue.name.to_lowercase()
                && queue_by_name_key(&mut tx, exp, &key).await?.is_some()
            {
                return Err(MlflowError::already_exists(format!(
                    "Review queue with name '{n}' already exists (names are case-insensitive)."
                )));
            }
            q.push(", name = ")
                .bind(n.as_str())
                .push(", name_key = ")
                .bind(key);
        }
        q.push(" WHERE queue_id = ").bind(queue_id);
        if let Some(users) = &update.users {
            replace_members(&mut tx, "review_queue_users", "user_id", queue_id, users).await?;
        }
        if let Some(ids) = &update.schema_ids {
            let mut c = Sql::new("SELECT COUNT(*) FROM review_queue_items WHERE queue_id = ");
            c.bind(queue_id);
            let n: i64 = c
                .query()
                .fetch_one(&mut *tx)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db_err)?;
            if n > 0 {
                return Err(MlflowError::invalid_param(
                    "A review queue's questions are locked once items are assigned to it. \
                     Remove the items before changing its questions.",
                ));
            }
            check_schema_ids(&mut tx, exp, ids).await?;
            replace_members(
                &mut tx,
                "review_queue_label_schemas",
                "schema_id",
                queue_id,
                ids,
            )
            .await?;
        }
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let out = fetch_queue(&mut tx, queue_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    pub(crate) async fn delete_review_queue_impl(&self, queue_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for table in [
            "review_queue_users",
            "review_queue_items",
            "review_queue_label_schemas",
            "review_queues",
        ] {
            let mut q = Sql::new(&format!("DELETE FROM {table} WHERE queue_id = "));
            q.bind(queue_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    /// The item ids are validated; they must be traces of the queue's experiment.
    pub(crate) async fn add_review_queue_items_impl(
        &self,
        queue_id: &str,
        item_ids: &[String],
    ) -> Result<Vec<ReviewQueueItem>> {
        let mut tx = self.write_tx().await?;
        let queue = fetch_queue(&mut tx, queue_id).await?;
        let exp: i64 = queue.experiment_id.parse().unwrap_or_default();
        let mut invalid = Vec::new();
        for id in item_ids {
            let mut q = Sql::new("SELECT 1 FROM trace_info WHERE request_id = ");
            q.bind(id.as_str()).push(" AND experiment_id = ").bind(exp);
            if q.query()
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .is_none()
            {
                invalid.push(rsflow_core::pyfmt::repr_str(id));
            }
        }
        if !invalid.is_empty() {
            return Err(MlflowError::not_found(format!(
                "Cannot attach trace(s) [{}] to review queue '{queue_id}': they do not exist in \
                 experiment '{exp}'.",
                invalid.join(", ")
            )));
        }
        let now = now_ms();
        for id in item_ids {
            let mut q = Sql::new(&format!(
                "INSERT INTO review_queue_items ({ITEM_COLUMNS}) VALUES ("
            ));
            q.bind(queue_id)
                .push(", 'trace', ")
                .bind(id.as_str())
                .push(", 'pending', ")
                .bind(Option::<String>::None)
                .push(", ")
                .bind(Option::<i64>::None)
                .push(", ")
                .bind(now)
                .push(", ")
                .bind(now)
                .push(") ON CONFLICT (queue_id, item_id) DO NOTHING");
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        let mut out = Vec::new();
        for id in item_ids {
            let mut q = Sql::new(&format!(
                "SELECT {ITEM_COLUMNS} FROM review_queue_items WHERE queue_id = "
            ));
            q.bind(queue_id).push(" AND item_id = ").bind(id.as_str());
            if let Some(r) = q.query().fetch_optional(&mut *tx).await.map_err(db_err)? {
                out.push(item_from_row(&r).map_err(db_err)?);
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    pub(crate) async fn remove_review_queue_items_impl(
        &self,
        queue_id: &str,
        item_ids: &[String],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        fetch_queue(&mut tx, queue_id).await?;
        let mut q = Sql::new("DELETE FROM review_queue_items WHERE queue_id = ");
        q.bind(queue_id)
            .push(" AND item_id IN ")
            .bind_list(item_ids);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn list_review_queue_items_impl(
        &self,
        queue_id: &str,
        status: Option<&str>,
        max_results: i64,
        token: Option<&str>,
    ) -> Result<Page<ReviewQueueItem>> {
        let offset = page_token::decode_offset(token)?;
        let mut tx = self.read_tx().await?;
        fetch_queue(&mut tx, queue_id).await?;
        let mut q = Sql::new(&format!(
            "SELECT {ITEM_COLUMNS} FROM review_queue_items WHERE queue_id = "
        ));
        q.bind(queue_id);
        if let Some(s) = status {
            q.push(" AND status = ").bind(s);
        }
        q.push(" ORDER BY creation_time_ms DESC, item_id ASC LIMIT ")
            .bind(max_results + 1)
            .push(" OFFSET ")
            .bind(offset);
        let rows = q.query().fetch_all(&mut *tx).await.map_err(db_err)?;
        let items = rows
            .iter()
            .map(item_from_row)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(super::search::page(items, max_results, offset))
    }

    /// `completed_by` was checked against the status by the caller.
    pub(crate) async fn set_review_queue_item_status_impl(
        &self,
        queue_id: &str,
        item_id: &str,
        status: &str,
        completed_by: Option<&str>,
    ) -> Result<ReviewQueueItem> {
        let mut tx = self.write_tx().await?;
        fetch_queue(&mut tx, queue_id).await?;
        let select = |q: &mut Sql| {
            q.bind(queue_id).push(" AND item_id = ").bind(item_id);
        };
        let mut q = Sql::new(&format!(
            "SELECT {ITEM_COLUMNS} FROM review_queue_items WHERE queue_id = "
        ));
        select(&mut q);
        let row = q
            .query()
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| {
                MlflowError::not_found(format!(
                    "Item '{item_id}' is not attached to review queue '{queue_id}'."
                ))
            })?;
        let item = item_from_row(&row).map_err(db_err)?;
        if item.status == status {
            return Ok(item);
        }
        let now = now_ms();
        let mut q = Sql::new("UPDATE review_queue_items SET status = ");
        q.bind(status).push(", last_update_time_ms = ").bind(now);
        if status == "pending" {
            q.push(", completed_by = ")
                .bind(Option::<String>::None)
                .push(", completed_time_ms = ")
                .bind(Option::<i64>::None);
        } else {
            q.push(", completed_by = ")
                .bind(completed_by.map(str::to_string))
                .push(", completed_time_ms = ")
                .bind(now);
        }
        q.push(" WHERE queue_id = ");
        select(&mut q);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let mut q = Sql::new(&format!(
            "SELECT {ITEM_COLUMNS} FROM review_queue_items WHERE queue_id = "
        ));
        select(&mut q);
        let row = q.query().fetch_one(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        item_from_row(&row).map_err(db_err)
    }

    // ------------------------------------------------------------------ issues

    pub(crate) async fn create_issue_impl(&self, issue: &Issue) -> Result<Issue> {
        let mut tx = self.write_tx().await?;
        let exp = active_experiment(&mut tx, &issue.experiment_id).await?;
        let now = now_ms();
        let id = format!("iss-{}", uuid::Uuid::new_v4().simple());
        let mut q = Sql::new(&format!("INSERT INTO issues ({ISSUE_COLUMNS}) VALUES ("));
        q.bind(id.as_str())
            .push(", ")
            .bind(exp)
            .push(", ")
            .bind(issue.name.as_str())
            .push(", ")
            .bind(issue.description.as_str())
            .push(", ")
            .bind(issue.status.as_str())
            .push(", ")
            .bind(issue.severity.clone())
            .push(", ")
            .bind(list_json(&issue.root_causes))
            .push(", ")
            .bind(issue.source_run_id.clone())
            .push(", ")
            .bind(list_json(&issue.categories))
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(issue.created_by.clone())
            .push(")");
        q.query()
            .execute(&mut *tx)
            .await
            .map_err(|e| match super::query::classify(&e) {
                super::query::DbErrorKind::ForeignKeyViolation => MlflowError::not_found(format!(
                    "Run with id={} not found",
                    issue.source_run_id.clone().unwrap_or_default()
                )),
                _ => db_err(e),
            })?;
        let out = fetch_issue(&mut tx, &id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    pub(crate) async fn get_issue_impl(&self, issue_id: &str) -> Result<Issue> {
        let mut tx = self.read_tx().await?;
        fetch_issue(&mut tx, issue_id).await
    }

    pub(crate) async fn update_issue_impl(&self, issue_id: &str, u: &IssueUpdate) -> Result<Issue> {
        let mut tx = self.write_tx().await?;
        fetch_issue(&mut tx, issue_id).await?;
        let mut q = Sql::new("UPDATE issues SET last_updated_timestamp = ");
        q.bind(now_ms());
        for (col, v) in [
            ("status", &u.status),
            ("name", &u.name),
            ("description", &u.description),
            ("severity", &u.severity),
        ] {
            if let Some(v) = v {
                q.push(&format!(", {col} = ")).bind(v.as_str());
            }
        }
        q.push(" WHERE issue_id = ").bind(issue_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let out = fetch_issue(&mut tx, issue_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    /// `filters`: (column, is_equal, value) from the parsed filter (status, source_run_id).
    pub(crate) async fn search_issues_impl(
        &self,
        experiment_id: Option<&str>,
        filters: &[(String, bool, String)],
        max_results: i64,
        token: Option<&str>,
        include_trace_count: bool,
    ) -> Result<Page<Issue>> {
        let offset = page_token::decode_offset(token)?;
        let cols: String = ISSUE_COLUMNS
            .split(", ")
            .map(|c| format!("i.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = Sql::new(&format!(
            "SELECT {cols}, (SELECT COUNT(DISTINCT a.trace_id) FROM assessments a WHERE a.name = \
             i.issue_id AND a.assessment_type = 'issue') AS trace_count FROM issues i WHERE 1 = 1"
        ));
        if let Some(e) = experiment_id {
            let (id, _) = super::experiments::parse_experiment_id(e)?;
            q.push(" AND i.experiment_id = ").bind(id.unwrap_or(-1));
        }
        for (col, eq, v) in filters {
            q.push(&format!(" AND i.{col} {} ", if *eq { "=" } else { "!=" }))
                .bind(v.as_str());
        }
        q.push(
            " ORDER BY CASE i.severity WHEN 'not_an_issue' THEN 0 WHEN 'low' THEN 1 WHEN \
             'medium' THEN 2 WHEN 'high' THEN 3 ELSE -1 END DESC",
        );
        if include_trace_count {
            q.push(", trace_count DESC");
        }
        q.push(", i.created_timestamp DESC, i.issue_id DESC LIMIT ")
            .bind(max_results + 1)
            .push(" OFFSET ")
            .bind(offset);
        let mut tx = self.read_tx().await?;
        let rows = q.query().fetch_all(&mut *tx).await.map_err(db_err)?;
        let mut items = Vec::new();
        for r in &rows {
            let mut i = issue_from_row(r).map_err(db_err)?;
            if include_trace_count {
                i.trace_count = Some(r.try_get::<i64, _>(12).map_err(db_err)?);
            }
            items.push(i);
        }
        Ok(super::search::page(items, max_results, offset))
    }
}
