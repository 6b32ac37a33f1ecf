//! MLflow's input limits and naming rules (`mlflow/utils/validation.py` as the SQLAlchemy stores
//! apply them), with the reference's exact messages.
//!
//! Lengths count characters (Python `len`), not bytes. Python's `\w` is Unicode-aware, and its
//! `$` also matches before one trailing newline, so `"loss\n"` is a valid metric name there;
//! both quirks are kept.

use crate::pyfmt::{json_dumps_str, repr_float, repr_list, repr_str};
use crate::search::pylit::py_int;
use crate::{MlflowError, Result, wire};

pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20000;
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub const MAX_MODEL_REGISTRY_TAG_KEY_LENGTH: usize = 250;
pub const MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH: usize = 100_000;
pub const MAX_DATASET_NAME_SIZE: usize = 500;
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
pub const MAX_DATASET_SOURCE_SIZE: usize = 65_535;
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;
pub const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
pub const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;
pub const MAX_REGISTERED_MODEL_ALIAS_LENGTH: usize = 255;

fn invalid(msg: impl Into<String>) -> MlflowError {
    MlflowError::invalid_param(msg)
}

/// `MLFLOW_TRUNCATE_LONG_VALUES` (its value, if set): true unless `false` or `0` (any case).
/// MLflow raises on other values; the default is kept instead, since this is read at startup.
pub fn truncate_long_values(value: Option<&str>) -> bool {
    match value {
        Some(v) => !matches!(v.to_lowercase().as_str(), "false" | "0"),
        None => true,
    }
}

/// `invalid_value(path, value, message)` for a string value.
fn invalid_value(path: &str, value: &str, message: Option<&str>) -> MlflowError {
    match message {
        Some(m) => invalid(format!(
            "Invalid value {} for parameter '{path}' supplied: {m}",
            json_dumps_str(value)
        )),
        None => invalid(format!(
            "Invalid value {} for parameter '{path}' supplied.",
            json_dumps_str(value)
        )),
    }
}

fn exceeds_maximum_length(path: &str, limit: usize) -> MlflowError {
    invalid(format!(
        "'{path}' exceeds the maximum length of {limit} characters"
    ))
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// `_validate_length_limit` without truncation.
fn length_limit(entity: &str, limit: usize, value: &str) -> Result<()> {
    if char_len(value) > limit {
        return Err(exceeds_maximum_length(entity, limit));
    }
    Ok(())
}

/// `_validate_length_limit(.., truncate=True)`: cut to `limit` characters when allowed.
fn length_limit_truncating(
    entity: &str,
    limit: usize,
    value: String,
    truncate: bool,
) -> Result<String> {
    match value.char_indices().nth(limit) {
        None => Ok(value),
        Some((cut, _)) if truncate => {
            let mut v = value;
            v.truncate(cut);
            Ok(v)
        }
        Some(_) => Err(exceeds_maximum_length(entity, limit)),
    }
}

/// Python's `\w`.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `s` without the one trailing newline a Python `$` may match before.
fn before_dollar(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

/// `posixpath.normpath`.
fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && comps.is_empty()) || comps.last() == Some(&"..") {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let joined = format!("{}{}", "/".repeat(initial), comps.join("/"));
    if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// `path_not_unique`: the name is not its own normal form, or escapes upwards or to the root.
fn path_not_unique(name: &str) -> bool {
    let norm = normpath(name);
    norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/')
}

fn bad_path_message(name: &str) -> String {
    format!(
        "Names may be treated as files in certain cases, and must not resolve to other names \
         when treated as such. This name would resolve to {}",
        repr_str(&normpath(name))
    )
}

const BAD_CHARACTER_MESSAGE: &str = "Names may only contain alphanumerics, underscores (_), dashes \
     (-), periods (.), spaces ( ), colon(:) and slashes (/).";

/// The shared rule for metric, param and tag names: `^[/\w.\- :]*$`, then path uniqueness.
fn entity_name(name: &str, path: &str) -> Result<()> {
    let ok = before_dollar(name)
        .chars()
        .all(|c| is_word(c) || matches!(c, '/' | '.' | '-' | ' ' | ':'));
    if !ok {
        return Err(invalid_value(path, name, Some(BAD_CHARACTER_MESSAGE)));
    }
    if path_not_unique(name) {
        return Err(invalid_value(path, name, Some(&bad_path_message(name))));
    }
    Ok(())
}

/// `a.b` json path joining as `append_to_json_path` does.
fn json_path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// `_validate_metric_name` (path `name`).
pub fn metric_name(name: &str) -> Result<()> {
    entity_name(name, "name")
}

/// `_validate_param_name` (path `key`).
pub fn param_name(name: &str) -> Result<()> {
    entity_name(name, "key")
}

/// `_validate_tag_name` (path `key`): run tags, experiment tags and registry tag keys.
pub fn tag_name(name: &str) -> Result<()> {
    entity_name(name, "key")
}

fn metric_at(m: &wire::Metric, prefix: &str) -> Result<()> {
    entity_name(&m.key, &json_path(prefix, "name"))?;
    if m.timestamp < 0 {
        return Err(invalid_value_num(
            &json_path(prefix, "timestamp"),
            m.timestamp,
            &format!(
                "metric '{}' (value={}). Timestamp must be a nonnegative long (64-bit integer) ",
                m.key,
                repr_float(m.value.0)
            ),
        ));
    }
    length_limit("Metric name", MAX_ENTITY_KEY_LENGTH, &m.key)
}

fn invalid_value_num(path: &str, value: i64, message: &str) -> MlflowError {
    invalid(format!(
        "Invalid value {value} for parameter '{path}' supplied: {message}"
    ))
}

/// `_validate_metric` as `log-metric` applies it: name, non-negative timestamp, key length.
/// (A missing or non-numeric value is a request-decoding error before this point.)
pub fn metric(m: &wire::Metric) -> Result<()> {
    metric_at(m, "")
}

/// `_validate_metric` for entry `index` of a `log-batch` request (paths `metrics[i].name`, ...).
pub fn metric_in_batch(m: &wire::Metric, index: usize) -> Result<()> {
    metric_at(m, &format!("metrics[{index}]"))
}

fn param_at(p: wire::Param, truncate: bool, prefix: &str) -> Result<wire::Param> {
    entity_name(&p.key, &json_path(prefix, "key"))?;
    length_limit("Param key", MAX_ENTITY_KEY_LENGTH, &p.key)?;
    let value = length_limit_truncating("Param value", MAX_PARAM_VAL_LENGTH, p.value, truncate)?;
    Ok(wire::Param { key: p.key, value })
}

/// `_validate_param`: name, key length, value cut to 6000 characters when `truncate` (see
/// [`truncate_long_values`]) or rejected.
pub fn param(p: wire::Param, truncate: bool) -> Result<wire::Param> {
    param_at(p, truncate, "")
}

/// [`param`] for entry `index` of a `log-batch` request.
pub fn param_in_batch(p: wire::Param, truncate: bool, index: usize) -> Result<wire::Param> {
    param_at(p, truncate, &format!("params[{index}]"))
}

fn run_tag_at(t: wire::RunTag, truncate: bool, prefix: &str) -> Result<wire::RunTag> {
    let key_path = json_path(prefix, "key");
    entity_name(&t.key, &key_path)?;
    length_limit(&key_path, MAX_ENTITY_KEY_LENGTH, &t.key)?;
    let value = length_limit_truncating(
        &json_path(prefix, "value"),
        MAX_TAG_VAL_LENGTH,
        t.value,
        truncate,
    )?;
    Ok(wire::RunTag { key: t.key, value })
}

/// `_validate_tag` for a run tag: name, key length, value cut to 8000 characters when
/// `truncate` or rejected.
pub fn run_tag(t: wire::RunTag, truncate: bool) -> Result<wire::RunTag> {
    run_tag_at(t, truncate, "")
}

/// [`run_tag`] for entry `index` of a `log-batch` request.
pub fn run_tag_in_batch(t: wire::RunTag, truncate: bool, index: usize) -> Result<wire::RunTag> {
    run_tag_at(t, truncate, &format!("tags[{index}]"))
}

/// `_validate_experiment_name`.
pub fn experiment_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid("Invalid experiment name: ''"));
    }
    length_limit("name", MAX_EXPERIMENT_NAME_LENGTH, name)
}

/// `_validate_experiment_tag`: name, key ≤ 250, value ≤ 20000 (never truncated). The
/// reference's extra checks on the trace-archival tags are not reproduced.
pub fn experiment_tag(t: &wire::ExperimentTag) -> Result<()> {
    tag_name(&t.key)?;
    length_limit("key", MAX_EXPERIMENT_TAG_KEY_LENGTH, &t.key)?;
    length_limit("value", MAX_EXPERIMENT_TAG_VAL_LENGTH, &t.value)
}

/// `_validate_run_id`: `^[a-zA-Z0-9][\w\-]{0,255}$`.
pub fn run_id(id: &str) -> Result<()> {
    let body = before_dollar(id);
    let mut chars = body.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.clone().count() <= 255
        && chars.all(|c| is_word(c) || c == '-');
    if !ok {
        return Err(invalid_value("run_id", id, None));
    }
    Ok(())
}

/// `_parse_experiment_id`: the SQL store's integer experiment ids (Python `int()` rules:
/// surrounding whitespace, a sign and digit separators are accepted).
pub fn experiment_id(id: &str) -> Result<i64> {
    py_int(id).ok_or_else(|| {
        invalid(format!(
            "Invalid experiment ID '{id}'. Experiment ID must be a valid integer."
        ))
    })
}

fn batch_limit(entity: &str, limit: usize, length: usize) -> Result<()> {
    if length > limit {
        return Err(invalid(format!(
            "A batch logging request can contain at most {limit} {entity}. Got {length} \
             {entity}. Please split up {entity} across multiple requests and try again."
        )));
    }
    Ok(())
}

/// `_validate_batch_log_limits`.
pub fn batch_limits(n_metrics: usize, n_params: usize, n_tags: usize) -> Result<()> {
    batch_limit("metrics", MAX_METRICS_PER_BATCH, n_metrics)?;
    batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, n_params)?;
    batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, n_tags)?;
    batch_limit(
        "metrics, params, and tags",
        MAX_ENTITIES_PER_BATCH,
        n_metrics + n_params + n_tags,
    )
}

/// `_validate_param_keys_unique`: every repeated occurrence is listed.
pub fn unique_param_keys(params: &[wire::Param]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let dupes: Vec<&str> = params
        .iter()
        .filter(|p| !seen.insert(p.key.as_str()))
        .map(|p| p.key.as_str())
        .collect();
    if !dupes.is_empty() {
        return Err(invalid(format!(
            "Duplicate parameter keys have been submitted: {}. Please ensure the request \
             contains only one param value per param key.",
            repr_list(&dupes)
        )));
    }
    Ok(())
}

/// `_validate_dataset` and `_validate_input_tag` for one `log-inputs` entry.
pub fn dataset_input(d: &wire::DatasetInput) -> Result<()> {
    let ds = &d.dataset;
    length_limit("name", MAX_DATASET_NAME_SIZE, &ds.name)?;
    length_limit("digest", MAX_DATASET_DIGEST_SIZE, &ds.digest)?;
    length_limit("source", MAX_DATASET_SOURCE_SIZE, &ds.source)?;
    if let Some(schema) = &ds.schema {
        length_limit("schema", MAX_DATASET_SCHEMA_SIZE, schema)?;
    }
    if let Some(profile) = &ds.profile {
        length_limit("profile", MAX_DATASET_PROFILE_SIZE, profile)?;
    }
    for tag in &d.tags {
        length_limit("key", MAX_INPUT_TAG_KEY_SIZE, &tag.key)?;
        length_limit("value", MAX_INPUT_TAG_VALUE_SIZE, &tag.value)?;
    }
    Ok(())
}

/// `_validate_model_name`.
pub fn registered_model_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(MlflowError::invalid_param(
            "Missing value for required parameter 'name'.",
        ));
    }
    if name.contains(['/', ':']) {
        return Err(invalid(format!(
            "Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )));
    }
    if path_not_unique(name) {
        return Err(invalid_value("name", name, Some(&bad_path_message(name))));
    }
    Ok(())
}

/// `_validate_model_alias_name`: non-empty, `^[\w\-]*$`, at most 255 characters.
pub fn model_alias(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(invalid("Registered model alias name cannot be empty."));
    }
    if !before_dollar(alias).chars().all(|c| is_word(c) || c == '-') {
        return Err(invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores \
             (_), and dashes (-)."
        )));
    }
    length_limit(
        "Registered model alias name",
        MAX_REGISTERED_MODEL_ALIAS_LENGTH,
        alias,
    )
}

/// `_validate_model_alias_name_reserved`, which only setting an alias checks: `latest` (any
/// case) and version-like names (`v1`, `V23`) are reserved.
pub fn model_alias_not_reserved(alias: &str) -> Result<()> {
    if alias.to_lowercase() == "latest" {
        return Err(invalid(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let mut chars = before_dollar(alias).chars();
    let version_like = matches!(chars.next(), Some('v' | 'V'))
        && !chars.as_str().is_empty()
        && chars.all(|c| c.is_ascii_digit());
    if version_like {
        return Err(invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

/// `_validate_registered_model_tag`: name, key ≤ 250, value ≤ 100000.
pub fn registry_tag(key: &str, value: &str) -> Result<()> {
    tag_name(key)?;
    length_limit("key", MAX_MODEL_REGISTRY_TAG_KEY_LENGTH, key)?;
    length_limit("value", MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, value)
}

/// `_validate_model_version_tag`: as [`registry_tag`], with its own message for an over-long
/// prompt text.
pub fn model_version_tag(key: &str, value: &str) -> Result<()> {
    tag_name(key)?;
    length_limit("key", MAX_MODEL_REGISTRY_TAG_KEY_LENGTH, key)?;
    if key == "mlflow.prompt.text" && char_len(value) > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH {
        return Err(invalid(format!(
            "Prompt text exceeds max length of {MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH} characters."
        )));
    }
    length_limit("value", MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, value)
}

/// `_validate_logged_model_name` for a given name (an absent name is valid there).
pub fn logged_model_name(name: &str) -> Result<()> {
    const BAD: [char; 6] = ['/', ':', '.', '%', '"', '\''];
    if name.is_empty() || name.contains(BAD) {
        return Err(invalid(format!(
            "Invalid model name ({}) provided. Model name must be a non-empty string and cannot \
             contain the following characters: ('/', ':', '.', '%', '\"', \"'\")",
            repr_str(name)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
