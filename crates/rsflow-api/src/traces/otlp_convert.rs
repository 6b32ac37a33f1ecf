//! OTel spans to what MLflow stores (spec §2.4.1, §2.5, §2.6): each span's stored JSON and
//! `spans` row, and per trace the facts `log_spans` writes to `trace_info` (root state,
//! previews, name, tags, tree-aware token and cost sums, session, user). Mirrors
//! `Span.from_otel_proto`, `translate_span_when_storing` and `_log_spans_once` of 3.17.2; the
//! fixtures in `tests/fixtures/otlp` were produced by that code.
//!
//! Foreign conventions: the GenAI semantic conventions (`gen_ai.*`) are translated (span type,
//! inputs/outputs, token usage, model, provider, tool definitions). Other vendors' schemas
//! (OpenInference, Traceloop, Langfuse, ...) and cost computation from a model price list
//! are not: their attributes are stored as sent.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span as OtelSpan;
use rsflow_core::MlflowError;
use rsflow_core::pyfmt::write_json_str;
use rsflow_core::trace::{RootFacts, SpanRow, TokenUsage, TraceCost, TraceSpans, TraceState};
use serde_json::Value;

use super::pyjson::{
    Attrs, PyDict, PyVal, dumps, float_text, loads, str_literal, truthy, try_parse_json_string,
};

/// `service.name` values MLflow copies onto root spans (`otel_api._KNOWN_SERVICE_NAMES`).
const KNOWN_SERVICE_NAMES: &[&str] = &[
    "claude-code",
    "codex_cli_rs",
    "codex_vscode",
    "gemini-cli",
    "qwen-code",
];
const PREVIEW_MAX_CHARS: usize = 1000;
const SESSION_ID_MAX_CHARS: usize = 250;
const TRACE_NAME_MAX_CHARS: usize = 4096;
const TAG_KEY_MAX_CHARS: usize = 250;
const TAG_VALUE_MAX_CHARS: usize = 8000;
const MODEL_DIMENSION_MAX_CHARS: usize = 500;

const REQUEST_ID: &str = "mlflow.traceRequestId";
const SPAN_TYPE: &str = "mlflow.spanType";
const INPUTS: &str = "mlflow.spanInputs";
const OUTPUTS: &str = "mlflow.spanOutputs";
const CHAT_USAGE: &str = "mlflow.chat.tokenUsage";
const CHAT_TOOLS: &str = "mlflow.chat.tools";
const LLM_COST: &str = "mlflow.llm.cost";
const MODEL: &str = "mlflow.llm.model";
const MODEL_PROVIDER: &str = "mlflow.llm.provider";
const TRACE_TAG_PREFIX: &str = "mlflow.traceTag.";
const TRACE_NAME_TAG: &str = "mlflow.traceName";

/// Why a request cannot be stored.
#[derive(Debug)]
pub enum ConvertError {
    /// 422 "Cannot convert OpenTelemetry span to MLflow span".
    Span,
    /// A store-side validation MLflow raises as an `MlflowException` (its status and JSON).
    Mlflow(MlflowError),
}

/// One OTLP request as `log_spans` input, traces in first-seen order.
#[derive(Debug, Default)]
pub struct Converted {
    pub traces: Vec<TraceSpans>,
    /// Traces whose root span is in the batch (linked to `x-mlflow-run-id`).
    pub completed: Vec<String>,
}

impl Converted {
    pub fn span_count(&self) -> usize {
        self.traces.iter().map(|t| t.spans.len()).sum()
    }
}

/// Per span, what the trace-level facts need beyond its row.
struct Staged {
    row: SpanRow,
    attrs: Attrs,
    resource_tags: Option<Vec<(String, String)>>,
}

/// Convert a whole export request.
/// `truncate`: `MLFLOW_TRUNCATE_LONG_VALUES` (tag values past 8000 characters are cut, else kept).
pub fn convert(req: &ExportTraceServiceRequest, truncate: bool) -> Result<Converted, ConvertError> {
    let mut order: Vec<String> = vec![];
    let mut staged: HashMap<String, Vec<Staged>> = HashMap::new();
    for rs in &req.resource_spans {
        let resource_attrs: Vec<&KeyValue> = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.iter().collect())
            .unwrap_or_default();
        let service = resource_attrs
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match decode(kv.value.as_ref()) {
                PyVal::None => None,
                v => Some(py_str(&v)),
            })
            .filter(|s| KNOWN_SERVICE_NAMES.contains(&s.as_str()));
        let resource_tags = resource_tags(&resource_attrs, truncate);
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let s = convert_span(span, service.as_deref(), resource_tags.clone())?;
                let list = staged.entry(s.row.trace_id.clone()).or_default();
                if list.is_empty() {
                    order.push(s.row.trace_id.clone());
                }
                list.push(s);
            }
        }
    }
    let mut out = Converted::default();
    for trace_id in order {
        let spans = staged.remove(&trace_id).unwrap_or_default();
        let t = trace_facts(trace_id, spans, truncate)?;
        if t.root.is_some() {
            out.completed.push(t.trace_id.clone());
        }
        out.traces.push(t);
    }
    Ok(out)
}

/// `_decode_otel_proto_anyvalue`.
pub fn decode(v: Option<&AnyValue>) -> PyVal {
    let Some(value) = v.and_then(|v| v.value.as_ref()) else {
        return PyVal::None;
    };
    match value {
        any_value::Value::StringValue(s) => PyVal::Str(s.clone()),
        any_value::Value::BoolValue(b) => PyVal::Bool(*b),
        any_value::Value::IntValue(i) => PyVal::Int(*i),
        any_value::Value::DoubleValue(d) => PyVal::Float(*d),
        any_value::Value::BytesValue(b) => PyVal::Bytes(b.clone()),
        any_value::Value::ArrayValue(a) => {
            PyVal::List(a.values.iter().map(|v| decode(Some(v))).collect())
        }
        any_value::Value::KvlistValue(kv) => PyVal::Dict(decode_kvs(&kv.values)),
        any_value::Value::StringValueStrindex(_) => PyVal::None,
    }
}

fn decode_kvs(kvs: &[KeyValue]) -> PyDict {
    let mut d = PyDict::default();
    for kv in kvs {
        d.insert(kv.key.clone(), decode(kv.value.as_ref()));
    }
    d
}

/// `str(v)` for the values a resource attribute compares as a string.
fn py_str(v: &PyVal) -> String {
    match v {
        PyVal::Str(s) => s.clone(),
        other => dumps(other, false),
    }
}

/// Resource attributes as trace tags (`telemetry.sdk.*` and `mlflow.*` excluded; invalid
/// keys skipped; long values truncated like `_validate_trace_tag`). `None` when the resource
/// has no attributes.
fn resource_tags(attrs: &[&KeyValue], truncate: bool) -> Option<Vec<(String, String)>> {
    if attrs.is_empty() {
        return None;
    }
    let mut tags: Vec<(String, String)> = vec![];
    let decoded = decode_kvs(&attrs.iter().map(|kv| (*kv).clone()).collect::<Vec<_>>());
    for (key, value) in decoded.0 {
        if key.starts_with("telemetry.sdk.") || key.starts_with("mlflow.") {
            continue;
        }
        let text = match value {
            PyVal::Str(s) => s,
            other => dumps(&other, true),
        };
        if let Some(tag) = valid_tag(&key, text, truncate) {
            tags.push(tag);
        }
    }
    Some(tags)
}

/// `_validate_trace_tag`: the key must be a valid tag name of at most 250 characters; the
/// value is cut to 8000 characters.
fn valid_tag(key: &str, value: String, truncate: bool) -> Option<(String, String)> {
    if rsflow_core::validation::tag_name(key).is_err() || key.chars().count() > TAG_KEY_MAX_CHARS {
        return None;
    }
    let value = if truncate && value.chars().count() > TAG_VALUE_MAX_CHARS {
        value.chars().take(TAG_VALUE_MAX_CHARS).collect()
    } else {
        value
    };
    Some((key.to_owned(), value))
}

fn id_int_hex(bytes: &[u8], width: usize) -> Option<String> {
    // Python reads ids as big-endian integers: leading zero bytes vanish, and longer ids are
    // fine as long as the value fits the id's width.
    let significant: &[u8] = {
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        &bytes[first..]
    };
    if significant.len() > width {
        return None;
    }
    let mut out = String::with_capacity(width * 2);
    for _ in significant.len()..width {
        out.push_str("00");
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in significant {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    Some(out)
}

fn hex_to_b64(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect();
    B64.encode(bytes)
}

fn convert_span(
    span: &OtelSpan,
    service: Option<&str>,
    resource_tags: Option<Vec<(String, String)>>,
) -> Result<Staged, ConvertError> {
    if span.trace_id.is_empty() || span.span_id.is_empty() {
        return Err(ConvertError::Span);
    }
    let trace_hex = id_int_hex(&span.trace_id, 16).ok_or(ConvertError::Span)?;
    let span_hex = id_int_hex(&span.span_id, 8).ok_or(ConvertError::Span)?;
    let parent_hex = if span.parent_span_id.is_empty() {
        None
    } else {
        Some(id_int_hex(&span.parent_span_id, 8).ok_or(ConvertError::Span)?)
    };
    let start = i64::try_from(span.start_time_unix_nano).map_err(|_| ConvertError::Span)?;
    let end = i64::try_from(span.end_time_unix_nano).map_err(|_| ConvertError::Span)?;
    let trace_id = format!("tr-{trace_hex}");

    // Span.from_otel_proto: every value JSON-encoded once, the request id forced.
    let mut attrs = Attrs::default();
    for kv in &span.attributes {
        attrs.insert(kv.key.clone(), dumps(&decode(kv.value.as_ref()), false));
    }
    attrs.insert(REQUEST_ID, str_literal(&trace_id, false));
    if parent_hex.is_none()
        && let Some(service) = service
    {
        attrs.insert("service.name", str_literal(service, false));
    }
    // `spans.type` is the type the span was sent with, before translation.
    let span_type = attrs.get(SPAN_TYPE).and_then(|raw| match loads(raw) {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) => None,
        Some(other) => Some(other.to_string()),
        None => Some(raw.to_owned()),
    });
    let (code, status_col) = match span.status.as_ref().map_or(0, |s| s.code) {
        1 => ("STATUS_CODE_OK", "OK"),
        2 => ("STATUS_CODE_ERROR", "ERROR"),
        _ => ("STATUS_CODE_UNSET", "UNSET"),
    };
    // OTel's Status keeps a description only with ERROR.
    let message = match (status_col, span.status.as_ref()) {
        ("ERROR", Some(s)) => s.message.as_str(),
        _ => "",
    };

    let attrs = translate(sanitize(attrs), &span.events);

    let mut content = String::with_capacity(
        256 + attrs
            .0
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum::<usize>(),
    );
    content.push_str("{\"trace_id\": ");
    write_json_str(&mut content, &hex_to_b64(&trace_hex), false);
    content.push_str(", \"span_id\": ");
    write_json_str(&mut content, &hex_to_b64(&span_hex), false);
    content.push_str(", \"parent_span_id\": ");
    match &parent_hex {
        Some(p) => write_json_str(&mut content, &hex_to_b64(p), false),
        None => content.push_str("null"),
    }
    content.push_str(", \"name\": ");
    write_json_str(&mut content, &span.name, false);
    let _ = write!(
        content,
        ", \"start_time_unix_nano\": {start}, \"end_time_unix_nano\": {end}, \"events\": ["
    );
    for (i, e) in span.events.iter().enumerate() {
        if i > 0 {
            content.push_str(", ");
        }
        content.push_str("{\"name\": ");
        write_json_str(&mut content, &e.name, false);
        content.push_str(&format!(
            ", \"time_unix_nano\": {}, \"attributes\": ",
            e.time_unix_nano
        ));
        content.push_str(&dumps(&PyVal::Dict(decode_kvs(&e.attributes)), false));
        content.push('}');
    }
    content.push_str("], \"status\": {\"code\": ");
    write_json_str(&mut content, code, false);
    content.push_str(", \"message\": ");
    write_json_str(&mut content, message, false);
    content.push_str("}, \"attributes\": {");
    for (i, (k, v)) in attrs.0.iter().enumerate() {
        if i > 0 {
            content.push_str(", ");
        }
        write_json_str(&mut content, k, false);
        content.push_str(": ");
        write_json_str(&mut content, v, false);
    }
    content.push_str("}, \"links\": [");
    for (i, l) in span.links.iter().enumerate() {
        if i > 0 {
            content.push_str(", ");
        }
        let lt = id_int_hex(&l.trace_id, 16).ok_or(ConvertError::Span)?;
        let ls = id_int_hex(&l.span_id, 8).ok_or(ConvertError::Span)?;
        content.push_str("{\"trace_id\": ");
        content.push_str(&str_literal(&format!("tr-{lt}"), false));
        content.push_str(", \"span_id\": ");
        content.push_str(&str_literal(&ls, false));
        content.push_str(", \"attributes\": ");
        let la = decode_kvs(&l.attributes);
        if la.is_empty() {
            content.push_str("null");
        } else {
            content.push_str(&dumps(&PyVal::Dict(la), false));
        }
        content.push('}');
    }
    content.push_str("]}");

    let dimension = |key: &str| {
        attrs
            .get(key)
            .and_then(|raw| match loads(raw) {
                Some(Value::String(s)) => Some(s),
                Some(_) => None,
                None => Some(raw.to_owned()),
            })
            .map(|s| {
                s.chars()
                    .take(MODEL_DIMENSION_MAX_CHARS)
                    .collect::<String>()
            })
    };
    let cost = attrs.get(LLM_COST).and_then(loads);
    let cost_of = |k: &str| cost.as_ref().and_then(|c| c.get(k)).and_then(finite_float);
    let row = SpanRow {
        trace_id,
        span_id: span_hex,
        parent_span_id: parent_hex,
        name: span.name.clone(),
        span_type,
        status: status_col.to_owned(),
        start_time_ns: start,
        end_time_ns: Some(end),
        content,
        model_name: dimension(MODEL),
        model_provider: dimension(MODEL_PROVIDER),
        input_cost: cost_of("input_cost"),
        output_cost: cost_of("output_cost"),
        total_cost: cost_of("total_cost"),
    };
    Ok(Staged {
        row,
        attrs,
        resource_tags,
    })
}

/// `finite_float_or_none`.
fn finite_float(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(_) => None,
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// `sanitize_attributes`: a value encoded twice (a JSON string holding JSON text of a string,
/// object or array) is stored once-encoded.
fn sanitize(attrs: Attrs) -> Attrs {
    Attrs(
        attrs
            .0
            .into_iter()
            .map(|(k, v)| match double_encoded(&v) {
                Some(inner) => (k, inner),
                None => (k, v),
            })
            .collect(),
    )
}

/// The decoded text when `raw` is a JSON string whose content is itself a JSON string,
/// object or array (`json.loads(raw)` is a `str` whose `json.loads` is one of those), without
/// building either value: most attribute texts are not JSON strings at all, and the inner
/// text is only checked for being JSON.
fn double_encoded(raw: &str) -> Option<String> {
    const WS: [char; 4] = [' ', '\t', '\n', '\r'];
    if !raw.trim_start_matches(WS).starts_with('"') {
        return None;
    }
    let inner: String = serde_json::from_str(raw).ok()?;
    if !inner.trim_start_matches(WS).starts_with(['"', '{', '[']) {
        return None;
    }
    serde_json::from_str::<serde::de::IgnoredAny>(&inner).ok()?;
    Some(inner)
}

/// `_get_and_check_attribute_value`: the raw text when its JSON value is truthy.
fn checked<'a>(attrs: &'a Attrs, key: &str) -> Option<&'a str> {
    let raw = attrs.get(key)?;
    match loads(raw) {
        Some(v) => truthy(&v).then_some(raw),
        None => (!raw.is_empty()).then_some(raw),
    }
}

fn first_checked<'a>(attrs: &'a Attrs, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| checked(attrs, k))
}

/// `_try_decode_if_json` then `dump_span_attribute_value`.
fn redump(raw: &str) -> String {
    match loads(raw) {
        Some(v) => serde_value_dumps(&v),
        None => str_literal(raw, false),
    }
}

fn serde_value_dumps(v: &Value) -> String {
    match v {
        Value::String(s) => str_literal(s, false),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if n.is_f64() => float_text(f),
            _ => n.to_string(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(serde_value_dumps)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", str_literal(k, false), serde_value_dumps(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// `_parse_int_attribute`.
fn int_attr(attrs: &Attrs, key: &str) -> Option<i64> {
    let raw = attrs.get(key)?;
    match loads(raw) {
        Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => raw.trim().parse().ok(),
    }
}

/// `translate_span_when_storing` for the GenAI semantic conventions.
fn translate(
    mut attrs: Attrs,
    _events: &[opentelemetry_proto::tonic::trace::v1::span::Event],
) -> Attrs {
    if let Some(kind) = attrs
        .get("gen_ai.operation.name")
        .filter(|r| loads(r).as_ref().is_none_or(truthy))
    {
        let kind = try_parse_json_string(kind);
        let mapped = match kind.as_str() {
            "chat" => Some("CHAT_MODEL"),
            "create_agent" | "invoke_agent" => Some("AGENT"),
            "embeddings" => Some("EMBEDDING"),
            "execute_tool" => Some("TOOL"),
            "generate_content" | "text_completion" | "response" => Some("LLM"),
            _ => None,
        };
        if let Some(mapped) = mapped {
            let current = attrs.get(SPAN_TYPE).map(loads);
            let unknown = match current {
                None => true,
                Some(Some(Value::Null)) => true,
                Some(Some(Value::String(s))) => s == "UNKNOWN",
                _ => false,
            };
            if unknown {
                attrs.insert(SPAN_TYPE, str_literal(mapped, false));
            }
        }
    }
    if !attrs.contains(INPUTS)
        && let Some(v) = first_checked(
            &attrs,
            &["gen_ai.input.messages", "gen_ai.tool.call.arguments"],
        )
    {
        let v = v.to_owned();
        attrs.insert(INPUTS, v);
    }
    if !attrs.contains(OUTPUTS)
        && let Some(v) = first_checked(
            &attrs,
            &["gen_ai.output.messages", "gen_ai.tool.call.result"],
        )
    {
        let v = v.to_owned();
        attrs.insert(OUTPUTS, v);
    }
    if !attrs.contains(CHAT_USAGE) {
        let input = int_attr(&attrs, "gen_ai.usage.input_tokens");
        let output = int_attr(&attrs, "gen_ai.usage.output_tokens");
        if input.is_some() || output.is_some() {
            let mut usage = PyDict::default();
            if let Some(i) = input {
                usage.insert("input_tokens", PyVal::Int(i));
            }
            if let Some(o) = output {
                usage.insert("output_tokens", PyVal::Int(o));
            }
            if let (Some(i), Some(o)) = (input, output) {
                usage.insert("total_tokens", PyVal::Int(i.saturating_add(o)));
            }
            if let Some(c) = int_attr(&attrs, "gen_ai.usage.cache_read.input_tokens") {
                usage.insert("cache_read_input_tokens", PyVal::Int(c));
            }
            if let Some(c) = int_attr(&attrs, "gen_ai.usage.cache_write.input_tokens")
                .or_else(|| int_attr(&attrs, "gen_ai.usage.cache_creation.input_tokens"))
            {
                usage.insert("cache_creation_input_tokens", PyVal::Int(c));
            }
            attrs.insert(CHAT_USAGE, dumps(&PyVal::Dict(usage), false));
        }
    }
    if !attrs.contains(CHAT_TOOLS)
        && let Some(v) = first_checked(&attrs, &["gen_ai.tool.definitions"])
    {
        let v = v.to_owned();
        attrs.insert(CHAT_TOOLS, v);
    }
    if !attrs.contains(MODEL) {
        let model = first_checked(&attrs, &["gen_ai.response.model", "gen_ai.request.model"])
            .map(redump)
            .or_else(|| {
                [INPUTS, OUTPUTS].iter().find_map(|k| {
                    let v = loads(attrs.get(k)?)?;
                    let v = match v {
                        Value::String(s) => loads(&s)?,
                        other => other,
                    };
                    match v.get("model")? {
                        Value::String(s) if !s.is_empty() => Some(str_literal(s, false)),
                        _ => None,
                    }
                })
            });
        if let Some(m) = model {
            attrs.insert(MODEL, m);
        }
    }
    if !attrs.contains(MODEL_PROVIDER)
        && let Some(p) = checked(&attrs, "gen_ai.provider.name").map(redump)
    {
        attrs.insert(MODEL_PROVIDER, p);
    }
    attrs
}

/// The per-trace facts of `_log_spans_once`.
fn trace_facts(
    trace_id: String,
    staged: Vec<Staged>,
    truncate: bool,
) -> Result<TraceSpans, ConvertError> {
    let mut session_id: Option<String> = None;
    let mut user_id: Option<String> = None;
    let mut root_attrs: Option<&Attrs> = None;
    let mut root_state: Option<TraceState> = None;
    let mut root_tags: Vec<(String, String)> = vec![];
    let mut trace_name: Option<String> = None;
    for s in &staged {
        let a = &s.attrs;
        if session_id.is_none()
            && let Some(raw) = a
                .get("session.id")
                .or_else(|| a.get("gen_ai.conversation.id"))
            && !raw.is_empty()
        {
            let sid = try_parse_json_string(raw);
            if sid.chars().count() > SESSION_ID_MAX_CHARS {
                return Err(ConvertError::Mlflow(MlflowError::invalid_param(format!(
                    "'Session ID' exceeds the maximum length of {SESSION_ID_MAX_CHARS} characters"
                ))));
            }
            session_id = Some(sid);
        }
        if user_id.is_none()
            && let Some(raw) = a.get("user.id").filter(|r| !r.is_empty())
        {
            user_id = Some(try_parse_json_string(raw));
        }
        if s.row.parent_span_id.is_none() {
            if root_state.is_none() {
                root_state = Some(if s.row.status == "ERROR" {
                    TraceState::Error
                } else {
                    TraceState::Ok
                });
            }
            root_attrs = Some(a);
            for (k, v) in &a.0 {
                let Some(tag_key) = k.strip_prefix(TRACE_TAG_PREFIX) else {
                    continue;
                };
                let Some((tag_key, value)) = valid_tag(tag_key, try_parse_json_string(v), truncate)
                else {
                    continue;
                };
                if tag_key == TRACE_NAME_TAG {
                    if value.chars().count() > TRACE_NAME_MAX_CHARS {
                        return Err(ConvertError::Mlflow(MlflowError::invalid_param(format!(
                            "'Trace name' exceeds the maximum length of {TRACE_NAME_MAX_CHARS} characters"
                        ))));
                    }
                    trace_name = Some(value.clone());
                }
                match root_tags.iter_mut().find(|(k, _)| *k == tag_key) {
                    Some(slot) => slot.1 = value,
                    None => root_tags.push((tag_key, value)),
                }
            }
        }
    }
    let root = root_state.map(|state| {
        let (request_preview, response_preview) = root_attrs.map_or((None, None), previews);
        RootFacts {
            state,
            request_preview,
            response_preview,
            trace_name,
        }
    });
    let mut tags: Vec<(String, String)> = staged
        .iter()
        .find_map(|s| s.resource_tags.clone())
        .unwrap_or_default();
    for (k, v) in root_tags {
        if k == TRACE_NAME_TAG {
            continue;
        }
        tags.push((k, v));
    }
    let token_usage = aggregate(&staged, CHAT_USAGE, &USAGE_KEYS, &USAGE_CACHE_KEYS).map(|t| {
        let get = |k: &str| t.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_i64());
        TokenUsage {
            input_tokens: get("input_tokens").flatten(),
            output_tokens: get("output_tokens").flatten(),
            total_tokens: get("total_tokens").flatten(),
            cache_read_input_tokens: get("cache_read_input_tokens").flatten(),
            cache_creation_input_tokens: get("cache_creation_input_tokens").flatten(),
            cache_creation_input_tokens_above_1hr: get("cache_creation_input_tokens_above_1hr")
                .flatten(),
        }
    });
    let cost = aggregate(&staged, LLM_COST, &COST_KEYS, &[]).map(|t| {
        let get = |k: &str| {
            t.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_f64())
                .filter(|f| f.is_finite())
        };
        TraceCost {
            input_cost: get("input_cost"),
            output_cost: get("output_cost"),
            total_cost: get("total_cost"),
        }
    });
    Ok(TraceSpans {
        trace_id,
        spans: staged.into_iter().map(|s| s.row).collect(),
        root,
        tags,
        token_usage,
        cost,
        session_id,
        user_id,
    })
}

const USAGE_KEYS: [&str; 3] = ["input_tokens", "output_tokens", "total_tokens"];
const USAGE_CACHE_KEYS: [&str; 3] = [
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
];
const COST_KEYS: [&str; 3] = ["input_cost", "output_cost", "total_cost"];

/// A running sum that stays an integer until a float joins it, as Python's `+` does.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn add(self, v: &Value) -> Num {
        match (self, v.as_i64(), v.as_f64()) {
            (Num::Int(a), Some(b), _) => Num::Int(a.saturating_add(b)),
            (Num::Int(a), None, Some(b)) => Num::Float(a as f64 + b),
            (Num::Float(a), _, Some(b)) => Num::Float(a + b),
            (n, _, _) => n,
        }
    }

    fn as_i64(self) -> Option<i64> {
        match self {
            Num::Int(i) => Some(i),
            Num::Float(f) if f.is_finite() => Some(f as i64),
            Num::Float(_) => None,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// `_aggregate_from_nodes`: sum the attribute's dicts over the span tree, skipping spans
/// whose ancestor already carries the data (rollup parents are not counted twice).
fn aggregate(
    staged: &[Staged],
    key: &str,
    keys: &[&'static str],
    optional: &[&'static str],
) -> Option<Vec<(&'static str, Num)>> {
    let data: Vec<Option<serde_json::Map<String, Value>>> = staged
        .iter()
        .map(|s| match s.attrs.get(key).and_then(loads) {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        })
        .collect();
    if data.iter().all(Option::is_none) {
        return None;
    }
    let ids: HashSet<&str> = staged.iter().map(|s| s.row.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut stack: Vec<(usize, bool)> = vec![];
    for (i, s) in staged.iter().enumerate() {
        match s.row.parent_span_id.as_deref() {
            Some(p) if ids.contains(p) => children.entry(p).or_default().push(i),
            _ => stack.push((i, false)),
        }
    }
    let default = if key == LLM_COST {
        Num::Float(0.0)
    } else {
        Num::Int(0)
    };
    let mut totals: Vec<(&'static str, Num)> = keys.iter().map(|k| (*k, default)).collect();
    let mut has_data = false;
    // Each span is visited at most once: cycles never reach a root, so they are skipped.
    let mut seen = vec![false; staged.len()];
    while let Some((i, ancestor_has)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let node = data[i].as_ref();
        if let Some(d) = node
            && !ancestor_has
        {
            for slot in totals.iter_mut() {
                if let Some(v) = d.get(slot.0) {
                    slot.1 = slot.1.add(v);
                }
            }
            for k in optional {
                if let Some(v) = d.get(*k) {
                    match totals.iter_mut().find(|(n, _)| n == k) {
                        Some(slot) => slot.1 = slot.1.add(v),
                        None => totals.push((*k, default.add(v))),
                    }
                }
            }
            has_data = true;
        }
        let next = ancestor_has || node.is_some();
        if let Some(kids) = children.get(staged[i].row.span_id.as_str()) {
            stack.extend(kids.iter().map(|k| (*k, next)));
        }
    }
    has_data.then_some(totals)
}

/// `_update_trace_info_attributes`: previews from the root's inputs and outputs. Any failure
/// (as in MLflow's `try`) leaves both unset.
fn previews(attrs: &Attrs) -> (Option<String>, Option<String>) {
    let one = |key: &str, role: &str| -> Result<Option<String>, ()> {
        match attrs.get(key) {
            Some(raw) if !raw.is_empty() => truncated_preview(raw, role).map(Some),
            _ => Ok(None),
        }
    };
    match (one(INPUTS, "user"), one(OUTPUTS, "assistant")) {
        (Ok(req), Ok(resp)) => (req, resp),
        (Ok(req), Err(())) => (req, None),
        _ => (None, None),
    }
}

/// `_get_truncated_preview` with the OSS limit of 1000 characters.
pub fn truncated_preview(raw: &str, role: &str) -> Result<String, ()> {
    let mut content: Option<String> = None;
    if let Some(obj) = loads(raw)
        && let Some(messages) = extract_messages(&obj)
        && !messages.is_empty()
    {
        let msg = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some(role))
            .unwrap_or_else(|| messages.last().expect("non-empty"));
        match message_text(msg)? {
            Some(t) if !t.is_empty() => content = Some(t),
            _ => {}
        }
    }
    let content = content.unwrap_or_else(|| raw.to_owned());
    if content.chars().count() <= PREVIEW_MAX_CHARS {
        return Ok(content);
    }
    let mut cut: String = content.chars().take(PREVIEW_MAX_CHARS - 3).collect();
    cut.push_str("...");
    Ok(cut)
}

fn is_message(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.contains_key("role") && o.contains_key("content"))
}

/// `_try_extract_messages`.
fn extract_messages(obj: &Value) -> Option<Vec<&Value>> {
    let o = obj.as_object()?;
    let list_of = |k: &str| -> Option<Vec<&Value>> {
        match o.get(k) {
            Some(Value::Array(items)) if !items.is_empty() => {
                Some(items.iter().filter(|m| is_message(m)).collect())
            }
            _ => None,
        }
    };
    if let Some(m) = list_of("messages") {
        return Some(m);
    }
    if let Some(Value::Array(choices)) = o.get("choices")
        && let Some(msg) = choices.first().and_then(|c| c.get("message"))
        && truthy(msg)
        && is_message(msg)
    {
        return Some(vec![msg]);
    }
    if let Some(m) = list_of("input") {
        return Some(m);
    }
    if let Some(m) = list_of("output") {
        return Some(m);
    }
    if let Some(r) = o.get("request") {
        return extract_messages(r);
    }
    None
}

/// `_get_text_content_from_message`; `Err` where Python's `len()` of the result would raise.
fn message_text(msg: &Value) -> Result<Option<String>, ()> {
    match msg.get("content") {
        Some(Value::Array(parts)) => {
            for part in parts {
                match part {
                    Value::String(s) => return Ok(Some(s.clone())),
                    Value::Object(p)
                        if matches!(
                            p.get("type").and_then(Value::as_str),
                            Some("text" | "output_text")
                        ) =>
                    {
                        return match p.get("text") {
                            None | Some(Value::Null) => Ok(None),
                            Some(Value::String(s)) => Ok(Some(s.clone())),
                            Some(v) if !truthy(v) => Ok(None),
                            Some(_) => Err(()),
                        };
                    }
                    _ => {}
                }
            }
            Ok(None)
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    const FIXTURES: &[(&str, &str)] = &[
        (
            "client_nested_error",
            include_str!("../../tests/fixtures/otlp/client_nested_error.json"),
        ),
        (
            "client_start_span",
            include_str!("../../tests/fixtures/otlp/client_start_span.json"),
        ),
        (
            "handmade_shapes",
            include_str!("../../tests/fixtures/otlp/handmade_shapes.json"),
        ),
        (
            "handmade_batch",
            include_str!("../../tests/fixtures/otlp/handmade_batch.json"),
        ),
        (
            "handmade_chat_previews",
            include_str!("../../tests/fixtures/otlp/handmade_chat_previews.json"),
        ),
    ];

    fn opt_str(v: &Value) -> Option<String> {
        v.as_str().map(str::to_owned)
    }

    fn check(name: &str, got: &Converted, expected: &Value) {
        let rows: Vec<&SpanRow> = got.traces.iter().flat_map(|t| t.spans.iter()).collect();
        let want_rows = expected["spans"].as_array().unwrap();
        assert_eq!(rows.len(), want_rows.len(), "{name}: span count");
        for w in want_rows {
            let g = rows
                .iter()
                .find(|r| r.span_id == w["span_id"] && r.trace_id == w["trace_id"])
                .unwrap_or_else(|| panic!("{name}: span {} missing", w["span_id"]));
            let ctx = format!("{name}/{}", g.name);
            assert_eq!(g.content, w["content"].as_str().unwrap(), "{ctx}: content");
            assert_eq!(g.parent_span_id, opt_str(&w["parent_span_id"]), "{ctx}");
            assert_eq!(g.name, w["name"].as_str().unwrap(), "{ctx}");
            assert_eq!(g.span_type, opt_str(&w["type"]), "{ctx}: type");
            assert_eq!(g.status, w["status"].as_str().unwrap(), "{ctx}: status");
            assert_eq!(g.start_time_ns, w["start_time_unix_nano"].as_i64().unwrap());
            assert_eq!(g.end_time_ns, w["end_time_unix_nano"].as_i64(), "{ctx}");
            assert_eq!(g.model_name, opt_str(&w["model_name"]), "{ctx}: model");
            assert_eq!(g.model_provider, opt_str(&w["model_provider"]), "{ctx}");
            assert_eq!(g.input_cost, w["input_cost"].as_f64(), "{ctx}");
            assert_eq!(g.output_cost, w["output_cost"].as_f64(), "{ctx}");
            assert_eq!(g.total_cost, w["total_cost"].as_f64(), "{ctx}");
        }
        let traces = expected["traces"].as_object().unwrap();
        assert_eq!(got.traces.len(), traces.len(), "{name}: trace count");
        for t in &got.traces {
            let w = &traces[&t.trace_id];
            let ctx = format!("{name}/{}", t.trace_id);
            match (&t.root, w["root"].as_object()) {
                (None, None) => {}
                (Some(r), Some(wr)) => {
                    assert_eq!(r.state.as_str(), wr["state"].as_str().unwrap(), "{ctx}");
                    assert_eq!(r.request_preview, opt_str(&wr["request_preview"]), "{ctx}");
                    assert_eq!(
                        r.response_preview,
                        opt_str(&wr["response_preview"]),
                        "{ctx}"
                    );
                    assert_eq!(r.trace_name, opt_str(&wr["trace_name"]), "{ctx}");
                }
                (g, w) => panic!("{ctx}: root {g:?} vs {w:?}"),
            }
            // Later wins: the expected tags are resource tags overlaid by root traceTags.
            let mut want_tags: Vec<(String, String)> = vec![];
            for src in ["resource_tags", "root_tags"] {
                for (k, v) in w[src].as_object().unwrap() {
                    if src == "root_tags" && k == TRACE_NAME_TAG {
                        continue;
                    }
                    want_tags.retain(|(wk, _)| wk != k);
                    want_tags.push((k.clone(), v.as_str().unwrap().to_owned()));
                }
            }
            let mut got_tags: Vec<(String, String)> = vec![];
            for (k, v) in &t.tags {
                got_tags.retain(|(gk, _)| gk != k);
                got_tags.push((k.clone(), v.clone()));
            }
            got_tags.sort();
            want_tags.sort();
            assert_eq!(got_tags, want_tags, "{ctx}: tags");
            let usage = &w["token_usage"];
            match &t.token_usage {
                None => assert!(usage.is_null(), "{ctx}: usage {usage}"),
                Some(u) => {
                    assert_eq!(u.input_tokens, usage["input_tokens"].as_i64(), "{ctx}");
                    assert_eq!(u.output_tokens, usage["output_tokens"].as_i64(), "{ctx}");
                    assert_eq!(u.total_tokens, usage["total_tokens"].as_i64(), "{ctx}");
                    assert_eq!(
                        u.cache_read_input_tokens,
                        usage["cache_read_input_tokens"].as_i64(),
                        "{ctx}"
                    );
                }
            }
            let cost = &w["cost"];
            match &t.cost {
                None => assert!(cost.is_null(), "{ctx}: cost {cost}"),
                Some(c) => {
                    assert_eq!(c.input_cost, cost["input_cost"].as_f64(), "{ctx}");
                    assert_eq!(c.total_cost, cost["total_cost"].as_f64(), "{ctx}");
                }
            }
            assert_eq!(t.session_id, opt_str(&w["session_id"]), "{ctx}: session");
            assert_eq!(t.user_id, opt_str(&w["user_id"]), "{ctx}: user");
        }
    }

    #[test]
    fn conversion_matches_the_reference_fixtures() {
        for (name, text) in FIXTURES {
            let f: Value = serde_json::from_str(text).unwrap();
            let pb = B64.decode(f["protobuf_b64"].as_str().unwrap()).unwrap();
            let req = ExportTraceServiceRequest::decode(pb.as_slice()).unwrap();
            let got = convert(&req, true).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            check(name, &got, &f["expected"]);
            // The OTLP/JSON form of the same request stores the same thing.
            let from_json = crate::traces::otlp_json::parse(f["json"].as_str().unwrap().as_bytes())
                .unwrap_or_else(|e| panic!("{name}: json {e:?}"));
            assert_eq!(from_json, req, "{name}: json parse");
        }
    }

    #[test]
    fn double_encoded_is_what_two_loads_find() {
        // `sanitize` as it was: both texts decoded into full values.
        let by_values = |raw: &str| match loads(raw) {
            Some(Value::String(inner))
                if matches!(
                    loads(&inner),
                    Some(Value::String(_) | Value::Object(_) | Value::Array(_))
                ) =>
            {
                Some(inner)
            }
            _ => None,
        };
        let cases = [
            r#""plain""#,
            r#""\"inner\"""#,
            r#" "{\"a\": [1, 2]}" "#,
            r#""[1, 2""#,
            r#""[1, 2]""#,
            r#""  [true]""#,
            r#""123""#,
            r#""null""#,
            r#"{"a": 1}"#,
            r#"[1]"#,
            "42",
            "not json",
            "",
            r#""unterminated"#,
            r#""{\"a\": 1} trailing""#,
            r#""\"\u00e9\"""#,
        ];
        for raw in cases {
            assert_eq!(double_encoded(raw), by_values(raw), "{raw:?}");
        }
    }

    #[test]
    fn unconvertible_spans() {
        let span = |trace_id: Vec<u8>, span_id: Vec<u8>| ExportTraceServiceRequest {
            resource_spans: vec![opentelemetry_proto::tonic::trace::v1::ResourceSpans {
                scope_spans: vec![opentelemetry_proto::tonic::trace::v1::ScopeSpans {
                    spans: vec![OtelSpan {
                        trace_id,
                        span_id,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        for req in [
            span(vec![], vec![1; 8]),
            span(vec![1; 16], vec![]),
            span(vec![1; 17], vec![1; 8]),
            span(vec![1; 16], vec![1; 9]),
        ] {
            assert!(matches!(convert(&req, true), Err(ConvertError::Span)));
        }
        // Leading zero bytes do not count against the width, as with Python's ints.
        let ok = convert(&span([vec![0; 4], vec![7; 16]].concat(), vec![1; 8]), true).unwrap();
        assert_eq!(ok.traces[0].trace_id, format!("tr-{}", "07".repeat(16)));
    }

    #[test]
    fn cyclic_and_deep_trees_aggregate_without_recursion() {
        let mut spans = vec![];
        let usage = PyVal::Dict(PyDict(vec![("input_tokens".into(), PyVal::Int(1))]));
        let n = 10_000u64;
        for i in 1..=n {
            let mut s = OtelSpan {
                trace_id: vec![9; 16],
                span_id: i.to_be_bytes().to_vec(),
                parent_span_id: if i == 1 {
                    vec![]
                } else {
                    (i - 1).to_be_bytes().to_vec()
                },
                ..Default::default()
            };
            if i == n {
                s.attributes.push(KeyValue {
                    key: CHAT_USAGE.into(),
                    value: Some(to_any(&usage)),
                    ..Default::default()
                });
            }
            spans.push(s);
        }
        // Two spans that are each other's parent: never reached from a root.
        for (a, b) in [(n + 1, n + 2), (n + 2, n + 1)] {
            spans.push(OtelSpan {
                trace_id: vec![9; 16],
                span_id: a.to_be_bytes().to_vec(),
                parent_span_id: b.to_be_bytes().to_vec(),
                attributes: vec![KeyValue {
                    key: CHAT_USAGE.into(),
                    value: Some(to_any(&usage)),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        let req = ExportTraceServiceRequest {
            resource_spans: vec![opentelemetry_proto::tonic::trace::v1::ResourceSpans {
                scope_spans: vec![opentelemetry_proto::tonic::trace::v1::ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let got = convert(&req, true).unwrap();
        let u = got.traces[0].token_usage.as_ref().unwrap();
        assert_eq!(u.input_tokens, Some(1));
        assert_eq!(u.total_tokens, Some(0));
    }

    fn to_any(v: &PyVal) -> AnyValue {
        use opentelemetry_proto::tonic::common::v1::KeyValueList;
        let value = match v {
            PyVal::Int(i) => any_value::Value::IntValue(*i),
            PyVal::Dict(d) => any_value::Value::KvlistValue(KeyValueList {
                values: d
                    .0
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: k.clone(),
                        value: Some(to_any(v)),
                        ..Default::default()
                    })
                    .collect(),
            }),
            _ => unreachable!(),
        };
        AnyValue { value: Some(value) }
    }
}
