//! Live sources wired to the journal: syslog listeners and watched files deliver batches of
//! records; each batch becomes one unit, and its sender is acknowledged once the unit is
//! durable (TCP connections and file checkpoints wait for that ack).

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use vigil_ingest::source::{
    SourceBatch, SourceStats, SyslogConfig as ListenerConfig, TailConfig, Tailer, WatchSpec,
    run_syslog_tcp, run_syslog_udp,
};

use crate::unit::UnitHeader;
use crate::{Monitor, MonitorError};

/// Batches waiting for the journal; senders wait when it is full.
const QUEUE: usize = 64;

/// The running live sources.
pub struct LiveSources {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl LiveSources {
    /// Stops listening and reading, and waits for the tasks to end.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

fn stats_view(kind: &'static str, name: String, stats: Arc<SourceStats>) -> crate::ListenerStats {
    Arc::new(move || {
        serde_json::json!({
            "kind": kind,
            "name": name,
            "stats": stats.snapshot(),
            "recent_issues": stats.recent_issues(),
        })
    })
}

/// Binds the configured listeners, opens the watched files, and starts feeding the journal.
pub async fn start(monitor: &Arc<Monitor>) -> Result<LiveSources, MonitorError> {
    let (stop, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let (tx, rx) = mpsc::channel::<SourceBatch>(QUEUE);
    let mut tasks = JoinSet::new();
    let cfg = &monitor.config;
    let bind_err = |addr, e| MonitorError::Data(format!("syslog listener on {addr}: {e}"));
    if let Some(addr) = cfg.syslog.udp {
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|e| bind_err(addr, e))?;
        let local = socket.local_addr().map_err(|e| bind_err(addr, e))?;
        eprintln!("vigil serve: syslog udp on {local}");
        let stats = Arc::new(SourceStats::default());
        monitor.add_listener_stats(stats_view(
            "syslog-udp",
            local.to_string(),
            Arc::clone(&stats),
        ));
        let listener_cfg = ListenerConfig {
            max_message: cfg.syslog.max_message_bytes,
            ..ListenerConfig::udp()
        };
        tasks.spawn(run_syslog_udp(
            socket,
            listener_cfg,
            tx.clone(),
            stats,
            stopped(),
        ));
    }
    if let Some(addr) = cfg.syslog.tcp {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| bind_err(addr, e))?;
        let local = listener.local_addr().map_err(|e| bind_err(addr, e))?;
        eprintln!("vigil serve: syslog tcp on {local}");
        let stats = Arc::new(SourceStats::default());
        monitor.add_listener_stats(stats_view(
            "syslog-tcp",
            local.to_string(),
            Arc::clone(&stats),
        ));
        let listener_cfg = ListenerConfig {
            max_message: cfg.syslog.max_message_bytes,
            ..ListenerConfig::tcp()
        };
        tasks.spawn(run_syslog_tcp(
            listener,
            listener_cfg,
            tx.clone(),
            stats,
            stopped(),
        ));
    }
    if !cfg.files.is_empty() {
        let mut watches = Vec::new();
        for f in &cfg.files {
            let format = f
                .format
                .as_deref()
                .map(str::parse::<vigil_ingest::Format>)
                .transpose()
                .map_err(|e| MonitorError::Data(format!("file source {}: {e}", f.name)))?;
            watches.push(WatchSpec {
                name: f.name.clone(),
                path: f.path.clone(),
                pattern: f.pattern.clone(),
                format,
            });
        }
        let state_dir = monitor.data_dir().join("sources");
        std::fs::create_dir_all(&state_dir).map_err(|e| MonitorError::Io {
            path: state_dir.clone(),
            source: e,
        })?;
        let tailer = Tailer::open(TailConfig::new(state_dir, watches))
            .map_err(|e| MonitorError::Data(format!("watched files: {e}")))?;
        for (name, stats) in tailer.stats() {
            monitor.add_listener_stats(stats_view("file", name.clone(), Arc::clone(stats)));
        }
        tasks.spawn(tailer.run(tx.clone(), stopped()));
    }
    drop(tx);
    tasks.spawn(deliver(Arc::clone(monitor), rx));
    Ok(LiveSources { stop, tasks })
}

/// Turns each batch into a unit, appends it (waiting while detection is too far behind) and
/// acknowledges it once durable — without holding up the next batch.
async fn deliver(monitor: Arc<Monitor>, mut rx: mpsc::Receiver<SourceBatch>) {
    while let Some(batch) = rx.recv().await {
        let SourceBatch {
            source,
            format,
            peer,
            path,
            records,
            ack,
        } = batch;
        let header = UnitHeader {
            source,
            format: format.map(|f| f.name().to_string()),
            received: jiff::Timestamp::now(),
            peer,
            path: path.map(|p| p.display().to_string()),
            idempotency: None,
        };
        let mut body = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum());
        for r in &records {
            body.extend_from_slice(r);
            body.push(b'\n');
        }
        let ingestor = monitor.ingestor.clone();
        let appended =
            tokio::task::spawn_blocking(move || ingestor.append_waiting(&header, &body)).await;
        let ticket = match appended {
            Ok(Ok(ticket)) => ticket,
            Ok(Err(e)) => {
                refuse(ack, e.to_string());
                continue;
            }
            Err(e) => {
                refuse(ack, format!("ingest worker failed: {e}"));
                continue;
            }
        };
        tokio::spawn(async move {
            let result = ticket.await.map(|_| ()).map_err(|e| e.to_string());
            if let Err(e) = &result {
                eprintln!("vigil serve: a live-source batch could not be made durable: {e}");
            }
            if let Some(ack) = ack {
                let _ = ack.send(result);
            }
        });
    }
}

fn refuse(ack: Option<tokio::sync::oneshot::Sender<Result<(), String>>>, why: String) {
    eprintln!("vigil serve: a live-source batch was refused: {why}");
    if let Some(ack) = ack {
        let _ = ack.send(Err(why));
    }
}
