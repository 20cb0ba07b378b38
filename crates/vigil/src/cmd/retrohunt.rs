//! `vigil retrohunt`: Sigma rules over the event lake, on a data directory or through a server.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use vigil_core::Level;
use vigil_monitor::retrohunt::{HuntRules, RetroHunt, retro_hunt, usable};
use vigil_store::lake::ScanRange;

use crate::cli::RetroHuntArgs;
use crate::config::Config;

pub fn run(args: RetroHuntArgs, config: &Config) -> Result<ExitCode> {
    let report = match &args.server {
        Some(url) => remote(url, &args)?,
        None => local(&args, config)?,
    };
    let mut out = std::io::stdout().lock();
    for m in report["matches"].as_array().into_iter().flatten() {
        writeln!(out, "{m}")?;
    }
    out.flush()?;
    eprintln!(
        "retrohunt: {} events scanned, {} rules, {} matches{} in {} ms",
        report["events_scanned"],
        report["rules"],
        report["matches_total"],
        if report["truncated"] == true {
            " (only the first printed: raise --max-matches)"
        } else {
            ""
        },
        report["elapsed_ms"],
    );
    for (rule, n) in report["by_rule"].as_object().into_iter().flatten() {
        eprintln!("  {n:>8}  {rule}");
    }
    let unreadable = report["events_unreadable"].as_u64().unwrap_or(0);
    if unreadable > 0 {
        eprintln!("retrohunt: {unreadable} stored events could not be read back:");
        for u in report["unreadable"].as_array().into_iter().flatten() {
            eprintln!("  {}", u.as_str().unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn time(what: &str, s: &Option<String>) -> Result<Option<jiff::Timestamp>> {
    s.as_deref()
        .map(|s| {
            s.parse()
                .with_context(|| format!("--{what} `{s}` is not an RFC 3339 time"))
        })
        .transpose()
}

fn local(args: &RetroHuntArgs, config: &Config) -> Result<Value> {
    let lake = super::open_lake(&args.data.data, config)?;
    let loaded = super::load_rules(&args.rules, config, &[])?;
    eprintln!("{}", super::load_summary(&loaded));
    let rules = HuntRules::select(usable(loaded)?, &args.rule_ids)?;
    let hunt = RetroHunt {
        range: ScanRange {
            from: time("from", &args.from)?,
            to: time("to", &args.to)?,
            source: args.source.clone(),
        },
        min_level: args.min_level.unwrap_or(Level::Informational),
        max_matches: args.max_matches,
        intel: super::hunt::load_intel(&args.intel)?,
    };
    let report = retro_hunt(&lake, &rules, &hunt)?;
    Ok(serde_json::to_value(&report)?)
}

fn remote(url: &str, args: &RetroHuntArgs) -> Result<Value> {
    if !args.intel.is_empty() {
        bail!(
            "with --server, match the server's own feeds with --server-intel (--intel is for --data)"
        );
    }
    // The server runs its own rules; a rule file given here is sent as text.
    let rule = match args.rules.rules.as_slice() {
        [] => None,
        [file] if file.is_file() => Some(
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        ),
        _ => bail!(
            "with --server, --rules takes one rule file (its text is sent); the server's own \
             rules are chosen with --rule-id"
        ),
    };
    let body = serde_json::json!({
        "from": args.from,
        "to": args.to,
        "source": args.source,
        "rules": args.rule_ids,
        "rule": rule,
        "min_level": args.min_level.map(|l| l.as_str()),
        "max_matches": args.max_matches,
        "intel": args.server_intel,
    });
    super::post_to_server(url, &args.token, "/api/v1/retrohunt", &body, None)
}
