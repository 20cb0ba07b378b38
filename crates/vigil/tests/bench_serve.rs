//! `vigil bench serve` on a small load: every event sent is acknowledged and detected, every
//! marker's alert is found, and the temporary data directory is gone afterwards. The figures
//! themselves are not checked: timing never appears in tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_small_run_accounts_for_every_event_and_marker() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["bench", "serve", "--rules"])
        .arg(repo().join("examples/rules"))
        .args(["--events", "3000", "--batch", "100", "--clients", "2"])
        .args([
            "--rate",
            "1000",
            "--seconds",
            "2",
            "--poll-ms",
            "10",
            "--json",
        ])
        .arg("--dir")
        .arg(dir.path())
        .env_remove("VIGIL_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");

    let rules = report["server"]["marker_rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r.as_str().unwrap().contains("Certutil")),
        "{rules:?}"
    );
    assert!(
        report["server"]["rules"]
            .as_str()
            .unwrap()
            .starts_with("5 rules loaded"),
        "{report}"
    );

    assert_eq!(report["baseline"]["events"], 3000);
    let t = &report["throughput"];
    assert_eq!(t["events"], 3000);
    assert_eq!(t["acknowledged_events"], 3000);
    assert_eq!(t["request_ms"]["count"], 30);

    // 1,000 events/s for 2 s in bodies of 100: 20 bodies, one marker each, all found.
    let l = &report["latency"];
    assert_eq!(l["markers"], 20);
    assert_eq!(l["events"], 2000);
    assert_eq!(l["missing_markers"], 0);
    assert_eq!(l["alert_ms"]["count"], 20);
    assert!(report["server"]["peak_rss_mib"].as_f64().unwrap() > 0.0);

    // Both temporary directories (baseline journal, server data) are removed.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
