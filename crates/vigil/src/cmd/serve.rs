//! `vigil serve`: the continuous-monitoring server on the embedded default.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use vigil_ingest::LogsourceMap;
use vigil_monitor::service::ServiceOptions;

use crate::cli::{RuleArgs, ServeArgs};
use crate::config::Config;

pub fn run(args: ServeArgs, config: &Config) -> Result<ExitCode> {
    shorten_allocator_purge_delay();
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

/// mimalloc v3 keeps freed memory for `purge_delay` milliseconds (1,000 by default) before
/// giving it back to the OS. Under an ingest flood that retention was most of the server's
/// peak memory: `tests/overload.rs` peaked at 125–167 MiB (its bound is 160) with the default,
/// 107–114 MiB with 10 ms and 100–104 MiB with 0, for about the same CPU (2026-12-03, debug
/// build, 2 cores). 10 ms is mimalloc v2's default. Only while the option holds v3's built-in
/// value: a `MIMALLOC_PURGE_DELAY` from the environment wins.
fn shorten_allocator_purge_delay() {
    use libmimalloc_sys::{mi_option_get, mi_option_set};
    // SAFETY: reading and setting an option are plain calls on mimalloc's option table, valid
    // at any time from any thread.
    unsafe {
        if mi_option_get(MI_OPTION_PURGE_DELAY) == PURGE_DELAY_V3_DEFAULT_MS {
            mi_option_set(MI_OPTION_PURGE_DELAY, SERVE_PURGE_DELAY_MS);
        }
    }
}

/// `mi_option_purge_delay`'s place in mimalloc v3's `mi_option_e` (the Rust bindings name no
/// constant for it; `purge_delay_is_option_15` checks it against the C library).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc v3's built-in purge delay.
const PURGE_DELAY_V3_DEFAULT_MS: std::ffi::c_long = 1000;
/// The purge delay `vigil serve` runs with.
const SERVE_PURGE_DELAY_MS: std::ffi::c_long = 10;

#[cfg(test)]
mod tests {
    use super::*;

    /// The option at [`MI_OPTION_PURGE_DELAY`] is the purge delay: it holds v3's default
    /// (1,000 ms) until set, and reads back what was set. A mimalloc that numbers its options
    /// otherwise fails here instead of having another option changed.
    #[test]
    fn purge_delay_is_option_15() {
        use libmimalloc_sys::{mi_option_get, mi_option_set};
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: see `shorten_allocator_purge_delay`.
        unsafe {
            assert_eq!(
                mi_option_get(MI_OPTION_PURGE_DELAY),
                PURGE_DELAY_V3_DEFAULT_MS
            );
            mi_option_set(MI_OPTION_PURGE_DELAY, SERVE_PURGE_DELAY_MS);
            assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), SERVE_PURGE_DELAY_MS);
        }
    }
}
