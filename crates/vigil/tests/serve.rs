//! `vigil serve` end to end: the real binary on loopback, real corpus files over HTTP, alerts
//! through the API, triage, rules, sources, tokens and the audit log from the CLI.

#[path = "common/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use server::{Served, create_token, vigil_bin};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> Option<PathBuf> {
    vigil_core::corpus::corpus_dir()
}

fn alerts(s: &Served, token: &str, query: &str) -> Value {
    let (status, body) = s.get(&format!("/api/v1/alerts{query}"), token);
    assert_eq!(status, 200, "{body}");
    body
}

fn titles(page: &Value) -> Vec<String> {
    let mut t: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"]["title"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

#[test]
fn corpus_over_http_becomes_alerts_an_analyst_can_triage() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let examples = repo().join("examples/rules");
    let proc_rules = corpus.join("sigma/rules/windows/process_creation");
    let useradd = corpus.join("sigma/rules/linux/builtin/lnx_privileged_user_creation.yml");
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        "[monitor.syslog]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let s = Served::start(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--rules",
            examples.to_str().unwrap(),
            "--rules",
            proc_rules.to_str().unwrap(),
            "--rules",
            useradd.to_str().unwrap(),
        ],
    );
    assert!(
        s.admin.starts_with("vgl_"),
        "first start prints the admin token"
    );
    let analyst = create_token(&data, "analyst");
    let viewer = create_token(&data, "viewer");

    // A real EVTX attack sample, as a shipper would POST it.
    let evtx = std::fs::read(
        corpus.join("evtx-attack-samples/Execution/exec_sysmon_lobin_regsvr32_sct.evtx"),
    )
    .unwrap();
    let (status, receipt) = s.post("/api/v1/ingest?source=edr", &analyst, evtx);
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["format"], "evtx");
    assert_eq!(receipt["source"], "http:edr");
    let evtx_events = receipt["events"].as_u64().unwrap();
    assert!(evtx_events > 0);

    // The project's own sample, NDJSON and concatenated JSON.
    let sample = repo().join("examples/windows-sample");
    for (file, tag) in [("sysmon.ndjson", "sysmon"), ("security.json", "security")] {
        let (status, receipt) = s.post(
            &format!("/api/v1/ingest?source={tag}"),
            &analyst,
            std::fs::read(sample.join(file)).unwrap(),
        );
        assert_eq!(status, 200, "{receipt}");
    }

    // Syslog: a privileged account created, once over UDP (host combo) and once over TCP
    // with octet-counting framing (host web01); an ordinary one that must not alert.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(
        b"<86>Jun 19 04:09:11 combo useradd[2113]: new user: name=svc-backup, UID=1001, GID=0, home=/root, shell=/bin/bash",
        s.announced("vigil serve: syslog udp on "),
    )
    .unwrap();
    {
        use std::io::Write;
        let mut tcp =
            std::net::TcpStream::connect(s.announced("vigil serve: syslog tcp on ")).unwrap();
        for line in [
            "<86>Jun 19 04:10:02 web01 useradd[77]: new user: name=ops, UID=1003, GID=0, home=/root, shell=/bin/bash",
            "<86>Jun 19 04:10:40 web01 useradd[78]: new user: name=alice, UID=1002, GID=1002, home=/home/alice, shell=/bin/bash",
        ] {
            write!(tcp, "{} {line}", line.len()).unwrap();
        }
    }

    let privileged_seen = |b: &Value| {
        b["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .filter(|a| a["rule"]["id"] == "0ac15ec3-d24f-4246-aa2a-3077bb1cf90e")
                .count()
                == 2
        })
    };
    let page = s.wait_for(
        "/api/v1/alerts?limit=1000",
        &viewer,
        Duration::from_secs(60),
        |b| b["total"].as_u64() >= Some(9) && privileged_seen(b),
    );
    let privileged: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"]["id"] == "0ac15ec3-d24f-4246-aa2a-3077bb1cf90e")
        .collect();
    let mut hosts: Vec<&str> = privileged
        .iter()
        .map(|a| a["entities"]["host"].as_str().unwrap_or("-"))
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["combo", "web01"], "{privileged:?}");
    let t = titles(&page);
    for expected in [
        "Potential Regsvr32 Commandline Flag Anomaly",
        "Potentially Suspicious Regsvr32 HTTP/FTP Pattern",
        "Scripting/CommandLine Process Spawned Regsvr32",
        "Unusual Parent Process For Cmd.EXE",
        "Certutil Used To Download A File",
        "LSASS Dump Through comsvcs.dll MiniDump",
        "Security Event Log Cleared",
    ] {
        assert!(
            t.iter().any(|x| x == expected),
            "{expected} missing from {t:?}"
        );
    }

    // Filters: by entity and level.
    let crit = alerts(&s, &viewer, "?min_level=critical");
    assert_eq!(titles(&crit), ["LSASS Dump Through comsvcs.dll MiniDump"]);
    let on_host = alerts(&s, &viewer, "?entity=IEWIN7&limit=100");
    assert_eq!(on_host["total"], 4, "{on_host}");

    // Triage: acknowledge with a comment, then close with a verdict.
    let id = crit["items"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = s.send_json(
        "PATCH",
        &format!("/api/v1/alerts/{id}"),
        &analyst,
        &json!({"status": "acknowledged", "assignee": "alice", "comment": "looking"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "acknowledged");
    let (status, body) = s.send_json(
        "PATCH",
        &format!("/api/v1/alerts/{id}"),
        &analyst,
        &json!({"status": "closed"}),
    );
    assert_eq!(status, 422, "closing needs a verdict: {body}");
    let (status, detail) = s.get(&format!("/api/v1/alerts/{id}"), &viewer);
    assert_eq!(status, 200);
    assert_eq!(detail["comments"][0]["text"], "looking");
    assert_eq!(detail["evidence"][0]["field"], "CommandLine", "{detail}");

    // Viewers read but do not change.
    let (status, _) = s.send_json(
        "PATCH",
        &format!("/api/v1/alerts/{id}"),
        &viewer,
        &json!({"status": "in-progress"}),
    );
    assert_eq!(status, 403);

    // Rules: hit counts and load errors; disabling one is admin-only and sticks.
    let (status, rules) = s.get("/api/v1/rules?fired=true", &viewer);
    assert_eq!(status, 200);
    let fired = rules["rules"].as_array().unwrap();
    assert!(fired.iter().all(|r| r["alerts"].as_u64() > Some(0)));
    assert!(rules["loaded"].as_u64() > Some(1000));
    let certutil = "0b6f6a1e-6a43-4c1c-9a55-3d1f0e7c2a02";
    let (status, _) = s.send_json(
        "PATCH",
        &format!("/api/v1/rules/{certutil}"),
        &analyst,
        &json!({"enabled": false}),
    );
    assert_eq!(status, 403);
    let (status, _) = s.send_json(
        "PATCH",
        &format!("/api/v1/rules/{certutil}"),
        &s.admin,
        &json!({"enabled": false}),
    );
    assert_eq!(status, 204);
    let (status, reload) = s.post("/api/v1/rules/reload", &s.admin, Vec::new());
    assert_eq!(status, 200, "{reload}");
    assert_eq!(reload["generation"], 1);
    let (_, rules) = s.get(&format!("/api/v1/rules?text={certutil}"), &viewer);
    assert_eq!(rules["rules"][0]["enabled"], false, "{rules}");

    // Sources: counts per source tag, formats.
    let (status, sources) = s.get("/api/v1/sources", &viewer);
    assert_eq!(status, 200);
    let edr = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["source"] == "http:edr")
        .unwrap();
    assert_eq!(edr["events"].as_u64(), Some(evtx_events));
    assert_eq!(edr["formats"]["evtx"].as_u64(), Some(evtx_events));

    // Malformed body: 400 naming the line, nothing stored.
    let (status, err) = s.post(
        "/api/v1/ingest?source=bad",
        &analyst,
        b"{\"EventID\":1}\n{\"EventID\":\n{\"EventID\":3}\n".to_vec(),
    );
    assert_eq!(status, 400);
    assert_eq!(err["error"]["records"][0]["line"], 2, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("line 2"),
        "{err}"
    );

    // The events through SQL, once the lake has flushed them (seconds).
    let sql = json!({"sql": "SELECT count(*) AS n, min(product) AS product FROM events WHERE source = 'http:edr'"});
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let (status, body) = s.send_json("POST", "/api/v1/query", &analyst, &sql);
        assert_eq!(status, 200, "{body}");
        if body["rows"][0]["n"].as_u64() == Some(evtx_events) {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lake never showed the events: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(rows["rows"][0]["product"], "windows");
    let (status, body) = s.send_json(
        "POST",
        "/api/v1/query",
        &analyst,
        &json!({"sql": "SELECT process_cmd_line FROM events WHERE process_name = 'certutil.exe'"}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body["rows"][0]["process_cmd_line"]
            .as_str()
            .unwrap()
            .contains("-urlcache"),
        "{body}"
    );
    let (status, _) = s.send_json("POST", "/api/v1/query", &viewer, &sql);
    assert_eq!(status, 403, "hunting is for analysts");
    let (status, body) = s.send_json(
        "POST",
        "/api/v1/query",
        &analyst,
        &json!({"sql": "DROP TABLE events"}),
    );
    assert_eq!(status, 400, "{body}");

    // Retro-hunt: the rules in force over the stored EVTX events find the rules that alerted
    // on that host live; a rule sent as text runs too; viewers may not hunt.
    let live: BTreeSet<String> = titles(&on_host).into_iter().collect();
    let (status, hunt) = s.send_json(
        "POST",
        "/api/v1/retrohunt",
        &analyst,
        &json!({"source": "http:edr"}),
    );
    assert_eq!(status, 200, "{hunt}");
    assert_eq!(hunt["events_scanned"].as_u64(), Some(evtx_events), "{hunt}");
    assert_eq!(hunt["events_unreadable"], 0, "{hunt}");
    let found: BTreeSet<String> = hunt["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule_title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(found, live, "{hunt}");
    let regsvr32 = "title: regsvr32 fetching a scriptlet\nid: 3f0e0000-0000-4000-8000-0000000000aa\n\
        logsource:\n  category: process_creation\n  product: windows\ndetection:\n  sel:\n    \
        Image|endswith: \\regsvr32.exe\n    CommandLine|contains: /i:http\n  condition: sel\nlevel: high\n";
    let (status, hunt) = s.send_json(
        "POST",
        "/api/v1/retrohunt",
        &analyst,
        &json!({"rule": regsvr32, "from": "2000-01-01T00:00:00Z"}),
    );
    assert_eq!(status, 200, "{hunt}");
    assert!(hunt["matches_total"].as_u64() >= Some(1), "{hunt}");
    assert_eq!(hunt["matches"][0]["host"], "IEWIN7", "{hunt}");
    let (status, body) = s.send_json(
        "POST",
        "/api/v1/retrohunt",
        &analyst,
        &json!({"rules": ["no-such-rule"]}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("no-such-rule"), "{body}");
    let (status, _) = s.send_json("POST", "/api/v1/retrohunt", &viewer, &json!({}));
    assert_eq!(status, 403, "retro-hunting is for analysts");

    // The metrics page carries the pipeline figures.
    let resp = s
        .http
        .get(format!("{}/api/v1/metrics", s.url))
        .bearer_auth(&viewer)
        .send()
        .unwrap();
    let text = resp.text().unwrap();
    assert!(text.contains("vigil_http_requests_total"), "{text}");

    let status = s.stop();
    assert!(status.success(), "clean stop on SIGTERM: {status:?}");

    // The audit log recorded the mutating calls and its chain is intact.
    let out = std::process::Command::new(vigil_bin())
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("intact"), "{text}");
    let audit = std::fs::read_to_string(vigil_server::audit_log_path(&data)).unwrap();
    assert!(audit.contains("rule 0b6f6a1e-6a43-4c1c-9a55-3d1f0e7c2a02 disabled"));
    assert!(audit.contains("ingested"));

    // SQL straight on the data directory, no server.
    let out = std::process::Command::new(vigil_bin())
        .args(["query", "--data"])
        .arg(&data)
        .arg("SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows[0]["source"], "http:edr");
    assert_eq!(rows[0]["n"].as_u64(), Some(evtx_events));

    // Retro-hunt straight on the data directory: same rules, same answer as the API's.
    let out = std::process::Command::new(vigil_bin())
        .args(["retrohunt", "--source", "http:edr", "--rules"])
        .arg(&examples)
        .arg("--rules")
        .arg(&proc_rules)
        .arg("--rules")
        .arg(&useradd)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let offline: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["rule_title"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(offline, live, "{stderr}");
    assert!(
        stderr.contains(&format!("{evtx_events} events scanned")),
        "{stderr}"
    );

    // A restart keeps alerts, the disabled rule, and prints no new admin token.
    let s = Served::start(&data, &["--rules", examples.to_str().unwrap()]);
    assert!(s.admin.is_empty());
    let page = alerts(&s, &viewer, "?limit=100");
    assert_eq!(titles(&page), t);
    let (_, rules) = s.get(&format!("/api/v1/rules?text={certutil}"), &viewer);
    assert_eq!(rules["rules"][0]["enabled"], false);
}

#[test]
fn tampering_with_the_audit_log_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_token(&data, "viewer");
    create_token(&data, "analyst");
    let path = vigil_server::audit_log_path(&data);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("role=viewer", "role=admin", 1)).unwrap();
    let out = std::process::Command::new(vigil_bin())
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("audit.log:1: audit chain broken"), "{text}");
}
