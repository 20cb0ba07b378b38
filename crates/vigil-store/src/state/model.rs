//! The plain data an API serialises: alerts, their triage status and verdict, comments, list
//! filters and pages.
//!
//! These types depend only on `serde`, `jiff` and `vigil-core` (for [`Level`]) so they can move to
//! `vigil-core` when other crates need them. They carry no storage logic.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use vigil_core::Level;

/// Where an alert is in triage. Allowed moves between statuses live in one place:
/// [`AlertStatus::can_become`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertStatus {
    /// Raised by detection, nobody has looked yet.
    New,
    /// Someone has seen it and taken responsibility.
    Acknowledged,
    /// Under investigation.
    InProgress,
    /// Finished, with a [`Verdict`].
    Closed,
}

impl AlertStatus {
    /// Every status, in workflow order.
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::New,
        AlertStatus::Acknowledged,
        AlertStatus::InProgress,
        AlertStatus::Closed,
    ];

    /// The kebab-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::InProgress => "in-progress",
            AlertStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertStatus {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AlertStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ParseNameError {
                kind: "alert status",
                value: s.to_string(),
                expected: "new, acknowledged, in-progress or closed",
            })
    }
}

/// An analyst's conclusion about an alert, given when it is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Malicious activity the rule was written for.
    TruePositive,
    /// The rule matched something it should not have.
    FalsePositive,
    /// The rule matched correctly, but the activity was authorised or harmless.
    Benign,
}

impl Verdict {
    /// Every verdict.
    pub const ALL: [Verdict; 3] = [
        Verdict::TruePositive,
        Verdict::FalsePositive,
        Verdict::Benign,
    ];

    /// The kebab-case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::TruePositive => "true-positive",
            Verdict::FalsePositive => "false-positive",
            Verdict::Benign => "benign",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = ParseNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ParseNameError {
                kind: "verdict",
                value: s.to_string(),
                expected: "true-positive, false-positive or benign",
            })
    }
}

/// A status or verdict name that is not one of the known ones.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {kind} {value:?} (expected {expected})")]
pub struct ParseNameError {
    kind: &'static str,
    value: String,
    expected: &'static str,
}

/// The rule that fired, as the alert remembers it (rules change; the alert keeps what fired).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    /// The Sigma rule's `id` (callers use the title when a rule has none).
    pub id: String,
    pub title: String,
    pub level: Level,
    /// The rule's maturity (`stable`, `test`, `experimental`…), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// ATT&CK and other tags, as the rule gives them.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Which event an alert points back to: its source, position there, and event time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventRef {
    /// The file or stream the event was read from.
    pub source: String,
    /// The record number inside the source (EVTX `EventRecordID`, or the record index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<u64>,
    /// Byte offset of the record in the source, when the format has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Event time from the log. Stored with microsecond precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
}

/// The entities an alert is about; dedup keys on one of them and the API filters on all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEntities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<IpAddr>,
}

/// One piece of evidence: the rule's search identifier and the field/value that satisfied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The selection name in the rule (`selection`, `filter_main`…).
    pub search: String,
    /// The field that matched; `None` for keyword searches over the whole event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The event's value.
    pub value: String,
    /// The rule's pattern that the value matched.
    pub pattern: String,
}

/// One rule firing on one event: what detection hands to the store.
///
/// Built from plain fields so the store does not depend on `vigil-detect`; a `Detection` maps
/// field for field (its `rule_id.unwrap_or(rule_title)`, `file`/`record_id`/`time`, `host`,
/// `evidence`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAlert {
    pub rule: RuleRef,
    pub event: EventRef,
    #[serde(default)]
    pub entities: AlertEntities,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// A stored alert: one or more hits of one rule on one key entity within the dedup window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Derived from the rule id and the identity of the first event (see
    /// [`alert_id`](crate::state::alert_id)): replaying that event finds this alert again.
    pub id: String,
    pub rule: RuleRef,
    pub entities: AlertEntities,
    /// What dedup grouped on (`host:ws01`, `user:alice`, `-` when the event names no entity).
    pub group_key: String,
    /// The first event: the one whose evidence is shown and whose identity gave the id.
    pub event: EventRef,
    /// Event time of the first event (ingest time when the event has none).
    pub first_seen: Timestamp,
    /// Latest event time among the contributing events.
    pub last_seen: Timestamp,
    /// How many distinct events contributed (a replayed event is not counted twice).
    pub count: u64,
    /// The first contributing events, up to the store's sample size; `count` has the total.
    pub events: Vec<EventRef>,
    /// Why the rule fired on the first event.
    pub evidence: Vec<Evidence>,
    pub status: AlertStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// When the store first wrote the alert (wall clock).
    pub created_at: Timestamp,
    /// When a hit or an analyst last changed the alert (wall clock).
    pub updated_at: Timestamp,
}

/// What recording one [`NewAlert`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RecordOutcome {
    /// A new alert was written.
    Created { id: String },
    /// The hit joined an existing alert inside its dedup window; `count` is the new total.
    Aggregated { id: String, count: u64 },
    /// This exact event had already been recorded for this rule (a replay): nothing changed.
    Duplicate { id: String },
}

impl RecordOutcome {
    /// The alert the hit belongs to.
    pub fn id(&self) -> &str {
        match self {
            RecordOutcome::Created { id }
            | RecordOutcome::Aggregated { id, .. }
            | RecordOutcome::Duplicate { id } => id,
        }
    }
}

/// An analyst's change to an alert. Every field is optional; at least one must be given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertUpdate {
    /// Who makes the change (recorded on the comment).
    pub author: String,
    pub status: Option<AlertStatus>,
    /// A new assignee; the empty string removes the assignment.
    pub assignee: Option<String>,
    /// Required when closing; allowed only on a closed (or closing) alert.
    pub verdict: Option<Verdict>,
    /// Stored as a comment by `author` in the same transaction as the change.
    pub comment: Option<String>,
}

/// A note an analyst left on an alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub alert_id: String,
    pub author: String,
    pub text: String,
    pub created_at: Timestamp,
}

/// Which alerts to list. Empty/`None` fields do not filter. Deserialises from a query string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertFilter {
    /// Any of these statuses.
    pub status: Vec<AlertStatus>,
    /// Rule level at or above this one.
    pub min_level: Option<Level>,
    pub rule_id: Option<String>,
    /// Equal to the host, user (both case-insensitive), source or destination IP.
    pub entity: Option<String>,
    /// Alerts active at or after this time (`last_seen >= since`).
    pub since: Option<Timestamp>,
    /// Alerts that started before this time (`first_seen < until`).
    pub until: Option<Timestamp>,
    /// Alerts written (created, joined by a hit, or changed by an analyst) at or after this
    /// time (`updated_at >= t`): what changed since an earlier read, for callers that keep
    /// alerts between reads.
    pub updated_since: Option<Timestamp>,
    /// Substring (case-insensitive for ASCII) of the rule title or id, entities, tags or evidence.
    pub text: Option<String>,
    pub assignee: Option<String>,
    pub verdict: Option<Verdict>,
    /// Page size; `None` means [`AlertFilter::DEFAULT_LIMIT`], capped at [`AlertFilter::MAX_LIMIT`].
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl AlertFilter {
    /// Page size when none is asked for.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Largest page served, whatever is asked.
    pub const MAX_LIMIT: u32 = 1000;

    /// The page size this filter asks for, within bounds (at least 1).
    pub fn page_size(&self) -> u32 {
        self.limit
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}

/// One page of a listing, newest first (by `first_seen`, then id): stable while alerts arrive,
/// because an alert's `first_seen` never changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many items match the filter in all pages.
    pub total: u64,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// How often one rule fired: for the rules API and noisy-rule reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleHits {
    pub rule_id: String,
    /// The title and level on the rule's most recent alert.
    pub rule_title: String,
    pub level: Level,
    /// Alerts raised (after dedup).
    pub alerts: u64,
    /// Events that matched (the sum of the alerts' counts).
    pub events: u64,
    pub last_seen: Timestamp,
}
