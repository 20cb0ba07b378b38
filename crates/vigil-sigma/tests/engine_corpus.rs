//! The engine against the real corpora: every SigmaHQ rule, every event of the EVTX attack
//! samples, the Security-Datasets Windows JSON, CloudTrail and identity JSON, and SigmaHQ's
//! regression events.
//!
//! - `sigmahq_rules_load_and_map`: ≥ 99 % of SigmaHQ's rules load and compile; every Windows
//!   logsource SigmaHQ uses is in the mapping (the unmapped ones are listed with counts).
//! - `evaluate_equals_naive_on_corpus`: the differential test — for every event, the compiled
//!   engine (routing + prefilter) returns exactly the (rule, variant) set of naive evaluation,
//!   and `evaluate_batch` over batches of the same events returns what `evaluate` returned for
//!   each of them.
//!
//! Skipped (saying so) when the corpus is absent outside CI; a failure in CI.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use vigil_core::corpus::corpus_path;
use vigil_core::{Event, LogSource};
use vigil_sigma::engine::{Engine, Scratch};
use vigil_sigma::error::RejectReason;
use vigil_sigma::mapping::LogsourceMapping;

struct Compiled {
    engine: Engine,
    documents: usize,
    parse_rejected: usize,
    unmapped: BTreeMap<String, usize>,
}

fn compile_sigmahq() -> Option<Compiled> {
    let root = corpus_path("sigma")?;
    // The sample placeholder values let the rules-placeholder rules load too.
    let set = common::load_sigmahq(&root);
    let parse_rejected = set.report.rejected.len();
    let (engine, rejections) = Engine::compile(set.rules, &LogsourceMapping::builtin());
    let mut unmapped = BTreeMap::new();
    for r in &rejections {
        match &r.reason {
            RejectReason::UnmappedLogsource(ls) => *unmapped.entry(ls.clone()).or_insert(0) += 1,
            other => panic!("unexpected compile rejection {other}"),
        }
    }
    Some(Compiled {
        documents: engine.len() + parse_rejected + rejections.len(),
        engine,
        parse_rejected,
        unmapped,
    })
}

#[test]
fn sigmahq_rules_load_and_map() {
    let Some(c) = compile_sigmahq() else { return };
    let stats = c.engine.stats();
    eprintln!(
        "SigmaHQ: {} rules loaded of {} detection documents; {} rejected while parsing, {} unmapped",
        c.engine.len(),
        c.documents,
        c.parse_rejected,
        c.unmapped.values().sum::<usize>()
    );
    for (ls, n) in &c.unmapped {
        eprintln!("  unmapped: {ls} ({n} rules)");
    }
    eprintln!("engine: {stats:?}");
    assert!(
        c.engine.len() * 100 >= 3780 * 99,
        "only {} of 3780 SigmaHQ rules loaded",
        c.engine.len()
    );
    assert!(
        c.unmapped.is_empty(),
        "unmapped Windows logsources: {:?}",
        c.unmapped
    );
}

fn event_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(dir) = corpus_path("evtx-attack-samples") {
        files.extend(common::files_with_ext(&dir, "evtx"));
    }
    if let Some(dir) = corpus_path("security-datasets/windows") {
        files.extend(common::files_with_ext(&dir, "json"));
    }
    // Non-Windows JSON (CloudTrail, Entra/M365 audit): routed by the event's logsource.
    for dir in ["cloudtrail", "identity"] {
        if let Some(dir) = corpus_path(dir) {
            files.extend(common::files_with_ext(&dir, "json"));
        }
    }
    // SigmaHQ's regression events: positives by construction, so the prefilter is exercised
    // on events that do match.
    if let Some(dir) = corpus_path("sigma/regression_data") {
        files.extend(common::files_with_ext(&dir, "evtx"));
        files.extend(common::files_with_ext(&dir, "json"));
    }
    files.sort();
    files
}

#[test]
fn evaluate_equals_naive_on_corpus() {
    let Some(c) = compile_sigmahq() else { return };
    let files = event_files();
    assert!(!files.is_empty(), "no event files in the corpus");
    let engine = &c.engine;
    let mut scratch = Scratch::new(engine);
    let (mut fast, mut naive) = (Vec::new(), Vec::new());
    let (mut events, mut matches, mut decode_errors) = (0usize, 0usize, 0usize);
    let mut matched_events = 0usize;
    let mut rules_hit = std::collections::BTreeSet::new();
    let mut logsource_routed = 0usize;
    let mut mismatches = Vec::new();
    // Batches for `evaluate_batch`, each event with what `evaluate` answered for it; sizes
    // vary so that batches start and end everywhere.
    let mut batch_scratch = Scratch::new(engine);
    let (mut batch, mut expected, mut batched) = (Vec::new(), Vec::new(), Vec::new());
    let mut batches = 0usize;
    let mut compare_batch = |batch: &mut Vec<Event>,
                             expected: &mut Vec<(u32, vigil_sigma::engine::RuleMatch)>,
                             mismatches: &mut Vec<String>| {
        engine.evaluate_batch(batch, &mut batch_scratch, &mut batched);
        if batched != *expected && mismatches.len() < 10 {
            mismatches.push(format!(
                "batch of {} events from record {:?}: evaluate_batch {batched:?} != evaluate {expected:?}",
                batch.len(),
                batch.first().map(|e| e.source.record_id)
            ));
        }
        // Split per event as callers do: every event once, in order, with its own matches.
        let mut seen = 0usize;
        for (index, (event, mine)) in
            vigil_sigma::engine::matches_by_event(batch, &batched).enumerate()
        {
            assert!(std::ptr::eq(event, &batch[index]));
            assert!(mine.iter().all(|(e, _)| *e as usize == index));
            seen += mine.len();
        }
        assert_eq!(seen, batched.len(), "matches_by_event dropped matches");
        batches += 1;
        batch.clear();
        expected.clear();
    };
    let opts = vigil_ingest::DecodeOptions::default();
    for file in &files {
        let mut check = |mut ev: Event| {
            events += 1;
            // vigil-ingest does not label CloudTrail records yet; do it here so the
            // logsource-routed half of the engine sees real events too.
            if ev.logsource == LogSource::default()
                && ev
                    .get_str("eventSource")
                    .and_then(|v| v.as_text())
                    .is_some_and(|t| t.as_str().ends_with(".amazonaws.com"))
            {
                ev.logsource = LogSource::product("aws").with_service("cloudtrail");
            }
            engine.evaluate(&ev, &mut scratch, &mut fast);
            engine.evaluate_naive(&ev, &mut naive);
            let index = batch.len() as u32;
            expected.extend(fast.iter().map(|m| (index, *m)));
            batch.push(ev.clone());
            if batch.len() == 1 + events % 37 {
                compare_batch(&mut batch, &mut expected, &mut mismatches);
            }
            if fast != naive {
                if mismatches.len() < 10 {
                    mismatches.push(format!(
                        "{} record {:?}: evaluate {:?} != naive {:?}",
                        file.display(),
                        ev.source.record_id,
                        fast,
                        naive
                    ));
                }
                return;
            }
            matches += fast.len();
            logsource_routed += fast
                .iter()
                .filter(|m| engine.target_name(m).is_none())
                .count();
            matched_events += usize::from(!fast.is_empty());
            rules_hit.extend(fast.iter().map(|m| m.rule));
        };
        let result =
            vigil_ingest::decode_file(file, &opts, &mut check, &mut |_| decode_errors += 1);
        if let Err(e) = result {
            eprintln!("skipping {}: {e}", file.display());
        }
        if !batch.is_empty() {
            compare_batch(&mut batch, &mut expected, &mut mismatches);
        }
    }
    eprintln!(
        "differential: {} files, {events} events ({decode_errors} undecodable records), \
         {matches} matches ({logsource_routed} routed by logsource) on {matched_events} events \
         by {} distinct rules; {batches} batches through evaluate_batch",
        files.len(),
        rules_hit.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(events > 5_000, "only {events} events decoded");
    assert!(matches > 0);
}

/// Every SigmaHQ field test whose values share one automaton (`vigil_sigma::valueset`) answers,
/// on every corpus event carrying its field, exactly what comparing its values one by one
/// answers.
#[test]
fn value_sets_answer_like_the_values_one_by_one() {
    use vigil_sigma::ast::SearchBody;
    let Some(c) = compile_sigmahq() else { return };
    let mut by_field: std::collections::HashMap<vigil_core::Symbol, Vec<&vigil_sigma::FieldTest>> =
        std::collections::HashMap::new();
    for rule in c.engine.rules() {
        for search in &rule.detection.searches {
            if let SearchBody::Fields(groups) = &search.body {
                for t in groups.iter().flatten() {
                    if !t.all && t.value_set.get(&t.values).is_some() {
                        by_field.entry(t.field).or_default().push(t);
                    }
                }
            }
        }
    }
    let tests: usize = by_field.values().map(Vec::len).sum();
    let (mut compared, mut hits, mut mismatches) = (0usize, 0usize, Vec::new());
    let opts = vigil_ingest::DecodeOptions::default();
    for file in event_files() {
        let mut check = |ev: Event| {
            for f in ev.fields() {
                for t in by_field.get(&f.name).into_iter().flatten() {
                    let (set, plain) = (t.matches(&ev), t.matches_one_by_one(&ev));
                    compared += 1;
                    hits += usize::from(plain);
                    if set != plain && mismatches.len() < 10 {
                        mismatches.push(format!(
                            "{} {}: set {set}, one by one {plain} on {}",
                            t.location, t.written, f.value
                        ));
                    }
                }
            }
        };
        let _ = vigil_ingest::decode_file(&file, &opts, &mut check, &mut |_| {});
    }
    eprintln!("value sets: {tests} field tests, {compared} comparisons, {hits} matches");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(tests > 100 && compared > 10_000 && hits > 100);
}

/// Every SigmaHQ `|re` test answers, on every distinct value its field takes in the corpus
/// (and on hand-made values where Unicode and ASCII classes differ), what its Unicode build
/// alone answers: the ASCII build `SigmaRegex::is_match` uses for ASCII values changes no
/// result.
#[test]
fn regexes_answer_alike_in_ascii_and_unicode() {
    use std::collections::{HashMap, HashSet};
    use vigil_sigma::ast::SearchBody;
    use vigil_sigma::matcher::{Matcher, SigmaRegex};
    let Some(c) = compile_sigmahq() else { return };
    let mut by_field: HashMap<vigil_core::Symbol, Vec<&SigmaRegex>> = HashMap::new();
    for rule in c.engine.rules() {
        for search in &rule.detection.searches {
            if let SearchBody::Fields(groups) = &search.body {
                for t in groups.iter().flatten() {
                    for v in &t.values {
                        if let Matcher::Regex(re) = v {
                            by_field.entry(t.field).or_default().push(re);
                        }
                    }
                }
            }
        }
    }
    let regexes: usize = by_field.values().map(Vec::len).sum();
    let mut seen: HashSet<(vigil_core::Symbol, String)> = HashSet::new();
    let (mut compared, mut hits, mut mismatches) = (0usize, 0usize, Vec::new());
    let mut compare = |re: &SigmaRegex, value: &str| {
        let (fast, unicode) = (re.is_match(value), re.is_match_unicode(value));
        compared += 1;
        hits += usize::from(unicode);
        if fast != unicode && mismatches.len() < 10 {
            mismatches.push(format!(
                "{:?} on {value:?}: {fast} != {unicode}",
                re.as_str()
            ));
        }
    };
    // Where `\w`, `\s`, `\d`, `\b`, `.` and case folding differ between the two builds: only
    // non-ASCII text, which the Unicode build still answers.
    let edges = [
        "",
        " ",
        "\t\u{b}\u{c}\r\n",
        "_",
        "a-b",
        "K",
        "k",
        "s",
        "S",
        "0x1F",
        "-k netsvcs -p",
        "é",
        "\u{212a}",
        "\u{17f}",
        "\u{a0}",
        "\u{85}",
        "٣",
        "Straße",
        "C:\\Windows\\ſ.exe",
    ];
    for res in by_field.values() {
        for re in res {
            for e in edges {
                compare(re, e);
            }
        }
    }
    let opts = vigil_ingest::DecodeOptions::default();
    for file in event_files() {
        let mut check = |ev: Event| {
            for f in ev.fields() {
                let (Some(res), Some(text)) = (by_field.get(&f.name), f.value.as_text()) else {
                    continue;
                };
                if !seen.insert((f.name, text.as_str().to_string())) {
                    continue;
                }
                for re in res {
                    compare(re, text.as_str());
                }
            }
        };
        let _ = vigil_ingest::decode_file(&file, &opts, &mut check, &mut |_| {});
    }
    eprintln!(
        "regexes: {regexes} |re tests, {} distinct field values, {compared} comparisons, {hits} matches",
        seen.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(
        regexes > 100 && compared > 100_000 && hits > 0,
        "{regexes} / {compared} / {hits}"
    );
}
