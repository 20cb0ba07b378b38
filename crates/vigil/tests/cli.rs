//! End-to-end tests of the `vigil` binary: the bundled sample, bad input, and the SigmaHQ
//! corpora (regression cases and the whole rule set).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vigil() -> Command {
    let mut c = Command::cargo_bin("vigil").expect("binary built");
    c.env_remove("VIGIL_CONFIG").current_dir(repo());
    c
}

fn jsonl(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn hunt_bundled_sample_finds_the_story() {
    let out = vigil()
        .args([
            "hunt",
            "examples/windows-sample",
            "--rules",
            "examples/rules",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let detections = jsonl(&out.stdout);
    let titles: Vec<&str> = detections
        .iter()
        .map(|d| d["rule_title"].as_str().unwrap())
        .collect();
    for expected in [
        "Office Application Spawns Encoded PowerShell",
        "Certutil Used To Download A File",
        "LSASS Dump Through comsvcs.dll MiniDump",
        "Privilege Enumeration With Whoami",
        "Security Event Log Cleared",
    ] {
        assert_eq!(
            titles.iter().filter(|t| **t == expected).count(),
            1,
            "{expected} in {titles:?}"
        );
    }
    assert_eq!(detections.len(), 5);
    // The whoami detection comes from a Security 4688 event through the field mapping.
    let whoami = detections
        .iter()
        .find(|d| d["rule_title"] == "Privilege Enumeration With Whoami")
        .unwrap();
    assert_eq!(whoami["event_id"], 4688);
    assert_eq!(whoami["channel"], "Security");
    assert_eq!(whoami["host"], "SRV-DC-01.corp.example");
    assert_eq!(whoami["record_id"], 88121);
    assert_eq!(whoami["level"], "medium");
    assert!(
        whoami["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "t1033")
    );
    // Entities under OCSF names, nested, from the 4688's native fields.
    let entities = &whoami["entities"];
    assert_eq!(entities["device"]["hostname"], "SRV-DC-01.corp.example");
    assert!(
        entities["process"]["cmd_line"]
            .as_str()
            .unwrap()
            .contains("whoami /priv"),
        "{entities}"
    );
    assert_eq!(entities["process"]["name"], "whoami.exe", "{entities}");
    assert_eq!(
        entities["actor"]["user"]["name"], "svc-backup",
        "{entities}"
    );
    let evidence = whoami["evidence"].as_array().unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e["search"] == "selection"
                && e["value"].as_str().unwrap().contains("whoami /priv")),
        "{evidence:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("summary: 2 files"), "{stderr}");
    assert!(stderr.contains("7 events"), "{stderr}");
    assert!(stderr.contains("rules: 5 loaded, 0 rejected"), "{stderr}");
}

#[test]
fn hunt_output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    let out = vigil()
        .args([
            "hunt",
            "examples/windows-sample",
            "-r",
            "examples/rules",
            "--format",
            "csv",
            "-o",
        ])
        .arg(&csv)
        .args(["--min-level", "high"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("time,level,rule_id,rule_title")
    );
    // high and critical only: the medium whoami rule is filtered out.
    assert_eq!(lines.count(), 4, "{text}");
    let table = vigil()
        .args(["hunt", "examples/windows-sample", "-r", "examples/rules"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&table.stdout);
    assert!(stdout.starts_with("TIME"), "{stdout}");
    assert!(stdout.contains("Security Event Log Cleared"));
}

/// The number after `label` on the line of `text` that starts with it.
fn figure(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line starting {label:?} in {text}"));
    line[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure after {label:?}: {line}"))
}

#[test]
fn bench_hunt_reports_both_passes_and_their_ratios() {
    let out = vigil()
        .args([
            "bench",
            "hunt",
            "examples/windows-sample",
            "--rules",
            "examples/rules",
            "--runs",
            "3",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("7 events"), "{stdout}");
    // The detect passes find what `vigil hunt` finds on the sample.
    assert!(stdout.contains("5 detections"), "{stdout}");
    for label in ["decode-only:", "decode+detect:"] {
        assert!(figure(&stdout, label) > 0.0, "{label} {stdout}");
    }
    // Ratios of times, by wall clock and by CPU time: positive and finite (no timing bound:
    // the machine decides the values).
    for label in [
        "ratio (decode+detect time / decode-only time):",
        "CPU time ratio (all threads, same passes):",
    ] {
        let r = figure(&stdout, label);
        assert!(r.is_finite() && r > 0.0, "{label} {r} in {stdout}");
    }
}

#[test]
fn hunt_without_rules_says_how_to_get_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("vigil")
        .unwrap()
        .env_remove("VIGIL_CONFIG")
        .current_dir(dir.path())
        .arg("hunt")
        .arg(repo().join("examples/windows-sample"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--rules") && stderr.contains("git clone"),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("vigil: error"))
            .count(),
        1
    );
}

#[test]
fn hunt_survives_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("random.evtx"),
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.ndjson"),
        b"{\"EventID\": 1, \"Channel\": \"Microsoft-Windows-Sysmon/Operational\", \"Image\": \"C:\\\\x\\\\whoami.exe\", \"CommandLine\": \"whoami /priv\"}\n{\"EventID\": 1, broken\n\xff\xfe not utf8\n",
    )
    .unwrap();
    let out = vigil()
        .arg("hunt")
        .arg(dir.path())
        .args(["--rules", "examples/rules", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The good record is still hunted.
    assert_eq!(jsonl(&out.stdout).len(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("broken.ndjson"),
        "{stderr}"
    );
    assert!(stderr.contains("random.evtx"), "{stderr}");
}

#[test]
fn config_default_prints_every_setting() {
    let out = vigil().args(["config", "default"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for key in [
        "[rules]",
        "paths",
        "mappings",
        "[hunt]",
        "threads",
        "min_level",
    ] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }
}

#[test]
fn rules_from_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[rules]\npaths = [{:?}]\n[hunt]\nmin_level = \"critical\"\n",
            repo().join("examples/rules")
        ),
    )
    .unwrap();
    let out = vigil()
        .arg("--config")
        .arg(&cfg)
        .args(["hunt", "examples/windows-sample", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = jsonl(&out.stdout);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["level"], "critical");
}

/// The conformance bar: every SigmaHQ regression case passes, on EVTX and on JSON.
#[test]
fn sigmahq_regression_cases_all_pass() {
    let Some(sigma) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let out = vigil()
        .args(["rules", "test"])
        .arg(sigma.join("regression_data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == "202 passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

/// At least 99% of SigmaHQ's 3,780 rules load, and every rejection names a reason.
#[test]
fn sigmahq_rules_lint() {
    let Some(sigma) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let out = vigil()
        .args(["rules", "lint", "--verbose"])
        .args(
            [
                "rules",
                "rules-emerging-threats",
                "rules-threat-hunting",
                "rules-placeholder",
                "rules-compliance",
            ]
            .map(|d| sigma.join(d)),
        )
        .arg("--placeholders")
        .arg(repo().join("crates/vigil-sigma/data/placeholders-sample.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .find(|l| l.contains(" loaded ("))
        .expect(&stdout);
    let loaded: usize = summary
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect(summary);
    assert!(
        loaded * 100 >= 3780 * 99,
        "only {loaded} of 3780 rules loaded:\n{stdout}"
    );
    // Every rejection line is `file:line: [rule id: ]reason` with a non-empty reason.
    for line in stdout.lines().filter(|l| l.contains(".yml:")) {
        let reason = line.rsplit(": ").next().unwrap();
        assert!(!reason.trim().is_empty(), "{line}");
    }
}
