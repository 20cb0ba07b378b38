//! Vigil's shared data model.
//!
//! Everything that crosses a crate boundary in Vigil is a plain type from here: an [`Event`]
//! (interned field names → typed [`Value`]s), its [`LogSource`], where it came from
//! ([`SourceRef`]), the [`Level`] shared by rules and alerts, and the OCSF-named [`Entities`]
//! an event is about.
//!
//! What this crate is not for: I/O, parsing formats, evaluating rules. It stays dependency-light
//! so every other crate can use it.

pub mod corpus;
mod entity;
mod event;
mod level;
mod logsource;
mod symbol;
mod value;

pub use entity::{
    Entities, EntityField, EntityKind, EntityType, EntityValue, HashAlgorithm, parse_ip,
};
pub use event::{Event, Field, SourceRef};
pub use level::{Level, ParseLevelError};
pub use logsource::LogSource;
pub use symbol::Symbol;
pub use value::{Text, Value};

/// Event and ingest timestamps: one time type for the whole workspace.
pub use jiff::Timestamp;
