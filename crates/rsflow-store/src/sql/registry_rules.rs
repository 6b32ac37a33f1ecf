//! The registry's input rules. The wording lives in `rsflow_core::validation` (checked there
//! against MLflow's `utils/validation.py`); this module adds the two rules that belong to the
//! registry store alone.

use rsflow_core::validation;
use rsflow_core::{MlflowError, Result};

pub(crate) use validation::{
    logged_model_name, model_alias as alias_name, model_alias_not_reserved as alias_not_reserved,
    model_version_tag, registered_model_name as model_name, registry_tag as registered_model_tag,
    tag_name,
};

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

#[cfg(test)]
mod tests {
    use super::*;

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
