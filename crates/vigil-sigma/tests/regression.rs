//! SigmaHQ's regression cases (`sigma/regression_data/**/info.yml`) run through the reference
//! evaluator: each rule's detection must match at least `match_count` of the case's events.
//!
//! Logsource routing is not checked here (that is the engine's job); the events are the
//! cases' JSON exports, flattened by the small test-only adapter below the way Vigil's Windows
//! decoder names fields (`EventData`/`UserData` children by name, System attributes as
//! `Tag_Attribute`, spaces removed from data names as SigmaHQ's checker does).

mod common;

use std::collections::HashMap;
use std::path::Path;

use vigil_core::{Event, SourceRef, Symbol, Value};
use vigil_sigma::parse::yaml::{Node, NodeKind, Scalar, parse_documents};
use vigil_sigma::ruleset::{SigmaConfig, load_rules};

/// Flattens one `{"Event": {"System": …, "EventData": …}}` object into an [`Event`].
fn to_event(json: &serde_json::Value) -> Event {
    let mut e = Event::new(SourceRef::default());
    let root = &json["Event"];
    if let Some(system) = root["System"].as_object() {
        for (k, v) in system {
            match v {
                serde_json::Value::Object(o) => {
                    if let Some(attrs) = o.get("#attributes").and_then(|a| a.as_object()) {
                        for (a, av) in attrs {
                            e.insert(&format!("{k}_{a}"), Value::from_json(av));
                        }
                    }
                    if let Some(text) = o.get("#text") {
                        e.insert(k, Value::from_json(text));
                    }
                }
                other => e.insert(k, Value::from_json(other)),
            }
        }
    }
    let mut data = |obj: &serde_json::Map<String, serde_json::Value>| {
        for (k, v) in obj {
            if k == "#attributes" {
                continue;
            }
            e.insert(k, Value::from_json(v));
            // Defender names its data with spaces (`Source Name`); Sigma rules (like SigmaHQ's
            // own evtx checker) use them without (`SourceName`).
            if k.contains(' ') {
                e.insert(&k.replace(' ', ""), Value::from_json(v));
            }
        }
    };
    if let Some(ed) = root["EventData"].as_object() {
        data(ed);
    }
    if let Some(ud) = root["UserData"].as_object() {
        for inner in ud.values().filter_map(|v| v.as_object()) {
            data(inner);
        }
    }
    e
}

fn events(path: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text.trim_start_matches('\u{feff}');
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .map(|v| to_event(&v.unwrap_or_else(|e| panic!("{}: {e}", path.display()))))
        .collect()
}

fn seq(n: Option<&Node>) -> &[Node] {
    match n.map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items,
        _ => &[],
    }
}

#[test]
fn sigmahq_regression_cases_match() {
    let Some(root) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let set = load_rules(&common::sigmahq_rule_dirs(&root), &SigmaConfig::default());
    let by_id: HashMap<&str, &vigil_sigma::Rule> = set
        .rules
        .iter()
        .filter_map(|r| Some((r.id.as_deref()?, r)))
        .collect();

    let infos = common::files_named(&root.join("regression_data"), "info.yml");
    let (mut cases, mut passed) = (0, 0);
    let mut failures = Vec::new();
    for info in &infos {
        let (docs, err) = parse_documents(&std::fs::read_to_string(info).unwrap());
        assert!(err.is_none(), "{}: {err:?}", info.display());
        let doc = &docs[0];
        let rule_id = seq(doc.get("rule_metadata"))[0]
            .get("id")
            .and_then(Node::as_str)
            .unwrap();
        for test in seq(doc.get("regression_tests_info")) {
            let Some(path) = test.get("path").and_then(Node::as_str) else {
                continue;
            };
            let want = match test.get("match_count").and_then(Node::scalar) {
                Some(Scalar::Int(n)) => n as usize,
                _ => 1,
            };
            cases += 1;
            let Some(rule) = by_id.get(rule_id) else {
                failures.push(format!("{rule_id}: rule not loaded ({})", info.display()));
                continue;
            };
            let json = root.join(Path::new(path).with_extension("json"));
            let evs = events(&json);
            let got = evs.iter().filter(|e| rule.detection.matches(e)).count();
            // Property: the rule with every field renamed matches the renamed events alike.
            let rename = |f: Symbol| Symbol::intern(&format!("renamed.{f}"));
            let twin = rule.detection.map_fields(&rename);
            for e in &evs {
                let mut renamed = Event::default();
                for f in e.fields() {
                    renamed.push(rename(f.name), f.value.clone());
                }
                assert_eq!(
                    twin.matches(&renamed),
                    rule.detection.matches(e),
                    "{rule_id}: renamed twin disagrees"
                );
            }
            if got >= want {
                passed += 1;
                // Evidence must exist for every match.
                for e in evs.iter().filter(|e| rule.detection.matches(e)) {
                    assert!(
                        !rule.detection.explain(e).is_empty(),
                        "{rule_id}: no evidence"
                    );
                }
            } else {
                failures.push(format!(
                    "{rule_id} {:?}: matched {got} of {} events, want {want} ({})",
                    rule.title,
                    evs.len(),
                    json.display()
                ));
            }
        }
    }
    eprintln!("regression cases: {passed}/{cases} passed");
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    assert_eq!(cases, 202, "regression cases found");
    assert!(
        failures.is_empty(),
        "{} regression cases failed",
        failures.len()
    );
}
