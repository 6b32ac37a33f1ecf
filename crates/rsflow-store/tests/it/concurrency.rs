//! Concurrent writers on SQLite: one store with many tasks, and two stores on one file.

use std::sync::Arc;

use rsflow_store::{CreateRun, SqlStore, TraceStore, TrackingStore};

use crate::common::{db_path, fresh};
use crate::suite::{kv, metric};

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

/// Metric-only writes from many tasks share grouped transactions: each request still gets its
/// own answer (a deleted or unknown run fails alone), and every row and latest value lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_metric_writes_answer_each_request() {
    let (_dir, store) = fresh().await;
    let store = Arc::new(store);
    let exp = store.create_experiment("grouped", None, &[]).await.unwrap();
    let mut runs = Vec::new();
    for name in ["a", "b", "gone"] {
        runs.push(
            crate::suite::new_run(store.as_ref(), &exp, name)
                .await
                .info
                .run_id,
        );
    }
    store.delete_run(&runs[2]).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..24i64 {
        let store = store.clone();
        let run = match t % 4 {
            0 | 1 => runs[(t % 2) as usize].clone(),
            2 => runs[2].clone(),
            _ => "0123456789abcdef0123456789abcdef".to_string(),
        };
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..5i64 {
                let metrics: Vec<_> = (0..30i64)
                    .map(|j| metric(&format!("k{}", j % 3), (t * 100 + j) as f64, t, i * 30 + j))
                    .collect();
                outcomes.push(store.log_batch(&run, &metrics, &[], &[]).await);
            }
            (t, run, outcomes)
        }));
    }
    for task in tasks {
        let (t, run, outcomes) = task.await.unwrap();
        for outcome in outcomes {
            match t % 4 {
                0 | 1 => outcome.unwrap(),
                2 => assert_eq!(
                    outcome.unwrap_err().message,
                    format!(
                        "The run {run} must be in the 'active' state. Current state is deleted."
                    )
                ),
                _ => assert_eq!(
                    outcome.unwrap_err().message,
                    format!("Run with id={run} not found")
                ),
            }
        }
    }
    for (r, run) in runs.iter().take(2).enumerate() {
        let history = store
            .get_metric_history(run, "k0", None, None)
            .await
            .unwrap();
        // 6 writers per run (t % 4 == r), 5 batches of 10 k0 rows each.
        assert_eq!(history.items.len(), 300, "run {r}");
        let got = store.get_run(run).await.unwrap();
        assert_eq!(got.data.metrics.len(), 3);
        let k0 = got.data.metrics.iter().find(|m| m.key == "k0").unwrap();
        // Highest step with k0 is 147 (i = 4, j = 27); the writer with the largest
        // timestamp wins: t = 20 + r.
        let t = 20 + r as i64;
        assert_eq!(
            (k0.step, k0.timestamp, k0.value.0),
            (147, t, (t * 100 + 27) as f64)
        );
    }
    let gone = store
        .get_metric_history(&runs[2], "k0", None, None)
        .await
        .unwrap();
    assert!(gone.items.is_empty());
}

/// `log_spans` requests from many tasks share grouped transactions (SQLite): each request
/// gets its own answer (an unknown experiment or a too-long session fails alone, with nothing
/// of it stored), and every span of the others lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_span_writes_answer_each_request() {
    use crate::suite::traces::{batch, span, tid};
    let (_dir, store) = fresh().await;
    let store = Arc::new(store);
    let exp = store.create_experiment("spans", None, &[]).await.unwrap();
    let ns = 1_700_000_000_000_000_000i64;
    let mut tasks = Vec::new();
    for t in 0..24u32 {
        let store = store.clone();
        let exp = exp.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..5u32 {
                // Three traces per request, four spans each (a root and three children).
                let traces: Vec<_> = (0..3u32)
                    .map(|k| {
                        let id = tid(t * 100 + i * 10 + k);
                        let spans = (1..=4u64)
                            .map(|n| {
                                let parent = (n > 1).then_some(1);
                                span(&id, n, parent, ns + n as i64, ns + 1_000_000)
                            })
                            .collect();
                        let mut b = batch(&id, spans, None);
                        if t % 4 == 3 && k == 2 {
                            b.session_id = Some("s".repeat(251));
                        }
                        b
                    })
                    .collect();
                let target = if t % 4 == 2 { "999999" } else { exp.as_str() };
                outcomes.push(store.log_spans(target, &traces, None).await);
            }
            (t, outcomes)
        }));
    }
    for task in tasks {
        let (t, outcomes) = task.await.unwrap();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let i = i as u32;
            match t % 4 {
                0 | 1 => outcome.unwrap(),
                2 => assert_eq!(
                    outcome.unwrap_err().message,
                    "No Experiment with id=999999 exists"
                ),
                _ => assert!(outcome.unwrap_err().message.contains("Session ID"), "t={t}"),
            }
            for k in 0..3u32 {
                let id = tid(t * 100 + i * 10 + k);
                let stored = store.count_spans(&id).await.unwrap();
                let info = store.get_trace_info(&id).await;
                if t % 4 < 2 {
                    assert_eq!(stored, 4, "{id}");
                    assert_eq!(info.unwrap().experiment_id, exp);
                } else {
                    // A failed request leaves nothing, not even its valid traces.
                    assert_eq!(stored, 0, "{id}");
                    assert!(info.is_err(), "{id}");
                }
            }
        }
    }
}

/// One trace whose spans arrive in many concurrent requests (as a batching exporter sends a
/// long trace): the span writer writes requests of one experiment together, and the result
/// is what the requests one after another give: every span stored, one trace row, its root's
/// facts, the earliest start and the latest end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_across_concurrent_requests() {
    use crate::suite::traces::{batch, root_ok, span, tid};
    use rsflow_core::trace::TraceState;
    let (_dir, store) = fresh().await;
    let store = Arc::new(store);
    let exp = store.create_experiment("split", None, &[]).await.unwrap();
    let ns = 1_700_000_000_000_000_000i64;
    let id = tid(77);
    let mut tasks = Vec::new();
    for n in 1..=40u64 {
        let (store, exp, id) = (store.clone(), exp.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let parent = (n > 1).then_some(1);
            // The root (span 1) spans the whole trace; children inside it.
            let (start, end) = if n == 1 {
                (ns, ns + 90_000_000)
            } else {
                (ns + n as i64 * 1_000_000, ns + n as i64 * 2_000_000)
            };
            let root = (n == 1).then(root_ok);
            let b = batch(&id, vec![span(&id, n, parent, start, end)], root);
            store.log_spans(&exp, &[b], None).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.count_spans(&id).await.unwrap(), 40);
    let info = store.get_trace_info(&id).await.unwrap();
    assert_eq!(info.experiment_id, exp);
    assert_eq!(info.state, TraceState::Ok);
    assert_eq!(info.request_preview.as_deref(), Some("in"));
    assert_eq!(info.request_time_ms, ns / 1_000_000);
    assert_eq!(info.execution_duration_ms, Some(90));
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
