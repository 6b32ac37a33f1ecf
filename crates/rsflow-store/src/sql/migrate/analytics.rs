//! The data part of MLflow's migration 75868b020152 ("add sql trace analytics schema", MLflow
//! 3.17): the trace, span and assessment analytics columns filled from the tags, metadata and
//! metrics MLflow kept them in before, and those legacy rows removed. The statements of the
//! schema part are alembic's own (schema/upgrade-2.0-*.sql); the values are computed here as
//! mlflow/store/db/trace_analytics_backfill_75868b020152.py and the migration compute them
//! (`json_object`, `token_count_or_none`, `finite_float_or_none`, `_assessment_aggregate`, the
//! length bounds), and written in the same places of the step: traces and spans after the
//! columns are added, the trace costs from spans (alembic's SQL), then assessments, then the
//! legacy rows deleted before `dimension_attributes` goes.

use std::collections::HashMap;

use sqlx::{Any, Row as _, Transaction};

use super::super::query::{Dialect, Sql};
use super::{ANALYTICS_STEP, StoreOpenError, dialect_step_statements, run_statements};

const TRACE_NAME_MAX_LENGTH: usize = 4096;
const SESSION_ID_MAX_LENGTH: usize = 250;
const MODEL_DIMENSION_MAX_LENGTH: usize = 500;
const TRACE_NAME_TAG: &str = "mlflow.traceName";
const SESSION_KEY: &str = "mlflow.trace.session";
const TOKEN_USAGE_KEY: &str = "mlflow.trace.tokenUsage";
const COST_KEY: &str = "mlflow.trace.cost";
const MODEL_KEY: &str = "mlflow.llm.model";
const PROVIDER_KEY: &str = "mlflow.llm.provider";
const TOKEN_COLUMNS: [&str; 6] = [
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
];
const COST_COLUMNS: [&str; 3] = ["input_cost", "output_cost", "total_cost"];

/// A span's (trace_id, span_id), and its (model_name, model_provider) dimensions.
type SpanKey = (String, String);
type Dimensions = HashMap<SpanKey, (Option<String>, Option<String>)>;

/// What `--dry-run` says of the data part.
pub const DRY_RUN_NOTE: &str = "-- data (before the trace cost UPDATE): trace_info.trace_name, \
    session_id, token and cost columns from its mlflow.traceName tag, session/tokenUsage/cost \
    metadata and token metrics; spans' costs from span_metrics and model_name/model_provider \
    from dimension_attributes; after it: assessments' experiment_id, trace_timestamp_ms, \
    aggregate_value, is_numeric_value; then the legacy tag, metadata and metric rows deleted";

/// What the backfill wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub traces: u64,
    pub spans: u64,
    pub assessments: u64,
    pub legacy_rows_deleted: u64,
}

fn fail(why: String) -> StoreOpenError {
    StoreOpenError::Config(format!(
        "Cannot migrate to {ANALYTICS_STEP} (MLflow's trace analytics backfill fails on it \
         too): {why}; nothing was changed"
    ))
}

/// Python's `str.strip()` whitespace.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `value[:n]` of a Python str: the first `n` code points.
fn bounded(value: Option<&str>, n: usize) -> Option<String> {
    value.map(|v| v.chars().take(n).collect())
}

/// `json_object`: a JSON text that holds an object, else `{}`.
fn json_object(text: Option<&str>) -> serde_json::Map<String, serde_json::Value> {
    match text.map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(serde_json::Value::Object(m))) => m,
        _ => serde_json::Map::new(),
    }
}

/// `int(Decimal(text))` when that is finite, integral and a BIGINT (Decimal's syntax: sign,
/// digits with an optional point, an optional exponent, underscores between digits,
/// surrounding whitespace).
fn decimal_to_i64(text: &str) -> Option<i64> {
    let s: String = text.trim_matches(py_space).replace('_', "");
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (&s[..], 0),
    };
    let (neg, digits) = match mantissa.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all = format!("{int}{frac}");
    let all = all.trim_start_matches('0');
    // The value is all * 10^(exp - frac.len()).
    let shift = exp - frac.len() as i64;
    let (keep, dropped) = if shift >= 0 {
        if all.is_empty() {
            return Some(0);
        }
        if all.len() as i64 + shift > 20 {
            return None;
        }
        (
            format!("{all}{}", "0".repeat(shift as usize)),
            String::new(),
        )
    } else {
        let cut = (all.len() as i64 + shift).max(0) as usize;
        (all[..cut].to_string(), all[cut..].to_string())
    };
    if dropped.bytes().any(|b| b != b'0') {
        return None;
    }
    if keep.len() > 20 {
        return None;
    }
    let v: i128 = if keep.is_empty() {
        0
    } else {
        keep.parse().ok()?
    };
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// `token_count_or_none` of a JSON value.
fn token_count_json(v: Option<&serde_json::Value>) -> Option<i64> {
    match v? {
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i)
            } else if n.is_u64() {
                None
            } else {
                token_count_f64(n.as_f64()?)
            }
        }
        serde_json::Value::String(s) => decimal_to_i64(s),
        _ => None,
    }
}

/// `token_count_or_none` of a float: `Decimal(str(x))`, Python's shortest repr (as Rust's).
fn token_count_f64(x: f64) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    decimal_to_i64(&format!("{x:e}"))
}

/// `finite_float_or_none` of a JSON value: `float(v)`, finite.
fn finite_float_json(v: Option<&serde_json::Value>) -> Option<f64> {
    let f = match v? {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => {
            let t = s.trim_matches(py_space).replace('_', "");
            let lower = t.to_ascii_lowercase();
            if lower.contains("inf") || lower.contains("nan") {
                return None;
            }
            t.parse::<f64>().ok()?
        }
        _ => return None,
    };
    f.is_finite().then_some(f)
}

/// `_assessment_aggregate`: (aggregate_value, is_numeric_value).
fn assessment_aggregate(value: Option<&str>) -> (Option<f64>, bool) {
    let Some(text) = value else {
        return (None, false);
    };
    let yes_no = |s: &str| match s.trim_matches(py_space).to_lowercase().as_str() {
        "yes" => (Some(1.0), false),
        "no" => (Some(0.0), false),
        _ => (None, false),
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Bool(b)) => (Some(if b { 1.0 } else { 0.0 }), false),
        Ok(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => (Some(f), true),
            _ => (None, false),
        },
        Ok(serde_json::Value::String(s)) => yes_no(&s),
        Ok(_) => (None, false),
        Err(_) => yes_no(text),
    }
}

/// `_validated_dimension_attributes`: (model, provider) of a span's dimension_attributes.
fn dimensions(
    text: &str,
    key: &(String, String),
) -> Result<(Option<String>, Option<String>), StoreOpenError> {
    let bad = |what: String| {
        fail(format!(
            "spans.dimension_attributes of span ({:?}, {:?}) {what}",
            key.0, key.1
        ))
    };
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| bad("is not JSON".into()))?;
    if let serde_json::Value::String(s) = &value {
        value = serde_json::from_str(s).map_err(|_| bad("is malformed JSON".into()))?;
    }
    let map = match value {
        serde_json::Value::Null => return Ok((None, None)),
        serde_json::Value::Object(m) => m,
        _ => return Err(bad("is not an object".into())),
    };
    let mut out = (None, None);
    for (k, v) in &map {
        let slot = match k.as_str() {
            MODEL_KEY => &mut out.0,
            PROVIDER_KEY => &mut out.1,
            other => return Err(bad(format!("holds the unsupported key {other:?}"))),
        };
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => *slot = bounded(Some(s), MODEL_DIMENSION_MAX_LENGTH),
            _ => return Err(bad(format!("holds a non-string {k:?}"))),
        }
    }
    Ok(out)
}

/// Step 75868b020152: its statements with the backfill in their places.
pub async fn run(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
) -> Result<Counts, StoreOpenError> {
    let mut counts = Counts::default();
    // _validate_required_trace_joins
    for child in ["spans", "assessments"] {
        let orphan: Option<String> = sqlx::query_scalar(&format!(
            "SELECT {child}.trace_id FROM {child} LEFT OUTER JOIN trace_info ON \
             {child}.trace_id = trace_info.request_id WHERE trace_info.request_id IS NULL LIMIT 1"
        ))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(id) = orphan {
            return Err(fail(format!(
                "a {child} row references the missing trace_info row {id:?}"
            )));
        }
    }
    // _validate_dimension_attributes (kept: the span backfill reads them)
    let mut dims = Dimensions::new();
    for row in sqlx::query(
        "SELECT trace_id, span_id, CAST(dimension_attributes AS TEXT) FROM spans \
         WHERE dimension_attributes IS NOT NULL",
    )
    .fetch_all(&mut **tx)
    .await?
    {
        let key: (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let text: String = row.try_get(2)?;
        let d = dimensions(&text, &key)?;
        dims.insert(key, d);
    }
    let stmts = dialect_step_statements(dialect, ANALYTICS_STEP);
    let split = stmts
        .iter()
        .position(|s| s.starts_with("UPDATE trace_info SET total_cost"))
        .ok_or_else(|| fail("the embedded step lost its trace cost UPDATE".into()))?;
    run_statements(tx, &stmts[..split]).await?;
    counts.traces = backfill_traces(tx).await?;
    counts.spans = backfill_spans(tx, &dims).await?;
    run_statements(tx, &stmts[split..=split]).await?;
    counts.assessments = backfill_assessments(tx).await?;
    let missing: Option<String> = sqlx::query_scalar(
        "SELECT assessment_id FROM assessments WHERE experiment_id IS NULL OR \
         trace_timestamp_ms IS NULL OR is_numeric_value IS NULL LIMIT 1",
    )
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = missing {
        return Err(fail(format!(
            "assessment {id:?} was left without analytics values"
        )));
    }
    // _cleanup_legacy_analytics
    let token_keys = TOKEN_COLUMNS.map(|k| format!("'{k}'")).join(", ");
    let cost_keys = COST_COLUMNS.map(|k| format!("'{k}'")).join(", ");
    for sql in [
        format!("DELETE FROM trace_tags WHERE \"key\" IN ('{TRACE_NAME_TAG}')"),
        format!(
            "DELETE FROM trace_request_metadata WHERE \"key\" IN ('{SESSION_KEY}', \
             '{TOKEN_USAGE_KEY}', '{COST_KEY}')"
        ),
        format!("DELETE FROM trace_metrics WHERE \"key\" IN ({token_keys})"),
        format!("DELETE FROM span_metrics WHERE \"key\" IN ({cost_keys})"),
    ] {
        counts.legacy_rows_deleted += sqlx::query(&sql).execute(&mut **tx).await?.rows_affected();
    }
    run_statements(tx, &stmts[split + 1..]).await?;
    Ok(counts)
}

async fn backfill_traces(tx: &mut Transaction<'static, Any>) -> Result<u64, StoreOpenError> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT request_id FROM trace_info")
        .fetch_all(&mut **tx)
        .await?;
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    for row in sqlx::query(&format!(
        "SELECT request_id, value FROM trace_tags WHERE \"key\" = '{TRACE_NAME_TAG}'"
    ))
    .fetch_all(&mut **tx)
    .await?
    {
        names.insert(row.try_get(0)?, row.try_get(1)?);
    }
    let mut meta: HashMap<String, HashMap<String, Option<String>>> = HashMap::new();
    for row in sqlx::query(&format!(
        "SELECT request_id, \"key\", value FROM trace_request_metadata WHERE \"key\" IN \
         ('{SESSION_KEY}', '{TOKEN_USAGE_KEY}', '{COST_KEY}')"
    ))
    .fetch_all(&mut **tx)
    .await?
    {
        meta.entry(row.try_get(0)?)
            .or_default()
            .insert(row.try_get(1)?, row.try_get(2)?);
    }
    let token_keys = TOKEN_COLUMNS.map(|k| format!("'{k}'")).join(", ");
    let mut metrics: HashMap<String, HashMap<String, Option<i64>>> = HashMap::new();
    for row in sqlx::query(&format!(
        "SELECT request_id, \"key\", CAST(value AS DOUBLE PRECISION) FROM trace_metrics \
         WHERE \"key\" IN ({token_keys})"
    ))
    .fetch_all(&mut **tx)
    .await?
    {
        let v: Option<f64> = row.try_get(2)?;
        metrics
            .entry(row.try_get(0)?)
            .or_default()
            .insert(row.try_get(1)?, v.and_then(token_count_f64));
    }
    let mut updated = 0;
    for id in ids {
        let m = meta.remove(&id).unwrap_or_default();
        let get = |k: &str| m.get(k).and_then(|v| v.as_deref());
        let name = bounded(
            names.get(&id).and_then(|v| v.as_deref()),
            TRACE_NAME_MAX_LENGTH,
        );
        let session = bounded(get(SESSION_KEY), SESSION_ID_MAX_LENGTH);
        let usage = json_object(get(TOKEN_USAGE_KEY));
        let cost = json_object(get(COST_KEY));
        let trace_metrics = metrics.remove(&id).unwrap_or_default();
        let tokens: Vec<Option<i64>> = TOKEN_COLUMNS
            .iter()
            .map(|k| match trace_metrics.get(*k) {
                Some(v) => *v,
                None => token_count_json(usage.get(*k)),
            })
            .collect();
        let costs: Vec<Option<f64>> = COST_COLUMNS
            .iter()
            .map(|k| finite_float_json(cost.get(*k)))
            .collect();
        if name.is_none()
            && session.is_none()
            && tokens.iter().all(Option::is_none)
            && costs.iter().all(Option::is_none)
        {
            continue;
        }
        let mut sql = Sql::new("UPDATE trace_info SET trace_name = ");
        sql.bind(name).push(", session_id = ").bind(session);
        for (col, v) in TOKEN_COLUMNS.iter().zip(&tokens) {
            sql.push(&format!(", {col} = ")).bind(*v);
        }
        for (col, v) in COST_COLUMNS.iter().zip(&costs) {
            sql.push(&format!(", {col} = ")).bind(*v);
        }
        sql.push(" WHERE request_id = ").bind(id.as_str());
        sql.query().execute(&mut **tx).await?;
        updated += 1;
    }
    Ok(updated)
}

async fn backfill_spans(
    tx: &mut Transaction<'static, Any>,
    dims: &Dimensions,
) -> Result<u64, StoreOpenError> {
    let cost_keys = COST_COLUMNS.map(|k| format!("'{k}'")).join(", ");
    let mut costs: HashMap<SpanKey, [Option<f64>; 3]> = HashMap::new();
    for row in sqlx::query(&format!(
        "SELECT trace_id, span_id, \"key\", CAST(value AS DOUBLE PRECISION) FROM span_metrics \
         WHERE \"key\" IN ({cost_keys})"
    ))
    .fetch_all(&mut **tx)
    .await?
    {
        let key: (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let k: String = row.try_get(2)?;
        let v: Option<f64> = row.try_get(3)?;
        if let Some(i) = COST_COLUMNS.iter().position(|c| *c == k) {
            costs.entry(key).or_default()[i] = v.filter(|f| f.is_finite());
        }
    }
    let mut keys: Vec<&(String, String)> = dims.keys().chain(costs.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut updated = 0;
    for key in keys {
        let c = costs.get(key).copied().unwrap_or_default();
        let (model, provider) = dims.get(key).cloned().unwrap_or_default();
        if model.is_none() && provider.is_none() && c.iter().all(Option::is_none) {
            continue;
        }
        let mut sql = Sql::new("UPDATE spans SET ");
        for (i, (col, v)) in COST_COLUMNS.iter().zip(c).enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push(&format!("{col} = ")).bind(v);
        }
        sql.push(", model_name = ")
            .bind(model)
            .push(", model_provider = ")
            .bind(provider)
            .push(" WHERE trace_id = ")
            .bind(key.0.as_str())
            .push(" AND span_id = ")
            .bind(key.1.as_str());
        updated += sql.query().execute(&mut **tx).await?.rows_affected();
    }
    Ok(updated)
}

async fn backfill_assessments(tx: &mut Transaction<'static, Any>) -> Result<u64, StoreOpenError> {
    let rows = sqlx::query(
        "SELECT assessments.assessment_id, assessments.value, \
         CAST(trace_info.experiment_id AS BIGINT), CAST(trace_info.timestamp_ms AS BIGINT) \
         FROM assessments JOIN trace_info ON trace_info.request_id = assessments.trace_id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut updated = 0;
    for row in rows {
        let id: String = row.try_get(0)?;
        let value: Option<String> = row.try_get(1)?;
        let experiment: Option<i64> = row.try_get(2)?;
        let ts: Option<i64> = row.try_get(3)?;
        let (aggregate, numeric) = assessment_aggregate(value.as_deref());
        let mut sql = Sql::new("UPDATE assessments SET experiment_id = ");
        sql.bind(experiment)
            .push(", trace_timestamp_ms = ")
            .bind(ts)
            .push(", aggregate_value = ")
            .bind(aggregate)
            .push(", is_numeric_value = ")
            .bind(numeric)
            .push(" WHERE assessment_id = ")
            .bind(id.as_str());
        updated += sql.query().execute(&mut **tx).await?.rows_affected();
    }
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_as_decimal_reads_them() {
        assert_eq!(decimal_to_i64("12"), Some(12));
        assert_eq!(decimal_to_i64(" 12.0 "), Some(12));
        assert_eq!(decimal_to_i64("1e3"), Some(1000));
        assert_eq!(decimal_to_i64("1_000"), Some(1000));
        assert_eq!(decimal_to_i64("12.5"), None);
        assert_eq!(decimal_to_i64("-7"), Some(-7));
        assert_eq!(decimal_to_i64("abc"), None);
        assert_eq!(decimal_to_i64("9223372036854775807"), Some(i64::MAX));
        assert_eq!(decimal_to_i64("9223372036854775808"), None);
        assert_eq!(token_count_f64(3.0), Some(3));
        assert_eq!(token_count_f64(3.5), None);
        // str(2.0**63) is '9.223372036854776e+18': past BIGINT.
        assert_eq!(token_count_f64(2f64.powi(63)), None);
        assert_eq!(token_count_f64(f64::NAN), None);
        let v: serde_json::Value = serde_json::json!({"a": 5, "b": "6", "c": true, "d": 1.5});
        assert_eq!(token_count_json(v.get("a")), Some(5));
        assert_eq!(token_count_json(v.get("b")), Some(6));
        assert_eq!(token_count_json(v.get("c")), None);
        assert_eq!(token_count_json(v.get("d")), None);
        assert_eq!(finite_float_json(v.get("d")), Some(1.5));
        assert_eq!(finite_float_json(v.get("b")), Some(6.0));
        assert_eq!(finite_float_json(v.get("c")), None);
    }

    #[test]
    fn assessments_aggregate_as_mlflow() {
        assert_eq!(assessment_aggregate(Some("true")), (Some(1.0), false));
        assert_eq!(assessment_aggregate(Some("0.75")), (Some(0.75), true));
        assert_eq!(assessment_aggregate(Some("3")), (Some(3.0), true));
        assert_eq!(assessment_aggregate(Some("\" Yes \"")), (Some(1.0), false));
        assert_eq!(assessment_aggregate(Some("no")), (Some(0.0), false));
        assert_eq!(assessment_aggregate(Some("NaN")), (None, false));
        assert_eq!(assessment_aggregate(Some("{\"a\": 1}")), (None, false));
        assert_eq!(assessment_aggregate(None), (None, false));
    }

    #[test]
    fn dimensions_validated() {
        let k = ("t".to_string(), "s".to_string());
        assert_eq!(
            dimensions(
                r#"{"mlflow.llm.model": "gpt", "mlflow.llm.provider": null}"#,
                &k
            )
            .unwrap(),
            (Some("gpt".into()), None)
        );
        assert!(dimensions(r#"{"other": "x"}"#, &k).is_err());
        assert!(dimensions(r#"{"mlflow.llm.model": 3}"#, &k).is_err());
        assert!(dimensions("[1]", &k).is_err());
        assert_eq!(dimensions("null", &k).unwrap(), (None, None));
    }
}
