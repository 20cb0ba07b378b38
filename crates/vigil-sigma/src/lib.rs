//! Sigma detection rules: parsing, evaluation and a compiled matcher for whole rule sets.
//!
//! What it is for: turning Sigma YAML (SigmaHQ's rule set and users' own) into something that
//! decides, per [`vigil_core::Event`], which rules match and why. What it is not for: reading
//! logs, storing alerts, or anything about I/O beyond reading rule files.

pub mod ast;
pub mod mapping;
pub mod matcher;

pub use ast::{Condition, Detection, FieldTest, Keywords, Location, Rule, Search, SearchBody, Status};
pub use mapping::{LogsourceMapping, MappingError};
pub use matcher::Matcher;
