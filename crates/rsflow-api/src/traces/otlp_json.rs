//! OTLP/JSON (`Content-Type: application/json`) to the protobuf request, as `mlflow server`
//! reads it (spec §2.6): span `traceId`/`spanId`/`parentSpanId` are hex (converted before the
//! parse), then a lenient proto-JSON parse: lowerCamel or snake_case names, unknown fields
//! ignored, 64-bit integers as numbers or strings, enums as names or numbers, other `bytes`
//! fields base64. Link ids are taken as hex when they have the hex length (OTLP's rule; MLflow
//! 3.18 converts them), else as base64 (3.17.2). Anything else is [`Malformed`].

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use serde_json::{Map, Value};

/// The body is not an OTLP request ("Invalid OpenTelemetry format").
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

type R<T> = Result<T, Malformed>;

/// Parse an OTLP/JSON export request.
pub fn parse(body: &[u8]) -> R<ExportTraceServiceRequest> {
    let v: Value = serde_json::from_slice(body).map_err(|_| Malformed)?;
    let obj = v.as_object().ok_or(Malformed)?;
    Ok(ExportTraceServiceRequest {
        resource_spans: list(obj, "resourceSpans", "resource_spans", resource_spans)?,
    })
}

/// A field by its JSON name or its proto name; `null` is absent.
fn field<'a>(obj: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    obj.get(camel)
        .or_else(|| obj.get(snake))
        .filter(|v| !v.is_null())
}

fn object(v: &Value) -> R<&Map<String, Value>> {
    v.as_object().ok_or(Malformed)
}

fn list<T>(
    obj: &Map<String, Value>,
    camel: &str,
    snake: &str,
    item: impl Fn(&Value) -> R<T>,
) -> R<Vec<T>> {
    match field(obj, camel, snake) {
        None => Ok(vec![]),
        Some(Value::Array(items)) => items.iter().map(item).collect(),
        Some(_) => Err(Malformed),
    }
}

fn string(obj: &Map<String, Value>, camel: &str, snake: &str) -> R<String> {
    match field(obj, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Malformed),
    }
}

fn integer(v: &Value) -> R<i128> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i.into())
            } else if let Some(u) = n.as_u64() {
                Ok(u.into())
            } else {
                let f = n.as_f64().ok_or(Malformed)?;
                if f.fract() == 0.0 && f.abs() < 1.8e19 {
                    Ok(f as i128)
                } else {
                    Err(Malformed)
                }
            }
        }
        Value::String(s) => {
            let t = s.trim();
            t.parse::<i128>().or_else(|_| {
                let f: f64 = t.parse().map_err(|_| Malformed)?;
                if f.fract() == 0.0 && f.abs() < 1.8e19 {
                    Ok(f as i128)
                } else {
                    Err(Malformed)
                }
            })
        }
        _ => Err(Malformed),
    }
}

fn u64_field(obj: &Map<String, Value>, camel: &str, snake: &str) -> R<u64> {
    field(obj, camel, snake).map_or(Ok(0), |v| u64::try_from(integer(v)?).map_err(|_| Malformed))
}

fn u32_field(obj: &Map<String, Value>, camel: &str, snake: &str) -> R<u32> {
    field(obj, camel, snake).map_or(Ok(0), |v| u32::try_from(integer(v)?).map_err(|_| Malformed))
}

fn enum_field(obj: &Map<String, Value>, camel: &str, snake: &str, names: &[&str]) -> R<i32> {
    match field(obj, camel, snake) {
        None => Ok(0),
        // An unknown name is dropped with `ignore_unknown_fields`, leaving the default.
        Some(Value::String(s)) if s.parse::<i64>().is_err() => {
            Ok(names.iter().position(|n| n == s).unwrap_or(0) as i32)
        }
        Some(v) => i32::try_from(integer(v)?).map_err(|_| Malformed),
    }
}

fn hex_id(obj: &Map<String, Value>, camel: &str, snake: &str) -> R<Vec<u8>> {
    match (
        obj.get(camel).filter(|v| !v.is_null()),
        field(obj, camel, snake),
    ) {
        (Some(Value::String(s)), _) => hex_decode(s),
        (Some(_), _) => Err(Malformed),
        // Only the lowerCamel names are hex in MLflow's pre-pass; the proto names stay base64.
        (None, Some(Value::String(s))) => base64_decode(s),
        (None, Some(_)) => Err(Malformed),
        (None, None) => Ok(vec![]),
    }
}

fn hex_decode(s: &str) -> R<Vec<u8>> {
    // Python's bytes.fromhex skips whitespace between byte pairs.
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(Malformed);
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16).ok_or(Malformed)?;
            let lo = (pair[1] as char).to_digit(16).ok_or(Malformed)?;
            Ok((hi * 16 + lo) as u8)
        })
        .collect()
}

fn base64_decode(s: &str) -> R<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let t = s.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
        .map_err(|_| Malformed)
}

fn resource_spans(v: &Value) -> R<ResourceSpans> {
    let o = object(v)?;
    Ok(ResourceSpans {
        resource: field(o, "resource", "resource").map(resource).transpose()?,
        scope_spans: list(o, "scopeSpans", "scope_spans", scope_spans)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn resource(v: &Value) -> R<Resource> {
    let o = object(v)?;
    Ok(Resource {
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: u32_field(
            o,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
        entity_refs: vec![],
    })
}

fn scope_spans(v: &Value) -> R<ScopeSpans> {
    let o = object(v)?;
    Ok(ScopeSpans {
        scope: field(o, "scope", "scope").map(scope).transpose()?,
        spans: list(o, "spans", "spans", span)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope(v: &Value) -> R<InstrumentationScope> {
    let o = object(v)?;
    Ok(InstrumentationScope {
        name: string(o, "name", "name")?,
        version: string(o, "version", "version")?,
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: u32_field(
            o,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
    })
}

const SPAN_KINDS: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

fn span(v: &Value) -> R<Span> {
    let o = object(v)?;
    Ok(Span {
        trace_id: hex_id(o, "traceId", "trace_id")?,
        span_id: hex_id(o, "spanId", "span_id")?,
        trace_state: string(o, "traceState", "trace_state")?,
        parent_span_id: hex_id(o, "parentSpanId", "parent_span_id")?,
        flags: u32_field(o, "flags", "flags")?,
        name: string(o, "name", "name")?,
        kind: enum_field(o, "kind", "kind", SPAN_KINDS)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: u64_field(o, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: u32_field(
            o,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
        events: list(o, "events", "events", event)?,
        dropped_events_count: u32_field(o, "droppedEventsCount", "dropped_events_count")?,
        links: list(o, "links", "links", link)?,
        dropped_links_count: u32_field(o, "droppedLinksCount", "dropped_links_count")?,
        status: field(o, "status", "status").map(status).transpose()?,
    })
}

fn event(v: &Value) -> R<span::Event> {
    let o = object(v)?;
    Ok(span::Event {
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        name: string(o, "name", "name")?,
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: u32_field(
            o,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
    })
}

/// A link id: hex as OTLP/JSON writes it when it has the id's hex length, else base64 (what
/// MLflow 3.17.2 reads, since it converts only span ids).
fn link_id(o: &Map<String, Value>, camel: &str, snake: &str, bytes: usize) -> R<Vec<u8>> {
    match field(o, camel, snake) {
        None => Ok(vec![]),
        Some(Value::String(s)) if s.len() == bytes * 2 => {
            hex_decode(s).or_else(|_| base64_decode(s))
        }
        Some(Value::String(s)) => base64_decode(s),
        Some(_) => Err(Malformed),
    }
}

fn link(v: &Value) -> R<span::Link> {
    let o = object(v)?;
    Ok(span::Link {
        trace_id: link_id(o, "traceId", "trace_id", 16)?,
        span_id: link_id(o, "spanId", "span_id", 8)?,
        trace_state: string(o, "traceState", "trace_state")?,
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: u32_field(
            o,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
        flags: u32_field(o, "flags", "flags")?,
    })
}

fn status(v: &Value) -> R<Status> {
    let o = object(v)?;
    Ok(Status {
        message: string(o, "message", "message")?,
        code: enum_field(o, "code", "code", STATUS_CODES)?,
    })
}

fn key_value(v: &Value) -> R<KeyValue> {
    let o = object(v)?;
    Ok(KeyValue {
        key: string(o, "key", "key")?,
        value: field(o, "value", "value").map(any_value).transpose()?,
        ..Default::default()
    })
}

fn any_value(v: &Value) -> R<AnyValue> {
    let o = object(v)?;
    let mut found: Option<any_value::Value> = None;
    let mut set = |x: any_value::Value| {
        if found.is_some() {
            // Two members of the `value` oneof.
            return Err(Malformed);
        }
        found = Some(x);
        Ok(())
    };
    if let Some(s) = field(o, "stringValue", "string_value") {
        set(any_value::Value::StringValue(
            s.as_str().ok_or(Malformed)?.to_owned(),
        ))?;
    }
    if let Some(b) = field(o, "boolValue", "bool_value") {
        set(any_value::Value::BoolValue(b.as_bool().ok_or(Malformed)?))?;
    }
    if let Some(i) = field(o, "intValue", "int_value") {
        let i = i64::try_from(integer(i)?).map_err(|_| Malformed)?;
        set(any_value::Value::IntValue(i))?;
    }
    if let Some(d) = field(o, "doubleValue", "double_value") {
        set(any_value::Value::DoubleValue(double(d)?))?;
    }
    if let Some(a) = field(o, "arrayValue", "array_value") {
        let a = object(a)?;
        set(any_value::Value::ArrayValue(ArrayValue {
            values: list(a, "values", "values", any_value)?,
        }))?;
    }
    if let Some(kv) = field(o, "kvlistValue", "kvlist_value") {
        let kv = object(kv)?;
        set(any_value::Value::KvlistValue(KeyValueList {
            values: list(kv, "values", "values", key_value)?,
        }))?;
    }
    if let Some(b) = field(o, "bytesValue", "bytes_value") {
        set(any_value::Value::BytesValue(base64_decode(
            b.as_str().ok_or(Malformed)?,
        )?))?;
    }
    Ok(AnyValue { value: found })
}

fn double(v: &Value) -> R<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or(Malformed),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            t => t.trim().parse().map_err(|_| Malformed),
        },
        _ => Err(Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_like_protobuf_json_format() {
        let body = br#"{"resourceSpans":[{"scope_spans":[{"spans":[{
            "traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"00f067aa0ba902b7",
            "parentSpanId":"","name":"n","kind":2,"startTimeUnixNano":"1700000000000000000",
            "end_time_unix_nano":1700000000000000001,"unknownField":{"x":1},
            "status":{"code":"STATUS_CODE_ERROR","message":"m"},
            "attributes":[{"key":"i","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":"NaN"}},
              {"key":"b","value":{"bytesValue":"AP8="}},{"key":"e","value":{}}]}]}]}]}"#;
        let req = parse(body).unwrap();
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id.len(), 16);
        assert_eq!(s.span_id, vec![0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert!(s.parent_span_id.is_empty());
        assert_eq!(s.kind, 2);
        assert_eq!(s.end_time_unix_nano, 1_700_000_000_000_000_001);
        assert_eq!(s.status.as_ref().unwrap().code, 2);
        assert_eq!(
            s.attributes[0].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(42))
        );
        assert_eq!(
            s.attributes[2].value.as_ref().unwrap().value,
            Some(any_value::Value::BytesValue(vec![0, 255]))
        );
        assert_eq!(s.attributes[3].value.as_ref().unwrap().value, None);
    }

    #[test]
    fn malformed_inputs() {
        for body in [
            &b"not json"[..],
            b"[1]",
            br#"{"resourceSpans":{}}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":5}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"-1"}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"stringValue":"a","intValue":1}}]}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":7}]}]}]}"#,
        ] {
            assert_eq!(parse(body), Err(Malformed), "{}", String::from_utf8_lossy(body));
        }
        assert!(parse(b"{}").unwrap().resource_spans.is_empty());
    }
}
