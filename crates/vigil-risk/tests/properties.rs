//! Properties the assessment must keep whatever the input: risk only decays without new
//! alerts, grouping does not depend on arrival order, and the workflow refuses every
//! transition not in its table.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use vigil_core::Level;
use vigil_risk::{
    AlertView, EntityKey, EntityKind, EntityRisk, GroupingConfig, IncidentStatus, Tactic, Verdict,
    group,
};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + secs).unwrap()
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
        let views: Vec<AlertView> = alerts
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
            .collect();
        let config = GroupingConfig {
            window: Duration::from_secs(3_600),
            max_alerts_per_entity: 8,
            ..GroupingConfig::default()
        };
        let expected = group(&views, &config);
        // A deterministic shuffle from the seed.
        let mut shuffled = views.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(group(&shuffled, &config), expected.clone());
        // Every alert is in exactly one incident.
        let mut seen = BTreeSet::new();
        for inc in &expected {
            for a in &inc.alerts {
                prop_assert!(seen.insert(a.clone()));
            }
        }
        prop_assert_eq!(seen.len(), views.len());
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
