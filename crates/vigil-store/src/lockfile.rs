//! The exclusive lock file that keeps a second writer out of a journal or lake directory.
//!
//! `File::try_lock` (`flock(2)` on Linux): the kernel drops the lock when the process dies,
//! even by SIGKILL, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a held lock is retried before giving up. A lock is briefly held by someone who is
/// already letting go in two ordinary cases: a process spawned by this one between `fork` and
/// `exec` shares its descriptors (so a directory closed and reopened meanwhile sees its own
/// lock), and a previous server may still be exiting when its successor starts.
const PATIENCE: Duration = Duration::from_secs(2);

/// Opens (creating) `path` and takes its exclusive lock: `Ok(None)` when someone else holds it
/// for longer than a moment. Keep the file to keep the lock.
pub(crate) fn lock_exclusive(path: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}
