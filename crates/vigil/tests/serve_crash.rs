//! Crash safety of `vigil serve`: 100,000 events are sent over HTTP while the server is killed
//! with SIGKILL at varying points (five times); after the last restart every acknowledged
//! event has been detected exactly once, no alert is duplicated, and the event lake holds
//! every durable event exactly once.
//!
//! Every tenth event carries `marker: hit-N` and a rule fires on it; with dedup off each hit
//! is its own alert whose evidence names N, so "detected exactly once" is checkable per event.

#[path = "common/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use server::{Served, create_token};

const TOTAL: u64 = 100_000;
const BATCH: u64 = 500;
const KILLS: usize = 5;

const RULE: &str = "\
title: Crash Test Marker
id: 5e1f0c3a-7b2d-4c59-9a1e-000000000001
status: test
logsource:
    product: crashtest
detection:
    selection:
        marker|startswith: 'hit-'
    condition: selection
level: high
";

const CONFIG: &str = "\
[monitor]
dedup_window_secs = 0

[[ingest.json_logsource]]
when = { field = \"marker\", exists = true }
product = \"crashtest\"
";

fn batch(first: u64) -> Vec<u8> {
    let mut body = String::new();
    for n in first..first + BATCH {
        let marker = if n.is_multiple_of(10) {
            format!("hit-{n}")
        } else {
            format!("miss-{n}")
        };
        body.push_str(&format!(
            "{{\"marker\":\"{marker}\",\"n\":{n},\"ts\":\"2026-12-02T10:00:00Z\"}}\n"
        ));
    }
    body.into_bytes()
}

#[test]
fn sigkill_during_ingest_loses_no_acknowledged_event_and_duplicates_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("marker.yml"), RULE).unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ];
    std::fs::create_dir_all(&data).unwrap();
    let token = create_token(&data, "analyst");

    let next = Arc::new(AtomicU64::new(0));
    let acked: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    // Kill points: after a growing number of acknowledged batches, plus a few milliseconds so
    // the kill lands inside a request or a commit (fixed, so a failure reproduces).
    let kill_points = [(20usize, 3u64), (55, 0), (90, 7), (130, 1), (170, 5)];
    for (batches, extra_ms) in kill_points.iter().take(KILLS) {
        let s = Served::start(&data, &args);
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (url, token, next, acked, stop) = (
                s.url.clone(),
                token.clone(),
                Arc::clone(&next),
                Arc::clone(&acked),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || send(&url, &token, &next, &acked, &stop))
        };
        while acked.lock().unwrap().len() < *batches && !sender.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(*extra_ms));
        drop(s); // SIGKILL, mid-request for whatever is in flight
        stop.store(true, Ordering::Release);
        sender.join().unwrap();
    }
    assert!(
        next.load(Ordering::Acquire) < TOTAL,
        "the kills must land while ingest is still going"
    );
    // The last run finishes the 100,000.
    let s = Served::start(&data, &args);
    let stop = Arc::new(AtomicBool::new(false));
    send(&s.url, &token, &next, &acked, &stop);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() as u64 >= TOTAL / BATCH - KILLS as u64);

    // Everything durable is detected: wait until detection has caught up.
    s.wait_for("/api/v1/sources", &token, Duration::from_secs(300), |b| {
        b["pipeline"]["lag_units"] == 0
    });
    let mut alerted = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/alerts?limit=1000&cursor={c}"),
            None => "/api/v1/alerts?limit=1000".to_string(),
        };
        let (status, page) = s.get(&q, &token);
        assert_eq!(status, 200, "{page}");
        for a in page["items"].as_array().unwrap() {
            assert!(
                ids.insert(a["id"].as_str().unwrap().to_string()),
                "duplicate id"
            );
            assert_eq!(a["count"], 1, "a replayed hit was counted twice: {a}");
            let marker = a["evidence"][0]["value"].as_str().unwrap();
            let n: u64 = marker.strip_prefix("hit-").unwrap().parse().unwrap();
            assert!(alerted.insert(n), "event {n} alerted twice");
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    for first in &acked {
        for n in (*first..first + BATCH).filter(|n| n.is_multiple_of(10)) {
            assert!(
                alerted.contains(&n),
                "acknowledged event {n} was never detected"
            );
        }
    }
    // Events of batches that were durable but whose answer was lost to a kill may be there
    // too; nothing beyond what was sent.
    assert!(alerted.iter().all(|n| *n < next.load(Ordering::Acquire)));

    // Source counts are exact too: one count per durable event, none twice.
    let (_, sources) = s.get("/api/v1/sources", &token);
    let src = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["source"] == "http:crash")
        .unwrap()
        .clone();
    let events = src["events"].as_u64().unwrap();
    assert!(events.is_multiple_of(BATCH), "{src}");
    assert_eq!(events / 10, alerted.len() as u64, "{src}");
    assert!(events >= acked.len() as u64 * BATCH);

    // The lake holds every durable event exactly once: whole batches of BATCH rows, every
    // acknowledged batch among them, and as many rows as detection counted. (The lake flushes
    // on its own clock; its offset trails detection's, so crashes replayed into it too.)
    let per_batch = json!({"sql": format!(
        "SELECT CAST(regexp_replace(raw, '.*\"n\":([0-9]+).*', '\\1') AS BIGINT) / {BATCH} AS batch, \
         count(*) AS n FROM events WHERE source = 'http:crash' GROUP BY 1 ORDER BY 1"
    ), "max_rows": 10_000});
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let rows = loop {
        let (status, body) = s.send_json("POST", "/api/v1/query", &token, &per_batch);
        assert_eq!(status, 200, "{body}");
        let rows: Vec<(u64, u64)> = body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["batch"].as_u64().unwrap(), r["n"].as_u64().unwrap()))
            .collect();
        if rows.iter().map(|(_, n)| n).sum::<u64>() >= events {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lake never caught up with detection ({events} events): {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    for (b, n) in &rows {
        assert_eq!(
            *n, BATCH,
            "batch {b} is in the lake {n} times over (or partly)"
        );
    }
    let in_lake: BTreeSet<u64> = rows.iter().map(|(b, _)| b * BATCH).collect();
    assert_eq!(
        in_lake.len() as u64 * BATCH,
        events,
        "lake rows vs detected events"
    );
    for first in &acked {
        assert!(
            in_lake.contains(first),
            "acknowledged batch {first} is not in the lake"
        );
    }
}

/// Sends batches until `TOTAL` events are sent or the server goes away; records acknowledged
/// batches by their first event number. A batch whose answer was lost is not re-sent (its
/// events may or may not be durable — both are fine, but they are not "acknowledged").
fn send(url: &str, token: &str, next: &AtomicU64, acked: &Mutex<BTreeSet<u64>>, stop: &AtomicBool) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let first = next.fetch_add(BATCH, Ordering::AcqRel);
        if first >= TOTAL {
            next.fetch_sub(BATCH, Ordering::AcqRel);
            return;
        }
        let resp = http
            .post(format!("{url}/api/v1/ingest?source=crash"))
            .bearer_auth(token)
            .body(batch(first))
            .send();
        match resp {
            Ok(r) if r.status().is_success() => {
                acked.lock().unwrap().insert(first);
            }
            Ok(r) if r.status().as_u16() == 429 => {
                // Not accepted: send the same events again later.
                next.fetch_sub(BATCH, Ordering::AcqRel);
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(r) => panic!("unexpected answer {}", r.status()),
            Err(_) => return, // killed mid-request
        }
    }
}
