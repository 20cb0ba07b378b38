//! Per-source accounting: units, events, decode errors and the last event time of every
//! source tag, counted exactly once per journal record even across crashes.
//!
//! The counts are kept with the journal offset they cover (`through`) and saved before the
//! detection consumer commits its offset. After a crash, records below `through` were counted
//! already and are skipped; records at or above it are counted on replay. So a record is
//! counted once whether the crash came before or after the save.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::MonitorError;
use crate::fsutil::write_atomically;

/// How many of a source's latest decode errors are kept to show.
const RECENT_ERRORS: usize = 5;

/// What is known about one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourceStats {
    /// The source tag (`http:edr`, `syslog-udp`, a watched file source's name).
    pub source: String,
    /// Journal records (HTTP bodies, syslog or file batches) received.
    pub units: u64,
    /// Bytes received, as sent (before decompression).
    pub bytes: u64,
    /// Events decoded.
    pub events: u64,
    /// Records that could not be decoded (each one reported in `recent_errors`).
    pub decode_errors: u64,
    /// Events per detected format.
    pub formats: BTreeMap<String, u64>,
    /// Latest event time seen (event time, not arrival).
    #[schema(value_type = Option<String>)]
    pub last_event_time: Option<Timestamp>,
    /// When the latest unit arrived.
    #[schema(value_type = Option<String>)]
    pub last_received: Option<Timestamp>,
    /// The latest decode errors, newest last, naming the record and why.
    pub recent_errors: Vec<String>,
}

/// What decoding one unit gave, to be added to its source.
#[derive(Debug, Default)]
pub struct UnitOutcome {
    pub bytes: u64,
    pub events: u64,
    pub errors: Vec<String>,
    pub error_count: u64,
    pub format: Option<String>,
    pub last_event_time: Option<Timestamp>,
    pub received: Option<Timestamp>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Book {
    /// Every journal record below this offset is counted.
    through: u64,
    sources: BTreeMap<String, SourceStats>,
}

/// The per-source counts, shared by the detection consumer (writer) and the API (reader).
pub struct SourceBook {
    path: PathBuf,
    book: Mutex<Book>,
}

impl SourceBook {
    /// Opens `<data>/sources.json`, or starts empty.
    pub fn open(data_dir: &Path) -> Result<SourceBook, MonitorError> {
        let path = data_dir.join("sources.json");
        let book = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| MonitorError::Data(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Book::default(),
            Err(e) => return Err(MonitorError::Io { path, source: e }),
        };
        Ok(SourceBook {
            path,
            book: Mutex::new(book),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds what the unit at journal `offset` gave to `source`, unless that record was counted
    /// before a restart.
    pub fn count(&self, offset: u64, source: &str, outcome: UnitOutcome) {
        let mut book = self.lock();
        if offset < book.through {
            return;
        }
        book.through = offset + 1;
        let stats = book
            .sources
            .entry(source.to_string())
            .or_insert_with(|| SourceStats {
                source: source.to_string(),
                ..SourceStats::default()
            });
        stats.units += 1;
        stats.bytes += outcome.bytes;
        stats.events += outcome.events;
        stats.decode_errors += outcome.error_count;
        if let Some(format) = outcome.format {
            *stats.formats.entry(format).or_default() += outcome.events;
        }
        stats.last_event_time = stats.last_event_time.max(outcome.last_event_time);
        stats.last_received = stats.last_received.max(outcome.received);
        stats.recent_errors.extend(outcome.errors);
        let excess = stats.recent_errors.len().saturating_sub(RECENT_ERRORS);
        stats.recent_errors.drain(..excess);
    }

    /// Saves the counts; call before committing the consumer offset they cover.
    pub fn save(&self) -> Result<(), MonitorError> {
        let body = serde_json::to_vec(&*self.lock()).expect("source stats serialise");
        write_atomically(&self.path, &body)
    }

    /// Every source, by name.
    pub fn list(&self) -> Vec<SourceStats> {
        self.lock().sources.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_counted_once_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let book = SourceBook::open(dir.path()).unwrap();
        let outcome = || UnitOutcome {
            bytes: 10,
            events: 3,
            error_count: 1,
            errors: vec!["record 2: not JSON".into()],
            format: Some("json".into()),
            ..UnitOutcome::default()
        };
        book.count(0, "http:a", outcome());
        book.count(1, "http:a", outcome());
        book.save().unwrap();
        // A crash after the save: the consumer replays offsets 0 and 1 and then 2.
        let book = SourceBook::open(dir.path()).unwrap();
        book.count(0, "http:a", outcome());
        book.count(1, "http:a", outcome());
        book.count(2, "http:a", outcome());
        let stats = &book.list()[0];
        assert_eq!(stats.units, 3);
        assert_eq!(stats.events, 9);
        assert_eq!(stats.decode_errors, 3);
        assert_eq!(stats.formats["json"], 9);
        assert_eq!(stats.recent_errors.len(), 3);
    }
}
