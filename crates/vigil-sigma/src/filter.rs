//! Filter meta-rules (`filter:` documents) and how they are applied to detection rules.
//!
//! Vigil follows pySigma: a filter names its target rules (ids, names or `any`), carries its
//! own selections and condition, and applies only where the rule's logsource satisfies the
//! filter's. The target's condition becomes `(rule condition) and (filter condition)`, with the
//! filter's search identifiers appended under names renamed apart. Filters never touch
//! correlation rules.

use vigil_core::LogSource;

use crate::ast::{Condition, Detection, Location, Rule, Search};
use crate::error::{ParseError, RejectReason};
use crate::parse::detection::{Ctx, parse_detection};
use crate::parse::parse_logsource;
use crate::parse::yaml::{Node, NodeKind};

/// Which rules a filter applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterTargets {
    /// `rules: any` — every rule whose logsource matches.
    Any,
    /// Rule ids or names.
    Rules(Vec<String>),
}

/// A parsed filter rule.
#[derive(Clone, Debug)]
pub struct FilterRule {
    /// The filter's own UUID, when given.
    pub id: Option<String>,
    /// Its handle (also the prefix of its renamed search identifiers).
    pub name: Option<String>,
    pub title: String,
    /// The rules it applies to.
    pub targets: FilterTargets,
    /// A target rule's logsource must satisfy this one.
    pub logsource: LogSource,
    /// The filter's selections and condition.
    pub detection: Detection,
    /// Where the document starts.
    pub location: Location,
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError::new(
        line,
        RejectReason::Filter {
            message: message.into(),
        },
    )
}

impl FilterRule {
    /// Parses a document holding a `filter:` block.
    pub fn parse(doc: &Node, location: Location, ctx: &mut Ctx) -> Result<FilterRule, ParseError> {
        let f = doc.get("filter").expect("caller checked");
        if f.as_map().is_none() {
            return Err(err(f.line, "`filter` must be a map"));
        }
        let title = doc
            .get("title")
            .and_then(Node::as_str)
            .ok_or_else(|| err(doc.line, "missing `title`"))?
            .to_string();
        let rules_node = f
            .get("rules")
            .ok_or_else(|| err(f.line, "missing `rules`"))?;
        let targets = match &rules_node.kind {
            NodeKind::Scalar { text, .. } if text.eq_ignore_ascii_case("any") => FilterTargets::Any,
            NodeKind::Scalar { text, .. } => FilterTargets::Rules(vec![text.clone()]),
            NodeKind::Seq(items) => FilterTargets::Rules(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
            ),
            NodeKind::Map(_) => {
                return Err(err(rules_node.line, "`rules` must be ids, names or `any`"));
            }
        };
        let logsource = match doc.get("logsource") {
            Some(n) => parse_logsource(n)?,
            None => return Err(err(doc.line, "missing `logsource`")),
        };
        let detection = parse_detection(f, ctx, &["rules"])?;
        Ok(FilterRule {
            id: doc.get("id").and_then(Node::as_str).map(str::to_string),
            name: doc.get("name").and_then(Node::as_str).map(str::to_string),
            title,
            targets,
            logsource,
            detection,
            location,
        })
    }

    /// True when this filter targets `rule` (by id, name or `any`) and the rule's logsource
    /// satisfies the filter's.
    pub fn applies_to(&self, rule: &Rule) -> bool {
        let named = match &self.targets {
            FilterTargets::Any => true,
            FilterTargets::Rules(names) => names.iter().any(|n| {
                rule.id.as_deref() == Some(n.as_str()) || rule.name.as_deref() == Some(n.as_str())
            }),
        };
        named && rule.logsource.satisfies(&self.logsource)
    }

    /// Adds this filter to `rule`: its searches appended (renamed `<filter>:<name>`) and the
    /// condition AND'ed.
    pub fn apply(&self, rule: &mut Rule) {
        let det = &mut rule.detection;
        let offset = det.searches.len();
        let prefix = self
            .name
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or(&self.title);
        for s in &self.detection.searches {
            let mut name = format!("{prefix}:{}", s.name);
            while det.searches.iter().any(|x| x.name == name) {
                name.push('\'');
            }
            det.searches.push(Search {
                name,
                body: s.body.clone(),
            });
        }
        let filter_cond = shift(&self.detection.condition, offset);
        let rule_cond = std::mem::replace(&mut det.condition, Condition::Or(Vec::new()));
        det.condition = Condition::And(vec![rule_cond, filter_cond]);
    }
}

fn shift(c: &Condition, by: usize) -> Condition {
    match c {
        Condition::Search(i) => Condition::Search(i + by),
        Condition::And(v) => Condition::And(v.iter().map(|c| shift(c, by)).collect()),
        Condition::Or(v) => Condition::Or(v.iter().map(|c| shift(c, by)).collect()),
        Condition::Not(c) => Condition::Not(Box::new(shift(c, by))),
    }
}
