//! Artifact integrity: a SHA-256 computed while an artifact streams in (see below for the local
//! store's tail), kept beside it, returned on download (`Repr-Digest`, `Digest`, a
//! content-based strong `ETag`) and checked by `rsflow artifacts verify`.
//!
//! Where it is kept: on the local store (and NFS mounts that support user xattrs) in the
//! extended attribute [`XATTR`] of the file, so MLflow's visible layout gains no files. When
//! the hash keeps up with the upload it is set on the temp file before the rename that
//! publishes it, so the digest and the bytes appear together; when it does not, the upload is
//! not held back: the rest is hashed from the page cache once the file is published, and the
//! digest follows (see `LocalStore::put`). Filesystems without user xattrs have no digest.
//!
//! On object stores (S3, Azure Blob, GCS) the digest is user metadata of the object itself
//! ([`METADATA_KEY`], with the size it describes in [`SIZE_KEY`]: `x-amz-meta-sha256`,
//! `x-ms-meta-sha256`, GCS `metadata.sha256`), so MLflow's layout gains no objects. An upload
//! that fits in one request ([`crate::remote::UPLOAD_CHUNK`]) carries it in that request. A
//! larger one is sent in parts before its digest is known, so once it is complete its
//! metadata is rewritten (S3: in-place `CopyObject`; Azure: Set Blob Metadata; GCS:
//! `objects.patch`), conditional on the ETag / generation the upload produced. Metadata
//! belongs to one write of an object: any later write by another tool replaces it, so a digest
//! never outlives the bytes it describes. SFTP has no metadata: every upload gets a
//! [`Sidecar`] file beside it, bound to the file's size and modification time, written before
//! the file is renamed into place. Sidecar names start with [`SIDECAR_PREFIX`], a prefix
//! refused in artifact paths and hidden from listings; the sidecars of a directory are its
//! digest index, which `verify` uses to name files that are gone. On every backend the index
//! of published files is also kept in the backend database (see [`crate::indexed`]).

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

/// The user-metadata key holding an object's SHA-256 on S3, Azure Blob and GCS.
pub const METADATA_KEY: &str = "sha256";

/// The user-metadata key holding the size (decimal bytes) the digest in [`METADATA_KEY`]
/// describes; a digest is served only for an object of that size. (Azure wants metadata names
/// that are identifiers, and some proxies drop headers with `_`: hence no separator.)
pub const SIZE_KEY: &str = "sha256size";

/// The user metadata that records `sha256` as the digest of `size` bytes.
pub fn metadata(sha256: &str, size: u64) -> [(String, String); 2] {
    [
        (METADATA_KEY.to_owned(), sha256.to_owned()),
        (SIZE_KEY.to_owned(), size.to_string()),
    ]
}

/// Whether a user-metadata key is one of rsflow's digest keys (any case: stores fold it).
pub fn is_digest_key(key: &str) -> bool {
    key.eq_ignore_ascii_case(METADATA_KEY) || key.eq_ignore_ascii_case(SIZE_KEY)
}

/// Names of SFTP digest sidecars start with this (reserved in artifact paths, hidden in listings).
pub const SIDECAR_PREFIX: &str = ".rsflow-sha256.";

/// The key of `path`'s sidecar (`dir/.rsflow-sha256.name`), `None` for the root or a name too
/// long to carry the prefix.
pub fn sidecar_key(path: &crate::ArtifactPath) -> Option<String> {
    let name = path.file_name()?;
    if name.len() + SIDECAR_PREFIX.len() > crate::path::MAX_SEGMENT_BYTES {
        return None;
    }
    Some(match path.parent().filter(|p| !p.is_root()) {
        Some(dir) => format!("{dir}/{SIDECAR_PREFIX}{name}"),
        None => format!("{SIDECAR_PREFIX}{name}"),
    })
}

/// The file a sidecar name (a basename) in `dir` stands for.
pub fn file_of_sidecar(dir: &crate::ArtifactPath, name: &str) -> Option<crate::ArtifactPath> {
    let file = name.strip_prefix(SIDECAR_PREFIX)?;
    let file = crate::ArtifactPath::parse(file).ok()?;
    if file.file_name().is_none() || file.as_str().contains('/') {
        return None;
    }
    dir.join(&file).ok()
}

/// A digest kept in an object of its own: `<sha256> <size> <version>`, where the version is
/// what the store reported for the artifact when the digest was stored (its ETag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    pub sha256: String,
    pub size: u64,
    pub version: String,
}

impl Sidecar {
    pub fn render(&self) -> String {
        format!("{} {} {}\n", self.sha256, self.size, self.version)
    }

    pub fn parse(text: &[u8]) -> Option<Sidecar> {
        let text = std::str::from_utf8(text).ok()?.trim_end();
        let mut it = text.splitn(3, ' ');
        let sha256 = it.next().filter(|h| is_sha256_hex(h))?.to_owned();
        let size = it.next()?.parse().ok()?;
        let version = it.next().filter(|v| !v.is_empty())?.to_owned();
        Some(Sidecar {
            sha256,
            size,
            version,
        })
    }

    /// Whether it describes the object `meta` describes (same size and version).
    pub fn describes(&self, meta: &crate::ObjectMeta) -> bool {
        meta.size == self.size && meta.etag.as_deref() == Some(self.version.as_str())
    }
}

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

    #[test]
    fn sidecars() {
        use crate::ArtifactPath;
        let p = ArtifactPath::parse("a/b/model.bin").unwrap();
        assert_eq!(sidecar_key(&p).unwrap(), "a/b/.rsflow-sha256.model.bin");
        let top = ArtifactPath::parse("x").unwrap();
        assert_eq!(sidecar_key(&top).unwrap(), ".rsflow-sha256.x");
        assert_eq!(sidecar_key(&ArtifactPath::root()), None);
        assert_eq!(
            sidecar_key(&ArtifactPath::parse(&"n".repeat(250)).unwrap()),
            None
        );
        let dir = ArtifactPath::parse("a/b").unwrap();
        assert_eq!(
            file_of_sidecar(&dir, ".rsflow-sha256.model.bin").unwrap(),
            p
        );
        assert_eq!(file_of_sidecar(&dir, "model.bin"), None);
        // The prefix is reserved: nobody can upload a sidecar through the API.
        assert!(ArtifactPath::parse("a/.rsflow-sha256.x").is_err());
        let s = Sidecar {
            sha256: "ab".repeat(32),
            size: 7,
            version: "\"etag-1\"".into(),
        };
        assert_eq!(Sidecar::parse(s.render().as_bytes()), Some(s.clone()));
        assert_eq!(Sidecar::parse(b"zz 7 \"e\""), None);
        assert_eq!(Sidecar::parse(b""), None);
        let meta = crate::ObjectMeta {
            size: 7,
            modified: None,
            etag: Some("\"etag-1\"".into()),
            sha256: None,
        };
        assert!(s.describes(&meta));
        assert!(!s.describes(&crate::ObjectMeta { size: 8, ..meta }));
    }
}
