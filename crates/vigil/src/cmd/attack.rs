//! `vigil attack coverage`: what a rule set covers of the ATT&CK Enterprise matrix.

use std::process::ExitCode;

use anyhow::{Context, Result};
use vigil_risk::{AttackCatalog, RuleTags, coverage, navigator_layer};

use crate::cli::AttackCommand;
use crate::config::Config;

pub fn run(command: AttackCommand, config: &Config) -> Result<ExitCode> {
    let AttackCommand::Coverage {
        catalog,
        rules,
        layer,
        json,
    } = command;
    let catalog = AttackCatalog::load(&catalog)
        .with_context(|| format!("reading the ATT&CK catalogue {}", catalog.display()))?;
    let loaded = super::load_rules(&rules, config, &[])?;
    eprintln!("vigil attack: {}", super::load_summary(&loaded));
    let tags = loaded.engine.rules().iter().map(|r| RuleTags {
        id: r.id.clone().unwrap_or_else(|| r.title.clone()),
        title: r.title.clone(),
        level: r.level.map(|l| l.to_string()),
        tags: r.tags.clone(),
    });
    let report = coverage(&catalog, tags);
    if let Some(path) = &layer {
        let body = serde_json::to_vec_pretty(&navigator_layer(&report, "Vigil rule coverage"))?;
        std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "vigil attack: Navigator layer written to {}",
            path.display()
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:>12} {:>16} {:>14}",
        "tactic", "techniques", "sub-techniques", "tactic tags"
    );
    for t in &report.tactics {
        println!(
            "{:<24} {:>5} / {:<4} {:>8} / {:<5} {:>14}",
            t.shortname,
            t.techniques_covered,
            t.techniques_total,
            t.subtechniques_covered,
            t.subtechniques_total,
            t.tactic_tagged_rules
        );
    }
    let active = catalog.techniques().len();
    println!(
        "{} rules, {} with techniques; {} of {active} techniques and sub-techniques covered, {} uncovered; {} unknown attack tags",
        report.rules,
        report.rules_with_techniques,
        active - report.uncovered.len(),
        report.uncovered.len(),
        report.unknown_tags.len()
    );
    for (tag, u) in report.unknown_tags.iter().take(10) {
        println!("  unknown {tag}: {} ({} rules)", u.reason, u.rules.len());
    }
    Ok(ExitCode::SUCCESS)
}
