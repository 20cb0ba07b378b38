//! Why a rule was rejected: the crate's one error type.
//!
//! Every document that does not become a usable rule ends up as a [`crate::Rejection`] with one
//! of these reasons, so nothing is ever dropped silently and reports can group by [`RejectReason::kind`].

use std::fmt;

/// The reason a rule document was not loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The file could not be read.
    Io { message: String },
    /// The YAML itself is broken.
    Yaml { message: String },
    /// A YAML document that is not a Sigma rule, correlation or filter.
    NotARule { reason: String },
    /// A required key is missing or has the wrong shape.
    InvalidKey { key: String, message: String },
    /// A modifier this engine does not know (named as written).
    UnknownModifier(String),
    /// Modifiers that cannot be combined, or used where they make no sense.
    InvalidModifiers { key: String, message: String },
    /// A `%placeholder%` under `|expand` that the configuration does not define.
    UnresolvedPlaceholder(String),
    /// A `|re` value that does not compile.
    InvalidRegex { pattern: String, message: String },
    /// The condition does not parse or names something that does not exist.
    Condition { condition: String, message: String },
    /// A value that cannot be used with its modifiers (a bad CIDR, a non-number for `gt`…).
    InvalidValue { field: String, message: String },
    /// The rule is well-formed but can never match (an empty selection, `all` on one value…).
    CannotFire { message: String },
    /// A correlation rule that is malformed.
    Correlation { message: String },
    /// A filter rule that is malformed.
    Filter { message: String },
    /// A construct Sigma allows but this engine does not implement (named).
    Unsupported(String),
    /// The rule's logsource maps to no known events (used by the engine's routing).
    UnmappedLogsource(String),
}

impl RejectReason {
    /// A short, stable name for grouping counts (`unknown-modifier`, `yaml`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            RejectReason::Io { .. } => "io",
            RejectReason::Yaml { .. } => "yaml",
            RejectReason::NotARule { .. } => "not-a-rule",
            RejectReason::InvalidKey { .. } => "invalid-key",
            RejectReason::UnknownModifier(_) => "unknown-modifier",
            RejectReason::InvalidModifiers { .. } => "invalid-modifiers",
            RejectReason::UnresolvedPlaceholder(_) => "unresolved-placeholder",
            RejectReason::InvalidRegex { .. } => "invalid-regex",
            RejectReason::Condition { .. } => "condition",
            RejectReason::InvalidValue { .. } => "invalid-value",
            RejectReason::CannotFire { .. } => "cannot-fire",
            RejectReason::Correlation { .. } => "correlation",
            RejectReason::Filter { .. } => "filter",
            RejectReason::Unsupported(_) => "unsupported",
            RejectReason::UnmappedLogsource(_) => "unmapped-logsource",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Io { message } => write!(f, "cannot read file: {message}"),
            RejectReason::Yaml { message } => write!(f, "invalid YAML: {message}"),
            RejectReason::NotARule { reason } => write!(f, "not a Sigma rule: {reason}"),
            RejectReason::InvalidKey { key, message } => write!(f, "key `{key}`: {message}"),
            RejectReason::UnknownModifier(m) => write!(f, "unknown modifier `{m}`"),
            RejectReason::InvalidModifiers { key, message } => {
                write!(f, "modifiers of `{key}`: {message}")
            }
            RejectReason::UnresolvedPlaceholder(p) => {
                write!(f, "placeholder `%{p}%` is not defined in the configuration")
            }
            RejectReason::InvalidRegex { pattern, message } => {
                write!(f, "invalid regular expression {pattern:?}: {message}")
            }
            RejectReason::Condition { condition, message } => {
                write!(f, "condition {condition:?}: {message}")
            }
            RejectReason::InvalidValue { field, message } => {
                write!(f, "value of `{field}`: {message}")
            }
            RejectReason::CannotFire { message } => write!(f, "rule can never match: {message}"),
            RejectReason::Correlation { message } => write!(f, "correlation rule: {message}"),
            RejectReason::Filter { message } => write!(f, "filter rule: {message}"),
            RejectReason::Unsupported(what) => write!(f, "unsupported: {what}"),
            RejectReason::UnmappedLogsource(ls) => {
                write!(f, "logsource {ls} maps to no known events")
            }
        }
    }
}

impl std::error::Error for RejectReason {}

/// A [`RejectReason`] with the 1-based line it refers to (the file is added by the loader).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: RejectReason,
}

impl ParseError {
    /// A reason at `line`.
    pub fn new(line: usize, reason: RejectReason) -> Self {
        ParseError { line, reason }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}
