//! An explainable detection: which rule fired on which event, and why.

use std::sync::Arc;

use serde::Serialize;
use vigil_core::{Entities, EntityField, Event, Level, Symbol, Timestamp, Value};
use vigil_sigma::engine::{Engine, RuleMatch, Scratch};
use vigil_sigma::eval::Evidence;

/// One rule firing on one event, with everything an analyst needs to judge it.
#[derive(Clone, Debug, Serialize)]
pub struct Detection {
    /// Event time from the log.
    pub time: Option<Timestamp>,
    /// `Computer` (Windows) or the event's host name.
    pub host: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<i64>,
    /// EVTX `EventRecordID`, or the record index in a JSON file.
    pub record_id: Option<u64>,
    pub file: Arc<str>,
    pub rule_id: Option<String>,
    pub rule_title: String,
    /// The rule's level (`medium` when the rule gives none, as pySigma assumes).
    pub level: Level,
    pub status: Option<&'static str>,
    /// ATT&CK tags without the `attack.` prefix (`t1059.001`, `execution`).
    pub tags: Vec<String>,
    /// Which search, field and value made the rule fire.
    pub evidence: Vec<EvidenceItem>,
    /// The event's entities under OCSF names, nested (`{"src_endpoint": {"ip": …}}`): what
    /// intel, risk and correlation key on, the same for every source.
    /// Kept as extracted; the nested JSON is built only when the detection is written.
    #[serde(
        serialize_with = "entities_as_json",
        skip_serializing_if = "Entities::is_empty"
    )]
    pub entities: Entities<'static>,
}

fn entities_as_json<S: serde::Serializer>(e: &Entities<'static>, s: S) -> Result<S::Ok, S::Error> {
    e.to_json().serialize(s)
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

fn field_str(event: &Event, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| match event.get(Symbol::intern(n))? {
            Value::Null => None,
            v => Some(v.to_string()),
        })
}

impl Detection {
    /// Builds the detection for `m` on `event` (evidence is computed here, only for matches).
    pub fn new(engine: &Engine, m: &RuleMatch, event: &Event) -> Detection {
        let rule = engine.rule(m.rule);
        let event_id = match event.get(Symbol::intern("EventID")) {
            Some(Value::Int(i)) => Some(*i),
            Some(v) => v.as_f64().map(|f| f as i64),
            None => None,
        };
        let entities = vigil_ingest::entities(event);
        Detection {
            time: event.time,
            host: field_str(event, &["Computer", "Hostname", "host.name"]).or_else(|| {
                entities
                    .get_str(EntityField::DeviceHostname)
                    .map(str::to_string)
            }),
            channel: field_str(event, &["Channel"]),
            event_id,
            record_id: event.source.record_id,
            file: event.source.file.clone(),
            rule_id: rule.id.clone(),
            rule_title: rule.title.clone(),
            level: rule.level.unwrap_or(Level::Medium),
            status: rule.status.map(|s| s.as_str()),
            tags: rule.attack_tags().map(str::to_string).collect(),
            evidence: engine
                .explain(m, event)
                .into_iter()
                .map(EvidenceItem::from)
                .collect(),
            entities: entities.into_owned(),
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
    for m in matches.iter() {
        let level = engine.rule(m.rule).level.unwrap_or(Level::Medium);
        if level >= min_level {
            out.push(Detection::new(engine, m, event));
        }
    }
}
