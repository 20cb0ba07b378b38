//! The monitor as a library: units in, alerts out, exactly once across restarts and replays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vigil_detect::load_and_compile;
use vigil_ingest::LogsourceMap;
use vigil_monitor::pipeline::{CONSUMER, wait_processed};
use vigil_monitor::unit::UnitHeader;
use vigil_monitor::{Monitor, MonitorConfig, RuleLoader};
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;
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

fn open(dir: &Path) -> Monitor {
    Monitor::open(
        dir,
        MonitorConfig::default(),
        LogsourceMap::default(),
        example_rules(),
        16 << 20,
    )
    .unwrap()
}

fn header(source: &str) -> UnitHeader {
    UnitHeader {
        source: source.into(),
        format: None,
        received: "2026-12-02T09:00:00Z".parse().unwrap(),
        peer: None,
        path: None,
        idempotency: None,
    }
}

/// Checks and appends a file's bytes as one unit; returns its offset once durable.
fn ingest(m: &Monitor, source: &str, body: &[u8]) -> u64 {
    let h = header(source);
    m.ingestor.check(&h, body, false).unwrap();
    m.ingestor.append(&h, body).unwrap().wait().unwrap()
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("examples/windows-sample").join(name)).unwrap()
}

fn all_alerts(m: &Monitor) -> Vec<vigil_store::state::Alert> {
    let page = m.store.list(&AlertFilter::default()).unwrap();
    page.items
}

#[test]
fn units_become_alerts_with_evidence_and_source_counts() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let detection = m.start_detection(LogsourceMap::default()).unwrap();
    ingest(&m, "http:sysmon", &sample("sysmon.ndjson"));
    let last = ingest(&m, "http:security", &sample("security.json"));
    assert!(wait_processed(&m.progress, last, Duration::from_secs(30)));
    let alerts = all_alerts(&m);
    let mut titles: Vec<&str> = alerts.iter().map(|a| a.rule.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Certutil Used To Download A File",
            "LSASS Dump Through comsvcs.dll MiniDump",
            "Office Application Spawns Encoded PowerShell",
            "Privilege Enumeration With Whoami",
            "Security Event Log Cleared",
        ],
        "{alerts:#?}"
    );
    let certutil = alerts
        .iter()
        .find(|a| a.rule.title.starts_with("Certutil"))
        .unwrap();
    assert_eq!(
        certutil.entities.host.as_deref(),
        Some("WKS-FIN-07.corp.example")
    );
    assert!(
        certutil.event.source.starts_with("http:sysmon@"),
        "{:?}",
        certutil.event
    );
    assert!(
        certutil
            .evidence
            .iter()
            .any(|e| e.field.as_deref() == Some("CommandLine") && e.value.contains("-urlcache")),
        "{:?}",
        certutil.evidence
    );
    let sources = m.sources.list();
    let sysmon = sources.iter().find(|s| s.source == "http:sysmon").unwrap();
    assert_eq!(
        (sysmon.units, sysmon.events, sysmon.decode_errors),
        (1, 5, 0)
    );
    assert_eq!(sysmon.formats.get("json"), Some(&5));
    detection.stop();
}

#[test]
fn a_replay_of_the_whole_journal_adds_no_alert_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let m = open(dir.path());
        let detection = m.start_detection(LogsourceMap::default()).unwrap();
        ingest(&m, "http:sysmon", &sample("sysmon.ndjson"));
        let last = ingest(&m, "http:security", &sample("security.json"));
        assert!(wait_processed(&m.progress, last, Duration::from_secs(30)));
        detection.stop();
        before = all_alerts(&m);
        assert_eq!(before.len(), 5);
        // As if detection had crashed right after storing alerts but before committing its
        // offset: everything is read again.
        m.journal.commit_consumer(CONSUMER, 0).unwrap();
        m.journal.close().unwrap();
    }
    let m = open(dir.path());
    let detection = m.start_detection(LogsourceMap::default()).unwrap();
    assert!(wait_processed(&m.progress, 1, Duration::from_secs(30)));
    detection.stop();
    let after = all_alerts(&m);
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!((&a.id, a.count), (&b.id, b.count));
    }
    assert_eq!(
        m.progress
            .alerts_duplicate
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
    let sysmon = m
        .sources
        .list()
        .into_iter()
        .find(|s| s.source == "http:sysmon")
        .unwrap();
    assert_eq!((sysmon.units, sysmon.events), (1, 5));
}

#[test]
fn a_bad_unit_is_counted_against_its_source_and_detection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let detection = m.start_detection(LogsourceMap::default()).unwrap();
    // Appended without the check (as network sources do): two good lines, one broken.
    let mut h = header("syslog-tcp");
    h.format = Some("json".into());
    let body = b"{\"EventID\":1,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\"}\n{broken\n{\"EventID\":2}\n";
    m.ingestor.append(&h, body).unwrap().wait().unwrap();
    let last = ingest(&m, "http:sysmon", &sample("sysmon.ndjson"));
    assert!(wait_processed(&m.progress, last, Duration::from_secs(30)));
    detection.stop();
    let sources = m.sources.list();
    let bad = sources.iter().find(|s| s.source == "syslog-tcp").unwrap();
    assert_eq!((bad.events, bad.decode_errors), (2, 1));
    assert!(
        bad.recent_errors[0].contains("syslog-tcp@0"),
        "{:?}",
        bad.recent_errors
    );
    assert_eq!(all_alerts(&m).len(), 3);
}

#[test]
fn the_demo_scenario_raises_exactly_the_intrusion_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let m = open(dir.path());
    let detection = m.start_detection(LogsourceMap::default()).unwrap();
    let now = jiff::Timestamp::now();
    let mut last = 0;
    for (source, body) in vigil_monitor::demo::generate(now, 3_000, 8) {
        last = ingest(&m, source, body.as_bytes());
    }
    assert!(wait_processed(&m.progress, last, Duration::from_secs(60)));
    detection.stop();
    let alerts = all_alerts(&m);
    assert_eq!(alerts.len(), 5, "{alerts:#?}");
    let certutil = alerts
        .iter()
        .find(|a| a.rule.title.starts_with("Certutil"))
        .unwrap();
    assert_eq!(certutil.count, 2, "two downloads, one alert");
    let events: u64 = m.sources.list().iter().map(|s| s.events).sum();
    assert_eq!(events, 3_007);
}

/// The byte bound of ingest: a backlog of a few large units is refused though far under the
/// unit bound, and detection committing them frees it; after a restart the bound counts only
/// what arrives from then on.
#[test]
fn the_byte_backlog_refuses_then_drains_as_detection_commits() {
    use vigil_monitor::ingest::Refusal;
    let dir = tempfile::tempdir().unwrap();
    let sysmon = sample("sysmon.ndjson");
    let config = MonitorConfig {
        max_lag_units: 1_000,
        // A third copy of the sample is admitted (two are behind, under the bound), a fourth
        // is not (each unit is the sample plus its header).
        max_lag_bytes: 2 * sysmon.len() as u64 + 1_000,
        ..MonitorConfig::default()
    };
    let open_with = |config: &MonitorConfig| {
        Monitor::open(
            dir.path(),
            config.clone(),
            LogsourceMap::default(),
            example_rules(),
            16 << 20,
        )
        .unwrap()
    };
    let m = open_with(&config);
    // Detection not started: everything appended stays behind.
    let mut last = 0;
    for _ in 0..3 {
        last = ingest(&m, "http:sysmon", &sysmon);
    }
    let behind = m.ingestor.lag_bytes();
    assert!(behind > 3 * sysmon.len() as u64, "{behind}");
    match m.ingestor.admit() {
        Err(Refusal::Overloaded { lag: 3, bytes }) => assert_eq!(bytes, behind),
        other => panic!("expected 429, got {other:?}"),
    }
    let detection = m.start_detection(LogsourceMap::default()).unwrap();
    assert!(wait_processed(&m.progress, last, Duration::from_secs(30)));
    assert_eq!(m.ingestor.lag_bytes(), 0);
    assert!(m.ingestor.admit().is_ok());
    detection.stop();

    // Three more behind, then a restart: they are still in the journal (and the unit bound
    // counts them), but the byte bound counts from the restart on.
    for _ in 0..3 {
        ingest(&m, "http:sysmon", &sysmon);
    }
    assert!(m.ingestor.admit().is_err());
    drop(m);
    let m = open_with(&config);
    assert_eq!(m.ingestor.lag_bytes(), 0);
    assert_eq!(m.ingestor.lag(), 3);
    assert!(m.ingestor.admit().is_ok());
}
