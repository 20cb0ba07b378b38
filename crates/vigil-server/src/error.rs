//! The crate's one error type for everything that is not an HTTP response: token files,
//! the audit log, binding and serving.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What went wrong in token storage, the audit log or the server, naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The token file exists but is not the JSON this crate writes.
    #[error("{}: not a valid token file: {source}", path.display())]
    TokenFile {
        /// The token file.
        path: PathBuf,
        /// Why it failed to parse.
        #[source]
        source: serde_json::Error,
    },
    /// No token has this id.
    #[error("no token with id {0:?}")]
    TokenNotFound(String),
    /// A token request was refused before anything was stored (e.g. an expiry in the past).
    #[error("invalid token request: {0}")]
    InvalidToken(String),
    /// The audit log's hash chain does not hold: a line was modified, deleted, reordered or
    /// inserted at (or just before) `line`.
    #[error("{}:{line}: audit chain broken{}: {reason}", path.display(), seq.map(|s| format!(" at seq {s}")).unwrap_or_default())]
    AuditTampered {
        /// The audit log.
        path: PathBuf,
        /// 1-based line number of the first line that fails verification.
        line: u64,
        /// The sequence number that line claims, when it could be read.
        seq: Option<u64>,
        /// What did not match.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server stopped with an I/O error.
    #[error("server: {0}")]
    Serve(#[source] io::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
