//! End-to-end tests of the input side of `vigil hunt`: a directory mixing every format, the
//! per-format and per-logsource summary, `--input-format`, and generic JSON given a logsource
//! by the configuration. Fixtures: `tests/fixtures/mixed/` and `tests/fixtures/json-logsource/`
//! (hand-made, see their READMEs).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn vigil() -> Command {
    let mut c = Command::cargo_bin("vigil").expect("binary built");
    c.env_remove("VIGIL_CONFIG").current_dir(repo());
    c
}

/// Runs `vigil ARGS`, asserting success; returns (stdout, stderr).
fn run(args: &[&str], extra: &[&Path]) -> (String, String) {
    let out = vigil().args(args).args(extra).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn mixed_directory_reports_every_format_and_logsource() {
    let mixed = fixtures().join("mixed");
    let (stdout, stderr) = run(
        &[
            "hunt",
            "examples/windows-sample",
            "-r",
            "examples/rules",
            "--format",
            "jsonl",
        ],
        &[&mixed],
    );
    // stdout stays machine-readable: only detections (the Windows sample's five), one JSON
    // object per line.
    let detections: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(detections.len(), 5, "{stdout}");
    for line in [
        "summary: 13 files (0 failed), 27 events",
        ", 0 decode errors,",
        "  format json: 3 files, 9 events, 0 errors",
        "  format zeek-tsv: 2 files, 3 events, 0 errors",
        "  format zeek-json: 1 files, 2 events, 0 errors",
        "  format suricata-eve: 1 files, 2 events, 0 errors",
        "  format cloudtrail: 1 files, 2 events, 0 errors",
        "  format okta: 1 files, 1 events, 0 errors",
        "  format azure: 1 files, 1 events, 0 errors",
        "  format auth0: 1 files, 1 events, 0 errors",
        "  format auditd: 1 files, 2 events, 0 errors",
        "  format syslog: 1 files, 4 events, 0 errors",
        "  logsource (none): 2 events",
        "  logsource product: aws, service: cloudtrail: 2 events",
        "  logsource product: okta, service: okta: 1 events",
        "  logsource product: azure, service: signinlogs: 1 events",
        "  logsource product: auth0: 1 events",
        "  logsource product: zeek, service: conn: 2 events",
        "  logsource product: zeek, service: ssl: 1 events",
        "  logsource product: zeek, service: dns: 2 events",
        "  logsource product: suricata, service: alert: 1 events",
        "  logsource product: suricata, service: dns: 1 events",
        "  logsource product: linux, service: auditd: 2 events",
        "  logsource product: linux, service: sshd: 2 events",
        "  logsource product: linux, service: sudo: 1 events",
        "  logsource product: linux, service: syslog: 1 events",
    ] {
        assert!(
            stderr.lines().any(|l| l.contains(line)),
            "missing `{line}` in:\n{stderr}"
        );
    }
    // The Windows sample's 7 events keep their Windows logsources.
    let windows: u64 = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  logsource product: windows"))
        .filter_map(|l| {
            l.rsplit(": ")
                .next()?
                .strip_suffix(" events")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(windows, 7, "{stderr}");
}

#[test]
fn forced_input_format_decodes_or_says_why() {
    let mixed = fixtures().join("mixed");
    // A format the sniffer also gets right: the same events.
    let (_, stderr) = run(
        &["hunt", "-r", "examples/rules", "--input-format", "zeek-tsv"],
        &[&mixed.join("conn.log"), &mixed.join("ssl.log.gz")],
    );
    assert!(
        stderr.contains("  format zeek-tsv: 2 files, 3 events, 0 errors"),
        "{stderr}"
    );
    // `entra` names the Azure decoder too.
    let (_, stderr) = run(
        &["hunt", "-r", "examples/rules", "--input-format", "entra"],
        &[&mixed.join("azure-signin.json")],
    );
    assert!(
        stderr.contains("  format azure: 1 files, 1 events, 0 errors"),
        "{stderr}"
    );
    // Okta forced on CloudTrail records: each record is a counted, reasoned warning.
    let (_, stderr) = run(
        &["hunt", "-r", "examples/rules", "--input-format", "okta"],
        &[&mixed.join("cloudtrail.json")],
    );
    assert!(
        stderr.contains("  format okta: 1 files, 0 events, 2 errors"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cloudtrail.json @ offset 0: record 1: not an Okta System Log record"),
        "{stderr}"
    );
    // JSON forced on a syslog file: the file is refused with the reason, the hunt goes on.
    let (_, stderr) = run(
        &["hunt", "-r", "examples/rules", "--input-format", "json"],
        &[&mixed.join("auth.log"), &mixed.join("myapp.ndjson")],
    );
    assert!(
        stderr.contains("auth.log: not json as forced: JSON starts with `{` or `[`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("summary: 2 files (1 failed), 2 events"),
        "{stderr}"
    );
    // An unknown name is a usage error listing the known ones.
    let out = vigil()
        .args(["hunt", "x", "--input-format", "pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("zeek-tsv") && stderr.contains("auditd"),
        "{stderr}"
    );
    // `--help` documents the flag and its values.
    let (help, _) = run(&["hunt", "--help"], &[]);
    assert!(help.contains("--input-format <FORMAT>"), "{help}");
    assert!(help.contains("suricata-eve"), "{help}");
}

#[test]
fn json_logsource_from_the_configuration_lets_a_rule_fire() {
    let dir = fixtures().join("json-logsource");
    let config = dir.join("vigil.toml");
    let data = dir.join("myapp.ndjson");
    let out = vigil()
        .args(["hunt", "--format", "jsonl", "--config"])
        .arg(&config)
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let detections: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(detections.len(), 1, "{detections:?}");
    let d = &detections[0];
    assert_eq!(d["rule_title"], "MyApp Bulk Export");
    assert_eq!(d["record_id"], 1);
    // The time came from the rule's `time_field`.
    assert_eq!(d["time"], "2026-11-30T10:06:00Z");
    assert!(
        stderr.contains("  logsource product: myapp, service: audit: 2 events"),
        "{stderr}"
    );
    assert!(stderr.contains("  logsource (none): 1 events"), "{stderr}");

    // Without the mapping the same rule cannot fire: the records have no logsource.
    let (stdout, stderr) = run(
        &["hunt", "--format", "jsonl", "-r"],
        &[&dir.join("rules"), &data],
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("  logsource (none): 3 events"), "{stderr}");

    // A rule that can never apply is refused with the file and line.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[hunt]\nthreads = 1\n\n[[ingest.json_logsource]]\nwhen = { field = \"source\", equals = \"myapp\" }\n",
    )
    .unwrap();
    let out = vigil()
        .args(["hunt", "-r", "examples/rules", "--config"])
        .arg(&bad)
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(
        stderr.contains("sets none of `product`, `service`, `category`"),
        "{stderr}"
    );
}

#[test]
fn default_configuration_shows_the_ingest_section() {
    let (stdout, _) = run(&["config", "default"], &[]);
    assert!(stdout.contains("[ingest]"), "{stdout}");
    assert!(stdout.contains("[[ingest.json_logsource]]"), "{stdout}");
    assert!(stdout.contains("json_logsource = []"), "{stdout}");
}
