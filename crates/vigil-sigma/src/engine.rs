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
//! `EventID` are looked up once; logsource variants are grouped by the rule's logsource, and
//! variants of a logsource target (Zeek `http` events for `category: proxy` rules, with renamed
//! fields) by the logsource the target names. Within
//! the event's buckets, a variant with a required literal set (see [`crate::prefilter`]) is
//! verified only if its bucket's Aho-Corasick automata found one of those literals in the field
//! it must occur in; the scan yields those candidates directly, so the cost follows the number
//! of candidates, not the size of the bucket.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use vigil_core::{Event, Level, LogSource};

use crate::ast::{Condition, Detection, FieldTest, Rule, Search, SearchBody};
use crate::error::RejectReason;
use crate::eval::Evidence;
use crate::mapping::{LogsourceMapping, Target, event_channel, event_id, event_id_field};
use crate::matcher::{Matcher, StrKind};
use crate::prefilter::{Literal, Prefilter, ScanState, SharedAutomata, required_literal_sets};
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
    /// Rules compiled in.
    pub rules: usize,
    /// Rule variants (one per mapping target, plus logsource-routed ones).
    pub variants: usize,
    /// Variants routed by channel (and EventID).
    pub channel_variants: usize,
    /// Variants routed by the event's logsource (the rule's own, or a logsource target's).
    pub logsource_variants: usize,
    /// Non-empty (channel, EventID) and per-channel buckets.
    pub channel_buckets: usize,
    /// Distinct logsources among logsource-routed variants (rules' own and targets').
    pub logsource_buckets: usize,
    /// Variants verified only when the prefilter found one of their literals.
    pub prefiltered_variants: usize,
    /// Variants verified whenever their bucket is reached.
    pub always_checked_variants: usize,
    /// Prefilter automata (per bucket: one per field with literals, one for keyword literals).
    pub prefilter_automata: usize,
    /// (field, literal) pairs over all automata.
    pub literals: usize,
    /// Heap memory of the automata (each shared one once), in bytes.
    pub prefilter_bytes: usize,
}

/// What every match of one rule reports about it: built once when the engine is compiled and
/// shared by its matches' detections — an `Arc` clone each, where copying the id, title and tags
/// out of rule data that is mostly cold (then freeing the copies) cost 1.2M of the 12M
/// instructions of building the EVTX samples' 1,114 detections (vigil-detect's README).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleLabels {
    /// The rule's `id`.
    pub id: Option<String>,
    pub title: String,
    /// ATT&CK tags without the `attack.` prefix (`t1059.001`, `execution`).
    pub attack_tags: Vec<String>,
    /// The rule's `level`, as written (`None` when it gives none).
    pub level: Option<Level>,
    /// The rule's `status` (`stable`, `test`…).
    pub status: Option<&'static str>,
}

impl RuleLabels {
    /// The level detections of the rule report: its own, `medium` when it gives none (as
    /// pySigma assumes).
    pub fn reported_level(&self) -> Level {
        self.level.unwrap_or(Level::Medium)
    }

    /// The labels of `rule`.
    pub fn of(rule: &Rule) -> RuleLabels {
        RuleLabels {
            id: rule.id.clone(),
            title: rule.title.clone(),
            attack_tags: rule.attack_tags().map(str::to_string).collect(),
            level: rule.level,
            status: rule.status.map(|s| s.as_str()),
        }
    }
}

/// How a variant decides that an event belongs to it.
#[derive(Clone, Debug)]
enum Route {
    /// A mapping target (channel, EventIDs, extra conditions).
    Channel(Box<Target>),
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
    /// Two literal sets must both be seen before the variant is verified (else one).
    two_sets: bool,
}

/// The variants reached together (one channel/EventID pair, or one rule logsource).
#[derive(Debug, Default)]
struct Bucket {
    variants: Vec<u32>,
    /// The variants verified whenever the bucket is reached (no required literals).
    always: Vec<u32>,
    /// The automata over the literals of the other variants (`None`: there are none).
    prefilter: Option<Prefilter>,
}

impl Bucket {
    fn push(&mut self, v: u32) {
        if self.variants.last() != Some(&v) {
            self.variants.push(v);
        }
    }
}

/// A channel's buckets: per EventID, and for EventIDs no target names.
#[derive(Debug, Default)]
struct ChannelBuckets {
    /// Sorted by EventID; each also holds the channel's any-EventID variants.
    by_event_id: Vec<(i64, Bucket)>,
    any: Bucket,
}

impl ChannelBuckets {
    fn for_event_id(&self, id: Option<i64>) -> &Bucket {
        id.and_then(|id| {
            self.by_event_id
                .binary_search_by_key(&id, |(k, _)| *k)
                .ok()
                .map(|i| &self.by_event_id[i].1)
        })
        .unwrap_or(&self.any)
    }

    fn buckets_mut(&mut self) -> impl Iterator<Item = &mut Bucket> {
        self.by_event_id
            .iter_mut()
            .map(|(_, b)| b)
            .chain(std::iter::once(&mut self.any))
    }
}

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

/// Event logsources a [`Scratch`] remembers the matching logsource groups of.
const MAX_CACHED_LOGSOURCES: usize = 64;

/// A compiled, immutable rule set; share it across threads (`Send + Sync`) and give each thread
/// its own [`Scratch`].
#[derive(Debug)]
pub struct Engine {
    id: u64,
    rules: Vec<Rule>,
    /// Per rule, what its matches report ([`Engine::labels`]).
    labels: Vec<Arc<RuleLabels>>,
    variants: Vec<Variant>,
    /// First variant of each rule; rule `r`'s variants are `rule_start[r]..rule_start[r + 1]`.
    rule_start: Vec<u32>,
    /// Lowercased channel name → index in `channels`.
    channel_index: HashMap<String, u32>,
    /// (lowercased channel name, its buckets).
    channels: Vec<(String, ChannelBuckets)>,
    /// Rule logsource → logsource-routed variants.
    logsource_groups: Vec<(LogSource, Bucket)>,
}

/// Per-thread reusable buffers for [`Engine::evaluate`]: after the first few events nothing is
/// allocated per event.
#[derive(Debug, Default)]
pub struct Scratch {
    engine: u64,
    scan: ScanState,
    /// Event logsource → indices of the logsource groups it satisfies.
    /// (Few distinct logsources per stream: a short list searched from the last hit beats
    /// hashing three strings per event.)
    groups_for: Vec<(LogSource, Vec<u32>)>,
    last_groups: usize,
    evict: usize,
    /// The channel of the previous event (index into the engine's channels).
    last_channel: Option<u32>,
    /// Variants to verify (with their event's index in the batch in the low half).
    pending: Vec<u64>,
}

impl Scratch {
    /// Buffers sized for `engine`.
    pub fn new(engine: &Engine) -> Scratch {
        let mut s = Scratch::default();
        s.prepare(engine);
        s
    }

    /// The index in `groups_for` of the logsource groups `logsource` satisfies (computed on
    /// first sight).
    fn groups_index(&mut self, engine: &Engine, logsource: &LogSource) -> usize {
        if self
            .groups_for
            .get(self.last_groups)
            .is_some_and(|(ls, _)| ls == logsource)
        {
            return self.last_groups;
        }
        let i = match self.groups_for.iter().position(|(ls, _)| ls == logsource) {
            Some(i) => i,
            None => {
                let groups = engine
                    .logsource_groups
                    .iter()
                    .enumerate()
                    .filter(|(_, (ls, _))| logsource.satisfies(ls))
                    .map(|(i, _)| i as u32)
                    .collect();
                let entry = (logsource.clone(), groups);
                if self.groups_for.len() < MAX_CACHED_LOGSOURCES {
                    self.groups_for.push(entry);
                    self.groups_for.len() - 1
                } else {
                    // A stream with this many logsources (crafted channel names?) must not
                    // make the search slow: replace entries round-robin.
                    let victim = self.evict % MAX_CACHED_LOGSOURCES;
                    self.evict = self.evict.wrapping_add(1);
                    self.groups_for[victim] = entry;
                    victim
                }
            }
        };
        self.last_groups = i;
        i
    }

    /// Readies the buffers for one event of `engine` (resets them if they served another).
    fn prepare(&mut self, engine: &Engine) {
        if self.engine != engine.id {
            self.engine = engine.id;
            self.scan = ScanState::default();
            self.groups_for.clear();
            self.last_channel = None;
        }
        self.scan.next_event(engine.variants.len() * 2);
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
        // Per variant: its required literals, with the variant's (renamed) field names.
        let mut literal_sets: Vec<Vec<Vec<Literal>>> = Vec::new();
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
            let literals = required_literal_sets(&rule.detection);
            rule_start.push(variants.len() as u32);
            for target in resolved.targets {
                let detection = (!target.renames.is_empty())
                    .then(|| rule.detection.map_fields(&|f| target.rename(f)));
                let sets = match &detection {
                    Some(d) => required_literal_sets(d),
                    None => literals.clone(),
                };
                variants.push(Variant {
                    rule: r,
                    detection,
                    route: Route::Channel(Box::new(target.clone())),
                    prefiltered: !sets.is_empty(),
                    two_sets: sets.len() == 2,
                });
                literal_sets.push(sets);
            }
            if resolved.by_logsource {
                variants.push(Variant {
                    rule: r,
                    route: Route::Logsource,
                    detection: None,
                    prefiltered: !literals.is_empty(),
                    two_sets: literals.len() == 2,
                });
                literal_sets.push(literals);
            }
            accepted.push(rule);
        }
        rule_start.push(variants.len() as u32);

        let mut channels: HashMap<String, ChannelBuckets> = HashMap::new();
        let mut by_event_id: HashMap<(String, i64), Bucket> = HashMap::new();
        // Per channel: any-EventID variants that may match every EventID of it.
        let mut unrestricted: HashMap<String, Vec<u32>> = HashMap::new();
        let mut logsource_groups: Vec<(LogSource, Bucket)> = Vec::new();
        let mut group =
            |ls: &LogSource, i: u32| match logsource_groups.iter_mut().find(|(l, _)| l == ls) {
                Some((_, b)) => b.push(i),
                None => {
                    let mut b = Bucket::default();
                    b.push(i);
                    logsource_groups.push((ls.clone(), b));
                }
            };
        for (i, v) in variants.iter().enumerate() {
            let i = i as u32;
            match &v.route {
                // A logsource target (Zeek `http` for `category: proxy`): grouped under the
                // event logsource it names, with its renamed detection.
                Route::Channel(t) if t.event_logsource.is_some() => {
                    group(t.event_logsource.as_ref().expect("checked"), i);
                }
                Route::Channel(t) => {
                    // A `service:` rule usually tests `EventID` itself: file it under those
                    // EventIDs only (and the any-EventID bucket, which events without a
                    // usable EventID reach).
                    let required = if t.event_ids.is_empty() {
                        let d = v
                            .detection
                            .as_ref()
                            .unwrap_or(&accepted[v.rule as usize].detection);
                        required_event_ids(d)
                    } else {
                        None
                    };
                    for name in &t.channels_lower {
                        let channel = channels.entry(name.clone()).or_default();
                        if !t.event_ids.is_empty() {
                            for &id in &t.event_ids {
                                by_event_id.entry((name.clone(), id)).or_default().push(i);
                            }
                            continue;
                        }
                        channel.any.push(i);
                        match &required {
                            Some(ids) => {
                                for &id in ids {
                                    by_event_id.entry((name.clone(), id)).or_default().push(i);
                                }
                            }
                            None => unrestricted.entry(name.clone()).or_default().push(i),
                        }
                    }
                }
                Route::Logsource => group(&accepted[v.rule as usize].logsource, i),
            }
        }
        // An event reaches one channel bucket: its (channel, EventID) bucket also holds the
        // channel's unrestricted any-EventID variants, so one automaton scan covers both.
        for ((name, id), mut bucket) in by_event_id {
            let channel = channels.get_mut(&name).expect("channel registered above");
            if let Some(extra) = unrestricted.get(&name) {
                bucket.variants.extend_from_slice(extra);
            }
            bucket.variants.sort_unstable();
            bucket.variants.dedup();
            channel.by_event_id.push((id, bucket));
        }
        for channel in channels.values_mut() {
            channel.by_event_id.sort_unstable_by_key(|(id, _)| *id);
        }
        let channels: Vec<(String, ChannelBuckets)> = channels.into_iter().collect();
        let channel_index = channels
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i as u32))
            .collect();
        let mut engine = Engine {
            id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
            labels: accepted
                .iter()
                .map(|r| Arc::new(RuleLabels::of(r)))
                .collect(),
            rules: accepted,
            variants,
            rule_start,
            channel_index,
            channels,
            logsource_groups,
        };
        engine.build_prefilters(&literal_sets);
        (engine, rejections)
    }

    /// Gives every bucket its automata over its prefiltered variants' literals and the list
    /// of variants to check regardless.
    fn build_prefilters(&mut self, literal_sets: &[Vec<Vec<Literal>>]) {
        let buckets = self
            .channels
            .iter_mut()
            .flat_map(|(_, c)| c.buckets_mut())
            .chain(self.logsource_groups.iter_mut().map(|(_, b)| b));
        let mut shared = SharedAutomata::default();
        for bucket in buckets {
            let mut sets: Vec<(u32, Vec<Literal>)> = Vec::new();
            for &vi in &bucket.variants {
                let variant_sets = &literal_sets[vi as usize];
                if variant_sets.is_empty() {
                    bucket.always.push(vi);
                }
                // Prefilter items are (variant, set) pairs: item 2·v for the first set, 2·v+1
                // for the second.
                for (k, set) in variant_sets.iter().enumerate() {
                    sets.push((vi * 2 + k as u32, set.clone()));
                }
            }
            if !sets.is_empty() {
                bucket.prefilter = Some(Prefilter::build_shared(&sets, &mut shared));
            }
        }
    }

    /// Clears `out`, then adds every (rule, variant) matching `event`, sorted. Exactly the
    /// result of [`Engine::evaluate_naive`], only faster.
    pub fn evaluate(&self, event: &Event, scratch: &mut Scratch, out: &mut Vec<RuleMatch>) {
        let started = crate::profile::ticks();
        out.clear();
        scratch.prepare(self);
        let mut pending = std::mem::take(&mut scratch.pending);
        pending.clear();
        let (routed, scanned) = self.candidates(event, scratch, |vi| pending.push(vi as u64));
        for &vi in &pending {
            if self.verify(vi as u32, event) {
                out.push(self.rule_match(vi as u32));
            }
        }
        scratch.pending = pending;
        out.sort_unstable();
        out.dedup();
        crate::profile::evaluated(
            routed.wrapping_sub(started),
            scanned.wrapping_sub(routed),
            crate::profile::ticks().wrapping_sub(scanned),
        );
    }

    /// [`Engine::evaluate`] over several events at once: clears `out`, then adds each match as
    /// (index of its event in `events`, match), ordered by event and, within one, as
    /// `evaluate` orders them.
    ///
    /// The same answers as `evaluate` event by event, but the candidates of all events are
    /// verified variant by variant: a rule that is a candidate on several events of the batch
    /// has its data read from memory once, not once per event (verification waits mostly on
    /// rule data that is cold by the time the next event needs it).
    pub fn evaluate_batch(
        &self,
        events: &[Event],
        scratch: &mut Scratch,
        out: &mut Vec<(u32, RuleMatch)>,
    ) {
        out.clear();
        let mut pending = std::mem::take(&mut scratch.pending);
        pending.clear();
        let mut routing = 0u64;
        let mut scanning = 0u64;
        for (index, event) in events.iter().enumerate() {
            let started = crate::profile::ticks();
            scratch.prepare(self);
            let (routed, scanned) = self.candidates(event, scratch, |vi| {
                pending.push(((vi as u64) << 32) | index as u64);
            });
            routing = routing.wrapping_add(routed.wrapping_sub(started));
            scanning = scanning.wrapping_add(scanned.wrapping_sub(routed));
        }
        let verifying = crate::profile::ticks();
        // By variant, then by event: each variant's checks one after another.
        pending.sort_unstable();
        for &key in &pending {
            let (vi, index) = ((key >> 32) as u32, key as u32);
            if self.verify(vi, &events[index as usize]) {
                out.push((index, self.rule_match(vi)));
            }
        }
        scratch.pending = pending;
        out.sort_unstable();
        out.dedup();
        crate::profile::evaluated_batch(
            events.len(),
            routing,
            scanning,
            crate::profile::ticks().wrapping_sub(verifying),
        );
    }

    /// Routes `event` and scans it with the prefilters of its buckets; calls `f` with each
    /// variant to verify (the candidates, then the buckets' always-checked variants). Returns
    /// the profile's ticks when routing and scanning ended. `scratch` must be prepared.
    fn candidates(
        &self,
        event: &Event,
        scratch: &mut Scratch,
        mut f: impl FnMut(u32),
    ) -> (u64, u64) {
        let channel_bucket = event_channel(event).and_then(|ch| {
            // Consecutive events mostly share a channel: compare before hashing.
            let c = match scratch.last_channel {
                Some(c) if self.channels[c as usize].0 == ch => c,
                _ => {
                    let c = *self.channel_index.get(ch)?;
                    scratch.last_channel = Some(c);
                    c
                }
            };
            Some(self.channels[c as usize].1.for_event_id(event_id(event)))
        });
        let groups: &[u32] = if self.logsource_groups.is_empty() {
            &[]
        } else {
            let i = scratch.groups_index(self, &event.logsource);
            &scratch.groups_for[i].1
        };
        let scan = &mut scratch.scan;
        let buckets = channel_bucket
            .into_iter()
            .chain(groups.iter().map(|&g| &self.logsource_groups[g as usize].1));

        let routed = crate::profile::ticks();
        Prefilter::scan_all(
            buckets.clone().filter_map(|b| b.prefilter.as_ref()),
            event,
            scan,
        );
        let scanned = crate::profile::ticks();
        let always = buckets.flat_map(|b| b.always.iter().copied());
        // A variant is a candidate when its first set was seen, and its second too if it has
        // one (a second set seen alone only confirms).
        let scan = &*scan;
        let candidates = scan.candidates().iter().filter_map(|&item| {
            let vi = item / 2;
            let first = item % 2 == 0;
            (first && (!self.variants[vi as usize].two_sets || scan.marked(item + 1))).then_some(vi)
        });
        candidates.chain(always).for_each(&mut f);
        (routed, scanned)
    }

    /// Whether variant `vi` matches `event`: the routing its bucket left to check (a target's
    /// EventIDs and conditions), then the detection.
    fn verify(&self, vi: u32, event: &Event) -> bool {
        let v = &self.variants[vi as usize];
        if let Route::Channel(t) = &v.route {
            // A logsource target's group was chosen by logsource; its EventIDs and
            // conditions are still to check. A channel target's bucket settled the rest.
            let routed = if t.event_logsource.is_some() {
                t.accepts(event)
            } else {
                t.conditions.is_empty() || t.conditions_hold(event)
            };
            if !routed {
                return false;
            }
        }
        let checked = crate::profile::ticks();
        let matched = self.detection(v).matches(event);
        crate::profile::verified(
            self.variants.len(),
            vi as usize,
            matched,
            crate::profile::ticks().wrapping_sub(checked),
        );
        matched
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

    /// What matches of the rule at `idx` report (id, title, ATT&CK tags, level, status), shared
    /// by all of them.
    pub fn labels(&self, idx: usize) -> &Arc<RuleLabels> {
        &self.labels[idx]
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
            .filter(|v| matches!(&v.route, Route::Channel(t) if t.event_logsource.is_none()))
            .count();
        let buckets: Vec<&Bucket> = self
            .channels
            .iter()
            .flat_map(|(_, c)| c.by_event_id.iter().map(|(_, b)| b).chain([&c.any]))
            .filter(|b| !b.variants.is_empty())
            .collect();
        let automata = buckets
            .iter()
            .copied()
            .chain(self.logsource_groups.iter().map(|(_, b)| b))
            .filter_map(|b| b.prefilter.as_ref());
        EngineStats {
            rules: self.rules.len(),
            variants: self.variants.len(),
            channel_variants: channel,
            logsource_variants: self.variants.len() - channel,
            channel_buckets: buckets.len(),
            logsource_buckets: self.logsource_groups.len(),
            prefiltered_variants: prefiltered,
            always_checked_variants: self.variants.len() - prefiltered,
            prefilter_automata: automata.clone().map(Prefilter::automaton_count).sum(),
            literals: automata.clone().map(Prefilter::literal_count).sum(),
            prefilter_bytes: {
                let mut counted = std::collections::HashSet::new();
                automata.map(|p| p.shared_memory_usage(&mut counted)).sum()
            },
        }
    }

    fn detection<'a>(&'a self, v: &'a Variant) -> &'a Detection {
        v.detection
            .as_ref()
            .unwrap_or(&self.rules[v.rule as usize].detection)
    }

    /// The title of variant `vi`'s rule, with the variant's target when the rule has several
    /// (for [`crate::profile::report`]).
    #[cfg(feature = "profile")]
    pub(crate) fn variant_title(&self, vi: usize) -> String {
        let Some(v) = self.variants.get(vi) else {
            return String::new();
        };
        let rule = &self.rules[v.rule as usize];
        let (first, end) = (
            self.rule_start[v.rule as usize] as usize,
            self.rule_start
                .get(v.rule as usize + 1)
                .map_or(self.variants.len(), |&e| e as usize),
        );
        if end - first > 1 {
            format!(
                "{} (variant {} of {})",
                rule.title,
                vi - first + 1,
                end - first
            )
        } else {
            rule.title.clone()
        }
    }

    fn rule_match(&self, vi: u32) -> RuleMatch {
        let rule = self.variants[vi as usize].rule;
        RuleMatch {
            rule: rule as usize,
            variant: (vi - self.rule_start[rule as usize]) as usize,
        }
    }
}

/// EventIDs one of which every event `detection` matches carries (as [`event_id`] reads it),
/// when the detection itself requires `EventID` to be one of a few numbers; `None` otherwise.
///
/// An event whose `EventID` [`event_id`] cannot read (a list, text) may still match: the engine
/// keeps such variants in the channel's any-EventID bucket too, which those events reach.
fn required_event_ids(detection: &Detection) -> Option<Vec<i64>> {
    fn condition(c: &Condition, searches: &[Search]) -> Option<Vec<i64>> {
        match c {
            Condition::Search(i) => search(searches.get(*i)?),
            // Every child is required: any one child's set will do; take the smallest.
            Condition::And(cs) => cs
                .iter()
                .filter_map(|c| condition(c, searches))
                .min_by_key(Vec::len),
            Condition::Or(cs) => union(cs.iter().map(|c| condition(c, searches))),
            Condition::Not(_) => None,
        }
    }
    fn search(s: &Search) -> Option<Vec<i64>> {
        match &s.body {
            SearchBody::Fields(groups) => union(groups.iter().map(|group| {
                group
                    .iter()
                    .filter(|t| t.field == event_id_field() && !t.negate)
                    .find_map(field_test)
            })),
            SearchBody::Keywords(_) => None,
        }
    }
    fn field_test(t: &FieldTest) -> Option<Vec<i64>> {
        if t.all {
            // Every value must match the one EventID: any value's set will do.
            t.values.iter().find_map(value)
        } else {
            union(t.values.iter().map(value))
        }
    }
    // A value `4688` matches the number 4688 and the strings "4688"; what it accepts reads
    // back through `event_id` as 4688.
    fn value(m: &Matcher) -> Option<Vec<i64>> {
        match m {
            Matcher::Str {
                kind: StrKind::Equals,
                pattern,
                ..
            } if pattern.bytes().all(|b| b.is_ascii_digit()) => Some(vec![pattern.parse().ok()?]),
            Matcher::AnyOf(ms) => union(ms.iter().map(value)),
            _ => None,
        }
    }
    fn union(sets: impl Iterator<Item = Option<Vec<i64>>>) -> Option<Vec<i64>> {
        let mut out = Vec::new();
        for s in sets {
            out.extend(s?);
        }
        out.sort_unstable();
        out.dedup();
        (!out.is_empty()).then_some(out)
    }
    condition(&detection.condition, &detection.searches)
}

/// Pairs each event of a batch with its matches from [`Engine::evaluate_batch`] (`matches`,
/// ordered by event), in event order; events without a match get an empty slice.
pub fn matches_by_event<'e, 'm>(
    events: &'e [Event],
    matches: &'m [(u32, RuleMatch)],
) -> impl Iterator<Item = (&'e Event, &'m [(u32, RuleMatch)])> {
    let mut rest = matches;
    events.iter().enumerate().map(move |(index, event)| {
        let n = rest.partition_point(|(e, _)| (*e as usize) <= index);
        let (mine, tail) = rest.split_at(n);
        rest = tail;
        (event, mine)
    })
}
