//! Model-version `source` parsing and containment: the syntax half of the rule in security.md
//! §1a. A source is parsed once into a [`ModelSource`]; the caller then checks that it lies inside
//! an artifact root it trusts ([`Location::is_within`]) and stores exactly the parsed text.
//!
//! Stricter than MLflow on purpose: anything that changes under percent-decoding, any `?`, `#`
//! or `;`, `\`, control bytes, `..` anywhere, `.`/empty segments in URIs (local paths drop
//! them), a host after `runs:`/`models:`/`file:`, scheme-less `//host` and relative local paths
//! are refused outright.

use crate::error::{MlflowError, Result};
use crate::uri::{Kind, Uri};

/// A parsed URI or local path, normalised for prefix comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Lower-case scheme; local paths (with or without `file:`) are `"file"`.
    pub scheme: String,
    /// Lower-case authority (`bucket`, `host:port`), empty when absent.
    pub authority: String,
    /// Path segments, without empty ones.
    pub segments: Vec<String>,
}

impl Location {
    /// Parse a stored root (run or logged-model artifact URI, configured artifact root).
    /// Roots come from the server itself, so this is lenient: empty and `.` segments are
    /// dropped, and a root holding `..`, `?` or `#` yields `None` (it then contains nothing).
    pub fn parse_root(root: &str) -> Option<Location> {
        if root.contains(['?', '#', '\0', '\\']) {
            return None;
        }
        let uri = Uri::parse(root);
        let (authority, path) = (uri.authority.unwrap_or(""), uri.path);
        let scheme = match uri.kind {
            Kind::Path | Kind::File => {
                if !path.starts_with('/') || !(authority.is_empty() || authority == "localhost") {
                    return None;
                }
                "file".to_string()
            }
            _ => uri.scheme_lower,
        };
        let mut segments = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => return None,
                s => segments.push(s.to_string()),
            }
        }
        let authority = if scheme == "file" {
            String::new()
        } else {
            authority.to_ascii_lowercase()
        };
        Some(Location {
            scheme,
            authority,
            segments,
        })
    }

    /// Whether `self` lies at or below `root`. A root must name something more specific than a
    /// whole scheme (a path segment or an authority), as MLflow's `_is_uri_within_root` requires.
    pub fn is_within(&self, root: &Location) -> bool {
        self.scheme == root.scheme
            && self.authority == root.authority
            && (!root.segments.is_empty() || !root.authority.is_empty())
            && self.segments.len() >= root.segments.len()
            && self.segments[..root.segments.len()] == root.segments[..]
    }
}

/// What a `models:/<name>/...` reference selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Version(i64),
    Stage(String),
    Latest,
    Alias(String),
}

/// A validated model-version source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// `runs:/<run_id>[/<path>]`.
    Run { run_id: String, path: String },
    /// `models:/<model_id>`: an MLflow 3 logged model.
    LoggedModel { model_id: String },
    /// `models:/<name>/<version|stage|latest>` or `models:/<name>@<alias>`.
    RegisteredVersion {
        name: String,
        selector: VersionSelector,
    },
    /// Any other URI or an absolute local path; must lie inside a trusted root.
    Location(Location),
}

/// MLflow's wording for a relative or decoded-traversal source.
pub fn relative_path_error(source: &str) -> MlflowError {
    MlflowError::invalid_param(format!(
        "Invalid model version source: '{source}'. If supplying a source as an http, https, local \
         file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided \
         without relative path references present. Please provide an absolute path."
    ))
}

/// MLflow's wording when `run_id`/`model_id` does not identify what holds the source.
pub fn source_owner_error(source: &str, id_name: &str) -> MlflowError {
    MlflowError::invalid_param(format!(
        "Invalid model version source: '{source}'. The {id_name} request parameter must identify \
         the resource that contains the source."
    ))
}

/// MLflow's wording for a local path outside the run's (or model's) artifact directory.
pub fn local_source_error(source: &str, id_name: &str) -> MlflowError {
    let owner = if id_name == "model_id" {
        "the model_id request parameter has to be specified and the local path has to be \
         contained within the artifact directory of the run specified by the model_id"
    } else {
        "the run_id request parameter has to be specified and the local path has to be \
         contained within the artifact directory of the run specified by the run_id"
    };
    MlflowError::invalid_param(format!(
        "Invalid model version source: '{source}'. To use a local path as a model version source, \
         {owner}."
    ))
}

fn malformed(source: &str, why: &str) -> MlflowError {
    MlflowError::invalid_param(format!("Invalid model version source: '{source}'. {why}"))
}

/// Decode `%XX` escapes once; `None` when nothing was escaped.
fn percent_decode_once(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
            changed = true;
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    changed.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Parse and check a source. The returned kind describes exactly the string given, which the
/// caller stores unchanged once containment is proven.
pub fn parse_source(source: &str) -> Result<ModelSource> {
    // Iterative decoding, as MLflow's check does, but refusing instead of comparing: a source
    // whose meaning changes under decoding is never stored (CVE-2024-1558).
    let mut decoded = source.to_string();
    let mut rounds = 0;
    while let Some(next) = percent_decode_once(&decoded) {
        decoded = next;
        rounds += 1;
        if rounds > 8 {
            break;
        }
    }
    if decoded.split(['/', '\\']).any(|seg| seg == "..") || decoded.contains('\0') {
        return Err(relative_path_error(source));
    }
    if rounds > 0 {
        return Err(malformed(
            source,
            "Percent-encoded characters are not allowed in a source.",
        ));
    }
    if source.chars().any(|c| c.is_control()) || source.contains('\\') {
        return Err(malformed(
            source,
            "Control characters and backslashes are not allowed in a source.",
        ));
    }
    if source.contains(['?', '#', ';']) {
        return Err(malformed(
            source,
            "A source cannot include a query string, a fragment or parameters.",
        ));
    }
    let uri = Uri::parse(source);
    match uri.kind {
        // A drive letter (`c:/windows`, CVE-2024-3573): a local path on Windows servers, where
        // MLflow ties it to the run; never a store.
        Kind::Drive => Err(local_source_error(source, "run_id")),
        Kind::Runs => parse_runs(source, &uri),
        Kind::Models => parse_models(source, &uri),
        Kind::File | Kind::Path => parse_local(source, &uri),
        _ => parse_uri(source, &uri),
    }
}

fn path_segments<'a>(source: &str, path: &'a str) -> Result<Vec<&'a str>> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let Some(trimmed) = trimmed.strip_prefix('/') else {
        return if trimmed.is_empty() {
            Ok(vec![])
        } else {
            Err(relative_path_error(source))
        };
    };
    if trimmed.is_empty() {
        return Ok(vec![]);
    }
    let segs: Vec<&str> = trimmed.split('/').collect();
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(relative_path_error(source));
    }
    Ok(segs)
}

fn parse_runs(source: &str, uri: &Uri) -> Result<ModelSource> {
    if uri.authority.is_some() {
        return Err(source_owner_error(source, "run_id"));
    }
    let segs = path_segments(source, uri.path)?;
    let Some((run_id, path)) = segs.split_first() else {
        return Err(source_owner_error(source, "run_id"));
    };
    Ok(ModelSource::Run {
        run_id: (*run_id).to_string(),
        path: path.join("/"),
    })
}

fn parse_models(source: &str, uri: &Uri) -> Result<ModelSource> {
    if uri.authority.is_some() {
        return Err(malformed(
            source,
            "Registered model sources must use the active model registry.",
        ));
    }
    let improper = || {
        MlflowError::invalid_param(format!(
            "Not a proper models:/ URI: {source}. Models URIs must be of the form \
             'models:/name/suffix' or 'models:/name@alias' where suffix is a version, stage, or \
             the string 'latest' and where alias is a registered model alias. Only one of suffix \
             or alias can be defined at a time."
        ))
    };
    let Some(path) = uri.path.strip_prefix('/').filter(|p| !p.is_empty()) else {
        return Err(improper());
    };
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > 2 || parts[0].trim().is_empty() {
        return Err(improper());
    }
    if let [name, suffix] = parts[..] {
        if suffix.trim().is_empty() {
            return Err(improper());
        }
        let selector = if suffix.bytes().all(|b| b.is_ascii_digit()) {
            VersionSelector::Version(suffix.parse().map_err(|_| improper())?)
        } else if suffix.eq_ignore_ascii_case("latest") {
            VersionSelector::Latest
        } else {
            VersionSelector::Stage(suffix.to_string())
        };
        return Ok(ModelSource::RegisteredVersion {
            name: name.to_string(),
            selector,
        });
    }
    if let Some((name, alias)) = parts[0].rsplit_once('@') {
        if alias.trim().is_empty() {
            return Err(improper());
        }
        return Ok(ModelSource::RegisteredVersion {
            name: name.to_string(),
            selector: VersionSelector::Alias(alias.to_string()),
        });
    }
    Ok(ModelSource::LoggedModel {
        model_id: parts[0].to_string(),
    })
}

fn parse_local(source: &str, uri: &Uri) -> Result<ModelSource> {
    // `file:///abs` only: `file://host/...` and `file://./x` (CVE-2023-2780) are refused, and
    // so is scheme-less `//proc/...`, once read as a host (CVE-2023-6977).
    let path = uri.path;
    if uri
        .authority
        .is_some_and(|a| uri.kind == Kind::Path || !a.is_empty())
        || !path.starts_with('/')
    {
        return Err(local_source_error(source, "run_id"));
    }
    // Empty and `.` segments name the same directory, as MLflow's `Path.resolve()` reads them
    // (`file://<run artifact dir>/.`); `..` was refused above.
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(str::to_string)
        .collect();
    Ok(ModelSource::Location(Location {
        scheme: "file".into(),
        authority: String::new(),
        segments,
    }))
}

fn parse_uri(source: &str, uri: &Uri) -> Result<ModelSource> {
    let authority = uri.authority.unwrap_or("");
    if authority.contains('@') {
        return Err(malformed(
            source,
            "Credentials are not allowed in a source URI.",
        ));
    }
    let segments = path_segments(source, uri.path)?;
    Ok(ModelSource::Location(Location {
        scheme: uri.scheme_lower.clone(),
        authority: authority.to_ascii_lowercase(),
        segments: segments.into_iter().map(str::to_string).collect(),
    }))
}

/// Whether a source names MLflow's artifact proxy (`mlflow-artifacts:` or an
/// `http(s)://.../api/2.0/mlflow-artifacts/artifacts/...` URL).
pub fn is_proxy_location(loc: &Location) -> bool {
    if loc.scheme == "mlflow-artifacts" {
        return true;
    }
    const ROUTE: [&str; 4] = ["api", "2.0", "mlflow-artifacts", "artifacts"];
    matches!(loc.scheme.as_str(), "http" | "https")
        && loc.segments.windows(ROUTE.len()).any(|w| w == ROUTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        match parse_source(s).unwrap() {
            ModelSource::Location(l) => l,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn registry_and_run_forms() {
        assert_eq!(
            parse_source("runs:/abc/model").unwrap(),
            ModelSource::Run {
                run_id: "abc".into(),
                path: "model".into()
            }
        );
        assert_eq!(
            parse_source("models:/m-123").unwrap(),
            ModelSource::LoggedModel {
                model_id: "m-123".into()
            }
        );
        assert_eq!(
            parse_source("models:/wf/3").unwrap(),
            ModelSource::RegisteredVersion {
                name: "wf".into(),
                selector: VersionSelector::Version(3)
            }
        );
        assert_eq!(
            parse_source("models:/wf@champion").unwrap(),
            ModelSource::RegisteredVersion {
                name: "wf".into(),
                selector: VersionSelector::Alias("champion".into())
            }
        );
        assert_eq!(
            parse_source("models:/wf/Production").unwrap(),
            ModelSource::RegisteredVersion {
                name: "wf".into(),
                selector: VersionSelector::Stage("Production".into())
            }
        );
    }

    #[test]
    fn traversal_and_smuggling_are_refused() {
        for bad in [
            "mlflow-artifacts:/../../x",
            "mlflow-artifacts:/1/%2e%2e/%2e%2e/etc",
            "mlflow-artifacts:/1/%252e%252e/etc",
            "/models/artifacts/../../../",
            "s3:/my_bucket/models/path/../../other/path",
            "file://path/to/../../../../some/where",
            "http://h/api/2.0/mlflow-artifacts/artifacts%00",
            "http:///?/../../../../etc/",
            "http:///#/../../../../etc/",
            "dbfs:/R/artifacts/a%3f/../../../../",
            "file:///etc/",
            "//proc/self/root",
            "file://./etc",
            "file://localhost/etc",
            "runs://host/abc/model",
            "models://host/m-1",
            "relative/path",
            "s3://b/a;b",
            "s3://b/a?x=1",
            "s3://b/a#f",
            "s3://b//a",
            "s3://b/./a",
            "s3://user:pw@b/a",
            "mlflow-artifacts:/1/a%20b",
            "C:\\Windows",
            "c:/windows/system32",
            "/tmp/a\u{1}b",
            "file:///etc/passwd",
            "FILE://evil/etc",
            "mlflow-artifacts://host/..",
            "Runs://h/abc",
        ] {
            match parse_source(bad) {
                Err(e) => assert_eq!(e.code, crate::ErrorCode::InvalidParameterValue, "{bad}"),
                // Syntactically fine local paths are refused later by containment.
                Ok(ModelSource::Location(l)) => {
                    assert_eq!(l.scheme, "file", "{bad} parsed as {l:?}");
                    let root = Location::parse_root("/srv/mlruns").unwrap();
                    assert!(!l.is_within(&root), "{bad}");
                }
                Ok(other) => panic!("{bad} accepted as {other:?}"),
            }
        }
    }

    #[test]
    fn schemes_are_read_without_case() {
        assert_eq!(
            parse_source("RUNS:/abc/model").unwrap(),
            ModelSource::Run {
                run_id: "abc".into(),
                path: "model".into()
            }
        );
        let root = Location::parse_root("S3://Bucket/p").unwrap();
        assert!(loc("s3://bucket/p/m").is_within(&root));
        assert!(loc("FILE:///srv/m").is_within(&Location::parse_root("/srv").unwrap()));
        // No bucket: parsed, but inside no root (a root names a bucket or a path).
        for s in ["s3://", "s3:///x"] {
            assert!(
                !loc(s).is_within(&Location::parse_root("s3://b").unwrap()),
                "{s}"
            );
            assert!(
                !loc(s).is_within(&Location::parse_root("s3://").unwrap()),
                "{s}"
            );
        }
    }

    #[test]
    fn containment_is_segment_wise() {
        let root = Location::parse_root("mlflow-artifacts:/1/models/m-1/artifacts").unwrap();
        assert!(loc("mlflow-artifacts:/1/models/m-1/artifacts").is_within(&root));
        assert!(loc("mlflow-artifacts:/1/models/m-1/artifacts/sub/").is_within(&root));
        assert!(!loc("mlflow-artifacts:/1/models/m-1/artifactsX").is_within(&root));
        assert!(!loc("mlflow-artifacts://evil/1/models/m-1/artifacts").is_within(&root));
        let local = Location::parse_root("file:///srv/mlruns/1/abc/artifacts").unwrap();
        assert!(loc("/srv/mlruns/1/abc/artifacts/model").is_within(&local));
        assert!(loc("file:///srv/mlruns/1/abc/artifacts/model").is_within(&local));
        assert!(!loc("/srv/mlruns/1/abd/artifacts").is_within(&local));
        // A bare scheme root contains nothing.
        let bare = Location::parse_root("mlflow-artifacts:/").unwrap();
        assert!(!loc("mlflow-artifacts:/1/x").is_within(&bare));
        let bucket = Location::parse_root("s3://bucket").unwrap();
        assert!(loc("s3://bucket/x").is_within(&bucket));
        assert!(!loc("s3://bucket2/x").is_within(&bucket));
    }

    #[test]
    fn local_paths_drop_dot_segments() {
        let root = Location::parse_root("/srv/mlruns/1/abc/artifacts").unwrap();
        assert!(loc("file:///srv/mlruns/1/abc/artifacts/.").is_within(&root));
        assert!(loc("/srv/mlruns/1/abc/artifacts/./model//x").is_within(&root));
        assert!(parse_source("/srv/mlruns/1/abc/artifacts/../x").is_err());
        assert!(parse_source("s3://b/./a").is_err());
    }

    #[test]
    fn proxy_locations() {
        assert!(is_proxy_location(&loc("mlflow-artifacts:/1/x")));
        assert!(is_proxy_location(&loc(
            "https://h:5000/api/2.0/mlflow-artifacts/artifacts/1/x"
        )));
        assert!(!is_proxy_location(&loc("https://h/other/1/x")));
    }
}
