//! Pure types shared by every rsflow crate: no I/O here.
//!
//! # Layout
//! - [`error`]: MLflow's `ErrorCode`, the error body, the HTTP status map.
//! - [`wire`]: entities as the REST API serialises them (experiments, runs, metrics, ...).
//! - [`wire_models`]: logged models and the model registry on the wire.
//! - [`model_source`]: model-version `source` parsing and artifact-root containment.
//! - [`search`]: the search filter / `order_by` AST and its parser.
//! - [`validation`]: MLflow's input limits and naming rules.
//! - [`pyfmt`]: Python's `repr()` and `json.dumps` text, for messages and stored JSON.
//! - [`page_token`]: offset page tokens.
//! - [`names`]: generated run and model names (`adjective-noun-NNN`).
//! - [`secret_uri`]: [`SecretUri`], a URI whose password is never printed.
//! - [`trace`]: MLflow 3 traces, spans and assessments as domain values.
//! - [`genai`]: evaluation datasets, scorers, label schemas, review queues, issues.

pub mod error;
pub mod genai;
pub mod model_source;
pub mod names;
pub mod page_token;
pub mod pyfmt;
pub mod search;
pub mod secret_uri;
pub mod trace;
pub mod uri;
pub mod validation;
pub mod wire;
pub mod wire_models;

pub use error::{ErrorCode, MlflowError, Result};
pub use secret_uri::SecretUri;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh run id: `uuid4().hex`.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
