//! The typed form of a Sigma rule: what the parser produces, what the evaluator runs and what
//! the compiler (routing + prefilter) inspects.
//!
//! Everything here is plain data with public fields so that the parser (`parse`), the
//! reference evaluator (`eval`) and the compiled matcher (`engine`) share one representation.
//! Field names are interned [`Symbol`]s; a compiled rule variant with renamed fields (e.g.
//! Security 4688's `NewProcessName` for `Image`) is a copy made with [`Detection::map_fields`].

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_core::{Level, LogSource, Symbol};

use crate::matcher::Matcher;
use crate::valueset::ValueSet;

/// Where a rule (or one of its parts) was written: file and 1-based line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Sigma's rule `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Stable,
    Test,
    Experimental,
    Deprecated,
    Unsupported,
}

impl Status {
    /// The lowercase name used in rules and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Stable => "stable",
            Status::Test => "test",
            Status::Experimental => "experimental",
            Status::Deprecated => "deprecated",
            Status::Unsupported => "unsupported",
        }
    }
}

/// A parsed detection rule (one YAML document with a `detection` block).
#[derive(Clone, Debug)]
pub struct Rule {
    /// The rule's UUID (`id`), when given.
    pub id: Option<String>,
    /// `name`: the handle correlation rules may use instead of the id.
    pub name: Option<String>,
    pub title: String,
    pub status: Option<Status>,
    pub level: Option<Level>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    pub fields: Vec<String>,
    pub date: Option<String>,
    pub modified: Option<String>,
    /// `tags`, lowercased as written (`attack.t1059.001`, `attack.execution`, `cve.2021-44228`).
    pub tags: Vec<String>,
    /// The rule's logsource (lowercased).
    pub logsource: LogSource,
    pub detection: Detection,
    /// `license` (SPDX id or text), when given.
    pub license: Option<String>,
    /// `related`: rules this one derives from, obsoletes, merges, renames or resembles.
    pub related: Vec<Related>,
    /// `scope`: where the rule is meant to run (e.g. `server`, `workstation`).
    pub scope: Vec<String>,
    /// Keys the specification does not define, kept verbatim as JSON.
    pub custom: BTreeMap<String, serde_json::Value>,
    /// Where the rule's document starts.
    pub location: Location,
}

impl Rule {
    /// The id if present, else the title: what reports and evidence name the rule by.
    pub fn display_id(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.title)
    }

    /// ATT&CK technique/tactic tags (`attack.*`), without the prefix.
    pub fn attack_tags(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().filter_map(|t| t.strip_prefix("attack."))
    }
}

/// One `related` entry: another rule's id and how this rule relates to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub id: String,
    /// `derived`, `obsolete`, `merged`, `renamed` or `similar` (lowercased as written).
    pub kind: String,
}

/// The `detection` block: named searches and the condition over them.
#[derive(Clone, Debug)]
pub struct Detection {
    /// Search identifiers in the order they were written. Filters (meta-rules) append theirs
    /// with names renamed apart.
    pub searches: Vec<Search>,
    /// The condition, with a list of conditions OR'd and every `x of pattern` expanded into
    /// `And`/`Or` over search indices.
    pub condition: Condition,
}

impl Detection {
    /// A copy whose field names are replaced by `rename` (used to compile one rule for a log
    /// source whose events name the same thing differently).
    pub fn map_fields(&self, rename: &impl Fn(Symbol) -> Symbol) -> Detection {
        Detection {
            searches: self
                .searches
                .iter()
                .map(|s| Search {
                    name: s.name.clone(),
                    body: match &s.body {
                        SearchBody::Fields(groups) => SearchBody::Fields(
                            groups
                                .iter()
                                .map(|g| g.iter().map(|t| t.map_fields(rename)).collect())
                                .collect(),
                        ),
                        SearchBody::Keywords(k) => SearchBody::Keywords(k.clone()),
                    },
                })
                .collect(),
            condition: self.condition.clone(),
        }
    }
}

/// One named search identifier (`selection`, `filter_main_*`, `keywords`…).
#[derive(Clone, Debug)]
pub struct Search {
    pub name: String,
    pub body: SearchBody,
}

/// What a search identifier tests.
#[derive(Clone, Debug)]
pub enum SearchBody {
    /// Field tests: OR across the outer list (a YAML list of maps), AND within each inner list
    /// (one map's `field: value` pairs). A plain map is a one-element outer list.
    Fields(Vec<Vec<FieldTest>>),
    /// A keyword search: plain values matched against every string value of the event.
    Keywords(Keywords),
}

/// A keyword search block (a list of plain values, no field).
#[derive(Clone, Debug)]
pub struct Keywords {
    pub values: Vec<Matcher>,
    /// `'|all':` — every value must occur (default: any).
    pub all: bool,
    /// The values as written in the rule, parallel to `values` (for evidence).
    pub raw: Vec<String>,
}

/// One `field|modifiers: value(s)` test.
///
/// Laid out in declaration order from a cache-line boundary, what verification reads first
/// (field, flags, values, value set) ahead of what only evidence and errors read: a test is
/// mostly verified cold, and this way it costs two cache lines instead of three.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub struct FieldTest {
    /// The field as the rule names it (after any rename).
    pub field: Symbol,
    /// `|all`: every value must match.
    pub all: bool,
    /// `|neq`: the whole test is negated (pySigma semantics).
    pub negate: bool,
    /// The values; one matching is enough unless `all`. Each is already built from the
    /// modifier chain (a windash or base64offset value is a [`Matcher::AnyOf`] of its forms).
    pub values: Vec<Matcher>,
    /// `values` as one automaton when they are many plain strings (built on first use; make
    /// it with `ValueSet::default()`).
    pub value_set: ValueSet,
    /// The values as written in the rule, parallel to `values` (for evidence).
    pub raw: Vec<String>,
    /// The key as written (`CommandLine|contains|all`), for evidence and errors.
    pub written: String,
    pub location: Location,
}

impl FieldTest {
    /// A copy with `field` (and any field a value refers to) renamed.
    pub fn map_fields(&self, rename: &impl Fn(Symbol) -> Symbol) -> FieldTest {
        FieldTest {
            field: rename(self.field),
            values: self.values.iter().map(|m| m.map_fields(rename)).collect(),
            ..self.clone()
        }
    }
}

/// A condition over search identifiers.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The search at this index of [`Detection::searches`].
    Search(usize),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}
