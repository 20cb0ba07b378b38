//! The one error type of this crate.

use std::path::PathBuf;

use vigil_store::journal::JournalError;
use vigil_store::state::StateError;

/// What can stop the monitor or fail one of its operations.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("state database: {0}")]
    State(#[from] StateError),
    #[error("loading rules: {0}")]
    Rules(String),
    #[error("{0}")]
    Data(String),
    #[error("server: {0}")]
    Server(#[from] vigil_server::Error),
}
