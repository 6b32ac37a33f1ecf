//! MLflow 3 tracing over HTTP (spec `mlflow-genai.md` §2, §3): OTLP ingestion at
//! `/v1/traces`, the v2/v3 trace routes and assessments.
//!
//! # Layout
//! - `otlp`: `POST /v1/traces` (content types, encodings, size cap, answers).
//! - `otlp_json`: OTLP/JSON to the protobuf request.
//! - `otlp_convert`: OTel spans to stored span JSON, span rows and per-trace facts.
//! - `pyjson`: Python-faithful values and `json.dumps` for the stored JSON.
//! - `routes`: the v2/v3 REST routes and assessments.
//! - `spans`: trace payloads streamed page by page from the store.
//! - `wire`: TraceInfo v2/v3, assessment and OTel span JSON.

pub(crate) mod otlp;
pub(crate) mod otlp_convert;
pub(crate) mod otlp_json;
pub(crate) mod pyjson;
mod routes;
mod spans;
pub(crate) mod wire;

pub(crate) use routes::{ajax_only_routes, v2_routes, v3_routes};
