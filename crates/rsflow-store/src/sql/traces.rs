//! The [`TraceStore`](crate::TraceStore) on MLflow's `trace_info`, `trace_tags`,
//! `trace_request_metadata`, `spans`, `assessments` and `entity_associations` tables.
//!
//! This module reads and writes trace infos (StartTraceV3 create-or-merge, v2 start/end, tags,
//! links, deletion); `traces_spans` holds `log_spans` and the span reads, `traces_assessments`
//! the assessments, `traces_search` the search.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use rsflow_core::pyfmt::repr_float;
use rsflow_core::trace::{
    Assessment, AssessmentUpdate, META_COST, META_INFO_FINALIZED, META_SESSION, META_TOKEN_USAGE,
    SpanCursor, SpanRow, TAG_ARCHIVAL_FAILURE, TAG_ARCHIVE_LOCATION, TAG_ARTIFACT_LOCATION,
    TAG_SPANS_LOCATION, TAG_TRACE_NAME, TokenUsage, TraceCost, TraceInfo, TraceSpans, TraceState,
};
use rsflow_core::wire::{Page, ViewType};
use rsflow_core::{MlflowError, Result};
use serde_json::Value;
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::experiments::{ExperimentRow, fetch_experiment, parse_experiment_id};
use super::query::{Dialect, Sql, db_err, race_err};
use super::traces_assessments;
use super::uri::append_to_uri_path;
use crate::{DeleteTraces, SearchTraces, TraceStore};

/// `MAX_CHARS_IN_TRACE_INFO_TAGS_VALUE`: the longest trace name.
pub(crate) const MAX_TRACE_NAME: usize = 4096;
/// `MAX_CHARS_IN_TRACE_INFO_METADATA`: the longest session id.
pub(crate) const MAX_SESSION_ID: usize = 250;
/// `trace_tags.key` / `value` limits (`_validate_trace_tag`).
pub(crate) const MAX_TAG_KEY: usize = 250;
pub(crate) const MAX_TAG_VALUE: usize = 8000;
/// `link-to-run` takes at most this many trace ids.
pub(crate) const MAX_TRACE_LINKS_PER_REQUEST: usize = 100;
/// Child rows are read in chunks that stay below SQLite's bound-parameter limit.
const CHILD_CHUNK: usize = 400;

/// `trace_info` columns in the order [`info_from_row`] reads them.
pub(crate) const TI_COLUMNS: &str = "t.request_id, t.experiment_id, t.timestamp_ms, \
     t.execution_time_ms, t.status, t.client_request_id, t.request_preview, t.response_preview, \
     t.trace_name, t.session_id, t.input_tokens, t.output_tokens, t.total_tokens, \
     t.cache_read_input_tokens, t.cache_creation_input_tokens, \
     t.cache_creation_input_tokens_above_1hr, t.input_cost, t.output_cost, t.total_cost";

/// The token columns in MLflow's key order (`TOKEN_COLUMN_BY_KEY`).
pub(crate) const TOKEN_COLUMNS: [&str; 6] = [
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
];
pub(crate) const COST_COLUMNS: [&str; 3] = ["input_cost", "output_cost", "total_cost"];

pub(crate) fn trace_not_found(trace_id: &str) -> MlflowError {
    MlflowError::not_found(format!("Trace with ID '{trace_id}' not found."))
}

/// `exceeds_maximum_length(name, limit)`.
pub(crate) fn too_long(name: &str, limit: usize) -> MlflowError {
    MlflowError::invalid_param(format!(
        "'{name}' exceeds the maximum length of {limit} characters"
    ))
}

fn check_length(name: &str, limit: usize, value: Option<&str>) -> Result<()> {
    match value {
        Some(v) if v.chars().count() > limit => Err(too_long(name, limit)),
        _ => Ok(()),
    }
}

pub(crate) fn validate_trace_name(value: Option<&str>) -> Result<()> {
    check_length("Trace name", MAX_TRACE_NAME, value)
}

pub(crate) fn validate_session_id(value: Option<&str>) -> Result<()> {
    check_length("Session ID", MAX_SESSION_ID, value)
}

/// The first `limit` characters of `s`.
pub(crate) fn truncate_chars(s: &str, limit: usize) -> &str {
    match s.char_indices().nth(limit) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `_validate_trace_tag`: tag-name rules, key ≤250 (400), value truncated to 8000.
pub(crate) fn validate_trace_tag(key: &str, value: &str) -> Result<String> {
    rsflow_core::validation::tag_name(key)?;
    if key.chars().count() > MAX_TAG_KEY {
        return Err(too_long("key", MAX_TAG_KEY));
    }
    Ok(truncate_chars(value, MAX_TAG_VALUE).to_string())
}

/// The trace's promoted analytics values (the `trace_info` columns behind session, token usage
/// and cost metadata).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Analytics {
    pub session_id: Option<String>,
    /// `None`: the metadata key was absent; `Some(columns)`: the columns it names.
    pub tokens: Vec<(&'static str, Option<i64>)>,
    pub costs: Vec<(&'static str, Option<f64>)>,
}

/// `token_count_or_none`: a finite integral number within 64 bits.
fn token_count(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// `finite_float_or_none`.
fn finite_float(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    f.is_finite().then_some(f)
}

fn json_object(text: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// `analytics_columns_from_metadata`: only keys present in the metadata set columns.
pub(crate) fn analytics_from_metadata(meta: &BTreeMap<String, String>) -> Result<Analytics> {
    let mut out = Analytics::default();
    if let Some(s) = meta.get(META_SESSION) {
        validate_session_id(Some(s))?;
        out.session_id = Some(s.clone());
    }
    if let Some(text) = meta.get(META_TOKEN_USAGE) {
        let obj = json_object(text);
        for col in TOKEN_COLUMNS {
            if let Some(v) = obj.get(col) {
                out.tokens.push((col, token_count(v)));
            }
        }
    }
    if let Some(text) = meta.get(META_COST) {
        let obj = json_object(text);
        for col in COST_COLUMNS {
            if let Some(v) = obj.get(col) {
                out.costs.push((col, finite_float(v)));
            }
        }
    }
    Ok(out)
}

/// Whether a metadata key lives in `trace_info` columns instead of `trace_request_metadata`.
pub(crate) fn is_promoted(key: &str) -> bool {
    matches!(key, META_SESSION | META_TOKEN_USAGE | META_COST)
}

/// Python's `json.dumps` of `{key: int}` in key order.
fn dumps_ints(pairs: &[(&str, i64)]) -> String {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    format!("{{{}}}", body.join(", "))
}

fn dumps_floats(pairs: &[(&str, f64)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("\"{k}\": {}", repr_float(*v)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

pub(crate) fn token_usage_json(t: &TokenUsage) -> Option<String> {
    let pairs: Vec<(&str, i64)> = TOKEN_COLUMNS
        .iter()
        .zip([
            t.input_tokens,
            t.output_tokens,
            t.total_tokens,
            t.cache_read_input_tokens,
            t.cache_creation_input_tokens,
            t.cache_creation_input_tokens_above_1hr,
        ])
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    (!pairs.is_empty()).then(|| dumps_ints(&pairs))
}

pub(crate) fn cost_json(c: &TraceCost) -> Option<String> {
    let pairs: Vec<(&str, f64)> = COST_COLUMNS
        .iter()
        .zip([c.input_cost, c.output_cost, c.total_cost])
        .filter_map(|(k, v)| v.filter(|f| f.is_finite()).map(|v| (*k, v)))
        .collect();
    (!pairs.is_empty()).then(|| dumps_floats(&pairs))
}

/// A `trace_info` row with its promoted columns, before tags, metadata and assessments.
#[derive(Debug, Clone, Default)]
pub(crate) struct InfoRow {
    pub info: TraceInfo,
    pub trace_name: Option<String>,
    pub session_id: Option<String>,
    pub tokens: TokenUsage,
    pub cost: TraceCost,
}

impl InfoRow {
    pub(crate) fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }
    pub(crate) fn has_cost(&self) -> bool {
        !self.cost.is_empty()
    }
}

/// A row in [`TI_COLUMNS`] order, from the `Any` driver or SQLite's own.
pub(crate) fn info_from_row<'r, R>(r: &'r R) -> Result<InfoRow>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let get = || -> std::result::Result<InfoRow, sqlx::Error> {
        let status: String = r.try_get(4)?;
        Ok(InfoRow {
            info: TraceInfo {
                trace_id: r.try_get(0)?,
                experiment_id: r.try_get::<i64, _>(1)?.to_string(),
                request_time_ms: r.try_get(2)?,
                execution_duration_ms: r.try_get(3)?,
                state: TraceState::parse(&status).unwrap_or_default(),
                client_request_id: r.try_get(5)?,
                request_preview: r.try_get(6)?,
                response_preview: r.try_get(7)?,
                ..TraceInfo::default()
            },
            trace_name: r.try_get(8)?,
            session_id: r.try_get(9)?,
            tokens: TokenUsage {
                input_tokens: r.try_get(10)?,
                output_tokens: r.try_get(11)?,
                total_tokens: r.try_get(12)?,
                cache_read_input_tokens: r.try_get(13)?,
                cache_creation_input_tokens: r.try_get(14)?,
                cache_creation_input_tokens_above_1hr: r.try_get(15)?,
            },
            cost: TraceCost {
                input_cost: r.try_get(16)?,
                output_cost: r.try_get(17)?,
                total_cost: r.try_get(18)?,
            },
        })
    };
    get().map_err(db_err)
}

/// Tags, metadata (with the promoted columns rebuilt) and assessments of trace rows, as
/// MLflow's `_build_trace_infos_from_rows` assembles them.
pub(crate) async fn complete_infos(
    conn: &mut AnyConnection,
    rows: Vec<InfoRow>,
) -> Result<Vec<TraceInfo>> {
    let ids: Vec<String> = rows.iter().map(|r| r.info.trace_id.clone()).collect();
    let mut tags: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut meta: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut assessments: HashMap<String, Vec<Assessment>> = HashMap::new();
    for chunk in ids.chunks(CHILD_CHUNK) {
        for (table, out) in [
            ("trace_tags", &mut tags),
            ("trace_request_metadata", &mut meta),
        ] {
            let mut q = Sql::new(&format!(
                "SELECT request_id, \"key\", value FROM {table} WHERE request_id IN "
            ));
            q.bind_list(chunk);
            for r in q.query().fetch_all(&mut *conn).await.map_err(db_err)? {
                let id: String = r.try_get(0).map_err(db_err)?;
                let key: String = r.try_get(1).map_err(db_err)?;
                let value: Option<String> = r.try_get(2).map_err(db_err)?;
                out.entry(id)
                    .or_default()
                    .insert(key, value.unwrap_or_default());
            }
        }
        for a in traces_assessments::fetch_for_traces(conn, chunk).await? {
            assessments.entry(a.trace_id.clone()).or_default().push(a);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let id = row.info.trace_id.clone();
            let t = tags.remove(&id).unwrap_or_default();
            let m = meta.remove(&id).unwrap_or_default();
            let a = assessments.remove(&id).unwrap_or_default();
            assemble_info(row, t, m, a)
        })
        .collect())
}

/// A trace's info from its row, tags, metadata (with the promoted columns rebuilt) and
/// assessments.
pub(crate) fn assemble_info(
    row: InfoRow,
    mut t: BTreeMap<String, String>,
    mut m: BTreeMap<String, String>,
    assessments: Vec<Assessment>,
) -> TraceInfo {
    let mut info = row.info;
    t.remove(TAG_TRACE_NAME);
    if let Some(name) = row.trace_name {
        t.insert(TAG_TRACE_NAME.to_string(), name);
    }
    m.retain(|k, _| !is_promoted(k));
    if let Some(s) = row.session_id {
        m.insert(META_SESSION.to_string(), s);
    }
    if let Some(j) = token_usage_json(&row.tokens) {
        m.insert(META_TOKEN_USAGE.to_string(), j);
    }
    if let Some(j) = cost_json(&row.cost) {
        m.insert(META_COST.to_string(), j);
    }
    info.tags = t;
    info.trace_metadata = m;
    info.assessments = assessments;
    info
}

/// Extra columns after [`TI_COLUMNS`] that carry a trace's tags and metadata as JSON arrays
/// of `[key, value]` pairs (NULL or `[]` when none) and its number of assessments, so that a
/// page of traces is one query.
pub(crate) fn children_columns(dialect: Dialect) -> String {
    let agg = |table: &str| match dialect {
        Dialect::Sqlite => format!(
            "(SELECT json_group_array(json_array(c.\"key\", c.value)) FROM {table} c \
             WHERE c.request_id = t.request_id)"
        ),
        Dialect::Postgres => format!(
            "(SELECT json_agg(json_build_array(c.\"key\", c.value))::text FROM {table} c \
             WHERE c.request_id = t.request_id)"
        ),
        Dialect::Mysql => format!(
            "(SELECT CAST(JSON_ARRAYAGG(JSON_ARRAY(c.\"key\", c.value)) AS CHAR) FROM {table} c \
             WHERE c.request_id = t.request_id)"
        ),
    };
    format!(
        ", {}, {}, (SELECT COUNT(*) FROM assessments a WHERE a.trace_id = t.request_id)",
        agg("trace_tags"),
        agg("trace_request_metadata")
    )
}

/// `[[key, value], ...]` (or NULL) as a map; NULL values become "".
fn kv_json(text: Option<&str>) -> Result<BTreeMap<String, String>> {
    let Some(text) = text else {
        return Ok(BTreeMap::new());
    };
    let pairs: Vec<(String, Option<String>)> = serde_json::from_str(text)
        .map_err(|e| MlflowError::internal(format!("bad aggregated key/value JSON: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

type KeyValues = BTreeMap<String, String>;

/// A page of rows in [`TI_COLUMNS`] + [`children_columns`] order, before its assessments:
/// each trace with its tags and metadata, and the ids of the traces that have assessments.
pub(crate) struct RowsWithChildren {
    /// Each trace's row, tags and metadata.
    parts: Vec<(InfoRow, KeyValues, KeyValues)>,
    pub with_assessments: Vec<String>,
}

/// Rows in [`TI_COLUMNS`] + [`children_columns`] order (from the `Any` driver or SQLite's own).
pub(crate) fn rows_with_children<'r, R>(rows: &'r [R]) -> Result<RowsWithChildren>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let n = TI_COLUMNS.split(',').count();
    let mut parts = Vec::with_capacity(rows.len());
    let mut with_assessments: Vec<String> = Vec::new();
    for r in rows {
        let row = info_from_row(r)?;
        let tags = kv_json(
            r.try_get::<Option<String>, _>(n)
                .map_err(db_err)?
                .as_deref(),
        )?;
        let meta = kv_json(
            r.try_get::<Option<String>, _>(n + 1)
                .map_err(db_err)?
                .as_deref(),
        )?;
        let count: i64 = r.try_get(n + 2).map_err(db_err)?;
        if count > 0 {
            with_assessments.push(row.info.trace_id.clone());
        }
        parts.push((row, tags, meta));
    }
    Ok(RowsWithChildren {
        parts,
        with_assessments,
    })
}

impl RowsWithChildren {
    /// The traces, completed as [`complete_infos`] does; `conn` reads the assessments of the
    /// traces that have some (it is not used when none has).
    pub(crate) async fn into_infos(
        self,
        conn: Option<&mut AnyConnection>,
    ) -> Result<Vec<TraceInfo>> {
        let mut assessments: HashMap<String, Vec<Assessment>> = HashMap::new();
        if let Some(conn) = conn {
            for chunk in self.with_assessments.chunks(CHILD_CHUNK) {
                for a in traces_assessments::fetch_for_traces(conn, chunk).await? {
                    assessments.entry(a.trace_id.clone()).or_default().push(a);
                }
            }
        }
        Ok(self
            .parts
            .into_iter()
            .map(|(row, t, m)| {
                let a = assessments.remove(&row.info.trace_id).unwrap_or_default();
                assemble_info(row, t, m, a)
            })
            .collect())
    }
}

/// The row of one trace, locked for the rest of the transaction on PostgreSQL.
pub(crate) async fn fetch_info_row(
    conn: &mut AnyConnection,
    dialect: Dialect,
    trace_id: &str,
    lock: bool,
) -> Result<Option<InfoRow>> {
    let mut q = Sql::new(&format!(
        "SELECT {TI_COLUMNS} FROM trace_info t WHERE t.request_id = "
    ));
    q.bind(trace_id);
    if lock && dialect == Dialect::Postgres {
        q.push(" FOR UPDATE");
    }
    match q.query().fetch_optional(&mut *conn).await.map_err(db_err)? {
        Some(r) => Ok(Some(info_from_row(&r)?)),
        None => Ok(None),
    }
}

pub(crate) async fn get_info(conn: &mut AnyConnection, trace_id: &str) -> Result<TraceInfo> {
    let row = fetch_info_row(conn, Dialect::Sqlite, trace_id, false)
        .await?
        .ok_or_else(|| trace_not_found(trace_id))?;
    Ok(complete_infos(conn, vec![row])
        .await?
        .pop()
        .unwrap_or_default())
}

pub(crate) async fn trace_exists(conn: &mut AnyConnection, trace_id: &str) -> Result<bool> {
    let mut q = Sql::new("SELECT 1 FROM trace_info WHERE request_id = ");
    q.bind(trace_id);
    Ok(q.query()
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .is_some())
}

pub(crate) async fn upsert_kv(
    conn: &mut AnyConnection,
    table: &str,
    trace_id: &str,
    key: &str,
    value: &str,
) -> Result<()> {
    let mut q = Sql::new(&format!(
        "INSERT INTO {table} (\"key\", value, request_id) VALUES ("
    ));
    q.bind(key)
        .push(", ")
        .bind(value)
        .push(", ")
        .bind(trace_id)
        .push(") ON CONFLICT (\"key\", request_id) DO UPDATE SET value = excluded.value");
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// `mlflow.artifactLocation` of a trace: `<experiment artifact location>/traces/<id>/artifacts`.
pub(crate) fn trace_artifact_location(exp: &ExperimentRow, trace_id: &str) -> Result<String> {
    append_to_uri_path(&exp.artifact_location, &["traces", trace_id, "artifacts"])
}

/// Keys the tag routes refuse (`mlflow.trace.archivalFailure` may still be deleted).
fn immutable_tag(key: &str) -> bool {
    matches!(
        key,
        TAG_SPANS_LOCATION | TAG_ARCHIVE_LOCATION | TAG_ARCHIVAL_FAILURE
    )
}

/// Set the analytics columns that `a` names.
fn push_analytics_sets(q: &mut Sql, a: &Analytics, first: &mut bool) {
    let mut sep = |q: &mut Sql| {
        if !*first {
            q.push(", ");
        }
        *first = false;
    };
    if let Some(s) = &a.session_id {
        sep(q);
        q.push("session_id = ").bind(s.as_str());
    }
    for (col, v) in &a.tokens {
        sep(q);
        q.push(&format!("{col} = ")).bind(*v);
    }
    for (col, v) in &a.costs {
        sep(q);
        q.push(&format!("{col} = ")).bind(*v);
    }
}

impl SqlStore {
    async fn start_trace_impl(&self, info: &TraceInfo) -> Result<TraceInfo> {
        let trace_name = info.tags.get(TAG_TRACE_NAME).cloned();
        validate_trace_name(trace_name.as_deref())?;
        let analytics = analytics_from_metadata(&info.trace_metadata)?;
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, &info.experiment_id, ViewType::All).await?;
        exp.check_active()?;
        let trace_id = info.trace_id.as_str();
        let artifact_location = trace_artifact_location(&exp, trace_id)?;
        let mut tags: Vec<(&str, String)> = info
            .tags
            .iter()
            .filter(|(k, _)| k.as_str() != TAG_TRACE_NAME)
            .map(|(k, v)| (k.as_str(), truncate_chars(v, MAX_TAG_VALUE).to_string()))
            .collect();
        tags.push((TAG_ARTIFACT_LOCATION, artifact_location));
        let mut metadata: Vec<(&str, String)> = info
            .trace_metadata
            .iter()
            .filter(|(k, _)| !is_promoted(k))
            .map(|(k, v)| (k.as_str(), truncate_chars(v, MAX_TAG_VALUE).to_string()))
            .collect();
        metadata.retain(|(k, _)| *k != META_INFO_FINALIZED);
        metadata.push((META_INFO_FINALIZED, "true".to_string()));
        metadata.sort();

        let existing = fetch_info_row(&mut tx, self.dialect, trace_id, true).await?;
        if existing.is_none() {
            let mut q = Sql::new(
                "INSERT INTO trace_info (request_id, experiment_id, timestamp_ms, \
                 execution_time_ms, status, client_request_id, request_preview, \
                 response_preview, trace_name, db_payload_generation) VALUES (",
            );
            q.bind(trace_id)
                .push(", ")
                .bind(exp.id)
                .push(", ")
                .bind(info.request_time_ms)
                .push(", ")
                .bind(info.execution_duration_ms)
                .push(", ")
                .bind(info.state.as_str())
                .push(", ")
                .bind(info.client_request_id.clone())
                .push(", ")
                .bind(info.request_preview.clone())
                .push(", ")
                .bind(info.response_preview.clone())
                .push(", ")
                .bind(trace_name.clone())
                .push(", 0)");
            q.query().execute(&mut *tx).await.map_err(race_err)?;
            let mut first = true;
            let mut q = Sql::new("UPDATE trace_info SET ");
            push_analytics_sets(&mut q, &analytics, &mut first);
            if !first {
                q.push(" WHERE request_id = ").bind(trace_id);
                q.query().execute(&mut *tx).await.map_err(db_err)?;
            }
        } else {
            let existing_tags = {
                let mut q = Sql::new("SELECT value FROM trace_tags WHERE request_id = ");
                q.bind(trace_id)
                    .push(" AND \"key\" = ")
                    .bind(TAG_SPANS_LOCATION);
                q.query()
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .map(|r| r.try_get::<Option<String>, _>(0))
                    .transpose()
                    .map_err(db_err)?
                    .flatten()
            };
            if existing_tags.as_deref() == Some("ARCHIVE_REPO") {
                return Err(MlflowError::new(
                    rsflow_core::ErrorCode::InvalidState,
                    format!("Cannot update traces that are no longer DB-backed: '{trace_id}'."),
                ));
            }
            let mut q = Sql::new("UPDATE trace_info SET experiment_id = ");
            q.bind(exp.id)
                .push(", timestamp_ms = ")
                .bind(info.request_time_ms)
                .push(", execution_time_ms = ")
                .bind(info.execution_duration_ms)
                .push(", status = ")
                .bind(info.state.as_str())
                .push(", client_request_id = ")
                .bind(info.client_request_id.clone())
                .push(", db_payload_generation = db_payload_generation + 1");
            if trace_name.is_some() {
                q.push(", trace_name = ").bind(trace_name.clone());
            }
            if let Some(p) = &info.request_preview {
                q.push(", request_preview = ").bind(p.as_str());
            }
            if let Some(p) = &info.response_preview {
                q.push(", response_preview = ").bind(p.as_str());
            }
            let mut first = false;
            push_analytics_sets(&mut q, &analytics, &mut first);
            q.push(" WHERE request_id = ").bind(trace_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
            for (table, col) in [("spans", "trace_id"), ("assessments", "trace_id")] {
                let mut q = Sql::new(&format!("UPDATE {table} SET experiment_id = "));
                q.bind(exp.id);
                if table == "assessments" {
                    q.push(", trace_timestamp_ms = ").bind(info.request_time_ms);
                }
                q.push(&format!(" WHERE {col} = ")).bind(trace_id);
                q.query().execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        for (k, v) in &tags {
            upsert_kv(&mut tx, "trace_tags", trace_id, k, v).await?;
        }
        for (k, v) in &metadata {
            upsert_kv(&mut tx, "trace_request_metadata", trace_id, k, v).await?;
        }
        for a in &info.assessments {
            let mut a = a.clone();
            a.trace_id = trace_id.to_string();
            traces_assessments::upsert(&mut tx, &a, exp.id, info.request_time_ms).await?;
        }
        let stored = get_info(&mut tx, trace_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn start_trace_v2_impl(
        &self,
        experiment_id: &str,
        timestamp_ms: i64,
        request_metadata: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<TraceInfo> {
        let trace_name = tags.get(TAG_TRACE_NAME).cloned();
        validate_trace_name(trace_name.as_deref())?;
        let analytics = analytics_from_metadata(request_metadata)?;
        let mut tx = self.write_tx().await?;
        let exp = fetch_experiment(&mut tx, experiment_id, ViewType::All).await?;
        exp.check_active()?;
        let trace_id = uuid::Uuid::new_v4().simple().to_string();
        let mut q = Sql::new(
            "INSERT INTO trace_info (request_id, experiment_id, timestamp_ms, execution_time_ms, \
             status, trace_name, db_payload_generation) VALUES (",
        );
        q.bind(trace_id.as_str())
            .push(", ")
            .bind(exp.id)
            .push(", ")
            .bind(timestamp_ms)
            .push(", NULL, ")
            .bind(TraceState::InProgress.as_str())
            .push(", ")
            .bind(trace_name)
            .push(", 0)");
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let mut first = true;
        let mut q = Sql::new("UPDATE trace_info SET ");
        push_analytics_sets(&mut q, &analytics, &mut first);
        if !first {
            q.push(" WHERE request_id = ").bind(trace_id.as_str());
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        for (k, v) in tags.iter().filter(|(k, _)| k.as_str() != TAG_TRACE_NAME) {
            let v = truncate_chars(v, MAX_TAG_VALUE);
            upsert_kv(&mut tx, "trace_tags", &trace_id, k, v).await?;
        }
        let loc = trace_artifact_location(&exp, &trace_id)?;
        upsert_kv(
            &mut tx,
            "trace_tags",
            &trace_id,
            TAG_ARTIFACT_LOCATION,
            &loc,
        )
        .await?;
        for (k, v) in request_metadata.iter().filter(|(k, _)| !is_promoted(k)) {
            let v = truncate_chars(v, MAX_TAG_VALUE);
            upsert_kv(&mut tx, "trace_request_metadata", &trace_id, k, v).await?;
        }
        let stored = get_info(&mut tx, &trace_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn end_trace_v2_impl(
        &self,
        request_id: &str,
        timestamp_ms: i64,
        state: TraceState,
        request_metadata: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<TraceInfo> {
        let trace_name = tags.get(TAG_TRACE_NAME).cloned();
        validate_trace_name(trace_name.as_deref())?;
        let analytics = analytics_from_metadata(request_metadata)?;
        let mut tx = self.write_tx().await?;
        let row = fetch_info_row(&mut tx, self.dialect, request_id, true)
            .await?
            .ok_or_else(|| trace_not_found(request_id))?;
        let mut q = Sql::new("UPDATE trace_info SET execution_time_ms = ");
        q.bind(timestamp_ms - row.info.request_time_ms)
            .push(", status = ")
            .bind(state.as_v2_str());
        if trace_name.is_some() {
            q.push(", trace_name = ").bind(trace_name);
        }
        let mut first = false;
        push_analytics_sets(&mut q, &analytics, &mut first);
        q.push(" WHERE request_id = ").bind(request_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        for (k, v) in request_metadata.iter().filter(|(k, _)| !is_promoted(k)) {
            let v = truncate_chars(v, MAX_TAG_VALUE);
            upsert_kv(&mut tx, "trace_request_metadata", request_id, k, v).await?;
        }
        for (k, v) in tags.iter().filter(|(k, _)| k.as_str() != TAG_TRACE_NAME) {
            let v = truncate_chars(v, MAX_TAG_VALUE);
            upsert_kv(&mut tx, "trace_tags", request_id, k, v).await?;
        }
        let stored = get_info(&mut tx, request_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn batch_get_trace_infos_impl(
        &self,
        trace_ids: &[String],
        experiment_ids: &[String],
    ) -> Result<Vec<TraceInfo>> {
        let mut exp_ids = Vec::new();
        for e in experiment_ids {
            if let (Some(id), _) = parse_experiment_id(e)? {
                exp_ids.push(id);
            }
        }
        if !experiment_ids.is_empty() && exp_ids.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.read_tx().await?;
        let mut rows = Vec::new();
        for chunk in trace_ids.chunks(CHILD_CHUNK) {
            let mut q = Sql::new(&format!(
                "SELECT {TI_COLUMNS} FROM trace_info t WHERE t.request_id IN "
            ));
            q.bind_list(chunk);
            if !exp_ids.is_empty() {
                q.push(" AND t.experiment_id IN ").bind_list(&exp_ids);
            }
            for r in q.query().fetch_all(&mut *tx).await.map_err(db_err)? {
                rows.push(info_from_row(&r)?);
            }
        }
        let mut by_id: HashMap<String, TraceInfo> = complete_infos(&mut tx, rows)
            .await?
            .into_iter()
            .map(|i| (i.trace_id.clone(), i))
            .collect();
        Ok(trace_ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn delete_traces_impl(&self, req: &DeleteTraces) -> Result<i64> {
        if req.max_timestamp_millis.is_none() && req.trace_ids.is_empty() {
            return Err(MlflowError::invalid_param(
                "Either `max_timestamp_millis` or `trace_ids` must be specified.",
            ));
        }
        if req.max_timestamp_millis.is_some() && !req.trace_ids.is_empty() {
            return Err(MlflowError::invalid_param(
                "Only one of `max_timestamp_millis` and `trace_ids` can be specified.",
            ));
        }
        if !req.trace_ids.is_empty() && req.max_traces.is_some() {
            return Err(MlflowError::invalid_param(
                "`max_traces` can't be specified if `trace_ids` is specified.",
            ));
        }
        if let Some(n) = req.max_traces
            && n <= 0
        {
            return Err(MlflowError::invalid_param(format!(
                "`max_traces` must be a positive integer, received {n}."
            )));
        }
        let (exp_id, _) = parse_experiment_id(&req.experiment_id)?;
        let Some(exp_id) = exp_id else {
            return Ok(0);
        };
        let mut tx = self.write_tx().await?;
        let mut selected: Vec<String> = Vec::new();
        let chunks: Vec<&[String]> = if req.trace_ids.is_empty() {
            vec![&[]]
        } else {
            req.trace_ids.chunks(CHILD_CHUNK).collect()
        };
        for chunk in chunks {
            let mut q = Sql::new("SELECT request_id FROM trace_info WHERE experiment_id = ");
            q.bind(exp_id);
            if let Some(ts) = req.max_timestamp_millis {
                q.push(" AND timestamp_ms <= ").bind(ts);
            }
            if !chunk.is_empty() {
                q.push(" AND request_id IN ").bind_list(chunk);
            }
            q.push(" ORDER BY timestamp_ms, request_id");
            if let Some(n) = req.max_traces {
                q.push(" LIMIT ").bind(n);
            }
            if self.dialect == Dialect::Postgres {
                q.push(" FOR UPDATE");
            }
            for r in q.query().fetch_all(&mut *tx).await.map_err(db_err)? {
                selected.push(r.try_get(0).map_err(db_err)?);
            }
        }
        let mut deleted = 0i64;
        for chunk in selected.chunks(CHILD_CHUNK) {
            // Children first: a database written by MLflow may run without FK enforcement.
            for (table, col) in [
                ("trace_tags", "request_id"),
                ("trace_request_metadata", "request_id"),
                ("assessments", "trace_id"),
                ("spans", "trace_id"),
            ] {
                let mut q = Sql::new(&format!("DELETE FROM {table} WHERE {col} IN "));
                q.bind_list(chunk);
                q.query().execute(&mut *tx).await.map_err(db_err)?;
            }
            let mut q = Sql::new("DELETE FROM review_queue_items WHERE item_type = ");
            q.bind("trace").push(" AND item_id IN ").bind_list(chunk);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
            let mut q = Sql::new("DELETE FROM trace_info WHERE request_id IN ");
            q.bind_list(chunk);
            deleted += q
                .query()
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected() as i64;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(deleted)
    }

    async fn set_trace_tag_impl(&self, trace_id: &str, key: &str, value: &str) -> Result<()> {
        if immutable_tag(key) {
            return Err(MlflowError::invalid_param(format!(
                "Tag '{key}' is immutable and cannot be set on a trace."
            )));
        }
        let value = validate_trace_tag(key, value)?;
        if key == TAG_TRACE_NAME {
            validate_trace_name(Some(&value))?;
        }
        let mut tx = self.write_tx().await?;
        if fetch_info_row(&mut tx, self.dialect, trace_id, true)
            .await?
            .is_none()
        {
            return Err(trace_not_found(trace_id));
        }
        if key == TAG_TRACE_NAME {
            let mut q = Sql::new("UPDATE trace_info SET trace_name = ");
            q.bind(value).push(" WHERE request_id = ").bind(trace_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        } else {
            upsert_kv(&mut tx, "trace_tags", trace_id, key, &value).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn delete_trace_tag_impl(&self, trace_id: &str, key: &str) -> Result<()> {
        if matches!(key, TAG_SPANS_LOCATION | TAG_ARCHIVE_LOCATION) {
            return Err(MlflowError::invalid_param(format!(
                "Tag '{key}' is immutable and cannot be deleted on a trace."
            )));
        }
        let missing = || {
            MlflowError::not_found(format!(
                "No trace tag with key '{key}' for trace with ID '{trace_id}'"
            ))
        };
        let mut tx = self.write_tx().await?;
        let row = fetch_info_row(&mut tx, self.dialect, trace_id, true).await?;
        if key == TAG_TRACE_NAME {
            let Some(row) = row else {
                return Err(trace_not_found(trace_id));
            };
            if row.trace_name.is_none() {
                return Err(missing());
            }
            let mut q = Sql::new("UPDATE trace_info SET trace_name = NULL WHERE request_id = ");
            q.bind(trace_id);
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        } else {
            let mut q = Sql::new("DELETE FROM trace_tags WHERE request_id = ");
            q.bind(trace_id).push(" AND \"key\" = ").bind(key);
            if q.query()
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected()
                == 0
            {
                return Err(missing());
            }
        }
        tx.commit().await.map_err(db_err)
    }

    async fn link_traces_to_run_impl(&self, trace_ids: &[String], run_id: &str) -> Result<()> {
        if trace_ids.is_empty() {
            return Ok(());
        }
        if trace_ids.len() > MAX_TRACE_LINKS_PER_REQUEST {
            return Err(MlflowError::invalid_param(format!(
                "Cannot link more than {MAX_TRACE_LINKS_PER_REQUEST} traces to a run in a \
                 single request. Provided {} traces.",
                trace_ids.len()
            )));
        }
        let mut tx = self.write_tx().await?;
        let mut ids: Vec<&str> = trace_ids.iter().map(String::as_str).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            insert_association(&mut tx, "trace", id, "run", run_id).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn link_prompts_to_trace_impl(
        &self,
        trace_id: &str,
        prompt_versions: &[(String, String)],
    ) -> Result<()> {
        if prompt_versions.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        if !trace_exists(&mut tx, trace_id).await? {
            return Err(trace_not_found(trace_id));
        }
        for (name, version) in prompt_versions {
            let dest = format!("{name}/{version}");
            insert_association(&mut tx, "trace", trace_id, "prompt_version", &dest).await?;
        }
        tx.commit().await.map_err(db_err)
    }
}

/// An `entity_associations` row, unless it exists already.
pub(crate) async fn insert_association(
    conn: &mut AnyConnection,
    source_type: &str,
    source_id: &str,
    destination_type: &str,
    destination_id: &str,
) -> Result<()> {
    let mut q = Sql::new(
        "INSERT INTO entity_associations (association_id, source_type, source_id, \
         destination_type, destination_id, created_time) VALUES (",
    );
    q.bind(uuid::Uuid::new_v4().simple().to_string())
        .push(", ")
        .bind(source_type)
        .push(", ")
        .bind(source_id)
        .push(", ")
        .bind(destination_type)
        .push(", ")
        .bind(destination_id)
        .push(", ")
        .bind(rsflow_core::now_ms())
        .push(
            ") ON CONFLICT (source_type, source_id, destination_type, destination_id) DO NOTHING",
        );
    q.query().execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl TraceStore for SqlStore {
    async fn start_trace(&self, info: TraceInfo) -> Result<TraceInfo> {
        self.retrying(|| self.start_trace_impl(&info)).await
    }
    async fn start_trace_v2(
        &self,
        experiment_id: &str,
        timestamp_ms: i64,
        request_metadata: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<TraceInfo> {
        self.retrying(|| {
            self.start_trace_v2_impl(experiment_id, timestamp_ms, request_metadata, tags)
        })
        .await
    }
    async fn end_trace_v2(
        &self,
        request_id: &str,
        timestamp_ms: i64,
        state: TraceState,
        request_metadata: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<TraceInfo> {
        self.retrying(|| {
            self.end_trace_v2_impl(request_id, timestamp_ms, state, request_metadata, tags)
        })
        .await
    }
    async fn get_trace_info(&self, trace_id: &str) -> Result<TraceInfo> {
        let mut tx = self.read_tx().await?;
        get_info(&mut tx, trace_id).await
    }
    async fn batch_get_trace_infos(
        &self,
        trace_ids: &[String],
        experiment_ids: &[String],
    ) -> Result<Vec<TraceInfo>> {
        self.batch_get_trace_infos_impl(trace_ids, experiment_ids)
            .await
    }
    async fn search_traces(&self, query: &SearchTraces) -> Result<Page<TraceInfo>> {
        self.search_traces_impl(query).await
    }
    async fn delete_traces(&self, request: &DeleteTraces) -> Result<i64> {
        self.retrying(|| self.delete_traces_impl(request)).await
    }
    async fn set_trace_tag(&self, trace_id: &str, key: &str, value: &str) -> Result<()> {
        self.retrying(|| self.set_trace_tag_impl(trace_id, key, value))
            .await
    }
    async fn delete_trace_tag(&self, trace_id: &str, key: &str) -> Result<()> {
        self.retrying(|| self.delete_trace_tag_impl(trace_id, key))
            .await
    }
    async fn link_traces_to_run(&self, trace_ids: &[String], run_id: &str) -> Result<()> {
        self.retrying(|| self.link_traces_to_run_impl(trace_ids, run_id))
            .await
    }
    async fn link_prompts_to_trace(
        &self,
        trace_id: &str,
        prompt_versions: &[(String, String)],
    ) -> Result<()> {
        self.retrying(|| self.link_prompts_to_trace_impl(trace_id, prompt_versions))
            .await
    }
    async fn log_spans(
        &self,
        experiment_id: &str,
        traces: &[TraceSpans],
        run_id: Option<&str>,
    ) -> Result<()> {
        if let Some(w) = &self.span_writer
            && traces.iter().any(|t| !t.spans.is_empty())
        {
            return w.log_spans(experiment_id, traces, run_id).await;
        }
        self.retrying(|| self.log_spans_impl(experiment_id, traces, run_id))
            .await
    }
    async fn count_spans(&self, trace_id: &str) -> Result<i64> {
        self.count_spans_impl(trace_id).await
    }
    async fn list_spans(
        &self,
        trace_id: &str,
        after: Option<SpanCursor>,
        limit: usize,
    ) -> Result<Vec<SpanRow>> {
        self.list_spans_impl(trace_id, after, limit).await
    }
    async fn create_assessment(&self, assessment: Assessment) -> Result<Assessment> {
        self.retrying(|| self.create_assessment_impl(&assessment))
            .await
    }
    async fn get_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<Assessment> {
        self.get_assessment_impl(trace_id, assessment_id).await
    }
    async fn update_assessment(
        &self,
        trace_id: &str,
        assessment_id: &str,
        patch: AssessmentUpdate,
        mask: &[String],
    ) -> Result<Assessment> {
        self.retrying(|| self.update_assessment_impl(trace_id, assessment_id, &patch, mask))
            .await
    }
    async fn delete_assessment(&self, trace_id: &str, assessment_id: &str) -> Result<()> {
        self.retrying(|| self.delete_assessment_impl(trace_id, assessment_id))
            .await
    }
    async fn query_trace_metrics(
        &self,
        query: &rsflow_core::trace::TraceMetricsQuery,
    ) -> Result<Vec<rsflow_core::trace::MetricDataPoint>> {
        self.query_trace_metrics_impl(query).await
    }
    async fn calculate_filter_correlation(
        &self,
        experiment_ids: &[String],
        filter1: &str,
        filter2: &str,
        base_filter: Option<&str>,
    ) -> Result<rsflow_core::trace::TraceFilterCorrelation> {
        self.calculate_filter_correlation_impl(experiment_ids, filter1, filter2, base_filter)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promoted_metadata_round_trips_as_python_json() {
        let t = TokenUsage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            total_tokens: Some(15),
            ..TokenUsage::default()
        };
        assert_eq!(
            token_usage_json(&t).unwrap(),
            r#"{"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}"#
        );
        let c = TraceCost {
            input_cost: Some(1.0),
            output_cost: None,
            total_cost: Some(0.25),
        };
        assert_eq!(
            cost_json(&c).unwrap(),
            r#"{"input_cost": 1.0, "total_cost": 0.25}"#
        );
        let mut meta = BTreeMap::new();
        meta.insert(
            META_TOKEN_USAGE.to_string(),
            r#"{"input_tokens": 3, "bogus": 1, "total_tokens": "x"}"#.to_string(),
        );
        let a = analytics_from_metadata(&meta).unwrap();
        assert_eq!(
            a.tokens,
            vec![("input_tokens", Some(3)), ("total_tokens", None)]
        );
    }
}
