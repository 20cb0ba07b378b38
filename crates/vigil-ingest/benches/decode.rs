//! Decode throughput over the shared corpora, with a plain `serde_json::Value` parse of the
//! same JSON bytes as the baseline (for the text formats, a split into lines and fields).
//!
//! `cargo bench -p vigil-ingest --bench decode` (skips, saying so, without the corpus).
//! One format: `cargo bench -p vigil-ingest --bench decode -- zeek_tsv`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_core::corpus::corpus_path;
use vigil_ingest::{DecodeOptions, Format, decode_bytes};

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
    bench_windows(c);
    bench_xdr(c);
}

fn bench_windows(c: &mut Criterion) {
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

/// What a format's decoder is compared with, on the same bytes.
#[derive(Clone, Copy)]
enum Baseline {
    /// `serde_json::Value` for every JSON value in the bytes (NDJSON, arrays, envelopes).
    JsonValue,
    /// Lines split on `\n`, `#` header lines skipped, each line split on `\t` (Zeek TSV).
    TabFields,
    /// Lines split on `\n`, each line split on spaces, `key=value` words split at `=`
    /// (auditd, syslog).
    SpaceFields,
}

impl Baseline {
    fn name(self) -> &'static str {
        match self {
            Baseline::JsonValue => "serde_json_value_baseline",
            Baseline::TabFields => "split_lines_tabs_baseline",
            Baseline::SpaceFields => "split_lines_words_baseline",
        }
    }

    /// Runs the baseline over every file; returns what it found (values or fields) so the
    /// work cannot be optimised away.
    fn run(self, files: &[(String, Vec<u8>)]) -> u64 {
        let mut n = 0u64;
        for (_, bytes) in files {
            match self {
                Baseline::JsonValue => {
                    let values = serde_json::Deserializer::from_slice(bytes)
                        .into_iter::<serde_json::Value>();
                    for v in values {
                        black_box(v.unwrap());
                        n += 1;
                    }
                }
                Baseline::TabFields => {
                    for line in bytes.split(|&b| b == b'\n') {
                        if line.is_empty() || line[0] == b'#' {
                            continue;
                        }
                        for field in line.split(|&b| b == b'\t') {
                            black_box(field);
                            n += 1;
                        }
                    }
                }
                Baseline::SpaceFields => {
                    for line in bytes.split(|&b| b == b'\n') {
                        for word in line.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
                            let (k, v) = match word.iter().position(|&b| b == b'=') {
                                Some(i) => (&word[..i], &word[i + 1..]),
                                None => (word, &word[..0]),
                            };
                            black_box((k, v));
                            n += 1;
                        }
                    }
                }
            }
        }
        n
    }
}

/// One format's group: the decoder and its baseline over `files`, throughput in records (the
/// decoder's events) and bytes.
fn format_group(c: &mut Criterion, name: &str, files: &[(String, Vec<u8>)], baseline: Baseline) {
    if files.is_empty() {
        eprintln!("{name}: no input in the corpus, skipped");
        return;
    }
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let events = decode_all(files, 1);
    eprintln!(
        "{name}: {} files, {bytes} bytes, {events} events",
        files.len()
    );
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::ElementsAndBytes {
        elements: events,
        bytes: bytes as u64,
    });
    group.bench_function("decode", |b| b.iter(|| decode_all(files, 1)));
    group.bench_function(baseline.name(), |b| b.iter(|| baseline.run(files)));
    group.finish();
}

/// Every file under `dir` (recursively, sorted) that decodes as `format` without errors,
/// read into memory; gzip files are left out so the baseline reads the same bytes.
fn load_format(dir: PathBuf, formats: &[Format]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                continue;
            }
            let name = path.display().to_string();
            let stats = decode_bytes(
                &name,
                &bytes,
                &DecodeOptions::default(),
                &mut |_| {},
                &mut |_| {},
            );
            if let Ok(s) = stats
                && formats.contains(&s.format)
                && s.errors == 0
            {
                out.push((name, bytes));
            }
        }
    }
    out.sort();
    out
}

/// The raw logs inside Panther's rule-test lines (`{"log": {…}}`), one NDJSON blob per
/// product (by the logsource the decoder gives each), each repeated `copies` times so one
/// iteration is long enough to time.
fn panther_logs(path: PathBuf, copies: usize) -> Vec<(String, Vec<u8>)> {
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let mut by_product: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    for line in text.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let log = serde_json::to_vec(&case["log"]).unwrap();
        let mut product = None;
        // A log no decoder reads (a fragment) is left out.
        let _ = decode_bytes(
            "log.json",
            &log,
            &DecodeOptions::default(),
            &mut |e| product = e.logsource.product.clone(),
            &mut |_| {},
        );
        if let Some(p) = product {
            let blob = by_product.entry(p).or_default();
            blob.extend_from_slice(&log);
            blob.push(b'\n');
        }
    }
    by_product
        .into_iter()
        .map(|(p, blob)| (p, blob.repeat(copies)))
        .collect()
}

/// OTRF's two auditd captures (3 events) repeated `copies` times, each copy's serials moved
/// past the previous ones so the copies stay separate events.
fn auditd_copies(dir: PathBuf, copies: u64) -> Vec<(String, Vec<u8>)> {
    let mut text = String::new();
    for name in [
        "sh_arp_cache_2020-11-10074812.log",
        "sh_binary_padding_dd_2020-11-10081941.log",
    ] {
        let Ok(t) = std::fs::read_to_string(dir.join(name)) else {
            return Vec::new();
        };
        text.push_str(&t);
    }
    let mut out = String::with_capacity(text.len() * copies as usize);
    for copy in 0..copies {
        for line in text.lines() {
            // `msg=audit(1604996384.965:93777):` → serial 93777 + copy * 1_000_000.
            let serial = line.find("msg=audit(").and_then(|at| {
                let colon = at + line[at..].find(':')?;
                let close = colon + line[colon..].find(')')?;
                Some((colon, close, line[colon + 1..close].parse::<u64>().ok()?))
            });
            match serial {
                Some((colon, close, n)) => {
                    out.push_str(&line[..=colon]);
                    out.push_str(&(n + copy * 1_000_000).to_string());
                    out.push_str(&line[close..]);
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
    }
    vec![("otrf-auditd-copies.log".into(), out.into_bytes())]
}

/// The network, cloud, identity and Linux formats, one group each.
fn bench_xdr(c: &mut Criterion) {
    let Some(data) = vigil_core::corpus::corpus_dir() else {
        eprintln!("no corpus: XDR decode benchmarks skipped");
        return;
    };
    let zeek = data.join("zeek");
    format_group(
        c,
        "zeek_tsv",
        &load_format(zeek.clone(), &[Format::ZeekTsv]),
        Baseline::TabFields,
    );
    format_group(
        c,
        "zeek_json",
        &load_format(zeek, &[Format::ZeekJson]),
        Baseline::JsonValue,
    );
    format_group(
        c,
        "suricata_eve",
        &load_format(data.join("suricata"), &[Format::SuricataEve]),
        Baseline::JsonValue,
    );
    format_group(
        c,
        "cloudtrail",
        &load_format(
            data.join("cloudtrail/invictus-aws-dataset"),
            &[Format::CloudTrail],
        ),
        Baseline::JsonValue,
    );
    let identity = panther_logs(
        data.join("identity/panther-analysis/identity_rule_tests.jsonl"),
        20,
    );
    for product in ["okta", "azure", "auth0"] {
        let files: Vec<_> = identity
            .iter()
            .filter(|(p, _)| p == product)
            .cloned()
            .collect();
        format_group(
            c,
            &format!("identity_{product}"),
            &files,
            Baseline::JsonValue,
        );
    }
    format_group(
        c,
        "auditd",
        &auditd_copies(data.join("linux/otrf-security-datasets"), 2000),
        Baseline::SpaceFields,
    );
    format_group(
        c,
        "syslog",
        &load_format(data.join("linux/loghub"), &[Format::Syslog]),
        Baseline::SpaceFields,
    );
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
