//! Loads the whole SigmaHQ rule set from the shared corpus (`vigil_core::corpus`) and checks
//! that (almost) everything parses, that every rejection has a reason, and that the
//! placeholder rules resolve with the sample configuration.

mod common;

use std::time::Instant;

use vigil_sigma::ruleset::{SigmaConfig, load_rules};

#[test]
fn whole_sigmahq_rule_set_loads() {
    let Some(root) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let paths = common::sigmahq_rule_dirs(&root);
    let start = Instant::now();
    let set = load_rules(&paths, &common::sample_placeholders());
    let elapsed = start.elapsed();
    let report = &set.report;
    eprintln!("{report}loaded in {elapsed:?}");
    for r in &report.rejected {
        eprintln!("  {r}");
    }
    assert_eq!(report.files, 3780, "rule files found");
    assert!(report.documents >= 3780);
    assert!(
        report.load_ratio() >= 0.99,
        "only {:.2}% loaded",
        report.load_ratio() * 100.0
    );
    for r in &report.rejected {
        assert!(!r.reason.to_string().is_empty());
        assert!(r.location.line > 0 || r.reason.kind() == "io", "{r}");
    }
    // No document is unaccounted for.
    assert_eq!(
        report.loaded + report.rejected.len() + report.correlations + set.filters.len(),
        report.documents
    );
    // With the sample configuration every placeholder rule resolves.
    assert!(
        !report
            .rejected
            .iter()
            .any(|r| r.reason.kind() == "unresolved-placeholder"),
        "unresolved placeholders remain"
    );
}

#[test]
fn placeholder_rules_are_rejected_without_configuration() {
    let Some(root) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let set = load_rules(&[root.join("rules-placeholder")], &SigmaConfig::default());
    let unresolved: Vec<_> = set
        .report
        .rejected
        .iter()
        .filter(|r| r.reason.kind() == "unresolved-placeholder")
        .collect();
    eprintln!(
        "rules-placeholder without configuration: {} of {} documents rejected as unresolved",
        unresolved.len(),
        set.report.documents
    );
    assert!(!unresolved.is_empty());
    for r in unresolved {
        assert!(r.reason.to_string().contains('%'), "{r}");
    }
}

/// Truncated and mangled rule files never panic the parser: each document either loads or is
/// rejected with a reason.
#[test]
fn mangled_rule_files_never_panic() {
    let Some(root) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let mut files = Vec::new();
    let dir = root.join("rules/windows/process_creation");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    files.extend(entries.into_iter().step_by(25));
    let placeholders = Default::default();
    let mut outcomes = 0;
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        let cuts: Vec<usize> = (1..8).map(|i| src.len() * i / 8).collect();
        for cut in cuts {
            let cut = (cut..src.len())
                .find(|c| src.is_char_boundary(*c))
                .unwrap_or(src.len());
            let variants = [
                src[..cut].to_string(),
                format!("{}\t{}", &src[..cut], &src[cut..]),
                src.replacen("condition:", "condition: (", 1),
                src.replacen("|", "|bogus|", 1),
            ];
            for v in &variants {
                let parsed = vigil_sigma::parse::parse_source(v, "mangled.yml", &placeholders);
                for item in &parsed.items {
                    if let Err(r) = item {
                        assert!(!r.reason.to_string().is_empty());
                    }
                    outcomes += 1;
                }
            }
        }
    }
    assert!(outcomes > 100, "{outcomes}");
}
