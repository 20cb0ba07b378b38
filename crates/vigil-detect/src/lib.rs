//! The detection pipeline: decoded events through the compiled Sigma engine into explainable
//! [`Detection`]s, and the two batch jobs built on it — hunting over files ([`hunt`]) and
//! running SigmaHQ-style regression cases ([`regression`]).
//!
//! Not for: decoding (that is `vigil-ingest`), rule semantics (`vigil-sigma`), persistence.

mod detection;
pub mod hunt;
pub mod regression;
pub mod rules;

pub use detection::{
    Detection, IntelContext, detect, detect_intel, detect_intel_with, intel_rule_id,
};
pub use hunt::{HuntOptions, HuntSummary, hunt};
pub use rules::{LoadedRules, compile_source, load_and_compile};
