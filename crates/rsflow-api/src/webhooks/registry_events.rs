//! The events registry writes fire, with the payloads `server/handlers.py` builds (spec §7).
//! Each is queued after the write succeeded; none can fail or slow the request.

use rsflow_core::wire::KeyValue;
use rsflow_core::wire_models::IS_PROMPT_TAG_KEY;

use super::events::{PyJson, event};
use crate::AppState;

/// `mlflow/prompt/constants.py`.
const PROMPT_TEXT_TAG_KEY: &str = "mlflow.prompt.text";
const PROMPT_TYPE_TAG_KEY: &str = "_mlflow_prompt_type";

fn s(v: &str) -> PyJson {
    PyJson::str(v)
}

/// `registered-models/create`: `prompt.created` or `registered_model.created`.
pub fn registered_model_created(
    st: &AppState,
    name: &str,
    tags: &[KeyValue],
    description: Option<&str>,
    is_prompt: bool,
) {
    let kept = tags
        .iter()
        .filter(|t| !is_prompt || (t.key != IS_PROMPT_TAG_KEY && t.key != PROMPT_TYPE_TAG_KEY));
    let data = PyJson::obj(vec![
        ("name", s(name)),
        (
            "tags",
            PyJson::tags(kept.map(|t| (t.key.as_str(), t.value.as_str()))),
        ),
        // The proto field, so "" when the request had none.
        ("description", s(description.unwrap_or_default())),
    ]);
    let entity = if is_prompt {
        "prompt"
    } else {
        "registered_model"
    };
    st.webhooks.emit(event(entity, "created"), data);
}

/// `model-versions/create`: `prompt_version.created` (template out of the tags) or
/// `model_version.created`.
#[allow(clippy::too_many_arguments)]
pub fn model_version_created(
    st: &AppState,
    name: &str,
    version: &str,
    source: &str,
    run_id: Option<&str>,
    tags: &[KeyValue],
    description: Option<&str>,
    is_prompt: bool,
) {
    let description = PyJson::opt(description.filter(|d| !d.is_empty()));
    if is_prompt {
        let template = tags
            .iter()
            .rev()
            .find(|t| t.key == PROMPT_TEXT_TAG_KEY)
            .map(|t| t.value.as_str());
        let kept = tags.iter().filter(|t| {
            ![IS_PROMPT_TAG_KEY, PROMPT_TYPE_TAG_KEY, PROMPT_TEXT_TAG_KEY].contains(&t.key.as_str())
        });
        let data = PyJson::obj(vec![
            ("name", s(name)),
            ("version", s(version)),
            ("template", PyJson::opt(template)),
            (
                "tags",
                PyJson::tags(kept.map(|t| (t.key.as_str(), t.value.as_str()))),
            ),
            ("description", description),
        ]);
        st.webhooks.emit(event("prompt_version", "created"), data);
    } else {
        let data = PyJson::obj(vec![
            ("name", s(name)),
            ("version", s(version)),
            ("source", s(source)),
            ("run_id", PyJson::opt(run_id.filter(|r| !r.is_empty()))),
            (
                "tags",
                PyJson::tags(tags.iter().map(|t| (t.key.as_str(), t.value.as_str()))),
            ),
            ("description", description),
        ]);
        st.webhooks.emit(event("model_version", "created"), data);
    }
}

/// `registered-models/set-tag` and `delete-tag`: prompts only (`value` is `None` on delete).
pub fn registered_model_tag(st: &AppState, name: &str, key: &str, value: Option<&str>) {
    let mut fields = vec![("name", s(name)), ("key", s(key))];
    if let Some(v) = value {
        fields.push(("value", s(v)));
    }
    let action = if value.is_some() { "set" } else { "deleted" };
    st.webhooks.emit_by_kind(
        name,
        (event("prompt_tag", action), PyJson::obj(fields)),
        None,
    );
}

/// `model-versions/set-tag` and `delete-tag`.
pub fn model_version_tag(st: &AppState, name: &str, version: &str, key: &str, value: Option<&str>) {
    let mut fields = vec![("name", s(name)), ("version", s(version)), ("key", s(key))];
    if let Some(v) = value {
        fields.push(("value", s(v)));
    }
    let action = if value.is_some() { "set" } else { "deleted" };
    let data = PyJson::obj(fields);
    st.webhooks.emit_by_kind(
        name,
        (event("prompt_version_tag", action), data.clone()),
        Some((event("model_version_tag", action), data)),
    );
}

/// `registered-models/alias` POST (`version` set) and DELETE.
pub fn alias(st: &AppState, name: &str, alias: &str, version: Option<&str>) {
    let mut fields = vec![("name", s(name)), ("alias", s(alias))];
    if let Some(v) = version {
        fields.push(("version", s(v)));
    }
    let action = if version.is_some() {
        "created"
    } else {
        "deleted"
    };
    let data = PyJson::obj(fields);
    st.webhooks.emit_by_kind(
        name,
        (event("prompt_alias", action), data.clone()),
        Some((event("model_version_alias", action), data)),
    );
}
