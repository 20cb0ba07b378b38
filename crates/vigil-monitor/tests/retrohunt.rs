//! Retro-hunts over the lake the pipeline wrote: the live rules find again exactly what live
//! detection found, a rule sent as text finds what SQL counts, and bad requests say why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vigil_core::Level;
use vigil_detect::load_and_compile;
use vigil_ingest::LogsourceMap;
use vigil_monitor::pipeline::wait_processed;
use vigil_monitor::retrohunt::{HuntRules, RetroHunt, RetroHuntError, retro_hunt, usable};
use vigil_monitor::unit::UnitHeader;
use vigil_monitor::{Monitor, MonitorConfig, RuleLoader};
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;
use vigil_store::lake::{Lake, LakeConfig, LakeRow, LakeWriter, QueryLimits, ScanRange};
use vigil_store::state::AlertFilter;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example_rules() -> RuleLoader {
    let rules = repo().join("examples/rules");
    Arc::new(move || {
        Ok(load_and_compile(
            std::slice::from_ref(&rules),
            &SigmaConfig::default(),
            &LogsourceMapping::builtin(),
        ))
    })
}

/// A monitor whose every hit is its own alert, so alerts and retro-hunt matches compare 1:1.
fn open(dir: &Path) -> Monitor {
    let config = MonitorConfig {
        dedup_window_secs: 0,
        ..MonitorConfig::default()
    };
    Monitor::open(
        dir,
        config,
        LogsourceMap::default(),
        example_rules(),
        16 << 20,
    )
    .unwrap()
}

fn ingest(m: &Monitor, source: &str, file: &str) -> u64 {
    let body = std::fs::read(repo().join("examples/windows-sample").join(file)).unwrap();
    let header = UnitHeader {
        source: source.into(),
        format: None,
        received: "2026-12-02T09:00:00Z".parse().unwrap(),
        peer: None,
        path: None,
        idempotency: None,
    };
    m.ingestor.check(&header, &body, false).unwrap();
    m.ingestor.append(&header, &body).unwrap().wait().unwrap()
}

/// The sample scenario ingested, detected and flushed to the lake (stopping detection flushes).
fn scenario(dir: &Path) -> Monitor {
    let m = open(dir);
    let detection = m.start_detection(LogsourceMap::default()).unwrap();
    ingest(&m, "http:sysmon", "sysmon.ndjson");
    let last = ingest(&m, "http:security", "security.json");
    assert!(wait_processed(&m.progress, last, Duration::from_secs(60)));
    detection.stop();
    m
}

fn everything() -> RetroHunt {
    RetroHunt {
        range: ScanRange::default(),
        min_level: Level::Informational,
        max_matches: 10_000,
        intel: None,
    }
}

/// (rule id, stream, record) of each match.
fn keys(matches: &[serde_json::Value]) -> Vec<(String, String, u64)> {
    let mut k: Vec<_> = matches
        .iter()
        .map(|d| {
            (
                d["rule_id"].as_str().unwrap_or_default().to_string(),
                d["file"].as_str().unwrap().to_string(),
                d["record_id"].as_u64().unwrap(),
            )
        })
        .collect();
    k.sort();
    k
}

fn count(lake: &Lake, sql: &str) -> u64 {
    let r = lake.query_blocking(sql, &QueryLimits::default()).unwrap();
    r.json_rows().unwrap()[0]["n"].as_u64().unwrap()
}

#[test]
fn live_rules_over_the_lake_find_exactly_what_live_detection_found() {
    let dir = tempfile::tempdir().unwrap();
    let m = scenario(dir.path());
    let alerts = m.store.list(&AlertFilter::default()).unwrap().items;
    assert!(alerts.len() >= 4, "the scenario raises alerts: {alerts:?}");
    let mut live: Vec<(String, String, u64)> = alerts
        .iter()
        .map(|a| {
            (
                a.rule.id.clone(),
                a.event.source.clone(),
                a.event.record_id.unwrap(),
            )
        })
        .collect();
    live.sort();

    let lake = m.lake.as_ref().unwrap();
    let rules = HuntRules::from_live(&m.rules.current(), &[]).unwrap();
    let report = retro_hunt(lake, &rules, &everything()).unwrap();
    assert_eq!(
        report.events_scanned,
        count(lake, "SELECT count(*) AS n FROM events")
    );
    assert_eq!(
        report.events_scanned,
        m.progress.events.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(report.events_unreadable, 0, "{:?}", report.unreadable);
    assert_eq!(keys(&report.matches), live);
    assert_eq!(report.matches_total as usize, live.len());
    assert!(!report.truncated);
    // Every match explains itself, as live alerts do.
    for d in &report.matches {
        assert!(!d["evidence"].as_array().unwrap().is_empty(), "{d}");
    }
    // Oldest first.
    let times: Vec<&str> = report
        .matches
        .iter()
        .map(|d| d["time"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
}

#[test]
fn time_range_source_level_and_rule_choice_narrow_the_hunt() {
    let dir = tempfile::tempdir().unwrap();
    let m = scenario(dir.path());
    let lake = m.lake.as_ref().unwrap();
    let snapshot = m.rules.current();
    let all = retro_hunt(
        lake,
        &HuntRules::from_live(&snapshot, &[]).unwrap(),
        &everything(),
    )
    .unwrap();

    // One source only: the scan reads exactly that source's rows.
    let mut hunt = everything();
    hunt.range.source = Some("http:security".into());
    let security = retro_hunt(lake, &HuntRules::from_live(&snapshot, &[]).unwrap(), &hunt).unwrap();
    assert_eq!(
        security.events_scanned,
        count(
            lake,
            "SELECT count(*) AS n FROM events WHERE source = 'http:security'"
        )
    );
    assert!(security.events_scanned > 0 && security.events_scanned < all.events_scanned);

    // A time range: [from, to) counts the same rows as SQL does.
    let (from, to) = ("2026-11-02T08:15:00Z", "2026-11-02T09:00:00Z");
    let mut hunt = everything();
    hunt.range.from = Some(from.parse().unwrap());
    hunt.range.to = Some(to.parse().unwrap());
    let window = retro_hunt(lake, &HuntRules::from_live(&snapshot, &[]).unwrap(), &hunt).unwrap();
    let sql = format!(
        "SELECT count(*) AS n FROM events WHERE time >= TIMESTAMP '{from}' AND time < TIMESTAMP '{to}'"
    );
    assert_eq!(window.events_scanned, count(lake, &sql));
    for d in &window.matches {
        let t = d["time"].as_str().unwrap();
        assert!(t >= from && t < to, "{t} outside [{from}, {to})");
    }

    // A range after everything stored reads nothing; an empty range is refused.
    hunt.range.from = Some("2030-01-01T00:00:00Z".parse().unwrap());
    hunt.range.to = None;
    let none = retro_hunt(lake, &HuntRules::from_live(&snapshot, &[]).unwrap(), &hunt).unwrap();
    assert_eq!((none.events_scanned, none.matches_total), (0, 0));
    hunt.range.to = Some("2029-01-01T00:00:00Z".parse().unwrap());
    assert!(matches!(
        retro_hunt(lake, &HuntRules::from_live(&snapshot, &[]).unwrap(), &hunt),
        Err(RetroHuntError::EmptyRange { .. })
    ));

    // One named rule: only its matches, the same count as in the full hunt.
    let (rule, n) = all.by_rule.iter().next().unwrap();
    let one = retro_hunt(
        lake,
        &HuntRules::from_live(&snapshot, std::slice::from_ref(rule)).unwrap(),
        &everything(),
    )
    .unwrap();
    assert_eq!(one.rules, 1);
    assert_eq!(one.by_rule, BTreeMap::from([(rule.clone(), *n)]));

    // Unknown ids are named.
    let err = HuntRules::from_live(&snapshot, &["no-such-rule".to_string()])
        .err()
        .unwrap();
    assert!(err.to_string().contains("no-such-rule"), "{err}");

    // A level floor above every rule's level leaves nothing.
    let mut hunt = everything();
    hunt.min_level = Level::Critical;
    let critical = retro_hunt(lake, &HuntRules::from_live(&snapshot, &[]).unwrap(), &hunt).unwrap();
    let expected: u64 = snapshot
        .rules
        .engine
        .rules()
        .iter()
        .filter(|r| r.level == Some(Level::Critical))
        .filter_map(|r| all.by_rule.get(r.id.as_deref().unwrap_or(&r.title)))
        .sum();
    assert_eq!(critical.matches_total, expected);

    // max_matches bounds what is returned, never what is counted.
    let mut hunt = everything();
    hunt.max_matches = 1;
    let capped = retro_hunt(lake, &HuntRules::from_live(&snapshot, &[]).unwrap(), &hunt).unwrap();
    assert_eq!(capped.matches.len(), 1);
    assert_eq!(capped.matches_total, all.matches_total);
    assert_eq!(capped.truncated, all.matches_total > 1);
}

const WHOAMI_RULE: &str = r#"
title: Whoami run (retro-hunt test)
id: 6d1f2c3e-0000-4000-8000-00000000beef
status: test
level: high
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        CommandLine|contains: whoami
    condition: selection
"#;

#[test]
fn a_rule_sent_as_text_finds_what_sql_counts() {
    let dir = tempfile::tempdir().unwrap();
    let m = scenario(dir.path());
    let lake = m.lake.as_ref().unwrap();
    let expected = count(
        lake,
        "SELECT count(*) AS n FROM events WHERE lower(process_cmd_line) LIKE '%whoami%'",
    );
    let rules = HuntRules::all(usable(m.compile_rule_text(WHOAMI_RULE).unwrap()).unwrap());
    let report = retro_hunt(lake, &rules, &everything()).unwrap();
    assert!(expected > 0, "the scenario runs whoami");
    assert_eq!(report.matches_total, expected);
    assert_eq!(
        report.by_rule.get("6d1f2c3e-0000-4000-8000-00000000beef"),
        Some(&expected)
    );

    // Text with no usable rule is refused with the place and the reason.
    let broken = "title: broken\nlogsource:\n    product: windows\ndetection:\n    sel:\n        a: b\n    condition: sel and\n";
    let err = usable(m.compile_rule_text(broken).unwrap()).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("request:"), "names where: {msg}");
    assert!(matches!(err, RetroHuntError::NoRules(_)));
}

#[test]
fn a_row_whose_raw_fields_cannot_be_read_is_counted_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake"), LakeConfig::default()).unwrap();
    let mut writer = LakeWriter::open(&lake, Default::default()).unwrap();
    let at: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let mut event = vigil_core::Event::new(vigil_core::SourceRef {
        file: "edr@1".into(),
        record_id: Some(1),
        offset: None,
    });
    // A Sysmon process creation, as the Windows decoder produces it.
    event.insert(
        "Channel",
        vigil_core::Value::str("Microsoft-Windows-Sysmon/Operational"),
    );
    event.insert("EventID", vigil_core::Value::Int(1));
    event.insert("CommandLine", vigil_core::Value::str("cmd /c whoami"));
    event.logsource = vigil_core::LogSource::product("windows").with_service("sysmon");
    event.time = Some(at);
    let good = LakeRow::from_event(&event, "edr", at);
    let mut bad = good.clone();
    bad.record_id = Some(2);
    bad.raw = "{not json".into();
    writer.append(good, 1).unwrap();
    writer.append(bad, 2).unwrap();
    writer.flush().unwrap();

    let loaded = vigil_detect::compile_source(
        WHOAMI_RULE,
        "rule.yml",
        &SigmaConfig::default(),
        &LogsourceMapping::builtin(),
    );
    let rules = HuntRules::all(usable(loaded).unwrap());
    let report = retro_hunt(&lake, &rules, &everything()).unwrap();
    assert_eq!(report.events_scanned, 2);
    assert_eq!(report.events_unreadable, 1);
    assert_eq!(report.matches_total, 1);
    assert!(
        report.unreadable[0].starts_with("edr@1 record 2: raw fields:"),
        "{:?}",
        report.unreadable
    );
}
