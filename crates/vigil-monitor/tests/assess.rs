//! Assessment over the alerts of the sample intrusion: scores explained by their factors and
//! the asset inventory, one incident holding the related alerts, entity risk ranking the hosts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vigil_detect::load_and_compile;
use vigil_ingest::LogsourceMap;
use vigil_monitor::assess::{AssessSettings, Decisions, assess, assess_with};
use vigil_monitor::pipeline::wait_processed;
use vigil_monitor::unit::UnitHeader;
use vigil_monitor::{Monitor, MonitorConfig, RuleLoader};
use vigil_risk::Tactic;
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;

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

fn ingest(m: &Monitor, source: &str, file: &str) -> u64 {
    let body = std::fs::read(repo().join("examples/windows-sample").join(file)).unwrap();
    let header = UnitHeader {
        source: source.into(),
        format: None,
        received: "2026-11-02T09:00:00Z".parse().unwrap(),
        peer: None,
        path: None,
        idempotency: None,
    };
    m.ingestor.check(&header, &body, false).unwrap();
    m.ingestor.append(&header, &body).unwrap().wait().unwrap()
}

const INVENTORY: &str = r#"[
  {"hostname": "WKS-FIN-07.corp.example", "criticality": 2, "owner": "alice", "depends_on": ["SRV-DC-01.corp.example"]},
  {"hostname": "SRV-DC-01.corp.example", "criticality": 5, "tags": ["domain-controller", "crown-jewel"]}
]"#;

#[test]
fn the_sample_intrusion_is_one_scored_incident_with_its_assets() {
    let dir = tempfile::tempdir().unwrap();
    let m = Monitor::open(
        dir.path(),
        MonitorConfig::default(),
        LogsourceMap::default(),
        example_rules(),
        16 << 20,
    )
    .unwrap();
    std::fs::write(dir.path().join("assets.json"), INVENTORY).unwrap();
    let detection = m.start_detection(LogsourceMap::default()).unwrap();
    ingest(&m, "http:sysmon", "sysmon.ndjson");
    let last = ingest(&m, "http:security", "security.json");
    assert!(wait_processed(&m.progress, last, Duration::from_secs(60)));
    detection.stop();

    // Look back far enough for the sample's November events.
    let settings = AssessSettings {
        lookback_days: 100_000,
        ..AssessSettings::default()
    };
    let now: jiff::Timestamp = "2026-11-02T10:00:00Z".parse().unwrap();
    let assessed = assess(m.store.as_ref(), &m.inventory, &settings, now).unwrap();
    assert_eq!(assessed.alerts.len(), 5);

    // Every score lists its five factors; the DC's alerts weigh its criticality.
    for a in assessed.alerts.values() {
        assert_eq!(a.risk.factors.len(), 5, "{:?}", a.risk);
        let crit = &a.risk.factors[2];
        match a.asset.as_deref() {
            Some("SRV-DC-01.corp.example") => assert_eq!(crit.input, "criticality 5"),
            Some("WKS-FIN-07.corp.example") => assert_eq!(crit.input, "criticality 2"),
            other => panic!("alert on an unknown asset {other:?}: {a:?}"),
        }
    }
    let lsass = assessed
        .alerts
        .values()
        .find(|a| a.alert.rule.title.starts_with("LSASS"))
        .unwrap();
    let certutil = assessed
        .alerts
        .values()
        .find(|a| a.alert.rule.title.starts_with("Certutil"))
        .unwrap();
    assert!(
        lsass.risk.score > certutil.risk.score,
        "critical on the DC outranks"
    );

    // The workstation's alerts form one incident, its tactics in kill-chain order.
    let wks = assessed
        .incidents
        .iter()
        .find(|i| i.incident.alerts.contains(&certutil.alert.id))
        .unwrap();
    let mut sorted = wks.incident.tactics.clone();
    sorted.sort();
    assert_eq!(wks.incident.tactics, sorted);
    assert!(wks.incident.tactics.contains(&Tactic::CommandAndControl));
    assert!(wks.assets.contains(&"WKS-FIN-07.corp.example".to_string()));
    let detail = assessed.detail(&wks.incident.id).unwrap();
    assert_eq!(detail.timeline.len(), wks.incident.alerts.len());
    let times: Vec<_> = detail.timeline.iter().map(|a| a.alert.first_seen).collect();
    let mut in_order = times.clone();
    in_order.sort();
    assert_eq!(times, in_order, "the timeline is in time order");
    assert_eq!(
        detail.blast_radius["WKS-FIN-07.corp.example"].dependencies,
        ["SRV-DC-01.corp.example"]
    );
    // The most urgent incident comes first.
    assert!(
        assessed
            .incidents
            .windows(2)
            .all(|w| w[0].incident.score >= w[1].incident.score)
    );

    // Entity risk: the workstation (three alerts, one critical) leads the DC (two); it
    // crossed the threshold, which is a risk incident even without a single decisive alert.
    let report = assessed.entity_risk(&settings, now, 10);
    let hosts: Vec<&str> = report
        .items
        .iter()
        .filter(|r| r.entity.kind == vigil_risk::EntityKind::Host)
        .map(|r| r.entity.value.as_str())
        .collect();
    assert_eq!(
        hosts,
        ["wks-fin-07.corp.example", "srv-dc-01.corp.example"],
        "{report:#?}"
    );
    assert_eq!(
        report.items[0].asset.as_deref(),
        Some("WKS-FIN-07.corp.example")
    );
    assert!(
        report
            .crossings
            .iter()
            .any(|c| c.entity.value == "wks-fin-07.corp.example"),
        "{report:#?}"
    );

    // Plans: the workstation's technique (T1003.001) calls for the credential-theft plan; the
    // DC's alerts name no planned technique. Counted as cloud alerts (the tags the server adds
    // from a rule's logsource), the DC's incident gets the cloud plan.
    let dc_rule = assessed
        .alerts
        .values()
        .find(|a| a.asset.as_deref() == Some("SRV-DC-01.corp.example"))
        .map(|a| a.alert.rule.id.clone())
        .unwrap();
    let plan_of = |assessed: &vigil_monitor::assess::Assessed, host: &str| {
        assessed
            .incidents
            .iter()
            .find(|i| i.assets.iter().any(|a| a == host))
            .and_then(|i| i.plan.clone())
    };
    assert_eq!(
        plan_of(&assessed, "WKS-FIN-07.corp.example").as_deref(),
        Some("credential-theft")
    );
    assert_ne!(
        plan_of(&assessed, "SRV-DC-01.corp.example").as_deref(),
        Some("cloud-account-compromise")
    );
    let decisions = Decisions {
        rule_tags: [(dc_rule, vec!["logsource:aws".to_string()])].into(),
        ..Decisions::default()
    };
    let tagged = assess_with(m.store.as_ref(), &m.inventory, &settings, now, &decisions).unwrap();
    assert_eq!(
        plan_of(&tagged, "SRV-DC-01.corp.example").as_deref(),
        Some("cloud-account-compromise")
    );
}
