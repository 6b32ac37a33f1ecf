//! [`ArtifactPath`]: the one canonical relative artifact path every route and store uses.
//!
//! Parsing follows MLflow's `validate_path_is_safe` (spec mlflow-artifacts §3.1): percent-decode
//! repeatedly until the string stops changing, then check the decoded form. Unlike MLflow, the
//! decoded form is also normalised (no empty or `.` segments) and that exact string is what the
//! stores use, so nothing downstream ever sees a form other than the one that was checked
//! (security.md §1, CVE-2024-1558).

use std::fmt;

use percent_encoding::percent_decode_str;
use rsflow_core::MlflowError;

/// Prefix of in-flight upload files; MLflow uses the same one, so either server hides the other's.
pub const TEMP_PREFIX: &str = ".artifact.uploading.";
/// A second reserved prefix, hidden and refused too, kept free for other rsflow tooling.
pub const ALT_TEMP_PREFIX: &str = ".rsflow-upload.";

/// Longest accepted path, in bytes: the object-key limit of S3, GCS and Azure Blob, so a path
/// valid on the local store stays valid on every backend.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest accepted segment, in bytes (`NAME_MAX` on Linux file systems).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// MLflow's `_decode` gives up after this many rounds.
const MAX_DECODE_ROUNDS: usize = 10;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Traversal, absolute, drive, backslash, `#`, control bytes: MLflow's "Invalid path".
    #[error("Invalid path")]
    Invalid,
    /// A segment longer than [`MAX_SEGMENT_BYTES`] or a path longer than [`MAX_PATH_BYTES`].
    #[error(
        "Invalid path: artifact paths are limited to {MAX_PATH_BYTES} bytes and {MAX_SEGMENT_BYTES} bytes per name"
    )]
    TooLong,
    /// A name that starts with an upload temp-file prefix.
    #[error(
        "Invalid artifact file name: '{name}'. Artifact names starting with '{prefix}' are reserved."
    )]
    Reserved { name: String, prefix: &'static str },
    /// A write target that names a directory (`a/b/`) or the root.
    #[error("Artifact path must include a filename (cannot end with '/').")]
    NoFileName,
    /// A symlink (or a race) would take the path outside the store's root.
    #[error("Invalid path: resolved path is outside the artifact directory")]
    OutsideRoot,
}

impl From<PathError> for MlflowError {
    fn from(e: PathError) -> Self {
        MlflowError::invalid_param(e.to_string())
    }
}

/// A validated, normalised path relative to an artifact root: `/`-separated, no empty, `.` or
/// `..` segments, no leading or trailing `/`. The empty path is the root itself.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ArtifactPath(String);

impl ArtifactPath {
    /// The root of a store (valid for list, never a write or delete target).
    pub const fn root() -> Self {
        ArtifactPath(String::new())
    }

    /// Parse a path from a URL path (already percent-decoded once by routing) or a query value.
    /// `""` and `"."` mean the root; `"/"` is absolute and refused, as MLflow does.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        Ok(parse_inner(raw)?.0)
    }

    /// Parse a path that must name a file to write: the root, or anything ending in `/` or `/.`,
    /// is [`PathError::NoFileName`].
    pub fn parse_file(raw: &str) -> Result<Self, PathError> {
        let (path, names_dir) = parse_inner(raw)?;
        if names_dir || path.is_root() {
            return Err(PathError::NoFileName);
        }
        Ok(path)
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments, first to last; none for the root.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The last segment; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.segments().next_back()
    }

    /// Everything but the last segment; `None` for the root.
    pub fn parent(&self) -> Option<ArtifactPath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => ArtifactPath(self.0[..i].to_owned()),
            None => ArtifactPath::root(),
        })
    }

    /// `self/other`; both are canonical already, so only the length can fail.
    pub fn join(&self, other: &ArtifactPath) -> Result<ArtifactPath, PathError> {
        let joined = match (self.is_root(), other.is_root()) {
            (true, _) => other.0.clone(),
            (_, true) => self.0.clone(),
            _ => format!("{}/{}", self.0, other.0),
        };
        if joined.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        Ok(ArtifactPath(joined))
    }

    /// The part of `self` below `prefix`, if `self` lies under (or is) `prefix`.
    pub fn strip_prefix(&self, prefix: &ArtifactPath) -> Option<ArtifactPath> {
        if prefix.is_root() {
            return Some(self.clone());
        }
        if self.0 == prefix.0 {
            return Some(ArtifactPath::root());
        }
        self.0
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .map(|rest| ArtifactPath(rest.to_owned()))
    }
}

impl fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ArtifactPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArtifactPath({:?})", self.0)
    }
}

/// True for names the stores create while uploading (and hide from listings).
pub fn is_temp_name(name: &[u8]) -> bool {
    name.starts_with(TEMP_PREFIX.as_bytes()) || name.starts_with(ALT_TEMP_PREFIX.as_bytes())
}

/// Percent-decode until stable, as MLflow's `_decode` does (at most 10 rounds). Unlike Python's
/// `unquote`, bytes that do not decode to UTF-8 (overlong `%c0%ae`, stray `%ff`) are refused
/// instead of becoming U+FFFD, so the checked name is the name the client sent.
pub fn decode_fixpoint(raw: &str) -> Result<String, PathError> {
    let mut current = raw.to_owned();
    for _ in 0..MAX_DECODE_ROUNDS {
        let decoded = percent_decode_str(&current)
            .decode_utf8()
            .map_err(|_| PathError::Invalid)?;
        if decoded == current {
            return Ok(current);
        }
        current = decoded.into_owned();
    }
    Err(PathError::Invalid)
}

/// Returns the canonical path and whether the raw form named a directory (trailing `/` or `.`).
fn parse_inner(raw: &str) -> Result<(ArtifactPath, bool), PathError> {
    let s = decode_fixpoint(raw)?;
    // U+FFFD is what a lossy decoder upstream (query strings) made of invalid bytes.
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) || s.contains(['#', '\\', '\u{FFFD}']) {
        return Err(PathError::Invalid);
    }
    if s.starts_with('/') || has_drive_prefix(&s) || has_file_scheme(&s) {
        return Err(PathError::Invalid);
    }
    let mut canonical = String::with_capacity(s.len());
    for seg in s.split('/') {
        match seg {
            "" | "." => continue,
            ".." => return Err(PathError::Invalid),
            // `..;x` is `..` to servlet-style parsers (path parameters): a proxy in front
            // could resolve it differently from us, so no such segment is ever stored.
            s if matches!(s.split(';').next(), Some("." | "..")) => {
                return Err(PathError::Invalid);
            }
            _ => {}
        }
        if seg.len() > MAX_SEGMENT_BYTES {
            return Err(PathError::TooLong);
        }
        if let Some(prefix) = [TEMP_PREFIX, ALT_TEMP_PREFIX, crate::digest::SIDECAR_PREFIX]
            .into_iter()
            .find(|p| seg.starts_with(p))
        {
            return Err(PathError::Reserved {
                name: seg.to_owned(),
                prefix,
            });
        }
        if !canonical.is_empty() {
            canonical.push('/');
        }
        canonical.push_str(seg);
    }
    // Checked again on the canonical form: dropping a leading `./` must not uncover a drive or
    // a scheme (`./x:y` -> `x:y`), or the stored path would not re-validate (found by fuzzing).
    if has_drive_prefix(&canonical) || has_file_scheme(&canonical) {
        return Err(PathError::Invalid);
    }
    if canonical.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    let last = s.rsplit('/').next().unwrap_or("");
    let names_dir = last.is_empty() || last == ".";
    Ok((ArtifactPath(canonical), names_dir))
}

/// `C:` and friends: a Windows drive, absolute (`C:\x`, `C:/x`) or drive-relative (`C:x`).
fn has_drive_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// MLflow turns `file:` paths into local paths and then refuses them as absolute.
fn has_file_scheme(s: &str) -> bool {
    s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("file:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        ArtifactPath::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?} refused: {e}"))
            .0
    }

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(ok("a/b/c.txt"), "a/b/c.txt");
        assert_eq!(ok(""), "");
        assert_eq!(ok("."), "");
        assert_eq!(ok("./a//b/./c/"), "a/b/c");
        assert_eq!(ok("x%20y.txt"), "x y.txt");
        assert_eq!(ok("x%2520y.txt"), "x y.txt");
        assert_eq!(ok("100%.txt"), "100%.txt");
        assert_eq!(ok("a?b;c:d"), "a?b;c:d");
        assert_eq!(ok("日本/語.csv"), "日本/語.csv");
        assert_eq!(ok("...hidden/..x"), "...hidden/..x");
        assert_eq!(ok("metrics:v1/x"), "metrics:v1/x");
    }

    #[test]
    fn rejects_every_traversal_and_odd_form() {
        let cases = [
            "..",
            "../x",
            "a/../../x",
            "a/..",
            "%2e%2e",
            "%2E%2E/x",
            "%252e%252e%252fx",
            "a/%252e%252e%252f%252e%252e%252fetc",
            "%25252e%25252e",
            "/etc/passwd",
            "/",
            "//host/share",
            "%2fetc",
            "C:\\Windows",
            "C:/Windows",
            "c:x",
            "\\\\host\\share",
            "a\\b",
            "a%5cb",
            "a#b",
            "a%23b",
            "#",
            "a\0b",
            "a%00b",
            "a\x01b",
            "a%01b",
            "a\nb",
            "a%0d%0ab",
            "a\x7fb",
            "file:///etc/passwd",
            "FILE:/etc",
            "file:rel",
            "%c0%ae%c0%ae/x",
            "%c0%ae%c0%ae%c0%afetc",
            "a%ffb",
            "\u{FFFD}\u{FFFD}/x",
            "..;/x",
            "a/..;jsessionid=1/b",
            ".;/x",
            "%2e%2e%3b/x",
            "./x:%2522e%22",
            "./C:/Windows",
            ".//file:x",
        ];
        for raw in cases {
            assert_eq!(ArtifactPath::parse(raw), Err(PathError::Invalid), "{raw:?}");
        }
    }

    #[test]
    fn endless_encoding_is_refused() {
        let mut raw = "..".to_owned();
        for _ in 0..12 {
            raw = raw.replace('%', "%25").replace('.', "%2e");
        }
        assert_eq!(ArtifactPath::parse(&raw), Err(PathError::Invalid));
    }

    #[test]
    fn overlong_paths_are_refused() {
        let long_seg = "a".repeat(256);
        assert_eq!(ArtifactPath::parse(&long_seg), Err(PathError::TooLong));
        assert!(ArtifactPath::parse(&"a".repeat(255)).is_ok());
        let long_path = vec!["abcdefgh"; 114].join("/"); // 114 * 9 - 1 = 1025 bytes
        assert_eq!(long_path.len(), 1025);
        assert_eq!(ArtifactPath::parse(&long_path), Err(PathError::TooLong));
        assert!(ArtifactPath::parse(&long_path[2..]).is_ok());
        let p = ArtifactPath::parse(&long_path[..600]).unwrap();
        assert_eq!(p.join(&p), Err(PathError::TooLong));
    }

    #[test]
    fn temp_prefixes_are_reserved() {
        let e = ArtifactPath::parse("a/.artifact.uploading.x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid artifact file name: '.artifact.uploading.x'. Artifact names starting with '.artifact.uploading.' are reserved."
        );
        assert!(matches!(
            ArtifactPath::parse(".rsflow-upload.1/y"),
            Err(PathError::Reserved { .. })
        ));
        assert!(is_temp_name(b".artifact.uploading.abc"));
        assert!(!is_temp_name(b".artifact"));
    }

    #[test]
    fn file_targets_need_a_name() {
        for raw in ["", ".", "a/", "a/b/", "a/.", "a%2f"] {
            assert_eq!(
                ArtifactPath::parse_file(raw),
                Err(PathError::NoFileName),
                "{raw:?}"
            );
        }
        assert_eq!(ArtifactPath::parse_file("a/./b").unwrap().as_str(), "a/b");
    }

    #[test]
    fn navigation() {
        let p = ArtifactPath::parse("1/run/artifacts/d/f.txt").unwrap();
        assert_eq!(p.file_name(), Some("f.txt"));
        assert_eq!(p.parent().unwrap().as_str(), "1/run/artifacts/d");
        assert_eq!(
            ArtifactPath::parse("f").unwrap().parent(),
            Some(ArtifactPath::root())
        );
        assert_eq!(ArtifactPath::root().parent(), None);
        let root = ArtifactPath::parse("1/run/artifacts").unwrap();
        assert_eq!(p.strip_prefix(&root).unwrap().as_str(), "d/f.txt");
        assert_eq!(
            ArtifactPath::parse("1/run/artifactsX")
                .unwrap()
                .strip_prefix(&root),
            None
        );
        assert_eq!(
            root.join(&ArtifactPath::root()).unwrap(),
            root,
            "joining the root is a no-op"
        );
    }
}
