//! Artifact integrity: a SHA-256 computed while an artifact streams in (no second read), kept
//! beside it, returned on download (`Repr-Digest`, `Digest`, a content-based strong `ETag`)
//! and checked by `rsflow artifacts verify`.
//!
//! Where it is kept: on the local store (and NFS mounts that support user xattrs) in the
//! extended attribute [`XATTR`] of the file, set on the temp file before the rename that
//! publishes it, so the digest and the bytes appear together and MLflow's visible layout
//! gains no files. Filesystems without user xattrs simply have no digest.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turn digests of new uploads off (`RSFLOW_ARTIFACT_DIGESTS=off`, read by the binary).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether new uploads get a digest.
pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The extended attribute holding a local artifact's SHA-256 (64 lower-case hex digits).
pub const XATTR: &str = "user.rsflow.sha256";

/// A running SHA-256.
#[derive(Debug, Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Lower-case hex.
    pub fn finish_hex(self) -> String {
        to_hex(&self.0.finalize())
    }
}

pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether a value is a SHA-256 in lower-case hex.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn raw(hex: &str) -> Option<Vec<u8>> {
    if !is_sha256_hex(hex) {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// `Repr-Digest` (RFC 9530): `sha-256=:<base64>:`.
pub fn repr_digest(hex: &str) -> Option<String> {
    raw(hex).map(|b| {
        format!(
            "sha-256=:{}:",
            base64::engine::general_purpose::STANDARD.encode(b)
        )
    })
}

/// `Digest` (RFC 3230, what older clients read): `SHA-256=<base64>`.
pub fn legacy_digest(hex: &str) -> Option<String> {
    raw(hex).map(|b| {
        format!(
            "SHA-256={}",
            base64::engine::general_purpose::STANDARD.encode(b)
        )
    })
}

/// The hex SHA-256 in a `Repr-Digest` or `Digest` header value, if it names one.
pub fn parse_digest_header(value: &str) -> Option<String> {
    for item in value.split(',') {
        let (alg, v) = item.trim().split_once('=')?;
        if alg.trim().eq_ignore_ascii_case("sha-256") {
            let b64 = v.trim().trim_matches(':');
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            return (bytes.len() == 32).then(|| to_hex(&bytes));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let mut h = Hasher::default();
        h.update(b"abc");
        let hex = h.finish_hex();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let repr = repr_digest(&hex).unwrap();
        assert_eq!(
            repr,
            "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"
        );
        assert_eq!(parse_digest_header(&repr).as_deref(), Some(hex.as_str()));
        assert_eq!(
            parse_digest_header(&legacy_digest(&hex).unwrap()).as_deref(),
            Some(hex.as_str())
        );
        assert_eq!(repr_digest("nothex"), None);
    }
}
