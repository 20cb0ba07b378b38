//! Retention: deleting whole segments that are no longer needed.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::Shared;
use super::error::{JournalError, Result};
use super::segment;

/// Which segments [`Journal::apply_retention`](super::Journal::apply_retention) may delete.
///
/// Segments every registered consumer has moved past are always deleted. With no consumer
/// registered, nothing is deleted on that ground: an unread journal is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Also delete segments last written longer ago than this, even if a consumer has not read
    /// them yet (a disk-space backstop; the report counts what was dropped unread).
    pub max_age: Option<Duration>,
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// The segment files removed, oldest first.
    pub removed_segments: Vec<PathBuf>,
    /// Their total size.
    pub removed_bytes: u64,
    /// Records removed that at least one consumer had not committed past (only with `max_age`).
    pub unconsumed_records_removed: u64,
    /// The oldest offset still stored afterwards.
    pub first_offset: u64,
}

/// Deletes a prefix of old segments, never the newest (it is being appended to).
pub(crate) fn apply(shared: &Shared, policy: &RetentionPolicy) -> Result<RetentionReport> {
    let min_committed = shared.consumers.all().values().copied().min();
    let bases = shared.segments.snapshot();
    let now = SystemTime::now();
    let mut report = RetentionReport::default();
    for pair in bases.windows(2) {
        let (base, end) = (pair[0], pair[1]);
        let path = segment::segment_path(&shared.dir, base);
        let meta = fs::metadata(&path).map_err(|e| JournalError::io("stat", &path, e))?;
        let consumed = min_committed.is_some_and(|committed| end <= committed);
        let expired = policy.max_age.is_some_and(|age| {
            meta.modified()
                .ok()
                .and_then(|written| now.duration_since(written).ok())
                .is_some_and(|elapsed| elapsed > age)
        });
        if !(consumed || expired) || !shared.segments.remove_first(base) {
            break;
        }
        // Readers look segments up in the list, so they see "removed" rather than a missing file.
        fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))?;
        if !consumed {
            let read_up_to = min_committed.unwrap_or(base).clamp(base, end);
            report.unconsumed_records_removed += end - read_up_to;
        }
        report.removed_bytes += meta.len();
        report.removed_segments.push(path);
    }
    if !report.removed_segments.is_empty() {
        segment::sync_dir(&shared.dir)?;
    }
    report.first_offset = shared.segments.first().unwrap_or(0);
    Ok(report)
}
