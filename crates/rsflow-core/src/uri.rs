//! The scheme of a URI, read one way by every classifier of artifact URIs and model sources
//! (`rsflow_artifacts::uri::ArtifactUri`, its host policy, `model_source`, the API's location
//! checks): RFC 3986 §3.1, a letter then letters, digits, `+`, `-` or `.`, up to the first `:`.

/// `(scheme, rest)` when `s` starts with a scheme and a colon; the scheme as written.
pub fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// The scheme of `s`, lowercased; `""` when it has none.
pub fn scheme_lower(s: &str) -> String {
    split_scheme(s).map_or_else(String::new, |(scheme, _)| scheme.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(split_scheme("s3://b/x"), Some(("s3", "//b/x")));
        assert_eq!(
            split_scheme("Mlflow-Artifacts:/x"),
            Some(("Mlflow-Artifacts", "/x"))
        );
        assert_eq!(split_scheme("c:\\x"), Some(("c", "\\x")));
        assert_eq!(split_scheme("/abs/path:x"), None);
        assert_eq!(split_scheme("1x:y"), None);
        assert_eq!(split_scheme("no colon"), None);
        assert_eq!(scheme_lower("HTTPS://h"), "https");
        assert_eq!(scheme_lower("./rel"), "");
    }
}
