//! The figures of `vigil bench serve`, as lines for people or one JSON document.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::serve::MARKER_TIMEOUT;

#[derive(Serialize)]
pub(super) struct Report {
    pub(super) machine: Machine,
    pub(super) server: ServerFacts,
    pub(super) load: LoadFacts,
    pub(super) baseline: Option<Baseline>,
    pub(super) throughput: Option<Throughput>,
    pub(super) latency: Option<Latency>,
}

#[derive(Serialize)]
pub(super) struct Machine {
    pub(super) cores: usize,
    pub(super) cpu: String,
    pub(super) memory_mib: Option<u64>,
}

impl Machine {
    pub(super) fn here() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map_or_else(|| "?".into(), |(_, m)| m.trim().to_string()),
            memory_mib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb / 1024),
        }
    }
}

#[derive(Serialize, Default)]
pub(super) struct ServerFacts {
    pub(super) binary: PathBuf,
    /// The server's own startup line about rules.
    pub(super) rules: String,
    /// Rules that fired on the marker event.
    pub(super) marker_rules: Vec<String>,
    pub(super) peak_rss_after_throughput_mib: Option<f64>,
    pub(super) peak_rss_mib: Option<f64>,
}

#[derive(Serialize)]
pub(super) struct LoadFacts {
    pub(super) batch: usize,
    pub(super) clients: usize,
    /// Distinct events generated; longer runs cycle through them.
    pub(super) distinct_events: usize,
    pub(super) data_dir: PathBuf,
}

#[derive(Serialize)]
pub(super) struct Baseline {
    pub(super) events: u64,
    pub(super) bytes: u64,
    pub(super) seconds: f64,
    pub(super) events_per_sec: f64,
}

#[derive(Serialize)]
pub(super) struct Throughput {
    pub(super) events: u64,
    pub(super) acknowledged_events: u64,
    pub(super) bytes: u64,
    pub(super) retries_429: u64,
    pub(super) ack_seconds: f64,
    pub(super) acked_events_per_sec: f64,
    pub(super) end_to_end_seconds: f64,
    pub(super) end_to_end_events_per_sec: f64,
    pub(super) request_ms: Option<Percentiles>,
    pub(super) server_cpu_seconds: Option<f64>,
    pub(super) server_cpu_by_thread: BTreeMap<String, f64>,
    pub(super) client_cpu_seconds: Option<f64>,
}

#[derive(Serialize)]
pub(super) struct Latency {
    pub(super) rate: u64,
    pub(super) seconds: u64,
    pub(super) markers: u64,
    pub(super) events: u64,
    pub(super) achieved_events_per_sec: f64,
    pub(super) max_send_delay_ms: f64,
    pub(super) retries_429: u64,
    pub(super) poll_ms: u64,
    pub(super) poll_round_trip_ms: Option<Percentiles>,
    pub(super) missing_markers: u64,
    pub(super) alert_ms: Option<Percentiles>,
    pub(super) request_ms: Option<Percentiles>,
}

#[derive(Serialize, Debug, PartialEq)]
pub(super) struct Percentiles {
    pub(super) count: usize,
    pub(super) p50: f64,
    pub(super) p90: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles in milliseconds; `None` for no samples.
    pub(super) fn of(mut samples: Vec<Duration>) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort();
        let at = |p: f64| {
            let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1].as_secs_f64() * 1e3
        };
        Some(Percentiles {
            count: samples.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
        })
    }

    fn line(p: &Option<Percentiles>) -> String {
        match p {
            Some(p) => format!(
                "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
                p.p50, p.p90, p.p99, p.max, p.count
            ),
            None => "no samples".into(),
        }
    }
}

impl Report {
    pub(super) fn print(&self) {
        let m = &self.machine;
        println!(
            "machine: {} cores ({}), {} MiB; server: {} serve, child process, on {}",
            m.cores,
            m.cpu,
            m.memory_mib.map_or_else(|| "?".into(), |v| v.to_string()),
            self.server.binary.display(),
            self.load.data_dir.display()
        );
        println!("rules: {}", self.server.rules);
        println!("marker rule(s): {}", self.server.marker_rules.join("; "));
        println!(
            "load: NDJSON bodies of {} events ({} distinct generated Sysmon/Security events, cycled), {} HTTP clients on loopback",
            self.load.batch,
            thousands(self.load.distinct_events as u64),
            self.load.clients
        );
        if let Some(b) = &self.baseline {
            println!(
                "baseline, journal append (same bodies, {} appenders, fsync, no HTTP/decode): {:>9} events/s ({:.1} MB/s, {:.2}s)",
                self.load.clients,
                thousands(b.events_per_sec as u64),
                b.bytes as f64 / 1e6 / b.seconds,
                b.seconds
            );
        }
        if let Some(t) = &self.throughput {
            println!(
                "throughput: {} events ({:.1} MB), {} answers 429",
                thousands(t.events),
                t.bytes as f64 / 1e6,
                t.retries_429
            );
            println!(
                "  acknowledged (durable):             {:>9} events/s ({:.2}s)",
                thousands(t.acked_events_per_sec as u64),
                t.ack_seconds
            );
            println!(
                "  end to end (first send → all detected): {:>9} events/s ({:.2}s)  <- sustained",
                thousands(t.end_to_end_events_per_sec as u64),
                t.end_to_end_seconds
            );
            if let Some(b) = &self.baseline {
                println!(
                    "  ratio to the journal baseline (time for the same events): acknowledged {:.2}, end to end {:.2}",
                    t.ack_seconds / b.seconds,
                    t.end_to_end_seconds / b.seconds
                );
            }
            println!("  request time: {}", Percentiles::line(&t.request_ms));
            if let Some(cpu) = t.server_cpu_seconds {
                let threads: Vec<String> = t
                    .server_cpu_by_thread
                    .iter()
                    .map(|(name, secs)| format!("{name} {secs:.1}s"))
                    .collect();
                println!(
                    "  server CPU: {cpu:.1}s = {:.2} cores on average ({}); load generator {}",
                    cpu / t.end_to_end_seconds,
                    threads.join(", "),
                    t.client_cpu_seconds
                        .map_or_else(|| "?".into(), |c| format!("{c:.1}s"))
                );
            }
        }
        if let Some(l) = &self.latency {
            println!(
                "latency at {} events/s offered ({} achieved) for {}s: {} markers, one per body, {} answers 429, sends at most {:.1} ms behind schedule",
                thousands(l.rate),
                thousands(l.achieved_events_per_sec as u64),
                l.seconds,
                l.markers,
                l.retries_429,
                l.max_send_delay_ms
            );
            println!(
                "  ingest → alert listed: {}",
                Percentiles::line(&l.alert_ms)
            );
            println!(
                "  resolution: alerts polled every {} ms, poll round trip {}",
                l.poll_ms,
                l.poll_round_trip_ms
                    .as_ref()
                    .map_or_else(|| "?".into(), |p| format!("p50 {:.1} ms", p.p50))
            );
            println!("  request (ack) time: {}", Percentiles::line(&l.request_ms));
            if l.missing_markers > 0 {
                println!(
                    "  MISSING: {} markers had no alert {}s after the last send",
                    l.missing_markers,
                    MARKER_TIMEOUT.as_secs()
                );
            }
        }
        let mib = |v: Option<f64>| v.map_or_else(|| "?".into(), |v| format!("{v:.0} MiB"));
        println!(
            "server peak memory (VmHWM): {} after the throughput phase, {} at the end",
            mib(self.server.peak_rss_after_throughput_mib),
            mib(self.server.peak_rss_mib)
        );
    }
}

/// `1234567` as `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms = |v: u64| Duration::from_millis(v);
        let p = Percentiles::of((1..=100).map(ms).collect()).unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        let one = Percentiles::of(vec![ms(7)]).unwrap();
        assert_eq!((one.p50, one.p99, one.count), (7.0, 7.0, 1));
        assert_eq!(Percentiles::of(Vec::new()), None);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
