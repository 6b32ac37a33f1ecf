//! Validation of client-supplied storage locations (`experiments/create` `artifact_location`),
//! after MLflow's `_validate_storage_location_uri` and its host policy (GHSA-mr9f-g8qf-4w4j):
//! no fragments or params, no `..` anywhere after decoding, no `runs:` URIs, a length cap, and no
//! host-addressed scheme pointing at a host other than the server's own artifact storage.

use rsflow_artifacts::uri::{HostPolicy, may_connect};
use rsflow_core::uri::{Kind, Uri};
use rsflow_core::{MlflowError, Result};

pub(crate) const DEFAULT_MAX_LOCATION_LEN: usize = 2048;

/// Decode percent-escapes until stable (at most 10 rounds), as MLflow's `_decode` does.
pub fn decode_fixpoint(s: &str) -> String {
    let mut cur = s.to_owned();
    for _ in 0..10 {
        let next = percent_encoding::percent_decode_str(&cur)
            .decode_utf8_lossy()
            .into_owned();
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

/// A `..` segment anywhere: between separators, after a scheme's colon (`file:../x`, found by
/// fuzzing), or in a query.
fn has_dot_dot(s: &str) -> bool {
    s.split(['/', '\\', '?', '&', '=', ':'])
        .any(|seg| seg == "..")
}

/// Check a client-supplied `artifact_location` and return the form to store: relative local
/// paths are made absolute on the server, as MLflow's `resolve_uri_if_local` does.
/// `policy` names the hosts the server may connect to; `max_len` is
/// `MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH`.
pub fn validate_artifact_location(
    location: &str,
    policy: &HostPolicy,
    max_len: usize,
) -> Result<String> {
    let field = "artifact_location";
    // Stricter than MLflow on purpose: `#`, `;` and `..` are refused wherever they appear, in
    // any scheme and after any number of decodings (CVE-2023-6909, CVE-2024-1483/1594/3848).
    let decoded = decode_fixpoint(location);
    if decoded.contains('#') || decoded.contains(';') {
        return Err(MlflowError::invalid_param(format!(
            "'{field}' URL can't include fragments or params."
        )));
    }
    if has_dot_dot(&decoded) || decoded.contains('\0') {
        return Err(MlflowError::invalid_param("Invalid query string"));
    }
    let uri = Uri::parse(location);
    let scheme = &uri.scheme_lower;
    if !may_connect(location, policy) {
        return Err(MlflowError::invalid_param(format!(
            "'{field}' cannot use the '{scheme}' scheme: the '{scheme}' scheme addresses a host other than the tracking server's configured artifact storage, so the server would connect to the host named in the URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to allow it."
        )));
    }
    if location.starts_with("runs:") {
        return Err(MlflowError::invalid_param(format!(
            "Artifact location cannot be a runs:/ URI. Given: '{location}'"
        )));
    }
    let resolved = resolve_if_local(location, &uri)?;
    // The working directory joined onto a relative location must not hide a `..` either.
    if has_dot_dot(&decode_fixpoint(&resolved)) {
        return Err(MlflowError::invalid_param("Invalid query string"));
    }
    if resolved.chars().count() > max_len {
        return Err(MlflowError::invalid_param(format!(
            "Invalid artifact path length. The length of the artifact path cannot be greater than {max_len} characters. To configure this limit, please set the MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable."
        )));
    }
    Ok(resolved)
}

fn resolve_if_local(location: &str, uri: &Uri) -> Result<String> {
    match uri.kind {
        // A Windows drive is a plain path too, as `urlparse` reads it.
        Kind::Path | Kind::Drive => absolute(location),
        Kind::File => {
            let rest = &location["file:".len()..];
            match uri.authority {
                // `file:///abs` or `file://localhost/abs`; any other host is a remote file.
                Some(host) => {
                    let path = &rest[2 + host.len()..];
                    // `file://localhost?x/abs`: the host is read up to the first `/` here.
                    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost"))
                        || !(path.is_empty() || path.starts_with('/'))
                    {
                        return Err(MlflowError::invalid_param(format!(
                            "{location} is not a valid remote uri. For remote access on windows, please consider using a different scheme such as SMB (e.g. smb://<hostname>/<path>)."
                        )));
                    }
                    if path.is_empty() {
                        return Err(MlflowError::invalid_param("Invalid query string"));
                    }
                    Ok(format!("file://{path}"))
                }
                None if rest.starts_with('/') => Ok(location.to_owned()),
                None => Ok(format!("file://{}", absolute(rest)?)),
            }
        }
        _ => Ok(location.to_owned()),
    }
}

fn absolute(location: &str) -> Result<String> {
    let path = std::path::Path::new(location);
    if path.is_absolute() {
        return Ok(location.to_owned());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| MlflowError::internal(format!("cannot read working directory: {e}")))?;
    Ok(cwd.join(path).to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(roots: &[&str]) -> HostPolicy {
        HostPolicy {
            trusted_roots: roots.iter().map(|r| r.to_string()).collect(),
            allowed_schemes: vec![],
        }
    }

    fn check(loc: &str) -> Result<String> {
        validate_artifact_location(
            loc,
            &policy(&["mlflow-artifacts:/", "/srv/mlartifacts"]),
            DEFAULT_MAX_LOCATION_LEN,
        )
    }

    #[test]
    fn refuses_the_advisory_forms() {
        for bad in [
            "http:///#/../../../../etc/",
            "http:///?/../../../../etc/",
            "s3://b/x;params",
            "/tmp/%252e%252e/etc",
            "runs:/abc/artifacts",
            "http://169.254.169.254/latest",
            "sftp://evil.example/x",
            "mlflow-artifacts://other:8080/x",
            "file://remotehost/etc",
            "file:..//localhost/srv/x",
            "file:../../etc",
            "file://localhost?x/srv",
            "..",
        ] {
            let err = check(bad).expect_err(bad);
            assert_eq!(
                err.code,
                rsflow_core::ErrorCode::InvalidParameterValue,
                "{bad}"
            );
        }
    }

    #[test]
    fn accepts_and_resolves() {
        assert_eq!(check("s3://bucket/prefix").unwrap(), "s3://bucket/prefix");
        assert_eq!(check("/abs/path").unwrap(), "/abs/path");
        assert_eq!(check("file:///abs/path").unwrap(), "file:///abs/path");
        let rel = check("rel/dir").unwrap();
        assert!(rel.starts_with('/') && rel.ends_with("/rel/dir"), "{rel}");
        assert_eq!(check("mlflow-artifacts:/7").unwrap(), "mlflow-artifacts:/7");
    }

    #[test]
    fn trusts_the_servers_own_host() {
        let mut roots = policy(&["http://art.example:5500/api/2.0/mlflow-artifacts/artifacts"]);
        let check = |loc: &str, p: &HostPolicy| validate_artifact_location(loc, p, 2048);
        assert!(check("http://art.example:5500/api/x", &roots).is_ok());
        assert!(check("http://art.example:5501/api/x", &roots).is_err());
        // The operator may allow a scheme to name any host.
        roots.allowed_schemes = vec!["http".into()];
        assert!(check("http://art.example:5501/api/x", &roots).is_ok());
        // The length limit is a setting.
        assert!(validate_artifact_location("/abs/path", &roots, 5).is_err());
    }
}
