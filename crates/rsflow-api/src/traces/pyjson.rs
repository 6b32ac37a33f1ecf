//! Python values as MLflow's server sees decoded OTLP attributes, and `json.dumps` of them.
//!
//! The stored span JSON (spec §2.4.1) is written by Python's `json.dumps` over dicts that keep
//! insertion order; `serde_json::Value` sorts keys, so spans are built from [`PyVal`] and
//! dumped here byte for byte as the reference does (`", "`/`": "` separators, `repr` floats,
//! `NaN`/`Infinity`, bytes through `str()`, and `ensure_ascii` as the call site chooses).

use std::fmt::Write as _;

use rsflow_core::pyfmt::{repr_float, write_json_str};
use serde_json::Value;

/// A decoded attribute value (`_decode_otel_proto_anyvalue`): what a Python dict would hold.
#[derive(Debug, Clone, PartialEq)]
pub enum PyVal {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<PyVal>),
    Dict(PyDict),
}

/// An insertion-ordered dict: re-inserting a key keeps its first position, as in Python.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PyDict(pub Vec<(String, PyVal)>);

impl PyDict {
    pub fn insert(&mut self, key: impl Into<String>, value: PyVal) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An insertion-ordered map of span attributes to their stored JSON text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs(pub Vec<(String, String)>);

impl Attrs {
    pub fn insert(&mut self, key: impl Into<String>, value: String) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// `json.dumps(v, ensure_ascii=...)` with MLflow's `TraceJSONEncoder` (bytes become `str(b)`).
pub fn dumps(v: &PyVal, ensure_ascii: bool) -> String {
    let mut out = String::new();
    write_val(&mut out, v, ensure_ascii);
    out
}

fn write_val(out: &mut String, v: &PyVal, ascii: bool) {
    match v {
        PyVal::None => out.push_str("null"),
        PyVal::Bool(true) => out.push_str("true"),
        PyVal::Bool(false) => out.push_str("false"),
        PyVal::Int(i) => {
            let _ = write!(out, "{i}");
        }
        PyVal::Float(f) => out.push_str(&float_text(*f)),
        PyVal::Str(s) => write_json_str(out, s, ascii),
        PyVal::Bytes(b) => write_json_str(out, &bytes_repr(b), ascii),
        PyVal::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_val(out, item, ascii);
            }
            out.push(']');
        }
        PyVal::Dict(d) => {
            out.push('{');
            for (i, (k, item)) in d.0.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_str(out, k, ascii);
                out.push_str(": ");
                write_val(out, item, ascii);
            }
            out.push('}');
        }
    }
}

/// A float as `json.dumps` writes it (`float.__repr__`, and JavaScript's names for the rest).
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        repr_float(f)
    }
}

pub fn str_literal(s: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_str(&mut out, s, ascii);
    out
}

/// `str(b)` of Python `bytes`: `b'...'` with `\xNN` escapes.
fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from("b");
    out.push(quote);
    for &byte in b {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\'' if quote == '\'' => out.push_str("\\'"),
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push(quote);
    out
}

/// `json.loads` of stored attribute text, to the degree the server inspects it.
pub fn loads(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// `_try_parse_json_string`: the decoded string when the text is a JSON string, else the text.
pub fn try_parse_json_string(text: &str) -> String {
    match loads(text) {
        Some(Value::String(s)) => s,
        _ => text.to_owned(),
    }
}

/// Python truthiness of a decoded JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_like_python() {
        let mut d = PyDict::default();
        d.insert("b", PyVal::Float(1.0));
        d.insert(
            "a",
            PyVal::List(vec![PyVal::Int(1), PyVal::None, PyVal::Bool(true)]),
        );
        d.insert("b", PyVal::Float(1e20));
        d.insert("é", PyVal::Str("ü\n\"".into()));
        assert_eq!(
            dumps(&PyVal::Dict(d.clone()), false),
            "{\"b\": 1e+20, \"a\": [1, null, true], \"é\": \"ü\\n\\\"\"}"
        );
        assert_eq!(
            dumps(&PyVal::Dict(d), true),
            "{\"b\": 1e+20, \"a\": [1, null, true], \"\\u00e9\": \"\\u00fc\\n\\\"\"}"
        );
        assert_eq!(dumps(&PyVal::Float(f64::NAN), false), "NaN");
        assert_eq!(dumps(&PyVal::Float(-f64::INFINITY), false), "-Infinity");
        assert_eq!(
            dumps(&PyVal::Bytes(b"\x00\xffab'".to_vec()), false),
            "\"b\\\"\\\\x00\\\\xffab'\\\"\""
        );
        assert_eq!(
            dumps(&PyVal::Str("\u{1}\u{7f}".into()), false),
            "\"\\u0001\u{7f}\""
        );
    }
}
