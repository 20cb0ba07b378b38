//! Retro-hunt: a Sigma rule, a choice of loaded rules, or the whole rule set, run over events
//! already stored in the lake — "would this new rule have fired last week, and where?".
//!
//! Each stored row is rebuilt into the event detection saw (its raw fields, logsource, time and
//! origin) and evaluated by the same compiled engine, so a retro-hunt with the live rules finds
//! what live detection found. Rows that cannot be rebuilt are counted and named, never skipped
//! silently. Matches are returned as detections (rule, event, evidence, entities), not stored
//! as alerts: a hunt is a question, and its answer should not page anyone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use vigil_core::{Event, Level, LogSource, SourceRef, Value};
use vigil_detect::{Detection, LoadedRules, detect_intel_with};
use vigil_sigma::engine::{RuleMatch, Scratch};
use vigil_store::lake::{Lake, LakeError, ScanRange, StoredEvent};

use crate::rules::{RuleSnapshot, rule_key};

/// How many unreadable rows a report names (the count has them all).
const UNREADABLE_SHOWN: usize = 10;

/// Memory the lake scan's operators may hold.
const SCAN_MEMORY: usize = 256 << 20;

/// What to hunt for and where.
#[derive(Clone)]
pub struct RetroHunt {
    /// Stored events with `from <= time < to`, optionally of one source tag.
    pub range: ScanRange,
    /// Lowest rule level reported.
    pub min_level: Level,
    /// Detections returned at most (all are counted).
    pub max_matches: usize,
    /// Threat-intel indicators to match the stored events' entities against too (a new
    /// indicator's history: was it seen before it was known?).
    pub intel: Option<Arc<vigil_intel::Matcher>>,
}

/// The rules a retro-hunt evaluates: a compiled engine and which of its rules count.
pub struct HuntRules {
    rules: Arc<LoadedRules>,
    /// Parallel to `rules.engine.rules()`.
    selected: Vec<bool>,
}

impl HuntRules {
    /// Every rule of `rules`.
    pub fn all(rules: Arc<LoadedRules>) -> HuntRules {
        let selected = vec![true; rules.engine.len()];
        HuntRules { rules, selected }
    }

    /// The rules of `rules` named by id (or title, for rules without an id); all of them
    /// when `ids` is empty. Unknown ids are an error naming them.
    pub fn select(rules: Arc<LoadedRules>, ids: &[String]) -> Result<HuntRules, RetroHuntError> {
        if ids.is_empty() {
            return Ok(HuntRules::all(rules));
        }
        let engine = &rules.engine;
        let known: HashSet<&str> = engine.rules().iter().map(rule_key).collect();
        let unknown: Vec<String> = ids
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(RetroHuntError::UnknownRules(unknown));
        }
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let selected = engine
            .rules()
            .iter()
            .map(|r| wanted.contains(rule_key(r)))
            .collect();
        Ok(HuntRules { rules, selected })
    }

    /// The rules of the live set named by id; every enabled rule when `ids` is empty (a
    /// disabled rule runs only when named).
    pub fn from_live(snapshot: &RuleSnapshot, ids: &[String]) -> Result<HuntRules, RetroHuntError> {
        if !ids.is_empty() {
            return HuntRules::select(Arc::clone(&snapshot.rules), ids);
        }
        let selected = (0..snapshot.rules.engine.len())
            .map(|i| !snapshot.is_disabled(i))
            .collect();
        Ok(HuntRules {
            rules: Arc::clone(&snapshot.rules),
            selected,
        })
    }

    /// No rule at all: a hunt for threat-intel indicators only (the engine is not run).
    pub fn none(rules: Arc<LoadedRules>) -> HuntRules {
        let selected = vec![false; rules.engine.len()];
        HuntRules { rules, selected }
    }

    /// Rules that will be evaluated.
    pub fn count(&self) -> usize {
        self.selected.iter().filter(|s| **s).count()
    }
}

/// Why a retro-hunt could not run.
#[derive(Debug, thiserror::Error)]
pub enum RetroHuntError {
    #[error("unknown rule id(s): {}", .0.join(", "))]
    UnknownRules(Vec<String>),
    #[error("no usable rule: {}", .0.join("; "))]
    NoRules(Vec<String>),
    #[error("`from` ({from}) is not before `to` ({to})")]
    EmptyRange { from: Timestamp, to: Timestamp },
    #[error("the event lake is disabled ([monitor.lake] enabled = false)")]
    NoLake,
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
}

/// What a retro-hunt found.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RetroHuntReport {
    /// Stored events read in the range.
    pub events_scanned: u64,
    /// Stored events whose raw fields could not be read back (counted, first few named).
    pub events_unreadable: u64,
    pub unreadable: Vec<String>,
    /// Rules evaluated.
    pub rules: usize,
    /// Threat-intel indicators matched too (0 when intel was not asked for).
    pub indicators: usize,
    /// Every match found, including those beyond `max_matches`.
    pub matches_total: u64,
    /// Matches per rule id (or title).
    pub by_rule: BTreeMap<String, u64>,
    /// Whether more matches were found than returned.
    pub truncated: bool,
    pub elapsed_ms: u64,
    /// The detections (rule, event time and origin, evidence, entities), oldest first.
    #[schema(value_type = Vec<Object>)]
    pub matches: Vec<serde_json::Value>,
}

/// Runs `rules` over the stored events of `hunt.range`. Blocking (a lake scan on a runtime
/// of its own): call it from a blocking thread.
pub fn retro_hunt(
    lake: &Lake,
    rules: &HuntRules,
    hunt: &RetroHunt,
) -> Result<RetroHuntReport, RetroHuntError> {
    retro_hunt_with(lake, rules, hunt, |_, _| {})
}

/// [`retro_hunt`], also handing every match (beyond `max_matches` too) with the rebuilt event
/// to `sink`: what the automatic retro-hunt of new indicators turns into alerts.
pub fn retro_hunt_with(
    lake: &Lake,
    rules: &HuntRules,
    hunt: &RetroHunt,
    mut sink: impl FnMut(&Detection, &Event),
) -> Result<RetroHuntReport, RetroHuntError> {
    if let (Some(from), Some(to)) = (hunt.range.from, hunt.range.to)
        && from >= to
    {
        return Err(RetroHuntError::EmptyRange { from, to });
    }
    let started = Instant::now();
    let engine = &rules.rules.engine;
    let mut scratch = Scratch::new(engine);
    let mut matches: Vec<RuleMatch> = Vec::new();
    let mut intel_buf = Vec::new();
    let mut intel_found = Vec::new();
    let mut files: HashMap<String, Arc<str>> = HashMap::new();
    let mut found: Vec<Detection> = Vec::new();
    let mut report = RetroHuntReport {
        events_scanned: 0,
        events_unreadable: 0,
        unreadable: Vec::new(),
        rules: rules.count(),
        indicators: hunt.intel.as_ref().map_or(0, |m| m.len()),
        matches_total: 0,
        by_rule: BTreeMap::new(),
        truncated: false,
        elapsed_ms: 0,
        matches: Vec::new(),
    };
    lake.scan_blocking(&hunt.range, SCAN_MEMORY, |stored| {
        report.events_scanned += 1;
        let event = match rebuild(&stored, &mut files) {
            Ok(event) => event,
            Err(reason) => {
                report.events_unreadable += 1;
                if report.unreadable.len() < UNREADABLE_SHOWN {
                    report.unreadable.push(format!(
                        "{} record {}: {reason}",
                        stored.file,
                        stored
                            .record_id
                            .map_or_else(|| "?".to_string(), |r| r.to_string())
                    ));
                }
                return ControlFlow::Continue(());
            }
        };
        matches.clear();
        if rules.count() > 0 {
            engine.evaluate(&event, &mut scratch, &mut matches);
        }
        // The event's entities, extracted once for all its detections (rules and indicators),
        // and owned once for the rule detections, which share them.
        let mut entities = None;
        let mut owned = None;
        for m in &matches {
            let rule = engine.rule(m.rule);
            if !rules.selected.get(m.rule).copied().unwrap_or(false)
                || rule.level.unwrap_or(Level::Medium) < hunt.min_level
            {
                continue;
            }
            report.matches_total += 1;
            *report
                .by_rule
                .entry(rule_key(rule).to_string())
                .or_default() += 1;
            let e = entities.get_or_insert_with(|| vigil_ingest::entities(&event));
            let e = owned.get_or_insert_with(|| Arc::new(e.clone().into_owned()));
            let d = Detection::with_entities(engine, m, &event, Arc::clone(e));
            sink(&d, &event);
            if found.len() < hunt.max_matches {
                found.push(d);
            } else {
                report.truncated = true;
            }
        }
        if let Some(intel) = &hunt.intel {
            intel_found.clear();
            detect_intel_with(
                intel,
                &event,
                entities.get_or_insert_with(|| vigil_ingest::entities(&event)),
                &mut intel_buf,
                hunt.min_level,
                &mut intel_found,
            );
            for d in intel_found.drain(..) {
                sink(&d, &event);
                report.matches_total += 1;
                let key = d.rule_id().unwrap_or_default().to_string();
                *report.by_rule.entry(key).or_default() += 1;
                if found.len() < hunt.max_matches {
                    found.push(d);
                } else {
                    report.truncated = true;
                }
            }
        }
        ControlFlow::Continue(())
    })?;
    found.sort_by(|a, b| (a.time, &a.file, a.record_id).cmp(&(b.time, &b.file, b.record_id)));
    report.matches = found
        .iter()
        .map(|d| serde_json::to_value(d).unwrap_or(serde_json::Value::Null))
        .collect();
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The event detection saw, from its stored row.
fn rebuild(
    stored: &StoredEvent<'_>,
    files: &mut HashMap<String, Arc<str>>,
) -> Result<Event, String> {
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(stored.raw).map_err(|e| format!("raw fields: {e}"))?;
    let file = match files.get(stored.file) {
        Some(f) => Arc::clone(f),
        None => {
            let f: Arc<str> = stored.file.into();
            files.insert(stored.file.to_string(), Arc::clone(&f));
            f
        }
    };
    let mut event = Event::with_capacity(
        SourceRef {
            file,
            record_id: stored.record_id,
            offset: stored.byte_offset,
        },
        fields.len(),
    );
    for (name, value) in &fields {
        event.insert(name, Value::from_json(value));
    }
    event.logsource = LogSource {
        product: stored.product.map(str::to_string),
        category: stored.category.map(str::to_string),
        service: stored.service.map(str::to_string),
    };
    event.time = Some(stored.time);
    Ok(event)
}

/// Compiled rules from one rule text, or the reasons none could be used.
pub fn usable(rules: LoadedRules) -> Result<Arc<LoadedRules>, RetroHuntError> {
    if rules.loaded() > 0 {
        return Ok(Arc::new(rules));
    }
    let mut reasons: Vec<String> = rules
        .rejections()
        .map(|r| format!("{}:{}: {}", r.location.file, r.location.line, r.reason))
        .collect();
    if reasons.is_empty() {
        reasons.push("the text holds no detection rule".into());
    }
    Err(RetroHuntError::NoRules(reasons))
}
