//! The state database: alerts with their evidence, dedup/aggregation, triage workflow and
//! comments, behind the [`AlertStore`] trait.
//!
//! What it is for: persisting what detection raised so analysts can list, filter, triage and
//! comment on it, and so a replay of the journal after a crash never duplicates or double-counts
//! an alert. What it is not for: events (the journal and the lake hold those), deciding what is
//! an alert (detection does), scoring or grouping into incidents (`vigil-risk`).
//!
//! The default implementation is [`SqliteStore`] (SQLite in WAL mode, schema migrations by
//! `PRAGMA user_version`). The trait is synchronous and object-safe so a PostgreSQL store can
//! serve the same calls; async callers run it on a blocking thread.
//!
//! Dedup: a hit joins the alert of the same rule and key entity whose window
//! `[first_seen, first_seen + window)` contains the hit's *event* time, so a replay in journal
//! order gives the same alerts as the live run. Every hit's key is kept in a ledger, so the same
//! event recorded twice counts once; the alert itself keeps a bounded sample of its events.

mod error;
mod identity;
mod model;
mod sqlite;
mod workflow;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

pub use error::StateError;
pub use identity::{KeyEntity, alert_id};
pub use model::{
    Alert, AlertEntities, AlertFilter, AlertStatus, AlertUpdate, Comment, EventRef, Evidence,
    NewAlert, Page, ParseNameError, RecordOutcome, RuleHits, RuleRef, Verdict,
};
pub use sqlite::{MAX_RECORD_BYTES, SCHEMA_VERSION, SqliteStore};
pub use workflow::MAX_COMMENT_BYTES;

/// One stored record: an opaque JSON document of `kind` (owned by the crate that defines its
/// type) with a version bumped on every write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: String,
    pub id: String,
    pub version: i64,
    pub body: String,
    pub updated_at: Timestamp,
}

/// What a write expects to find, so read-modify-write callers never overwrite a change they
/// did not see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Write whatever is there.
    Any,
    /// The record must not exist yet.
    Absent,
    /// The record must be at this version.
    Version(i64),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Any => f.write_str("any"),
            Expect::Absent => f.write_str("none"),
            Expect::Version(v) => write!(f, "version {v}"),
        }
    }
}

/// One write of [`RecordStore::put_records`]: `body: None` deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPut {
    pub kind: String,
    pub id: String,
    pub body: Option<String>,
    pub expect: Expect,
}

/// Versioned JSON records (incident cases, pins, exceptions, sightings, feed cursors): the
/// analyst-side state whose types live in `vigil-risk` and `vigil-intel`.
pub trait RecordStore: Send + Sync {
    /// The record `kind/id`, if any.
    fn get_record(&self, kind: &str, id: &str) -> Result<Option<Record>, StateError>;
    /// Every record of `kind`, by id.
    fn list_records(&self, kind: &str) -> Result<Vec<Record>, StateError>;
    /// Applies every put atomically: all or none (a failed expectation is
    /// [`StateError::Conflict`]). Returns each record's new version (0 when deleted).
    fn put_records(&self, puts: &[RecordPut]) -> Result<Vec<i64>, StateError>;
    /// Deletes the records of `kind` last written before `before` (expiring ones, such as
    /// ingest idempotency keys); returns how many.
    fn forget_records_before(&self, kind: &str, before: Timestamp) -> Result<u64, StateError>;
}

/// The calls the API and the detection pipeline make on the state database.
///
/// Implementations must be safe to share between threads and must make `record_batch` atomic:
/// either every hit of the batch is stored or none is.
pub trait AlertStore: Send + Sync {
    /// Records one hit; see [`AlertStore::record_batch`].
    fn record(&self, alert: &NewAlert) -> Result<RecordOutcome, StateError> {
        let mut out = self.record_batch(std::slice::from_ref(alert))?;
        out.pop()
            .ok_or_else(|| StateError::InvalidInput("record_batch returned no outcome".into()))
    }

    /// Records hits in one transaction, in order: each creates an alert, joins one inside its
    /// dedup window, or is recognised as already recorded. One outcome per hit.
    fn record_batch(&self, alerts: &[NewAlert]) -> Result<Vec<RecordOutcome>, StateError>;

    /// The alert with this id, if any.
    fn get(&self, id: &str) -> Result<Option<Alert>, StateError>;

    /// One page of alerts matching `filter`, newest first, with the total.
    fn list(&self, filter: &AlertFilter) -> Result<Page<Alert>, StateError>;

    /// Applies an analyst's change (validated by the workflow) and its comment atomically;
    /// returns the alert as it is now.
    fn update(&self, id: &str, update: &AlertUpdate) -> Result<Alert, StateError>;

    /// Adds a comment without changing anything else.
    fn add_comment(&self, id: &str, author: &str, text: &str) -> Result<Comment, StateError>;

    /// The comments on an alert, oldest first.
    fn comments(&self, id: &str) -> Result<Vec<Comment>, StateError>;

    /// Alerts and events per rule, busiest first; only alerts active since `since` when given.
    fn rule_hits(&self, since: Option<Timestamp>) -> Result<Vec<RuleHits>, StateError>;

    /// Drops dedup-ledger entries recorded before `before`; returns how many.
    ///
    /// Only call with a time older than anything the journal can still replay: an event replayed
    /// after its ledger entry is gone would be counted again.
    fn forget_hits_before(&self, before: Timestamp) -> Result<u64, StateError>;
}

/// How much a committed transaction survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every commit, so a commit survives power loss.
    /// Analyst changes (status, verdict, comments) cannot be rebuilt from the journal, hence the
    /// default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: commits survive a process crash but the last ones may be lost on
    /// power loss (never corrupting the file). Enough when only replayable alerts are written.
    Normal,
}

/// How hits are grouped into alerts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DedupPolicy {
    /// Length of an alert's window on event time; zero makes every hit its own alert.
    pub window: Duration,
    /// Entities to group on, first present wins (see [`Alert::group_key`]).
    pub key: Vec<KeyEntity>,
}

impl Default for DedupPolicy {
    /// 15 minutes, keyed on host, else user, else source IP.
    fn default() -> Self {
        DedupPolicy {
            window: Duration::from_secs(15 * 60),
            key: vec![KeyEntity::Host, KeyEntity::User, KeyEntity::SrcIp],
        }
    }
}

/// The wall clock used for `created_at`/`updated_at` and comment times (tests pin it).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Settings of a state store.
#[derive(Clone)]
pub struct StateOptions {
    pub durability: Durability,
    pub dedup: DedupPolicy,
    /// Events kept in an alert's sample ([`Alert::events`]); `count` has the total.
    pub sample_events: usize,
    /// How long a writer waits for another connection's write lock before failing.
    pub busy_timeout: Duration,
    /// Read connections kept open for reuse.
    pub max_idle_readers: usize,
    pub clock: Clock,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            durability: Durability::default(),
            dedup: DedupPolicy::default(),
            sample_events: 20,
            busy_timeout: Duration::from_secs(5),
            max_idle_readers: 4,
            clock: Arc::new(Timestamp::now),
        }
    }
}

impl fmt::Debug for StateOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateOptions")
            .field("durability", &self.durability)
            .field("dedup", &self.dedup)
            .field("sample_events", &self.sample_events)
            .field("busy_timeout", &self.busy_timeout)
            .field("max_idle_readers", &self.max_idle_readers)
            .finish_non_exhaustive()
    }
}
