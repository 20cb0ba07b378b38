//! Roles a token can hold, ordered from least to most privileged.
//!
//! A route names the least role it accepts; any higher role passes too. The order is the
//! declaration order, so `Role::Viewer < Role::Analyst < Role::Responder < Role::Admin`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a token may do: viewers read, analysts triage and hunt, responders act, admins manage.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only access: health, metrics, alerts, the API document.
    Viewer,
    /// Triage and hunting: update alerts, run queries.
    Analyst,
    /// Response: run playbooks and actions.
    Responder,
    /// Everything, including token management.
    Admin,
}

impl Role {
    /// Every role, least privileged first (handy for tables and CLI help).
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Analyst, Role::Responder, Role::Admin];

    /// The lowercase name used on the wire, in the CLI and in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given was not one of `viewer`, `analyst`, `responder`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected viewer, analyst, responder or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_least_to_most_privileged() {
        assert!(Role::Viewer < Role::Analyst);
        assert!(Role::Analyst < Role::Responder);
        assert!(Role::Responder < Role::Admin);
    }

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert_eq!(
            "root".parse::<Role>().unwrap_err(),
            UnknownRole("root".into())
        );
    }
}
