//! The crate's error type: only what stops an import as a whole. Problems with a file or an
//! object inside it are rejections in the [`crate::ImportReport`] instead.

use std::path::PathBuf;

/// An import that could not start.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// The path (or a directory under it) could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
