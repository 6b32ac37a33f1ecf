//! Directory walks that never follow symlinks: listing one directory, removing a tree.

use std::ffi::CStr;
use std::io;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::path::{ArtifactPath, is_temp_name};
use crate::store::FileInfo;

use super::beneath::{Root, file_type, stat_size};

/// Trees deeper than this are not removed (a canonical path of 1024 bytes has at most 512
/// segments, so nothing rsflow wrote can be deeper).
const MAX_REMOVE_DEPTH: usize = 1024;

/// The visible children of `dir` (whose path beneath `root` is `rel`), sorted by name.
pub(crate) fn list_dir(root: &Root, rel: &ArtifactPath, dir: OwnedFd) -> io::Result<Vec<FileInfo>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::new(dir.try_clone()?)? {
        let entry = entry?;
        let raw = entry.file_name();
        let bytes = raw.to_bytes();
        if bytes == b"." || bytes == b".." || is_temp_name(bytes) {
            continue;
        }
        // A name the API could not address (not UTF-8, or one that decodes to something else,
        // like `a%20b`) would make the client request a different path, so it is not listed.
        let Ok(name) = raw.to_str() else { continue };
        if !ArtifactPath::parse(name).is_ok_and(|p| p.as_str() == name) {
            continue;
        }
        let ft = match entry.file_type() {
            FileType::Unknown => match rustix::fs::statat(&dir, raw, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => file_type(&st),
                Err(_) => continue,
            },
            ft => ft,
        };
        let info = match ft {
            FileType::Directory => Some(dir_info(name)),
            FileType::RegularFile => match rustix::fs::statat(&dir, raw, AtFlags::SYMLINK_NOFOLLOW)
            {
                Ok(st) => Some(file_info(name, &st)),
                Err(_) => None,
            },
            // Shown only if it resolves inside the root, as what it points to.
            FileType::Symlink => resolve_link(root, rel, name),
            _ => None,
        };
        out.extend(info);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn dir_info(name: &str) -> FileInfo {
    FileInfo {
        path: name.to_owned(),
        is_dir: true,
        file_size: None,
    }
}

fn file_info(name: &str, st: &rustix::fs::Stat) -> FileInfo {
    let size = stat_size(st);
    FileInfo {
        path: name.to_owned(),
        is_dir: false,
        file_size: (size > 0).then_some(size),
    }
}

fn resolve_link(root: &Root, rel: &ArtifactPath, name: &str) -> Option<FileInfo> {
    let child = rel.join(&ArtifactPath::parse(name).ok()?).ok()?;
    let fd = root.open_at(child.as_str(), OFlags::PATH).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    match file_type(&st) {
        FileType::Directory => Some(dir_info(name)),
        FileType::RegularFile => Some(file_info(name, &st)),
        _ => None,
    }
}

/// Remove `name` (a directory) under `parent` with everything in it. Symlinks are unlinked,
/// never followed; subdirectories are opened with `O_NOFOLLOW` relative to their parent.
pub(crate) fn remove_tree(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    struct Frame {
        fd: OwnedFd,
        entries: rustix::fs::Dir,
        name: std::ffi::CString,
    }
    let open = |at: BorrowedFd<'_>, n: &CStr| -> io::Result<Frame> {
        let fd = rustix::fs::openat(
            at,
            n,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let entries = rustix::fs::Dir::read_from(&fd)?;
        Ok(Frame {
            fd,
            entries,
            name: n.to_owned(),
        })
    };
    let mut stack = vec![open(parent, name)?];
    while let Some(depth) = stack.len().checked_sub(1) {
        let top = &mut stack[depth];
        match top.entries.next() {
            Some(entry) => {
                let entry = entry?;
                let child = entry.file_name();
                let bytes = child.to_bytes();
                if bytes == b"." || bytes == b".." {
                    continue;
                }
                let is_dir = match entry.file_type() {
                    FileType::Directory => true,
                    FileType::Unknown => {
                        match rustix::fs::statat(&top.fd, child, AtFlags::SYMLINK_NOFOLLOW) {
                            Ok(st) => file_type(&st) == FileType::Directory,
                            Err(Errno::NOENT) => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                    _ => false,
                };
                if is_dir {
                    if depth + 1 >= MAX_REMOVE_DEPTH {
                        return Err(io::Error::other("directory tree too deep to remove"));
                    }
                    let child = child.to_owned();
                    let frame = open(top.fd.as_fd(), &child)?;
                    stack.push(frame);
                } else {
                    match rustix::fs::unlinkat(&top.fd, child, AtFlags::empty()) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            None => {
                let Some(done) = stack.pop() else { break };
                let at = stack.last().map_or(parent, |f| f.fd.as_fd());
                match rustix::fs::unlinkat(at, done.name.as_c_str(), AtFlags::REMOVEDIR) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}
