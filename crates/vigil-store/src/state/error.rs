//! The state database's one error type.

use std::path::PathBuf;

use super::Expect;
use super::model::{AlertStatus, Verdict};

/// Everything the state database can refuse or fail at. Workflow and input errors are the
/// caller's (an API answers 4xx); `Sqlite`, `Open` and `Corrupt` are the server's (5xx).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database file could not be opened or prepared (pragmas, migrations).
    #[error("state database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A schema migration failed; the transaction was rolled back and the file is unchanged.
    #[error("state database {}: migration {version} ({name}): {source}", path.display())]
    Migration {
        path: PathBuf,
        version: u32,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer Vigil whose schema this one does not know.
    #[error(
        "state database {} has schema version {found}, this build knows up to {known}: upgrade Vigil",
        path.display()
    )]
    FutureSchema {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    /// A statement failed (I/O, busy beyond the timeout, constraint).
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be read back (edited by hand, or a bug): names the row and column.
    #[error("state database: alert {id}: column {column}: {reason}")]
    Corrupt {
        id: String,
        column: &'static str,
        reason: String,
    },
    /// No alert has this id.
    #[error("no alert with id {0:?}")]
    NotFound(String),
    /// The workflow does not allow this status change.
    #[error("an alert cannot go from {from} to {to}")]
    InvalidTransition { from: AlertStatus, to: AlertStatus },
    /// Closing an alert needs a verdict.
    #[error("closing an alert needs a verdict (true-positive, false-positive or benign)")]
    VerdictRequired,
    /// A verdict was given for an alert that stays open.
    #[error("verdict {verdict} can only be given to a closed alert (this one would be {status})")]
    VerdictOnOpenAlert {
        verdict: Verdict,
        status: AlertStatus,
    },
    /// A record changed since the caller read it (or exists when it should not): re-read and
    /// retry.
    #[error("{kind} {id} was changed meanwhile (expected {expected}, found {})",
        found.map_or("none".to_string(), |v| format!("version {v}")))]
    Conflict {
        kind: String,
        id: String,
        expected: Expect,
        found: Option<i64>,
    },
    /// A request that cannot be served as given (empty update, oversized comment, bad cursor…).
    #[error("{0}")]
    InvalidInput(String),
}

impl StateError {
    /// True when the caller asked for something wrong (an API answers 4xx), false for failures of
    /// the store itself.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            StateError::NotFound(_)
                | StateError::InvalidTransition { .. }
                | StateError::VerdictRequired
                | StateError::VerdictOnOpenAlert { .. }
                | StateError::InvalidInput(_)
                | StateError::Conflict { .. }
        )
    }
}
