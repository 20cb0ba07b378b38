//! `Detection::explain` (one walk: each positive search evaluated once, its evidence taken from
//! that walk) against the three-walk explanation it replaced, kept here as the reference:
//! evaluate each positive search, find its matching group again, then each test's matching
//! value again. Both must give the same `Evidence` values in the same order.
//!
//! - small rules for each corner (groups that fail after a test held, keywords with `|all`,
//!   `|neq`, `|all`, null, value sets where two values match, negation-only rules, a search
//!   named twice in the condition);
//! - every rule that fires on every event of the corpora (EVTX attack samples, Security-Datasets,
//!   CloudTrail and identity JSON, SigmaHQ's regression events). Skipped (saying so) when the
//!   corpus is absent outside CI.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use vigil_core::corpus::corpus_path;
use vigil_core::{Event, Value};
use vigil_sigma::engine::Scratch;
use vigil_sigma::parse::{Document, parse_source};
use vigil_sigma::{Condition, Detection, Evidence, FieldTest, Rule, Search, SearchBody};

/// The explanation as it was computed before the one-walk version (2026-12-02, `652c508`).
mod reference {
    use super::*;

    pub fn explain(d: &Detection, event: &Event) -> Vec<Evidence> {
        let mut used = Vec::new();
        positive_searches(&d.condition, &mut used);
        let mut out = Vec::new();
        for i in used {
            let search = &d.searches[i];
            if search.matches(event) {
                search_explain(search, event, &mut out);
            }
        }
        if out.is_empty() {
            let mut negated = Vec::new();
            negated_searches(&d.condition, false, &mut negated);
            for i in negated {
                let search = &d.searches[i];
                if !search.matches(event) {
                    out.push(Evidence {
                        search: format!("not {}", search.name),
                        field: None,
                        value: "(no match)".to_string(),
                        pattern: format!("not {}", search.name),
                    });
                }
            }
        }
        out
    }

    fn negated_searches(c: &Condition, under_not: bool, out: &mut Vec<usize>) {
        match c {
            Condition::Search(i) => {
                if under_not && !out.contains(i) {
                    out.push(*i);
                }
            }
            Condition::And(items) | Condition::Or(items) => items
                .iter()
                .for_each(|c| negated_searches(c, under_not, out)),
            Condition::Not(inner) => negated_searches(inner, !under_not, out),
        }
    }

    fn positive_searches(c: &Condition, out: &mut Vec<usize>) {
        match c {
            Condition::Search(i) => {
                if !out.contains(i) {
                    out.push(*i);
                }
            }
            Condition::And(items) | Condition::Or(items) => {
                items.iter().for_each(|c| positive_searches(c, out))
            }
            Condition::Not(_) => {}
        }
    }

    fn search_explain(s: &Search, event: &Event, out: &mut Vec<Evidence>) {
        match &s.body {
            SearchBody::Fields(groups) => {
                if let Some(g) = groups.iter().find(|g| g.iter().all(|t| t.matches(event))) {
                    for t in g {
                        out.push(evidence(t, &s.name, event));
                    }
                }
            }
            SearchBody::Keywords(k) => {
                for (m, raw) in k.values.iter().zip(&k.raw) {
                    let hit = event.fields().iter().find(|f| m.matches(&f.value, event));
                    if let Some(f) = hit {
                        out.push(Evidence {
                            search: s.name.clone(),
                            field: Some(f.name.as_str().to_string()),
                            value: f.value.to_string(),
                            pattern: raw.clone(),
                        });
                    }
                }
            }
        }
    }

    fn evidence(t: &FieldTest, search: &str, event: &Event) -> Evidence {
        let value = event.get(t.field);
        let shown = |raw: &str| format!("{}: {}", t.written, raw);
        let pattern = match value {
            Some(v) if !t.negate && !t.all => t
                .values
                .iter()
                .zip(&t.raw)
                .find(|(m, _)| m.matches(v, event))
                .map(|(_, raw)| shown(raw)),
            None if !t.negate && !t.all => t
                .values
                .iter()
                .zip(&t.raw)
                .find(|(m, _)| m.accepts_absent())
                .map(|(_, raw)| shown(raw)),
            _ => None,
        }
        .unwrap_or_else(|| match t.raw.as_slice() {
            [one] => shown(one),
            many => shown(&format!("[{}]", many.join(", "))),
        });
        Evidence {
            search: search.to_string(),
            field: Some(t.field.as_str().to_string()),
            value: value.map_or_else(|| "(absent)".to_string(), Value::to_string),
            pattern,
        }
    }
}

fn rule(detection: &str) -> Rule {
    let src = format!(
        "title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n  product: windows\ndetection:\n{detection}"
    );
    let mut parsed = parse_source(&src, "test.yml", &HashMap::new());
    match parsed.items.pop() {
        Some(Ok(Document::Rule(r))) => *r,
        other => panic!("not a rule: {other:?}"),
    }
}

fn ev(fields: &[(&str, Value)]) -> Event {
    let mut e = Event::default();
    for (k, v) in fields {
        e.insert(k, v.clone());
    }
    e
}

fn s(x: &str) -> Value {
    Value::str(x)
}

/// The one-walk explanation of `r` on `e`, after checking it equals the reference's.
fn explained(r: &Rule, e: &Event) -> Vec<Evidence> {
    let ex = r.detection.explain(e);
    assert_eq!(ex, reference::explain(&r.detection, e));
    ex
}

/// (search, field, value, pattern) of each item, for short assertions.
fn items(ex: &[Evidence]) -> Vec<(&str, Option<&str>, &str, &str)> {
    ex.iter()
        .map(|e| {
            (
                e.search.as_str(),
                e.field.as_deref(),
                e.value.as_str(),
                e.pattern.as_str(),
            )
        })
        .collect()
}

#[test]
fn a_group_that_fails_after_a_test_held_explains_nothing() {
    // The first map's Image test holds, its User test does not; the second map matches.
    let r = rule(
        "  sel:\n    - Image|endswith: '\\cmd.exe'\n      User: SYSTEM\n    - Image|endswith: '.exe'\n      CommandLine|contains: whoami\n  condition: sel\n",
    );
    let e = ev(&[
        ("Image", s("C:\\Windows\\cmd.exe")),
        ("User", s("bob")),
        ("CommandLine", s("cmd /c whoami /all")),
    ]);
    assert!(r.matches(&e));
    assert_eq!(
        items(&explained(&r, &e)),
        [
            (
                "sel",
                Some("Image"),
                "C:\\Windows\\cmd.exe",
                "Image|endswith: .exe"
            ),
            (
                "sel",
                Some("CommandLine"),
                "cmd /c whoami /all",
                "CommandLine|contains: whoami"
            ),
        ]
    );
}

#[test]
fn searches_in_condition_order_once_each_and_not_under_not() {
    let r = rule(
        "  sel_b:\n    B: 2\n  sel_a:\n    A: 1\n  filter:\n    C: 3\n  condition: sel_a and (sel_b or sel_a) and not filter\n",
    );
    let e = ev(&[("A", Value::Int(1)), ("B", Value::Int(2))]);
    assert!(r.matches(&e));
    assert_eq!(
        items(&explained(&r, &e)),
        [
            ("sel_a", Some("A"), "1", "A: 1"),
            ("sel_b", Some("B"), "2", "B: 2")
        ]
    );
    // A positive search that does not match adds nothing.
    let e = ev(&[("A", Value::Int(1))]);
    assert_eq!(
        items(&explained(&r, &e)),
        [("sel_a", Some("A"), "1", "A: 1")]
    );
}

#[test]
fn negation_alone_names_the_searches_that_did_not_match() {
    let r = rule("  filter:\n    User: SYSTEM\n  condition: not filter\n");
    let e = ev(&[("User", s("bob"))]);
    assert!(r.matches(&e));
    assert_eq!(
        items(&explained(&r, &e)),
        [("not filter", None, "(no match)", "not filter")]
    );
}

#[test]
fn keywords_any_and_all() {
    let r = rule("  keywords:\n    - mimikatz\n    - absent\n    - 4688\n  condition: keywords\n");
    let e = ev(&[("Msg", s("ran MimiKatz.exe")), ("Id", Value::Int(4688))]);
    assert_eq!(
        items(&explained(&r, &e)),
        [
            ("keywords", Some("Msg"), "ran MimiKatz.exe", "mimikatz"),
            ("keywords", Some("Id"), "4688", "4688"),
        ]
    );
    // With `|all`, one keyword missing: the search does not match, so nothing of it is shown.
    let r = rule(
        "  keywords:\n    '|all':\n      - foo\n      - bar\n  sel:\n    A: foo\n  condition: keywords or sel\n",
    );
    let e = ev(&[("A", s("foo"))]);
    assert!(r.matches(&e));
    assert_eq!(
        items(&explained(&r, &e)),
        [("sel", Some("A"), "foo", "A: foo")]
    );
    let e = ev(&[("A", s("foo")), ("B", s("xbarx"))]);
    assert_eq!(
        items(&explained(&r, &e)),
        [
            ("keywords", Some("A"), "foo", "foo"),
            ("keywords", Some("B"), "xbarx", "bar"),
            ("sel", Some("A"), "foo", "A: foo"),
        ]
    );
}

#[test]
fn all_neq_null_and_lists() {
    let r = rule(
        "  sel:\n    CommandLine|contains|all:\n      - ' -enc '\n      - powershell\n    User|neq: SYSTEM\n    Parent: null\n  condition: sel\n",
    );
    let e = ev(&[
        ("CommandLine", s("powershell -enc AAAA")),
        ("User", s("bob")),
    ]);
    assert!(r.matches(&e));
    assert_eq!(
        items(&explained(&r, &e)),
        [
            (
                "sel",
                Some("CommandLine"),
                "powershell -enc AAAA",
                "CommandLine|contains|all: [ -enc , powershell]"
            ),
            ("sel", Some("User"), "bob", "User|neq: SYSTEM"),
            ("sel", Some("Parent"), "(absent)", "Parent: null"),
        ]
    );
    let r = rule("  sel:\n    Tags:\n      - x\n      - b\n  condition: sel\n");
    let e = ev(&[("Tags", Value::List(vec![s("a"), s("b")]))]);
    assert_eq!(
        items(&explained(&r, &e)),
        [("sel", Some("Tags"), "[a, b]", "Tags: b")]
    );
}

#[test]
fn a_value_set_names_the_first_value_in_rule_order() {
    // Nine endswith values (enough for a value set): `cmd.exe` and `\cmd.exe` both match; the
    // rule lists `cmd.exe` first.
    let names = [
        "a.exe",
        "b.exe",
        "cmd.exe",
        "d.exe",
        "\\cmd.exe",
        "f.exe",
        "g.exe",
        "h.exe",
        "i.exe",
    ];
    let list: String = names.iter().map(|n| format!("      - '{n}'\n")).collect();
    let r = rule(&format!(
        "  sel:\n    Image|endswith:\n{list}  condition: sel\n"
    ));
    let test = match &r.detection.searches[0].body {
        SearchBody::Fields(groups) => &groups[0][0],
        SearchBody::Keywords(_) => unreachable!("a field search"),
    };
    assert!(test.value_set.get(&test.values).is_some(), "a value set");
    let e = ev(&[("Image", s("C:\\Windows\\CMD.EXE"))]);
    assert_eq!(
        items(&explained(&r, &e)),
        [(
            "sel",
            Some("Image"),
            "C:\\Windows\\CMD.EXE",
            "Image|endswith: cmd.exe"
        )]
    );
    assert!(explained(&r, &ev(&[("Image", s("C:\\x.exe"))])).is_empty());
}

#[test]
fn more_than_64_searches() {
    // 70 searches (past the walk's bit set): `1 of sel_*` names each once, in order.
    let searches: String = (0..70)
        .map(|i| format!("  sel_{i:02}:\n    F{}: x\n", i % 3))
        .collect();
    let r = rule(&format!(
        "{searches}  condition: 1 of sel_* and (sel_69 or sel_01)\n"
    ));
    assert_eq!(r.detection.searches.len(), 70);
    let e = ev(&[("F0", s("x")), ("F1", s("x"))]);
    let ex = explained(&r, &e);
    let names: Vec<&str> = ex.iter().map(|e| e.search.as_str()).collect();
    let want: Vec<String> = (0..70)
        .filter(|i| i % 3 != 2)
        .map(|i| format!("sel_{i:02}"))
        .collect();
    assert_eq!(names, want);
}

fn event_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(dir) = corpus_path("evtx-attack-samples") {
        files.extend(common::files_with_ext(&dir, "evtx"));
    }
    for dir in ["security-datasets/windows", "cloudtrail", "identity"] {
        if let Some(dir) = corpus_path(dir) {
            files.extend(common::files_with_ext(&dir, "json"));
        }
    }
    if let Some(dir) = corpus_path("sigma/regression_data") {
        files.extend(common::files_with_ext(&dir, "evtx"));
        files.extend(common::files_with_ext(&dir, "json"));
    }
    files
}

/// For every corpus event and every rule the engine finds on it whose own detection matches
/// (not only a variant with renamed fields): the one-walk explanation equals the reference.
#[test]
fn one_walk_equals_the_reference_on_the_corpora() {
    let Some(sigma) = corpus_path("sigma") else {
        eprintln!("skipped: no sigma corpus");
        return;
    };
    let engine = common::sigmahq_engine(&sigma);
    let mut scratch = Scratch::new(&engine);
    let mut matches = Vec::new();
    let (mut events, mut compared, mut items) = (0usize, 0usize, 0usize);
    let mut mismatches = Vec::new();
    let opts = vigil_ingest::DecodeOptions::default();
    for file in event_files() {
        let mut check = |e: Event| {
            events += 1;
            engine.evaluate(&e, &mut scratch, &mut matches);
            for m in &matches {
                let rule = engine.rule(m.rule);
                if !rule.detection.matches(&e) {
                    continue;
                }
                let (got, want) = (
                    rule.detection.explain(&e),
                    reference::explain(&rule.detection, &e),
                );
                compared += 1;
                items += got.len();
                if got != want && mismatches.len() < 10 {
                    mismatches.push(format!(
                        "{} record {:?}, rule {}: {got:?} != {want:?}",
                        file.display(),
                        e.source.record_id,
                        rule.display_id()
                    ));
                }
            }
        };
        if let Err(err) = vigil_ingest::decode_file(&file, &opts, &mut check, &mut |_| {}) {
            eprintln!("skipping {}: {err}", file.display());
        }
    }
    eprintln!("explain: {events} events, {compared} explanations compared, {items} items");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(compared > 1_000, "only {compared} explanations compared");
}
