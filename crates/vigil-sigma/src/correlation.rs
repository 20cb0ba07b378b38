//! Correlation rules (`correlation:` documents): their typed form and parsing.
//!
//! What it is for: reading event_count, value_count, temporal, temporal_ordered, value_sum,
//! value_avg and value_percentile rules into [`CorrelationRule`] so they are validated and
//! counted. What it is not for: evaluating them (windowed state belongs to the engine; until it
//! exists the load report counts them as "correlation: not yet evaluated").

use std::collections::BTreeMap;

use vigil_core::Level;

use crate::ast::Location;
use crate::error::{ParseError, RejectReason};
use crate::parse::yaml::{Node, NodeKind, Scalar};

/// The correlation `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorrelationType {
    /// Events per group.
    EventCount,
    /// Distinct values of `field` per group.
    ValueCount,
    /// All referenced rules fire within the timespan for the same group.
    Temporal,
    /// Like `Temporal`, in the listed order.
    TemporalOrdered,
    /// Sum of `field` per group.
    ValueSum,
    /// Average of `field` per group.
    ValueAvg,
    /// A percentile of `field` per group.
    ValuePercentile,
}

/// One comparison of the correlation `condition` (all are AND'd).
#[derive(Clone, Debug, PartialEq)]
pub struct CountCondition {
    /// `gt`, `gte`, `lt`, `lte`, `eq` or `neq`.
    pub op: String,
    pub value: f64,
}

/// A parsed correlation rule.
#[derive(Clone, Debug)]
pub struct CorrelationRule {
    /// The correlation's own UUID, when given.
    pub id: Option<String>,
    /// Its handle, so other correlations can reference it.
    pub name: Option<String>,
    pub title: String,
    pub level: Option<Level>,
    /// `correlation.type`.
    pub kind: CorrelationType,
    /// Referenced rules (ids or names; may be other correlations).
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    /// The sliding window, in seconds.
    pub timespan_secs: u64,
    pub conditions: Vec<CountCondition>,
    /// `field` for value_* types.
    pub field: Option<String>,
    /// alias → (rule name → field).
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether referenced rules also emit their own alerts (default false).
    pub generate: bool,
    /// Where the document starts.
    pub location: Location,
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError::new(
        line,
        RejectReason::Correlation {
            message: message.into(),
        },
    )
}

/// `Ns|Nm|Nh|Nd` (also `Nw`, `NM`, `Ny`) in seconds.
pub fn parse_timespan(s: &str) -> Option<u64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'M' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return None,
    };
    Some(n * mult)
}

fn strings(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(NodeKind::Scalar { text, .. }) if !text.is_empty() => vec![text.clone()],
        _ => Vec::new(),
    }
}

impl CorrelationRule {
    /// Parses a document holding a `correlation:` block; `doc` is the whole document.
    pub fn parse(doc: &Node, location: Location) -> Result<CorrelationRule, ParseError> {
        let c = doc.get("correlation").expect("caller checked");
        if c.as_map().is_none() {
            return Err(err(c.line, "`correlation` must be a map"));
        }
        let title = doc
            .get("title")
            .and_then(Node::as_str)
            .ok_or_else(|| err(doc.line, "missing `title`"))?
            .to_string();
        let type_node = c.get("type").ok_or_else(|| err(c.line, "missing `type`"))?;
        let kind = match type_node.as_str().unwrap_or_default() {
            "event_count" => CorrelationType::EventCount,
            "value_count" => CorrelationType::ValueCount,
            "temporal" => CorrelationType::Temporal,
            "temporal_ordered" => CorrelationType::TemporalOrdered,
            "value_sum" => CorrelationType::ValueSum,
            "value_avg" => CorrelationType::ValueAvg,
            "value_percentile" => CorrelationType::ValuePercentile,
            other => return Err(err(type_node.line, format!("unknown type `{other}`"))),
        };
        let rules = strings(c.get("rules"));
        if rules.is_empty() {
            return Err(err(c.line, "`rules` must name at least one rule"));
        }
        let ts_node = c.get("timespan").or_else(|| c.get("timeframe"));
        let timespan_secs = ts_node
            .and_then(Node::as_str)
            .and_then(parse_timespan)
            .ok_or_else(|| {
                err(
                    ts_node.map_or(c.line, |n| n.line),
                    "missing or invalid `timespan` (e.g. 5m, 1h)",
                )
            })?;
        let mut conditions = Vec::new();
        let mut field = None;
        match c.get("condition") {
            Some(n) => {
                let Some(entries) = n.as_map() else {
                    return Err(err(n.line, "`condition` must be a map such as `gte: 10`"));
                };
                for (k, v) in entries {
                    let op = k.as_str().unwrap_or_default();
                    if op == "field" {
                        field = v.as_str().map(str::to_string);
                        continue;
                    }
                    if !matches!(op, "gt" | "gte" | "lt" | "lte" | "eq" | "neq") {
                        return Err(err(k.line, format!("unknown condition operator `{op}`")));
                    }
                    let value = match v.scalar() {
                        Some(Scalar::Int(i)) => i as f64,
                        Some(Scalar::Float(f)) => f.parse().unwrap_or(f64::NAN),
                        _ => return Err(err(v.line, format!("`{op}` needs a number"))),
                    };
                    conditions.push(CountCondition {
                        op: op.to_string(),
                        value,
                    });
                }
            }
            None if matches!(
                kind,
                CorrelationType::Temporal | CorrelationType::TemporalOrdered
            ) => {}
            None => return Err(err(c.line, "missing `condition`")),
        }
        let needs_field = matches!(
            kind,
            CorrelationType::ValueCount
                | CorrelationType::ValueSum
                | CorrelationType::ValueAvg
                | CorrelationType::ValuePercentile
        );
        if needs_field && field.is_none() {
            return Err(err(c.line, "value_* correlations need `condition.field`"));
        }
        let mut aliases = BTreeMap::new();
        if let Some(entries) = c.get("aliases").and_then(Node::as_map) {
            for (alias, map) in entries {
                let mut per_rule = BTreeMap::new();
                for (r, f) in map.as_map().unwrap_or_default() {
                    per_rule.insert(
                        r.as_str().unwrap_or_default().to_string(),
                        f.as_str().unwrap_or_default().to_string(),
                    );
                }
                aliases.insert(alias.as_str().unwrap_or_default().to_string(), per_rule);
            }
        }
        let generate = matches!(
            c.get("generate").and_then(Node::scalar),
            Some(Scalar::Bool(true))
        );
        Ok(CorrelationRule {
            id: doc.get("id").and_then(Node::as_str).map(str::to_string),
            name: doc.get("name").and_then(Node::as_str).map(str::to_string),
            title,
            level: doc
                .get("level")
                .and_then(Node::as_str)
                .and_then(|l| l.parse().ok()),
            kind,
            rules,
            group_by: strings(c.get("group-by")),
            timespan_secs,
            conditions,
            field,
            aliases,
            generate,
            location,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::yaml::parse_documents;

    #[test]
    fn parses_event_count() {
        let (docs, _) = parse_documents(
            "title: many fails\nid: x\ncorrelation:\n  type: event_count\n  rules: [a, b]\n  \
             group-by: [User]\n  timespan: 5m\n  condition:\n    gte: 10\n",
        );
        let c = CorrelationRule::parse(&docs[0], Location::default()).unwrap();
        assert_eq!(c.kind, CorrelationType::EventCount);
        assert_eq!(c.timespan_secs, 300);
        assert_eq!(c.rules, ["a", "b"]);
        assert_eq!(c.group_by, ["User"]);
        assert_eq!(
            c.conditions,
            [CountCondition {
                op: "gte".into(),
                value: 10.0
            }]
        );
        assert!(!c.generate);
    }

    #[test]
    fn rejects_bad_ones() {
        let (docs, _) = parse_documents(
            "title: t\ncorrelation:\n  type: value_count\n  rules: a\n  timespan: 1h\n  condition:\n    gt: 3\n",
        );
        let e = CorrelationRule::parse(&docs[0], Location::default()).unwrap_err();
        assert!(e.to_string().contains("field"), "{e}");
        let (docs, _) = parse_documents("title: t\ncorrelation:\n  type: bogus\n  rules: a\n");
        assert!(CorrelationRule::parse(&docs[0], Location::default()).is_err());
    }
}
