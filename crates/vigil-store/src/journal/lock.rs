//! One writer per journal directory, enforced with `flock(2)` on a `LOCK` file.
//!
//! The kernel drops the lock when the process dies (even by SIGKILL), so a crash never leaves
//! a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::error::{JournalError, Result};

/// Holds the directory lock until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the exclusive lock on `dir/LOCK`, failing at once if someone else holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| JournalError::io("open", &path, e))?;
        // SAFETY: flock only reads the descriptor, which `file` keeps open for this call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            return Err(if err.kind() == io::ErrorKind::WouldBlock {
                JournalError::Locked { path }
            } else {
                JournalError::io("lock", &path, err)
            });
        }
        Ok(DirLock { _file: file })
    }
}
