//! The behaviour suite for any `TrackingStore`: each function takes a fresh store (only the
//! Default experiment) and asserts MLflow's observable behaviour. Backends run every function.

#![allow(dead_code)]

/// One `#[tokio::test]` per listed suite function, grouped in modules named like the suite's.
#[allow(unused_macros)]
macro_rules! suite_tests {
    ($fresh:path; $($module:ident: [$($name:ident),* $(,)?]);* $(;)?) => {
        $(
            mod $module {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        // `None`: the backend is not available here (the helper said why).
                        let Some((_guard, store)) = $fresh().await else { return };
                        crate::suite::$module::$name(&store).await;
                    }
                )*
            }
        )*
    };
}

/// Every suite function as a `#[tokio::test]`, each on a store from `$fresh` (an async fn
/// returning `Option<(guard, store)>`).
#[allow(unused_macros)]
macro_rules! all_suite_tests {
    ($fresh:path) => {
        suite_tests!(
            $fresh;
            experiments: [
                default_experiment,
                create_and_get,
                duplicate_names,
                invalid_and_missing_ids,
                rename,
                delete_restore_cascade,
                tags,
            ];
            runs: [create_run, get_missing_run, update_run, delete_restore_run];
            logging: [
                params,
                batch_is_atomic,
                metrics_and_latest,
                tags,
                inputs_and_outputs,
                dataset_summaries,
                dataset_summaries_cap,
                metric_history,
                bulk_interval,
                logged_model_metrics_in_logging_order,
            ];
            search: [
                run_filters,
                run_view_types_and_results,
                run_ordering_and_paging,
                experiment_search,
            ];
            traces: [
                start_and_get,
                spans_then_start_trace,
                start_trace_then_spans,
                log_spans_rules,
                token_usage_across_batches,
                span_paging,
                tags_and_v2,
                delete_and_links,
                assessments,
                search,
                metrics,
                large_trace,
            ];
            webhooks: [crud_and_events];
        );
    };
}

pub mod experiments;
pub mod logging;
pub mod runs;
pub mod search;
pub mod traces;
pub mod webhooks;

use rsflow_core::wire::{KeyValue, Metric, MetricValue, Run, RunTag};
use rsflow_core::{ErrorCode, MlflowError};
use rsflow_store::{CreateRun, TrackingStore};

/// How the database compares and sorts text where MLflow leaves that to it (`ORDER BY name`,
/// a plain `name = ?` lookup, a table's scan order): SQLite and PostgreSQL compare bytes;
/// MySQL's default collations (`utf8mb4_general_ci`) ignore case, and MLflow on MySQL answers
/// with them (its search filters add `BINARY`, which the search functions assert alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collation {
    Binary,
    CaseInsensitive,
}

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

/// SQLAlchemy's IntegrityError text as MLflow forwards it, on SQLite or PostgreSQL.
#[track_caller]
pub fn assert_unique_violation(message: &str, sqlite_columns: &str, pg_constraint: &str) {
    let sqlite =
        format!("(sqlite3.IntegrityError) UNIQUE constraint failed: {sqlite_columns}\n[SQL: ");
    // psycopg 3 for a plain postgresql:// URI, psycopg2 for postgresql+psycopg2://.
    let pg = |module: &str| {
        format!(
            "({module}.errors.UniqueViolation) duplicate key value violates unique constraint \"{pg_constraint}\""
        )
    };
    assert!(
        message.contains(&sqlite)
            || message.contains(&pg("psycopg"))
            || message.contains(&pg("psycopg2")),
        "not an integrity error text: {message:?}"
    );
    assert!(message.ends_with("(Background on this error at: https://sqlalche.me/e/21/gkpj)"));
}

pub fn tag_value<'a>(tags: &'a [RunTag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

pub fn sorted(mut tags: Vec<KeyValue>) -> Vec<(String, String)> {
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}
