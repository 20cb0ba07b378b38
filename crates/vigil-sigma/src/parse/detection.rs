//! The `detection` block (and a filter's selections): search identifiers, field tests with
//! their modifiers, keyword lists, and the condition.

use std::collections::HashMap;
use std::sync::Arc;

use vigil_core::Symbol;

use super::condition::parse_condition;
use super::yaml::{Node, NodeKind, Scalar};
use crate::ast::{Condition, Detection, FieldTest, Keywords, Location, Search, SearchBody};
use crate::error::{ParseError, RejectReason};
use crate::matcher::{Matcher, StrKind};
use crate::modifiers::{Modifiers, RuleValue};

/// Context shared while parsing one document.
pub struct Ctx<'a> {
    pub file: Arc<str>,
    pub placeholders: &'a HashMap<String, Vec<String>>,
    /// Non-fatal findings (unused identifiers, ignored keys), with their line.
    pub warnings: Vec<(usize, String)>,
}

impl Ctx<'_> {
    fn location(&self, line: usize) -> Location {
        Location {
            file: self.file.clone(),
            line,
        }
    }
}

/// Parses a detection map. `skip` lists keys that are not search identifiers besides
/// `condition` (a filter's `rules`).
pub fn parse_detection(node: &Node, ctx: &mut Ctx, skip: &[&str]) -> Result<Detection, ParseError> {
    let Some(entries) = node.as_map() else {
        return Err(ParseError::new(
            node.line,
            RejectReason::InvalidKey {
                key: "detection".into(),
                message: format!("expected a map, found {}", node.type_name()),
            },
        ));
    };
    let mut searches = Vec::new();
    let mut condition = None;
    for (k, v) in entries {
        let name = k.as_str().unwrap_or_default();
        if name == "condition" {
            condition = Some(v);
        } else if name == "timeframe" {
            ctx.warnings.push((
                k.line,
                "`timeframe` (legacy aggregation) is ignored; use a correlation rule".into(),
            ));
        } else if skip.contains(&name) {
        } else {
            if searches.iter().any(|s: &Search| s.name == name) {
                ctx.warnings.push((
                    k.line,
                    format!("search identifier `{name}` is repeated; the last one is used"),
                ));
                searches.retain(|s: &Search| s.name != name);
            }
            searches.push(Search {
                name: name.to_string(),
                body: parse_search(name, v, ctx)?,
            });
        }
    }
    let Some(cond_node) = condition else {
        return Err(ParseError::new(
            node.line,
            RejectReason::InvalidKey {
                key: "detection.condition".into(),
                message: "missing".into(),
            },
        ));
    };
    let names: Vec<&str> = searches.iter().map(|s| s.name.as_str()).collect();
    let texts: Vec<(&str, usize)> = match &cond_node.kind {
        NodeKind::Scalar { text, .. } => vec![(text.as_str(), cond_node.line)],
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| (i.as_str().unwrap_or_default(), i.line))
            .collect(),
        NodeKind::Map(_) => {
            return Err(ParseError::new(
                cond_node.line,
                RejectReason::Condition {
                    condition: String::new(),
                    message: "expected a string or a list of strings, found a map (aggregations \
                              belong in correlation rules)"
                        .into(),
                },
            ));
        }
    };
    let mut conds = Vec::new();
    for (text, line) in texts {
        let c = parse_condition(text, &names).map_err(|message| {
            ParseError::new(
                line,
                RejectReason::Condition {
                    condition: text.to_string(),
                    message,
                },
            )
        })?;
        conds.push(c);
    }
    let condition = if conds.len() == 1 {
        conds.pop().expect("one condition")
    } else {
        Condition::Or(conds)
    };
    let mut used = vec![false; searches.len()];
    mark_used(&condition, &mut used);
    for (s, u) in searches.iter().zip(used) {
        if !u {
            ctx.warnings.push((
                node.line,
                format!(
                    "search identifier `{}` is not used by the condition",
                    s.name
                ),
            ));
        }
    }
    Ok(Detection {
        searches,
        condition,
    })
}

fn mark_used(c: &Condition, used: &mut [bool]) {
    match c {
        Condition::Search(i) => used[*i] = true,
        Condition::And(v) | Condition::Or(v) => v.iter().for_each(|c| mark_used(c, used)),
        Condition::Not(c) => mark_used(c, used),
    }
}

fn cannot_fire(line: usize, message: String) -> ParseError {
    ParseError::new(line, RejectReason::CannotFire { message })
}

fn parse_search(name: &str, node: &Node, ctx: &mut Ctx) -> Result<SearchBody, ParseError> {
    match &node.kind {
        NodeKind::Map(entries) => {
            if entries.is_empty() {
                return Err(cannot_fire(node.line, format!("search `{name}` is empty")));
            }
            if let [(k, v)] = entries.as_slice()
                && k.as_str().is_some_and(|s| s.starts_with('|'))
            {
                return parse_keywords(name, k, v, ctx).map(SearchBody::Keywords);
            }
            Ok(SearchBody::Fields(vec![parse_group(entries, ctx)?]))
        }
        NodeKind::Seq(items) => {
            if items.is_empty() {
                return Err(cannot_fire(
                    node.line,
                    format!("search `{name}` is an empty list"),
                ));
            }
            if items.iter().all(|i| i.as_map().is_some()) {
                let mut groups = Vec::new();
                for i in items {
                    let entries = i.as_map().expect("checked");
                    if entries.is_empty() {
                        return Err(cannot_fire(
                            i.line,
                            format!("search `{name}` has an empty map"),
                        ));
                    }
                    groups.push(parse_group(entries, ctx)?);
                }
                Ok(SearchBody::Fields(groups))
            } else if items
                .iter()
                .all(|i| matches!(i.kind, NodeKind::Scalar { .. }))
            {
                let key = Node {
                    line: node.line,
                    kind: NodeKind::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                };
                parse_keywords(name, &key, node, ctx).map(SearchBody::Keywords)
            } else {
                Err(ParseError::new(
                    node.line,
                    RejectReason::InvalidValue {
                        field: name.to_string(),
                        message: "a search list mixes maps and plain values".into(),
                    },
                ))
            }
        }
        NodeKind::Scalar { .. } if !node.is_null() => {
            let key = Node {
                line: node.line,
                kind: NodeKind::Scalar {
                    text: String::new(),
                    plain: true,
                },
            };
            parse_keywords(name, &key, node, ctx).map(SearchBody::Keywords)
        }
        NodeKind::Scalar { .. } => Err(cannot_fire(node.line, format!("search `{name}` is null"))),
    }
}

/// A keyword list: values matched (as `contains`) against every value of the event.
fn parse_keywords(
    name: &str,
    key: &Node,
    values: &Node,
    ctx: &mut Ctx,
) -> Result<Keywords, ParseError> {
    let written = key.as_str().unwrap_or_default();
    let names: Vec<&str> = written.split('|').skip(1).collect();
    let mut mods = Modifiers::parse(written, &names).map_err(|r| ParseError::new(key.line, r))?;
    if mods.kind.is_none() && !mods.re && !mods.cidr && mods.num.is_none() && !mods.exists {
        mods.kind = Some(StrKind::Contains);
    }
    let (matchers, raw) = parse_values(name, written, &mods, values, ctx)?;
    Ok(Keywords {
        values: matchers,
        all: mods.all,
        raw,
    })
}

/// One map of `field|mods: value(s)` pairs (AND).
fn parse_group(entries: &[(Node, Node)], ctx: &mut Ctx) -> Result<Vec<FieldTest>, ParseError> {
    let mut tests = Vec::new();
    for (k, v) in entries {
        let written = k.as_str().unwrap_or_default();
        let mut parts = written.split('|');
        let field = parts.next().unwrap_or_default();
        let names: Vec<&str> = parts.collect();
        if field.is_empty() {
            return Err(ParseError::new(
                k.line,
                RejectReason::InvalidKey {
                    key: written.to_string(),
                    message: "a field test needs a field name (keyword lists use `'|all':` alone)"
                        .into(),
                },
            ));
        }
        let mods = Modifiers::parse(written, &names).map_err(|r| ParseError::new(k.line, r))?;
        let (values, raw) = parse_values(field, written, &mods, v, ctx)?;
        tests.push(FieldTest {
            field: Symbol::intern(field),
            values,
            raw,
            all: mods.all,
            negate: mods.neq,
            written: written.to_string(),
            location: ctx.location(k.line),
            value_set: Default::default(),
        });
    }
    check_satisfiable(&tests)?;
    Ok(tests)
}

/// Builds the matchers of one key's value or value list.
fn parse_values(
    field: &str,
    written: &str,
    mods: &Modifiers,
    node: &Node,
    ctx: &mut Ctx,
) -> Result<(Vec<Matcher>, Vec<String>), ParseError> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Scalar { .. } => vec![node],
        NodeKind::Map(_) => {
            return Err(ParseError::new(
                node.line,
                RejectReason::InvalidValue {
                    field: field.to_string(),
                    message: "expected a value or a list of values, found a map".into(),
                },
            ));
        }
    };
    if items.is_empty() {
        return Err(cannot_fire(
            node.line,
            format!("`{written}` has an empty value list"),
        ));
    }
    if mods.all && items.len() == 1 {
        return Err(ParseError::new(
            node.line,
            RejectReason::InvalidModifiers {
                key: written.to_string(),
                message: "`all` needs a list of values (the specification forbids it on one value)"
                    .into(),
            },
        ));
    }
    let mut matchers = Vec::with_capacity(items.len());
    let mut raw = Vec::with_capacity(items.len());
    for item in items {
        let value = match item.scalar() {
            Some(Scalar::Null) => RuleValue::Null,
            Some(Scalar::Bool(b)) => RuleValue::Bool(b),
            Some(Scalar::Int(_) | Scalar::Float(_)) => {
                RuleValue::Number(item.as_str().unwrap_or_default().to_string())
            }
            Some(Scalar::Str(s)) => RuleValue::Str(s.to_string()),
            None => {
                return Err(ParseError::new(
                    item.line,
                    RejectReason::InvalidValue {
                        field: field.to_string(),
                        message: format!("expected a scalar value, found {}", item.type_name()),
                    },
                ));
            }
        };
        let m = mods
            .build(field, &value, ctx.placeholders)
            .map_err(|r| ParseError::new(item.line, r))?;
        raw.push(item.as_str().unwrap_or_default().to_string());
        matchers.push(m);
    }
    Ok((matchers, raw))
}

/// Rejects an AND group that demands a field be both absent and present.
fn check_satisfiable(tests: &[FieldTest]) -> Result<(), ParseError> {
    let only_absent = |t: &FieldTest| {
        !t.negate
            && t.values
                .iter()
                .all(|m| matches!(m, Matcher::Null | Matcher::Exists(false)))
    };
    let needs_present = |t: &FieldTest| {
        !t.negate
            && t.values
                .iter()
                .all(|m| !m.accepts_absent() && !matches!(m, Matcher::Null | Matcher::Exists(_)))
    };
    for a in tests.iter().filter(|t| only_absent(t)) {
        if let Some(b) = tests
            .iter()
            .find(|b| b.field == a.field && needs_present(b))
        {
            return Err(cannot_fire(
                b.location.line,
                format!(
                    "`{}` requires `{}` to be absent or null while `{}` requires a value",
                    a.written, a.field, b.written
                ),
            ));
        }
    }
    Ok(())
}
