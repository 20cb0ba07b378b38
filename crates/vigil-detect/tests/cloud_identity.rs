//! Cloud and identity corpora (`cloudtrail/`, `identity/`): every record decodes, the
//! CloudTrail / Okta / Entra ID / Auth0 records get the logsource SigmaHQ's rules target, and
//! specific SigmaHQ rules fire on specific real records with all SigmaHQ rules loaded.
//!
//! The Panther rule-test files (`*_rule_tests.jsonl`) wrap each real log in a test case
//! (`{"rule_id": …, "log": {…}}`) and the scenario files are YAML (`Logs: [...]`); both are
//! unwrapped here into NDJSON of the raw logs, which is what a collector would deliver.

mod common;
use common::fired;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vigil_core::Event;
use vigil_ingest::{DecodeOptions, decode_bytes, decode_file, discover};

/// Every record of a corpus folder, decoded.
struct Decoded {
    events: Vec<Event>,
    errors: usize,
}

fn decode_all(bytes_name: &str, bytes: &[u8], out: &mut Decoded) {
    let stats = decode_bytes(
        bytes_name,
        bytes,
        &DecodeOptions::default(),
        &mut |e| out.events.push(e),
        &mut |_| {},
    )
    .unwrap();
    out.errors += stats.errors as usize;
}

/// Panther unit-test lines: the `log` of each, as NDJSON.
fn unwrap_rule_tests(path: &Path) -> Vec<u8> {
    let mut ndjson = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        serde_json::to_writer(&mut ndjson, &case["log"]).unwrap();
        ndjson.push(b'\n');
    }
    ndjson
}

/// Panther scenario YAML: its `Logs`, as NDJSON, with its `LogType`. (S3 server-access and
/// VPC flow scenarios hold raw text lines, not JSON: no decoder here reads them yet.)
fn unwrap_scenario(path: &Path) -> (String, Vec<u8>) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let log_type = doc["LogType"].as_str().unwrap_or_default().to_string();
    let mut ndjson = Vec::new();
    for log in doc["Logs"].as_array().unwrap() {
        if !log.is_object() {
            continue;
        }
        serde_json::to_writer(&mut ndjson, log).unwrap();
        ndjson.push(b'\n');
    }
    (log_type, ndjson)
}

/// Decodes every file under `dir`: JSON files as they are, rule-test JSONL and scenario YAML
/// unwrapped (CSV and metadata YAML are not logs).
fn decode_dir(dir: &Path) -> Decoded {
    let mut out = Decoded {
        events: Vec::new(),
        errors: 0,
    };
    let mut files: Vec<PathBuf> = walk(dir);
    files.sort();
    for path in files {
        let name = path.to_string_lossy().to_string();
        if name.ends_with("_rule_tests.jsonl") {
            decode_all(&name, &unwrap_rule_tests(&path), &mut out);
        } else if name.contains("test_scenarios") && name.ends_with(".yml") {
            let (log_type, ndjson) = unwrap_scenario(&path);
            if ndjson.is_empty() {
                assert!(
                    ["AWS.S3ServerAccess", "AWS.VPCFlow"].contains(&log_type.as_str()),
                    "{name}: {log_type}"
                );
                continue;
            }
            decode_all(&name, &ndjson, &mut out);
        }
    }
    for path in discover(&[dir.to_path_buf()]).unwrap() {
        let name = path.to_string_lossy().to_string();
        if !name.ends_with(".json") {
            continue;
        }
        let stats = decode_file(
            &path,
            &DecodeOptions::default(),
            &mut |e| out.events.push(e),
            &mut |_| {},
        )
        .unwrap();
        out.errors += stats.errors as usize;
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn counts(events: &[Event]) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for e in events {
        *by.entry(e.logsource.to_string()).or_default() += 1;
    }
    by
}

fn text<'e>(e: &'e Event, name: &str) -> Option<&'e str> {
    e.get_str(name)?.as_text().map(|t| t.as_str())
}

/// The event decoded from record `record` of the file whose path ends with `file`.
fn record<'a>(events: &'a [Event], file: &str, record: u64) -> &'a Event {
    events
        .iter()
        .find(|e| e.source.file.ends_with(file) && e.source.record_id == Some(record))
        .unwrap_or_else(|| panic!("no record {record} in {file}"))
}

fn decoded(dir: &str) -> Option<&'static Decoded> {
    static CLOUDTRAIL: OnceLock<Decoded> = OnceLock::new();
    static IDENTITY: OnceLock<Decoded> = OnceLock::new();
    let path = vigil_core::corpus::corpus_path(dir)?;
    let cell = if dir == "cloudtrail" {
        &CLOUDTRAIL
    } else {
        &IDENTITY
    };
    Some(cell.get_or_init(|| decode_dir(&path)))
}

fn assert_fires(event: &Event, rule_id: &str) {
    let ids = fired(event);
    assert!(
        ids.iter().any(|i| i == rule_id),
        "{rule_id} did not fire on {}#{:?} ({}); fired: {ids:?}",
        event.source.file,
        event.source.record_id,
        event.logsource
    );
}

const INVICTUS: &str = "invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_";
const IDENTITY_TESTS: &str = "identity/panther-analysis/identity_rule_tests.jsonl";

#[test]
fn cloudtrail_records_decode_with_their_logsource() {
    let Some(d) = decoded("cloudtrail") else {
        return;
    };
    assert_eq!((d.events.len(), d.errors), (3491, 0));
    let by = counts(&d.events);
    assert_eq!(by["product: aws, service: cloudtrail"], 3489, "{by:?}");
    // Two Panther test fragments carry neither the record header nor a caller identity.
    assert_eq!(by["(any)"], 2, "{by:?}");
    let invictus: Vec<&Event> = d
        .events
        .iter()
        .filter(|e| e.source.file.contains("invictus-aws-dataset"))
        .collect();
    assert_eq!(invictus.len(), 2900);
    assert!(
        invictus
            .iter()
            .all(|e| e.logsource.service.as_deref() == Some("cloudtrail") && e.time.is_some())
    );
    let e = record(&d.events, "20230710T1215Z_nBsuPO1qSTEVerMD.json", 151);
    assert_eq!(
        text(e, "userIdentity.arn"),
        Some("arn:aws:iam::123837392027:user/bert-jan")
    );
    assert_eq!(text(e, "eventName"), Some("DeleteBucket"));
    assert_eq!(text(e, "eventSource"), Some("s3.amazonaws.com"));
    assert_eq!(e.time.unwrap().to_string(), "2023-07-10T12:08:10Z");
    // OTRF's Logstash-shipped NDJSON: all 103 records.
    let otrf = d
        .events
        .iter()
        .filter(|e| e.source.file.contains("ec2_proxy_s3_exfiltration"))
        .filter(|e| e.logsource.product.as_deref() == Some("aws"))
        .count();
    assert_eq!(otrf, 103);
}

#[test]
fn sigma_cloudtrail_rules_fire_on_real_records() {
    let Some(d) = decoded("cloudtrail") else {
        return;
    };
    // AWS Bucket Deleted: DeleteBucket by bert-jan (Stratus simulation).
    let e = record(&d.events, "20230710T1215Z_nBsuPO1qSTEVerMD.json", 151);
    assert_fires(e, "39c9f26d-6e3b-4dbb-9c7a-4154b0281112");
    // Potential Bucket Enumeration on AWS: ListBuckets.
    let e = record(&d.events, "20230710T1230Z_9SJSsrxJ0ChF5VFb.json", 79);
    assert_eq!(text(e, "eventName"), Some("ListBuckets"));
    assert_fires(e, "f305fd62-beca-47da-ad95-7690a0620084");
    // AWS VPC Flow Logs Deleted: DeleteFlowLogs.
    let e = record(&d.events, "20230710T1205Z_SjF3IkuNXJkoHyar.json", 15);
    assert_eq!(text(e, "eventName"), Some("DeleteFlowLogs"));
    assert_fires(e, "e386b9b5-af12-450e-afff-761730fb8a98");
    assert!(e.source.file.contains(INVICTUS));
}

#[test]
fn identity_records_decode_with_their_logsource() {
    let Some(d) = decoded("identity") else {
        return;
    };
    assert_eq!((d.events.len(), d.errors), (344, 0));
    let by = counts(&d.events);
    let want = [
        ("product: okta, service: okta", 85),
        ("product: azure, service: signinlogs", 26),
        ("product: azure, service: auditlogs", 25),
        ("product: auth0", 57),
        ("product: windows, service: security", 35),
        // Duo 42, OneLogin 26, 34 rows of Panther scheduled-query output, 1 Okta test fragment
        // without `published`, 9 Microsoft 365 Defender and 1 Office 365 records, and 3 rows of
        // Sentinel's `Event` table (no `Channel`, so not recognised as Windows).
        ("(any)", 116),
    ];
    for (source, n) in want {
        assert_eq!(by.get(source).copied(), Some(n), "{source}: {by:?}");
    }
    // Okta: a real-shaped System Log event from a Panther scenario.
    let e = record(&d.events, "okta-add-administrator/new-user.yml", 1);
    assert_eq!(e.logsource.to_string(), "product: okta, service: okta");
    assert_eq!(
        text(e, "actor.alternateId"),
        Some("jack.naglieri@runpanther.io")
    );
    assert_eq!(text(e, "eventType"), Some("user.lifecycle.create"));
    assert_eq!(e.time.unwrap().to_string(), "2021-07-02T16:31:05.784Z");
    let e = record(&d.events, IDENTITY_TESTS, 1);
    assert_eq!(text(e, "actor.alternateId"), Some("homer@springfield.gov"));
    assert_eq!(e.time.unwrap().to_string(), "2022-03-22T14:21:53.225Z");
    // Entra ID audit (Azure Monitor export): Log Analytics aliases beside the raw names.
    let e = record(&d.events, IDENTITY_TESTS, 105);
    assert_eq!(
        e.logsource.to_string(),
        "product: azure, service: auditlogs"
    );
    assert_eq!(
        text(e, "properties.activityDisplayName"),
        Some("Set federation settings on domain")
    );
    assert_eq!(
        text(e, "ActivityDisplayName"),
        Some("Set federation settings on domain")
    );
    assert_eq!(text(e, "Status"), Some("Success"));
    assert_eq!(e.time.unwrap().to_string(), "2025-01-15T09:30:25.123Z");
    // Entra ID sign-in.
    let e = record(&d.events, IDENTITY_TESTS, 124);
    assert_eq!(
        e.logsource.to_string(),
        "product: azure, service: signinlogs"
    );
    assert_eq!(
        text(e, "AuthenticationRequirement"),
        Some("singleFactorAuthentication")
    );
    assert_eq!(text(e, "properties.ipAddress"), Some("12.12.12.12"));
    // Sentinel export of Entra ID audit logs (OTRF Golden SAML): all 4 records.
    let e = record(&d.events, "otrf-golden-saml/AADAuditEvents.json", 1);
    assert_eq!(
        e.logsource.to_string(),
        "product: azure, service: auditlogs"
    );
    assert_eq!(
        text(e, "OperationName"),
        Some("Update application – Certificates and secrets management ")
    );
    let aad = d
        .events
        .iter()
        .filter(|e| e.source.file.ends_with("AADAuditEvents.json"))
        .filter(|e| e.logsource.service.as_deref() == Some("auditlogs"))
        .count();
    assert_eq!(aad, 4);
    // Auth0 (log stream shape, the log under `data`).
    let e = record(&d.events, IDENTITY_TESTS, 216);
    assert_eq!(e.logsource.to_string(), "product: auth0");
    assert_eq!(text(e, "data.type"), Some("sapi"));
    assert_eq!(
        text(e, "data.description"),
        Some("Update Suspicious IP Throttling settings")
    );
    assert!(e.time.is_some());
}

#[test]
fn sigma_identity_rules_fire_on_real_records() {
    let Some(d) = decoded("identity") else {
        return;
    };
    // Okta: New Okta User Created (scenario), Okta Admin Role Assigned (scenario), Okta
    // Session Impersonation Granted (rules-placeholder, Panther's "Support Access Granted").
    let e = record(&d.events, "okta-add-administrator/new-user.yml", 1);
    assert_fires(e, "b6c718dd-8f53-4b9f-98d8-93fdca966969");
    let e = record(
        &d.events,
        "okta-add-administrator/admin_privs_assigned.yml",
        1,
    );
    assert_fires(e, "413d4a81-6c98-4479-9863-014785fd579c");
    assert_fires(
        record(&d.events, IDENTITY_TESTS, 1),
        "fe04b26b-0ac4-45d7-9404-4b9f16a440a9",
    );
    // Azure sign-in: Azure AD Only Single Factor Authentication Required (needs the
    // `Status` and `AuthenticationRequirement` aliases).
    assert_fires(
        record(&d.events, IDENTITY_TESTS, 124),
        "28eea407-28d7-4e42-b0be-575d5ba60b2c",
    );
    // Azure audit: Azure Domain Federation Settings Modified; Azure Service Principal Created.
    assert_fires(
        record(&d.events, IDENTITY_TESTS, 105),
        "352a54e1-74ba-4929-9d47-8193d67aba1e",
    );
    assert_fires(
        record(&d.events, IDENTITY_TESTS, 145),
        "0ddcff6d-d262-40b0-804b-80eb592de8e3",
    );
    // Azure audit, OTRF Golden SAML (Sentinel export): Added Credentials to Existing
    // Application (through the `properties.message` alias of `OperationName`).
    let e = record(&d.events, "otrf-golden-saml/AADAuditEvents.json", 1);
    assert_eq!(
        text(e, "properties.message"),
        Some("Update application – Certificates and secrets management")
    );
    assert_fires(e, "cbb67ecc-fb70-4467-9350-c910bdf7c628");
}

/// SigmaHQ has no Auth0 rules: Auth0 events get their logsource, and no rule targets it.
#[test]
fn sigmahq_has_no_auth0_rules() {
    let Some(sigma) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let mut auth0_rules = 0;
    for dir in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-placeholder",
    ] {
        for path in walk(&sigma.join(dir)) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            auth0_rules += usize::from(text.contains("product: auth0"));
        }
    }
    assert_eq!(auth0_rules, 0);
}
