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
//!
//! Analysts' merges and splits are kept as pins (alert → incident id) that [`group_pinned`]
//! applies on top of the graph; [`merge_pins`] and [`split_pins`] compute them.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::{HashMap, HashSet};
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
    /// `inc-` and the id of its first alert (stable while that alert stays first), or the id
    /// its alerts are pinned to by a merge or split ([`group_pinned`]).
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

/// Alerts in (time, id) order, the entities not used to join, and the components.
struct Graph<'a> {
    order: Vec<&'a AlertView>,
    capped: HashSet<&'a EntityKey>,
    components: Components,
}

impl<'a> Graph<'a> {
    fn build(alerts: &'a [AlertView], config: &GroupingConfig) -> Graph<'a> {
        let mut order: Vec<&AlertView> = alerts.iter().collect();
        order.sort_unstable_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
        // The alerts naming each entity, in (time, id) order. A hash map: the result does not
        // depend on the order entities are visited in (a component's root is its first alert
        // whatever the order of joins), and at a million alerts the ordered map's string
        // comparisons were half the cost.
        let mut naming: HashMap<&EntityKey, Vec<usize>> = HashMap::with_capacity(order.len() / 4);
        for (i, alert) in order.iter().enumerate() {
            for (k, e) in alert.entities.iter().enumerate() {
                if !alert.entities[..k].contains(e) {
                    naming.entry(e).or_default().push(i);
                }
            }
        }
        let capped: HashSet<&EntityKey> = naming
            .iter()
            .filter(|(e, list)| {
                config.ubiquitous.contains(e) || list.len() > config.max_alerts_per_entity
            })
            .map(|(e, _)| *e)
            .collect();
        // Times side by side: the joins below read them in entity order, i.e. at random.
        let times: Vec<Timestamp> = order.iter().map(|a| a.time).collect();
        let mut components = Components::new(order.len());
        for (entity, list) in &naming {
            if capped.contains(entity) {
                continue;
            }
            for pair in list.windows(2) {
                let gap = times[pair[1]].duration_since(times[pair[0]]);
                if gap.unsigned_abs() <= config.window {
                    components.join(pair[0], pair[1]);
                }
            }
        }
        Graph {
            order,
            capped,
            components,
        }
    }

    /// The components' members (ascending), ordered by their first member.
    fn components(&mut self) -> Vec<Vec<usize>> {
        let n = self.order.len();
        // A root is its component's smallest index, so it is seen before the other members
        // and components are created in order of their first member.
        let mut slot = vec![usize::MAX; n];
        let mut members: Vec<Vec<usize>> = Vec::new();
        for i in 0..n {
            let root = self.components.find(i);
            if slot[root] == usize::MAX {
                slot[root] = members.len();
                members.push(Vec::new());
            }
            members[slot[root]].push(i);
        }
        members
    }

    /// The incident of the alerts at `idx` (ascending), named `id`.
    fn incident(&self, id: String, idx: &[usize]) -> Incident {
        let alerts: Vec<&AlertView> = idx.iter().map(|i| self.order[*i]).collect();
        incident(id, &alerts, &self.capped)
    }
}

/// Groups `alerts` into incidents, first-seen first.
pub fn group(alerts: &[AlertView], config: &GroupingConfig) -> Vec<Incident> {
    let mut graph = Graph::build(alerts, config);
    graph
        .components()
        .into_iter()
        .map(|idx| graph.incident(format!("inc-{}", graph.order[idx[0]].id), &idx))
        .collect()
}

/// Groups `alerts` like [`group`], with analysts' decisions applied: `pins` maps alert ids to
/// the incident id an analyst put them in (by a merge or a split).
///
/// The rule:
/// 1. a pinned alert is in its pinned incident, whatever the graph says;
/// 2. an unpinned alert whose component (as [`group`] computes it) holds pinned alerts joins
///    the incident pinned for the component's earliest pinned alert (in (time, id) order) — so
///    a new alert about a merged incident's entities lands in it;
/// 3. every other component is an incident exactly as [`group`] makes it, with the same id.
///
/// Pins of alerts not in `alerts` are ignored. Like [`group`], the result depends on the set
/// of alerts and pins, not on their order; incidents come first-seen first.
pub fn group_pinned(
    alerts: &[AlertView],
    config: &GroupingConfig,
    pins: &BTreeMap<String, String>,
) -> Vec<Incident> {
    let mut graph = Graph::build(alerts, config);
    // Looked up once per alert: hashed rather than compared along the ordered map.
    let pin_of: HashMap<&str, &str> = pins.iter().map(|(a, i)| (a.as_str(), i.as_str())).collect();
    let mut pinned: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for members in graph.components() {
        // The pin of the component's earliest pinned alert (members ascend in (time, id) order).
        let component_pin = members
            .iter()
            .find_map(|i| pin_of.get(graph.order[*i].id.as_str()).copied());
        let Some(component_pin) = component_pin else {
            groups.push((format!("inc-{}", graph.order[members[0]].id), members));
            continue;
        };
        for i in members {
            let pin = pin_of
                .get(graph.order[i].id.as_str())
                .copied()
                .unwrap_or(component_pin);
            pinned.entry(pin).or_default().push(i);
        }
    }
    // An unpinned component whose id a pin also names is one incident with the pinned alerts.
    groups.retain_mut(|(id, members)| match pinned.get_mut(id.as_str()) {
        Some(more) => {
            more.append(members);
            false
        }
        None => true,
    });
    for (id, mut members) in pinned {
        members.sort_unstable();
        groups.push((id.to_string(), members));
    }
    groups.sort_by_key(|(_, idx)| idx[0]);
    groups
        .into_iter()
        .map(|(id, idx)| graph.incident(id, &idx))
        .collect()
}

/// A refused merge or split.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("no incident {id:?}")]
    UnknownIncident { id: String },
    #[error("a merge needs at least one other incident to merge into {into:?}")]
    NothingToMerge { into: String },
    #[error("incident {id:?} cannot be merged into itself")]
    MergeWithItself { id: String },
    #[error("a split needs at least one alert to split off")]
    NoAlerts,
    #[error("splitting off every alert of {incident:?} would leave it empty; split off fewer")]
    AllAlerts { incident: String },
    #[error("alert {alert:?} is not in incident {incident:?}")]
    NotInIncident { alert: String, incident: String },
}

fn find<'a>(incidents: &'a [Incident], id: &str) -> Result<&'a Incident, PinError> {
    incidents
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| PinError::UnknownIncident { id: id.to_string() })
}

/// The pins after merging incidents `from` into `into`: every alert of all of them pinned to
/// `into` (its own too, so it keeps its id whatever later alerts do). `incidents` is the
/// current grouping (from [`group_pinned`] with `pins`).
pub fn merge_pins(
    incidents: &[Incident],
    pins: &BTreeMap<String, String>,
    into: &str,
    from: &[String],
) -> Result<BTreeMap<String, String>, PinError> {
    let target = find(incidents, into)?;
    if from.is_empty() {
        return Err(PinError::NothingToMerge {
            into: into.to_string(),
        });
    }
    let mut merged = vec![target];
    for id in from {
        if id == into {
            return Err(PinError::MergeWithItself { id: id.clone() });
        }
        merged.push(find(incidents, id)?);
    }
    let mut out = pins.clone();
    for alert in merged.iter().flat_map(|i| &i.alerts) {
        out.insert(alert.clone(), into.to_string());
    }
    Ok(out)
}

/// The pins after splitting `alerts` off incident `incident` into a new incident, and the new
/// incident's id: `inc-` and the first split alert's id, or with `-2`, `-3`, … appended when
/// that id is taken. The alerts left keep the original id.
pub fn split_pins(
    incidents: &[Incident],
    pins: &BTreeMap<String, String>,
    incident: &str,
    alerts: &[String],
) -> Result<(BTreeMap<String, String>, String), PinError> {
    let source = find(incidents, incident)?;
    let chosen: BTreeSet<&String> = alerts.iter().collect();
    if chosen.is_empty() {
        return Err(PinError::NoAlerts);
    }
    if let Some(stray) = chosen.iter().find(|a| !source.alerts.contains(a)) {
        return Err(PinError::NotInIncident {
            alert: (*stray).clone(),
            incident: incident.to_string(),
        });
    }
    if chosen.len() == source.alerts.len() {
        return Err(PinError::AllAlerts {
            incident: incident.to_string(),
        });
    }
    // `source.alerts` is in (time, id) order: the first chosen there is the new incident's first.
    let first = source
        .alerts
        .iter()
        .find(|a| chosen.contains(a))
        .ok_or(PinError::NoAlerts)?;
    let taken = |id: &str| incidents.iter().any(|i| i.id == id) || pins.values().any(|p| p == id);
    let base = format!("inc-{first}");
    let new_id = std::iter::once(base.clone())
        .chain((2..).map(|n| format!("{base}-{n}")))
        .find(|id| !taken(id))
        .unwrap_or(base);
    let mut out = pins.clone();
    for a in &source.alerts {
        let to = if chosen.contains(a) {
            &new_id
        } else {
            &source.id
        };
        out.insert(a.clone(), to.clone());
    }
    Ok((out, new_id))
}

/// The incident `id` of `alerts` (in (time, id) order, at least one).
fn incident(id: String, alerts: &[&AlertView], capped: &HashSet<&EntityKey>) -> Incident {
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
        id,
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
