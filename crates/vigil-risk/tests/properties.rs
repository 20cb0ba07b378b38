//! Properties the assessment must keep whatever the input: risk only decays without new
//! alerts, grouping does not depend on arrival order (with or without analysts' pins), pins
//! are obeyed, and the workflow refuses every transition not in its table.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use vigil_core::Level;
use vigil_risk::{
    AlertView, EntityKey, EntityKind, EntityRisk, GroupingConfig, Incident, IncidentStatus,
    PinError, Tactic, Verdict, group, group_pinned, merge_pins, split_pins,
};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + secs).unwrap()
}

/// Alerts from generated (time, entity numbers, level) triples.
fn views(alerts: &[(i64, Vec<u8>, u8)]) -> Vec<AlertView> {
    alerts
        .iter()
        .enumerate()
        .map(|(i, (t, ents, lvl))| AlertView {
            id: format!("a{i:03}"),
            time: at(*t),
            rule: format!("r{}", i % 5),
            level: Level::ALL[*lvl as usize],
            entities: ents
                .iter()
                .map(|e| match e % 3 {
                    0 => EntityKey::new(EntityKind::Host, &format!("h{e}")),
                    1 => EntityKey::new(EntityKind::User, &format!("u{e}")),
                    _ => EntityKey::new(EntityKind::Ip, &format!("10.0.0.{e}")),
                })
                .collect(),
            tactics: vec![Tactic::ALL[i % 14]],
            score: f64::from(*lvl) * 10.0,
        })
        .collect()
}

/// `views` in an order drawn from `seed` (xorshift Fisher–Yates).
fn shuffled(views: &[AlertView], seed: u64) -> Vec<AlertView> {
    let mut out = views.to_vec();
    let mut state = seed | 1;
    for i in (1..out.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.swap(i, (state % (i as u64 + 1)) as usize);
    }
    out
}

fn small_window() -> GroupingConfig {
    GroupingConfig {
        window: Duration::from_secs(3_600),
        max_alerts_per_entity: 8,
        ..GroupingConfig::default()
    }
}

/// Every alert id of `views` is in exactly one incident.
fn each_alert_once(incidents: &[Incident], views: &[AlertView]) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    for inc in incidents {
        prop_assert!(!inc.alerts.is_empty());
        for a in &inc.alerts {
            prop_assert!(seen.insert(a.clone()), "{} twice", a);
        }
    }
    prop_assert_eq!(seen.len(), views.len());
    Ok(())
}

fn incident_of<'a>(incidents: &'a [Incident], alert: &str) -> &'a Incident {
    incidents
        .iter()
        .find(|i| i.alerts.iter().any(|a| a == alert))
        .unwrap()
}

proptest! {
    #[test]
    fn pinned_grouping_without_pins_is_grouping(
        alerts in prop::collection::vec((0i64..40_000, prop::collection::vec(0u8..12, 0..4), 0u8..5), 1..60),
    ) {
        let views = views(&alerts);
        let config = small_window();
        prop_assert_eq!(group_pinned(&views, &config, &BTreeMap::new()), group(&views, &config));
    }

    #[test]
    fn pins_are_obeyed_and_order_does_not_matter(
        alerts in prop::collection::vec((0i64..40_000, prop::collection::vec(0u8..12, 0..4), 0u8..5), 1..60),
        pinned in prop::collection::vec((0usize..60, 0u8..4), 0..20),
        seed in any::<u64>(),
    ) {
        let views = views(&alerts);
        let config = small_window();
        // Pins to a few incident ids, some of them for alerts that do not exist.
        let pins: BTreeMap<String, String> = pinned
            .iter()
            .map(|(a, p)| (format!("a{a:03}"), format!("inc-pinned-{p}")))
            .collect();
        let expected = group_pinned(&views, &config, &pins);
        prop_assert_eq!(&group_pinned(&shuffled(&views, seed), &config, &pins), &expected);
        each_alert_once(&expected, &views)?;
        let ids: BTreeSet<&String> = expected.iter().map(|i| &i.id).collect();
        prop_assert_eq!(ids.len(), expected.len(), "incident ids are unique");
        for (alert, pin) in &pins {
            if views.iter().any(|v| &v.id == alert) {
                prop_assert_eq!(&incident_of(&expected, alert).id, pin);
            }
        }
        // An unpinned alert sharing a component with no pinned alert keeps its group() incident.
        let plain = group(&views, &config);
        for inc in &plain {
            if inc.alerts.iter().all(|a| !pins.contains_key(a)) {
                prop_assert!(expected.contains(inc), "{} changed", inc.id);
            }
        }
    }

    #[test]
    fn merge_and_split_move_exactly_the_alerts_asked(
        alerts in prop::collection::vec((0i64..40_000, prop::collection::vec(0u8..12, 0..4), 0u8..5), 2..60),
        pick in any::<prop::sample::Index>(),
        other in any::<prop::sample::Index>(),
        take in any::<prop::sample::Index>(),
    ) {
        let views = views(&alerts);
        let config = small_window();
        let before = group(&views, &config);
        // Merge one incident into another (when there are two).
        if before.len() >= 2 {
            let a = &before[pick.index(before.len())];
            let b = &before[other.index(before.len())];
            if a.id != b.id {
                let pins = merge_pins(&before, &BTreeMap::new(), &a.id, std::slice::from_ref(&b.id)).unwrap();
                let after = group_pinned(&views, &config, &pins);
                each_alert_once(&after, &views)?;
                let merged = after.iter().find(|i| i.id == a.id).unwrap();
                let mut want: Vec<&String> = a.alerts.iter().chain(&b.alerts).collect();
                want.sort();
                let mut got: Vec<&String> = merged.alerts.iter().collect();
                got.sort();
                prop_assert_eq!(got, want);
                prop_assert!(after.iter().all(|i| i.id != b.id));
                prop_assert_eq!(after.len(), before.len() - 1);
            }
        }
        // Split some alerts off an incident with at least two.
        if let Some(source) = before.iter().find(|i| i.alerts.len() >= 2) {
            let n = 1 + take.index(source.alerts.len() - 1);
            let chosen: Vec<String> = source.alerts[source.alerts.len() - n..].to_vec();
            let (pins, new_id) = split_pins(&before, &BTreeMap::new(), &source.id, &chosen).unwrap();
            let after = group_pinned(&views, &config, &pins);
            each_alert_once(&after, &views)?;
            let split = after.iter().find(|i| i.id == new_id).unwrap();
            prop_assert_eq!(&split.alerts, &chosen);
            let rest = after.iter().find(|i| i.id == source.id).unwrap();
            prop_assert_eq!(rest.alerts.len(), source.alerts.len() - n);
            prop_assert_eq!(after.len(), before.len() + 1);
        }
    }
}

proptest! {
    #[test]
    fn risk_decays_monotonically_without_new_alerts(
        adds in prop::collection::vec((0u8..4, 0.0f64..100.0, 0i64..20_000), 1..40),
        gaps in prop::collection::vec(1i64..50_000, 1..10),
        half_life in 60u64..86_400,
    ) {
        let mut risk = EntityRisk::new(Duration::from_secs(half_life), 1e12);
        let keys: Vec<EntityKey> = (0..4).map(|i| EntityKey::new(EntityKind::Host, &format!("h{i}"))).collect();
        let mut last = 0;
        for (k, points, t) in &adds {
            risk.add(keys[*k as usize].clone(), *points, at(*t));
            last = last.max(*t);
        }
        for key in &keys {
            let mut now = last;
            let mut previous = risk.risk(key, at(now));
            prop_assert!(previous >= 0.0);
            for gap in &gaps {
                now += gap;
                let current = risk.risk(key, at(now));
                prop_assert!(current <= previous + 1e-9, "{current} > {previous}");
                prop_assert!(current >= 0.0);
                previous = current;
            }
        }
    }

    #[test]
    fn grouping_is_independent_of_arrival_order(
        alerts in prop::collection::vec((0i64..40_000, prop::collection::vec(0u8..12, 0..4), 0u8..5), 1..60),
        seed in any::<u64>(),
    ) {
        let views = views(&alerts);
        let config = small_window();
        let expected = group(&views, &config);
        let shuffled = shuffled(&views, seed);
        prop_assert_eq!(group(&shuffled, &config), expected.clone());
        each_alert_once(&expected, &views)?;
    }
}

#[test]
fn the_workflow_refuses_every_transition_not_in_its_table() {
    use IncidentStatus::*;
    let all = [New, Triaged, Contained, Eradicated, Recovered, Closed];
    let allowed: BTreeSet<(IncidentStatus, IncidentStatus)> = [
        (New, Triaged),
        (New, Closed),
        (Triaged, Contained),
        (Triaged, Closed),
        (Contained, Eradicated),
        (Contained, Closed),
        (Eradicated, Recovered),
        (Eradicated, Closed),
        (Recovered, Closed),
        (Closed, Triaged),
    ]
    .into();
    for from in all {
        for to in all {
            let verdict = (to == Closed).then_some(Verdict::TruePositive);
            let result = from.transition(to, verdict);
            if allowed.contains(&(from, to)) {
                assert_eq!(result, Ok(to), "{from} → {to}");
            } else {
                let e = result.unwrap_err().to_string();
                assert!(e.contains(&format!("from {from} to {to}")), "{e}");
            }
        }
    }
    assert!(
        New.transition(Closed, None).is_err(),
        "closing needs a verdict"
    );
    assert!(
        New.transition(Triaged, Some(Verdict::Benign)).is_err(),
        "only closing takes a verdict"
    );
}

#[test]
fn ubiquitous_and_overused_entities_do_not_glue_incidents() {
    let host = |h: &str| EntityKey::new(EntityKind::Host, h);
    let user = |u: &str| EntityKey::new(EntityKind::User, u);
    let mut alerts = Vec::new();
    let mut alert = |id: &str, secs: i64, entities: Vec<EntityKey>, tactic: Tactic| {
        alerts.push(AlertView {
            id: id.into(),
            time: at(secs),
            rule: format!("rule-{id}"),
            level: Level::High,
            entities,
            tactics: vec![tactic],
            score: 60.0,
        });
    };
    // An intrusion: wks-07 then alice moves to srv-2.
    alert(
        "a1",
        0,
        vec![host("WKS-07"), user("alice"), user("SYSTEM")],
        Tactic::Execution,
    );
    alert(
        "a2",
        600,
        vec![host("wks-07"), user("alice")],
        Tactic::CredentialAccess,
    );
    alert(
        "a3",
        1200,
        vec![host("srv-2"), user("alice"), host("dc01")],
        Tactic::LateralMovement,
    );
    // Unrelated hosts that only share SYSTEM and the domain controller.
    for i in 0..5 {
        alert(
            &format!("b{i}"),
            900 + i,
            vec![host(&format!("kiosk-{i}")), user("SYSTEM"), host("dc01")],
            Tactic::Discovery,
        );
    }
    let config = GroupingConfig {
        max_alerts_per_entity: 4,
        ..GroupingConfig::default()
    };
    let incidents = group(&alerts, &config);
    let intrusion = incidents
        .iter()
        .find(|i| i.alerts.contains(&"a1".to_string()))
        .unwrap();
    assert_eq!(intrusion.alerts, ["a1", "a2", "a3"]);
    assert_eq!(intrusion.id, "inc-a1");
    assert_eq!(
        intrusion.tactics,
        [
            Tactic::Execution,
            Tactic::CredentialAccess,
            Tactic::LateralMovement
        ]
    );
    assert!(intrusion.entities.contains(&host("srv-2")));
    assert!(intrusion.capped_entities.contains(&user("system")));
    assert!(
        intrusion.capped_entities.contains(&host("dc01")),
        "dc01 is in 6 alerts > cap 4"
    );
    assert_eq!(incidents.len(), 6, "the kiosks stay apart: {incidents:#?}");
    // Outside the window the same user no longer joins.
    let far = group(
        &[
            alerts[0].clone(),
            AlertView {
                id: "late".into(),
                time: at(10 * 3600),
                ..alerts[1].clone()
            },
        ],
        &GroupingConfig::default(),
    );
    assert_eq!(far.len(), 2);
    let _ = SignedDuration::ZERO;
}

#[test]
fn merge_and_split_refuse_bad_requests_with_reasons() {
    let host = |h: &str| EntityKey::new(EntityKind::Host, h);
    let alert = |id: &str, secs: i64, h: &str| AlertView {
        id: id.into(),
        time: at(secs),
        rule: "r".into(),
        level: Level::High,
        entities: vec![host(h)],
        tactics: vec![],
        score: 50.0,
    };
    let mut views = vec![
        alert("a1", 0, "wks-1"),
        alert("a2", 60, "wks-1"),
        alert("a3", 120, "wks-1"),
        alert("b1", 30, "srv-9"),
    ];
    let config = GroupingConfig::default();
    let incidents = group(&views, &config);
    let ids: Vec<&str> = incidents.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["inc-a1", "inc-b1"]);
    let none = BTreeMap::new();
    let s = |v: &[&str]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        merge_pins(&incidents, &none, "inc-zz", &s(&["inc-b1"])),
        Err(PinError::UnknownIncident {
            id: "inc-zz".into()
        })
    );
    assert_eq!(
        merge_pins(&incidents, &none, "inc-a1", &s(&["inc-a1"]))
            .unwrap_err()
            .to_string(),
        "incident \"inc-a1\" cannot be merged into itself"
    );
    assert!(matches!(
        merge_pins(&incidents, &none, "inc-a1", &[]),
        Err(PinError::NothingToMerge { .. })
    ));
    assert_eq!(
        split_pins(&incidents, &none, "inc-a1", &[]),
        Err(PinError::NoAlerts)
    );
    assert_eq!(
        split_pins(&incidents, &none, "inc-a1", &s(&["b1"]))
            .unwrap_err()
            .to_string(),
        "alert \"b1\" is not in incident \"inc-a1\""
    );
    assert!(matches!(
        split_pins(&incidents, &none, "inc-a1", &s(&["a1", "a2", "a3"])),
        Err(PinError::AllAlerts { .. })
    ));

    // Split the first alert off: the new incident cannot reuse "inc-a1", which the rest keeps.
    let (pins, new_id) = split_pins(&incidents, &none, "inc-a1", &s(&["a1"])).unwrap();
    assert_eq!(new_id, "inc-a1-2");
    let after = group_pinned(&views, &config, &pins);
    let ids: Vec<(&str, usize)> = after
        .iter()
        .map(|i| (i.id.as_str(), i.alerts.len()))
        .collect();
    assert_eq!(ids, [("inc-a1-2", 1), ("inc-b1", 1), ("inc-a1", 2)]);
    // A new alert on wks-1 joins the incident of the component's earliest pinned alert (a1).
    views.push(alert("a4", 180, "wks-1"));
    let later = group_pinned(&views, &config, &pins);
    assert_eq!(incident_of(&later, "a4").id, "inc-a1-2");
    // Merge b1's incident into inc-a1: a2, a3 and b1 together, a1 still split off.
    let pins = merge_pins(&later, &pins, "inc-a1", &s(&["inc-b1"])).unwrap();
    let merged = group_pinned(&views, &config, &pins);
    assert_eq!(incident_of(&merged, "b1").alerts, ["b1", "a2", "a3"]);
    assert_eq!(incident_of(&merged, "a1").alerts, ["a1", "a4"]);
}
