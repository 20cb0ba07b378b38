//! Accepting input: check a unit, append it to the journal, and acknowledge once it is durable.
//!
//! An HTTP body is decoded once before it is accepted, so a malformed body is refused with the
//! line and reason (nothing of it stored) instead of vanishing later; `partial` accepts the good
//! records of a body and reports the bad ones, which are also counted against the source.
//! Network and file sources skip the check (their records are counted and reported by
//! detection) and are slowed down instead of refused when detection falls behind.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;
use vigil_ingest::{DecodeError, DecodeOptions, Format, InputSpec, LogsourceMap, decode_bytes_as};
use vigil_store::journal::{Journal, JournalError, Ticket};

use crate::pipeline::{Progress, lag};
use crate::unit::{self, UnitHeader};

/// How many decode errors a refusal lists (the count has them all).
const ERRORS_SHOWN: usize = 20;

/// Settings of ingest.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Units detection may be behind before HTTP ingest answers 429 and network/file sources
    /// wait: bounds the journal's backlog and the ingest-to-alert delay.
    pub max_lag_units: u64,
    /// Bytes of units appended since start that detection may be behind, the same way: a
    /// unit may be one line or a whole upload, so units alone do not bound the disk used.
    pub max_lag_bytes: u64,
    /// Logsource rules for generic JSON (the same as detection's).
    pub json_logsource: LogsourceMap,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_lag_units: 20_000,
            max_lag_bytes: 1 << 30,
            json_logsource: LogsourceMap::default(),
        }
    }
}

/// One bad record of a refused or partly accepted body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct BadRecord {
    /// 1-based line of the body where the record starts, when the body is line-oriented text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The record's number in the body (1-based), when the format counts records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    /// Byte offset of the record (in the decompressed body for gzip).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    pub reason: String,
}

/// Why a unit was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the body holds no events")]
    Empty,
    #[error("{}", describe_bad(.errors, *.total))]
    Malformed { errors: Vec<BadRecord>, total: u64 },
    #[error("{0}")]
    Undecodable(String),
    #[error("unknown format `{0}`")]
    UnknownFormat(String),
    #[error("detection is {lag} units ({bytes} bytes) behind; retry shortly")]
    Overloaded { lag: u64, bytes: u64 },
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

fn describe_bad(errors: &[BadRecord], total: u64) -> String {
    let first = errors.first().map_or_else(String::new, |e| {
        let place = match (e.line, e.record) {
            (Some(line), _) => format!("line {line}"),
            (None, Some(record)) => format!("record {record}"),
            (None, None) => "the body".into(),
        };
        format!(": {place}: {}", e.reason)
    });
    format!("{total} malformed record(s){first}")
}

/// What a check found in a unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Checked {
    pub events: u64,
    /// The detected (or forced) format.
    pub format: String,
    /// Records refused (only non-zero when partial acceptance was asked for).
    pub rejected: u64,
    pub errors: Vec<BadRecord>,
}

/// Appends units to the journal for the detection consumer.
#[derive(Clone)]
pub struct Ingestor {
    journal: Journal,
    progress: Arc<Progress>,
    options: Arc<IngestOptions>,
}

impl Ingestor {
    pub fn new(journal: Journal, progress: Arc<Progress>, options: IngestOptions) -> Self {
        Ingestor {
            journal,
            progress,
            options: Arc::new(options),
        }
    }

    /// Detection's backlog in units.
    pub fn lag(&self) -> u64 {
        lag(&self.journal, &self.progress)
    }

    /// Decodes `body` as the header says, to refuse what detection could not read. CPU-bound:
    /// call it from a blocking thread.
    pub fn check(
        &self,
        header: &UnitHeader,
        body: &[u8],
        partial: bool,
    ) -> Result<Checked, Refusal> {
        let format = header
            .forced_format()
            .map_err(|_| Refusal::UnknownFormat(header.format.clone().unwrap_or_default()))?;
        let spec = InputSpec {
            format,
            json_logsource: self.options.json_logsource.clone(),
        };
        let mut events = 0u64;
        let mut errors: Vec<DecodeError> = Vec::new();
        let mut total_errors = 0u64;
        let stats = decode_bytes_as(
            "body",
            body,
            &DecodeOptions { evtx_threads: 1 },
            &spec,
            &mut |_| events += 1,
            &mut |e| {
                total_errors += 1;
                if errors.len() < ERRORS_SHOWN {
                    errors.push(e);
                }
            },
        )
        .map_err(|e| Refusal::Undecodable(e.to_string().replacen("body: ", "", 1)))?;
        let bad: Vec<BadRecord> = errors.iter().map(|e| bad_record(body, e)).collect();
        if stats.format == Format::Empty || (events == 0 && total_errors == 0) {
            return Err(Refusal::Empty);
        }
        if total_errors > 0 && (!partial || events == 0) {
            return Err(Refusal::Malformed {
                errors: bad,
                total: total_errors,
            });
        }
        Ok(Checked {
            events,
            format: stats.format.name().to_string(),
            rejected: total_errors,
            errors: bad,
        })
    }

    /// Refuses at once when detection is too far behind. Call it before [`Ingestor::check`]:
    /// an overloaded server must not spend its CPU decoding bodies it is about to refuse.
    pub fn admit(&self) -> Result<(), Refusal> {
        let (lag, bytes) = (self.lag(), self.lag_bytes());
        if lag > self.options.max_lag_units || bytes > self.options.max_lag_bytes {
            return Err(Refusal::Overloaded { lag, bytes });
        }
        Ok(())
    }

    /// Detection's backlog in bytes of units appended since start.
    pub fn lag_bytes(&self) -> u64 {
        self.progress.backlog.bytes()
    }

    /// Appends a checked unit unless detection is too far behind (again: the backlog may have
    /// grown while the unit was checked); the ticket resolves when it is durable.
    pub fn append(&self, header: &UnitHeader, body: &[u8]) -> Result<Ticket, Refusal> {
        self.admit()?;
        self.journal_unit(header, body, false)
    }

    /// Appends a unit from a network or file source, waiting (not refusing) while detection
    /// is too far behind: the source slows down and its sender feels it (TCP windows fill,
    /// file reading pauses).
    pub fn append_waiting(&self, header: &UnitHeader, body: &[u8]) -> Result<Ticket, Refusal> {
        while self.lag() > self.options.max_lag_units
            || self.lag_bytes() > self.options.max_lag_bytes
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.journal_unit(header, body, true)
    }

    /// Appends the unit to the journal (blocking on a full queue when `block`, else refused
    /// as full) and counts it in detection's backlog.
    fn journal_unit(
        &self,
        header: &UnitHeader,
        body: &[u8],
        block: bool,
    ) -> Result<Ticket, Refusal> {
        let unit = unit::encode(header, body);
        let ticket = if block {
            self.journal.append(&unit)?
        } else {
            self.journal.try_append(&unit)?
        };
        self.progress
            .backlog
            .appended(ticket.offset(), unit.len() as u64);
        Ok(ticket)
    }
}

/// A decode error as the client should see it: with the line of the body when it has lines.
fn bad_record(body: &[u8], e: &DecodeError) -> BadRecord {
    let gzip = body.starts_with(&[0x1f, 0x8b]);
    let line = e
        .offset
        .filter(|_| !gzip)
        .and_then(|o| body.get(..o as usize))
        .map(|before| before.iter().filter(|b| **b == b'\n').count() as u64 + 1);
    BadRecord {
        line,
        record: e.record,
        offset: e.offset,
        reason: e.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::journal::JournalOptions;

    fn ingestor(dir: &std::path::Path) -> Ingestor {
        let journal = Journal::open(dir, JournalOptions::default()).unwrap();
        Ingestor::new(journal, Arc::default(), IngestOptions::default())
    }

    fn header(format: Option<&str>) -> UnitHeader {
        UnitHeader {
            source: "http:test".into(),
            format: format.map(str::to_string),
            // Fixed: a unit's length must not depend on how many fractional digits `now` has.
            received: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            peer: None,
            path: None,
            idempotency: None,
        }
    }

    #[test]
    fn a_malformed_line_is_named_and_nothing_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let ing = ingestor(dir.path());
        let body = b"{\"a\":1}\n{\"a\":2}\n{\"a\":\n{\"a\":4}\n";
        match ing.check(&header(None), body, false) {
            Err(Refusal::Malformed { errors, total }) => {
                assert_eq!(total, 1);
                assert_eq!(errors[0].line, Some(3), "{errors:?}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let ok = ing.check(&header(None), body, true).unwrap();
        assert_eq!((ok.events, ok.rejected), (3, 1));
        assert_eq!(ok.format, "json");
    }

    #[test]
    fn admit_and_append_refuse_once_detection_is_past_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        let ing = Ingestor::new(
            journal,
            Arc::default(),
            IngestOptions {
                max_lag_units: 1,
                ..IngestOptions::default()
            },
        );
        let body = b"{\"a\":1}\n";
        assert!(ing.admit().is_ok());
        for _ in 0..2 {
            ing.append(&header(None), body).unwrap().wait().unwrap();
        }
        // Two units nobody consumed: past the bound of one.
        assert!(matches!(
            ing.admit(),
            Err(Refusal::Overloaded { lag: 2, .. })
        ));
        assert!(matches!(
            ing.append(&header(None), body),
            Err(Refusal::Overloaded { lag: 2, .. })
        ));
    }

    #[test]
    fn the_byte_bound_refuses_large_units_and_frees_as_detection_commits() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        let progress: Arc<Progress> = Arc::default();
        let ing = Ingestor::new(
            journal,
            Arc::clone(&progress),
            IngestOptions {
                max_lag_units: 1_000,
                max_lag_bytes: 10_000,
                ..IngestOptions::default()
            },
        );
        // Two units of ~6 KB: far under the unit bound, over the byte bound.
        let body = format!("{{\"a\":\"{}\"}}\n", "x".repeat(6_000));
        let first = ing
            .append(&header(None), body.as_bytes())
            .unwrap()
            .wait()
            .unwrap();
        assert!(ing.admit().is_ok(), "{} bytes behind", ing.lag_bytes());
        let second = ing
            .append(&header(None), body.as_bytes())
            .unwrap()
            .wait()
            .unwrap();
        let behind = ing.lag_bytes();
        assert!(behind > 12_000, "{behind}");
        match ing.append(&header(None), body.as_bytes()) {
            Err(Refusal::Overloaded { lag: 2, bytes }) => assert_eq!(bytes, behind),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Detection commits the first unit: half the backlog is freed, and a unit whose
        // appender reports it only after detection passed it is not counted.
        progress.backlog.committed(first + 1);
        assert_eq!(ing.lag_bytes(), behind / 2);
        progress.backlog.committed(second + 1);
        assert_eq!(ing.lag_bytes(), 0);
        progress.backlog.appended(second, 6_000);
        assert_eq!(ing.lag_bytes(), 0);
        assert!(ing.admit().is_ok());
    }

    #[test]
    fn empty_and_unknown_format_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ing = ingestor(dir.path());
        assert!(matches!(
            ing.check(&header(None), b"  \n", false),
            Err(Refusal::Empty)
        ));
        assert!(matches!(
            ing.check(&header(Some("nope")), b"{}", false),
            Err(Refusal::UnknownFormat(_))
        ));
    }
}
