//! The journal's one error type.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::record::Damage;

/// Everything that can go wrong in the journal. Each variant names the file (and byte position
/// when there is one) so an operator can find the problem.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O call failed on `path`.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync", …).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The group-commit queue is full: the caller should back off (HTTP 429) and retry.
    #[error("journal queue is full ({queued_bytes} bytes waiting for fsync)")]
    Full {
        /// Bytes queued when the append was refused.
        queued_bytes: usize,
    },
    /// A record is larger than [`JournalOptions::max_record_bytes`](super::JournalOptions).
    #[error("record of {len} bytes exceeds the journal's limit of {max} bytes")]
    RecordTooLarge {
        /// Payload length offered.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The journal was closed; nothing more can be appended or waited for.
    #[error("journal is closed")]
    Closed,
    /// An earlier write or fsync failed. After a failed fsync the kernel may have dropped the
    /// dirty pages, so the journal stops accepting appends instead of retrying; reopen it to
    /// recover from what is on disk.
    #[error("journal stopped after a failed write or fsync: {reason}")]
    Failed {
        /// The original failure, as text (shared by every waiter that sees it).
        reason: Arc<str>,
    },
    /// Another process (or another `Journal` in this one) holds the directory's lock.
    #[error("journal directory {} is locked by another writer", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A record in a segment failed its checks. Readers report this once and continue at the
    /// next segment; the records in between are skipped (see the crate README).
    #[error(
        "corrupt record in {} at byte {position} (expected offset {offset}): {damage}{}",
        segment.display(),
        match resume_at { Some(next) => format!("; skipping to offset {next}"), None => String::new() }
    )]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte position of the damaged record's header in that file.
        position: u64,
        /// The offset the reader expected there.
        offset: u64,
        /// What was wrong.
        damage: Damage,
        /// Where the reader continues (the next segment's first offset), if known yet.
        resume_at: Option<u64>,
    },
    /// A segment file does not start with the journal's header.
    #[error("{} is not a journal segment: {reason}", segment.display())]
    BadSegment {
        /// The file.
        segment: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The requested offset was deleted by retention; reading resumes at `first_available`.
    #[error(
        "offset {requested} was removed by retention; the journal now starts at {first_available}"
    )]
    OffsetRemoved {
        /// What the reader asked for.
        requested: u64,
        /// The oldest offset still stored.
        first_available: u64,
    },
    /// Consumer names become file names: ASCII letters, digits, `-` and `_`, 1–64 characters.
    #[error("invalid consumer name {name:?}: use 1-64 ASCII letters, digits, '-' or '_'")]
    InvalidConsumerName {
        /// The rejected name.
        name: String,
    },
    /// A consumer tried to commit an offset the journal has not made durable yet.
    #[error(
        "consumer {name:?} cannot commit offset {offset}: only offsets below {durable_end} are durable"
    )]
    CommitBeyondEnd {
        /// The consumer.
        name: String,
        /// The offset it tried to commit.
        offset: u64,
        /// The journal's durable end (one past the last durable offset).
        durable_end: u64,
    },
    /// A consumer offset file could not be parsed.
    #[error("consumer offset file {} is unreadable: {reason}", path.display())]
    BadConsumerFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The options contradict each other.
    #[error("invalid journal options: {0}")]
    InvalidOptions(String),
}

impl JournalError {
    /// Wraps an `io::Error` with the operation and path it concerns.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Shorthand used throughout the journal.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;
