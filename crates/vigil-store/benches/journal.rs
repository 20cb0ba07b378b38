//! Durable append throughput: N concurrent appenders, each appending a record and waiting for
//! its acknowledgement (after the fsync covering it) before appending the next — what an
//! ingest handler does. One iteration = one acknowledged append, so criterion's `elem/s` is
//! durable appends per second; multiply by the record size for bytes per second.
//!
//! Run: `cargo bench -p vigil-store --bench journal`. The journal lives under cargo's target
//! directory (a real disk, not tmpfs), or under `$VIGIL_BENCH_DIR` when set.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigil_store::journal::{Journal, JournalOptions, JournalStats, RetentionPolicy};

fn bench_dir() -> PathBuf {
    std::env::var_os("VIGIL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

/// `iters` acknowledged appends spread over `appenders` threads; returns the wall time.
fn run(journal: &Journal, appenders: u64, record: &Arc<Vec<u8>>, iters: u64) -> Duration {
    let per_thread = iters.div_ceil(appenders);
    let start = Instant::now();
    let threads: Vec<_> = (0..appenders)
        .map(|_| {
            let journal = journal.clone();
            let record = record.clone();
            thread::spawn(move || {
                for _ in 0..per_thread {
                    journal.append(&record).unwrap().wait().unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let elapsed = start.elapsed();
    // Scale to the requested count (threads may have done a few more) and keep the disk tidy.
    let done = per_thread * appenders;
    journal
        .commit_consumer("bench", journal.durable_end())
        .unwrap();
    journal
        .apply_retention(&RetentionPolicy::default())
        .unwrap();
    elapsed.mul_f64(iters as f64 / done as f64)
}

fn durable_appends(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    journal.register_consumer("bench").unwrap();
    for (label, size) in [("1KiB", 1024usize), ("64KiB", 64 * 1024)] {
        let mut group = c.benchmark_group(format!("journal_durable_append_{label}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(2));
        group.measurement_time(Duration::from_secs(6));
        group.throughput(Throughput::Elements(1));
        let record = Arc::new(vec![0x5a; size]);
        for appenders in [1u64, 8, 64] {
            let before = journal.stats();
            group.bench_with_input(
                BenchmarkId::new("appenders", appenders),
                &appenders,
                |b, &appenders| b.iter_custom(|iters| run(&journal, appenders, &record, iters)),
            );
            report_batching(
                &journal,
                &before,
                &format!("{label}, {appenders} appenders"),
            );
        }
        group.finish();
    }
}

/// Prints the group-commit factor (records per fsynced batch) over one benchmark.
fn report_batching(journal: &Journal, before: &JournalStats, what: &str) {
    let after = journal.stats();
    let records = after.records - before.records;
    let batches = (after.batches - before.batches).max(1);
    eprintln!(
        "{what}: {records} records in {batches} batches, {:.1} records per fsync",
        records as f64 / batches as f64
    );
}

/// One thread appending without waiting, then waiting once for the last ticket: the upper
/// bound when the server appends many events per request and acknowledges the request once.
fn pipelined_appends(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    journal.register_consumer("bench").unwrap();
    let mut group = c.benchmark_group("journal_pipelined_append");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Elements(1));
    for (label, size) in [("1KiB", 1024usize), ("64KiB", 64 * 1024)] {
        let record = vec![0x5a; size];
        let before = journal.stats();
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut last = None;
                for _ in 0..iters {
                    last = Some(journal.append(&record).unwrap());
                }
                last.unwrap().wait().unwrap();
                let elapsed = start.elapsed();
                journal
                    .commit_consumer("bench", journal.durable_end())
                    .unwrap();
                journal
                    .apply_retention(&RetentionPolicy::default())
                    .unwrap();
                elapsed
            })
        });
        report_batching(&journal, &before, &format!("{label}, pipelined"));
    }
    group.finish();
}

criterion_group!(benches, durable_appends, pipelined_appends);
criterion_main!(benches);
