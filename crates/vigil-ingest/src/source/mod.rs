//! Live sources: syslog listeners (UDP, TCP) and watched files, delivering raw records to an
//! ingest pipeline in acknowledged batches.
//!
//! What this is for: getting bytes off the network and out of growing log files into
//! [`SourceBatch`]es on a bounded channel ([`SourceSender`]), with back-pressure, counted errors
//! ([`SourceStats`]) and, for files, checkpoints persisted only after the pipeline has made a
//! batch durable, so a restart re-sends nothing acknowledged (at-least-once).
//!
//! What it is not for: parsing. Records are delivered as raw bytes (one syslog message or one
//! file line each); the pipeline decodes them with [`crate::decode_bytes_as`] and the batch's
//! [`SourceBatch::format`].

mod checkpoint;
mod stats;
mod syslog;
mod tail;

pub use stats::{IssueKind, SourceIssue, SourceStats, SourceStatsSnapshot};
pub use syslog::{KERNEL_DROPS_EVERY, SyslogConfig, run_syslog_tcp, run_syslog_udp};
pub use tail::{TailConfig, Tailer, WatchSpec};

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use crate::Format;

/// One delivery from a source: raw records (one syslog message or one file line each, without
/// the trailing newline), which format they are (None = sniff), and who sent them.
#[derive(Debug)]
pub struct SourceBatch {
    /// The source's name: `syslog-udp`, `syslog-tcp` (or the configured listener name), or the
    /// configured name of a watched file source.
    pub source: String,
    /// Syslog listeners: `Some(the syslog format)`; files: the configured one, or `None` to sniff.
    pub format: Option<Format>,
    /// The sending peer (syslog listeners).
    pub peer: Option<SocketAddr>,
    /// The file the lines were read from (watched files).
    pub path: Option<PathBuf>,
    /// The records, each without its framing (length prefix, trailing newline).
    pub records: Vec<Vec<u8>>,
    /// `Some` when the sender waits for durability: reply `Ok(())` once the records are durable,
    /// `Err(reason)` if they could not be made so. Dropping it unanswered counts as a failure.
    pub ack: Option<oneshot::Sender<Result<(), String>>>,
}

/// Where sources send their batches; bounded, so a slow pipeline slows the sources down.
pub type SourceSender = mpsc::Sender<SourceBatch>;

/// Waits for a batch's acknowledgement: `Ok` when the pipeline made it durable, else why not.
async fn wait_ack(rx: oneshot::Receiver<Result<(), String>>) -> Result<(), String> {
    match rx.await {
        Ok(result) => result,
        Err(_) => Err("the pipeline dropped the batch without acknowledging it".to_string()),
    }
}
