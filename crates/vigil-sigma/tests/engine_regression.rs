//! SigmaHQ's regression cases through the compiled engine — routing and field mapping included
//! (the reference evaluator's own run is `tests/regression.rs`). For each case folder
//! (`info.yml`, `<rule-id>.evtx`, `<rule-id>.json`) the rule must match at least `match_count`
//! events (1 when absent) of the EVTX and of its JSON rendering, and `evaluate` must equal
//! `evaluate_naive` on each of them. Skipped, saying so, when the corpus is absent outside CI.

mod common;

use std::path::Path;

use vigil_core::corpus::corpus_path;
use vigil_sigma::engine::Scratch;

/// `(rule id, match_count)` of a case, read from its info.yml (only the keys needed here).
fn case(info: &Path) -> Option<(String, usize)> {
    let text = std::fs::read_to_string(info).ok()?;
    let mut in_meta = false;
    let (mut id, mut count) = (None, 1);
    for line in text.lines() {
        let t = line.trim_start().trim_start_matches("- ");
        if line.starts_with("rule_metadata:") {
            in_meta = true;
        } else if !line.starts_with(' ') {
            in_meta = false;
        }
        if in_meta && id.is_none() {
            id = t.strip_prefix("id:").map(|v| v.trim().to_string());
        }
        if let Some(v) = t.strip_prefix("match_count:") {
            count = v.trim().parse().ok()?;
        }
    }
    Some((id?, count))
}

#[test]
fn regression_cases_fire_through_the_engine() {
    let Some(sigma) = corpus_path("sigma") else {
        return;
    };
    let engine = common::sigmahq_engine(&sigma);
    let infos = common::files_named(&sigma.join("regression_data"), "info.yml");
    assert!(infos.len() >= 200, "only {} cases", infos.len());

    let mut scratch = Scratch::new(&engine);
    let (mut fast, mut naive) = (Vec::new(), Vec::new());
    let (mut passed, mut skipped, mut failures) = (0, 0, Vec::new());
    for info in &infos {
        let Some((id, want)) = case(info) else {
            failures.push(format!("{}: unreadable info.yml", info.display()));
            continue;
        };
        let dir = info.parent().expect("info.yml has a folder");
        let (evtx, json) = (
            dir.join(format!("{id}.evtx")),
            dir.join(format!("{id}.json")),
        );
        if !evtx.exists() {
            skipped += 1; // e.g. the commented-out cisco case (a .raw file only)
            continue;
        }
        let Some(rule) = (0..engine.len()).find(|&i| engine.rule(i).id.as_deref() == Some(&id))
        else {
            failures.push(format!("{id}: rule not compiled"));
            continue;
        };
        let mut ok = true;
        for file in [&evtx, &json] {
            let mut hits = 0;
            let mut check = |ev| {
                engine.evaluate(&ev, &mut scratch, &mut fast);
                engine.evaluate_naive(&ev, &mut naive);
                assert_eq!(fast, naive, "{}: evaluate != naive", file.display());
                hits += usize::from(fast.iter().any(|m| m.rule == rule));
            };
            let opts = vigil_ingest::DecodeOptions::default();
            if let Err(e) = vigil_ingest::decode_file(file, &opts, &mut check, &mut |_| {}) {
                failures.push(format!("{}: {e}", file.display()));
                ok = false;
            } else if hits < want {
                failures.push(format!(
                    "{id} {}: {hits} of the expected {want} events matched ({})",
                    engine.rule(rule).title,
                    file.display()
                ));
                ok = false;
            }
        }
        passed += usize::from(ok);
    }
    eprintln!(
        "regression through the engine: {passed} of {} cases pass ({skipped} without EVTX skipped)",
        infos.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
