//! An explainable detection: which rule fired on which event, and why.

use std::sync::Arc;

use serde::Serialize;
use vigil_core::{Entities, EntityField, Event, Level, Symbol, Timestamp, Value};
use vigil_intel::{IntelMatch, MatchHow, Matcher};
use vigil_sigma::engine::{Engine, RuleLabels, RuleMatch, Scratch, matches_by_event};
use vigil_sigma::eval::Evidence;
use vigil_sigma::profile::{self, Stage};

/// One rule firing on one event, with everything an analyst needs to judge it.
///
/// Serialized flat, the rule's labels among the event's facts: `time`, `host`, `channel`,
/// `event_id`, `record_id`, `file`, `rule_id`, `rule_title`, `level`, `status`, `tags`,
/// `evidence`, then `entities` and `intel` when there are any.
#[derive(Clone, Debug)]
pub struct Detection {
    /// Event time from the log.
    pub time: Option<Timestamp>,
    /// `Computer` (Windows) or the event's host name (shared by the event's detections).
    pub host: Option<Arc<str>>,
    pub channel: Option<Arc<str>>,
    pub event_id: Option<i64>,
    /// EVTX `EventRecordID`, or the record index in a JSON file.
    pub record_id: Option<u64>,
    pub file: Arc<str>,
    /// The rule's id, title, ATT&CK tags, level and status, shared with every other detection
    /// of the rule.
    pub rule: Arc<RuleLabels>,
    /// Which search, field and value made the rule fire.
    pub evidence: Vec<EvidenceItem>,
    /// The event's entities under OCSF names, nested (`{"src_endpoint": {"ip": …}}`): what
    /// intel, risk and correlation key on, the same for every source.
    /// Kept as extracted; the nested JSON is built only when the detection is written.
    /// Shared by every detection of one event (they are the event's, whichever rule fired).
    pub entities: Arc<Entities<'static>>,
    /// For a threat-intel hit: the indicator that stands in for the rule.
    pub intel: Option<IntelContext>,
}

impl Detection {
    /// The rule's `id` (`intel:<kind>:<value>` for a threat-intel hit).
    pub fn rule_id(&self) -> Option<&str> {
        self.rule.id.as_deref()
    }

    pub fn rule_title(&self) -> &str {
        &self.rule.title
    }

    /// ATT&CK tags without the `attack.` prefix (`t1059.001`, `execution`).
    pub fn tags(&self) -> &[String] {
        &self.rule.attack_tags
    }

    /// The rule's level (`medium` when the rule gives none, as pySigma assumes).
    pub fn level(&self) -> Level {
        self.rule.reported_level()
    }

    /// The rule's `status` (`stable`, `test`…), if it gives one.
    pub fn status(&self) -> Option<&'static str> {
        self.rule.status
    }
}

impl Serialize for Detection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let entities = !self.entities.is_empty();
        let intel = self.intel.is_some();
        let mut st = s.serialize_struct("Detection", 12 + entities as usize + intel as usize)?;
        st.serialize_field("time", &self.time)?;
        st.serialize_field("host", &self.host)?;
        st.serialize_field("channel", &self.channel)?;
        st.serialize_field("event_id", &self.event_id)?;
        st.serialize_field("record_id", &self.record_id)?;
        st.serialize_field("file", &self.file)?;
        st.serialize_field("rule_id", &self.rule.id)?;
        st.serialize_field("rule_title", &self.rule.title)?;
        st.serialize_field("level", &self.level())?;
        st.serialize_field("status", &self.status())?;
        st.serialize_field("tags", &self.rule.attack_tags)?;
        st.serialize_field("evidence", &self.evidence)?;
        if entities {
            // Kept as extracted; the nested JSON is built only now.
            st.serialize_field("entities", &self.entities.to_json())?;
        } else {
            st.skip_field("entities")?;
        }
        match &self.intel {
            Some(intel) => st.serialize_field("intel", intel)?,
            None => st.skip_field("intel")?,
        }
        st.end()
    }
}

/// The indicator behind a threat-intel detection: what it is, who says so, how sure they are.
#[derive(Clone, Debug, Serialize)]
pub struct IntelContext {
    /// `ipv4`, `domain`, `sha256`, …
    pub kind: &'static str,
    /// The indicator's normalised value (`10.0.0.0/8`, `evil.example`).
    pub indicator: String,
    /// `exact`, `subdomain` (the event's name is under the indicator's domain) or `in-block`.
    pub how: &'static str,
    /// The feeds that list it.
    pub sources: Vec<String>,
    pub confidence: Option<u8>,
    pub tlp: Option<&'static str>,
    pub labels: Vec<String>,
}

/// One piece of evidence: a search identifier and the field/value that satisfied it.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceItem {
    pub search: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub value: String,
    pub pattern: String,
}

impl From<Evidence> for EvidenceItem {
    fn from(e: Evidence) -> Self {
        EvidenceItem {
            search: e.search,
            field: e.field,
            value: e.value,
            pattern: e.pattern,
        }
    }
}

/// The field names a detection reads from every event, interned once per process (interning
/// hashes the name and takes the interner's lock: per detection it was a measurable cost).
struct Names {
    host: [Symbol; 3],
    channel: Symbol,
    event_id: Symbol,
}

fn names() -> &'static Names {
    static NAMES: std::sync::OnceLock<Names> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| Names {
        host: ["Computer", "Hostname", "host.name"].map(Symbol::intern),
        channel: Symbol::intern("Channel"),
        event_id: Symbol::intern("EventID"),
    })
}

/// The first of `names` the event has (not null), as text: a string is copied as it is
/// (`to_string` would go through the formatting machinery for a plain copy).
fn field_str(event: &Event, names: &[Symbol]) -> Option<Arc<str>> {
    names.iter().find_map(|n| match event.get(*n)? {
        Value::Null => None,
        Value::Str(t) => Some(Arc::from(t.as_str())),
        v => Some(Arc::from(v.to_string())),
    })
}

/// `Computer` (or another host name field) of `event`, else the host its entities name.
fn host(event: &Event, entities: &Entities<'_>) -> Option<Arc<str>> {
    field_str(event, &names().host)
        .or_else(|| entities.get_str(EntityField::DeviceHostname).map(Arc::from))
}

/// What every detection of one event reports about it, read from the event once.
struct EventFacts {
    host: Option<Arc<str>>,
    channel: Option<Arc<str>>,
    event_id: Option<i64>,
    entities: Arc<Entities<'static>>,
}

impl EventFacts {
    fn of(event: &Event, entities: Arc<Entities<'static>>) -> EventFacts {
        let names = names();
        EventFacts {
            host: host(event, &entities),
            channel: field_str(event, &[names.channel]),
            event_id: match event.get(names.event_id) {
                Some(Value::Int(i)) => Some(*i),
                Some(v) => v.as_f64().map(|f| f as i64),
                None => None,
            },
            entities,
        }
    }
}

impl Detection {
    /// Builds the detection for `m` on `event` (evidence is computed here, only for matches).
    pub fn new(engine: &Engine, m: &RuleMatch, event: &Event) -> Detection {
        let entities = Arc::new(vigil_ingest::entities(event).into_owned());
        Detection::with_entities(engine, m, event, entities)
    }

    /// [`Detection::new`] with the event's entities already extracted
    /// (`vigil_ingest::entities(event)`, owned): when several rules fire on one event, its
    /// entities are extracted once and shared.
    pub fn with_entities(
        engine: &Engine,
        m: &RuleMatch,
        event: &Event,
        entities: Arc<Entities<'static>>,
    ) -> Detection {
        Detection::of_rule(engine, m, event, &EventFacts::of(event, entities))
    }

    /// The detection for `m` on `event`, with what the event's detections share.
    fn of_rule(engine: &Engine, m: &RuleMatch, event: &Event, facts: &EventFacts) -> Detection {
        // The rule's labels, not the rule: every field a detection copies is there, in one
        // place, where the rule's own data is spread over memory a hunt seldom touches.
        let rule = engine.labels(m.rule);
        Detection {
            time: event.time,
            host: facts.host.clone(),
            channel: facts.channel.clone(),
            event_id: facts.event_id,
            record_id: event.source.record_id,
            file: event.source.file.clone(),
            rule: Arc::clone(rule),
            evidence: engine
                .explain(m, event)
                .into_iter()
                .map(EvidenceItem::from)
                .collect(),
            entities: Arc::clone(&facts.entities),
            intel: None,
        }
    }

    /// A threat-intel hit on `event` as a detection: the rule is `intel:<kind>:<value>`, the
    /// level follows the indicator's confidence (high from 80, medium from 50 or when none is
    /// given, low below), the evidence is the event's field and value, and [`IntelContext`]
    /// says which feeds list the indicator.
    pub fn from_intel(m: &IntelMatch, event: &Event, entities: &Entities<'_>) -> Detection {
        let ind = &m.indicator;
        let level = match ind.confidence() {
            Some(c) if c >= 80 => Level::High,
            Some(c) if c < 50 => Level::Low,
            _ => Level::Medium,
        };
        let how = match m.how {
            MatchHow::Exact => "exact",
            MatchHow::Subdomain => "subdomain",
            MatchHow::InBlock => "in-block",
        };
        let tags = ind
            .kill_chain()
            .iter()
            .filter(|p| p.kill_chain_name.contains("mitre"))
            .map(|p| p.phase_name.to_string())
            .collect();
        let names = names();
        Detection {
            time: event.time,
            host: host(event, entities),
            channel: field_str(event, &[names.channel]),
            event_id: None,
            record_id: event.source.record_id,
            file: event.source.file.clone(),
            rule: Arc::new(RuleLabels {
                id: Some(intel_rule_id(m)),
                title: format!("Threat intel: {} {}", ind.kind().name(), ind.value()),
                attack_tags: tags,
                level: Some(level),
                status: None,
            }),
            evidence: vec![EvidenceItem {
                search: "intel".into(),
                field: Some(m.field.ocsf_path().to_string()),
                value: m.value.clone(),
                pattern: ind.value().to_string(),
            }],
            entities: Arc::new(entities.clone().into_owned()),
            intel: Some(IntelContext {
                kind: ind.kind().name(),
                indicator: ind.value().to_string(),
                how,
                sources: ind.sources().iter().map(|s| s.feed.to_string()).collect(),
                confidence: ind.confidence(),
                tlp: ind.tlp().map(|t| t.as_str()),
                labels: ind.labels().iter().map(|l| l.to_string()).collect(),
            }),
        }
    }
}

/// The rule id an intel hit is recorded under: one per indicator, so dedup and rule hit counts
/// work for indicators as for rules.
pub fn intel_rule_id(m: &IntelMatch) -> String {
    format!(
        "intel:{}:{}",
        m.indicator.kind().name(),
        m.indicator.value()
    )
}

/// Appends a detection for each indicator `matcher` finds among `event`'s entities — one per
/// indicator even when it matches several fields — at or above `min_level`.
pub fn detect_intel(
    matcher: &Matcher,
    event: &Event,
    buf: &mut Vec<IntelMatch>,
    min_level: Level,
    out: &mut Vec<Detection>,
) {
    if matcher.is_empty() {
        return;
    }
    let entities = vigil_ingest::entities(event);
    detect_intel_with(matcher, event, &entities, buf, min_level, out);
}

/// [`detect_intel`] with `event`'s entities already extracted (`vigil_ingest::entities`), for a
/// caller that also builds rule detections of the event from them.
pub fn detect_intel_with(
    matcher: &Matcher,
    event: &Event,
    entities: &Entities<'_>,
    buf: &mut Vec<IntelMatch>,
    min_level: Level,
    out: &mut Vec<Detection>,
) {
    if matcher.is_empty() {
        return;
    }
    buf.clear();
    matcher.match_entities(entities, buf);
    for (i, m) in buf.iter().enumerate() {
        if buf[..i]
            .iter()
            .any(|earlier| Arc::ptr_eq(&earlier.indicator, &m.indicator))
        {
            continue;
        }
        let d = Detection::from_intel(m, event, entities);
        if d.level() >= min_level {
            out.push(d);
        }
    }
}

/// Runs `event` through `engine` and appends its detections at or above `min_level`.
///
/// `matches` is a reusable buffer so the common case (no match) allocates nothing.
pub fn detect(
    engine: &Engine,
    event: &Event,
    scratch: &mut Scratch,
    matches: &mut Vec<RuleMatch>,
    min_level: Level,
    out: &mut Vec<Detection>,
) {
    matches.clear();
    engine.evaluate(event, scratch, matches);
    build(engine, event, matches.iter(), min_level, out);
}

/// [`detect`] over a batch of events, evaluated together ([`Engine::evaluate_batch`]: the
/// candidates of all of them verified rule by rule). Detections are appended in event order;
/// after each event's, `each` is called with the event and where its detections start in
/// `out` (for what a caller adds per event, such as threat-intel hits).
pub fn detect_batch(
    engine: &Engine,
    events: &[Event],
    scratch: &mut Scratch,
    matches: &mut Vec<(u32, RuleMatch)>,
    min_level: Level,
    out: &mut Vec<Detection>,
    mut each: impl FnMut(&Event, usize, &mut Vec<Detection>),
) {
    engine.evaluate_batch(events, scratch, matches);
    for (event, mine) in matches_by_event(events, matches) {
        let start = out.len();
        build(engine, event, mine.iter().map(|(_, m)| m), min_level, out);
        each(event, start, out);
    }
}

/// Appends the detections of `matches` (of `event`) at or above `min_level`.
fn build<'m>(
    engine: &Engine,
    event: &Event,
    matches: impl IntoIterator<Item = &'m RuleMatch>,
    min_level: Level,
    out: &mut Vec<Detection>,
) {
    let reported = |m: &&RuleMatch| engine.labels(m.rule).reported_level() >= min_level;
    let mut fired = matches.into_iter().filter(reported).peekable();
    if fired.peek().is_none() {
        return;
    }
    let started = profile::ticks();
    // The event's entities, host, channel and EventID are the same for every rule that fires
    // on it: read once and shared.
    let facts = EventFacts::of(event, Arc::new(vigil_ingest::entities(event).into_owned()));
    for m in fired {
        out.push(Detection::of_rule(engine, m, event, &facts));
    }
    profile::stage(Stage::Building, profile::ticks().wrapping_sub(started), 0);
}
