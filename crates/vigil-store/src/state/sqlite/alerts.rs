//! SQL for the `alerts` table and its dedup ledger `alert_hits`.
//!
//! Times are integer microseconds since the epoch; JSON columns hold what is shown but never
//! filtered on (tags, evidence, the event sample); entities used by filters are plain columns.

use std::net::IpAddr;

use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, named_params, params, params_from_iter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vigil_core::Level;

use super::{from_micros, micros};
use crate::state::StateOptions;
use crate::state::error::StateError;
use crate::state::identity::{self, HitKey};
use crate::state::model::{
    Alert, AlertEntities, AlertFilter, AlertStatus, EventRef, NewAlert, Page, RecordOutcome,
    RuleHits, RuleRef, Verdict,
};
use crate::state::workflow::Outcome;

/// Migration 1: alerts and the ledger of every hit recorded (for replay idempotency).
pub(super) const SCHEMA_V1: &str = r#"
CREATE TABLE alerts (
    id            TEXT PRIMARY KEY NOT NULL,   -- hex of the first hit's key (identity.rs)
    rule_id       TEXT NOT NULL,
    rule_title    TEXT NOT NULL,
    rule_level    INTEGER NOT NULL CHECK (rule_level BETWEEN 0 AND 4),  -- informational..critical
    rule_status   TEXT,
    tags          TEXT NOT NULL,               -- JSON array of strings
    group_key     TEXT NOT NULL,               -- dedup group: 'host:ws01', 'user:bob', '-'
    host          TEXT COLLATE NOCASE,
    user_name     TEXT COLLATE NOCASE,
    src_ip        TEXT,
    dst_ip        TEXT,
    source        TEXT NOT NULL,               -- first event: file or stream
    record_id     INTEGER,                     -- u64 stored bit-for-bit
    source_offset INTEGER,
    event_time    INTEGER,                     -- first event's time, NULL when the log had none
    first_seen    INTEGER NOT NULL,            -- never changes: the paging key
    last_seen     INTEGER NOT NULL,
    window_end    INTEGER,                     -- hits before this join; NULL = never aggregates
    count         INTEGER NOT NULL CHECK (count >= 1),
    events        TEXT NOT NULL,               -- JSON array: sample of contributing events
    evidence      TEXT NOT NULL,               -- JSON array: why the rule fired on the first event
    status        TEXT NOT NULL CHECK (status IN ('new', 'acknowledged', 'in-progress', 'closed')),
    assignee      TEXT,
    verdict       TEXT CHECK (verdict IN ('true-positive', 'false-positive', 'benign')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX alerts_dedup ON alerts (rule_id, group_key, first_seen);
CREATE INDEX alerts_page ON alerts (first_seen, id);
CREATE INDEX alerts_status ON alerts (status, first_seen);
CREATE INDEX alerts_last_seen ON alerts (last_seen);
CREATE INDEX alerts_host ON alerts (host) WHERE host IS NOT NULL;
CREATE INDEX alerts_user ON alerts (user_name) WHERE user_name IS NOT NULL;
CREATE INDEX alerts_src_ip ON alerts (src_ip) WHERE src_ip IS NOT NULL;
CREATE INDEX alerts_dst_ip ON alerts (dst_ip) WHERE dst_ip IS NOT NULL;

CREATE TABLE alert_hits (
    hit_key     BLOB PRIMARY KEY NOT NULL,     -- 16 bytes: SHA-256(rule id, event identity)
    alert_id    TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX alert_hits_recorded ON alert_hits (recorded_at);
"#;

/// Migration 4: alerts by `updated_at`, so a reader that keeps alerts between reads
/// (`AlertFilter::updated_since`, the assessment's cache) finds what changed without a scan.
pub(super) const SCHEMA_V4: &str = r#"
CREATE INDEX alerts_updated ON alerts (updated_at);
"#;

const COLUMNS: &str = "id, rule_id, rule_title, rule_level, rule_status, tags, group_key, host, \
    user_name, src_ip, dst_ip, source, record_id, source_offset, event_time, first_seen, \
    last_seen, count, events, evidence, status, assignee, verdict, created_at, updated_at";

/// Records one hit: a replay of a known hit, a hit inside an alert's window, or a new alert.
pub(super) fn record(
    conn: &Connection,
    a: &NewAlert,
    options: &StateOptions,
    now: Timestamp,
) -> Result<RecordOutcome, StateError> {
    validate(a)?;
    let key = identity::hit_key(&a.rule.id, &a.event, &a.evidence);
    let now_us = micros(now);

    let known: Option<String> = conn
        .prepare_cached("SELECT alert_id FROM alert_hits WHERE hit_key = ?1")?
        .query_row([&key[..]], |r| r.get(0))
        .optional()?;
    if let Some(id) = known {
        return Ok(RecordOutcome::Duplicate { id });
    }
    // The hit that started an alert, replayed after its ledger entry was forgotten: the id it
    // derives still names that alert.
    let id = identity::alert_id_from_key(&key);
    let started: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM alerts WHERE id = ?1")?
        .query_row([&id], |r| r.get(0))
        .optional()?;
    if started.is_some() {
        insert_hit(conn, &key, &id, now_us)?;
        return Ok(RecordOutcome::Duplicate { id });
    }

    let group = identity::group_key(&a.entities, &options.dedup.key);
    let event_us = a.event.time.map(micros);
    let window_us = i64::try_from(options.dedup.window.as_micros()).unwrap_or(i64::MAX);
    let sample_entry = to_json(&a.event)?;

    if let Some(t) = event_us.filter(|_| window_us > 0) {
        // The newest window holding t: with out-of-order events windows can overlap, and
        // taking the newest keeps the choice deterministic for a given journal order.
        let open: Option<String> = conn
            .prepare_cached(
                "SELECT id FROM alerts
                 WHERE rule_id = ?1 AND group_key = ?2 AND first_seen <= ?3 AND window_end > ?3
                 ORDER BY first_seen DESC, id DESC LIMIT 1",
            )?
            .query_row(params![a.rule.id, group, t], |r| r.get(0))
            .optional()?;
        if let Some(open) = open {
            let sample_max = i64::try_from(options.sample_events).unwrap_or(i64::MAX);
            let count: i64 = conn
                .prepare_cached(
                    "UPDATE alerts SET
                        count = count + 1,
                        last_seen = max(last_seen, :t),
                        events = CASE WHEN json_array_length(events) < :sample_max
                                 THEN json_insert(events, '$[#]', json(:entry)) ELSE events END,
                        updated_at = :now
                     WHERE id = :id RETURNING count",
                )?
                .query_row(
                    named_params! {
                        ":t": t, ":sample_max": sample_max, ":entry": sample_entry,
                        ":now": now_us, ":id": open,
                    },
                    |r| r.get(0),
                )?;
            insert_hit(conn, &key, &open, now_us)?;
            return Ok(RecordOutcome::Aggregated {
                id: open,
                count: count as u64,
            });
        }
    }

    let first_seen = event_us.unwrap_or(now_us);
    let window_end = event_us
        .filter(|_| window_us > 0)
        .map(|t| t.saturating_add(window_us));
    let events = if options.sample_events > 0 {
        format!("[{sample_entry}]")
    } else {
        "[]".to_string()
    };
    let inserted = conn
        .prepare_cached(&format!(
            "INSERT INTO alerts ({COLUMNS}, window_end) VALUES (
                :id, :rule_id, :rule_title, :rule_level, :rule_status, :tags, :group_key, :host,
                :user_name, :src_ip, :dst_ip, :source, :record_id, :source_offset, :event_time,
                :first_seen, :first_seen, 1, :events, :evidence, 'new', NULL, NULL, :now, :now,
                :window_end)
             ON CONFLICT (id) DO NOTHING"
        ))?
        .execute(named_params! {
            ":id": id,
            ":rule_id": a.rule.id,
            ":rule_title": a.rule.title,
            ":rule_level": level_to_int(a.rule.level),
            ":rule_status": a.rule.status,
            ":tags": to_json(&a.rule.tags)?,
            ":group_key": group,
            ":host": a.entities.host,
            ":user_name": a.entities.user,
            ":src_ip": a.entities.src_ip.map(|ip| ip.to_string()),
            ":dst_ip": a.entities.dst_ip.map(|ip| ip.to_string()),
            ":source": a.event.source,
            // Bit-for-bit: ids above i64::MAX come back unchanged; nothing orders by them.
            ":record_id": a.event.record_id.map(|v| v as i64),
            ":source_offset": a.event.offset.map(|v| v as i64),
            ":event_time": event_us,
            ":first_seen": first_seen,
            ":events": events,
            ":evidence": to_json(&a.evidence)?,
            ":now": now_us,
            ":window_end": window_end,
        })?;
    insert_hit(conn, &key, &id, now_us)?;
    Ok(if inserted == 1 {
        RecordOutcome::Created { id }
    } else {
        // The alert exists but its ledger entry was forgotten: still a replay.
        RecordOutcome::Duplicate { id }
    })
}

fn validate(a: &NewAlert) -> Result<(), StateError> {
    if a.rule.id.trim().is_empty() {
        return Err(StateError::InvalidInput(format!(
            "alert for rule {:?} from {}: the rule id is empty",
            a.rule.title, a.event.source
        )));
    }
    Ok(())
}

fn insert_hit(conn: &Connection, key: &HitKey, id: &str, now_us: i64) -> Result<(), StateError> {
    conn.prepare_cached(
        "INSERT INTO alert_hits (hit_key, alert_id, recorded_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (hit_key) DO NOTHING",
    )?
    .execute(params![&key[..], id, now_us])?;
    Ok(())
}

/// The alert with `id`, if any.
pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<Alert>, StateError> {
    let raw = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"))?
        .query_row([id], RawAlert::from_row)
        .optional()?;
    raw.map(RawAlert::decode).transpose()
}

/// The status and verdict of alert `id`, or [`StateError::NotFound`].
pub(super) fn triage_state(
    conn: &Connection,
    id: &str,
) -> Result<(AlertStatus, Option<Verdict>), StateError> {
    let (status, verdict): (String, Option<String>) = conn
        .prepare_cached("SELECT status, verdict FROM alerts WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StateError::NotFound(id.to_string()))?;
    Ok((
        parse(&status, id, "status")?,
        verdict.map(|v| parse(&v, id, "verdict")).transpose()?,
    ))
}

/// Writes the result of a validated workflow step.
pub(super) fn set_triage(
    conn: &Connection,
    id: &str,
    o: &Outcome,
    now: Timestamp,
) -> Result<(), StateError> {
    conn.prepare_cached(
        "UPDATE alerts SET status = :status, verdict = :verdict,
            assignee = CASE WHEN :set_assignee THEN :assignee ELSE assignee END,
            updated_at = :now
         WHERE id = :id",
    )?
    .execute(named_params! {
        ":status": o.status.as_str(),
        ":verdict": o.verdict.map(Verdict::as_str),
        ":set_assignee": o.assignee.is_some(),
        ":assignee": o.assignee.clone().flatten(),
        ":now": micros(now),
        ":id": id,
    })?;
    Ok(())
}

/// Marks alert `id` as changed now (a comment was added).
pub(super) fn touch(conn: &Connection, id: &str, now: Timestamp) -> Result<(), StateError> {
    conn.prepare_cached("UPDATE alerts SET updated_at = ?2 WHERE id = ?1")?
        .execute(params![id, micros(now)])?;
    Ok(())
}

/// A page of alerts matching `filter`, newest `first_seen` first, and the total.
pub(super) fn list(conn: &Connection, filter: &AlertFilter) -> Result<Page<Alert>, StateError> {
    let mut w = Where::default();
    if !filter.status.is_empty() {
        let slots: Vec<String> = filter
            .status
            .iter()
            .map(|s| w.bind(s.as_str().to_string().into()))
            .collect();
        w.push(format!("status IN ({})", slots.join(", ")));
    }
    if let Some(level) = filter.min_level {
        let p = w.bind(level_to_int(level).into());
        w.push(format!("rule_level >= {p}"));
    }
    if let Some(rule) = &filter.rule_id {
        let p = w.bind(rule.clone().into());
        w.push(format!("rule_id = {p}"));
    }
    if let Some(entity) = &filter.entity {
        let entity = entity.trim();
        let name = w.bind(entity.to_string().into());
        // IPs are stored in canonical form; accept any spelling the parser accepts.
        let ip = match entity.parse::<IpAddr>() {
            Ok(ip) => w.bind(ip.to_string().into()),
            Err(_) => name.clone(),
        };
        w.push(format!(
            "(host = {name} OR user_name = {name} OR src_ip = {ip} OR dst_ip = {ip})"
        ));
    }
    if let Some(since) = filter.since {
        let p = w.bind(micros(since).into());
        w.push(format!("last_seen >= {p}"));
    }
    if let Some(until) = filter.until {
        let p = w.bind(micros(until).into());
        w.push(format!("first_seen < {p}"));
    }
    if let Some(t) = filter.updated_since {
        let p = w.bind(micros(t).into());
        w.push(format!("updated_at >= {p}"));
    }
    if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
        let p = w.bind(like_pattern(text).into());
        let cols = [
            "rule_title",
            "rule_id",
            "host",
            "user_name",
            "src_ip",
            "dst_ip",
            "tags",
            "evidence",
        ];
        let ors: Vec<String> = cols
            .iter()
            .map(|c| format!("{c} LIKE {p} ESCAPE '\\'"))
            .collect();
        w.push(format!("({})", ors.join(" OR ")));
    }
    if let Some(assignee) = &filter.assignee {
        let p = w.bind(assignee.clone().into());
        w.push(format!("assignee = {p}"));
    }
    if let Some(verdict) = filter.verdict {
        let p = w.bind(verdict.as_str().to_string().into());
        w.push(format!("verdict = {p}"));
    }

    // A read of what changed matches few rows: find them by write time (and sort those),
    // rather than walk every alert of the period (by `last_seen`) or in page order (which
    // SQLite's planner picks for the ORDER BY).
    let index = if filter.updated_since.is_some() {
        " INDEXED BY alerts_updated"
    } else {
        ""
    };
    let total: i64 = conn
        .prepare(&format!("SELECT count(*) FROM alerts{index}{}", w.sql()))?
        .query_row(params_from_iter(w.params.iter()), |r| r.get(0))?;

    if let Some(cursor) = &filter.cursor {
        let (t, id) = parse_cursor(cursor)?;
        let t = w.bind(t.into());
        let id = w.bind(id.into());
        w.push(format!(
            "(first_seen < {t} OR (first_seen = {t} AND id < {id}))"
        ));
    }
    let limit = filter.page_size();
    let p = w.bind(i64::from(limit + 1).into());
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts{index}{} ORDER BY first_seen DESC, id DESC LIMIT {p}",
        w.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut items = stmt
        .query_map(params_from_iter(w.params.iter()), RawAlert::from_row)?
        .map(|r| r.map_err(StateError::from).and_then(RawAlert::decode))
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items
            .last()
            .map(|a| format!("{}.{}", micros(a.first_seen), a.id))
    } else {
        None
    };
    Ok(Page {
        items,
        total: total as u64,
        next_cursor,
    })
}

/// Alerts and events per rule, busiest first.
pub(super) fn rule_hits(
    conn: &Connection,
    since: Option<Timestamp>,
) -> Result<Vec<RuleHits>, StateError> {
    // With exactly one max() in the query, SQLite takes the bare columns (title, level) from
    // the row holding the maximum: the rule's most recent alert.
    let mut stmt = conn.prepare_cached(
        "SELECT rule_id, rule_title, rule_level, count(*), sum(count), max(last_seen)
         FROM alerts WHERE ?1 IS NULL OR last_seen >= ?1
         GROUP BY rule_id ORDER BY sum(count) DESC, rule_id",
    )?;
    let rows = stmt.query_map([since.map(micros)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (rule_id, rule_title, level, alerts, events, last_seen) = row?;
        Ok(RuleHits {
            level: level_from_int(level, &rule_id)?,
            last_seen: from_micros(last_seen, &rule_id, "last_seen")?,
            rule_id,
            rule_title,
            alerts: alerts as u64,
            events: events as u64,
        })
    })
    .collect()
}

/// Deletes ledger entries recorded before `before`.
pub(super) fn forget_hits_before(conn: &Connection, before: Timestamp) -> Result<u64, StateError> {
    let n = conn
        .prepare_cached("DELETE FROM alert_hits WHERE recorded_at < ?1")?
        .execute([micros(before)])?;
    Ok(n as u64)
}

/// A WHERE clause under construction, with numbered parameters (`?1`, `?2`…) so one value can
/// be used several times.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    fn bind(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }
    fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }
    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// `%text%` with LIKE's wildcards in `text` escaped (escape character `\`).
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn parse_cursor(cursor: &str) -> Result<(i64, String), StateError> {
    let bad = || StateError::InvalidInput(format!("malformed paging cursor {cursor:?}"));
    let (t, id) = cursor.split_once('.').ok_or_else(bad)?;
    let t: i64 = t.parse().map_err(|_| bad())?;
    if !identity::is_alert_id(id) {
        return Err(bad());
    }
    Ok((t, id.to_string()))
}

fn level_to_int(level: Level) -> i64 {
    Level::ALL.iter().position(|l| *l == level).unwrap_or(0) as i64
}

fn level_from_int(v: i64, id: &str) -> Result<Level, StateError> {
    usize::try_from(v)
        .ok()
        .and_then(|i| Level::ALL.get(i).copied())
        .ok_or_else(|| StateError::Corrupt {
            id: id.to_string(),
            column: "rule_level",
            reason: format!("{v} is not a level (0..=4)"),
        })
}

fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<String, StateError> {
    serde_json::to_string(v)
        .map_err(|e| StateError::InvalidInput(format!("cannot encode alert data as JSON: {e}")))
}

fn from_json<T: DeserializeOwned>(
    s: &str,
    id: &str,
    column: &'static str,
) -> Result<T, StateError> {
    serde_json::from_str(s).map_err(|e| StateError::Corrupt {
        id: id.to_string(),
        column,
        reason: e.to_string(),
    })
}

fn parse<T: std::str::FromStr>(s: &str, id: &str, column: &'static str) -> Result<T, StateError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| StateError::Corrupt {
        id: id.to_string(),
        column,
        reason: e.to_string(),
    })
}

/// One `alerts` row as SQLite types; [`RawAlert::decode`] turns it into an [`Alert`] and reports
/// any value that does not fit, naming the row and column.
struct RawAlert {
    id: String,
    rule_id: String,
    rule_title: String,
    rule_level: i64,
    rule_status: Option<String>,
    tags: String,
    group_key: String,
    host: Option<String>,
    user_name: Option<String>,
    src_ip: Option<String>,
    dst_ip: Option<String>,
    source: String,
    record_id: Option<i64>,
    source_offset: Option<i64>,
    event_time: Option<i64>,
    first_seen: i64,
    last_seen: i64,
    count: i64,
    events: String,
    evidence: String,
    status: String,
    assignee: Option<String>,
    verdict: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl RawAlert {
    /// Reads the columns in [`COLUMNS`] order.
    fn from_row(r: &Row<'_>) -> rusqlite::Result<RawAlert> {
        Ok(RawAlert {
            id: r.get(0)?,
            rule_id: r.get(1)?,
            rule_title: r.get(2)?,
            rule_level: r.get(3)?,
            rule_status: r.get(4)?,
            tags: r.get(5)?,
            group_key: r.get(6)?,
            host: r.get(7)?,
            user_name: r.get(8)?,
            src_ip: r.get(9)?,
            dst_ip: r.get(10)?,
            source: r.get(11)?,
            record_id: r.get(12)?,
            source_offset: r.get(13)?,
            event_time: r.get(14)?,
            first_seen: r.get(15)?,
            last_seen: r.get(16)?,
            count: r.get(17)?,
            events: r.get(18)?,
            evidence: r.get(19)?,
            status: r.get(20)?,
            assignee: r.get(21)?,
            verdict: r.get(22)?,
            created_at: r.get(23)?,
            updated_at: r.get(24)?,
        })
    }

    fn decode(self) -> Result<Alert, StateError> {
        let id = self.id.as_str();
        let ip = |v: Option<String>, column| v.map(|s| parse::<IpAddr>(&s, id, column)).transpose();
        Ok(Alert {
            rule: RuleRef {
                id: self.rule_id,
                title: self.rule_title,
                level: level_from_int(self.rule_level, id)?,
                status: self.rule_status,
                tags: from_json(&self.tags, id, "tags")?,
            },
            entities: AlertEntities {
                host: self.host,
                user: self.user_name,
                src_ip: ip(self.src_ip, "src_ip")?,
                dst_ip: ip(self.dst_ip, "dst_ip")?,
            },
            group_key: self.group_key,
            event: EventRef {
                source: self.source,
                record_id: self.record_id.map(|v| v as u64),
                offset: self.source_offset.map(|v| v as u64),
                time: self
                    .event_time
                    .map(|t| from_micros(t, id, "event_time"))
                    .transpose()?,
            },
            first_seen: from_micros(self.first_seen, id, "first_seen")?,
            last_seen: from_micros(self.last_seen, id, "last_seen")?,
            count: u64::try_from(self.count).map_err(|_| StateError::Corrupt {
                id: id.to_string(),
                column: "count",
                reason: format!("{} is negative", self.count),
            })?,
            events: from_json(&self.events, id, "events")?,
            evidence: from_json(&self.evidence, id, "evidence")?,
            status: parse(&self.status, id, "status")?,
            assignee: self.assignee,
            verdict: self.verdict.map(|v| parse(&v, id, "verdict")).transpose()?,
            created_at: from_micros(self.created_at, id, "created_at")?,
            updated_at: from_micros(self.updated_at, id, "updated_at")?,
            id: self.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn cursors_are_checked() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(parse_cursor(&format!("-5.{id}")).unwrap(), (-5, id.into()));
        for bad in ["", "12", "x.abc", &format!("1.{}", &id[1..]), "1.ZZ"] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
