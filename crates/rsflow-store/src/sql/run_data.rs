//! Loading what a `Run` carries besides its info, for one run or a page of runs: latest
//! metrics, params, tags, dataset inputs (with their tags), model inputs and outputs.

use std::collections::HashMap;

use rsflow_core::wire::{
    Dataset, DatasetInput, KeyValue, Metric, MetricValue, ModelInput, ModelOutput, Run, RunData,
    RunInputs, RunOutputs,
};
use rsflow_core::{MlflowError, Result};
use sqlx::{AnyConnection, Row as _};

use super::query::{Sql, db_err};
use super::runs::RunRow;

/// Rows per IN list when loading children of many runs.
const IN_CHUNK: usize = 500;

/// Everything a `Run` carries besides its info, for several runs at once.
#[derive(Default)]
pub(crate) struct RunChildren {
    pub metrics: HashMap<String, Vec<Metric>>,
    pub params: HashMap<String, Vec<KeyValue>>,
    pub tags: HashMap<String, Vec<KeyValue>>,
    pub datasets: HashMap<String, Vec<DatasetInput>>,
    pub model_inputs: HashMap<String, Vec<ModelInput>>,
    pub model_outputs: HashMap<String, Vec<ModelOutput>>,
}

async fn fetch_kv(
    conn: &mut AnyConnection,
    table: &str,
    ids: &[String],
) -> Result<HashMap<String, Vec<KeyValue>>> {
    let mut out: HashMap<String, Vec<KeyValue>> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut q = Sql::new(&format!(
            "SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN "
        ));
        q.bind_list(chunk);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let run: String = r.try_get(0).map_err(db_err)?;
            out.entry(run).or_default().push(KeyValue {
                key: r.try_get(1).map_err(db_err)?,
                value: r
                    .try_get::<Option<String>, _>(2)
                    .map_err(db_err)?
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// SQLite: params, tags and whether dataset inputs, model outputs or model inputs exist, in
/// one query with one row per run. Every query costs a hop through sqlx's worker thread and
/// every row its conversion to an `AnyRow`; a page of runs with ten tags each used to be ten
/// times as many rows as runs, and five queries where two are needed when a run has no inputs
/// (the usual case). The ids go in as one JSON array, so the statement is the same for any
/// page and stays prepared. Each run's params and tags keep the scan order of their run_uuid
/// index, the order the row-per-tag query returned.
const SQLITE_KV_AND_EDGES: &str = "SELECT ids.value, \
     (SELECT json_group_array(json_array(key, value)) FROM params \
      WHERE run_uuid = ids.value), \
     (SELECT json_group_array(json_array(key, value)) FROM tags \
      WHERE run_uuid = ids.value), \
     EXISTS (SELECT 1 FROM inputs WHERE destination_type = 'RUN' \
      AND destination_id = ids.value), \
     EXISTS (SELECT 1 FROM inputs WHERE source_type = 'RUN_OUTPUT' \
      AND destination_type = 'MODEL_OUTPUT' AND source_id = ids.value), \
     EXISTS (SELECT 1 FROM inputs WHERE source_type = 'RUN_INPUT' \
      AND destination_type = 'MODEL_INPUT' AND source_id = ids.value) \
     FROM json_each($1) AS ids";

/// What [`SQLITE_KV_AND_EDGES`] found: params and tags, and the runs that have each kind of
/// input or output.
#[derive(Default)]
struct KvAndEdges {
    params: HashMap<String, Vec<KeyValue>>,
    tags: HashMap<String, Vec<KeyValue>>,
    with_datasets: Vec<String>,
    with_model_outputs: Vec<String>,
    with_model_inputs: Vec<String>,
}

async fn fetch_kv_and_edges_sqlite(conn: &mut AnyConnection, ids: &[String]) -> Result<KvAndEdges> {
    let bad_json =
        |e: serde_json::Error| MlflowError::internal(format!("Cannot read a run's data: {e}"));
    let pairs = |json: String| -> Result<Vec<KeyValue>> {
        let pairs: Vec<(String, Option<String>)> = serde_json::from_str(&json).map_err(bad_json)?;
        Ok(pairs
            .into_iter()
            .map(|(key, value)| KeyValue {
                key,
                value: value.unwrap_or_default(),
            })
            .collect())
    };
    let list = serde_json::to_string(ids).map_err(bad_json)?;
    let rows = sqlx::query(SQLITE_KV_AND_EDGES)
        .bind(list)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
    let mut out = KvAndEdges::default();
    for r in rows {
        let run: String = r.try_get(0).map_err(db_err)?;
        let params = pairs(r.try_get(1).map_err(db_err)?)?;
        let tags = pairs(r.try_get(2).map_err(db_err)?)?;
        for (col, list) in [
            (3, &mut out.with_datasets),
            (4, &mut out.with_model_outputs),
            (5, &mut out.with_model_inputs),
        ] {
            if r.try_get::<i64, _>(col).map_err(db_err)? != 0 {
                list.push(run.clone());
            }
        }
        if !params.is_empty() {
            out.params.insert(run.clone(), params);
        }
        if !tags.is_empty() {
            out.tags.insert(run, tags);
        }
    }
    Ok(out)
}

/// A metric value as stored: NaN is `is_nan` with value 0.
pub(crate) fn stored_value(value: f64, is_nan: i64) -> MetricValue {
    if is_nan != 0 {
        MetricValue(f64::NAN)
    } else {
        MetricValue(value)
    }
}

async fn fetch_latest_metrics(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, Vec<Metric>>> {
    let mut out: HashMap<String, Vec<Metric>> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut q = Sql::new(
            "SELECT run_uuid, key, value, timestamp, step, CAST(is_nan AS INTEGER) \
             FROM latest_metrics WHERE run_uuid IN ",
        );
        q.bind_list(chunk);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let get = || -> std::result::Result<(String, Metric), sqlx::Error> {
                Ok((
                    r.try_get(0)?,
                    Metric {
                        key: r.try_get(1)?,
                        value: stored_value(r.try_get(2)?, r.try_get(5)?),
                        timestamp: r.try_get::<Option<i64>, _>(3)?.unwrap_or_default(),
                        step: r.try_get(4)?,
                        ..Default::default()
                    },
                ))
            };
            let (run, m) = get().map_err(db_err)?;
            out.entry(run).or_default().push(m);
        }
    }
    Ok(out)
}

/// MLflow's `_get_run_inputs`: datasets (one entry per dataset, with the input's tags).
async fn fetch_dataset_inputs(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, Vec<DatasetInput>>> {
    let mut out: HashMap<String, Vec<DatasetInput>> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut q = Sql::new(
            "SELECT inputs.destination_id, datasets.dataset_uuid, datasets.name, datasets.digest, \
             datasets.dataset_source_type, datasets.dataset_source, datasets.dataset_schema, \
             datasets.dataset_profile, input_tags.name, input_tags.value \
             FROM inputs JOIN datasets ON inputs.source_id = datasets.dataset_uuid \
             LEFT OUTER JOIN input_tags ON input_tags.input_uuid = inputs.input_uuid \
             WHERE inputs.destination_type = 'RUN' AND inputs.destination_id IN ",
        );
        q.bind_list(chunk).push(" ORDER BY inputs.destination_id");
        // Per run: dataset uuid -> index into that run's list.
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let get = || -> std::result::Result<_, sqlx::Error> {
                let run: String = r.try_get(0)?;
                let uuid: String = r.try_get(1)?;
                let dataset = Dataset {
                    name: r.try_get(2)?,
                    digest: r.try_get(3)?,
                    source_type: r.try_get(4)?,
                    source: r.try_get(5)?,
                    schema: r.try_get(6)?,
                    profile: r.try_get(7)?,
                };
                let tag_name: Option<String> = r.try_get(8)?;
                let tag_value: Option<String> = r.try_get(9)?;
                Ok((run, uuid, dataset, tag_name, tag_value))
            };
            let (run, uuid, dataset, tag_name, tag_value) = get().map_err(db_err)?;
            let list = out.entry(run.clone()).or_default();
            let i = *seen.entry((run, uuid)).or_insert_with(|| {
                list.push(DatasetInput {
                    tags: Vec::new(),
                    dataset,
                });
                list.len() - 1
            });
            if let Some(key) = tag_name {
                list[i].tags.push(KeyValue {
                    key,
                    value: tag_value.unwrap_or_default(),
                });
            }
        }
    }
    Ok(out)
}

async fn fetch_model_edges(
    conn: &mut AnyConnection,
    ids: &[String],
    outputs: bool,
) -> Result<HashMap<String, Vec<(String, i64)>>> {
    let (source_type, destination_type) = if outputs {
        ("RUN_OUTPUT", "MODEL_OUTPUT")
    } else {
        ("RUN_INPUT", "MODEL_INPUT")
    };
    let mut out: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut q =
            Sql::new("SELECT source_id, destination_id, step FROM inputs WHERE source_type = ");
        q.bind(source_type)
            .push(" AND destination_type = ")
            .bind(destination_type)
            .push(" AND source_id IN ")
            .bind_list(chunk);
        for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
            let run: String = r.try_get(0).map_err(db_err)?;
            let model: String = r.try_get(1).map_err(db_err)?;
            let step: i64 = r.try_get(2).map_err(db_err)?;
            out.entry(run).or_default().push((model, step));
        }
    }
    Ok(out)
}

/// Each run's (model id, step) edges as the wire type `f` builds.
fn map_edges<T>(
    edges: HashMap<String, Vec<(String, i64)>>,
    f: impl Fn(String, i64) -> T,
) -> HashMap<String, Vec<T>> {
    edges
        .into_iter()
        .map(|(run, v)| (run, v.into_iter().map(|(id, step)| f(id, step)).collect()))
        .collect()
}

/// Load the children of `ids`. `model_inputs` is only part of `get_run` in MLflow.
pub(crate) async fn fetch_children(
    conn: &mut AnyConnection,
    ids: &[String],
    model_inputs: bool,
) -> Result<RunChildren> {
    if ids.is_empty() {
        return Ok(RunChildren::default());
    }
    let metrics = fetch_latest_metrics(conn, ids).await?;
    let found = if conn.backend_name() == "SQLite" {
        fetch_kv_and_edges_sqlite(conn, ids).await?
    } else {
        let all = ids.to_vec();
        KvAndEdges {
            params: fetch_kv(conn, "params", ids).await?,
            tags: fetch_kv(conn, "tags", ids).await?,
            with_datasets: all.clone(),
            with_model_outputs: all.clone(),
            with_model_inputs: all,
        }
    };
    let mut c = RunChildren {
        metrics,
        params: found.params,
        tags: found.tags,
        ..Default::default()
    };
    if !found.with_datasets.is_empty() {
        c.datasets = fetch_dataset_inputs(conn, &found.with_datasets).await?;
    }
    if model_inputs && !found.with_model_inputs.is_empty() {
        let edges = fetch_model_edges(conn, &found.with_model_inputs, false).await?;
        c.model_inputs = map_edges(edges, |model_id, _| ModelInput { model_id });
    }
    if !found.with_model_outputs.is_empty() {
        let edges = fetch_model_edges(conn, &found.with_model_outputs, true).await?;
        c.model_outputs = map_edges(edges, |model_id, step| ModelOutput { model_id, step });
    }
    Ok(c)
}

/// Assemble full runs from rows and their children.
pub(crate) fn assemble(rows: Vec<RunRow>, mut c: RunChildren) -> Vec<Run> {
    rows.into_iter()
        .map(|row| {
            let id = &row.run_uuid;
            let tags = c.tags.remove(id).unwrap_or_default();
            let info = row.info(&tags);
            Run {
                info,
                data: RunData {
                    metrics: c.metrics.remove(id).unwrap_or_default(),
                    params: c.params.remove(id).unwrap_or_default(),
                    tags,
                },
                inputs: RunInputs {
                    dataset_inputs: c.datasets.remove(id).unwrap_or_default(),
                    model_inputs: c.model_inputs.remove(id).unwrap_or_default(),
                },
                outputs: Some(RunOutputs {
                    model_outputs: c.model_outputs.remove(id).unwrap_or_default(),
                }),
            }
        })
        .collect()
}
