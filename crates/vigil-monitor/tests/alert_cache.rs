//! The assessment's alert cache against a real SQLite state database: after new alerts, hits
//! joining existing alerts, analysts' changes, the look-back moving on and the `max_alerts`
//! cut, a cache that read before and reads only what changed gives exactly the alerts a full
//! read gives, in the same order.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use vigil_core::Level;
use vigil_monitor::assess::{AlertCache, AssessSettings};
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

#[test]
fn a_cache_that_reads_changes_agrees_with_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    // The store stamps writes with this clock; the test moves it.
    let clock = Arc::new(AtomicI64::new(0));
    let c = Arc::clone(&clock);
    let store = SqliteStore::open(
        dir.path().join("state.db"),
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
