//! Hunting over files: decode every file in parallel, run each event through the engine, and
//! hand detections back in file order.
//!
//! Files are the unit of parallelism (a rayon pool of `threads`); results are reordered so the
//! output is the same whatever the thread count. A file that cannot be read at all is counted
//! and reported, and the hunt goes on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use vigil_core::{Event, Level, LogSource};
use vigil_ingest::{DecodeError, DecodeOptions, IngestError, InputSpec, decode_file_as};
use vigil_intel::Matcher;
use vigil_sigma::engine::{Engine, Scratch};
use vigil_sigma::profile::{self, Stage};

use crate::detection::{Detection, detect_batch, detect_intel, detect_intel_with};

/// How to run a hunt.
#[derive(Clone)]
pub struct HuntOptions {
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Detections below this level are not reported.
    pub min_level: Level,
    /// Skip detection entirely (decode-only, for benchmarks).
    pub decode_only: bool,
    /// Threat-intel indicators to match every event's entities against, besides the rules.
    pub intel: Option<Arc<Matcher>>,
}

impl Default for HuntOptions {
    fn default() -> Self {
        HuntOptions {
            threads: 0,
            min_level: Level::Informational,
            decode_only: false,
            intel: None,
        }
    }
}

impl std::fmt::Debug for HuntOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuntOptions")
            .field("threads", &self.threads)
            .field("min_level", &self.min_level)
            .field("decode_only", &self.decode_only)
            .field("intel", &self.intel.as_ref().map(|m| m.len()))
            .finish()
    }
}

/// What a hunt went through and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HuntSummary {
    pub files: u64,
    /// Files that could not be decoded at all (unreadable, unknown format).
    pub files_failed: u64,
    pub events: u64,
    pub bytes: u64,
    /// Records skipped because they could not be decoded.
    pub decode_errors: u64,
    /// Events per detected format (`evtx`, `json`…); the same as `formats[f].events`.
    pub events_by_format: BTreeMap<String, u64>,
    /// Files, events and decode errors per detected format (files that failed entirely are
    /// in `files_failed` only: they have no format).
    pub formats: BTreeMap<String, FormatCounts>,
    /// Events per logsource, keyed by its display (`product: zeek, service: dns`; `(none)`
    /// for events no decoder or rule gave one).
    pub events_by_logsource: BTreeMap<String, u64>,
    pub detections: u64,
    pub detections_by_level: BTreeMap<Level, u64>,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// What the files of one format held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FormatCounts {
    pub files: u64,
    pub events: u64,
    /// Records skipped because they could not be decoded.
    pub errors: u64,
}

impl HuntSummary {
    /// Events per second over the whole run.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Everything one file produced.
struct FileResult {
    index: usize,
    /// The worker whose scratch slot built the detections (where they go back to be freed).
    worker: usize,
    detections: Vec<Detection>,
    errors: Vec<DecodeError>,
    failure: Option<IngestError>,
    format: Option<String>,
    events: u64,
    bytes: u64,
    /// Events per logsource, in order of first appearance.
    logsources: Vec<(LogSource, u64)>,
}

/// Callbacks a hunt reports through, always called on the calling thread, in file order.
pub trait HuntSink {
    /// A detection (in file order, then event order). Lent, not given: once the sink has seen
    /// a file's detections they go back to the worker thread that built them and are freed
    /// there (see [`hunt_with`]); a sink that keeps one clones it.
    fn detection(&mut self, d: &Detection);
    /// A skipped record.
    fn decode_error(&mut self, e: &DecodeError);
    /// A file that could not be decoded at all.
    fn file_failed(&mut self, e: &IngestError);
    /// A file is done (for progress).
    fn file_done(&mut self) {}
}

/// Hunts `files` with `engine`, reporting through `sink`; returns the summary.
pub fn hunt(
    files: &[PathBuf],
    engine: &Engine,
    opts: &HuntOptions,
    sink: &mut dyn HuntSink,
) -> Result<HuntSummary, rayon::ThreadPoolBuildError> {
    hunt_with(files, engine, opts, &InputSpec::default(), sink)
}

/// [`hunt`] with what the user said about the input (a forced format, logsource rules for
/// generic JSON).
pub fn hunt_with(
    files: &[PathBuf],
    engine: &Engine,
    opts: &HuntOptions,
    input: &InputSpec,
    sink: &mut dyn HuntSink,
) -> Result<HuntSummary, rayon::ThreadPoolBuildError> {
    let start = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()?;
    // EVTX chunk parallelism inside a file would compete with file parallelism for the same
    // cores; a single file still gets all threads.
    let evtx_threads = if files.len() == 1 { opts.threads } else { 1 };
    let decode = DecodeOptions { evtx_threads };
    // Detections the sink has seen, per worker, waiting to be freed by the thread that
    // allocated them (see `Spent`).
    let spent: Spent = Spent::new(pool.current_num_threads());
    let job = Job {
        engine,
        opts,
        decode: &decode,
        input,
        spent: &spent,
    };
    let (tx, rx) = crossbeam_channel::unbounded::<FileResult>();
    let mut summary = HuntSummary::default();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            pool.install(|| {
                use rayon::prelude::*;
                // One scratch per worker thread for the whole hunt, not one per rayon job
                // (`for_each_init` makes a new one at every split): its memo of scanned values
                // stays warm from file to file. `try_lock` never waits: a job that finds its
                // thread's scratch in use (a decoder that runs rayon jobs itself) gets its own.
                let scratches: Vec<Mutex<Option<ThreadScratch>>> =
                    (0..rayon::current_num_threads())
                        .map(|_| Mutex::new(None))
                        .collect();
                files.par_iter().enumerate().for_each(|(index, path)| {
                    let slot = rayon::current_thread_index().unwrap_or(0) % scratches.len();
                    let r = match scratches[slot].try_lock() {
                        Ok(mut guard) => {
                            let (scratch, matches) =
                                guard.get_or_insert_with(|| (Scratch::new(engine), Vec::new()));
                            hunt_file(index, path, &job, slot, scratch, matches)
                        }
                        Err(_) => {
                            let (mut scratch, mut matches) = (Scratch::new(engine), Vec::new());
                            hunt_file(index, path, &job, slot, &mut scratch, &mut matches)
                        }
                    };
                    let _ = tx.send(r);
                });
            });
            drop(tx);
        });
        // Reorder: emit results strictly in file order as they arrive.
        let mut pending = BTreeMap::new();
        let mut next = 0usize;
        for r in rx.iter() {
            pending.insert(r.index, r);
            while let Some(r) = pending.remove(&next) {
                next += 1;
                summary.files += 1;
                summary.events += r.events;
                summary.bytes += r.bytes;
                summary.decode_errors += r.errors.len() as u64;
                if let Some(f) = r.format {
                    *summary.events_by_format.entry(f.clone()).or_default() += r.events;
                    let counts = summary.formats.entry(f).or_default();
                    counts.files += 1;
                    counts.events += r.events;
                    counts.errors += r.errors.len() as u64;
                }
                for (logsource, n) in &r.logsources {
                    let key = if *logsource == LogSource::default() {
                        "(none)".to_string()
                    } else {
                        logsource.to_string()
                    };
                    *summary.events_by_logsource.entry(key).or_default() += n;
                }
                for e in &r.errors {
                    sink.decode_error(e);
                }
                if let Some(e) = &r.failure {
                    summary.files_failed += 1;
                    sink.file_failed(e);
                }
                for d in &r.detections {
                    summary.detections += 1;
                    *summary.detections_by_level.entry(d.level()).or_default() += 1;
                    sink.detection(d);
                }
                spent.give_back(r.worker, r.detections);
                sink.file_done();
            }
        }
    });
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Detections the sink is done with, queued per worker thread so that the thread that
/// allocated them frees them (before it builds the detections of its next batch).
///
/// Freed on the reporting thread instead, every string of every detection was a cross-thread
/// free (in mimalloc an atomic push onto the owning page's list, collected later by its
/// thread, on memory the reporting thread first pulls from the other core's cache), and that
/// thread, which also writes the output, competes with the workers for the cores. Measured
/// with `vigil bench hunt` on the EVTX samples (2 threads): dropping the detections in the
/// worker instead of sending them lowered the decode+detect / decode-only ratio by about 0.06;
/// this queue, which still lends them to the sink, by 0.00-0.02, after which dropping them in
/// the worker measured no different (crate README).
struct Spent<T = Detection> {
    queues: Vec<Mutex<Vec<Vec<T>>>>,
}

impl<T> Spent<T> {
    fn new(workers: usize) -> Spent<T> {
        Spent {
            queues: (0..workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
        }
    }

    /// Queues `detections` for `worker` (nothing to do for an empty list).
    fn give_back(&self, worker: usize, detections: Vec<T>) {
        if detections.capacity() == 0 {
            return;
        }
        let queue = &self.queues[worker % self.queues.len()];
        queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(detections);
    }

    /// Frees what was queued for `worker` (called on that worker's thread). Takes the queue
    /// under the lock and frees outside it, so the reporting thread never waits for the frees.
    fn free(&self, worker: usize) {
        let queue = &self.queues[worker % self.queues.len()];
        let taken = std::mem::take(&mut *queue.lock().unwrap_or_else(|e| e.into_inner()));
        drop(taken);
    }
}

/// A worker thread's engine scratch and match buffer.
type ThreadScratch = (Scratch, Vec<(u32, vigil_sigma::engine::RuleMatch)>);

/// Events decoded before they are run through the engine together. Small: a batch's events
/// are held in memory between decoding and detection (≈ 4.4 KB each over the EVTX samples,
/// measured as the RSS of the decoded events), and a batch of 128 filled over half of a
/// core's L2, evicting the automata (2026-12-03: 8, 24 or 48 all measured ≈ 0.03 lower ratio
/// than 128 on `vigil bench hunt`, crates/vigil-detect/README.md).
const BATCH: usize = 24;

/// What every file of a hunt is decoded and detected with.
#[derive(Clone, Copy)]
struct Job<'a> {
    engine: &'a Engine,
    opts: &'a HuntOptions,
    decode: &'a DecodeOptions,
    input: &'a InputSpec,
    spent: &'a Spent,
}

fn hunt_file(
    index: usize,
    path: &std::path::Path,
    job: &Job<'_>,
    worker: usize,
    scratch: &mut Scratch,
    matches: &mut Vec<(u32, vigil_sigma::engine::RuleMatch)>,
) -> FileResult {
    let Job {
        engine,
        opts,
        decode,
        input,
        spent,
    } = *job;
    let mut detections = Vec::new();
    let mut errors = Vec::new();
    let mut events = 0u64;
    let mut logsources: Vec<(LogSource, u64)> = Vec::new();
    // Events are detected in batches rather than one by one as decoded: the decoder and the
    // engine each keep their working set in cache for a whole batch instead of evicting each
    // other on every event (measured: the same instructions ran markedly slower interleaved).
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    let mut intel_buf = Vec::new();
    let mut run_batch = |batch: &mut Vec<Event>, detections: &mut Vec<Detection>| {
        // The previous file's detections are back from the sink by now (this file's first
        // batch took a while to decode): freed before new ones are built, they leave their
        // memory warm for them.
        let started = profile::ticks();
        spent.free(worker);
        let detecting = profile::ticks();
        detect_batch(
            engine,
            batch,
            scratch,
            matches,
            opts.min_level,
            detections,
            |event, start, detections| {
                if let Some(intel) = &opts.intel {
                    // When rules fired, their detections hold the event's entities: matched
                    // as they are rather than extracted again.
                    match detections.get(start).map(|d| Arc::clone(&d.entities)) {
                        Some(e) => detect_intel_with(
                            intel,
                            event,
                            &e,
                            &mut intel_buf,
                            opts.min_level,
                            detections,
                        ),
                        None => {
                            detect_intel(intel, event, &mut intel_buf, opts.min_level, detections)
                        }
                    }
                }
            },
        );
        let in_detect = profile::ticks().wrapping_sub(detecting);
        batch.clear();
        let batch_ticks = profile::ticks().wrapping_sub(started);
        profile::stage(Stage::BatchRest, batch_ticks.wrapping_sub(in_detect), 0);
        batch_ticks
    };
    // With vigil-sigma's `profile` feature: the file's time outside detection batches is
    // decoding (alone in a decode-only pass, beside detection otherwise).
    let started = profile::ticks();
    let mut in_batches = 0;
    let result = decode_file_as(
        path,
        decode,
        input,
        &mut |event| {
            events += 1;
            count_logsource(&mut logsources, &event.logsource);
            if !opts.decode_only {
                batch.push(event);
                if batch.len() == BATCH {
                    in_batches += run_batch(&mut batch, &mut detections);
                }
            }
        },
        &mut |e| errors.push(e),
    );
    in_batches += run_batch(&mut batch, &mut detections);
    let decoding = profile::ticks()
        .wrapping_sub(started)
        .wrapping_sub(in_batches);
    let stage = if opts.decode_only {
        Stage::DecodingAlone
    } else {
        Stage::DecodingBesideDetection
    };
    profile::stage(stage, decoding, events);
    let (failure, format, bytes) = match result {
        Ok(stats) => (None, Some(stats.format.to_string()), stats.bytes),
        Err(e) => (Some(e), None, 0),
    };
    FileResult {
        index,
        worker,
        detections,
        errors,
        failure,
        format,
        events,
        bytes,
        logsources,
    }
}

/// Counts one event's logsource; consecutive events mostly share theirs, so the last entry
/// is tried first and nothing is cloned for them.
fn count_logsource(counts: &mut Vec<(LogSource, u64)>, logsource: &LogSource) {
    if let Some(last) = counts.last_mut()
        && last.0 == *logsource
    {
        last.1 += 1;
        return;
    }
    match counts.iter_mut().find(|(l, _)| l == logsource) {
        Some(entry) => entry.1 += 1,
        None => counts.push((logsource.clone(), 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::Spent;
    use std::sync::{Arc, Mutex};
    use std::thread::ThreadId;

    /// Records the thread it is dropped on.
    struct Marker(Arc<Mutex<Vec<ThreadId>>>);

    impl Drop for Marker {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(std::thread::current().id());
        }
    }

    /// Frees worker `w`'s queue on a thread of its own; returns that thread's id.
    fn free_on_a_new_thread(spent: &Spent<Marker>, w: usize) -> ThreadId {
        std::thread::scope(|s| {
            s.spawn(|| {
                spent.free(w);
                std::thread::current().id()
            })
            .join()
            .unwrap()
        })
    }

    #[test]
    fn given_back_detections_are_freed_by_their_worker() {
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let spent: Spent<Marker> = Spent::new(2);
        // The reporting thread gives back one list to each worker, and an empty one.
        spent.give_back(0, vec![Marker(dropped.clone()), Marker(dropped.clone())]);
        spent.give_back(1, vec![Marker(dropped.clone())]);
        spent.give_back(1, Vec::new());
        assert!(
            dropped.lock().unwrap().is_empty(),
            "nothing is freed on give-back"
        );
        let worker0 = free_on_a_new_thread(&spent, 0);
        assert_eq!(*dropped.lock().unwrap(), vec![worker0, worker0]);
        // Worker 1's list is still queued; freeing again frees nothing more for worker 0.
        spent.free(0);
        assert_eq!(dropped.lock().unwrap().len(), 2);
        let worker1 = free_on_a_new_thread(&spent, 1);
        assert_eq!(dropped.lock().unwrap()[2..], [worker1]);
    }
}
