//! Small durable-file helpers shared by the state files the monitor keeps beside the journal.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::MonitorError;

/// Replaces `path` with `body` so that a crash leaves either the old or the new file, never a
/// mix: write a temporary sibling, fsync it, rename it over, fsync the directory.
pub fn write_atomically(path: &Path, body: &[u8]) -> Result<(), MonitorError> {
    let io = |e| MonitorError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(body).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}
