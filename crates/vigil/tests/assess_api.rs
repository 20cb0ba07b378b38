//! Assessment through the real binary: `vigil assets import` checks and installs an inventory,
//! and the server's incidents and entity-risk routes group and weigh the alerts with it.

#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use server::{Served, create_token, vigil_bin};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn import(data: &Path, file: &Path) -> std::process::Output {
    std::process::Command::new(vigil_bin())
        .args(["assets", "import"])
        .arg(file)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn incidents_and_entity_risk_use_the_imported_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();

    // A bad inventory is refused with its line and installs nothing.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "hostname,criticality\nWKS-FIN-07.corp.example,9\n").unwrap();
    let out = import(&data, &bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.csv:line 2: criticality 9 is out of range"),
        "{stderr}"
    );
    assert!(!data.join("assets.json").exists());

    let good = dir.path().join("assets.csv");
    std::fs::write(
        &good,
        "hostname,criticality,tags,depends_on\n\
         SRV-DC-01.corp.example,5,domain-controller;crown-jewel,\n\
         WKS-FIN-07.corp.example,2,,SRV-DC-01.corp.example\n",
    )
    .unwrap();
    let out = import(&data, &good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The sample's events are from 2026-11-02: look back far enough whatever today is.
    let config = dir.path().join("vigil.toml");
    std::fs::write(&config, "[monitor.assess]\nlookback_days = 100000\n").unwrap();
    let examples = repo().join("examples/rules");
    let s = Served::start(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--rules",
            examples.to_str().unwrap(),
        ],
    );
    let analyst = create_token(&data, "analyst");
    let viewer = create_token(&data, "viewer");
    for file in ["sysmon.ndjson", "security.json"] {
        let body = std::fs::read(repo().join("examples/windows-sample").join(file)).unwrap();
        let (status, receipt) = s.post("/api/v1/ingest?source=sample", &analyst, body);
        assert_eq!(status, 200, "{receipt}");
    }
    s.wait_for("/api/v1/alerts", &viewer, Duration::from_secs(60), |b| {
        b["total"].as_u64() == Some(5)
    });

    // Two incidents: the workstation's (three alerts, alice) and the DC's (two); the DC's
    // ranks first on its criticality 5.
    let (status, list) = s.get("/api/v1/incidents?limit=10", &viewer);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items[0]["assets"][0], "SRV-DC-01.corp.example", "{list}");
    assert_eq!(items[0]["max_criticality"], 5);
    assert_eq!(items[1]["alerts"].as_array().unwrap().len(), 3);
    assert_eq!(items[1]["severity"], "critical");
    let (status, only) = s.get("/api/v1/incidents?entity=ALICE", &viewer);
    assert_eq!(status, 200);
    assert_eq!(only["total"], 1, "{only}");
    let (status, _) = s.get("/api/v1/incidents?min_severity=extreme", &viewer);
    assert_eq!(status, 400);
    let (status, _) = s.get("/api/v1/incidents/inc-nope", &viewer);
    assert_eq!(status, 404);
    let (status, _) = s.get("/api/v1/incidents", "");
    assert_eq!(status, 401);

    let id = items[1]["id"].as_str().unwrap();
    let (status, detail) = s.get(&format!("/api/v1/incidents/{id}"), &viewer);
    assert_eq!(status, 200, "{detail}");
    let timeline = detail["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 3);
    for a in timeline {
        assert_eq!(a["risk"]["factors"].as_array().unwrap().len(), 5, "{a}");
        assert_eq!(a["asset"], "WKS-FIN-07.corp.example");
    }
    assert_eq!(
        detail["blast_radius"]["WKS-FIN-07.corp.example"]["dependencies"][0],
        "SRV-DC-01.corp.example"
    );
    let (status, risk) = s.get("/api/v1/entities/risk?limit=2", &viewer);
    assert_eq!(status, 200, "{risk}");
    let top = risk["items"].as_array().unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(
        top[0]["entity"]["value"], "wks-fin-07.corp.example",
        "{risk}"
    );
    assert_eq!(top[0]["asset"], "WKS-FIN-07.corp.example");

    // What telemetry shows, next to the inventory: once the lake holds the events, both hosts
    // are discovered and matched to their assets; users are listed; unmanaged entities are
    // those no asset accounts for.
    let assets = s.wait_for("/api/v1/assets", &viewer, Duration::from_secs(60), |b| {
        b["discovered"]
            .as_array()
            .is_some_and(|d| d.iter().filter(|x| x["kind"] == "host").count() == 2)
    });
    assert_eq!(assets["inventory"].as_array().unwrap().len(), 2, "{assets}");
    let discovered = assets["discovered"].as_array().unwrap();
    let host = |name: &str| {
        discovered
            .iter()
            .find(|d| d["kind"] == "host" && d["value"] == name)
            .unwrap_or_else(|| panic!("{name} not discovered: {assets}"))
    };
    assert_eq!(
        host("wks-fin-07.corp.example")["asset"],
        "WKS-FIN-07.corp.example"
    );
    assert_eq!(
        host("srv-dc-01.corp.example")["asset"],
        "SRV-DC-01.corp.example"
    );
    assert!(host("wks-fin-07.corp.example")["events"].as_u64().unwrap() >= 3);
    assert!(host("wks-fin-07.corp.example")["first_seen"].is_string());
    assert!(
        discovered
            .iter()
            .any(|d| d["kind"] == "user" && d["value"] == "alice"),
        "{assets}"
    );
    let (status, only) = s.get("/api/v1/assets?unmanaged=true", &viewer);
    assert_eq!(status, 200, "{only}");
    assert_eq!(only["discovered_total"], assets["unmanaged"]);
    for d in only["discovered"].as_array().unwrap() {
        assert!(d["asset"].is_null() && d["kind"] != "user", "{d}");
    }
    let (status, _) = s.get("/api/v1/assets?kind=printer", &viewer);
    assert_eq!(status, 400);
}
