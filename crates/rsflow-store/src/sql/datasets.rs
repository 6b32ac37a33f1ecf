//! Evaluation datasets (spec §5.1) on MLflow's `evaluation_datasets`,
//! `evaluation_dataset_tags`, `evaluation_dataset_records` and `entity_associations` tables,
//! with the merge, de-duplication, schema, profile and digest rules of MLflow's SQL store.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsflow_core::genai::{
    DATASET_ID_PREFIX, DATASET_RECORD_ID_PREFIX, DatasetRecord, EvaluationDataset, MLFLOW_USER,
    RecordUpsert, SearchDatasets, UpsertCounts, WRAPPED_OUTPUT_KEY, dataset_digest,
    infer_field_type, input_hash,
};
use rsflow_core::pyfmt::{json_dumps, json_dumps_str};
use rsflow_core::wire::Page;
use rsflow_core::{MlflowError, Result, now_ms};
use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::query::{Dialect, Sql, db_err};

pub(crate) const ASSOC_DATASET: &str = "evaluation_dataset";
pub(crate) const ASSOC_EXPERIMENT: &str = "experiment";

const D_COLUMNS: &str = "dataset_id, name, schema, profile, digest, created_time, \
     last_update_time, created_by, last_updated_by";

/// Bind a JSON document for a `json` column (PostgreSQL types it; SQLite stores the text).
pub(crate) fn bind_json(q: &mut Sql, dialect: Dialect, v: Option<String>) {
    let ph = q.arg_placeholder(v);
    match dialect {
        Dialect::Postgres => q.push(&format!("CAST({ph} AS json)")),
        // MySQL's JSON (MariaDB's LONGTEXT alias) takes the text as it is.
        Dialect::Sqlite | Dialect::Mysql => q.push(&ph),
    };
}

/// A `json` column read as text.
pub(crate) fn json_col(dialect: Dialect, col: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("CAST({col} AS text)"),
        Dialect::Sqlite => col.to_string(),
        Dialect::Mysql => format!("CAST({col} AS CHAR)"),
    }
}

fn not_found(dataset_id: &str) -> MlflowError {
    MlflowError::not_found(format!(
        "Evaluation dataset with id '{dataset_id}' not found"
    ))
}

fn dataset_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<EvaluationDataset, sqlx::Error> {
    Ok(EvaluationDataset {
        dataset_id: r.try_get(0)?,
        name: r.try_get(1)?,
        tags: BTreeMap::new(),
        schema: r.try_get(2)?,
        profile: r.try_get(3)?,
        digest: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
        created_time: r.try_get::<Option<i64>, _>(5)?.unwrap_or_default(),
        last_update_time: r.try_get::<Option<i64>, _>(6)?.unwrap_or_default(),
        created_by: r.try_get(7)?,
        last_updated_by: r.try_get(8)?,
        experiment_ids: None,
    })
}

/// Fill in the tags of some datasets.
async fn load_tags(conn: &mut AnyConnection, datasets: &mut [EvaluationDataset]) -> Result<()> {
    if datasets.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = datasets.iter().map(|d| d.dataset_id.clone()).collect();
    let mut q =
        Sql::new("SELECT dataset_id, key, value FROM evaluation_dataset_tags WHERE dataset_id IN ");
    q.bind_list(&ids);
    let rows = q.query().fetch_all(&mut *conn).await.map_err(db_err)?;
    let mut by_id: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for r in rows {
        let id: String = r.try_get(0).map_err(db_err)?;
        let key: String = r.try_get(1).map_err(db_err)?;
        let value: Option<String> = r.try_get(2).map_err(db_err)?;
        by_id
            .entry(id)
            .or_default()
            .insert(key, value.unwrap_or_default());
    }
    for d in datasets {
        d.tags = by_id.remove(&d.dataset_id).unwrap_or_default();
    }
    Ok(())
}

async fn fetch_dataset(
    conn: &mut AnyConnection,
    dataset_id: &str,
) -> Result<Option<EvaluationDataset>> {
    let mut q = Sql::new(&format!(
        "SELECT {D_COLUMNS} FROM evaluation_datasets WHERE dataset_id = "
    ));
    q.bind(dataset_id);
    let Some(r) = q.query().fetch_optional(&mut *conn).await.map_err(db_err)? else {
        return Ok(None);
    };
    let mut d = [dataset_from_row(&r).map_err(db_err)?];
    load_tags(conn, &mut d).await?;
    let [d] = d;
    Ok(Some(d))
}

async fn existing_dataset(conn: &mut AnyConnection, dataset_id: &str) -> Result<EvaluationDataset> {
    fetch_dataset(conn, dataset_id)
        .await?
        .ok_or_else(|| not_found(dataset_id))
}

async fn upsert_tag(
    conn: &mut AnyConnection,
    dataset_id: &str,
    key: &str,
    value: &str,
) -> Result<()> {
    let mut q = Sql::new("INSERT INTO evaluation_dataset_tags (dataset_id, key, value) VALUES (");
    q.bind(dataset_id)
        .push(", ")
        .bind(key)
        .push(", ")
        .bind(value)
        .push(") ON CONFLICT (dataset_id, key) DO UPDATE SET value = excluded.value");
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// Experiment ids linked to a dataset, as `search_entities_by_source` orders them.
async fn experiment_ids_of(conn: &mut AnyConnection, dataset_id: &str) -> Result<Vec<String>> {
    let mut q = Sql::new("SELECT destination_id FROM entity_associations WHERE source_type = ");
    q.bind(ASSOC_DATASET)
        .push(" AND source_id = ")
        .bind(dataset_id)
        .push(" AND destination_type = ")
        .bind(ASSOC_EXPERIMENT)
        .push(" ORDER BY created_time, destination_id");
    let rows = q.query().fetch_all(&mut *conn).await.map_err(db_err)?;
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        let id: String = r.try_get(0).map_err(db_err)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

async fn link_experiment(
    conn: &mut AnyConnection,
    dataset_id: &str,
    experiment_id: &str,
    created_time: Option<i64>,
) -> Result<()> {
    let mut q = Sql::new(
        "INSERT INTO entity_associations (association_id, source_type, source_id, \
         destination_type, destination_id, created_time) VALUES (",
    );
    q.bind(uuid::Uuid::new_v4().simple().to_string())
        .push(", ")
        .bind(ASSOC_DATASET)
        .push(", ")
        .bind(dataset_id)
        .push(", ")
        .bind(ASSOC_EXPERIMENT)
        .push(", ")
        .bind(experiment_id)
        .push(", ")
        .bind(created_time.unwrap_or_else(now_ms))
        .push(
            ") ON CONFLICT (source_type, source_id, destination_type, destination_id) DO NOTHING",
        );
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// `_update_dataset_schema`: new keys get the type of their first value.
fn merged_schema(existing: Option<&str>, records: &[RecordUpsert]) -> Option<String> {
    let existing = existing.filter(|s| !s.is_empty());
    if records.is_empty() && existing.is_none() {
        return None;
    }
    let mut schema: Map<String, Value> = existing
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| {
            serde_json::from_str(
                r#"{"inputs": {}, "outputs": {}, "expectations": {}, "version": "1.0"}"#,
            )
            .unwrap_or_default()
        });
    let add = |schema: &mut Map<String, Value>, part: &str, m: &Map<String, Value>| {
        if let Some(Value::Object(target)) = schema.get_mut(part) {
            for (k, v) in m {
                target
                    .entry(k.clone())
                    .or_insert_with(|| Value::String(infer_field_type(v).into()));
            }
        }
    };
    for r in records {
        add(&mut schema, "inputs", &r.inputs);
        match &r.outputs {
            Some(Value::Object(m)) => add(&mut schema, "outputs", m),
            Some(v) if !v.is_null() => {
                let empty = match schema.get("outputs") {
                    Some(Value::Object(m)) => m.is_empty(),
                    Some(Value::String(s)) => s.is_empty(),
                    _ => true,
                };
                if empty {
                    schema.insert("outputs".into(), Value::String(infer_field_type(v).into()));
                }
            }
            _ => {}
        }
        if let Some(e) = &r.expectations {
            add(&mut schema, "expectations", e);
        }
    }
    // MLflow's key order: the parts it creates first, then anything else it found.
    let mut parts = Vec::new();
    for key in ["inputs", "outputs", "expectations", "version"] {
        if let Some(v) = schema.remove(key) {
            parts.push(format!("{}: {}", json_dumps_str(key), json_dumps(&v)));
        }
    }
    for (k, v) in &schema {
        parts.push(format!("{}: {}", json_dumps_str(k), json_dumps(v)));
    }
    Some(format!("{{{}}}", parts.join(", ")))
}

/// The stored form of a new record's source and its `source_id`.
fn source_parts(
    source: &Option<Map<String, Value>>,
) -> (Option<String>, Option<String>, Option<String>) {
    let Some(s) = source else {
        return (None, None, None);
    };
    let ty = s
        .get("source_type")
        .and_then(Value::as_str)
        .unwrap_or("UNSPECIFIED")
        .to_string();
    let data = s
        .get("source_data")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let id_key = if ty == "TRACE" {
        "trace_id"
    } else {
        "source_id"
    };
    let source_id = data.get(id_key).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    });
    // asdict order: source_type, source_data.
    let text = format!(
        "{{\"source_type\": {}, \"source_data\": {}}}",
        json_dumps(&Value::String(ty.clone())),
        json_dumps(&data)
    );
    (Some(text), source_id, Some(ty))
}

fn user_of(tags: &Option<Map<String, Value>>) -> Option<String> {
    tags.as_ref()
        .and_then(|t| t.get(MLFLOW_USER))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
}

fn wrap_outputs(outputs: &Option<Value>) -> Option<String> {
    outputs.as_ref().filter(|v| !v.is_null()).map(|v| {
        let mut m = Map::new();
        m.insert(WRAPPED_OUTPUT_KEY.into(), v.clone());
        json_dumps(&Value::Object(m))
    })
}

fn parse_json(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(|v| !v.is_null())
}

fn record_columns(dialect: Dialect) -> String {
    format!(
        "dataset_record_id, dataset_id, {}, {}, {}, {}, {}, source_id, source_type, \
         created_time, last_update_time, created_by, last_updated_by",
        json_col(dialect, "inputs"),
        json_col(dialect, "outputs"),
        json_col(dialect, "expectations"),
        json_col(dialect, "tags"),
        json_col(dialect, "source"),
    )
}

fn record_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<DatasetRecord, sqlx::Error> {
    let outputs = parse_json(r.try_get(3)?)
        .and_then(|v| match v {
            Value::Object(mut m) if !m.is_empty() => m.remove(WRAPPED_OUTPUT_KEY),
            _ => None,
        })
        .filter(|v| !v.is_null());
    let source = parse_json(r.try_get(6)?).filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
    let mut source_id: Option<String> = r.try_get(7)?;
    let mut source_type: Option<String> = r.try_get(8)?;
    if let Some(s) = &source {
        let ty = s
            .get("source_type")
            .and_then(Value::as_str)
            .unwrap_or("UNSPECIFIED");
        if source_id.as_deref().is_none_or(str::is_empty) {
            let key = if ty == "TRACE" {
                "trace_id"
            } else {
                "source_id"
            };
            source_id = s
                .get("source_data")
                .and_then(|d| d.get(key))
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        if source_type.as_deref().is_none_or(str::is_empty) {
            source_type = Some(ty.to_string());
        }
    }
    Ok(DatasetRecord {
        dataset_record_id: r.try_get(0)?,
        dataset_id: r.try_get(1)?,
        inputs: parse_json(r.try_get(2)?).unwrap_or(Value::Object(Map::new())),
        outputs,
        expectations: parse_json(r.try_get(4)?),
        tags: Some(parse_json(r.try_get(5)?).unwrap_or(Value::Object(Map::new()))),
        source,
        source_id,
        source_type,
        created_time: r.try_get::<Option<i64>, _>(9)?.unwrap_or_default(),
        last_update_time: r.try_get::<Option<i64>, _>(10)?.unwrap_or_default(),
        created_by: r.try_get(11)?,
        last_updated_by: r.try_get(12)?,
    })
}

/// An existing record's mutable parts, for the merge.
struct Existing {
    id: String,
    outputs: Option<String>,
    expectations: Option<Map<String, Value>>,
    tags: Option<Map<String, Value>>,
    last_updated_by: Option<String>,
    changed: bool,
}

fn as_object(text: Option<String>) -> Option<Map<String, Value>> {
    match parse_json(text) {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// A new record waiting to be inserted.
struct Pending {
    id: String,
    hash: String,
    inputs: String,
    outputs: Option<String>,
    expectations: Option<Map<String, Value>>,
    tags: Map<String, Value>,
    source: Option<String>,
    source_id: Option<String>,
    source_type: Option<String>,
    created_by: Option<String>,
    last_updated_by: Option<String>,
}

/// `SqlEvaluationDatasetRecord.merge`.
fn merge_into(
    outputs: &mut Option<String>,
    expectations: &mut Option<Map<String, Value>>,
    tags: &mut Option<Map<String, Value>>,
    last_updated_by: &mut Option<String>,
    r: &RecordUpsert,
) {
    if r.has_outputs {
        *outputs = wrap_outputs(&r.outputs);
    }
    if let Some(e) = r.expectations.as_ref().filter(|e| !e.is_empty()) {
        let target = expectations.get_or_insert_with(Map::new);
        for (k, v) in e {
            target.insert(k.clone(), v.clone());
        }
    }
    if let Some(t) = r.tags.as_ref().filter(|t| !t.is_empty()) {
        let target = tags.get_or_insert_with(Map::new);
        for (k, v) in t {
            target.insert(k.clone(), v.clone());
        }
        if let Some(u) = user_of(&r.tags) {
            *last_updated_by = Some(u);
        }
    }
}

fn obj_text(m: &Option<Map<String, Value>>) -> Option<String> {
    m.as_ref().map(|m| json_dumps(&Value::Object(m.clone())))
}

/// Rows per multi-row INSERT of records (13 values each; PostgreSQL allows 65535).
const INSERT_CHUNK: usize = 500;
/// Hashes per lookup of existing records.
const LOOKUP_CHUNK: usize = 500;

impl SqlStore {
    pub(crate) async fn create_dataset_impl(
        &self,
        name: &str,
        tags: &[(String, String)],
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        let now = now_ms();
        let id = format!("{DATASET_ID_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let user = tags
            .iter()
            .find(|(k, _)| k == MLFLOW_USER)
            .map(|(_, v)| v.clone());
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new(&format!(
            "INSERT INTO evaluation_datasets ({D_COLUMNS}, workspace) VALUES ("
        ));
        q.bind(id.as_str())
            .push(", ")
            .bind(name)
            .push(", ")
            .bind(Option::<String>::None)
            .push(", ")
            .bind(Option::<String>::None)
            .push(", ")
            .bind(dataset_digest(name, now))
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(user.clone())
            .push(", ")
            .bind(user)
            .push(", 'default')");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        for (k, v) in tags {
            upsert_tag(&mut tx, &id, k, v).await?;
        }
        for e in experiment_ids {
            link_experiment(&mut tx, &id, e, Some(now)).await?;
        }
        let mut d = existing_dataset(&mut tx, &id).await?;
        tx.commit().await.map_err(db_err)?;
        d.experiment_ids = Some(experiment_ids.to_vec());
        Ok(d)
    }

    pub(crate) async fn get_dataset_impl(&self, dataset_id: &str) -> Result<EvaluationDataset> {
        let mut tx = self.read_tx().await?;
        existing_dataset(&mut tx, dataset_id).await
    }

    pub(crate) async fn delete_dataset_impl(&self, dataset_id: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        if fetch_dataset(&mut tx, dataset_id).await?.is_none() {
            return Ok(());
        }
        let mut q = Sql::new("DELETE FROM entity_associations WHERE (destination_type = ");
        q.bind(ASSOC_DATASET)
            .push(" AND destination_id = ")
            .bind(dataset_id)
            .push(") OR (source_type = ")
            .bind(ASSOC_DATASET)
            .push(" AND source_id = ")
            .bind(dataset_id)
            .push(")");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        // The children first: an SQLite file written without FK enforcement must not keep them.
        for table in [
            "evaluation_dataset_records",
            "evaluation_dataset_tags",
            "evaluation_datasets",
        ] {
            let mut q = Sql::new(&format!("DELETE FROM {table} WHERE dataset_id = "));
            q.bind(dataset_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn search_datasets_impl(
        &self,
        query: &SearchDatasets,
    ) -> Result<Page<EvaluationDataset>> {
        let (q, offset) = super::search::datasets::search_sql(self.dialect, query)?;
        let mut tx = self.read_tx().await?;
        let rows = q
            .search_query(self.dialect)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut items = rows
            .iter()
            .map(dataset_from_row)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let next = if items.len() as i64 > query.max_results {
            items.truncate(query.max_results as usize);
            Some(rsflow_core::page_token::encode_offset(
                offset + query.max_results,
            ))
        } else {
            None
        };
        load_tags(&mut tx, &mut items).await?;
        Ok(Page {
            items,
            next_page_token: next,
        })
    }

    pub(crate) async fn set_dataset_tags_impl(
        &self,
        dataset_id: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        if fetch_dataset(&mut tx, dataset_id).await?.is_none() {
            return Err(MlflowError::not_found(format!(
                "Could not find evaluation dataset with ID {dataset_id}"
            )));
        }
        for (k, v) in tags {
            upsert_tag(&mut tx, dataset_id, k, v).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_dataset_tag_impl(&self, dataset_id: &str, key: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new("DELETE FROM evaluation_dataset_tags WHERE dataset_id = ");
        q.bind(dataset_id).push(" AND key = ").bind(key);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn upsert_dataset_records_impl(
        &self,
        dataset_id: &str,
        records: &[RecordUpsert],
    ) -> Result<UpsertCounts> {
        let dialect = self.dialect;
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let dataset = existing_dataset(&mut tx, dataset_id).await?;
        let hashes: Vec<String> = records.iter().map(|r| input_hash(&r.inputs)).collect();

        // The stored records these inputs match, by hash.
        let mut existing: HashMap<String, Existing> = HashMap::new();
        let mut wanted: Vec<String> = hashes.clone();
        wanted.sort();
        wanted.dedup();
        for chunk in wanted.chunks(LOOKUP_CHUNK) {
            let mut q = Sql::new(&format!(
                "SELECT dataset_record_id, input_hash, {}, {}, {}, last_updated_by \
                 FROM evaluation_dataset_records WHERE dataset_id = ",
                json_col(dialect, "outputs"),
                json_col(dialect, "expectations"),
                json_col(dialect, "tags"),
            ));
            q.bind(dataset_id)
                .push(" AND input_hash IN ")
                .bind_list(chunk);
            for r in q.query().fetch_all(&mut *tx).await.map_err(db_err)? {
                let hash: String = r.try_get(1).map_err(db_err)?;
                existing.insert(
                    hash,
                    Existing {
                        id: r.try_get(0).map_err(db_err)?,
                        outputs: r.try_get(2).map_err(db_err)?,
                        expectations: as_object(r.try_get(3).map_err(db_err)?),
                        tags: as_object(r.try_get(4).map_err(db_err)?),
                        last_updated_by: r.try_get(5).map_err(db_err)?,
                        changed: false,
                    },
                );
            }
        }

        let mut counts = UpsertCounts::default();
        let mut pending: Vec<Pending> = Vec::new();
        let mut pending_by_hash: HashMap<String, usize> = HashMap::new();
        let mut updated_by: Option<String> = None;
        for (r, hash) in records.iter().zip(&hashes) {
            if let Some(u) = user_of(&r.tags) {
                updated_by = Some(u);
            }
            if let Some(e) = existing.get_mut(hash) {
                merge_into(
                    &mut e.outputs,
                    &mut e.expectations,
                    &mut e.tags,
                    &mut e.last_updated_by,
                    r,
                );
                e.changed = true;
                counts.updated += 1;
            } else if let Some(&i) = pending_by_hash.get(hash) {
                // A repeat of inputs inserted earlier in this call merges into that record,
                // as MLflow's autoflushed query finds it.
                let p = &mut pending[i];
                let mut tags = Some(std::mem::take(&mut p.tags));
                merge_into(
                    &mut p.outputs,
                    &mut p.expectations,
                    &mut tags,
                    &mut p.last_updated_by,
                    r,
                );
                p.tags = tags.unwrap_or_default();
                counts.updated += 1;
            } else {
                let (source, source_id, source_type) = source_parts(&r.source);
                let created_by = user_of(&r.tags);
                pending_by_hash.insert(hash.clone(), pending.len());
                pending.push(Pending {
                    id: format!(
                        "{DATASET_RECORD_ID_PREFIX}{}",
                        uuid::Uuid::new_v4().simple()
                    ),
                    hash: hash.clone(),
                    inputs: json_dumps(&Value::Object(r.inputs.clone())),
                    outputs: if r.has_outputs {
                        wrap_outputs(&r.outputs)
                    } else {
                        wrap_outputs(&Some(Value::Object(Map::new())))
                    },
                    expectations: r.expectations.clone(),
                    tags: r.tags.clone().unwrap_or_default(),
                    source,
                    source_id,
                    source_type,
                    last_updated_by: created_by.clone(),
                    created_by,
                });
                counts.inserted += 1;
            }
        }

        for e in existing.values().filter(|e| e.changed) {
            let mut q = Sql::new("UPDATE evaluation_dataset_records SET outputs = ");
            bind_json(&mut q, dialect, e.outputs.clone());
            q.push(", expectations = ");
            bind_json(&mut q, dialect, obj_text(&e.expectations));
            q.push(", tags = ");
            bind_json(&mut q, dialect, obj_text(&e.tags));
            q.push(", last_update_time = ")
                .bind(now)
                .push(", last_updated_by = ")
                .bind(e.last_updated_by.clone())
                .push(" WHERE dataset_record_id = ")
                .bind(e.id.as_str());
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        for chunk in pending.chunks(INSERT_CHUNK) {
            let mut q = Sql::new(
                "INSERT INTO evaluation_dataset_records (dataset_record_id, dataset_id, inputs, \
                 outputs, expectations, tags, source, source_id, source_type, created_time, \
                 last_update_time, created_by, last_updated_by, input_hash) VALUES ",
            );
            for (i, p) in chunk.iter().enumerate() {
                q.push(if i == 0 { "(" } else { ", (" });
                q.bind(p.id.as_str()).push(", ").bind(dataset_id).push(", ");
                bind_json(&mut q, dialect, Some(p.inputs.clone()));
                q.push(", ");
                bind_json(&mut q, dialect, p.outputs.clone());
                q.push(", ");
                bind_json(&mut q, dialect, obj_text(&p.expectations));
                q.push(", ");
                bind_json(&mut q, dialect, obj_text(&Some(p.tags.clone())));
                q.push(", ");
                bind_json(&mut q, dialect, p.source.clone());
                q.push(", ")
                    .bind(p.source_id.clone())
                    .push(", ")
                    .bind(p.source_type.clone())
                    .push(", ")
                    .bind(now)
                    .push(", ")
                    .bind(now)
                    .push(", ")
                    .bind(p.created_by.clone())
                    .push(", ")
                    .bind(p.last_updated_by.clone())
                    .push(", ")
                    .bind(p.hash.as_str())
                    .push(")");
            }
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }

        let schema = merged_schema(dataset.schema.as_deref(), records);
        let mut q = Sql::new("SELECT COUNT(*) FROM evaluation_dataset_records WHERE dataset_id = ");
        q.bind(dataset_id);
        let total: i64 = q
            .query()
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_err)?;
        let mut q = Sql::new("UPDATE evaluation_datasets SET last_update_time = ");
        q.bind(now)
            .push(", last_updated_by = ")
            .bind(updated_by)
            .push(", digest = ")
            .bind(dataset_digest(&dataset.name, now));
        if let Some(s) = schema {
            q.push(", schema = ").bind(s);
        }
        if total > 0 {
            q.push(", profile = ")
                .bind(format!("{{\"num_records\": {total}}}"));
        }
        q.push(" WHERE dataset_id = ").bind(dataset_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(counts)
    }

    pub(crate) async fn dataset_records_impl(
        &self,
        dataset_id: &str,
        max_results: i64,
        page_token: Option<&str>,
    ) -> Result<Page<DatasetRecord>> {
        let mut q = Sql::new(&format!(
            "SELECT {} FROM evaluation_dataset_records WHERE dataset_id = ",
            record_columns(self.dialect)
        ));
        q.bind(dataset_id);
        let mut offset = 0i64;
        if let Some(token) = page_token.filter(|t| !t.is_empty()) {
            let cursor = STANDARD
                .decode(token.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    let (t, id) = s.split_once(':')?;
                    Some((t.parse::<i64>().ok()?, id.to_string()))
                });
            match cursor {
                Some((t, id)) => {
                    q.push(" AND (created_time > ")
                        .bind(t)
                        .push(" OR (created_time = ")
                        .bind(t)
                        .push(" AND dataset_record_id > ")
                        .bind(id)
                        .push("))");
                }
                None => {
                    offset = token.trim().parse::<i64>().map_err(|_| {
                        MlflowError::invalid_param(format!("Invalid page token: {token}"))
                    })?;
                }
            }
        }
        q.push(" ORDER BY created_time, dataset_record_id LIMIT ")
            .bind(max_results + 1)
            .push(" OFFSET ")
            .bind(offset.max(0));
        let mut tx = self.read_tx().await?;
        let rows = q
            .search_query(self.dialect)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut items = rows
            .iter()
            .map(record_from_row)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let next = if items.len() as i64 > max_results {
            items.truncate(max_results as usize);
            items
                .last()
                .map(|r| STANDARD.encode(format!("{}:{}", r.created_time, r.dataset_record_id)))
        } else {
            None
        };
        Ok(Page {
            items,
            next_page_token: next,
        })
    }

    pub(crate) async fn delete_dataset_records_impl(
        &self,
        dataset_id: &str,
        record_ids: &[String],
    ) -> Result<i64> {
        if record_ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write_tx().await?;
        let mut deleted = 0i64;
        for chunk in record_ids.chunks(LOOKUP_CHUNK) {
            let mut q = Sql::new("DELETE FROM evaluation_dataset_records WHERE dataset_id = ");
            q.bind(dataset_id)
                .push(" AND dataset_record_id IN ")
                .bind_list(chunk);
            deleted += q
                .query()
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected() as i64;
        }
        if deleted == 0 {
            return Ok(0);
        }
        if let Some(d) = fetch_dataset(&mut tx, dataset_id).await? {
            let old = d
                .profile
                .as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok())
                .and_then(|v| v.get("num_records").and_then(Value::as_i64))
                .unwrap_or(0);
            let left = (old - deleted).max(0);
            // json.dumps(None) when nothing is left, as MLflow writes it.
            let profile = if left > 0 {
                format!("{{\"num_records\": {left}}}")
            } else {
                "null".to_string()
            };
            let mut q = Sql::new("UPDATE evaluation_datasets SET profile = ");
            q.bind(profile)
                .push(" WHERE dataset_id = ")
                .bind(dataset_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(deleted)
    }

    pub(crate) async fn dataset_experiment_ids_impl(
        &self,
        dataset_id: &str,
    ) -> Result<Vec<String>> {
        let mut tx = self.read_tx().await?;
        experiment_ids_of(&mut tx, dataset_id).await
    }

    pub(crate) async fn add_dataset_to_experiments_impl(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        let mut tx = self.write_tx().await?;
        if fetch_dataset(&mut tx, dataset_id).await?.is_none() {
            return Err(MlflowError::not_found(format!(
                "Dataset '{dataset_id}' not found"
            )));
        }
        for e in experiment_ids {
            let known = match e.trim().parse::<i64>() {
                Ok(id) => {
                    let mut q = Sql::new("SELECT 1 FROM experiments WHERE experiment_id = ");
                    q.bind(id);
                    q.query()
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_err)?
                        .is_some()
                }
                Err(_) => false,
            };
            if !known {
                return Err(MlflowError::not_found(format!("No Experiment with id={e}")));
            }
        }
        for e in experiment_ids {
            link_experiment(&mut tx, dataset_id, e, None).await?;
        }
        let mut q = Sql::new("UPDATE evaluation_datasets SET last_update_time = ");
        q.bind(now_ms())
            .push(" WHERE dataset_id = ")
            .bind(dataset_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let d = existing_dataset(&mut tx, dataset_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(d)
    }

    pub(crate) async fn remove_dataset_from_experiments_impl(
        &self,
        dataset_id: &str,
        experiment_ids: &[String],
    ) -> Result<EvaluationDataset> {
        let mut tx = self.write_tx().await?;
        if fetch_dataset(&mut tx, dataset_id).await?.is_none() {
            return Err(MlflowError::not_found(format!(
                "Dataset '{dataset_id}' not found"
            )));
        }
        if !experiment_ids.is_empty() {
            let mut q = Sql::new("DELETE FROM entity_associations WHERE source_id = ");
            q.bind(dataset_id)
                .push(" AND source_type = ")
                .bind(ASSOC_DATASET)
                .push(" AND destination_type = ")
                .bind(ASSOC_EXPERIMENT)
                .push(" AND destination_id IN ")
                .bind_list(experiment_ids);
            let n = q
                .query()
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if n > 0 {
                let mut q = Sql::new("UPDATE evaluation_datasets SET last_update_time = ");
                q.bind(now_ms())
                    .push(" WHERE dataset_id = ")
                    .bind(dataset_id);
                q.query().execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        let d = existing_dataset(&mut tx, dataset_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(d)
    }
}
