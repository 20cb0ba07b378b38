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

/// The event time of the event whose query name is `name`.
fn time_of(path: &Path, name: &str) -> jiff::Timestamp {
    let mut found = None;
    vigil_ingest::decode_file(
        path,
        &vigil_ingest::DecodeOptions::default(),
        &mut |e| {
            let hit = vigil_ingest::entities(&e)
                .get_str(EntityField::QueryHostname)
                .is_some_and(|n| n.eq_ignore_ascii_case(name));
            if hit {
                found = e.time;
            }
        },
        &mut |e| panic!("{e}"),
    )
    .unwrap();
    found.expect("the event has a time")
}

#[test]
fn an_imported_indicator_is_searched_for_in_stored_events_and_its_sighting_is_kept() {
    let Some(log) = vigil_core::corpus::corpus_path("zeek/slips/test9-mixed-zeek-dir/dns.log")
    else {
        return;
    };
    let name = lone_query_name(&log);
    let when = time_of(&log, &name);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vigil.toml");
    // The corpus is years old: search all of the lake's history.
    std::fs::write(&config, "[monitor.intel]\nretrohunt_days = 100000\n").unwrap();
    let rules = repo().join("examples/rules");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ];
    let s = Served::start(&data, &args);
    let analyst = create_token(&data, "analyst");
    let viewer = create_token(&data, "viewer");
    let (status, receipt) = s.post(
        "/api/v1/ingest?source=zeek",
        &analyst,
        std::fs::read(&log).unwrap(),
    );
    assert_eq!(status, 200, "{receipt}");
    // The lake holds the events before the indicator is known.
    let events = receipt["events"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, q) = s.send_json(
            "POST",
            "/api/v1/query",
            &analyst,
            &serde_json::json!({"sql": "SELECT count(*) AS n FROM events"}),
        );
        if q["rows"][0]["n"].as_u64() == Some(events) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "lake: {q}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, before) = s.get("/api/v1/alerts?text=intel:&limit=100", &viewer);
    assert_eq!(before["total"], 0, "{before}");

    // Bad imports are refused with their reason and keep nothing.
    let (status, bad) = s.post(
        "/api/v1/intel/import?feed=analyst-list",
        &analyst,
        b"{\"type\": \"bundle\", \"objects\": [{\"type\": \"indicator\", \"id\": \"indicator--1\", \"pattern\": \"[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']\", \"pattern_type\": \"stix\", \"valid_from\": \"2024-01-01T00:00:00Z\"}]}".to_vec(),
    );
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("FOLLOWEDBY"),
        "{bad}"
    );
    let (status, bad) = s.post(
        "/api/v1/intel/import?feed=../etc",
        &analyst,
        b"x.example".to_vec(),
    );
    assert_eq!(status, 400, "{bad}");
    let (status, _) = s.post(
        "/api/v1/intel/import?feed=f",
        &viewer,
        b"x.example".to_vec(),
    );
    assert_eq!(status, 403);

    // The import: one new indicator, searched for at once.
    let feed = format!("# made for this test\n{name}\nnot a domain\n");
    let (status, imported) = s.post(
        "/api/v1/intel/import?feed=analyst-list",
        &analyst,
        feed.into_bytes(),
    );
    assert_eq!(status, 200, "{imported}");
    assert_eq!(imported["indicators"], 1, "{imported}");
    assert_eq!(imported["new_indicators"], 1);
    assert_eq!(imported["rejected"], 1, "the bad line is named: {imported}");
    assert!(
        imported["rejections"][0]
            .as_str()
            .unwrap()
            .contains("line 3"),
        "{imported}"
    );
    assert_eq!(imported["retro_hunt"], "started");
    let feeds = s.wait_for(
        "/api/v1/intel/feeds",
        &viewer,
        Duration::from_secs(60),
        |b| b["retro_hunts"][0]["elapsed_ms"].is_u64(),
    );
    let retro = &feeds["retro_hunts"][0];
    assert_eq!(retro["feed"], "analyst-list", "{feeds}");
    assert_eq!(retro["new_indicators"], 1);
    assert_eq!(retro["events_scanned"].as_u64(), Some(events), "{retro}");
    assert_eq!(retro["matches"], 1, "{retro}");
    assert_eq!(retro["alerts_created"], 1, "{retro}");
    assert!(retro["error"].is_null(), "{retro}");
    let feed = feeds["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "analyst-list")
        .unwrap();
    assert_eq!(
        (feed["files"].as_u64(), feed["added"].as_u64()),
        (Some(1), Some(1))
    );

    // The retro alert: the indicator, the original event time, marked retro.
    let rule_id = format!("intel:domain:{name}");
    let (_, page) = s.get(&format!("/api/v1/alerts?rule_id={rule_id}"), &viewer);
    assert_eq!(page["total"], 1, "{page}");
    let alert = &page["items"][0];
    assert_eq!(
        alert["first_seen"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap(),
        when
    );
    assert!(
        alert["rule"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "vigil.retro-hunt"),
        "{alert}"
    );
    assert_eq!(alert["evidence"][0]["field"], "query.hostname");

    // Lookup by a subdomain names the indicator with its sightings; the sightings list has it.
    let (status, found) = s.get(
        &format!("/api/v1/intel/indicators?value=www.{name}"),
        &viewer,
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 1, "{found}");
    let ind = &found["items"][0];
    assert_eq!(ind["value"], name.as_str());
    assert_eq!(ind["sources"][0]["feed"], "analyst-list");
    assert_eq!(ind["sightings"]["alerts"], 1, "{ind}");
    assert_eq!(ind["sightings"]["retro_alerts"], 1);
    let (_, sightings) = s.get("/api/v1/intel/sightings", &viewer);
    assert_eq!(sightings[0]["value"], name.as_str(), "{sightings}");
    assert_eq!(sightings[0]["events"], 1);

    // The same file again brings nothing new: no second search, no second alert.
    let again = format!("{name}\n");
    let (status, imported) = s.post(
        "/api/v1/intel/import?feed=analyst-list",
        &analyst,
        again.into_bytes(),
    );
    assert_eq!(status, 200);
    assert_eq!(imported["retro_hunt"], "no new indicators", "{imported}");

    // Kept across a restart; `replace` makes a file the feed's whole content.
    drop(s);
    let s = Served::start(&data, &args);
    let (_, found) = s.get(&format!("/api/v1/intel/indicators?value={name}"), &viewer);
    assert_eq!(found["total"], 1, "kept: {found}");
    let (status, imported) = s.post(
        "/api/v1/intel/import?feed=analyst-list&replace=true",
        &analyst,
        b"other-name.example\n".to_vec(),
    );
    assert_eq!(status, 200, "{imported}");
    let (_, found) = s.get(&format!("/api/v1/intel/indicators?value={name}"), &viewer);
    assert_eq!(found["total"], 0, "replaced: {found}");
    let (_, feeds) = s.get("/api/v1/intel/feeds", &viewer);
    assert_eq!(feeds["indicators"], 1, "{feeds}");
}

#[test]
fn a_false_positive_allowlists_its_indicator_old_intel_decays_and_exports_follow() {
    let Some(log) = vigil_core::corpus::corpus_path("zeek/slips/test9-mixed-zeek-dir/dns.log")
    else {
        return;
    };
    let name = lone_query_name(&log);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = repo().join("examples/rules");
    let s = Served::start(&data, &["--rules", rules.to_str().unwrap()]);
    let analyst = create_token(&data, "analyst");
    let viewer = create_token(&data, "viewer");

    // A list (no dates: never decays) and a STIX indicator last valid from 2020 (an IPv4 of
    // 60-day lifetime: decayed long ago, held but not matching).
    let list = format!("# made for this test\n{name}\n198.51.100.23\n203.0.113.0/24\n");
    let (status, imported) = s.post(
        "/api/v1/intel/import?feed=fp-test",
        &analyst,
        list.into_bytes(),
    );
    assert_eq!(status, 200, "{imported}");
    let stix = br#"{"type": "bundle", "id": "bundle--9b1b8c1e-0000-4000-8000-000000000001", "objects": [{"type": "indicator", "spec_version": "2.1", "id": "indicator--9b1b8c1e-0000-4000-8000-000000000002", "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z", "pattern": "[ipv4-addr:value = '192.0.2.77']", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z", "confidence": 80}]}"#;
    let (status, imported) = s.post(
        "/api/v1/intel/import?feed=old-stix",
        &analyst,
        stix.to_vec(),
    );
    assert_eq!(status, 200, "{imported}");
    let (_, feeds) = s.get("/api/v1/intel/feeds", &viewer);
    assert_eq!(feeds["indicators"], 4, "{feeds}");
    assert_eq!(feeds["in_force"], 3, "{feeds}");
    assert_eq!(feeds["left_out"]["decayed"], 1, "{feeds}");

    // Exports hold what matches now.
    let export = |query: &str| {
        let resp = s
            .http
            .get(format!("{}/api/v1/intel/export?{query}", s.url))
            .bearer_auth(&viewer)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    let (status, text) = export("format=text&kind=ipv4");
    assert_eq!(status, 200, "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines, ["198.51.100.23", "203.0.113.0/24"], "{text}");
    let (status, nft) = export("format=nftables&table=blocklist");
    assert_eq!(status, 200, "{nft}");
    assert!(nft.contains("table inet blocklist"), "{nft}");
    assert!(nft.contains("203.0.113.0/24"), "{nft}");
    let (status, bundle) = export("format=stix");
    assert_eq!(status, 200);
    let bundle: Value = serde_json::from_str(&bundle).unwrap();
    let patterns: Vec<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["pattern"].as_str())
        .collect();
    assert!(patterns.iter().any(|p| p.contains(&name)), "{patterns:?}");
    assert!(
        !patterns.iter().any(|p| p.contains("192.0.2.77")),
        "decayed: {patterns:?}"
    );
    let (status, _) = export("format=yaml");
    assert_eq!(status, 400);

    // The feed's domain is seen: an intel alert. Closing it as false positive allowlists it.
    let (status, receipt) = s.post(
        "/api/v1/ingest?source=zeek",
        &analyst,
        std::fs::read(&log).unwrap(),
    );
    assert_eq!(status, 200, "{receipt}");
    let rule_id = format!("intel:domain:{name}");
    let page = s.wait_for(
        &format!("/api/v1/alerts?rule_id={rule_id}"),
        &viewer,
        Duration::from_secs(60),
        |b| b["total"] == 1,
    );
    let alert = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, closed) = s.send_json(
        "PATCH",
        &format!("/api/v1/alerts/{alert}"),
        &analyst,
        &serde_json::json!({"status": "closed", "verdict": "false-positive", "comment": "our own resolver's test name"}),
    );
    assert_eq!(status, 200, "{closed}");
    let (_, allow) = s.get("/api/v1/intel/allowlist", &viewer);
    assert_eq!(allow["total"], 1, "{allow}");
    let entry = &allow["items"][0];
    assert_eq!(entry["value"], name.as_str());
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .contains("our own resolver's test name"),
        "{entry}"
    );
    let (_, feeds) = s.get("/api/v1/intel/feeds", &viewer);
    assert_eq!(feeds["in_force"], 2, "{feeds}");
    assert_eq!(feeds["left_out"]["allowlisted"], 1, "{feeds}");
    let (_, bundle) = export("format=stix");
    assert!(
        !bundle.contains(&name),
        "allowlisted values are not exported"
    );
    // A CIDR entry by hand; bad entries are refused with their reason.
    let (status, added) = s.send_json(
        "POST",
        "/api/v1/intel/allowlist",
        &analyst,
        &serde_json::json!({"match": "cidr", "value": "203.0.113.0/25", "reason": "partner range"}),
    );
    assert_eq!(status, 200, "{added}");
    // The /24 stays an indicator, but addresses of the allowlisted half no longer alert.
    let events = "{\"src_ip\": \"10.1.1.1\", \"dst_ip\": \"203.0.113.5\", \"msg\": \"allowlisted half\", \"timestamp\": \"2026-12-01T10:00:00Z\"}\n\
                  {\"src_ip\": \"10.1.1.1\", \"dst_ip\": \"203.0.113.200\", \"msg\": \"other half\", \"timestamp\": \"2026-12-01T10:00:01Z\"}\n";
    let (status, receipt) = s.post(
        "/api/v1/ingest?source=proxy",
        &analyst,
        events.as_bytes().to_vec(),
    );
    assert_eq!(status, 200, "{receipt}");
    let page = s.wait_for(
        "/api/v1/alerts?rule_id=intel:ipv4:203.0.113.0/24",
        &viewer,
        Duration::from_secs(60),
        |b| b["total"] == 1,
    );
    s.wait_for("/api/v1/sources", &analyst, Duration::from_secs(60), |b| {
        b["pipeline"]["lag_units"] == 0
    });
    let (_, page2) = s.get("/api/v1/alerts?rule_id=intel:ipv4:203.0.113.0/24", &viewer);
    assert_eq!(page2["total"], 1, "{page2}");
    assert_eq!(
        page["items"][0]["evidence"][0]["value"], "203.0.113.200",
        "{page}"
    );
    let (status, bad) = s.send_json(
        "POST",
        "/api/v1/intel/allowlist",
        &analyst,
        &serde_json::json!({"match": "cidr", "value": "203.0.113.0/33", "reason": "x"}),
    );
    assert_eq!(status, 400, "{bad}");
    let (status, _) = s.send_json(
        "POST",
        "/api/v1/intel/allowlist",
        &analyst,
        &serde_json::json!({"match": "value", "kind": "ipv4", "value": "198.51.100.23", "reason": " "}),
    );
    assert_eq!(status, 400, "a reason is required");

    // Taking the domain off the allowlist makes it match again; the list survives a restart.
    let (status, _) = s.send_json(
        "DELETE",
        &format!("/api/v1/intel/allowlist?pattern=domain%20{name}"),
        &analyst,
        &Value::Null,
    );
    assert_eq!(status, 204);
    drop(s);
    let s = Served::start(&data, &["--rules", rules.to_str().unwrap()]);
    let (_, allow) = s.get("/api/v1/intel/allowlist", &viewer);
    assert_eq!(allow["total"], 1, "the CIDR entry is kept: {allow}");
    let (_, feeds) = s.get("/api/v1/intel/feeds", &viewer);
    assert_eq!(feeds["in_force"], 3, "{feeds}");
}
