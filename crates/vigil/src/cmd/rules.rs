//! `vigil rules test` and `vigil rules lint`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use vigil_detect::regression::{discover_cases, run_case};

use crate::cli::RuleArgs;
use crate::config::Config;

/// The rule folders of a SigmaHQ checkout, given its `regression_data` folder.
fn sibling_rule_dirs(dir: &Path) -> Vec<PathBuf> {
    let Some(root) = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.parent().map(Path::to_path_buf))
    else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == "rules" || n.starts_with("rules-"))
        })
        .collect();
    dirs.sort();
    dirs
}

pub fn test(dir: &Path, args: RuleArgs, config: &Config) -> Result<ExitCode> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let rules = super::load_rules(&args, config, &sibling_rule_dirs(dir))?;
    eprintln!("{}", super::load_summary(&rules));
    let (cases, errors) = discover_cases(dir);
    if cases.is_empty() && errors.is_empty() {
        bail!("no regression cases (info.yml) under {}", dir.display());
    }
    let mut failed = errors.len();
    for e in &errors {
        println!("FAIL {}: {}", e.info.display(), e.reason);
    }
    let mut passed = 0usize;
    for case in &cases {
        let outcome = run_case(case, &rules.engine);
        if outcome.passed() {
            passed += 1;
            continue;
        }
        failed += 1;
        if let Some(e) = &outcome.error {
            println!("FAIL {} {}: {e}", case.rule_id, case.rule_title);
            continue;
        }
        for f in outcome.files.iter().filter(|f| !f.passed()) {
            let why = match &f.failure {
                Some(e) => e.clone(),
                None => format!(
                    "matched {} of {} events, expected at least {}{}",
                    f.matched,
                    f.events,
                    f.expected,
                    if f.decode_errors > 0 {
                        format!(" ({} decode errors)", f.decode_errors)
                    } else {
                        String::new()
                    }
                ),
            };
            println!(
                "FAIL {} {} [{}]: {why}",
                case.rule_id,
                case.rule_title,
                f.path.display()
            );
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn lint(args: RuleArgs, verbose: bool, config: &Config) -> Result<ExitCode> {
    let rules = super::load_rules(&args, config, &[])?;
    let rejections: Vec<_> = rules.rejections().collect();
    let shown = if verbose { rejections.len() } else { 50 };
    for r in rejections.iter().take(shown) {
        println!(
            "{}: {}{}",
            r.location,
            r.rule_id
                .as_deref()
                .map(|id| format!("rule {id}: "))
                .unwrap_or_default(),
            r.reason
        );
    }
    if rejections.len() > shown {
        println!("… {} more (use --verbose)", rejections.len() - shown);
    }
    let total = rules.loaded() + rejections.len();
    println!(
        "{} documents in {} files: {} loaded ({:.2}%), {} rejected, {} correlation rules (not yet evaluated), {} filters",
        rules.report.documents,
        rules.report.files,
        rules.loaded(),
        100.0 * rules.loaded() as f64 / total.max(1) as f64,
        rejections.len(),
        rules.correlations,
        rules.filters,
    );
    for (kind, n) in rules.rejected_by_kind() {
        println!("  rejected: {kind}: {n}");
    }
    Ok(if rules.loaded() == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
