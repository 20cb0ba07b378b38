//! Per-source counters and the most recent problems, shared between a running source and
//! whoever displays it (the server's status page).

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;

/// How many recent problems a [`SourceStats`] keeps (older ones are only counted).
const RECENT_ISSUES: usize = 32;

/// Counters of one source (one listener or one watched-file source), updated as it runs.
///
/// Every dropped message or line is counted in one of the error counters and described in
/// [`SourceStats::recent_issues`], so nothing a source refuses vanishes silently.
#[derive(Debug, Default)]
pub struct SourceStats {
    records: AtomicU64,
    bytes: AtomicU64,
    batches: AtomicU64,
    ack_failures: AtomicU64,
    framing_errors: AtomicU64,
    oversize: AtomicU64,
    connections: AtomicU64,
    connections_refused: AtomicU64,
    truncations: AtomicU64,
    rotations: AtomicU64,
    files_dropped: AtomicU64,
    io_errors: AtomicU64,
    kernel_drops: AtomicU64,
    recent: Mutex<VecDeque<SourceIssue>>,
}

/// A copy of a [`SourceStats`]' counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceStatsSnapshot {
    /// Records (messages, lines) handed to the pipeline.
    pub records: u64,
    /// Bytes of those records.
    pub bytes: u64,
    /// Batches handed to the pipeline.
    pub batches: u64,
    /// Batches the pipeline refused or dropped unacknowledged.
    pub ack_failures: u64,
    /// Syslog TCP: bad length prefixes, or a connection closed inside a message.
    pub framing_errors: u64,
    /// Messages or lines longer than the configured maximum (skipped).
    pub oversize: u64,
    /// Syslog TCP connections accepted.
    pub connections: u64,
    /// Syslog TCP connections closed at once because too many were open.
    pub connections_refused: u64,
    /// Files that shrank below the read position or whose start changed (copytruncate): read
    /// again from the start.
    pub truncations: u64,
    /// Files renamed away or deleted that were read to their end and then let go.
    pub rotations: u64,
    /// Files that disappeared before their last lines could be read.
    pub files_dropped: u64,
    /// Failed reads, opens, accepts or checkpoint writes (retried).
    pub io_errors: u64,
    /// Syslog UDP: datagrams the kernel dropped because the socket's receive buffer was full
    /// (the pipeline fell behind), read from `/proc/net/udp` (Linux; 0 elsewhere).
    pub kernel_drops: u64,
}

/// Which counter a [`SourceIssue`] was counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A syslog framing error (bad octet count, message cut by the connection closing).
    Framing,
    /// A message or line over the maximum size.
    Oversize,
    /// The pipeline refused a batch or dropped it unacknowledged.
    Ack,
    /// A file shrank or was rewritten and is read again from the start.
    Truncated,
    /// A file disappeared with unread lines.
    Dropped,
    /// An I/O error.
    Io,
    /// A connection refused because too many were open.
    Refused,
    /// The kernel dropped datagrams: the socket's receive buffer was full.
    KernelDrop,
}

/// One problem a source met: what, where (peer or file and offset), when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SourceIssue {
    /// When it happened.
    pub at: Timestamp,
    /// The counter it was counted in.
    pub kind: IssueKind,
    /// The sending peer, for listeners.
    pub peer: Option<SocketAddr>,
    /// The file, for watched files.
    pub path: Option<PathBuf>,
    /// Byte offset in the file, when known.
    pub offset: Option<u64>,
    /// What was wrong, in words.
    pub reason: String,
}

impl fmt::Display for SourceIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(peer) = self.peer {
            write!(f, "{peer}: ")?;
        }
        if let Some(path) = &self.path {
            write!(f, "{}", path.display())?;
            if let Some(offset) = self.offset {
                write!(f, " @ offset {offset}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.reason)
    }
}

impl SourceStats {
    /// The counters now.
    pub fn snapshot(&self) -> SourceStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SourceStatsSnapshot {
            records: get(&self.records),
            bytes: get(&self.bytes),
            batches: get(&self.batches),
            ack_failures: get(&self.ack_failures),
            framing_errors: get(&self.framing_errors),
            oversize: get(&self.oversize),
            connections: get(&self.connections),
            connections_refused: get(&self.connections_refused),
            truncations: get(&self.truncations),
            rotations: get(&self.rotations),
            files_dropped: get(&self.files_dropped),
            io_errors: get(&self.io_errors),
            kernel_drops: get(&self.kernel_drops),
        }
    }

    /// The last problems met (at most 32), oldest first.
    pub fn recent_issues(&self) -> Vec<SourceIssue> {
        self.recent_lock().iter().cloned().collect()
    }

    fn recent_lock(&self) -> std::sync::MutexGuard<'_, VecDeque<SourceIssue>> {
        // A panic elsewhere while holding the lock leaves a valid queue: keep using it.
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a batch of `records` records totalling `bytes` bytes handed to the pipeline.
    pub(crate) fn delivered(&self, records: usize, bytes: usize) {
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_accepted(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rotated(&self) {
        self.rotations.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a problem in its kind's counter and remembers it.
    pub(crate) fn issue(
        &self,
        kind: IssueKind,
        peer: Option<SocketAddr>,
        path: Option<PathBuf>,
        offset: Option<u64>,
        reason: impl Into<String>,
    ) {
        let counter = match kind {
            IssueKind::Framing => &self.framing_errors,
            IssueKind::Oversize => &self.oversize,
            IssueKind::Ack => &self.ack_failures,
            IssueKind::Truncated => &self.truncations,
            IssueKind::Dropped => &self.files_dropped,
            IssueKind::Io => &self.io_errors,
            IssueKind::Refused => &self.connections_refused,
            IssueKind::KernelDrop => &self.kernel_drops,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.remember(kind, peer, path, offset, reason.into());
    }

    /// Records the kernel's running count of datagrams it dropped for this source's socket;
    /// a rise is remembered as an issue saying how many were lost since the last reading.
    pub(crate) fn kernel_dropped(&self, total: u64) {
        let before = self.kernel_drops.fetch_max(total, Ordering::Relaxed);
        if total > before {
            self.remember(
                IssueKind::KernelDrop,
                None,
                None,
                None,
                format!(
                    "the kernel dropped {} datagrams ({total} in all): the socket's receive \
                     buffer was full because the pipeline fell behind",
                    total - before
                ),
            );
        }
    }

    fn remember(
        &self,
        kind: IssueKind,
        peer: Option<SocketAddr>,
        path: Option<PathBuf>,
        offset: Option<u64>,
        reason: String,
    ) {
        let mut recent = self.recent_lock();
        if recent.len() == RECENT_ISSUES {
            recent.pop_front();
        }
        recent.push_back(SourceIssue {
            at: Timestamp::now(),
            kind,
            peer,
            path,
            offset,
            reason,
        });
    }
}
