//! One writer per journal directory: the exclusive lock on its `LOCK` file
//! ([`crate::lockfile`]).

use std::fs::File;
use std::path::Path;

use super::error::{JournalError, Result};

/// Holds the directory lock until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the exclusive lock on `dir/LOCK`, failing if someone else holds it for longer
    /// than a moment.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join("LOCK");
        match crate::lockfile::lock_exclusive(&path) {
            Ok(Some(file)) => Ok(DirLock { _file: file }),
            Ok(None) => Err(JournalError::Locked { path }),
            Err(e) => Err(JournalError::io("lock", &path, e)),
        }
    }
}
