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
    AlertView, Asset, AssetInventory, BlastRadius, Case, EntityKey, EntityKind, EntityRisk,
    Exception, ExceptionFacts, GroupingConfig, Incident, IncidentStatus, Plan, PlanLibrary,
    RiskConfig, RiskCrossing, RiskInput, RiskScore, SlaStatus, Tactic, Verdict, group_pinned,
    score,
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
    /// A directory of response plan YAML files added to (or replacing, by id) the shipped
    /// ones.
    pub plans: Option<PathBuf>,
    /// MITRE's Enterprise ATT&CK STIX bundle (`enterprise-attack.json`, gzip or not), for
    /// coverage reports and Navigator layers.
    pub attack_catalog: Option<PathBuf>,
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
            plans: None,
            attack_catalog: None,
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
    pub alert: Arc<Alert>,
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
    pub incident: Arc<Incident>,
    /// Inventory assets the incident's alerts are about.
    pub assets: Vec<String>,
    /// The highest criticality among them.
    pub max_criticality: Option<u8>,
    /// Where its handling is (`new` until an analyst acts on it).
    #[schema(value_type = String)]
    pub status: IncidentStatus,
    #[schema(value_type = Option<String>)]
    pub verdict: Option<Verdict>,
    pub assignee: Option<String>,
    /// The response plan its tasks come from (chosen from its tactics and rule tags).
    pub plan: Option<String>,
    /// When Vigil raised it: its earliest alert's recording time (SLA clocks start here).
    #[schema(value_type = String)]
    pub raised: Timestamp,
    /// Whether a plan SLA target (acknowledge, contain, close) is missed.
    pub sla_breached: bool,
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
    /// The analyst-side case: tasks with due times, comments, history (none until acted on).
    #[schema(value_type = Option<Object>)]
    pub case: Option<Case>,
    /// SLA targets of the plan: met, breached or pending, and time left.
    #[schema(value_type = Option<Object>)]
    pub sla: Option<SlaStatus>,
    /// The response plan: roles, communication steps, tasks.
    #[schema(value_type = Option<Object>)]
    pub plan_detail: Option<Plan>,
    /// For an incident closed as false positive: the exceptions that would silence its alerts
    /// (preview them, then save with `POST /api/v1/exceptions`).
    #[schema(value_type = Vec<Object>)]
    pub proposed_exceptions: Vec<Exception>,
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
    /// Every alert assessed, by id (shared with the alert cache's last grouping).
    pub alerts: Arc<BTreeMap<String, ScoredAlert>>,
    pub incidents: Vec<IncidentSummary>,
    pub inventory: Arc<AssetInventory>,
    /// Stored alerts left out because a saved exception suppresses them.
    pub suppressed: usize,
    cases: BTreeMap<String, Case>,
    plans: Arc<PlanLibrary>,
}

/// Analysts' decisions assessment applies: merges and splits (pins: alert id → incident id),
/// saved exceptions, the cases of incidents acted on, and the response plans.
#[derive(Clone)]
pub struct Decisions {
    pub pins: BTreeMap<String, String>,
    pub exceptions: Vec<Exception>,
    pub cases: BTreeMap<String, Case>,
    pub plans: Arc<PlanLibrary>,
    /// Tags a rule's alerts count as carrying when a plan is chosen, by rule id: the server
    /// adds `logsource:<product>` from the rule set (alerts keep only the rule's own tags), so
    /// a cloud rule's incident gets the cloud plan.
    pub rule_tags: BTreeMap<String, Vec<String>>,
}

impl Default for Decisions {
    fn default() -> Self {
        Decisions {
            pins: BTreeMap::new(),
            exceptions: Vec::new(),
            cases: BTreeMap::new(),
            plans: Arc::new(PlanLibrary::builtin()),
            rule_tags: BTreeMap::new(),
        }
    }
}

/// What an exception is tested against, of a stored alert; `verdict` is the alert's own, else
/// the closed case's of the incident holding it (filled in by the caller).
pub fn facts(alert: &Alert, verdict: Option<Verdict>) -> ExceptionFacts {
    let e = &alert.entities;
    ExceptionFacts {
        alert_id: alert.id.clone(),
        rule_id: alert.rule.id.clone(),
        host: e.host.clone(),
        user: e.user.clone(),
        src_ip: e.src_ip.map(|ip| ip.to_string()),
        dst_ip: e.dst_ip.map(|ip| ip.to_string()),
        verdict,
        time: alert.first_seen,
    }
}

/// The alert store's verdict as the incident workflow's.
pub fn risk_verdict(v: vigil_store::state::Verdict) -> Verdict {
    use vigil_store::state::Verdict as V;
    match v {
        V::TruePositive => Verdict::TruePositive,
        V::FalsePositive => Verdict::FalsePositive,
        V::Benign => Verdict::Benign,
    }
}

/// The stored alerts of the look-back period, newest first, at most `max_alerts`.
fn recent_alerts(
    store: &dyn AlertStore,
    settings: &AssessSettings,
    now: Timestamp,
) -> Result<Vec<Alert>, AssessError> {
    let filter = AlertFilter {
        since: lookback_start(settings, now),
        ..AlertFilter::default()
    };
    list_all(store, filter, settings.max_alerts)
}

/// The alerts `filter` selects, newest first, page after page, at most `max`.
fn list_all(
    store: &dyn AlertStore,
    mut filter: AlertFilter,
    max: usize,
) -> Result<Vec<Alert>, AssessError> {
    filter.limit = Some(AlertFilter::MAX_LIMIT);
    let mut out = Vec::new();
    loop {
        let page = store.list(&filter)?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) if out.len() < max => filter.cursor = Some(c),
            _ => break,
        }
    }
    out.truncate(max);
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
    assess_with(store, inventory, settings, now, &Decisions::default())
}

/// [`assess`] with analysts' decisions: alerts an exception suppresses are left out, merges
/// and splits are applied, and each incident carries its case's status and its plan.
pub fn assess_with(
    store: &dyn AlertStore,
    inventory: &Inventory,
    settings: &AssessSettings,
    now: Timestamp,
    decisions: &Decisions,
) -> Result<Assessed, AssessError> {
    let stored = recent_alerts(store, settings, now)?;
    let stored: Vec<Arc<Alert>> = stored.into_iter().map(Arc::new).collect();
    let inventory = inventory.current()?;
    let grouped = group(&stored, &inventory, settings, decisions);
    Ok(summarise(&grouped, inventory, now, decisions))
}

/// [`assess_with`] reading through `cache`: only the alerts written since its last read come
/// from the store (the server's routes, so a page of incidents does not re-read 100,000
/// alerts), and scoring and grouping are redone only when the alerts, the inventory, the
/// settings, the exceptions, the pins or the rules' tags changed since the last call. Cases,
/// plans and SLA clocks are applied anew every time.
pub fn assess_cached(
    store: &dyn AlertStore,
    cache: &AlertCache,
    inventory: &Inventory,
    settings: &AssessSettings,
    now: Timestamp,
    decisions: &Decisions,
) -> Result<Assessed, AssessError> {
    let (stored, generation) = cache.read(store, settings, now)?;
    let inventory = inventory.current()?;
    let key = GroupedKey {
        generation,
        inventory: Arc::clone(&inventory),
        settings: settings.clone(),
        exceptions: decisions.exceptions.clone(),
        pins: decisions.pins.clone(),
        rule_tags: decisions.rule_tags.clone(),
        plans: Arc::clone(&decisions.plans),
    };
    // One grouping at a time: a request arriving during it waits and then reuses it.
    let mut memo = cache.grouped.lock().unwrap_or_else(|e| e.into_inner());
    let grouped = match &*memo {
        Some((k, g)) if k.matches(&key) => Arc::clone(g),
        _ => {
            // Freeing 100,000 scored alerts takes a tenth of a grouping: not on this request.
            if let Some(old) = memo.take() {
                // If no thread can be had, it is freed here (the spawn hands it back on error
                // only by dropping the closure, which frees it all the same).
                let _ = std::thread::Builder::new()
                    .name("vigil-assess-free".into())
                    .spawn(move || drop(old));
            }
            let g = Arc::new(group(&stored, &inventory, settings, decisions));
            *memo = Some((key, Arc::clone(&g)));
            g
        }
    };
    drop(memo);
    Ok(summarise(&grouped, inventory, now, decisions))
}

/// How far before its last read an [`AlertCache`] reads changes again: a write transaction
/// that began before the read (its `updated_at` is its start) may commit after it.
pub const CHANGE_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// The look-back period's alerts kept between assessments. Each read asks the store only for
/// alerts written since the previous read (less [`CHANGE_SLACK`]) and merges them by id, then
/// keeps what [`assess_with`]'s full read would give: alerts active in the period, the newest
/// `max_alerts` by `first_seen`. Alerts are never deleted from the store, only aged out,
/// which is what makes merging enough.
///
/// When the period holds more than `max_alerts`, the cache holds every alert above a
/// boundary (the oldest one kept); if alerts above it age out so that fewer than `max_alerts`
/// remain, older ones the cache never read would enter the newest `max_alerts`, so it reads
/// the whole period again.
#[derive(Default)]
pub struct AlertCache {
    inner: Mutex<CacheState>,
    /// The last scoring and grouping, with what it was computed from.
    grouped: Mutex<Option<(GroupedKey, Arc<Grouped>)>>,
}

#[derive(Default)]
struct CacheState {
    alerts: std::collections::HashMap<String, Arc<Alert>>,
    /// When the last read started; `None` before the first.
    read_at: Option<Timestamp>,
    /// `(first_seen, id)` of the oldest alert kept when `max_alerts` cut the period: every
    /// period alert at or above it is in `alerts`. `None`: every period alert is.
    boundary: Option<(Timestamp, String)>,
    /// Bumped whenever the alerts kept change (an alert new or changed, aged out, or cut).
    generation: u64,
    /// The last answer, newest first, and the `max_alerts` it was cut to: given again while
    /// nothing changed.
    kept: Option<(usize, Kept)>,
}

/// The alerts an [`AlertCache`] read gives, newest first, shared with the cache.
type Kept = Arc<Vec<Arc<Alert>>>;

fn newest_first(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    (b.first_seen, &b.id).cmp(&(a.first_seen, &a.id))
}

impl AlertCache {
    /// The period's alerts at `now` (the time the store stamps writes with), newest first,
    /// as [`assess_with`] reads them.
    pub fn recent(
        &self,
        store: &dyn AlertStore,
        settings: &AssessSettings,
        now: Timestamp,
    ) -> Result<Vec<Arc<Alert>>, AssessError> {
        Ok(self.read(store, settings, now)?.0.to_vec())
    }

    /// [`AlertCache::recent`] and the generation of what it returns: equal generations, equal
    /// alerts.
    fn read(
        &self,
        store: &dyn AlertStore,
        settings: &AssessSettings,
        now: Timestamp,
    ) -> Result<(Kept, u64), AssessError> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let before = state.alerts.len();
        let mut changed = false;
        let since = lookback_start(settings, now);
        if let Some(last) = state.read_at {
            let changed_filter = AlertFilter {
                since,
                updated_since: last.checked_sub(CHANGE_SLACK).ok(),
                ..AlertFilter::default()
            };
            for alert in list_all(store, changed_filter, usize::MAX)? {
                // Re-read within the overlap but unchanged: not a change.
                if state.alerts.get(&alert.id).is_none_or(|a| **a != alert) {
                    state.alerts.insert(alert.id.clone(), Arc::new(alert));
                    changed = true;
                }
            }
            if let Some(since) = since {
                state.alerts.retain(|_, a| a.last_seen >= since);
            }
            changed |= state.alerts.len() != before;
            if let Some((t, id)) = &state.boundary {
                let above = state
                    .alerts
                    .values()
                    .filter(|a| (a.first_seen, &a.id) >= (*t, id))
                    .count();
                if above < settings.max_alerts {
                    state.read_at = None;
                }
            }
        }
        if state.read_at.is_none() {
            // The first read, or the cut moved below what was read: the whole period.
            let all = recent_alerts(store, settings, now)?;
            state.boundary = (all.len() >= settings.max_alerts)
                .then(|| all.last().map(|a| (a.first_seen, a.id.clone())))
                .flatten();
            state.alerts = (all.into_iter())
                .map(|a| (a.id.clone(), Arc::new(a)))
                .collect();
            changed = true;
        }
        // `now` is the store's clock too (the server's wall clock): the next read starts here.
        state.read_at = Some(now);
        if !changed
            && let Some((max, kept)) = &state.kept
            && *max == settings.max_alerts
        {
            return Ok((Arc::clone(kept), state.generation));
        }
        let mut newest: Vec<&Arc<Alert>> = state.alerts.values().collect();
        newest.sort_unstable_by(|a, b| newest_first(a, b));
        newest.truncate(settings.max_alerts);
        // Shared, not copied: the cache and each assessment hold the same alerts.
        let kept: Kept = Arc::new(newest.into_iter().cloned().collect());
        if kept.len() < state.alerts.len() {
            // Cut: what is below the oldest kept is dropped, and it becomes the boundary.
            let oldest = kept.last().map(|a| (a.first_seen, a.id.clone()));
            if let Some((t, id)) = &oldest {
                state
                    .alerts
                    .retain(|_, a| (a.first_seen, &a.id) >= (*t, id));
            }
            state.boundary = oldest;
        }
        state.generation += 1;
        state.kept = Some((settings.max_alerts, Arc::clone(&kept)));
        Ok((kept, state.generation))
    }
}

fn lookback_start(settings: &AssessSettings, now: Timestamp) -> Option<Timestamp> {
    now.checked_sub(jiff::SignedDuration::from_hours(
        i64::from(settings.lookback_days) * 24,
    ))
    .ok()
}

/// What assessment computes from the alerts and the decisions that change grouping:
/// scores, incidents, and each incident's assets, raise time and tags. It does not depend on
/// the clock or on cases, so an [`AlertCache`] keeps it while none of its inputs change.
struct Grouped {
    alerts: Arc<BTreeMap<String, ScoredAlert>>,
    suppressed: usize,
    incidents: Vec<GroupedIncident>,
}

struct GroupedIncident {
    incident: Arc<Incident>,
    assets: Vec<String>,
    max_criticality: Option<u8>,
    raised: Timestamp,
    /// The plan chosen from its tactics and tags, for when no case names one.
    plan: Option<String>,
    /// When that plan's first SLA target falls due (the incident raised, nothing done yet).
    due: Option<Timestamp>,
}

/// Everything a [`Grouped`] was computed from, but the alerts (their cache generation).
struct GroupedKey {
    generation: u64,
    inventory: Arc<AssetInventory>,
    settings: AssessSettings,
    exceptions: Vec<Exception>,
    pins: BTreeMap<String, String>,
    rule_tags: BTreeMap<String, Vec<String>>,
    plans: Arc<PlanLibrary>,
}

impl GroupedKey {
    fn matches(&self, other: &GroupedKey) -> bool {
        // The inventory is re-read only when its file changes: the same snapshot is the same.
        self.generation == other.generation
            && Arc::ptr_eq(&self.inventory, &other.inventory)
            && self.settings == other.settings
            && self.exceptions == other.exceptions
            && self.pins == other.pins
            && self.rule_tags == other.rule_tags
            && Arc::ptr_eq(&self.plans, &other.plans)
    }
}

/// Scores and groups `stored` (newest first) with the exceptions and pins of `decisions`.
fn group(
    stored: &[Arc<Alert>],
    inventory: &AssetInventory,
    settings: &AssessSettings,
    decisions: &Decisions,
) -> Grouped {
    let mut views = Vec::with_capacity(stored.len());
    let mut scored = Vec::with_capacity(stored.len());
    let mut suppressed = 0;
    for alert in stored {
        let alert = Arc::clone(alert);
        if !decisions.exceptions.is_empty() {
            let f = facts(&alert, None);
            if decisions.exceptions.iter().any(|x| x.suppresses(&f)) {
                suppressed += 1;
                continue;
            }
        }
        let asset = asset_of(&alert, inventory);
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
        scored.push((
            alert.id.clone(),
            ScoredAlert {
                asset: asset.map(|a| a.id.clone()),
                alert,
                risk,
            },
        ));
    }
    let config = GroupingConfig {
        window: Duration::from_secs(settings.incident_window_minutes * 60),
        max_alerts_per_entity: settings.max_alerts_per_entity,
        ..GroupingConfig::default()
    };
    let incidents = group_pinned(&views, &config, &decisions.pins);
    drop(views);
    // Collected in one go: the map is built from the sorted pairs, not by 100k inserts.
    let alerts: BTreeMap<String, ScoredAlert> = scored.into_iter().collect();
    // Each incident's alerts are looked up by id: hashed, not walked down the ordered map.
    let by_id: hashbrown::HashMap<&str, &ScoredAlert> =
        alerts.iter().map(|(id, a)| (id.as_str(), a)).collect();
    let mut plan_of: hashbrown::HashMap<(Vec<Tactic>, Vec<String>), Option<&Plan>> =
        hashbrown::HashMap::new();
    let incidents: Vec<GroupedIncident> = incidents
        .into_iter()
        .map(|incident| {
            let mut assets = Vec::new();
            let mut raised: Option<Timestamp> = None;
            let mut tags: Vec<String> = Vec::new();
            for a in incident
                .alerts
                .iter()
                .filter_map(|id| by_id.get(id.as_str()))
            {
                assets.extend(a.asset.iter().cloned());
                raised = Some(raised.map_or(a.alert.created_at, |r| r.min(a.alert.created_at)));
                let more = decisions
                    .rule_tags
                    .get(&a.alert.rule.id)
                    .into_iter()
                    .flatten();
                tags.extend(a.alert.rule.tags.iter().chain(more).cloned());
            }
            assets.sort();
            assets.dedup();
            tags.sort();
            tags.dedup();
            let max_criticality = assets
                .iter()
                .filter_map(|a| inventory.get(a).map(|a| a.criticality))
                .max();
            let raised = raised.unwrap_or(incident.first_seen);
            // Incidents of the same rules share tactics and tags: each choice made once.
            let plan = plan_of
                .entry((incident.tactics.clone(), tags))
                .or_insert_with_key(|(tactics, tags)| decisions.plans.choose(tactics, tags))
                .as_ref();
            // Nothing is reached on an incident without a case: its SLA is breached once
            // the earliest target is due.
            let due = plan.map(|p| p.sla.first_due(raised));
            GroupedIncident {
                plan: plan.map(|p| p.id.clone()),
                due,
                raised,
                incident: Arc::new(incident),
                assets,
                max_criticality,
            }
        })
        .collect();
    drop(by_id);
    Grouped {
        alerts: Arc::new(alerts),
        suppressed,
        incidents,
    }
}

/// The incidents of `grouped` with their cases, plans and SLA state at `now`, most urgent
/// first.
fn summarise(
    grouped: &Grouped,
    inventory: Arc<AssetInventory>,
    now: Timestamp,
    decisions: &Decisions,
) -> Assessed {
    let mut incidents: Vec<IncidentSummary> = grouped
        .incidents
        .iter()
        .map(|g| {
            let incident = &g.incident;
            let case = decisions.cases.get(&incident.id);
            let (plan, sla_breached) = match case {
                Some(c) => (c.plan.clone(), c.sla(now).breached()),
                None => (g.plan.clone(), g.due.is_some_and(|due| now > due)),
            };
            IncidentSummary {
                incident: Arc::clone(incident),
                assets: g.assets.clone(),
                max_criticality: g.max_criticality,
                status: case.map_or(IncidentStatus::New, |c| c.status),
                verdict: case.and_then(|c| c.verdict),
                assignee: case.and_then(|c| c.assignee.clone()),
                plan,
                raised: g.raised,
                sla_breached,
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
    Assessed {
        alerts: Arc::clone(&grouped.alerts),
        incidents,
        inventory,
        suppressed: grouped.suppressed,
        cases: decisions.cases.clone(),
        plans: Arc::clone(&decisions.plans),
    }
}

impl Assessed {
    /// The incident `id` in full.
    pub fn detail(&self, id: &str) -> Option<IncidentDetail> {
        let summary = self.incidents.iter().find(|i| i.incident.id == id)?.clone();
        let timeline: Vec<ScoredAlert> = summary
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
        let case = self.cases.get(id).cloned();
        let plan_detail = summary
            .plan
            .as_deref()
            .and_then(|p| self.plans.get(p))
            .cloned();
        let now = Timestamp::now();
        let sla = match &case {
            Some(c) => Some(c.sla(now)),
            None => plan_detail
                .as_ref()
                .map(|p| Case::open(id, summary.raised, Some(p)).sla(now)),
        };
        let proposed_exceptions = if summary.verdict == Some(Verdict::FalsePositive) {
            let f: Vec<ExceptionFacts> = timeline
                .iter()
                .map(|a: &ScoredAlert| facts(&a.alert, summary.verdict))
                .collect();
            vigil_risk::exception::propose(&f)
        } else {
            Vec::new()
        };
        Some(IncidentDetail {
            summary,
            timeline,
            assets_detail,
            blast_radius,
            case,
            sla,
            plan_detail,
            proposed_exceptions,
        })
    }

    /// The stored case of incident `id`, if an analyst acted on it.
    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.get(id)
    }

    /// The incidents as grouped (for merges and splits).
    pub fn grouped(&self) -> Vec<Incident> {
        self.incidents
            .iter()
            .map(|i| i.incident.as_ref().clone())
            .collect()
    }

    /// Exception facts of every alert assessed, with its verdict: the alert's own, else the
    /// closed case's of its incident.
    pub fn exception_facts(&self) -> Vec<ExceptionFacts> {
        let mut case_verdict: BTreeMap<&str, Verdict> = BTreeMap::new();
        for i in &self.incidents {
            if let Some(v) = i.verdict {
                for a in &i.incident.alerts {
                    case_verdict.insert(a.as_str(), v);
                }
            }
        }
        self.alerts
            .values()
            .map(|a| {
                let v = a
                    .alert
                    .verdict
                    .map(risk_verdict)
                    .or_else(|| case_verdict.get(a.alert.id.as_str()).copied());
                facts(&a.alert, v)
            })
            .collect()
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
