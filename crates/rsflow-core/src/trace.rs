//! MLflow 3 tracing as domain values: trace infos, spans as stored rows, assessments
//! (spec `mlflow-genai.md` §2 and §3). The wire forms (TraceInfoV3 JSON, OTLP) live in the API
//! crate; these are what the store reads and writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Metadata keys the store keeps in `trace_info` columns and rebuilds on read (§2.7).
pub const META_SESSION: &str = "mlflow.trace.session";
pub const META_USER: &str = "mlflow.trace.user";
pub const META_TOKEN_USAGE: &str = "mlflow.trace.tokenUsage";
pub const META_COST: &str = "mlflow.trace.cost";
pub const META_INFO_FINALIZED: &str = "mlflow.trace.infoFinalized";
pub const META_SOURCE_RUN: &str = "mlflow.sourceRun";
pub const META_SIZE_STATS: &str = "mlflow.trace.sizeStats";
/// Tag keys with a meaning to the store.
pub const TAG_TRACE_NAME: &str = "mlflow.traceName";
pub const TAG_ARTIFACT_LOCATION: &str = "mlflow.artifactLocation";
pub const TAG_SPANS_LOCATION: &str = "mlflow.trace.spansLocation";
pub const TAG_ARCHIVE_LOCATION: &str = "mlflow.trace.archiveLocation";
pub const TAG_ARCHIVAL_FAILURE: &str = "mlflow.trace.archivalFailure";
pub const TAG_LINKED_PROMPTS: &str = "mlflow.linkedPrompts";
/// `mlflow.trace.spansLocation` when the spans are in the `spans` table.
pub const SPANS_LOCATION_TRACKING_STORE: &str = "TRACKING_STORE";
/// Assessment metadata key copied into the `run_id` column.
pub const ASSESSMENT_SOURCE_RUN_ID: &str = "mlflow.assessment.sourceRunId";

/// TraceInfoV3 `state`. The DB (`trace_info.status`) holds the same names MLflow stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub enum TraceState {
    #[default]
    #[serde(rename = "STATE_UNSPECIFIED")]
    Unspecified,
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ERROR")]
    Error,
    #[serde(rename = "IN_PROGRESS")]
    InProgress,
}

impl TraceState {
    /// The v3 wire name, which is also what `trace_info.status` holds.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceState::Unspecified => "STATE_UNSPECIFIED",
            TraceState::Ok => "OK",
            TraceState::Error => "ERROR",
            TraceState::InProgress => "IN_PROGRESS",
        }
    }

    /// The v2 `TraceStatus` name (`TRACE_STATUS_UNSPECIFIED` for the unspecified state).
    pub fn as_v2_str(self) -> &'static str {
        match self {
            TraceState::Unspecified => "TRACE_STATUS_UNSPECIFIED",
            other => other.as_str(),
        }
    }

    /// Parse a v3 or v2 name (a DB value is one of them); `None` for anything else.
    pub fn parse(s: &str) -> Option<TraceState> {
        Some(match s {
            "STATE_UNSPECIFIED" | "TRACE_STATUS_UNSPECIFIED" => TraceState::Unspecified,
            "OK" => TraceState::Ok,
            "ERROR" => TraceState::Error,
            "IN_PROGRESS" => TraceState::InProgress,
            _ => return None,
        })
    }
}

/// TraceInfoV3 as a domain value (spec §2.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TraceInfo {
    /// `tr-<32hex>`, or a v2 32-hex id.
    pub trace_id: String,
    pub client_request_id: Option<String>,
    pub experiment_id: String,
    pub request_time_ms: i64,
    pub execution_duration_ms: Option<i64>,
    pub state: TraceState,
    pub request_preview: Option<String>,
    pub response_preview: Option<String>,
    /// Promoted columns are rebuilt here on read (session, tokenUsage, cost).
    pub trace_metadata: BTreeMap<String, String>,
    /// Includes `mlflow.traceName` from the `trace_name` column.
    pub tags: BTreeMap<String, String>,
    pub assessments: Vec<Assessment>,
}

/// Who made an assessment. `source_type` is the proto enum name (`HUMAN`, `LLM_JUDGE`, `CODE`,
/// `SOURCE_TYPE_UNSPECIFIED`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AssessmentSource {
    pub source_type: String,
    pub source_id: Option<String>,
}

/// `AssessmentError` (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AssessmentError {
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub stack_trace: Option<String>,
}

/// The one-of of an assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssessmentValue {
    Feedback {
        value: Option<serde_json::Value>,
        error: Option<AssessmentError>,
    },
    Expectation {
        value: serde_json::Value,
    },
    Issue {
        issue_name: String,
    },
}

impl Default for AssessmentValue {
    fn default() -> Self {
        AssessmentValue::Feedback {
            value: None,
            error: None,
        }
    }
}

impl AssessmentValue {
    /// `assessments.assessment_type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            AssessmentValue::Feedback { .. } => "feedback",
            AssessmentValue::Expectation { .. } => "expectation",
            AssessmentValue::Issue { .. } => "issue",
        }
    }
}

/// An assessment (spec §3.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Assessment {
    /// Empty on create means "generate `a-<hex>`".
    pub assessment_id: String,
    pub assessment_name: String,
    pub trace_id: String,
    pub span_id: Option<String>,
    pub source: AssessmentSource,
    pub create_time_ms: i64,
    pub last_update_time_ms: i64,
    pub value: AssessmentValue,
    pub rationale: Option<String>,
    /// The top-level copy of the error (feedback only).
    pub error: Option<AssessmentError>,
    pub metadata: BTreeMap<String, String>,
    pub overrides: Option<String>,
    pub valid: bool,
    pub run_id: Option<String>,
}

/// The fields an `UpdateAssessment` may carry; which of them apply is said by the mask
/// (paths in snake_case or lowerCamel: `assessment_name`, `expectation`, `feedback`,
/// `rationale`, `metadata`, `valid`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AssessmentUpdate {
    pub assessment_name: Option<String>,
    /// `Expectation` for the `expectation` path, `Feedback` for `feedback`.
    pub value: Option<AssessmentValue>,
    pub rationale: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub valid: Option<bool>,
}

/// One row of `spans`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SpanRow {
    /// `tr-<32hex>`.
    pub trace_id: String,
    /// 16 lower-hex.
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub span_type: Option<String>,
    /// `UNSET` | `OK` | `ERROR`.
    pub status: String,
    pub start_time_ns: i64,
    pub end_time_ns: Option<i64>,
    /// The stored span JSON of spec §2.4.1.
    pub content: String,
    pub model_name: Option<String>,
    pub model_provider: Option<String>,
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub total_cost: Option<f64>,
}

/// Token usage of a trace (metadata `mlflow.trace.tokenUsage`, six `trace_info` columns).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub cache_read_input_tokens: Option<i64>,
    pub cache_creation_input_tokens: Option<i64>,
    pub cache_creation_input_tokens_above_1hr: Option<i64>,
}

impl TokenUsage {
    pub fn is_empty(&self) -> bool {
        *self == TokenUsage::default()
    }
}

/// Cost of a trace (metadata `mlflow.trace.cost`, three `trace_info` columns).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TraceCost {
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub total_cost: Option<f64>,
}

impl TraceCost {
    pub fn is_empty(&self) -> bool {
        self.input_cost.is_none() && self.output_cost.is_none() && self.total_cost.is_none()
    }
}

/// Facts taken from a trace's root span, present when the batch holds it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RootFacts {
    /// ERROR if the root's status is ERROR, else OK.
    pub state: TraceState,
    /// Already truncated to 1000 chars (§2.6 previews).
    pub request_preview: Option<String>,
    pub response_preview: Option<String>,
    /// Root attribute `mlflow.traceTag.mlflow.traceName`.
    pub trace_name: Option<String>,
}

/// Everything `log_spans` needs for one trace of an OTLP batch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TraceSpans {
    pub trace_id: String,
    pub spans: Vec<SpanRow>,
    pub root: Option<RootFacts>,
    /// Resource-attribute tags, then root `mlflow.traceTag.<k>` (later wins).
    pub tags: Vec<(String, String)>,
    /// Tree-aware sums computed by the API side.
    pub token_usage: Option<TokenUsage>,
    pub cost: Option<TraceCost>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
}

/// Keyset position for paging a trace's spans root first, then by start time, then span id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpanCursor {
    pub is_child: bool,
    pub start_time_ns: i64,
    pub span_id: String,
}

impl SpanCursor {
    /// The cursor just past `span`.
    pub fn after(span: &SpanRow) -> SpanCursor {
        SpanCursor {
            is_child: span.parent_span_id.is_some(),
            start_time_ns: span.start_time_ns,
            span_id: span.span_id.clone(),
        }
    }
}

/// Span attribute holding a span's token usage (a JSON object, JSON-encoded in span JSON).
pub const ATTR_CHAT_USAGE: &str = "mlflow.chat.tokenUsage";
/// Span attribute holding a span's cost.
pub const ATTR_LLM_COST: &str = "mlflow.llm.cost";

/// One span as the tree-aware usage/cost aggregation sees it (MLflow's `SpanAggregationNode`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AggregationNode {
    pub span_id: String,
    pub parent_id: Option<String>,
    /// The span's usage or cost object, if it has one.
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AggregationNode {
    /// A node from a stored span JSON (§2.4.1), reading `attribute` (a JSON object, or a
    /// string holding one).
    pub fn from_span_json(
        span_id: &str,
        parent_id: Option<&str>,
        content: &str,
        attribute: &str,
    ) -> AggregationNode {
        let data = serde_json::from_str::<serde_json::Value>(content)
            .ok()
            .and_then(|v| v.get("attributes")?.get(attribute).cloned())
            .and_then(|v| match v {
                serde_json::Value::String(s) => serde_json::from_str(&s).ok(),
                other => Some(other),
            })
            .and_then(|v| match v {
                serde_json::Value::Object(m) => Some(m),
                _ => None,
            });
        AggregationNode {
            span_id: span_id.to_string(),
            parent_id: parent_id.map(str::to_string),
            data,
        }
    }
}

/// MLflow's `_aggregate_from_nodes`: sums `keys` (always present in the result) and
/// `optional_keys` (present when some counted node has them) over the nodes that have data and
/// no ancestor with data, so rollup parents are not counted twice. `None` when no node has data.
pub fn aggregate_nodes(
    nodes: &[AggregationNode],
    keys: &[&str],
    optional_keys: &[&str],
) -> Option<BTreeMap<String, f64>> {
    use std::collections::{HashMap, HashSet};
    let ids: HashSet<&str> = nodes.iter().map(|n| n.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&AggregationNode>> = HashMap::new();
    let mut stack: Vec<(&AggregationNode, bool)> = Vec::new();
    for n in nodes {
        match n.parent_id.as_deref() {
            Some(p) if !p.is_empty() && ids.contains(p) => children.entry(p).or_default().push(n),
            _ => stack.push((n, false)),
        }
    }
    let mut totals: BTreeMap<String, f64> = keys.iter().map(|k| (k.to_string(), 0.0)).collect();
    let mut has_data = false;
    // A cycle of parent ids has no root and is never visited, as in MLflow.
    let mut seen: HashSet<&str> = HashSet::new();
    while let Some((node, ancestor_has)) = stack.pop() {
        if !seen.insert(node.span_id.as_str()) {
            continue;
        }
        if let Some(data) = &node.data
            && !ancestor_has
        {
            for k in keys.iter().chain(optional_keys) {
                if let Some(v) = data.get(*k).and_then(serde_json::Value::as_f64) {
                    *totals.entry(k.to_string()).or_insert(0.0) += v;
                }
            }
            has_data = true;
        }
        let next = ancestor_has || node.data.is_some();
        if let Some(kids) = children.get(node.span_id.as_str()) {
            stack.extend(kids.iter().map(|c| (*c, next)));
        }
    }
    has_data.then_some(totals)
}

/// Tree-aware token usage of a trace's spans (`aggregate_usage_from_span_nodes`).
pub fn aggregate_token_usage(nodes: &[AggregationNode]) -> Option<TokenUsage> {
    let t = aggregate_nodes(
        nodes,
        &["input_tokens", "output_tokens", "total_tokens"],
        &[
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "cache_creation_input_tokens_above_1hr",
        ],
    )?;
    let int = |k: &str| {
        t.get(k)
            .filter(|v| v.is_finite() && v.fract() == 0.0)
            .map(|v| *v as i64)
    };
    Some(TokenUsage {
        input_tokens: int("input_tokens"),
        output_tokens: int("output_tokens"),
        total_tokens: int("total_tokens"),
        cache_read_input_tokens: int("cache_read_input_tokens"),
        cache_creation_input_tokens: int("cache_creation_input_tokens"),
        cache_creation_input_tokens_above_1hr: int("cache_creation_input_tokens_above_1hr"),
    })
}

/// Tree-aware cost of a trace's spans (`aggregate_cost_from_span_nodes`).
pub fn aggregate_cost(nodes: &[AggregationNode]) -> Option<TraceCost> {
    let t = aggregate_nodes(nodes, &["input_cost", "output_cost", "total_cost"], &[])?;
    let f = |k: &str| t.get(k).copied().filter(|v| v.is_finite());
    Some(TraceCost {
        input_cost: f("input_cost"),
        output_cost: f("output_cost"),
        total_cost: f("total_cost"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, parent: Option<&str>, data: Option<serde_json::Value>) -> AggregationNode {
        AggregationNode {
            span_id: id.into(),
            parent_id: parent.map(Into::into),
            data: data.and_then(|d| d.as_object().cloned()),
        }
    }

    #[test]
    fn rollup_parents_are_not_counted_twice() {
        let u = |i: i64| {
            Some(serde_json::json!({"input_tokens": i, "output_tokens": 1, "total_tokens": i + 1}))
        };
        let nodes = vec![
            node("root", None, None),
            node("agent", Some("root"), u(10)),
            node("llm1", Some("agent"), u(4)),
            node("llm2", Some("agent"), u(6)),
            node("other", Some("root"), u(3)),
        ];
        let t = aggregate_token_usage(&nodes).unwrap();
        assert_eq!(t.input_tokens, Some(13));
        assert_eq!(t.output_tokens, Some(2));
        assert_eq!(t.cache_read_input_tokens, None);
        let stored = AggregationNode::from_span_json(
            "a",
            None,
            r#"{"attributes": {"mlflow.llm.cost": "{\"total_cost\": 0.5}"}}"#,
            ATTR_LLM_COST,
        );
        let c = aggregate_cost(&[stored]).unwrap();
        assert_eq!(c.total_cost, Some(0.5));
        assert_eq!(c.input_cost, Some(0.0));
    }
}

/// `QueryTraceMetrics.view_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricViewType {
    #[serde(rename = "TRACES")]
    Traces,
    #[serde(rename = "SPANS")]
    Spans,
    #[serde(rename = "ASSESSMENTS")]
    Assessments,
}

/// `MetricAggregation.aggregation_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AggregationType {
    Count,
    Sum,
    Avg,
    Percentile,
    Min,
    Max,
}

impl AggregationType {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregationType::Count => "COUNT",
            AggregationType::Sum => "SUM",
            AggregationType::Avg => "AVG",
            AggregationType::Percentile => "PERCENTILE",
            AggregationType::Min => "MIN",
            AggregationType::Max => "MAX",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricAggregation {
    pub aggregation_type: AggregationType,
    /// 0..=100, PERCENTILE only.
    pub percentile_value: Option<f64>,
}

impl MetricAggregation {
    /// The key of this aggregation in a data point's `values` (`str(MetricAggregation)`):
    /// `COUNT`, `AVG`, ..., `P50.0`.
    pub fn label(&self) -> String {
        match (self.aggregation_type, self.percentile_value) {
            (AggregationType::Percentile, Some(p)) => {
                format!("P{}", crate::pyfmt::repr_float(p))
            }
            (t, _) => t.as_str().to_string(),
        }
    }
}

/// `POST /traces/metrics` after request decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceMetricsQuery {
    pub experiment_ids: Vec<String>,
    pub view_type: MetricViewType,
    pub metric_name: String,
    pub aggregations: Vec<MetricAggregation>,
    pub dimensions: Vec<String>,
    pub filters: Vec<String>,
    pub time_interval_seconds: Option<i64>,
    pub start_time_ms: Option<i64>,
    pub end_time_ms: Option<i64>,
    /// `None` means MLflow's 1000.
    pub max_results: Option<i64>,
}

/// One row of the answer: `{"metric_name", "dimensions": {..}, "values": {"COUNT": 3.0}}`.
/// A `time_bucket` dimension is an ISO 8601 UTC time (`2026-12-06T05:00:00+00:00`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDataPoint {
    pub metric_name: String,
    pub dimensions: BTreeMap<String, String>,
    pub values: BTreeMap<String, f64>,
}

/// `calculate-filter-correlation`: NPMI of two trace filters (NaN when undefined).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TraceFilterCorrelation {
    pub npmi: f64,
    pub npmi_smoothed: Option<f64>,
    pub filter1_count: i64,
    pub filter2_count: i64,
    pub joint_count: i64,
    pub total_count: i64,
}

/// `_calculate_npmi_core`.
fn npmi_core(n11: f64, n10: f64, n01: f64, n00: f64, smoothing: f64) -> f64 {
    let (a, b, c, d) = (
        n11 + smoothing,
        n10 + smoothing,
        n01 + smoothing,
        n00 + smoothing,
    );
    let n = a + b + c + d;
    let n1 = a + b;
    let n2 = a + c;
    if n1 <= 0.0 || n2 <= 0.0 || a <= 0.0 {
        return f64::NAN;
    }
    if n10 == 0.0 && n01 == 0.0 && n00 == 0.0 {
        return 1.0;
    }
    let pmi = (a.ln() + n.ln()) - (n1.ln() + n2.ln());
    let denominator = -(a.ln() - n.ln());
    (pmi / denominator).clamp(-1.0, 1.0)
}

/// `calculate_npmi_from_counts`: (npmi, npmi_smoothed).
pub fn npmi_from_counts(joint: i64, filter1: i64, filter2: i64, total: i64) -> (f64, f64) {
    if total <= 0 || filter1 == 0 || filter2 == 0 {
        return (f64::NAN, f64::NAN);
    }
    let n11 = joint;
    let n10 = filter1 - joint;
    let n01 = filter2 - joint;
    let n00 = total - filter1 - filter2 + joint;
    if n11.min(n10).min(n01).min(n00) < 0 {
        return (f64::NAN, f64::NAN);
    }
    let (a, b, c, d) = (n11 as f64, n10 as f64, n01 as f64, n00 as f64);
    let raw = if joint == 0 {
        -1.0
    } else {
        npmi_core(a, b, c, d, 0.0)
    };
    (raw, npmi_core(a, b, c, d, 0.5))
}
