//! From OpenDAL errors to [`StoreError`]s that say which store, which operation and why, in
//! one line without credentials or response dumps.

use opendal::ErrorKind;

use crate::path::ArtifactPath;
use crate::store::{StorageFault, StoreError};

/// Map a failed remote operation. Misses are handled by the callers (they know whether a
/// miss is an error); everything here is a storage fault. Nothing is logged here: the error
/// keeps OpenDAL's as its source, and the answer's one log line prints the chain.
pub(crate) fn remote_error(
    store: &str,
    op: &'static str,
    path: &ArtifactPath,
    e: opendal::Error,
) -> StoreError {
    let fault = fault_of(&e);
    let why = match fault {
        StorageFault::Denied => {
            "access denied: check the server's credentials and the bucket policy".to_owned()
        }
        StorageFault::Config => format!("invalid storage configuration: {}", e.message()),
        StorageFault::Throttled => "the store is throttling requests".to_owned(),
        StorageFault::NotFound => format!("not found: {}", e.message()),
        StorageFault::Timeout => "the store did not answer in time".to_owned(),
        StorageFault::Unavailable => with_causes(&e),
    };
    StoreError::Backend {
        store: store.to_owned(),
        op,
        path: path.to_string(),
        fault,
        message: short(&why),
        source: Box::new(e),
    }
}

/// The fault an OpenDAL error stands for: its kind, or for a timeout the kind of an error in
/// its chain of causes (the HTTP client's own timeout, an I/O timeout).
pub(crate) fn fault_of(e: &opendal::Error) -> StorageFault {
    match e.kind() {
        ErrorKind::PermissionDenied => StorageFault::Denied,
        ErrorKind::ConfigInvalid => StorageFault::Config,
        ErrorKind::RateLimited => StorageFault::Throttled,
        ErrorKind::NotFound => StorageFault::NotFound,
        _ if timed_out(e) => StorageFault::Timeout,
        _ => StorageFault::Unavailable,
    }
}

/// Whether a timeout is anywhere in the chain of causes, by type: the HTTP client's request,
/// connect or read timeout, an `io::ErrorKind::TimedOut`, or an elapsed `tokio` timer.
pub(crate) fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
            || err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || err.is::<tokio::time::error::Elapsed>()
        {
            return true;
        }
        next = err.source();
    }
    false
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

        // A timeout is known by the type of its cause, whatever the message says.
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow");
        let e = remote_error(
            "s3://bkt",
            "write",
            &path,
            opendal::Error::new(ErrorKind::Unexpected, "send http request").set_source(timeout),
        );
        assert!(matches!(
            e,
            StoreError::Backend {
                fault: StorageFault::Timeout,
                ..
            }
        ));
        let m: rsflow_core::MlflowError = e.into();
        assert_eq!(m.code, ErrorCode::TemporarilyUnavailable);
        assert_eq!(m.http_status(), 503);
        assert!(
            m.message.contains("did not answer in time"),
            "{}",
            m.message
        );
        assert!(m.cause::<opendal::Error>().is_some(), "the cause is kept");
        // The word alone is no timeout.
        let e = remote_error(
            "s3://bkt",
            "read",
            &path,
            opendal::Error::new(ErrorKind::Unexpected, "timed out (says the message)"),
        );
        assert!(matches!(
            e,
            StoreError::Backend {
                fault: StorageFault::Unavailable,
                ..
            }
        ));
    }

    #[test]
    fn messages_are_one_bounded_line() {
        let long = "x\n".repeat(400);
        let s = short(&long);
        assert!(!s.contains('\n'));
        assert!(s.chars().count() <= 301);
    }
}
