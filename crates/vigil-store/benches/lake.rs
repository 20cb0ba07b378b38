//! Event lake throughput: rows/s written as Parquet (append + flush, fsync included), and SQL
//! over 100,000 stored rows.
//!
//! `cargo bench -p vigil-store --bench lake`
//!
//! Each group has an in-run baseline, so results read as ratios that survive a loaded machine:
//! writing is compared with appending the same rows' raw JSON to one file and fsyncing it
//! (the least a durable store must do); queries with a brute-force scan of the same rows held
//! in memory, and with `SELECT 1` (the fixed cost of a query: session, planning).

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use vigil_core::{Event, LogSource, SourceRef, Value};
use vigil_store::lake::{FlushPolicy, Lake, LakeConfig, LakeRow, LakeWriter, QueryLimits};

const ROWS: u64 = 100_000;

/// Sysmon-like process and network events over 24 hours, about 500 bytes of raw JSON each.
fn rows(n: u64) -> Vec<LakeRow> {
    let start: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
    let step = SignedDuration::from_micros(86_400_000_000 / n as i64);
    let ingest: Timestamp = "2026-01-03T00:00:00Z".parse().unwrap();
    (0..n)
        .map(|i| {
            let mut e = Event::new(SourceRef {
                file: "bench/sysmon.evtx".into(),
                record_id: Some(i),
                offset: None,
            });
            e.time = Some(start + step * i as i32);
            e.logsource = LogSource::product("windows").with_service("sysmon");
            e.insert("EventID", Value::Int(if i % 4 == 0 { 3 } else { 1 }));
            e.insert(
                "Computer",
                Value::str(format!("ws{:03}.corp.example", i % 200)),
            );
            e.insert("User", Value::str(format!("CORP\\user{}", i % 50)));
            e.insert(
                "Image",
                Value::str(format!("C:\\Windows\\System32\\tool{}.exe", i % 40)),
            );
            e.insert(
                "CommandLine",
                Value::str(format!("tool{}.exe /run --id {i} --flag value", i % 40)),
            );
            e.insert(
                "ProcessGuid",
                Value::str(format!("{{{i:08x}-0000-0000-0000-000000000000}}")),
            );
            e.insert(
                "DestinationIp",
                Value::str(format!("10.0.{}.{}", i % 7, i % 250)),
            );
            e.insert(
                "DestinationPort",
                Value::Int([443, 445, 80, 3389][(i % 4) as usize]),
            );
            e.insert("Hashes", Value::str(format!("SHA256={:064x}", i % 1000)));
            LakeRow::from_event(&e, "bench", ingest)
        })
        .collect()
}

fn write_rows(c: &mut Criterion) {
    let input = rows(ROWS);
    let mut group = c.benchmark_group("lake_write");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS));
    group.bench_function("baseline_jsonl_write_fsync", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let path = dir.path().join("events.jsonl");
                let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
                for row in &input {
                    out.write_all(row.raw.as_bytes()).unwrap();
                    out.write_all(b"\n").unwrap();
                }
                out.into_inner().unwrap().sync_all().unwrap();
                dir
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.bench_function("append_flush_100k_rows_24_partitions", |b| {
        b.iter_batched(
            || (tempfile::tempdir().unwrap(), input.clone()),
            |(dir, rows)| {
                let lake = Lake::open(dir.path().join("lake"), LakeConfig::default()).unwrap();
                let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
                for (i, row) in rows.into_iter().enumerate() {
                    w.append(row, i as u64).unwrap();
                    w.flush_if_due().unwrap();
                }
                black_box(w.flush().unwrap());
                dir
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn query_rows(c: &mut Criterion) {
    let input = rows(ROWS);
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake"), LakeConfig::default()).unwrap();
    {
        let policy = FlushPolicy {
            max_rows: 10_000,
            ..FlushPolicy::default()
        };
        let mut w = LakeWriter::open(&lake, policy).unwrap();
        for (i, row) in input.iter().cloned().enumerate() {
            w.append(row, i as u64).unwrap();
            w.flush_if_due().unwrap();
        }
        w.flush().unwrap();
    }
    lake.compact("2026-01-04T00:00:00Z".parse().unwrap())
        .unwrap();
    let limits = QueryLimits::default();
    let mut group = c.benchmark_group("lake_query_100k_rows");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS));
    group.bench_function("baseline_in_memory_scan_raw_contains", |b| {
        b.iter(|| {
            black_box(
                input
                    .iter()
                    .filter(|r| r.raw.contains("--id 4242 "))
                    .count(),
            )
        })
    });
    for (name, sql) in [
        ("baseline_select_1", "SELECT 1"),
        ("count_star", "SELECT count(*) FROM events"),
        (
            "group_by_host_port",
            "SELECT device_hostname, dst_port, count(*) FROM events GROUP BY 1, 2",
        ),
        (
            "where_entity",
            "SELECT time, process_cmd_line FROM events WHERE dst_ip = '10.0.3.42' AND dst_port = 445",
        ),
        (
            "raw_like",
            "SELECT count(*) FROM events WHERE raw LIKE '%--id 4242 %'",
        ),
        (
            "two_hours",
            "SELECT count(*) FROM events WHERE time >= '2026-01-02T05:00:00Z' AND time < '2026-01-02T07:00:00Z'",
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| black_box(lake.query_blocking(sql, &limits).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, write_rows, query_rows);
criterion_main!(benches);
