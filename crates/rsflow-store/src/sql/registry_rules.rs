//! The registry's input rules, worded as MLflow's `utils/validation.py` words them.

use rsflow_core::{MlflowError, Result};

pub(crate) const MAX_REGISTRY_TAG_KEY: usize = 250;
pub(crate) const MAX_REGISTRY_TAG_VALUE: usize = 100_000;
pub(crate) const MAX_ALIAS_LENGTH: usize = 255;
const PROMPT_TEXT_TAG_KEY: &str = "mlflow.prompt.text";

/// Python's `posixpath.normpath`.
pub(crate) fn normpath(path: &str) -> String {
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
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && out.is_empty()) || out.last() == Some(&"..") {
            out.push(comp);
        } else if !out.is_empty() {
            out.pop();
        }
    }
    let joined = out.join("/");
    let s = format!("{}{}", "/".repeat(initial), joined);
    if s.is_empty() { ".".into() } else { s }
}

/// MLflow's `path_not_unique`.
pub(crate) fn path_not_unique(name: &str) -> bool {
    let norm = normpath(name);
    norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/')
}

/// Python's `repr` of a str, as `!r` renders it in MLflow's messages (ASCII cases).
fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// `json.dumps(value)` of a string, as `invalid_value` embeds it.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn invalid_value(path: &str, value: &str, message: &str) -> MlflowError {
    MlflowError::invalid_param(format!(
        "Invalid value {} for parameter '{path}' supplied: {message}",
        json_str(value)
    ))
}

fn bad_path_message(name: &str) -> String {
    format!(
        "Names may be treated as files in certain cases, and must not resolve to other names \
         when treated as such. This name would resolve to {}",
        py_repr(&normpath(name))
    )
}

/// `_validate_model_name`.
pub(crate) fn model_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(MlflowError::invalid_param(
            "Missing value for required parameter 'name'.",
        ));
    }
    if name.contains(['/', ':']) {
        return Err(MlflowError::invalid_param(format!(
            "Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )));
    }
    if path_not_unique(name) {
        return Err(invalid_value("name", name, &bad_path_message(name)));
    }
    Ok(())
}

/// `_validate_model_renaming`.
pub(crate) fn new_model_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(MlflowError::invalid_param(
            "Missing value for required parameter 'new_name'.",
        ));
    }
    model_name(name)
}

/// `_validate_model_version`: Python's `int()` on the version string.
pub(crate) fn model_version(version: &str) -> Result<i64> {
    let t = version.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let ok = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let parsed = ok.then(|| t.replace('_', "").parse::<i64>().ok()).flatten();
    parsed.ok_or_else(|| {
        MlflowError::invalid_param(format!(
            "Parameter 'version' must be an integer, got '{version}'."
        ))
    })
}

/// `_validate_tag_name`: the param/metric key charset and the path rule.
pub(crate) fn tag_name(key: &str) -> Result<()> {
    let ok = key
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':'));
    if !ok {
        return Err(invalid_value(
            "key",
            key,
            "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), \
             spaces ( ), colon(:) and slashes (/).",
        ));
    }
    if path_not_unique(key) {
        return Err(invalid_value("key", key, &bad_path_message(key)));
    }
    Ok(())
}

fn length_limit(entity: &str, limit: usize, value: &str) -> Result<()> {
    if value.chars().count() > limit {
        return Err(MlflowError::invalid_param(format!(
            "'{entity}' exceeds the maximum length of {limit} characters"
        )));
    }
    Ok(())
}

/// `_validate_registered_model_tag`.
pub(crate) fn registered_model_tag(key: &str, value: &str) -> Result<()> {
    tag_name(key)?;
    length_limit("key", MAX_REGISTRY_TAG_KEY, key)?;
    length_limit("value", MAX_REGISTRY_TAG_VALUE, value)
}

/// `_validate_model_version_tag`.
pub(crate) fn model_version_tag(key: &str, value: &str) -> Result<()> {
    tag_name(key)?;
    length_limit("key", MAX_REGISTRY_TAG_KEY, key)?;
    if key == PROMPT_TEXT_TAG_KEY && value.chars().count() > MAX_REGISTRY_TAG_VALUE {
        return Err(MlflowError::invalid_param(format!(
            "Prompt text exceeds max length of {MAX_REGISTRY_TAG_VALUE} characters."
        )));
    }
    length_limit("value", MAX_REGISTRY_TAG_VALUE, value)
}

/// `_validate_model_alias_name`.
pub(crate) fn alias_name(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(MlflowError::invalid_param(
            "Registered model alias name cannot be empty.",
        ));
    }
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(MlflowError::invalid_param(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores \
             (_), and dashes (-)."
        )));
    }
    length_limit("Registered model alias name", MAX_ALIAS_LENGTH, alias)
}

/// `_validate_model_alias_name_reserved`.
pub(crate) fn alias_not_reserved(alias: &str) -> Result<()> {
    if alias.eq_ignore_ascii_case("latest") {
        return Err(MlflowError::invalid_param(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let mut chars = alias.chars();
    if matches!(chars.next(), Some('v' | 'V'))
        && alias.len() > 1
        && chars.all(|c| c.is_ascii_digit())
    {
        return Err(MlflowError::invalid_param(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    Ok(())
}

/// `_validate_logged_model_name`.
pub(crate) fn logged_model_name(name: &str) -> Result<()> {
    const BAD: [char; 6] = ['/', ':', '.', '%', '"', '\''];
    if name.is_empty() || name.contains(BAD) {
        return Err(MlflowError::invalid_param(format!(
            "Invalid model name ({}) provided. Model name must be a non-empty string and cannot \
             contain the following characters: ('/', ':', '.', '%', '\"', \"'\")",
            py_repr(name)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_matches_python() {
        assert_eq!(normpath("a/b/../c"), "a/c");
        assert_eq!(normpath("./a"), "a");
        assert_eq!(normpath("../a"), "../a");
        assert_eq!(normpath("/a//b/"), "/a/b");
        assert_eq!(normpath("//a"), "//a");
        assert_eq!(normpath(""), ".");
        assert!(path_not_unique("a/../b"));
        assert!(path_not_unique(".."));
        assert!(!path_not_unique("model name"));
    }

    #[test]
    fn model_names_and_versions() {
        assert_eq!(
            model_name("a/b").unwrap_err().message,
            "Invalid model name 'a/b'. Names cannot contain '/' or ':'."
        );
        assert!(model_name("  ").is_err());
        assert!(model_name("..").is_err());
        assert!(model_name("ok-name_1").is_ok());
        assert_eq!(model_version(" 12 ").unwrap(), 12);
        assert_eq!(model_version("1_0").unwrap(), 10);
        assert_eq!(
            model_version("x").unwrap_err().message,
            "Parameter 'version' must be an integer, got 'x'."
        );
    }

    #[test]
    fn aliases() {
        assert!(alias_name("champion-1_a").is_ok());
        assert!(alias_name("a b").is_err());
        assert!(alias_not_reserved("LaTeSt").is_err());
        assert_eq!(
            alias_not_reserved("V12").unwrap_err().message,
            "Version alias name 'V12' is reserved."
        );
        assert!(alias_not_reserved("v").is_ok());
        assert!(alias_not_reserved("v1a").is_ok());
    }

    #[test]
    fn logged_model_names() {
        assert!(logged_model_name("model").is_ok());
        let e = logged_model_name("a.b").unwrap_err().message;
        assert!(e.starts_with("Invalid model name ('a.b') provided."), "{e}");
    }
}
