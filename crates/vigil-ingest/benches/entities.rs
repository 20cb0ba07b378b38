//! What entity extraction costs beside decoding: per source family, decoding the corpus files
//! (the baseline), extracting the entities of every decoded event, and rendering them as OCSF
//! JSON. Entities are a view computed on demand, so decoding itself never pays for them.
//!
//! `cargo bench -p vigil-ingest --bench entities` (skips, saying so, without the corpus).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_core::Event;
use vigil_core::corpus::corpus_path;
use vigil_ingest::{DecodeOptions, decode_bytes, discover, entities};

/// The files under `dir` (as `discover` finds them), read into memory.
fn load(dir: &Path) -> Vec<(String, Vec<u8>)> {
    discover(&[dir.to_path_buf()])
        .unwrap()
        .into_iter()
        .map(|p: PathBuf| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

fn decode(files: &[(String, Vec<u8>)], on_event: &mut dyn FnMut(Event)) {
    let opts = DecodeOptions { evtx_threads: 1 };
    for (name, bytes) in files {
        // Files no decoder reads (CSV beside the logs) are not what is measured.
        let _ = decode_bytes(name, bytes, &opts, on_event, &mut |_| {});
    }
}

fn bench(c: &mut Criterion) {
    for (label, dir) in [
        ("windows_evtx", "evtx-attack-samples"),
        ("windows_otrf", "security-datasets/windows"),
        ("zeek", "zeek/slips"),
        ("suricata", "suricata"),
        ("cloudtrail", "cloudtrail/invictus-aws-dataset"),
        ("linux", "linux"),
    ] {
        let Some(dir) = corpus_path(dir) else {
            return;
        };
        let files = load(&dir);
        let mut events = Vec::new();
        decode(&files, &mut |e| events.push(e));
        let mut group = c.benchmark_group(format!("entities_{label}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(events.len() as u64));
        group.bench_function("decode", |b| {
            b.iter(|| decode(&files, &mut |e| drop(black_box(e))))
        });
        group.bench_function("extract", |b| {
            b.iter(|| {
                events
                    .iter()
                    .map(|e| black_box(entities(e)).len())
                    .sum::<usize>()
            })
        });
        group.bench_function("extract_json", |b| {
            b.iter(|| {
                for e in &events {
                    black_box(entities(e).to_json());
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
