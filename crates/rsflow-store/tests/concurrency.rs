//! Concurrent writers on SQLite: one store with many tasks, and two stores on one file.

mod common;
mod suite;

use std::sync::Arc;

use rsflow_store::{CreateRun, SqlStore, TrackingStore};

use common::{db_path, fresh};
use suite::{kv, metric};

/// 16 writers on one run plus 16 concurrent run creations: every write lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_nothing() {
    let (_dir, store) = fresh().await;
    let store = Arc::new(store);
    let exp = store.create_experiment("busy", None, &[]).await.unwrap();
    let run = crate::suite::new_run(store.as_ref(), &exp, "shared")
        .await
        .info
        .run_id;
    let mut tasks = Vec::new();
    for t in 0..16i64 {
        let store = store.clone();
        let run = run.clone();
        let exp = exp.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10i64 {
                let metrics: Vec<_> = (0..20i64)
                    .map(|j| metric("m", (t * 1000 + i * 20 + j) as f64, t, i * 20 + j))
                    .collect();
                store
                    .log_batch(
                        &run,
                        &metrics,
                        &[kv(&format!("p{t}-{i}"), "v")],
                        &[
                            kv("last-writer", &t.to_string()),
                            kv(&format!("t{t}"), &i.to_string()),
                        ],
                    )
                    .await
                    .unwrap();
            }
            store
                .create_run(CreateRun {
                    experiment_id: exp,
                    run_name: Some(format!("r{t}")),
                    ..Default::default()
                })
                .await
                .unwrap()
                .info
                .run_id
        }));
    }
    let mut created = std::collections::HashSet::new();
    for t in tasks {
        created.insert(t.await.unwrap());
    }
    assert_eq!(created.len(), 16);
    let got = store.get_run(&run).await.unwrap();
    assert_eq!(got.data.params.len(), 160);
    for t in 0..16 {
        assert_eq!(
            crate::suite::tag_value(&got.data.tags, &format!("t{t}")),
            Some("9")
        );
    }
    let history = store
        .get_metric_history(&run, "m", None, None)
        .await
        .unwrap();
    // Steps repeat across writers but timestamps (the writer id) differ: 16 * 200 rows.
    assert_eq!(history.items.len(), 3200);
    let latest = &got.data.metrics[0];
    // Highest step is 199; among writers the highest timestamp (15) wins.
    assert_eq!(
        (latest.step, latest.timestamp, latest.value.0),
        (199, 15, 15199.0)
    );
    let runs = store
        .search_runs(&rsflow_store::SearchRuns {
            experiment_ids: vec![exp],
            max_results: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 17);
}

/// Two stores on one file (two server processes): SQLite's lock plus busy_timeout
/// serialise them and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file() {
    let (dir, a) = fresh().await;
    let uri = format!("sqlite:///{}", db_path(&dir).display());
    let b = SqlStore::open(&uri, "/x").await.unwrap();
    let run = crate::suite::new_run(&a, "0", "two").await.info.run_id;
    let stores = [Arc::new(a), Arc::new(b)];
    let mut tasks = Vec::new();
    for (n, store) in stores.iter().enumerate() {
        for t in 0..4i64 {
            let store = store.clone();
            let run = run.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25i64 {
                    let key = format!("s{n}-t{t}");
                    store
                        .log_batch(&run, &[metric(&key, i as f64, i, i)], &[], &[])
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = stores[0].get_run(&run).await.unwrap();
    assert_eq!(got.data.metrics.len(), 8);
    assert!(
        got.data
            .metrics
            .iter()
            .all(|m| m.step == 24 && m.value.0 == 24.0)
    );
}
