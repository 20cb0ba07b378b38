//! Alert recording throughput of the SQLite state database: hits per second when recorded in
//! batches of 1,000 per transaction (how the detection pipeline writes).
//!
//! Run: `cargo bench -p vigil-store --bench state`. Cases:
//! - `new`: every hit starts a new alert (distinct hosts), `synchronous=FULL` and `NORMAL`;
//! - `aggregate`: hits join 10 open alerts (same rule and host inside the window);
//! - `replay`: every hit was already recorded (a journal replay after a crash).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use vigil_core::Level;
use vigil_store::state::{
    AlertEntities, AlertStore, Durability, EventRef, Evidence, NewAlert, RuleRef, SqliteStore,
    StateOptions,
};

const BATCH: u64 = 1000;

fn hit(record: u64, host: u64, secs: i64) -> NewAlert {
    NewAlert {
        rule: RuleRef {
            id: "5f1e9b4c-0c7a-4d3e-9a55-2e1f3c4b6a7d".into(),
            title: "Suspicious Encoded PowerShell Command Line".into(),
            level: Level::High,
            status: Some("test".into()),
            tags: vec!["attack.execution".into(), "attack.t1059.001".into()],
        },
        event: EventRef {
            source: "/var/lib/vigil/ingest/sysmon-2024-05-01.evtx".into(),
            record_id: Some(record),
            offset: Some(record * 1024),
            time: Some(
                "2024-05-01T00:00:00Z".parse::<Timestamp>().unwrap()
                    + SignedDuration::from_secs(secs),
            ),
        },
        entities: AlertEntities {
            host: Some(format!("ws{host:05}.corp.example")),
            user: Some("CORP\\alice".into()),
            src_ip: Some("10.1.2.3".parse().unwrap()),
            dst_ip: None,
        },
        evidence: vec![Evidence {
            search: "selection".into(),
            field: Some("CommandLine".into()),
            value: format!("powershell.exe -NoP -W Hidden -enc SQBFAFgAIAAoA{record}"),
            pattern: "* -enc *".into(),
        }],
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("state_record");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));

    for (name, durability) in [
        ("new_full", Durability::Full),
        ("new_normal", Durability::Normal),
    ] {
        let store = SqliteStore::open(
            dir.path().join(format!("{name}.db")),
            StateOptions {
                durability,
                ..StateOptions::default()
            },
        )
        .unwrap();
        let next = AtomicU64::new(0);
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let start = next.fetch_add(BATCH, Ordering::Relaxed);
                    (start..start + BATCH)
                        .map(|r| hit(r, r, 0))
                        .collect::<Vec<_>>()
                },
                |batch| black_box(store.record_batch(&batch).unwrap()),
                BatchSize::LargeInput,
            )
        });
    }

    let store =
        SqliteStore::open(dir.path().join("aggregate.db"), StateOptions::default()).unwrap();
    let next = AtomicU64::new(0);
    g.bench_function("aggregate_full", |b| {
        b.iter_batched(
            || {
                let start = next.fetch_add(BATCH, Ordering::Relaxed);
                // Ten hosts, event times spread over a few seconds: one open alert per host.
                (start..start + BATCH)
                    .map(|r| hit(r, r % 10, (r % 60) as i64))
                    .collect::<Vec<_>>()
            },
            |batch| black_box(store.record_batch(&batch).unwrap()),
            BatchSize::LargeInput,
        )
    });

    let store = SqliteStore::open(dir.path().join("replay.db"), StateOptions::default()).unwrap();
    let known: Vec<_> = (0..BATCH).map(|r| hit(r, r, 0)).collect();
    store.record_batch(&known).unwrap();
    g.bench_function("replay_full", |b| {
        b.iter(|| black_box(store.record_batch(&known).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
