//! Writes to runs: params, metrics (latest, NaN/inf, duplicates), tags, inputs, outputs,
//! metric history and the sampled bulk view.

use rsflow_core::ErrorCode;
use rsflow_core::page_token;
use rsflow_core::wire::{Dataset, DatasetInput, DatasetSummary, Metric, ModelInput, ModelOutput};
use rsflow_store::{BulkIntervalQuery, TrackingStore};

use super::{
    Collation, assert_err, assert_unique_violation, kv, metric, new_run, sorted, tag_value,
};

fn latest<'a>(m: &'a [Metric], key: &str) -> &'a Metric {
    m.iter().find(|m| m.key == key).expect("metric present")
}

pub async fn params(s: &dyn TrackingStore) {
    let run = new_run(s, "0", "p").await.info.run_id;
    s.log_batch(&run, &[], &[kv("a", "1"), kv("b", "x")], &[])
        .await
        .unwrap();
    // The same value again is a no-op.
    s.log_batch(&run, &[], &[kv("a", "1")], &[]).await.unwrap();
    s.log_param(&run, &kv("b", "x")).await.unwrap();
    let e = assert_err(
        s.log_batch(&run, &[], &[kv("a", "2'\"x"), kv("c", "z")], &[])
            .await,
        ErrorCode::InvalidParameterValue,
        "Changing param values is not allowed.",
    );
    assert_eq!(
        e.message,
        format!(
            "Changing param values is not allowed. Params were already logged='[{{'key': 'a', \
             'old_value': '1', 'new_value': '2\\'\"x'}}]' for run ID='{run}'."
        )
    );
    let e = assert_err(
        s.log_param(&run, &kv("a", "3")).await,
        ErrorCode::InvalidParameterValue,
        "Changing param values",
    );
    assert_eq!(
        e.message,
        format!(
            "Changing param values is not allowed. Param with key='a' was already logged with \
             value='1' for run ID='{run}'. Attempted logging new value '3'."
        )
    );
    assert_err(
        s.log_batch(&run, &[], &[kv("d", "1"), kv("d", "1")], &[])
            .await,
        ErrorCode::InvalidParameterValue,
        "Duplicate parameter keys have been submitted: ['d']. Please ensure the request contains \
         only one param value per param key.",
    );
    let got = s.get_run(&run).await.unwrap();
    // The failed batch with "c" left nothing behind.
    assert_eq!(
        sorted(got.data.params),
        vec![("a".into(), "1".into()), ("b".into(), "x".into())]
    );
}

pub async fn batch_is_atomic(s: &dyn TrackingStore) {
    let run = new_run(s, "0", "atomic").await.info.run_id;
    s.log_param(&run, &kv("p", "1")).await.unwrap();
    assert_err(
        s.log_batch(
            &run,
            &[metric("m", 1.0, 10, 0)],
            &[kv("p", "2")],
            &[kv("t", "v")],
        )
        .await,
        ErrorCode::InvalidParameterValue,
        "Changing param values",
    );
    let got = s.get_run(&run).await.unwrap();
    assert!(got.data.metrics.is_empty());
    assert_eq!(tag_value(&got.data.tags, "t"), None);
    let h = s.get_metric_history(&run, "m", None, None).await.unwrap();
    assert!(h.items.is_empty());
}

pub async fn metrics_and_latest(s: &dyn TrackingStore) {
    let run = new_run(s, "0", "m").await.info.run_id;
    s.log_batch(
        &run,
        &[
            metric("loss", 3.0, 100, 0),
            metric("loss", 2.0, 90, 1),
            metric("loss", 2.5, 80, 1),
            metric("acc", 0.5, 10, 5),
        ],
        &[],
        &[],
    )
    .await
    .unwrap();
    let got = s.get_run(&run).await.unwrap();
    // Highest step wins; within a step, the later timestamp.
    let l = latest(&got.data.metrics, "loss");
    assert_eq!((l.value.0, l.timestamp, l.step), (2.0, 90, 1));
    // An older step logged later does not replace the latest.
    s.log_batch(&run, &[metric("loss", 9.0, 1000, 0)], &[], &[])
        .await
        .unwrap();
    // Same step and timestamp: the larger value wins.
    s.log_batch(&run, &[metric("acc", 0.7, 10, 5)], &[], &[])
        .await
        .unwrap();
    s.log_batch(&run, &[metric("acc", 0.6, 10, 5)], &[], &[])
        .await
        .unwrap();
    let got = s.get_run(&run).await.unwrap();
    let l = latest(&got.data.metrics, "loss");
    assert_eq!((l.value.0, l.timestamp, l.step), (2.0, 90, 1));
    let a = latest(&got.data.metrics, "acc");
    assert_eq!((a.value.0, a.timestamp, a.step), (0.7, 10, 5));
    assert_eq!(got.data.metrics.len(), 2);

    // NaN is stored as is_nan; ±inf clamp to ±f64::MAX.
    s.log_batch(
        &run,
        &[
            metric("nan", f64::NAN, 1, 0),
            metric("inf", f64::INFINITY, 1, 0),
            metric("ninf", f64::NEG_INFINITY, 1, 0),
        ],
        &[],
        &[],
    )
    .await
    .unwrap();
    let got = s.get_run(&run).await.unwrap();
    assert!(latest(&got.data.metrics, "nan").value.0.is_nan());
    assert_eq!(
        latest(&got.data.metrics, "inf").value.0,
        1.7976931348623157e308
    );
    assert_eq!(
        latest(&got.data.metrics, "ninf").value.0,
        -1.7976931348623157e308
    );
    // A NaN compares as its stored 0: a later 0.5 at the same step/timestamp replaces it.
    s.log_batch(&run, &[metric("nan", 0.5, 1, 0)], &[], &[])
        .await
        .unwrap();
    let got = s.get_run(&run).await.unwrap();
    assert_eq!(latest(&got.data.metrics, "nan").value.0, 0.5);

    // Exact duplicates are ignored, in one batch and across batches.
    s.log_batch(
        &run,
        &[metric("dup", 1.0, 5, 0), metric("dup", 1.0, 5, 0)],
        &[],
        &[],
    )
    .await
    .unwrap();
    s.log_batch(&run, &[metric("dup", 1.0, 5, 0)], &[], &[])
        .await
        .unwrap();
    s.log_batch(
        &run,
        &[metric("dup", f64::NAN, 5, 0), metric("dup", f64::NAN, 5, 0)],
        &[],
        &[],
    )
    .await
    .unwrap();
    let h = s.get_metric_history(&run, "dup", None, None).await.unwrap();
    assert_eq!(h.items.len(), 2);
    assert!(h.items[0].value.0.is_nan() || h.items[1].value.0.is_nan());

    s.delete_run(&run).await.unwrap();
    assert_err(
        s.log_batch(&run, &[metric("x", 1.0, 1, 0)], &[], &[]).await,
        ErrorCode::InvalidParameterValue,
        &format!("The run {run} must be in the 'active' state. Current state is deleted."),
    );
    assert_err(
        s.log_batch("missing", &[], &[], &[]).await,
        ErrorCode::ResourceDoesNotExist,
        "Run with id=missing not found",
    );
}

pub async fn tags(s: &dyn TrackingStore) {
    let run = new_run(s, "0", "t").await.info.run_id;
    s.log_batch(&run, &[], &[], &[kv("a", "1"), kv("a", "2"), kv("b", "")])
        .await
        .unwrap();
    s.log_batch(&run, &[], &[], &[kv("b", "3")]).await.unwrap();
    let got = s.get_run(&run).await.unwrap();
    assert_eq!(tag_value(&got.data.tags, "a"), Some("2"));
    assert_eq!(tag_value(&got.data.tags, "b"), Some("3"));
    // The run-name tag renames the run.
    s.log_batch(&run, &[], &[], &[kv("mlflow.runName", "renamed")])
        .await
        .unwrap();
    let got = s.get_run(&run).await.unwrap();
    assert_eq!(got.info.run_name, "renamed");
    assert_eq!(tag_value(&got.data.tags, "mlflow.runName"), Some("renamed"));

    s.delete_tag(&run, "a").await.unwrap();
    assert_err(
        s.delete_tag(&run, "a").await,
        ErrorCode::ResourceDoesNotExist,
        &format!("No tag with name: a in run with id {run}"),
    );
    assert_err(
        s.delete_tag("missing", "a").await,
        ErrorCode::ResourceDoesNotExist,
        "Run with id=missing not found",
    );
    s.delete_run(&run).await.unwrap();
    assert_err(
        s.delete_tag(&run, "b").await,
        ErrorCode::InvalidParameterValue,
        &format!("The run {run} must be in the 'active' state"),
    );
    assert_err(
        s.log_batch(&run, &[], &[], &[kv("x", "y")]).await,
        ErrorCode::InvalidParameterValue,
        "must be in the 'active' state",
    );
}

fn dataset_input(name: &str, digest: &str, context: Option<&str>) -> DatasetInput {
    DatasetInput {
        tags: context
            .map(|c| vec![kv("mlflow.data.context", c)])
            .unwrap_or_default(),
        dataset: Dataset {
            name: name.into(),
            digest: digest.into(),
            source_type: "code".into(),
            source: "{\"tags\": {}}".into(),
            schema: Some("{\"mlflow_colspec\": []}".into()),
            profile: None,
        },
    }
}

pub async fn inputs_and_outputs(s: &dyn TrackingStore) {
    let exp = s.create_experiment("inputs", None, &[]).await.unwrap();
    let r1 = new_run(s, &exp, "r1").await.info.run_id;
    let r2 = new_run(s, &exp, "r2").await.info.run_id;
    s.log_inputs(
        &r1,
        &[
            dataset_input("train", "d1", Some("training")),
            dataset_input("train", "d1", Some("ignored duplicate")),
            dataset_input("eval", "d2", None),
        ],
        &[ModelInput {
            model_id: "m-in".into(),
        }],
    )
    .await
    .unwrap();
    // Logging the same dataset again adds nothing.
    s.log_inputs(&r1, &[dataset_input("train", "d1", Some("again"))], &[])
        .await
        .unwrap();
    s.log_inputs(&r2, &[dataset_input("train", "d1", Some("testing"))], &[])
        .await
        .unwrap();

    let got = s.get_run(&r1).await.unwrap();
    let mut ds = got.inputs.dataset_inputs.clone();
    ds.sort_by(|a, b| a.dataset.name.cmp(&b.dataset.name));
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0].dataset, dataset_input("eval", "d2", None).dataset);
    assert!(ds[0].tags.is_empty());
    assert_eq!(ds[1].dataset.name, "train");
    assert_eq!(ds[1].tags, vec![kv("mlflow.data.context", "training")]);
    assert_eq!(
        got.inputs.model_inputs,
        vec![ModelInput {
            model_id: "m-in".into()
        }]
    );
    let got2 = s.get_run(&r2).await.unwrap();
    assert_eq!(got2.inputs.dataset_inputs.len(), 1);
    assert_eq!(
        got2.inputs.dataset_inputs[0].tags,
        vec![kv("mlflow.data.context", "testing")]
    );

    s.log_outputs(
        &r1,
        &[ModelOutput {
            model_id: "m-out".into(),
            step: 3,
        }],
    )
    .await
    .unwrap();
    let got = s.get_run(&r1).await.unwrap();
    assert_eq!(
        got.outputs.unwrap().model_outputs,
        vec![ModelOutput {
            model_id: "m-out".into(),
            step: 3
        }]
    );
    let e = assert_err(
        s.log_outputs(
            &r1,
            &[ModelOutput {
                model_id: "m-out".into(),
                step: 4,
            }],
        )
        .await,
        ErrorCode::BadRequest,
        "",
    );
    assert_unique_violation(
        &e.message,
        "inputs.source_type, inputs.source_id, inputs.destination_type, inputs.destination_id",
        "inputs_pk",
    );
    assert_err(
        s.log_inputs("missing", &[], &[]).await,
        ErrorCode::ResourceDoesNotExist,
        "Run with id=missing not found",
    );
    s.delete_run(&r2).await.unwrap();
    assert_err(
        s.log_inputs(&r2, &[dataset_input("x", "y", None)], &[])
            .await,
        ErrorCode::InvalidParameterValue,
        "must be in the 'active' state",
    );
    assert_err(
        s.log_outputs(&r2, &[]).await,
        ErrorCode::InvalidParameterValue,
        "must be in the 'active' state",
    );
}

pub async fn metric_history(s: &dyn TrackingStore) {
    let run = new_run(s, "0", "h").await.info.run_id;
    let metrics: Vec<Metric> = vec![
        metric("loss", 5.0, 30, 0),
        metric("loss", 4.0, 10, 2),
        metric("loss", 3.0, 10, 1),
        metric("loss", 2.0, 10, 1),
        metric("loss", 1.0, 20, 0),
    ];
    s.log_batch(&run, &metrics, &[], &[]).await.unwrap();
    let all = s
        .get_metric_history(&run, "loss", None, None)
        .await
        .unwrap();
    let order: Vec<(i64, i64, f64)> = all
        .items
        .iter()
        .map(|m| (m.timestamp, m.step, m.value.0))
        .collect();
    assert_eq!(
        order,
        vec![
            (10, 1, 2.0),
            (10, 1, 3.0),
            (10, 2, 4.0),
            (20, 0, 1.0),
            (30, 0, 5.0)
        ]
    );
    assert_eq!(all.next_page_token, None);
    assert!(
        all.items
            .iter()
            .all(|m| m.key == "loss" && m.run_id.is_none())
    );

    let p1 = s
        .get_metric_history(&run, "loss", Some(2), None)
        .await
        .unwrap();
    assert_eq!(p1.items.len(), 2);
    assert_eq!(
        p1.next_page_token.as_deref(),
        Some(page_token::encode_offset(2).as_str())
    );
    let p2 = s
        .get_metric_history(&run, "loss", Some(2), p1.next_page_token.as_deref())
        .await
        .unwrap();
    let p3 = s
        .get_metric_history(&run, "loss", Some(2), p2.next_page_token.as_deref())
        .await
        .unwrap();
    assert_eq!(p3.items.len(), 1);
    assert_eq!(p3.next_page_token, None);
    let paged: Vec<_> = [p1.items, p2.items, p3.items].concat();
    assert_eq!(paged, all.items);
    // Exactly a page: no token.
    let exact = s
        .get_metric_history(&run, "loss", Some(5), None)
        .await
        .unwrap();
    assert_eq!(exact.next_page_token, None);
    assert!(
        s.get_metric_history(&run, "other", None, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_err(
        s.get_metric_history(&run, "loss", Some(2), Some("%%%"))
            .await,
        ErrorCode::InvalidParameterValue,
        "Invalid page token",
    );
}

pub async fn bulk_interval(s: &dyn TrackingStore) {
    let r1 = new_run(s, "0", "b1").await.info.run_id;
    let r2 = new_run(s, "0", "b2").await.info.run_id;
    let many: Vec<Metric> = (0..100)
        .map(|i| metric("m", i as f64, 1000 + i, i))
        .collect();
    s.log_batch(&r1, &many, &[], &[]).await.unwrap();
    s.log_batch(
        &r2,
        &[metric("m", 7.0, 5, 3), metric("m", f64::NAN, 6, 4)],
        &[],
        &[],
    )
    .await
    .unwrap();

    let q = |max: i64, range: Option<(i64, i64)>| BulkIntervalQuery {
        run_ids: vec![r1.clone(), r2.clone()],
        metric_key: "m".into(),
        start_step: range.map(|r| r.0),
        end_step: range.map(|r| r.1),
        max_results: max,
    };
    let out = s
        .get_metric_history_bulk_interval(&q(10, None))
        .await
        .unwrap();
    let r1_steps: Vec<i64> = out
        .iter()
        .filter(|m| m.run_id.as_deref() == Some(r1.as_str()))
        .map(|m| m.step)
        .collect();
    // NTILE(10) over 100 rows keeps every 10th row; the last row replaces the 10th sample.
    assert_eq!(r1_steps, vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 99]);
    let r2_rows: Vec<&Metric> = out
        .iter()
        .filter(|m| m.run_id.as_deref() == Some(r2.as_str()))
        .collect();
    assert_eq!(r2_rows.len(), 2);
    assert_eq!(r2_rows[0].value.0, 7.0);
    assert!(r2_rows[1].value.0.is_nan());
    assert!(out.iter().all(|m| m.key == "m"));

    let ranged = s
        .get_metric_history_bulk_interval(&q(5, Some((10, 19))))
        .await
        .unwrap();
    let steps: Vec<i64> = ranged.iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![10, 12, 14, 16, 19]);

    let one = s
        .get_metric_history_bulk_interval(&q(1, None))
        .await
        .unwrap();
    let steps: Vec<(String, i64)> = one
        .iter()
        .map(|m| (m.run_id.clone().unwrap(), m.step))
        .collect();
    assert_eq!(steps, vec![(r1.clone(), 99), (r2.clone(), 4)]);

    let mut bad = q(10, None);
    bad.start_step = Some(1);
    assert_err(
        s.get_metric_history_bulk_interval(&bad).await,
        ErrorCode::InvalidParameterValue,
        "Both start_step and end_step must be specified together, or neither may be specified.",
    );
    // Unknown runs just contribute nothing.
    let mut unknown = q(10, None);
    unknown.run_ids = vec!["nope".into()];
    assert!(
        s.get_metric_history_bulk_interval(&unknown)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn dataset_summaries(s: &dyn TrackingStore) {
    let summary = |exp: &str, name: &str, digest: &str, context: Option<&str>| DatasetSummary {
        experiment_id: exp.into(),
        name: name.into(),
        digest: digest.into(),
        context: context.map(str::to_owned),
    };
    let a = s.create_experiment("ds-a", None, &[]).await.unwrap();
    let b = s.create_experiment("ds-b", None, &[]).await.unwrap();
    let gone = s.create_experiment("ds-gone", None, &[]).await.unwrap();
    let other = s.create_experiment("ds-other", None, &[]).await.unwrap();
    let a1 = new_run(s, &a, "a1").await.info.run_id;
    let a2 = new_run(s, &a, "a2").await.info.run_id;
    let a3 = new_run(s, &a, "a3").await.info.run_id;
    let b1 = new_run(s, &b, "b1").await.info.run_id;
    let g1 = new_run(s, &gone, "g1").await.info.run_id;
    let o1 = new_run(s, &other, "o1").await.info.run_id;
    s.log_inputs(
        &a1,
        &[
            dataset_input("train", "d1", Some("training")),
            dataset_input("eval", "d2", None),
        ],
        &[],
    )
    .await
    .unwrap();
    // The same dataset and context from another run is one summary; another context is not.
    s.log_inputs(&a2, &[dataset_input("train", "d1", Some("training"))], &[])
        .await
        .unwrap();
    s.log_inputs(&a3, &[dataset_input("train", "d1", Some("testing"))], &[])
        .await
        .unwrap();
    s.log_inputs(&b1, &[dataset_input("train", "d1", Some("training"))], &[])
        .await
        .unwrap();
    s.log_inputs(&g1, &[dataset_input("old", "d9", Some(""))], &[])
        .await
        .unwrap();
    s.log_inputs(&o1, &[dataset_input("unasked", "d0", None)], &[])
        .await
        .unwrap();
    // Deleted runs and experiments still count, as in MLflow.
    s.delete_run(&a3).await.unwrap();
    s.delete_experiment(&gone).await.unwrap();

    let mut got = s
        .search_dataset_summaries(&[a.clone(), b.clone(), gone.clone(), "12345".into()])
        .await
        .unwrap();
    got.sort_by(|x, y| {
        (&x.experiment_id, &x.name, &x.context).cmp(&(&y.experiment_id, &y.name, &y.context))
    });
    let mut want = vec![
        summary(&a, "eval", "d2", None),
        summary(&a, "train", "d1", Some("testing")),
        summary(&a, "train", "d1", Some("training")),
        summary(&b, "train", "d1", Some("training")),
        summary(&gone, "old", "d9", Some("")),
    ];
    want.sort_by(|x, y| {
        (&x.experiment_id, &x.name, &x.context).cmp(&(&y.experiment_id, &y.name, &y.context))
    });
    assert_eq!(got, want);

    // Python's int() forms of an id; an id past 64 bits matches nothing.
    let got = s
        .search_dataset_summaries(&[format!(" +{b} "), "99999999999999999999".into()])
        .await
        .unwrap();
    assert_eq!(got, vec![summary(&b, "train", "d1", Some("training"))]);
    assert!(
        s.search_dataset_summaries(&["0".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_err(
        s.search_dataset_summaries(&[a.clone(), "abc".into()]).await,
        ErrorCode::InvalidParameterValue,
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
    );
}

/// At most 1000 summaries, as MLflow's `MAX_DATASET_SUMMARIES_RESULTS`.
pub async fn dataset_summaries_cap(s: &dyn TrackingStore) {
    let exp = s.create_experiment("ds-many", None, &[]).await.unwrap();
    let run = new_run(s, &exp, "r").await.info.run_id;
    let inputs: Vec<DatasetInput> = (0..1005)
        .map(|i| dataset_input(&format!("ds{i:04}"), "d", Some("training")))
        .collect();
    s.log_inputs(&run, &inputs, &[]).await.unwrap();
    let got = s.search_dataset_summaries(&[exp]).await.unwrap();
    assert_eq!(got.len(), 1000);
    let distinct: std::collections::HashSet<&str> = got.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(distinct.len(), 1000);
}

/// A logged model's metrics come back in the order they were logged, as MLflow returns them
/// (its relationship load has no ORDER BY), not sorted by key.
pub async fn logged_model_metrics_in_logging_order(s: &rsflow_store::SqlStore) {
    logged_model_metrics_in_scan_order(s, Collation::Binary).await
}

/// A logged model's metrics in the order MLflow's unordered relationship load returns them: a
/// table scan's order, which is logging order on SQLite and PostgreSQL and, on MySQL (InnoDB
/// tables are clustered on their primary key), the order of (metric_name, timestamp, step,
/// run_id), names compared ignoring case.
pub async fn logged_model_metrics_in_scan_order(s: &rsflow_store::SqlStore, collation: Collation) {
    use rsflow_store::{CreateLoggedModel, LoggedModelStore};
    let run = new_run(s, "0", "lm").await.info.run_id;
    let model = s
        .create_logged_model(CreateLoggedModel {
            experiment_id: "0".into(),
            name: Some("m".into()),
            model_type: None,
            source_run_id: Some(run.clone()),
            params: vec![],
            tags: vec![],
        })
        .await
        .unwrap();
    let id = model.info.model_id;
    let with_model = |key: &str, step: i64| Metric {
        model_id: Some(id.clone()),
        ..metric(key, step as f64, 5, step)
    };
    let order = ["zeta", "alpha", "Mid", "beta"];
    // One batch and three more, in an order no sort would produce.
    s.log_batch(
        &run,
        &[with_model("zeta", 0), with_model("alpha", 0)],
        &[],
        &[],
    )
    .await
    .unwrap();
    s.log_batch(&run, &[with_model("Mid", 0)], &[], &[])
        .await
        .unwrap();
    s.log_batch(&run, &[with_model("beta", 0)], &[], &[])
        .await
        .unwrap();
    s.log_batch(&run, &[with_model("alpha", 1)], &[], &[])
        .await
        .unwrap();
    let got = s.get_logged_model(&id, false).await.unwrap();
    let keys: Vec<(&str, i64)> = got
        .data
        .metrics
        .iter()
        .map(|m| (m.key.as_str(), m.step))
        .collect();
    let want: Vec<(&str, i64)> = match collation {
        Collation::Binary => {
            let mut want: Vec<(&str, i64)> = order.iter().map(|k| (*k, 0)).collect();
            want.push(("alpha", 1));
            want
        }
        Collation::CaseInsensitive => {
            vec![
                ("alpha", 0),
                ("alpha", 1),
                ("beta", 0),
                ("Mid", 0),
                ("zeta", 0),
            ]
        }
    };
    assert_eq!(keys, want);
}
