//! MLflow 3 GenAI evaluation entities (spec `mlflow-genai.md` §5): evaluation datasets and
//! their records, registered scorers and their online configs, label schemas, review queues
//! and issues.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// `EvaluationDataset.EVALUATION_DATASET_ID_PREFIX`.
pub const DATASET_ID_PREFIX: &str = "d-";
/// `SqlEvaluationDatasetRecord.RECORD_ID_PREFIX`.
pub const DATASET_RECORD_ID_PREFIX: &str = "dr-";
/// Where a record's `outputs` are wrapped in the `outputs` column.
pub const WRAPPED_OUTPUT_KEY: &str = "mlflow_wrapped";
/// The tag that names the user (`mlflow.user`).
pub const MLFLOW_USER: &str = "mlflow.user";
/// `DatasetRecordSourceType` values.
pub const RECORD_SOURCE_TYPES: &[&str] = &["UNSPECIFIED", "TRACE", "HUMAN", "DOCUMENT", "CODE"];

/// An evaluation dataset's metadata (records are read apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluationDataset {
    pub dataset_id: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// JSON text, as stored.
    pub schema: Option<String>,
    /// JSON text, as stored.
    pub profile: Option<String>,
    pub digest: String,
    pub created_time: i64,
    pub last_update_time: i64,
    pub created_by: Option<String>,
    pub last_updated_by: Option<String>,
    /// Only in the answers of create and add/remove-experiments (MLflow leaves it out of GET).
    pub experiment_ids: Option<Vec<String>>,
}

/// One stored record, as `DatasetRecord.to_dict()` shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetRecord {
    pub dataset_record_id: String,
    pub dataset_id: String,
    pub inputs: Value,
    /// `None`: the column holds no wrapped outputs.
    pub outputs: Option<Value>,
    pub expectations: Option<Value>,
    pub tags: Option<Value>,
    /// `{"source_type": ..., "source_data": {...}}`.
    pub source: Option<Value>,
    pub source_id: Option<String>,
    pub source_type: Option<String>,
    pub created_time: i64,
    pub last_update_time: i64,
    pub created_by: Option<String>,
    pub last_updated_by: Option<String>,
}

/// A record to upsert, checked by the HTTP layer: objects where MLflow expects dicts, a known
/// source type. `has_outputs` tells "outputs" absent from "outputs": null.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordUpsert {
    pub inputs: Map<String, Value>,
    pub has_outputs: bool,
    pub outputs: Option<Value>,
    pub expectations: Option<Map<String, Value>>,
    pub tags: Option<Map<String, Value>>,
    /// Normalised: `source_type` upper case, `source_data` an object.
    pub source: Option<Map<String, Value>>,
}

/// `search_datasets` after decoding.
#[derive(Debug, Clone, Default)]
pub struct SearchDatasets {
    pub experiment_ids: Vec<String>,
    pub filter: String,
    pub max_results: i64,
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

/// Counts of one upsert call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    pub inserted: i64,
    pub updated: i64,
}

/// One version of a registered scorer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScorerVersion {
    pub experiment_id: i64,
    pub scorer_name: String,
    pub scorer_version: i64,
    pub serialized_scorer: String,
    pub creation_time: i64,
    pub scorer_id: String,
}

/// An online scoring config (`online_scoring_configs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnlineScoringConfig {
    pub online_scoring_config_id: String,
    pub scorer_id: String,
    pub sample_rate: f64,
    pub experiment_id: String,
    pub filter_string: Option<String>,
}

/// A label schema (`label_schemas`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSchema {
    pub schema_id: String,
    pub experiment_id: String,
    pub name: String,
    /// `FEEDBACK` or `EXPECTATION`.
    pub schema_type: String,
    pub instruction: Option<String>,
    pub enable_comment: bool,
    /// `pass_fail`, `categorical`, `numeric` or `text`.
    pub input_type: String,
    /// The input's settings object (JSON text in the column).
    pub input_config: Map<String, Value>,
    pub created_by: Option<String>,
    pub created_time: i64,
    pub last_update_time: i64,
    pub is_default: bool,
}

/// A label-schema update: `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct LabelSchemaUpdate {
    pub name: Option<String>,
    pub instruction: Option<String>,
    pub enable_comment: Option<bool>,
    pub input: Option<(String, Map<String, Value>)>,
}

/// A review queue with its members and schemas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewQueue {
    pub queue_id: String,
    pub experiment_id: String,
    pub name: String,
    /// `USER` or `CUSTOM`.
    pub queue_type: String,
    pub created_by: Option<String>,
    pub creation_time_ms: i64,
    pub last_update_time_ms: i64,
    pub users: Vec<String>,
    pub schema_ids: Vec<String>,
}

/// A review-queue update: `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ReviewQueueUpdate {
    pub name: Option<String>,
    pub users: Option<Vec<String>>,
    pub schema_ids: Option<Vec<String>>,
    pub new_owner: Option<String>,
}

/// An item of a review queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewQueueItem {
    pub queue_id: String,
    pub item_type: String,
    pub item_id: String,
    pub status: String,
    pub completed_by: Option<String>,
    pub completed_time_ms: Option<i64>,
    pub creation_time_ms: i64,
    pub last_update_time_ms: i64,
}

/// An issue (`issues`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Issue {
    pub issue_id: String,
    pub experiment_id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub severity: Option<String>,
    pub root_causes: Vec<String>,
    pub source_run_id: Option<String>,
    pub created_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub created_by: Option<String>,
    pub categories: Vec<String>,
    pub trace_count: Option<i64>,
}

/// An issue update: `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct IssueUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
    pub root_causes: Option<Vec<String>>,
    pub categories: Option<Vec<String>>,
}

/// `extract_model_from_serialized_scorer`: the judge model a serialized scorer names.
pub fn scorer_model(data: &Value) -> Option<String> {
    let truthy = |v: Option<&Value>| -> Option<Value> {
        v.filter(|v| match v {
            Value::Null => false,
            Value::Object(m) => !m.is_empty(),
            _ => true,
        })
        .cloned()
    };
    let model = |v: &Value| v.get("model").and_then(Value::as_str).map(str::to_string);
    if let Some(d) = truthy(data.get("instructions_judge_pydantic_data")) {
        return model(&d);
    }
    if let Some(d) = truthy(data.get("builtin_scorer_pydantic_data")) {
        return model(&d);
    }
    if let Some(d) = truthy(data.get("memory_augmented_judge_data")) {
        return d.get("base_judge").and_then(scorer_model);
    }
    if let Some(d) = truthy(data.get("third_party_scorer_data")) {
        return model(&d);
    }
    None
}

/// `is_gateway_model`: a `gateway:/<endpoint>` model URI.
pub fn is_gateway_model(model: Option<&str>) -> bool {
    match model.and_then(|m| m.split_once(":/")) {
        Some((provider, path)) => {
            !provider.is_empty()
                && !path.trim_start_matches('/').is_empty()
                && provider == "gateway"
        }
        None => false,
    }
}

/// `_obj_has_call_source`: a `@scorer` function's source anywhere in the payload.
pub fn has_call_source(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.get("call_source").is_some_and(|c| !c.is_null()) || m.values().any(has_call_source)
        }
        Value::Array(items) => items.iter().any(has_call_source),
        _ => false,
    }
}

/// `GATEWAY_DESTINATION_KEYS`: options that choose where a judge's LLM client connects.
const DESTINATION_KEYS: &[&str] = &[
    "api_base",
    "base_url",
    "custom_llm_provider",
    "fallbacks",
    "model_list",
];

fn destination_keys(v: &Value, found: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for k in m.keys() {
                if DESTINATION_KEYS.contains(&k.as_str()) {
                    found.insert(k.clone());
                }
            }
            m.values().for_each(|x| destination_keys(x, found));
        }
        Value::Array(items) => {
            for x in items {
                if let Value::Array(pair) = x
                    && pair.len() == 2
                    && let Some(k) = pair[0].as_str()
                    && DESTINATION_KEYS.contains(&k)
                {
                    found.insert(k.to_string());
                }
                destination_keys(x, found);
            }
        }
        _ => {}
    }
}

fn third_party_data<'a>(v: &'a Value, out: &mut Vec<&'a Map<String, Value>>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(d)) = m.get("third_party_scorer_data") {
                out.push(d);
            }
            m.values().for_each(|x| third_party_data(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| third_party_data(x, out)),
        _ => {}
    }
}

/// `_validate_third_party_scorer_data`: the message for the first offending payload.
pub fn third_party_scorer_problem(v: &Value) -> Option<String> {
    let mut all = Vec::new();
    third_party_data(v, &mut all);
    for d in all {
        let kwargs = d.get("kwargs").unwrap_or(&Value::Null);
        if !kwargs.is_null() && !kwargs.is_object() {
            let ty = match kwargs {
                Value::Bool(_) => "bool",
                Value::Number(n) if n.is_f64() => "float",
                Value::Number(_) => "int",
                Value::String(_) => "str",
                _ => "list",
            };
            return Some(format!(
                "third_party_scorer_data.kwargs must be a JSON object, got {ty}."
            ));
        }
        let mut found = std::collections::BTreeSet::new();
        destination_keys(kwargs, &mut found);
        if !found.is_empty() {
            let names: Vec<String> = found.iter().map(|k| crate::pyfmt::repr_str(k)).collect();
            return Some(format!(
                "third_party_scorer_data.kwargs must not contain {}: these options choose where \
                 the scorer's LLM client sends requests. Configure the judge endpoint on the \
                 server instead, for example through a gateway endpoint ('gateway:/<name>') or \
                 the provider's environment variables.",
                names.join(", ")
            ));
        }
    }
    None
}

/// `DECORATOR_SCORER_REGISTRATION_NOT_SUPPORTED_ERROR`.
pub const CUSTOM_SCORER_REFUSED: &str = "Custom scorer registration (using @scorer decorator) is \
disabled by default outside of Databricks tracking environments due to security concerns. Custom \
scorers require arbitrary code execution during deserialization.\n\nTo use custom scorers:\n1. \
Configure MLflow to use a Databricks tracking URI, or\n2. Manage your custom scorer code in a \
source code repository (e.g., GitHub) and import it directly, or\n3. On a self-managed MLflow \
server (or local environment) that you trust to run the scorer's code, set the \
MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS environment variable to true, or\n4. Use built-in scorers or \
make_judge() scorers instead.";

/// The type name `_infer_field_type` gives a JSON value.
pub fn infer_field_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `sha256(json.dumps(inputs, sort_keys=True))` in hex: the record de-duplication key.
/// serde_json's map keeps keys sorted, as `sort_keys` does.
pub fn input_hash(inputs: &Map<String, Value>) -> String {
    use sha2::{Digest, Sha256};
    let text = crate::pyfmt::json_dumps(&Value::Object(inputs.clone()));
    hex_lower(&Sha256::digest(text.as_bytes()))
}

/// `sha256(f"{name}:{last_update_time}").hexdigest()[:8]`.
pub fn dataset_digest(name: &str, last_update_time: i64) -> String {
    use sha2::{Digest, Sha256};
    let h = hex_lower(&Sha256::digest(
        format!("{name}:{last_update_time}").as_bytes(),
    ));
    h[..8].to_string()
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_hash_match_python() {
        // hashlib.sha256(b"ds:1700000000000").hexdigest()[:8]
        assert_eq!(dataset_digest("ds", 1_700_000_000_000), "3b239679");
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"q": "a", "b": 1, "c": [1.5, "\u00e9"]}"#).unwrap();
        // sha256(json.dumps({"q": "a", "b": 1, "c": [1.5, "é"]}, sort_keys=True))
        assert_eq!(
            input_hash(&m),
            "0b7d5c8c8fe622f476b5be69288ef82ee90b11f11ac2981c3cd3db24618c7b6d"
        );
    }
}
