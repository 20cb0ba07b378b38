//! Assessment over the alert store: every alert scored with the asset inventory, alerts
//! grouped into incidents, and risk accumulated per entity — computed from the stored alerts of
//! the look-back period when asked, so they always agree with the alerts themselves.
//!
//! The asset inventory is `<data>/assets.json`, written by `vigil assets import` (which checks
//! it first) and re-read whenever the file changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_risk::{
    AlertView, Asset, AssetInventory, BlastRadius, EntityKey, EntityKind, EntityRisk,
    GroupingConfig, Incident, RiskConfig, RiskCrossing, RiskInput, RiskScore, Tactic, group, score,
};
use vigil_store::state::{Alert, AlertFilter, AlertStore, StateError};

/// The inventory file in the data directory.
pub const ASSETS_FILE: &str = "assets.json";

/// Settings of assessment (`[monitor.assess]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssessSettings {
    /// Alerts whose last event is older than this many days are left out.
    pub lookback_days: u32,
    /// Alerts considered at most (the most recent).
    pub max_alerts: usize,
    /// Alerts sharing an entity within this many minutes are one incident.
    pub incident_window_minutes: u64,
    /// An entity named by more alerts than this joins none of them.
    pub max_alerts_per_entity: usize,
    /// Entity risk halves every this many hours.
    pub risk_half_life_hours: u64,
    /// Entity risk at which a risk incident is raised.
    pub risk_threshold: f64,
    /// The alert score formula's weights.
    pub score: RiskConfig,
}

impl Default for AssessSettings {
    fn default() -> Self {
        AssessSettings {
            lookback_days: 30,
            max_alerts: 100_000,
            incident_window_minutes: 240,
            max_alerts_per_entity: 200,
            risk_half_life_hours: 24,
            risk_threshold: 150.0,
            score: RiskConfig::default(),
        }
    }
}

/// Why an assessment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    #[error("alert store: {0}")]
    Store(#[from] StateError),
    #[error("asset inventory {}: {reasons}", path.display())]
    Inventory { path: PathBuf, reasons: String },
}

/// The asset inventory of a data directory, re-read when its file changes.
pub struct Inventory {
    path: PathBuf,
    cached: Mutex<(Option<SystemTime>, Arc<AssetInventory>)>,
}

impl Inventory {
    /// The inventory at `<data>/assets.json` (empty until imported).
    pub fn new(data_dir: &Path) -> Inventory {
        Inventory {
            path: data_dir.join(ASSETS_FILE),
            cached: Mutex::new((None, Arc::new(AssetInventory::default()))),
        }
    }

    /// The inventory now.
    pub fn current(&self) -> Result<Arc<AssetInventory>, AssessError> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if modified != cached.0 {
            let inventory = match modified {
                Some(_) => AssetInventory::import_path(&self.path).map_err(|errors| {
                    AssessError::Inventory {
                        path: self.path.clone(),
                        reasons: errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    }
                })?,
                None => AssetInventory::default(),
            };
            *cached = (modified, Arc::new(inventory));
        }
        Ok(Arc::clone(&cached.1))
    }
}

/// An alert with its risk score.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ScoredAlert {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub alert: Alert,
    #[schema(value_type = Object)]
    pub risk: RiskScore,
    /// The inventory asset the alert is about, when there is one.
    pub asset: Option<String>,
}

/// An incident as listed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IncidentSummary {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub incident: Incident,
    /// Inventory assets the incident's alerts are about.
    pub assets: Vec<String>,
    /// The highest criticality among them.
    pub max_criticality: Option<u8>,
}

/// One incident in full: its alerts in time order with their scores, and what is at risk.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub summary: IncidentSummary,
    pub timeline: Vec<ScoredAlert>,
    #[schema(value_type = Object)]
    pub assets_detail: Vec<Asset>,
    /// Per affected asset, what compromising it puts at risk.
    #[schema(value_type = Object)]
    pub blast_radius: BTreeMap<String, BlastRadius>,
}

/// An entity's risk now.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EntityRiskRow {
    #[schema(value_type = Object)]
    pub entity: EntityKey,
    pub risk: f64,
    pub asset: Option<String>,
}

/// The top entities by risk, and the threshold crossings (risk incidents) in the period.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EntityRiskReport {
    pub items: Vec<EntityRiskRow>,
    #[schema(value_type = Vec<Object>)]
    pub crossings: Vec<RiskCrossing>,
    pub threshold: f64,
    pub half_life_hours: u64,
}

/// Everything assessment computed from the stored alerts.
pub struct Assessed {
    pub alerts: BTreeMap<String, ScoredAlert>,
    pub incidents: Vec<IncidentSummary>,
    pub inventory: Arc<AssetInventory>,
}

/// The stored alerts of the look-back period, newest first, at most `max_alerts`.
fn recent_alerts(
    store: &dyn AlertStore,
    settings: &AssessSettings,
    now: Timestamp,
) -> Result<Vec<Alert>, AssessError> {
    let since = now
        .checked_sub(jiff::SignedDuration::from_hours(
            i64::from(settings.lookback_days) * 24,
        ))
        .ok();
    let mut filter = AlertFilter {
        since,
        limit: Some(AlertFilter::MAX_LIMIT),
        ..AlertFilter::default()
    };
    let mut out = Vec::new();
    loop {
        let page = store.list(&filter)?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) if out.len() < settings.max_alerts => filter.cursor = Some(c),
            _ => break,
        }
    }
    out.truncate(settings.max_alerts);
    Ok(out)
}

/// The entities an alert names.
fn entities(alert: &Alert) -> Vec<EntityKey> {
    let e = &alert.entities;
    let mut out = Vec::with_capacity(4);
    if let Some(h) = &e.host {
        out.push(EntityKey::new(EntityKind::Host, h));
    }
    if let Some(u) = &e.user {
        out.push(EntityKey::new(EntityKind::User, u));
    }
    for ip in [e.src_ip, e.dst_ip].into_iter().flatten() {
        out.push(EntityKey::new(EntityKind::Ip, &ip.to_string()));
    }
    out
}

/// The inventory asset an alert is about: its host, else its addresses.
fn asset_of<'a>(alert: &Alert, inventory: &'a AssetInventory) -> Option<&'a Asset> {
    let e = &alert.entities;
    e.host
        .as_deref()
        .and_then(|h| inventory.by_hostname(h))
        .or_else(|| {
            [e.dst_ip, e.src_ip]
                .into_iter()
                .flatten()
                .find_map(|ip| inventory.by_ip(ip))
        })
}

fn tactics(alert: &Alert) -> Vec<Tactic> {
    alert
        .rule
        .tags
        .iter()
        .filter_map(|t| Tactic::from_tag(t))
        .collect()
}

/// Scores and groups the stored alerts of the look-back period.
pub fn assess(
    store: &dyn AlertStore,
    inventory: &Inventory,
    settings: &AssessSettings,
    now: Timestamp,
) -> Result<Assessed, AssessError> {
    let inventory = inventory.current()?;
    let stored = recent_alerts(store, settings, now)?;
    let mut views = Vec::with_capacity(stored.len());
    let mut alerts = BTreeMap::new();
    for alert in stored {
        let asset = asset_of(&alert, &inventory);
        let tactics = tactics(&alert);
        let risk = score(
            &RiskInput {
                level: Some(alert.rule.level),
                status: alert.rule.status.clone(),
                asset_criticality: asset.map(|a| a.criticality),
                intel_confidence: None,
                tactics: tactics.clone(),
            },
            &settings.score,
        );
        views.push(AlertView {
            id: alert.id.clone(),
            time: alert.first_seen,
            rule: alert.rule.id.clone(),
            level: alert.rule.level,
            entities: entities(&alert),
            tactics,
            score: risk.score,
        });
        alerts.insert(
            alert.id.clone(),
            ScoredAlert {
                asset: asset.map(|a| a.id.clone()),
                alert,
                risk,
            },
        );
    }
    let config = GroupingConfig {
        window: Duration::from_secs(settings.incident_window_minutes * 60),
        max_alerts_per_entity: settings.max_alerts_per_entity,
        ..GroupingConfig::default()
    };
    let mut incidents: Vec<IncidentSummary> = group(&views, &config)
        .into_iter()
        .map(|incident| {
            let mut assets: Vec<String> = incident
                .alerts
                .iter()
                .filter_map(|id| alerts.get(id).and_then(|a: &ScoredAlert| a.asset.clone()))
                .collect();
            assets.sort();
            assets.dedup();
            let max_criticality = assets
                .iter()
                .filter_map(|a| inventory.get(a).map(|a| a.criticality))
                .max();
            IncidentSummary {
                incident,
                assets,
                max_criticality,
            }
        })
        .collect();
    // Most urgent first: highest score, then most recent.
    incidents.sort_by(|a, b| {
        b.incident
            .score
            .total_cmp(&a.incident.score)
            .then(b.incident.last_seen.cmp(&a.incident.last_seen))
            .then_with(|| a.incident.id.cmp(&b.incident.id))
    });
    Ok(Assessed {
        alerts,
        incidents,
        inventory,
    })
}

impl Assessed {
    /// The incident `id` in full.
    pub fn detail(&self, id: &str) -> Option<IncidentDetail> {
        let summary = self.incidents.iter().find(|i| i.incident.id == id)?.clone();
        let timeline = summary
            .incident
            .alerts
            .iter()
            .filter_map(|a| self.alerts.get(a).cloned())
            .collect();
        let assets_detail = summary
            .assets
            .iter()
            .filter_map(|a| self.inventory.get(a).cloned())
            .collect();
        let blast_radius = summary
            .assets
            .iter()
            .filter_map(|a| Some((a.clone(), self.inventory.blast_radius(a)?)))
            .collect();
        Some(IncidentDetail {
            summary,
            timeline,
            assets_detail,
            blast_radius,
        })
    }

    /// Entity risk at `now` from every alert's score at its time, and the threshold crossings.
    pub fn entity_risk(
        &self,
        settings: &AssessSettings,
        now: Timestamp,
        limit: usize,
    ) -> EntityRiskReport {
        let mut risk = EntityRisk::new(
            Duration::from_secs(settings.risk_half_life_hours.max(1) * 3600),
            settings.risk_threshold,
        );
        let mut ordered: Vec<&ScoredAlert> = self.alerts.values().collect();
        ordered.sort_by(|a, b| {
            a.alert
                .first_seen
                .cmp(&b.alert.first_seen)
                .then_with(|| a.alert.id.cmp(&b.alert.id))
        });
        let mut crossings = Vec::new();
        for a in ordered {
            for e in entities(&a.alert) {
                // Every contributing event adds the alert's score.
                let points = a.risk.score * a.alert.count.max(1) as f64;
                crossings.extend(risk.add(e, points, a.alert.last_seen));
            }
        }
        let items = risk
            .top(now, limit)
            .into_iter()
            .map(|(entity, value)| {
                let asset = match entity.kind {
                    EntityKind::Host => self.inventory.by_hostname(&entity.value),
                    EntityKind::Ip => entity
                        .value
                        .parse()
                        .ok()
                        .and_then(|ip| self.inventory.by_ip(ip)),
                    EntityKind::User => None,
                };
                EntityRiskRow {
                    asset: asset.map(|a| a.id.clone()),
                    risk: (value * 10.0).round() / 10.0,
                    entity,
                }
            })
            .collect();
        EntityRiskReport {
            items,
            crossings,
            threshold: settings.risk_threshold,
            half_life_hours: settings.risk_half_life_hours,
        }
    }
}
