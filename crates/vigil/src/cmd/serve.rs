//! `vigil serve`: the continuous-monitoring server on the embedded default.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use vigil_ingest::LogsourceMap;
use vigil_monitor::service::ServiceOptions;

use crate::cli::{RuleArgs, ServeArgs};
use crate::config::Config;

pub fn run(args: ServeArgs, config: &Config) -> Result<ExitCode> {
    let mut serve = config.serve.clone();
    if let Some(data) = args.data {
        serve.data_dir = data;
    }
    if let Some(listen) = args.listen {
        serve.listen = listen;
    }
    let rule_args: RuleArgs = args.rules;
    let rule_args_for_text = rule_args.clone();
    // Rules are read at start and again on every reload, from the same flags and file.
    let rules_config = config.rules.clone();
    let loader: vigil_monitor::RuleLoader = Arc::new(move || {
        let config = Config {
            rules: rules_config.clone(),
            ..Config::default()
        };
        super::load_rules(&rule_args, &config, &[]).map_err(|e| format!("{e:#}"))
    });
    // A retro-hunt's own rule text is compiled with the same placeholders and mappings.
    let (sigma_config, mapping) = super::rule_setup(&rule_args_for_text, config)?;
    let compiler: vigil_monitor::RuleCompiler = Arc::new(move |text: &str| {
        Ok(vigil_detect::compile_source(
            text,
            "request",
            &sigma_config,
            &mapping,
        ))
    });
    let options = ServiceOptions {
        serve,
        monitor: config.monitor.clone(),
        json_logsource: LogsourceMap::new(config.ingest.json_logsource.clone()),
        loader,
        compiler: Some(compiler),
        demo: args.demo,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(vigil_monitor::run(options, vigil_server::shutdown_signal()))
        .context("vigil serve")?;
    Ok(ExitCode::SUCCESS)
}
