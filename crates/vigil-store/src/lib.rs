//! Vigil's embedded storage.
//!
//! - [`journal`]: the write-ahead journal between ingest and everything downstream — append-only,
//!   checksummed segments, group commit (acknowledged only after `fdatasync`), crash recovery,
//!   named consumer offsets and retention.
//! - [`state`]: the state database (SQLite) — alerts with evidence, dedup, triage and comments.
//! - [`lake`]: the event lake — every event as a row of hour-partitioned Parquet files,
//!   queryable with SQL (DataFusion) as the table `events`, with compaction and retention.

pub mod journal;
pub mod lake;
mod lockfile;
pub mod state;
