//! Sigma detection rules: parsing, evaluation and a compiled matcher for whole rule sets.
//!
//! What it is for: turning Sigma YAML (SigmaHQ's rule set and users' own) into something that
//! decides, per [`vigil_core::Event`], which rules match and why. What it is not for: reading
//! logs, storing alerts, or anything about I/O beyond reading rule files.

pub mod ast;
pub mod correlation;
pub mod engine;
pub mod error;
pub mod eval;
pub mod filter;
pub mod mapping;
pub mod matcher;
pub mod modifiers;
pub mod parse;
mod prefetch;
pub mod prefilter;
pub mod profile;
pub mod ruleset;
pub mod valueset;
pub mod wildcard;

pub use ast::{
    Condition, Detection, FieldTest, Keywords, Location, Related, Rule, Search, SearchBody, Status,
};
pub use correlation::CorrelationRule;
pub use engine::{Engine, EngineStats, RuleLabels, RuleMatch, Scratch};
pub use error::{ParseError, RejectReason};
pub use eval::Evidence;
pub use filter::FilterRule;
pub use mapping::{LogsourceMapping, MappingError};
pub use matcher::Matcher;
pub use ruleset::{LoadReport, Rejection, RuleSet, SigmaConfig, load_rules};
