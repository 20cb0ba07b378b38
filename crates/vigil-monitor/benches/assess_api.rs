//! What `GET /api/v1/incidents` (and every other assessment route) costs with a full alert
//! store: `assess_with` over a real SQLite state database holding `VIGIL_ASSESS_ALERTS`
//! alerts (default 100,000, the default `max_alerts`) of the last 30 days, spread over 10,000
//! hosts, 2,000 users and 500 rules in clusters of a few alerts, as an attack or a noisy job
//! makes them.
//!
//! `cargo bench -p vigil-monitor --bench assess_api`. It prints the one-shot fill and first
//! assessment (`data: …`), then the criterion group `assess_api`: `read_alerts` (listing the
//! period's alerts from SQLite, the read every assessment starts with) and `assess_with`
//! (read + score + group + summaries), so the share of reading is their ratio; and
//! `assess_cached` (the server's routes: the alert cache reads only what changed since its
//! last read, here nothing, and reuses its last scoring and grouping) and
//! `assess_cached_new_alert` (one alert written before each call: read incrementally,
//! grouped anew).

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use jiff::{SignedDuration, Timestamp};
use vigil_core::Level;
use vigil_monitor::assess::{
    AlertCache, AssessSettings, Decisions, Inventory, assess_cached, assess_with,
};
use vigil_store::state::{
    AlertEntities, AlertFilter, AlertStore, DedupPolicy, EventRef, Evidence, NewAlert, RuleRef,
    SqliteStore, StateOptions,
};

fn n() -> usize {
    std::env::var("VIGIL_ASSESS_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
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

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TACTICS: [&str; 6] = [
    "attack.execution",
    "attack.persistence",
    "attack.credential-access",
    "attack.lateral-movement",
    "attack.defense-evasion",
    "attack.discovery",
];

/// `n` alerts in clusters of 1–8 about one host within an hour, over the last 30 days. Each
/// has its own record id so the store's dedup keeps every one as its own alert.
fn alerts(n: usize, now: Timestamp) -> Vec<NewAlert> {
    let mut rng = Rng(7);
    let mut out = Vec::with_capacity(n);
    let mut record = 0u64;
    while out.len() < n {
        let host = format!("host{:05}", rng.below(10_000));
        let user = format!("user{:04}", rng.below(2_000));
        let start = now - SignedDuration::from_secs(rng.below(30 * 24 * 3600) as i64);
        for _ in 0..=rng.below(8) {
            record += 1;
            let rule = rng.below(500);
            let time = start + SignedDuration::from_secs(rng.below(3600) as i64);
            out.push(NewAlert {
                rule: RuleRef {
                    id: format!("rule-{rule:03}"),
                    title: format!("Rule {rule}"),
                    level: [Level::Low, Level::Medium, Level::High, Level::Critical]
                        [(rule % 4) as usize],
                    status: Some("test".into()),
                    tags: vec![TACTICS[(rule % 6) as usize].into()],
                },
                event: EventRef {
                    source: "bench".into(),
                    record_id: Some(record),
                    offset: Some(record),
                    time: Some(time),
                },
                entities: AlertEntities {
                    host: Some(host.clone()),
                    user: Some(user.clone()),
                    src_ip: None,
                    dst_ip: None,
                },
                evidence: vec![Evidence {
                    search: "selection".into(),
                    field: Some("CommandLine".into()),
                    value: format!("cmd.exe /c job {record}"),
                    pattern: "*job*".into(),
                }],
            });
            if out.len() == n {
                break;
            }
        }
    }
    out
}

fn main() {
    let n = n();
    let dir = tempfile::tempdir().expect("temp dir");
    let now = Timestamp::now();
    let options = StateOptions {
        // Stored alerts were written over past days, not in the last minute: stamp the fill
        // ten minutes back, outside the cache's re-read overlap (CHANGE_SLACK).
        clock: std::sync::Arc::new(|| Timestamp::now() - SignedDuration::from_mins(10)),
        dedup: DedupPolicy {
            // Every alert its own: the store holds `n` alerts, as the route would read.
            window: std::time::Duration::from_secs(0),
            ..DedupPolicy::default()
        },
        ..StateOptions::default()
    };
    let store = SqliteStore::open(dir.path().join("state.db"), options).expect("state db");
    let t = Instant::now();
    for chunk in alerts(n, now).chunks(1_000) {
        store.record_batch(chunk).expect("record");
    }
    let fill = t.elapsed();
    let inventory = Inventory::new(dir.path());
    let settings = AssessSettings::default();
    let decisions = Decisions::default();
    let t = Instant::now();
    let first = assess_with(&store, &inventory, &settings, now, &decisions).expect("assess");
    println!(
        "data: {n} alerts stored in {:.1} s; first assessment {:.2} s: {} incidents",
        fill.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        first.incidents.len()
    );

    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let mut g = c.benchmark_group("assess_api");
    g.bench_function("read_alerts", |b| {
        b.iter(|| {
            let mut filter = AlertFilter {
                since: Some(now - SignedDuration::from_hours(30 * 24)),
                limit: Some(AlertFilter::MAX_LIMIT),
                ..AlertFilter::default()
            };
            let mut count = 0;
            loop {
                let page = store.list(&filter).expect("list");
                count += page.items.len();
                match page.next_cursor {
                    Some(c) => filter.cursor = Some(c),
                    None => break,
                }
            }
            black_box(count)
        })
    });
    g.bench_function("assess_with", |b| {
        b.iter(|| {
            let a = assess_with(&store, &inventory, &settings, now, &decisions).expect("assess");
            black_box(a.incidents.len())
        })
    });
    // The server's way: through the alert cache, nothing written since its last read (the
    // first read is made before timing): the alerts and the grouping are reused, only cases,
    // plans and SLA clocks are applied anew. The clock moves on as in the server.
    let cache = AlertCache::default();
    let now = Timestamp::now;
    assess_cached(&store, &cache, &inventory, &settings, now(), &decisions).expect("assess");
    g.bench_function("assess_cached", |b| {
        b.iter(|| {
            let a = assess_cached(&store, &cache, &inventory, &settings, now(), &decisions)
                .expect("assess");
            black_box(a.incidents.len())
        })
    });
    // A live server: one new alert written before each assessment (through a second
    // connection stamping writes with the real clock, so the cache reads it as new), so the
    // alerts are read incrementally but scored and grouped anew every time.
    let live = SqliteStore::open(
        dir.path().join("state.db"),
        StateOptions {
            dedup: DedupPolicy {
                window: std::time::Duration::from_secs(0),
                ..DedupPolicy::default()
            },
            ..StateOptions::default()
        },
    )
    .expect("second connection");
    let template = alerts(1, now()).remove(0);
    let mut written = 0u64;
    g.bench_function("assess_cached_new_alert", |b| {
        b.iter(|| {
            // Each its own record: a new alert, never a repeat of an earlier hit.
            written += 1;
            let mut alert = template.clone();
            alert.event.record_id = Some(10_000_000 + written);
            alert.event.offset = Some(10_000_000 + written);
            live.record(&alert).expect("record");
            let a = assess_cached(&store, &cache, &inventory, &settings, now(), &decisions)
                .expect("assess");
            black_box(a.incidents.len())
        })
    });
    g.finish();
    c.final_summary();
}
