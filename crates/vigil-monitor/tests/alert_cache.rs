//! The assessment's alert cache against a real SQLite state database: after new alerts, hits
//! joining existing alerts, analysts' changes, the look-back moving on and the `max_alerts`
//! cut, a cache that read before and reads only what changed gives exactly the alerts a full
//! read gives, in the same order; and an assessment that reuses the cache's last scoring and
//! grouping equals a full one through every change that could make it stale.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use vigil_core::Level;
use vigil_monitor::assess::{
    AlertCache, AssessSettings, Assessed, Decisions, Inventory, assess_cached, assess_with,
};
use vigil_risk::{Case, Exception, IncidentStatus};
use vigil_store::state::{
    Alert, AlertEntities, AlertStatus, AlertStore, AlertUpdate, DedupPolicy, EventRef, Evidence,
    NewAlert, RuleRef, SqliteStore, StateOptions,
};

const T0: &str = "2026-11-01T00:00:00Z";

fn t(secs: i64) -> Timestamp {
    T0.parse::<Timestamp>().unwrap() + SignedDuration::from_secs(secs)
}

/// `rule` firing on `host` for record `record`, with an event at `T0 + secs`.
fn hit(rule: &str, host: &str, record: u64, secs: i64) -> NewAlert {
    NewAlert {
        rule: RuleRef {
            id: rule.into(),
            title: format!("Rule {rule}"),
            level: Level::High,
            status: Some("test".into()),
            tags: vec!["attack.execution".into()],
        },
        event: EventRef {
            source: "cache-test".into(),
            record_id: Some(record),
            offset: Some(record),
            time: Some(t(secs)),
        },
        entities: AlertEntities {
            host: Some(host.into()),
            user: None,
            src_ip: None,
            dst_ip: None,
        },
        evidence: vec![Evidence {
            search: "selection".into(),
            field: Some("CommandLine".into()),
            value: format!("run {record}"),
            pattern: "*run*".into(),
        }],
    }
}

fn ids(alerts: &[Arc<Alert>]) -> Vec<(String, u64, Timestamp)> {
    alerts
        .iter()
        .map(|a| (a.id.clone(), a.count, a.last_seen))
        .collect()
}

/// A real state database (15-minute dedup) that stamps writes with `T0` plus the seconds in
/// the returned clock, which the test moves.
fn store_with_clock(dir: &std::path::Path) -> (SqliteStore, Arc<AtomicI64>) {
    let clock = Arc::new(AtomicI64::new(0));
    let c = Arc::clone(&clock);
    let store = SqliteStore::open(
        dir.join("state.db"),
        StateOptions {
            dedup: DedupPolicy {
                window: Duration::from_secs(15 * 60),
                ..DedupPolicy::default()
            },
            clock: Arc::new(move || t(c.load(Ordering::Relaxed))),
            ..StateOptions::default()
        },
    )
    .unwrap();
    (store, clock)
}

#[test]
fn a_cache_that_reads_changes_agrees_with_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    let settings = AssessSettings {
        lookback_days: 1,
        max_alerts: 6,
        ..AssessSettings::default()
    };
    let at = |secs: i64| {
        clock.store(secs, Ordering::Relaxed);
        t(secs)
    };
    let cache = AlertCache::default();
    let check = |now: Timestamp, what: &str| {
        let kept = cache.recent(&store, &settings, now).unwrap();
        let full = AlertCache::default()
            .recent(&store, &settings, now)
            .unwrap();
        assert_eq!(ids(&kept), ids(&full), "{what}");
        kept
    };

    // Four alerts on four hosts.
    at(100);
    for (n, host) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
        store
            .record(&hit("r1", host, n as u64, 100 + n as i64))
            .unwrap();
    }
    assert_eq!(check(at(200), "first read").len(), 4);

    // Ten minutes on: a hit joins h1's alert (count, last_seen change), two new alerts.
    at(800);
    store.record(&hit("r1", "h1", 10, 790)).unwrap();
    store.record(&hit("r2", "h5", 11, 795)).unwrap();
    store.record(&hit("r2", "h6", 12, 796)).unwrap();
    let kept = check(at(900), "joined and new");
    assert_eq!(kept.len(), 6);
    let h1 = kept
        .iter()
        .find(|a| a.entities.host.as_deref() == Some("h1"))
        .unwrap();
    assert_eq!((h1.count, h1.last_seen), (2, t(790)));

    // An analyst's change is seen.
    at(1000);
    store
        .update(
            &h1.id,
            &AlertUpdate {
                status: Some(AlertStatus::Acknowledged),
                author: "analyst".into(),
                ..AlertUpdate::default()
            },
        )
        .unwrap();
    let kept = check(at(1000), "updated");
    let h1_now = kept.iter().find(|a| a.id == h1.id).unwrap();
    assert_eq!(h1_now.status, AlertStatus::Acknowledged);

    // A seventh alert pushes the oldest (by first_seen: h1) out of `max_alerts`.
    at(1050);
    store.record(&hit("r3", "h7", 13, 1050)).unwrap();
    let kept = check(at(1100), "cut");
    assert_eq!(kept.len(), 6);
    assert!(kept.iter().all(|a| a.id != h1.id));

    // A day later h2-h4 age out of the look-back; h1, cut before but still active (its last
    // hit at 790), is among the newest six again: the cache reads the period again for it.
    let kept = check(at(86_400 + 500), "aged");
    let hosts: Vec<&str> = kept
        .iter()
        .filter_map(|a| a.entities.host.as_deref())
        .collect();
    assert_eq!(hosts, ["h7", "h6", "h5", "h1"]);
    // A late event (its time, 600, older than most alerts kept) raises an alert there.
    at(86_400 + 600);
    store.record(&hit("r9", "h8", 14, 600)).unwrap();
    check(at(86_400 + 700), "late");
}

/// Everything an assessment route shows, as JSON.
fn shown(a: &Assessed) -> serde_json::Value {
    serde_json::json!({
        "incidents": a.incidents,
        "alerts": a.alerts.values().collect::<Vec<_>>(),
        "suppressed": a.suppressed,
    })
}

#[test]
fn a_reused_grouping_agrees_with_a_full_assessment() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    let inventory = Inventory::new(dir.path());
    let settings = AssessSettings {
        lookback_days: 1,
        ..AssessSettings::default()
    };
    let at = |secs: i64| {
        clock.store(secs, Ordering::Relaxed);
        t(secs)
    };
    let cache = AlertCache::default();
    let mut decisions = Decisions::default();
    // Assesses through the cache and in full; they must agree. Returns the cached one.
    let check = |now: Timestamp, decisions: &Decisions, what: &str| {
        let cached = assess_cached(&store, &cache, &inventory, &settings, now, decisions).unwrap();
        let full = assess_with(&store, &inventory, &settings, now, decisions).unwrap();
        assert_eq!(shown(&cached), shown(&full), "{what}");
        // The SLA state of an incident nobody acted on is its plan's, opened when raised.
        for i in cached.incidents.iter() {
            if decisions.cases.contains_key(&i.incident.id) {
                continue;
            }
            let plan = i.plan.as_deref().and_then(|p| decisions.plans.get(p));
            let opened = Case::open(&i.incident.id, i.raised, plan);
            assert_eq!(i.sla_breached, opened.sla(now).breached(), "{what}");
        }
        cached
    };

    // Two hosts, two alerts each: two incidents.
    at(100);
    for (n, (rule, host)) in [("r1", "h1"), ("r2", "h1"), ("r1", "h2"), ("r3", "h2")]
        .iter()
        .enumerate()
    {
        store
            .record(&hit(rule, host, n as u64, 100 + n as i64))
            .unwrap();
    }
    let first = check(at(200), &decisions, "first");
    assert_eq!(first.incidents.len(), 2);
    // Nothing changed: the grouping is reused (the very same scored alerts).
    let again = check(at(210), &decisions, "unchanged");
    assert!(Arc::ptr_eq(&first.alerts, &again.alerts), "reused");

    // The rules' extra tags change the plan an incident gets (T1486: data encrypted).
    assert!(
        again
            .incidents
            .iter()
            .all(|i| i.plan.as_deref() != Some("ransomware"))
    );
    decisions
        .rule_tags
        .insert("r1".into(), vec!["attack.t1486".into()]);
    let tagged = check(at(215), &decisions, "rule tags");
    assert!(
        tagged
            .incidents
            .iter()
            .all(|i| i.plan.as_deref() == Some("ransomware"))
    );

    // A case on h1's incident: shown at once, the grouping still reused.
    let incident = first
        .incidents
        .iter()
        .find(|i| {
            i.incident
                .alerts
                .iter()
                .any(|a| first.alerts[a].alert.entities.host.as_deref() == Some("h1"))
        })
        .unwrap()
        .incident
        .id
        .clone();
    let mut case = Case::open(&incident, t(200), None);
    case.status = IncidentStatus::Contained;
    case.assignee = Some("ana".into());
    decisions.cases.insert(incident.clone(), case);
    let with_case = check(at(220), &decisions, "case");
    assert!(Arc::ptr_eq(&tagged.alerts, &with_case.alerts));
    let summary = with_case
        .incidents
        .iter()
        .find(|i| i.incident.id == incident)
        .unwrap();
    assert_eq!(summary.status, IncidentStatus::Contained);

    // An exception silencing r3: grouped anew.
    decisions.exceptions.push(Exception {
        id: "exc-1".into(),
        rule_id: "r3".into(),
        conditions: Vec::new(),
        all: true,
        reason: "lab noise".into(),
        author: "ana".into(),
        created: t(230),
    });
    let excepted = check(at(230), &decisions, "exception");
    assert!(!Arc::ptr_eq(&first.alerts, &excepted.alerts));
    assert_eq!(excepted.suppressed, 1);

    // A pin moving h2's remaining alert into h1's incident: one incident left.
    let h2_alert = excepted
        .alerts
        .values()
        .find(|a| a.alert.entities.host.as_deref() == Some("h2"))
        .unwrap()
        .alert
        .id
        .clone();
    decisions.pins.insert(h2_alert, incident.clone());
    let pinned = check(at(240), &decisions, "pin");
    assert_eq!(pinned.incidents.len(), 1);

    // The inventory names h1: its alerts gain the asset.
    std::fs::write(
        dir.path().join("assets.json"),
        r#"[{"hostname": "h1", "criticality": 5}]"#,
    )
    .unwrap();
    let with_assets = check(at(260), &decisions, "inventory");
    assert!(with_assets.incidents[0].max_criticality == Some(5));

    // A new alert, then a hit joining one (a new count), then an analyst's change.
    at(300);
    store.record(&hit("r4", "h3", 10, 300)).unwrap();
    check(at(310), &decisions, "new alert");
    at(320);
    store.record(&hit("r4", "h3", 11, 320)).unwrap();
    let joined = check(at(330), &decisions, "joined");
    let unchanged = check(at(340), &decisions, "unchanged again");
    assert!(Arc::ptr_eq(&joined.alerts, &unchanged.alerts));
    let h3 = unchanged
        .alerts
        .values()
        .find(|a| a.alert.entities.host.as_deref() == Some("h3"))
        .unwrap()
        .alert
        .id
        .clone();
    at(350);
    store
        .update(
            &h3,
            &AlertUpdate {
                status: Some(AlertStatus::Acknowledged),
                author: "analyst".into(),
                ..AlertUpdate::default()
            },
        )
        .unwrap();
    let updated = check(at(360), &decisions, "updated");
    assert!(!Arc::ptr_eq(&joined.alerts, &updated.alerts));
    assert!(updated.incidents.iter().all(|i| !i.sla_breached));

    // Two hours on, nothing changed but the clock: the grouping is reused and the plans'
    // one-hour acknowledgement targets are now missed.
    let later = check(at(360 + 7_200), &decisions, "SLA clock");
    assert!(Arc::ptr_eq(&updated.alerts, &later.alerts));
    assert!(later.incidents.iter().any(|i| i.sla_breached));

    // A day on, the first four age out of the look-back.
    let aged = check(at(86_400 + 250), &decisions, "aged");
    assert_eq!(aged.alerts.len(), 1);
}
