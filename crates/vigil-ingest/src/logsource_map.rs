//! User-supplied logsource rules for generic JSON, so that a new JSON source gets the Sigma
//! logsource its rules target (`product: myapp`) through configuration, not code.
//!
//! What this is for: records that reach the generic JSON path (sniffed or forced `json`, and
//! the cloud/identity files, which take the same path). A rule names one field and one test
//! (`equals`, `prefix` or `exists`) and the logsource to give a matching record; rules are tried
//! in order and the first match wins. By default a rule only sees records that no built-in
//! recogniser (CloudTrail, Okta, Azure, Auth0) claimed; a rule marked `override = true` is tried
//! before them and wins over them.
//!
//! What it is not for: Windows renderings, Zeek, Suricata, auditd or syslog records (their
//! decoders set the logsource), or renaming fields (Sigma field mappings do that).
//!
//! Rules deserialise (with serde, from the binary's TOML configuration) through a validating
//! `try_from`, so a rule that can never apply is rejected where it is written, with the line.

use serde::{Deserialize, Serialize};
use vigil_core::{Event, LogSource, Symbol, Value};

/// How a record's field is tested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldTest {
    /// The value (or any element of a list), as text, equals this exactly (case-sensitive).
    Equals(String),
    /// The value (or any element of a list), as text, starts with this (case-sensitive).
    Prefix(String),
    /// `true`: the field is present and not null; `false`: it is absent or null.
    Exists(bool),
}

/// One field and its test: when a [`LogsourceRule`] applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPredicate", into = "RawPredicate")]
pub struct Predicate {
    /// The flattened field name (`source`, `app.name`), as the JSON decoder names it.
    pub field: String,
    /// The test on its value.
    pub test: FieldTest,
}

/// A scalar as TOML writes it (`equals = "x"`, `equals = 5`, `equals = true`), compared as text.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Str(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// The written form: `{ field = "source", equals = "myapp" }`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPredicate {
    field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exists: Option<bool>,
}

impl TryFrom<RawPredicate> for Predicate {
    type Error = String;

    fn try_from(raw: RawPredicate) -> Result<Self, String> {
        if raw.field.trim().is_empty() {
            return Err("`when.field` is empty".into());
        }
        let test = match (raw.equals, raw.prefix, raw.exists) {
            (Some(v), None, None) => FieldTest::Equals(v.into_text()),
            (None, Some(p), None) if p.is_empty() => {
                return Err(format!(
                    "`when.prefix` for `{}` is empty (use `exists = true`)",
                    raw.field
                ));
            }
            (None, Some(p), None) => FieldTest::Prefix(p),
            (None, None, Some(e)) => FieldTest::Exists(e),
            (None, None, None) => {
                return Err(format!(
                    "`when` for `{}` needs one of `equals`, `prefix` or `exists`",
                    raw.field
                ));
            }
            _ => {
                return Err(format!(
                    "`when` for `{}` takes only one of `equals`, `prefix` or `exists`",
                    raw.field
                ));
            }
        };
        Ok(Predicate {
            field: raw.field,
            test,
        })
    }
}

impl From<Predicate> for RawPredicate {
    fn from(p: Predicate) -> Self {
        let (mut equals, mut prefix, mut exists) = (None, None, None);
        match p.test {
            FieldTest::Equals(v) => equals = Some(Scalar::Str(v)),
            FieldTest::Prefix(v) => prefix = Some(v),
            FieldTest::Exists(v) => exists = Some(v),
        }
        RawPredicate {
            field: p.field,
            equals,
            prefix,
            exists,
        }
    }
}

impl Predicate {
    /// True when `event` passes the test.
    pub fn matches(&self, event: &Event) -> bool {
        let value = Symbol::lookup(&self.field)
            .and_then(|s| event.get(s))
            .filter(|v| **v != Value::Null);
        match (&self.test, value) {
            (FieldTest::Exists(want), v) => v.is_some() == *want,
            (_, None) => false,
            (test, Some(v)) => any_scalar(v, &|text| match test {
                FieldTest::Equals(want) => text == want,
                FieldTest::Prefix(p) => text.starts_with(p.as_str()),
                FieldTest::Exists(_) => false,
            }),
        }
    }
}

/// True when `test` holds for the text of `value` or of any element of a list.
fn any_scalar(value: &Value, test: &dyn Fn(&str) -> bool) -> bool {
    match value {
        Value::List(items) => items.iter().any(|v| any_scalar(v, test)),
        Value::Str(t) => test(t.as_str()),
        Value::Null => false,
        other => test(&other.to_string()),
    }
}

/// One user rule: records matching `when` get `logsource` (and their time from `time_field`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct LogsourceRule {
    /// When the rule applies.
    pub when: Predicate,
    /// The logsource given (lowercase; at least one part set).
    pub logsource: LogSource,
    /// A field holding the event time (RFC 3339, or epoch seconds as a number), when the
    /// generic names (`@timestamp`, `timestamp`, `time`, `eventTime`) are not it.
    pub time_field: Option<String>,
    /// Tried before the built-in cloud and identity recognisers, and wins over them.
    pub override_builtin: bool,
}

/// The written form of a rule, one `[[ingest.json_logsource]]` table in the configuration.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    when: Predicate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_field: Option<String>,
    #[serde(
        default,
        rename = "override",
        skip_serializing_if = "std::ops::Not::not"
    )]
    override_builtin: bool,
}

impl TryFrom<RawRule> for LogsourceRule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        let part = |name: &str, v: Option<String>| -> Result<Option<String>, String> {
            match v {
                Some(s) if s.trim().is_empty() => Err(format!("`{name}` is empty")),
                Some(s) if s.trim() != s => {
                    Err(format!("`{name}` `{s}` has leading or trailing blanks"))
                }
                other => Ok(other.map(|s| s.to_ascii_lowercase())),
            }
        };
        let logsource = LogSource {
            product: part("product", raw.product)?,
            category: part("category", raw.category)?,
            service: part("service", raw.service)?,
        };
        if logsource == LogSource::default() {
            return Err(format!(
                "the rule for `{}` sets none of `product`, `service`, `category`",
                raw.when.field
            ));
        }
        if raw
            .time_field
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err("`time_field` is empty".into());
        }
        Ok(LogsourceRule {
            when: raw.when,
            logsource,
            time_field: raw.time_field,
            override_builtin: raw.override_builtin,
        })
    }
}

impl From<LogsourceRule> for RawRule {
    fn from(r: LogsourceRule) -> Self {
        RawRule {
            when: r.when,
            product: r.logsource.product,
            service: r.logsource.service,
            category: r.logsource.category,
            time_field: r.time_field,
            override_builtin: r.override_builtin,
        }
    }
}

impl LogsourceRule {
    /// Gives `event` this rule's logsource, and its time from `time_field` when that parses.
    pub fn apply(&self, event: &mut Event) {
        event.logsource = self.logsource.clone();
        let Some(field) = &self.time_field else {
            return;
        };
        let time = match Symbol::lookup(field).and_then(|s| event.get(s)) {
            Some(Value::Str(t)) => crate::decode::windows::parse_time(t.as_str()),
            Some(Value::Int(secs)) => jiff::Timestamp::from_second(*secs).ok(),
            Some(Value::Float(secs)) if secs.is_finite() => {
                jiff::Timestamp::from_microsecond((secs * 1e6).round() as i64).ok()
            }
            _ => None,
        };
        if time.is_some() {
            event.time = time;
        }
    }
}

/// The user's rules, in the order written (first match wins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogsourceMap {
    rules: Vec<LogsourceRule>,
}

impl LogsourceMap {
    /// A map of `rules`, tried in this order.
    pub fn new(rules: Vec<LogsourceRule>) -> Self {
        LogsourceMap { rules }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[LogsourceRule] {
        &self.rules
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule `event` matches; with `overriding`, only rules marked `override`.
    pub fn find(&self, event: &Event, overriding: bool) -> Option<&LogsourceRule> {
        self.rules
            .iter()
            .filter(|r| r.override_builtin || !overriding)
            .find(|r| r.when.matches(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> Result<LogsourceRule, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn event(pairs: &[(&str, Value)]) -> Event {
        let mut e = Event::default();
        for (k, v) in pairs {
            e.insert(k, v.clone());
        }
        e
    }

    #[test]
    fn predicates() {
        let e = event(&[
            ("source", Value::str("myapp")),
            ("code", Value::Int(7)),
            (
                "tags",
                Value::List(vec![Value::str("a"), Value::str("web-1")]),
            ),
            ("gone", Value::Null),
        ]);
        let m = |json: &str| {
            let p: Predicate = serde_json::from_str(json).unwrap();
            p.matches(&e)
        };
        assert!(m(r#"{"field":"source","equals":"myapp"}"#));
        assert!(!m(r#"{"field":"source","equals":"MyApp"}"#));
        assert!(m(r#"{"field":"code","equals":7}"#));
        assert!(m(r#"{"field":"tags","prefix":"web-"}"#));
        assert!(m(r#"{"field":"source","exists":true}"#));
        assert!(m(r#"{"field":"gone","exists":false}"#));
        assert!(!m(r#"{"field":"missing","equals":"x"}"#));
    }

    #[test]
    fn rules_that_cannot_apply_are_rejected() {
        let ok = rule(r#"{"when":{"field":"source","equals":"myapp"},"product":"MyApp"}"#).unwrap();
        assert_eq!(ok.logsource, LogSource::product("myapp"));
        assert!(!ok.override_builtin);
        for (json, reason) in [
            (r#"{"when":{"field":"s","equals":"x"}}"#, "sets none of"),
            (r#"{"when":{"field":"s"},"product":"p"}"#, "needs one of"),
            (
                r#"{"when":{"field":"s","equals":"x","exists":true},"product":"p"}"#,
                "only one of",
            ),
            (
                r#"{"when":{"field":"","exists":true},"product":"p"}"#,
                "empty",
            ),
            (
                r#"{"when":{"field":"s","prefix":""},"product":"p"}"#,
                "empty",
            ),
            (
                r#"{"when":{"field":"s","exists":true},"product":"p","servce":"x"}"#,
                "unknown field",
            ),
        ] {
            let err = rule(json).unwrap_err();
            assert!(err.contains(reason), "{json}: {err}");
        }
    }

    #[test]
    fn first_match_wins_and_override_is_separate() {
        let map: LogsourceMap = serde_json::from_str(
            r#"[{"when":{"field":"a","exists":true},"product":"one","time_field":"t"},
                {"when":{"field":"b","exists":true},"product":"two","override":true}]"#,
        )
        .unwrap();
        let mut e = event(&[
            ("a", Value::Int(1)),
            ("b", Value::Int(1)),
            ("t", Value::Int(1_700_000_000)),
        ]);
        assert_eq!(
            map.find(&e, false).unwrap().logsource.product.as_deref(),
            Some("one")
        );
        let over = map.find(&e, true).unwrap();
        assert_eq!(over.logsource.product.as_deref(), Some("two"));
        map.find(&e, false).unwrap().clone().apply(&mut e);
        assert_eq!(e.time.unwrap().as_second(), 1_700_000_000);
        // Written back, a map reads the same.
        let text = serde_json::to_string(&map).unwrap();
        assert_eq!(serde_json::from_str::<LogsourceMap>(&text).unwrap(), map);
    }
}
