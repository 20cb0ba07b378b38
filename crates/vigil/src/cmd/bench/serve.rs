//! `vigil bench serve`: sustained durable ingest and ingest→alert latency of a real
//! `vigil serve`, measured over HTTP from outside the server's process.
//!
//! Three measurements in one run, on one machine state:
//! - **baseline**: the same request bodies appended straight into a `vigil_store` journal with
//!   as many concurrent appenders as clients (group commit and fsync, no HTTP, no decoding):
//!   the most any durable ingest path on this disk can do;
//! - **throughput**: the bodies POSTed as fast as the server acknowledges them (each
//!   acknowledgement means fsynced), then the wait until detection has been through every
//!   event. The end-to-end rate (first send → all detected) is the sustained figure: the
//!   journal absorbs bursts, but back-pressure ties ingest to detection over time;
//! - **latency**: a fixed load with one marker event per body that a rule is sure to match,
//!   each timed from just before its POST until its alert is listed by `GET /api/v1/alerts`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use vigil_store::journal::{Journal, JournalOptions};

use super::child::{Api, Ingested, ServerChild, own_cpu_secs};
use super::load::{POOL_EVENTS, Pool, just_before, marker_event, marker_host, probe_host, run_tag};
use super::report::{
    Baseline, Latency, LoadFacts, Machine, Percentiles, Report, ServerFacts, Throughput, thousands,
};
use crate::cli::BenchServeArgs;
use crate::config::{Config, IngestConfig, RulesConfig};

/// How long the benchmark waits for detection to catch up, or for a marker's alert.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30 * 60);
pub(super) const MARKER_TIMEOUT: Duration = Duration::from_secs(120);

pub fn serve(args: BenchServeArgs, config: &Config) -> Result<ExitCode> {
    if args.batch < 2 {
        bail!("--batch must be at least 2 (a marker and an ordinary event)");
    }
    if args.clients == 0 || args.poll_ms == 0 || args.seconds == 0 {
        bail!("--clients, --poll-ms and --seconds must be at least 1");
    }
    if args.events == 0 && args.rate.is_none() {
        bail!("--events 0 skips the throughput phase: give the latency phase's load with --rate");
    }
    let root = match &args.dir {
        Some(dir) => tempfile::Builder::new()
            .prefix("vigil-bench-")
            .tempdir_in(dir),
        None => tempfile::Builder::new().prefix("vigil-bench-").tempdir(),
    }
    .context("creating the benchmark's temporary directory")?;
    let config_file = root.path().join("vigil.toml");
    std::fs::write(&config_file, server_config(&args, config)?)
        .with_context(|| format!("writing {}", config_file.display()))?;

    let now = Timestamp::now();
    let batches = args.events.div_ceil(args.batch as u64);
    let pool_events = if args.events > 0 {
        args.events as usize
    } else {
        args.rate.unwrap_or(0) as usize * args.seconds as usize
    };
    let pool = Pool::new(now, pool_events.min(POOL_EVENTS), args.batch);
    let mut report = Report {
        machine: Machine::here(),
        server: ServerFacts::default(),
        load: LoadFacts {
            batch: args.batch,
            clients: args.clients,
            distinct_events: pool.events(),
            data_dir: root.path().to_path_buf(),
        },
        baseline: None,
        throughput: None,
        latency: None,
    };

    if args.events > 0 {
        eprintln!(
            "baseline: appending {} bodies of {} events to a journal, {} appenders…",
            batches, args.batch, args.clients
        );
        let dir = root.path().join("baseline-journal");
        report.baseline = Some(journal_baseline(
            &dir,
            &pool,
            batches,
            args.clients,
            config,
        )?);
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }

    let exe = std::env::current_exe().context("finding this program's path")?;
    eprintln!("starting {} serve…", exe.display());
    let mut server = ServerChild::start(&exe, &config_file, &root.path().join("data"))?;
    let api = Api::new(&server)?;
    report.server.rules = server.rules_line().unwrap_or("?").to_string();
    report.server.binary = exe;
    eprintln!(
        "server: {} (pid {}; {})",
        server.url,
        server.pid(),
        report.server.rules
    );

    let tag = run_tag(now);
    let probed = probe(&api, &tag);
    server.check_running()?;
    report.server.marker_rules = probed?;

    if args.events > 0 {
        let t = throughput(&api, &server, &pool, batches, args.clients);
        server.check_running()?;
        report.throughput = Some(t?);
        report.server.peak_rss_after_throughput_mib = server.peak_rss_mib();
    }
    let rate = match (args.rate, &report.throughput) {
        (Some(rate), _) => rate,
        (None, Some(t)) => ((t.end_to_end_events_per_sec / 2.0 / 1000.0).floor() as u64 * 1000)
            .max(args.batch as u64),
        (None, None) => unreachable!("checked above"),
    };
    let l = latency(&api, &pool, &tag, rate, &args);
    server.check_running()?;
    report.latency = Some(l?);
    report.server.peak_rss_mib = server.peak_rss_mib();

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    Ok(ExitCode::SUCCESS)
}

/// The configuration the server runs with: the user's rules, ingest, limits and monitor
/// settings with every path absolute, and no syslog listeners, watched files or TLS (the
/// benchmark measures HTTP ingest on loopback).
fn server_config(args: &BenchServeArgs, config: &Config) -> Result<String> {
    let rules = &args.rules;
    let paths = if rules.rules.is_empty() {
        config.rules.paths.clone()
    } else {
        rules.rules.clone()
    };
    if paths.is_empty() {
        bail!(
            "no rules given: pass --rules DIR (e.g. --rules examples/rules), or set `paths` \
             under [rules] in vigil.toml"
        );
    }
    let absolute =
        |p: &PathBuf| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
    let child = Config {
        rules: RulesConfig {
            paths: paths.iter().map(absolute).collect::<Result<_>>()?,
            placeholders: rules
                .placeholders
                .as_ref()
                .or(config.rules.placeholders.as_ref())
                .map(absolute)
                .transpose()?,
            mappings: if rules.mappings.is_empty() {
                &config.rules.mappings
            } else {
                &rules.mappings
            }
            .iter()
            .map(absolute)
            .collect::<Result<_>>()?,
        },
        ingest: IngestConfig {
            json_logsource: config.ingest.json_logsource.clone(),
        },
        serve: vigil_server::ServeConfig {
            limits: config.serve.limits.clone(),
            ..Default::default()
        },
        monitor: vigil_monitor::MonitorConfig {
            syslog: Default::default(),
            files: Vec::new(),
            ..config.monitor.clone()
        },
        hunt: Default::default(),
    };
    toml::to_string(&child).context("writing the server's configuration")
}

// ---------------------------------------------------------------------------------------------
// Baseline

/// The same bodies appended to a journal opened as `vigil serve` opens its own, each appender
/// waiting for its record to be durable before taking the next, like an HTTP client does.
fn journal_baseline(
    dir: &Path,
    pool: &Pool,
    batches: u64,
    appenders: usize,
    config: &Config,
) -> Result<Baseline> {
    let defaults = JournalOptions::default();
    let record = (config.serve.limits.max_body_bytes + 64 * 1024).max(defaults.max_record_bytes);
    let journal = Journal::open(
        dir,
        JournalOptions {
            max_record_bytes: record,
            max_batch_bytes: record.max(defaults.max_batch_bytes) * 2,
            ..defaults
        },
    )?;
    let next = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..appenders)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= batches {
                            return Ok(());
                        }
                        let body = pool.body(k);
                        bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                        journal.append(&body)?.wait()?;
                    }
                })
            })
            .collect();
        join_all(workers)
    })?;
    let seconds = start.elapsed().as_secs_f64();
    journal.close()?;
    let events = batches * pool.batch as u64;
    Ok(Baseline {
        events,
        bytes: bytes.into_inner(),
        seconds,
        events_per_sec: events as f64 / seconds,
    })
}

// ---------------------------------------------------------------------------------------------
// The marker probe

/// Sends one marker and waits for its alert: proves the rules catch the marker (and that its
/// host comes back as the alert's entity) before anything is timed. Returns the rules that
/// fired on it.
fn probe(api: &Api, tag: &str) -> Result<Vec<String>> {
    let host = probe_host(tag);
    let body = format!("{}\n", marker_event(&host, 0, Timestamp::now()));
    match api.ingest(body.into_bytes())? {
        Ingested::Accepted { events: 1 } => {}
        Ingested::Accepted { events } => bail!("the probe marker was counted as {events} events"),
        Ingested::Busy(_) => bail!("the server refused the probe marker with 429"),
    }
    let deadline = Instant::now() + MARKER_TIMEOUT;
    loop {
        let alerts = api.alerts_for(&host)?;
        if !alerts.is_empty() {
            if let Some(other) = alerts
                .iter()
                .filter_map(|a| a.entities.host.as_deref())
                .find(|h| !h.eq_ignore_ascii_case(&host))
            {
                bail!("the marker's alert names host {other:?}, not {host:?}");
            }
            let mut rules: Vec<String> = alerts
                .iter()
                .map(|a| format!("{} ({})", a.rule.title, a.rule.id))
                .collect();
            rules.sort();
            return Ok(rules);
        }
        if Instant::now() > deadline {
            bail!(
                "no rule fired on the marker event (certutil -urlcache, Sysmon EventID 1) within \
                 {}s: the latency phase needs rules that catch it, e.g. --rules examples/rules",
                MARKER_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Throughput

fn throughput(
    api: &Api,
    server: &ServerChild,
    pool: &Pool,
    batches: u64,
    clients: usize,
) -> Result<Throughput> {
    let before = api.pipeline()?;
    let events = batches * pool.batch as u64;
    eprintln!(
        "throughput: sending {} events in bodies of {}, {clients} clients…",
        thousands(events),
        pool.batch
    );
    let cpu_before = server.cpu_secs();
    let threads_before = server.thread_cpu();
    let own_before = own_cpu_secs();
    let next = AtomicU64::new(0);
    let acked = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let busy = AtomicU64::new(0);
    let abort = AtomicBool::new(false);
    let last_ack = Mutex::new(Duration::ZERO);
    let start = Instant::now();
    let ack_times = std::thread::scope(|s| -> Result<Vec<Duration>> {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| -> Result<Vec<Duration>> {
                    let mut times = Vec::new();
                    while !abort.load(Ordering::Relaxed) {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= batches {
                            break;
                        }
                        let body = pool.body(k);
                        bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                        let sent = Instant::now();
                        let events = send(api, body, &busy).inspect_err(|_| {
                            abort.store(true, Ordering::Relaxed);
                        })?;
                        times.push(sent.elapsed());
                        acked.fetch_add(events, Ordering::Relaxed);
                        let at = start.elapsed();
                        let mut last = last_ack.lock().unwrap_or_else(|e| e.into_inner());
                        *last = (*last).max(at);
                    }
                    Ok(times)
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(
                w.join()
                    .map_err(|_| anyhow::anyhow!("a client thread panicked"))??,
            );
        }
        Ok(all)
    })?;
    let ack_seconds = last_ack.into_inner().unwrap_or_else(|e| e.into_inner());
    let acked = acked.into_inner();
    eprintln!(
        "throughput: all acknowledged after {:.1}s; waiting for detection…",
        ack_seconds.as_secs_f64()
    );
    let target = before.events + acked;
    let mut said = Instant::now();
    let drained = loop {
        let now = api.pipeline()?;
        if now.events >= target && now.lag_units == 0 {
            break start.elapsed();
        }
        if start.elapsed() > DRAIN_TIMEOUT {
            bail!(
                "detection had seen {} of {} events after {}s",
                now.events - before.events,
                acked,
                DRAIN_TIMEOUT.as_secs()
            );
        }
        if said.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "throughput: detection at {} of {} events, {} units behind",
                thousands(now.events.saturating_sub(before.events)),
                thousands(acked),
                now.lag_units
            );
            said = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let end_to_end = drained.as_secs_f64();
    let server_cpu = match (cpu_before, server.cpu_secs()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let threads_after = server.thread_cpu();
    let mut by_thread: Vec<(String, f64)> = threads_after
        .into_iter()
        .map(|(name, secs)| {
            let before = threads_before.get(&name).copied().unwrap_or(0.0);
            (name, secs - before)
        })
        .filter(|(_, secs)| *secs >= 0.05)
        .collect();
    // Tokio's blocking threads (where ingest bodies are checked) exit when idle, taking their
    // counts with them: what the live threads do not account for was theirs.
    if let Some(total) = server_cpu {
        let alive: f64 = by_thread.iter().map(|(_, secs)| secs).sum();
        if total - alive >= 0.05 {
            by_thread.push(("(threads since exited)".into(), total - alive));
        }
    }
    Ok(Throughput {
        events,
        acknowledged_events: acked,
        bytes: bytes.into_inner(),
        retries_429: busy.into_inner(),
        ack_seconds: ack_seconds.as_secs_f64(),
        acked_events_per_sec: acked as f64 / ack_seconds.as_secs_f64(),
        end_to_end_seconds: end_to_end,
        end_to_end_events_per_sec: acked as f64 / end_to_end,
        request_ms: Percentiles::of(ack_times),
        server_cpu_seconds: server_cpu,
        server_cpu_by_thread: by_thread.into_iter().collect(),
        client_cpu_seconds: match (own_before, own_cpu_secs()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
    })
}

/// POSTs one body until it is accepted, waiting out every 429 as told; returns the events
/// the server counted.
fn send(api: &Api, body: Vec<u8>, busy: &AtomicU64) -> Result<u64> {
    loop {
        match api.ingest(body.clone())? {
            Ingested::Accepted { events } => return Ok(events),
            Ingested::Busy(wait) => {
                busy.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(wait);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Latency

/// Markers sent and not yet seen in an alert: host → (instant before the POST, event time).
type Outstanding = Mutex<HashMap<String, (Instant, Timestamp)>>;

fn latency(api: &Api, pool: &Pool, tag: &str, rate: u64, args: &BenchServeArgs) -> Result<Latency> {
    let batch = pool.batch as u64;
    let batches = (rate * args.seconds / batch).max(1);
    let interval = Duration::from_secs_f64(batch as f64 / rate as f64);
    let poll = Duration::from_millis(args.poll_ms);
    eprintln!(
        "latency: {} events/s for {}s: {batches} bodies of {batch} (one marker each), one every \
         {:.1} ms; polling alerts every {} ms…",
        thousands(rate),
        args.seconds,
        interval.as_secs_f64() * 1e3,
        args.poll_ms
    );
    let outstanding: Outstanding = Mutex::new(HashMap::new());
    let next = AtomicU64::new(0);
    let busy = AtomicU64::new(0);
    let sent_events = AtomicU64::new(0);
    let senders_left = AtomicU64::new(args.clients as u64);
    let abort = AtomicBool::new(false);
    let start = Instant::now() + Duration::from_millis(50);
    let (senders, poller) = std::thread::scope(|s| {
        let poller = s.spawn(|| {
            poll_alerts(api, &outstanding, &senders_left, &abort, poll).inspect_err(|_| {
                abort.store(true, Ordering::Relaxed);
            })
        });
        let senders: Vec<_> = (0..args.clients)
            .map(|_| {
                s.spawn(|| -> Result<SenderOut> {
                    let mut out = SenderOut::default();
                    let result = (|| -> Result<()> {
                        while !abort.load(Ordering::Relaxed) {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            if k >= batches {
                                break;
                            }
                            let due = start + interval.mul_f64(k as f64);
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            let late = Instant::now().saturating_duration_since(due);
                            out.max_late = out.max_late.max(late);
                            let host = marker_host(tag, k);
                            let time = Timestamp::now();
                            let body = pool.body_with(k, &marker_event(&host, k, time));
                            let sent = Instant::now();
                            out.last_send = out.last_send.max(sent - start);
                            outstanding
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(host, (sent, time));
                            let events = send(api, body, &busy)?;
                            out.acks.push(sent.elapsed());
                            sent_events.fetch_add(events, Ordering::Relaxed);
                        }
                        Ok(())
                    })();
                    senders_left.fetch_sub(1, Ordering::Release);
                    if result.is_err() {
                        abort.store(true, Ordering::Relaxed);
                    }
                    result.map(|()| out)
                })
            })
            .collect();
        let senders: Vec<_> = senders
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a client thread panicked"))
                    .and_then(|r| r)
            })
            .collect();
        let poller = poller
            .join()
            .map_err(|_| anyhow::anyhow!("the alert poller panicked"))
            .and_then(|r| r);
        (senders, poller)
    });
    let mut acks = Vec::new();
    let mut max_late = Duration::ZERO;
    let mut last_send = Duration::ZERO;
    for s in senders {
        let s = s?;
        acks.extend(s.acks);
        max_late = max_late.max(s.max_late);
        last_send = last_send.max(s.last_send);
    }
    let polled = poller?;
    let sent = sent_events.into_inner();
    let missing = outstanding
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .len();
    Ok(Latency {
        rate,
        seconds: args.seconds,
        markers: batches,
        events: sent,
        // Over the schedule's span: the last body is due one interval before the end.
        achieved_events_per_sec: sent as f64 / (last_send + interval).as_secs_f64(),
        max_send_delay_ms: max_late.as_secs_f64() * 1e3,
        retries_429: busy.into_inner(),
        poll_ms: args.poll_ms,
        poll_round_trip_ms: Percentiles::of(polled.round_trips),
        missing_markers: missing as u64,
        alert_ms: Percentiles::of(polled.latencies),
        request_ms: Percentiles::of(acks),
    })
}

#[derive(Default)]
struct SenderOut {
    acks: Vec<Duration>,
    max_late: Duration,
    /// When the last body this sender sent was sent, after the phase's start.
    last_send: Duration,
}

struct Polled {
    latencies: Vec<Duration>,
    round_trips: Vec<Duration>,
}

/// Lists the alerts active since the oldest outstanding marker's time every `poll`, and
/// times each marker whose host appears; stops once the senders are done and every marker
/// is seen, or [`MARKER_TIMEOUT`] after the senders are done.
fn poll_alerts(
    api: &Api,
    outstanding: &Outstanding,
    senders_left: &AtomicU64,
    abort: &AtomicBool,
    poll: Duration,
) -> Result<Polled> {
    let mut polled = Polled {
        latencies: Vec::new(),
        round_trips: Vec::new(),
    };
    let mut done_at: Option<Instant> = None;
    let mut tick = Instant::now();
    while !abort.load(Ordering::Relaxed) {
        let oldest = {
            let o = outstanding.lock().unwrap_or_else(|e| e.into_inner());
            o.values().map(|(_, t)| *t).min()
        };
        if senders_left.load(Ordering::Acquire) == 0 {
            let since = *done_at.get_or_insert_with(Instant::now);
            if oldest.is_none() || since.elapsed() > MARKER_TIMEOUT {
                break;
            }
        }
        if let Some(oldest) = oldest {
            let asked = Instant::now();
            let alerts = api.alerts_since(just_before(oldest))?;
            let seen = Instant::now();
            polled.round_trips.push(seen - asked);
            let mut o = outstanding.lock().unwrap_or_else(|e| e.into_inner());
            for alert in alerts {
                let Some(host) = alert.entities.host else {
                    continue;
                };
                if let Some((sent, _)) = o.remove(&host.to_ascii_lowercase()) {
                    polled.latencies.push(seen - sent);
                }
            }
        }
        tick += poll;
        match tick.checked_duration_since(Instant::now()) {
            Some(wait) => std::thread::sleep(wait),
            None => tick = Instant::now(),
        }
    }
    Ok(polled)
}

fn join_all(workers: Vec<std::thread::ScopedJoinHandle<'_, Result<()>>>) -> Result<()> {
    let mut first = Ok(());
    for w in workers {
        let r = w
            .join()
            .map_err(|_| anyhow::anyhow!("a worker thread panicked"))
            .and_then(|r| r);
        if first.is_ok() {
            first = r;
        }
    }
    first
}
