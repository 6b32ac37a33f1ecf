//! Rough log_batch throughput on a temp SQLite file: `cargo run --release -p rsflow-store
//! --example log_batch_throughput [batches] [metrics_per_batch] [tasks]`.

use std::sync::Arc;
use std::time::Instant;

use rsflow_core::wire::{Metric, MetricValue};
use rsflow_store::{CreateRun, SqlStore, TrackingStore};

#[tokio::main]
async fn main() {
    let args: Vec<i64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("integer arguments"))
        .collect();
    let batches = args.first().copied().unwrap_or(200);
    let per_batch = args.get(1).copied().unwrap_or(1000);
    let tasks = args.get(2).copied().unwrap_or(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let uri = format!("sqlite:///{}", dir.path().join("bench.db").display());
    let store = Arc::new(SqlStore::open(&uri, "/tmp/artifacts").await.expect("open"));
    let run = store
        .create_run(CreateRun::default())
        .await
        .expect("run")
        .info
        .run_id;
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        let run = run.clone();
        handles.push(tokio::spawn(async move {
            for b in 0..batches {
                let metrics: Vec<Metric> = (0..per_batch)
                    .map(|i| Metric {
                        key: format!("m{}", i % 10),
                        value: MetricValue(i as f64),
                        timestamp: 1_700_000_000_000 + b,
                        step: t * batches * per_batch + b * per_batch + i,
                        ..Default::default()
                    })
                    .collect();
                store
                    .log_batch(&run, &metrics, &[], &[])
                    .await
                    .expect("log");
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let secs = start.elapsed().as_secs_f64();
    let total = (batches * per_batch * tasks) as f64;
    println!(
        "{} batches x {per_batch} metrics x {tasks} tasks: {secs:.2}s, {:.0} metrics/s, {:.1} ms/batch",
        batches * tasks,
        total / secs,
        secs * 1000.0 / (batches * tasks) as f64
    );
}
