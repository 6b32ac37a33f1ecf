//! The behaviour suite for any `TrackingStore`: each function takes a fresh store (only the
//! Default experiment) and asserts MLflow's observable behaviour. Backends run every function.

#![allow(dead_code)]

pub mod experiments;
pub mod logging;
pub mod runs;
pub mod search;

use rsflow_core::wire::{KeyValue, Metric, MetricValue, Run, RunTag};
use rsflow_core::{ErrorCode, MlflowError};
use rsflow_store::{CreateRun, TrackingStore};

pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

pub fn metric(key: &str, value: f64, timestamp: i64, step: i64) -> Metric {
    Metric {
        key: key.to_string(),
        value: MetricValue(value),
        timestamp,
        step,
        ..Default::default()
    }
}

#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(
    r: Result<T, MlflowError>,
    code: ErrorCode,
    message: &str,
) -> MlflowError {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code, code, "unexpected code for: {}", e.message);
    assert!(
        e.message.contains(message),
        "message {:?} does not contain {:?}",
        e.message,
        message
    );
    e
}

pub async fn new_run(s: &dyn TrackingStore, experiment_id: &str, name: &str) -> Run {
    s.create_run(CreateRun {
        experiment_id: experiment_id.to_string(),
        user_id: "tester".into(),
        run_name: Some(name.to_string()),
        start_time: 1000,
        tags: vec![],
    })
    .await
    .unwrap()
}

pub fn tag_value<'a>(tags: &'a [RunTag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

pub fn sorted(mut tags: Vec<KeyValue>) -> Vec<(String, String)> {
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}
