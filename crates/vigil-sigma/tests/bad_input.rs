//! Bad rule files: each one becomes a reasoned rejection with `file:line`, and loading goes on
//! with the rest. Also filters and correlations in a loaded set.

use std::path::PathBuf;

use vigil_sigma::RejectReason;
use vigil_sigma::ruleset::{SigmaConfig, load_rules};

const GOOD: &str = "title: good\nid: 00000000-0000-0000-0000-00000000000a\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-sigma-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_bad_file_is_a_reasoned_rejection_and_loading_continues() {
    let dir = temp_dir("bad");
    let files = [
        ("a_good.yml", GOOD.to_string()),
        ("b_not_a_rule.yml", "just: a map\nof: things\n".to_string()),
        (
            "c_broken.yaml",
            "title: x\ndetection:\n  sel: [unclosed\n  condition: sel\n".to_string(),
        ),
        (
            "d_modifier.yml",
            GOOD.replace("Image|endswith", "Image|endswithh"),
        ),
        (
            "e_condition.yml",
            GOOD.replace("condition: sel", "condition: sel and nope"),
        ),
        (
            "f_regex.yml",
            GOOD.replace("Image|endswith: '\\cmd.exe'", "Image|re: 'a(b'"),
        ),
        ("README.md", "not a rule file".to_string()),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let set = load_rules(std::slice::from_ref(&dir), &SigmaConfig::default());
    let r = &set.report;
    assert_eq!(r.files, 6, "README is skipped");
    assert_eq!(r.loaded, 1);
    assert_eq!(set.rules[0].title, "good");
    assert_eq!(r.rejected.len(), 5);
    let by_file = |f: &str| {
        r.rejected
            .iter()
            .find(|x| x.location.file.ends_with(f))
            .unwrap_or_else(|| panic!("no rejection for {f}"))
    };
    let x = by_file("b_not_a_rule.yml");
    assert_eq!(x.reason.kind(), "not-a-rule");
    assert_eq!(x.location.line, 1);
    let x = by_file("c_broken.yaml");
    assert_eq!(x.reason.kind(), "yaml");
    assert!(x.location.line >= 3, "{x}");
    let x = by_file("d_modifier.yml");
    assert_eq!(x.reason, RejectReason::UnknownModifier("endswithh".into()));
    assert_eq!(x.location.line, 8);
    assert_eq!(x.title.as_deref(), Some("good"));
    assert!(x.to_string().contains("d_modifier.yml:8"), "{x}");
    let x = by_file("e_condition.yml");
    assert_eq!(x.reason.kind(), "condition");
    assert!(x.reason.to_string().contains("nope"));
    assert_eq!(x.location.line, 9);
    let x = by_file("f_regex.yml");
    assert_eq!(x.reason.kind(), "invalid-regex");
    assert_eq!(x.location.line, 8);
    let counts = r.by_reason();
    assert_eq!(counts["loaded"], 1);
    assert_eq!(counts["rejected: yaml"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn filters_apply_and_correlations_are_counted() {
    let dir = temp_dir("meta");
    let filter = "title: no admins\nid: f0000000-0000-0000-0000-000000000001\nlogsource:\n  product: windows\nfilter:\n  rules:\n    - 00000000-0000-0000-0000-00000000000a\n  sel:\n    User: admin\n  condition: not sel\n";
    let correlation = "title: many cmd\nid: c0000000-0000-0000-0000-000000000001\ncorrelation:\n  type: event_count\n  rules:\n    - 00000000-0000-0000-0000-00000000000a\n  group-by:\n    - Computer\n  timespan: 10m\n  condition:\n    gte: 5\n";
    std::fs::write(dir.join("rule.yml"), format!("{GOOD}---\n{correlation}")).unwrap();
    std::fs::write(dir.join("z_filter.yml"), filter).unwrap();
    let set = load_rules(std::slice::from_ref(&dir), &SigmaConfig::default());
    let r = &set.report;
    assert_eq!(r.documents, 3);
    assert_eq!(r.loaded, 1);
    assert_eq!(r.correlations, 1);
    assert_eq!(r.by_reason()["correlation: not yet evaluated"], 1);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.filters.len(), 1);
    assert_eq!(r.filters[0].rules, 1);
    let rule = &set.rules[0];
    let mut e = vigil_core::Event::default();
    e.insert("Image", vigil_core::Value::str("C:\\x\\cmd.exe"));
    e.insert("User", vigil_core::Value::str("bob"));
    assert!(rule.matches(&e));
    e.set(
        vigil_core::Symbol::intern("User"),
        vigil_core::Value::str("Admin"),
    );
    assert!(!rule.matches(&e), "the filter removes admin events");
    assert!(
        rule.detection
            .searches
            .iter()
            .any(|s| s.name.ends_with(":sel"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rule_collections_merge_global_documents() {
    let src = "action: global\ntitle: shared\nlogsource:\n  product: windows\ndetection:\n  sel:\n    EventID: 1\n  condition: sel and x\n---\ndetection:\n  x:\n    Image: a.exe\n---\ndetection:\n  x:\n    Image: b.exe\n";
    let parsed = vigil_sigma::parse::parse_source(src, "c.yml", &Default::default());
    assert_eq!(parsed.documents, 2);
    let rules: Vec<_> = parsed
        .items
        .into_iter()
        .map(|i| match i {
            Ok(vigil_sigma::parse::Document::Rule(r)) => r,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut e = vigil_core::Event::default();
    e.insert("EventID", vigil_core::Value::Int(1));
    e.insert("Image", vigil_core::Value::str("b.exe"));
    assert!(!rules[0].matches(&e));
    assert!(rules[1].matches(&e));
    assert_eq!(rules[1].title, "shared");
}

#[test]
fn unused_search_identifiers_are_warned_about() {
    let src = GOOD.replace("condition: sel", "unused:\n    A: 1\n  condition: sel");
    let parsed = vigil_sigma::parse::parse_source(&src, "w.yml", &Default::default());
    assert!(parsed.items[0].is_ok());
    assert_eq!(parsed.warnings.len(), 1);
    assert!(
        parsed.warnings[0].message.contains("unused"),
        "{}",
        parsed.warnings[0]
    );
}
