//! Assessment: what is at risk, how badly, and what belongs together.
//!
//! - [`asset`]: the asset inventory (criticality, owner, tags, dependencies) imported from CSV or
//!   JSON with reasoned errors, and the blast radius of a compromised asset.
//! - [`score`]: the risk score of one alert from severity, rule status, asset criticality, intel
//!   confidence and ATT&CK tactic stage — a documented, configurable formula whose every factor
//!   is reported.
//! - [`entity`]: risk accumulated per entity (host, user, IP) with exponential decay, and the
//!   threshold crossings that raise risk incidents.
//! - [`incident`]: alerts grouped into incidents by the entities they share within a window,
//!   with caps so ubiquitous entities do not glue unrelated alerts together.
//! - [`workflow`]: the incident status workflow, its allowed transitions in one place.
//! - [`plan`]: response plan templates (roles, communications, tasks, SLA) and which fits.
//! - [`case`]: an incident's handling (status, assignee, tasks, comments, history), its SLA
//!   status, and the MTTA/MTTC/MTTR report.
//! - [`exception`]: verdict feedback — exceptions on a rule's entities, previewed over stored
//!   alerts and refused when they would hide a true positive.
//! - [`attack`]: the ATT&CK Enterprise catalogue, rule-tag coverage over it, and Navigator layers.
//!
//! Not here: storage and the API (the server keeps incidents in its state database), alert
//! production (detection).

pub mod asset;
pub mod attack;
pub mod case;
pub mod entity;
pub mod exception;
pub mod incident;
pub mod plan;
pub mod score;
pub mod tactic;
pub mod workflow;

pub use asset::{Asset, AssetError, AssetInventory, BlastRadius};
pub use attack::{
    AttackCatalog, AttackError, AttackTactic, Coverage, RuleTags, TagRef, Technique, coverage,
    navigator_layer,
};
pub use case::{Case, CaseError, CaseEvent, CaseEventKind, CaseMetrics, SlaStatus};
pub use entity::{EntityKey, EntityKind, EntityRisk, RiskCrossing};
pub use exception::{Exception, ExceptionError, ExceptionFacts, Preview};
pub use incident::{
    AlertView, GroupingConfig, Incident, PinError, group, group_pinned, merge_pins, split_pins,
};
pub use plan::{Phase, Plan, PlanError, PlanErrors, PlanLibrary, SlaTargets};
pub use score::{Factor, RiskConfig, RiskInput, RiskScore, score};
pub use tactic::Tactic;
pub use workflow::{IncidentStatus, TransitionError, Verdict};
