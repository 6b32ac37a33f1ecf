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
use rsflow_core::uri::{Kind, PROXY_ROUTE, Uri};

use crate::path::{ArtifactPath, PathError, decode_fixpoint};

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
    let uri = Uri::parse(uri);
    let Some(target) = uri.host_target() else {
        return true;
    };
    policy.allowed_schemes.contains(&uri.scheme_lower)
        || policy
            .trusted_roots
            .iter()
            .filter_map(|r| Uri::parse(r).host_target())
            .any(|t| t == target)
}

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
        let uri = Uri::parse(raw);
        let scheme = uri.scheme_lower.clone();
        match uri.kind {
            Kind::Path => return local(raw, raw),
            Kind::Drive => return Err(UriError::WindowsPath(raw.to_owned())),
            _ => {}
        }
        if let Some(q) = uri.query
            && decode_fixpoint(q).map_or(true, |q| q.contains(".."))
        {
            return Err(UriError::QueryTraversal);
        }
        match uri.kind {
            Kind::Proxy => {
                reject_params(uri.path)?;
                Ok(ArtifactUri::Proxied {
                    path: proxied_path(uri.path)?,
                    // MLflow's client takes the scheme from the tracking URI; a server
                    // reaching another one by host uses plain http.
                    server: uri
                        .authority
                        .filter(|a| !a.is_empty())
                        .map(|a| format!("http://{a}{PROXY_ROUTE}")),
                })
            }
            Kind::Http => match uri.proxy_route() {
                Some((base, path)) => {
                    reject_params(uri.path)?;
                    Ok(ArtifactUri::Proxied {
                        path: proxied_path(path)?,
                        server: Some(format!("{scheme}://{}{base}", uri.authority.unwrap_or(""))),
                    })
                }
                None => Ok(ArtifactUri::Unsupported { scheme }),
            },
            Kind::File => {
                let host = uri.authority.unwrap_or("");
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                if !matches!(host, "" | "localhost" | "127.0.0.1") {
                    return Err(UriError::RemoteFile(raw.to_owned()));
                }
                if uri.query.is_some() {
                    return Err(UriError::FragmentOrParams);
                }
                local(uri.path, raw)
            }
            // The URI as written, scheme lowercased.
            Kind::Store(_) => Ok(ArtifactUri::Remote {
                uri: format!("{scheme}{}", &raw[scheme.len()..]),
                scheme,
            }),
            Kind::Runs | Kind::Models | Kind::Unserved => Ok(ArtifactUri::Unsupported { scheme }),
            Kind::Path | Kind::Drive | Kind::Unknown => Err(UriError::UnknownScheme(scheme)),
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
                "mlflow-artifacts://host/..",
                UriError::Path(PathError::Invalid),
            ),
            ("/srv/a\\b", UriError::Path(PathError::Invalid)),
            (
                "file:///srv/%5c..%5cetc",
                UriError::Path(PathError::Invalid),
            ),
            (
                "FILE://Evil.Example:80/etc",
                UriError::RemoteFile("FILE://Evil.Example:80/etc".into()),
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
