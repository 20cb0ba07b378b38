//! Sigma rule YAML → typed rules, with `file:line` on every error.
//!
//! What it is for: one file's text (possibly several `---` documents) into detection rules,
//! correlation rules and filters, or a reasoned rejection per document. What it is not for:
//! walking directories or applying filters (see `ruleset`).

pub mod condition;
pub mod detection;
pub mod yaml;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use vigil_core::LogSource;

use crate::ast::{Location, Related, Rule, Status};
use crate::correlation::CorrelationRule;
use crate::error::{ParseError, RejectReason};
use crate::filter::FilterRule;
use crate::ruleset::{Rejection, Warning};
use detection::{Ctx, parse_detection};
use yaml::{Node, NodeKind};

/// What one YAML document turned out to be.
#[derive(Clone, Debug)]
pub enum Document {
    Rule(Box<Rule>),
    Correlation(Box<CorrelationRule>),
    Filter(Box<FilterRule>),
}

/// The result of parsing one file.
#[derive(Debug, Default)]
pub struct ParsedFile {
    /// YAML documents seen (a syntax error counts as one more).
    pub documents: usize,
    pub items: Vec<Result<Document, Rejection>>,
    pub warnings: Vec<Warning>,
}

/// Keys of a rule document that the specification defines (everything else is `custom`).
const KNOWN_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "related",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "fields",
    "falsepositives",
    "level",
    "tags",
    "logsource",
    "detection",
    "scope",
];

/// Parses the text of one rule file. `file` names it in locations; `placeholders` resolve
/// `|expand`.
pub fn parse_source(
    src: &str,
    file: &str,
    placeholders: &HashMap<String, Vec<String>>,
) -> ParsedFile {
    let file: Arc<str> = file.into();
    let (docs, syntax_error) = yaml::parse_documents(src);
    let mut out = ParsedFile::default();
    for doc in &resolve_collection(docs) {
        if matches!(&doc.kind, NodeKind::Scalar { text, .. } if text.is_empty()) {
            continue; // an empty document (e.g. a trailing `---`)
        }
        out.documents += 1;
        let mut ctx = Ctx {
            file: file.clone(),
            placeholders,
            warnings: Vec::new(),
        };
        let result = parse_document(doc, &mut ctx).map_err(|e| Rejection {
            location: Location {
                file: file.clone(),
                line: e.line,
            },
            rule_id: doc.get("id").and_then(Node::as_str).map(str::to_string),
            title: doc.get("title").and_then(Node::as_str).map(str::to_string),
            reason: e.reason,
        });
        out.warnings
            .extend(ctx.warnings.into_iter().map(|(line, message)| Warning {
                location: Location {
                    file: file.clone(),
                    line,
                },
                message,
            }));
        out.items.push(result);
    }
    if let Some(e) = syntax_error {
        out.documents += 1;
        out.items.push(Err(Rejection {
            location: Location {
                file: file.clone(),
                line: e.line,
            },
            rule_id: None,
            title: None,
            reason: e.reason,
        }));
    }
    out
}

/// Sigma 1.x rule collections: `action: global` documents are merged into every following
/// document, `action: reset` forgets them, `action: repeat` repeats the previous document with
/// its own keys on top. Plain multi-document files pass through unchanged.
fn resolve_collection(docs: Vec<Node>) -> Vec<Node> {
    let mut global: Option<Node> = None;
    let mut previous: Option<Node> = None;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let action = doc.get("action").and_then(Node::as_str).map(str::to_string);
        let body = without_key(doc, "action");
        match action.as_deref() {
            Some("global") => global = Some(body),
            Some("reset") => global = None,
            Some("repeat") => {
                let merged = match &previous {
                    Some(p) => merge(p, &body),
                    None => body,
                };
                previous = Some(merged.clone());
                out.push(merged);
            }
            _ => {
                let merged = match &global {
                    Some(g) => merge(g, &body),
                    None => body,
                };
                previous = Some(merged.clone());
                out.push(merged);
            }
        }
    }
    out
}

fn without_key(mut node: Node, key: &str) -> Node {
    if let NodeKind::Map(entries) = &mut node.kind {
        entries.retain(|(k, _)| k.as_str() != Some(key));
    }
    node
}

/// `over` on top of `base`: maps merge key by key (recursively), anything else is replaced.
fn merge(base: &Node, over: &Node) -> Node {
    match (&base.kind, &over.kind) {
        (NodeKind::Map(b), NodeKind::Map(o)) => {
            let mut entries = b.clone();
            for (k, v) in o {
                match entries.iter_mut().find(|(bk, _)| bk.as_str() == k.as_str()) {
                    Some((_, bv)) => *bv = merge(bv, v),
                    None => entries.push((k.clone(), v.clone())),
                }
            }
            Node {
                line: over.line,
                kind: NodeKind::Map(entries),
            }
        }
        _ => over.clone(),
    }
}

/// Parses one document: a rule, a correlation or a filter.
pub fn parse_document(doc: &Node, ctx: &mut Ctx) -> Result<Document, ParseError> {
    let location = Location {
        file: ctx.file.clone(),
        line: doc.line,
    };
    if doc.as_map().is_none() {
        return Err(ParseError::new(
            doc.line,
            RejectReason::NotARule {
                reason: format!("the document is {}, not a map", doc.type_name()),
            },
        ));
    }
    if doc.get("correlation").is_some() {
        return CorrelationRule::parse(doc, location).map(|c| Document::Correlation(Box::new(c)));
    }
    if doc.get("filter").is_some() && doc.get("detection").is_none() {
        return FilterRule::parse(doc, location, ctx).map(|f| Document::Filter(Box::new(f)));
    }
    parse_rule(doc, ctx).map(|r| Document::Rule(Box::new(r)))
}

fn invalid_key(line: usize, key: &str, message: impl Into<String>) -> ParseError {
    ParseError::new(
        line,
        RejectReason::InvalidKey {
            key: key.into(),
            message: message.into(),
        },
    )
}

/// Parses a `logsource` map (values lowercased).
pub fn parse_logsource(node: &Node) -> Result<LogSource, ParseError> {
    if node.as_map().is_none() {
        return Err(invalid_key(
            node.line,
            "logsource",
            format!("expected a map, found {}", node.type_name()),
        ));
    }
    let part = |k: &str| {
        node.get(k)
            .and_then(Node::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase)
    };
    Ok(LogSource {
        product: part("product"),
        category: part("category"),
        service: part("service"),
    })
}

/// A string or a list of strings, as a list.
fn string_list(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(NodeKind::Scalar { text, .. }) if !text.is_empty() => vec![text.clone()],
        _ => Vec::new(),
    }
}

/// A scalar or a list joined with ", " (authors are written both ways).
fn text(node: Option<&Node>) -> Option<String> {
    let l = string_list(node);
    (!l.is_empty()).then(|| l.join(", "))
}

fn parse_rule(doc: &Node, ctx: &mut Ctx) -> Result<Rule, ParseError> {
    let Some(det) = doc.get("detection") else {
        return Err(ParseError::new(
            doc.line,
            RejectReason::NotARule {
                reason: "no `detection`, `correlation` or `filter` key".into(),
            },
        ));
    };
    let title = match doc.get("title") {
        Some(t) => t
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid_key(t.line, "title", "must be a non-empty string"))?
            .to_string(),
        None => return Err(invalid_key(doc.line, "title", "missing")),
    };
    let logsource = match doc.get("logsource") {
        Some(n) => parse_logsource(n)?,
        None => return Err(invalid_key(doc.line, "logsource", "missing")),
    };
    let detection = parse_detection(det, ctx, &[])?;
    let mut warn = |line: usize, m: String| ctx.warnings.push((line, m));
    let status = doc.get("status").and_then(|n| {
        let s = n.as_str()?;
        let st = match s.to_ascii_lowercase().as_str() {
            "stable" => Status::Stable,
            "test" => Status::Test,
            "experimental" => Status::Experimental,
            "deprecated" => Status::Deprecated,
            "unsupported" => Status::Unsupported,
            _ => {
                warn(n.line, format!("unknown status `{s}` ignored"));
                return None;
            }
        };
        Some(st)
    });
    let level = doc.get("level").and_then(|n| match n.as_str()?.parse() {
        Ok(l) => Some(l),
        Err(e) => {
            warn(n.line, format!("{e}; level ignored"));
            None
        }
    });
    let related = match doc.get("related").map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items
            .iter()
            .filter_map(|i| {
                Some(Related {
                    id: i.get("id")?.as_str()?.to_string(),
                    kind: i
                        .get("type")
                        .and_then(Node::as_str)
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut custom = BTreeMap::new();
    for (k, v) in doc.as_map().unwrap_or_default() {
        let key = k.as_str().unwrap_or_default();
        if !KNOWN_KEYS.contains(&key) {
            custom.insert(key.to_string(), v.to_json());
        }
    }
    Ok(Rule {
        id: doc.get("id").and_then(Node::as_str).map(str::to_string),
        name: doc.get("name").and_then(Node::as_str).map(str::to_string),
        title,
        status,
        level,
        description: text(doc.get("description")),
        author: text(doc.get("author")),
        references: string_list(doc.get("references")),
        falsepositives: string_list(doc.get("falsepositives")),
        fields: string_list(doc.get("fields")),
        date: doc.get("date").and_then(Node::as_str).map(str::to_string),
        modified: doc
            .get("modified")
            .and_then(Node::as_str)
            .map(str::to_string),
        tags: string_list(doc.get("tags"))
            .into_iter()
            .map(|t| t.to_lowercase())
            .collect(),
        logsource,
        detection,
        license: text(doc.get("license")),
        related,
        scope: string_list(doc.get("scope")),
        custom,
        location: Location {
            file: ctx.file.clone(),
            line: doc.line,
        },
    })
}
