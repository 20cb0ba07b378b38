//! `vigil serve` from start to stop: open the data directory, start detection and the live
//! sources, serve the API until told to stop, then drain in order (no new requests, detection
//! finishes its batch and commits, the journal closes) so a clean stop replays nothing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use vigil_ingest::LogsourceMap;
use vigil_server::{ApiBuilder, ServeConfig};
use vigil_store::journal::RetentionPolicy;

use crate::{Monitor, MonitorConfig, MonitorError, RuleCompiler, RuleLoader, api};

/// Everything `vigil serve` is configured with.
pub struct ServiceOptions {
    pub serve: ServeConfig,
    pub monitor: MonitorConfig,
    /// Logsource rules for generic JSON (`[[ingest.json_logsource]]`).
    pub json_logsource: LogsourceMap,
    pub loader: RuleLoader,
    /// Compiles a retro-hunt's own rule text (default: built-in mapping, no placeholders).
    pub compiler: Option<RuleCompiler>,
    /// Ingest the generated demo scenario ([`crate::demo`]) once started.
    pub demo: bool,
}

/// How often journal retention runs.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// Runs the monitoring server until `shutdown` resolves.
pub async fn run(
    options: ServiceOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MonitorError> {
    let ServiceOptions {
        serve,
        monitor: config,
        json_logsource,
        loader,
        compiler,
        demo,
    } = options;
    let data_dir = serve.data_dir.clone();
    let max_body = serve.limits.max_body_bytes;
    let logsource = json_logsource.clone();
    let monitor = tokio::task::spawn_blocking(move || {
        Monitor::open(&data_dir, config, logsource, loader, max_body)
    })
    .await
    .map_err(|e| MonitorError::Data(format!("opening the data directory: {e}")))??;
    let monitor = Arc::new(monitor);
    if let Some(compiler) = compiler {
        monitor.set_rule_compiler(compiler);
    }
    {
        let rules = monitor.rules.current();
        eprintln!(
            "vigil serve: {} rules loaded, {} rejected (see GET /api/v1/rules), {} disabled",
            rules.rules.loaded(),
            rules.rules.rejections().count(),
            rules.disabled_ids.len()
        );
    }
    let detection = monitor.start_detection(json_logsource)?;
    let live = crate::live::start(&monitor).await?;
    let maintenance = tokio::spawn(maintain(Arc::clone(&monitor)));
    let lake_maintenance = tokio::spawn(maintain_lake(Arc::clone(&monitor)));
    let intel_refresh = tokio::spawn(refresh_intel(Arc::clone(&monitor)));
    let mut pulls = Vec::new();
    for feed in &monitor.config.intel.taxii {
        let f = feed.clone();
        pulls.push(tokio::spawn(pull_on_schedule(
            Arc::clone(&monitor),
            feed.feed.clone(),
            "TAXII",
            feed.interval_minutes,
            move |m| crate::intel::pull_taxii(m, &f),
        )));
    }
    for feed in &monitor.config.intel.misp {
        let f = feed.clone();
        pulls.push(tokio::spawn(pull_on_schedule(
            Arc::clone(&monitor),
            feed.feed.clone(),
            "MISP feed",
            feed.interval_minutes,
            move |m| crate::intel::pull_misp(m, &f),
        )));
    }
    if demo {
        let m = Arc::clone(&monitor);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = run_demo(&m) {
                eprintln!("vigil serve: demo: {e}");
            }
        });
    }

    let for_router = Arc::clone(&monitor);
    let served = vigil_server::serve_router(
        serve,
        move |state| {
            install_metrics(&state, &for_router);
            api::routes(ApiBuilder::new(state), for_router).build()
        },
        shutdown,
    )
    .await;

    maintenance.abort();
    lake_maintenance.abort();
    intel_refresh.abort();
    for t in &pulls {
        t.abort();
    }
    live.stop().await;
    let closing = Arc::clone(&monitor);
    let closed = tokio::task::spawn_blocking(move || {
        detection.stop();
        closing.journal.close()
    })
    .await
    .map_err(|e| MonitorError::Data(format!("stopping detection: {e}")))?;
    served?;
    closed?;
    eprintln!(
        "vigil serve: stopped; detection committed through journal offset {}",
        monitor.progress.committed.load(Ordering::Acquire)
    );
    Ok(())
}

/// Periodic housekeeping: journal segments detection is done with are deleted, and ingest
/// idempotency keys older than a day; the idempotency watermark moves up.
async fn maintain(monitor: Arc<Monitor>) {
    let policy = RetentionPolicy {
        max_age: (monitor.config.journal_max_age_hours > 0)
            .then(|| Duration::from_secs(monitor.config.journal_max_age_hours * 3600)),
    };
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    loop {
        tick.tick().await;
        let m = Arc::clone(&monitor);
        let policy = policy.clone();
        let report = tokio::task::spawn_blocking(move || m.journal.apply_retention(&policy)).await;
        match report {
            Ok(Ok(r)) if r.unconsumed_records_removed > 0 => eprintln!(
                "vigil serve: journal retention dropped {} records detection had not read",
                r.unconsumed_records_removed
            ),
            Ok(Err(e)) => eprintln!("vigil serve: journal retention failed: {e}"),
            _ => {}
        }
        let m = Arc::clone(&monitor);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || m.idempotency.prune()).await {
            eprintln!("vigil serve: pruning old idempotency keys failed: {e}");
        }
        let m = Arc::clone(&monitor);
        let advanced = tokio::task::spawn_blocking(move || m.idempotency.advance_watermark());
        if let Ok(Err(e)) = advanced.await {
            eprintln!("vigil serve: moving the idempotency watermark failed: {e}");
        }
    }
}

/// Periodic intel lifecycle: sightings re-read from the intel alerts and the matcher rebuilt,
/// so decay moves on and a sighting refreshes it (the start already read them: first after one
/// interval).
async fn refresh_intel(monitor: Arc<Monitor>) {
    let every = Duration::from_secs(monitor.config.intel.refresh_minutes.max(1) * 60);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        let m = Arc::clone(&monitor);
        let done = tokio::task::spawn_blocking(move || m.intel.refresh(m.store.as_ref())).await;
        if let Ok(Err(e)) = done {
            eprintln!("vigil serve: intel refresh failed: {e}");
        }
    }
}

/// Runs a feed pull at start and then every `interval_minutes`, logging each one.
async fn pull_on_schedule(
    monitor: Arc<Monitor>,
    feed: String,
    what: &'static str,
    interval_minutes: u64,
    pull: impl Fn(&Arc<Monitor>) -> Result<u64, String> + Send + Sync + Clone + 'static,
) {
    let every = Duration::from_secs(interval_minutes.max(1) * 60);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let (m, p) = (Arc::clone(&monitor), pull.clone());
        let done = tokio::task::spawn_blocking(move || p(&m)).await;
        match done {
            Ok(Ok(n)) => eprintln!("vigil serve: intel {feed}: {what} pull, {n} objects"),
            Ok(Err(e)) => eprintln!("vigil serve: intel {feed}: {what} pull failed: {e}"),
            Err(e) => eprintln!("vigil serve: intel {feed}: {what} pull panicked: {e}"),
        }
    }
}

/// Periodic lake housekeeping: merge the small files of closed hours, drop expired data.
async fn maintain_lake(monitor: Arc<Monitor>) {
    let Some(lake) = monitor.lake.clone() else {
        return;
    };
    let settings = monitor.config.lake.clone();
    let policy = vigil_store::lake::RetentionPolicy {
        default_days: (settings.retention_days > 0).then_some(settings.retention_days),
        per_source: settings.retention_days_per_source.clone(),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(settings.maintenance_secs.max(1)));
    loop {
        tick.tick().await;
        let (lake, policy) = (lake.clone(), policy.clone());
        let done = tokio::task::spawn_blocking(move || {
            let now = jiff::Timestamp::now();
            let compacted = lake.compact(now);
            let retained = lake.apply_retention(&policy, now);
            (compacted, retained)
        })
        .await;
        match done {
            Ok((Err(e), _)) | Ok((_, Err(e))) => eprintln!("vigil serve: lake maintenance: {e}"),
            Ok((Ok(_), Ok(r))) => {
                for e in r.errors {
                    eprintln!("vigil serve: lake retention skipped a partition: {e}");
                }
            }
            Err(e) => eprintln!("vigil serve: lake maintenance failed: {e}"),
        }
    }
}

/// Pipeline figures as Prometheus gauges, refreshed every second.
fn install_metrics(state: &vigil_server::AppState, monitor: &Arc<Monitor>) {
    let metrics = state.metrics().clone();
    let monitor = Arc::clone(monitor);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let p = &monitor.progress;
            let figures = [
                ("vigil_pipeline_lag_units", monitor.ingestor.lag()),
                ("vigil_pipeline_lag_bytes", monitor.ingestor.lag_bytes()),
                (
                    "vigil_pipeline_units_total",
                    p.units.load(Ordering::Relaxed),
                ),
                (
                    "vigil_pipeline_events_total",
                    p.events.load(Ordering::Relaxed),
                ),
                (
                    "vigil_pipeline_decode_errors_total",
                    p.decode_errors.load(Ordering::Relaxed),
                ),
                (
                    "vigil_alerts_created_total",
                    p.alerts_new.load(Ordering::Relaxed),
                ),
                (
                    "vigil_alerts_aggregated_total",
                    p.alerts_aggregated.load(Ordering::Relaxed),
                ),
                ("vigil_journal_next_offset", monitor.journal.next_offset()),
                ("vigil_lake_rows_total", p.lake_rows.load(Ordering::Relaxed)),
            ];
            for (name, value) in figures {
                metrics.set_gauge(name, value as f64);
            }
        }
    });
}

/// Sends the demo scenario through the same ingest path as HTTP, waits for detection, and
/// prints what it found and how to look.
fn run_demo(monitor: &Monitor) -> Result<(), String> {
    let now = jiff::Timestamp::now();
    let mut last = 0;
    let mut events = 0;
    for (source, body) in crate::demo::generate(now, 5_000, 8) {
        let header = crate::unit::UnitHeader {
            source: source.to_string(),
            format: Some("json".into()),
            received: now,
            peer: None,
            path: None,
            idempotency: None,
        };
        let checked = monitor
            .ingestor
            .check(&header, body.as_bytes(), false)
            .map_err(|e| e.to_string())?;
        events += checked.events;
        let ticket = monitor
            .ingestor
            .append_waiting(&header, body.as_bytes())
            .map_err(|e| e.to_string())?;
        last = ticket.wait().map_err(|e| e.to_string())?;
    }
    if !crate::pipeline::wait_processed(&monitor.progress, last, Duration::from_secs(120)) {
        return Err("detection did not finish the demo data within 2 minutes".into());
    }
    let alerts = monitor
        .store
        .list(&vigil_store::state::AlertFilter::default())
        .map_err(|e| e.to_string())?;
    eprintln!(
        "vigil serve: demo: {events} events ingested; {} alerts:",
        alerts.total
    );
    for a in &alerts.items {
        eprintln!(
            "  [{}] {} on {} (x{})",
            a.rule.level,
            a.rule.title,
            a.entities.host.as_deref().unwrap_or("-"),
            a.count
        );
    }
    eprintln!(
        "vigil serve: demo: try  curl -H \"Authorization: Bearer $TOKEN\" http://ADDR/api/v1/alerts"
    );
    Ok(())
}
