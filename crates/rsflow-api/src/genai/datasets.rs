//! `/api/3.0/mlflow/datasets/*` (spec §5.1): evaluation datasets, their tags, records and
//! experiment links.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use rsflow_core::genai::{
    DatasetRecord, EvaluationDataset, RECORD_SOURCE_TYPES, RecordUpsert, SearchDatasets,
};
use rsflow_core::pyfmt::{json_dumps, json_dumps_str};
use serde_json::{Map, Value, json};

use super::{bad, py_str, type_name};
use crate::AppState;
use crate::error::{ApiResult, json_ok};
use crate::extract::Params;

type Handler = ApiResult<Response>;

/// `LOAD_DATASET_RECORDS_MAX_RESULTS` and the search default.
const DEFAULT_MAX_RESULTS: i64 = 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        // Flask routes GET/DELETE `/datasets/create` to the dataset-id rule.
        .route(
            "/mlflow/datasets/create",
            post(create_dataset)
                .get(get_dataset_named_create)
                .delete(delete_dataset_named_create),
        )
        .route(
            "/mlflow/datasets/search",
            get(search_datasets).post(search_datasets),
        )
        .route(
            "/mlflow/datasets/{dataset_id}",
            get(get_dataset).delete(delete_dataset),
        )
        .route("/mlflow/datasets/{dataset_id}/tags", patch(set_tags))
        .route(
            "/mlflow/datasets/{dataset_id}/tags/{key}",
            delete(delete_tag),
        )
        .route(
            "/mlflow/datasets/{dataset_id}/records",
            post(upsert_records).get(get_records).delete(delete_records),
        )
        .route(
            "/mlflow/datasets/{dataset_id}/experiment-ids",
            get(experiment_ids),
        )
        .route(
            "/mlflow/datasets/{dataset_id}/add-experiments",
            post(add_experiments),
        )
        .route(
            "/mlflow/datasets/{dataset_id}/remove-experiments",
            post(remove_experiments),
        )
}

/// `EvaluationDataset.to_proto()` as JSON.
pub(crate) fn dataset_json(d: &EvaluationDataset) -> Value {
    let mut m = Map::new();
    m.insert("dataset_id".into(), json!(d.dataset_id));
    m.insert("name".into(), json!(d.name));
    let tags: Map<String, Value> = d
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    m.insert("tags".into(), json!(json_dumps(&Value::Object(tags))));
    if let Some(s) = d.schema.as_ref().filter(|s| !s.is_empty()) {
        m.insert("schema".into(), json!(s));
    }
    if let Some(p) = d.profile.as_ref().filter(|s| !s.is_empty()) {
        m.insert("profile".into(), json!(p));
    }
    if !d.digest.is_empty() {
        m.insert("digest".into(), json!(d.digest));
    }
    m.insert("created_time".into(), json!(d.created_time));
    m.insert("last_update_time".into(), json!(d.last_update_time));
    if let Some(u) = d.created_by.as_ref().filter(|s| !s.is_empty()) {
        m.insert("created_by".into(), json!(u));
    }
    if let Some(u) = d.last_updated_by.as_ref().filter(|s| !s.is_empty()) {
        m.insert("last_updated_by".into(), json!(u));
    }
    if let Some(ids) = d.experiment_ids.as_ref().filter(|i| !i.is_empty()) {
        m.insert("experiment_ids".into(), json!(ids));
    }
    Value::Object(m)
}

/// `DatasetRecord.to_dict()` as `json.dumps` writes it: the proto field order.
fn write_record(out: &mut String, r: &DatasetRecord) {
    let mut first = true;
    let mut field = |out: &mut String, key: &str, value: String| {
        if !first {
            out.push_str(", ");
        }
        first = false;
        out.push_str(&json_dumps_str(key));
        out.push_str(": ");
        out.push_str(&value);
    };
    out.push('{');
    field(
        out,
        "dataset_record_id",
        json_dumps_str(&r.dataset_record_id),
    );
    field(out, "dataset_id", json_dumps_str(&r.dataset_id));
    field(out, "inputs", json_dumps(&r.inputs));
    if let Some(e) = &r.expectations {
        field(out, "expectations", json_dumps(e));
    }
    if let Some(t) = &r.tags {
        field(out, "tags", json_dumps(t));
    }
    if let Some(s) = &r.source {
        field(out, "source", json_dumps(s));
    }
    if let Some(s) = r.source_id.as_ref().filter(|s| !s.is_empty()) {
        field(out, "source_id", json_dumps_str(s));
    }
    if let Some(s) = r.source_type.as_ref().filter(|s| !s.is_empty()) {
        field(out, "source_type", json_dumps_str(s));
    }
    field(out, "created_time", r.created_time.to_string());
    field(out, "last_update_time", r.last_update_time.to_string());
    if let Some(s) = r.created_by.as_ref().filter(|s| !s.is_empty()) {
        field(out, "created_by", json_dumps_str(s));
    }
    if let Some(s) = r.last_updated_by.as_ref().filter(|s| !s.is_empty()) {
        field(out, "last_updated_by", json_dumps_str(s));
    }
    if let Some(o) = &r.outputs {
        field(out, "outputs", json_dumps(o));
    }
    out.push('}');
}

/// A JSON-string parameter holding an object (`tags`): `json.loads`, values as `str()`.
fn tags_param(p: &Params, name: &str, required: bool) -> ApiResult<Vec<(String, String)>> {
    let text = if required {
        p.req_json_string(name)?
    } else {
        match p.opt_str(name)? {
            Some(t) if !t.is_empty() => t,
            _ => return Ok(vec![]),
        }
    };
    let v: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("Invalid JSON in '{name}': {e}")))?;
    let Value::Object(m) = v else {
        return Err(bad(format!(
            "'{name}' must be a JSON object, got {}",
            type_name(&v)
        )));
    };
    let mut out = Vec::new();
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        if k.chars().count() > 255 {
            return Err(bad(format!(
                "Tag key '{k}' is longer than the limit of 255 characters"
            )));
        }
        let s = py_str(&v);
        if s.chars().count() > 5000 {
            return Err(bad(format!(
                "Tag value for key '{k}' is longer than the limit of 5000 characters"
            )));
        }
        out.push((k, s));
    }
    Ok(out)
}

async fn create_dataset(State(s): State<AppState>, p: Params) -> Handler {
    let name = p.req_str("name")?;
    if name.chars().count() > 255 {
        return Err(bad(format!(
            "Dataset name '{name}' is longer than the limit of 255 characters"
        )));
    }
    let experiment_ids = p.str_list("experiment_ids")?;
    let tags = tags_param(&p, "tags", false)?;
    let d = s
        .genai
        .create_dataset(&name, &tags, &experiment_ids)
        .await?;
    json_ok(&json!({ "dataset": dataset_json(&d) }))
}

async fn get_dataset(State(s): State<AppState>, Path(id): Path<String>) -> Handler {
    let d = s.genai.get_dataset(&id).await?;
    json_ok(&json!({ "dataset": dataset_json(&d) }))
}

async fn get_dataset_named_create(s: State<AppState>) -> Handler {
    get_dataset(s, Path("create".to_string())).await
}

async fn delete_dataset_named_create(s: State<AppState>) -> Handler {
    delete_dataset(s, Path("create".to_string())).await
}

async fn delete_dataset(State(s): State<AppState>, Path(id): Path<String>) -> Handler {
    s.genai.delete_dataset(&id).await?;
    json_ok(&json!({}))
}

async fn search_datasets(State(s): State<AppState>, p: Params) -> Handler {
    let query = SearchDatasets {
        experiment_ids: p.str_list("experiment_ids")?,
        filter: p.opt_str("filter_string")?.unwrap_or_default(),
        max_results: p
            .opt_i64("max_results")?
            .filter(|n| *n != 0)
            .unwrap_or(DEFAULT_MAX_RESULTS),
        order_by: p.str_list("order_by")?,
        page_token: p.opt_str("page_token")?.filter(|t| !t.is_empty()),
    };
    let page = s.genai.search_datasets(&query).await?;
    let mut body = Map::new();
    body.insert(
        "datasets".into(),
        Value::Array(page.items.iter().map(dataset_json).collect()),
    );
    if let Some(t) = page.next_page_token {
        body.insert("next_page_token".into(), json!(t));
    }
    json_ok(&Value::Object(body))
}

async fn set_tags(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    let tags = tags_param(&p, "tags", true)?;
    s.genai.set_dataset_tags(&id, &tags).await?;
    json_ok(&json!({}))
}

async fn delete_tag(State(s): State<AppState>, Path((id, key)): Path<(String, String)>) -> Handler {
    s.genai.delete_dataset_tag(&id, &key).await?;
    json_ok(&json!({}))
}

fn opt_object(i: usize, field: &str, v: Option<&Value>) -> ApiResult<Option<Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(other) => Err(bad(format!(
            "Record {i}: '{field}' must be a JSON object, got {}",
            type_name(other)
        ))),
    }
}

/// One element of `records`, checked where MLflow's store would fail or refuse.
fn parse_record(i: usize, v: &Value) -> ApiResult<RecordUpsert> {
    let Value::Object(m) = v else {
        return Err(bad(format!(
            "Record {i} must be a JSON object, got {}",
            type_name(v)
        )));
    };
    let inputs = match m.get("inputs") {
        None => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => {
            return Err(bad(format!(
                "Record {i}: 'inputs' must be a JSON object, got {}",
                type_name(other)
            )));
        }
    };
    let source = match opt_object(i, "source", m.get("source"))? {
        None => None,
        Some(src) if src.is_empty() => None,
        Some(src) => {
            if let Some(k) = src
                .keys()
                .find(|k| *k != "source_type" && *k != "source_data")
            {
                return Err(bad(format!(
                    "Record {i}: unexpected key '{k}' in 'source' (expected 'source_type' and \
                     'source_data')"
                )));
            }
            let ty = match src.get("source_type") {
                Some(Value::String(t)) => t.to_uppercase(),
                _ => {
                    return Err(bad(format!(
                        "Record {i}: 'source.source_type' must be a string"
                    )));
                }
            };
            if !RECORD_SOURCE_TYPES.contains(&ty.as_str()) {
                return Err(bad(format!(
                    "Invalid dataset record source type: {ty}. Valid source types: ['UNSPECIFIED', \
                     'TRACE', 'HUMAN', 'DOCUMENT', 'CODE']"
                )));
            }
            let data =
                opt_object(i, "source.source_data", src.get("source_data"))?.unwrap_or_default();
            let mut norm = Map::new();
            norm.insert("source_type".into(), Value::String(ty));
            norm.insert("source_data".into(), Value::Object(data));
            Some(norm)
        }
    };
    Ok(RecordUpsert {
        inputs,
        has_outputs: m.contains_key("outputs"),
        outputs: m.get("outputs").cloned(),
        expectations: opt_object(i, "expectations", m.get("expectations"))?,
        tags: opt_object(i, "tags", m.get("tags"))?,
        source,
    })
}

async fn upsert_records(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    let text = p.req_json_string("records")?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("Invalid JSON in 'records': {e}")))?;
    let Value::Array(items) = v else {
        return Err(bad(format!(
            "'records' must be a JSON list, got {}",
            type_name(&v)
        )));
    };
    let records = items
        .iter()
        .enumerate()
        .map(|(i, r)| parse_record(i, r))
        .collect::<ApiResult<Vec<_>>>()?;
    let counts = s.genai.upsert_dataset_records(&id, &records).await?;
    json_ok(&json!({"inserted_count": counts.inserted, "updated_count": counts.updated}))
}

async fn get_records(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    let max_results = match p.opt_i64("max_results")? {
        None | Some(0) => DEFAULT_MAX_RESULTS,
        Some(n) if n < 0 => {
            return Err(bad(format!(
                "Invalid value {n} for parameter 'max_results' supplied. It must be a positive \
                 integer"
            )));
        }
        Some(n) => n.min(50_000),
    };
    let token = p.opt_str("page_token")?;
    // An unknown dataset has no records (200, as MLflow answers).
    let page = s
        .genai
        .dataset_records(&id, max_results, token.as_deref())
        .await?;
    let mut text = String::from("[");
    for (i, r) in page.items.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        write_record(&mut text, r);
    }
    text.push(']');
    let mut body = Map::new();
    body.insert("records".into(), Value::String(text));
    if let Some(t) = page.next_page_token {
        body.insert("next_page_token".into(), json!(t));
    }
    json_ok(&Value::Object(body))
}

async fn delete_records(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    let ids = p.str_list("dataset_record_ids")?;
    let n = s.genai.delete_dataset_records(&id, &ids).await?;
    json_ok(&json!({ "deleted_count": n }))
}

async fn experiment_ids(State(s): State<AppState>, Path(id): Path<String>) -> Handler {
    let ids = s.genai.dataset_experiment_ids(&id).await?;
    if ids.is_empty() {
        return json_ok(&json!({}));
    }
    json_ok(&json!({ "experiment_ids": ids }))
}

async fn add_experiments(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    let ids = p.str_list("experiment_ids")?;
    let d = s.genai.add_dataset_to_experiments(&id, &ids).await?;
    json_ok(&json!({ "dataset": dataset_json(&d) }))
}

async fn remove_experiments(
    State(s): State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Handler {
    let ids = p.str_list("experiment_ids")?;
    let d = s.genai.remove_dataset_from_experiments(&id, &ids).await?;
    json_ok(&json!({ "dataset": dataset_json(&d) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_written_in_proto_field_order() {
        let r = DatasetRecord {
            dataset_record_id: "dr-1".into(),
            dataset_id: "d-1".into(),
            inputs: json!({"q": "a"}),
            outputs: Some(json!({})),
            expectations: Some(json!({"expected": "A"})),
            tags: Some(json!({"mlflow.user": "me"})),
            source: Some(json!({"source_type": "HUMAN", "source_data": {}})),
            source_id: None,
            source_type: Some("HUMAN".into()),
            created_time: 5,
            last_update_time: 6,
            created_by: Some("me".into()),
            last_updated_by: Some("me".into()),
        };
        let mut out = String::new();
        write_record(&mut out, &r);
        assert_eq!(
            out,
            "{\"dataset_record_id\": \"dr-1\", \"dataset_id\": \"d-1\", \"inputs\": {\"q\": \
             \"a\"}, \"expectations\": {\"expected\": \"A\"}, \"tags\": {\"mlflow.user\": \
             \"me\"}, \"source\": {\"source_data\": {}, \"source_type\": \"HUMAN\"}, \
             \"source_type\": \"HUMAN\", \"created_time\": 5, \"last_update_time\": 6, \
             \"created_by\": \"me\", \"last_updated_by\": \"me\", \"outputs\": {}}"
        );
    }

    #[test]
    fn bad_records_are_refused() {
        assert!(parse_record(0, &json!([1])).is_err());
        assert!(parse_record(0, &json!({"inputs": [1]})).is_err());
        assert!(parse_record(0, &json!({"inputs": {}, "source": {"source_type": "X"}})).is_err());
        let r = parse_record(
            0,
            &json!({"inputs": {"q": 1}, "source": {"source_type": "trace"}}),
        )
        .unwrap();
        assert_eq!(r.source.unwrap()["source_type"], "TRACE");
        assert!(!r.has_outputs);
    }
}
