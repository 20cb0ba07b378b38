//! Subcommands: each parses its arguments into library calls and prints the result.

mod admin;
mod assets;
mod attack;
mod bench;
mod hunt;
mod intel;
mod query;
mod retrohunt;
mod rules;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use vigil_detect::{LoadedRules, load_and_compile};
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;

use crate::cli::{BenchCommand, Cli, Command, ConfigCommand, RuleArgs, RulesCommand};
use crate::config::Config;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Hunt(args) => hunt::run(args, &config),
        Command::Rules { command } => match command {
            RulesCommand::Test { dir, rules } => rules::test(&dir, rules, &config),
            RulesCommand::Lint {
                paths,
                placeholders,
                mappings,
                verbose,
            } => rules::lint(
                RuleArgs {
                    rules: paths,
                    placeholders,
                    mappings,
                },
                verbose,
                &config,
            ),
        },
        Command::Bench { command } => match command {
            BenchCommand::Hunt {
                paths,
                rules,
                threads,
                runs,
            } => bench::hunt(&paths, rules, threads, runs, &config),
            BenchCommand::Serve(args) => bench::serve(args, &config),
        },
        Command::Serve(args) => serve::run(args, &config),
        Command::Query(args) => query::run(args, &config),
        Command::Retrohunt(args) => retrohunt::run(args, &config),
        Command::Assets { command } => assets::run(command, &config),
        Command::Attack { command } => attack::run(command, &config),
        Command::Intel { command } => intel::run(command),
        Command::Token { command } => admin::token(command, &config),
        Command::Audit { command } => admin::audit(command, &config),
        Command::Config { command } => match command {
            ConfigCommand::Default => {
                print!("{}", Config::default_toml());
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

const NO_RULES_HELP: &str = "no rules given: pass --rules DIR, or set `paths` under [rules] in \
vigil.toml. To get SigmaHQ's rules in one command:\n  \
git clone --depth 1 https://github.com/SigmaHQ/sigma.git && vigil hunt PATH --rules sigma/rules";

/// Resolves rule paths, placeholders and mappings from flags then configuration, and loads.
pub(crate) fn load_rules(
    args: &RuleArgs,
    config: &Config,
    fallback: &[PathBuf],
) -> Result<LoadedRules> {
    let paths: Vec<PathBuf> = if !args.rules.is_empty() {
        args.rules.clone()
    } else if !config.rules.paths.is_empty() {
        config.rules.paths.clone()
    } else if !fallback.is_empty() {
        fallback.to_vec()
    } else {
        bail!("{NO_RULES_HELP}");
    };
    for p in &paths {
        if !p.exists() {
            bail!("rule path {} does not exist", p.display());
        }
    }
    let (sigma_config, mapping) = rule_setup(args, config)?;
    Ok(load_and_compile(&paths, &sigma_config, &mapping))
}

/// The placeholders and logsource mappings rules are compiled with, from flags then
/// configuration.
pub(crate) fn rule_setup(
    args: &RuleArgs,
    config: &Config,
) -> Result<(SigmaConfig, LogsourceMapping)> {
    let sigma_config = match args
        .placeholders
        .as_ref()
        .or(config.rules.placeholders.as_ref())
    {
        Some(p) => SigmaConfig::from_file(p)
            .with_context(|| format!("reading placeholders {}", p.display()))?,
        None => SigmaConfig::default(),
    };
    let mut mapping = LogsourceMapping::builtin();
    for m in config.rules.mappings.iter().chain(&args.mappings) {
        let extra = LogsourceMapping::from_file(m)
            .with_context(|| format!("reading logsource mapping {}", m.display()))?;
        mapping.extend(extra);
    }
    Ok((sigma_config, mapping))
}

/// One-paragraph account of a rule load, for stderr.
pub(crate) fn load_summary(rules: &LoadedRules) -> String {
    let rejected: usize = rules.rejections().count();
    let mut s = format!(
        "rules: {} loaded, {} rejected, {} correlation (not yet evaluated), {} filters — {} files in {:.2}s",
        rules.loaded(),
        rejected,
        rules.correlations,
        rules.filters,
        rules.report.files,
        rules.elapsed.as_secs_f64()
    );
    if rejected > 0 {
        let kinds: Vec<String> = rules
            .rejected_by_kind()
            .into_iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        s.push_str(&format!(" (rejected by reason: {})", kinds.join(", ")));
    }
    s
}

/// The event lake of the data directory given with `--data`, else the configuration's.
pub(crate) fn open_lake(
    data: &Option<PathBuf>,
    config: &Config,
) -> Result<vigil_store::lake::Lake> {
    let data = data
        .clone()
        .unwrap_or_else(|| config.serve.data_dir.clone());
    let root = data.join("lake");
    if !root.is_dir() {
        bail!("no event lake at {} (is --data right?)", root.display());
    }
    Ok(vigil_store::lake::Lake::open(
        root,
        vigil_store::lake::LakeConfig::default(),
    )?)
}

/// POSTs `body` to `path` of a running server with `token` (else `$VIGIL_TOKEN`) and returns
/// the JSON answer, or an error with the server's message. `timeout: None` waits as long as
/// the server works (a retro-hunt over months).
pub(crate) fn post_to_server(
    url: &str,
    token: &Option<String>,
    path: &str,
    body: &serde_json::Value,
    timeout: Option<std::time::Duration>,
) -> Result<serde_json::Value> {
    let token = token
        .clone()
        .or_else(|| std::env::var("VIGIL_TOKEN").ok())
        .context("--server needs --token or $VIGIL_TOKEN")?;
    let resp = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()?
        .post(format!("{}{path}", url.trim_end_matches('/')))
        .bearer_auth(token)
        .json(body)
        .send()
        .with_context(|| format!("POST {url}{path}"))?;
    let status = resp.status();
    let answer: serde_json::Value = resp.json().context("reading the answer")?;
    if !status.is_success() {
        bail!(
            "{status}: {}",
            answer["error"]["message"]
                .as_str()
                .unwrap_or("(no message)")
        );
    }
    Ok(answer)
}
