//! Entities as MLflow's REST API serialises them (proto2 JSON, snake_case names, int64 as
//! numbers, enums by name). Unset optional fields and empty repeated fields are omitted.
//! These double as the domain values the stores return.

use serde::{Deserialize, Serialize};

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

pub type ExperimentTag = KeyValue;
pub type RunTag = KeyValue;
pub type Param = KeyValue;

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<i64>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<ExperimentTag>,
    /// Always "default": MLflow 3.x emits it when workspaces are off.
    pub workspace: String,
}

/// A metric value: MLflow emits NaN as the string "NaN" and clamps ±inf in SQL stores.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetricValue(pub f64);

impl Serialize for MetricValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(v)
        }
    }
}

/// Fields of the run types below are declared in byte order of their names: serialising them
/// directly then gives the same text as through `serde_json::Value` (whose maps sort keys),
/// which every response used before; hot paths skip the `Value` (see `sorted_like_value`).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Metric {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Only set in bulk-interval / get-history-bulk responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub step: i64,
    pub timestamp: i64,
    pub value: MetricValue,
}

/// Run status enum (`RunStatus` in service.proto).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    #[serde(rename = "RUNNING")]
    Running,
    #[serde(rename = "SCHEDULED")]
    Scheduled,
    #[serde(rename = "FINISHED")]
    Finished,
    #[serde(rename = "FAILED")]
    Failed,
    #[serde(rename = "KILLED")]
    Killed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }
    /// Parse a name or proto number ("FINISHED" or 3).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RUNNING" | "1" => RunStatus::Running,
            "SCHEDULED" | "2" => RunStatus::Scheduled,
            "FINISHED" | "3" => RunStatus::Finished,
            "FAILED" | "4" => RunStatus::Failed,
            "KILLED" | "5" => RunStatus::Killed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RunInfo {
    pub artifact_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub experiment_id: String,
    pub lifecycle_stage: String,
    pub run_id: String,
    pub run_name: String,
    pub run_uuid: String,
    pub start_time: i64,
    pub status: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RunData {
    #[serde(skip_serializing_if = "is_empty")]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "is_empty")]
    pub params: Vec<Param>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<RunTag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Dataset {
    pub digest: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub source: String,
    pub source_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DatasetInput {
    pub dataset: Dataset,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<KeyValue>,
}

/// One (experiment, dataset, context) of `experiments/search-datasets`, the web UI's dataset
/// filter. `context` is the input's `mlflow.data.context` tag; MLflow leaves it out of the
/// answer when absent or empty (`_DatasetSummary.to_proto` sets it only if truthy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetSummary {
    pub experiment_id: String,
    pub name: String,
    pub digest: String,
    #[serde(skip_serializing_if = "is_none_or_empty")]
    pub context: Option<String>,
}

fn is_none_or_empty(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(str::is_empty)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelInput {
    pub model_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelOutput {
    pub model_id: String,
    pub step: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RunInputs {
    #[serde(skip_serializing_if = "is_empty")]
    pub dataset_inputs: Vec<DatasetInput>,
    #[serde(skip_serializing_if = "is_empty")]
    pub model_inputs: Vec<ModelInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RunOutputs {
    #[serde(skip_serializing_if = "is_empty")]
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Run {
    pub data: RunData,
    pub info: RunInfo,
    pub inputs: RunInputs,
    /// `runs/create` omits outputs; get and search include them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<RunOutputs>,
}

/// `ViewType` for searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewType {
    #[default]
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ACTIVE_ONLY" | "1" => ViewType::ActiveOnly,
            "DELETED_ONLY" | "2" => ViewType::DeletedOnly,
            "ALL" | "3" => ViewType::All,
            _ => return None,
        })
    }
    /// Lifecycle stages this view includes.
    pub fn stages(self) -> &'static [&'static str] {
        match self {
            ViewType::ActiveOnly => &["active"],
            ViewType::DeletedOnly => &["deleted"],
            ViewType::All => &["active", "deleted"],
        }
    }
}

/// One page of results plus the token for the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// A file or directory in an artifact listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub is_dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

pub const LIFECYCLE_ACTIVE: &str = "active";
pub const LIFECYCLE_DELETED: &str = "deleted";

#[cfg(test)]
mod tests {
    use super::*;

    /// Responses used to go through `serde_json::Value`, which sorts keys; a run serialised
    /// directly must give the same bytes, every optional field set.
    #[test]
    fn run_serialises_like_its_value() {
        let kv = |k: &str| KeyValue {
            key: k.into(),
            value: format!("{k}-v"),
        };
        let run = Run {
            info: RunInfo {
                run_uuid: "u".into(),
                run_id: "u".into(),
                experiment_id: "1".into(),
                run_name: "n".into(),
                user_id: "me".into(),
                status: "FINISHED".into(),
                start_time: 1,
                end_time: Some(2),
                artifact_uri: "a".into(),
                lifecycle_stage: "active".into(),
            },
            data: RunData {
                metrics: vec![Metric {
                    key: "m".into(),
                    value: MetricValue(f64::NAN),
                    timestamp: 3,
                    step: 4,
                    run_id: Some("u".into()),
                    dataset_name: Some("d".into()),
                    dataset_digest: Some("g".into()),
                    model_id: Some("mid".into()),
                }],
                params: vec![kv("p")],
                tags: vec![kv("t")],
            },
            inputs: RunInputs {
                dataset_inputs: vec![DatasetInput {
                    tags: vec![kv("it")],
                    dataset: Dataset {
                        name: "d".into(),
                        digest: "g".into(),
                        source_type: "local".into(),
                        source: "s".into(),
                        schema: Some("{}".into()),
                        profile: Some("{}".into()),
                    },
                }],
                model_inputs: vec![ModelInput {
                    model_id: "m1".into(),
                }],
            },
            outputs: Some(RunOutputs {
                model_outputs: vec![ModelOutput {
                    model_id: "m2".into(),
                    step: 5,
                }],
            }),
        };
        let direct = serde_json::to_string(&run).unwrap();
        let via_value = serde_json::to_value(&run).unwrap().to_string();
        assert_eq!(direct, via_value);
        assert!(direct.starts_with("{\"data\":{\"metrics\":[{\"dataset_digest\":\"g\""));
    }
}
