//! `vigil attack coverage` and the server's ATT&CK routes on a small self-made catalogue, and
//! `vigil intel import|feeds` against a running server.

#[path = "common/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use server::{Served, create_token, vigil_bin};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalog() -> PathBuf {
    repo().join("crates/vigil/tests/fixtures/attack-mini.json")
}

#[test]
fn attack_coverage_of_the_example_rules_as_table_json_and_layer() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer.json");
    let out = Command::new(vigil_bin())
        .args(["attack", "coverage", "--catalog"])
        .arg(catalog())
        .arg("--rules")
        .arg(repo().join("examples/rules"))
        .arg("--layer")
        .arg(&layer)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The certutil rule covers T1105; nothing covers T1071.
    assert!(
        stdout.contains("command-and-control          1 / 2"),
        "{stdout}"
    );
    assert!(stdout.contains("10 of 11 techniques"), "{stdout}");
    let layer: Value = serde_json::from_slice(&std::fs::read(&layer).unwrap()).unwrap();
    assert_eq!(layer["domain"], "enterprise-attack");
    let scored: Vec<(&str, i64)> = layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| Some((t["techniqueID"].as_str()?, t["score"].as_i64()?)))
        .collect();
    assert!(scored.contains(&("T1105", 1)), "{scored:?}");
    assert!(scored.contains(&("T1003.001", 1)), "{scored:?}");
    assert!(!scored.iter().any(|(id, _)| *id == "T1071"), "{scored:?}");

    let out = Command::new(vigil_bin())
        .args(["attack", "coverage", "--json", "--catalog"])
        .arg(catalog())
        .arg("--rules")
        .arg(repo().join("examples/rules"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["uncovered"], serde_json::json!(["T1071"]));

    // A catalogue that is not one is a clear error naming the file.
    let bad = dir.path().join("not-attack.json");
    std::fs::write(&bad, r#"{"type": "bundle", "objects": []}"#).unwrap();
    let out = Command::new(vigil_bin())
        .args(["attack", "coverage", "--catalog"])
        .arg(&bad)
        .arg("--rules")
        .arg(repo().join("examples/rules"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not-attack.json") && stderr.contains("matrix"),
        "{stderr}"
    );
}

#[test]
fn attack_routes_and_the_intel_cli_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[monitor.assess]\nattack_catalog = {:?}\n",
            catalog().display().to_string()
        ),
    )
    .unwrap();
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
    let viewer = create_token(&data, "viewer");
    let analyst = create_token(&data, "analyst");
    let (status, cov) = s.get("/api/v1/attack/coverage", &viewer);
    assert_eq!(status, 200, "{cov}");
    assert_eq!(cov["rules"], 5);
    assert_eq!(cov["uncovered"], serde_json::json!(["T1071"]));
    assert_eq!(
        cov["techniques"]["T1105"]["rules"][0]["title"],
        "Certutil Used To Download A File"
    );
    let (status, layer) = s.get("/api/v1/attack/navigator?name=ours", &viewer);
    assert_eq!(status, 200, "{layer}");
    assert_eq!(layer["name"], "ours");

    // vigil intel import / feeds over the API.
    let feed = dir.path().join("c2.txt");
    std::fs::write(
        &feed,
        "# made for this test\n203.0.113.7\nc2.evil.example\n",
    )
    .unwrap();
    let intel = |args: &[&str], token: &str| {
        Command::new(vigil_bin())
            .arg("intel")
            .args(args)
            .args(["--server", &s.url, "--token", token])
            .output()
            .unwrap()
    };
    let out = intel(
        &["import", feed.to_str().unwrap(), "--feed", "c2-list"],
        &analyst,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("into feed c2-list: 2 indicators (2 new), 0 rejected"),
        "{stderr}"
    );
    let out = intel(&["feeds"], &viewer);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("2 indicators held, 2 in force"), "{stdout}");
    assert!(stdout.contains("c2-list"), "{stdout}");
    // A viewer may not import: the server's refusal is the error.
    let out = intel(
        &["import", feed.to_str().unwrap(), "--feed", "c2-list"],
        &viewer,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without a catalogue the routes say how to get one (another directory: the server reads
    // ./vigil.toml from where it starts).
    drop(s);
    let other = tempfile::tempdir().unwrap();
    let data2 = other.path().join("data");
    let s = Served::start(&data2, &["--rules", rules.to_str().unwrap()]);
    let viewer = create_token(&data2, "viewer");
    let (status, err) = s.get("/api/v1/attack/coverage", &viewer);
    assert_eq!(status, 404);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("attack_catalog"),
        "{err}"
    );
}
