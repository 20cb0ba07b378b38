//! What a detection holds and how it serializes: the rule's labels and the event's facts are
//! shared, never copied per detection, and the JSON stays flat in its documented field order.

use std::sync::Arc;

use vigil_core::{Event, Level, LogSource, SourceRef, Value};
use vigil_detect::{Detection, compile_source, detect};
use vigil_sigma::engine::Scratch;
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;

const RULES: &str = r#"
title: Whoami Run
id: 00000000-0000-4000-8000-000000000001
status: test
level: medium
tags:
    - attack.discovery
    - attack.t1033
    - detection.threat-hunting
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
---
title: Whoami All Groups
id: 00000000-0000-4000-8000-000000000002
level: high
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        CommandLine|contains: '/all'
    condition: selection
"#;

fn event(record: u64) -> Event {
    let mut e = Event::new(SourceRef {
        file: Arc::from("sample.evtx"),
        record_id: Some(record),
        offset: None,
    });
    e.logsource = LogSource::product("windows");
    e.insert(
        "Channel",
        Value::str("Microsoft-Windows-Sysmon/Operational"),
    );
    e.insert("EventID", Value::Int(1));
    e.insert("Computer", Value::str("WKS-1.corp.example"));
    e.insert("Image", Value::str(r"C:\Windows\System32\whoami.exe"));
    e.insert("CommandLine", Value::str("whoami /all"));
    e
}

fn detections(events: &[Event]) -> Vec<Detection> {
    let loaded = compile_source(
        RULES,
        "rules.yml",
        &SigmaConfig::default(),
        &LogsourceMapping::builtin(),
    );
    assert_eq!(loaded.report.loaded, 2, "{:?}", loaded.report);
    let mut scratch = Scratch::new(&loaded.engine);
    let (mut matches, mut out) = (Vec::new(), Vec::new());
    for e in events {
        detect(
            &loaded.engine,
            e,
            &mut scratch,
            &mut matches,
            Level::Informational,
            &mut out,
        );
    }
    out
}

#[test]
fn detections_share_their_rule_labels_and_their_event_facts() {
    let out = detections(&[event(7), event(8)]);
    assert_eq!(out.len(), 4);
    let of = |record, title: &str| {
        out.iter()
            .find(|d| d.record_id == Some(record) && d.rule_title() == title)
            .unwrap()
    };
    let (a7, b7, a8) = (
        of(7, "Whoami Run"),
        of(7, "Whoami All Groups"),
        of(8, "Whoami Run"),
    );
    // One rule, two events: the same labels.
    assert!(Arc::ptr_eq(&a7.rule, &a8.rule));
    assert_eq!(a7.rule_id(), Some("00000000-0000-4000-8000-000000000001"));
    assert_eq!(a7.tags(), ["discovery", "t1033"]);
    assert_eq!((a7.level(), a7.status()), (Level::Medium, Some("test")));
    assert_eq!((b7.level(), b7.status()), (Level::High, None));
    // One event, two rules: the same host, channel and entities.
    assert!(Arc::ptr_eq(
        a7.host.as_ref().unwrap(),
        b7.host.as_ref().unwrap()
    ));
    assert!(Arc::ptr_eq(
        a7.channel.as_ref().unwrap(),
        b7.channel.as_ref().unwrap()
    ));
    assert!(Arc::ptr_eq(&a7.entities, &b7.entities));
    assert!(!Arc::ptr_eq(&a7.entities, &a8.entities));
    assert_eq!(a7.host.as_deref(), Some("WKS-1.corp.example"));
    assert_eq!(a7.event_id, Some(1));
}

#[test]
fn a_detection_serializes_flat_in_field_order() {
    let out = detections(&[event(7)]);
    let d = out.iter().find(|d| d.rule_title() == "Whoami Run").unwrap();
    let json = serde_json::to_value(d).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "time",
            "host",
            "channel",
            "event_id",
            "record_id",
            "file",
            "rule_id",
            "rule_title",
            "level",
            "status",
            "tags",
            "evidence",
            "entities",
        ]
    );
    assert_eq!(json["rule_id"], "00000000-0000-4000-8000-000000000001");
    assert_eq!(json["rule_title"], "Whoami Run");
    assert_eq!(json["tags"], serde_json::json!(["discovery", "t1033"]));
    assert_eq!(json["host"], "WKS-1.corp.example");
    assert_eq!(json["channel"], "Microsoft-Windows-Sysmon/Operational");
    assert_eq!(json["status"], "test");
    assert_eq!(json["evidence"][0]["field"], "Image");
    assert_eq!(
        json["entities"]["process"]["cmd_line"], "whoami /all",
        "{json}"
    );
    assert!(json.get("intel").is_none());
}
