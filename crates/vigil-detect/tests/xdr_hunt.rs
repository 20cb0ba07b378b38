//! `hunt` over each XDR corpus folder (`zeek/`, `suricata/`, `cloudtrail/`, `identity/`,
//! `linux/`) with every SigmaHQ rule loaded: the detections it reports, counted against a
//! floor measured on these corpora (not an exact figure, so rule updates that add detections
//! do not break it), and the rules that must be among them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vigil_core::Level;
use vigil_detect::Detection;
use vigil_detect::hunt::{HuntOptions, HuntSink, hunt};
use vigil_ingest::{DecodeError, IngestError, discover};

#[derive(Default)]
struct Collect {
    by_rule: BTreeMap<String, u64>,
}

impl HuntSink for Collect {
    fn detection(&mut self, d: Detection) {
        assert!(
            !d.evidence.is_empty(),
            "a detection without evidence: {d:?}"
        );
        *self
            .by_rule
            .entry(d.rule_id.unwrap_or_default())
            .or_default() += 1;
    }
    fn decode_error(&mut self, _: &DecodeError) {}
    fn file_failed(&mut self, _: &IngestError) {}
}

/// The files `vigil hunt <dir>` reads (`.log.gz`/`.json.gz` included).
fn files(dir: &Path) -> Vec<PathBuf> {
    discover(&[dir.to_path_buf()]).unwrap()
}

/// Hunts `folder` at every level; returns (total detections, detections per rule id).
fn hunt_folder(folder: &str) -> Option<(u64, BTreeMap<String, u64>)> {
    let dir = vigil_core::corpus::corpus_path(folder)?;
    let opts = HuntOptions {
        threads: 2,
        min_level: Level::Informational,
        decode_only: false,
    };
    let mut sink = Collect::default();
    let summary = hunt(&files(&dir), &common::rules().engine, &opts, &mut sink).unwrap();
    assert_eq!(summary.detections, sink.by_rule.values().sum::<u64>());
    eprintln!(
        "{folder}: {} detections {:?}",
        summary.detections, sink.by_rule
    );
    Some((summary.detections, sink.by_rule))
}

fn assert_rules(by_rule: &BTreeMap<String, u64>, ids: &[&str]) {
    for id in ids {
        assert!(by_rule.contains_key(*id), "{id} missing: {by_rule:?}");
    }
}

#[test]
fn hunt_zeek_reports_detections() {
    let Some((n, by_rule)) = hunt_folder("zeek") else {
        return;
    };
    // Measured 24 (2026-12-01): MITRE BZAR Indicators for Execution on zed's dce_rpc.json.gz.
    assert!(n >= 24, "{n}");
    assert_rules(&by_rule, &["b640c0b8-87f8-4daa-aef8-95a24261dd1d"]);
}

#[test]
fn hunt_suricata_reports_no_detections_without_rules() {
    let Some((n, _)) = hunt_folder("suricata") else {
        return;
    };
    // Measured 0: SigmaHQ has no `product: suricata` rule (see network_rules.rs), and the
    // product-less `category: dns|proxy|firewall` rules do not route to EVE records.
    assert_eq!(n, 0);
}

#[test]
fn hunt_cloudtrail_reports_detections() {
    let Some((n, by_rule)) = hunt_folder("cloudtrail") else {
        return;
    };
    // Measured 122 (2026-12-01), 12 rules; 87 of them "AWS STS AssumeRole Misuse".
    assert!(n >= 120, "{n}");
    assert!(by_rule.len() >= 12, "{by_rule:?}");
    assert_rules(
        &by_rule,
        &[
            "905d389b-b853-46d0-9d3d-dea0d3a3cd49", // AWS STS AssumeRole Misuse
            "39c9f26d-6e3b-4dbb-9c7a-4154b0281112", // AWS Bucket Deleted
            "e386b9b5-af12-450e-afff-761730fb8a98", // AWS VPC Flow Logs Deleted
        ],
    );
}

#[test]
fn hunt_identity_reports_detections() {
    let Some((n, by_rule)) = hunt_folder("identity") else {
        return;
    };
    // Measured 40 (2026-12-02): 5 on OTRF's Golden SAML Entra ID audit export, the rest on
    // the Panther rule-test logs (decoded as the Okta/Entra/Auth0 records they wrap).
    assert!(n >= 40, "{n}");
    assert_rules(
        &by_rule,
        &["cbb67ecc-fb70-4467-9350-c910bdf7c628"], // Added Credentials to Existing Application
    );
}

#[test]
fn hunt_linux_reports_detections() {
    let Some((n, by_rule)) = hunt_folder("linux") else {
        return;
    };
    // Measured 2 (2026-12-01): OTRF's dd capture (auditd). The loghub syslog/sshd lines fire
    // nothing (see linux_rules.rs).
    assert!(n >= 2, "{n}");
    assert_rules(
        &by_rule,
        &[
            "c52a914f-3d8b-4b2a-bb75-b3991e75f8ba", // Binary Padding - Linux
            "37222991-11e9-4b6d-8bdf-60fbe48f753e", // Overwriting the File with Dev Zero or Null
        ],
    );
}
