//! Group commit: the bounded append queue and the committer thread.
//!
//! Appenders checksum their payload, then — under one short lock — take the next offset and
//! copy the framed record into the pending batch buffer. One committer thread swaps that buffer
//! out, writes it with one `write` per segment touched, calls `fdatasync`, and only then
//! publishes the new durable end, which releases every ticket in the batch at once. While it
//! writes and syncs, the next batch fills the other buffer: the slower the disk, the bigger the
//! batches, with no tuning.
//!
//! Memory is bounded: the pending buffer never exceeds `max_batch_bytes` (a lone record is
//! always admitted, and records are at most `max_record_bytes`), and at most one more batch is
//! in flight, so the journal holds at most about twice `max_batch_bytes` of queued records.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::durable::{Durability, Ticket};
use super::error::{JournalError, Result};
use super::record::{self, RECORD_HEADER, SEGMENT_HEADER};
use super::segment;
use super::{JournalOptions, Segments};

/// Records waiting for the committer.
#[derive(Debug)]
struct Queue {
    /// Framed records, offsets ascending and contiguous.
    buf: Vec<u8>,
    /// The offset the next append gets.
    next_offset: u64,
    /// Set by `close`: accept nothing more, drain what is queued, stop.
    closing: bool,
    /// Set when a write or fsync failed: the journal refuses appends from then on.
    failure: Option<Arc<str>>,
}

/// The appenders' side of group commit.
#[derive(Debug)]
pub(crate) struct AppendQueue {
    queue: Mutex<Queue>,
    not_full: Condvar,
    not_empty: Condvar,
    max_batch_bytes: usize,
    max_record_bytes: usize,
    max_batch_delay: Duration,
}

impl AppendQueue {
    pub(crate) fn new(next_offset: u64, options: &JournalOptions) -> Self {
        AppendQueue {
            queue: Mutex::new(Queue {
                buf: Vec::new(),
                next_offset,
                closing: false,
                failure: None,
            }),
            not_full: Condvar::new(),
            not_empty: Condvar::new(),
            max_batch_bytes: options.max_batch_bytes,
            max_record_bytes: options.max_record_bytes,
            max_batch_delay: options.max_batch_delay,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The offset the next append will get.
    pub(crate) fn next_offset(&self) -> u64 {
        self.lock().next_offset
    }

    /// Bytes (framed records) waiting for the committer.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().buf.len()
    }

    /// Queues one record; blocks while the queue is full if `block`, else returns `Full`.
    pub(crate) fn push(
        &self,
        durability: &Arc<Durability>,
        payload: &[u8],
        block: bool,
    ) -> Result<Ticket> {
        if payload.len() > self.max_record_bytes {
            return Err(JournalError::RecordTooLarge {
                len: payload.len(),
                max: self.max_record_bytes,
            });
        }
        // Checksum outside the lock: this is the expensive part for big records.
        let payload_crc = crc32fast::hash(payload);
        let size = RECORD_HEADER + payload.len();
        let mut queue = self.lock();
        loop {
            if let Some(reason) = &queue.failure {
                return Err(JournalError::Failed {
                    reason: reason.clone(),
                });
            }
            if queue.closing {
                return Err(JournalError::Closed);
            }
            if queue.buf.is_empty() || queue.buf.len() + size <= self.max_batch_bytes {
                break;
            }
            if !block {
                return Err(JournalError::Full {
                    queued_bytes: queue.buf.len(),
                });
            }
            queue = self.not_full.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
        let offset = queue.next_offset;
        queue.next_offset += 1;
        let len = u32::try_from(payload.len()).expect("max_record_bytes fits in u32");
        queue
            .buf
            .extend_from_slice(&record::encode_header(len, offset, payload_crc));
        queue.buf.extend_from_slice(payload);
        drop(queue);
        self.not_empty.notify_one();
        Ok(Ticket::new(durability.clone(), offset))
    }

    /// Asks the committer to drain the queue and stop.
    pub(crate) fn close(&self) {
        self.lock().closing = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// Waits for a batch and swaps it into `spare` (which must be empty). Returns the offset
    /// one past the batch, or `None` when closing and nothing is left.
    fn take_batch(&self, spare: &mut Vec<u8>) -> Option<u64> {
        let mut queue = self.lock();
        while queue.buf.is_empty() {
            if queue.closing {
                return None;
            }
            queue = self
                .not_empty
                .wait(queue)
                .unwrap_or_else(|e| e.into_inner());
        }
        if !self.max_batch_delay.is_zero() {
            // Linger a little for more records, unless the batch is already full.
            let deadline = Instant::now() + self.max_batch_delay;
            while !queue.closing && queue.buf.len() + RECORD_HEADER < self.max_batch_bytes {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                queue = self
                    .not_empty
                    .wait_timeout(queue, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        std::mem::swap(&mut queue.buf, spare);
        let end = queue.next_offset;
        drop(queue);
        self.not_full.notify_all();
        Some(end)
    }

    fn fail(&self, reason: Arc<str>) {
        let mut queue = self.lock();
        queue.failure = Some(reason);
        queue.buf.clear();
        drop(queue);
        self.not_full.notify_all();
    }
}

/// Counters the committer keeps, read by [`Journal::stats`](super::Journal::stats).
#[derive(Debug, Default)]
pub(crate) struct CommitStats {
    pub(crate) batches: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
}

/// The segment the committer is appending to.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    pub(crate) base: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) len: u64,
}

/// Everything the committer thread owns.
#[derive(Debug)]
pub(crate) struct Committer {
    pub(crate) dir: PathBuf,
    pub(crate) segment_bytes: u64,
    pub(crate) active: ActiveSegment,
    pub(crate) queue: Arc<AppendQueue>,
    pub(crate) durability: Arc<Durability>,
    pub(crate) segments: Arc<Segments>,
    pub(crate) stats: Arc<CommitStats>,
}

impl Committer {
    /// The committer thread's body. A panic (a bug) is turned into a failed journal so that
    /// no appender waits forever.
    pub(crate) fn run_catching_panics(self) {
        let queue = self.queue.clone();
        let durability = self.durability.clone();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run())).is_err() {
            let reason: Arc<str> = "the journal's committer thread panicked".into();
            queue.fail(reason.clone());
            durability.terminate(Some(reason));
        }
    }

    /// Batches until closed or until an I/O error.
    fn run(mut self) {
        let mut batch = Vec::with_capacity(self.queue.max_batch_bytes);
        let mut durable_end = self.durability.end();
        let failure = loop {
            let Some(end) = self.queue.take_batch(&mut batch) else {
                break None;
            };
            if let Err(err) = self.write_batch(&batch) {
                let reason: Arc<str> = err.to_string().into();
                self.queue.fail(reason.clone());
                break Some(reason);
            }
            // Counted before publishing: whoever sees its ticket resolve sees it counted.
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            self.stats
                .records
                .fetch_add(end - durable_end, Ordering::Relaxed);
            self.durability.publish(end);
            durable_end = end;
            batch.clear();
        };
        self.durability.terminate(failure);
    }

    /// Writes the framed records in `batch`, rolling segments where needed, and syncs.
    fn write_batch(&mut self, batch: &[u8]) -> Result<()> {
        let mut start = 0;
        let mut pos = 0;
        while pos < batch.len() {
            let len = u32::from_le_bytes(batch[pos..pos + 4].try_into().expect("4 bytes"));
            let size = RECORD_HEADER + len as usize;
            let written_here = self.active.len + (pos - start) as u64;
            let segment_has_records = written_here > SEGMENT_HEADER as u64;
            if segment_has_records && written_here + size as u64 > self.segment_bytes {
                self.append(&batch[start..pos])?;
                self.sync()?;
                let offset = u64::from_le_bytes(batch[pos + 8..pos + 16].try_into().expect("8"));
                self.roll(offset)?;
                start = pos;
            }
            pos += size;
        }
        self.append(&batch[start..])?;
        self.sync()
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.active
            .file
            .write_all(bytes)
            .map_err(|e| JournalError::io("write", &self.active.path, e))?;
        self.active.len += bytes.len() as u64;
        self.stats
            .bytes_written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.active
            .file
            .sync_data()
            .map_err(|e| JournalError::io("fdatasync", &self.active.path, e))?;
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Starts a new segment at `base`. The old one is already synced, so only the newest
    /// segment can ever hold a torn tail.
    fn roll(&mut self, base: u64) -> Result<()> {
        let file = segment::create_segment(&self.dir, base)?;
        self.active = ActiveSegment {
            base,
            path: segment::segment_path(&self.dir, base),
            file,
            len: SEGMENT_HEADER as u64,
        };
        self.segments.push(self.active.base);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(max_batch_bytes: usize) -> (Arc<AppendQueue>, Arc<Durability>) {
        let options = JournalOptions {
            max_batch_bytes,
            max_record_bytes: max_batch_bytes,
            ..JournalOptions::default()
        };
        (
            Arc::new(AppendQueue::new(0, &options)),
            Arc::new(Durability::new(0)),
        )
    }

    #[test]
    fn a_full_queue_refuses_try_append_and_blocks_append_until_the_batch_is_taken() {
        let (queue, durability) = queue(100);
        let first = queue.push(&durability, &[1; 40], false).unwrap();
        assert_eq!(first.offset(), 0);
        assert!(matches!(
            queue.push(&durability, &[2; 40], false),
            Err(JournalError::Full { queued_bytes: 56 })
        ));
        let blocked = {
            let (queue, durability) = (queue.clone(), durability.clone());
            std::thread::spawn(move || queue.push(&durability, &[3; 40], true).map(|t| t.offset()))
        };
        // The blocked appender cannot get in before the committer takes the batch.
        let mut batch = Vec::new();
        assert_eq!(queue.take_batch(&mut batch), Some(1));
        assert_eq!(batch.len(), RECORD_HEADER + 40);
        assert_eq!(blocked.join().unwrap().unwrap(), 1);
    }

    #[test]
    fn a_lone_record_is_admitted_even_when_it_fills_the_batch() {
        let (queue, durability) = queue(100);
        let ticket = queue.push(&durability, &[0; 100], false).unwrap();
        assert_eq!(ticket.offset(), 0);
        assert!(matches!(
            queue.push(&durability, &[], false),
            Err(JournalError::Full { .. })
        ));
    }

    #[test]
    fn closing_refuses_new_records_but_hands_over_queued_ones() {
        let (queue, durability) = queue(1000);
        let _ticket = queue.push(&durability, b"queued", true).unwrap();
        queue.close();
        assert!(matches!(
            queue.push(&durability, b"late", true),
            Err(JournalError::Closed)
        ));
        let mut batch = Vec::new();
        assert_eq!(queue.take_batch(&mut batch), Some(1));
        batch.clear();
        assert_eq!(queue.take_batch(&mut batch), None);
    }
}
