//! Decode throughput over the shared corpora, with a plain `serde_json::Value` parse of the
//! same JSON bytes as the baseline.
//!
//! `cargo bench -p vigil-ingest --bench decode` (skips, saying so, without the corpus).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_core::corpus::corpus_path;
use vigil_ingest::{DecodeOptions, decode_bytes};

/// Every file with extension `ext` under `dir`, read into memory.
fn load(dir: PathBuf, ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Decodes every file; returns the number of events.
fn decode_all(files: &[(String, Vec<u8>)], threads: usize) -> u64 {
    let opts = DecodeOptions {
        evtx_threads: threads,
    };
    let mut events = 0;
    for (name, bytes) in files {
        let stats =
            decode_bytes(name, bytes, &opts, &mut |e| drop(black_box(e)), &mut |_| {}).unwrap();
        events += stats.events;
    }
    events
}

fn bench(c: &mut Criterion) {
    let (Some(evtx_dir), Some(json_dir)) = (
        corpus_path("evtx-attack-samples"),
        corpus_path("security-datasets/windows"),
    ) else {
        return;
    };
    let evtx = load(evtx_dir, "evtx");
    let evtx_bytes: usize = evtx.iter().map(|(_, b)| b.len()).sum();
    let evtx_events = decode_all(&evtx, 1);
    eprintln!(
        "evtx-attack-samples: {} files, {evtx_bytes} bytes, {evtx_events} events",
        evtx.len()
    );
    for (unit, throughput) in [
        ("events", Throughput::Elements(evtx_events)),
        ("bytes", Throughput::Bytes(evtx_bytes as u64)),
    ] {
        let mut group = c.benchmark_group(format!("evtx_{unit}"));
        group.throughput(throughput);
        for threads in [1, 2] {
            group.bench_function(format!("decode_threads_{threads}"), |b| {
                b.iter(|| decode_all(&evtx, threads))
            });
        }
        group.finish();
    }

    // The two multi-chunk files (17 and 25 chunks), where chunk workers have work to share.
    let large: Vec<_> = evtx
        .iter()
        .filter(|(name, _)| name.contains("anache"))
        .cloned()
        .collect();
    let large_events = decode_all(&large, 1);
    let mut group = c.benchmark_group("evtx_large_files_events");
    group.throughput(Throughput::Elements(large_events));
    for threads in [1, 2] {
        group.bench_function(format!("decode_threads_{threads}"), |b| {
            b.iter(|| decode_all(&large, threads))
        });
    }
    // What the `evtx` crate alone costs on one thread: rendering to JSON bytes (the first
    // half of our route), and its `records_json_value` (the obvious alternative route).
    let evtx_only = |value: bool| {
        let mut n = 0u64;
        for (_, bytes) in &large {
            let settings = evtx::ParserSettings::new().num_threads(1).indent(false);
            let mut parser = evtx::EvtxParser::from_buffer(bytes.clone())
                .unwrap()
                .with_configuration(settings);
            if value {
                n += parser
                    .records_json_value()
                    .filter_map(Result::ok)
                    .map(black_box)
                    .count() as u64;
            } else {
                n += parser
                    .records_json_bytes()
                    .filter_map(Result::ok)
                    .map(black_box)
                    .count() as u64;
            }
        }
        n
    };
    group.bench_function("evtx_crate_json_bytes_only", |b| {
        b.iter(|| evtx_only(false))
    });
    group.bench_function("evtx_crate_records_json_value", |b| {
        b.iter(|| evtx_only(true))
    });
    group.finish();

    let json = load(json_dir, "json");
    let json_bytes: usize = json.iter().map(|(_, b)| b.len()).sum();
    let json_events = decode_all(&json, 1);
    eprintln!(
        "security-datasets/windows: {} files, {json_bytes} bytes, {json_events} events",
        json.len()
    );
    let mut group = c.benchmark_group("json_security_datasets");
    group.throughput(Throughput::Elements(json_events));
    group.bench_function("decode", |b| b.iter(|| decode_all(&json, 1)));
    // Baseline: what parsing the same records into `serde_json::Value` alone costs.
    group.bench_function("serde_json_value_baseline", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for (_, bytes) in &json {
                for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                    black_box(v);
                    n += 1;
                }
            }
            n
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
