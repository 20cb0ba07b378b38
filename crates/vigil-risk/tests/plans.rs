//! Response plans: every shipped plan parses and is complete, `choose` picks the plan a
//! technique names over one a tactic names, user plans override by id, and bad YAML is
//! refused naming its file and line.

use std::path::PathBuf;

use vigil_risk::plan::{GENERIC_PLAN, technique_id};
use vigil_risk::{Phase, Plan, PlanLibrary, Tactic};

fn tags(t: &[&str]) -> Vec<String> {
    t.iter().map(ToString::to_string).collect()
}

/// A fresh, empty directory under the system temp dir for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-risk-plans-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_shipped_plan_parses_and_covers_every_phase() {
    let library = PlanLibrary::builtin();
    let ids: Vec<&str> = library.plans().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cloud-account-compromise",
            "credential-theft",
            "data-exfiltration",
            "generic",
            "phishing",
            "ransomware"
        ]
    );
    for plan in library.plans() {
        let phases: std::collections::BTreeSet<Phase> =
            plan.tasks.iter().map(|t| t.phase).collect();
        assert_eq!(phases.len(), 5, "{} lacks a phase: {phases:?}", plan.id);
        assert!(
            plan.roles.iter().any(|r| r.id == "incident-commander"),
            "{}",
            plan.id
        );
        assert!(!plan.communications.is_empty(), "{}", plan.id);
        assert!(plan.sla.acknowledge_minutes <= plan.sla.contain_minutes);
        // A round trip through JSON (the API form) keeps the plan.
        let json = serde_json::to_string(plan).unwrap();
        assert_eq!(&serde_json::from_str::<Plan>(&json).unwrap(), plan);
    }
    let ransomware = library.get("ransomware").unwrap();
    assert!(ransomware.roles.iter().any(|r| r.id == "legal"));
    assert_eq!(ransomware.sla.acknowledge_minutes, 15);
}

#[test]
fn choose_picks_the_plan_the_techniques_name() {
    let library = PlanLibrary::builtin();
    let pick =
        |tactics: &[Tactic], t: &[&str]| library.choose(tactics, &tags(t)).unwrap().id.clone();
    assert_eq!(
        pick(&[Tactic::Impact], &["attack.impact", "attack.t1486"]),
        "ransomware"
    );
    // A sub-technique is covered by its parent technique.
    assert_eq!(
        pick(
            &[Tactic::CredentialAccess],
            &["attack.credential-access", "attack.t1003.001"]
        ),
        "credential-theft"
    );
    assert_eq!(pick(&[], &["attack.t1566.001"]), "phishing");
    assert_eq!(pick(&[], &["attack.T1567.002"]), "data-exfiltration");
    // The exact sub-technique T1078.004 (cloud accounts) beats tactic matches elsewhere.
    assert_eq!(
        pick(
            &[Tactic::CredentialAccess, Tactic::Exfiltration],
            &["attack.t1078.004"]
        ),
        "cloud-account-compromise"
    );
    // One technique match beats several tactic matches of another plan.
    assert_eq!(
        pick(
            &[Tactic::Exfiltration, Tactic::Collection, Tactic::Impact],
            &["attack.t1003.006"]
        ),
        "credential-theft"
    );
    // Tactics alone still choose, and a log source given as a tag picks the cloud plan.
    assert_eq!(pick(&[Tactic::Exfiltration], &[]), "data-exfiltration");
    assert_eq!(
        pick(&[Tactic::Discovery], &["logsource:AWS"]),
        "cloud-account-compromise"
    );
    // Nothing fits: the generic plan.
    assert_eq!(pick(&[Tactic::Discovery], &["attack.t1087"]), GENERIC_PLAN);
    assert_eq!(pick(&[], &[]), GENERIC_PLAN);
    // A library without a generic plan chooses nothing when nothing fits.
    let only = PlanLibrary::from_plans(library.get("ransomware").cloned());
    assert!(only.choose(&[Tactic::Discovery], &[]).is_none());
}

#[test]
fn technique_ids_are_read_from_tags_in_any_case() {
    assert_eq!(
        technique_id("attack.t1003.001").as_deref(),
        Some("T1003.001")
    );
    assert_eq!(technique_id("T1486").as_deref(), Some("T1486"));
    assert_eq!(technique_id("attack.credential-access"), None);
    assert_eq!(technique_id("attack.t10"), None);
    assert_eq!(technique_id("attack.g0016"), None);
}

const USER_PLAN: &str = "\
id: ransomware
title: Our ransomware plan
description: The local variant.
applies_to:
  techniques: [T1486]
sla:
  acknowledge_minutes: 5
  contain_minutes: 30
  close_minutes: 600
roles:
  - id: ic
    title: Incident commander
    duties: Runs it.
tasks:
  - id: isolate
    phase: contain
    role: ic
    due_minutes: 10
    title: Isolate
";

#[test]
fn user_plans_add_and_override_by_id() {
    let dir = temp_dir("override");
    std::fs::write(dir.join("ours.yaml"), USER_PLAN).unwrap();
    std::fs::write(
        dir.join("insider.yml"),
        USER_PLAN
            .replace("id: ransomware", "id: insider")
            .replace("T1486", "T1052"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a plan").unwrap();
    let library = PlanLibrary::load_dir(&dir).unwrap();
    assert_eq!(library.plans().count(), 7);
    assert_eq!(
        library.get("ransomware").unwrap().sla.acknowledge_minutes,
        5
    );
    assert_eq!(
        library
            .choose(&[], &tags(&["attack.t1052.001"]))
            .unwrap()
            .id,
        "insider"
    );
    // Two files with one id: refused, naming both.
    std::fs::write(dir.join("zz-again.yaml"), USER_PLAN).unwrap();
    let e = PlanLibrary::load_dir(&dir).unwrap_err().to_string();
    assert!(
        e.contains("zz-again.yaml:1: plan id \"ransomware\" is also defined in"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_plans_are_refused_naming_file_and_line() {
    // A YAML syntax error: the tab-less bad indentation on line 4.
    let broken = "id: x\ntitle: X\ndescription: d\n  sla: [\n";
    let e = Plan::parse("broken.yaml", broken).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].file, "broken.yaml");
    assert!(e[0].line.is_some_and(|l| l >= 4), "{e:?}");
    // An unknown key is an error, not silently dropped.
    let typo = USER_PLAN.replace("  contain_minutes: 30", "  contain_minute: 30");
    let e = Plan::parse("typo.yaml", &typo).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "typo.yaml:8:3: unknown field `contain_minute`, expected one of acknowledge_minutes, \
         contain_minutes, close_minutes"
    );
    // A phase that does not exist names the allowed ones.
    let phase = USER_PLAN.replace("phase: contain", "phase: containment");
    let e = Plan::parse("phase.yaml", &phase).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "phase.yaml:16:12: unknown variant `containment`, expected one of identify, contain, \
         eradicate, recover, lessons"
    );
    // Semantic problems: each with its line.
    let wrong = USER_PLAN
        .replace("    role: ic", "    role: nobody")
        .replace("[T1486]", "[T1486, X42]");
    let e = Plan::parse("wrong.yaml", &wrong).unwrap_err();
    let text: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(&"wrong.yaml:17: task \"isolate\" is owned by role \"nobody\", which the plan does not define".to_string()),
        "{text:?}"
    );
    assert!(
        text.contains(
            &"wrong.yaml:5: \"X42\" is not an ATT&CK technique id (T1234 or T1234.567)".to_string()
        ),
        "{text:?}"
    );
    // A bad file in a plan directory loads nothing.
    let dir = temp_dir("bad");
    std::fs::write(dir.join("wrong.yaml"), &wrong).unwrap();
    let e = PlanLibrary::load_dir(&dir).unwrap_err();
    assert_eq!(e.0.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        PlanLibrary::load_dir(&dir)
            .unwrap_err()
            .to_string()
            .contains("cannot read the plan directory")
    );
}
