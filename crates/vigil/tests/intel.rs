//! Threat intel end to end: a Zeek DNS query name from the corpus, put into a plain feed,
//! raises exactly one intel detection in `vigil hunt --intel` and exactly one intel alert in
//! `vigil serve` with `[monitor.intel]`, each naming the field, the value and the feed.

#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use server::{Served, create_token, vigil_bin};
use vigil_core::EntityField;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A query name of the log that one event names and no other event's name lies under.
fn lone_query_name(path: &Path) -> String {
    let mut names = Vec::new();
    vigil_ingest::decode_file(
        path,
        &vigil_ingest::DecodeOptions::default(),
        &mut |e| {
            names.push(
                vigil_ingest::entities(&e)
                    .get_str(EntityField::QueryHostname)
                    .map(str::to_lowercase),
            )
        },
        &mut |e| panic!("{e}"),
    )
    .unwrap();
    let all: Vec<&String> = names.iter().flatten().collect();
    all.iter()
        .find(|n| {
            n.contains('.')
                && all.iter().filter(|m| *m == *n).count() == 1
                && !all.iter().any(|m| m.ends_with(&format!(".{n}")))
        })
        .map(|n| n.to_string())
        .expect("a query name seen once")
}

#[test]
fn a_feed_value_seen_once_is_one_detection_in_hunt_and_one_alert_in_serve() {
    let Some(log) = vigil_core::corpus::corpus_path("zeek/slips/test9-mixed-zeek-dir/dns.log")
    else {
        return;
    };
    let name = lone_query_name(&log);
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("bad-domains.txt");
    std::fs::write(&feed, format!("# made for this test\n{name}\n")).unwrap();
    let rule_id = format!("intel:domain:{name}");

    // vigil hunt --intel
    let out = std::process::Command::new(vigil_bin())
        .arg("hunt")
        .arg(&log)
        .arg("--rules")
        .arg(repo().join("examples/rules"))
        .arg("--intel")
        .arg(&feed)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("intel: 1 live indicators"), "{stderr}");
    let hits: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| {
            d["rule_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("intel:"))
        })
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    let hit = &hits[0];
    assert_eq!(hit["rule_id"], rule_id.as_str());
    assert_eq!(hit["evidence"][0]["field"], "query.hostname");
    assert_eq!(
        hit["evidence"][0]["value"].as_str().map(str::to_lowercase),
        Some(name.clone())
    );
    assert_eq!(hit["intel"]["how"], "exact");
    assert!(
        hit["intel"]["sources"][0]
            .as_str()
            .unwrap()
            .contains("bad-domains"),
        "{hit}"
    );

    // vigil serve with [monitor.intel]
    let data = dir.path().join("data");
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[monitor.intel]\nfeeds = [{:?}]\n",
            feed.display().to_string()
        ),
    )
    .unwrap();
    let s = Served::start(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--rules",
            repo().join("examples/rules").to_str().unwrap(),
        ],
    );
    let analyst = create_token(&data, "analyst");
    let (status, receipt) = s.post(
        "/api/v1/ingest?source=zeek",
        &analyst,
        std::fs::read(&log).unwrap(),
    );
    assert_eq!(status, 200, "{receipt}");
    let page = s.wait_for(
        &format!("/api/v1/alerts?rule_id={rule_id}"),
        &analyst,
        Duration::from_secs(60),
        |b| b["total"].as_u64() >= Some(1),
    );
    assert_eq!(page["total"], 1, "{page}");
    let alert = &page["items"][0];
    assert_eq!(alert["count"], 1);
    assert_eq!(alert["evidence"][0]["field"], "query.hostname");
    // Everything was detected; still exactly one intel alert.
    s.wait_for("/api/v1/sources", &analyst, Duration::from_secs(60), |b| {
        b["pipeline"]["lag_units"] == 0
    });
    let (_, all) = s.get("/api/v1/alerts?text=intel:&limit=1000", &analyst);
    let intel: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["rule"]["id"]
                .as_str()
                .is_some_and(|r| r.starts_with("intel:"))
        })
        .collect();
    assert_eq!(intel.len(), 1, "{all}");

    // Retro-hunt with the server's intel finds it once in the stored events (once the lake
    // has flushed them).
    let events = receipt["events"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let hunt = loop {
        let (status, hunt) = s.send_json(
            "POST",
            "/api/v1/retrohunt",
            &analyst,
            &serde_json::json!({"intel": true, "source": "http:zeek"}),
        );
        assert_eq!(status, 200, "{hunt}");
        if hunt["events_scanned"].as_u64() == Some(events) {
            break hunt;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lake never showed the events: {hunt}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(hunt["indicators"], 1);
    assert_eq!(hunt["by_rule"][&rule_id], 1, "{hunt}");
}
