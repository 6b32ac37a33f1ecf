//! Tracking routes (experiments, runs, metrics, params, tags, search) over a real SQLite store,
//! in process: the answers and MLflow's error codes, without a Python client or a server.

use crate::common::{Options, Reply, TestApp, app};
use axum::http::StatusCode;
use serde_json::{Value, json};

const API: &str = "/api/2.0/mlflow";

async fn post(t: &TestApp, endpoint: &str, body: Value) -> Reply {
    t.post_json(&format!("{API}/{endpoint}"), body).await
}

async fn get(t: &TestApp, endpoint_and_query: &str) -> Reply {
    t.get(&format!("{API}/{endpoint_and_query}")).await
}

#[track_caller]
fn ok(r: &Reply) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// MLflow's error: status, `error_code`, and a part of the message.
#[track_caller]
fn refused(r: &Reply, status: u16, code: &str, says: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text());
    let (c, message) = r.error();
    assert_eq!(c, code, "{message}");
    assert!(message.contains(says), "{message:?} lacks {says:?}");
}

async fn experiment(t: &TestApp, name: &str) -> String {
    let v = ok(&post(t, "experiments/create", json!({"name": name})).await);
    v["experiment_id"].as_str().unwrap().to_owned()
}

async fn run(t: &TestApp, experiment_id: &str) -> String {
    let v = ok(&post(
        t,
        "runs/create",
        json!({"experiment_id": experiment_id, "start_time": 1000, "run_name": "r1"}),
    )
    .await);
    v["run"]["info"]["run_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn experiments_create_get_rename_delete() {
    let t = app(Options::default()).await;
    let id = experiment(&t, "exp-a").await;
    let v = ok(&get(&t, &format!("experiments/get?experiment_id={id}")).await);
    assert_eq!(v["experiment"]["name"], "exp-a");
    assert_eq!(v["experiment"]["lifecycle_stage"], "active");
    let v = ok(&get(&t, "experiments/get-by-name?experiment_name=exp-a").await);
    assert_eq!(v["experiment"]["experiment_id"], id.as_str());

    ok(&post(
        &t,
        "experiments/update",
        json!({"experiment_id": id, "new_name": "exp-b"}),
    )
    .await);
    let v = ok(&get(&t, &format!("experiments/get?experiment_id={id}")).await);
    assert_eq!(v["experiment"]["name"], "exp-b");

    ok(&post(&t, "experiments/delete", json!({"experiment_id": id})).await);
    let v = ok(&get(&t, &format!("experiments/get?experiment_id={id}")).await);
    assert_eq!(v["experiment"]["lifecycle_stage"], "deleted");
    ok(&post(&t, "experiments/restore", json!({"experiment_id": id})).await);
}

#[tokio::test]
async fn experiment_errors() {
    let t = app(Options::default()).await;
    refused(
        &post(&t, "experiments/create", json!({})).await,
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'name'",
    );
    experiment(&t, "twice").await;
    refused(
        &post(&t, "experiments/create", json!({"name": "twice"})).await,
        400,
        "RESOURCE_ALREADY_EXISTS",
        "twice",
    );
    refused(
        &get(&t, "experiments/get?experiment_id=424242").await,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "424242",
    );
    refused(
        &get(&t, "experiments/get-by-name?experiment_name=nope").await,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "nope",
    );
    // A body that is not JSON is MLflow's 400, not axum's text.
    let r = t
        .call(
            axum::http::Method::POST,
            &format!("{API}/experiments/create"),
            "{not json",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.error().0, "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn runs_metrics_params_tags() {
    let t = app(Options::default()).await;
    let exp = experiment(&t, "runs").await;
    let id = run(&t, &exp).await;

    for (step, value) in [(0, 1.5), (1, 2.5)] {
        ok(&post(
            &t,
            "runs/log-metric",
            json!({"run_id": id, "key": "loss", "value": value, "timestamp": 5, "step": step}),
        )
        .await);
    }
    ok(&post(
        &t,
        "runs/log-parameter",
        json!({"run_id": id, "key": "lr", "value": "0.1"}),
    )
    .await);
    ok(&post(
        &t,
        "runs/set-tag",
        json!({"run_id": id, "key": "team", "value": "a"}),
    )
    .await);
    ok(&post(
        &t,
        "runs/log-batch",
        json!({"run_id": id, "params": [{"key": "bs", "value": "32"}],
               "tags": [{"key": "t2", "value": "x"}],
               "metrics": [{"key": "acc", "value": 0.9, "timestamp": 7, "step": 0}]}),
    )
    .await);

    let v = ok(&get(&t, &format!("runs/get?run_id={id}")).await);
    let data = &v["run"]["data"];
    let latest: Vec<(String, f64)> = data["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["key"].as_str().unwrap().to_owned(),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(latest.contains(&("loss".into(), 2.5)), "{latest:?}");
    assert!(latest.contains(&("acc".into(), 0.9)), "{latest:?}");
    assert_eq!(data["params"].as_array().unwrap().len(), 2, "{data}");
    let tags = data["tags"].as_array().unwrap();
    assert!(
        tags.iter().any(|t| t["key"] == "team" && t["value"] == "a"),
        "{tags:?}"
    );

    let v = ok(&get(
        &t,
        &format!("metrics/get-history?run_id={id}&metric_key=loss"),
    )
    .await);
    let values: Vec<f64> = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [1.5, 2.5]);

    ok(&post(&t, "runs/delete-tag", json!({"run_id": id, "key": "team"})).await);
    let v = ok(&get(&t, &format!("runs/get?run_id={id}")).await);
    let tags = v["run"]["data"]["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!tags.iter().any(|t| t["key"] == "team"), "{tags:?}");

    ok(&post(
        &t,
        "runs/update",
        json!({"run_id": id, "status": "FINISHED", "end_time": 2000}),
    )
    .await);
    let v = ok(&get(&t, &format!("runs/get?run_id={id}")).await);
    assert_eq!(v["run"]["info"]["status"], "FINISHED");
}

#[tokio::test]
async fn run_errors() {
    let t = app(Options::default()).await;
    let exp = experiment(&t, "errors").await;
    let id = run(&t, &exp).await;
    let unknown = "0123456789abcdef0123456789abcdef";
    refused(
        &get(&t, &format!("runs/get?run_id={unknown}")).await,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        unknown,
    );
    refused(
        &post(
            &t,
            "runs/log-metric",
            json!({"run_id": id, "key": "m", "timestamp": 1}),
        )
        .await,
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'value'",
    );
    // A param keeps its first value (MLflow: changing it is refused).
    ok(&post(
        &t,
        "runs/log-parameter",
        json!({"run_id": id, "key": "p", "value": "1"}),
    )
    .await);
    refused(
        &post(
            &t,
            "runs/log-parameter",
            json!({"run_id": id, "key": "p", "value": "2"}),
        )
        .await,
        400,
        "INVALID_PARAMETER_VALUE",
        "Changing param values is not allowed",
    );
    refused(
        &post(&t, "runs/create", json!({"experiment_id": "777777"})).await,
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "777777",
    );
    // Logging to a deleted run is refused.
    ok(&post(&t, "runs/delete", json!({"run_id": id})).await);
    let r = post(
        &t,
        "runs/set-tag",
        json!({"run_id": id, "key": "k", "value": "v"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

#[tokio::test]
async fn search() {
    let t = app(Options::default()).await;
    let exp = experiment(&t, "search").await;
    let a = run(&t, &exp).await;
    let b = run(&t, &exp).await;
    for (id, v) in [(&a, 1.0), (&b, 2.0)] {
        ok(&post(
            &t,
            "runs/log-metric",
            json!({"run_id": id, "key": "m", "value": v, "timestamp": 1}),
        )
        .await);
    }
    let v = ok(&post(
        &t,
        "runs/search",
        json!({"experiment_ids": [exp], "filter": "metrics.m > 1.5"}),
    )
    .await);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{v}");
    assert_eq!(runs[0]["info"]["run_id"], b.as_str());

    let v = ok(&post(
        &t,
        "runs/search",
        json!({"experiment_ids": [exp], "order_by": ["metrics.m ASC"], "max_results": 1}),
    )
    .await);
    assert_eq!(v["runs"][0]["info"]["run_id"], a.as_str());
    assert!(v["next_page_token"].is_string(), "{v}");

    let v = ok(&post(
        &t,
        "experiments/search",
        // The stock client always sends max_results (without it MLflow answers 400, as rsflow).
        json!({"filter": "name = 'search'", "max_results": 10}),
    )
    .await);
    assert_eq!(v["experiments"].as_array().unwrap().len(), 1, "{v}");

    refused(
        &post(
            &t,
            "runs/search",
            json!({"experiment_ids": [exp], "filter": "metrics.m >>> 1"}),
        )
        .await,
        400,
        "INVALID_PARAMETER_VALUE",
        "",
    );
    refused(
        &post(
            &t,
            "runs/search",
            json!({"experiment_ids": [exp], "max_results": 50001}),
        )
        .await,
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 50001 for parameter 'max_results' supplied",
    );
}
