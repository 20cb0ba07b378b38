#![allow(dead_code)] // Each test binary uses a different part of this helper.
//! Runs the real `vigil serve` binary on loopback for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `vigil serve` child process, killed when dropped.
pub struct Served {
    pub child: Child,
    pub url: String,
    /// The bootstrap admin token printed on the first start (empty on later starts).
    pub admin: String,
    pub stderr: mpsc::Receiver<String>,
    /// Stderr lines printed before the server listened (rule counts, listener addresses).
    pub startup: Vec<String>,
    pub http: reqwest::blocking::Client,
}

pub fn vigil_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigil"))
}

impl Served {
    /// Starts `vigil serve --data DATA --listen 127.0.0.1:0 EXTRA…` and waits until it listens.
    pub fn start(data: &Path, extra: &[&str]) -> Served {
        let mut child = Command::new(vigil_bin())
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("VIGIL_CONFIG")
            .current_dir(data.parent().unwrap_or(data))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vigil serve");
        let (out_tx, out_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        let (err_tx, err_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut log = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match err_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("vigil serve: listening on ") {
                        break url.trim().to_string();
                    }
                    log.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("vigil serve did not start; stderr:\n{}", log.join("\n"));
                }
            }
        };
        // The token is printed on stdout before the address on stderr, but the two pipes are
        // read by different threads: give stdout a moment on a first start.
        let admin = if data.join("tokens.json").exists()
            && !log.iter().any(|l| l.contains("one-time admin token"))
        {
            out_rx.try_recv().unwrap_or_default()
        } else {
            out_rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_default()
        };
        // reqwest's rustls has no built-in provider (see vigil_intel::fetch): give it ring.
        vigil_intel::fetch::install_crypto_provider();
        Served {
            child,
            url,
            admin,
            stderr: err_rx,
            startup: log,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// The address a startup line `PREFIX ADDR` announced (`vigil serve: syslog udp on `).
    pub fn announced(&self, prefix: &str) -> std::net::SocketAddr {
        self.startup
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {:?}", self.startup))
            .trim()
            .parse()
            .unwrap()
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .body(body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    pub fn send_json(&self, method: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().unwrap_or(Value::Null))
    }

    /// Polls `GET path` until `done` holds for its body, or panics after `timeout`.
    pub fn wait_for(
        &self,
        path: &str,
        token: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get(path, token);
            if status == 200 && done(&body) {
                return body;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting on {path}: last answer {status} {body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server like a service manager would (SIGTERM) and waits for it.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vigil token create` on a data directory; returns the token.
pub fn create_token(data: &Path, role: &str) -> String {
    let out = Command::new(vigil_bin())
        .args([
            "token", "create", "--role", role, "--label", "e2e", "--data",
        ])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
