//! Schema migrations: a versioned list applied in order, in one transaction, at open.
//!
//! `PRAGMA user_version` records how many have been applied. A migration is never edited once
//! released: a schema change is a new entry at the end. A file with a higher version than this
//! build knows is refused rather than written with an older idea of the schema.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{alerts, comments, records};
use crate::state::error::StateError;

/// One step of the schema's history.
struct Migration {
    /// What it does, for error messages.
    name: &'static str,
    sql: &'static str,
}

/// Every migration, oldest first; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "alerts and dedup ledger",
        sql: alerts::SCHEMA_V1,
    },
    Migration {
        name: "alert comments",
        sql: comments::SCHEMA_V2,
    },
    Migration {
        name: "records (cases, pins, exceptions, sightings)",
        sql: records::SCHEMA_V3,
    },
    Migration {
        name: "alerts by write time (reads of what changed)",
        sql: alerts::SCHEMA_V4,
    },
];

/// The schema version this build writes (the number of migrations).
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database at `path` (open on `conn`) up to [`SCHEMA_VERSION`].
///
/// `BEGIN IMMEDIATE` takes the write lock before reading the version, so two processes opening
/// a fresh file at once cannot both apply migration 1.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let open_err = |source| StateError::Open {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_err)?;
    let found: u32 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(open_err)?;
    if found > SCHEMA_VERSION {
        return Err(StateError::FutureSchema {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(m.sql)
            .map_err(|source| StateError::Migration {
                path: path.to_path_buf(),
                version: i as u32 + 1,
                name: m.name,
                source,
            })?;
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(open_err)?;
    }
    tx.commit().map_err(open_err)
}
