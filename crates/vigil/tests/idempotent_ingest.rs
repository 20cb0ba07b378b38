//! `Idempotency-Key` on ingest through the real server: a retried request gets the first
//! receipt back and its events are stored once, also after a restart; another key appends;
//! keys are per token.

#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use server::{Served, create_token};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_retried_ingest_with_the_same_key_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = repo().join("examples/rules");
    let s = Served::start(&data, &["--rules", rules.to_str().unwrap()]);
    let analyst = create_token(&data, "analyst");
    let other = create_token(&data, "analyst");
    let body = std::fs::read(repo().join("examples/windows-sample/sysmon.ndjson")).unwrap();
    let send = |token: &str, key: Option<&str>| {
        let mut req = s
            .http
            .post(format!("{}/api/v1/ingest?source=retry", s.url))
            .bearer_auth(token)
            .body(body.clone());
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().unwrap();
        let replayed = resp.headers().contains_key("idempotent-replayed");
        let status = resp.status().as_u16();
        let v: serde_json::Value = resp.json().unwrap_or_default();
        (status, replayed, v)
    };
    let (status, replayed, first) = send(&analyst, Some("batch-0001"));
    assert_eq!(status, 200, "{first}");
    assert!(!replayed);
    let events = first["events"].as_u64().unwrap();
    // The retry: same receipt, same offset, nothing appended.
    let (status, replayed, again) = send(&analyst, Some("batch-0001"));
    assert_eq!(status, 200, "{again}");
    assert!(replayed);
    assert_eq!(again, first);
    // The same key from another token is another request; so is a new key.
    let (_, replayed, theirs) = send(&other, Some("batch-0001"));
    assert!(!replayed);
    assert_ne!(theirs["offset"], first["offset"]);
    let (_, _, next) = send(&analyst, Some("batch-0002"));
    assert_ne!(next["offset"], first["offset"]);
    let (status, _, bad) = send(&analyst, Some(&"k".repeat(300)));
    assert_eq!(status, 400, "{bad}");

    // Three bodies stored, not four.
    let sources = s.wait_for("/api/v1/sources", &analyst, Duration::from_secs(60), |b| {
        b["pipeline"]["lag_units"] == 0
    });
    let retry = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["source"] == "http:retry")
        .unwrap();
    assert_eq!(retry["events"].as_u64(), Some(3 * events), "{retry}");

    // A retry after a restart is still recognised: the key's receipt is in the state database.
    s.stop();
    let s = Served::start(&data, &["--rules", rules.to_str().unwrap()]);
    let resp = s
        .http
        .post(format!("{}/api/v1/ingest?source=retry", s.url))
        .bearer_auth(&analyst)
        .header("Idempotency-Key", "batch-0001")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().contains_key("idempotent-replayed"));
    let after_restart: serde_json::Value = resp.json().unwrap();
    assert_eq!(after_restart, first);
    let sources = s.wait_for("/api/v1/sources", &analyst, Duration::from_secs(60), |b| {
        b["pipeline"]["lag_units"] == 0
    });
    let retry = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["source"] == "http:retry")
        .unwrap();
    assert_eq!(retry["events"].as_u64(), Some(3 * events), "{retry}");
}
