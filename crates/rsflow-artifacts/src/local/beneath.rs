//! Opening paths strictly beneath a root directory, whatever symlinks lie inside it.
//!
//! The kernel does the containment check (`openat2` with `RESOLVE_BENEATH`), so there is no
//! check-then-open race (security spec D14). Kernels without `openat2` (before 5.6, or sandboxes
//! that filter it) get a walk that opens one component at a time with `O_NOFOLLOW`, which
//! refuses every symlink, inside the root or not.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{CWD, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::path::{ArtifactPath, PathError};
use crate::store::{ObjectMeta, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolver {
    Openat2,
    NoFollowWalk,
}

/// Decided once per process: the first root opened probes `openat2`.
static RESOLVER: OnceLock<Resolver> = OnceLock::new();

/// `openat2` may ask for a retry when a rename races the lookup.
const EAGAIN_RETRIES: usize = 16;

/// An open root directory.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    resolver: Resolver,
}

impl Root {
    /// Open the root itself (following symlinks: the operator chose this path).
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::openat(CWD, path, dir_flags(), Mode::empty())?;
        let resolver = *RESOLVER.get_or_init(|| probe(&fd));
        Ok(Root { fd, resolver })
    }

    /// Open the root, creating it (and its parents) first if it is missing.
    pub(crate) fn open_or_create(path: &Path) -> io::Result<Root> {
        match Root::open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(path)?;
                Root::open(path)
            }
            other => other,
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Open `rel` (canonical, `""` is the root) beneath the root.
    pub(crate) fn open_at(&self, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = if rel.is_empty() { "." } else { rel };
        let flags = flags | OFlags::CLOEXEC;
        match self.resolver {
            Resolver::Openat2 => {
                let mut tries = 0;
                loop {
                    match rustix::fs::openat2(
                        &self.fd,
                        rel,
                        flags,
                        Mode::empty(),
                        ResolveFlags::BENEATH,
                    ) {
                        Err(Errno::AGAIN) if tries < EAGAIN_RETRIES => tries += 1,
                        other => return other.map_err(io::Error::from),
                    }
                }
            }
            Resolver::NoFollowWalk => {
                let mut segments = rel.split('/').filter(|s| !s.is_empty()).peekable();
                let mut dir: Option<OwnedFd> = None;
                while let Some(seg) = segments.next() {
                    let at = dir.as_ref().map_or(self.fd.as_fd(), |d| d.as_fd());
                    let last = segments.peek().is_none();
                    let seg_flags = if last { flags } else { dir_flags() };
                    let fd =
                        rustix::fs::openat(at, seg, seg_flags | OFlags::NOFOLLOW, Mode::empty())
                            .map_err(|e| symlink_as_loop(at, seg, e))?;
                    if last {
                        return Ok(fd);
                    }
                    dir = Some(fd);
                }
                Ok(rustix::fs::openat(&self.fd, ".", flags, Mode::empty())?)
            }
        }
    }

    /// Open the directory `rel` beneath the root, for listing or as an `*at` anchor.
    pub(crate) fn open_dir(&self, rel: &str) -> io::Result<OwnedFd> {
        self.open_at(rel, dir_flags())
    }

    /// Open (creating as needed) every directory of `rel`, like `mkdir -p`, returning the last.
    /// Each directory is created with `mkdirat` under an already-contained parent and then
    /// reopened beneath the root, so a symlink planted anywhere on the way is caught. The parent
    /// of each directory created is fsynced so the new entry survives a crash.
    pub(crate) fn create_dirs(&self, rel: &ArtifactPath) -> io::Result<OwnedFd> {
        let mut current = self.open_dir("")?;
        let mut prefix = String::new();
        for seg in rel.segments() {
            match rustix::fs::mkdirat(&current, seg, Mode::from_raw_mode(0o777)) {
                Ok(()) => rustix::fs::fsync(&current)?,
                Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(seg);
            current = self.open_dir(&prefix)?;
        }
        Ok(current)
    }
}

/// `O_NOFOLLOW` with `O_DIRECTORY` reports a symlink as `ENOTDIR`; report it as `ELOOP` so it
/// reads as the escape attempt it may be.
fn symlink_as_loop(at: BorrowedFd<'_>, seg: &str, e: Errno) -> io::Error {
    if e == Errno::NOTDIR
        && rustix::fs::statat(at, seg, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| file_type(&st) == FileType::Symlink)
    {
        return Errno::LOOP.into();
    }
    e.into()
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

fn probe(root: &OwnedFd) -> Resolver {
    match rustix::fs::openat2(root, ".", dir_flags(), Mode::empty(), ResolveFlags::BENEATH) {
        // Some container runtimes answer EPERM for syscalls their filter does not know.
        Err(Errno::NOSYS) | Err(Errno::PERM) => {
            tracing::warn!(
                "openat2 is unavailable; artifact paths are resolved component by component and symlinks are refused"
            );
            Resolver::NoFollowWalk
        }
        _ => Resolver::Openat2,
    }
}

/// Map a failed lookup of `path` to what the caller should see.
pub(crate) fn lookup_error(op: &'static str, path: &ArtifactPath, e: io::Error) -> StoreError {
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        // EXDEV: RESOLVE_BENEATH caught an escape; ELOOP: O_NOFOLLOW met a symlink.
        Some(Errno::XDEV) | Some(Errno::LOOP) => PathError::OutsideRoot.into(),
        Some(Errno::NOTDIR) => StoreError::NotADirectory(path.clone()),
        Some(Errno::ISDIR) => StoreError::IsDirectory(path.clone()),
        Some(Errno::NAMETOOLONG) => PathError::TooLong.into(),
        _ => StoreError::io(op, path, e),
    }
}

pub(crate) fn is_not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

pub(crate) fn is_errno(e: &io::Error, errno: Errno) -> bool {
    e.raw_os_error() == Some(errno.raw_os_error())
}

/// Size, modification time and a strong ETag from `fstat`. The inode is part of the tag: every
/// upload publishes a new inode by rename, so an overwrite within the same nanosecond with the
/// same size still gets a new tag.
// The `Stat` field types differ across architectures, so the widening casts are needed on some.
#[allow(clippy::useless_conversion)]
pub(crate) fn object_meta(st: &rustix::fs::Stat) -> ObjectMeta {
    let size = stat_size(st);
    let secs = i64::from(st.st_mtime);
    let nanos = u64::from(st.st_mtime_nsec);
    let modified = u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s) + Duration::from_nanos(nanos));
    ObjectMeta {
        size,
        modified,
        etag: Some(format!(
            "\"{:x}-{:x}{:09x}-{:x}\"",
            u64::from(st.st_ino),
            secs,
            nanos,
            size
        )),
        sha256: None,
    }
}

#[allow(clippy::useless_conversion)]
pub(crate) fn stat_size(st: &rustix::fs::Stat) -> u64 {
    u64::try_from(i64::from(st.st_size)).unwrap_or(0)
}

pub(crate) fn file_type(st: &rustix::fs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// The absolute form of a local root: relative paths are taken against the working directory.
pub(crate) fn absolute(path: &Path) -> io::Result<PathBuf> {
    std::path::absolute(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both resolvers on the same tree: escapes fail, plain paths open, `create_dirs` works.
    #[test]
    fn both_resolvers_contain_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let root_path = tmp.path().join("root");
        std::fs::create_dir_all(root_path.join("a/b")).unwrap();
        std::fs::write(root_path.join("a/b/f.txt"), b"x").unwrap();
        std::fs::write(tmp.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(tmp.path(), root_path.join("a/up")).unwrap();
        std::os::unix::fs::symlink("b", root_path.join("a/inner")).unwrap();
        for resolver in [Resolver::Openat2, Resolver::NoFollowWalk] {
            let fd = rustix::fs::openat(CWD, &root_path, dir_flags(), Mode::empty()).unwrap();
            let root = Root { fd, resolver };
            let rdonly = OFlags::RDONLY;
            assert!(root.open_at("a/b/f.txt", rdonly).is_ok(), "{resolver:?}");
            assert!(root.open_at("", rdonly).is_ok(), "{resolver:?}");
            let escape = root.open_at("a/up/secret", rdonly).unwrap_err();
            assert!(
                matches!(
                    lookup_error("open", &ArtifactPath::root(), escape),
                    StoreError::Path(PathError::OutsideRoot)
                ),
                "{resolver:?}"
            );
            let inner = root.open_at("a/inner/f.txt", rdonly);
            assert_eq!(inner.is_ok(), resolver == Resolver::Openat2, "{resolver:?}");
            let made = ArtifactPath::parse(&format!("new/{resolver:?}/dirs")).unwrap();
            root.create_dirs(&made).unwrap();
            assert!(root_path.join(made.as_str()).is_dir());
            let through_link = ArtifactPath::parse("a/up/planted").unwrap();
            assert!(root.create_dirs(&through_link).is_err(), "{resolver:?}");
            assert!(!tmp.path().join("planted").exists());
        }
    }
}
