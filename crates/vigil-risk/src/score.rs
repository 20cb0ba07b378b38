//! The risk score of one alert, 0–100, and why.
//!
//! ```text
//! score = min(100, base[level] × status[rule status] × criticality × intel × stage)
//!   criticality = criticality_floor + criticality_step × asset criticality (1–5); 1 without an asset
//!   intel       = 1 + intel_weight × indicator confidence / 100;               1 without intel
//!   stage       = stage_floor + stage_span × (latest tactic stage / 13);      1 without a tactic
//! ```
//!
//! With the defaults a high-level rule on an unknown host scores 65, on a criticality-5 crown
//! jewel at the impact stage 100 (capped), and an informational hit on a lab machine 4. Every
//! factor is reported with its input, so an analyst can see why one alert outranks another.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigil_core::Level;

use crate::tactic::Tactic;

/// The formula's weights (`[risk]` in the configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Base score per rule level.
    pub base: BTreeMap<Level, f64>,
    /// Multiplier per rule status (`stable`, `test`, `experimental`, …).
    pub status: BTreeMap<String, f64>,
    /// Multiplier for rules that give no status.
    pub status_missing: f64,
    pub criticality_floor: f64,
    pub criticality_step: f64,
    pub intel_weight: f64,
    pub stage_floor: f64,
    pub stage_span: f64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            base: BTreeMap::from([
                (Level::Informational, 5.0),
                (Level::Low, 20.0),
                (Level::Medium, 40.0),
                (Level::High, 65.0),
                (Level::Critical, 85.0),
            ]),
            status: BTreeMap::from([
                ("stable".to_string(), 1.0),
                ("test".to_string(), 0.9),
                ("experimental".to_string(), 0.75),
                ("deprecated".to_string(), 0.5),
                ("unsupported".to_string(), 0.5),
            ]),
            status_missing: 0.85,
            criticality_floor: 0.6,
            criticality_step: 0.2,
            intel_weight: 0.5,
            stage_floor: 0.8,
            stage_span: 0.4,
        }
    }
}

/// What the score of one alert is computed from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RiskInput {
    pub level: Option<Level>,
    /// The rule's status (`stable`, `test`, …).
    pub status: Option<String>,
    /// The criticality (1–5) of the asset the alert is about, when it is in the inventory.
    pub asset_criticality: Option<u8>,
    /// The confidence (0–100) of the threat-intel indicator behind the alert, if any.
    pub intel_confidence: Option<u8>,
    /// The ATT&CK tactics the rule is tagged with.
    pub tactics: Vec<Tactic>,
}

/// One factor of a score: what went in and what it multiplied by.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Factor {
    pub name: &'static str,
    /// The input, as text (`high`, `criticality 4`, `none`).
    pub input: String,
    /// The base score for `level`, a multiplier for the others.
    pub value: f64,
}

/// A score with its factors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RiskScore {
    /// 0–100, rounded to one decimal.
    pub score: f64,
    pub factors: Vec<Factor>,
}

/// Scores one alert with `config`.
pub fn score(input: &RiskInput, config: &RiskConfig) -> RiskScore {
    let level = input.level.unwrap_or(Level::Medium);
    let base = config.base.get(&level).copied().unwrap_or(40.0);
    let mut factors = vec![Factor {
        name: "level",
        input: level.as_str().to_string(),
        value: base,
    }];
    let status = match &input.status {
        Some(s) => Factor {
            name: "status",
            input: s.clone(),
            value: config
                .status
                .get(s.as_str())
                .copied()
                .unwrap_or(config.status_missing),
        },
        None => Factor {
            name: "status",
            input: "none".into(),
            value: config.status_missing,
        },
    };
    factors.push(status);
    factors.push(match input.asset_criticality {
        Some(c) => Factor {
            name: "asset criticality",
            input: format!("criticality {c}"),
            value: config.criticality_floor + config.criticality_step * f64::from(c.clamp(1, 5)),
        },
        None => Factor {
            name: "asset criticality",
            input: "not in the inventory".into(),
            value: 1.0,
        },
    });
    factors.push(match input.intel_confidence {
        Some(c) => Factor {
            name: "intel confidence",
            input: format!("confidence {c}"),
            value: 1.0 + config.intel_weight * f64::from(c.min(100)) / 100.0,
        },
        None => Factor {
            name: "intel confidence",
            input: "none".into(),
            value: 1.0,
        },
    });
    factors.push(match input.tactics.iter().max() {
        Some(t) => Factor {
            name: "tactic stage",
            input: t.name().to_string(),
            value: config.stage_floor + config.stage_span * t.stage() as f64 / 13.0,
        },
        None => Factor {
            name: "tactic stage",
            input: "none".into(),
            value: 1.0,
        },
    });
    let raw: f64 = factors.iter().map(|f| f.value).product();
    RiskScore {
        score: (raw.clamp(0.0, 100.0) * 10.0).round() / 10.0,
        factors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(level: Level) -> RiskInput {
        RiskInput {
            level: Some(level),
            status: Some("stable".into()),
            ..RiskInput::default()
        }
    }

    #[test]
    fn the_documented_examples_hold() {
        let c = RiskConfig::default();
        assert_eq!(score(&input(Level::High), &c).score, 65.0);
        let jewel = RiskInput {
            asset_criticality: Some(5),
            tactics: vec![Tactic::Execution, Tactic::Impact],
            ..input(Level::High)
        };
        let s = score(&jewel, &c);
        assert_eq!(s.score, 100.0);
        assert_eq!(s.factors[4].input, "impact", "the latest stage counts");
        let lab = RiskInput {
            asset_criticality: Some(1),
            ..input(Level::Informational)
        };
        assert_eq!(score(&lab, &c).score, 4.0);
    }

    #[test]
    fn every_factor_moves_the_score_the_right_way() {
        let c = RiskConfig::default();
        let base = score(&input(Level::Medium), &c).score;
        let higher = |i: RiskInput| score(&i, &c).score;
        assert!(higher(input(Level::High)) > base);
        assert!(
            higher(RiskInput {
                status: Some("experimental".into()),
                ..input(Level::Medium)
            }) < base
        );
        assert!(
            higher(RiskInput {
                asset_criticality: Some(5),
                ..input(Level::Medium)
            }) > higher(RiskInput {
                asset_criticality: Some(2),
                ..input(Level::Medium)
            })
        );
        assert!(
            higher(RiskInput {
                intel_confidence: Some(90),
                ..input(Level::Medium)
            }) > base
        );
        assert!(
            higher(RiskInput {
                tactics: vec![Tactic::LateralMovement],
                ..input(Level::Medium)
            }) > higher(RiskInput {
                tactics: vec![Tactic::Reconnaissance],
                ..input(Level::Medium)
            })
        );
    }
}
