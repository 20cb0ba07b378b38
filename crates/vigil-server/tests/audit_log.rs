//! The audit log as a real server writes it: mutating calls appear, the chain verifies, and
//! each kind of tampering is caught at the right line.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use vigil_server::{Error, Limits, Role, audit_log_path, verify};

fn read_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tampered_line(path: &std::path::Path) -> u64 {
    match verify(path) {
        Err(Error::AuditTampered { line, .. }) => line,
        other => panic!("tampering not detected: {other:?}"),
    }
}

#[tokio::test]
async fn mutating_calls_are_chained_and_tampering_is_found() {
    let mut srv = TestServer::start(Limits::default()).await;
    let admin = srv
        .state
        .tokens()
        .issue(Role::Admin, "admin", None)
        .unwrap();
    let viewer = srv.token(Role::Viewer);

    // 1: created by an admin; 2: revoked by an admin; 3: refused for a viewer (403);
    // 4: refused without a token (401). GETs are not audited.
    let created: serde_json::Value = srv
        .client
        .post(srv.url("/api/v1/tokens"))
        .bearer_auth(&admin.token)
        .json(&serde_json::json!({"role": "analyst", "label": "audited"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_id = created["info"]["id"].as_str().unwrap().to_string();
    let r = srv
        .client
        .delete(srv.url(&format!("/api/v1/tokens/{new_id}")))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = srv
        .client
        .post(srv.url("/api/v1/tokens"))
        .bearer_auth(&viewer)
        .json(&serde_json::json!({"role": "admin", "label": "escalate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = srv
        .client
        .post(srv.url("/api/v1/tokens"))
        .json(&serde_json::json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = srv.get("/api/v1/tokens", &admin.token).await;
    assert_eq!(r.status(), StatusCode::OK);
    // 5: a CLI call on the same data directory joins the same chain.
    vigil_server::create_token(srv.data_dir(), Role::Viewer, "cli", None).unwrap();

    let path = audit_log_path(srv.data_dir());
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    assert_eq!(lines[0]["method"], "POST");
    assert_eq!(lines[0]["path"], "/api/v1/tokens");
    assert_eq!(lines[0]["status"], 201);
    assert_eq!(lines[0]["actor_token_id"], admin.info.id.as_str());
    assert_eq!(lines[0]["role"], "admin");
    let summary = lines[0]["summary"].as_str().unwrap();
    assert!(
        summary.contains(&new_id) && summary.contains("role=analyst"),
        "{summary}"
    );

    assert_eq!(lines[1]["method"], "DELETE");
    assert_eq!(lines[1]["path"], format!("/api/v1/tokens/{new_id}"));
    assert_eq!(lines[1]["status"], 200);
    assert!(
        lines[1]["summary"]
            .as_str()
            .unwrap()
            .contains("revoked token")
    );

    assert_eq!(lines[2]["status"], 403);
    assert_eq!(lines[2]["role"], "viewer");
    assert!(
        lines[2]["summary"]
            .as_str()
            .unwrap()
            .starts_with("refused: 403")
    );

    assert_eq!(lines[3]["status"], 401);
    assert!(lines[3]["actor_token_id"].is_null());

    assert_eq!(lines[4]["method"], "CLI");
    assert_eq!(lines[4]["path"], "token create");
    assert!(lines[4]["status"].is_null());

    for (i, l) in lines.iter().enumerate().skip(1) {
        assert_eq!(l["prev_hash"], lines[i - 1]["hash"]);
    }
    let report = verify(&path).unwrap();
    assert_eq!(report.records, 5);
    assert_eq!(report.last_seq, 5);
    assert_eq!(report.head_hash, lines[4]["hash"].as_str().unwrap());
    srv.stop().await;

    let original = std::fs::read_to_string(&path).unwrap();
    let raw: Vec<&str> = original.lines().collect();

    // One byte edited: the 403 becomes a 200 in line 3.
    let edited = original.replacen("\"status\":403", "\"status\":200", 1);
    assert_ne!(edited, original);
    std::fs::write(&path, edited).unwrap();
    assert_eq!(tampered_line(&path), 3);

    // Line 2 deleted.
    let mut deleted = raw.clone();
    deleted.remove(1);
    std::fs::write(&path, deleted.join("\n") + "\n").unwrap();
    assert_eq!(tampered_line(&path), 2);

    // Lines 3 and 4 swapped.
    let mut swapped = raw.clone();
    swapped.swap(2, 3);
    std::fs::write(&path, swapped.join("\n") + "\n").unwrap();
    assert_eq!(tampered_line(&path), 3);

    // The error names the file, the line and the seq found there.
    let msg = verify(&path).unwrap_err().to_string();
    assert!(
        msg.contains("audit.log:3") && msg.contains("seq 4"),
        "{msg}"
    );

    // Restored, it verifies again.
    std::fs::write(&path, &original).unwrap();
    assert_eq!(verify(&path).unwrap().records, 5);
}
