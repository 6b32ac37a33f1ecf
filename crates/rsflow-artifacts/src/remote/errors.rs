//! From OpenDAL errors to [`StoreError`]s that say which store, which operation and why, in
//! one line without credentials or response dumps.

use opendal::ErrorKind;

use crate::path::ArtifactPath;
use crate::store::StoreError;

/// Map a failed remote operation. Misses are handled by the callers (they know whether a
/// miss is an error); everything here is a storage fault.
pub(crate) fn remote_error(
    store: &str,
    op: &'static str,
    path: &ArtifactPath,
    e: opendal::Error,
) -> StoreError {
    tracing::warn!(store, op, path = %path, error = %e, "artifact storage operation failed");
    let kind = e.kind();
    let why = match kind {
        ErrorKind::PermissionDenied => {
            "access denied: check the server's credentials and the bucket policy".to_owned()
        }
        ErrorKind::ConfigInvalid => format!("invalid storage configuration: {}", e.message()),
        ErrorKind::RateLimited => "the store is throttling requests".to_owned(),
        ErrorKind::NotFound => format!("not found: {}", e.message()),
        _ if is_timeout(&e) => "the store did not answer in time".to_owned(),
        _ => with_causes(&e),
    };
    StoreError::Remote {
        store: store.to_owned(),
        op,
        path: path.to_string(),
        message: short(&why),
        denied: kind == ErrorKind::PermissionDenied,
    }
}

/// The message and the chain of causes under it (`signing http request: no credential`).
fn with_causes(e: &opendal::Error) -> String {
    // Some failures carry everything in their context (an HTTP status, no body).
    if e.message().is_empty() {
        return e.to_string();
    }
    let mut out = e.message().to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn is_timeout(e: &opendal::Error) -> bool {
    e.message().contains("timeout") || e.message().contains("timed out")
}

/// Store error bodies can be long XML documents; a message is one bounded line.
fn short(s: &str) -> String {
    const MAX: usize = 300;
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() <= MAX {
        return line;
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsflow_core::ErrorCode;

    #[test]
    fn denied_is_permission_denied_and_the_rest_is_unavailable() {
        let path = ArtifactPath::parse("a/b").unwrap();
        let e = remote_error(
            "s3://bkt",
            "read",
            &path,
            opendal::Error::new(ErrorKind::PermissionDenied, "AccessDenied"),
        );
        let m: rsflow_core::MlflowError = e.into();
        assert_eq!(m.code, ErrorCode::PermissionDenied);
        assert!(m.message.contains("s3://bkt"), "{}", m.message);
        assert!(m.message.contains("'a/b'"), "{}", m.message);

        let e = remote_error(
            "s3://bkt",
            "write",
            &path,
            opendal::Error::new(ErrorKind::Unexpected, "io timeout reached"),
        );
        let m: rsflow_core::MlflowError = e.into();
        assert_eq!(m.code, ErrorCode::TemporarilyUnavailable);
        assert_eq!(m.http_status(), 503);
        assert!(
            m.message.contains("did not answer in time"),
            "{}",
            m.message
        );
    }

    #[test]
    fn messages_are_one_bounded_line() {
        let long = "x\n".repeat(400);
        let s = short(&long);
        assert!(!s.contains('\n'));
        assert!(s.chars().count() <= 301);
    }
}
