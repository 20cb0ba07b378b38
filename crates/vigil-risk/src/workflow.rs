//! The incident workflow: statuses, the transitions allowed between them (in one table), and
//! the verdict a closed incident must carry.
//!
//! ```text
//! new ─► triaged ─► contained ─► eradicated ─► recovered ─► closed
//!  │        │          │                                      ▲  │
//!  └────────┴──────────┴──────────── closed (verdict) ────────┘  └─► triaged (reopen)
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an incident is in its handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    New,
    Triaged,
    Contained,
    Eradicated,
    Recovered,
    Closed,
}

/// How a closed incident turned out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    TruePositive,
    FalsePositive,
    Benign,
}

/// Every allowed transition. Closing is allowed from every open status (a false positive is
/// closed from `new`); a closed incident can only be reopened to `triaged`.
const ALLOWED: &[(IncidentStatus, IncidentStatus)] = {
    use IncidentStatus::*;
    &[
        (New, Triaged),
        (New, Closed),
        (Triaged, Contained),
        (Triaged, Closed),
        (Contained, Eradicated),
        (Contained, Closed),
        (Eradicated, Recovered),
        (Eradicated, Closed),
        (Recovered, Closed),
        (Closed, Triaged),
    ]
};

/// A refused change of status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("an incident cannot go from {from} to {to}; from {from} it can go to: {allowed}")]
    NotAllowed {
        from: IncidentStatus,
        to: IncidentStatus,
        allowed: String,
    },
    #[error("closing an incident needs a verdict (true-positive, false-positive or benign)")]
    VerdictMissing,
    #[error("only closing takes a verdict")]
    VerdictNotClosing,
}

impl IncidentStatus {
    /// The statuses reachable from this one.
    pub fn next(self) -> Vec<IncidentStatus> {
        ALLOWED
            .iter()
            .filter(|(from, _)| *from == self)
            .map(|(_, to)| *to)
            .collect()
    }

    /// Checks moving to `to` with `verdict` (required when closing, refused otherwise).
    pub fn transition(
        self,
        to: IncidentStatus,
        verdict: Option<Verdict>,
    ) -> Result<IncidentStatus, TransitionError> {
        if !ALLOWED.contains(&(self, to)) {
            let allowed: Vec<String> = self.next().iter().map(ToString::to_string).collect();
            return Err(TransitionError::NotAllowed {
                from: self,
                to,
                allowed: allowed.join(", "),
            });
        }
        match (to, verdict) {
            (IncidentStatus::Closed, None) => Err(TransitionError::VerdictMissing),
            (IncidentStatus::Closed, Some(_)) | (_, None) => Ok(to),
            (_, Some(_)) => Err(TransitionError::VerdictNotClosing),
        }
    }

    /// Whether the incident is still being handled.
    pub fn is_open(self) -> bool {
        self != IncidentStatus::Closed
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IncidentStatus::New => "new",
            IncidentStatus::Triaged => "triaged",
            IncidentStatus::Contained => "contained",
            IncidentStatus::Eradicated => "eradicated",
            IncidentStatus::Recovered => "recovered",
            IncidentStatus::Closed => "closed",
        })
    }
}
