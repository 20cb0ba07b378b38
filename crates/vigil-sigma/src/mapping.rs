//! Logsource mapping: which events a rule's `logsource` stands for, and how the rule's field
//! names translate for each of them.
//!
//! What it is for: Windows rules name an abstract log source (`category: process_creation`,
//! `service: security`); Windows events only carry a `Channel` and an `EventID`. The mapping
//! lists, per rule logsource, the *targets* that implement it — a channel predicate (channel
//! names, EventIDs, optional extra field values) plus field renames — and the compiler makes one
//! rule variant per target. The built-in table is `data/logsource-windows.yml`; users add or
//! override entries with their own file ([`LogsourceMapping::from_file`] +
//! [`LogsourceMapping::extend`]).
//!
//! Non-Windows sources: their decoders set [`Event::logsource`] and rules route by
//! [`LogSource::satisfies`]. A mapping entry for a non-Windows or product-less logsource *adds*
//! targets to that: channel targets (`category: antivirus` → Defender's channel) or *logsource
//! targets*, which stand for the events whose own logsource satisfies a given one, with their
//! field names (`category: proxy` → Zeek `http` events, `c-uri` renamed to `uri`). The
//! built-in table for those is `data/logsource-network.yml`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use saphyr_parser::{Event as YamlEvent, Parser, ScalarStyle};
use serde::Deserialize;
use vigil_core::{Event, LogSource, Symbol, Value};

/// The built-in Windows mapping, embedded at build time.
const BUILTIN_WINDOWS: &str = include_str!("../data/logsource-windows.yml");

/// The built-in logsource targets for network and Linux sources (Zeek, Suricata → the
/// product-less proxy/webserver/dns/firewall categories), embedded at build time.
const BUILTIN_NETWORK: &str = include_str!("../data/logsource-network.yml");

static CHANNEL: LazyLock<Symbol> = LazyLock::new(|| Symbol::intern("Channel"));
static EVENT_ID: LazyLock<Symbol> = LazyLock::new(|| Symbol::intern("EventID"));

/// The interned `Channel` field name (a Windows event's log channel).
pub fn channel_field() -> Symbol {
    *CHANNEL
}

/// The interned `EventID` field name.
pub fn event_id_field() -> Symbol {
    *EVENT_ID
}

/// The event's `EventID` as an integer (numbers, or strings holding one), if it has one.
pub fn event_id(event: &Event) -> Option<i64> {
    match event.get(*EVENT_ID)? {
        Value::Int(i) => Some(*i),
        Value::Float(x) if x.fract() == 0.0 => Some(*x as i64),
        Value::Str(t) => t.as_str().trim().parse().ok(),
        _ => None,
    }
}

/// The event's `Channel`, lowercased, if it is a string.
pub fn event_channel(event: &Event) -> Option<&str> {
    event.get(*CHANNEL)?.as_text().map(|t| t.lower())
}

/// A mapping file (or the built-in table) that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct MappingError {
    /// The file (or `builtin`) the problem is in.
    pub origin: String,
    /// What is wrong, naming the entry (`logsources[3]`) when the YAML itself parsed.
    pub message: String,
}

/// A field condition of a target: the field's value must be one of `values` (compared
/// case-insensitively with its string form).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldCondition {
    /// The event field tested.
    pub field: Symbol,
    /// Allowed values, lowercased.
    pub values: Vec<String>,
}

/// One concrete kind of event that implements a rule logsource, and the renames that apply.
///
/// A target is either a *channel target* (Windows: `channels`, optional EventIDs) or a
/// *logsource target* (`event_logsource`: events whose own logsource satisfies it, such as
/// `product: zeek, service: http`); `channels` is empty for the latter.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// A short name for stats and evidence (`sysmon-1`, `security-4688`, `zeek-http`).
    pub name: String,
    /// For a logsource target, the logsource an event's own must satisfy (lowercased).
    pub event_logsource: Option<LogSource>,
    /// Channel names as written in the mapping.
    pub channels: Vec<String>,
    /// The same names lowercased, for case-insensitive comparison.
    pub channels_lower: Vec<String>,
    /// Accepted EventIDs; empty means any EventID of the channel.
    pub event_ids: Vec<i64>,
    /// Extra conditions, all of which must hold (e.g. registry `EventType`).
    pub conditions: Vec<FieldCondition>,
    /// Rule field → event field.
    pub renames: Vec<(Symbol, Symbol)>,
}

impl Target {
    /// True when `event` is one of this target's events (channel or logsource, EventID and
    /// conditions).
    pub fn accepts(&self, event: &Event) -> bool {
        if let Some(logsource) = &self.event_logsource {
            return event.logsource.satisfies(logsource)
                && (self.event_ids.is_empty()
                    || event_id(event).is_some_and(|id| self.event_ids.contains(&id)))
                && self.conditions_hold(event);
        }
        let Some(channel) = event_channel(event) else {
            return false;
        };
        if !self.channels_lower.iter().any(|c| c == channel) {
            return false;
        }
        if !self.event_ids.is_empty()
            && !event_id(event).is_some_and(|id| self.event_ids.contains(&id))
        {
            return false;
        }
        self.conditions_hold(event)
    }

    /// True when every extra field condition holds (channel and EventID not checked).
    pub fn conditions_hold(&self, event: &Event) -> bool {
        let mut buf = String::new();
        self.conditions.iter().all(|c| {
            let Some(value) = event.get(c.field) else {
                return false;
            };
            match value {
                Value::Str(t) => c.values.iter().any(|v| v == t.lower()),
                other => other
                    .scalar_str(&mut buf)
                    .is_some_and(|s| c.values.iter().any(|v| v.eq_ignore_ascii_case(s))),
            }
        })
    }

    /// The event's name for rule field `field` under this target.
    pub fn rename(&self, field: Symbol) -> Symbol {
        self.renames
            .iter()
            .find(|(from, _)| *from == field)
            .map_or(field, |(_, to)| *to)
    }
}

/// The targets listed for one rule logsource.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingEntry {
    /// The rule logsource this entry is for (lowercased).
    pub logsource: LogSource,
    /// In a user file: replace the targets already known for this logsource instead of adding.
    pub replace: bool,
    /// The kinds of events that implement this logsource (OR).
    pub targets: Vec<Target>,
}

/// How rules with one logsource are routed (see [`LogsourceMapping::resolve`]).
#[derive(Clone, Copy, Debug)]
pub struct Resolved<'a> {
    /// Channel targets: one rule variant each.
    pub targets: &'a [Target],
    /// Also match events whose own logsource satisfies the rule's (one more variant).
    pub by_logsource: bool,
}

/// The whole mapping: rule logsource → targets.
#[derive(Clone, Debug, Default)]
pub struct LogsourceMapping {
    entries: Vec<MappingEntry>,
}

impl LogsourceMapping {
    /// The built-in mapping: Windows channels (`data/logsource-windows.yml`) and the network
    /// logsource targets (`data/logsource-network.yml`).
    pub fn builtin() -> Self {
        // The embedded files are covered by tests; failing here would be a build defect.
        let mut mapping = Self::from_yaml(BUILTIN_WINDOWS, "builtin:logsource-windows.yml")
            .expect("the built-in Windows logsource mapping parses");
        mapping.extend(
            Self::from_yaml(BUILTIN_NETWORK, "builtin:logsource-network.yml")
                .expect("the built-in network logsource mapping parses"),
        );
        mapping
    }

    /// A mapping with no entries: only logsource routing (no Windows rule can be mapped).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads a mapping file in the format of `data/logsource-windows.yml`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, MappingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| MappingError {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses mapping YAML; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, MappingError> {
        let err = |message: String| MappingError {
            origin: origin.to_string(),
            message,
        };
        let tree = yaml_to_json(text).map_err(err)?;
        let doc: FileDoc =
            serde_json::from_value(tree).map_err(|e| err(format!("top level: {e}")))?;
        let mut entries = Vec::with_capacity(doc.logsources.len());
        for (i, raw) in doc.logsources.into_iter().enumerate() {
            let entry: EntryDoc =
                serde_json::from_value(raw).map_err(|e| err(format!("logsources[{i}]: {e}")))?;
            entries.push(
                entry
                    .build()
                    .map_err(|m| err(format!("logsources[{i}]: {m}")))?,
            );
        }
        Ok(LogsourceMapping { entries })
    }

    /// Adds `other`'s entries: targets of a logsource already present are appended (or replace
    /// the existing ones when the entry says `replace: true`); new logsources are added.
    pub fn extend(&mut self, other: LogsourceMapping) {
        for entry in other.entries {
            match self
                .entries
                .iter_mut()
                .find(|e| e.logsource == entry.logsource)
            {
                Some(existing) if entry.replace => existing.targets = entry.targets,
                Some(existing) => existing.targets.extend(entry.targets),
                None => self.entries.push(entry),
            }
        }
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[MappingEntry] {
        &self.entries
    }

    /// The entry for exactly this logsource, if any.
    pub fn entry(&self, logsource: &LogSource) -> Option<&MappingEntry> {
        self.entries.iter().find(|e| e.logsource == *logsource)
    }

    /// How rules with logsource `rule` are routed.
    ///
    /// Windows rules (`product: windows`) with a category or service need an entry; without one
    /// this is `Err` with the logsource's text (`product: windows, category: x`), which rule
    /// loading reports as an unmapped logsource. A Windows rule naming neither routes by the
    /// event's logsource. Every other rule routes by the event's logsource, plus any channel or
    /// logsource targets an entry lists for it.
    pub fn resolve(&self, rule: &LogSource) -> Result<Resolved<'_>, String> {
        let windows = rule.product.as_deref() == Some("windows");
        let entry = self.entry(rule).or_else(|| {
            // `category` + `service` together: fall back to the category's entry.
            (windows && rule.category.is_some() && rule.service.is_some())
                .then(|| {
                    self.entry(&LogSource {
                        service: None,
                        ..rule.clone()
                    })
                })
                .flatten()
        });
        match entry {
            Some(e) => Ok(Resolved {
                targets: &e.targets,
                by_logsource: !windows,
            }),
            None if !windows || (rule.category.is_none() && rule.service.is_none()) => {
                Ok(Resolved {
                    targets: &[],
                    by_logsource: true,
                })
            }
            None => Err(rule.to_string()),
        }
    }
}

// ---------------------------------------------------------------- file format (serde side)

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    logsources: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryDoc {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    #[serde(default)]
    replace: bool,
    targets: Vec<TargetDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetDoc {
    name: Option<String>,
    channel: Option<OneOrMany<String>>,
    logsource: Option<LogsourceDoc>,
    event_id: Option<OneOrMany<i64>>,
    #[serde(default, rename = "where")]
    conditions: BTreeMap<String, OneOrMany<serde_json::Value>>,
    #[serde(default)]
    rename: BTreeMap<String, String>,
}

/// An event logsource as a logsource target names it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsourceDoc {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    // `Many` first: an untagged `serde_json::Value` would also accept a whole list.
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

impl EntryDoc {
    fn build(self) -> Result<MappingEntry, String> {
        let lower = |s: Option<String>| s.map(|s| s.to_ascii_lowercase());
        let logsource = LogSource {
            product: lower(self.product),
            category: lower(self.category),
            service: lower(self.service),
        };
        if logsource.category.is_none() && logsource.service.is_none() {
            return Err("an entry needs a category or a service".into());
        }
        let targets = self
            .targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| t.build(&logsource, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MappingEntry {
            logsource,
            replace: self.replace,
            targets,
        })
    }
}

impl TargetDoc {
    fn build(self, logsource: &LogSource, index: usize) -> Result<Target, String> {
        let lower = |s: Option<String>| s.map(|s| s.to_ascii_lowercase());
        let (channels, event_logsource) = match (self.channel, self.logsource) {
            (Some(c), None) => (c.into_vec(), None),
            (None, Some(l)) => {
                let ls = LogSource {
                    product: lower(l.product),
                    category: lower(l.category),
                    service: lower(l.service),
                };
                if ls == LogSource::default() {
                    return Err(format!("target {index}: an empty `logsource`"));
                }
                if ls == *logsource {
                    // Events of the rule's own logsource already reach it.
                    return Err(format!(
                        "target {index}: `logsource` is the entry's own ({ls})"
                    ));
                }
                (Vec::new(), Some(ls))
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "target {index}: `channel` and `logsource` are exclusive"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "target {index}: needs a `channel` or a `logsource`"
                ));
            }
        };
        if channels.is_empty() && event_logsource.is_none() {
            return Err(format!("target {index}: no channel"));
        }
        let conditions = self
            .conditions
            .into_iter()
            .map(|(field, values)| {
                let values = values
                    .into_vec()
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => Ok(s.to_lowercase()),
                        serde_json::Value::Number(n) => Ok(n.to_string()),
                        serde_json::Value::Bool(b) => Ok(b.to_string()),
                        other => Err(format!(
                            "target {index}: `where.{field}`: {other} is not a scalar"
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(FieldCondition {
                    field: Symbol::intern(&field),
                    values,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Target {
            name: self.name.unwrap_or_else(|| format!("{logsource} #{index}")),
            event_logsource,
            channels_lower: channels.iter().map(|c| c.to_lowercase()).collect(),
            channels,
            event_ids: self.event_id.map(OneOrMany::into_vec).unwrap_or_default(),
            conditions,
            renames: self
                .rename
                .iter()
                .map(|(from, to)| (Symbol::intern(from), Symbol::intern(to)))
                .collect(),
        })
    }
}

// ---------------------------------------------------------------- YAML → JSON tree

/// Reads the first YAML document into a JSON tree (plain scalars resolved per YAML 1.2's core
/// schema), so the mapping can be deserialized with serde. Anchors/aliases are not supported:
/// the mapping format has no use for them.
fn yaml_to_json(text: &str) -> Result<serde_json::Value, String> {
    let mut parser = Parser::new_from_str(text);
    let mut next = || -> Result<(YamlEvent<'_>, usize), String> {
        match parser.next_event() {
            Some(Ok((ev, span))) => Ok((ev, span.start.line())),
            Some(Err(e)) => Err(format!("YAML: {e}")),
            None => Err("YAML: unexpected end of input".into()),
        }
    };
    // StreamStart, DocumentStart (or StreamEnd for an empty file).
    loop {
        match next()?.0 {
            YamlEvent::StreamStart => {}
            YamlEvent::DocumentStart(_) => break,
            YamlEvent::StreamEnd => return Ok(serde_json::Value::Null),
            other => return Err(format!("YAML: unexpected {other:?}")),
        }
    }
    fn node<'a>(
        first: (YamlEvent<'a>, usize),
        next: &mut dyn FnMut() -> Result<(YamlEvent<'a>, usize), String>,
    ) -> Result<serde_json::Value, String> {
        let (ev, line) = first;
        Ok(match ev {
            YamlEvent::Scalar(s, style, _, _) => scalar(&s, style),
            YamlEvent::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let ev = next()?;
                    if matches!(ev.0, YamlEvent::SequenceEnd) {
                        break;
                    }
                    items.push(node(ev, next)?);
                }
                serde_json::Value::Array(items)
            }
            YamlEvent::MappingStart(..) => {
                let mut map = serde_json::Map::new();
                loop {
                    let ev = next()?;
                    if matches!(ev.0, YamlEvent::MappingEnd) {
                        break;
                    }
                    let key_line = ev.1;
                    let key = match node(ev, next)? {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    let value = node(next()?, next)?;
                    if map.insert(key.clone(), value).is_some() {
                        return Err(format!("line {key_line}: duplicate key `{key}`"));
                    }
                }
                serde_json::Value::Object(map)
            }
            YamlEvent::Alias(_) => return Err(format!("line {line}: aliases are not supported")),
            other => return Err(format!("line {line}: unexpected YAML {other:?}")),
        })
    }
    let first = next()?;
    node(first, &mut next)
}

fn scalar(s: &str, style: ScalarStyle) -> serde_json::Value {
    if style != ScalarStyle::Plain {
        return serde_json::Value::String(s.to_string());
    }
    match s {
        "" | "~" | "null" | "Null" | "NULL" => serde_json::Value::Null,
        "true" | "True" | "TRUE" => serde_json::Value::Bool(true),
        "false" | "False" | "FALSE" => serde_json::Value::Bool(false),
        _ => match s.parse::<i64>() {
            Ok(i) => serde_json::Value::from(i),
            Err(_) => serde_json::Value::String(s.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows_event(channel: &str, id: i64) -> Event {
        let mut e = Event::default();
        e.insert("Channel", Value::str(channel));
        e.insert("EventID", Value::Int(id));
        e
    }

    #[test]
    fn builtin_parses_and_resolves() {
        let m = LogsourceMapping::builtin();
        let pc = m
            .resolve(&LogSource::product("windows").with_category("process_creation"))
            .unwrap();
        assert_eq!(pc.targets.len(), 2);
        assert!(!pc.by_logsource);
        let sec = &pc.targets[1];
        assert_eq!(
            sec.rename(Symbol::intern("Image")),
            Symbol::intern("NewProcessName")
        );
        assert_eq!(
            sec.rename(Symbol::intern("CommandLine")),
            Symbol::intern("CommandLine")
        );
        assert!(sec.accepts(&windows_event("security", 4688)));
        assert!(!sec.accepts(&windows_event("Security", 4689)));
        assert!(pc.targets[0].accepts(&windows_event("Microsoft-Windows-Sysmon/Operational", 1)));
    }

    #[test]
    fn unmapped_and_logsource_routes() {
        let m = LogsourceMapping::builtin();
        let err = m
            .resolve(&LogSource::product("windows").with_category("no_such_thing"))
            .unwrap_err();
        assert_eq!(err, "product: windows, category: no_such_thing");
        let aws = m
            .resolve(&LogSource::product("aws").with_service("cloudtrail"))
            .unwrap();
        assert!(aws.by_logsource && aws.targets.is_empty());
        let av = m
            .resolve(&LogSource::default().with_category("antivirus"))
            .unwrap();
        assert!(av.by_logsource && av.targets.len() == 1);
        let win = m.resolve(&LogSource::product("windows")).unwrap();
        assert!(win.by_logsource);
    }

    #[test]
    fn registry_set_needs_set_value() {
        let m = LogsourceMapping::builtin();
        let t = &m
            .resolve(&LogSource::product("windows").with_category("registry_set"))
            .unwrap()
            .targets[0];
        let mut e = windows_event("Microsoft-Windows-Sysmon/Operational", 13);
        assert!(!t.accepts(&e));
        e.insert("EventType", Value::str("SetValue"));
        assert!(t.accepts(&e));
    }

    #[test]
    fn user_files_extend_or_replace() {
        let mut m = LogsourceMapping::builtin();
        let user = LogsourceMapping::from_yaml(
            "logsources:\n  - product: windows\n    category: process_creation\n    targets:\n      - { name: edr, channel: MyEDR, event_id: 7 }\n  - product: windows\n    category: my_cat\n    targets:\n      - channel: Custom/Log\n",
            "user.yml",
        )
        .unwrap();
        m.extend(user);
        let pc = m
            .resolve(&LogSource::product("windows").with_category("process_creation"))
            .unwrap();
        assert_eq!(pc.targets.len(), 3);
        assert!(
            m.resolve(&LogSource::product("windows").with_category("my_cat"))
                .is_ok()
        );
        let replace = LogsourceMapping::from_yaml(
            "logsources:\n  - product: windows\n    category: process_creation\n    replace: true\n    targets: [{ channel: Only }]\n",
            "user.yml",
        )
        .unwrap();
        m.extend(replace);
        let pc = m
            .resolve(&LogSource::product("windows").with_category("process_creation"))
            .unwrap();
        assert_eq!(pc.targets.len(), 1);
    }

    #[test]
    fn logsource_targets_rename_for_network_events() {
        let m = LogsourceMapping::builtin();
        let proxy = m
            .resolve(&LogSource::default().with_category("proxy"))
            .unwrap();
        assert!(proxy.by_logsource);
        let names: Vec<&str> = proxy.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["zeek-http", "suricata-http"]);
        let zeek = &proxy.targets[0];
        assert_eq!(zeek.rename(Symbol::intern("c-uri")), Symbol::intern("uri"));
        let mut e = Event::default();
        e.logsource = LogSource::product("zeek").with_service("http");
        assert!(zeek.accepts(&e));
        assert!(!proxy.targets[1].accepts(&e));
        e.logsource = LogSource::product("zeek").with_service("dns");
        assert!(!zeek.accepts(&e));
        for category in ["webserver", "dns", "firewall"] {
            let r = m
                .resolve(&LogSource::default().with_category(category))
                .unwrap();
            assert_eq!(r.targets.len(), 2, "{category}");
            assert!(r.targets.iter().all(|t| t.event_logsource.is_some()));
        }
    }

    #[test]
    fn logsource_target_errors() {
        for (yaml, want) in [
            (
                "logsources:\n  - category: proxy\n    targets: [{ channel: A, logsource: { product: zeek } }]\n",
                "exclusive",
            ),
            (
                "logsources:\n  - category: proxy\n    targets: [{ name: x }]\n",
                "needs a `channel` or a `logsource`",
            ),
            (
                "logsources:\n  - category: proxy\n    targets: [{ logsource: {} }]\n",
                "empty `logsource`",
            ),
            (
                "logsources:\n  - category: proxy\n    targets: [{ logsource: { category: proxy } }]\n",
                "the entry's own",
            ),
        ] {
            let err = LogsourceMapping::from_yaml(yaml, "u.yml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn errors_name_the_entry() {
        let e = LogsourceMapping::from_yaml(
            "logsources:\n  - product: windows\n    category: x\n    targets: [{ chanel: A }]\n",
            "bad.yml",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("bad.yml: logsources[0]"), "{text}");
        assert!(text.contains("chanel"), "{text}");
        assert!(LogsourceMapping::from_yaml("a: [", "bad.yml").is_err());
    }
}
