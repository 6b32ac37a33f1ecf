//! MLflow 3 GenAI evaluation over HTTP (spec `mlflow-genai.md` §5): evaluation datasets,
//! registered scorers and the labeling entities, all under `/api/3.0` and `/ajax-api/3.0`.
//!
//! # Layout
//! - `datasets`: `/mlflow/datasets/*`.
//! - `scorers`: `/mlflow/scorers/*`.
//! - `labeling`: `/mlflow/label-schemas/*`, `/mlflow/review-queues/*`, `/mlflow/issues*`.

mod datasets;
mod labeling;
mod scorers;

use axum::Router;
use rsflow_core::MlflowError;
use rsflow_core::pyfmt::repr_float;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;

/// Every route of the family.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .merge(datasets::routes())
        .merge(scorers::routes())
        .merge(labeling::routes())
}

fn bad(msg: impl Into<String>) -> ApiError {
    MlflowError::invalid_param(msg).into()
}

/// Python's type name of a JSON value, for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python's `str(value)` for a JSON scalar (MLflow stores `str(value)` for tag values).
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => repr_float(f),
            _ => n.to_string(),
        },
        other => rsflow_core::pyfmt::json_dumps(other),
    }
}
