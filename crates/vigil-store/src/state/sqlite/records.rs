//! SQL for the `records` table: versioned JSON documents of the analyst-side state other crates
//! model (incident cases, merge/split pins, exceptions, intel sightings and allowlists, feed
//! cursors). The store keeps them opaque: their types and rules live with their crates
//! (`vigil-risk`, `vigil-intel`), the store gives atomic multi-record writes with optimistic
//! version checks.

use rusqlite::{Connection, OptionalExtension, params};

use super::{from_micros, micros};
use crate::state::error::StateError;
use crate::state::{Expect, Record, RecordPut};

/// Migration 3: records, one per (kind, id).
pub(super) const SCHEMA_V3: &str = r#"
CREATE TABLE records (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;
"#;

/// Largest record body accepted, in bytes: records are state, not attachments.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_record(kind: &str, raw: (String, i64, String, i64)) -> Result<Record, StateError> {
    let (id, version, body, updated_at) = raw;
    Ok(Record {
        updated_at: from_micros(updated_at, &format!("{kind}/{id}"), "records.updated_at")?,
        kind: kind.to_string(),
        id,
        version,
        body,
    })
}

/// The record `kind/id`, if any.
pub(super) fn get(conn: &Connection, kind: &str, id: &str) -> Result<Option<Record>, StateError> {
    let raw = conn
        .prepare_cached(
            "SELECT id, version, body, updated_at FROM records WHERE kind = ?1 AND id = ?2",
        )?
        .query_row(params![kind, id], row)
        .optional()?;
    raw.map(|raw| to_record(kind, raw)).transpose()
}

/// Every record of `kind`, by id.
pub(super) fn list(conn: &Connection, kind: &str) -> Result<Vec<Record>, StateError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, version, body, updated_at FROM records WHERE kind = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([kind], row)?;
    rows.map(|raw| to_record(kind, raw?)).collect()
}

/// Deletes the records of `kind` written before `before`; returns how many.
pub(super) fn forget_before(
    conn: &Connection,
    kind: &str,
    before: jiff::Timestamp,
) -> Result<u64, StateError> {
    let n = conn
        .prepare_cached("DELETE FROM records WHERE kind = ?1 AND updated_at < ?2")?
        .execute(params![kind, micros(before)])?;
    Ok(n as u64)
}

/// Applies one put (or delete) after checking its expectation; returns the new version (0 for
/// a delete).
pub(super) fn put(
    conn: &Connection,
    p: &RecordPut,
    now: jiff::Timestamp,
) -> Result<i64, StateError> {
    let current: Option<i64> = conn
        .prepare_cached("SELECT version FROM records WHERE kind = ?1 AND id = ?2")?
        .query_row(params![p.kind, p.id], |r| r.get(0))
        .optional()?;
    let ok = match p.expect {
        Expect::Any => true,
        Expect::Absent => current.is_none(),
        Expect::Version(v) => current == Some(v),
    };
    if !ok {
        return Err(StateError::Conflict {
            kind: p.kind.clone(),
            id: p.id.clone(),
            expected: p.expect,
            found: current,
        });
    }
    match &p.body {
        None => {
            conn.prepare_cached("DELETE FROM records WHERE kind = ?1 AND id = ?2")?
                .execute(params![p.kind, p.id])?;
            Ok(0)
        }
        Some(body) => {
            if body.len() > MAX_RECORD_BYTES {
                return Err(StateError::InvalidInput(format!(
                    "{} {} is {} bytes, more than the {MAX_RECORD_BYTES} a record may hold",
                    p.kind,
                    p.id,
                    body.len()
                )));
            }
            let version = current.unwrap_or(0) + 1;
            conn.prepare_cached(
                "INSERT INTO records (kind, id, version, body, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version,
                   body = excluded.body, updated_at = excluded.updated_at",
            )?
            .execute(params![p.kind, p.id, version, body, micros(now)])?;
            Ok(version)
        }
    }
}
