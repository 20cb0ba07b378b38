//! Matcher benchmarks: loading and compiling N generated indicators of mixed kinds, and the
//! per-event match cost of an event with ten entity values, against a plain `HashSet<String>`
//! doing the same lookups; plus the ratio to decoding on the Zeek corpus.
//!
//! `cargo bench -p vigil-intel --bench matcher` runs at N = 1,000,000; the load
//! target is for 10 million: `VIGIL_INTEL_N=10000000 cargo bench -p vigil-intel --bench
//! matcher`. Before the criterion groups, one load is timed and its memory read from
//! /proc/self/status (RSS growth and peak), printed as `load: …`; with `VIGIL_INTEL_LOAD_ONLY`
//! set, that is all it does (for `perf record` and back-to-back load runs). With
//! `VIGIL_INTEL_MATCH_ONLY` set it prints the best and median per-event matching cost of
//! 400 passes instead of running criterion (see `report_match`).

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use jiff::Timestamp;
use vigil_core::{Entities, EntityField as F, HashAlgorithm as H};
use vigil_intel::{IndicatorKind as K, IntelSet, Matcher, NewIndicator, Source};

/// The allocator of the `vigil` binary (crates/vigil/src/main.rs), so that these figures are
/// what it runs. Remove these two lines to measure with the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Indicators to generate: `VIGIL_INTEL_N`, default one million.
fn n() -> usize {
    std::env::var("VIGIL_INTEL_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// SplitMix64: deterministic values without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(digits);
        s
    }
}

/// The i-th generated indicator: 30% IPv4 addresses, 4% IPv4 blocks, 2% IPv6, 25% domains,
/// 15% URLs, 21% hashes (MD5, SHA-1, SHA-256), 3% e-mail addresses.
fn indicator(rng: &mut Rng, i: usize) -> (K, String) {
    let r = rng.next();
    let ip4 = |r: u64| {
        format!(
            "{}.{}.{}.{}",
            (r >> 24) as u8,
            (r >> 16) as u8,
            (r >> 8) as u8,
            r as u8
        )
    };
    match i % 100 {
        0..30 => (K::Ipv4, ip4(r)),
        30..34 => (
            K::Ipv4,
            format!("{}/{}", ip4(r & !0xff), 16 + (r >> 40) % 9),
        ),
        34..36 => (
            K::Ipv6,
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                (r >> 48) as u16,
                (r >> 32) as u16,
                r as u16
            ),
        ),
        36..61 => (
            K::Domain,
            format!("{}.example{}.com", rng.hex(10), r % 1000),
        ),
        61..76 => (
            K::Url,
            format!("http://{}.example.net/{}/gate.php", rng.hex(8), rng.hex(6)),
        ),
        76..83 => (K::Md5, rng.hex(32)),
        83..90 => (K::Sha1, rng.hex(40)),
        90..97 => (K::Sha256, rng.hex(64)),
        _ => (K::Email, format!("{}@example{}.org", rng.hex(8), r % 100)),
    }
}

fn generate(n: usize) -> Vec<(K, String)> {
    let mut rng = Rng(42);
    (0..n).map(|i| indicator(&mut rng, i)).collect()
}

fn load(values: &[(K, String)]) -> IntelSet {
    let mut set = IntelSet::new();
    // One feed name shared, as importers do.
    let feed: std::sync::Arc<str> = "generated".into();
    let news = values.iter().map(|(k, v)| {
        let source = Source {
            feed: feed.clone(),
            external_id: None,
            first_seen: None,
            last_seen: None,
        };
        NewIndicator::new(*k, v.clone(), source)
    });
    set.add_all(news, |i, r| {
        if let Err(e) = r {
            panic!("generated value {i} is invalid: {e}")
        }
    });
    set
}

/// (VmRSS, VmHWM) in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

fn now() -> Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

/// Events of ten entity values (ports are not looked up): one in `hit_every` carries a
/// value of `values`, the rest only values no indicator has.
fn events(values: &[(K, String)], count: usize, hit_every: usize) -> Vec<Entities<'static>> {
    let mut rng = Rng(7);
    (0..count)
        .map(|i| {
            let mut e = Entities::new();
            let r = rng.next();
            e.add_string(
                F::SrcIp,
                format!("10.{}.{}.{}", (r >> 16) as u8, (r >> 8) as u8, r as u8),
            );
            e.add_string(
                F::DstIp,
                format!("172.16.{}.{}", (r >> 24) as u8, (r >> 32) as u8),
            );
            e.add_int(F::SrcPort, 49152 + (r % 10000) as i64);
            e.add_int(F::DstPort, 443);
            e.add_string(
                F::QueryHostname,
                format!("www.{}.benign.example", rng.hex(6)),
            );
            e.add_string(F::TlsSni, format!("cdn{}.benign.example", r % 97));
            e.add_string(
                F::UrlString,
                format!(
                    "https://api.benign.example/v1/{}?id={}",
                    rng.hex(8),
                    r % 1000
                ),
            );
            e.add_string(
                F::UserAgent,
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64)".to_string(),
            );
            e.add_string(F::FileHash(H::Sha256), rng.hex(64).to_uppercase());
            e.add_string(F::ActorUserEmail, format!("user{}@corp.example", r % 500));
            if hit_every > 0 && i % hit_every == 0 {
                let (k, v) = &values[(r as usize) % values.len()];
                let field = match k {
                    K::Ipv4 | K::Ipv6 => F::DeviceIp,
                    K::Domain => F::UrlHostname,
                    K::Url => F::UrlString,
                    K::Email => F::ActorUserEmail,
                    K::Sha1 => F::FileHash(H::Sha1),
                    K::Sha256 => F::FileHash(H::Sha256),
                    _ => F::FileHash(H::Md5),
                };
                let v = v.split('/').next().unwrap_or(v).to_string();
                let mut hit = Entities::new();
                hit.add_string(field, v);
                for (f, x) in e.iter() {
                    if f != field {
                        hit.add_string(f, x.to_string());
                    }
                }
                return hit;
            }
            e
        })
        .collect()
}

/// The naive baseline: every value's text (lowercased for hashes and e-mail) looked up in one
/// `HashSet<String>` of every indicator value, names with their parents.
fn baseline(set: &HashSet<String>, e: &Entities<'_>) -> usize {
    let mut hits = 0;
    for (field, v) in e.iter() {
        let s = v.to_string();
        let s = match field.kind() {
            vigil_core::EntityKind::Hash | vigil_core::EntityKind::Email => s.to_lowercase(),
            _ => s,
        };
        hits += usize::from(set.contains(&s));
        if field.kind() == vigil_core::EntityKind::Domain {
            let mut rest = s.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                hits += usize::from(set.contains(parent));
                rest = parent;
            }
        }
    }
    hits
}

fn report_load(values: &[(K, String)]) {
    let (rss0, _) = memory();
    let t0 = Instant::now();
    let set = load(values);
    let t_set = t0.elapsed();
    let (rss1, _) = memory();
    let t1 = Instant::now();
    let m = Matcher::build(&set, now());
    let t_build = t1.elapsed();
    let (rss2, hwm) = memory();
    println!(
        "load: {} indicators ({} distinct): IntelSet filled in {:.2} s (+{:.0} MiB), Matcher built in {:.2} s (+{:.0} MiB); together {:.2} s, +{:.0} MiB RSS, peak RSS {:.0} MiB (the generated input strings alone held before: {:.0} MiB)",
        values.len(),
        set.len(),
        t_set.as_secs_f64(),
        rss1 - rss0,
        t_build.as_secs_f64(),
        rss2 - rss1,
        (t_set + t_build).as_secs_f64(),
        rss2 - rss0,
        hwm,
        rss0
    );
    black_box((set, m));
}

/// Timed passes of `report_match`: `VIGIL_INTEL_PASSES`, default 400 (more for `perf record`,
/// so that the replay outweighs the load before it).
fn passes() -> usize {
    std::env::var("VIGIL_INTEL_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&p| p > 0)
        .unwrap_or(400)
}

/// Per-event matching cost as the best and the median of 400 timed passes over the same
/// 1,000 events: on a shared machine the best pass is the one least disturbed by other
/// processes, where criterion's mean takes them all in.
fn report_match(values: &[(K, String)]) {
    let set = load(values);
    let m = Matcher::build(&set, now());
    let mut out = Vec::with_capacity(64);
    for (name, batch) in [
        ("1% with a hit", events(values, 1000, 100)),
        ("no match", events(values, 1000, 0)),
    ] {
        let mut passes: Vec<f64> = (0..passes())
            .map(|_| {
                let t = Instant::now();
                for e in &batch {
                    out.clear();
                    m.match_entities(e, &mut out);
                }
                black_box(out.len());
                t.elapsed().as_secs_f64() * 1e9 / batch.len() as f64
            })
            .collect();
        passes.sort_by(f64::total_cmp);
        // What the events match (addresses in the generated blocks match too).
        let matched: usize = batch
            .iter()
            .map(|e| {
                out.clear();
                m.match_entities(e, &mut out);
                out.len()
            })
            .sum();
        println!(
            "match ({name}), {} indicators: best {:.0} ns/event, median {:.0} ns/event ({matched} matches in {} events)",
            values.len(),
            passes[0],
            passes[passes.len() / 2],
            batch.len()
        );
    }
}

fn benches(c: &mut Criterion, values: &[(K, String)]) {
    let n = values.len();
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function(format!("intelset_fill_and_build/{n}"), |b| {
        b.iter_batched(
            || (),
            |()| {
                let set = load(values);
                Matcher::build(&set, now())
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    let set = load(values);
    let m = Matcher::build(&set, now());
    let plain: HashSet<String> = set.iter().map(|i| i.value().to_string()).collect();
    let batch = events(values, 1000, 100);
    let mut g = c.benchmark_group("match_event_10_values");
    g.throughput(Throughput::Elements(batch.len() as u64));
    let mut out = Vec::with_capacity(64);
    g.bench_function(format!("matcher/{n}"), |b| {
        b.iter(|| {
            let mut hits = 0;
            for e in &batch {
                out.clear();
                m.match_entities(e, &mut out);
                hits += out.len();
            }
            black_box(hits)
        })
    });
    g.bench_function(format!("hashset_string_baseline/{n}"), |b| {
        b.iter(|| batch.iter().map(|e| baseline(&plain, e)).sum::<usize>())
    });
    let misses = events(values, 1000, 0);
    g.bench_function(format!("matcher_no_match/{n}"), |b| {
        b.iter(|| {
            for e in &misses {
                out.clear();
                m.match_entities(e, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();

    // The matcher's cost beside decoding, on real Zeek http records.
    if let Some(path) =
        vigil_core::corpus::corpus_path("zeek/slips/test14-malicious-zeek-dir/http.log")
    {
        let bytes = std::fs::read(&path).expect("corpus file");
        let mut zeek = Vec::new();
        let opts = vigil_ingest::DecodeOptions::default();
        vigil_ingest::decode_bytes(
            "http.log",
            &bytes,
            &opts,
            &mut |e| zeek.push(e),
            &mut |_| {},
        )
        .expect("decodes");
        let mut g = c.benchmark_group("zeek_http");
        g.throughput(Throughput::Elements(zeek.len() as u64));
        g.bench_function("decode", |b| {
            b.iter(|| {
                let mut count = 0usize;
                vigil_ingest::decode_bytes(
                    "http.log",
                    &bytes,
                    &opts,
                    &mut |_| count += 1,
                    &mut |_| {},
                )
                .expect("decodes");
                count
            })
        });
        g.bench_function("entities", |b| {
            b.iter(|| {
                zeek.iter()
                    .map(|e| vigil_ingest::entities(e).len())
                    .sum::<usize>()
            })
        });
        g.bench_function(format!("entities_and_match/{n}"), |b| {
            b.iter(|| {
                for e in &zeek {
                    out.clear();
                    m.match_entities(&vigil_ingest::entities(e), &mut out);
                }
                black_box(out.len())
            })
        });
        g.finish();
    }
}

fn main() {
    let values = generate(n());
    report_load(&values);
    if std::env::var_os("VIGIL_INTEL_LOAD_ONLY").is_some() {
        return;
    }
    if std::env::var_os("VIGIL_INTEL_MATCH_ONLY").is_some() {
        report_match(&values);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &values);
    c.final_summary();
}
