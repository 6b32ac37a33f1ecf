//! Runs: create (ids, names, artifact URIs), get, update, delete/restore.

use rsflow_core::ErrorCode;
use rsflow_core::wire::{RunOutputs, RunStatus};
use rsflow_store::{CreateRun, TrackingStore};

use super::{assert_err, kv, new_run, tag_value};

fn is_generated_name(n: &str) -> bool {
    let parts: Vec<&str> = n.split('-').collect();
    parts.len() == 3
        && parts[2].parse::<u32>().is_ok_and(|v| v <= 1000)
        && parts[..2]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

pub async fn create_run(s: &dyn TrackingStore) {
    let exp = s.create_experiment("runs", None, &[]).await.unwrap();
    let loc = s.get_experiment(&exp).await.unwrap().artifact_location;
    let run = s
        .create_run(CreateRun {
            experiment_id: exp.clone(),
            user_id: "alice".into(),
            run_name: Some("first".into()),
            start_time: 1234,
            tags: vec![kv("mlflow.user", "alice"), kv("team", "x")],
        })
        .await
        .unwrap();
    let info = &run.info;
    assert_eq!(info.run_id.len(), 32);
    assert!(
        info.run_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(info.run_uuid, info.run_id);
    assert_eq!(info.experiment_id, exp);
    assert_eq!(info.run_name, "first");
    assert_eq!(info.user_id, "alice");
    assert_eq!(info.status, "RUNNING");
    assert_eq!(info.start_time, 1234);
    assert_eq!(info.end_time, None);
    assert_eq!(info.lifecycle_stage, "active");
    assert_eq!(
        info.artifact_uri,
        format!("{loc}/{}/artifacts", info.run_id)
    );
    assert_eq!(tag_value(&run.data.tags, "mlflow.runName"), Some("first"));
    assert_eq!(tag_value(&run.data.tags, "team"), Some("x"));
    assert!(run.data.metrics.is_empty() && run.data.params.is_empty());
    assert!(run.outputs.is_none(), "runs/create has no outputs");

    let got = s.get_run(&info.run_id).await.unwrap();
    assert_eq!(got.info, run.info);
    assert_eq!(got.outputs, Some(RunOutputs::default()));
    let mut a = got.data.tags.clone();
    let mut b = run.data.tags.clone();
    a.sort_by(|x, y| x.key.cmp(&y.key));
    b.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(a, b);

    // No name anywhere: a generated adjective-noun-N name, also set as the tag.
    let run = s
        .create_run(CreateRun {
            experiment_id: exp.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        is_generated_name(&run.info.run_name),
        "{}",
        run.info.run_name
    );
    assert_eq!(
        tag_value(&run.data.tags, "mlflow.runName"),
        Some(run.info.run_name.as_str())
    );
    assert_eq!(run.info.start_time, 0);
    assert_eq!(run.info.user_id, "");

    // Name only from the tag.
    let run = s
        .create_run(CreateRun {
            experiment_id: exp.clone(),
            tags: vec![kv("mlflow.runName", "from-tag")],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.info.run_name, "from-tag");
    assert_eq!(
        run.data
            .tags
            .iter()
            .filter(|t| t.key == "mlflow.runName")
            .count(),
        1
    );
    // Both, agreeing.
    let run = s
        .create_run(CreateRun {
            experiment_id: exp.clone(),
            run_name: Some("same".into()),
            tags: vec![kv("mlflow.runName", "same")],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.info.run_name, "same");
    // Both, disagreeing.
    assert_err(
        s.create_run(CreateRun {
            experiment_id: exp.clone(),
            run_name: Some("x".into()),
            tags: vec![kv("mlflow.runName", "y")],
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidParameterValue,
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different \
         values (run_name='x', mlflow.runName='y').",
    );
    // Empty experiment id means Default.
    let run = s.create_run(CreateRun::default()).await.unwrap();
    assert_eq!(run.info.experiment_id, "0");
    assert_err(
        s.create_run(CreateRun {
            experiment_id: "404".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::ResourceDoesNotExist,
        "No Experiment with id=404 exists",
    );
    assert_err(
        s.create_run(CreateRun {
            experiment_id: "abc".into(),
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidParameterValue,
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
    );
}

pub async fn get_missing_run(s: &dyn TrackingStore) {
    let e = assert_err(
        s.get_run("nope").await,
        ErrorCode::ResourceDoesNotExist,
        "Run with id=nope not found",
    );
    assert_eq!(e.message, "Run with id=nope not found");
    assert_err(
        s.update_run("nope", None, Some(1), None).await,
        ErrorCode::ResourceDoesNotExist,
        "Run with id=nope not found",
    );
    assert_err(
        s.delete_run("nope").await,
        ErrorCode::ResourceDoesNotExist,
        "Run with id=nope not found",
    );
    assert_err(
        s.restore_run("nope").await,
        ErrorCode::ResourceDoesNotExist,
        "Run with id=nope not found",
    );
}

pub async fn update_run(s: &dyn TrackingStore) {
    let run = new_run(s, "0", "before").await;
    let id = &run.info.run_id;
    let info = s
        .update_run(id, Some(RunStatus::Finished), Some(5000), None)
        .await
        .unwrap();
    assert_eq!(info.status, "FINISHED");
    assert_eq!(info.end_time, Some(5000));
    assert_eq!(info.run_name, "before");
    let info = s.update_run(id, None, None, Some("after")).await.unwrap();
    assert_eq!(info.run_name, "after");
    assert_eq!(info.status, "FINISHED");
    let got = s.get_run(id).await.unwrap();
    assert_eq!(got.info.run_name, "after");
    assert_eq!(tag_value(&got.data.tags, "mlflow.runName"), Some("after"));
    assert_eq!(got.info.end_time, Some(5000));
    // An empty name changes nothing.
    let info = s
        .update_run(id, Some(RunStatus::Killed), None, Some(""))
        .await
        .unwrap();
    assert_eq!(info.run_name, "after");
    assert_eq!(info.status, "KILLED");

    s.delete_run(id).await.unwrap();
    assert_err(
        s.update_run(id, Some(RunStatus::Finished), None, None)
            .await,
        ErrorCode::InvalidParameterValue,
        &format!("The run {id} must be in the 'active' state. Current state is deleted."),
    );
}

pub async fn delete_restore_run(s: &dyn TrackingStore) {
    let run = new_run(s, "0", "del").await;
    let id = &run.info.run_id;
    s.delete_run(id).await.unwrap();
    let got = s.get_run(id).await.unwrap();
    assert_eq!(got.info.lifecycle_stage, "deleted");
    // Deleting twice is allowed (MLflow does not check the state).
    s.delete_run(id).await.unwrap();
    s.restore_run(id).await.unwrap();
    assert_eq!(s.get_run(id).await.unwrap().info.lifecycle_stage, "active");
    s.restore_run(id).await.unwrap();
}
