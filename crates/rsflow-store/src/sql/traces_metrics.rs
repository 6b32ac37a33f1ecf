//! `query_trace_metrics` (`POST /traces/metrics`, the UI's Overview page), after MLflow's
//! `sql_trace_metrics_utils.query_metrics` on the raw rows (rollups are an opt-in cache there).
//!
//! The rows are filtered in SQL and aggregated here, so every backend computes percentiles the
//! same way (linear interpolation, numpy's default, as MLflow's SQLite aggregate and
//! PostgreSQL's `percentile_cont` do).

use std::collections::{BTreeMap, HashSet};

use rsflow_core::pyfmt::repr_list;
use rsflow_core::search::parse_trace_metrics_filter;
use rsflow_core::trace::{
    AggregationType, META_COST, META_SESSION, META_SOURCE_RUN, META_TOKEN_USAGE, MetricAggregation,
    MetricDataPoint, MetricViewType, TAG_TRACE_NAME, TraceMetricsQuery,
};
use rsflow_core::{MlflowError, Result};
use sqlx::Row as _;

use super::SqlStore;
use super::experiments::parse_experiment_id;
use super::query::{Sql, db_err};
use super::traces_search::analytics_filter;

/// `MAX_RESULTS_QUERY_TRACE_METRICS`.
const DEFAULT_MAX_RESULTS: i64 = 1000;
const TIME_BUCKET: &str = "time_bucket";

use AggregationType::{Avg, Count, Max, Min, Percentile, Sum};
const STATS: &[AggregationType] = &[Sum, Avg, Min, Max, Percentile];
const LATENCY: &[AggregationType] = &[Avg, Min, Max, Percentile];

/// (metric, aggregations, dimensions) per view, in MLflow's config order.
fn config(
    view: MetricViewType,
) -> Vec<(
    &'static str,
    &'static [AggregationType],
    &'static [&'static str],
)> {
    match view {
        MetricViewType::Traces => vec![
            ("trace_count", &[Count], &["trace_name", "trace_status"]),
            ("session_count", &[Count], &[]),
            ("latency", LATENCY, &["trace_name"]),
            ("input_tokens", STATS, &["trace_name"]),
            ("output_tokens", STATS, &["trace_name"]),
            ("total_tokens", STATS, &["trace_name"]),
            ("cache_read_input_tokens", STATS, &["trace_name"]),
            ("cache_creation_input_tokens", STATS, &["trace_name"]),
        ],
        MetricViewType::Spans => vec![
            (
                "span_count",
                &[Count],
                &[
                    "span_name",
                    "span_type",
                    "span_status",
                    "span_model_name",
                    "span_model_provider",
                ],
            ),
            ("latency", LATENCY, &["span_name", "span_status"]),
            (
                "input_cost",
                STATS,
                &["span_model_name", "span_model_provider"],
            ),
            (
                "output_cost",
                STATS,
                &["span_model_name", "span_model_provider"],
            ),
            (
                "total_cost",
                STATS,
                &["span_model_name", "span_model_provider"],
            ),
        ],
        MetricViewType::Assessments => vec![
            (
                "assessment_count",
                &[Count],
                &["assessment_name", "assessment_value"],
            ),
            ("assessment_value", LATENCY, &["assessment_name"]),
        ],
    }
}

fn view_name(v: MetricViewType) -> &'static str {
    match v {
        MetricViewType::Traces => "TRACES",
        MetricViewType::Spans => "SPANS",
        MetricViewType::Assessments => "ASSESSMENTS",
    }
}

/// `validate_query_trace_metrics_params` and the aggregation checks of `MetricAggregation`.
fn validate(q: &TraceMetricsQuery) -> Result<()> {
    let cfg = config(q.view_type);
    let Some((_, aggs, dims)) = cfg.iter().find(|(m, _, _)| *m == q.metric_name) else {
        let names: Vec<&str> = cfg.iter().map(|(m, _, _)| *m).collect();
        return Err(MlflowError::invalid_param(format!(
            "metric_name must be one of {}, got '{}'",
            repr_list(&names),
            q.metric_name
        )));
    };
    for a in &q.aggregations {
        match (a.aggregation_type, a.percentile_value) {
            (Percentile, None) => {
                return Err(MlflowError::invalid_param(
                    "Percentile value is required for PERCENTILE aggregation",
                ));
            }
            (Percentile, Some(p)) if !(0.0..=100.0).contains(&p) => {
                return Err(MlflowError::invalid_param(format!(
                    "Percentile value must be between 0 and 100, got {}",
                    rsflow_core::pyfmt::repr_float(p)
                )));
            }
            (t, Some(_)) if t != Percentile => {
                return Err(MlflowError::invalid_param(format!(
                    "Percentile value is only allowed for PERCENTILE aggregation type, got {}",
                    t.as_str()
                )));
            }
            _ => {}
        }
    }
    let mut invalid: Vec<&str> = q
        .aggregations
        .iter()
        .map(|a| a.aggregation_type)
        .filter(|t| !aggs.contains(t))
        .map(AggregationType::as_str)
        .collect();
    invalid.sort_unstable();
    invalid.dedup();
    if !invalid.is_empty() {
        let mut supported: Vec<&str> = aggs.iter().map(|t| t.as_str()).collect();
        supported.sort_unstable();
        return Err(MlflowError::invalid_param(format!(
            "Found invalid aggregation_type(s): {}. Supported aggregation types: {}",
            repr_list(&invalid),
            repr_list(&supported)
        )));
    }
    let mut bad_dims: Vec<&str> = q
        .dimensions
        .iter()
        .map(String::as_str)
        .filter(|d| !dims.contains(d))
        .collect();
    bad_dims.sort_unstable();
    bad_dims.dedup();
    if !bad_dims.is_empty() {
        let mut supported = dims.to_vec();
        supported.sort_unstable();
        return Err(MlflowError::invalid_param(format!(
            "Found invalid dimension(s): {}. Supported dimensions: {}",
            repr_list(&bad_dims),
            repr_list(&supported)
        )));
    }
    if q.time_interval_seconds.is_some_and(|s| s != 0)
        && (q.start_time_ms.is_none() || q.end_time_ms.is_none())
    {
        return Err(MlflowError::invalid_param(
            "start_time_ms and end_time_ms are required if time_interval_seconds is set",
        ));
    }
    if let Some(s) = q.time_interval_seconds
        && s < 0
    {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value {s} for parameter 'time_interval_seconds' supplied. It must be a \
             positive integer"
        )));
    }
    Ok(())
}

/// The aggregated value of a row (`None` rows are dropped, as MLflow filters NULLs).
fn value_expr(view: MetricViewType, metric: &str) -> &'static str {
    match (view, metric) {
        (MetricViewType::Traces, "trace_count") => "t.request_id",
        (MetricViewType::Traces, "session_count") => "t.session_id",
        (MetricViewType::Traces, "latency") => "CAST(t.execution_time_ms AS DOUBLE PRECISION)",
        (MetricViewType::Traces, "input_tokens") => "CAST(t.input_tokens AS DOUBLE PRECISION)",
        (MetricViewType::Traces, "output_tokens") => "CAST(t.output_tokens AS DOUBLE PRECISION)",
        (MetricViewType::Traces, "total_tokens") => "CAST(t.total_tokens AS DOUBLE PRECISION)",
        (MetricViewType::Traces, "cache_read_input_tokens") => {
            "CAST(t.cache_read_input_tokens AS DOUBLE PRECISION)"
        }
        (MetricViewType::Traces, _) => "CAST(t.cache_creation_input_tokens AS DOUBLE PRECISION)",
        (MetricViewType::Spans, "span_count") => "sp.span_id",
        (MetricViewType::Spans, "latency") => {
            "CAST((sp.end_time_unix_nano - sp.start_time_unix_nano) / 1000000 AS DOUBLE PRECISION)"
        }
        (MetricViewType::Spans, "input_cost") => "CAST(sp.input_cost AS DOUBLE PRECISION)",
        (MetricViewType::Spans, "output_cost") => "CAST(sp.output_cost AS DOUBLE PRECISION)",
        (MetricViewType::Spans, _) => "CAST(sp.total_cost AS DOUBLE PRECISION)",
        (MetricViewType::Assessments, "assessment_count") => "a.assessment_id",
        (MetricViewType::Assessments, _) => "CAST(a.aggregate_value AS DOUBLE PRECISION)",
    }
}

fn dimension_expr(dim: &str) -> &'static str {
    match dim {
        "trace_name" => "t.trace_name",
        "trace_status" => "t.status",
        "span_name" => "sp.name",
        "span_type" => "sp.type",
        "span_status" => "sp.status",
        "span_model_name" => "sp.model_name",
        "span_model_provider" => "sp.model_provider",
        "assessment_name" => "a.name",
        _ => "a.value",
    }
}

/// `ms` as Python's `datetime.fromtimestamp(ms / 1000, tz=utc).isoformat()`.
fn iso_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let micros = ms.rem_euclid(1000) * 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let time = format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    let frac = if micros > 0 {
        format!(".{micros:06}")
    } else {
        String::new()
    };
    format!("{y:04}-{m:02}-{d:02}T{time}{frac}+00:00")
}

/// numpy's linear percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    // MLflow's SQLite aggregate, operation for operation (the last bits match too).
    let h = (p / 100.0) * (sorted.len() - 1) as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// One row: the counted id, the numeric value, the timestamp (ms), the dimension values.
type MetricRow = (Option<String>, Option<f64>, i64, Vec<String>);

#[derive(Default)]
struct Group {
    values: Vec<f64>,
    distinct: HashSet<String>,
    count: i64,
}

fn aggregate(g: &mut Group, aggs: &[MetricAggregation], distinct: bool) -> BTreeMap<String, f64> {
    g.values.sort_by(f64::total_cmp);
    let v = &g.values;
    let mut out = BTreeMap::new();
    for a in aggs {
        let value = match a.aggregation_type {
            Count if distinct => Some(g.distinct.len() as f64),
            Count => Some(g.count as f64),
            Sum => (!v.is_empty()).then(|| v.iter().sum()),
            Avg => (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64),
            Min => v.first().copied(),
            Max => v.last().copied(),
            Percentile => percentile(v, a.percentile_value.unwrap_or(50.0)),
        };
        if let Some(value) = value {
            out.insert(a.label(), value);
        }
    }
    out
}

impl SqlStore {
    pub(crate) async fn query_trace_metrics_impl(
        &self,
        query: &TraceMetricsQuery,
    ) -> Result<Vec<MetricDataPoint>> {
        validate(query)?;
        let view = query.view_type;
        let metric = query.metric_name.as_str();
        let mut exp_ids = Vec::new();
        for e in &query.experiment_ids {
            if let (Some(id), _) = parse_experiment_id(e)? {
                exp_ids.push(id);
            }
        }
        let counting = metric.ends_with("_count");
        let distinct = view == MetricViewType::Traces && metric == "session_count";
        let value = value_expr(view, metric);
        let ts_expr = match view {
            MetricViewType::Traces => "t.timestamp_ms",
            MetricViewType::Spans => "sp.start_time_unix_nano / 1000000",
            MetricViewType::Assessments => "a.trace_timestamp_ms",
        };
        let mut select = vec![
            format!("{value}"),
            if query.time_interval_seconds.is_some_and(|s| s > 0) {
                ts_expr.to_string()
            } else {
                "CAST(0 AS BIGINT)".to_string()
            },
        ];
        for d in &query.dimensions {
            select.push(dimension_expr(d).to_string());
        }
        let from = match view {
            MetricViewType::Traces => "trace_info t",
            MetricViewType::Spans => "trace_info t JOIN spans sp ON sp.trace_id = t.request_id",
            MetricViewType::Assessments => "assessments a",
        };
        let mut q = Sql::new(&format!("SELECT {} FROM {from} WHERE ", select.join(", ")));
        let scope_col = if view == MetricViewType::Assessments {
            "a.experiment_id"
        } else {
            "t.experiment_id"
        };
        if exp_ids.is_empty() {
            q.push("1 = 0");
        } else {
            q.push(&format!("{scope_col} IN ")).bind_list(&exp_ids);
        }
        if view == MetricViewType::Assessments {
            q.push(" AND a.valid = ").bind(true);
        }
        // Time range (inclusive ms): span costs by span start, other span metrics by the
        // trace's time, assessments by their trace's time.
        let (range_col, nanos) = match view {
            MetricViewType::Traces => ("t.timestamp_ms", false),
            MetricViewType::Spans if metric.ends_with("_cost") => ("sp.start_time_unix_nano", true),
            MetricViewType::Spans => ("t.timestamp_ms", false),
            MetricViewType::Assessments => ("a.trace_timestamp_ms", false),
        };
        if let Some(start) = query.start_time_ms {
            let v = if nanos {
                start.saturating_mul(1_000_000)
            } else {
                start
            };
            q.push(&format!(" AND {range_col} >= ")).bind(v);
        }
        if let Some(end) = query.end_time_ms {
            if nanos {
                q.push(&format!(" AND {range_col} < "))
                    .bind(end.saturating_add(1).saturating_mul(1_000_000));
            } else {
                q.push(&format!(" AND {range_col} <= ")).bind(end);
            }
        }
        for f in &query.filters {
            self.render_metrics_filter(&mut q, view, f)?;
        }
        let raw_value = value
            .trim_start_matches("CAST(")
            .split(" AS ")
            .next()
            .unwrap_or(value);
        q.push(&format!(" AND {raw_value} IS NOT NULL"));
        for d in &query.dimensions {
            q.push(&format!(" AND {} IS NOT NULL", dimension_expr(d)));
        }

        let mut tx = self.read_tx().await?;
        let rows = q
            .search_query(self.dialect)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let bucket_ms = query
            .time_interval_seconds
            .unwrap_or(0)
            .saturating_mul(1000);
        let mut groups: BTreeMap<(i64, Vec<String>), Group> = BTreeMap::new();
        if bucket_ms == 0 && query.dimensions.is_empty() {
            // One aggregate row even over no rows, as SQL's ungrouped COUNT answers 0.
            groups.insert((0, vec![]), Group::default());
        }
        for r in &rows {
            let get = || -> std::result::Result<MetricRow, sqlx::Error> {
                let (text, num) = if counting {
                    (r.try_get::<Option<String>, _>(0)?, None)
                } else {
                    (None, r.try_get::<Option<f64>, _>(0)?)
                };
                let ts: i64 = r.try_get(1)?;
                let mut dims = Vec::new();
                for i in 0..query.dimensions.len() {
                    dims.push(r.try_get::<Option<String>, _>(2 + i)?.unwrap_or_default());
                }
                Ok((text, num, ts, dims))
            };
            let (text, num, ts, dims) = get().map_err(db_err)?;
            let bucket = if bucket_ms > 0 {
                ts.div_euclid(bucket_ms) * bucket_ms
            } else {
                0
            };
            let g = groups.entry((bucket, dims)).or_default();
            g.count += 1;
            if let Some(t) = text
                && distinct
            {
                g.distinct.insert(t);
            }
            if let Some(n) = num {
                g.values.push(n);
            }
        }
        let max_results = query.max_results.unwrap_or(DEFAULT_MAX_RESULTS).max(0) as usize;
        let mut out = Vec::new();
        for ((bucket, dims), mut g) in groups {
            if out.len() >= max_results {
                break;
            }
            let values = aggregate(&mut g, &query.aggregations, distinct);
            if values.is_empty() {
                continue;
            }
            let mut dimensions = BTreeMap::new();
            if bucket_ms > 0 {
                dimensions.insert(TIME_BUCKET.to_string(), iso_utc(bucket));
            }
            for (name, v) in query.dimensions.iter().zip(dims) {
                dimensions.insert(name.clone(), v);
            }
            out.push(MetricDataPoint {
                metric_name: query.metric_name.clone(),
                dimensions,
                values,
            });
        }
        Ok(out)
    }

    /// `_apply_filters` for one `traces/metrics` filter.
    fn render_metrics_filter(&self, q: &mut Sql, view: MetricViewType, filter: &str) -> Result<()> {
        let f = parse_trace_metrics_filter(filter)?;
        let tid = if view == MetricViewType::Assessments {
            "a.trace_id"
        } else {
            "t.request_id"
        };
        // A predicate on `trace_info t`, wrapped in EXISTS for the assessments view.
        let on_trace = |q: &mut Sql, body: &dyn Fn(&mut Sql)| {
            if view == MetricViewType::Assessments {
                q.push(
                    " AND EXISTS (SELECT 1 FROM trace_info t WHERE t.request_id = a.trace_id AND ",
                );
                body(q);
                q.push(")");
            } else {
                q.push(" AND ");
                body(q);
            }
        };
        let key = f.key.clone().unwrap_or_default();
        let value = f.value.clone();
        match (f.view_type.as_str(), f.entity.as_str()) {
            ("trace", "status") => on_trace(q, &|q| {
                q.push("t.status = ").bind(value.as_str());
            }),
            ("trace", "metadata") if key == META_SESSION => on_trace(q, &|q| {
                q.push("t.session_id = ").bind(value.as_str());
            }),
            ("trace", "metadata") if key == META_TOKEN_USAGE || key == META_COST => {
                let v = rsflow_core::search::TraceValue::Str(value.clone());
                on_trace(q, &|q| analytics_filter(q, &key, "=", &v));
            }
            ("trace", "metadata") => {
                q.push(&format!(
                    " AND (EXISTS (SELECT 1 FROM trace_request_metadata m WHERE m.request_id = \
                     {tid} AND m.\"key\" = "
                ))
                .bind(key.as_str())
                .push(" AND m.value = ")
                .bind(value.as_str())
                .push(")");
                if key == META_SOURCE_RUN {
                    q.push(&format!(
                        " OR EXISTS (SELECT 1 FROM entity_associations ea WHERE ea.source_id = \
                         {tid} AND ea.source_type = 'trace' AND ea.destination_type = 'run' AND \
                         ea.destination_id = "
                    ))
                    .bind(value.as_str())
                    .push(")");
                }
                q.push(")");
            }
            ("trace", _) if key == TAG_TRACE_NAME => on_trace(q, &|q| {
                q.push("t.trace_name = ").bind(value.as_str());
            }),
            ("trace", _) => {
                q.push(&format!(
                    " AND EXISTS (SELECT 1 FROM trace_tags x WHERE x.request_id = {tid} AND \
                     x.\"key\" = "
                ))
                .bind(key.as_str())
                .push(" AND x.value = ")
                .bind(value.as_str())
                .push(")");
            }
            ("span", entity) => {
                if view != MetricViewType::Spans {
                    return Err(MlflowError::invalid_param(format!(
                        "Filtering by span is only supported for SPANS view type, got {}",
                        view_name(view)
                    )));
                }
                let col = match entity {
                    "name" => "sp.name",
                    "status" => "sp.status",
                    _ => "sp.type",
                };
                q.push(&format!(" AND {col} = ")).bind(value.as_str());
            }
            (_, entity) => {
                if view != MetricViewType::Assessments {
                    return Err(MlflowError::invalid_param(format!(
                        "Filtering by assessment is only supported for ASSESSMENTS view type, \
                         got {}",
                        view_name(view)
                    )));
                }
                let col = if entity == "name" {
                    "a.name"
                } else {
                    "a.assessment_type"
                };
                q.push(&format!(" AND {col} = ")).bind(value.as_str());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_and_percentiles_match_python() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso_utc(1_796_534_716_000), "2026-12-06T05:25:16+00:00");
        assert_eq!(
            iso_utc(1_709_210_096_500),
            "2024-02-29T12:34:56.500000+00:00"
        );
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(2.5));
        assert_eq!(percentile(&v, 90.0), Some(3.7));
        assert_eq!(percentile(&[5.0], 99.0), Some(5.0));
    }
}
