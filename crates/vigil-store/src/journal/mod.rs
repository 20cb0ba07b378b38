//! The journal: a durable, append-only log of opaque records between ingest and everything
//! downstream (detection, the event lake).
//!
//! What it is for: an ingest path appends a record (a raw batch, or an encoded event with its
//! source tag — the journal never looks inside) and acknowledges its client once the returned
//! [`Ticket`] resolves, which happens only after the `fdatasync` covering that record.
//! Consumers read records back in offset order with [`Journal::read_from`], commit how far they
//! got under their own name, and resume there after a restart. Many concurrent appends share
//! one write and one fsync (group commit).
//!
//! What it is not for: random access by key, queries, or long-term storage — records are
//! deleted by [`Journal::apply_retention`] once every consumer has moved past them.
//!
//! On disk, `<dir>/` holds `<first offset>.seg` segment files (see `record.rs` for the
//! framing), `consumers/<name>.offset` files, and a `LOCK` file.

mod commit;
mod consumers;
mod durable;
mod error;
mod lock;
mod reader;
mod record;
mod retention;
mod segment;

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub use durable::Ticket;
pub use error::{JournalError, Result};
pub use reader::{Reader, Record};
pub use record::Damage;
pub use retention::{RetentionPolicy, RetentionReport};

use commit::{ActiveSegment, AppendQueue, CommitStats, Committer};
use consumers::ConsumerOffsets;
use durable::Durability;
use lock::DirLock;

/// Tuning knobs of a journal. The defaults suit one server ingesting from many clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// A segment is closed and a new one started once it would grow past this many bytes
    /// (a single larger record still gets a segment of its own).
    pub segment_bytes: u64,
    /// Bound of the group-commit queue, and so of one batch: appenders block (or get
    /// [`JournalError::Full`]) while this many bytes wait for the committer.
    pub max_batch_bytes: usize,
    /// How long the committer lingers for more records before writing a batch that is not yet
    /// full. Zero (the default) writes as soon as the previous fsync returns, which already
    /// batches everything that arrived meanwhile.
    pub max_batch_delay: Duration,
    /// Largest payload accepted; at most `max_batch_bytes` and below 4 GiB.
    pub max_record_bytes: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes: 64 << 20,
            max_batch_bytes: 16 << 20,
            max_batch_delay: Duration::ZERO,
            max_record_bytes: 8 << 20,
        }
    }
}

impl JournalOptions {
    fn validate(&self) -> Result<()> {
        let problem = if self.segment_bytes <= record::SEGMENT_HEADER as u64 {
            "segment_bytes must be larger than the 16-byte segment header"
        } else if self.max_record_bytes > self.max_batch_bytes {
            "max_record_bytes must not exceed max_batch_bytes"
        } else if self.max_record_bytes > (u32::MAX as usize) - record::RECORD_HEADER {
            "max_record_bytes must be below 4 GiB"
        } else {
            return Ok(());
        };
        Err(JournalError::InvalidOptions(problem.into()))
    }
}

/// What [`Journal::open`] found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files present after recovery.
    pub segments: usize,
    /// The oldest offset still stored.
    pub first_offset: u64,
    /// The last intact record's offset, if the journal holds any.
    pub last_offset: Option<u64>,
    /// The offset the next append gets.
    pub next_offset: u64,
    /// Bytes cut from the end of the newest segment (0 after a clean shutdown).
    pub truncated_bytes: u64,
    /// Where and why the newest segment was cut, if it was.
    pub torn_tail: Option<TornTail>,
    /// Offsets a consumer had already committed past but that are not on disk: acknowledged
    /// records were lost (a disk that ignored flushes, or files removed by hand). The journal
    /// continues after them so that no consumer silently skips new records; readers crossing
    /// the gap get a [`JournalError::Corrupt`] naming it.
    pub lost_offsets: Option<Range<u64>>,
}

/// The damaged end of the newest segment, removed at open. Only records that were never
/// acknowledged can be there: an ack waits for the fsync that made them whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment that was truncated.
    pub segment: PathBuf,
    /// Byte position it was truncated at (start of the first damaged record).
    pub position: u64,
    /// What was wrong there.
    pub damage: Damage,
}

/// A snapshot of the journal's counters (since open), for metrics and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// The oldest offset still stored.
    pub first_offset: u64,
    /// One past the newest durable offset.
    pub durable_end: u64,
    /// The offset the next append gets.
    pub next_offset: u64,
    /// Segment files on disk.
    pub segments: usize,
    /// Bytes of framed records waiting for the committer (bounded by `max_batch_bytes`).
    pub queued_bytes: usize,
    /// Batches written and synced; `records / batches` is the group-commit factor.
    pub batches: u64,
    /// Records made durable.
    pub records: u64,
    /// `fdatasync` calls on segments (one per batch, one more per segment roll).
    pub fsyncs: u64,
    /// Bytes of framed records (headers included) written to segments.
    pub bytes_written: u64,
}

/// First offsets of the segments on disk, ascending; the last one is being appended to.
#[derive(Debug)]
pub(crate) struct Segments {
    bases: Mutex<Vec<u64>>,
}

impl Segments {
    fn lock(&self) -> MutexGuard<'_, Vec<u64>> {
        self.bases.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, base: u64) {
        self.lock().push(base);
    }

    pub(crate) fn first(&self) -> Option<u64> {
        self.lock().first().copied()
    }

    /// The first offset of the segment after the one starting at `base`.
    pub(crate) fn after(&self, base: u64) -> Option<u64> {
        let bases = self.lock();
        bases.get(bases.partition_point(|&b| b <= base)).copied()
    }

    /// The segment that holds `offset`, or `None` if it is older than every segment.
    pub(crate) fn containing(&self, offset: u64) -> Option<u64> {
        let bases = self.lock();
        bases[..bases.partition_point(|&b| b <= offset)]
            .last()
            .copied()
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn snapshot(&self) -> Vec<u64> {
        self.lock().clone()
    }

    /// Forgets the oldest segment if it starts at `base` (never the active one).
    pub(crate) fn remove_first(&self, base: u64) -> bool {
        let mut bases = self.lock();
        if bases.len() > 1 && bases[0] == base {
            bases.remove(0);
            true
        } else {
            false
        }
    }
}

/// State shared by the journal handle, its readers and its tickets.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) queue: Arc<AppendQueue>,
    pub(crate) durability: Arc<Durability>,
    pub(crate) segments: Arc<Segments>,
    pub(crate) consumers: ConsumerOffsets,
    stats: Arc<CommitStats>,
}

/// A journal opened for appending and reading. Cheap to clone; all clones share one committer
/// thread, which stops when the last clone is dropped or [`close`](Journal::close) is called.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    recovery: Recovery,
    committer: Mutex<Option<JoinHandle<()>>>,
    _lock: DirLock,
}

impl Journal {
    /// Opens the journal in `dir` (created if missing), repairing a torn tail left by a crash.
    ///
    /// Only the newest segment is scanned: older ones were fsynced before the next was created,
    /// so a crash cannot tear them; damage there (bad media, hand edits) is reported by readers.
    pub fn open(dir: impl AsRef<Path>, options: JournalOptions) -> Result<Journal> {
        options.validate()?;
        let dir = dir.as_ref().to_owned();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|e| JournalError::io("create directory", &dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                segment::sync_dir(parent)?;
            }
        }
        let lock = DirLock::acquire(&dir)?;
        let consumers = ConsumerOffsets::open(&dir)?;
        let mut bases = segment::list_segments(&dir)?;
        if bases.is_empty() {
            // A fresh journal; if consumer offsets survived a hand-made wipe, start past them
            // so no consumer is left waiting behind the new records.
            let base = consumers.all().values().copied().max().unwrap_or(0);
            segment::create_segment(&dir, base)?;
            bases.push(base);
        }
        let base = *bases.last().expect("at least one segment");
        let path = segment::segment_path(&dir, base);
        let scan = segment::scan_segment(&path, base)?;
        let torn_tail = scan.damage.map(|damage| TornTail {
            segment: path.clone(),
            position: scan.valid_len,
            damage,
        });
        if torn_tail.is_some() {
            segment::truncate_segment(&path, base, scan.valid_len)?;
        }
        let mut next_offset = scan.last_offset.map_or(base, |last| last + 1);
        let (mut base, mut path) = (base, path);
        let mut lost_offsets = None;
        let ahead = consumers.all().values().copied().max();
        if let Some(ahead) = ahead.filter(|&ahead| ahead > next_offset) {
            segment::create_segment(&dir, ahead)?;
            bases.push(ahead);
            lost_offsets = Some(next_offset..ahead);
            (base, path, next_offset) = (ahead, segment::segment_path(&dir, ahead), ahead);
        }
        let recovery = Recovery {
            segments: bases.len(),
            first_offset: bases[0],
            last_offset: (next_offset > bases[0]).then(|| next_offset - 1),
            next_offset,
            truncated_bytes: scan.file_len.saturating_sub(scan.valid_len),
            torn_tail,
            lost_offsets,
        };
        let (file, len) = segment::open_for_append(&path)?;
        let queue = Arc::new(AppendQueue::new(next_offset, &options));
        let durability = Arc::new(Durability::new(next_offset));
        let segments = Arc::new(Segments {
            bases: Mutex::new(bases),
        });
        let stats = Arc::new(CommitStats::default());
        let committer = Committer {
            dir: dir.clone(),
            segment_bytes: options.segment_bytes,
            active: ActiveSegment {
                base,
                path,
                file,
                len,
            },
            queue: queue.clone(),
            durability: durability.clone(),
            segments: segments.clone(),
            stats: stats.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("vigil-journal-commit".into())
            .spawn(move || committer.run_catching_panics())
            .map_err(|e| JournalError::io("spawn committer thread for", &dir, e))?;
        Ok(Journal {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    dir,
                    queue,
                    durability,
                    segments,
                    consumers,
                    stats,
                }),
                recovery,
                committer: Mutex::new(Some(handle)),
                _lock: lock,
            }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// What recovery found when this journal was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.inner.recovery
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.shared().dir
    }

    /// Queues `payload` and returns the ticket that resolves once it is durable. Blocks while
    /// the group-commit queue is full (back-pressure); see [`try_append`](Journal::try_append).
    pub fn append(&self, payload: &[u8]) -> Result<Ticket> {
        let shared = self.shared();
        shared.queue.push(&shared.durability, payload, true)
    }

    /// Like [`append`](Journal::append) but returns [`JournalError::Full`] instead of blocking
    /// — the call for async code, which should turn `Full` into "retry later" (HTTP 429).
    pub fn try_append(&self, payload: &[u8]) -> Result<Ticket> {
        let shared = self.shared();
        shared.queue.push(&shared.durability, payload, false)
    }

    /// A ticket that resolves once the record at `offset` is durable, appended by anyone. A
    /// consumer that has caught up waits on its [`Reader::position`] this way instead of
    /// polling.
    pub fn when_durable(&self, offset: u64) -> Ticket {
        Ticket::new(self.shared().durability.clone(), offset)
    }

    /// One past the newest durable offset: readers see every record below it.
    pub fn durable_end(&self) -> u64 {
        self.shared().durability.end()
    }

    /// The offset the next append will get (records between [`durable_end`](Self::durable_end)
    /// and this are queued or being written).
    pub fn next_offset(&self) -> u64 {
        self.shared().queue.next_offset()
    }

    /// The oldest offset still stored (retention moves it forward).
    pub fn first_offset(&self) -> u64 {
        self.shared().segments.first().unwrap_or(0)
    }

    /// The journal's counters since open.
    pub fn stats(&self) -> JournalStats {
        use std::sync::atomic::Ordering::Relaxed;
        let shared = self.shared();
        JournalStats {
            first_offset: self.first_offset(),
            durable_end: self.durable_end(),
            next_offset: self.next_offset(),
            segments: shared.segments.len(),
            queued_bytes: shared.queue.queued_bytes(),
            batches: shared.stats.batches.load(Relaxed),
            records: shared.stats.records.load(Relaxed),
            fsyncs: shared.stats.fsyncs.load(Relaxed),
            bytes_written: shared.stats.bytes_written.load(Relaxed),
        }
    }

    /// Reads durable records in order starting at `offset`, across segments.
    pub fn read_from(&self, offset: u64) -> Reader {
        Reader::new(self.shared().clone(), offset)
    }

    /// Returns where consumer `name` should resume. A new consumer is registered at the oldest
    /// stored offset, so retention keeps everything it has not read yet.
    pub fn register_consumer(&self, name: &str) -> Result<u64> {
        let consumers = &self.shared().consumers;
        consumers::validate_name(name)?;
        if let Some(offset) = consumers.get(name) {
            return Ok(offset);
        }
        let start = self.first_offset();
        consumers.commit(name, start)?;
        Ok(start)
    }

    /// Durably records that consumer `name` has processed every record below `offset` and
    /// resumes there. Returns once the commit is on stable storage.
    pub fn commit_consumer(&self, name: &str, offset: u64) -> Result<()> {
        let durable_end = self.durable_end();
        if offset > durable_end {
            return Err(JournalError::CommitBeyondEnd {
                name: name.to_owned(),
                offset,
                durable_end,
            });
        }
        self.shared().consumers.commit(name, offset)
    }

    /// The offset consumer `name` last committed, if it is registered.
    pub fn consumer_offset(&self, name: &str) -> Option<u64> {
        self.shared().consumers.get(name)
    }

    /// Every registered consumer and its committed offset.
    pub fn consumers(&self) -> BTreeMap<String, u64> {
        self.shared().consumers.all()
    }

    /// Deletes whole segments every consumer has moved past (and, if the policy says so, those
    /// older than its age limit even if unconsumed). The segment being written is never removed.
    pub fn apply_retention(&self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        retention::apply(self.shared(), policy)
    }

    /// Writes and syncs everything queued, then stops the committer. Appends after this (on any
    /// clone) fail with [`JournalError::Closed`]. Returns the committer's failure, if any.
    pub fn close(&self) -> Result<()> {
        self.inner.stop();
        match Ticket::new(self.shared().durability.clone(), u64::MAX).wait() {
            Err(JournalError::Closed) => Ok(()),
            Err(failure) => Err(failure),
            Ok(_) => Ok(()),
        }
    }
}

impl Inner {
    fn stop(&self) {
        self.shared.queue.close();
        let handle = self
            .committer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle {
            // The committer turns its errors and panics into a terminal state; nothing to add.
            let _ = handle.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}
