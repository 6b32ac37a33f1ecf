//! Group commit for metric logging on SQLite: requests that only log metrics (`log-metric`,
//! and `log-batch` without params or tags) queue for one writer task, which stores everything
//! that queued meanwhile in one transaction and answers each request after the commit.
//!
//! SQLite has one writer, so under concurrent load every request used to wait for the ones
//! before it, each paying its own BEGIN, run lookup, statements, COMMIT (with its WAL write)
//! and connection hand-over. A group pays those once. Acknowledged writes are as durable as
//! before: nobody gets an answer before the commit that holds their rows.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rsflow_core::trace::TraceSpans;
use rsflow_core::wire::Metric;
use rsflow_core::{MlflowError, Result};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::logging::{RunMetrics, log_metrics};
use super::query::{Dialect, db_err};
use super::runs::fetch_run;
use super::traces_spans::log_spans_in;

/// Requests one group takes at most, and metric rows (about ten padded statements).
const MAX_JOBS: usize = 256;
const MAX_ROWS: usize = 10_000;
/// Requests that may wait for the writer before senders wait too.
const QUEUE: usize = 1024;

pub(crate) struct Job {
    run_id: String,
    metrics: Vec<Metric>,
    reply: oneshot::Sender<Result<()>>,
}

/// The queue into one writer task (a job carries its reply); dropping the last clone of the
/// store stops the task. [`GroupWriter`] for metrics and [`SpanWriter`] for spans.
pub(crate) struct Writer<J> {
    jobs: mpsc::Sender<J>,
    task: tokio::task::JoinHandle<()>,
    capacity: usize,
}

pub(crate) type GroupWriter = Writer<Job>;
pub(crate) type SpanWriter = Writer<SpanJob>;

impl<J> std::fmt::Debug for Writer<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

impl<J> Drop for Writer<J> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<J: Send + 'static> Writer<J> {
    fn start<F>(capacity: usize, run: impl FnOnce(mpsc::Receiver<J>) -> F) -> Arc<Writer<J>>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (jobs, rx) = mpsc::channel(capacity);
        let task = tokio::spawn(run(rx));
        Arc::new(Writer {
            jobs,
            task,
            capacity,
        })
    }

    /// Queue `job` for the next group; returns once that group committed.
    async fn submit(
        &self,
        job: J,
        answer: oneshot::Receiver<Result<()>>,
        writer: &str,
    ) -> Result<()> {
        let gone = || MlflowError::unavailable(format!("The {writer} writer has stopped"), 1);
        self.jobs.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

impl<J> Writer<J> {
    /// Jobs waiting in the queue.
    pub(crate) fn queued(&self) -> usize {
        self.capacity.saturating_sub(self.jobs.capacity())
    }

    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

/// The next group: the first job to come, then whatever queued meanwhile, up to `max_jobs`
/// jobs or `max_weight` rows. `None` once every sender is gone.
async fn next_group<J>(
    rx: &mut mpsc::Receiver<J>,
    max_jobs: usize,
    max_weight: usize,
    weight: impl Fn(&J) -> usize,
) -> Option<Vec<J>> {
    let first = rx.recv().await?;
    Some(fill_group(first, rx, max_jobs, max_weight, weight))
}

/// A group from what is queued right now, without waiting; `None` when nothing is.
fn queued_group<J>(
    rx: &mut mpsc::Receiver<J>,
    max_jobs: usize,
    max_weight: usize,
    weight: impl Fn(&J) -> usize,
) -> Option<Vec<J>> {
    let first = rx.try_recv().ok()?;
    Some(fill_group(first, rx, max_jobs, max_weight, weight))
}

/// `first`, then whatever queued meanwhile, up to `max_jobs` jobs or `max_weight` rows.
fn fill_group<J>(
    first: J,
    rx: &mut mpsc::Receiver<J>,
    max_jobs: usize,
    max_weight: usize,
    weight: impl Fn(&J) -> usize,
) -> Vec<J> {
    let mut rows = weight(&first);
    let mut jobs = vec![first];
    while jobs.len() < max_jobs && rows < max_weight {
        match rx.try_recv() {
            Ok(job) => {
                rows += weight(&job);
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    jobs
}

impl GroupWriter {
    pub(crate) fn spawn(write: AnyPool) -> Arc<GroupWriter> {
        Writer::start(QUEUE, |rx| run(write, rx))
    }

    /// Log `metrics` to `run_id` in the next group; returns once that group committed.
    pub(crate) async fn log_metrics(&self, run_id: &str, metrics: &[Metric]) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            run_id: run_id.to_owned(),
            metrics: metrics.to_vec(),
            reply,
        };
        self.submit(job, answer, "metric").await
    }
}

async fn run(write: AnyPool, mut rx: mpsc::Receiver<Job>) {
    while let Some(jobs) = next_group(&mut rx, MAX_JOBS, MAX_ROWS, |j| j.metrics.len()).await {
        let results = write_group(&write, &jobs).await;
        for (job, result) in jobs.into_iter().zip(results) {
            // The requester may have gone away (client disconnect); its rows are stored.
            let _ = job.reply.send(result);
        }
    }
}

/// One transaction for all `jobs`: each job's run is checked as `log_batch` checks it (its
/// error goes to that job alone); the rows of the others are written together. A database
/// failure fails every job of the group, as it would have failed each alone.
async fn write_group(write: &AnyPool, jobs: &[Job]) -> Vec<Result<()>> {
    let mut tx = match write.begin_with(Dialect::Sqlite.begin_write()).await {
        Ok(tx) => tx,
        Err(e) => {
            let e = db_err(e);
            return jobs.iter().map(|_| Err(e.clone())).collect();
        }
    };
    let mut runs: HashMap<&str, Result<i64>> = HashMap::new();
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let checked = match runs.get(job.run_id.as_str()) {
            Some(r) => r.clone(),
            None => {
                let r = match fetch_run(&mut tx, &job.run_id).await {
                    Ok(run) => run.check_active().map(|()| run.experiment_id),
                    Err(e) => Err(e),
                };
                runs.insert(&job.run_id, r.clone());
                r
            }
        };
        results.push(checked);
    }
    let batches: Vec<RunMetrics<'_>> = jobs
        .iter()
        .zip(&results)
        .filter_map(|(job, r)| {
            r.as_ref().ok().map(|&experiment_id| RunMetrics {
                run_id: &job.run_id,
                experiment_id,
                metrics: &job.metrics,
            })
        })
        .collect();
    let written = if batches.is_empty() {
        Ok(())
    } else {
        match log_metrics(&mut tx, &batches).await {
            Ok(()) => tx.commit().await.map_err(db_err),
            Err(e) => Err(e),
        }
    };
    results
        .into_iter()
        .map(|r| match (r, &written) {
            (Err(e), _) => Err(e),
            (Ok(_), Ok(())) => Ok(()),
            (Ok(_), Err(e)) => Err(e.clone()),
        })
        .collect()
}

/// Requests one span group takes at most, and spans (a few multi-row statements each).
const MAX_SPAN_JOBS: usize = 64;
const MAX_SPANS: usize = 20_000;
/// Span requests that may wait for the writer before senders wait too.
const SPAN_QUEUE: usize = 256;

pub(crate) struct SpanJob {
    experiment_id: String,
    traces: Vec<TraceSpans>,
    run_id: Option<String>,
    reply: oneshot::Sender<Result<()>>,
}

// Group commit for `log_spans` (the OTLP `/v1/traces` write) on SQLite: the requests that
// queued while a group was being written go into the next transaction, each inside its own
// savepoint, so that one request's error rolls back only its own rows and reaches only its
// own caller. Every request pays its statements; the group pays one BEGIN, one COMMIT and
// one WAL sync, and index pages that several requests touch reach the WAL once.
impl SpanWriter {
    pub(crate) fn spawn(write: AnyPool) -> Arc<SpanWriter> {
        Writer::start(SPAN_QUEUE, |rx| run_spans(write, rx))
    }

    /// `log_spans` in the next group; returns once that group committed (or this request's
    /// part of it was rolled back).
    pub(crate) async fn log_spans(
        &self,
        experiment_id: &str,
        traces: &[TraceSpans],
        run_id: Option<&str>,
    ) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let job = SpanJob {
            experiment_id: experiment_id.to_owned(),
            traces: traces.to_vec(),
            run_id: run_id.map(str::to_owned),
            reply,
        };
        self.submit(job, answer, "span").await
    }
}

fn span_count(job: &SpanJob) -> usize {
    job.traces.iter().map(|t| t.spans.len()).sum()
}

/// How long the span writer keeps SQLite's one write connection while groups keep coming, before
/// it hands it back to the pool (other writers queue there meanwhile).
const HOLD_WRITER: std::time::Duration = std::time::Duration::from_millis(50);

async fn run_spans(write: AnyPool, mut rx: mpsc::Receiver<SpanJob>) {
    while let Some(mut jobs) = next_group(&mut rx, MAX_SPAN_JOBS, MAX_SPANS, span_count).await {
        let mut conn = match span_connection(&write).await {
            Ok(conn) => conn,
            Err(e) => {
                reply_all(jobs, &e);
                continue;
            }
        };
        // Groups that queued while this one was written reuse the connection (no hand-over,
        // no temp-store switch), for at most HOLD_WRITER.
        let held = std::time::Instant::now();
        let healthy = loop {
            let (results, ok) = write_span_group_in(&mut conn, &jobs).await;
            for (job, result) in jobs.into_iter().zip(results) {
                // The requester may have gone away (client disconnect); its rows are stored.
                let _ = job.reply.send(result);
            }
            if !ok || held.elapsed() >= HOLD_WRITER {
                break ok;
            }
            match queued_group(&mut rx, MAX_SPAN_JOBS, MAX_SPANS, span_count) {
                Some(more) => jobs = more,
                None => break true,
            }
        };
        if !healthy
            || exec(&mut conn, "PRAGMA temp_store = DEFAULT")
                .await
                .is_err()
        {
            // Never hand back a writer still in a transaction or with the in-memory temp store.
            conn.close_on_drop();
        }
    }
}

fn reply_all(jobs: Vec<SpanJob>, e: &MlflowError) {
    for job in jobs {
        let _ = job.reply.send(Err(e.clone()));
    }
}

/// The write connection, set up for span groups. The multi-row span inserts inside savepoints
/// spill SQLite's statement journal to a temp file past 64 KiB (about 112 KB written to
/// /var/tmp per request): kept in memory while the span writer holds the connection (each
/// transaction is bounded by the group's MAX_SPANS), the connection's default after it, so
/// that other writes (a large delete) keep spilling to disk. The temp store can only change
/// outside a transaction.
async fn span_connection(write: &AnyPool) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
    let mut conn = write.acquire().await.map_err(db_err)?;
    if let Err(e) = exec(&mut conn, "PRAGMA temp_store = MEMORY").await {
        conn.close_on_drop();
        return Err(e);
    }
    Ok(conn)
}

/// One or more statements without arguments (SQLite runs them in order, stopping at an error).
async fn exec(tx: &mut sqlx::AnyConnection, sql: &str) -> Result<()> {
    sqlx::query(sql)
        .execute(tx)
        .await
        .map(|_| ())
        .map_err(db_err)
}

/// One transaction for all `jobs`, each in a savepoint: a job's own error (a validation, a
/// missing experiment, a constraint) rolls back to its savepoint and goes to that job alone.
/// A failure of the transaction itself (a savepoint that cannot be rolled back to, the
/// commit) fails every job of the group, as it would have failed each alone; the transaction
/// is then rolled back, and `false` says the connection may not be clean.
///
/// Consecutive jobs for the same experiment and run are first written together, as one
/// `log_spans` of all their traces (one lookup and one INSERT per table instead of one per
/// job; a trace id in several of them goes into later rounds, as sequential requests would).
/// If that fails, it is rolled back and each of those jobs runs alone, for its own answer.
///
/// Every statement is a round trip to SQLite's worker thread (two thread wake-ups, 0.1-0.2 ms
/// on a busy two-core machine, against 8 us for a SAVEPOINT itself), so the bookkeeping goes
/// in as few trips as it can: BEGIN with the first savepoint, each RELEASE with the next
/// SAVEPOINT, and no RELEASE before the COMMIT (which commits what is open).
async fn write_span_group_in(
    conn: &mut sqlx::AnyConnection,
    jobs: &[SpanJob],
) -> (Vec<Result<()>>, bool) {
    let mut results: Vec<Result<()>> = jobs.iter().map(|_| Ok(())).collect();
    let mut units: VecDeque<Vec<usize>> = VecDeque::new();
    for i in (0..jobs.len()).filter(|&i| jobs[i].traces.iter().any(|t| !t.spans.is_empty())) {
        match units.back_mut() {
            Some(unit)
                if jobs[unit[0]].experiment_id == jobs[i].experiment_id
                    && jobs[unit[0]].run_id == jobs[i].run_id =>
            {
                unit.push(i)
            }
            _ => units.push_back(vec![i]),
        }
    }
    if units.is_empty() {
        return (results, true);
    }
    let mut next = format!(
        "{}; SAVEPOINT rsflow_log_spans",
        Dialect::Sqlite.begin_write()
    );
    while let Some(unit) = units.pop_front() {
        if let Err(e) = exec(conn, &next).await {
            return abort(conn, jobs, e).await;
        }
        next = "RELEASE rsflow_log_spans; SAVEPOINT rsflow_log_spans".into();
        let first = &jobs[unit[0]];
        let traces: Vec<&TraceSpans> = unit.iter().flat_map(|&i| &jobs[i].traces).collect();
        let r = log_spans_in(
            conn,
            Dialect::Sqlite,
            &first.experiment_id,
            &traces,
            first.run_id.as_deref(),
        )
        .await;
        if r.is_err() {
            if let Err(e) = exec(conn, "ROLLBACK TO rsflow_log_spans").await {
                // SQLite may have rolled the whole transaction back (a full disk, an I/O
                // error): the rows of the jobs before this one are gone too.
                return abort(conn, jobs, r.err().unwrap_or(e)).await;
            }
            if unit.len() > 1 {
                // One of them failed: each again on its own, in the emptied savepoint.
                for &i in unit.iter().rev() {
                    units.push_front(vec![i]);
                }
                continue;
            }
        }
        for &i in &unit {
            results[i] = r.clone();
        }
    }
    if let Err(e) = exec(conn, "COMMIT").await {
        return abort(conn, jobs, e).await;
    }
    (results, true)
}

/// Fail every job with `e` and roll back whatever is left of the transaction.
async fn abort(
    conn: &mut sqlx::AnyConnection,
    jobs: &[SpanJob],
    e: MlflowError,
) -> (Vec<Result<()>>, bool) {
    let clean = match exec(conn, "ROLLBACK").await {
        Ok(()) => true,
        // Nothing left to roll back: SQLite already did.
        Err(r) => r.message.contains("no transaction is active"),
    };
    (jobs.iter().map(|_| Err(e.clone())).collect(), clean)
}
