//! Registry and logged-model routes over a real SQLite store and a real `LocalStore`: wire
//! shapes as the reference emits them, model artifacts through the proxy destination, and the
//! model-version `source` admission of security.md §1a.

use crate::common::{ART, Options, Reply, TestApp, app};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use rsflow_store::{CreateModelVersion, ModelRegistryStore};
use serde_json::{Value, json};

const API: &str = "/api/2.0/mlflow";

async fn send_json(t: &TestApp, method: Method, uri: &str, body: Value) -> Reply {
    t.send(
        Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

async fn post(t: &TestApp, endpoint: &str, body: Value) -> Reply {
    send_json(t, Method::POST, &format!("{API}/{endpoint}"), body).await
}

#[track_caller]
fn ok(r: &Reply) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

#[track_caller]
fn bad_source(r: &Reply, source: &str) -> String {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{source}: {}", r.text());
    let (code, message) = r.error();
    assert_eq!(code, "INVALID_PARAMETER_VALUE", "{source}");
    message
}

/// A logged model in experiment 0 with an `MLmodel` file uploaded through the proxy.
async fn logged_model_with_files(t: &TestApp, run_id: &str) -> Value {
    let model = ok(&post(
        t,
        "logged-models",
        json!({"experiment_id": "0", "name": "model", "source_run_id": run_id}),
    )
    .await)["model"]
        .clone();
    let id = model["info"]["model_id"].as_str().unwrap().to_owned();
    let put = t
        .put(
            &format!("{ART}/0/models/{id}/artifacts/MLmodel"),
            b"flavors: {}\n",
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let put = t
        .put(&format!("{ART}/0/models/{id}/artifacts/data/w.bin"), b"xy")
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let done = send_json(
        t,
        Method::PATCH,
        &format!("{API}/logged-models/{id}"),
        json!({"model_id": id, "status": "LOGGED_MODEL_READY"}),
    )
    .await;
    ok(&done)["model"].clone()
}

#[tokio::test]
async fn register_a_logged_model_and_read_its_artifacts() {
    let t = app(Options::default()).await;
    let (run_id, _) = t.new_run().await;
    let model = logged_model_with_files(&t, &run_id).await;
    let id = model["info"]["model_id"].as_str().unwrap().to_owned();
    assert_eq!(model["info"]["status"], "LOGGED_MODEL_READY");
    let root = format!("mlflow-artifacts:/0/models/{id}/artifacts");
    assert_eq!(model["info"]["artifact_uri"], root);

    let rm = ok(&post(&t, "registered-models/create", json!({"name": "wf"})).await);
    let rm = &rm["registered_model"];
    assert_eq!(rm["creation_timestamp"], rm["last_updated_timestamp"]);
    assert_eq!(
        rm.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["creation_timestamp", "last_updated_timestamp", "name"]
    );

    let mv = ok(&post(
        &t,
        "model-versions/create",
        json!({"name": "wf", "source": format!("models:/{id}"), "model_id": id}),
    )
    .await)["model_version"]
        .clone();
    let ts = mv["creation_timestamp"].clone();
    assert_eq!(
        mv,
        json!({
            "name": "wf", "version": "1", "creation_timestamp": ts, "last_updated_timestamp": ts,
            "current_stage": "None", "description": "", "source": format!("models:/{id}"),
            "run_id": run_id, "status": "READY", "run_link": "",
        })
    );
    let uri = ok(&t
        .get(&format!(
            "{API}/model-versions/get-download-uri?name=wf&version=1"
        ))
        .await);
    assert_eq!(uri, json!({"artifact_uri": root}));
    let lm = ok(&t.get(&format!("{API}/logged-models/{id}")).await);
    assert_eq!(
        lm["model"]["info"]["tags"],
        json!([{"key": "mlflow.modelVersions", "value": "[{\"name\": \"wf\", \"version\": 1}]"}])
    );

    // The UI's downloads: by model version, and by logged model.
    let file = t
        .get("/model-versions/get-artifact?name=wf&version=1&path=MLmodel")
        .await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.text());
    assert_eq!(&file.body[..], b"flavors: {}\n");
    assert_eq!(file.header("cache-control"), Some("no-cache"));
    let escape = t
        .get("/model-versions/get-artifact?name=wf&version=1&path=../../x")
        .await;
    assert_eq!(escape.status, StatusCode::BAD_REQUEST);

    let listing = ok(&t
        .get(&format!("{API}/logged-models/{id}/artifacts/directories"))
        .await);
    assert_eq!(listing["root_uri"], root);
    let paths: Vec<&str> = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["MLmodel", "data"]);
    let sub = ok(&t
        .get(&format!(
            "{API}/logged-models/{id}/artifacts/directories?artifact_directory_path=data"
        ))
        .await);
    assert_eq!(
        sub["files"],
        json!([{"path": "data/w.bin", "is_dir": false, "file_size": 2}])
    );

    let ajax = format!("/ajax-api/2.0/mlflow/logged-models/{id}/artifacts/files");
    let got = t
        .get(&format!("{ajax}?artifact_file_path=data/w.bin"))
        .await;
    assert_eq!(&got.body[..], b"xy");
    let missing = t.get(&ajax).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.error(),
        (
            "BAD_REQUEST".into(),
            "Request must include the \"artifact_file_path\" query parameter.".into()
        )
    );
    // Only the ajax prefix serves files.
    let api_files = t
        .get(&format!(
            "{API}/logged-models/{id}/artifacts/files?artifact_file_path=MLmodel"
        ))
        .await;
    assert_eq!(api_files.status, StatusCode::NOT_FOUND);

    // Aliases and stage transitions over HTTP.
    ok(&post(
        &t,
        "registered-models/alias",
        json!({"name": "wf", "alias": "champion", "version": "1"}),
    )
    .await);
    let by_alias = ok(&t
        .get(&format!(
            "{API}/registered-models/alias?name=wf&alias=champion"
        ))
        .await);
    assert_eq!(by_alias["model_version"]["aliases"], json!(["champion"]));
    let as_number = post(
        &t,
        "registered-models/alias",
        json!({"name": "wf", "alias": "x", "version": 1}),
    )
    .await;
    assert_eq!(as_number.status, StatusCode::BAD_REQUEST);
    let q = t
        .call(
            Method::DELETE,
            &format!("{API}/registered-models/alias?name=wf&alias=champion"),
            Body::empty(),
        )
        .await;
    assert_eq!(
        q.error().1,
        "Missing value for required parameter 'name'. See the API docs for more information \
         about request parameters."
    );
    let staged = ok(&post(
        &t,
        "model-versions/transition-stage",
        json!({"name": "wf", "version": "1", "stage": "staging", "archive_existing_versions": true}),
    )
    .await);
    assert_eq!(staged["model_version"]["current_stage"], "Staging");
    let latest = ok(&post(
        &t,
        "registered-models/get-latest-versions",
        json!({"name": "wf", "stages": ["Staging"]}),
    )
    .await);
    assert_eq!(latest["model_versions"][0]["version"], "1");
    let search = ok(&t
        .get(&format!(
            "{API}/registered-models/search?filter=name%3D%27wf%27"
        ))
        .await);
    assert_eq!(
        search["registered_models"][0]["aliases"][0]["alias"],
        "champion"
    );
    let none = ok(&t
        .get(&format!(
            "{API}/model-versions/search?filter=name%3D%27zz%27"
        ))
        .await);
    assert_eq!(none, json!({}));

    // Deleting the registered model removes versions; the logged model stays.
    let del = send_json(
        &t,
        Method::DELETE,
        &format!("{API}/registered-models/delete"),
        json!({"name": "wf"}),
    )
    .await;
    assert_eq!(ok(&del), json!({}));
    let gone = t
        .get(&format!("{API}/model-versions/get?name=wf&version=1"))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    ok(&t.get(&format!("{API}/logged-models/{id}")).await);
}

#[tokio::test]
async fn source_admission() {
    let t = app(Options::default()).await;
    let (run_id, run_root) = t.new_run().await;
    let (other_run, _) = t.new_run().await;
    let model = logged_model_with_files(&t, &run_id).await;
    let model_id = model["info"]["model_id"].as_str().unwrap().to_owned();
    ok(&post(&t, "registered-models/create", json!({"name": "src"})).await);
    let create = |source: &str, extra: Value| {
        let mut body = json!({"name": "src", "source": source});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    // Accepted: each names the resource that holds it.
    let accepted = [
        (format!("runs:/{run_id}/model"), json!({"run_id": run_id})),
        (format!("{run_root}/model"), json!({"run_id": run_id})),
        (run_root.clone(), json!({"run_id": run_id})),
        (format!("models:/{model_id}"), json!({"model_id": model_id})),
        (
            format!("mlflow-artifacts:/0/models/{model_id}/artifacts"),
            json!({"model_id": model_id}),
        ),
        ("models:/src/1".to_string(), json!({})),
        // Registered as given, as MLflow does: another bucket, a run this server never saw
        // (a registry migrated from elsewhere). Reading them is another matter (below).
        ("s3://other-bucket/models/resnet".to_string(), json!({})),
        (
            format!("runs:/{}/model", "0".repeat(32)),
            json!({"run_id": "0".repeat(32)}),
        ),
    ];
    for (i, (source, extra)) in accepted.iter().enumerate() {
        let r = post(&t, "model-versions/create", create(source, extra.clone())).await;
        let mv = ok(&r)["model_version"].clone();
        assert_eq!(mv["version"], (i + 1).to_string(), "{source}");
        assert_eq!(mv["source"], source.as_str(), "{source}");
    }
    // A version reference by alias is pinned to the version it names.
    ok(&post(
        &t,
        "registered-models/alias",
        json!({"name": "src", "alias": "best", "version": "4"}),
    )
    .await);
    let pinned = ok(&post(
        &t,
        "model-versions/create",
        create("models:/src@best", json!({})),
    )
    .await);
    assert_eq!(pinned["model_version"]["source"], "models:/src/4");
    let uri = ok(&t
        .get(&format!(
            "{API}/model-versions/get-download-uri?name=src&version={}",
            pinned["model_version"]["version"].as_str().unwrap()
        ))
        .await);
    assert_eq!(
        uri["artifact_uri"],
        format!("mlflow-artifacts:/0/models/{model_id}/artifacts")
    );

    let owner_msg = |s: &str, id: &str| {
        format!(
            "Invalid model version source: '{s}'. The {id} request parameter must identify the \
             resource that contains the source."
        )
    };
    let refused: Vec<(String, Value, Option<String>)> = vec![
        // Tied to the wrong (or no) run / model.
        (
            format!("runs:/{run_id}/model"),
            json!({}),
            Some(owner_msg(&format!("runs:/{run_id}/model"), "run_id")),
        ),
        (
            format!("runs:/{run_id}/model"),
            json!({"run_id": other_run}),
            None,
        ),
        (
            format!("{run_root}/model"),
            json!({"run_id": other_run}),
            None,
        ),
        (format!("{run_root}/model"), json!({}), None),
        (format!("models:/{model_id}"), json!({}), None),
        (
            format!("models:/{model_id}"),
            json!({"model_id": "m-other"}),
            None,
        ),
        (
            format!("runs:/{run_id}/model"),
            json!({"run_id": run_id, "model_id": model_id}),
            None,
        ),
        // Traversal, encodings, URI tricks.
        (
            "mlflow-artifacts:/../../etc".into(),
            json!({"run_id": run_id}),
            None,
        ),
        (
            format!("{run_root}/..%2f..%2f..%2fetc"),
            json!({"run_id": run_id}),
            None,
        ),
        (
            format!("{run_root}/%252e%252e/x"),
            json!({"run_id": run_id}),
            None,
        ),
        (format!("{run_root}/a%20b"), json!({"run_id": run_id}), None),
        (format!("{run_root}/a?x=1"), json!({"run_id": run_id}), None),
        (
            format!("{run_root}/a#frag"),
            json!({"run_id": run_id}),
            None,
        ),
        (format!("{run_root}/a;p"), json!({"run_id": run_id}), None),
        (format!("{run_root}//a"), json!({"run_id": run_id}), None),
        (
            format!("{run_root}/a\u{0}b"),
            json!({"run_id": run_id}),
            None,
        ),
        (
            format!("runs://host/{run_id}/model"),
            json!({"run_id": run_id}),
            None,
        ),
        ("models://host/m-1".into(), json!({}), None),
        // Local paths and other hosts never name a proxied run's files.
        ("/etc".into(), json!({"run_id": run_id}), None),
        ("file:///etc/".into(), json!({}), None),
        ("file://./etc".into(), json!({}), None),
        ("file://localhost/etc".into(), json!({}), None),
        ("//proc/self/root".into(), json!({}), None),
        ("relative/dir".into(), json!({}), None),
        ("http://169.254.169.254/latest".into(), json!({}), None),
        (
            "http://evil/api/2.0/mlflow-artifacts/artifacts/0/x".into(),
            json!({"run_id": run_id}),
            None,
        ),
        ("models:/nope/1".into(), json!({}), None),
    ];
    for (source, extra, message) in &refused {
        let r = post(&t, "model-versions/create", create(source, extra.clone())).await;
        if source == "models:/nope/1" {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
            continue;
        }
        let got = bad_source(&r, source);
        if let Some(m) = message {
            assert_eq!(&got, m);
        }
    }

    // The server never reads a registered source outside its roots for a client.
    let r = t
        .get("/model-versions/get-artifact?name=src&version=7&path=MLmodel")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.error().0, "PERMISSION_DENIED");
    let r = t
        .get("/model-versions/get-artifact?name=src&version=8&path=MLmodel")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    // CVE-2026-2614: the prompt tag does not skip the checks; placeholders are the only
    // prompt sources.
    let prompt = json!({"tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]});
    let r = post(
        &t,
        "model-versions/create",
        create("file:///etc/", prompt.clone()),
    )
    .await;
    assert_eq!(
        bad_source(&r, "prompt"),
        "Invalid prompt source: 'file:///etc/'. Prompt sources must use an MLflow placeholder."
    );
    let r = post(&t, "model-versions/create", create("dummy-source", prompt)).await;
    ok(&r);
    // ... and a prompt version is never a source for a model version.
    ok(&post(
        &t,
        "registered-models/create",
        json!({"name": "p", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]}),
    )
    .await);
    let r = post(
        &t,
        "model-versions/create",
        json!({"name": "p", "source": "prompt-template",
               "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]}),
    )
    .await;
    ok(&r);
    let r = post(
        &t,
        "model-versions/create",
        create("models:/p/1", json!({})),
    )
    .await;
    assert!(bad_source(&r, "models:/p/1").contains("Prompt versions cannot be used"));

    // Nothing refused reached the database: 8 accepted, the pinned alias, the prompt.
    ok(&t
        .get(&format!("{API}/model-versions/get?name=src&version=10"))
        .await);
    let r = t
        .get(&format!("{API}/model-versions/get?name=src&version=11"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn local_roots_and_legacy_sources() {
    let t = app(Options {
        direct_root: Some("mlruns"),
        ..Options::default()
    })
    .await;
    let (run_id, run_root) = t.new_run().await;
    assert!(run_root.starts_with('/'), "{run_root}");
    std::fs::create_dir_all(format!("{run_root}/model")).unwrap();
    std::fs::write(format!("{run_root}/model/MLmodel"), b"local").unwrap();
    ok(&post(&t, "registered-models/create", json!({"name": "loc"})).await);

    let inside = format!("{run_root}/model");
    ok(&post(
        &t,
        "model-versions/create",
        json!({"name": "loc", "source": inside, "run_id": run_id}),
    )
    .await);
    let file_uri = format!("file://{run_root}/model");
    ok(&post(
        &t,
        "model-versions/create",
        json!({"name": "loc", "source": file_uri, "run_id": run_id}),
    )
    .await);
    // `.` and empty segments name the run's directory itself, as MLflow resolves them.
    ok(&post(
        &t,
        "model-versions/create",
        json!({"name": "loc", "source": format!("file://{run_root}/."), "run_id": run_id}),
    )
    .await);
    // Inside the server's root is not enough: the path must belong to the run named.
    let (other_run, _) = t.new_run().await;
    let r = post(
        &t,
        "model-versions/create",
        json!({"name": "loc", "source": inside}),
    )
    .await;
    assert!(
        bad_source(&r, "no run_id").contains("the run_id request parameter has to be specified")
    );
    let r = post(
        &t,
        "model-versions/create",
        json!({"name": "loc", "source": inside, "run_id": other_run}),
    )
    .await;
    assert_eq!(
        bad_source(&r, "other run"),
        format!(
            "Invalid model version source: '{inside}'. To use a local path as a model version \
             source, the run_id request parameter has to be specified and the local path has to \
             be contained within the artifact directory of the run specified by the run_id."
        )
    );
    let r = post(
        &t,
        "model-versions/create",
        json!({"name": "loc", "source": "/etc", "run_id": run_id}),
    )
    .await;
    assert_eq!(
        bad_source(&r, "/etc"),
        "Invalid model version source: '/etc'. To use a local path as a model version source, \
         the run_id request parameter has to be specified and the local path has to be \
         contained within the artifact directory of the run specified by the run_id."
    );
    let f = t
        .get("/model-versions/get-artifact?name=loc&version=3&path=model/MLmodel")
        .await;
    assert_eq!(&f.body[..], b"local", "version 3");
    for v in ["1", "2"] {
        let f = t
            .get(&format!(
                "/model-versions/get-artifact?name=loc&version={v}&path=MLmodel"
            ))
            .await;
        assert_eq!(&f.body[..], b"local", "version {v}");
    }

    // A version an older server accepted: stored, but never served.
    let legacy = t
        .tracking
        .create_model_version(CreateModelVersion {
            name: "loc".into(),
            source: "/etc".into(),
            storage_location: "/etc".into(),
            run_id: Some(String::new()),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = t
        .get(&format!(
            "/model-versions/get-artifact?name=loc&version={}&path=passwd",
            legacy.version
        ))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.error().0, "PERMISSION_DENIED");
}

#[tokio::test]
async fn logged_model_routes() {
    let t = app(Options::default()).await;
    let bad_name = post(
        &t,
        "logged-models",
        json!({"experiment_id": "0", "name": "a/b"}),
    )
    .await;
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);
    let missing_exp = post(&t, "logged-models", json!({"experiment_id": "42"})).await;
    assert_eq!(missing_exp.status, StatusCode::NOT_FOUND);
    let m = ok(&post(&t, "logged-models", json!({"experiment_id": "0"})).await)["model"].clone();
    let id = m["info"]["model_id"].as_str().unwrap().to_owned();
    assert_eq!(m["info"]["model_type"], "");
    assert_eq!(m["info"]["source_run_id"], "");
    assert_eq!(m["data"], json!({}));

    let r = send_json(
        &t,
        Method::PATCH,
        &format!("{API}/logged-models/{id}/tags"),
        json!({"tags": [{"key": "a", "value": "1"}]}),
    )
    .await;
    assert_eq!(ok(&r), json!({}));
    let r = post(
        &t,
        &format!("logged-models/{id}/params"),
        json!({"model_id": id, "params": [{"key": "p", "value": "v"}]}),
    )
    .await;
    assert_eq!(ok(&r), json!({}));
    let r = t.delete(&format!("{API}/logged-models/{id}/tags/zz")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.error().1,
        format!("No tag with key 'zz' found for model with ID '{id}'.")
    );
    let bad_status = send_json(
        &t,
        Method::PATCH,
        &format!("{API}/logged-models/{id}"),
        json!({"model_id": id, "status": "DONE"}),
    )
    .await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);

    let search = post(&t, "logged-models/search", json!({"experiment_ids": ["0"]})).await;
    let found = ok(&search);
    assert_eq!(
        found["models"][0]["info"]["tags"],
        json!([{"key": "a", "value": "1"}])
    );
    assert_eq!(
        found["models"][0]["data"]["params"],
        json!([{"key": "p", "value": "v"}])
    );
    let none = post(&t, "logged-models/search", json!({"experiment_ids": []})).await;
    assert_eq!(ok(&none), json!({}));
    let missing = post(&t, "logged-models/search", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let bad_filter = post(
        &t,
        "logged-models/search",
        json!({"experiment_ids": ["0"], "filter": "metrics.x LIKE 'a'"}),
    )
    .await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);

    assert_eq!(
        ok(&t.delete(&format!("{API}/logged-models/{id}")).await),
        json!({})
    );
    assert_eq!(
        t.get(&format!("{API}/logged-models/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let deleted = ok(&t
        .get(&format!("{API}/logged-models/{id}?allow_deleted=true"))
        .await);
    assert_eq!(deleted["model"]["info"]["model_id"], id.as_str());
}

#[tokio::test]
async fn artifacts_only_gates_the_registry() {
    let t = app(Options {
        artifacts_only: true,
        ..Options::default()
    })
    .await;
    let r = post(&t, "registered-models/create", json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = t
        .get("/model-versions/get-artifact?name=x&version=1&path=MLmodel")
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = t.get(&format!("{API}/logged-models/m-1")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

/// `MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX` narrows admission before any other
/// check, prompts included, with MLflow's message.
#[tokio::test]
async fn source_pattern_narrows_admission() {
    let t = app(Options {
        source_pattern: Some(r"^runs:/[0-9a-f]{32}/"),
        ..Options::default()
    })
    .await;
    let (run_id, run_root) = t.new_run().await;
    ok(&post(&t, "registered-models/create", json!({"name": "re"})).await);
    ok(&post(
        &t,
        "model-versions/create",
        json!({"name": "re", "source": format!("runs:/{run_id}/model"), "run_id": run_id}),
    )
    .await);
    for source in [
        format!("{run_root}/model"),
        "s3://other-bucket/x".to_owned(),
        "prompt-template".to_owned(),
    ] {
        let r = post(
            &t,
            "model-versions/create",
            json!({"name": "re", "source": source, "run_id": run_id}),
        )
        .await;
        assert_eq!(
            bad_source(&r, &source),
            format!("Invalid model version source: '{source}'.")
        );
    }
}
