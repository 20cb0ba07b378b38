//! `vigil serve` pulling feeds on their schedule from real servers on 127.0.0.1 — a TAXII 2.1
//! collection from the OASIS reference server `medallion`, and a MISP feed from `python3 -m
//! http.server` (the fixtures and script of vigil-intel's tests) — keeping what it pulled and
//! its cursors across a restart. Without python3 and medallion the test fails under `CI=true`
//! and is skipped otherwise.

#[path = "common/server.rs"]
mod server;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use server::{Served, create_token};

const COLLECTION: &str = "11111111-1111-4111-8111-111111111111";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn medallion_installed() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import medallion"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = "python3 cannot import medallion (pip install medallion==3.0.0)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipped: {msg}");
    }
    ok
}

/// A python server on a free loopback port (read from its first line), killed on drop.
struct Medallion {
    child: Child,
    port: u16,
}

impl Medallion {
    fn start() -> Medallion {
        let intel = repo().join("crates/vigil-intel/tests");
        let mut cmd = Command::new("python3");
        cmd.arg(intel.join("py/taxii_server.py"))
            .arg(intel.join("fixtures/taxii/medallion_data.json"))
            .args(["alice", "s3cret", "5"]);
        Medallion::spawn(cmd)
    }

    /// `python3 -m http.server` serving vigil-intel's MISP feed fixture.
    fn misp_feed() -> Medallion {
        let mut cmd = Command::new("python3");
        cmd.args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(repo().join("crates/vigil-intel/tests/fixtures/misp-feed/feed"));
        Medallion::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Medallion {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let text = line.split("port ").nth(1).unwrap_or(&line);
        let port = text
            .split(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{line}`"));
        Medallion { child, port }
    }
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn feed<'a>(feeds: &'a Value, name: &str) -> Option<&'a Value> {
    feeds["feeds"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)
}

#[test]
fn a_taxii_collection_is_pulled_kept_and_resumed_from_its_cursor() {
    if !medallion_installed() {
        return;
    }
    let taxii = Medallion::start();
    let misp = Medallion::misp_feed();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vigil.toml");
    let root = format!("http://127.0.0.1:{}/intel/", taxii.port);
    std::fs::write(
        &config,
        format!(
            "[[monitor.intel.taxii]]\nfeed = \"partner\"\nroot = \"{root}\"\ncollection = \"{COLLECTION}\"\n\
             username = \"alice\"\npassword_env = \"VIGIL_TEST_TAXII_PASSWORD\"\npage_size = 5\n\n\
             [[monitor.intel.taxii]]\nfeed = \"partner-bad-login\"\nroot = \"{root}\"\n\
             collection = \"{COLLECTION}\"\nusername = \"mallory\"\npassword_env = \"HOME\"\n\n\
             [[monitor.intel.misp]]\nfeed = \"osint\"\nurl = \"http://127.0.0.1:{}/\"\n",
            misp.port
        ),
    )
    .unwrap();
    // The password comes from the environment variable the configuration names; the server
    // inherits this test process's environment.
    // SAFETY: set before any thread of this test binary reads the environment (one test).
    unsafe { std::env::set_var("VIGIL_TEST_TAXII_PASSWORD", "s3cret") };

    let rules = repo().join("examples/rules");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ];
    let s = Served::start(&data, &args);
    let viewer = create_token(&data, "viewer");
    let feeds = s.wait_for(
        "/api/v1/intel/feeds",
        &viewer,
        Duration::from_secs(60),
        |b| {
            feed(b, "partner").is_some_and(|f| f["last_pull"].is_string())
                && feed(b, "partner-bad-login").is_some_and(|f| f["last_pull"].is_string())
        },
    );
    let partner = feed(&feeds, "partner").unwrap();
    assert!(partner["last_error"].is_null(), "{partner}");
    assert_eq!(partner["origin"], "taxii");
    assert_eq!(partner["last_pull_objects"], 15, "all pages: {partner}");
    assert_eq!(partner["files"], 1, "one kept file per pull: {partner}");
    let bad = feed(&feeds, "partner-bad-login").unwrap();
    assert!(
        bad["last_error"].as_str().unwrap().contains("401"),
        "a refused login is reported: {bad}"
    );
    let (_, found) = s.get("/api/v1/intel/indicators?value=203.0.113.1", &viewer);
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["sources"][0]["feed"], "partner");
    let (_, found) = s.get("/api/v1/intel/indicators?value=bad7.example", &viewer);
    assert_eq!(found["items"][0]["value"], "bad7.example", "{found}");
    let held = feeds["indicators"].as_u64().unwrap();
    assert!(held >= 11, "{feeds}");

    // After a restart the kept file gives the same indicators, and the pull resumes from the
    // cursor: nothing new, no new file.
    drop(s);
    let s = Served::start(&data, &args);
    let feeds = s.wait_for(
        "/api/v1/intel/feeds",
        &viewer,
        Duration::from_secs(60),
        |b| feed(b, "partner").is_some_and(|f| f["last_pull"].is_string()),
    );
    let partner = feed(&feeds, "partner").unwrap();
    assert!(partner["last_error"].is_null(), "{partner}");
    assert_eq!(
        partner["last_pull_objects"], 0,
        "resumed from the cursor: {partner}"
    );
    assert_eq!(partner["files"], 1, "{partner}");
    assert_eq!(feeds["indicators"].as_u64(), Some(held), "{feeds}");
}
