//! [`AlertStore`] on SQLite: one file, WAL mode, one writer connection and a few readers.
//!
//! Why this shape: SQLite allows one writer at a time per file, so this process serialises its
//! writes on one connection (no lock ping-pong between its own threads) and takes the write lock
//! with `BEGIN IMMEDIATE`, waiting up to the busy timeout for another process. Readers use
//! their own connections and, thanks to WAL, never block on the writer nor block it.
//!
//! SQL lives with its tables: [`alerts`] (alerts and the dedup ledger) and [`comments`].

mod alerts;
mod comments;
mod migrations;
mod records;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use migrations::SCHEMA_VERSION;
pub use records::MAX_RECORD_BYTES;

use super::error::StateError;
use super::model::{Alert, AlertFilter, AlertUpdate, Comment, NewAlert, Page, RecordOutcome};
use super::model::{AlertStatus, RuleHits};
use super::{AlertStore, Durability, Record, RecordPut, RecordStore, StateOptions, workflow};

/// The SQLite state database. Cheap to share behind an `Arc`; every method is thread-safe.
pub struct SqliteStore {
    path: PathBuf,
    options: StateOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>, options: StateOptions) -> Result<Self, StateError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| StateError::Open {
            path: path.clone(),
            source,
        };
        let mut writer = Connection::open(&path).map_err(open_err)?;
        configure(&writer, &options).map_err(open_err)?;
        // 32 MiB of page cache for the writer only (readers keep SQLite's 2 MiB, so memory stays
        // bounded however many read): alert ids and hit keys are random, so inserts touch index
        // pages all over; keeping them cached saves a read per insert.
        writer
            .pragma_update(None, "cache_size", -32 * 1024)
            .map_err(open_err)?;
        // WAL is a property of the file: set once here, readers inherit it.
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(rusqlite::Error::InvalidParameterName(format!(
                "journal_mode is {mode}, WAL could not be enabled"
            ))));
        }
        migrations::migrate(&mut writer, &path)?;
        Ok(SqliteStore {
            path,
            options,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StateError> {
        self.read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`), committing if it succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>, Timestamp) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Truncated to what the database keeps, so returned values equal re-read ones.
        let now = (self.options.clock)();
        let now = Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now);
        let out = f(&tx, now)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in a read transaction, so several queries see one snapshot.
    fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let pooled = lock(&self.readers).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let out = {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            tx.finish()?;
            out
        };
        let mut idle = lock(&self.readers);
        if idle.len() < self.options.max_idle_readers {
            idle.push(conn);
        }
        Ok(out)
    }

    fn open_reader(&self) -> Result<Connection, StateError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        configure(&conn, &self.options)?;
        Ok(conn)
    }
}

/// Per-connection settings. `synchronous` matters only on the writer but is harmless elsewhere.
fn configure(conn: &Connection, options: &StateOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    let sync = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// A poisoned lock only means another thread panicked while holding it; its transaction was
/// rolled back when dropped, so the connection is still sound.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AlertStore for SqliteStore {
    fn record_batch(&self, batch: &[NewAlert]) -> Result<Vec<RecordOutcome>, StateError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx, now| {
            batch
                .iter()
                .map(|a| alerts::record(tx, a, &self.options, now))
                .collect()
        })
    }

    fn get(&self, id: &str) -> Result<Option<Alert>, StateError> {
        self.read(|tx| alerts::get(tx, id))
    }

    fn list(&self, filter: &AlertFilter) -> Result<Page<Alert>, StateError> {
        self.read(|tx| alerts::list(tx, filter))
    }

    fn update(&self, id: &str, update: &AlertUpdate) -> Result<Alert, StateError> {
        self.write(|tx, now| {
            let (status, verdict) = alerts::triage_state(tx, id)?;
            let outcome = workflow::apply(status, verdict, update)?;
            alerts::set_triage(tx, id, &outcome, now)?;
            if let Some(text) = &outcome.comment {
                comments::insert(tx, id, update.author.trim(), text, now)?;
            }
            alerts::get(tx, id)?.ok_or_else(|| StateError::NotFound(id.to_string()))
        })
    }

    fn add_comment(&self, id: &str, author: &str, text: &str) -> Result<Comment, StateError> {
        // The same validation as a comment given with an update, minus the change itself.
        let probe = AlertUpdate {
            author: author.to_string(),
            comment: Some(text.to_string()),
            ..AlertUpdate::default()
        };
        let outcome = workflow::apply(AlertStatus::New, None, &probe)?;
        let text = outcome.comment.unwrap_or_default();
        self.write(|tx, now| {
            alerts::triage_state(tx, id)?;
            alerts::touch(tx, id, now)?;
            comments::insert(tx, id, author.trim(), &text, now)
        })
    }

    fn comments(&self, id: &str) -> Result<Vec<Comment>, StateError> {
        self.read(|tx| {
            alerts::triage_state(tx, id)?;
            comments::list(tx, id)
        })
    }

    fn rule_hits(&self, since: Option<Timestamp>) -> Result<Vec<RuleHits>, StateError> {
        self.read(|tx| alerts::rule_hits(tx, since))
    }

    fn forget_hits_before(&self, before: Timestamp) -> Result<u64, StateError> {
        self.write(|tx, _| alerts::forget_hits_before(tx, before))
    }
}

impl RecordStore for SqliteStore {
    fn get_record(&self, kind: &str, id: &str) -> Result<Option<Record>, StateError> {
        self.read(|tx| records::get(tx, kind, id))
    }

    fn list_records(&self, kind: &str) -> Result<Vec<Record>, StateError> {
        self.read(|tx| records::list(tx, kind))
    }

    fn put_records(&self, puts: &[RecordPut]) -> Result<Vec<i64>, StateError> {
        if puts.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx, now| puts.iter().map(|p| records::put(tx, p, now)).collect())
    }

    fn forget_records_before(&self, kind: &str, before: Timestamp) -> Result<u64, StateError> {
        self.write(|tx, _| records::forget_before(tx, kind, before))
    }
}

/// Microseconds since the Unix epoch: SQLite stores them as one integer, compared and indexed
/// cheaply, and they round-trip through `jiff` exactly.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// The inverse of [`micros`], naming the row and column when the stored value is out of range.
pub(crate) fn from_micros(v: i64, id: &str, column: &'static str) -> Result<Timestamp, StateError> {
    Timestamp::from_microsecond(v).map_err(|e| StateError::Corrupt {
        id: id.to_string(),
        column,
        reason: e.to_string(),
    })
}
