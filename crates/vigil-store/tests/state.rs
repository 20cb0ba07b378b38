//! The state database through its public API: migrations, idempotent and deduplicated recording,
//! replay, listing, the triage workflow, comments and concurrent writers.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use vigil_core::Level;
use vigil_store::state::{
    Alert, AlertEntities, AlertFilter, AlertStatus, AlertStore, AlertUpdate, DedupPolicy, EventRef,
    Evidence, Expect, MAX_RECORD_BYTES, NewAlert, RecordOutcome, RecordPut, RecordStore, RuleRef,
    SCHEMA_VERSION, SqliteStore, StateError, StateOptions, Verdict, alert_id,
};

const T0: &str = "2024-05-01T10:00:00Z";

fn t(offset_secs: i64) -> Timestamp {
    T0.parse::<Timestamp>().unwrap() + SignedDuration::from_secs(offset_secs)
}

/// A wall clock that ticks one second per call, so `updated_at` changes are visible.
fn ticking_clock() -> StateOptions {
    let tick = Arc::new(AtomicI64::new(0));
    StateOptions {
        dedup: DedupPolicy {
            window: Duration::from_secs(10 * 60),
            ..DedupPolicy::default()
        },
        clock: Arc::new(move || {
            "2030-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
                + SignedDuration::from_secs(tick.fetch_add(1, Ordering::Relaxed))
        }),
        ..StateOptions::default()
    }
}

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir.join("state.db"), ticking_clock()).unwrap()
}

/// Rule `rule` firing on record `record` of `sysmon.evtx`, on `host`, at `T0 + secs`.
fn hit(rule: &str, host: &str, record: u64, secs: i64) -> NewAlert {
    NewAlert {
        rule: RuleRef {
            id: rule.to_string(),
            title: format!("Rule {rule}"),
            level: Level::High,
            status: Some("test".into()),
            tags: vec!["attack.t1059.001".into(), "attack.execution".into()],
        },
        event: EventRef {
            source: "sysmon.evtx".into(),
            record_id: Some(record),
            offset: None,
            time: Some(t(secs)),
        },
        entities: AlertEntities {
            host: Some(host.to_string()),
            user: Some("alice".into()),
            src_ip: Some("10.0.0.5".parse().unwrap()),
            dst_ip: None,
        },
        evidence: vec![Evidence {
            search: "selection".into(),
            field: Some("CommandLine".into()),
            value: format!("powershell -enc record{record}"),
            pattern: "*-enc*".into(),
        }],
    }
}

fn all(store: &SqliteStore) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut filter = AlertFilter {
        limit: Some(AlertFilter::MAX_LIMIT),
        ..AlertFilter::default()
    };
    loop {
        let page = store.list(&filter).unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => return out,
        }
    }
}

fn ids(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.id.as_str()).collect()
}

#[test]
fn migrations_apply_on_a_fresh_file_and_not_again_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path, ticking_clock()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    const { assert!(SCHEMA_VERSION >= 2) };
    let id = store
        .record(&hit("r1", "ws01", 1, 0))
        .unwrap()
        .id()
        .to_string();
    drop(store);

    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        ["alert_comments", "alert_hits", "alerts", "records"]
    );
    drop(raw);

    // Reopening keeps the data and does not re-run migration 1 (which would fail on
    // `CREATE TABLE alerts`).
    let store = SqliteStore::open(&path, ticking_clock()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.get(&id).unwrap().unwrap().count, 1);
    drop(store);

    // A file from a newer Vigil is refused, not written.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    match SqliteStore::open(&path, ticking_clock()) {
        Err(StateError::FutureSchema { found, known, .. }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected FutureSchema, got {other:?}"),
    }
}

#[test]
fn a_failed_migration_leaves_the_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    // A table in the way of migration 2 makes it fail after migration 1 ran in the same
    // transaction: neither may stick.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch("CREATE TABLE alert_comments (x INTEGER);")
        .unwrap();
    drop(raw);
    match SqliteStore::open(&path, ticking_clock()) {
        Err(StateError::Migration { version, .. }) => assert_eq!(version, 2),
        other => panic!("expected a migration error, got {other:?}"),
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let alerts: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'alerts'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((version, alerts), (0, 0));
}

#[test]
fn the_same_detection_twice_is_one_alert_with_count_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let h = hit("r1", "ws01", 42, 0);
    let expected = alert_id("r1", &h.event, &h.evidence);

    let first = store.record(&h).unwrap();
    assert_eq!(
        first,
        RecordOutcome::Created {
            id: expected.clone()
        }
    );
    let second = store.record(&h).unwrap();
    assert_eq!(
        second,
        RecordOutcome::Duplicate {
            id: expected.clone()
        }
    );

    let alerts = all(&store);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!((a.id.as_str(), a.count), (expected.as_str(), 1));
    assert_eq!(a.rule, h.rule);
    assert_eq!(a.event, h.event);
    assert_eq!(a.evidence, h.evidence);
    assert_eq!(a.entities, h.entities);
    assert_eq!(a.events, vec![h.event.clone()]);
    assert_eq!((a.first_seen, a.last_seen), (t(0), t(0)));
    assert_eq!(a.status, AlertStatus::New);
    assert_eq!(a.group_key, "host:ws01");
}

#[test]
fn hits_inside_the_window_aggregate_and_outside_start_a_new_alert() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let outcomes = store
        .record_batch(&[
            hit("r1", "WS01", 1, 0),
            hit("r1", "ws01", 2, 120),
            hit("r1", "ws01", 3, 300),
            // 20 minutes after the first: outside the 10-minute window.
            hit("r1", "ws01", 4, 1200),
            // Another host, another rule: their own alerts.
            hit("r1", "ws02", 5, 60),
            hit("r2", "ws01", 6, 60),
        ])
        .unwrap();
    let first = outcomes[0].id().to_string();
    assert_eq!(
        outcomes[1],
        RecordOutcome::Aggregated {
            id: first.clone(),
            count: 2
        }
    );
    assert_eq!(
        outcomes[2],
        RecordOutcome::Aggregated {
            id: first.clone(),
            count: 3
        }
    );
    for o in &outcomes[3..] {
        assert!(matches!(o, RecordOutcome::Created { .. }), "{o:?}");
    }

    let a = store.get(&first).unwrap().unwrap();
    assert_eq!(a.count, 3);
    assert_eq!((a.first_seen, a.last_seen), (t(0), t(300)));
    assert_eq!(
        a.events.iter().map(|e| e.record_id).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    // The evidence and id stay those of the first event.
    assert_eq!(a.event.record_id, Some(1));
    assert_eq!(all(&store).len(), 4);

    // A hit before the window's start (out of order) does not extend that alert backwards.
    let early = store.record(&hit("r1", "ws01", 7, -60)).unwrap();
    assert!(matches!(early, RecordOutcome::Created { .. }));
    // A hit inside both the early alert's and the first alert's windows joins the newer one.
    let both = store.record(&hit("r1", "ws01", 8, 30)).unwrap();
    assert_eq!(
        both,
        RecordOutcome::Aggregated {
            id: first.clone(),
            count: 4
        }
    );
}

#[test]
fn replaying_the_same_events_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<NewAlert> = (0..60)
        .map(|i| {
            let host = ["ws01", "ws02", "dc01"][(i % 3) as usize];
            let rule = ["r1", "r2"][(i % 2) as usize];
            hit(rule, host, i, i as i64 * 45)
        })
        .collect();

    let store = open(dir.path());
    let outcomes = store.record_batch(&events).unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| !matches!(o, RecordOutcome::Duplicate { .. }))
    );
    let before = all(&store);
    drop(store);

    // Restart (as after a crash) and feed everything again, one by one and as a batch.
    let store = open(dir.path());
    for e in &events {
        assert!(matches!(
            store.record(e).unwrap(),
            RecordOutcome::Duplicate { .. }
        ));
    }
    let again = store.record_batch(&events).unwrap();
    assert!(
        again
            .iter()
            .zip(&outcomes)
            .all(|(a, b)| matches!(a, RecordOutcome::Duplicate { .. }) && a.id() == b.id())
    );
    assert_eq!(all(&store), before, "a replay must not touch any alert");
    let total: u64 = before.iter().map(|a| a.count).sum();
    assert_eq!(total, events.len() as u64);

    // A crash after committing only the first part: replaying everything gives the same alerts
    // (ids and counts) as one clean run.
    let dir2 = tempfile::tempdir().unwrap();
    let store2 = open(dir2.path());
    store2.record_batch(&events[..23]).unwrap();
    drop(store2);
    let store2 = open(dir2.path());
    store2.record_batch(&events).unwrap();
    let summary = |v: &[Alert]| -> Vec<(String, u64, Timestamp, Timestamp)> {
        v.iter()
            .map(|a| (a.id.clone(), a.count, a.first_seen, a.last_seen))
            .collect()
    };
    assert_eq!(summary(&all(&store2)), summary(&before));
}

#[test]
fn events_without_time_never_aggregate_and_samples_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let options = StateOptions {
        sample_events: 3,
        ..ticking_clock()
    };
    let store = SqliteStore::open(dir.path().join("state.db"), options).unwrap();
    let mut a = hit("r1", "ws01", 1, 0);
    let mut b = hit("r1", "ws01", 2, 0);
    a.event.time = None;
    b.event.time = None;
    let (ra, rb) = (store.record(&a).unwrap(), store.record(&b).unwrap());
    assert!(matches!(ra, RecordOutcome::Created { .. }));
    assert!(matches!(rb, RecordOutcome::Created { .. }));
    assert_eq!(store.record(&a).unwrap().id(), ra.id());

    let batch: Vec<_> = (10..15).map(|i| hit("r9", "ws09", i, i as i64)).collect();
    let out = store.record_batch(&batch).unwrap();
    let alert = store.get(out[0].id()).unwrap().unwrap();
    assert_eq!(alert.count, 5);
    assert_eq!(alert.events.len(), 3);
}

fn seeded(dir: &Path) -> SqliteStore {
    let store = open(dir);
    let mut batch = Vec::new();
    for i in 0..30u64 {
        let mut h = hit(
            &format!("rule-{}", i % 4),
            &format!("host{:02}", i % 5),
            i,
            i as i64 * 3600,
        );
        h.rule.level = Level::ALL[(i % 5) as usize];
        if i % 7 == 0 {
            h.entities.dst_ip = Some("2001:db8::1".parse().unwrap());
        }
        if i == 13 {
            h.rule.title = "Suspicious 100%_match".into();
        }
        batch.push(h);
    }
    store.record_batch(&batch).unwrap();
    store
}

#[test]
fn filters_select_the_right_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path());
    let count = |f: AlertFilter| {
        let p = store.list(&f).unwrap();
        assert!(p.items.len() as u64 <= p.total);
        p.total
    };
    assert_eq!(count(AlertFilter::default()), 30);
    // Levels cycle over 5 values: high and critical are 2 of each 5.
    assert_eq!(
        count(AlertFilter {
            min_level: Some(Level::High),
            ..Default::default()
        }),
        12
    );
    let r1 = store
        .list(&AlertFilter {
            rule_id: Some("rule-1".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r1.total, 8);
    assert!(r1.items.iter().all(|a| a.rule.id == "rule-1"));
    // Host names compare case-insensitively; IPs in any spelling.
    assert_eq!(
        count(AlertFilter {
            entity: Some("HOST03".into()),
            ..Default::default()
        }),
        6
    );
    assert_eq!(
        count(AlertFilter {
            entity: Some("2001:0db8:0:0::1".into()),
            ..Default::default()
        }),
        5
    );
    assert_eq!(
        count(AlertFilter {
            entity: Some("10.0.0.5".into()),
            ..Default::default()
        }),
        30
    );
    // Hours 5..10 (active at or after 05:00 after T0, started before 10:00 after T0).
    assert_eq!(
        count(AlertFilter {
            since: Some(t(5 * 3600)),
            until: Some(t(10 * 3600)),
            ..Default::default()
        }),
        5
    );
    // LIKE wildcards in the text are literal.
    let found = store
        .list(&AlertFilter {
            text: Some("100%_m".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].event.record_id, Some(13));
    assert_eq!(
        count(AlertFilter {
            text: Some("record2".into()),
            ..Default::default()
        }),
        11, // record2 and record20..record29, from the evidence
    );

    let id = found.items[0].id.clone();
    store
        .update(
            &id,
            &AlertUpdate {
                author: "ana".into(),
                status: Some(AlertStatus::Closed),
                verdict: Some(Verdict::Benign),
                assignee: Some("ana".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        count(AlertFilter {
            status: vec![AlertStatus::New, AlertStatus::Acknowledged],
            ..Default::default()
        }),
        29
    );
    for f in [
        AlertFilter {
            status: vec![AlertStatus::Closed],
            ..Default::default()
        },
        AlertFilter {
            verdict: Some(Verdict::Benign),
            ..Default::default()
        },
        AlertFilter {
            assignee: Some("ana".into()),
            ..Default::default()
        },
    ] {
        let p = store.list(&f).unwrap();
        assert_eq!(ids(&p.items), [id.as_str()]);
    }
}

#[test]
fn paging_is_complete_and_stable_while_alerts_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let store = seeded(dir.path());
    let everything = all(&store);
    assert_eq!(everything.len(), 30);
    assert!(
        everything
            .windows(2)
            .all(|w| (w[0].first_seen, &w[0].id) > (w[1].first_seen, &w[1].id))
    );

    let mut filter = AlertFilter {
        limit: Some(7),
        ..AlertFilter::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.list(&filter).unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|a| a.id.clone()));
        if pages == 2 {
            // New alerts (newer and older than the cursor) and a hit on an alert already
            // listed must not shift what the remaining pages hold.
            store
                .record_batch(&[
                    hit("rule-new", "host99", 1000, 100 * 3600),
                    hit("rule-0", "host00", 1001, 60),
                ])
                .unwrap();
        }
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let expected: Vec<String> = everything.iter().map(|a| a.id.clone()).collect();
    assert_eq!(seen, expected);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        30,
        "no duplicates"
    );
    assert_eq!(store.list(&AlertFilter::default()).unwrap().total, 31);

    let bad = store.list(&AlertFilter {
        cursor: Some("not-a-cursor".into()),
        ..AlertFilter::default()
    });
    assert!(matches!(bad, Err(StateError::InvalidInput(_))), "{bad:?}");
}

#[test]
fn the_workflow_moves_alerts_and_refuses_invalid_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = store
        .record(&hit("r1", "ws01", 1, 0))
        .unwrap()
        .id()
        .to_string();
    let created = store.get(&id).unwrap().unwrap();
    let upd = |status: Option<AlertStatus>, verdict: Option<Verdict>, comment: Option<&str>| {
        AlertUpdate {
            author: "ana".into(),
            status,
            verdict,
            comment: comment.map(str::to_string),
            ..AlertUpdate::default()
        }
    };

    let a = store
        .update(
            &id,
            &AlertUpdate {
                assignee: Some("ana".into()),
                ..upd(Some(AlertStatus::Acknowledged), None, Some("looking"))
            },
        )
        .unwrap();
    assert_eq!(a.status, AlertStatus::Acknowledged);
    assert_eq!(a.assignee.as_deref(), Some("ana"));
    assert!(a.updated_at > created.updated_at);

    let back = store.update(&id, &upd(Some(AlertStatus::New), None, None));
    assert!(
        matches!(
            back,
            Err(StateError::InvalidTransition {
                from: AlertStatus::Acknowledged,
                to: AlertStatus::New
            })
        ),
        "{back:?}"
    );
    let a = store
        .update(&id, &upd(Some(AlertStatus::InProgress), None, None))
        .unwrap();
    assert_eq!(a.status, AlertStatus::InProgress);

    let no_verdict = store.update(&id, &upd(Some(AlertStatus::Closed), None, None));
    assert!(matches!(no_verdict, Err(StateError::VerdictRequired)));
    let open_verdict = store.update(&id, &upd(None, Some(Verdict::Benign), None));
    assert!(matches!(
        open_verdict,
        Err(StateError::VerdictOnOpenAlert { .. })
    ));
    // Refused updates changed nothing, not even the comment they carried.
    let refused = store.update(
        &id,
        &upd(Some(AlertStatus::New), None, Some("should vanish")),
    );
    assert!(refused.is_err());
    assert_eq!(store.get(&id).unwrap().unwrap(), a);

    let a = store
        .update(
            &id,
            &upd(
                Some(AlertStatus::Closed),
                Some(Verdict::FalsePositive),
                Some("admin script"),
            ),
        )
        .unwrap();
    assert_eq!(
        (a.status, a.verdict),
        (AlertStatus::Closed, Some(Verdict::FalsePositive))
    );
    let reopened = store
        .update(
            &id,
            &upd(Some(AlertStatus::InProgress), None, Some("reopen")),
        )
        .unwrap();
    assert_eq!(
        (reopened.status, reopened.verdict),
        (AlertStatus::InProgress, None)
    );
    let unassigned = store
        .update(
            &id,
            &AlertUpdate {
                assignee: Some(String::new()),
                ..upd(None, None, None)
            },
        )
        .unwrap();
    assert_eq!(unassigned.assignee, None);

    let comments = store.comments(&id).unwrap();
    let texts: Vec<_> = comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["looking", "admin script", "reopen"]);
    assert!(comments.iter().all(|c| c.author == "ana"));

    let missing = store.update(
        "00000000000000000000000000000000",
        &upd(Some(AlertStatus::Acknowledged), None, None),
    );
    assert!(matches!(missing, Err(StateError::NotFound(_))));
    assert!(missing.unwrap_err().is_client_error());
}

#[test]
fn comments_are_kept_in_order_with_author_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = store
        .record(&hit("r1", "ws01", 1, 0))
        .unwrap()
        .id()
        .to_string();
    let c1 = store.add_comment(&id, "ana", "  first  ").unwrap();
    let c2 = store.add_comment(&id, "bo", "second").unwrap();
    assert_eq!(c1.text, "first");
    assert!(c2.created_at > c1.created_at && c2.id > c1.id);
    assert_eq!(store.comments(&id).unwrap(), vec![c1, c2.clone()]);
    assert_eq!(store.get(&id).unwrap().unwrap().updated_at, c2.created_at);

    assert!(matches!(
        store.add_comment(&id, "ana", "   "),
        Err(StateError::InvalidInput(_))
    ));
    assert!(matches!(
        store.add_comment(&id, "", "who?"),
        Err(StateError::InvalidInput(_))
    ));
    let huge = "x".repeat(vigil_store::state::MAX_COMMENT_BYTES + 1);
    assert!(matches!(
        store.add_comment(&id, "ana", &huge),
        Err(StateError::InvalidInput(_))
    ));
    assert!(matches!(
        store.add_comment("ffffffffffffffffffffffffffffffff", "ana", "hi"),
        Err(StateError::NotFound(_))
    ));
    assert!(matches!(
        store.comments("ffffffffffffffffffffffffffffffff"),
        Err(StateError::NotFound(_))
    ));
}

#[test]
fn rule_hits_count_alerts_and_events_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .record_batch(&[
            hit("r1", "ws01", 1, 0),
            hit("r1", "ws01", 2, 10),
            hit("r1", "ws02", 3, 20),
            hit("r2", "ws01", 4, 5000),
        ])
        .unwrap();
    let hits = store.rule_hits(None).unwrap();
    let summary: Vec<_> = hits
        .iter()
        .map(|h| (h.rule_id.as_str(), h.alerts, h.events, h.last_seen))
        .collect();
    assert_eq!(summary, [("r1", 2, 3, t(20)), ("r2", 1, 1, t(5000))]);
    assert_eq!(hits[0].rule_title, "Rule r1");
    let recent = store.rule_hits(Some(t(1000))).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].rule_id, "r2");
}

#[test]
fn forgetting_the_ledger_keeps_alert_creation_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first = hit("r1", "ws01", 1, 0);
    let id = store.record(&first).unwrap().id().to_string();
    assert_eq!(store.forget_hits_before(t(0)).unwrap(), 0);
    assert_eq!(
        store
            .forget_hits_before("2100-01-01T00:00:00Z".parse().unwrap())
            .unwrap(),
        1
    );
    // The first event's alert id is derived from it, so even without the ledger a replay of it
    // finds the alert instead of creating another.
    assert_eq!(
        store.record(&first).unwrap(),
        RecordOutcome::Duplicate { id: id.clone() }
    );
    assert_eq!(all(&store).len(), 1);
}

#[test]
fn an_empty_rule_id_is_refused_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut h = hit("r1", "ws01", 1, 0);
    h.rule.id = " ".into();
    let err = store.record(&h).unwrap_err();
    assert!(err.to_string().contains("sysmon.evtx"), "{err}");
    assert!(all(&store).is_empty());
}

#[test]
fn concurrent_writers_lose_and_double_count_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(SqliteStore::open(&path, ticking_clock()).unwrap());
    let shared = Arc::new(SqliteStore::open(&path, ticking_clock()).unwrap());

    // Every thread records the same 50 shared events (each once overall) plus 100 of its own,
    // in small batches; half the threads use their own connection (another "process"), half
    // share one store.
    let threads: Vec<_> = (0..4u64)
        .map(|n| {
            let path = path.clone();
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let own;
                let store: &SqliteStore = if n % 2 == 0 {
                    own = SqliteStore::open(&path, ticking_clock()).unwrap();
                    &own
                } else {
                    &shared
                };
                let mut events: Vec<NewAlert> =
                    (0..50).map(|i| hit("shared", "ws01", i, 0)).collect();
                events.extend(
                    (0..100)
                        .map(|i| hit(&format!("t{n}"), &format!("host{}", i % 10), i, i as i64)),
                );
                for chunk in events.chunks(16) {
                    store.record_batch(chunk).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    let hits = shared.rule_hits(None).unwrap();
    let by_rule: Vec<_> = hits
        .iter()
        .map(|h| (h.rule_id.as_str(), h.alerts, h.events))
        .collect();
    assert_eq!(
        by_rule,
        [
            ("t0", 10, 100),
            ("t1", 10, 100),
            ("t2", 10, 100),
            ("t3", 10, 100),
            ("shared", 1, 50),
        ]
    );
}

fn put(kind: &str, id: &str, body: Option<&str>, expect: Expect) -> RecordPut {
    RecordPut {
        kind: kind.into(),
        id: id.into(),
        body: body.map(str::to_owned),
        expect,
    }
}

#[test]
fn records_are_versioned_and_written_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(store.get_record("case", "inc-1").unwrap(), None);
    let v = store
        .put_records(&[
            put("case", "inc-1", Some(r#"{"status":"new"}"#), Expect::Absent),
            put("pin", "a1", Some(r#""inc-1""#), Expect::Any),
        ])
        .unwrap();
    assert_eq!(v, vec![1, 1]);
    let case = store.get_record("case", "inc-1").unwrap().unwrap();
    assert_eq!(
        (case.version, case.body.as_str()),
        (1, r#"{"status":"new"}"#)
    );

    // A writer that read version 1 wins once; a second writer that also read 1 is refused, and
    // its other puts in the same call are not applied.
    let v = store
        .put_records(&[put("case", "inc-1", Some("{}"), Expect::Version(1))])
        .unwrap();
    assert_eq!(v, vec![2]);
    let err = store
        .put_records(&[
            put("pin", "a2", Some(r#""inc-1""#), Expect::Any),
            put("case", "inc-1", Some("{\"late\":1}"), Expect::Version(1)),
        ])
        .unwrap_err();
    assert!(
        matches!(err, StateError::Conflict { found: Some(2), .. }),
        "{err}"
    );
    assert!(err.is_client_error());
    assert!(
        err.to_string()
            .contains("expected version 1, found version 2"),
        "{err}"
    );
    assert_eq!(store.get_record("pin", "a2").unwrap(), None);
    let err = store
        .put_records(&[put("case", "inc-1", Some("{}"), Expect::Absent)])
        .unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }));

    // Listing is per kind, by id; a delete removes.
    store
        .put_records(&[put("pin", "a0", Some(r#""inc-9""#), Expect::Any)])
        .unwrap();
    let pins: Vec<String> = store
        .list_records("pin")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(pins, ["a0", "a1"]);
    assert_eq!(
        store
            .put_records(&[put("pin", "a0", None, Expect::Version(1))])
            .unwrap(),
        vec![0]
    );
    assert_eq!(store.list_records("pin").unwrap().len(), 1);
    // Oversized bodies are refused by name.
    let big = "x".repeat(MAX_RECORD_BYTES + 1);
    let err = store
        .put_records(&[put("case", "big", Some(&big), Expect::Any)])
        .unwrap_err();
    assert!(err.to_string().contains("case big is"), "{err}");
    // They survive a reopen.
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store.get_record("case", "inc-1").unwrap().unwrap().version,
        2
    );

    // Forgetting by age takes only the kind's records written before the cut.
    let cut = store.get_record("pin", "a1").unwrap().unwrap().updated_at;
    store
        .put_records(&[put("pin", "b1", Some("1"), Expect::Any)])
        .unwrap();
    let after =
        store.get_record("pin", "b1").unwrap().unwrap().updated_at + SignedDuration::from_secs(1);
    assert_eq!(store.forget_records_before("pin", cut).unwrap(), 0);
    assert_eq!(store.forget_records_before("pin", after).unwrap(), 2);
    assert!(store.list_records("pin").unwrap().is_empty());
    assert!(store.get_record("case", "inc-1").unwrap().is_some());
}
