//! Writes to a run: `log_batch` (params, metrics, latest metrics, model metrics, tags) in one
//! transaction, and `delete_tag`.

use std::collections::{HashMap, HashSet};

use rsflow_core::wire::{Metric, Param, RunTag};
use rsflow_core::{MlflowError, Result};
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::experiments::dedupe_last;
use super::query::{Dialect, Sql, db_err, sorts_for_locks, values_placeholders};
use super::runs::{MLFLOW_RUN_NAME, fetch_run, set_run_name, upsert_run_tags};
use rsflow_core::pyfmt::repr_str;

/// Multi-row statements are cut into these sizes so that a handful of prepared statements
/// (cached per connection by sqlx) serve every batch size.
const ROW_CHUNKS: &[usize] = &[256, 64, 16, 4, 1];

/// The largest padded chunk (SQLite): 1024 rows of up to 10 columns stay far below its
/// 32,766 parameters per statement, and cover MLflow's 1000-metric batch limit in one.
const MAX_PADDED_ROWS: usize = 1024;

/// Split `n` rows into the fixed chunk sizes, largest first.
fn chunk_plan(mut n: usize) -> Vec<usize> {
    let mut plan = Vec::new();
    for &size in ROW_CHUNKS {
        while n >= size {
            plan.push(size);
            n -= size;
        }
    }
    plan
}

/// Statement sizes for `n` rows when the statement tolerates repeated rows: powers of two,
/// the last one padded. Every statement is a round trip to SQLite's worker thread and a
/// statement journal; a 1000-metric batch is one statement instead of ten, and the padding
/// costs SQLite one index probe per copy.
fn padded_plan(mut n: usize) -> Vec<usize> {
    let mut plan = Vec::new();
    while n > 0 {
        let size = n.next_power_of_two().min(MAX_PADDED_ROWS);
        plan.push(size);
        n = n.saturating_sub(size);
    }
    plan
}

/// MLflow's `sanitize_metric_value`: NaN is stored as 0 with `is_nan`, ±inf as ±f64::MAX.
pub(crate) fn sanitize(value: f64) -> (bool, f64) {
    if value.is_nan() {
        (true, 0.0)
    } else if value.is_infinite() {
        (false, if value > 0.0 { f64::MAX } else { f64::MIN })
    } else {
        (false, value)
    }
}

/// The metrics one request logs to one run (several of them share a grouped transaction).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunMetrics<'a> {
    pub run_id: &'a str,
    pub experiment_id: i64,
    pub metrics: &'a [Metric],
}

/// A metric row ready to insert.
#[derive(Debug, Clone)]
struct MetricRow<'a> {
    run_id: &'a str,
    key: &'a str,
    value: f64,
    timestamp: i64,
    step: i64,
    is_nan: bool,
}

impl MetricRow<'_> {
    /// MLflow's `_compare_metrics`: newer means larger (step, timestamp, value).
    fn newer_than(&self, other: &MetricRow<'_>) -> bool {
        (self.step, self.timestamp)
            .cmp(&(other.step, other.timestamp))
            .then(
                self.value
                    .partial_cmp(&other.value)
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
            .is_gt()
    }
}

/// How a multi-row INSERT treats a row that repeats an earlier one of the same statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeats {
    /// The statement ignores it (`ON CONFLICT DO NOTHING`, or an upsert whose update skips an
    /// equal row), so SQLite may pad chunks with copies of the last row.
    Harmless,
    /// A repeat would fail or change the result: fixed-size chunks only.
    Forbidden,
}

/// Insert rows of `width` columns with a fixed statement shape per chunk size.
pub(crate) async fn insert_rows<T>(
    conn: &mut AnyConnection,
    head: &str,
    tail: &str,
    width: usize,
    repeats: Repeats,
    rows: &[T],
    bind: impl Fn(&mut Sql, &T),
) -> Result<u64> {
    // The head and tail bind nothing, so every parameter is a row value, in order.
    let anonymous = conn.backend_name() == "SQLite";
    let plan = if anonymous && repeats == Repeats::Harmless {
        padded_plan(rows.len())
    } else {
        chunk_plan(rows.len())
    };
    let mut affected = 0;
    let mut at = 0;
    for size in plan {
        let mut q = Sql::new(head);
        q.push(&values_placeholders(anonymous, size, width))
            .push(tail);
        let end = (at + size).min(rows.len());
        for row in &rows[at..end] {
            bind(&mut q, row);
        }
        // Padding: copies of the last row, which the statement ignores (`Repeats::Harmless`).
        for _ in end..at + size {
            bind(&mut q, &rows[end - 1]);
        }
        at = end;
        affected += q
            .query()
            .execute(&mut *conn)
            .await
            .map_err(db_err)?
            .rows_affected();
    }
    Ok(affected)
}

/// One metric row as [`metrics_json`] encodes it.
#[derive(serde::Serialize)]
struct JsonMetric<'a> {
    k: &'a str,
    v: f64,
    t: i64,
    s: i64,
    n: bool,
}

/// The columns `json_to_recordset` reads a [`JsonMetric`] array as.
const JSON_METRIC_COLUMNS: &str = "r(k text, v double precision, t bigint, s bigint, n boolean)";

/// `rows` as the JSON array that [`JSON_METRIC_COLUMNS`] reads.
fn metrics_json(rows: &[MetricRow<'_>]) -> Result<String> {
    let json: Vec<JsonMetric<'_>> = rows
        .iter()
        .map(|m| JsonMetric {
            k: m.key,
            v: m.value,
            t: m.timestamp,
            s: m.step,
            n: m.is_nan,
        })
        .collect();
    // Finite values only (NaN and infinities are sanitised), which JSON carries exactly.
    serde_json::to_string(&json)
        .map_err(|e| MlflowError::internal(format!("Cannot encode metrics: {e}")))
}

/// PostgreSQL: the metric rows (`$1`) and the newest row per key (`$3`) of one run (`$2`) in
/// one statement, each bound as one JSON array: the text is the same for every batch size, so
/// one prepared statement serves all, and a batch costs one round trip for both tables. The
/// `metrics` insert is a CTE that the `latest_metrics` upsert waits for (its one-time filter
/// counts the CTE's rows), so rows are locked in the same order as before: `metrics` first,
/// then `latest_metrics`, each in the order the arrays list them.
async fn insert_metrics_json(
    conn: &mut AnyConnection,
    rows: &[MetricRow<'_>],
    latest: &[MetricRow<'_>],
    run_id: &str,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = Sql::new(&format!(
        "WITH m AS (INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) \
         SELECT r.k, r.v, r.t, $2, r.s, r.n FROM json_to_recordset(CAST($1 AS json)) AS \
         {JSON_METRIC_COLUMNS} ON CONFLICT DO NOTHING RETURNING 1) \
         INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) \
         SELECT r.k, r.v, r.t, r.s, r.n, $2 FROM json_to_recordset(CAST($3 AS json)) AS \
         {JSON_METRIC_COLUMNS} WHERE (SELECT COUNT(*) FROM m) >= 0{LATEST_UPSERT}"
    ));
    q.args.push(metrics_json(rows)?.into());
    q.args.push(run_id.into());
    q.args.push(metrics_json(latest)?.into());
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// Python's `repr()` of the list of dicts MLflow puts in the batch param-conflict message.
fn non_matching_repr(items: &[(&str, String, &str)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|(k, old, new)| {
            format!(
                "{{'key': {}, 'old_value': {}, 'new_value': {}}}",
                repr_str(k),
                repr_str(old),
                repr_str(new)
            )
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

async fn log_params(
    conn: &mut AnyConnection,
    run_id: &str,
    params: &[Param],
    single: bool,
) -> Result<()> {
    let mut keys: Vec<&str> = Vec::new();
    let mut dupes: Vec<&str> = Vec::new();
    for p in params {
        if keys.contains(&p.key.as_str()) {
            dupes.push(&p.key);
        } else {
            keys.push(&p.key);
        }
    }
    if !dupes.is_empty() {
        let list: Vec<String> = dupes.iter().map(|k| repr_str(k)).collect();
        return Err(MlflowError::invalid_param(format!(
            "Duplicate parameter keys have been submitted: [{}]. Please ensure the request \
             contains only one param value per param key.",
            list.join(", ")
        )));
    }
    let new_params = if sorts_for_locks(conn) {
        // PostgreSQL: insert first and compare only when some key was already there. A batch
        // of new params then costs one round trip instead of two; on a conflict the error
        // below rolls the transaction back, so nothing of the request stays.
        let mut all: Vec<&Param> = params.iter().collect();
        all.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        all
    } else {
        let existing = fetch_params(conn, run_id, &keys).await?;
        check_params(params, &existing, run_id, single)?
    };
    let inserted = insert_rows(
        conn,
        "INSERT INTO params (key, value, run_uuid) VALUES ",
        " ON CONFLICT DO NOTHING",
        3,
        Repeats::Harmless,
        &new_params,
        |q, p| {
            q.arg(p.key.as_str());
            q.arg(p.value.as_str());
            q.arg(run_id);
        },
    )
    .await?;
    // MySQL counts a duplicate key's no-op update as a found row (sqlx sets FOUND_ROWS), so
    // there the stored values are always compared.
    if inserted < new_params.len() as u64 || Dialect::of(conn) == Dialect::Mysql {
        // Some keys were stored already (PostgreSQL), or another transaction logged them in
        // between (writers are not serialised there): compare against what is stored, in the
        // request's order so that the message lists them as MLflow does.
        let existing = fetch_params(conn, run_id, &keys).await?;
        check_params(params, &existing, run_id, single)?;
    }
    Ok(())
}

async fn fetch_params(
    conn: &mut AnyConnection,
    run_id: &str,
    keys: &[&str],
) -> Result<HashMap<String, String>> {
    let mut existing = HashMap::new();
    for chunk in keys.chunks(500) {
        let mut q = Sql::new("SELECT key, value FROM params WHERE run_uuid = ");
        q.bind(run_id).push(" AND key IN ").bind_list(chunk);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            existing.insert(r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?);
        }
    }
    Ok(existing)
}

/// The params not stored yet, or MLflow's error when one was stored with another value.
fn check_params<'a>(
    params: &'a [Param],
    existing: &HashMap<String, String>,
    run_id: &str,
    single: bool,
) -> Result<Vec<&'a Param>> {
    let mut new_params = Vec::new();
    let mut non_matching: Vec<(&str, String, &str)> = Vec::new();
    for p in params {
        match existing.get(&p.key) {
            Some(old) if *old != p.value => non_matching.push((&p.key, old.clone(), &p.value)),
            Some(_) => {}
            None => new_params.push(p),
        }
    }
    if let Some((k, old, new)) = non_matching.first() {
        return Err(MlflowError::invalid_param(if single {
            format!(
                "Changing param values is not allowed. Param with key='{k}' was already logged \
                 with value='{old}' for run ID='{run_id}'. Attempted logging new value '{new}'."
            )
        } else {
            format!(
                "Changing param values is not allowed. Params were already logged='{}' for run \
                 ID='{run_id}'.",
                non_matching_repr(&non_matching)
            )
        }));
    }
    Ok(new_params)
}

/// Insert metrics and update latest metrics for one or more runs. PostgreSQL takes one run at a
/// time (one JSON statement per table); SQLite one multi-row statement per table for all.
pub(crate) async fn log_metrics(
    conn: &mut AnyConnection,
    batches: &[RunMetrics<'_>],
) -> Result<()> {
    let dialect = Dialect::of(conn);
    if dialect == Dialect::Postgres {
        for b in batches {
            log_metrics_pg(conn, b).await?;
        }
    } else {
        let mut rows = metric_rows(batches);
        if dialect == Dialect::Mysql {
            // Row locks in key order, as on PostgreSQL, so that concurrent batches queue.
            rows.sort_unstable_by(|a, b| {
                (a.key, a.timestamp, a.step, a.is_nan)
                    .cmp(&(b.key, b.timestamp, b.step, b.is_nan))
                    .then(a.value.total_cmp(&b.value))
            });
        }
        insert_rows(
            conn,
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES ",
            " ON CONFLICT DO NOTHING",
            6,
            Repeats::Harmless,
            &rows,
            bind_metric,
        )
        .await?;
        insert_rows(
            conn,
            "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES ",
            if dialect == Dialect::Mysql {
                LATEST_UPSERT_MYSQL
            } else {
                LATEST_UPSERT
            },
            6,
            Repeats::Harmless,
            &newest_per_key(&rows),
            bind_metric,
        )
        .await?;
    }
    log_model_metrics(conn, batches).await
}

/// One metric row's values, in the column order both metric INSERTs name.
fn bind_metric(q: &mut Sql, m: &MetricRow<'_>) {
    q.arg(m.key);
    q.arg(m.value);
    q.arg(m.timestamp);
    q.arg(m.run_id);
    q.arg(m.step);
    q.arg(m.is_nan);
}

const LATEST_UPSERT: &str = " ON CONFLICT (key, run_uuid) DO UPDATE SET value = \
     excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = \
     excluded.is_nan WHERE excluded.step > latest_metrics.step OR (excluded.step = \
     latest_metrics.step AND (excluded.timestamp > latest_metrics.timestamp OR \
     (excluded.timestamp = latest_metrics.timestamp AND excluded.value > \
     latest_metrics.value)))";

/// [`LATEST_UPSERT`] for MySQL, which has no conditional upsert: every assignment keeps the
/// old value unless the new row is newer. Assignments run left to right and see the values
/// already assigned, so the verdict is taken once, before any column changes, in a session
/// variable that the later assignments read.
const LATEST_UPSERT_MYSQL: &str = " ON DUPLICATE KEY UPDATE is_nan = IF(@rsflow_newer := \
     (VALUES(step) > step OR (VALUES(step) = step AND (VALUES(timestamp) > timestamp OR \
     (VALUES(timestamp) = timestamp AND VALUES(value) > value)))), VALUES(is_nan), is_nan), \
     value = IF(@rsflow_newer, VALUES(value), value), \
     timestamp = IF(@rsflow_newer, VALUES(timestamp), timestamp), \
     step = IF(@rsflow_newer, VALUES(step), step)";

/// The rows to store: sanitised, exact duplicates (same stored identity) collapsed to one, as
/// MLflow's dedupe does.
fn metric_rows<'a>(batches: &[RunMetrics<'a>]) -> Vec<MetricRow<'a>> {
    let mut seen: HashSet<(&str, &str, i64, i64, u64, bool)> = HashSet::new();
    let mut rows = Vec::with_capacity(batches.iter().map(|b| b.metrics.len()).sum());
    for b in batches {
        for m in b.metrics {
            let (is_nan, value) = sanitize(m.value.0);
            if seen.insert((
                b.run_id,
                &m.key,
                m.timestamp,
                m.step,
                value.to_bits(),
                is_nan,
            )) {
                rows.push(MetricRow {
                    run_id: b.run_id,
                    key: &m.key,
                    value,
                    timestamp: m.timestamp,
                    step: m.step,
                    is_nan,
                });
            }
        }
    }
    rows
}

/// The newest row per (run, key), in order of first appearance; the upsert only replaces an
/// older stored one. The first of equally new rows wins, as it would in separate requests.
fn newest_per_key<'a>(rows: &[MetricRow<'a>]) -> Vec<MetricRow<'a>> {
    let mut latest: Vec<MetricRow<'a>> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for m in rows {
        match index.get(&(m.run_id, m.key)) {
            Some(&i) => {
                if m.newer_than(&latest[i]) {
                    latest[i] = m.clone();
                }
            }
            None => {
                index.insert((m.run_id, m.key), latest.len());
                latest.push(m.clone());
            }
        }
    }
    latest
}

/// PostgreSQL: rows sorted into lock order, one JSON-bound statement for both tables.
async fn log_metrics_pg(conn: &mut AnyConnection, b: &RunMetrics<'_>) -> Result<()> {
    let mut rows = metric_rows(std::slice::from_ref(b));
    rows.sort_unstable_by(|a, b| {
        (a.key, a.timestamp, a.step, a.is_nan)
            .cmp(&(b.key, b.timestamp, b.step, b.is_nan))
            .then(a.value.total_cmp(&b.value))
    });
    let mut latest = newest_per_key(&rows);
    latest.sort_unstable_by(|a, b| a.key.cmp(b.key));
    insert_metrics_json(conn, &rows, &latest, b.run_id).await
}

async fn log_model_metrics(conn: &mut AnyConnection, batches: &[RunMetrics<'_>]) -> Result<()> {
    // Metrics that name a logged model are also that model's metrics.
    let mut model_seen = HashSet::new();
    let model_rows: Vec<(&RunMetrics<'_>, &Metric)> = batches
        .iter()
        .flat_map(|b| b.metrics.iter().map(move |m| (b, m)))
        .filter(|(_, m)| m.model_id.is_some())
        .filter(|(b, m)| {
            model_seen.insert((
                b.run_id,
                m.model_id.as_deref(),
                m.key.as_str(),
                m.timestamp,
                m.step,
            ))
        })
        .collect();
    if model_rows.is_empty() {
        return Ok(());
    }
    insert_rows(
        conn,
        "INSERT INTO logged_model_metrics (model_id, metric_name, metric_timestamp_ms, \
         metric_step, metric_value, experiment_id, run_id, dataset_uuid, dataset_name, \
         dataset_digest) VALUES ",
        " ON CONFLICT DO NOTHING",
        10,
        Repeats::Harmless,
        &model_rows,
        |q, (b, m)| {
            q.arg(m.model_id.clone());
            q.arg(m.key.as_str());
            q.arg(m.timestamp);
            q.arg(m.step);
            q.arg(sanitize(m.value.0).1);
            q.arg(b.experiment_id);
            q.arg(b.run_id);
            q.arg(Option::<String>::None);
            q.arg(m.dataset_name.clone());
            q.arg(m.dataset_digest.clone());
        },
    )
    .await
    .map(|_| ())
}

async fn set_tags(conn: &mut AnyConnection, run_id: &str, tags: &[RunTag]) -> Result<()> {
    let deduped = dedupe_last(tags.iter().map(|t| (t.key.as_str(), t.value.as_str())));
    let (name, others): (Vec<_>, Vec<_>) = deduped
        .into_iter()
        .partition(|(k, _)| *k == MLFLOW_RUN_NAME);
    upsert_run_tags(conn, run_id, &others).await?;
    // MLflow routes `mlflow.runName` through update_run_info, which ignores an empty name.
    if let Some((_, name)) = name.first().filter(|(_, v)| !v.is_empty()) {
        set_run_name(conn, run_id, name).await?;
    }
    Ok(())
}

impl SqlStore {
    pub(crate) async fn log_batch_impl(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
        single_param: bool,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let run = fetch_run(&mut tx, run_id).await?;
        run.check_active()?;
        if !params.is_empty() {
            log_params(&mut tx, run_id, params, single_param).await?;
        }
        if !metrics.is_empty() {
            let batch = RunMetrics {
                run_id,
                experiment_id: run.experiment_id,
                metrics,
            };
            log_metrics(&mut tx, std::slice::from_ref(&batch)).await?;
        }
        if !tags.is_empty() {
            set_tags(&mut tx, run_id, tags).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn delete_tag_impl(&self, run_id: &str, key: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        fetch_run(&mut tx, run_id).await?.check_active()?;
        let mut q = Sql::new("DELETE FROM tags WHERE run_uuid = ");
        q.bind(run_id).push(" AND key = ").bind(key);
        let done = q.query().execute(&mut *tx).await.map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(MlflowError::not_found(format!(
                "No tag with name: {key} in run with id {run_id}"
            )));
        }
        tx.commit().await.map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_plan_covers_every_row_with_few_shapes() {
        assert_eq!(chunk_plan(0), Vec::<usize>::new());
        assert_eq!(
            chunk_plan(1000),
            vec![256, 256, 256, 64, 64, 64, 16, 16, 4, 4]
        );
        assert_eq!(chunk_plan(7).iter().sum::<usize>(), 7);
    }

    #[test]
    fn padded_plan_is_one_statement_per_1024_rows() {
        assert_eq!(padded_plan(0), Vec::<usize>::new());
        assert_eq!(padded_plan(1), vec![1]);
        assert_eq!(padded_plan(10), vec![16]);
        assert_eq!(padded_plan(100), vec![128]);
        assert_eq!(padded_plan(1000), vec![1024]);
        assert_eq!(padded_plan(1025), vec![1024, 1]);
        assert_eq!(padded_plan(3000), vec![1024, 1024, 1024]);
    }

    #[test]
    fn sanitize_matches_mlflow() {
        assert_eq!(sanitize(f64::NAN), (true, 0.0));
        assert_eq!(sanitize(f64::INFINITY), (false, 1.7976931348623157e308));
        assert_eq!(
            sanitize(f64::NEG_INFINITY),
            (false, -1.7976931348623157e308)
        );
        assert_eq!(sanitize(0.5), (false, 0.5));
    }

    #[test]
    fn batch_param_conflict_repr() {
        assert_eq!(
            non_matching_repr(&[("p", "1".into(), "2'\"x")]),
            "[{'key': 'p', 'old_value': '1', 'new_value': '2\\'\"x'}]"
        );
    }
}
