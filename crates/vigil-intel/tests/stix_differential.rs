//! STIX pattern semantics checked against the OASIS reference matcher, `stix2-matcher`
//! (PyPI, pinned in .ci/run): for every pattern of `fixtures/stix-diff/cases.json` and every
//! observation there, Vigil's verdict — the pattern imported as an indicator through the
//! STIX importer, compiled into a `Matcher`, and matched against the entities an event with
//! the observation's values would have — must equal stix2-matcher's (`tests/py/
//! stix_verdicts.py`). The few pairs where Vigil matches more on purpose are listed in the
//! fixture's `divergences` with why; any other difference, or a listed one that no longer
//! differs, fails. Patterns Vigil must refuse are checked to be rejected with their reason.
//! Without python3 and stix2-matcher the test fails under `CI=true` and is skipped (with a
//! message) otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value as J, json};
use vigil_core::{Entities, EntityField, HashAlgorithm};
use vigil_intel::{ImportOptions, IntelSet, MatchHow, Matcher};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stix-diff/cases.json")
}

/// True when python3 can import `module`; otherwise panics under `CI=true` and prints why
/// the test is skipped.
fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = format!("python3 cannot import `{module}` (pip install stix2-matcher==3.0.0)");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
    }
    ok
}

/// stix2-matcher's verdicts: pattern id (or text, for rejected ones) → observation id → match.
fn oasis_verdicts() -> BTreeMap<String, BTreeMap<String, bool>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/stix_verdicts.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(fixture())
        .output()
        .expect("run stix_verdicts.py");
    assert!(
        out.status.success(),
        "stix_verdicts.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("verdicts JSON")
}

/// The pattern as the only indicator of a bundle, imported through the STIX importer.
fn import(pattern: &str) -> (IntelSet, vigil_intel::FileReport) {
    let bundle = json!({
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": [{
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--00000000-0000-4000-8000-000000000001",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2020-01-01T00:00:00Z"
        }]
    });
    let mut set = IntelSet::new();
    let r = set.import_bytes(
        "differential",
        &serde_json::to_vec(&bundle).unwrap(),
        &ImportOptions::default(),
    );
    (set, r)
}

/// The entity values an event holding one cyber-observable object would have: a lone address
/// as the device's address (it is in no connection), names as DNS queries, URLs, e-mail
/// senders, file names and hashes, and a connection's source and destination (references
/// resolved) and HTTP User-Agent.
fn entity_values(obj: &J, objects: &[J]) -> Vec<(EntityField, String)> {
    let s = |v: &J, k: &str| v.get(k).and_then(J::as_str).map(str::to_string);
    let deref = |r: Option<String>| -> Option<&J> {
        let r = r?;
        objects
            .iter()
            .find(|o| o.get("id").and_then(J::as_str) == Some(&r))
    };
    let mut out = Vec::new();
    let mut push = |f: EntityField, v: Option<String>| {
        if let Some(v) = v {
            out.push((f, v));
        }
    };
    match obj["type"].as_str().unwrap() {
        "ipv4-addr" | "ipv6-addr" => push(EntityField::DeviceIp, s(obj, "value")),
        "domain-name" => push(EntityField::QueryHostname, s(obj, "value")),
        "url" => push(EntityField::UrlString, s(obj, "value")),
        "email-addr" => push(EntityField::ActorUserEmail, s(obj, "value")),
        "email-message" => push(
            EntityField::ActorUserEmail,
            deref(s(obj, "from_ref")).and_then(|a| s(a, "value")),
        ),
        "file" => {
            push(EntityField::FileName, s(obj, "name"));
            if let Some(hashes) = obj.get("hashes").and_then(J::as_object) {
                for (alg, v) in hashes {
                    let alg = HashAlgorithm::from_name(alg).expect("known hash");
                    push(EntityField::FileHash(alg), v.as_str().map(str::to_string));
                }
            }
        }
        "network-traffic" => {
            push(
                EntityField::SrcIp,
                deref(s(obj, "src_ref")).and_then(|a| s(a, "value")),
            );
            push(
                EntityField::DstIp,
                deref(s(obj, "dst_ref")).and_then(|a| s(a, "value")),
            );
            push(
                EntityField::UserAgent,
                obj.pointer("/extensions/http-request-ext/request_header/User-Agent")
                    .and_then(J::as_str)
                    .map(str::to_string),
            );
        }
        other => panic!("no entity mapping for `{other}` in the fixture"),
    }
    out
}

/// Vigil's verdict: does any object of the observation, as an event, match?
fn vigil_matches(matcher: &Matcher, objects: &[J]) -> Vec<MatchHow> {
    let mut hows = Vec::new();
    for obj in objects {
        let values = entity_values(obj, objects);
        let mut entities = Entities::new();
        for (field, v) in &values {
            entities.add_str(*field, v);
        }
        let mut out = Vec::new();
        matcher.match_entities(&entities, &mut out);
        hows.extend(out.iter().map(|m| m.how));
    }
    hows
}

#[test]
fn verdicts_equal_stix2_matcher() {
    if !python_has("stix2matcher") {
        return;
    }
    let cases: J = serde_json::from_slice(&std::fs::read(fixture()).unwrap()).unwrap();
    let oasis = oasis_verdicts();
    let observations = cases["observations"].as_array().unwrap();
    let patterns = cases["patterns"].as_array().unwrap();
    assert!(patterns.len() >= 40 && observations.len() >= 20);

    let mut differ = Vec::new();
    let mut matched_pairs = 0;
    for p in patterns {
        let (id, pattern) = (p["id"].as_str().unwrap(), p["pattern"].as_str().unwrap());
        let (set, report) = import(pattern);
        assert!(
            report.rejected.is_empty() && report.added > 0,
            "{id} `{pattern}` should import whole: {:?}",
            report.rejected
        );
        let matcher = Matcher::build(&set, jiff::Timestamp::now());
        for o in observations {
            let oid = o["id"].as_str().unwrap();
            let hows = vigil_matches(&matcher, o["objects"].as_array().unwrap());
            let theirs = oasis[id][oid];
            matched_pairs += usize::from(theirs);
            let ours = !hows.is_empty();
            if ours != theirs {
                differ.push((id.to_string(), oid.to_string(), hows));
            }
        }
    }
    // Enough pairs match on both sides for agreement to mean something.
    assert!(matched_pairs >= 40, "{matched_pairs} matching pairs");

    let listed: BTreeMap<(String, String), String> = cases["divergences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                (
                    d["pattern"].as_str().unwrap().to_string(),
                    d["observation"].as_str().unwrap().to_string(),
                ),
                d["why"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let found: BTreeSet<(String, String)> = differ
        .iter()
        .map(|(p, o, _)| (p.clone(), o.clone()))
        .collect();
    let unexplained: Vec<_> = differ
        .iter()
        .filter(|(p, o, _)| !listed.contains_key(&(p.clone(), o.clone())))
        .collect();
    assert!(
        unexplained.is_empty(),
        "verdicts differ from stix2-matcher (pattern, observation, Vigil's match kinds): \
         {unexplained:#?}"
    );
    let stale: Vec<_> = listed.keys().filter(|k| !found.contains(*k)).collect();
    assert!(
        stale.is_empty(),
        "listed divergences that no longer differ: {stale:?}"
    );
    // Every listed divergence is Vigil matching more, never less.
    for (p, o, hows) in &differ {
        assert!(
            !hows.is_empty() && !oasis[p][o],
            "{p}/{o}: Vigil misses a match"
        );
    }
}

#[test]
fn unsupported_patterns_are_rejected_with_their_reason() {
    if !python_has("stix2matcher") {
        return;
    }
    let cases: J = serde_json::from_slice(&std::fs::read(fixture()).unwrap()).unwrap();
    let rejected = cases["rejected"].as_array().unwrap();
    assert!(rejected.len() >= 10);
    let oasis = oasis_verdicts();
    for r in rejected {
        let (pattern, why) = (
            r["pattern"].as_str().unwrap(),
            r["reason"].as_str().unwrap(),
        );
        let (set, report) = import(pattern);
        assert!(set.is_empty(), "`{pattern}` imported {} values", set.len());
        assert_eq!(report.rejected.len(), 1, "`{pattern}`");
        let reason = &report.rejected[0].reason;
        assert!(
            reason.contains(why),
            "`{pattern}`: `{reason}` lacks `{why}`"
        );
        assert_eq!(
            report.rejected[0].location.to_string(),
            "object indicator--00000000-0000-4000-8000-000000000001"
        );
        // stix2-matcher parses every one of them: they are valid STIX, just not one value.
        assert!(
            oasis.contains_key(pattern),
            "`{pattern}` has a reference verdict"
        );
    }
}
