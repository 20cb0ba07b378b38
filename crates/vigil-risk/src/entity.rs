//! Risk accumulated per entity (host, user, IP): every alert adds its score to the entities it
//! names, and the sum halves every `half_life` without new alerts. When an entity's risk
//! crosses the threshold a [`RiskCrossing`] is returned — a risk incident even when no single
//! alert was severe (risk-based alerting: twenty medium alerts on one host matter).
//!
//! Each entity keeps one value and the time it was last brought up to date, so adding and
//! reading are O(log n) and memory is one entry per entity.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

/// What kind of thing an entity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Host,
    User,
    Ip,
}

/// An entity: kind and value (host and user names compared case-insensitively).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct EntityKey {
    pub kind: EntityKind,
    pub value: String,
}

impl EntityKey {
    /// The key for `value`, normalised (lowercase for hosts and users, canonical for IPs).
    pub fn new(kind: EntityKind, value: &str) -> EntityKey {
        let value = match kind {
            EntityKind::Host | EntityKind::User => value.trim().to_lowercase(),
            EntityKind::Ip => value
                .trim()
                .parse::<std::net::IpAddr>()
                .map_or_else(|_| value.trim().to_string(), |ip| ip.to_string()),
        };
        EntityKey { kind, value }
    }
}

/// An entity's risk crossed the threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RiskCrossing {
    pub entity: EntityKey,
    /// The risk right after the alert that crossed.
    pub risk: f64,
    pub at: Timestamp,
}

#[derive(Clone, Copy, Debug)]
struct Level {
    value: f64,
    at: Timestamp,
    /// Above the threshold since the last crossing; re-armed once it decays below half of it.
    raised: bool,
}

/// Decaying risk per entity.
#[derive(Clone, Debug)]
pub struct EntityRisk {
    half_life: Duration,
    threshold: f64,
    levels: BTreeMap<EntityKey, Level>,
}

impl EntityRisk {
    /// Risk halves every `half_life`; crossing `threshold` raises a [`RiskCrossing`].
    pub fn new(half_life: Duration, threshold: f64) -> EntityRisk {
        EntityRisk {
            half_life: half_life.max(Duration::from_secs(1)),
            threshold,
            levels: BTreeMap::new(),
        }
    }

    /// The factor a value decays by over `from → to` (1 when `to` is not later).
    fn decay(&self, from: Timestamp, to: Timestamp) -> f64 {
        let elapsed = to.duration_since(from).as_secs_f64();
        if elapsed <= 0.0 {
            return 1.0;
        }
        0.5f64.powf(elapsed / self.half_life.as_secs_f64())
    }

    /// Adds `points` to `entity` at `at` (an alert's score at its event time). Alerts may
    /// arrive out of order: one older than the entity's last update counts already decayed.
    pub fn add(&mut self, entity: EntityKey, points: f64, at: Timestamp) -> Option<RiskCrossing> {
        let points = points.max(0.0);
        let threshold = self.threshold;
        let decayed = |level: &Level, this: &EntityRisk| {
            if at >= level.at {
                (level.value * this.decay(level.at, at) + points, at)
            } else {
                (level.value + points * this.decay(at, level.at), level.at)
            }
        };
        let (value, when, was_raised) = match self.levels.get(&entity) {
            Some(level) => {
                let (v, t) = decayed(level, self);
                // Re-arm when the risk fell well below the threshold since it last crossed.
                let current = level.value * self.decay(level.at, t);
                (v, t, level.raised && current >= threshold / 2.0)
            }
            None => (points, at, false),
        };
        let crossed = value >= threshold && !was_raised;
        self.levels.insert(
            entity.clone(),
            Level {
                value,
                at: when,
                raised: was_raised || crossed,
            },
        );
        crossed.then_some(RiskCrossing {
            entity,
            risk: value,
            at: when,
        })
    }

    /// The entity's risk at `now` (0 for an unknown entity).
    pub fn risk(&self, entity: &EntityKey, now: Timestamp) -> f64 {
        self.levels
            .get(entity)
            .map_or(0.0, |l| l.value * self.decay(l.at, now))
    }

    /// The `n` riskiest entities at `now`, highest first (ties by key).
    pub fn top(&self, now: Timestamp, n: usize) -> Vec<(EntityKey, f64)> {
        let mut all: Vec<(EntityKey, f64)> = self
            .levels
            .iter()
            .map(|(k, l)| (k.clone(), l.value * self.decay(l.at, now)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    /// Entities tracked.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// True when no entity has risk.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn risk_halves_every_half_life_and_crossing_is_reported_once() {
        let mut r = EntityRisk::new(Duration::from_secs(3600), 100.0);
        let host = EntityKey::new(EntityKind::Host, "WKS-07");
        assert!(
            r.add(host.clone(), 40.0, t("2026-12-01T10:00:00Z"))
                .is_none()
        );
        assert!((r.risk(&host, t("2026-12-01T11:00:00Z")) - 20.0).abs() < 1e-9);
        assert!(
            r.add(host.clone(), 40.0, t("2026-12-01T10:10:00Z"))
                .is_none()
        );
        let crossing = r
            .add(host.clone(), 40.0, t("2026-12-01T10:20:00Z"))
            .unwrap();
        assert_eq!(crossing.entity.value, "wks-07");
        assert!(crossing.risk >= 100.0);
        // Still above: no second incident for the same surge.
        assert!(
            r.add(host.clone(), 40.0, t("2026-12-01T10:30:00Z"))
                .is_none()
        );
        // A day later it has decayed away; a new surge raises again.
        let later = t("2026-12-02T10:00:00Z");
        assert!(r.risk(&host, later) < 1.0);
        r.add(host.clone(), 60.0, later);
        assert!(r.add(host.clone(), 60.0, later).is_some());
    }

    #[test]
    fn late_alerts_count_decayed_and_top_ranks() {
        let mut r = EntityRisk::new(Duration::from_secs(3600), 1000.0);
        let a = EntityKey::new(EntityKind::Ip, "10.0.0.1");
        let b = EntityKey::new(EntityKind::User, "Alice");
        r.add(a.clone(), 50.0, t("2026-12-01T12:00:00Z"));
        r.add(a.clone(), 50.0, t("2026-12-01T11:00:00Z")); // an hour late: counts 25
        assert!((r.risk(&a, t("2026-12-01T12:00:00Z")) - 75.0).abs() < 1e-9);
        r.add(b.clone(), 10.0, t("2026-12-01T12:00:00Z"));
        let top = r.top(t("2026-12-01T12:00:00Z"), 1);
        assert_eq!(top[0].0, a);
        assert_eq!(b.value, "alice");
    }
}
