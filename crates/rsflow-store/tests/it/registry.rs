//! The model registry and logged models on a real SQLite file: MLflow's semantics for versions,
//! stages, aliases, deletes, searches and paging, and version numbers under concurrent creates.

use std::sync::Arc;

use rsflow_core::ErrorCode;
use rsflow_core::wire::{KeyValue, Metric, MetricValue};
use rsflow_core::wire_models::LoggedModelStatus;
use rsflow_store::{
    CreateLoggedModel, CreateModelVersion, CreateRun, DatasetFilter, LoggedModelOrderBy,
    LoggedModelStore, ModelRegistryStore, SearchLoggedModels, SearchRegistry, SqlStore,
    TrackingStore,
};
use tempfile::TempDir;

async fn fresh() -> (TempDir, SqlStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mlflow.db");
    let store = SqlStore::open(&format!("sqlite:///{}", db.display()), "mlflow-artifacts:/")
        .await
        .unwrap();
    (dir, store)
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

fn version(name: &str, source: &str) -> CreateModelVersion {
    CreateModelVersion {
        name: name.into(),
        source: source.into(),
        storage_location: source.into(),
        run_id: Some(String::new()),
        run_link: Some(String::new()),
        description: Some(String::new()),
        tags: vec![],
    }
}

#[track_caller]
fn assert_err<T: std::fmt::Debug>(r: rsflow_core::Result<T>, code: ErrorCode, message: &str) {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code, code, "{}", e.message);
    assert_eq!(e.message, message);
}

fn search(filter: &str, max: i64, token: Option<String>) -> SearchRegistry {
    SearchRegistry {
        filter: filter.into(),
        max_results: max,
        order_by: vec![],
        page_token: token,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_model_lifecycle() {
    let (_d, s) = fresh().await;
    let rm = s
        .create_registered_model("wf", &[kv("team", "a"), kv("team", "b")], Some("desc"))
        .await
        .unwrap();
    assert_eq!(rm.tags, vec![kv("team", "b")]);
    assert_eq!(rm.description.as_deref(), Some("desc"));
    assert!(rm.latest_versions.is_empty());
    assert_err(
        s.create_registered_model("wf", &[], None).await,
        ErrorCode::ResourceAlreadyExists,
        "Registered Model (name=wf) already exists.",
    );
    assert_err(
        s.create_registered_model("a/b", &[], None).await,
        ErrorCode::InvalidParameterValue,
        "Invalid model name 'a/b'. Names cannot contain '/' or ':'.",
    );
    assert_err(
        s.get_registered_model("nope").await,
        ErrorCode::ResourceDoesNotExist,
        "Registered Model with name=nope not found",
    );

    for i in 1..=3 {
        let mv = s
            .create_model_version(CreateModelVersion {
                tags: vec![kv("k", &i.to_string())],
                ..version("wf", &format!("s3://b/{i}"))
            })
            .await
            .unwrap();
        assert_eq!(mv.version, i.to_string());
        assert_eq!(mv.current_stage, "None");
        assert_eq!(mv.status, "READY");
        assert_eq!(mv.tags, vec![kv("k", &i.to_string())]);
    }
    let got = s.get_model_version("wf", "2").await.unwrap();
    assert_eq!(got.source.as_deref(), Some("s3://b/2"));
    assert_eq!(got.description.as_deref(), Some(""));
    assert_err(
        s.get_model_version("wf", "x").await,
        ErrorCode::InvalidParameterValue,
        "Parameter 'version' must be an integer, got 'x'.",
    );
    assert_err(
        s.get_model_version("wf", "9").await,
        ErrorCode::ResourceDoesNotExist,
        "Model Version (name=wf, version=9) not found",
    );

    // Stages: archive_existing_versions moves the other Production version to Archived.
    s.transition_model_version_stage("wf", "1", "production", false)
        .await
        .unwrap();
    let mv2 = s
        .transition_model_version_stage("wf", "2", "Production", true)
        .await
        .unwrap();
    assert_eq!(mv2.current_stage, "Production");
    assert_eq!(
        s.get_model_version("wf", "1").await.unwrap().current_stage,
        "Archived"
    );
    assert_err(
        s.transition_model_version_stage("wf", "3", "Archived", true)
            .await,
        ErrorCode::InvalidParameterValue,
        "Model version transition cannot archive existing model versions because 'Archived' \
         is not an Active stage. Valid stages are ['Staging', 'Production']",
    );
    assert_err(
        s.transition_model_version_stage("wf", "3", "prod", false)
            .await,
        ErrorCode::InvalidParameterValue,
        "Invalid Model Version stage: prod. Value must be one of None, Staging, Production, \
         Archived.",
    );
    let latest: Vec<(String, String)> = s
        .get_latest_versions("wf", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.current_stage, v.version))
        .collect();
    assert_eq!(
        latest,
        vec![
            ("Archived".into(), "1".into()),
            ("Production".into(), "2".into()),
            ("None".into(), "3".into()),
        ]
    );
    let prod = s
        .get_latest_versions("wf", &["PRODUCTION".into()])
        .await
        .unwrap();
    assert_eq!(prod.len(), 1);
    assert_eq!(prod[0].version, "2");

    // Aliases.
    s.set_registered_model_alias("wf", "champion", "2")
        .await
        .unwrap();
    s.set_registered_model_alias("wf", "champion", "3")
        .await
        .unwrap();
    let by_alias = s
        .get_model_version_by_alias("wf", "champion")
        .await
        .unwrap();
    assert_eq!(by_alias.version, "3");
    assert_eq!(by_alias.aliases, vec!["champion".to_string()]);
    assert_eq!(
        s.get_model_version_by_alias("wf", "Latest")
            .await
            .unwrap()
            .version,
        "3"
    );
    assert_err(
        s.get_model_version_by_alias("wf", "nope").await,
        ErrorCode::InvalidParameterValue,
        "Registered model alias nope not found.",
    );
    assert_err(
        s.set_registered_model_alias("wf", "v2", "2").await,
        ErrorCode::InvalidParameterValue,
        "Version alias name 'v2' is reserved.",
    );
    assert_err(
        s.set_registered_model_alias("wf", "x", "7").await,
        ErrorCode::ResourceDoesNotExist,
        "Model Version (name=wf, version=7) not found",
    );

    // Tags.
    s.set_registered_model_tag("wf", "team", "c").await.unwrap();
    s.set_model_version_tag("wf", "1", "k", "changed")
        .await
        .unwrap();
    s.delete_model_version_tag("wf", "2", "k").await.unwrap();
    assert_eq!(
        s.get_model_version("wf", "1").await.unwrap().tags,
        vec![kv("k", "changed")]
    );
    assert!(
        s.get_model_version("wf", "2")
            .await
            .unwrap()
            .tags
            .is_empty()
    );

    // Deleting a version drops its aliases, hides it, and never reuses its number.
    s.delete_model_version("wf", "3").await.unwrap();
    assert_err(
        s.get_model_version("wf", "3").await,
        ErrorCode::ResourceDoesNotExist,
        "Model Version (name=wf, version=3) not found",
    );
    let rm = s.get_registered_model("wf").await.unwrap();
    assert!(rm.aliases.is_empty());
    assert_eq!(rm.tags, vec![kv("team", "c")]);
    assert_eq!(
        s.create_model_version(version("wf", "s3://b/4"))
            .await
            .unwrap()
            .version,
        "4"
    );

    // Rename carries versions, tags and aliases along.
    s.set_registered_model_alias("wf", "best", "4")
        .await
        .unwrap();
    let renamed = s.rename_registered_model("wf", "wf2").await.unwrap();
    assert_eq!(renamed.name, "wf2");
    assert_eq!(renamed.aliases[0].alias, "best");
    assert_eq!(
        s.get_model_version("wf2", "1").await.unwrap().tags,
        vec![kv("k", "changed")]
    );
    s.create_registered_model("other", &[], None).await.unwrap();
    let e = s.rename_registered_model("other", "wf2").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ResourceAlreadyExists);

    // Delete cascades.
    s.delete_registered_model("wf2").await.unwrap();
    assert!(s.get_registered_model("wf2").await.is_err());
    s.create_registered_model("wf2", &[], None).await.unwrap();
    let fresh_rm = s.get_registered_model("wf2").await.unwrap();
    assert!(fresh_rm.tags.is_empty() && fresh_rm.aliases.is_empty());
    assert_eq!(
        s.create_model_version(version("wf2", "s3://b/x"))
            .await
            .unwrap()
            .version,
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_get_distinct_version_numbers() {
    let (_d, s) = fresh().await;
    let s = Arc::new(s);
    s.create_registered_model("race", &[], None).await.unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.create_model_version(version("race", &format!("s3://b/{i}")))
                    .await
                    .unwrap()
                    .version_number()
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort();
    assert_eq!(got, (1..=24).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_searches() {
    let (_d, s) = fresh().await;
    for name in ["alpha", "beta", "gamma"] {
        s.create_registered_model(name, &[kv("team", &name[..1])], None)
            .await
            .unwrap();
        for _ in 0..2 {
            s.create_model_version(CreateModelVersion {
                run_id: Some(format!("run-{name}")),
                ..version(name, "s3://b/m")
            })
            .await
            .unwrap();
        }
    }
    s.create_registered_model("a-prompt", &[kv("mlflow.prompt.is_prompt", "true")], None)
        .await
        .unwrap();
    s.create_model_version(CreateModelVersion {
        tags: vec![kv("mlflow.prompt.is_prompt", "true")],
        ..version("a-prompt", "dummy-source")
    })
    .await
    .unwrap();

    let names = |p: &rsflow_core::wire::Page<rsflow_core::wire_models::RegisteredModel>| {
        p.items.iter().map(|m| m.name.clone()).collect::<Vec<_>>()
    };
    let all = s
        .search_registered_models(&search("", 100, None))
        .await
        .unwrap();
    assert_eq!(names(&all), ["alpha", "beta", "gamma"]);
    assert_eq!(all.items[0].latest_versions[0].version, "2");
    let prompts = s
        .search_registered_models(&search(
            "tags.`mlflow.prompt.is_prompt` = 'true'",
            100,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(names(&prompts), ["a-prompt"]);
    let hidden = s
        .search_registered_models(&search(
            "name LIKE '%a%' AND tags.`mlflow.prompt.is_prompt` != 'true'",
            100,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(names(&hidden), ["alpha", "beta", "gamma"]);
    let tagged = s
        .search_registered_models(&search("tags.team = 'b'", 100, None))
        .await
        .unwrap();
    assert_eq!(names(&tagged), ["beta"]);
    let listed = s
        .search_registered_models(&search("name IN ('gamma', 'alpha')", 100, None))
        .await
        .unwrap();
    assert_eq!(names(&listed), ["alpha", "gamma"]);
    let ilike = s
        .search_registered_models(&search("name ILIKE 'BET%'", 100, None))
        .await
        .unwrap();
    assert_eq!(names(&ilike), ["beta"]);
    let like = s
        .search_registered_models(&search("name LIKE 'BET%'", 100, None))
        .await
        .unwrap();
    assert!(like.items.is_empty());

    // Paging and order.
    let p1 = s
        .search_registered_models(&search("", 2, None))
        .await
        .unwrap();
    assert_eq!(names(&p1), ["alpha", "beta"]);
    assert_eq!(p1.next_page_token.as_deref(), Some("eyJvZmZzZXQiOiAyfQ=="));
    let p2 = s
        .search_registered_models(&search("", 2, p1.next_page_token))
        .await
        .unwrap();
    assert_eq!(names(&p2), ["gamma"]);
    assert!(p2.next_page_token.is_none());
    let desc = s
        .search_registered_models(&SearchRegistry {
            order_by: vec!["name DESC".into()],
            ..search("", 10, None)
        })
        .await
        .unwrap();
    assert_eq!(names(&desc), ["gamma", "beta", "alpha"]);
    let e = s
        .search_registered_models(&SearchRegistry {
            order_by: vec!["name".into(), "name DESC".into()],
            ..search("", 10, None)
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterValue);

    // Model versions.
    let ids = |p: &rsflow_core::wire::Page<rsflow_core::wire_models::ModelVersion>| {
        p.items
            .iter()
            .map(|v| format!("{}/{}", v.name, v.version))
            .collect::<Vec<_>>()
    };
    let beta = s
        .search_model_versions(&search("name = 'beta'", 100, None))
        .await
        .unwrap();
    assert_eq!(ids(&beta), ["beta/2", "beta/1"]);
    let by_run = s
        .search_model_versions(&SearchRegistry {
            order_by: vec!["name ASC".into(), "version_number ASC".into()],
            ..search(
                "run_id IN ('run-alpha', 'run-gamma') AND version_number > 1",
                100,
                None,
            )
        })
        .await
        .unwrap();
    assert_eq!(ids(&by_run), ["alpha/2", "gamma/2"]);
    s.set_model_version_tag("gamma", "1", "flag", "on")
        .await
        .unwrap();
    let flagged = s
        .search_model_versions(&search("tags.flag = 'on'", 100, None))
        .await
        .unwrap();
    assert_eq!(ids(&flagged), ["gamma/1"]);
    // Prompt versions are hidden by default; deleted versions always.
    s.delete_model_version("alpha", "1").await.unwrap();
    let every = s
        .search_model_versions(&search("", 100, None))
        .await
        .unwrap();
    assert_eq!(every.items.len(), 5);
    assert!(!ids(&every).contains(&"a-prompt/1".to_string()));
    let page = s.search_model_versions(&search("", 2, None)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.next_page_token.is_some());
    let e = s
        .search_model_versions(&search("current_stage = 'None'", 100, None))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameterValue);
    assert!(
        e.message.contains("Invalid attribute key 'current_stage'"),
        "{}",
        e.message
    );
}

async fn new_run(s: &SqlStore, experiment_id: &str) -> String {
    s.create_run(CreateRun {
        experiment_id: experiment_id.into(),
        user_id: "t".into(),
        run_name: None,
        start_time: 1,
        tags: vec![],
    })
    .await
    .unwrap()
    .info
    .run_id
}

fn model_metric(key: &str, value: f64, ts: i64, model_id: &str, dataset: Option<&str>) -> Metric {
    Metric {
        key: key.into(),
        value: MetricValue(value),
        timestamp: ts,
        step: 0,
        model_id: Some(model_id.into()),
        dataset_name: dataset.map(str::to_string),
        dataset_digest: dataset.map(|_| "d1".to_string()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_model_lifecycle_and_search() {
    let (_d, s) = fresh().await;
    let exp = s.create_experiment("lm", None, &[]).await.unwrap();
    let run = new_run(&s, &exp).await;
    let a = s
        .create_logged_model(CreateLoggedModel {
            experiment_id: exp.clone(),
            name: Some("alpha".into()),
            model_type: Some("agent".into()),
            source_run_id: Some(run.clone()),
            params: vec![kv("lr", "0.1")],
            tags: vec![kv("t", "1")],
        })
        .await
        .unwrap();
    let id_a = a.info.model_id.clone();
    assert!(id_a.starts_with("m-") && id_a.len() == 34);
    assert_eq!(
        a.info.artifact_uri,
        format!("mlflow-artifacts:/{exp}/models/{id_a}/artifacts")
    );
    assert_eq!(a.info.status, LoggedModelStatus::Pending);
    // Distinct creation times, so the default newest-first order is decided by them.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = s
        .create_logged_model(CreateLoggedModel {
            experiment_id: exp.clone(),
            model_type: Some(String::new()),
            source_run_id: Some(String::new()),
            params: vec![kv("lr", "0.2")],
            ..Default::default()
        })
        .await
        .unwrap();
    let id_b = b.info.model_id.clone();
    assert_eq!(
        b.info.name.split('-').count(),
        3,
        "generated name {}",
        b.info.name
    );
    assert_err(
        s.create_logged_model(CreateLoggedModel {
            experiment_id: exp.clone(),
            name: Some("a.b".into()),
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidParameterValue,
        "Invalid model name ('a.b') provided. Model name must be a non-empty string and cannot \
         contain the following characters: ('/', ':', '.', '%', '\"', \"'\")",
    );

    // Metrics reach models through the tracking store's log-batch.
    s.log_batch(
        &run,
        &[
            model_metric("acc", 0.9, 10, &id_a, Some("eval")),
            model_metric("acc", 0.5, 10, &id_b, None),
            model_metric("acc", 0.7, 20, &id_b, Some("eval")),
        ],
        &[],
        &[],
    )
    .await
    .unwrap();
    let got = s.get_logged_model(&id_a, false).await.unwrap();
    assert_eq!(got.data.params, vec![kv("lr", "0.1")]);
    assert_eq!(got.data.metrics.len(), 1);
    assert_eq!(got.data.metrics[0].run_id, run);
    assert_eq!(got.data.metrics[0].dataset_name.as_deref(), Some("eval"));

    let ready = s
        .finalize_logged_model(&id_a, LoggedModelStatus::Ready)
        .await
        .unwrap();
    assert_eq!(ready.info.status, LoggedModelStatus::Ready);
    s.set_logged_model_tags(&id_a, &[kv("t", "2"), kv("u", "x")])
        .await
        .unwrap();
    s.log_logged_model_params(&id_b, &[kv("extra", "1")])
        .await
        .unwrap();
    assert_err(
        s.delete_logged_model_tag(&id_a, "zz").await,
        ErrorCode::ResourceDoesNotExist,
        &format!("No tag with key 'zz' found for model with ID '{id_a}'."),
    );
    s.delete_logged_model_tag(&id_a, "u").await.unwrap();
    assert_eq!(
        s.get_logged_model(&id_a, false).await.unwrap().info.tags,
        vec![kv("t", "2")]
    );

    s.record_model_version(&id_a, "wf", 1).await.unwrap();
    s.record_model_version(&id_a, "wf", 1).await.unwrap();
    s.record_model_version(&id_a, "wf", 2).await.unwrap();
    let tagged = s.get_logged_model(&id_a, false).await.unwrap();
    assert_eq!(
        tagged.tag("mlflow.modelVersions"),
        Some(r#"[{"name": "wf", "version": 1}, {"name": "wf", "version": 2}]"#)
    );

    let query = |filter: &str| SearchLoggedModels {
        experiment_ids: vec![exp.clone()],
        filter: Some(filter.to_string()).filter(|f| !f.is_empty()),
        max_results: Some(50),
        ..Default::default()
    };
    let ids = |p: rsflow_core::wire::Page<rsflow_core::wire_models::LoggedModel>| {
        p.items
            .into_iter()
            .map(|m| m.info.model_id)
            .collect::<Vec<_>>()
    };
    // Default order: newest first.
    assert_eq!(
        ids(s.search_logged_models(&query("")).await.unwrap()),
        [id_b.clone(), id_a.clone()]
    );
    for (filter, want) in [
        ("metrics.acc > 0.8", vec![id_a.clone()]),
        ("params.lr = '0.2'", vec![id_b.clone()]),
        ("tags.t = '2'", vec![id_a.clone()]),
        ("name = 'alpha'", vec![id_a.clone()]),
        ("status = 'READY'", vec![id_a.clone()]),
        ("model_type IN ('agent', 'x')", vec![id_a.clone()]),
    ] {
        assert_eq!(
            ids(s.search_logged_models(&query(filter)).await.unwrap()),
            want,
            "{filter}"
        );
    }
    // The latest value per model decides the order (b: 0.7 at t=20).
    let ordered = s
        .search_logged_models(&SearchLoggedModels {
            order_by: vec![LoggedModelOrderBy {
                field_name: "metrics.acc".into(),
                ascending: false,
                dataset_name: None,
                dataset_digest: None,
            }],
            ..query("")
        })
        .await
        .unwrap();
    assert_eq!(ids(ordered), [id_a.clone(), id_b.clone()]);
    let on_dataset = s
        .search_logged_models(&SearchLoggedModels {
            datasets: vec![DatasetFilter {
                dataset_name: "eval".into(),
                dataset_digest: None,
            }],
            ..query("metrics.acc < 0.8")
        })
        .await
        .unwrap();
    assert_eq!(ids(on_dataset), vec![id_b.clone()]);

    // Paging: the token carries the query and is checked on reuse.
    let p1 = s
        .search_logged_models(&SearchLoggedModels {
            max_results: Some(1),
            ..query("")
        })
        .await
        .unwrap();
    let token = p1.next_page_token.clone().expect("a next page");
    let p2 = s
        .search_logged_models(&SearchLoggedModels {
            max_results: Some(1),
            page_token: Some(token.clone()),
            ..query("")
        })
        .await
        .unwrap();
    assert_eq!(ids(p2), vec![id_a.clone()]);
    let e = s
        .search_logged_models(&SearchLoggedModels {
            max_results: Some(1),
            page_token: Some(token),
            ..query("name = 'alpha'")
        })
        .await
        .unwrap_err();
    assert!(
        e.message
            .starts_with("Filter string in the page token does not match"),
        "{}",
        e.message
    );

    // Soft delete hides the model from get and search.
    s.delete_logged_model(&id_b).await.unwrap();
    assert_err(
        s.get_logged_model(&id_b, false).await,
        ErrorCode::ResourceDoesNotExist,
        &format!("Logged model with ID '{id_b}' not found."),
    );
    assert!(s.get_logged_model(&id_b, true).await.is_ok());
    assert_eq!(
        ids(s.search_logged_models(&query("")).await.unwrap()),
        vec![id_a.clone()]
    );
    let e = s
        .search_logged_models(&SearchLoggedModels {
            order_by: vec![LoggedModelOrderBy {
                field_name: "params.lr".into(),
                ascending: true,
                dataset_name: None,
                dataset_digest: None,
            }],
            ..query("")
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        "Invalid order by field name: params.lr. Only metrics are supported."
    );
}
