//! ATT&CK Enterprise tactics in kill-chain order: what stage of an attack an alert shows, for
//! scoring (later stages weigh more) and for ordering an incident's tactics.

use serde::Serialize;

/// An ATT&CK Enterprise tactic. The declaration order is the kill-chain order of the
/// Enterprise matrix (reconnaissance first, impact last), so `Ord` sorts by stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tactic {
    Reconnaissance,
    ResourceDevelopment,
    InitialAccess,
    Execution,
    Persistence,
    PrivilegeEscalation,
    DefenseEvasion,
    CredentialAccess,
    Discovery,
    LateralMovement,
    Collection,
    CommandAndControl,
    Exfiltration,
    Impact,
}

impl Tactic {
    /// Every tactic, in kill-chain order.
    pub const ALL: [Tactic; 14] = [
        Tactic::Reconnaissance,
        Tactic::ResourceDevelopment,
        Tactic::InitialAccess,
        Tactic::Execution,
        Tactic::Persistence,
        Tactic::PrivilegeEscalation,
        Tactic::DefenseEvasion,
        Tactic::CredentialAccess,
        Tactic::Discovery,
        Tactic::LateralMovement,
        Tactic::Collection,
        Tactic::CommandAndControl,
        Tactic::Exfiltration,
        Tactic::Impact,
    ];

    /// The ATT&CK short name (`credential-access`).
    pub fn name(self) -> &'static str {
        match self {
            Tactic::Reconnaissance => "reconnaissance",
            Tactic::ResourceDevelopment => "resource-development",
            Tactic::InitialAccess => "initial-access",
            Tactic::Execution => "execution",
            Tactic::Persistence => "persistence",
            Tactic::PrivilegeEscalation => "privilege-escalation",
            Tactic::DefenseEvasion => "defense-evasion",
            Tactic::CredentialAccess => "credential-access",
            Tactic::Discovery => "discovery",
            Tactic::LateralMovement => "lateral-movement",
            Tactic::Collection => "collection",
            Tactic::CommandAndControl => "command-and-control",
            Tactic::Exfiltration => "exfiltration",
            Tactic::Impact => "impact",
        }
    }

    /// The tactic a rule tag names: `attack.credential-access`, `credential-access`,
    /// `credential_access` (any case). Technique tags (`attack.t1003`) name none.
    pub fn from_tag(tag: &str) -> Option<Tactic> {
        let t = tag.trim();
        let t = t
            .strip_prefix("attack.")
            .or_else(|| t.strip_prefix("ATTACK."))
            .unwrap_or(t);
        let t = t.to_ascii_lowercase().replace('_', "-");
        Tactic::ALL.into_iter().find(|x| x.name() == t)
    }

    /// 0 for reconnaissance up to 13 for impact.
    pub fn stage(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_tactics_in_every_spelling() {
        assert_eq!(
            Tactic::from_tag("attack.credential-access"),
            Some(Tactic::CredentialAccess)
        );
        assert_eq!(
            Tactic::from_tag("Lateral_Movement"),
            Some(Tactic::LateralMovement)
        );
        assert_eq!(Tactic::from_tag("attack.t1003.001"), None);
        assert!(Tactic::InitialAccess < Tactic::Impact);
        assert_eq!(Tactic::Impact.stage(), 13);
    }
}
