//! Remote artifact URIs as MLflow spells them (spec mlflow-artifacts §8.2-§8.8):
//! `s3://bucket/path`, `b2://bucket@endpoint-host/path`, `r2://bucket@account.r2.cloudflarestorage.com/path`,
//! `wasbs://container@account.blob.core.windows.net/path`, `gs://bucket/path`,
//! `sftp://user[:password]@host[:port]/path`.

use std::fmt;

use percent_encoding::percent_decode_str;
use rsflow_core::uri::{Kind, Store, Uri};

use crate::path::ArtifactPath;

/// Which S3 dialect a location uses (they differ in endpoint, region and addressing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Flavour {
    /// `s3://`: endpoint from `MLFLOW_S3_ENDPOINT_URL`, or AWS.
    Aws,
    /// `b2://bucket@s3.<region>.backblazeb2.com`: path addressing, region from the host.
    B2,
    /// `r2://bucket@<account>.r2.cloudflarestorage.com`: virtual addressing, region `auto`.
    R2,
}

/// A parsed remote location. `prefix` is the path inside the bucket/container/server.
/// (Named apart from `rsflow_core::model_source::Location`, the containment form of any URI.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteLocation {
    S3 {
        flavour: S3Flavour,
        bucket: String,
        /// `b2`/`r2`: the host after `@`.
        host: Option<String>,
        prefix: ArtifactPath,
    },
    Azure {
        container: String,
        account: String,
        /// `blob.core.windows.net` (or the China / US Gov clouds).
        suffix: String,
        prefix: ArtifactPath,
    },
    Gcs {
        bucket: String,
        prefix: ArtifactPath,
    },
    Sftp {
        user: Option<String>,
        password: Option<String>,
        host: String,
        port: Option<u16>,
        /// The absolute directory on the server, `/` included.
        dir: String,
    },
}

/// Why a remote URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("Invalid {scheme} URI '{uri}': {why}")]
    Invalid {
        scheme: String,
        uri: String,
        why: String,
    },
    #[error(
        "WASBS URI must be of the form <container>@<account>.blob.core.windows.net or <container>@<account>.blob.core.chinacloudapi.cn or <container>@<account>.blob.core.usgovcloudapi.net"
    )]
    Wasbs,
    #[error("Artifact storage with scheme '{0}' is not supported by rsflow.")]
    Scheme(String),
}

const AZURE_SUFFIXES: &[&str] = &[
    "blob.core.windows.net",
    "blob.core.chinacloudapi.cn",
    "blob.core.usgovcloudapi.net",
];

impl RemoteLocation {
    pub fn parse(uri: &str) -> Result<RemoteLocation, LocationError> {
        let uri = uri.trim();
        let parsed = Uri::parse(uri);
        let Some(authority) = parsed.authority.filter(|_| parsed.kind != Kind::Path) else {
            return Err(LocationError::Scheme(
                uri.split(':').next().unwrap_or("").into(),
            ));
        };
        let scheme = parsed.scheme_lower;
        let invalid = |why: &str| LocationError::Invalid {
            scheme: scheme.clone(),
            uri: redact_uri(uri),
            why: why.to_owned(),
        };
        if parsed.query.is_some() || parsed.fragment.is_some() {
            return Err(invalid("query strings and fragments are not allowed"));
        }
        let path = parsed.path.strip_prefix('/').unwrap_or(parsed.path);
        if authority.is_empty() {
            return Err(invalid("the bucket (or host) is missing"));
        }
        let prefix = || {
            ArtifactPath::parse(path.trim_end_matches('/'))
                .map_err(|e| invalid(&format!("bad path: {e}")))
        };
        match parsed.kind {
            Kind::Store(Store::S3) => Ok(RemoteLocation::S3 {
                flavour: S3Flavour::Aws,
                bucket: authority.to_owned(),
                host: None,
                prefix: prefix()?,
            }),
            Kind::Store(store @ (Store::B2 | Store::R2)) => {
                let (bucket, host) = authority
                    .split_once('@')
                    .filter(|(b, h)| !b.is_empty() && !h.is_empty())
                    .ok_or_else(|| invalid("expected <bucket>@<endpoint-host>"))?;
                Ok(RemoteLocation::S3 {
                    flavour: if store == Store::B2 {
                        S3Flavour::B2
                    } else {
                        S3Flavour::R2
                    },
                    bucket: bucket.to_owned(),
                    host: Some(host.to_owned()),
                    prefix: prefix()?,
                })
            }
            Kind::Store(Store::Wasbs) => {
                let (container, host) = authority
                    .split_once('@')
                    .filter(|(c, _)| !c.is_empty())
                    .ok_or(LocationError::Wasbs)?;
                let (account, suffix) = host.split_once('.').ok_or(LocationError::Wasbs)?;
                if account.is_empty() || !AZURE_SUFFIXES.contains(&suffix) {
                    return Err(LocationError::Wasbs);
                }
                Ok(RemoteLocation::Azure {
                    container: container.to_owned(),
                    account: account.to_owned(),
                    suffix: suffix.to_owned(),
                    prefix: prefix()?,
                })
            }
            Kind::Store(Store::Gcs) => Ok(RemoteLocation::Gcs {
                bucket: authority.to_owned(),
                prefix: prefix()?,
            }),
            Kind::Store(Store::Sftp) => {
                let (userinfo, hostport) = match authority.rsplit_once('@') {
                    Some((u, h)) => (Some(u), h),
                    None => (None, authority),
                };
                let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
                let (user, password) = match userinfo {
                    Some(u) => match u.split_once(':') {
                        Some((user, pass)) => (Some(decode(user)), Some(decode(pass))),
                        None => (Some(decode(u)), None),
                    },
                    None => (None, None),
                };
                let (host, port) = match hostport.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                        let port = p
                            .parse::<u16>()
                            .map_err(|_| invalid("the port is not a number"))?;
                        (h, Some(port))
                    }
                    _ => (hostport, None),
                };
                if host.is_empty() {
                    return Err(invalid("the host is missing"));
                }
                // Checked like every other path, but kept absolute: it is a server directory.
                let dir = format!("/{}", prefix()?);
                Ok(RemoteLocation::Sftp {
                    user: user.filter(|u| !u.is_empty()),
                    password,
                    host: host.trim_matches(['[', ']']).to_owned(),
                    port,
                    dir,
                })
            }
            _ => Err(LocationError::Scheme(scheme)),
        }
    }

    /// The path of the artifact root inside the store ("" for SFTP, whose store is rooted at
    /// the directory itself).
    pub fn prefix(&self) -> &ArtifactPath {
        static ROOT: ArtifactPath = ArtifactPath::root();
        match self {
            RemoteLocation::S3 { prefix, .. }
            | RemoteLocation::Azure { prefix, .. }
            | RemoteLocation::Gcs { prefix, .. } => prefix,
            RemoteLocation::Sftp { .. } => &ROOT,
        }
    }

    /// The same bucket, container or server with an empty prefix (SFTP keeps its directory:
    /// an SFTP store is rooted where the URI points).
    pub fn without_prefix(&self) -> RemoteLocation {
        let mut out = self.clone();
        match &mut out {
            RemoteLocation::S3 { prefix, .. }
            | RemoteLocation::Azure { prefix, .. }
            | RemoteLocation::Gcs { prefix, .. } => *prefix = ArtifactPath::root(),
            RemoteLocation::Sftp { .. } => {}
        }
        out
    }

    /// Identifies the store a direct-mode root lives in (for sharing one store between runs).
    pub fn store_key(&self) -> String {
        match self {
            RemoteLocation::S3 {
                flavour,
                bucket,
                host,
                ..
            } => format!("{flavour:?}:{bucket}@{}", host.as_deref().unwrap_or("")),
            RemoteLocation::Azure {
                container,
                account,
                suffix,
                ..
            } => format!("wasbs:{container}@{account}.{suffix}"),
            RemoteLocation::Gcs { bucket, .. } => format!("gs:{bucket}"),
            RemoteLocation::Sftp {
                user,
                password,
                host,
                port,
                dir,
            } => format!(
                "sftp:{}:{}@{host}:{}{dir}",
                user.as_deref().unwrap_or(""),
                password.is_some(),
                port.unwrap_or(0)
            ),
        }
    }
}

impl fmt::Display for RemoteLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, base: String, prefix: &ArtifactPath| {
            if prefix.is_root() {
                f.write_str(&base)
            } else {
                write!(f, "{base}/{prefix}")
            }
        };
        match self {
            RemoteLocation::S3 {
                flavour,
                bucket,
                host,
                prefix,
            } => {
                let base = match (flavour, host) {
                    (S3Flavour::B2, Some(h)) => format!("b2://{bucket}@{h}"),
                    (S3Flavour::R2, Some(h)) => format!("r2://{bucket}@{h}"),
                    _ => format!("s3://{bucket}"),
                };
                join(f, base, prefix)
            }
            RemoteLocation::Azure {
                container,
                account,
                suffix,
                prefix,
            } => join(f, format!("wasbs://{container}@{account}.{suffix}"), prefix),
            RemoteLocation::Gcs { bucket, prefix } => join(f, format!("gs://{bucket}"), prefix),
            RemoteLocation::Sftp {
                user,
                host,
                port,
                dir,
                ..
            } => {
                let user = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                write!(f, "sftp://{user}{host}{port}{dir}")
            }
        }
    }
}

/// A URI safe to log: any password in its user info is replaced by `***`.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ArtifactPath {
        ArtifactPath::parse(s).unwrap()
    }

    #[test]
    fn s3_family() {
        assert_eq!(
            RemoteLocation::parse("s3://bkt/a/b/").unwrap(),
            RemoteLocation::S3 {
                flavour: S3Flavour::Aws,
                bucket: "bkt".into(),
                host: None,
                prefix: p("a/b"),
            }
        );
        assert_eq!(
            RemoteLocation::parse("s3://bkt").unwrap().prefix(),
            &ArtifactPath::root()
        );
        assert_eq!(
            RemoteLocation::parse("b2://bk@s3.us-west-004.backblazeb2.com/x").unwrap(),
            RemoteLocation::S3 {
                flavour: S3Flavour::B2,
                bucket: "bk".into(),
                host: Some("s3.us-west-004.backblazeb2.com".into()),
                prefix: p("x"),
            }
        );
        assert!(matches!(
            RemoteLocation::parse("r2://bk@acct.r2.cloudflarestorage.com/y").unwrap(),
            RemoteLocation::S3 {
                flavour: S3Flavour::R2,
                ..
            }
        ));
        assert!(RemoteLocation::parse("b2://no-host/x").is_err());
        assert!(RemoteLocation::parse("s3:///x").is_err());
        assert!(RemoteLocation::parse("s3://").is_err());
        assert_eq!(
            RemoteLocation::parse("s3:bucket/x"),
            Err(LocationError::Scheme("s3".into()))
        );
        assert_eq!(
            RemoteLocation::parse("S3://B/x").unwrap().to_string(),
            "s3://B/x"
        );
        assert!(RemoteLocation::parse("s3://b/../etc").is_err());
        assert!(RemoteLocation::parse("s3://b/x?versionId=1").is_err());
    }

    #[test]
    fn azure() {
        assert_eq!(
            RemoteLocation::parse("wasbs://cont@acct.blob.core.windows.net/p/q").unwrap(),
            RemoteLocation::Azure {
                container: "cont".into(),
                account: "acct".into(),
                suffix: "blob.core.windows.net".into(),
                prefix: p("p/q"),
            }
        );
        assert_eq!(
            RemoteLocation::parse("wasbs://cont@acct.example.com/p"),
            Err(LocationError::Wasbs)
        );
        assert_eq!(
            RemoteLocation::parse("wasbs://acct.blob.core.windows.net/p"),
            Err(LocationError::Wasbs)
        );
    }

    #[test]
    fn sftp() {
        assert_eq!(
            RemoteLocation::parse("sftp://me:p%40ss@host:2222/srv/art").unwrap(),
            RemoteLocation::Sftp {
                user: Some("me".into()),
                password: Some("p@ss".into()),
                host: "host".into(),
                port: Some(2222),
                dir: "/srv/art".into(),
            }
        );
        assert_eq!(
            RemoteLocation::parse("sftp://host").unwrap(),
            RemoteLocation::Sftp {
                user: None,
                password: None,
                host: "host".into(),
                port: None,
                dir: "/".into(),
            }
        );
        assert!(RemoteLocation::parse("sftp://u@host:notaport/x").is_err());
        assert_eq!(
            RemoteLocation::parse("sftp://me:secret@h/x")
                .unwrap()
                .to_string(),
            "sftp://me@h/x"
        );
    }

    #[test]
    fn display_and_keys() {
        let loc = RemoteLocation::parse("s3://bkt/a/b").unwrap();
        assert_eq!(loc.to_string(), "s3://bkt/a/b");
        assert_eq!(loc.without_prefix().to_string(), "s3://bkt");
        assert_eq!(
            loc.store_key(),
            RemoteLocation::parse("s3://bkt/other").unwrap().store_key()
        );
        assert_ne!(
            loc.store_key(),
            RemoteLocation::parse("s3://bkt2/a/b").unwrap().store_key()
        );
        assert_eq!(
            RemoteLocation::parse("gs://g/x").unwrap().to_string(),
            "gs://g/x"
        );
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_uri("sftp://u:pw@h:22/x"), "sftp://u:***@h:22/x");
        assert_eq!(redact_uri("sftp://u@h/x"), "sftp://u@h/x");
        assert_eq!(redact_uri("s3://b/x"), "s3://b/x");
    }
}
