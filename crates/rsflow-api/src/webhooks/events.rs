//! Webhook events and their payloads (`mlflow/entities/webhook.py`, `mlflow/webhooks/types.py`).
//!
//! The wire names are the proto enum names (`MODEL_VERSION`, `CREATED`); the stored and
//! delivered names are MLflow's lower-case values (`model_version`, `created`).

use rsflow_core::MlflowError;
use rsflow_core::pyfmt::write_json_str;
use rsflow_store::webhooks::WebhookEventKey;

/// `VALID_ENTITY_ACTIONS`, in MLflow's order; the actions of each entity sorted by value.
pub const VALID_EVENTS: &[(&str, &[&str])] = &[
    ("registered_model", &["created"]),
    ("model_version", &["created"]),
    ("model_version_tag", &["deleted", "set"]),
    ("model_version_alias", &["created", "deleted"]),
    ("prompt", &["created"]),
    ("prompt_version", &["created"]),
    ("prompt_tag", &["deleted", "set"]),
    ("prompt_version_tag", &["deleted", "set"]),
    ("prompt_alias", &["created", "deleted"]),
    ("budget_policy", &["exceeded"]),
];

/// `WebhookAction` values.
const ACTIONS: &[&str] = &["created", "updated", "deleted", "set", "exceeded"];

/// A validated (entity, action) pair.
pub type Event = WebhookEventKey;

pub fn event(entity: &str, action: &str) -> Event {
    WebhookEventKey {
        entity: entity.to_owned(),
        action: action.to_owned(),
    }
}

/// One `{"entity": "...", "action": "..."}` from a request. MLflow's proto parser turns an
/// unknown or lower-case enum name into `*_UNSPECIFIED` and then fails with a 500; rsflow
/// answers 400 (spec §1, known difference).
pub fn parse_event(v: &serde_json::Value) -> Result<Event, MlflowError> {
    let field = |name: &str| v.get(name).and_then(|x| x.as_str()).unwrap_or_default();
    let (entity_raw, action_raw) = (field("entity"), field("action"));
    let entity = entity_raw.to_ascii_lowercase();
    let action = action_raw.to_ascii_lowercase();
    let known_entity =
        entity_raw == entity.to_ascii_uppercase() && VALID_EVENTS.iter().any(|(e, _)| *e == entity);
    if !known_entity {
        return Err(MlflowError::invalid_param(format!(
            "Invalid webhook event entity: {}. Valid entities are: {}.",
            serde_json::Value::String(entity_raw.to_owned()),
            VALID_EVENTS
                .iter()
                .map(|(e, _)| e.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if action_raw != action.to_ascii_uppercase() || !ACTIONS.contains(&action.as_str()) {
        return Err(MlflowError::invalid_param(format!(
            "Invalid webhook event action: {}. Valid actions are: {}.",
            serde_json::Value::String(action_raw.to_owned()),
            ACTIONS
                .iter()
                .map(|a| a.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let valid = VALID_EVENTS
        .iter()
        .find(|(e, _)| *e == entity)
        .map(|(_, a)| *a)
        .unwrap_or_default();
    if !valid.contains(&action.as_str()) {
        let listed = valid
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(MlflowError::invalid_param(format!(
            "Invalid action '{action}' for entity '{entity}'. Valid actions are: [{listed}]"
        )));
    }
    Ok(event(&entity, &action))
}

/// The wire form of a stored event (`{"entity": "MODEL_VERSION", "action": "CREATED"}`).
pub fn event_json(e: &Event) -> serde_json::Value {
    serde_json::json!({
        "entity": e.entity.to_ascii_uppercase(),
        "action": e.action.to_ascii_uppercase(),
    })
}

/// A JSON value written as Python's `json.dumps` writes it (`", "` and `": "`, ASCII only),
/// with object keys in the order MLflow's payload dicts have them.
#[derive(Debug, Clone, PartialEq)]
pub enum PyJson {
    Null,
    Str(String),
    /// A pre-rendered number (the budget example's floats).
    Raw(&'static str),
    Obj(Vec<(String, PyJson)>),
}

impl PyJson {
    pub fn str(s: impl Into<String>) -> Self {
        PyJson::Str(s.into())
    }

    pub fn opt(s: Option<impl Into<String>>) -> Self {
        s.map_or(PyJson::Null, |s| PyJson::Str(s.into()))
    }

    /// A `{key: value}` string dict (tags), keeping the given order; a later duplicate key
    /// overwrites the value in place, as a Python dict comprehension does.
    pub fn tags<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut out: Vec<(String, PyJson)> = Vec::new();
        for (k, v) in pairs {
            match out.iter_mut().find(|(key, _)| key == k) {
                Some(slot) => slot.1 = PyJson::str(v),
                None => out.push((k.to_owned(), PyJson::str(v))),
            }
        }
        PyJson::Obj(out)
    }

    pub fn obj(fields: Vec<(&str, PyJson)>) -> Self {
        PyJson::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    pub fn write(&self, out: &mut String) {
        match self {
            PyJson::Null => out.push_str("null"),
            PyJson::Str(s) => write_json_str(out, s, true),
            PyJson::Raw(r) => out.push_str(r),
            PyJson::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_json_str(out, k, true);
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// The body MLflow posts: `json.dumps({"entity", "action", "timestamp", "data"})`.
pub fn delivery_body(e: &Event, timestamp: &str, data: &PyJson) -> String {
    let mut out = String::new();
    PyJson::obj(vec![
        ("entity", PyJson::str(&e.entity)),
        ("action", PyJson::str(&e.action)),
        ("timestamp", PyJson::str(timestamp)),
        ("data", data.clone()),
    ])
    .write(&mut out);
    out
}

/// `get_example_payload_for_event`: what `webhooks/<id>/test` sends.
pub fn example_payload(e: &Event) -> PyJson {
    let s = PyJson::str;
    let example_tags = || PyJson::tags([("example_key", "example_value")]);
    let fields = match (e.entity.as_str(), e.action.as_str()) {
        ("registered_model", _) => vec![
            ("name", s("example_model")),
            ("tags", example_tags()),
            ("description", s("An example registered model")),
        ],
        ("model_version", _) => vec![
            ("name", s("example_model")),
            ("version", s("1")),
            ("source", s("models:/123")),
            ("run_id", s("abcd1234abcd5678")),
            ("tags", example_tags()),
            ("description", s("An example model version")),
        ],
        ("model_version_tag", a) => {
            let mut f = vec![
                ("name", s("example_model")),
                ("version", s("1")),
                ("key", s("example_key")),
            ];
            if a == "set" {
                f.push(("value", s("example_value")));
            }
            f
        }
        ("model_version_alias", a) => {
            let mut f = vec![("name", s("example_model")), ("alias", s("example_alias"))];
            if a == "created" {
                f.push(("version", s("1")));
            }
            f
        }
        ("prompt", _) => vec![
            ("name", s("example_prompt")),
            ("tags", example_tags()),
            ("description", s("An example prompt")),
        ],
        ("prompt_version", _) => vec![
            ("name", s("example_prompt")),
            ("version", s("1")),
            ("template", s("Hello {{name}}!")),
            ("tags", example_tags()),
            ("description", s("An example prompt version")),
        ],
        ("prompt_tag", a) => {
            let mut f = vec![("name", s("example_prompt")), ("key", s("example_key"))];
            if a == "set" {
                f.push(("value", s("example_value")));
            }
            f
        }
        ("prompt_version_tag", a) => {
            let mut f = vec![
                ("name", s("example_prompt")),
                ("version", s("1")),
                ("key", s("example_key")),
            ];
            if a == "set" {
                f.push(("value", s("example_value")));
            }
            f
        }
        ("prompt_alias", a) => {
            let mut f = vec![("name", s("example_prompt")), ("alias", s("example_alias"))];
            if a == "created" {
                f.push(("version", s("1")));
            }
            f
        }
        _ => vec![
            ("budget_policy_id", s("bp-abc123")),
            ("budget_unit", s("USD")),
            ("budget_amount", PyJson::Raw("100.0")),
            ("current_spend", PyJson::Raw("105.5")),
            ("duration_unit", s("MONTHS")),
            ("duration_value", PyJson::Raw("1")),
            ("target_scope", s("ENDPOINT")),
            ("workspace", s("default")),
            ("target_value", s("ep-abc123")),
            ("window_start", PyJson::Raw("1704067200000")),
        ],
    };
    PyJson::obj(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_parse_as_mlflow_validates_them() {
        let ok = parse_event(&json!({"entity": "MODEL_VERSION", "action": "CREATED"})).unwrap();
        assert_eq!(ok, event("model_version", "created"));
        assert_eq!(
            parse_event(&json!({"entity": "REGISTERED_MODEL", "action": "DELETED"}))
                .unwrap_err()
                .message,
            "Invalid action 'deleted' for entity 'registered_model'. Valid actions are: ['created']"
        );
        assert!(parse_event(&json!({"entity": "model_version", "action": "created"})).is_err());
        assert!(parse_event(&json!({"entity": "EXPERIMENT", "action": "CREATED"})).is_err());
        assert!(parse_event(&json!({"entity": "PROMPT_TAG", "action": "UPDATED"})).is_err());
    }

    #[test]
    fn bodies_are_written_as_python_json_dumps() {
        let data = PyJson::obj(vec![
            ("name", PyJson::str("m\u{e9}")),
            ("tags", PyJson::tags([("a", "1"), ("b", "2"), ("a", "3")])),
            ("run_id", PyJson::Null),
        ]);
        let body = delivery_body(&event("model_version", "created"), "T", &data);
        assert_eq!(
            body,
            r#"{"entity": "model_version", "action": "created", "timestamp": "T", "data": {"name": "m\u00e9", "tags": {"a": "3", "b": "2"}, "run_id": null}}"#
        );
    }
}
