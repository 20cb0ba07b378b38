//! SQL for the `alert_comments` table: analysts' notes on an alert, append-only.

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::{from_micros, micros};
use crate::state::error::StateError;
use crate::state::model::Comment;

/// Migration 2: comments, each owned by one alert.
pub(super) const SCHEMA_V2: &str = r#"
CREATE TABLE alert_comments (
    id         INTEGER PRIMARY KEY,
    alert_id   TEXT NOT NULL REFERENCES alerts (id),
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX alert_comments_alert ON alert_comments (alert_id, id);
"#;

/// Appends a comment (already validated) to alert `alert_id`.
pub(super) fn insert(
    conn: &Connection,
    alert_id: &str,
    author: &str,
    text: &str,
    now: Timestamp,
) -> Result<Comment, StateError> {
    conn.prepare_cached(
        "INSERT INTO alert_comments (alert_id, author, body, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![alert_id, author, text, micros(now)])?;
    Ok(Comment {
        id: conn.last_insert_rowid(),
        alert_id: alert_id.to_string(),
        author: author.to_string(),
        text: text.to_string(),
        created_at: now,
    })
}

/// The comments on alert `alert_id`, oldest first.
pub(super) fn list(conn: &Connection, alert_id: &str) -> Result<Vec<Comment>, StateError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, author, body, created_at FROM alert_comments WHERE alert_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([alert_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (id, author, text, created_at) = row?;
        Ok(Comment {
            id,
            alert_id: alert_id.to_string(),
            author,
            text,
            created_at: from_micros(created_at, alert_id, "alert_comments.created_at")?,
        })
    })
    .collect()
}
