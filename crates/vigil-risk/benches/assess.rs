//! Assessment benchmarks at the scale: 1,000,000 generated alerts over 100,000 entities.
//!
//! - `score`: the risk score of every alert (one `score` call each);
//! - `group`: grouping all alerts into incidents (and `group_pinned` with 1% of alerts pinned);
//! - `entity_risk`: adding every alert's score to each entity it names, in time order;
//! - `list_incidents`: sorting 100,000 incidents the way the server lists them (score desc,
//!   last_seen desc, id), and that sort plus the first page of 100 as JSON.
//!
//! `cargo bench -p vigil-risk --bench assess`. `VIGIL_RISK_ALERTS` changes the alert count
//! (entities stay at a tenth of it). Before the criterion groups, the generated data is
//! described (`data: …`) so the skew can be checked.
//!
//! The alerts: 30 days; alerts come in clusters (an attack, a misbehaving job) of 1–12 alerts
//! within an hour about one host, often one user and sometimes an IP, drawn with a power-law
//! skew so some entities are hot; one alert in ten also names one of 50 ubiquitous-ish
//! entities (domain controllers, proxies, service accounts) that exceed the per-entity cap.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use jiff::{SignedDuration, Timestamp};
use vigil_core::Level;
use vigil_risk::{
    AlertView, EntityKey, EntityKind, EntityRisk, GroupingConfig, Incident, RiskConfig, RiskInput,
    Tactic, group, group_pinned, score,
};

/// Alerts to generate: `VIGIL_RISK_ALERTS`, default one million.
fn n() -> usize {
    std::env::var("VIGIL_RISK_ALERTS")
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

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// In `0..n`, skewed towards 0: index = n·u³ (the top 1% of entities get ~20% of picks).
    fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64 * u * u * u) as usize).min(n - 1)
    }
}

/// One generated alert with what scoring needs.
struct Generated {
    view: AlertView,
    input: RiskInput,
}

const STATUSES: [&str; 4] = ["stable", "test", "experimental", "deprecated"];

fn generate(alerts: usize) -> Vec<Generated> {
    let entities = alerts / 10;
    // 50% hosts, 35% users, 15% IPs.
    let hosts = entities / 2;
    let users = entities * 35 / 100;
    let ips = entities - hosts - users;
    let hot: Vec<EntityKey> = (0..50)
        .map(|i| match i % 3 {
            0 => EntityKey::new(EntityKind::Host, &format!("dc{i:02}.corp.example")),
            1 => EntityKey::new(EntityKind::User, &format!("svc-shared-{i}")),
            _ => EntityKey::new(EntityKind::Ip, &format!("10.255.0.{i}")),
        })
        .collect();
    let start = Timestamp::from_second(1_790_000_000).unwrap();
    let mut rng = Rng(0x5EED);
    let mut out = Vec::with_capacity(alerts);
    while out.len() < alerts {
        let size = 1 + rng.skewed(12);
        let host = EntityKey::new(EntityKind::Host, &format!("wks-{:06}", rng.skewed(hosts)));
        let user = (rng.below(10) < 7)
            .then(|| EntityKey::new(EntityKind::User, &format!("user{:06}", rng.skewed(users))));
        let ip = (rng.below(10) < 3).then(|| {
            let i = rng.skewed(ips);
            EntityKey::new(
                EntityKind::Ip,
                &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
            )
        });
        let rule = format!("rule-{:04}", rng.skewed(3_000));
        let at = start + SignedDuration::from_secs(rng.below(30 * 86_400) as i64);
        let level = Level::ALL[rng.below(Level::ALL.len())];
        let tactic = Tactic::ALL[rng.below(14)];
        for _ in 0..size.min(alerts - out.len()) {
            let mut entities = vec![host.clone()];
            entities.extend(user.clone());
            entities.extend(ip.clone());
            if rng.below(10) == 0 {
                entities.push(hot[rng.below(hot.len())].clone());
            }
            let i = out.len();
            let input = RiskInput {
                level: Some(level),
                status: Some(STATUSES[rng.below(4)].to_string()),
                asset_criticality: (rng.below(2) == 0).then(|| 1 + rng.below(5) as u8),
                intel_confidence: (rng.below(20) == 0).then(|| rng.below(101) as u8),
                tactics: vec![tactic],
            };
            let view = AlertView {
                id: format!("al-{i:07}"),
                time: at + SignedDuration::from_secs(rng.below(3_600) as i64),
                rule: rule.clone(),
                level,
                entities,
                tactics: vec![tactic],
                score: 0.0,
            };
            out.push(Generated { view, input });
        }
    }
    let config = RiskConfig::default();
    for g in &mut out {
        g.view.score = score(&g.input, &config).score;
    }
    out
}

/// The list order of the server: score desc, last_seen desc, id.
fn list_order(incidents: &mut [Incident]) {
    incidents.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.last_seen.cmp(&a.last_seen))
            .then_with(|| a.id.cmp(&b.id))
    });
}

fn main() {
    let alerts = n();
    let t = Instant::now();
    let generated = generate(alerts);
    let views: Vec<AlertView> = generated.iter().map(|g| g.view.clone()).collect();
    let distinct: BTreeSet<&EntityKey> = views.iter().flat_map(|v| &v.entities).collect();
    let config = GroupingConfig::default();
    let t_group = Instant::now();
    let incidents = group(&views, &config);
    let grouped_in = t_group.elapsed();
    let mut sizes: Vec<usize> = incidents.iter().map(|i| i.alerts.len()).collect();
    sizes.sort_unstable();
    let capped: BTreeSet<&EntityKey> = incidents.iter().flat_map(|i| &i.capped_entities).collect();
    println!(
        "data: {} alerts, {} distinct entities, {} incidents (median {} alerts, p99 {}, largest {}), {} capped entities; generated in {:.1?}, one group() in {:.1?}",
        views.len(),
        distinct.len(),
        incidents.len(),
        sizes[sizes.len() / 2],
        sizes[sizes.len() * 99 / 100],
        sizes[sizes.len() - 1],
        capped.len(),
        t.elapsed() - grouped_in,
        grouped_in,
    );
    drop(distinct);
    drop(capped);

    // Defaults for this scale; command-line options (`--measurement-time` …) override them.
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();

    let risk_config = RiskConfig::default();
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(alerts as u64));
    g.bench_function("all_alerts", |b| {
        b.iter(|| {
            let mut total = 0.0;
            for a in &generated {
                total += score(black_box(&a.input), &risk_config).score;
            }
            total
        })
    });
    g.finish();

    let mut g = c.benchmark_group("group");
    g.throughput(Throughput::Elements(alerts as u64));
    g.bench_function("all_alerts", |b| {
        b.iter(|| group(black_box(&views), &config))
    });
    // 1% of alerts pinned (merges and splits), spread over the incidents.
    let pins: BTreeMap<String, String> = incidents
        .iter()
        .step_by(25)
        .flat_map(|i| {
            i.alerts
                .iter()
                .map(move |a| (a.clone(), format!("{}-m", i.id)))
        })
        .take(alerts / 100)
        .collect();
    g.bench_function("all_alerts_1pct_pinned", |b| {
        b.iter(|| group_pinned(black_box(&views), &config, &pins))
    });
    g.finish();

    let mut by_time: Vec<&AlertView> = views.iter().collect();
    by_time.sort_by_key(|v| v.time);
    let mut g = c.benchmark_group("entity_risk");
    g.throughput(Throughput::Elements(alerts as u64));
    g.bench_function("all_alerts", |b| {
        b.iter(|| {
            let mut risk = EntityRisk::new(Duration::from_secs(24 * 3600), 250.0);
            let mut crossings = 0usize;
            for v in &by_time {
                for e in &v.entities {
                    crossings += usize::from(risk.add(e.clone(), v.score, v.time).is_some());
                }
            }
            (risk.len(), crossings)
        })
    });
    g.finish();

    // 100,000 incidents (the generated ones, repeated with new ids if there are fewer).
    let list: Vec<Incident> = incidents
        .iter()
        .cycle()
        .enumerate()
        .take(100_000)
        .map(|(i, inc)| Incident {
            id: format!("inc-{i:06}"),
            ..inc.clone()
        })
        .collect();
    let mut g = c.benchmark_group("list_incidents");
    g.throughput(Throughput::Elements(list.len() as u64));
    g.bench_function("sort_100k", |b| {
        b.iter_batched(
            || list.clone(),
            |mut l| {
                list_order(&mut l);
                l
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("sort_100k_first_page_json", |b| {
        b.iter_batched(
            || list.clone(),
            |mut l| {
                list_order(&mut l);
                // The list is returned so dropping it is not timed (the server keeps it).
                let page = serde_json::to_vec(&l[..100]).unwrap();
                (l, page)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    c.final_summary();
}
