//! Incidents: alerts grouped by the entities they share.
//!
//! Two alerts belong to one incident when they name the same host, user or IP within
//! `window` of each other (chains count: A–B on a host and B–C on a user make A, B, C one
//! incident) — connected components of the alert–entity graph. Entities that would glue
//! everything together are not used to join: the ubiquitous ones named in the configuration
//! (`SYSTEM`, `127.0.0.1`, …) and any entity named by more than `max_alerts_per_entity` alerts
//! (a domain controller every logon touches). Incidents still list them, marked as capped.
//!
//! The grouping is a function of the set of alerts, not of their arrival order: alerts are
//! taken in (time, id) order and entity counts are over the whole set (property-tested).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use vigil_core::Level;

use crate::entity::{EntityKey, EntityKind};
use crate::tactic::Tactic;

/// What grouping needs of an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertView {
    pub id: String,
    /// Event time of the alert's (first) event.
    pub time: Timestamp,
    pub rule: String,
    pub level: Level,
    pub entities: Vec<EntityKey>,
    pub tactics: Vec<Tactic>,
    /// The alert's risk score ([`crate::score`]).
    pub score: f64,
}

/// How alerts are grouped.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupingConfig {
    /// Alerts further apart than this on an entity are not joined through it.
    pub window: Duration,
    /// An entity named by more alerts than this joins none of them.
    pub max_alerts_per_entity: usize,
    /// Entities that never join alerts.
    pub ubiquitous: BTreeSet<EntityKey>,
}

impl Default for GroupingConfig {
    /// A 4-hour window, 200 alerts per entity, and the usual ubiquitous accounts and addresses.
    fn default() -> Self {
        let users = [
            "system",
            "nt authority\\system",
            "local service",
            "network service",
            "nt authority\\local service",
            "nt authority\\network service",
            "root",
            "-",
            "anonymous logon",
        ];
        let ips = ["127.0.0.1", "::1", "0.0.0.0", "::"];
        let hosts = ["localhost", "-"];
        let ubiquitous = users
            .iter()
            .map(|u| EntityKey::new(EntityKind::User, u))
            .chain(ips.iter().map(|i| EntityKey::new(EntityKind::Ip, i)))
            .chain(hosts.iter().map(|h| EntityKey::new(EntityKind::Host, h)))
            .collect();
        GroupingConfig {
            window: Duration::from_secs(4 * 3600),
            max_alerts_per_entity: 200,
            ubiquitous,
        }
    }
}

/// A group of related alerts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Incident {
    /// `inc-` and the id of its first alert: stable while that alert stays first.
    pub id: String,
    /// Alert ids in (time, id) order.
    pub alerts: Vec<String>,
    /// Entities that joined the alerts, sorted.
    pub entities: Vec<EntityKey>,
    /// Entities the alerts name that were not used to join (ubiquitous or over the cap).
    pub capped_entities: Vec<EntityKey>,
    /// ATT&CK tactics seen, in kill-chain order.
    pub tactics: Vec<Tactic>,
    pub rules: Vec<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The highest alert level.
    pub severity: Level,
    /// The highest alert risk score.
    pub score: f64,
}

/// Union-find over alert indexes.
struct Components {
    parent: Vec<usize>,
}

impl Components {
    fn new(n: usize) -> Self {
        Components {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Joins the two sets; the smaller index stays the root (keeps results order-free).
    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[child] = root;
        }
    }
}

/// Groups `alerts` into incidents, first-seen first.
pub fn group(alerts: &[AlertView], config: &GroupingConfig) -> Vec<Incident> {
    let mut order: Vec<&AlertView> = alerts.iter().collect();
    order.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    // The alerts naming each entity, in (time, id) order.
    let mut naming: BTreeMap<&EntityKey, Vec<usize>> = BTreeMap::new();
    for (i, alert) in order.iter().enumerate() {
        let distinct: BTreeSet<&EntityKey> = alert.entities.iter().collect();
        for e in distinct {
            naming.entry(e).or_default().push(i);
        }
    }
    let capped: BTreeSet<&EntityKey> = naming
        .iter()
        .filter(|(e, list)| {
            config.ubiquitous.contains(e) || list.len() > config.max_alerts_per_entity
        })
        .map(|(e, _)| *e)
        .collect();
    let mut components = Components::new(order.len());
    for (entity, list) in &naming {
        if capped.contains(entity) {
            continue;
        }
        for pair in list.windows(2) {
            let gap = order[pair[1]].time.duration_since(order[pair[0]].time);
            if gap.unsigned_abs() <= config.window {
                components.join(pair[0], pair[1]);
            }
        }
    }
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..order.len() {
        let root = components.find(i);
        members.entry(root).or_default().push(i);
    }
    members
        .into_values()
        .map(|idx| incident(&idx.iter().map(|i| order[*i]).collect::<Vec<_>>(), &capped))
        .collect()
}

/// The incident of `alerts` (in (time, id) order, at least one).
fn incident(alerts: &[&AlertView], capped: &BTreeSet<&EntityKey>) -> Incident {
    let first = alerts[0];
    let mut entities = BTreeSet::new();
    let mut capped_entities = BTreeSet::new();
    let mut tactics = BTreeSet::new();
    let mut rules = BTreeSet::new();
    for a in alerts {
        for e in &a.entities {
            if capped.contains(e) {
                capped_entities.insert(e.clone());
            } else {
                entities.insert(e.clone());
            }
        }
        tactics.extend(a.tactics.iter().copied());
        rules.insert(a.rule.clone());
    }
    Incident {
        id: format!("inc-{}", first.id),
        alerts: alerts.iter().map(|a| a.id.clone()).collect(),
        entities: entities.into_iter().collect(),
        capped_entities: capped_entities.into_iter().collect(),
        tactics: tactics.into_iter().collect(),
        rules: rules.into_iter().collect(),
        first_seen: first.time,
        last_seen: alerts.iter().map(|a| a.time).max().unwrap_or(first.time),
        severity: alerts
            .iter()
            .map(|a| a.level)
            .max()
            .unwrap_or(Level::Informational),
        score: alerts.iter().map(|a| a.score).fold(0.0, f64::max),
    }
}
