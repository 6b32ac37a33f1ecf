//! The JSON forms of traces on MLflow's REST API (spec §2.2–§2.4.2, §3.2): TraceInfoV3 with
//! protobuf Timestamp/Duration strings, TraceInfo v2, assessments, and spans as OTel
//! proto-JSON built from their stored JSON.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use rsflow_core::MlflowError;
use rsflow_core::trace::{
    Assessment, AssessmentError, AssessmentSource, AssessmentValue, TraceInfo, TraceState,
};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::extract::invalid_type;

const META_MAX: usize = 250;
const TAG_KEY_MAX: usize = 250;
const TAG_VALUE_MAX: usize = 4096;

/// The first `n` characters of `s` (all of it when shorter).
fn cut_str(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s; // n bytes hold at most n characters
    }
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn cut(s: &str, n: usize) -> String {
    cut_str(s, n).to_owned()
}

// ---------------------------------------------------------------- time

pub(crate) fn days_to_civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn civil_to_days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A protobuf `Timestamp` in JSON from epoch milliseconds (`2026-12-06T05:25:16.842Z`).
pub fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (y, mo, d) = days_to_civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let base = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    );
    if millis == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{millis:03}Z")
    }
}

/// A protobuf `Duration` in JSON from milliseconds (`0.111s`, `0s`, `2s`).
pub fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    if a.is_multiple_of(1000) {
        format!("{sign}{}s", a / 1000)
    } else {
        format!("{sign}{}.{:03}s", a / 1000, a % 1000)
    }
}

/// RFC 3339 to epoch milliseconds (protobuf's `Timestamp.FromJsonString`, then
/// `ToMilliseconds`).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: i64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = frac[..digits].parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let v = o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60;
            if o.starts_with('+') { v } else { -v }
        }
        _ => return None,
    };
    let secs = civil_to_days(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    Some(secs * 1000 + nanos / 1_000_000)
}

/// `"1.5s"` to milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let body = s.strip_suffix('s')?;
    let (neg, body) = match body.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty() || !whole.bytes().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().ok()? * 10i64.pow(9 - frac.len() as u32)
    };
    let ms = secs.checked_mul(1000)? + nanos / 1_000_000;
    Some(if neg { -ms } else { ms })
}

// ---------------------------------------------------------------- TraceInfo

/// TraceInfoV3 JSON as MLflow's `to_proto` writes it (metadata and tags truncated), as a
/// `Value`; [`TraceInfoV3`] writes the same JSON without building one.
pub fn trace_info_v3(t: &TraceInfo) -> Value {
    // Only string keys: serialising to a Value cannot fail.
    serde_json::to_value(TraceInfoV3(t)).unwrap_or_default()
}

/// TraceInfoV3 JSON (spec §2.2) written straight to the serializer. A trace search answers
/// with a hundred of them, and building each as a `Value` tree first (a map of owned keys,
/// a string per field) was about a seventh of the server's CPU time for such a search. Keys
/// come in the order of a `serde_json::Map` (sorted), so the bytes are those the `Value`
/// gave; absent fields are left out as before.
pub struct TraceInfoV3<'a>(pub &'a TraceInfo);

impl serde::Serialize for TraceInfoV3<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let t = self.0;
        let mut m = ser.serialize_map(None)?;
        if !t.assessments.is_empty() {
            let list: Vec<Value> = t.assessments.iter().map(assessment).collect();
            m.serialize_entry("assessments", &list)?;
        }
        if let Some(c) = &t.client_request_id {
            m.serialize_entry("client_request_id", c)?;
        }
        if let Some(d) = t.execution_duration_ms {
            m.serialize_entry("execution_duration", &duration(d))?;
        }
        if let Some(p) = &t.request_preview {
            m.serialize_entry("request_preview", p)?;
        }
        m.serialize_entry("request_time", &timestamp(t.request_time_ms))?;
        if let Some(p) = &t.response_preview {
            m.serialize_entry("response_preview", p)?;
        }
        m.serialize_entry("state", t.state.as_str())?;
        if !t.tags.is_empty() {
            m.serialize_entry("tags", &CutMap(&t.tags, TAG_KEY_MAX, TAG_VALUE_MAX))?;
        }
        m.serialize_entry("trace_id", &t.trace_id)?;
        m.serialize_entry(
            "trace_location",
            &ExperimentLocation {
                mlflow_experiment: Experiment {
                    experiment_id: &t.experiment_id,
                },
                r#type: "MLFLOW_EXPERIMENT",
            },
        )?;
        if !t.trace_metadata.is_empty() {
            m.serialize_entry(
                "trace_metadata",
                &CutMap(&t.trace_metadata, META_MAX, META_MAX),
            )?;
        }
        m.end()
    }
}

/// `{"mlflow_experiment": {"experiment_id": id}, "type": "MLFLOW_EXPERIMENT"}`.
#[derive(serde::Serialize)]
struct ExperimentLocation<'a> {
    mlflow_experiment: Experiment<'a>,
    r#type: &'static str,
}

#[derive(serde::Serialize)]
struct Experiment<'a> {
    experiment_id: &'a str,
}

/// A string map with keys and values cut to `.1` and `.2` characters. Cutting keeps the sorted
/// order; two keys that become equal keep the last value, as a `Map` insert did.
struct CutMap<'a>(&'a BTreeMap<String, String>, usize, usize);

impl serde::Serialize for CutMap<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let CutMap(map, kmax, vmax) = *self;
        if map.keys().any(|k| cut_str(k, kmax).len() < k.len()) {
            let cut: BTreeMap<&str, &str> = map
                .iter()
                .map(|(k, v)| (cut_str(k, kmax), cut_str(v, vmax)))
                .collect();
            return cut.serialize(ser);
        }
        let mut m = ser.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            m.serialize_entry(k, cut_str(v, vmax))?;
        }
        m.end()
    }
}

/// TraceInfo v2 JSON (spec §2.3).
pub fn trace_info_v2(t: &TraceInfo) -> Value {
    let kv = |m: &BTreeMap<String, String>, kmax: usize, vmax: usize| -> Value {
        Value::Array(
            m.iter()
                .map(|(k, v)| json!({"key": cut(k, kmax), "value": cut(v, vmax)}))
                .collect(),
        )
    };
    let mut o = Map::new();
    o.insert("request_id".into(), json!(t.trace_id));
    o.insert("experiment_id".into(), json!(t.experiment_id));
    o.insert("timestamp_ms".into(), json!(t.request_time_ms));
    o.insert(
        "execution_time_ms".into(),
        json!(t.execution_duration_ms.unwrap_or(0)),
    );
    o.insert("status".into(), json!(t.state.as_v2_str()));
    if !t.trace_metadata.is_empty() {
        o.insert(
            "request_metadata".into(),
            kv(&t.trace_metadata, META_MAX, META_MAX),
        );
    }
    if !t.tags.is_empty() {
        o.insert("tags".into(), kv(&t.tags, TAG_KEY_MAX, TAG_VALUE_MAX));
    }
    Value::Object(o)
}

fn bad(msg: impl Into<String>) -> MlflowError {
    MlflowError::invalid_param(msg)
}

fn opt_string(o: &Map<String, Value>, k: &str) -> Result<Option<String>, MlflowError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(invalid_type(k, v).0),
    }
}

fn string_map(o: &Map<String, Value>, k: &str) -> Result<BTreeMap<String, String>, MlflowError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(mk, mv)| match mv {
                Value::String(s) => Ok((mk.clone(), s.clone())),
                other => Err(invalid_type(k, other).0),
            })
            .collect(),
        Some(v) => Err(invalid_type(k, v).0),
    }
}

fn time_field(o: &Map<String, Value>, k: &str) -> Result<Option<i64>, MlflowError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_timestamp(s).map(Some).ok_or_else(|| {
            bad(format!(
                "Invalid value '{s}' for parameter '{k}': expected an RFC 3339 timestamp."
            ))
        }),
        Some(v) => Err(invalid_type(k, v).0),
    }
}

/// TraceInfoV3 JSON from a StartTraceV3 body.
pub fn parse_trace_info_v3(v: &Value) -> Result<TraceInfo, MlflowError> {
    let o = v
        .as_object()
        .ok_or_else(|| invalid_type("trace_info", v).0)?;
    let experiment_id = o
        .get("trace_location")
        .and_then(|l| l.get("mlflow_experiment"))
        .and_then(|e| e.get("experiment_id"))
        .map(|e| match e {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(invalid_type("experiment_id", other).0),
        })
        .transpose()?
        .unwrap_or_default();
    let execution_duration_ms = match o.get("execution_duration") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_duration(s).ok_or_else(|| {
            bad(format!(
                "Invalid value '{s}' for parameter 'execution_duration': expected a duration such as '1.5s'."
            ))
        })?),
        Some(v) => return Err(invalid_type("execution_duration", v).0),
    };
    let state = match o.get("state") {
        None | Some(Value::Null) => TraceState::Unspecified,
        Some(Value::String(s)) => TraceState::parse(s).unwrap_or(TraceState::Unspecified),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => TraceState::Ok,
            Some(2) => TraceState::Error,
            Some(3) => TraceState::InProgress,
            _ => TraceState::Unspecified,
        },
        Some(v) => return Err(invalid_type("state", v).0),
    };
    let assessments = match o.get("assessments") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(parse_assessment)
            .collect::<Result<_, _>>()?,
        Some(v) => return Err(invalid_type("assessments", v).0),
    };
    Ok(TraceInfo {
        trace_id: opt_string(o, "trace_id")?.unwrap_or_default(),
        client_request_id: opt_string(o, "client_request_id")?.filter(|s| !s.is_empty()),
        experiment_id,
        request_time_ms: time_field(o, "request_time")?.unwrap_or(0),
        execution_duration_ms,
        state,
        request_preview: opt_string(o, "request_preview")?,
        response_preview: opt_string(o, "response_preview")?,
        trace_metadata: string_map(o, "trace_metadata")?,
        tags: string_map(o, "tags")?,
        assessments,
    })
}

// ---------------------------------------------------------------- assessments

/// Protobuf `Value` JSON: numbers are doubles (`5` comes back as `5.0`).
fn proto_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .unwrap_or(Value::Null),
        Value::Array(a) => Value::Array(a.iter().map(proto_value).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), proto_value(v))).collect())
        }
        other => other.clone(),
    }
}

fn error_json(e: &AssessmentError) -> Value {
    let mut o = Map::new();
    o.insert(
        "error_code".into(),
        json!(e.error_code.clone().unwrap_or_default()),
    );
    if let Some(m) = e.error_message.as_ref().filter(|m| !m.is_empty()) {
        o.insert("error_message".into(), json!(m));
    }
    if let Some(s) = e.stack_trace.as_ref().filter(|s| !s.is_empty()) {
        o.insert("stack_trace".into(), json!(s));
    }
    Value::Object(o)
}

/// Assessment JSON as `Assessment.to_proto` writes it.
pub fn assessment(a: &Assessment) -> Value {
    let mut o = Map::new();
    o.insert("assessment_name".into(), json!(a.assessment_name));
    o.insert("trace_id".into(), json!(a.trace_id));
    let mut source = Map::new();
    source.insert(
        "source_type".into(),
        json!(if a.source.source_type.is_empty() {
            "SOURCE_TYPE_UNSPECIFIED"
        } else {
            a.source.source_type.as_str()
        }),
    );
    if let Some(id) = &a.source.source_id {
        source.insert("source_id".into(), json!(id));
    }
    o.insert("source".into(), Value::Object(source));
    o.insert("create_time".into(), json!(timestamp(a.create_time_ms)));
    o.insert(
        "last_update_time".into(),
        json!(timestamp(a.last_update_time_ms)),
    );
    if let Some(s) = &a.span_id {
        o.insert("span_id".into(), json!(s));
    }
    if let Some(r) = &a.rationale {
        o.insert("rationale".into(), json!(r));
    }
    if !a.assessment_id.is_empty() {
        o.insert("assessment_id".into(), json!(a.assessment_id));
    }
    match &a.value {
        AssessmentValue::Feedback { value, error } => {
            let mut f = Map::new();
            f.insert(
                "value".into(),
                value.as_ref().map_or(Value::Null, proto_value),
            );
            if let Some(e) = error {
                f.insert("error".into(), error_json(e));
            }
            o.insert("feedback".into(), Value::Object(f));
        }
        AssessmentValue::Expectation { value } => {
            let primitive = matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_));
            let e = if primitive {
                json!({"value": proto_value(value)})
            } else {
                json!({"serialized_value": {
                    "serialization_format": "JSON_FORMAT",
                    "value": rsflow_core::pyfmt::json_dumps(value),
                }})
            };
            o.insert("expectation".into(), e);
        }
        AssessmentValue::Issue { issue_name } => {
            o.insert("issue".into(), json!({ "issue_name": issue_name }));
        }
    }
    if !a.metadata.is_empty() {
        o.insert("metadata".into(), json!(a.metadata));
    }
    if let Some(ov) = a.overrides.as_ref().filter(|s| !s.is_empty()) {
        o.insert("overrides".into(), json!(ov));
    }
    o.insert("valid".into(), json!(a.valid));
    Value::Object(o)
}

fn parse_error(v: &Value) -> Result<AssessmentError, MlflowError> {
    let o = v.as_object().ok_or_else(|| invalid_type("error", v).0)?;
    Ok(AssessmentError {
        error_code: opt_string(o, "error_code")?,
        error_message: opt_string(o, "error_message")?.filter(|s| !s.is_empty()),
        stack_trace: opt_string(o, "stack_trace")?.filter(|s| !s.is_empty()),
    })
}

const SOURCE_TYPES: &[&str] = &["SOURCE_TYPE_UNSPECIFIED", "HUMAN", "LLM_JUDGE", "CODE"];

/// The value one-of of an assessment body: `Ok(None)` when none is set.
pub fn parse_assessment_value(
    o: &Map<String, Value>,
) -> Result<Option<AssessmentValue>, MlflowError> {
    if let Some(e) = o.get("expectation").filter(|v| !v.is_null()) {
        let e = e
            .as_object()
            .ok_or_else(|| invalid_type("expectation", e).0)?;
        if let Some(sv) = e.get("serialized_value").filter(|v| !v.is_null()) {
            let format = sv
                .get("serialization_format")
                .and_then(Value::as_str)
                .unwrap_or("");
            if format != "JSON_FORMAT" {
                return Err(bad(format!(
                    "Unknown serialization format: {format}. Only JSON_FORMAT is supported."
                )));
            }
            let text = sv.get("value").and_then(Value::as_str).unwrap_or("");
            let value: Value = serde_json::from_str(text)
                .map_err(|e| bad(format!("Invalid serialized expectation value: {e}")))?;
            return Ok(Some(AssessmentValue::Expectation { value }));
        }
        return Ok(Some(AssessmentValue::Expectation {
            value: e.get("value").cloned().unwrap_or(Value::Null),
        }));
    }
    if let Some(f) = o.get("feedback").filter(|v| !v.is_null()) {
        let f = f.as_object().ok_or_else(|| invalid_type("feedback", f).0)?;
        let error = f
            .get("error")
            .filter(|v| !v.is_null())
            .map(parse_error)
            .transpose()?;
        return Ok(Some(AssessmentValue::Feedback {
            value: f.get("value").cloned().filter(|v| !v.is_null()),
            error,
        }));
    }
    if let Some(i) = o.get("issue").filter(|v| !v.is_null()) {
        let name = i
            .get("issue_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Ok(Some(AssessmentValue::Issue {
            issue_name: name.to_owned(),
        }));
    }
    Ok(None)
}

/// An Assessment body (create, or inside a StartTraceV3 trace info).
pub fn parse_assessment(v: &Value) -> Result<Assessment, MlflowError> {
    let o = v
        .as_object()
        .ok_or_else(|| invalid_type("assessment", v).0)?;
    let value = parse_assessment_value(o)?.ok_or_else(|| bad("Unknown assessment type: None"))?;
    let source = match o.get("source").and_then(Value::as_object) {
        None => AssessmentSource {
            source_type: "SOURCE_TYPE_UNSPECIFIED".into(),
            source_id: None,
        },
        Some(s) => {
            let st = match s.get("source_type") {
                Some(Value::String(t)) if SOURCE_TYPES.contains(&t.as_str()) => t.clone(),
                Some(Value::Number(n)) => n
                    .as_u64()
                    .and_then(|i| SOURCE_TYPES.get(i as usize))
                    .unwrap_or(&"SOURCE_TYPE_UNSPECIFIED")
                    .to_string(),
                _ => "SOURCE_TYPE_UNSPECIFIED".into(),
            };
            AssessmentSource {
                source_type: st,
                source_id: opt_string(s, "source_id")?.filter(|s| !s.is_empty()),
            }
        }
    };
    let is_expectation = matches!(value, AssessmentValue::Expectation { .. });
    // MLflow's `Expectation.from_proto` drops a top-level error (and rationale, overrides).
    let error = if is_expectation {
        None
    } else {
        o.get("error")
            .filter(|v| !v.is_null())
            .map(parse_error)
            .transpose()?
    };
    let now = rsflow_core::now_ms();
    let create = time_field(o, "create_time")?.unwrap_or(now);
    Ok(Assessment {
        assessment_id: opt_string(o, "assessment_id")?.unwrap_or_default(),
        assessment_name: opt_string(o, "assessment_name")?.unwrap_or_default(),
        trace_id: opt_string(o, "trace_id")?.unwrap_or_default(),
        span_id: opt_string(o, "span_id")?.filter(|s| !s.is_empty()),
        source,
        create_time_ms: create,
        last_update_time_ms: time_field(o, "last_update_time")?.unwrap_or(create),
        rationale: if is_expectation {
            None
        } else {
            opt_string(o, "rationale")?.filter(|s| !s.is_empty())
        },
        error,
        metadata: string_map(o, "metadata")?,
        overrides: if is_expectation {
            None
        } else {
            opt_string(o, "overrides")?.filter(|s| !s.is_empty())
        },
        valid: true,
        run_id: None,
        value,
    })
}

// ---------------------------------------------------------------- spans
//
// A stored span (§2.4.1) is written as the OTel proto-JSON of GetTrace (§2.4.2) straight into
// the response buffer: the stored JSON is read as borrowed slices (no tree of the whole span),
// and only attribute values are parsed into `Value`s. The output is what serializing the
// `serde_json::Value` tree of that form gives (its maps are sorted by key): the test module
// keeps that tree-building version as the oracle.

/// A JSON string borrowed from the input when it has no escapes.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct JStr<'a>(std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for JStr<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<JStr<'de>, E> {
                Ok(JStr(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<JStr<'de>, E> {
                Ok(JStr(std::borrow::Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<JStr<'de>, E> {
                Ok(JStr(std::borrow::Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

type RawMap<'a> = BTreeMap<JStr<'a>, &'a RawValue>;

/// A JSON object's members, sorted, the last of a repeated key winning (as in a `Value`);
/// `None` for anything but an object.
fn raw_map(raw: &RawValue) -> Option<RawMap<'_>> {
    serde_json::from_str(raw.get()).ok()
}

fn get<'a>(m: &RawMap<'a>, key: &'static str) -> Option<&'a RawValue> {
    m.get(&JStr(std::borrow::Cow::Borrowed(key))).copied()
}

fn raw_str(raw: Option<&RawValue>) -> Option<std::borrow::Cow<'_, str>> {
    serde_json::from_str::<JStr<'_>>(raw?.get())
        .ok()
        .map(|s| s.0)
}

/// `Value::as_u64`: a non-negative integer that fits.
fn raw_u64(raw: Option<&RawValue>) -> Option<u64> {
    serde_json::from_str(raw?.get()).ok()
}

fn id_bytes(v: Option<&RawValue>) -> Option<Vec<u8>> {
    let s = raw_str(v)?;
    if s.is_empty() {
        return None;
    }
    // 3.5.0 payloads stored hex ids; 3.17.2 stores base64.
    if (s.len() == 32 || s.len() == 16) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex_bytes(&s);
    }
    let t = s.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
        .ok()
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn put_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing a str, number or Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

fn put_b64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(B64.encode(bytes).as_bytes());
    out.push(b'"');
}

/// `_set_otel_proto_anyvalue` in proto-JSON.
fn put_any_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"{}"),
        Value::Bool(b) => {
            out.extend_from_slice(if *b {
                b"{\"bool_value\":true}"
            } else {
                b"{\"bool_value\":false}"
            });
        }
        Value::Number(n) => {
            out.extend_from_slice(if n.is_i64() || n.is_u64() {
                b"{\"int_value\":"
            } else {
                b"{\"double_value\":"
            });
            put_json(out, n);
            out.push(b'}');
        }
        Value::String(s) => {
            out.extend_from_slice(b"{\"string_value\":");
            put_json(out, s);
            out.push(b'}');
        }
        Value::Array(items) => {
            out.extend_from_slice(b"{\"array_value\":{\"values\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put_any_value(out, item);
            }
            out.extend_from_slice(b"]}}");
        }
        Value::Object(m) => {
            out.extend_from_slice(b"{\"kvlist_value\":{\"values\":[");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put_key_value(out, k, v);
            }
            out.extend_from_slice(b"]}}");
        }
    }
}

fn put_key_value(out: &mut Vec<u8>, k: &str, v: &Value) {
    out.extend_from_slice(b"{\"key\":");
    put_json(out, k);
    out.extend_from_slice(b",\"value\":");
    put_any_value(out, v);
    out.push(b'}');
}

/// `"attributes":[...],` for an object of attributes (nothing when there are none). Stored
/// span attribute values (`encoded`) are JSON text; a value that is not JSON is a string.
fn put_attributes(out: &mut Vec<u8>, m: Option<&RawValue>, encoded: bool) {
    let Some(m) = m.and_then(raw_map).filter(|m| !m.is_empty()) else {
        return;
    };
    out.extend_from_slice(b"\"attributes\":[");
    for (i, (k, raw)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let text = if encoded { raw_str(Some(raw)) } else { None };
        let v = match text {
            Some(s) => serde_json::from_str(&s).unwrap_or_else(|_| Value::String(s.into_owned())),
            None => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        };
        put_key_value(out, &k.0, &v);
    }
    out.extend_from_slice(b"],");
}

/// Append one stored span (§2.4.1) as the OTel proto-JSON of GetTrace (§2.4.2) to `out`.
/// False (and `out` as it was) when the stored JSON cannot be read.
pub fn write_otel_span(content: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let ok = put_otel_span(content, out).is_some();
    if !ok {
        out.truncate(start);
    }
    ok
}

fn put_otel_span(content: &str, out: &mut Vec<u8>) -> Option<()> {
    let s: RawMap<'_> = serde_json::from_str(content).ok()?;
    let ctx = || get(&s, "context").and_then(raw_map);
    let id = |key: &'static str| match get(&s, key) {
        Some(v) => id_bytes(Some(v)),
        None => id_bytes(ctx().and_then(|c| get(&c, key))),
    };
    let trace_id = id("trace_id")?;
    let span_id = id("span_id")?;
    let parent = id_bytes(get(&s, "parent_span_id").or_else(|| get(&s, "parent_id")));
    let time = |a: &'static str, b: &'static str| {
        raw_u64(get(&s, a).or_else(|| get(&s, b))).filter(|t| *t != 0)
    };
    // Keys in sorted order, as a serialized `Value` map has them.
    out.push(b'{');
    put_attributes(out, get(&s, "attributes"), true);
    if let Some(end) = time("end_time_unix_nano", "end_time") {
        out.extend_from_slice(b"\"end_time_unix_nano\":");
        put_json(out, &end);
        out.push(b',');
    }
    if let Some(events) = get(&s, "events").and_then(|e| {
        serde_json::from_str::<Vec<&RawValue>>(e.get())
            .ok()
            .filter(|e| !e.is_empty())
    }) {
        out.extend_from_slice(b"\"events\":[");
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let e = raw_map(e).unwrap_or_default();
            out.push(b'{');
            put_attributes(out, get(&e, "attributes"), false);
            if let Some(n) = raw_str(get(&e, "name")).filter(|n| !n.is_empty()) {
                out.extend_from_slice(b"\"name\":");
                put_json(out, &*n);
                out.push(b',');
            }
            if let Some(t) = raw_u64(get(&e, "time_unix_nano").or_else(|| get(&e, "timestamp")))
                .filter(|t| *t != 0)
            {
                out.extend_from_slice(b"\"time_unix_nano\":");
                put_json(out, &t);
                out.push(b',');
            }
            close_object(out);
        }
        out.extend_from_slice(b"],");
    }
    if let Some(links) =
        get(&s, "links").and_then(|l| serde_json::from_str::<Vec<&RawValue>>(l.get()).ok())
    {
        let mut any = false;
        for l in links {
            let Some(l) = raw_map(l) else { continue };
            let Some(t) = raw_str(get(&l, "trace_id")) else {
                continue;
            };
            let t = t.rsplit('/').next().unwrap_or(&t);
            let Some(t) = hex_bytes(t.strip_prefix("tr-").unwrap_or(t)) else {
                continue;
            };
            let Some(sp) = raw_str(get(&l, "span_id")).and_then(|sp| hex_bytes(&sp)) else {
                continue;
            };
            out.extend_from_slice(if any { b"," } else { b"\"links\":[" });
            any = true;
            out.push(b'{');
            put_attributes(out, get(&l, "attributes"), false);
            out.extend_from_slice(b"\"span_id\":");
            put_b64(out, &sp);
            out.extend_from_slice(b",\"trace_id\":");
            put_b64(out, &t);
            out.push(b'}');
        }
        if any {
            out.extend_from_slice(b"],");
        }
    }
    out.extend_from_slice(b"\"name\":");
    put_json(out, &*raw_str(get(&s, "name")).unwrap_or_default());
    if let Some(p) = parent {
        out.extend_from_slice(b",\"parent_span_id\":");
        put_b64(out, &p);
    }
    out.extend_from_slice(b",\"span_id\":");
    put_b64(out, &span_id);
    if let Some(start) = time("start_time_unix_nano", "start_time") {
        out.extend_from_slice(b",\"start_time_unix_nano\":");
        put_json(out, &start);
    }
    out.extend_from_slice(b",\"status\":{");
    let st = get(&s, "status").and_then(raw_map).unwrap_or_default();
    let code = raw_str(get(&st, "code").or_else(|| get(&st, "status_code")));
    let code = match code.as_deref() {
        Some("STATUS_CODE_OK" | "OK") => Some("STATUS_CODE_OK"),
        Some("STATUS_CODE_ERROR" | "ERROR") => Some("STATUS_CODE_ERROR"),
        _ => None,
    };
    if let Some(c) = code {
        out.extend_from_slice(b"\"code\":");
        put_json(out, c);
        out.push(b',');
    }
    if let Some(m) =
        raw_str(get(&st, "message").or_else(|| get(&st, "description"))).filter(|m| !m.is_empty())
    {
        out.extend_from_slice(b"\"message\":");
        put_json(out, &*m);
        out.push(b',');
    }
    close_object(out);
    out.extend_from_slice(b",\"trace_id\":");
    put_b64(out, &trace_id);
    out.push(b'}');
    Some(())
}

/// End an object whose members each end with a comma: the last comma becomes `}`.
fn close_object(out: &mut Vec<u8>) {
    if out.last() == Some(&b',') {
        out.pop();
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    // The tree-building form of `write_otel_span` (the version before it wrote directly):
    // the oracle its output is compared with.

    fn id_bytes(v: Option<&Value>) -> Option<Vec<u8>> {
        let s = v?.as_str()?;
        if s.is_empty() {
            return None;
        }
        // 3.5.0 payloads stored hex ids; 3.17.2 stores base64.
        if (s.len() == 32 || s.len() == 16) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hex = s.as_bytes();
            return (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(std::str::from_utf8(&hex[i..i + 2]).ok()?, 16).ok())
                .collect();
        }
        let t = s.trim_end_matches('=');
        STANDARD_NO_PAD
            .decode(t)
            .or_else(|_| URL_SAFE_NO_PAD.decode(t))
            .ok()
    }

    /// `_set_otel_proto_anyvalue` in proto-JSON.
    fn any_value(v: &Value) -> Value {
        match v {
            Value::Null => json!({}),
            Value::Bool(b) => json!({ "bool_value": b }),
            Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "int_value": n }),
            Value::Number(n) => json!({ "double_value": n }),
            Value::String(s) => json!({ "string_value": s }),
            Value::Array(items) => {
                json!({"array_value": {"values": items.iter().map(any_value).collect::<Vec<_>>()}})
            }
            Value::Object(m) => {
                json!({"kvlist_value": {"values": m.iter().map(|(k, v)| json!({"key": k, "value": any_value(v)})).collect::<Vec<_>>()}})
            }
        }
    }

    fn key_values(m: Option<&Value>, encoded: bool) -> Vec<Value> {
        let Some(Value::Object(m)) = m else {
            return vec![];
        };
        m.iter()
            .map(|(k, v)| {
                let decoded = match (encoded, v) {
                    // Stored attribute values are JSON text; a value that is not JSON is a string.
                    (true, Value::String(s)) => {
                        serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
                    }
                    _ => v.clone(),
                };
                json!({"key": k, "value": any_value(&decoded)})
            })
            .collect()
    }

    /// One stored span (§2.4.1) as the OTel proto-JSON of GetTrace (§2.4.2). `None` when the
    /// stored JSON cannot be read.
    fn otel_span(content: &str) -> Option<Value> {
        let s: Value = serde_json::from_str(content).ok()?;
        let ctx = s.get("context");
        let trace_id = id_bytes(s.get("trace_id").or_else(|| ctx?.get("trace_id")))?;
        let span_id = id_bytes(s.get("span_id").or_else(|| ctx?.get("span_id")))?;
        let mut o = Map::new();
        o.insert("trace_id".into(), json!(B64.encode(trace_id)));
        o.insert("span_id".into(), json!(B64.encode(span_id)));
        if let Some(p) = id_bytes(s.get("parent_span_id").or_else(|| s.get("parent_id"))) {
            o.insert("parent_span_id".into(), json!(B64.encode(p)));
        }
        o.insert(
            "name".into(),
            json!(s.get("name").and_then(Value::as_str).unwrap_or("")),
        );
        let start = s
            .get("start_time_unix_nano")
            .or_else(|| s.get("start_time"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if start != 0 {
            o.insert("start_time_unix_nano".into(), json!(start));
        }
        if let Some(end) = s
            .get("end_time_unix_nano")
            .or_else(|| s.get("end_time"))
            .and_then(Value::as_u64)
            .filter(|e| *e != 0)
        {
            o.insert("end_time_unix_nano".into(), json!(end));
        }
        let attributes = key_values(s.get("attributes"), true);
        if !attributes.is_empty() {
            o.insert("attributes".into(), Value::Array(attributes));
        }
        if let Some(Value::Array(events)) = s.get("events")
            && !events.is_empty()
        {
            let ev: Vec<Value> = events
                .iter()
                .map(|e| {
                    let mut eo = Map::new();
                    if let Some(t) = e
                        .get("time_unix_nano")
                        .or_else(|| e.get("timestamp"))
                        .and_then(Value::as_u64)
                        .filter(|t| *t != 0)
                    {
                        eo.insert("time_unix_nano".into(), json!(t));
                    }
                    if let Some(n) = e
                        .get("name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                    {
                        eo.insert("name".into(), json!(n));
                    }
                    let attrs = key_values(e.get("attributes"), false);
                    if !attrs.is_empty() {
                        eo.insert("attributes".into(), Value::Array(attrs));
                    }
                    Value::Object(eo)
                })
                .collect();
            o.insert("events".into(), Value::Array(ev));
        }
        if let Some(Value::Array(links)) = s.get("links")
            && !links.is_empty()
        {
            let ls: Vec<Value> = links
                .iter()
                .filter_map(|l| {
                    let t = l.get("trace_id")?.as_str()?;
                    let t = t.rsplit('/').next().unwrap_or(t);
                    let t = hex_bytes(t.strip_prefix("tr-").unwrap_or(t))?;
                    let sp = hex_bytes(l.get("span_id")?.as_str()?)?;
                    let mut lo = Map::new();
                    lo.insert("trace_id".into(), json!(B64.encode(t)));
                    lo.insert("span_id".into(), json!(B64.encode(sp)));
                    let attrs = key_values(l.get("attributes"), false);
                    if !attrs.is_empty() {
                        lo.insert("attributes".into(), Value::Array(attrs));
                    }
                    Some(Value::Object(lo))
                })
                .collect();
            if !ls.is_empty() {
                o.insert("links".into(), Value::Array(ls));
            }
        }
        let mut status = Map::new();
        let st = s.get("status");
        let code = st
            .and_then(|x| x.get("code").or_else(|| x.get("status_code")))
            .and_then(Value::as_str)
            .unwrap_or("");
        let code = match code {
            "STATUS_CODE_OK" | "OK" => Some("STATUS_CODE_OK"),
            "STATUS_CODE_ERROR" | "ERROR" => Some("STATUS_CODE_ERROR"),
            _ => None,
        };
        if let Some(c) = code {
            status.insert("code".into(), json!(c));
        }
        if let Some(m) = st
            .and_then(|x| x.get("message").or_else(|| x.get("description")))
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            status.insert("message".into(), json!(m));
        }
        o.insert("status".into(), Value::Object(status));
        Some(Value::Object(o))
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(timestamp(1_796_534_716_842), "2026-12-06T05:25:16.842Z");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_timestamp("2026-12-06T05:25:16.842Z"),
            Some(1_796_534_716_842)
        );
        assert_eq!(
            parse_timestamp("2026-12-06T06:25:16.842999+01:00"),
            Some(1_796_534_716_842)
        );
        assert_eq!(parse_timestamp("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(parse_timestamp("2026-13-06T05:25:16Z"), None);
        assert_eq!(parse_timestamp("1700000000000"), None);
        assert_eq!(duration(111), "0.111s");
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(2000), "2s");
        assert_eq!(parse_duration("0.111s"), Some(111));
        assert_eq!(parse_duration("1.5s"), Some(1500));
        assert_eq!(parse_duration("3s"), Some(3000));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn trace_info_v3_written_directly_is_the_sorted_map() {
        let long = "k".repeat(300);
        let mut t = TraceInfo {
            trace_id: "tr-1".into(),
            client_request_id: Some("c-1".into()),
            experiment_id: "7".into(),
            request_time_ms: 1_796_534_716_842,
            execution_duration_ms: Some(1500),
            state: TraceState::Ok,
            request_preview: Some("{\"q\": \"é\"}".into()),
            response_preview: None,
            ..Default::default()
        };
        // Two keys equal once cut to 250 characters: the later one's value is kept.
        t.tags.insert(format!("{long}a"), "first".into());
        t.tags.insert(format!("{long}b"), "é".repeat(5000));
        t.tags.insert("mlflow.traceName".into(), "chat".into());
        t.trace_metadata
            .insert("mlflow.trace.session".into(), "s-1".into());
        t.assessments.push(Assessment {
            assessment_name: "tone".into(),
            trace_id: "tr-1".into(),
            ..Default::default()
        });
        let direct = serde_json::to_string(&TraceInfoV3(&t)).unwrap();
        // Keys in sorted order and none repeated: re-serialising the parsed map changes nothing.
        let parsed: Value = serde_json::from_str(&direct).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), direct);
        assert_eq!(trace_info_v3(&t), parsed);
        assert_eq!(parsed["request_time"], "2026-12-06T05:25:16.842Z");
        assert_eq!(parsed["execution_duration"], "1.500s");
        assert_eq!(parsed["state"], "OK");
        assert_eq!(
            parsed["trace_location"],
            json!({"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "7"}})
        );
        assert!(parsed.get("response_preview").is_none());
        let tags = parsed["tags"].as_object().unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[&"k".repeat(250)], "é".repeat(4096));
        assert_eq!(tags["mlflow.traceName"], "chat");
        assert_eq!(parsed["trace_metadata"]["mlflow.trace.session"], "s-1");
        assert_eq!(parsed["assessments"][0]["assessment_name"], "tone");
        assert_eq!(cut_str("aé", 1), "a");
        assert_eq!(cut_str("éé", 1), "é");
        assert_eq!(cut_str("abc", 5), "abc");
    }

    #[test]
    fn written_otel_span_is_the_oracle_tree() {
        let cases = [
            r#"{"trace_id": "amYqRCy398Tvdq2EBIMZ1w==", "span_id": "ywGPnO4NgdE=", "parent_span_id": null, "name": "outer", "start_time_unix_nano": 1796534716842205807, "end_time_unix_nano": 1796534716953742312, "events": [{"name": "exception", "time_unix_nano": 5, "attributes": {"exception.message": "boom"}}], "status": {"code": "STATUS_CODE_UNSET", "message": ""}, "attributes": {"mlflow.spanType": "\"CHAIN\"", "mlflow.spanInputs": "{\"x\": 3}", "arr": "[1, \"x\", 1.5, null]", "raw": "not json"}, "links": [{"trace_id": "tr-0000000000000000000000000000abcd", "span_id": "00000000000000ff", "attributes": null}]}"#,
            r#"{"trace_id": "q6urq6urq6urq6urq6urqw==", "span_id": "AAAAAAAAAAI=", "parent_span_id": "AAAAAAAAAAE=", "name": "step-1", "start_time_unix_nano": 1700000000000001000, "end_time_unix_nano": 1700000000010001000, "events": [], "status": {"code": "STATUS_CODE_OK", "message": ""}, "attributes": {"mlflow.spanType": "\"CHAIN\"", "mlflow.spanInputs": "{\"query\": \"q1\", \"pad\": \"xx\"}", "mlflow.spanOutputs": "{\"answer\": \"a1\"}"}, "links": []}"#,
            // 3.5.0's form: hex ids in a context, parent_id, start_time/end_time, status_code.
            r#"{"name": "n", "context": {"trace_id": "0x", "span_id": "00000000000000ab"}, "parent_id": "00000000000000aa", "start_time": 10, "end_time": 0, "status": {"status_code": "ERROR", "description": "bad \"x\"\n"}, "attributes": {}}"#,
            r#"{"context": {"trace_id": "0123456789abcdef0123456789abcdef", "span_id": "00000000000000ab"}, "status": {"status_code": "OK"}}"#,
            // Escapes and non-ASCII in keys and values; keys out of order; a repeated key.
            r#"{"trace_id": "AAAAAAAAAAAAAAAAAAAAAA", "span_id": "AQIDBAUGBwg", "name": "é\u00e9\t\"q\"", "attributes": {"z": "1", "b\"k\u00e9": "\"v\\n\u2603\"", "a": 7, "n": null, "t": true, "o": {"y": [1, {"z": false}], "a": -0.0}, "f": "1e300", "big": "18446744073709551615", "neg": "-5", "z": "2"}, "name": "last"}"#,
            // Events and links of every shape.
            r#"{"trace_id": "AAAAAAAAAAAAAAAAAAAAAA==", "span_id": "AQIDBAUGBwg=", "events": [1, {}, {"timestamp": 9, "name": "", "attributes": {"k": "\"not decoded\"", "l": [1, 2]}}, {"time_unix_nano": 0, "name": "e"}], "links": [{"trace_id": "x", "span_id": "00"}, 3, {"trace_id": "traces/tr-00000000000000000000000000000001", "span_id": "0000000000000002", "attributes": {"w": 1.25}}], "status": "OK", "start_time_unix_nano": 1.5, "end_time_unix_nano": -3}"#,
            r#"{"trace_id": "AAAAAAAAAAAAAAAAAAAAAA==", "span_id": "AQIDBAUGBwg=", "events": {}, "links": [{"trace_id": "zz", "span_id": "00"}], "attributes": [1, 2], "status": null}"#,
            // Unreadable: no span id, an empty id, not an object, not JSON.
            r#"{"trace_id": "AAAAAAAAAAAAAAAAAAAAAA=="}"#,
            r#"{"trace_id": "", "span_id": "AQIDBAUGBwg="}"#,
            r#"[1, 2]"#,
            r#"{"trace_id": "AAAAAAAAAAAAAAAAAAAAAA==", "span_id": "#,
        ];
        for content in cases {
            let mut out = b"[".to_vec();
            let ok = write_otel_span(content, &mut out);
            match otel_span(content) {
                Some(v) => {
                    assert!(ok, "{content}");
                    assert_eq!(
                        std::str::from_utf8(&out[1..]).unwrap(),
                        v.to_string(),
                        "{content}"
                    );
                }
                None => {
                    assert!(!ok, "{content}");
                    assert_eq!(out, b"[", "{content}");
                }
            }
        }
    }

    #[test]
    fn stored_span_to_otel_json() {
        let content = r#"{"trace_id": "amYqRCy398Tvdq2EBIMZ1w==", "span_id": "ywGPnO4NgdE=", "parent_span_id": null, "name": "outer", "start_time_unix_nano": 1796534716842205807, "end_time_unix_nano": 1796534716953742312, "events": [{"name": "exception", "time_unix_nano": 5, "attributes": {"exception.message": "boom"}}], "status": {"code": "STATUS_CODE_UNSET", "message": ""}, "attributes": {"mlflow.spanType": "\"CHAIN\"", "mlflow.spanInputs": "{\"x\": 3}", "arr": "[1, \"x\", 1.5, null]", "raw": "not json"}, "links": [{"trace_id": "tr-0000000000000000000000000000abcd", "span_id": "00000000000000ff", "attributes": null}]}"#;
        let v = otel_span(content).unwrap();
        assert_eq!(v["trace_id"], "amYqRCy398Tvdq2EBIMZ1w==");
        assert!(v.get("parent_span_id").is_none());
        assert_eq!(v["status"], json!({}));
        assert_eq!(
            v["start_time_unix_nano"],
            json!(1_796_534_716_842_205_807u64)
        );
        let attrs = v["attributes"].as_array().unwrap();
        let get = |k: &str| attrs.iter().find(|a| a["key"] == k).unwrap()["value"].clone();
        assert_eq!(get("mlflow.spanType"), json!({"string_value": "CHAIN"}));
        assert_eq!(
            get("mlflow.spanInputs"),
            json!({"kvlist_value": {"values": [{"key": "x", "value": {"int_value": 3}}]}})
        );
        assert_eq!(
            get("arr"),
            json!({"array_value": {"values": [{"int_value": 1}, {"string_value": "x"}, {"double_value": 1.5}, {}]}})
        );
        assert_eq!(get("raw"), json!({"string_value": "not json"}));
        assert_eq!(
            v["events"][0]["attributes"][0]["value"],
            json!({"string_value": "boom"})
        );
        assert_eq!(
            v["links"][0]["span_id"],
            json!(B64.encode([0, 0, 0, 0, 0, 0, 0, 0xff]))
        );
    }
}
