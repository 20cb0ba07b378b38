//! Incident response through the real server, on the bundled Windows sample (a workstation's
//! credential theft, three alerts; a domain controller's log clearing, two): merge and split,
//! the case workflow with its plan's tasks and SLA, stale changes refused, the MTTA report,
//! and exceptions — proposed from a false positive, previewed, saved, suppressing live
//! detections — refused when they would hide a true positive.

#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use server::{Served, create_token};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

/// The listed incidents, by the host they are about.
fn incidents(s: &Served, token: &str) -> (Value, Value) {
    let (status, list) = s.get("/api/v1/incidents?limit=10", token);
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    let on = |host: &str| {
        items
            .iter()
            .find(|i| {
                i["entities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["value"] == host)
            })
            .cloned()
            .unwrap_or(Value::Null)
    };
    (on("wks-fin-07.corp.example"), on("srv-dc-01.corp.example"))
}

#[test]
fn cases_merges_splits_and_exceptions_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(&config, "[monitor.assess]\nlookback_days = 100000\n").unwrap();
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
    let analyst = create_token(&data, "analyst");
    let viewer = create_token(&data, "viewer");
    let ingest = |s: &Served| {
        for file in ["sysmon.ndjson", "security.json"] {
            let body = std::fs::read(repo().join("examples/windows-sample").join(file)).unwrap();
            let (status, receipt) = s.post("/api/v1/ingest?source=sample", &analyst, body);
            assert_eq!(status, 200, "{receipt}");
        }
        s.wait_for("/api/v1/sources", &analyst, Duration::from_secs(60), |b| {
            b["pipeline"]["lag_units"] == 0
        });
    };
    ingest(&s);
    s.wait_for("/api/v1/alerts", &viewer, Duration::from_secs(60), |b| {
        b["total"].as_u64() == Some(5)
    });
    let (wks, dc) = incidents(&s, &viewer);
    let (wks_id, dc_id) = (
        wks["id"].as_str().unwrap().to_owned(),
        dc["id"].as_str().unwrap().to_owned(),
    );
    // Untouched incidents are `new`, with the plan their techniques call for.
    assert_eq!(wks["status"], "new", "{wks}");
    assert_eq!(wks["plan"], "credential-theft", "{wks}");
    assert_eq!(wks["alerts"].as_array().unwrap().len(), 3);

    // Merge the DC's incident into the workstation's: one incident of five alerts.
    let (status, merged) = s.send_json(
        "POST",
        &format!("/api/v1/incidents/{wks_id}/merge"),
        &analyst,
        &json!({"from": [dc_id]}),
    );
    assert_eq!(status, 200, "{merged}");
    assert_eq!(
        merged["history"].as_array().unwrap().last().unwrap()["event"],
        "merged"
    );
    let (status, list) = s.get("/api/v1/incidents", &viewer);
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], wks_id.as_str());
    assert_eq!(list["items"][0]["alerts"].as_array().unwrap().len(), 5);
    // Bad merges are refused with the reason.
    let (status, bad) = s.send_json(
        "POST",
        &format!("/api/v1/incidents/{wks_id}/merge"),
        &analyst,
        &json!({"from": [wks_id]}),
    );
    assert_eq!(status, 422, "{bad}");
    // Split the DC's alerts off again: two incidents, the DC's under a new id.
    let dc_alerts = ids(&dc["alerts"]);
    let (status, split) = s.send_json(
        "POST",
        &format!("/api/v1/incidents/{wks_id}/split"),
        &analyst,
        &json!({"alerts": dc_alerts}),
    );
    assert_eq!(status, 200, "{split}");
    let dc_id = split["id"].as_str().unwrap().to_owned();
    let (wks, dc) = incidents(&s, &viewer);
    assert_eq!(wks["id"], wks_id.as_str());
    assert_eq!(dc["id"], dc_id.as_str());
    assert_eq!(ids(&dc["alerts"]), dc_alerts);
    let (status, bad) = s.send_json(
        "POST",
        &format!("/api/v1/incidents/{dc_id}/split"),
        &analyst,
        &json!({"alerts": ids(&wks["alerts"])}),
    );
    assert_eq!(status, 422, "alerts of another incident: {bad}");

    // The workflow: triage with an assignee opens the case with the plan's tasks.
    let url = format!("/api/v1/incidents/{wks_id}");
    let (status, case) = s.send_json(
        "PATCH",
        &url,
        &analyst,
        &json!({"status": "triaged", "assignee": "alice"}),
    );
    assert_eq!(status, 200, "{case}");
    assert_eq!(case["status"], "triaged");
    assert_eq!(case["assignee"], "alice");
    assert_eq!(case["plan"], "credential-theft");
    let tasks = case["tasks"].as_array().unwrap();
    assert!(tasks.len() >= 3, "{case}");
    let task = tasks[0]["id"].as_str().unwrap().to_owned();
    let version = case["version"].as_i64().unwrap();
    let events: Vec<&str> = case["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"acknowledged"), "{events:?}");
    // A change decided on an older version is refused.
    let (status, stale) = s.send_json(
        "PATCH",
        &url,
        &analyst,
        &json!({"comment": "late", "version": version - 1}),
    );
    assert_eq!(status, 409, "{stale}");
    // Illegal moves name the allowed ones; unknown tasks name the known ones.
    let (status, bad) = s.send_json("PATCH", &url, &analyst, &json!({"status": "recovered"}));
    assert_eq!(status, 422, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contained"),
        "{bad}"
    );
    let (status, bad) = s.send_json(
        "PATCH",
        &url,
        &analyst,
        &json!({"tasks": {"no-such-task": true}}),
    );
    assert_eq!(status, 422, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().contains(&task));
    let (status, bad) = s.send_json("PATCH", &url, &analyst, &json!({"status": "closed"}));
    assert_eq!(status, 422, "closing needs a verdict: {bad}");
    let (status, _) = s.send_json("PATCH", &url, &viewer, &json!({"status": "contained"}));
    assert_eq!(status, 403);
    let (status, case) = s.send_json(
        "PATCH",
        &url,
        &analyst,
        &json!({"status": "contained", "tasks": {task.clone(): true}, "comment": "isolated the host", "version": version}),
    );
    assert_eq!(status, 200, "{case}");
    assert!(case["tasks"][0]["done"]["author"].is_string(), "{case}");
    let (status, case) = s.send_json(
        "PATCH",
        &url,
        &analyst,
        &json!({"status": "closed", "verdict": "true-positive"}),
    );
    assert_eq!(status, 200, "{case}");
    let (_, detail) = s.get(&url, &viewer);
    assert_eq!(detail["status"], "closed", "{detail}");
    assert_eq!(detail["verdict"], "true-positive");
    assert_eq!(detail["case"]["comments"][0]["text"], "isolated the host");
    assert_eq!(
        detail["sla"]["targets"].as_array().map(Vec::len),
        Some(3),
        "{detail}"
    );
    assert_eq!(detail["plan_detail"]["id"], "credential-theft");

    // The report: one incident acknowledged, contained and closed; the other pending.
    let (status, report) = s.get(
        "/api/v1/reports/response?since=2000-01-01T00:00:00Z",
        &viewer,
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["cases"], 2, "{report}");
    assert_eq!(report["by_verdict"]["true-positive"], 1);
    assert_eq!(report["mtta"]["count"], 1, "{report}");
    assert_eq!(report["mtta"]["pending"], 1, "{report}");
    assert_eq!(report["mttr"]["count"], 1);

    // The DC's incident closed as false positive proposes exceptions.
    let dc_url = format!("/api/v1/incidents/{dc_id}");
    let (status, _) = s.send_json(
        "PATCH",
        &dc_url,
        &analyst,
        &json!({"status": "closed", "verdict": "false-positive", "comment": "backup job"}),
    );
    assert_eq!(status, 200);
    let (_, detail) = s.get(&dc_url, &viewer);
    let proposed = detail["proposed_exceptions"].as_array().unwrap();
    assert_eq!(proposed.len(), 2, "one per rule: {detail}");
    let mut draft = proposed[0].clone();
    let draft_rule = draft["rule_id"].as_str().unwrap().to_owned();
    assert!(
        draft["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "host" && c["value"] == "srv-dc-01.corp.example"),
        "{draft}"
    );
    let obj = draft.as_object_mut().unwrap();
    for k in ["id", "author", "created"] {
        obj.remove(k);
    }
    obj.insert("reason".into(), json!("the nightly backup job runs whoami"));
    let (status, preview) = s.send_json("POST", "/api/v1/exceptions/preview", &analyst, &draft);
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["preview"]["would_suppress"], 1, "{preview}");
    assert_eq!(preview["preview"]["true_positives"], json!([]));
    assert_eq!(preview["saved"], false);
    let (status, saved) = s.send_json("POST", "/api/v1/exceptions", &analyst, &draft);
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["saved"], true);
    let exception_id = saved["exception"]["id"].as_str().unwrap().to_owned();
    // The suppressed alert leaves the incident; the same event again is not stored.
    let (_, detail) = s.get(&dc_url, &viewer);
    assert_eq!(detail["alerts"].as_array().unwrap().len(), 1, "{detail}");
    ingest(&s);
    let (_, sources) = s.get("/api/v1/sources", &analyst);
    assert_eq!(sources["pipeline"]["alerts_suppressed"], 1, "{sources}");
    let (_, listed) = s.get("/api/v1/exceptions", &viewer);
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["rule_id"], draft_rule.as_str());

    // An exception that would hide the workstation's true positives is refused, naming them.
    let (status, refused) = s.send_json(
        "POST",
        "/api/v1/exceptions",
        &analyst,
        &json!({"rule_id": "0b6f6a1e-6a43-4c1c-9a55-3d1f0e7c2a03",
                "conditions": [{"field": "host", "value": "WKS-FIN-07.corp.example"}],
                "reason": "lab machine"}),
    );
    assert_eq!(status, 409, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    let lsass = ids(&wks["alerts"])
        .into_iter()
        .find(|a| message.contains(a.as_str()));
    assert!(lsass.is_some(), "names the true-positive alert: {message}");
    let (status, bad) = s.send_json(
        "POST",
        "/api/v1/exceptions",
        &analyst,
        &json!({"rule_id": "x", "conditions": [], "reason": "everything"}),
    );
    assert_eq!(status, 422, "rule-wide only when said: {bad}");

    // Deleting the exception brings its alert back.
    let (status, _) = s.send_json(
        "DELETE",
        &format!("/api/v1/exceptions/{exception_id}"),
        &analyst,
        &Value::Null,
    );
    assert_eq!(status, 204);
    let (_, detail) = s.get(&dc_url, &viewer);
    assert_eq!(detail["alerts"].as_array().unwrap().len(), 2, "{detail}");
    let (_, plans) = s.get("/api/v1/plans", &viewer);
    assert!(plans["total"].as_u64().unwrap() >= 6, "{plans}");
}
