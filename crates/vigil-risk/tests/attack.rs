//! The ATT&CK catalogue loaded from the real Enterprise bundle in the corpus, coverage of the
//! SigmaHQ rules' tags over it, and the Navigator layer written from that coverage.
//!
//! The expected figures were counted independently of this crate (Python's `json` and
//! PyYAML over the same files: 835 attack-patterns, 691 active, 3,780 rules, …) and agree
//! with the corpus's `attack/SOURCE.md`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use vigil_risk::attack::{AttackError, TagRef};
use vigil_risk::{AttackCatalog, RuleTags, coverage, navigator_layer};

fn catalog() -> Option<AttackCatalog> {
    let path = vigil_core::corpus::corpus_path(
        "attack/enterprise-attack-techniques-tactics.stix.json.gz",
    )?;
    let mut cat = AttackCatalog::load(&path).expect("the corpus catalogue loads");
    cat.set_version("18");
    Some(cat)
}

#[test]
fn the_enterprise_catalogue_loads_with_its_counts() {
    let Some(cat) = catalog() else { return };
    assert!(cat.rejected().is_empty(), "{:?}", cat.rejected());
    let stats = cat.stats();
    assert_eq!(stats.attack_patterns, 835);
    assert_eq!(stats.revoked, 132);
    assert_eq!(stats.deprecated, 12);
    assert_eq!(stats.other_objects.get("x-mitre-tactic"), Some(&14));
    assert_eq!(stats.other_objects.get("x-mitre-matrix"), Some(&1));
    assert_eq!(cat.techniques().len(), 691);
    let subs = cat
        .techniques()
        .iter()
        .filter(|t| t.is_subtechnique())
        .count();
    assert_eq!(subs, 475);

    // Tactics in the matrix's order (the kill-chain order).
    let names: Vec<&str> = cat.tactics().iter().map(|t| t.shortname.as_str()).collect();
    assert_eq!(
        names,
        [
            "reconnaissance",
            "resource-development",
            "initial-access",
            "execution",
            "persistence",
            "privilege-escalation",
            "defense-evasion",
            "credential-access",
            "discovery",
            "lateral-movement",
            "collection",
            "command-and-control",
            "exfiltration",
            "impact"
        ]
    );
    let exec = cat.tactic("Execution").unwrap();
    assert_eq!((exec.id.as_str(), exec.order), ("TA0002", 3));
    assert_eq!(cat.tactic("TA0040").unwrap().shortname, "impact");
    assert_eq!(cat.tactic("command_and_control").unwrap().id, "TA0011");

    let ps = cat.technique("t1059.001").unwrap();
    assert_eq!(ps.name, "PowerShell");
    assert_eq!(ps.parent.as_deref(), Some("T1059"));
    assert_eq!(ps.tactics, ["execution"]);
    assert_eq!(ps.platforms, ["Windows"]);
    assert_eq!(
        cat.technique("T1059").unwrap().name,
        "Command and Scripting Interpreter"
    );
    assert_eq!(cat.subtechniques("T1059").count(), 13);
    assert_eq!(
        cat.technique("T1003.001").unwrap().tactics,
        ["credential-access"]
    );
    // Valid Accounts sits under four tactics, listed in matrix order.
    assert_eq!(
        cat.technique("T1078").unwrap().tactics,
        [
            "initial-access",
            "persistence",
            "privilege-escalation",
            "defense-evasion"
        ]
    );
    // PowerShell's pre-2020 id is revoked: known, but not active.
    assert!(cat.technique("T1086").is_none());
    let old = cat.retired("t1086").unwrap();
    assert_eq!((old.name.as_str(), old.why), ("PowerShell", "revoked"));
}

#[test]
fn tags_resolve_to_techniques_tactics_groups_and_reasons() {
    let Some(cat) = catalog() else { return };
    assert!(
        matches!(cat.resolve("attack.t1059.001"), Some(TagRef::Technique(t)) if t.id == "T1059.001")
    );
    assert!(matches!(cat.resolve("attack.execution"), Some(TagRef::Tactic(t)) if t.id == "TA0002"));
    assert_eq!(
        cat.resolve("attack.g0016"),
        Some(TagRef::Group("G0016".into()))
    );
    assert_eq!(
        cat.resolve("attack.s0002"),
        Some(TagRef::Software("S0002".into()))
    );
    assert_eq!(cat.resolve("cve.2021-44228"), None);
    let reason = |tag| match cat.resolve(tag) {
        Some(TagRef::Unknown { reason }) => reason,
        other => panic!("{tag}: {other:?}"),
    };
    assert_eq!(
        reason("attack.t1086"),
        "technique T1086 (PowerShell) is revoked in the catalogue"
    );
    assert_eq!(
        reason("attack.t9999.001"),
        "technique T9999.001 is not in the catalogue"
    );
    assert!(reason("attack.stealth").contains("neither a technique id nor a tactic"));
}

/// What coverage needs of a Sigma rule file; every other key is ignored.
#[derive(Deserialize)]
struct SigmaHead {
    id: String,
    title: String,
    level: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

fn rule_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rule_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

fn sigma_rules() -> Option<Vec<RuleTags>> {
    let root = vigil_core::corpus::corpus_path("sigma")?;
    let mut files = Vec::new();
    for dir in [
        "rules",
        "rules-threat-hunting",
        "rules-emerging-threats",
        "rules-compliance",
        "rules-placeholder",
    ] {
        rule_files(&root.join(dir), &mut files);
    }
    files.sort();
    let mut rules = Vec::new();
    let mut unreadable = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        match serde_saphyr::from_str::<SigmaHead>(&text) {
            Ok(h) => rules.push(RuleTags {
                id: h.id,
                title: h.title,
                level: h.level,
                tags: h.tags,
            }),
            Err(e) => unreadable.push(format!("{}: {e}", f.display())),
        }
    }
    assert!(unreadable.is_empty(), "{unreadable:#?}");
    Some(rules)
}

#[test]
fn sigmahq_coverage_and_its_navigator_layer() {
    let (Some(cat), Some(rules)) = (catalog(), sigma_rules()) else {
        return;
    };
    assert_eq!(rules.len(), 3780);
    let cov = coverage(&cat, rules.into_iter());
    assert_eq!(cov.rules, 3780);
    assert_eq!(cov.rules_with_techniques, 3115);

    let ps = cov.technique("T1059.001").unwrap();
    assert_eq!(ps.rules.len(), 220);
    assert!(ps.subtechnique_rules.is_empty());
    // The parent: 95 rules name T1059 itself, 331 distinct ones name one of its
    // sub-techniques — reported apart.
    let interp = cov.technique("T1059").unwrap();
    assert_eq!(interp.rules.len(), 95);
    assert_eq!(interp.subtechnique_rules.len(), 331);
    assert_eq!(cov.technique("T1003.001").unwrap().rules.len(), 79);
    // Covered only through sub-techniques: no rule names T1001 (Data Obfuscation).
    let obf = cov.technique("T1001").unwrap();
    assert!(obf.rules.is_empty() && !obf.subtechnique_rules.is_empty());
    let through_subs_only = cov
        .techniques
        .values()
        .filter(|t| t.rules.is_empty())
        .count();
    assert_eq!(through_subs_only, 14);
    assert_eq!(cov.techniques.len(), 388 + 14);
    assert_eq!(cov.uncovered.len(), 691 - 402);
    assert!(cov.uncovered.iter().all(|id| cov.technique(id).is_none()));

    let exec = cov.tactic("execution").unwrap();
    assert_eq!(
        (
            exec.techniques_covered,
            exec.techniques_total,
            exec.subtechniques_covered,
            exec.subtechniques_total
        ),
        (11, 17, 19, 29)
    );
    assert_eq!(exec.tactic_tagged_rules, 1051);
    let cred = cov.tactic("credential-access").unwrap();
    assert_eq!((cred.techniques_covered, cred.techniques_total), (16, 17));
    // SigmaHQ already tags ATT&CK v19's tactics (`stealth`, `defense-impairment`) that the
    // v18 catalogue does not have: none of its rules names defense-evasion, and the new
    // names are reported with the rules carrying them.
    let evasion = cov.tactic("defense-evasion").unwrap();
    assert_eq!(evasion.tactic_tagged_rules, 0);
    assert_eq!(
        (evasion.techniques_covered, evasion.techniques_total),
        (33, 47)
    );
    assert_eq!(cov.unknown_tags.len(), 15);
    assert_eq!(cov.unknown_tags["attack.stealth"].rules.len(), 1094);
    assert_eq!(
        cov.unknown_tags["attack.defense-impairment"].rules.len(),
        415
    );
    let new_technique = &cov.unknown_tags["attack.t1686"];
    assert_eq!(new_technique.rules.len(), 7);
    assert_eq!(
        new_technique.reason,
        "technique T1686 is not in the catalogue"
    );
    assert_eq!(cov.software.len(), 26);
    assert_eq!(cov.software["S0002"].len(), 12);
    assert_eq!(cov.groups.len(), 26);

    let layer = navigator_layer(&cov, "SigmaHQ coverage");
    check_layer_format(&layer);
    assert_eq!(layer["versions"]["attack"], "18");
    let techniques = layer["techniques"].as_array().unwrap();
    assert_eq!(techniques.len(), 402);
    let ps = techniques
        .iter()
        .find(|t| t["techniqueID"] == "T1059.001")
        .unwrap();
    assert_eq!(ps["score"], 220);
    assert_eq!(layer["gradient"]["maxValue"], 220);
    let obf = techniques
        .iter()
        .find(|t| t["techniqueID"] == "T1001")
        .unwrap();
    assert!(obf.get("score").is_none() && obf["color"].is_string());
}

/// The required keys and types of the Navigator layer format 4.5
/// (attack-navigator `layers/spec/v4.5/layerformat.md`).
fn check_layer_format(layer: &serde_json::Value) {
    assert!(layer["name"].is_string());
    assert_eq!(layer["domain"], "enterprise-attack");
    assert_eq!(layer["versions"]["layer"], "4.5");
    let nav = layer["versions"]["navigator"].as_str().unwrap();
    let parts: Vec<u32> = nav.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(parts >= vec![4, 9, 0], "navigator must be at least 4.9.0");
    let gradient = &layer["gradient"];
    assert!(gradient["colors"].as_array().unwrap().len() >= 2);
    assert!(gradient["maxValue"].as_f64().unwrap() > gradient["minValue"].as_f64().unwrap());
    for item in layer["legendItems"].as_array().unwrap() {
        assert!(item["label"].is_string() && item["color"].is_string());
    }
    for t in layer["techniques"].as_array().unwrap() {
        let id = t["techniqueID"].as_str().unwrap();
        let ok = id.len() == 5 || (id.len() == 9 && id.as_bytes()[5] == b'.');
        assert!(ok && id.starts_with('T'), "{id}");
        assert!(t.get("score").is_none_or(|s| s.is_number()));
        assert!(t.get("comment").is_none_or(|s| s.is_string()));
        for m in t["metadata"].as_array().unwrap() {
            assert!(m["name"].is_string() && m["value"].is_string(), "{m}");
        }
    }
}

#[test]
fn bad_catalogues_are_refused_with_reasons() {
    let p = Path::new("cat.json");
    let err = AttackCatalog::from_json(p, b"{\"type\": \"bundle\", \"objects\": [").unwrap_err();
    assert!(matches!(err, AttackError::Json { .. }));
    assert!(err.to_string().starts_with("cat.json: not JSON: "), "{err}");
    let err = AttackCatalog::from_json(p, b"{\"type\": \"bundle\"}").unwrap_err();
    assert_eq!(err.to_string(), "cat.json: not a STIX bundle: no `objects`");
    let err = AttackCatalog::from_json(p, b"{\"objects\": []}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cat.json: no x-mitre-matrix object: the tactics' matrix order is unknown"
    );
    let err = AttackCatalog::load(Path::new("/nonexistent/attack.json")).unwrap_err();
    assert!(matches!(err, AttackError::Io { .. }));

    // Objects that cannot be read are named and the rest loads.
    let bundle = serde_json::json!({"type": "bundle", "objects": [
        {"type": "x-mitre-matrix", "id": "x-mitre-matrix--1", "tactic_refs": ["x-mitre-tactic--1", "x-mitre-tactic--9"]},
        {"type": "x-mitre-tactic", "id": "x-mitre-tactic--1", "name": "Execution", "x_mitre_shortname": "execution",
         "external_references": [{"source_name": "mitre-attack", "external_id": "TA0002"}]},
        {"type": "attack-pattern", "id": "attack-pattern--1", "name": "Good",
         "external_references": [{"source_name": "mitre-attack", "external_id": "T1059"}],
         "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "execution"},
                               {"kill_chain_name": "mitre-attack", "phase_name": "nowhere"}]},
        {"type": "attack-pattern", "id": "attack-pattern--2", "name": "No id"},
        {"type": "attack-pattern", "id": "attack-pattern--3", "name": "Bad id",
         "external_references": [{"source_name": "mitre-attack", "external_id": "X1"}]},
        {"type": "attack-pattern", "id": "attack-pattern--4", "name": "Orphan", "x_mitre_is_subtechnique": true,
         "external_references": [{"source_name": "mitre-attack", "external_id": "T1111.001"}]},
        {"type": "attack-pattern", "id": "attack-pattern--5", "name": ["not", "a", "string"]},
        {"name": "no type"}
    ]});
    let cat = AttackCatalog::from_json(p, bundle.to_string().as_bytes()).unwrap();
    assert_eq!(cat.techniques().len(), 2);
    assert_eq!(cat.technique("T1059").unwrap().tactics, ["execution"]);
    let reasons: Vec<String> = cat
        .rejected()
        .iter()
        .map(|r| format!("{}: {}", r.object, r.reason))
        .collect();
    assert_eq!(reasons.len(), 7, "{reasons:#?}");
    let has = |s: &str| reasons.iter().any(|r| r.contains(s));
    assert!(has(
        "x-mitre-tactic--9: the matrix names a tactic the bundle does not hold"
    ));
    assert!(has(
        "attack-pattern--1: T1059: phase `nowhere` is not a tactic"
    ));
    assert!(has(
        "attack-pattern--2: attack-pattern without a mitre-attack external_id"
    ));
    assert!(has(
        "attack-pattern--3: external_id `X1` is not T#### or T####.###"
    ));
    assert!(has(
        "attack-pattern--4: parent technique T1111 is not active in the bundle"
    ));
    assert!(has("attack-pattern--5: not a STIX object this reads"));
    assert!(has("#7: not a STIX object this reads"));
}
