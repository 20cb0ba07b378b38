//! `vigil bench hunt`: decode-only and decode+detect over the same input, same run.
//! `vigil bench serve`: durable ingest and ingest→alert latency of a real server ([`serve`]).

mod child;
mod load;
mod report;
mod serve;

pub use serve::serve;

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
    fn detection(&mut self, _: &Detection) {}
    fn decode_error(&mut self, _: &DecodeError) {}
    fn file_failed(&mut self, _: &IngestError) {}
}

/// What [`paired`] measured: the fastest run of each kind and the medians of the per-pair
/// ratios, by wall time and by the process's CPU time.
struct Paired {
    decode: HuntSummary,
    detect: HuntSummary,
    median_ratio: f64,
    /// `None` when the CPU time cannot be read.
    median_cpu_ratio: Option<f64>,
}

/// Runs decode-only and decode+detect alternately `runs` times: each pair sees the same
/// machine state, so the ratio of a pair is robust to drift on a noisy host.
///
/// Each pass's CPU time (every thread of the process, `getrusage`) is measured too: on a
/// shared VM the wall time of a 20 ms pass also holds the time the workers waited for a core,
/// which the CPU time leaves out, so the two ratios side by side tell that noise from a real
/// change in the work.
fn paired(
    files: &[PathBuf],
    engine: &vigil_sigma::engine::Engine,
    decode_opts: &HuntOptions,
    detect_opts: &HuntOptions,
    runs: usize,
) -> Result<Paired> {
    let mut best_decode: Option<HuntSummary> = None;
    let mut best_detect: Option<HuntSummary> = None;
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    for _ in 0..runs.max(1) {
        let c0 = cpu_time();
        let d = run_hunt(files, engine, decode_opts, &mut Discard)?;
        let c1 = cpu_time();
        let e = run_hunt(files, engine, detect_opts, &mut Discard)?;
        let c2 = cpu_time();
        ratios.push(e.elapsed.as_secs_f64() / d.elapsed.as_secs_f64().max(1e-9));
        if let (Some(c0), Some(c1), Some(c2)) = (c0, c1, c2) {
            cpu_ratios.push((c2 - c1).as_secs_f64() / (c1 - c0).as_secs_f64().max(1e-9));
        }
        if best_decode.as_ref().is_none_or(|b| d.elapsed < b.elapsed) {
            best_decode = Some(d);
        }
        if best_detect.as_ref().is_none_or(|b| e.elapsed < b.elapsed) {
            best_detect = Some(e);
        }
    }
    Ok(Paired {
        decode: best_decode.expect("at least one run"),
        detect: best_detect.expect("at least one run"),
        median_ratio: median(&mut ratios).expect("at least one run"),
        median_cpu_ratio: median(&mut cpu_ratios),
    })
}

/// The median of `values` (the upper one of an even count); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// User + system CPU time of the whole process so far (all threads, ended ones included).
fn cpu_time() -> Option<std::time::Duration> {
    // SAFETY: `getrusage` only writes the struct it is given, which is plain data that the
    // all-zero pattern initialises.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return None;
        }
        usage
    };
    let micros = |t: libc::timeval| -> Option<u64> {
        Some(u64::try_from(t.tv_sec).ok()? * 1_000_000 + u64::try_from(t.tv_usec).ok()?)
    };
    let total = micros(usage.ru_utime)? + micros(usage.ru_stime)?;
    Some(std::time::Duration::from_micros(total))
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
        intel: None,
        ..HuntOptions::default()
    };
    let detect_opts = HuntOptions {
        decode_only: false,
        intel: None,
        ..decode_opts.clone()
    };
    // One full decode+detect pass first: it warms the page cache so neither measured pass
    // pays for the first read, and its peak memory is what one `vigil hunt` of this input
    // costs (later passes build new thread pools whose allocator arenas inflate the peak).
    let _ = run_hunt(&files, &loaded.engine, &detect_opts, &mut Discard)?;
    let hunt_peak = peak_rss_mib();
    // With the `profile` feature, only the measured passes are counted (the first one built
    // the lazily compiled parts of rules).
    vigil_sigma::profile::reset();
    let Paired {
        decode,
        detect,
        median_ratio,
        median_cpu_ratio,
    } = paired(&files, &loaded.engine, &decode_opts, &detect_opts, runs)?;
    let threads_used = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    println!(
        "input: {} files, {} events, {:.1} MB; rules: {} loaded; threads: {threads_used}; best of {runs} runs each, alternated",
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
        "ratio (decode+detect time / decode-only time): {:.3} (median of {runs} paired runs; best-of ratio {:.3})",
        median_ratio,
        detect.elapsed.as_secs_f64() / decode.elapsed.as_secs_f64().max(1e-9)
    );
    if let Some(cpu) = median_cpu_ratio {
        println!(
            "CPU time ratio (all threads, same passes): {cpu:.3} (median of {runs} paired runs)"
        );
    }
    if let Some(mib) = hunt_peak {
        println!("peak memory of one decode+detect pass, rules included (VmHWM): {mib:.1} MiB");
    }
    // How many searchers and variants the profile lists (`VIGIL_PROFILE_TOP`, default 25).
    let top = match std::env::var("VIGIL_PROFILE_TOP") {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("vigil bench: VIGIL_PROFILE_TOP={v:?} is not a count; listing 25");
            25
        }),
        Err(_) => 25,
    };
    if let Some(profile) = vigil_sigma::profile::report(&loaded.engine, top) {
        print!("{profile}");
    }
    Ok(ExitCode::SUCCESS)
}
