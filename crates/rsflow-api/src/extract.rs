//! Request decoding as MLflow does it (spec §1.2): GET parameters from the query string
//! (repeated keys become lists), POST/PUT bodies as JSON with a required JSON content type,
//! PATCH/DELETE bodies as JSON without that check. Every decoding failure is a 400
//! `INVALID_PARAMETER_VALUE` in MLflow's words, never axum's text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use bytes::BytesMut;
use http_body_util::BodyExt;
use rsflow_core::MlflowError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::limits::{BodyLimits, is_body_timeout};
use tokio::sync::OwnedSemaphorePermit;

/// A JSON body within the server's size cap (413 past it, before reading a byte when the
/// declared length says so), its time cap (408) and its share of the memory budget for JSON
/// bodies (503 when that stays exhausted), returned with the share it holds. The caps come from
/// the limits middleware; MLflow has none (security.md §5), its largest legitimate bodies are
/// dataset profiles of up to 16 MiB, hence the 32 MiB default.
pub(crate) async fn read_json_body(
    req: Request,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), ApiError> {
    let limits = req
        .extensions()
        .get::<BodyLimits>()
        .cloned()
        .unwrap_or_default();
    let max = limits.max_json_body;
    let too_large = || {
        ApiError(MlflowError::payload_too_large(format!(
            "Request body exceeds the limit of {max} bytes."
        )))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = req.into_body();
    if declared.is_some_and(|n| n > max as u64) {
        // Refused unread; the limits middleware's `DrainOnDrop` reads the rest (up to a
        // bound) so that a client sending everything first still sees the answer.
        return Err(too_large());
    }
    // A declared length is reserved whole, up front: requests never hold part of the budget
    // while waiting for more of it. Bodies of unknown length reserve as their bytes arrive.
    let mut share = match declared {
        Some(n) if n > 0 => limits.reserve(n as usize).await.map_err(ApiError)?,
        _ => None,
    };
    let mut buf = BytesMut::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            let total = buf.len() + data.len();
            if total > max {
                return Ok(Read::TooLarge);
            }
            let held = share.as_ref().map_or(0, |p| p.num_permits());
            if total > held {
                match limits.reserve(total - held).await {
                    Ok(Some(more)) => match share.as_mut() {
                        Some(p) => p.merge(more),
                        None => share = Some(more),
                    },
                    Ok(None) => {}
                    Err(busy) => return Ok(Read::Busy(busy)),
                }
            }
            buf.extend_from_slice(&data);
        }
        Ok::<Read, axum::Error>(Read::Done)
    };
    let timed_out = || {
        ApiError(MlflowError::request_timeout(format!(
            "Timed out reading the request body (limit {} s).",
            limits.json_body_timeout.as_secs()
        )))
    };
    match tokio::time::timeout(limits.json_body_timeout, read).await {
        Err(_) => Err(timed_out()),
        Ok(Ok(Read::Done)) => Ok((buf.freeze(), share)),
        Ok(Ok(Read::TooLarge)) => Err(too_large()),
        Ok(Ok(Read::Busy(e))) => Err(ApiError(e)),
        Ok(Err(e)) if is_body_timeout(&e) => Err(timed_out()),
        Ok(Err(e)) => Err(ApiError(MlflowError::invalid_param(format!(
            "Failed to read request body: {e}"
        )))),
    }
}

/// How reading a JSON body ended, short of an error of the connection.
enum Read {
    Done,
    TooLarge,
    /// The memory budget for JSON bodies stayed exhausted.
    Busy(MlflowError),
}

/// The raw request parameters as a JSON object, before typing.
pub struct Params(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let query = req.uri().query().map(str::to_owned);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if method == Method::GET
            && let Some(q) = query.filter(|q| !q.is_empty())
        {
            return Ok(Params(query_to_map(&q)));
        }
        // The budget share is held until the body has been parsed and dropped.
        let (body, _share) = read_json_body(req).await?;
        if (method == Method::POST || method == Method::PUT) && !body.is_empty() {
            require_json(content_type.as_deref())?;
        }
        Ok(Params(parse_json_body(&body)?))
    }
}

/// MLflow's `_validate_content_type(request, ["application/json"])`. [`Params`] applies it to
/// POST and PUT bodies; a handler whose MLflow counterpart checks even an empty body calls it.
pub fn require_json(content_type: Option<&str>) -> Result<(), ApiError> {
    match content_type {
        None => Err(ApiError(MlflowError::invalid_param(
            "Bad Request. Content-Type header is missing.",
        ))),
        Some(ct) if !is_json(ct) => Err(ApiError(MlflowError::invalid_param(
            "Bad Request. Content-Type must be one of ['application/json'].",
        ))),
        Some(_) => Ok(()),
    }
}

fn is_json(ct: &str) -> bool {
    ct.split(';')
        .next()
        .map(|m| m.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

/// Parse a JSON object body; an empty body is `{}`, a JSON string holding an object is decoded
/// twice (a legacy client quirk MLflow accepts).
pub fn parse_json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let bad = |e: serde_json::Error| {
        ApiError(MlflowError::invalid_param(format!(
            "Malformed request body: {e}"
        )))
    };
    let v: Value = serde_json::from_slice(body).map_err(bad)?;
    let v = match v {
        Value::String(s) => serde_json::from_str(&s).map_err(bad)?,
        other => other,
    };
    match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        other => Err(ApiError(MlflowError::invalid_param(format!(
            "Malformed request body: expected a JSON object, got {other}"
        )))),
    }
}

/// `a=1&b=x&b=y` -> `{"a": "1", "b": ["x", "y"]}`, form-decoded (`+` is a space).
pub fn query_to_map(query: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = form_decode(k);
        let v = Value::String(form_decode(v));
        match map.get_mut(&k) {
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                map.insert(k, v);
            }
        }
    }
    map
}

fn form_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Typed access to request parameters with MLflow's messages.
impl Params {
    fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A string field; a repeated query key takes its first value. A JSON number or bool is
    /// refused, never coerced: protobuf's `ParseDict` fails on it and MLflow's schema check
    /// then answers 400 naming the parameter (`experiments/create` `{"name": 123}`).
    pub fn opt_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(a)) if a.first().is_some_and(Value::is_string) => {
                Ok(a[0].as_str().map(str::to_owned))
            }
            Some(other) => Err(invalid_type(name, other)),
        }
    }

    /// A required string: absent or empty is "Missing value for required parameter".
    pub fn req_str(&self, name: &str) -> Result<String, ApiError> {
        match self.opt_str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError(MlflowError::missing_param(name))),
        }
    }

    /// The first present of several spellings (`run_id` then `run_uuid`).
    pub fn req_str_any(&self, names: &[&str]) -> Result<String, ApiError> {
        for n in names {
            if let Some(s) = self.opt_str(n)?.filter(|s| !s.is_empty()) {
                return Ok(s);
            }
        }
        Err(ApiError(MlflowError::missing_param(names[0])))
    }

    /// A string that must be a JSON string when present (MLflow's schema check, e.g. `version`).
    pub fn req_json_string(&self, name: &str) -> Result<String, ApiError> {
        match self.raw(name) {
            None => Err(ApiError(MlflowError::missing_param(name))),
            Some(Value::String(s)) if s.is_empty() => {
                Err(ApiError(MlflowError::missing_param(name)))
            }
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(invalid_type(name, other)),
        }
    }

    /// An int64: a JSON number or a decimal string.
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| invalid_type(name, &Value::Number(n.clone()))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v @ Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| invalid_type(name, v)),
            Some(Value::Array(a)) if a.len() == 1 => {
                Params(Map::from_iter([(name.to_owned(), a[0].clone())])).opt_i64(name)
            }
            Some(other) => Err(invalid_type(name, other)),
        }
    }

    pub fn req_i64(&self, name: &str) -> Result<i64, ApiError> {
        self.opt_i64(name)?
            .ok_or_else(|| ApiError(MlflowError::missing_param(name)))
    }

    /// A double: number, numeric string, or "NaN"/"Infinity"/"-Infinity".
    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) => parse_f64(v).map(Some).ok_or_else(|| invalid_type(name, v)),
        }
    }

    /// A bool: JSON bool or "true"/"false" in any case.
    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v @ Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(invalid_type(name, v)),
            },
            Some(other) => Err(invalid_type(name, other)),
        }
    }

    /// A repeated string field: a list of strings, or a single string. Any other item is
    /// refused with the whole value, as MLflow's `_assert_item_type_string` reports it.
    pub fn str_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.raw(name) {
            None => Ok(vec![]),
            Some(list @ Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(invalid_type(name, list)),
                })
                .collect(),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(other) => Err(invalid_type(name, other)),
        }
    }

    /// A repeated message field, deserialised item by item.
    pub fn list<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>, ApiError> {
        match self.raw(name) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| serde_json::from_value(v.clone()).map_err(|_| invalid_type(name, v)))
                .collect(),
            Some(other) => Err(invalid_type(name, other)),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw(name)
    }
}

pub fn parse_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.trim() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            t => t.parse::<f64>().ok(),
        },
        _ => None,
    }
}

/// MLflow's wording for a value of the wrong type.
pub fn invalid_type(name: &str, v: &Value) -> ApiError {
    let ty = match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    };
    ApiError(MlflowError::invalid_param(format!(
        "Invalid value {v} for parameter '{name}' supplied:  Hint: Value was of type '{ty}'. See the API docs for more information about request parameters."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_repeated_keys_become_lists() {
        let m = query_to_map("experiment_ids=1&experiment_ids=2&filter=name+LIKE+%27a%25%27");
        assert_eq!(m["experiment_ids"], serde_json::json!(["1", "2"]));
        assert_eq!(m["filter"], serde_json::json!("name LIKE 'a%'"));
    }

    #[test]
    fn double_encoded_json_body() {
        let m = parse_json_body(br#""{\"name\": \"x\"}""#).unwrap();
        assert_eq!(m["name"], "x");
        assert!(parse_json_body(b"").unwrap().is_empty());
        assert!(parse_json_body(b"[1]").is_err());
    }

    #[test]
    fn doubles_round_trip_exactly() {
        // Without serde_json's float_roundtrip these come back one ULP off (found under load:
        // 10% of random metric values changed in their last digit).
        for text in [
            "0.12081509429671067",
            "0.44182616226749827",
            "0.11774327939890383",
        ] {
            let m = parse_json_body(format!("{{\"v\": {text}}}").as_bytes()).unwrap();
            let v = m["v"].as_f64().unwrap();
            assert_eq!(v, text.parse::<f64>().unwrap());
            assert_eq!(serde_json::to_string(&v).unwrap(), text);
        }
    }

    #[test]
    fn numbers_are_not_strings() {
        let p = Params(
            parse_json_body(
                br#"{"name": 123, "flag": true, "ids": ["1", 2], "one": 7, "ok": ["a"]}"#,
            )
            .unwrap(),
        );
        let msg = |r: Result<_, ApiError>| r.map(|_: Option<String>| ()).unwrap_err().0.message;
        assert_eq!(
            msg(p.opt_str("name")),
            "Invalid value 123 for parameter 'name' supplied:  Hint: Value was of type 'int'. \
             See the API docs for more information about request parameters."
        );
        assert!(msg(p.opt_str("flag")).contains("of type 'bool'"));
        assert!(p.req_str("name").is_err());
        let e = p.str_list("ids").unwrap_err().0;
        assert!(
            e.message
                .starts_with(r#"Invalid value ["1",2] for parameter 'ids'"#),
            "{e:?}"
        );
        assert!(e.message.contains("of type 'list'"));
        assert!(p.str_list("one").is_err());
        assert_eq!(p.str_list("ok").unwrap(), ["a"]);
        // Query strings carry only strings.
        let q = Params(query_to_map("name=123&ids=1&ids=2"));
        assert_eq!(q.req_str("name").unwrap(), "123");
        assert_eq!(q.str_list("ids").unwrap(), ["1", "2"]);
    }

    #[test]
    fn typed_access() {
        let p = Params(query_to_map("max_results=5&flag=TRUE&x=abc"));
        assert_eq!(p.opt_i64("max_results").unwrap(), Some(5));
        assert_eq!(p.opt_bool("flag").unwrap(), Some(true));
        assert!(p.opt_i64("x").is_err());
        assert!(
            p.req_str("missing")
                .unwrap_err()
                .0
                .message
                .contains("'missing'")
        );
    }
}
