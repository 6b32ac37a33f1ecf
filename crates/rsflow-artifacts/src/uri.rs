//! [`ArtifactUri`]: what an experiment's `artifact_location` or a run's `artifact_uri` points at.
//!
//! Follows MLflow's classification (spec mlflow-artifacts §1, §4.0, §8.1): `mlflow-artifacts:`
//! URIs and `http(s)` URLs of the artifact API are proxied (their host is ignored and the path
//! is resolved against this server's destination), plain paths and `file:` URIs are local,
//! `s3`/`b2`/`r2`/`gs`/`wasbs`/`sftp` are remote storage rsflow reaches itself (see
//! [`crate::remote`]), and the other schemes MLflow knows are recognised but not served.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use rsflow_core::MlflowError;

use crate::path::{ArtifactPath, PathError, decode_fixpoint};

/// The route under which proxied artifacts are served; a proxied `http(s)` root contains it.
/// Schemes whose URIs name a host the server would connect to (MLflow's host policy,
/// GHSA-mr9f-g8qf-4w4j).
pub const HOST_ADDRESSED: &[&str] = &[
    "ftp",
    "sftp",
    "hdfs",
    "viewfs",
    "http",
    "https",
    "mlflow-artifacts",
    "r2",
    "b2",
    "abfss",
];

/// `(scheme family, host, port)` a host-addressed URI makes the server connect to.
pub fn host_target(uri: &str) -> Option<(String, String, Option<u16>)> {
    let (scheme, rest) = split_scheme(uri)?;
    if !HOST_ADDRESSED.contains(&scheme.as_str()) {
        return None;
    }
    let netloc = rest
        .strip_prefix("//")?
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    if netloc.is_empty() {
        return None;
    }
    let hostport = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
            (h, p.parse::<u16>().ok())
        }
        _ => (hostport, None),
    };
    let family = match scheme.as_str() {
        "viewfs" => "hdfs",
        "https" | "mlflow-artifacts" => "http",
        s => s,
    };
    Some((family.to_owned(), host.to_ascii_lowercase(), port))
}

/// Which hosts a stored or client-supplied location may make the server connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// The server's own `--default-artifact-root` and `--artifacts-destination`.
    pub trusted_roots: Vec<String>,
    /// `MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES`, lower case: these may name any host.
    pub allowed_schemes: Vec<String>,
}

/// MLflow's host policy, also applied when a stored location is used (a database written by an
/// older server may hold any URI): a host-addressed URI may only name the host of one of the
/// server's own roots, or use a scheme the operator allowed. Other URIs name no host.
pub fn may_connect(uri: &str, policy: &HostPolicy) -> bool {
    let Some(target) = host_target(uri) else {
        return true;
    };
    let scheme = rsflow_core::uri::scheme_lower(uri);
    policy.allowed_schemes.contains(&scheme)
        || policy
            .trusted_roots
            .iter()
            .filter_map(|r| host_target(r))
            .any(|t| t == target)
}

pub const PROXY_ROUTE: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// Schemes of the remote stores rsflow opens itself.
pub const REMOTE_SCHEMES: &[&str] = &["s3", "b2", "r2", "gs", "wasbs", "sftp"];

/// Schemes MLflow has artifact repositories for (and `runs:`/`models:` indirections).
const KNOWN_SCHEMES: &[&str] = &[
    "s3", "gs", "wasbs", "abfss", "sftp", "ftp", "hdfs", "viewfs", "dbfs", "r2", "b2", "oci",
    "runs", "models", "http", "https",
];

/// A parsed artifact location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactUri {
    /// `mlflow-artifacts:/<path>`, `mlflow-artifacts://host:port/<path>` or
    /// `http(s)://host/<prefix>/api/2.0/mlflow-artifacts/artifacts/<path>`: a path under the
    /// serving server's `--artifacts-destination`.
    Proxied {
        path: ArtifactPath,
        /// The artifact API of the server the URI names
        /// (`http://host:port[/prefix]/api/2.0/mlflow-artifacts/artifacts`); `None` for
        /// `mlflow-artifacts:/...`, which means "this server".
        server: Option<String>,
    },
    /// A directory on this machine (`/abs`, `file:///abs`, `file://localhost/abs`); relative
    /// paths are kept as written and taken against the working directory when used.
    Local(PathBuf),
    /// Object storage or SFTP that rsflow reaches itself: the URI as written, scheme lowercased.
    Remote { scheme: String, uri: String },
    /// Storage rsflow recognises but has no backend for (`ftp://`, `hdfs://`, plain http…).
    Unsupported { scheme: String },
}

/// Why an artifact URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("URL can't include fragments or params.")]
    FragmentOrParams,
    #[error("Invalid query string")]
    QueryTraversal,
    #[error("Invalid path: artifact URIs cannot contain relative path references ('..')")]
    Traversal,
    #[error("{0}")]
    Path(#[from] PathError),
    #[error(
        "{0} is not a valid remote uri. For remote access on windows, please consider using a different scheme such as SMB (e.g. smb://<hostname>/<path>)."
    )]
    RemoteFile(String),
    #[error("Windows paths are not supported as artifact locations: '{0}'")]
    WindowsPath(String),
    #[error("Unsupported artifact URI scheme '{0}'")]
    UnknownScheme(String),
    #[error("The artifact location must not be empty")]
    Empty,
}

impl UriError {
    /// MLflow names the offending field in some messages (`'artifact_location' URL can't…`).
    pub fn for_field(&self, field: &str) -> MlflowError {
        match self {
            UriError::FragmentOrParams => MlflowError::invalid_param(format!("'{field}' {self}")),
            _ => MlflowError::invalid_param(self.to_string()),
        }
    }
}

impl From<UriError> for MlflowError {
    fn from(e: UriError) -> Self {
        MlflowError::invalid_param(e.to_string())
    }
}

impl ArtifactUri {
    pub fn parse(raw: &str) -> Result<ArtifactUri, UriError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UriError::Empty);
        }
        if raw.contains('#') {
            return Err(UriError::FragmentOrParams);
        }
        let Some((scheme, rest)) = split_scheme(raw) else {
            return local(raw, raw);
        };
        if scheme.len() == 1 {
            return Err(UriError::WindowsPath(raw.to_owned()));
        }
        let (authority, path_and_query) = match rest.strip_prefix("//") {
            Some(r) => {
                let end = r.find(['/', '?']).unwrap_or(r.len());
                (Some(&r[..end]), &r[end..])
            }
            None => (None, rest),
        };
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        if let Some(q) = query
            && decode_fixpoint(q).map_or(true, |q| q.contains(".."))
        {
            return Err(UriError::QueryTraversal);
        }
        match scheme.as_str() {
            "mlflow-artifacts" => {
                reject_params(path)?;
                Ok(ArtifactUri::Proxied {
                    path: proxied_path(path)?,
                    // MLflow's client takes the scheme from the tracking URI; a server
                    // reaching another one by host uses plain http.
                    server: authority
                        .filter(|a| !a.is_empty())
                        .map(|a| format!("http://{a}{PROXY_ROUTE}")),
                })
            }
            "http" | "https" => match path.find(PROXY_ROUTE) {
                Some(i)
                    if matches!(
                        path[i + PROXY_ROUTE.len()..].chars().next(),
                        None | Some('/')
                    ) =>
                {
                    reject_params(path)?;
                    Ok(ArtifactUri::Proxied {
                        path: proxied_path(&path[i + PROXY_ROUTE.len()..])?,
                        server: Some(format!(
                            "{scheme}://{}{}",
                            authority.unwrap_or(""),
                            &path[..i + PROXY_ROUTE.len()]
                        )),
                    })
                }
                _ => Ok(ArtifactUri::Unsupported { scheme }),
            },
            "file" => {
                let host = authority.unwrap_or("");
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                if !matches!(host, "" | "localhost" | "127.0.0.1") {
                    return Err(UriError::RemoteFile(raw.to_owned()));
                }
                if query.is_some() {
                    return Err(UriError::FragmentOrParams);
                }
                local(path, raw)
            }
            s if REMOTE_SCHEMES.contains(&s) => Ok(ArtifactUri::Remote {
                uri: format!("{scheme}:{rest}"),
                scheme,
            }),
            s if KNOWN_SCHEMES.contains(&s) => Ok(ArtifactUri::Unsupported { scheme }),
            _ => Err(UriError::UnknownScheme(scheme)),
        }
    }
}

impl fmt::Display for ArtifactUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactUri::Proxied { path, .. } => write!(f, "mlflow-artifacts:/{path}"),
            ArtifactUri::Local(p) => write!(f, "{}", p.display()),
            ArtifactUri::Remote { uri, .. } => f.write_str(&crate::remote::redact_uri(uri)),
            ArtifactUri::Unsupported { scheme } => write!(f, "{scheme}://…"),
        }
    }
}

/// `scheme:rest` when `raw` starts with an RFC 3986 scheme; the scheme is lowercased.
fn split_scheme(raw: &str) -> Option<(String, &str)> {
    rsflow_core::uri::split_scheme(raw).map(|(scheme, rest)| (scheme.to_ascii_lowercase(), rest))
}

/// Python's `urlparse` splits `;params` off the last segment of these URLs; MLflow refuses them.
fn reject_params(path: &str) -> Result<(), UriError> {
    if path.contains(';') {
        return Err(UriError::FragmentOrParams);
    }
    Ok(())
}

fn proxied_path(path: &str) -> Result<ArtifactPath, UriError> {
    Ok(ArtifactPath::parse(path.trim_start_matches('/'))?)
}

/// A local path, percent-decoded once as MLflow's `local_file_uri_to_path` does.
fn local(path: &str, raw: &str) -> Result<ArtifactUri, UriError> {
    reject_params(path)?;
    let decoded = percent_decode_str(path).decode_utf8_lossy().into_owned();
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(UriError::Path(PathError::Invalid));
    }
    let fully = decode_fixpoint(&decoded)?;
    if fully.split('/').any(|s| s == "..") {
        return Err(UriError::Traversal);
    }
    if decoded.is_empty() {
        return Err(if raw.is_empty() {
            UriError::Empty
        } else {
            UriError::Path(PathError::Invalid)
        });
    }
    Ok(ArtifactUri::Local(PathBuf::from(decoded)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxied(s: &str) -> String {
        match ArtifactUri::parse(s) {
            Ok(ArtifactUri::Proxied { path, .. }) => path.to_string(),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn proxied_forms() {
        assert_eq!(
            proxied("mlflow-artifacts:/1/abc/artifacts"),
            "1/abc/artifacts"
        );
        assert_eq!(proxied("mlflow-artifacts:1/abc"), "1/abc");
        assert_eq!(proxied("mlflow-artifacts://other:8080/1/x"), "1/x");
        assert_eq!(proxied("mlflow-artifacts:/"), "");
        assert_eq!(proxied("mlflow-artifacts:"), "");
        assert_eq!(
            proxied("http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts"),
            "1/r/artifacts"
        );
        assert_eq!(
            proxied("https://h/prefix/api/2.0/mlflow-artifacts/artifacts/x%20y"),
            "x y"
        );
        assert_eq!(proxied("https://h/api/2.0/mlflow-artifacts/artifacts"), "");
    }

    #[test]
    fn local_forms() {
        let local = |s: &str| match ArtifactUri::parse(s) {
            Ok(ArtifactUri::Local(p)) => p,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            local("/srv/mlruns/1/r/artifacts"),
            PathBuf::from("/srv/mlruns/1/r/artifacts")
        );
        assert_eq!(local("file:///srv/a%20b"), PathBuf::from("/srv/a b"));
        assert_eq!(local("file://localhost/srv/x"), PathBuf::from("/srv/x"));
        assert_eq!(local("file:/srv/x"), PathBuf::from("/srv/x"));
        assert_eq!(local("./mlruns/1"), PathBuf::from("./mlruns/1"));
    }

    #[test]
    fn remote_schemes_keep_the_uri() {
        for (uri, scheme, kept) in [
            ("s3://bucket/p/1", "s3", "s3://bucket/p/1"),
            ("S3://bucket/x", "s3", "s3://bucket/x"),
            ("gs://b/p", "gs", "gs://b/p"),
            (
                "wasbs://c@acct.blob.core.windows.net/p",
                "wasbs",
                "wasbs://c@acct.blob.core.windows.net/p",
            ),
            ("sftp://u@h/p", "sftp", "sftp://u@h/p"),
            (
                "b2://bk@s3.us-west-004.backblazeb2.com/p",
                "b2",
                "b2://bk@s3.us-west-004.backblazeb2.com/p",
            ),
        ] {
            assert_eq!(
                ArtifactUri::parse(uri),
                Ok(ArtifactUri::Remote {
                    scheme: scheme.into(),
                    uri: kept.into(),
                }),
                "{uri}"
            );
        }
    }

    #[test]
    fn other_schemes_are_recognised_not_served() {
        for (uri, scheme) in [
            ("ftp://u@h/p", "ftp"),
            ("hdfs://nn:8020/p", "hdfs"),
            ("abfss://fs@acct.dfs.core.windows.net/p", "abfss"),
            ("http://h/some/other/path", "http"),
        ] {
            assert_eq!(
                ArtifactUri::parse(uri),
                Ok(ArtifactUri::Unsupported {
                    scheme: scheme.into()
                }),
                "{uri}"
            );
        }
        assert_eq!(
            ArtifactUri::parse("weird://x"),
            Err(UriError::UnknownScheme("weird".into()))
        );
    }

    #[test]
    fn rejects_dangerous_forms() {
        let cases = [
            ("http:///#/../../../../etc/", UriError::FragmentOrParams),
            ("mlflow-artifacts:/1/x#frag", UriError::FragmentOrParams),
            ("file:///srv/x;params", UriError::FragmentOrParams),
            ("/srv/x;p", UriError::FragmentOrParams),
            ("http:///?/../../../../etc/", UriError::QueryTraversal),
            ("mlflow-artifacts:/1?%2e%2e/x", UriError::QueryTraversal),
            ("/srv/mlruns/../etc", UriError::Traversal),
            ("/srv/%2e%2e/etc", UriError::Traversal),
            ("file:///srv/%252e%252e/etc", UriError::Traversal),
            (
                "mlflow-artifacts:/../../etc",
                UriError::Path(PathError::Invalid),
            ),
            (
                "mlflow-artifacts://h/..%2f..%2fetc",
                UriError::Path(PathError::Invalid),
            ),
            (
                "http://h/api/2.0/mlflow-artifacts/artifacts/../../x",
                UriError::Path(PathError::Invalid),
            ),
            (
                "file://remotehost/etc",
                UriError::RemoteFile("file://remotehost/etc".into()),
            ),
            ("C:\\mlruns", UriError::WindowsPath("C:\\mlruns".into())),
            ("", UriError::Empty),
        ];
        for (uri, want) in cases {
            assert_eq!(ArtifactUri::parse(uri), Err(want), "{uri}");
        }
        assert_eq!(
            UriError::FragmentOrParams
                .for_field("artifact_location")
                .message,
            "'artifact_location' URL can't include fragments or params."
        );
    }
}
