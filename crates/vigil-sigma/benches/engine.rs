//! The compiled engine against naive evaluation: all SigmaHQ rules over a fixed event set (every
//! event of the EVTX attack samples and the Security-Datasets Windows JSON).
//!
//! Rerun: `cargo bench -p vigil-sigma --bench engine` (needs the corpus: `../shared/data` or
//! `VIGIL_CORPUS`). The number that matters is the ratio of the two throughputs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_core::Event;
use vigil_core::corpus::corpus_path;
use vigil_sigma::engine::{Engine, Scratch};
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::{SigmaConfig, load_rules};

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, ext, out);
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(ext))
        {
            out.push(path);
        }
    }
}

fn setup() -> Option<(Engine, Vec<Event>)> {
    let sigma = corpus_path("sigma")?;
    let dirs = [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-placeholder",
        "rules-compliance",
    ];
    let paths: Vec<PathBuf> = dirs.iter().map(|d| sigma.join(d)).collect();
    // The sample placeholder values let the rules-placeholder rules load too.
    let placeholders = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/placeholders-sample.yml");
    let config = SigmaConfig::from_file(&placeholders).expect("sample placeholders parse");
    let set = load_rules(&paths, &config);
    let (engine, _) = Engine::compile(set.rules, &LogsourceMapping::builtin());

    let mut files = Vec::new();
    collect(&corpus_path("evtx-attack-samples")?, "evtx", &mut files);
    collect(
        &corpus_path("security-datasets/windows")?,
        "json",
        &mut files,
    );
    files.sort();
    let mut events = Vec::new();
    let opts = vigil_ingest::DecodeOptions::default();
    for f in &files {
        let _ = vigil_ingest::decode_file(f, &opts, &mut |e| events.push(e), &mut |_| {});
    }
    Some((engine, events))
}

fn bench(c: &mut Criterion) {
    let Some((engine, events)) = setup() else {
        eprintln!("corpus missing: nothing to benchmark");
        return;
    };
    eprintln!(
        "{} events, {} rules, {:?}",
        events.len(),
        engine.len(),
        engine.stats()
    );
    let mut group = c.benchmark_group("sigmahq");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(events.len() as u64));
    let mut scratch = Scratch::new(&engine);
    let mut out = Vec::new();
    group.bench_function("evaluate", |b| {
        b.iter(|| {
            let mut n = 0;
            for e in &events {
                engine.evaluate(e, &mut scratch, &mut out);
                n += out.len();
            }
            n
        })
    });
    // As `vigil hunt` evaluates: batches of 24 events, candidates verified rule by rule.
    let mut batched = Vec::new();
    group.bench_function("evaluate_batch", |b| {
        b.iter(|| {
            let mut n = 0;
            for batch in events.chunks(24) {
                engine.evaluate_batch(batch, &mut scratch, &mut batched);
                n += batched.len();
            }
            n
        })
    });
    group.bench_function("evaluate_naive", |b| {
        b.iter(|| {
            let mut n = 0;
            for e in &events {
                engine.evaluate_naive(e, &mut out);
                n += out.len();
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
