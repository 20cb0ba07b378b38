//! The lake's one error type.

use std::path::PathBuf;
use std::time::Duration;

use datafusion::error::DataFusionError;

/// Everything that can go wrong writing, compacting or querying the lake. File errors name
/// the file; SQL errors carry DataFusion's message (which names the column or token).
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A file system call failed on `path`.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the Parquet file `path` failed.
    #[error("{}: parquet: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: datafusion::parquet::errors::ParquetError,
    },
    /// Building record batches from rows failed (a bug rather than bad input: the rows are
    /// typed to the schema).
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A lake file is not what the lake writes: wrong schema, or a row count that does not add
    /// up. The file is left alone and named.
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// The SQL does not parse, names an unknown table, column or function, or is not a query
    /// (DDL, DML and `SET`-style statements are refused: the lake is read-only to SQL).
    #[error("SQL error: {message}")]
    Sql { message: String },
    /// The query was valid but failed while running (memory limit, unreadable file, …).
    #[error("query failed: {message}")]
    Query { message: String },
    /// The query ran past its time limit and was cancelled.
    #[error("query cancelled after its time limit of {0:?}")]
    Timeout(Duration),
    /// Another process (or another writer in this one) holds the lake's write lock.
    #[error("{}: the lake is already open for writing", path.display())]
    Locked { path: PathBuf },
    /// Rows must be appended in journal order; `position` came after `last`.
    #[error("row position {position} is before the last appended position {last}")]
    PositionOutOfOrder { position: u64, last: u64 },
    /// [`crate::lake::Lake::query_blocking`] was called on a thread that is already running an
    /// async runtime, where blocking would stall it; use [`crate::lake::Lake::query`] there.
    #[error("query_blocking was called inside an async runtime; await Lake::query instead")]
    InsideRuntime,
}

impl LakeError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LakeError {
        let path = path.into();
        move |source| LakeError::Io { path, source }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(datafusion::parquet::errors::ParquetError) -> LakeError {
        let path = path.into();
        move |source| LakeError::Parquet { path, source }
    }

    /// Sorts a DataFusion error into "your SQL is wrong" and "running it failed".
    pub(crate) fn from_datafusion(err: DataFusionError) -> LakeError {
        let message = err.to_string();
        match err.find_root() {
            DataFusionError::SQL(..)
            | DataFusionError::Plan(..)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(..) => LakeError::Sql { message },
            _ => LakeError::Query { message },
        }
    }

    /// True when the error is a lake file vanishing under a running query: compaction or
    /// retention removed it after the query listed it. Such a query is simply run again.
    pub(crate) fn is_vanished_file(err: &DataFusionError) -> bool {
        use datafusion::object_store::Error as StoreError;
        // The not-found error arrives wrapped differently depending on where the scan met it
        // (listing, footer read, page read): walk the whole source chain.
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = next {
            if let Some(StoreError::NotFound { .. }) = e.downcast_ref::<StoreError>() {
                return true;
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::NotFound
            {
                return true;
            }
            next = e.source();
        }
        false
    }
}

/// The lake's result type.
pub type Result<T, E = LakeError> = std::result::Result<T, E>;
