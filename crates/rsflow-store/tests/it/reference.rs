//! Against the reference itself: the schema `mlflow db upgrade` creates, a database MLflow's
//! store wrote, and the same reads answered by MLflow's store and ours on one file.

use rsflow_core::wire::{RunStatus, ViewType};
use rsflow_store::{ALEMBIC_HEAD, CreateRun, SqlStore, TrackingStore};

use crate::common::{
    db_path, fresh, raw, reference_venv, run_reference_client, run_reference_client_stdin,
    schema_model,
};
use crate::suite::{kv, metric};

/// Same tables, columns (in order), constraints, indexes and triggers as a database that
/// the reference `mlflow db upgrade` creates.
#[tokio::test]
async fn schema_matches_mlflow_db_upgrade() {
    let Some(venv) = reference_venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.db");
    let status = std::process::Command::new(venv.join("bin/mlflow"))
        .args(["db", "upgrade"])
        .arg(format!("sqlite:///{}", reference.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (ours_dir, store) = fresh().await;
    store.close().await;
    let ours = schema_model(&db_path(&ours_dir)).await;
    let theirs = schema_model(&reference).await;
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (k, v) in &ours {
        assert_eq!(Some(v), theirs.get(k), "{k:?} differs");
    }
    let pool = raw(&reference).await;
    let rev: String = sqlx::query_scalar("SELECT version_num FROM alembic_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rev, ALEMBIC_HEAD);
}

/// A database written by MLflow's own store opens in place with its data visible, and
/// MLflow reads back what rsflow then writes (switching servers in both directions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_written_by_mlflow_round_trips() {
    let Some(venv) = reference_venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mlflow.db");
    let root = dir.path().join("art");
    let ids = run_reference_client(
        &venv,
        dir.path(),
        &["write", db.to_str().unwrap(), root.to_str().unwrap()],
    );
    let (exp_id, run_id, deleted) = (
        ids["experiment_id"].as_str().unwrap(),
        ids["run_id"].as_str().unwrap(),
        ids["deleted_run_id"].as_str().unwrap(),
    );

    let store = SqlStore::open(&format!("sqlite:///{}", db.display()), "/unused")
        .await
        .unwrap();
    let exp = store.get_experiment(exp_id).await.unwrap();
    assert_eq!(exp.name, "ref-exp");
    assert_eq!(exp.artifact_location, format!("{}/1", root.display()));
    assert_eq!(exp.tags, vec![kv("team", "ref")]);
    assert_eq!(
        store.get_experiment("0").await.unwrap().artifact_location,
        format!("{}/0", root.display())
    );
    let run = store.get_run(run_id).await.unwrap();
    assert_eq!(run.info.run_name, "ref-run");
    assert_eq!(run.info.status, "FINISHED");
    assert_eq!(run.info.end_time, Some(5000));
    assert_eq!(run.info.user_id, "ref-user");
    assert_eq!(
        run.info.artifact_uri,
        format!("{}/1/{run_id}/artifacts", root.display())
    );
    assert_eq!(run.data.params, vec![kv("alpha", "0.1")]);
    assert_eq!(crate::suite::tag_value(&run.data.tags, "t"), Some("x"));
    assert_eq!(crate::suite::tag_value(&run.data.tags, "k"), Some("v"));
    assert_eq!(
        crate::suite::tag_value(&run.data.tags, "mlflow.runName"),
        Some("ref-run")
    );
    assert_eq!(run.data.metrics.len(), 1);
    assert_eq!(run.data.metrics[0].step, 3);
    assert!(run.data.metrics[0].value.0.is_nan());
    let history = store
        .get_metric_history(run_id, "loss", None, None)
        .await
        .unwrap();
    assert_eq!(history.items.len(), 3);
    assert_eq!(run.inputs.dataset_inputs.len(), 1);
    assert_eq!(run.inputs.dataset_inputs[0].dataset.name, "train");
    assert_eq!(
        run.inputs.dataset_inputs[0].tags,
        vec![kv("mlflow.data.context", "training")]
    );
    assert_eq!(
        store.get_run(deleted).await.unwrap().info.lifecycle_stage,
        "deleted"
    );
    let page = store
        .search_runs(&rsflow_store::SearchRuns {
            experiment_ids: vec![exp_id.to_string()],
            view_type: ViewType::All,
            max_results: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);

    // Now rsflow writes, and MLflow reads.
    store
        .log_batch(
            run_id,
            &[metric("loss", 0.125, 2000, 4), metric("acc", 0.9, 2000, 4)],
            &[kv("beta", "2")],
            &[kv("writer", "rsflow")],
        )
        .await
        .unwrap();
    store
        .update_run(run_id, Some(RunStatus::Failed), Some(6000), Some("renamed"))
        .await
        .unwrap();
    let new_run = store
        .create_run(CreateRun {
            experiment_id: exp_id.to_string(),
            run_name: Some("from-rsflow".into()),
            start_time: 7000,
            ..Default::default()
        })
        .await
        .unwrap()
        .info
        .run_id;
    store
        .log_batch(&new_run, &[metric("m", 1.0, 1, 0)], &[], &[])
        .await
        .unwrap();
    store.close().await;

    let seen = run_reference_client(&venv, dir.path(), &["read", db.to_str().unwrap(), run_id]);
    assert_eq!(seen["name"], "renamed");
    assert_eq!(seen["status"], "FAILED");
    assert_eq!(seen["experiment"], "ref-exp");
    assert_eq!(seen["params"]["beta"], "2");
    assert_eq!(seen["params"]["alpha"], "0.1");
    assert_eq!(seen["tags"]["writer"], "rsflow");
    assert_eq!(seen["tags"]["mlflow.runName"], "renamed");
    assert_eq!(seen["metrics"]["loss"], 0.125);
    assert_eq!(seen["metrics"]["acc"], 0.9);
    assert_eq!(seen["history"].as_array().unwrap().len(), 4);
    assert_eq!(seen["datasets"][0], "train");
    let seen = run_reference_client(&venv, dir.path(), &["read", db.to_str().unwrap(), &new_run]);
    assert_eq!(seen["name"], "from-rsflow");
    assert_eq!(seen["metrics"]["m"], 1.0);
}

/// A small deterministic generator, so the data set is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// rsflow writes a varied data set; then MLflow's store and ours answer the same searches,
/// histories and samples on that file, and the answers must be identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_answers_as_mlflow_on_the_same_file() {
    let Some(venv) = reference_venv() else { return };
    let (dir, store) = fresh().await;
    let mut rng = Lcg(7);
    let e1 = store
        .create_experiment("diff-one", None, &[kv("kind", "a")])
        .await
        .unwrap();
    let e2 = store
        .create_experiment("Diff-Two", None, &[kv("kind", "B")])
        .await
        .unwrap();
    let e3 = store
        .create_experiment("diff-three", None, &[])
        .await
        .unwrap();
    store.delete_experiment(&e3).await.unwrap();
    let mut runs = Vec::new();
    for i in 0..30u64 {
        let exp = if i % 3 == 0 { &e2 } else { &e1 };
        let names = ["alpha", "Alpha", "beta", "gamma-1", "gamma_2"];
        let run = store
            .create_run(CreateRun {
                experiment_id: exp.clone(),
                user_id: ["u1", "u2"][rng.next(2) as usize].into(),
                run_name: Some(format!("{}-{i}", names[rng.next(5) as usize])),
                start_time: 1000 + rng.next(4) as i64 * 10,
                tags: vec![],
            })
            .await
            .unwrap()
            .info
            .run_id;
        let values = [0.5, 1.0, 2.0, f64::NAN, f64::INFINITY, -1.0, 0.5];
        let mut metrics = Vec::new();
        if rng.next(5) != 0 {
            metrics.push(metric(
                "loss",
                values[rng.next(7) as usize],
                5,
                rng.next(3) as i64,
            ));
        }
        for step in 0..rng.next(40) as i64 {
            metrics.push(metric(
                "acc",
                rng.next(100) as f64 / 100.0,
                100 + step / 3,
                step / 2,
            ));
        }
        let mut params = Vec::new();
        if rng.next(4) != 0 {
            params.push(kv("lr", ["0.1", "0.01", "1e-3"][rng.next(3) as usize]));
        }
        let mut tags = vec![kv("idx", &i.to_string())];
        if rng.next(3) != 0 {
            tags.push(kv(
                "team",
                ["Vision", "vision", "nlp", "NLP"][rng.next(4) as usize],
            ));
        }
        store
            .log_batch(&run, &metrics, &params, &tags)
            .await
            .unwrap();
        match rng.next(4) {
            0 => {
                store
                    .update_run(&run, Some(RunStatus::Finished), Some(2000 + i as i64), None)
                    .await
                    .unwrap();
            }
            1 => store.delete_run(&run).await.unwrap(),
            _ => {}
        }
        runs.push(run);
    }
    let long: Vec<_> = (0..500)
        .map(|i| metric("curve", (i % 17) as f64, 10_000 + i, i / 4))
        .collect();
    store.log_batch(&runs[1], &long, &[], &[]).await.unwrap();

    let filters = [
        "",
        "metrics.loss < 1",
        "metrics.loss >= 0.5",
        "metrics.loss != 0.5",
        "metrics.loss = 1.7976931348623157e308",
        "params.lr = '0.1'",
        "params.lr != '0.1'",
        "params.lr LIKE '%1%'",
        "params.lr IS NULL",
        "tags.team ILIKE 'vision'",
        "tags.team LIKE 'V%'",
        "tags.team IS NOT NULL and params.lr IS NULL",
        "attributes.run_name LIKE 'alpha%'",
        "run_name ILIKE 'ALPHA%'",
        "attributes.status = 'FINISHED'",
        "attributes.user_id != 'u1'",
        "attributes.start_time > 1010",
        "created <= 1010 and metrics.acc > 0.3",
        "attributes.end_time > 2010",
    ];
    let orders: [&[&str]; 8] = [
        &[],
        &["metrics.loss"],
        &["metrics.loss DESC"],
        &["params.lr DESC", "metrics.acc"],
        &["tags.team", "attributes.run_name DESC"],
        &["attributes.start_time"],
        &["attributes.end_time DESC"],
        &["attributes.status", "attributes.user_id DESC"],
    ];
    let mut ops = Vec::new();
    for f in filters {
        for o in orders {
            for view in ["ACTIVE_ONLY", "ALL"] {
                ops.push(serde_json::json!({
                    "op": "search_runs", "experiment_ids": [e1, e2], "filter": f,
                    "order_by": o, "view": view, "max_results": 1000,
                }));
            }
        }
    }
    for token in [None, Some(rsflow_core::page_token::encode_offset(7))] {
        ops.push(serde_json::json!({
            "op": "search_runs", "experiment_ids": [e1], "filter": "", "order_by": ["metrics.acc DESC"],
            "view": "ALL", "max_results": 7, "page_token": token,
        }));
    }
    for (f, o) in [
        ("", vec![]),
        ("name ILIKE 'diff%'", vec!["name"]),
        ("tags.kind = 'a'", vec![]),
        ("tags.kind IS NULL", vec!["experiment_id DESC"]),
        ("name LIKE 'D%'", vec!["creation_time", "name"]),
    ] {
        for view in ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"] {
            ops.push(serde_json::json!({
                "op": "search_experiments", "filter": f, "order_by": o, "view": view, "max_results": 2,
            }));
        }
    }
    for run in &runs[..6] {
        ops.push(serde_json::json!({"op": "history", "run_id": run, "key": "acc"}));
        ops.push(serde_json::json!({"op": "latest", "run_id": run}));
    }
    for (max, range) in [
        (10, None),
        (7, Some((3, 60))),
        (1, None),
        (2500, None),
        (3, Some((0, 0))),
    ] {
        ops.push(serde_json::json!({
            "op": "bulk", "run_ids": [runs[1], runs[2]], "key": "curve", "max_results": max,
            "start_step": range.map(|r: (i64, i64)| r.0), "end_step": range.map(|r: (i64, i64)| r.1),
        }));
        ops.push(serde_json::json!({
            "op": "bulk", "run_ids": [runs[3], runs[4]], "key": "acc", "max_results": max,
            "start_step": range.map(|r: (i64, i64)| r.0), "end_step": range.map(|r: (i64, i64)| r.1),
        }));
    }

    let mut ours = Vec::new();
    for op in &ops {
        ours.push(answer(&store, op).await);
    }
    store.close().await;
    let theirs = run_reference_client_stdin(
        &venv,
        dir.path(),
        &["query", db_path(&dir).to_str().unwrap()],
        &serde_json::to_string(&ops).unwrap(),
    );
    let theirs = theirs.as_array().unwrap();
    assert_eq!(theirs.len(), ops.len());
    let mut non_empty = 0;
    for ((op, a), b) in ops.iter().zip(&ours).zip(theirs) {
        assert_eq!(Some(a), b.get("ok"), "op {op} differs (reference: {b})");
        if a.get("ids")
            .is_some_and(|i| !i.as_array().unwrap().is_empty())
        {
            non_empty += 1;
        }
    }
    assert!(
        non_empty > ops.len() / 3,
        "the data set should make most searches match"
    );
}

fn json_value(v: f64) -> serde_json::Value {
    if v.is_nan() {
        serde_json::Value::Null
    } else {
        serde_json::json!(v)
    }
}

/// Our answer to one operation, in the reference script's JSON shape.
async fn answer(store: &SqlStore, op: &serde_json::Value) -> serde_json::Value {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let view = |v: &serde_json::Value| ViewType::parse(v.as_str().unwrap()).unwrap();
    match op["op"].as_str().unwrap() {
        "search_runs" => {
            let page = store
                .search_runs(&rsflow_store::SearchRuns {
                    experiment_ids: strings(&op["experiment_ids"]),
                    filter: op["filter"].as_str().unwrap().into(),
                    view_type: view(&op["view"]),
                    max_results: op["max_results"].as_i64().unwrap(),
                    order_by: strings(&op["order_by"]),
                    page_token: op["page_token"].as_str().map(String::from),
                })
                .await
                .unwrap();
            let ids: Vec<String> = page.items.into_iter().map(|r| r.info.run_id).collect();
            serde_json::json!({"ids": ids, "token": page.next_page_token})
        }
        "search_experiments" => {
            let page = store
                .search_experiments(&rsflow_store::SearchExperiments {
                    filter: op["filter"].as_str().unwrap().into(),
                    view_type: view(&op["view"]),
                    max_results: op["max_results"].as_i64().unwrap(),
                    order_by: strings(&op["order_by"]),
                    page_token: None,
                })
                .await
                .unwrap();
            let ids: Vec<String> = page.items.into_iter().map(|e| e.experiment_id).collect();
            serde_json::json!({"ids": ids, "token": page.next_page_token})
        }
        "history" => {
            let page = store
                .get_metric_history(
                    op["run_id"].as_str().unwrap(),
                    op["key"].as_str().unwrap(),
                    None,
                    None,
                )
                .await
                .unwrap();
            page.items
                .iter()
                .map(|m| serde_json::json!([m.timestamp, m.step, json_value(m.value.0)]))
                .collect()
        }
        "latest" => {
            let run = store.get_run(op["run_id"].as_str().unwrap()).await.unwrap();
            let mut rows: Vec<_> = run
                .data
                .metrics
                .iter()
                .map(|m| (m.key.clone(), m.value.0, m.timestamp, m.step))
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            rows.into_iter()
                .map(|(k, v, t, s)| serde_json::json!([k, json_value(v), t, s]))
                .collect()
        }
        "bulk" => {
            let rows = store
                .get_metric_history_bulk_interval(&rsflow_store::BulkIntervalQuery {
                    run_ids: strings(&op["run_ids"]),
                    metric_key: op["key"].as_str().unwrap().into(),
                    start_step: op["start_step"].as_i64(),
                    end_step: op["end_step"].as_i64(),
                    max_results: op["max_results"].as_i64().unwrap(),
                })
                .await
                .unwrap();
            rows.iter()
                .map(|m| serde_json::json!([m.run_id, m.step, m.timestamp, json_value(m.value.0)]))
                .collect()
        }
        other => panic!("unknown op {other}"),
    }
}
