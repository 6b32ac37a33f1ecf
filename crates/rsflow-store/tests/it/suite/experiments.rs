//! Experiments: create/get, names, ids, rename, delete/restore cascade, tags.

use rsflow_core::ErrorCode;
use rsflow_core::wire::ViewType;
use rsflow_store::TrackingStore;

use super::{Collation, assert_err, assert_unique_violation, kv, new_run, sorted};

/// The artifact root the store was opened with, read back from the Default experiment.
pub async fn artifact_root(s: &dyn TrackingStore) -> String {
    let default = s.get_experiment("0").await.unwrap();
    default
        .artifact_location
        .strip_suffix("/0")
        .expect("default location ends with /0")
        .to_string()
}

pub async fn default_experiment(s: &dyn TrackingStore) {
    let e = s.get_experiment("0").await.unwrap();
    assert_eq!(e.experiment_id, "0");
    assert_eq!(e.name, "Default");
    assert_eq!(e.lifecycle_stage, "active");
    assert_eq!(e.workspace, "default");
    assert!(e.tags.is_empty());
    let created = e.creation_time.expect("creation_time");
    assert_eq!(e.last_update_time, Some(created));
    assert!(created > 1_600_000_000_000);
    let by_name = s.get_experiment_by_name("Default").await.unwrap().unwrap();
    assert_eq!(by_name, e);
    // An empty id means the Default experiment, as in MLflow's _get_experiment.
    assert_eq!(s.get_experiment("").await.unwrap().experiment_id, "0");
}

pub async fn create_and_get(s: &dyn TrackingStore) {
    create_and_get_under(s, Collation::Binary).await
}

/// `get_experiment_by_name` is MLflow's `name == ?`: under a case-insensitive collation it
/// finds "exp-a" by "EXP-A", and the unique key refuses "EXP-A" as a duplicate name.
pub async fn create_and_get_under(s: &dyn TrackingStore, collation: Collation) {
    let root = artifact_root(s).await;
    let id = s
        .create_experiment("exp-a", None, &[kv("t1", "v1"), kv("t2", "v2")])
        .await
        .unwrap();
    assert_eq!(id, "1");
    let e = s.get_experiment(&id).await.unwrap();
    assert_eq!(e.name, "exp-a");
    assert_eq!(e.artifact_location, format!("{root}/1"));
    assert_eq!(e.lifecycle_stage, "active");
    assert_eq!(e.creation_time, e.last_update_time);
    assert_eq!(
        sorted(e.tags.clone()),
        vec![("t1".into(), "v1".into()), ("t2".into(), "v2".into())]
    );
    assert_eq!(
        s.get_experiment_by_name("exp-a").await.unwrap(),
        Some(e.clone())
    );
    match collation {
        Collation::Binary => {
            assert_eq!(s.get_experiment_by_name("EXP-A").await.unwrap(), None);
        }
        Collation::CaseInsensitive => {
            assert_eq!(s.get_experiment_by_name("EXP-A").await.unwrap(), Some(e));
        }
    }
    assert_eq!(s.get_experiment_by_name("nope").await.unwrap(), None);

    let id2 = s
        .create_experiment("exp-b", Some("s3://bucket/some/where"), &[])
        .await
        .unwrap();
    assert_eq!(id2, "2");
    let e2 = s.get_experiment(&id2).await.unwrap();
    assert_eq!(e2.artifact_location, "s3://bucket/some/where");
    assert!(e2.tags.is_empty());

    // A relative local location is made absolute against the server's working directory.
    let id3 = s
        .create_experiment("exp-c", Some("rel/dir"), &[])
        .await
        .unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        s.get_experiment(&id3).await.unwrap().artifact_location,
        format!("{}/rel/dir", cwd.display())
    );
    if collation == Collation::CaseInsensitive {
        // The unique key on (workspace, name) compares under the same collation.
        assert_err(
            s.create_experiment("EXP-A", None, &[]).await,
            ErrorCode::ResourceAlreadyExists,
            "Experiment(name=EXP-A) already exists.",
        );
    }
}

pub async fn duplicate_names(s: &dyn TrackingStore) {
    s.create_experiment("dup", None, &[]).await.unwrap();
    let e = assert_err(
        s.create_experiment("dup", None, &[]).await,
        ErrorCode::ResourceAlreadyExists,
        "Experiment(name=dup) already exists. Error: ",
    );
    assert_unique_violation(
        &e.message,
        "experiments.workspace, experiments.name",
        "uq_experiments_workspace_name",
    );
    // A deleted experiment still owns its name.
    let id = s.create_experiment("gone", None, &[]).await.unwrap();
    s.delete_experiment(&id).await.unwrap();
    assert_err(
        s.create_experiment("gone", None, &[]).await,
        ErrorCode::ResourceAlreadyExists,
        "Experiment(name=gone) already exists.",
    );
    let found = s.get_experiment_by_name("gone").await.unwrap().unwrap();
    assert_eq!(found.lifecycle_stage, "deleted");
}

pub async fn invalid_and_missing_ids(s: &dyn TrackingStore) {
    assert_err(
        s.get_experiment("abc").await,
        ErrorCode::InvalidParameterValue,
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
    );
    let e = assert_err(
        s.get_experiment("99").await,
        ErrorCode::ResourceDoesNotExist,
        "No Experiment with id=99 exists",
    );
    assert_eq!(e.message, "No Experiment with id=99 exists");
    assert_err(
        s.get_experiment(" 0099 ").await,
        ErrorCode::ResourceDoesNotExist,
        "No Experiment with id=99 exists",
    );
    assert_err(
        s.delete_experiment("x1").await,
        ErrorCode::InvalidParameterValue,
        "Invalid experiment ID 'x1'",
    );
    assert_err(
        s.get_experiment("123456789012345678901234567890").await,
        ErrorCode::ResourceDoesNotExist,
        "No Experiment with id=123456789012345678901234567890 exists",
    );
}

pub async fn rename(s: &dyn TrackingStore) {
    let a = s.create_experiment("a", None, &[]).await.unwrap();
    let b = s.create_experiment("b", None, &[]).await.unwrap();
    let before = s.get_experiment(&a).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    s.rename_experiment(&a, "a2").await.unwrap();
    let after = s.get_experiment(&a).await.unwrap();
    assert_eq!(after.name, "a2");
    assert!(after.last_update_time > before.last_update_time);
    assert_eq!(after.creation_time, before.creation_time);
    let e = assert_err(
        s.rename_experiment(&b, "a2").await,
        ErrorCode::BadRequest,
        "",
    );
    assert_unique_violation(
        &e.message,
        "experiments.workspace, experiments.name",
        "uq_experiments_workspace_name",
    );
    assert!(e.message.contains("'a2'"), "{}", e.message);
    // Renaming to its own name is fine.
    s.rename_experiment(&b, "b").await.unwrap();
    s.delete_experiment(&b).await.unwrap();
    assert_err(
        s.rename_experiment(&b, "b3").await,
        ErrorCode::InvalidParameterValue,
        "Cannot rename a non-active experiment.",
    );
    assert_err(
        s.rename_experiment("77", "z").await,
        ErrorCode::ResourceDoesNotExist,
        "No Experiment with id=77 exists",
    );
}

pub async fn delete_restore_cascade(s: &dyn TrackingStore) {
    let id = s.create_experiment("cascade", None, &[]).await.unwrap();
    let r1 = new_run(s, &id, "r1").await.info.run_id;
    let r2 = new_run(s, &id, "r2").await.info.run_id;
    s.delete_run(&r2).await.unwrap();
    let before = s.get_experiment(&id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;

    s.delete_experiment(&id).await.unwrap();
    let e = s.get_experiment(&id).await.unwrap();
    assert_eq!(e.lifecycle_stage, "deleted");
    assert!(e.last_update_time > before.last_update_time);
    for r in [&r1, &r2] {
        assert_eq!(s.get_run(r).await.unwrap().info.lifecycle_stage, "deleted");
    }
    assert_err(
        s.delete_experiment(&id).await,
        ErrorCode::ResourceDoesNotExist,
        &format!("No Experiment with id={id} exists"),
    );
    // New runs cannot go into a deleted experiment.
    assert_err(
        s.create_run(rsflow_store::CreateRun {
            experiment_id: id.clone(),
            ..Default::default()
        })
        .await,
        ErrorCode::InvalidParameterValue,
        &format!("The experiment {id} must be in the 'active' state. Current state is deleted."),
    );

    s.restore_experiment(&id).await.unwrap();
    assert_eq!(
        s.get_experiment(&id).await.unwrap().lifecycle_stage,
        "active"
    );
    // Restore brings back every run of the experiment, as MLflow does.
    for r in [&r1, &r2] {
        assert_eq!(s.get_run(r).await.unwrap().info.lifecycle_stage, "active");
    }
    assert_err(
        s.restore_experiment(&id).await,
        ErrorCode::ResourceDoesNotExist,
        &format!("No Experiment with id={id} exists"),
    );

    // The Default experiment may be deleted; runs then cannot default to it.
    s.delete_experiment("0").await.unwrap();
    assert_err(
        s.create_run(rsflow_store::CreateRun::default()).await,
        ErrorCode::InvalidParameterValue,
        "The experiment 0 must be in the 'active' state. Current state is deleted.",
    );
    let page = s
        .search_experiments(&rsflow_store::SearchExperiments {
            view_type: ViewType::DeletedOnly,
            max_results: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].experiment_id, "0");
}

pub async fn tags(s: &dyn TrackingStore) {
    let id = s
        .create_experiment("tagged", None, &[kv("a", "1")])
        .await
        .unwrap();
    s.set_experiment_tag(&id, &kv("a", "2")).await.unwrap();
    s.set_experiment_tag(&id, &kv("b", "")).await.unwrap();
    let e = s.get_experiment(&id).await.unwrap();
    assert_eq!(
        sorted(e.tags),
        vec![("a".into(), "2".into()), ("b".into(), "".into())]
    );
    s.delete_experiment_tag(&id, "a").await.unwrap();
    assert_err(
        s.delete_experiment_tag(&id, "a").await,
        ErrorCode::ResourceDoesNotExist,
        &format!("No tag with name: a in experiment with id {id}"),
    );
    assert_eq!(s.get_experiment(&id).await.unwrap().tags, vec![kv("b", "")]);
    assert_err(
        s.set_experiment_tag("404", &kv("a", "1")).await,
        ErrorCode::ResourceDoesNotExist,
        "No Experiment with id=404 exists",
    );
    s.delete_experiment(&id).await.unwrap();
    assert_err(
        s.set_experiment_tag(&id, &kv("c", "1")).await,
        ErrorCode::InvalidParameterValue,
        &format!("The experiment {id} must be in the 'active' state. Current state is deleted."),
    );
    assert_err(
        s.delete_experiment_tag(&id, "b").await,
        ErrorCode::InvalidParameterValue,
        "must be in the 'active' state",
    );
    // Duplicate keys at creation: the last value wins.
    let id2 = s
        .create_experiment("dup-tags", None, &[kv("k", "1"), kv("k", "2")])
        .await
        .unwrap();
    assert_eq!(
        s.get_experiment(&id2).await.unwrap().tags,
        vec![kv("k", "2")]
    );
}
