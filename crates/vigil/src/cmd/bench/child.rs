//! The server under test: `vigil serve` started as a child process, so the load generator's
//! work and memory are not counted as the server's, and the HTTP calls the benchmark makes.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jiff::Timestamp;
use serde_json::Value;
use vigil_store::state::{Alert, Page};

/// Lines of the server's stderr kept for the error message when it fails.
const LOG_LINES: usize = 200;
/// Linux reports CPU time in clock ticks of `USER_HZ`, 100 on every mainstream architecture.
const TICKS_PER_SEC: f64 = 100.0;

/// A running `vigil serve`, killed when dropped (its data directory is thrown away).
pub struct ServerChild {
    child: Child,
    pub url: String,
    /// The one-time admin token of the first start.
    pub token: String,
    /// Stderr lines printed before the server listened (rule counts and the like).
    pub startup: Vec<String>,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl ServerChild {
    /// Starts `EXE --config CONFIG serve --data DATA --listen 127.0.0.1:0` and waits until it
    /// listens (rule loading included) and has printed its admin token.
    pub fn start(exe: &Path, config: &Path, data: &Path) -> Result<ServerChild> {
        let mut child = Command::new(exe)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("VIGIL_CONFIG")
            .current_dir(data.parent().unwrap_or(data))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} serve", exe.display()))?;
        let (token_tx, token_rx) = mpsc::channel();
        let stdout = child.stdout.take().context("no stdout pipe")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = token_tx.send(line);
            }
        });
        // Stderr is read to the end (a full pipe would stall the server); the last lines are
        // kept for error messages.
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (err_tx, err_rx) = mpsc::channel();
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line.clone());
                let mut log = kept.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() == LOG_LINES {
                    log.pop_front();
                }
                log.push_back(line);
            }
        });
        let mut server = ServerChild {
            child,
            url: String::new(),
            token: String::new(),
            startup: Vec::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match err_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => match line.strip_prefix("vigil serve: listening on ") {
                    Some(url) => {
                        server.url = url.trim().trim_end_matches('/').to_string();
                        break;
                    }
                    None => server.startup.push(line),
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("vigil serve exited while starting:\n{}", server.log_tail())
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "vigil serve did not listen within 10 minutes:\n{}",
                    server.log_tail()
                );
            }
        }
        server.token = token_rx
            .recv_timeout(Duration::from_secs(30))
            .map(|t| t.trim().to_string())
            .map_err(|_| {
                anyhow::anyhow!("vigil serve printed no admin token:\n{}", server.log_tail())
            })?;
        Ok(server)
    }

    /// The server's process id (for `perf record -p`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the server printed on stderr.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The server's startup line about rules (`N rules loaded, M rejected …`), if printed.
    pub fn rules_line(&self) -> Option<&str> {
        self.startup.iter().find_map(|l| {
            l.strip_prefix("vigil serve: ")
                .filter(|l| l.contains("rules loaded"))
        })
    }

    /// Peak resident memory of the server so far (Linux `VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    /// CPU time (user + system) the server's threads have used so far, summed by thread name
    /// (`vigil-detect`, `tokio-runtime-w`, `vigil-journal-c`…): a cheap profile of where
    /// the time goes. Threads that already exited are not counted.
    pub fn thread_cpu(&self) -> BTreeMap<String, f64> {
        let mut by_name = BTreeMap::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return by_name;
        };
        for task in tasks.flatten() {
            if let Some((name, secs)) = std::fs::read_to_string(task.path().join("stat"))
                .ok()
                .and_then(|s| parse_stat(&s))
            {
                *by_name.entry(name).or_insert(0.0) += secs;
            }
        }
        by_name
    }

    /// CPU time (user + system) of the whole server so far, exited threads included.
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        parse_stat(&stat).map(|(_, secs)| secs)
    }

    /// Fails with the server's last words if it is no longer running.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("vigil serve exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(comm, utime + stime in seconds)` of a `/proc/.../stat` line. The name is in parentheses
/// and may itself hold spaces or parentheses, so fields are counted after the last `)`.
fn parse_stat(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let utime: f64 = rest.get(11)?.parse().ok()?;
    let stime: f64 = rest.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / TICKS_PER_SEC))
}

/// CPU time (user + system) this process has used so far, in seconds.
pub fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat).map(|(_, secs)| secs)
}

/// What the server answered to one ingest request.
pub enum Ingested {
    /// Durable: the events the server counted.
    Accepted { events: u64 },
    /// 429: retry after this long.
    Busy(Duration),
}

/// Detection's progress as `GET /api/v1/sources` reports it.
pub struct PipelineNow {
    /// Events through detection since the server started.
    pub events: u64,
    /// Journal units not yet committed by detection.
    pub lag_units: u64,
}

/// The API calls of the benchmark, with the admin token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::blocking::Client,
    url: String,
    token: String,
}

impl Api {
    pub fn new(server: &ServerChild) -> Result<Api> {
        Ok(Api {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .context("building the HTTP client")?,
            url: server.url.clone(),
            token: server.token.clone(),
        })
    }

    /// `POST /api/v1/ingest?source=bench` with one body.
    pub fn ingest(&self, body: Vec<u8>) -> Result<Ingested> {
        let resp = self
            .http
            .post(format!("{}/api/v1/ingest?source=bench", self.url))
            .bearer_auth(&self.token)
            .body(body)
            .send()
            .context("POST /api/v1/ingest")?;
        let status = resp.status().as_u16();
        if status == 429 {
            let secs = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            return Ok(Ingested::Busy(Duration::from_secs_f64(
                secs.clamp(0.0, 60.0),
            )));
        }
        let body: Value = resp.json().unwrap_or(Value::Null);
        if status != 200 {
            bail!("POST /api/v1/ingest answered {status}: {body}");
        }
        Ok(Ingested::Accepted {
            events: body["events"].as_u64().unwrap_or(0),
        })
    }

    /// Detection's progress.
    pub fn pipeline(&self) -> Result<PipelineNow> {
        let body = self.get_json("/api/v1/sources")?;
        let p = &body["pipeline"];
        match (p["events"].as_u64(), p["lag_units"].as_u64()) {
            (Some(events), Some(lag_units)) => Ok(PipelineNow { events, lag_units }),
            _ => bail!("GET /api/v1/sources: no pipeline figures in {body}"),
        }
    }

    /// Every alert active since `since` (`last_seen >= since`), all pages.
    pub fn alerts_since(&self, since: Timestamp) -> Result<Vec<Alert>> {
        self.alerts(&format!("since={since}"))
    }

    /// Every alert naming `entity` (host, user or IP).
    pub fn alerts_for(&self, entity: &str) -> Result<Vec<Alert>> {
        self.alerts(&format!("entity={entity}"))
    }

    /// `GET /api/v1/alerts?FILTER`, following the cursor to the last page. The filter's
    /// values must be URL-safe as given (timestamps and the generated host names are).
    fn alerts(&self, filter: &str) -> Result<Vec<Alert>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/alerts?{filter}&limit=1000");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(c);
            }
            let page: Page<Alert> = serde_json::from_value(self.get_json(&path)?)
                .with_context(|| format!("GET {path}: not a page of alerts"))?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    fn get_json(&self, path: &str) -> Result<Value> {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if status != 200 {
            bail!("GET {path} answered {status}: {body}");
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_name_and_cpu_seconds() {
        let line = "4242 (tokio-runtime-w) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(parse_stat(line), Some(("tokio-runtime-w".to_string(), 3.0)));
        // A name with spaces and parentheses.
        let odd = "7 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 100 0 0 0";
        assert_eq!(parse_stat(odd), Some(("a (b) c".to_string(), 1.0)));
        assert_eq!(parse_stat("7 (x) R 1 2"), None);
    }
}
