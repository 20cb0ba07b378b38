//! A small YAML tree with line numbers, built from `saphyr-parser` events.
//!
//! Why not a generic YAML value type: Sigma needs the line of every key and value for its
//! errors, the scalar as written (`'4688'` is a string, `4688` a number, `0010` stays as
//! written), and tolerance for the duplicate keys some rules contain (the last one wins, with
//! a warning, as in PyYAML).

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::error::{ParseError, RejectReason};

/// A YAML node with the 1-based line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub kind: NodeKind,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar as written; `plain` is false for quoted and block scalars (always strings).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Keys in document order.
    Map(Vec<(Node, Node)>),
}

/// A resolved scalar (YAML 1.2 core schema on plain scalars).
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(&'a str),
    Str(&'a str),
}

impl Node {
    /// The mapping entries, if this is a map.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value of `key` in a map (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The scalar resolved per the core schema (quoted scalars are always strings).
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let NodeKind::Scalar { text, plain } = &self.kind else {
            return None;
        };
        if !plain {
            return Some(Scalar::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            t if is_int(t) => match t.parse::<i64>() {
                Ok(i) => Scalar::Int(i),
                Err(_) => Scalar::Str(t),
            },
            t if is_float(t) => Scalar::Float(t),
            t => Scalar::Str(t),
        })
    }

    /// True for a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Scalar::Null))
    }

    /// A short description of the node's type for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    /// The node as JSON (for custom keys).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            NodeKind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) | None => serde_json::Value::Null,
                Some(Scalar::Bool(b)) => b.into(),
                Some(Scalar::Int(i)) => i.into(),
                Some(Scalar::Float(f)) => f
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .unwrap_or_else(|| f.into()),
                Some(Scalar::Str(s)) => s.into(),
            },
            NodeKind::Seq(items) => items.iter().map(Node::to_json).collect(),
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

fn is_int(t: &str) -> bool {
    let d = t.strip_prefix(['-', '+']).unwrap_or(t);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn is_float(t: &str) -> bool {
    let d = t.strip_prefix(['-', '+']).unwrap_or(t);
    d.bytes().any(|b| b.is_ascii_digit())
        && d.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && d.parse::<f64>().is_ok()
}

/// One document of a YAML stream, or the error that stopped the stream.
pub type Documents = (Vec<Node>, Option<ParseError>);

/// Parses every document of `src`. Documents before a syntax error are kept; the error (with
/// its line) is returned beside them, since YAML cannot resume after one.
pub fn parse_documents(src: &str) -> Documents {
    let mut builder = Builder::default();
    for item in Parser::new_from_str(src) {
        match item {
            Ok((ev, span)) => builder.event(ev, span),
            Err(e) => {
                let err = ParseError::new(
                    e.marker().line(),
                    RejectReason::Yaml {
                        message: e.info().to_string(),
                    },
                );
                return (builder.docs, Some(err));
            }
        }
    }
    (builder.docs, None)
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Node>,
    /// For maps on the stack: a key waiting for its value.
    keys: Vec<Option<Node>>,
    anchors: Vec<(usize, Node)>,
    /// Anchor ids of the containers on the stack (0 = none).
    anchor_ids: Vec<usize>,
}

impl Builder {
    fn event(&mut self, ev: Event<'_>, span: Span) {
        let line = span.start.line();
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    line,
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                };
                if anchor > 0 {
                    self.anchors.push((anchor, node.clone()));
                }
                self.insert(node);
            }
            Event::SequenceStart(anchor, _) => self.open(line, NodeKind::Seq(Vec::new()), anchor),
            Event::MappingStart(anchor, _) => self.open(line, NodeKind::Map(Vec::new()), anchor),
            Event::SequenceEnd | Event::MappingEnd => {
                if let (Some(node), Some(anchor)) = (self.stack.pop(), self.anchor_ids.pop()) {
                    self.keys.pop();
                    if anchor > 0 {
                        self.anchors.push((anchor, node.clone()));
                    }
                    self.insert(node);
                }
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| Node {
                        line,
                        kind: n.kind.clone(),
                    })
                    .unwrap_or(Node {
                        line,
                        kind: NodeKind::Scalar {
                            text: String::new(),
                            plain: true,
                        },
                    });
                self.insert(node);
            }
            Event::DocumentStart(_) => self.anchors.clear(),
            _ => {}
        }
    }

    fn open(&mut self, line: usize, kind: NodeKind, anchor: usize) {
        self.stack.push(Node { line, kind });
        self.keys.push(None);
        self.anchor_ids.push(anchor);
    }

    fn insert(&mut self, node: Node) {
        let Some(parent) = self.stack.last_mut() else {
            self.docs.push(node);
            return;
        };
        match &mut parent.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => {
                let slot = self.keys.last_mut().expect("a key slot per open map");
                match slot.take() {
                    None => *slot = Some(node),
                    Some(key) => entries.push((key, node)),
                }
            }
            NodeKind::Scalar { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_styles_and_documents() {
        let (docs, err) = parse_documents("a: 1\nb:\n  - 'x'\n  - y\n---\nc: null\n");
        assert!(err.is_none());
        assert_eq!(docs.len(), 2);
        let a = docs[0].get("a").unwrap();
        assert_eq!(a.scalar(), Some(Scalar::Int(1)));
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.line, 3);
        let NodeKind::Seq(items) = &b.kind else {
            panic!()
        };
        assert_eq!(items[0].scalar(), Some(Scalar::Str("x")));
        assert_eq!(items[1].line, 4);
        assert!(docs[1].get("c").unwrap().is_null());
        assert_eq!(
            Node {
                line: 1,
                kind: NodeKind::Scalar {
                    text: "'4688'".into(),
                    plain: true
                }
            }
            .scalar(),
            Some(Scalar::Str("'4688'"))
        );
    }

    #[test]
    fn syntax_error_has_a_line() {
        let (_, err) = parse_documents("a: 1\nb: [unclosed\nc: 2\n");
        let err = err.unwrap();
        assert!(err.line >= 2, "{err}");
        assert_eq!(err.reason.kind(), "yaml");
    }

    #[test]
    fn anchors_and_duplicates() {
        let (docs, _) = parse_documents("a: &x [1, 2]\nb: *x\nb: 3\n");
        assert_eq!(docs[0].get("b").unwrap().scalar(), Some(Scalar::Int(3)));
        assert_eq!(docs[0].as_map().unwrap().len(), 3);
    }
}
