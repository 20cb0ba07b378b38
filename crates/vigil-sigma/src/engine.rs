//! The compiled rule set: routes each event to the few rules that can apply to it, prefilters
//! them by literal text, and verifies the rest exactly.
//!
//! What it is for: evaluating thousands of Sigma rules per event quickly, with exactly the
//! result of evaluating every rule naively ([`Engine::evaluate_naive`] is that reference, and the
//! differential tests hold the two equal). What it is not for: parsing rules (see `ruleset`),
//! correlation state, or deciding what to do with a match.
//!
//! How: each rule becomes one *variant* per mapping target (Sysmon 1 and Security 4688 for
//! `process_creation`, the 4688 one with renamed fields) or one variant routed by the event's
//! own logsource (non-Windows sources). Windows variants sit in buckets keyed by (channel,
//! EventID) — or by channel alone when the target names no EventID — so an event's `Channel` and
//! `EventID` are looked up once; logsource variants are grouped by the rule's logsource. Within
//! the event's buckets, a variant whose rule has a required literal set (see [`crate::prefilter`])
//! is verified only if the Aho-Corasick scan found one of those literals.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use vigil_core::{Event, LogSource};

use crate::ast::{Detection, Rule};
use crate::error::RejectReason;
use crate::eval::Evidence;
use crate::mapping::{LogsourceMapping, Target, event_channel, event_id};
use crate::prefilter::{Prefilter, required_literals};
use crate::ruleset::Rejection;

/// One rule matching one event: indices into [`Engine::rule`] and the rule's variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleMatch {
    /// The rule's index in the engine.
    pub rule: usize,
    /// Which of the rule's variants (mapping targets) matched.
    pub variant: usize,
}

/// Counts describing a compiled engine (for `rules` reports and benchmarks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub rules: usize,
    pub variants: usize,
    /// Variants routed by channel (and EventID).
    pub channel_variants: usize,
    /// Variants routed by the event's logsource.
    pub logsource_variants: usize,
    /// (channel, EventID) buckets plus per-channel buckets.
    pub channel_buckets: usize,
    /// Distinct rule logsources among logsource-routed variants.
    pub logsource_buckets: usize,
    /// Variants verified only when the prefilter found one of their literals.
    pub prefiltered_variants: usize,
    /// Variants verified whenever their bucket is reached.
    pub always_checked_variants: usize,
    /// Distinct literals in the prefilter automaton.
    pub literals: usize,
}

/// How a variant decides that an event belongs to it.
#[derive(Clone, Debug)]
enum Route {
    /// A mapping target (channel, EventIDs, extra conditions).
    Channel(Target),
    /// The event's logsource satisfies the rule's.
    Logsource,
}

#[derive(Debug)]
struct Variant {
    rule: u32,
    route: Route,
    /// The detection with the target's renames applied; `None` when the rule's own applies.
    detection: Option<Detection>,
    prefiltered: bool,
}

/// A set of variant indices reached together, and whether any needs the prefilter scan.
#[derive(Debug, Default)]
struct Bucket {
    variants: Vec<u32>,
    needs_scan: bool,
}

impl Bucket {
    fn push(&mut self, v: u32, prefiltered: bool) {
        if self.variants.last() != Some(&v) {
            self.variants.push(v);
        }
        self.needs_scan |= prefiltered;
    }
}

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

/// A compiled, immutable rule set; share it across threads (`Send + Sync`) and give each thread
/// its own [`Scratch`].
#[derive(Debug)]
pub struct Engine {
    id: u64,
    rules: Vec<Rule>,
    variants: Vec<Variant>,
    /// First variant of each rule; rule `r`'s variants are `rule_start[r]..rule_start[r + 1]`.
    rule_start: Vec<u32>,
    /// Lowercased channel name → channel index.
    channels: HashMap<String, u32>,
    /// Per channel: variants whose target names no EventID.
    channel_any: Vec<Bucket>,
    /// (channel index, EventID) → variants.
    channel_event: HashMap<(u32, i64), Bucket>,
    /// Rule logsource → logsource-routed variants.
    logsource_groups: Vec<(LogSource, Bucket)>,
    prefilter: Prefilter,
}

/// Per-thread reusable buffers for [`Engine::evaluate`]: after the first few events nothing is
/// allocated per event.
#[derive(Debug, Default)]
pub struct Scratch {
    engine: u64,
    epoch: u32,
    /// Per rule: the epoch in which the prefilter last saw one of its literals.
    marks: Vec<u32>,
    /// Event logsource → indices of the logsource groups it satisfies.
    groups_for: HashMap<LogSource, Vec<u32>>,
    num_buf: String,
    lower_buf: String,
}

impl Scratch {
    /// Buffers sized for `engine`.
    pub fn new(engine: &Engine) -> Scratch {
        let mut s = Scratch::default();
        s.prepare(engine);
        s
    }

    /// Readies the buffers for one event of `engine` (resets them if they served another).
    fn prepare(&mut self, engine: &Engine) {
        if self.engine != engine.id {
            self.engine = engine.id;
            self.epoch = 0;
            self.marks.clear();
            self.marks.resize(engine.rules.len(), 0);
            self.groups_for.clear();
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
    }
}

impl Engine {
    /// Compiles `rules` against `mapping`. Rules whose logsource the mapping cannot route
    /// (a Windows category/service it does not list) are returned as rejections; the engine's
    /// rule indices count the accepted rules only.
    pub fn compile(rules: Vec<Rule>, mapping: &LogsourceMapping) -> (Engine, Vec<Rejection>) {
        let mut accepted = Vec::with_capacity(rules.len());
        let mut rejections = Vec::new();
        let mut variants = Vec::new();
        let mut rule_start = Vec::with_capacity(rules.len() + 1);
        let mut literal_sets = Vec::new();
        for rule in rules {
            let resolved = match mapping.resolve(&rule.logsource) {
                Ok(r) => r,
                Err(logsource) => {
                    rejections.push(Rejection {
                        location: rule.location.clone(),
                        rule_id: rule.id.clone(),
                        title: Some(rule.title.clone()),
                        reason: RejectReason::UnmappedLogsource(logsource),
                    });
                    continue;
                }
            };
            let r = accepted.len() as u32;
            let literals = required_literals(&rule.detection);
            let prefiltered = literals.is_some();
            if let Some(set) = literals {
                literal_sets.push((r, set));
            }
            rule_start.push(variants.len() as u32);
            for target in resolved.targets {
                variants.push(Variant {
                    rule: r,
                    detection: (!target.renames.is_empty())
                        .then(|| rule.detection.map_fields(&|f| target.rename(f))),
                    route: Route::Channel(target.clone()),
                    prefiltered,
                });
            }
            if resolved.by_logsource {
                variants.push(Variant {
                    rule: r,
                    route: Route::Logsource,
                    detection: None,
                    prefiltered,
                });
            }
            accepted.push(rule);
        }
        rule_start.push(variants.len() as u32);

        let mut channels: HashMap<String, u32> = HashMap::new();
        let mut channel_any: Vec<Bucket> = Vec::new();
        let mut channel_event: HashMap<(u32, i64), Bucket> = HashMap::new();
        let mut logsource_groups: Vec<(LogSource, Bucket)> = Vec::new();
        for (i, v) in variants.iter().enumerate() {
            let i = i as u32;
            match &v.route {
                Route::Channel(t) => {
                    for name in &t.channels_lower {
                        let next = channels.len() as u32;
                        let c = *channels.entry(name.clone()).or_insert(next);
                        if c as usize == channel_any.len() {
                            channel_any.push(Bucket::default());
                        }
                        if t.event_ids.is_empty() {
                            channel_any[c as usize].push(i, v.prefiltered);
                        } else {
                            for &id in &t.event_ids {
                                channel_event
                                    .entry((c, id))
                                    .or_default()
                                    .push(i, v.prefiltered);
                            }
                        }
                    }
                }
                Route::Logsource => {
                    let ls = &accepted[v.rule as usize].logsource;
                    match logsource_groups.iter_mut().find(|(l, _)| l == ls) {
                        Some((_, b)) => b.push(i, v.prefiltered),
                        None => {
                            let mut b = Bucket::default();
                            b.push(i, v.prefiltered);
                            logsource_groups.push((ls.clone(), b));
                        }
                    }
                }
            }
        }
        let engine = Engine {
            id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
            rules: accepted,
            variants,
            rule_start,
            channels,
            channel_any,
            channel_event,
            logsource_groups,
            prefilter: Prefilter::build(&literal_sets),
        };
        (engine, rejections)
    }

    /// Clears `out`, then adds every (rule, variant) matching `event`, sorted. Exactly the
    /// result of [`Engine::evaluate_naive`], only faster.
    pub fn evaluate(&self, event: &Event, scratch: &mut Scratch, out: &mut Vec<RuleMatch>) {
        out.clear();
        scratch.prepare(self);

        let mut buckets: [Option<&Bucket>; 2] = [None, None];
        if let Some(&c) = event_channel(event).and_then(|ch| self.channels.get(ch)) {
            buckets[0] = Some(&self.channel_any[c as usize]).filter(|b| !b.variants.is_empty());
            buckets[1] = event_id(event).and_then(|id| self.channel_event.get(&(c, id)));
        }
        if !self.logsource_groups.is_empty() && !scratch.groups_for.contains_key(&event.logsource) {
            let groups = self
                .logsource_groups
                .iter()
                .enumerate()
                .filter(|(_, (ls, _))| event.logsource.satisfies(ls))
                .map(|(i, _)| i as u32)
                .collect();
            scratch.groups_for.insert(event.logsource.clone(), groups);
        }
        let groups: &[u32] = scratch
            .groups_for
            .get(&event.logsource)
            .map_or(&[], Vec::as_slice);

        let needs_scan = buckets.iter().flatten().any(|b| b.needs_scan)
            || groups
                .iter()
                .any(|&g| self.logsource_groups[g as usize].1.needs_scan);
        if needs_scan {
            self.prefilter.scan(
                event,
                &mut scratch.marks,
                scratch.epoch,
                &mut scratch.num_buf,
                &mut scratch.lower_buf,
            );
        }

        let all = buckets
            .iter()
            .flatten()
            .copied()
            .chain(groups.iter().map(|&g| &self.logsource_groups[g as usize].1));
        for bucket in all {
            for &vi in &bucket.variants {
                let v = &self.variants[vi as usize];
                if v.prefiltered && scratch.marks[v.rule as usize] != scratch.epoch {
                    continue;
                }
                if let Route::Channel(t) = &v.route
                    && !t.conditions.is_empty()
                    && !t.conditions_hold(event)
                {
                    continue;
                }
                if self.detection(v).matches(event) {
                    out.push(self.rule_match(vi));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The reference: every variant's routing predicate and detection, no index, no
    /// prefilter. Clears `out`, then adds the matches, sorted.
    pub fn evaluate_naive(&self, event: &Event, out: &mut Vec<RuleMatch>) {
        out.clear();
        for (vi, v) in self.variants.iter().enumerate() {
            let routed = match &v.route {
                Route::Channel(t) => t.accepts(event),
                Route::Logsource => event
                    .logsource
                    .satisfies(&self.rules[v.rule as usize].logsource),
            };
            if routed && self.detection(v).matches(event) {
                out.push(self.rule_match(vi as u32));
            }
        }
    }

    /// Why `m` matched `event`: the selections, fields and values (with the variant's renames).
    pub fn explain(&self, m: &RuleMatch, event: &Event) -> Vec<Evidence> {
        let vi = self.rule_start[m.rule] as usize + m.variant;
        self.detection(&self.variants[vi]).explain(event)
    }

    /// The name of the mapping target a variant stands for (`sysmon-1`, `security-4688`), or
    /// `None` for a variant routed by the event's logsource.
    pub fn target_name(&self, m: &RuleMatch) -> Option<&str> {
        let vi = self.rule_start[m.rule] as usize + m.variant;
        match &self.variants[vi].route {
            Route::Channel(t) => Some(&t.name),
            Route::Logsource => None,
        }
    }

    /// The rule at `idx` (as in [`RuleMatch::rule`]).
    pub fn rule(&self, idx: usize) -> &Rule {
        &self.rules[idx]
    }

    /// Number of rules compiled in.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule was compiled in.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// All rules, in index order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Counts of rules, variants, buckets and how many variants the prefilter guards.
    pub fn stats(&self) -> EngineStats {
        let prefiltered = self.variants.iter().filter(|v| v.prefiltered).count();
        let channel = self
            .variants
            .iter()
            .filter(|v| matches!(v.route, Route::Channel(_)))
            .count();
        EngineStats {
            rules: self.rules.len(),
            variants: self.variants.len(),
            channel_variants: channel,
            logsource_variants: self.variants.len() - channel,
            channel_buckets: self.channel_event.len()
                + self
                    .channel_any
                    .iter()
                    .filter(|b| !b.variants.is_empty())
                    .count(),
            logsource_buckets: self.logsource_groups.len(),
            prefiltered_variants: prefiltered,
            always_checked_variants: self.variants.len() - prefiltered,
            literals: self.prefilter.literal_count(),
        }
    }

    fn detection<'a>(&'a self, v: &'a Variant) -> &'a Detection {
        v.detection
            .as_ref()
            .unwrap_or(&self.rules[v.rule as usize].detection)
    }

    fn rule_match(&self, vi: u32) -> RuleMatch {
        let rule = self.variants[vi as usize].rule;
        RuleMatch {
            rule: rule as usize,
            variant: (vi - self.rule_start[rule as usize]) as usize,
        }
    }
}
