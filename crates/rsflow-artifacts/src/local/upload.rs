//! Atomic uploads: a locked, hidden temp file beside the target, fsync, rename, fsync the dir.
//! A [`TempFile`] removes itself when dropped unpublished (client gone, body error, future
//! dropped); the startup sweep removes what a killed process left behind.

use std::ffi::CString;
use std::io;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::path::{TEMP_PREFIX, is_temp_name};

use super::beneath::{Root, file_type};

const CREATE_ATTEMPTS: usize = 64;

/// A temp file being written. Holds an exclusive `flock` for its whole life, which tells the
/// sweep of another process that the upload is alive.
#[derive(Debug)]
pub(crate) struct TempFile {
    parent: OwnedFd,
    name: String,
    file: Option<OwnedFd>,
    published: bool,
}

impl TempFile {
    /// Create `.artifact.uploading.<random>` in `parent`, locked.
    pub(crate) fn create(parent: OwnedFd) -> io::Result<TempFile> {
        let mut temp = TempFile {
            parent,
            name: String::new(),
            file: None,
            published: false,
        };
        for _ in 0..CREATE_ATTEMPTS {
            let name = format!("{TEMP_PREFIX}{:016x}", fastrand::u64(..));
            // Read and write: what the upload's hash could not keep up with is read back from
            // it once it is published (see `LocalStore::put`).
            let fd = match rustix::fs::openat(
                &temp.parent,
                name.as_str(),
                OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            ) {
                Ok(fd) => fd,
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            };
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                // NFS without lock support: uploads still work, only the sweep cannot tell.
                Ok(()) | Err(Errno::NOLCK) | Err(Errno::NOTSUP) => {}
                // A sweep holds it for the instant before unlinking it: take another name.
                Err(Errno::WOULDBLOCK) => continue,
                Err(e) => {
                    let _ = rustix::fs::unlinkat(&temp.parent, name.as_str(), AtFlags::empty());
                    return Err(e.into());
                }
            }
            // A sweep may have unlinked the name between our create and our lock.
            if rustix::fs::fstat(&fd)?.st_nlink == 0 {
                continue;
            }
            temp.name = name;
            temp.file = Some(fd);
            return Ok(temp);
        }
        Err(io::Error::other(
            "could not create a unique upload temp file",
        ))
    }

    /// The file to write into; callable once.
    pub(crate) fn take_file(&mut self) -> Option<OwnedFd> {
        self.file.take()
    }

    /// Rename over `final_name` (replacing whatever file is there) and make the rename durable.
    pub(crate) fn publish(mut self, final_name: &str) -> io::Result<()> {
        rustix::fs::renameat(&self.parent, self.name.as_str(), &self.parent, final_name)?;
        self.published = true;
        rustix::fs::fsync(&self.parent)?;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published
            && !self.name.is_empty()
            && let Err(e) = rustix::fs::unlinkat(&self.parent, self.name.as_str(), AtFlags::empty())
            && e != Errno::NOENT
        {
            tracing::warn!(name = %self.name, error = %e, "failed to remove an abandoned upload");
        }
    }
}

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Abandoned temp files removed.
    pub removed: u64,
    /// Temp files left alone because a live upload holds their lock.
    pub in_use: u64,
    /// The walk stopped at its entry or depth bound before seeing everything.
    pub truncated: bool,
}

/// Bounds on the startup walk, so a huge or pathological tree cannot stall startup forever.
pub(crate) const SWEEP_MAX_ENTRIES: u64 = 500_000;
pub(crate) const SWEEP_MAX_DEPTH: usize = 48;

/// Remove unlocked temp files anywhere under the root. Never follows symlinks.
pub(crate) fn sweep(root: &Root) -> io::Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut seen = 0u64;
    let mut stack: Vec<OwnedFd> = vec![rustix::fs::openat(
        root.fd(),
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?];
    while let Some(dir_fd) = stack.pop() {
        let dir = rustix::fs::Dir::read_from(&dir_fd)?;
        for entry in dir {
            let entry = entry?;
            seen += 1;
            if seen > SWEEP_MAX_ENTRIES {
                report.truncated = true;
                return Ok(report);
            }
            let name = entry.file_name();
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let ft = match entry.file_type() {
                rustix::fs::FileType::Unknown => {
                    match rustix::fs::statat(&dir_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) => file_type(&st),
                        Err(_) => continue,
                    }
                }
                ft => ft,
            };
            if ft == rustix::fs::FileType::Directory {
                if stack.len() + 1 >= SWEEP_MAX_DEPTH {
                    report.truncated = true;
                    continue;
                }
                if let Ok(child) = rustix::fs::openat(
                    &dir_fd,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    stack.push(child);
                }
            } else if ft == rustix::fs::FileType::RegularFile && is_temp_name(bytes) {
                match remove_if_abandoned(dir_fd.as_fd(), name.to_owned()) {
                    Ok(true) => report.removed += 1,
                    Ok(false) => report.in_use += 1,
                    Err(e) => tracing::warn!(
                        name = %name.to_string_lossy(),
                        error = %e,
                        "could not sweep an abandoned upload"
                    ),
                }
            }
        }
    }
    Ok(report)
}

/// Unlink a temp file unless a live upload holds its lock. The lock is held across the unlink
/// so an uploader racing us sees `EWOULDBLOCK` or an unlinked file and picks a new name.
fn remove_if_abandoned(dir: rustix::fd::BorrowedFd<'_>, name: CString) -> io::Result<bool> {
    let fd = match rustix::fs::openat(
        dir,
        name.as_c_str(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    match rustix::fs::unlinkat(dir, name.as_c_str(), AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(true),
        Err(e) => Err(e.into()),
    }
}
