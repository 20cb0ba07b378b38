//! STIX 2.1 patterning: a parser for the whole grammar (observation expressions with AND,
//! OR, FOLLOWEDBY and the WITHIN / REPEATS / START…STOP qualifiers; comparison expressions
//! with AND, OR, NOT, grouping and every comparison operator and literal form), and the
//! conversion of a pattern into the indicator values it is equivalent to.
//!
//! What converts: equality comparisons (`=`, and `IN` as several equalities) on object paths
//! that name an indicator kind, joined by OR inside an observation, and observations joined
//! by OR. An AND inside an observation converts when every term names the same value, or
//! when every term is a hash of the same file (a file is identified by any of its hashes).
//! `network-traffic:src_ref.value` / `dst_ref.value` keep their side as the indicator's
//! [`Scope`]; `email-message:sender_ref` is refused (events carry the From address only).
//! Everything else (observation AND, FOLLOWEDBY, qualifiers, `!=`, `<`, `LIKE`, `MATCHES`,
//! `ISSUBSET`, `EXISTS`, an AND mixing a value with other constraints) would match more than
//! the pattern says, so it is returned as a reason, never dropped or widened silently.

use std::fmt;

use crate::normalise::parse_net;
use crate::{IndicatorKind, Scope};

/// The most conjunctions a pattern may expand to (OR of ANDs) before it is refused.
const MAX_TERMS: usize = 4096;

/// What a pattern turns into: the values it is equivalent to, and why any part of it could
/// not be turned into values.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Conversion {
    pub values: Vec<(IndicatorKind, String, Scope)>,
    pub unsupported: Vec<String>,
}

/// Parses `pattern` and converts it (see the module documentation). A syntax error is the
/// `Err`, with the byte offset.
pub(crate) fn convert(pattern: &str) -> Result<Conversion, String> {
    let obs = parse(pattern)?;
    let mut out = Conversion::default();
    observation_values(&obs, &mut out);
    let mut seen = std::collections::HashSet::new();
    out.values.retain(|v| seen.insert(v.clone()));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Syntax tree

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Observation {
    /// `[ comparison ]`
    Comparison(Comparison),
    Or(Vec<Observation>),
    And(Vec<Observation>),
    FollowedBy(Vec<Observation>),
    Qualified(Box<Observation>, Qualifier),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Qualifier {
    Within(String),
    Repeats(String),
    StartStop(String, String),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Comparison {
    Or(Vec<Comparison>),
    And(Vec<Comparison>),
    Test(Test),
    Exists(ObjectPath),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Test {
    pub path: ObjectPath,
    pub negated: bool,
    pub op: Op,
    pub value: Literal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::Like => "LIKE",
            Op::Matches => "MATCHES",
            Op::IsSubset => "ISSUBSET",
            Op::IsSuperset => "ISSUPERSET",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Int(String),
    Float(String),
    Bool(bool),
    Time(String),
    Hex(String),
    Binary(String),
    Set(Vec<Literal>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ObjectPath {
    pub object_type: String,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Property(String),
    /// `[n]`, or `[*]` as `None`.
    Index(Option<u64>),
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::Property(p) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        f.write_str(p)?;
                    } else {
                        write!(f, "'{p}'")?;
                    }
                }
                Step::Index(Some(n)) => write!(f, "[{n}]")?,
                Step::Index(None) => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Colon,
    Dot,
    Comma,
    Star,
    Op(Op),
    /// An identifier or keyword (`ipv4-addr`, `value`, `AND`, `WITHIN`).
    Word(String),
    Str(String),
    Int(String),
    Float(String),
    /// `t'…'`, `h'…'`, `b'…'`.
    Prefixed(char, String),
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn tokens(src: &'a str) -> Result<Vec<(usize, Tok)>, String> {
        let mut lx = Lexer { src, pos: 0 };
        let mut out = Vec::new();
        while let Some(t) = lx.next()? {
            out.push(t);
        }
        Ok(out)
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn next(&mut self) -> Result<Option<(usize, Tok)>, String> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += self.peek().map_or(0, char::len_utf8);
        }
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let rest = &self.src[self.pos..];
        let two = |s: &str| rest.starts_with(s);
        let (tok, len) = match c {
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ':' => (Tok::Colon, 1),
            '.' => (Tok::Dot, 1),
            ',' => (Tok::Comma, 1),
            '*' => (Tok::Star, 1),
            '=' => (Tok::Op(Op::Eq), 1),
            '!' if two("!=") => (Tok::Op(Op::Ne), 2),
            '<' if two("<=") => (Tok::Op(Op::Le), 2),
            '<' if two("<>") => (Tok::Op(Op::Ne), 2),
            '<' => (Tok::Op(Op::Lt), 1),
            '>' if two(">=") => (Tok::Op(Op::Ge), 2),
            '>' => (Tok::Op(Op::Gt), 1),
            '\'' => {
                self.pos += 1;
                let s = self.string(start)?;
                return Ok(Some((start, Tok::Str(s))));
            }
            't' | 'h' | 'b' if rest[1..].starts_with('\'') => {
                self.pos += 2;
                let s = self.string(start)?;
                return Ok(Some((start, Tok::Prefixed(c, s))));
            }
            '-' | '+' | '0'..='9' => {
                let n = rest
                    .char_indices()
                    .skip(1)
                    .find(|(_, ch)| !(ch.is_ascii_digit() || *ch == '.'))
                    .map_or(rest.len(), |(i, _)| i);
                let text = &rest[..n];
                if text == "-" || text == "+" {
                    return Err(format!("offset {start}: a sign without a number"));
                }
                let tok = if text.contains('.') {
                    Tok::Float(text.to_string())
                } else {
                    Tok::Int(text.to_string())
                };
                (tok, n)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let n = rest
                    .char_indices()
                    .find(|(_, ch)| !(ch.is_ascii_alphanumeric() || *ch == '_' || *ch == '-'))
                    .map_or(rest.len(), |(i, _)| i);
                (Tok::Word(rest[..n].to_string()), n)
            }
            other => return Err(format!("offset {start}: unexpected character `{other}`")),
        };
        self.pos += len;
        Ok(Some((start, tok)))
    }

    /// A quoted string after its opening quote: `\'` and `\\` are the only escapes.
    fn string(&mut self, start: usize) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = self.src[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\'))) => out.push(e),
                    Some((j, e)) => {
                        return Err(format!(
                            "offset {}: invalid escape `\\{e}` in a string",
                            self.pos + j - 1
                        ));
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(format!("offset {start}: unterminated string"))
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end: usize,
}

/// Parses a whole pattern.
pub(crate) fn parse(src: &str) -> Result<Observation, String> {
    let toks = Lexer::tokens(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        end: src.len(),
    };
    if p.toks.is_empty() {
        return Err("empty pattern".into());
    }
    let obs = p.followed_by()?;
    if p.i < p.toks.len() {
        return Err(p.error("end of pattern"));
    }
    Ok(obs)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(o, _)| *o)
    }

    fn error(&self, expected: &str) -> String {
        match self.peek() {
            Some(t) => format!(
                "offset {}: expected {expected}, found {}",
                self.offset(),
                show(t)
            ),
            None => format!(
                "offset {}: expected {expected}, found the end",
                self.offset()
            ),
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), String> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn followed_by(&mut self) -> Result<Observation, String> {
        let mut items = vec![self.obs_or()?];
        while self.eat_word("FOLLOWEDBY") {
            items.push(self.obs_or()?);
        }
        Ok(one_or(items, Observation::FollowedBy))
    }

    fn obs_or(&mut self) -> Result<Observation, String> {
        let mut items = vec![self.obs_and()?];
        while self.eat_word("OR") {
            items.push(self.obs_and()?);
        }
        Ok(one_or(items, Observation::Or))
    }

    fn obs_and(&mut self) -> Result<Observation, String> {
        let mut items = vec![self.obs_qualified()?];
        while self.eat_word("AND") {
            items.push(self.obs_qualified()?);
        }
        Ok(one_or(items, Observation::And))
    }

    fn obs_qualified(&mut self) -> Result<Observation, String> {
        let mut obs = if self.eat(&Tok::LBracket) {
            let c = self.comp_or()?;
            self.expect(&Tok::RBracket, "`]` closing the observation")?;
            Observation::Comparison(c)
        } else if self.eat(&Tok::LParen) {
            let o = self.followed_by()?;
            self.expect(&Tok::RParen, "`)`")?;
            o
        } else {
            return Err(self.error("`[` or `(` starting an observation"));
        };
        loop {
            let q = if self.eat_word("WITHIN") {
                let n = self.number()?;
                if !self.eat_word("SECONDS") {
                    return Err(self.error("SECONDS"));
                }
                Qualifier::Within(n)
            } else if self.eat_word("REPEATS") {
                let n = self.number()?;
                if !self.eat_word("TIMES") {
                    return Err(self.error("TIMES"));
                }
                Qualifier::Repeats(n)
            } else if self.eat_word("START") {
                let a = self.timestamp()?;
                if !self.eat_word("STOP") {
                    return Err(self.error("STOP"));
                }
                Qualifier::StartStop(a, self.timestamp()?)
            } else {
                break;
            };
            obs = Observation::Qualified(Box::new(obs), q);
        }
        Ok(obs)
    }

    fn number(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Int(n) | Tok::Float(n)) => {
                let n = n.clone();
                self.i += 1;
                Ok(n)
            }
            _ => Err(self.error("a number")),
        }
    }

    fn timestamp(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Prefixed('t', s)) => {
                let s = s.clone();
                self.i += 1;
                Ok(s)
            }
            _ => Err(self.error("a timestamp t'…'")),
        }
    }

    fn comp_or(&mut self) -> Result<Comparison, String> {
        let mut items = vec![self.comp_and()?];
        while self.eat_word("OR") {
            items.push(self.comp_and()?);
        }
        Ok(one_or(items, Comparison::Or))
    }

    fn comp_and(&mut self) -> Result<Comparison, String> {
        let mut items = vec![self.comp_atom()?];
        while self.eat_word("AND") {
            items.push(self.comp_atom()?);
        }
        Ok(one_or(items, Comparison::And))
    }

    fn comp_atom(&mut self) -> Result<Comparison, String> {
        if self.eat(&Tok::LParen) {
            let c = self.comp_or()?;
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(c);
        }
        if self.eat_word("EXISTS") {
            return Ok(Comparison::Exists(self.path()?));
        }
        let path = self.path()?;
        let negated = self.eat_word("NOT");
        let op = match self.peek() {
            Some(Tok::Op(op)) => *op,
            Some(Tok::Word(w)) => match w.as_str() {
                "IN" => Op::In,
                "LIKE" => Op::Like,
                "MATCHES" => Op::Matches,
                "ISSUBSET" => Op::IsSubset,
                "ISSUPERSET" => Op::IsSuperset,
                _ => return Err(self.error("a comparison operator")),
            },
            _ => return Err(self.error("a comparison operator")),
        };
        self.i += 1;
        let value = if op == Op::In {
            self.set()?
        } else {
            self.literal()?
        };
        Ok(Comparison::Test(Test {
            path,
            negated,
            op,
            value,
        }))
    }

    fn set(&mut self) -> Result<Literal, String> {
        self.expect(&Tok::LParen, "`(` opening a set")?;
        let mut items = vec![self.literal()?];
        while self.eat(&Tok::Comma) {
            items.push(self.literal()?);
        }
        self.expect(&Tok::RParen, "`)` closing the set")?;
        Ok(Literal::Set(items))
    }

    fn literal(&mut self) -> Result<Literal, String> {
        let lit = match self.peek() {
            Some(Tok::Str(s)) => Literal::Str(s.clone()),
            Some(Tok::Int(n)) => Literal::Int(n.clone()),
            Some(Tok::Float(n)) => Literal::Float(n.clone()),
            Some(Tok::Word(w)) if w == "true" => Literal::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Literal::Bool(false),
            Some(Tok::Prefixed('t', s)) => Literal::Time(s.clone()),
            Some(Tok::Prefixed('h', s)) => Literal::Hex(s.clone()),
            Some(Tok::Prefixed('b', s)) => Literal::Binary(s.clone()),
            _ => return Err(self.error("a literal")),
        };
        self.i += 1;
        Ok(lit)
    }

    fn path(&mut self) -> Result<ObjectPath, String> {
        let object_type = match self.peek() {
            Some(Tok::Word(w)) if !is_keyword(w) => w.clone(),
            _ => return Err(self.error("an object type (`ipv4-addr`)")),
        };
        self.i += 1;
        self.expect(&Tok::Colon, "`:` after the object type")?;
        let mut steps = vec![Step::Property(self.component()?)];
        loop {
            if self.eat(&Tok::Dot) {
                steps.push(Step::Property(self.component()?));
            } else if self.eat(&Tok::LBracket) {
                let idx =
                    match self.peek() {
                        Some(Tok::Star) => None,
                        Some(Tok::Int(n)) => Some(n.parse::<u64>().map_err(|_| {
                            format!("offset {}: bad list index `{n}`", self.offset())
                        })?),
                        _ => return Err(self.error("a list index or `*`")),
                    };
                self.i += 1;
                self.expect(&Tok::RBracket, "`]` closing the list index")?;
                steps.push(Step::Index(idx));
            } else {
                break;
            }
        }
        Ok(ObjectPath { object_type, steps })
    }

    fn component(&mut self) -> Result<String, String> {
        let c = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            Some(Tok::Str(s)) => s.clone(),
            _ => return Err(self.error("a property name")),
        };
        self.i += 1;
        Ok(c)
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "AND" | "OR" | "NOT" | "FOLLOWEDBY" | "WITHIN" | "REPEATS" | "START" | "STOP" | "EXISTS"
    )
}

fn show(t: &Tok) -> String {
    match t {
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Colon => "`:`".into(),
        Tok::Dot => "`.`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Star => "`*`".into(),
        Tok::Op(op) => format!("`{}`", op.as_str()),
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Int(n) | Tok::Float(n) => format!("`{n}`"),
        Tok::Prefixed(p, s) => format!("{p}'{s}'"),
    }
}

fn one_or<T>(mut items: Vec<T>, many: impl FnOnce(Vec<T>) -> T) -> T {
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        many(items)
    }
}

// ---------------------------------------------------------------------------------------------
// Conversion to indicator values

fn observation_values(obs: &Observation, out: &mut Conversion) {
    match obs {
        Observation::Comparison(c) => comparison_values(c, out),
        Observation::Or(items) => items.iter().for_each(|o| observation_values(o, out)),
        Observation::And(_) => out.unsupported.push(
            "observation operator AND (two observations that must both be seen) cannot be a \
             single value"
                .into(),
        ),
        Observation::FollowedBy(_) => out.unsupported.push(
            "observation operator FOLLOWEDBY (a sequence of observations) cannot be a single \
             value"
                .into(),
        ),
        Observation::Qualified(_, q) => out.unsupported.push(format!(
            "qualifier {} restricts which observations count; its values alone would match \
             more",
            match q {
                Qualifier::Within(n) => format!("WITHIN {n} SECONDS"),
                Qualifier::Repeats(n) => format!("REPEATS {n} TIMES"),
                Qualifier::StartStop(a, b) => format!("START t'{a}' STOP t'{b}'"),
            }
        )),
    }
}

/// One equality leaf of a comparison in disjunctive normal form, or why a leaf is not one.
type Leaf<'a> = Result<(&'a ObjectPath, &'a str), String>;

fn comparison_values(c: &Comparison, out: &mut Conversion) {
    let terms = match dnf(c) {
        Ok(t) => t,
        Err(e) => {
            out.unsupported.push(e);
            return;
        }
    };
    for conj in terms {
        match conjunction(&conj) {
            Ok(values) => out.values.extend(values),
            Err(e) => out.unsupported.push(e),
        }
    }
}

/// The comparison as OR of ANDs of leaves (`IN` expanded into equalities).
fn dnf(c: &Comparison) -> Result<Vec<Vec<Leaf<'_>>>, String> {
    match c {
        Comparison::Test(t) => Ok(leaves(t).into_iter().map(|l| vec![l]).collect()),
        Comparison::Exists(p) => Ok(vec![vec![Err(format!(
            "EXISTS {p} tests presence, not a value"
        ))]]),
        Comparison::Or(items) => {
            let mut out = Vec::new();
            for i in items {
                out.extend(dnf(i)?);
                if out.len() > MAX_TERMS {
                    return Err(too_large());
                }
            }
            Ok(out)
        }
        Comparison::And(items) => {
            let mut acc: Vec<Vec<Leaf<'_>>> = vec![Vec::new()];
            for i in items {
                let d = dnf(i)?;
                if acc.len().saturating_mul(d.len()) > MAX_TERMS {
                    return Err(too_large());
                }
                let mut next = Vec::with_capacity(acc.len() * d.len());
                for a in &acc {
                    for b in &d {
                        let mut c = a.clone();
                        c.extend(b.iter().cloned());
                        next.push(c);
                    }
                }
                acc = next;
            }
            Ok(acc)
        }
    }
}

fn too_large() -> String {
    format!("the pattern expands to more than {MAX_TERMS} alternatives")
}

fn leaves(t: &Test) -> Vec<Leaf<'_>> {
    let p = &t.path;
    if t.negated || t.op == Op::Ne {
        return vec![Err(format!(
            "negated comparison on `{p}` cannot be turned into a value"
        ))];
    }
    fn one<'a>(p: &'a ObjectPath, lit: &'a Literal) -> Leaf<'a> {
        match lit {
            Literal::Str(s) => Ok((p, s.as_str())),
            _ => Err(format!("`{p}` is compared with a non-string literal")),
        }
    }
    match (&t.op, &t.value) {
        (Op::Eq, lit) => vec![one(p, lit)],
        (Op::In, Literal::Set(items)) => items.iter().map(|l| one(p, l)).collect(),
        (op, _) => vec![Err(format!(
            "comparison operator {} on `{p}` cannot be turned into a single value",
            op.as_str()
        ))],
    }
}

/// The values one AND of leaves stands for.
fn conjunction(conj: &[Leaf<'_>]) -> Result<Vec<(IndicatorKind, String, Scope)>, String> {
    let mut values = Vec::with_capacity(conj.len());
    for leaf in conj {
        let (path, value) = leaf.clone()?;
        let (kind, scope) = kind_of(path, value)?;
        values.push((path, (kind, scope), value.to_string()));
    }
    if values.len() == 1 {
        let (_, (k, s), v) = values.pop().expect("one value");
        return Ok(vec![(k, v, s)]);
    }
    let (_, k0, v0) = &values[0];
    if values.iter().all(|(_, k, v)| k == k0 && v == v0) {
        return Ok(vec![(k0.0, v0.clone(), k0.1)]);
    }
    let all_file_hashes = values.iter().all(|(p, (k, _), _)| {
        p.object_type == "file"
            && matches!(
                k,
                IndicatorKind::Md5
                    | IndicatorKind::Sha1
                    | IndicatorKind::Sha256
                    | IndicatorKind::Sha512
            )
    });
    if all_file_hashes {
        return Ok(values.into_iter().map(|(_, (k, s), v)| (k, v, s)).collect());
    }
    let names: Vec<String> = values
        .iter()
        .map(|(p, _, v)| format!("{p} = '{v}'"))
        .collect();
    Err(format!(
        "AND of {}: all must hold on one object, and any one alone would match more",
        names.join(" and ")
    ))
}

/// The indicator kind an object path compared with `value` stands for, and where in an event
/// it counts.
fn kind_of(path: &ObjectPath, value: &str) -> Result<(IndicatorKind, Scope), String> {
    let props: Vec<&str> = path
        .steps
        .iter()
        .map(|s| match s {
            Step::Property(p) => p.as_str(),
            Step::Index(_) => "[]",
        })
        .collect();
    let ip_or_domain = || match parse_net(value) {
        Some(ipnet::IpNet::V4(_)) => IndicatorKind::Ipv4,
        Some(ipnet::IpNet::V6(_)) => IndicatorKind::Ipv6,
        None => IndicatorKind::Domain,
    };
    let kind = match (path.object_type.as_str(), props.as_slice()) {
        ("network-traffic", ["src_ref", "value"]) => return Ok((ip_or_domain(), Scope::Source)),
        ("network-traffic", ["dst_ref", "value"]) => {
            return Ok((ip_or_domain(), Scope::Destination));
        }
        ("email-message", ["sender_ref", "value"]) => {
            return Err(format!(
                "`{path}` names the Sender header; events carry the From address only, and \
                 matching it there would say more than the pattern"
            ));
        }
        ("ipv4-addr", ["value"]) => IndicatorKind::Ipv4,
        ("ipv6-addr", ["value"]) => IndicatorKind::Ipv6,
        ("domain-name", ["value"]) => IndicatorKind::Domain,
        ("url", ["value"]) => IndicatorKind::Url,
        ("email-addr", ["value"]) => IndicatorKind::Email,
        ("email-message", ["from_ref", "value"]) => IndicatorKind::Email,
        ("file", ["name"]) => IndicatorKind::FileName,
        ("file", ["hashes", alg]) => vigil_core::HashAlgorithm::from_name(alg)
            .and_then(IndicatorKind::of_hash)
            .ok_or_else(|| format!("hash algorithm `{alg}` of `{path}` has no indicator kind"))?,
        ("network-traffic", ["extensions", "http-request-ext", "request_header", h])
            if h.eq_ignore_ascii_case("user-agent") =>
        {
            IndicatorKind::UserAgent
        }
        _ => return Err(format!("object path `{path}` has no indicator kind")),
    };
    Ok((kind, Scope::Any))
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorKind as K;

    /// The values of a pattern that converts whole, each counting anywhere in an event.
    fn values(p: &str) -> Vec<(K, String)> {
        scoped(p)
            .into_iter()
            .map(|(k, v, s)| {
                assert_eq!(s, Scope::Any, "{p}");
                (k, v)
            })
            .collect()
    }

    fn scoped(p: &str) -> Vec<(K, String, Scope)> {
        let c = convert(p).unwrap();
        assert!(c.unsupported.is_empty(), "{p}: {:?}", c.unsupported);
        c.values
    }

    fn unsupported(p: &str) -> String {
        let c = convert(p).unwrap();
        assert!(c.values.is_empty(), "{p}: {:?}", c.values);
        c.unsupported.join("; ")
    }

    #[test]
    fn simple_comparisons() {
        assert_eq!(
            values("[ipv4-addr:value = '1.2.3.4']"),
            [(K::Ipv4, "1.2.3.4".into())]
        );
        assert_eq!(
            values("[file:hashes.'SHA-256' = 'AB']"),
            [(K::Sha256, "AB".into())]
        );
        assert_eq!(values("[file:hashes.MD5 = 'x']"), [(K::Md5, "x".into())]);
        assert_eq!(
            values("[url:value = 'http://a.example/it\\'s']"),
            [(K::Url, "http://a.example/it's".into())]
        );
    }

    #[test]
    fn connection_sides_are_kept_and_sender_is_refused() {
        assert_eq!(
            scoped("[network-traffic:dst_ref.value = '2001:db8::1']"),
            [(K::Ipv6, "2001:db8::1".into(), Scope::Destination)]
        );
        assert_eq!(
            scoped("[network-traffic:src_ref.value = 'scanner.example']"),
            [(K::Domain, "scanner.example".into(), Scope::Source)]
        );
        // The same address on both sides is two statements, not one value.
        assert!(
            unsupported(
                "[network-traffic:src_ref.value = '192.0.2.1' AND \
                 network-traffic:dst_ref.value = '192.0.2.1']"
            )
            .contains("AND of")
        );
        assert!(
            unsupported("[email-message:sender_ref.value = 'a@b.example']")
                .contains("Sender header")
        );
        assert_eq!(
            values("[email-message:from_ref.value = 'a@b.example']"),
            [(K::Email, "a@b.example".into())]
        );
    }

    #[test]
    fn or_and_in_and_several_observations() {
        let v = values(
            "[domain-name:value = 'a.example' OR ipv4-addr:value = '1.1.1.1'] OR \
             ([email-addr:value IN ('x@a.example', 'y@a.example')])",
        );
        assert_eq!(v.len(), 4);
        assert_eq!(v[3], (K::Email, "y@a.example".into()));
        // Hashes of one file joined by AND: the file is identified by either.
        let v = values("[file:hashes.MD5 = 'm' AND file:hashes.'SHA-1' = 's']");
        assert_eq!(v, [(K::Md5, "m".into()), (K::Sha1, "s".into())]);
        // Distribution: (a OR b) AND a reduces to a, and (a AND b) is refused.
        let c = convert("[(domain-name:value = 'a.example' OR domain-name:value = 'b.example') AND domain-name:value = 'a.example']").unwrap();
        assert_eq!(c.values, [(K::Domain, "a.example".into(), Scope::Any)]);
        assert_eq!(c.unsupported.len(), 1);
        assert!(c.unsupported[0].contains("AND of domain-name:value = 'b.example'"));
    }

    #[test]
    fn operators_that_cannot_be_values() {
        assert!(
            unsupported(
                "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [domain-name:value = 'a.example']"
            )
            .contains("FOLLOWEDBY")
        );
        assert!(
            unsupported("[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS")
                .contains("WITHIN 300 SECONDS")
        );
        assert!(
            unsupported("[ipv4-addr:value = '1.2.3.4'] REPEATS 5 TIMES")
                .contains("REPEATS 5 TIMES")
        );
        assert!(unsupported("[ipv4-addr:value = '1.2.3.4'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'").contains("START"));
        assert!(
            unsupported("[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'a.example']")
                .contains("observation operator AND")
        );
        assert!(
            unsupported("[email-message:subject MATCHES '^x']")
                .contains("MATCHES on `email-message:subject`")
        );
        assert!(unsupported("[domain-name:value LIKE '%.example']").contains("LIKE"));
        assert!(unsupported("[file:size > 100]").contains("operator >"));
        assert!(unsupported("[ipv4-addr:value != '1.2.3.4']").contains("negated"));
        assert!(unsupported("[ipv4-addr:value NOT = '1.2.3.4']").contains("negated"));
        assert!(
            unsupported(
                "[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c']"
            )
            .contains("`x509-certificate:issuer` has no indicator kind")
        );
        assert!(unsupported("[file:name = 'a.exe' AND file:size = 10]").contains("non-string"));
        assert!(unsupported("[EXISTS file:name]").contains("EXISTS"));
    }

    #[test]
    fn syntax_errors_name_the_offset() {
        assert_eq!(
            convert("[ipv4-addr:value = '1.2.3.4'").unwrap_err(),
            "offset 28: expected `]` closing the observation, found the end"
        );
        assert!(
            convert("ipv4-addr:value = '1'")
                .unwrap_err()
                .contains("offset 0: expected `[`")
        );
        assert!(
            convert("[ipv4-addr:value = '1]")
                .unwrap_err()
                .contains("unterminated string")
        );
        assert!(
            convert("[ipv4-addr:value = '1'] OR")
                .unwrap_err()
                .contains("found the end")
        );
        assert!(
            convert("[ipv4-addr value = '1']")
                .unwrap_err()
                .contains("`:` after the object type")
        );
        assert!(convert("").unwrap_err().contains("empty"));
        assert!(
            convert("[a:b = 'x'] $")
                .unwrap_err()
                .contains("unexpected character `$`")
        );
    }

    #[test]
    fn paths_print_like_patterns() {
        let Observation::Comparison(Comparison::Test(t)) =
            parse("[email-message:body_multipart[*].body_raw_ref.name MATCHES 'x']").unwrap()
        else {
            panic!("one test");
        };
        assert_eq!(
            t.path.to_string(),
            "email-message:body_multipart[*].body_raw_ref.name"
        );
        assert_eq!(t.op, Op::Matches);
    }
}
