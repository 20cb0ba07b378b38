//! Value matchers: what one Sigma value with its modifier chain becomes.
//!
//! CONTRACT (shared by parse, eval and engine — extend, don't rename): the variants below and
//! `Matcher::matches`, `Matcher::prefilter_literals`, `Matcher::map_fields`.

use vigil_core::{Event, Symbol, Value};

/// How a plain string value compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrKind {
    Equals,
    StartsWith,
    EndsWith,
    Contains,
}

/// Numeric comparison operator (`lt`, `lte`, `gt`, `gte`; `Eq` for time parts without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumOp {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
}

/// The part of a date field the time modifiers extract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// One compiled rule value.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// A wildcard-free string: `pattern` is lowercased unless `cased`.
    Str {
        kind: StrKind,
        pattern: Box<str>,
        cased: bool,
    },
    /// A string with live `*`/`?` wildcards.
    Glob(Glob),
    /// `|re` (flags applied at build time).
    Regex(regex::Regex),
    /// `|cidr`.
    Cidr(ipnet::IpNet),
    /// `|lt|lte|gt|gte`.
    Num { op: NumOp, value: f64 },
    /// `null`: the field is absent or null.
    Null,
    /// `|exists`.
    Exists(bool),
    /// `|fieldref` (optionally with startswith/endswith/contains).
    FieldRef {
        field: Symbol,
        kind: StrKind,
        cased: bool,
    },
    /// `|minute|hour|day|week|month|year` with an optional numeric comparison.
    TimePart { part: TimePart, op: NumOp, value: f64 },
    /// Alternative forms of one rule value (windash, base64offset, utf16 variants): any.
    AnyOf(Vec<Matcher>),
}

/// A compiled wildcard pattern.
#[derive(Clone, Debug)]
pub struct Glob {
    /// The pattern as written (after escapes were resolved into the internal form).
    pub pattern: Box<str>,
    pub cased: bool,
}

impl Matcher {
    /// True when this matcher accepts `value` (`event` is needed by `fieldref`).
    pub fn matches(&self, _value: &Value, _event: &Event) -> bool {
        false
    }

    /// Literals, lowercased, at least one of which must occur in the lowercased string form of
    /// the value whenever this matcher accepts it; `None` when there is no such guarantee
    /// (regex, cidr, numeric, null, exists, fieldref…). Used by the cross-rule prefilter.
    pub fn prefilter_literals(&self) -> Option<Vec<String>> {
        None
    }

    /// A copy with any referenced field renamed (only `FieldRef` refers to a field).
    pub fn map_fields(&self, rename: &impl Fn(Symbol) -> Symbol) -> Matcher {
        match self {
            Matcher::FieldRef { field, kind, cased } => Matcher::FieldRef {
                field: rename(*field),
                kind: *kind,
                cased: *cased,
            },
            Matcher::AnyOf(v) => Matcher::AnyOf(v.iter().map(|m| m.map_fields(rename)).collect()),
            other => other.clone(),
        }
    }
}
