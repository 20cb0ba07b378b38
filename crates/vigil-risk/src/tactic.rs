//! ATT&CK Enterprise tactics in kill-chain order: what stage of an attack an alert shows, for
//! scoring (later stages weigh more) and for ordering an incident's tactics.
//!
//! Newer ATT&CK releases split Defense Evasion into **Stealth** and **Defense Impairment**, and
//! SigmaHQ's 2026 rules tag `attack.stealth` (1,094 tags) and `attack.defense-impairment` (415);
//! older catalogues (the corpus's among them) still name `defense-evasion`. All three are kept,
//! at the same kill-chain stage, so rules of either generation are staged alike.

use serde::{Deserialize, Serialize};

/// An ATT&CK Enterprise tactic. The declaration order is the kill-chain order of the
/// Enterprise matrix (reconnaissance first, impact last), so `Ord` sorts by stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tactic {
    Reconnaissance,
    ResourceDevelopment,
    InitialAccess,
    Execution,
    Persistence,
    PrivilegeEscalation,
    DefenseEvasion,
    Stealth,
    DefenseImpairment,
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
    pub const ALL: [Tactic; 16] = [
        Tactic::Reconnaissance,
        Tactic::ResourceDevelopment,
        Tactic::InitialAccess,
        Tactic::Execution,
        Tactic::Persistence,
        Tactic::PrivilegeEscalation,
        Tactic::DefenseEvasion,
        Tactic::Stealth,
        Tactic::DefenseImpairment,
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
            Tactic::Stealth => "stealth",
            Tactic::DefenseImpairment => "defense-impairment",
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

    /// The kill-chain stage: 0 for reconnaissance up to 13 for impact; stealth and defense
    /// impairment share defense evasion's stage (6).
    pub fn stage(self) -> usize {
        match self {
            Tactic::Reconnaissance => 0,
            Tactic::ResourceDevelopment => 1,
            Tactic::InitialAccess => 2,
            Tactic::Execution => 3,
            Tactic::Persistence => 4,
            Tactic::PrivilegeEscalation => 5,
            Tactic::DefenseEvasion | Tactic::Stealth | Tactic::DefenseImpairment => 6,
            Tactic::CredentialAccess => 7,
            Tactic::Discovery => 8,
            Tactic::LateralMovement => 9,
            Tactic::Collection => 10,
            Tactic::CommandAndControl => 11,
            Tactic::Exfiltration => 12,
            Tactic::Impact => 13,
        }
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
        assert_eq!(Tactic::from_tag("attack.stealth"), Some(Tactic::Stealth));
        assert_eq!(
            Tactic::from_tag("attack.defense-impairment").map(Tactic::stage),
            Some(Tactic::DefenseEvasion.stage())
        );
        assert!(Tactic::DefenseImpairment < Tactic::CredentialAccess);
    }
}
