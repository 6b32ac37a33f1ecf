//! MLflow 3 logged models and the model registry as the REST API serialises them.
//!
//! Field presence follows what the reference server emits (proto2: fields it sets are present
//! even when empty, e.g. `"model_type": ""`, `"run_link": ""`; unset ones are absent). The
//! `Option`s below are exactly the fields that may be absent.

use serde::{Deserialize, Serialize};

use crate::wire::{KeyValue, MetricValue};

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// Model-version stages. `Deleted_Internal` marks a deleted version and never leaves the store.
pub const STAGE_NONE: &str = "None";
pub const STAGE_STAGING: &str = "Staging";
pub const STAGE_PRODUCTION: &str = "Production";
pub const STAGE_ARCHIVED: &str = "Archived";
pub const STAGE_DELETED_INTERNAL: &str = "Deleted_Internal";
/// Every stage a client may name, in MLflow's `ALL_STAGES` order.
pub const ALL_STAGES: [&str; 4] = [STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED];

/// The canonical spelling of a stage given in any case (`get_canonical_stage`).
pub fn canonical_stage(stage: &str) -> Option<&'static str> {
    ALL_STAGES
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(stage.trim()))
}

/// The tag that marks a registered model (and its versions) as a prompt.
pub const IS_PROMPT_TAG_KEY: &str = "mlflow.prompt.is_prompt";
/// The only sources a prompt version may carry (`_PROMPT_SOURCE_PLACEHOLDERS`).
pub const PROMPT_SOURCE_PLACEHOLDERS: [&str; 2] = ["dummy-source", "prompt-template"];
/// Logged-model tag listing the registered versions made from it.
pub const MODEL_VERSIONS_TAG_KEY: &str = "mlflow.modelVersions";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RegisteredModelAlias {
    pub alias: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ModelVersion {
    pub name: String,
    /// Serialised as a string although stored as an integer.
    pub version: String,
    pub creation_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub current_stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub status: String,
    /// Emitted only when non-empty, as MLflow does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_link: Option<String>,
    /// Filled on get, get-by-alias, update, transition and latest-versions; empty in searches.
    #[serde(skip_serializing_if = "is_empty")]
    pub aliases: Vec<String>,
}

impl ModelVersion {
    pub fn version_number(&self) -> i64 {
        self.version.parse().unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RegisteredModel {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Emitted only when non-empty (MLflow's `if self.description:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The latest version per stage.
    #[serde(skip_serializing_if = "is_empty")]
    pub latest_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "is_empty")]
    pub aliases: Vec<RegisteredModelAlias>,
}

impl RegisteredModel {
    /// A prompt carries `mlflow.prompt.is_prompt = true` (case-insensitive), like `_is_prompt`.
    pub fn is_prompt(&self) -> bool {
        self.tags
            .iter()
            .any(|t| t.key == IS_PROMPT_TAG_KEY && t.value.eq_ignore_ascii_case("true"))
    }
}

/// `LoggedModelStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoggedModelStatus {
    #[default]
    Unspecified,
    Pending,
    Ready,
    UploadFailed,
}

impl LoggedModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoggedModelStatus::Unspecified => "LOGGED_MODEL_STATUS_UNSPECIFIED",
            LoggedModelStatus::Pending => "LOGGED_MODEL_PENDING",
            LoggedModelStatus::Ready => "LOGGED_MODEL_READY",
            LoggedModelStatus::UploadFailed => "LOGGED_MODEL_UPLOAD_FAILED",
        }
    }
    /// The integer MLflow stores in `logged_models.status`.
    pub fn to_int(self) -> i64 {
        match self {
            LoggedModelStatus::Unspecified => 0,
            LoggedModelStatus::Pending => 1,
            LoggedModelStatus::Ready => 2,
            LoggedModelStatus::UploadFailed => 3,
        }
    }
    pub fn from_int(v: i64) -> Option<Self> {
        Some(match v {
            0 => LoggedModelStatus::Unspecified,
            1 => LoggedModelStatus::Pending,
            2 => LoggedModelStatus::Ready,
            3 => LoggedModelStatus::UploadFailed,
            _ => return None,
        })
    }
    /// A proto enum given by name or number (`"LOGGED_MODEL_READY"` or `2`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Ok(n) = s.parse::<i64>() {
            return Self::from_int(n);
        }
        [
            LoggedModelStatus::Unspecified,
            LoggedModelStatus::Pending,
            LoggedModelStatus::Ready,
            LoggedModelStatus::UploadFailed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl Serialize for LoggedModelStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A metric as a logged model reports it: always with its model, run and optional dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LoggedModelMetric {
    pub key: String,
    pub value: MetricValue,
    pub timestamp: i64,
    pub step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    pub model_id: String,
    pub run_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LoggedModelInfo {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    /// Serialised as `artifact_uri` (the stored column is `artifact_location`).
    pub artifact_uri: String,
    pub status: LoggedModelStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LoggedModelData {
    #[serde(skip_serializing_if = "is_empty")]
    pub params: Vec<KeyValue>,
    #[serde(skip_serializing_if = "is_empty")]
    pub metrics: Vec<LoggedModelMetric>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LoggedModel {
    pub info: LoggedModelInfo,
    pub data: LoggedModelData,
}

impl LoggedModel {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.info
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_canonicalised_case_insensitively() {
        assert_eq!(canonical_stage("production"), Some("Production"));
        assert_eq!(canonical_stage("NONE"), Some("None"));
        assert_eq!(canonical_stage("Deleted_Internal"), None);
        assert_eq!(canonical_stage("prod"), None);
    }

    #[test]
    fn logged_model_status_by_name_or_number() {
        assert_eq!(
            LoggedModelStatus::parse("LOGGED_MODEL_READY"),
            Some(LoggedModelStatus::Ready)
        );
        assert_eq!(
            LoggedModelStatus::parse("3"),
            Some(LoggedModelStatus::UploadFailed)
        );
        assert_eq!(LoggedModelStatus::parse("READY"), None);
        assert_eq!(LoggedModelStatus::Pending.to_int(), 1);
    }

    #[test]
    fn model_version_json_matches_reference_presence() {
        let mv = ModelVersion {
            name: "rm".into(),
            version: "1".into(),
            creation_timestamp: 5,
            last_updated_timestamp: Some(5),
            current_stage: "None".into(),
            description: Some(String::new()),
            source: Some("s3://b/x".into()),
            run_id: Some(String::new()),
            status: "READY".into(),
            run_link: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&mv).unwrap(),
            serde_json::json!({
                "name": "rm", "version": "1", "creation_timestamp": 5,
                "last_updated_timestamp": 5, "current_stage": "None", "description": "",
                "source": "s3://b/x", "run_id": "", "status": "READY", "run_link": ""
            })
        );
    }

    #[test]
    fn logged_model_json_matches_reference_presence() {
        let m = LoggedModel {
            info: LoggedModelInfo {
                model_id: "m-1".into(),
                experiment_id: "1".into(),
                name: "n".into(),
                creation_timestamp_ms: 1,
                last_updated_timestamp_ms: 2,
                artifact_uri: "mlflow-artifacts:/1/models/m-1/artifacts".into(),
                status: LoggedModelStatus::Pending,
                model_type: Some(String::new()),
                source_run_id: Some(String::new()),
                ..Default::default()
            },
            data: LoggedModelData::default(),
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"info": {
                "model_id": "m-1", "experiment_id": "1", "name": "n",
                "creation_timestamp_ms": 1, "last_updated_timestamp_ms": 2,
                "artifact_uri": "mlflow-artifacts:/1/models/m-1/artifacts",
                "status": "LOGGED_MODEL_PENDING", "model_type": "", "source_run_id": ""
            }, "data": {}})
        );
    }
}
