//! `vigil bench hunt`: decode-only and decode+detect over the same input, same run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use vigil_detect::Detection;
use vigil_detect::hunt::{HuntOptions, HuntSink, HuntSummary, hunt as run_hunt};
use vigil_ingest::{DecodeError, IngestError, discover};

use crate::cli::RuleArgs;
use crate::config::Config;

/// Counts and drops everything: the benchmark measures the pipeline, not the terminal.
struct Discard;

impl HuntSink for Discard {
    fn detection(&mut self, _: Detection) {}
    fn decode_error(&mut self, _: &DecodeError) {}
    fn file_failed(&mut self, _: &IngestError) {}
}

fn best(
    files: &[PathBuf],
    engine: &vigil_sigma::engine::Engine,
    opts: &HuntOptions,
    runs: usize,
) -> Result<HuntSummary> {
    let mut best: Option<HuntSummary> = None;
    for _ in 0..runs.max(1) {
        let s = run_hunt(files, engine, opts, &mut Discard)?;
        if best.as_ref().is_none_or(|b| s.elapsed < b.elapsed) {
            best = Some(s);
        }
    }
    Ok(best.expect("at least one run"))
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn hunt(
    paths: &[PathBuf],
    rules: RuleArgs,
    threads: Option<usize>,
    runs: usize,
    config: &Config,
) -> Result<ExitCode> {
    let files = discover(paths).context("listing input files")?;
    if files.is_empty() {
        bail!("no log files found under the given paths");
    }
    let loaded = super::load_rules(&rules, config, &[])?;
    eprintln!("{}", super::load_summary(&loaded));
    let threads = threads.unwrap_or(config.hunt.threads);
    let decode_opts = HuntOptions {
        threads,
        decode_only: true,
        ..HuntOptions::default()
    };
    let detect_opts = HuntOptions {
        decode_only: false,
        ..decode_opts.clone()
    };
    // Warm the page cache so neither pass pays for the first read.
    let _ = run_hunt(&files, &loaded.engine, &decode_opts, &mut Discard)?;
    let decode = best(&files, &loaded.engine, &decode_opts, runs)?;
    let detect = best(&files, &loaded.engine, &detect_opts, runs)?;
    let threads_used = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    println!(
        "input: {} files, {} events, {:.1} MB; rules: {} loaded; threads: {threads_used}; best of {runs} runs",
        decode.files,
        decode.events,
        decode.bytes as f64 / 1e6,
        loaded.loaded()
    );
    println!(
        "decode-only:    {:>10.0} events/s  ({:.3}s)",
        decode.events_per_sec(),
        decode.elapsed.as_secs_f64()
    );
    println!(
        "decode+detect:  {:>10.0} events/s  ({:.3}s, {} detections)",
        detect.events_per_sec(),
        detect.elapsed.as_secs_f64(),
        detect.detections
    );
    println!(
        "ratio (decode+detect time / decode-only time): {:.3}",
        detect.elapsed.as_secs_f64() / decode.elapsed.as_secs_f64().max(1e-9)
    );
    if let Some(mib) = peak_rss_mib() {
        println!("peak memory (VmHWM): {mib:.1} MiB");
    }
    Ok(ExitCode::SUCCESS)
}
