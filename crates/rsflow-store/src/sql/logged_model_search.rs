//! `logged-models/search`: filter clauses over attributes, params, tags and metrics (optionally
//! per dataset), the structured `order_by`, and MLflow's base64-JSON page token that carries the
//! query it belongs to.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsflow_core::search::{Clause, Entity, Value as FilterValue, parse_logged_model_filter};
use rsflow_core::wire::{LIFECYCLE_DELETED, Page};
use rsflow_core::wire_models::{LoggedModel, LoggedModelStatus};
use rsflow_core::{MlflowError, Result};
use serde_json::{Value, json};

use super::SqlStore;
use super::experiments::parse_experiment_id;
use super::logged_models::{LM_COLUMNS, complete, info_from_row};
use super::query::{Sql, db_err};
use super::registry_search::render_comparison;
use crate::{DatasetFilter, LoggedModelOrderBy, SearchLoggedModels};
use rsflow_core::pyfmt::json_dumps;
use rsflow_core::pyfmt::repr_str;

/// `SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT`, for callers that send none.
const DEFAULT_MAX_RESULTS: i64 = 100;
/// Columns `order_by` may name (the attributes of MLflow's `SqlLoggedModel`).
const ORDERABLE: [&str; 11] = [
    "model_id",
    "experiment_id",
    "name",
    "artifact_location",
    "creation_timestamp_ms",
    "last_updated_timestamp_ms",
    "status",
    "lifecycle_stage",
    "model_type",
    "source_run_id",
    "status_message",
];

fn column_alias(field: &str) -> &str {
    match field {
        "creation_time" | "creation_timestamp" => "creation_timestamp_ms",
        "last_updated_timestamp" => "last_updated_timestamp_ms",
        other => other,
    }
}

/// The request's `order_by` as MLflow's handler builds it (and stores it in the token).
fn order_by_json(order_by: &[LoggedModelOrderBy]) -> Value {
    if order_by.is_empty() {
        return Value::Null;
    }
    Value::Array(
        order_by
            .iter()
            .map(|o| {
                json!({
                    "field_name": o.field_name,
                    "ascending": o.ascending,
                    "dataset_name": o.dataset_name,
                    "dataset_digest": o.dataset_digest,
                })
            })
            .collect(),
    )
}

/// Python's repr of JSON-ish values, for the token-mismatch messages.
fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => repr_str(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            // Key order as the handler builds the dicts.
            let order = ["field_name", "ascending", "dataset_name", "dataset_digest"];
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
            format!(
                "{{{}}}",
                keys.iter()
                    .map(|k| format!("{}: {}", repr_str(k), py_repr(&map[*k])))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// `SearchLoggedModelsPaginationToken.encode`: keys in the dataclass's order.
fn encode_token(ids: &[String], filter: Option<&str>, order_by: &Value, offset: i64) -> String {
    let text = format!(
        "{{\"experiment_ids\": {}, \"filter_string\": {}, \"order_by\": {}, \"offset\": {offset}}}",
        json_dumps(&json!(ids)),
        json_dumps(&json!(filter)),
        json_dumps(order_by),
    );
    STANDARD.encode(text)
}

/// Decode a token and check it belongs to this query; returns its offset.
fn decode_token(token: &str, query: &SearchLoggedModels, order_by: &Value) -> Result<i64> {
    let bad =
        |why: String| MlflowError::invalid_param(format!("Invalid page token: {token}. {why}"));
    let raw = STANDARD
        .decode(token.trim())
        .map_err(|e| bad(format!("Could not base64-decode it: {e}")))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
    let ids = v.get("experiment_ids").cloned().unwrap_or(Value::Null);
    let want_ids = json!(query.experiment_ids);
    if ids != want_ids {
        return Err(MlflowError::invalid_param(format!(
            "Experiment IDs in the page token do not match the requested experiment IDs. \
             Expected: {}. Found: {}",
            py_repr(&want_ids),
            py_repr(&ids)
        )));
    }
    let filter = v
        .get("filter_string")
        .cloned()
        .filter(|f| f.as_str().is_some_and(|s| !s.is_empty()))
        .unwrap_or(Value::Null);
    let want_filter = json!(query.filter);
    if filter != want_filter {
        return Err(MlflowError::invalid_param(format!(
            "Filter string in the page token does not match the requested filter string. \
             Expected: {}. Found: {}",
            py_repr(&want_filter),
            py_repr(&filter)
        )));
    }
    let token_order = v
        .get("order_by")
        .cloned()
        .filter(|o| o.as_array().is_some_and(|a| !a.is_empty()))
        .unwrap_or(Value::Null);
    if &token_order != order_by {
        return Err(MlflowError::invalid_param(format!(
            "Order by in the page token does not match the requested order by. Expected: {}. \
             Found: {}",
            py_repr(order_by),
            py_repr(&token_order)
        )));
    }
    match v.get("offset") {
        None | Some(Value::Null) => Ok(0),
        Some(o) => o
            .as_i64()
            .filter(|o| *o >= 0)
            .ok_or_else(|| bad(format!("Invalid offset {o}"))),
    }
}

/// `(dataset_name = $a [AND dataset_digest = $b]) OR ...` over `logged_model_metrics m`.
fn dataset_condition(q: &mut Sql, datasets: &[DatasetFilter]) {
    q.push("(");
    for (i, d) in datasets.iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push("(m.dataset_name = ").bind(d.dataset_name.as_str());
        if let Some(digest) = &d.dataset_digest {
            q.push(" AND m.dataset_digest = ").bind(digest.as_str());
        }
        q.push(")");
    }
    q.push(")");
}

/// A status given by name (`READY`, `LOGGED_MODEL_READY`) or number compares as the stored
/// integer. MLflow compares the raw string with the integer column, which never matches.
fn status_value(v: &FilterValue) -> FilterValue {
    let to_int = |s: &str| {
        LoggedModelStatus::parse(s)
            .or_else(|| LoggedModelStatus::parse(&format!("LOGGED_MODEL_{s}")))
            .map(|st| st.to_int().to_string())
            .unwrap_or_else(|| s.to_string())
    };
    match v {
        FilterValue::Str(s) => match LoggedModelStatus::parse(&to_int(s)) {
            Some(st) => FilterValue::Num(st.to_int() as f64),
            None => FilterValue::Str(s.clone()),
        },
        FilterValue::List(items) => FilterValue::List(items.iter().map(|s| to_int(s)).collect()),
        other => other.clone(),
    }
}

fn render_filter(
    q: &mut Sql,
    store: &SqlStore,
    clauses: &[Clause],
    datasets: &[DatasetFilter],
) -> Result<()> {
    let mut has_metric = false;
    for c in clauses {
        q.push(" AND ");
        match c.entity {
            Entity::Attribute => {
                let column = format!("lm.{}", c.key);
                let value = if c.key == "status" {
                    status_value(&c.value)
                } else {
                    c.value.clone()
                };
                render_comparison(q, store.dialect, &column, c.comparator, &value)?;
            }
            Entity::Metric => {
                has_metric = true;
                q.push(
                    "lm.model_id IN (SELECT m.model_id FROM logged_model_metrics m WHERE \
                     m.metric_name = ",
                )
                .bind(c.key.as_str())
                .push(" AND ");
                render_comparison(q, store.dialect, "m.metric_value", c.comparator, &c.value)?;
                if !datasets.is_empty() {
                    q.push(" AND ");
                    dataset_condition(q, datasets);
                }
                q.push(")");
            }
            Entity::Param | Entity::Tag => {
                let (table, key, value) = if c.entity == Entity::Param {
                    ("logged_model_params", "param_key", "param_value")
                } else {
                    ("logged_model_tags", "tag_key", "tag_value")
                };
                q.push(&format!(
                    "EXISTS (SELECT 1 FROM {table} x WHERE x.model_id = lm.model_id AND x.{key} = "
                ))
                .bind(c.key.as_str())
                .push(" AND ");
                render_comparison(
                    q,
                    store.dialect,
                    &format!("x.{value}"),
                    c.comparator,
                    &c.value,
                )?;
                q.push(")");
            }
            Entity::Dataset => {
                return Err(MlflowError::invalid_param(format!(
                    "Invalid entity type for logged models: dataset.{}",
                    c.key
                )));
            }
        }
    }
    if !datasets.is_empty() && !has_metric {
        q.push(" AND lm.model_id IN (SELECT m.model_id FROM logged_model_metrics m WHERE ");
        dataset_condition(q, datasets);
        q.push(")");
    }
    Ok(())
}

fn render_order(q: &mut Sql, order_by: &[LoggedModelOrderBy]) -> Result<()> {
    let mut parts: Vec<String> = Vec::new();
    let mut has_creation = false;
    let mut has_id = false;
    for ob in order_by {
        let dir = if ob.ascending { "ASC" } else { "DESC" };
        let expr = match ob.field_name.split_once('.') {
            None => {
                let col = column_alias(&ob.field_name);
                if !ORDERABLE.contains(&col) {
                    return Err(MlflowError::invalid_param(format!(
                        "Invalid order by field name: {}",
                        ob.field_name
                    )));
                }
                has_creation |= col == "creation_timestamp_ms";
                has_id |= col == "model_id";
                format!("lm.{col}")
            }
            Some(("metrics", name)) => {
                // The latest value per model (by time, then step), as MLflow's window does.
                let mut sub = format!(
                    "(SELECT m.metric_value FROM logged_model_metrics m WHERE m.model_id = \
                     lm.model_id AND m.metric_name = {}",
                    q.arg_placeholder(name)
                );
                if let Some(ds) = &ob.dataset_name {
                    sub.push_str(&format!(
                        " AND m.dataset_name = {}",
                        q.arg_placeholder(ds.as_str())
                    ));
                }
                if let Some(dg) = &ob.dataset_digest {
                    sub.push_str(&format!(
                        " AND m.dataset_digest = {}",
                        q.arg_placeholder(dg.as_str())
                    ));
                }
                sub.push_str(
                    " ORDER BY m.metric_timestamp_ms DESC, m.metric_step DESC, m.run_id ASC \
                     LIMIT 1)",
                );
                sub
            }
            Some(_) => {
                return Err(MlflowError::invalid_param(format!(
                    "Invalid order by field name: {}. Only metrics are supported.",
                    ob.field_name
                )));
            }
        };
        parts.push(format!(
            "CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END ASC, {expr} {dir}"
        ));
    }
    if !has_creation {
        parts.push("lm.creation_timestamp_ms DESC".into());
    }
    if !has_id {
        parts.push("lm.model_id ASC".into());
    }
    q.push(&format!(" ORDER BY {}", parts.join(", ")));
    Ok(())
}

impl SqlStore {
    pub(crate) async fn search_logged_models_impl(
        &self,
        query: &SearchLoggedModels,
    ) -> Result<Page<LoggedModel>> {
        if query.datasets.iter().any(|d| d.dataset_name.is_empty()) {
            return Err(MlflowError::invalid_param(
                "`dataset_name` in the `datasets` clause must be specified.",
            ));
        }
        let order_json = order_by_json(&query.order_by);
        let offset = match query.page_token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => decode_token(token, query, &order_json)?,
            None => 0,
        };
        let max_results = query.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        if max_results < 1 {
            return Err(MlflowError::invalid_param(format!(
                "Invalid value for max_results. It must be a positive integer, but got \
                 {max_results}"
            )));
        }
        let clauses = parse_logged_model_filter(query.filter.as_deref().unwrap_or(""))?;
        let mut ids: Vec<i64> = Vec::new();
        for id in &query.experiment_ids {
            if let (Some(n), _) = parse_experiment_id(id)? {
                ids.push(n);
            }
        }
        if ids.is_empty() {
            return Ok(Page {
                items: vec![],
                next_page_token: None,
            });
        }
        let mut q = Sql::new(&format!(
            "SELECT {LM_COLUMNS} FROM logged_models lm WHERE (lm.lifecycle_stage IS NULL OR \
             lm.lifecycle_stage != "
        ));
        q.bind(LIFECYCLE_DELETED)
            .push(") AND lm.experiment_id IN ")
            .bind_list(&ids);
        render_filter(&mut q, self, &clauses, &query.datasets)?;
        render_order(&mut q, &query.order_by)?;
        q.push(" LIMIT ")
            .bind(max_results + 1)
            .push(" OFFSET ")
            .bind(offset);
        let mut tx = self.read_tx().await?;
        let rows = q
            .search_query(self.dialect)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let token = (rows.len() as i64 > max_results).then(|| {
            encode_token(
                &query.experiment_ids,
                query.filter.as_deref(),
                &order_json,
                offset + max_results,
            )
        });
        let infos = rows
            .iter()
            .take(max_results as usize)
            .map(info_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items: complete(&mut tx, self.dialect, infos).await?,
            next_page_token: token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bytes_match_mlflow() {
        // Taken from the reference server's answer to {"experiment_ids": ["1"], max_results: 1}.
        assert_eq!(
            encode_token(&["1".into()], None, &Value::Null, 1),
            "eyJleHBlcmltZW50X2lkcyI6IFsiMSJdLCAiZmlsdGVyX3N0cmluZyI6IG51bGwsICJvcmRlcl9ieSI6IG51bGwsICJvZmZzZXQiOiAxfQ=="
        );
    }

    #[test]
    fn token_must_match_query() {
        let q = SearchLoggedModels {
            experiment_ids: vec!["1".into()],
            ..Default::default()
        };
        let t = encode_token(&["2".into()], None, &Value::Null, 5);
        let e = decode_token(&t, &q, &Value::Null).unwrap_err();
        assert_eq!(
            e.message,
            "Experiment IDs in the page token do not match the requested experiment IDs. \
             Expected: ['1']. Found: ['2']"
        );
        let ok = encode_token(&["1".into()], None, &Value::Null, 5);
        assert_eq!(decode_token(&ok, &q, &Value::Null).unwrap(), 5);
        assert!(decode_token("!!", &q, &Value::Null).is_err());
    }

    #[test]
    fn status_names_become_integers() {
        assert_eq!(
            status_value(&FilterValue::Str("READY".into())),
            FilterValue::Num(2.0)
        );
        assert_eq!(
            status_value(&FilterValue::List(vec!["PENDING".into(), "x".into()])),
            FilterValue::List(vec!["1".into(), "x".into()])
        );
    }
}
