//! The event lake end to end: writing partitions, SQL over them, pruning, compaction,
//! retention, and crash safety of every step that moves files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use vigil_core::{Event, LogSource, SourceRef, Value};
use vigil_store::lake::{
    FlushPolicy, Lake, LakeConfig, LakeError, LakeRow, LakeWriter, QueryLimits, QueryResult,
    RetentionPolicy,
};

const START: &str = "2026-01-02T00:00:00Z";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A Sysmon-like process event at `time`, numbered `n`.
fn event(time: Timestamp, n: u64) -> Event {
    let mut e = Event::new(SourceRef {
        file: "lab/sysmon.evtx".into(),
        record_id: Some(n),
        offset: Some(n * 100),
    });
    e.time = Some(time);
    e.logsource = LogSource::product("windows").with_service(if n.is_multiple_of(2) {
        "sysmon"
    } else {
        "security"
    });
    e.insert("EventID", Value::Int(1));
    e.insert("Computer", Value::str(format!("ws{:02}.corp", n % 5)));
    e.insert("Image", Value::str("C:\\Windows\\System32\\cmd.exe"));
    e.insert("CommandLine", Value::str(format!("cmd /c echo marker-{n}")));
    e.insert("DestinationIp", Value::str("10.0.0.9"));
    e.insert(
        "DestinationPort",
        Value::Int(if n.is_multiple_of(3) { 445 } else { 443 }),
    );
    e
}

/// `n` events spaced `step` apart from `start`, as rows of `source`.
fn rows(start: Timestamp, step: SignedDuration, n: u64, source: &str) -> Vec<LakeRow> {
    let ingest = ts("2026-03-01T00:00:00Z");
    (0..n)
        .map(|i| {
            let t = start + step * i as i32;
            LakeRow::from_event(&event(t, i), source, ingest)
        })
        .collect()
}

fn open(dir: &Path) -> Lake {
    Lake::open(dir.join("lake"), LakeConfig::default()).unwrap()
}

/// Appends `rows` at positions after `next`, flushing every `per_flush` rows.
fn write(writer: &mut LakeWriter, rows: Vec<LakeRow>, next: &mut u64, per_flush: usize) {
    for (i, row) in rows.into_iter().enumerate() {
        *next += 1;
        assert!(writer.append(row, *next).unwrap());
        if (i + 1) % per_flush == 0 {
            writer.flush().unwrap();
        }
    }
    writer.flush().unwrap();
}

fn query(lake: &Lake, sql: &str) -> QueryResult {
    lake.query_blocking(sql, &QueryLimits::default())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn json_rows(lake: &Lake, sql: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    query(lake, sql).json_rows().unwrap()
}

fn count(lake: &Lake, sql: &str) -> i64 {
    let rows = json_rows(lake, sql);
    assert_eq!(rows.len(), 1, "{sql}");
    rows[0].values().next().and_then(|v| v.as_i64()).unwrap()
}

/// Every row as a sorted list of (record_id, source, time, raw) — the row multiset.
fn multiset(lake: &Lake) -> Vec<String> {
    let limits = QueryLimits {
        max_rows: 1_000_000,
        ..QueryLimits::default()
    };
    let r = lake
        .query_blocking(
            "SELECT record_id, source, time, raw, date, hour FROM events",
            &limits,
        )
        .unwrap();
    assert!(!r.truncated);
    let mut out: Vec<String> = r
        .json_rows()
        .unwrap()
        .into_iter()
        .map(|m| serde_json::Value::Object(m).to_string())
        .collect();
    out.sort();
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn parquet_files(lake: &Lake) -> Vec<PathBuf> {
    files_under(lake.root())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

#[test]
fn writes_hourly_partitions_and_answers_sql() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    let mut pos = 0;
    // 600 events every 7 minutes: 70 hours across three days.
    let input = rows(ts(START), SignedDuration::from_mins(7), 600, "lab");
    let by_hour = input.iter().fold(BTreeMap::new(), |mut m, r| {
        let p = vigil_store::lake::Partition::of(r.time);
        *m.entry((p.date.to_string(), i64::from(p.hour)))
            .or_insert(0i64) += 1;
        m
    });
    write(&mut w, input.clone(), &mut pos, 250);

    // One directory per hour, one file per flush that touched it.
    let files = parquet_files(&lake);
    assert!(files.iter().all(|f| {
        let s = f.to_string_lossy();
        s.contains("/date=2026-01-0") && s.contains("/hour=")
    }));
    assert_eq!(
        std::collections::BTreeSet::<_>::from_iter(files.iter().map(|f| f.parent().unwrap())).len(),
        by_hour.len()
    );

    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 600);
    let grouped = json_rows(
        &lake,
        "SELECT date, hour, count(*) AS n FROM events GROUP BY date, hour ORDER BY date, hour",
    );
    let got: BTreeMap<(String, i64), i64> = grouped
        .iter()
        .map(|r| {
            (
                (
                    r["date"].as_str().unwrap().to_string(),
                    r["hour"].as_i64().unwrap(),
                ),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, by_hour);

    // Entity columns.
    let smb = input
        .iter()
        .filter(|r| r.entities.dst_port == Some(445))
        .count();
    assert_eq!(
        count(&lake, "SELECT count(*) FROM events WHERE dst_port = 445") as usize,
        smb
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE device_hostname = 'ws03.corp' AND process_name = 'cmd.exe'"
        ),
        120
    );
    let by_service = json_rows(
        &lake,
        "SELECT service, count(*) AS n FROM events GROUP BY service ORDER BY service",
    );
    assert_eq!(by_service[0]["service"], "security");
    assert_eq!(by_service[0]["n"], 300);

    // Time ranges, including bounds inside an hour.
    let lo = ts("2026-01-02T05:10:00Z");
    let hi = ts("2026-01-03T01:30:00Z");
    let expected = input.iter().filter(|r| r.time >= lo && r.time < hi).count();
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE time >= '2026-01-02T05:10:00Z' AND time < '2026-01-03T01:30:00Z'"
        ) as usize,
        expected
    );

    // The raw event is there, as JSON.
    let hit = json_rows(
        &lake,
        "SELECT record_id, raw FROM events WHERE raw LIKE '%marker-417\"%'",
    );
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0]["record_id"], 417);
    let raw: serde_json::Value = serde_json::from_str(hit[0]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw["CommandLine"], "cmd /c echo marker-417");
}

#[test]
fn time_bounds_prune_partition_directories() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    let mut pos = 0;
    // 48 hours, one event every 30 minutes: 48 partitions.
    write(
        &mut w,
        rows(ts(START), SignedDuration::from_mins(30), 96, "lab"),
        &mut pos,
        1000,
    );
    let plan = |sql: &str| -> String {
        // VERBOSE lists every file (the default shortens long lists with "...").
        let r = query(&lake, &format!("EXPLAIN VERBOSE {sql}"));
        r.json_rows()
            .unwrap()
            .iter()
            .filter(|row| row["plan_type"] == "physical_plan")
            .map(|row| row["plan"].as_str().unwrap().to_string())
            .collect()
    };
    let scanned = |plan: &str| plan.matches(".parquet").count();
    let all = plan("SELECT source FROM events");
    assert_eq!(scanned(&all), 48, "{all}");

    // Two hours of the first day.
    let two = plan(
        "SELECT source FROM events WHERE time >= '2026-01-02T05:00:00Z' AND time < '2026-01-02T06:59:00Z'",
    );
    assert_eq!(scanned(&two), 2, "{two}");
    assert!(two.contains("date=2026-01-02/hour=05") && two.contains("date=2026-01-02/hour=06"));

    // An open-ended bound crossing midnight.
    let tail = plan("SELECT source FROM events WHERE time > '2026-01-03T21:15:00Z'");
    assert_eq!(scanned(&tail), 3, "{tail}");

    // BETWEEN, and the partition columns themselves.
    let between = plan(
        "SELECT source FROM events WHERE time BETWEEN '2026-01-03T00:00:00Z' AND '2026-01-03T00:45:00Z'",
    );
    assert_eq!(scanned(&between), 1, "{between}");
    let day = plan("SELECT source FROM events WHERE date = '2026-01-03'");
    assert_eq!(scanned(&day), 24, "{day}");

    // Pruning never changes answers.
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE time > '2026-01-03T21:15:00Z'"
        ),
        5
    );
}

#[test]
fn limits_and_sql_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    let mut pos = 0;
    write(
        &mut w,
        rows(ts(START), SignedDuration::from_mins(1), 50, "lab"),
        &mut pos,
        100,
    );

    let limits = QueryLimits {
        max_rows: 20,
        ..QueryLimits::default()
    };
    let r = lake
        .query_blocking("SELECT record_id FROM events", &limits)
        .unwrap();
    assert_eq!((r.row_count, r.truncated), (20, true));
    assert_eq!(r.json_rows().unwrap().len(), 20);
    let r = lake
        .query_blocking(
            "SELECT record_id FROM events ORDER BY record_id LIMIT 20",
            &limits,
        )
        .unwrap();
    assert_eq!((r.row_count, r.truncated), (20, false));
    let json = r.to_json().unwrap();
    assert_eq!(json["columns"], serde_json::json!(["record_id"]));
    assert_eq!(json["rows"][3]["record_id"], 3);

    let sql_error = |sql: &str| match lake.query_blocking(sql, &QueryLimits::default()) {
        Err(LakeError::Sql { message }) => message,
        other => panic!("{sql}: expected an SQL error, got {other:?}"),
    };
    assert!(sql_error("SELEC * FROM events").contains("SELEC"));
    assert!(sql_error("SELECT nope FROM events").contains("nope"));
    assert!(sql_error("SELECT * FROM other_table").contains("other_table"));
    // The lake is read-only to SQL: no DDL (which could read any file), no DML, no COPY.
    sql_error("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'");
    sql_error("INSERT INTO events (source) VALUES ('x')");
    sql_error("COPY (SELECT 1) TO '/tmp/x.parquet'");
    sql_error("SET datafusion.execution.batch_size = 1");

    // A zero time limit refuses the query (deterministically: not a race with its first poll).
    let limits = QueryLimits {
        timeout: Some(std::time::Duration::ZERO),
        ..QueryLimits::default()
    };
    assert!(matches!(
        lake.query_blocking("SELECT count(*) FROM events", &limits),
        Err(LakeError::Timeout(_))
    ));

    // Inside a runtime, the async form is the one to use.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (inside, awaited) = rt.block_on(async {
        (
            lake.query_blocking("SELECT 1", &QueryLimits::default()),
            lake.query("SELECT count(*) AS n FROM events", &QueryLimits::default())
                .await,
        )
    });
    assert!(matches!(inside, Err(LakeError::InsideRuntime)));
    assert_eq!(awaited.unwrap().json_rows().unwrap()[0]["n"], 50);
}

#[test]
fn positions_make_replay_idempotent_and_one_writer_only() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let input = rows(ts(START), SignedDuration::from_secs(20), 300, "lab");
    {
        let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
        assert!(matches!(
            LakeWriter::open(&lake, FlushPolicy::default()),
            Err(LakeError::Locked { .. })
        ));
        for (i, row) in input[..200].iter().enumerate() {
            w.append(row.clone(), i as u64 + 1).unwrap();
        }
        let out = w.flush().unwrap().unwrap();
        assert_eq!((out.rows, out.durable_through), (200, Some(200)));
        // Buffered, never flushed: lost with the "crash" (the journal still has them).
        for (i, row) in input[200..250].iter().enumerate() {
            w.append(row.clone(), 201 + i as u64).unwrap();
        }
        assert!(matches!(
            w.append(input[0].clone(), 220),
            Err(LakeError::PositionOutOfOrder {
                position: 220,
                last: 250
            })
        ));
        // At or before the committed position: already durable, skipped.
        assert!(!w.append(input[0].clone(), 150).unwrap());
    }
    // The journal consumer had committed only up to 120; it replays from there.
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    assert_eq!(w.durable_through(), Some(200));
    let mut appended = 0;
    for (i, row) in input.iter().enumerate().skip(120) {
        if w.append(row.clone(), i as u64 + 1).unwrap() {
            appended += 1;
        }
    }
    assert_eq!(appended, 100);
    w.flush().unwrap();
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 300);
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM (SELECT record_id FROM events GROUP BY record_id)"
        ),
        300
    );
}

#[test]
fn flush_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let policy = FlushPolicy {
        max_rows: 10,
        max_bytes: usize::MAX,
        max_age: std::time::Duration::from_secs(3600),
    };
    let mut w = LakeWriter::open(&lake, policy).unwrap();
    let mut flushed = Vec::new();
    for (i, row) in rows(ts(START), SignedDuration::from_secs(1), 25, "lab")
        .into_iter()
        .enumerate()
    {
        w.append(row, i as u64).unwrap();
        if let Some(out) = w.flush_if_due().unwrap() {
            flushed.push((out.rows, out.durable_through));
        }
    }
    assert_eq!(flushed, vec![(10, Some(9)), (10, Some(19))]);
    assert_eq!(w.buffered_rows(), 5);
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 20);
}

#[test]
fn compaction_keeps_the_exact_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    let mut pos = 0;
    // Six hours, flushed every 37 rows: every hour gets several small files. The same rows
    // again under another source (equal rows must survive as two).
    let input = rows(ts(START), SignedDuration::from_secs(90), 240, "lab");
    write(&mut w, input.clone(), &mut pos, 37);
    write(&mut w, input[..10].to_vec(), &mut pos, 37);
    let before = multiset(&lake);
    assert_eq!(before.len(), 250);
    let files_before = parquet_files(&lake).len();
    assert!(files_before > 12, "{files_before}");

    // At 03:00 only hours 00 and 01 are closed (15 minutes after their end).
    let report = lake.compact(ts("2026-01-02T03:00:00Z")).unwrap();
    assert_eq!(report.partitions, 2, "{report:?}");
    assert!(report.errors.is_empty());
    assert_eq!(multiset(&lake), before);
    let hour = |h: &str| {
        parquet_files(&lake)
            .into_iter()
            .filter(|f| f.to_string_lossy().contains(&format!("hour={h}")))
            .count()
    };
    assert_eq!((hour("00"), hour("01")), (1, 1));
    assert!(hour("05") > 1);

    // Later, everything is closed; a second pass merges the rest, then nothing is left to do.
    let report = lake.compact(ts("2026-01-03T00:00:00Z")).unwrap();
    assert_eq!(report.partitions, 4);
    assert_eq!(parquet_files(&lake).len(), 6);
    assert_eq!(multiset(&lake), before);
    assert_eq!(
        lake.compact(ts("2026-01-03T00:00:00Z")).unwrap().partitions,
        0
    );

    // A late event for a compacted hour lands in a new file; the next pass folds it in.
    write(
        &mut w,
        rows(
            ts("2026-01-02T00:30:00Z"),
            SignedDuration::from_secs(1),
            3,
            "late",
        ),
        &mut pos,
        37,
    );
    assert_eq!(hour("00"), 2);
    lake.compact(ts("2026-01-03T00:00:00Z")).unwrap();
    assert_eq!(hour("00"), 1);
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 253);
}

/// Copies `files` to `dest`, returning the copies' paths beside the originals' names.
fn save(files: &[PathBuf], dest: &Path) -> Vec<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dest).unwrap();
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let copy = dest.join(format!("{i}.bak"));
            std::fs::copy(f, &copy).unwrap();
            (copy, f.clone())
        })
        .collect()
}

#[test]
fn crash_between_compaction_rename_and_delete_shows_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    let mut pos = 0;
    write(
        &mut w,
        rows(ts(START), SignedDuration::from_secs(30), 200, "lab"),
        &mut pos,
        40,
    );
    drop(w);
    let before = multiset(&lake);
    let olds = parquet_files(&lake);
    let saved = save(&olds, &dir.path().join("saved"));

    lake.compact(ts("2026-01-03T00:00:00Z")).unwrap();
    let merged = parquet_files(&lake);
    assert!(merged.len() < olds.len());

    // The state a kill after the merged file's rename, before the deletes, leaves behind.
    for (copy, original) in &saved {
        std::fs::copy(copy, original).unwrap();
    }
    // And a merged file still in _tmp from an interrupted later merge.
    std::fs::copy(
        &merged[0],
        lake.root().join("_tmp/2026-01-02-00-x.merge.tmp"),
    )
    .unwrap();
    assert_eq!(multiset(&lake), before, "readers see the merged file only");

    // Reopening for writing cleans up.
    let w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    assert_eq!(w.recovery().replaced_files, olds.len());
    assert_eq!(w.recovery().temp_files, 1);
    assert_eq!(parquet_files(&lake), merged);
    assert_eq!(multiset(&lake), before);

    // Crash before the rename: olds in place, merged only in _tmp.
    drop(w);
    let dir2 = tempfile::tempdir().unwrap();
    let lake2 = open(dir2.path());
    let mut w2 = LakeWriter::open(&lake2, FlushPolicy::default()).unwrap();
    let mut pos = 0;
    write(
        &mut w2,
        rows(ts(START), SignedDuration::from_secs(30), 200, "lab"),
        &mut pos,
        40,
    );
    let olds2 = parquet_files(&lake2);
    std::fs::copy(
        &merged[0],
        lake2
            .root()
            .join("_tmp/2026-01-02-00-part-0000000001-0000000005.parquet.merge.tmp"),
    )
    .unwrap();
    assert_eq!(multiset(&lake2), before, "the olds only");
    drop(w2);
    let w2 = LakeWriter::open(&lake2, FlushPolicy::default()).unwrap();
    assert_eq!(w2.recovery().temp_files, 1);
    assert_eq!(parquet_files(&lake2), olds2);
}

#[test]
fn crash_during_flush_leaves_nothing_visible_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let input = rows(ts(START), SignedDuration::from_mins(10), 60, "lab");
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    let mut pos = 0;
    write(&mut w, input[..30].to_vec(), &mut pos, 100);
    let committed = parquet_files(&lake);
    let before = multiset(&lake);

    // The second flush "dies" after renaming its files but before its commit record: make
    // it so by flushing, then restoring the old commit record.
    let commit = std::fs::read(lake.root().join("_committed")).unwrap();
    for (i, row) in input[30..].iter().enumerate() {
        w.append(row.clone(), 31 + i as u64).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    std::fs::write(lake.root().join("_committed"), &commit).unwrap();
    // ... and a half-written temp file of a third flush.
    std::fs::write(
        lake.root()
            .join("_tmp/2026-01-02-09-part-0000000003-0000000003.parquet.tmp"),
        b"PAR1 torn",
    )
    .unwrap();
    assert!(parquet_files(&lake).len() > committed.len());
    assert_eq!(multiset(&lake), before, "uncommitted files are invisible");

    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    assert_eq!(w.durable_through(), Some(30));
    assert!(w.recovery().uncommitted_files > 0);
    assert_eq!(w.recovery().temp_files, 1);
    assert_eq!(parquet_files(&lake), committed);
    // The journal replays what was not durable.
    for (i, row) in input.iter().enumerate() {
        w.append(row.clone(), i as u64 + 1).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 60);
}

#[test]
fn retention_by_age_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    let mut pos = 0;
    // Ten days, one event per source every 6 hours.
    let start = ts("2026-01-01T00:00:00Z");
    write(
        &mut w,
        rows(start, SignedDuration::from_hours(6), 40, "firewall"),
        &mut pos,
        1000,
    );
    write(
        &mut w,
        rows(start, SignedDuration::from_hours(6), 40, "edr"),
        &mut pos,
        1000,
    );
    assert_eq!(count(&lake, "SELECT count(*) FROM events"), 80);

    // Firewall logs for 2 days, everything else for 7.
    let policy = RetentionPolicy {
        default_days: Some(7),
        per_source: BTreeMap::from([("firewall".to_string(), 2)]),
    };
    let now = ts("2026-01-11T00:00:00Z");
    let report = lake.apply_retention(&policy, now).unwrap();
    assert!(report.errors.is_empty());
    // Partitions before Jan 4 (7 days) go whole; Jan 4..=Jan 8 lose their firewall rows.
    assert_eq!(report.partitions_deleted, 12);
    assert_eq!(report.partitions_rewritten, 20);
    assert_eq!(report.rows_removed, 20);
    let left = json_rows(
        &lake,
        "SELECT source, count(*) AS n, min(time) AS first FROM events GROUP BY source ORDER BY source",
    );
    assert_eq!(left[0]["source"], "edr");
    assert_eq!(left[0]["n"], 28);
    assert!(
        left[0]["first"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-04T00:00:00")
    );
    assert_eq!(left[1]["source"], "firewall");
    assert_eq!(left[1]["n"], 8);
    assert!(
        left[1]["first"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-09T00:00:00")
    );
    assert!(
        !std::fs::read_dir(lake.root()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("date=2026-01-03")),
        "empty day directories go too"
    );

    // A second pass finds nothing more to do.
    let again = lake.apply_retention(&policy, now).unwrap();
    assert_eq!(
        (again.partitions_deleted, again.partitions_rewritten),
        (0, 0)
    );

    // Without a default, unlisted sources are kept forever.
    let keep = RetentionPolicy {
        default_days: None,
        per_source: BTreeMap::from([("firewall".to_string(), 1)]),
    };
    lake.apply_retention(&keep, now).unwrap();
    assert_eq!(
        count(&lake, "SELECT count(*) FROM events WHERE source = 'edr'"),
        28
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE source = 'firewall'"
        ),
        4
    );

    // A partition renamed to the trash by a pass that then died is gone after reopening.
    drop(w);
    let victim = lake.root().join("date=2026-01-10");
    std::fs::rename(&victim, lake.root().join("_trash-x")).unwrap();
    let w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    assert_eq!(w.recovery().trashed_partitions, 1);
    assert!(!lake.root().join("_trash-x").exists());
}

#[test]
fn real_evtx_files_round_trip() {
    let Some(root) = vigil_core::corpus::corpus_path("evtx-attack-samples") else {
        return;
    };
    let files = [
        "Execution/Sysmon_Exec_CompiledHTML.evtx",
        "Credential Access/CA_sysmon_hashdump_cmd_meterpreter.evtx",
        "Credential Access/kerberos_pwd_spray_4771.evtx",
    ];
    let dir = tempfile::tempdir().unwrap();
    let lake = open(dir.path());
    let mut w = LakeWriter::open(&lake, FlushPolicy::default()).unwrap();
    let ingest = Timestamp::now();
    let mut pos = 0u64;
    let mut decoded = 0u64;
    let mut per_file = BTreeMap::new();
    for f in files {
        let path = root.join(f);
        let mut events = Vec::new();
        let stats = vigil_ingest::decode_file(
            &path,
            &vigil_ingest::DecodeOptions::default(),
            &mut |e| events.push(e),
            &mut |err| panic!("{}: {err}", path.display()),
        )
        .unwrap();
        decoded += stats.events;
        per_file.insert(path.to_string_lossy().to_string(), stats.events as i64);
        for e in &events {
            pos += 1;
            // The OCSF extractors of vigil-ingest, as the server wires them.
            let row = LakeRow::from_event_with(e, "corpus", ingest, |e, cols| {
                cols.fill_from(&vigil_ingest::entities(e))
            });
            // Entities extracted once (for detection) and handed over make the same row.
            let entities = vigil_ingest::entities(e);
            assert_eq!(
                LakeRow::from_event_with_entities(e, &entities, "corpus", ingest),
                row
            );
            w.append(row, pos).unwrap();
        }
    }
    w.flush().unwrap();
    assert!(decoded > 0);
    assert_eq!(count(&lake, "SELECT count(*) FROM events") as u64, decoded);
    let by_file = json_rows(
        &lake,
        "SELECT file, count(*) AS n FROM events GROUP BY file",
    );
    let got: BTreeMap<String, i64> = by_file
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, per_file);
    // Sysmon process creations carry their command line and image hash into entity columns,
    // and the raw JSON keeps every native field.
    let hh = json_rows(
        &lake,
        "SELECT process_name, process_cmd_line, process_hash_sha256, raw FROM events \
         WHERE service = 'sysmon' AND process_name = 'hh.exe' AND process_cmd_line IS NOT NULL LIMIT 1",
    );
    assert_eq!(hh.len(), 1, "CompiledHTML sample runs hh.exe");
    let raw: serde_json::Value = serde_json::from_str(hh[0]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw["CommandLine"], hh[0]["process_cmd_line"]);
    assert_eq!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE raw LIKE '%\"EventID\":4771%'"
        ),
        count(
            &lake,
            "SELECT count(*) FROM events WHERE file LIKE '%kerberos_pwd_spray_4771.evtx' AND raw LIKE '%\"EventID\":4771%'"
        )
    );
    assert!(
        count(
            &lake,
            "SELECT count(*) FROM events WHERE raw LIKE '%\"EventID\":4771%'"
        ) > 0
    );
}
