//! Property: a Sysmon 1 event and its Security 4688 twin (same values under 4688's field names)
//! fire exactly the same `process_creation` rules — the 4688 variant through the mapping's
//! renames. Uses every Sysmon 1 event of the EVTX attack samples and all SigmaHQ rules; skipped,
//! saying so, when the corpus is absent outside CI.

mod common;

use std::collections::BTreeSet;

use vigil_core::corpus::corpus_path;
use vigil_core::{Event, Symbol, Value};
use vigil_sigma::engine::{Engine, Scratch};
use vigil_sigma::ruleset::SigmaConfig;

/// Sysmon 1 field → Security 4688 field (the inverse of the mapping's renames).
const TO_4688: [(&str, &str); 6] = [
    ("Image", "NewProcessName"),
    ("ParentImage", "ParentProcessName"),
    ("ProcessId", "NewProcessId"),
    ("ParentProcessId", "ProcessId"),
    ("User", "SubjectUserName"),
    ("LogonId", "SubjectLogonId"),
];

fn twin(sysmon: &Event) -> Event {
    let mut t = Event::new(sysmon.source.clone());
    t.logsource = sysmon.logsource.clone();
    for f in sysmon.fields() {
        let name = f.name.as_str();
        let value = match name {
            "Channel" => Value::str("Security"),
            "EventID" => Value::Int(4688),
            _ => f.value.clone(),
        };
        let renamed = TO_4688
            .iter()
            .find(|(from, _)| *from == name)
            .map_or(f.name, |(_, to)| Symbol::intern(to));
        t.push(renamed, value);
    }
    t
}

#[test]
fn sysmon_1_and_its_4688_twin_fire_the_same_rules() {
    let (Some(sigma), Some(samples)) = (corpus_path("sigma"), corpus_path("evtx-attack-samples"))
    else {
        return;
    };
    let engine = common::compile_builtin(&[sigma.join("rules")], &SigmaConfig::default());
    let files = common::files_with_ext(&samples, "evtx");
    let mut sysmon_1 = common::decode_all(&files, &Default::default());
    sysmon_1.retain(|e| {
        e.get_str("Channel")
            .and_then(Value::as_text)
            .is_some_and(|c| c.lower() == "microsoft-windows-sysmon/operational")
            && e.get_str("EventID") == Some(&Value::Int(1))
    });
    assert!(
        sysmon_1.len() > 100,
        "only {} Sysmon 1 events",
        sysmon_1.len()
    );

    let process_creation = |engine: &Engine, rule: usize| {
        engine.rule(rule).logsource.category.as_deref() == Some("process_creation")
    };
    let mut scratch = Scratch::new(&engine);
    let mut out = Vec::new();
    let mut fired = 0;
    for e in &sysmon_1 {
        engine.evaluate(e, &mut scratch, &mut out);
        let a: BTreeSet<usize> = out
            .iter()
            .filter(|m| process_creation(&engine, m.rule))
            .map(|m| m.rule)
            .collect();
        assert!(
            out.iter()
                .filter(|m| process_creation(&engine, m.rule))
                .all(|m| engine.target_name(m) == Some("sysmon-1"))
        );
        let t = twin(e);
        engine.evaluate(&t, &mut scratch, &mut out);
        let b: BTreeSet<usize> = out
            .iter()
            .filter(|m| process_creation(&engine, m.rule))
            .map(|m| m.rule)
            .collect();
        assert!(
            out.iter()
                .filter(|m| process_creation(&engine, m.rule))
                .all(|m| engine.target_name(m) == Some("security-4688"))
        );
        assert_eq!(a, b, "record {:?} of {}", e.source.record_id, e.source.file);
        fired += a.len();
    }
    eprintln!(
        "twins: {} Sysmon 1 events, {fired} rule matches, identical on their 4688 twins",
        sysmon_1.len()
    );
    assert!(fired > 0);
}
