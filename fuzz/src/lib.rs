//! Fuzz target bodies shared by the cargo-fuzz binaries (`fuzz_targets/`, nightly) and the
//! stable `fuzz_smoke` test (`crates/rsflow-api/tests/it/fuzz_smoke.rs`, which includes this file).
//!
//! Each body checks properties, not only the absence of panics: a path or URI that parses is
//! canonical and contained; every refusal is MLflow's 400 `INVALID_PARAMETER_VALUE`.

use rsflow_artifacts::{ArtifactPath, ArtifactUri};
use rsflow_core::{ErrorCode, MlflowError};

/// Inputs longer than this are cut: the parsers' own caps are far below it.
pub const MAX_INPUT: usize = 8192;

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]).into_owned()
}

fn assert_400(e: &MlflowError, what: &str, input: &str) {
    assert_eq!(
        e.code,
        ErrorCode::InvalidParameterValue,
        "{what}({input:?}) refused with {e:?}"
    );
}

/// The search-filter and order-by parsers of every searchable entity.
pub fn search_filter(data: &[u8]) {
    let s = text(data);
    use rsflow_core::search::*;
    for (name, result) in [
        ("parse_run_filter", parse_run_filter(&s).err()),
        ("parse_experiment_filter", parse_experiment_filter(&s).err()),
        (
            "parse_registered_model_filter",
            parse_registered_model_filter(&s).err(),
        ),
        (
            "parse_model_version_filter",
            parse_model_version_filter(&s).err(),
        ),
        (
            "parse_logged_model_filter",
            parse_logged_model_filter(&s).err(),
        ),
    ] {
        if let Some(e) = result {
            assert_400(&e, name, &s);
        }
    }
    let keys: Vec<String> = s.split('\n').map(str::to_owned).collect();
    for (name, result) in [
        ("parse_run_order_by", parse_run_order_by(&keys).err()),
        (
            "parse_experiment_order_by",
            parse_experiment_order_by(&keys).err(),
        ),
        (
            "parse_registered_model_order_by",
            parse_registered_model_order_by(&keys).err(),
        ),
        (
            "parse_model_version_order_by",
            parse_model_version_order_by(&keys).err(),
        ),
    ] {
        if let Some(e) = result {
            assert_400(&e, name, &s);
        }
    }
}

/// What every accepted artifact path must be.
fn check_canonical(p: &ArtifactPath, input: &str) {
    let s = p.as_str();
    assert!(s.len() <= 1024, "{input:?} -> too long {s:?}");
    assert!(
        !s.starts_with('/') && !s.ends_with('/'),
        "{input:?} -> {s:?}"
    );
    assert!(
        !s.contains(['\\', '#', '\0', '\u{FFFD}']),
        "{input:?} -> {s:?}"
    );
    assert!(
        !s.bytes().any(|b| b < 0x20 || b == 0x7f),
        "{input:?} -> {s:?}"
    );
    for seg in s.split('/').filter(|_| !s.is_empty()) {
        assert!(!seg.is_empty() && seg.len() <= 255, "{input:?} -> {s:?}");
        let head = seg.split(';').next().unwrap_or("");
        assert!(head != "." && head != "..", "{input:?} -> {s:?}");
    }
    assert!(
        !(s.len() >= 2 && s.as_bytes()[1] == b':' && s.as_bytes()[0].is_ascii_alphabetic()),
        "{input:?} -> drive {s:?}"
    );
    // Canonical means stable: parsing the stored form gives the stored form.
    assert_eq!(
        ArtifactPath::parse(s).as_ref(),
        Ok(p),
        "{input:?} -> {s:?} is not a fixpoint"
    );
}

/// `ArtifactPath::parse` / `parse_file`: accepted paths are canonical and contained.
pub fn artifact_path(data: &[u8]) {
    let s = text(data);
    match ArtifactPath::parse(&s) {
        Ok(p) => {
            check_canonical(&p, &s);
            if let Ok(f) = ArtifactPath::parse_file(&s) {
                assert_eq!(f, p);
                assert!(f.file_name().is_some());
            }
            if let Some(parent) = p.parent() {
                assert!(p.strip_prefix(&parent).is_some());
            }
        }
        Err(e) => {
            assert_400(&MlflowError::from(e), "ArtifactPath::parse", &s);
            assert!(ArtifactPath::parse_file(&s).is_err());
        }
    }
}

/// `ArtifactUri::parse`: proxied paths are canonical, local paths never climb.
pub fn artifact_uri(data: &[u8]) {
    let s = text(data);
    match ArtifactUri::parse(&s) {
        Ok(ArtifactUri::Proxied { path, .. }) => check_canonical(&path, &s),
        Ok(ArtifactUri::Local(p)) => {
            assert!(
                !p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir)),
                "{s:?} -> local {p:?}"
            );
            assert!(!p.as_os_str().is_empty());
        }
        Ok(ArtifactUri::Unsupported { scheme }) => assert!(!scheme.is_empty()),
        Ok(ArtifactUri::Remote { scheme, uri }) => {
            assert!(
                !scheme.is_empty() && uri.starts_with(&format!("{scheme}:")),
                "{s:?}"
            )
        }
        Err(e) => assert_400(&MlflowError::from(e), "ArtifactUri::parse", &s),
    }
}

/// `validate_artifact_location`: what it returns for storage holds no fragment, params or
/// traversal, and names no foreign host.
pub fn artifact_location(data: &[u8]) {
    let s = text(data);
    let roots = rsflow_artifacts::HostPolicy {
        trusted_roots: vec![
            "mlflow-artifacts:/".to_owned(),
            "/srv/mlartifacts".to_owned(),
            "http://artifacts.internal:5000/api/2.0/mlflow-artifacts/artifacts".to_owned(),
        ],
        allowed_schemes: vec![],
    };
    match rsflow_api::locations::validate_artifact_location(&s, &roots, 2048) {
        Ok(stored) => {
            let decoded = rsflow_api::locations::decode_fixpoint(&stored);
            assert!(!decoded.contains(['#', ';', '\0']), "{s:?} -> {stored:?}");
            assert!(
                !decoded.split(['/', '?', '&', '=']).any(|seg| seg == ".."),
                "{s:?} -> {stored:?}"
            );
            assert!(!stored.starts_with("runs:"), "{s:?} -> {stored:?}");
            assert!(
                rsflow_artifacts::uri::may_connect(&stored, &roots),
                "{s:?} -> {stored:?} names a foreign host"
            );
        }
        Err(e) => assert_400(&e, "validate_artifact_location", &s),
    }
}

/// The `/graphql` front end (parse, operation choice, MLflow's limits, schema validation): no
/// panic, no runaway recursion, and every refusal is a message for the `errors` array.
pub fn graphql(data: &[u8]) {
    let s = text(data);
    let (query, op) = match s.split_once('\n') {
        Some((name, q)) if name.starts_with("op:") => (q.to_owned(), Some(name[3..].to_owned())),
        _ => (s.clone(), None),
    };
    if let Err(message) = rsflow_api::check_graphql_query(&query, op.as_deref()) {
        assert!(!message.is_empty(), "{s:?}: empty error");
    }
}

/// A target body.
pub type Target = fn(&[u8]);

/// Every target, by name (for the smoke test and for reproducing a crash).
pub const TARGETS: &[(&str, Target)] = &[
    ("search_filter", search_filter),
    ("artifact_path", artifact_path),
    ("artifact_uri", artifact_uri),
    ("artifact_location", artifact_location),
    ("graphql", graphql),
];
