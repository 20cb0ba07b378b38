//! The crate's two error kinds: a skipped record ([`DecodeError`], decoding goes on) and a file
//! that cannot be decoded at all ([`IngestError`]).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// One record (or chunk) that was skipped, with where it was: reported through the `on_error`
/// callback and counted in [`crate::FileStats::errors`], so bad input never vanishes silently.
///
/// Displays as `FILE @ offset N: reason` (`FILE: reason` when the offset is unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The file (or stream name) the record came from.
    pub file: Arc<str>,
    /// Byte offset of the bad record (EVTX: of its record, or of its chunk when the record
    /// cannot be located), when known.
    pub offset: Option<u64>,
    /// Record number, when known: for EVTX the id in the damaged record's header (an exported
    /// log renumbers those from 1, unlike `EventRecordID`), for JSON the 1-based record index.
    pub record: Option<u64>,
    /// What was wrong, in words.
    pub reason: String,
}

impl DecodeError {
    pub(crate) fn new(
        file: &Arc<str>,
        offset: Option<u64>,
        record: Option<u64>,
        reason: impl Into<String>,
    ) -> Self {
        DecodeError {
            file: Arc::clone(file),
            offset,
            record,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(offset) = self.offset {
            write!(f, " @ offset {offset}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// Why a whole file could not be decoded (fatal for that file only; the caller goes on with
/// the next one).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes match none of the formats the decoders read.
    #[error("{}: unknown format: {reason}", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What its first bytes are, and why that is no format we know.
        reason: String,
    },
    /// The bytes cannot be the format the user forced (`--input-format`).
    #[error("{}: not {format} as forced: {reason}", path.display())]
    FormatMismatch {
        /// The file.
        path: PathBuf,
        /// The forced format.
        format: crate::Format,
        /// What the bytes are instead.
        reason: String,
    },
}
