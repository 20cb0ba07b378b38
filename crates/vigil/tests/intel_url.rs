//! Intel over HTTPS end to end, on 127.0.0.1 only: `vigil intel import URL` (the CLI fetches,
//! the server imports the body like a file) and `vigil serve` pulling a TAXII collection and a
//! MISP feed from https servers whose certificate a private CA made here (`rcgen`) issued, the
//! CA given as `ca_file`. The servers are vigil-intel's `tests/py/https_server.py`: files, or
//! the OASIS TAXII server medallion with werkzeug's own TLS; plain http is `python3 -m
//! http.server`. Without python3 (and medallion,
//! for the TAXII feed) the tests fail under `CI=true` and are skipped otherwise.

#[path = "common/server.rs"]
mod server;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use server::{Served, create_token, vigil_bin};

fn intel_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vigil-intel/tests")
}

/// True when python3 can import `module`; else fails under `CI=true`, skips otherwise.
fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = format!("python3 cannot import `{module}` (pip install medallion==3.0.0)");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipped: {msg}");
    }
    ok
}

/// A throwaway CA (`ca.pem`) and a certificate it issued for 127.0.0.1 (`cert.pem`,
/// `key.pem`), in `dir`.
fn make_pki(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Vigil test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let leaf_cert = leaf
        .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
}

/// `https_server.py` with the certificate of `pki`, on a free port, killed on drop.
struct HttpsServer {
    child: Child,
    port: u16,
}

impl HttpsServer {
    fn start(pki: &Path, args: &[&Path]) -> HttpsServer {
        let mut child = Command::new("python3")
            .arg(intel_tests().join("py/https_server.py"))
            .arg(pki.join("cert.pem"))
            .arg(pki.join("key.pem"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("https_server.py printed `{line}`"));
        HttpsServer { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `python3 -m http.server` serving `dir` on a free loopback port, killed on drop.
struct PlainHttp {
    child: Child,
    port: u16,
}

impl PlainHttp {
    fn start(dir: &Path) -> PlainHttp {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 8000 (http://127.0.0.1:8000/) ..."
        let port = line
            .split("port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{line}`"));
        PlainHttp { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for PlainHttp {
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

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn intel_import_of_an_https_url_and_each_way_it_can_fail() {
    if !python_has("ssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    make_pki(&pki);
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    // Made for this test: three addresses and a domain; a body no importer reads.
    std::fs::write(
        files.join("feed.txt"),
        "# made for this test\n198.51.100.7\n198.51.100.8\n203.0.113.9\nbad.feed-evil.example\n",
    )
    .unwrap();
    std::fs::write(files.join("garbage.json"), "{\"not\": \"a feed\"}\n").unwrap();
    // vigil-intel's MISP feed fixture's manifest (three events), alone.
    std::fs::copy(
        intel_tests().join("fixtures/misp-feed/feed/manifest.json"),
        files.join("manifest.json"),
    )
    .unwrap();
    let https = HttpsServer::start(&pki, &[Path::new("static"), &files]);

    let data = dir.path().join("data");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules");
    let s = Served::start(&data, &["--rules", rules.to_str().unwrap()]);
    let analyst = create_token(&data, "analyst");
    let viewer = create_token(&data, "viewer");
    let import = |source: &str, extra: &[&str]| {
        Command::new(vigil_bin())
            .args(["intel", "import", source])
            .args(extra)
            .args(["--server", &s.url, "--token", &analyst])
            .output()
            .unwrap()
    };
    let ca = pki.join("ca.pem");
    let ca = ca.to_str().unwrap();
    // A loopback port nothing listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    // With the CA: fetched here, imported there, the feed named after the host.
    let url = https.url("feed.txt");
    let out = import(&url, &["--ca-file", ca]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "{url} into feed 127.0.0.1: 4 indicators (4 new), 0 rejected"
        )),
        "{}",
        text(&out)
    );
    let (_, found) = s.get("/api/v1/intel/indicators?value=203.0.113.9", &viewer);
    assert_eq!(
        found["items"][0]["sources"][0]["feed"], "127.0.0.1",
        "{found}"
    );

    // Plain http (`python3 -m http.server` on the same files) imports the same way.
    let plain = PlainHttp::start(&files);
    let out = import(&plain.url("feed.txt"), &["--feed", "over-http"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("into feed over-http: 4 indicators (0 new), 0 rejected"),
        "{}",
        text(&out)
    );

    // Each failure: exit non-zero, the URL named with the reason, nothing imported.
    let failures: [(String, Vec<&str>, &str); 7] = [
        (plain.url("missing.txt"), vec![], "HTTP 404 Not Found"),
        (
            plain.url("garbage.json"),
            vec!["--feed", "junk"],
            "nothing to import",
        ),
        (
            url.clone(),
            vec![],
            "TLS: invalid peer certificate: UnknownIssuer",
        ),
        (
            https.url("missing.txt"),
            vec!["--ca-file", ca],
            "HTTP 404 Not Found",
        ),
        (
            https.url("status/500"),
            vec!["--ca-file", ca],
            "HTTP 500 Internal Server Error",
        ),
        (
            https.url("garbage.json"),
            vec!["--ca-file", ca, "--feed", "junk"],
            "nothing to import",
        ),
        (
            format!("http://{closed}/feed.txt"),
            vec![],
            "request failed",
        ),
    ];
    for (source, extra, reason) in &failures {
        let out = import(source, extra);
        let err = text(&out);
        assert_eq!(out.status.code(), Some(2), "{source}: {err}");
        assert!(err.contains(source.as_str()), "names the URL: {err}");
        assert!(err.contains(reason), "{source}: expected `{reason}`: {err}");
    }
    // The system's trust store is honoured: rustls-native-certs reads `SSL_CERT_FILE`, here
    // the test CA, so no --ca-file is needed; an empty store makes https fail saying why.
    let with_store = |store: &Path, feed: &str| {
        Command::new(vigil_bin())
            .args(["intel", "import", &url, "--feed", feed])
            .args(["--server", &s.url, "--token", &analyst])
            .env("SSL_CERT_FILE", store)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap()
    };
    let out = with_store(&pki.join("ca.pem"), "system-roots");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("4 indicators (0 new)"),
        "{}",
        text(&out)
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let out = with_store(&empty, "no-roots");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{url}: TLS: no trusted CA certificate")),
        "{}",
        text(&out)
    );

    // A MISP feed's manifest is refused here, saying how to have the server pull the feed.
    let out = import(&https.url("manifest.json"), &["--ca-file", ca]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("a MISP feed manifest (3 events, each a file beside it)")
            && text(&out).contains(&format!("url = \"{}\"", https.url(""))),
        "{}",
        text(&out)
    );

    let out = import("ftp://127.0.0.1/feed.txt", &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("only http:// and https:// URLs"),
        "{}",
        text(&out)
    );
    let out = import(files.join("feed.txt").to_str().unwrap(), &[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--feed is needed for a file"),
        "{}",
        text(&out)
    );

    // The two good imports (the same four values) are all the server holds.
    let (_, feeds) = s.get("/api/v1/intel/feeds", &viewer);
    assert_eq!(feeds["indicators"], 4, "{feeds}");
    let names: Vec<&str> = feeds["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["127.0.0.1", "over-http", "system-roots"], "{feeds}");
}

#[test]
fn serve_pulls_taxii_and_misp_feeds_over_https_with_their_ca_files() {
    if !python_has("medallion") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    make_pki(&pki);
    let taxii = HttpsServer::start(
        &pki,
        &[
            Path::new("taxii"),
            &intel_tests().join("fixtures/taxii/medallion_data.json"),
            Path::new("alice"),
            Path::new("s3cret"),
            Path::new("5"),
        ],
    );
    let misp = HttpsServer::start(
        &pki,
        &[
            Path::new("static"),
            &intel_tests().join("fixtures/misp-feed/feed"),
        ],
    );
    let ca = pki.join("ca.pem");
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "[[monitor.intel.taxii]]\nfeed = \"partner\"\nroot = \"{}\"\n\
             collection = \"11111111-1111-4111-8111-111111111111\"\nusername = \"alice\"\n\
             password_env = \"VIGIL_TEST_TLS_TAXII_PASSWORD\"\npage_size = 5\nca_file = {:?}\n\n\
             [[monitor.intel.misp]]\nfeed = \"osint\"\nurl = \"{}\"\nca_file = {:?}\n\n\
             [[monitor.intel.misp]]\nfeed = \"osint-no-ca\"\nurl = \"{}\"\n",
            taxii.url("intel/"),
            ca.display().to_string(),
            misp.url(""),
            ca.display().to_string(),
            misp.url(""),
        ),
    )
    .unwrap();
    // SAFETY: set before any thread of this test reads the environment; the server inherits it.
    unsafe { std::env::set_var("VIGIL_TEST_TLS_TAXII_PASSWORD", "s3cret") };
    let data = dir.path().join("data");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules");
    let s = Served::start(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    let viewer = create_token(&data, "viewer");
    let feeds = s.wait_for(
        "/api/v1/intel/feeds",
        &viewer,
        Duration::from_secs(60),
        |b| {
            ["partner", "osint", "osint-no-ca"]
                .iter()
                .all(|n| feed(b, n).is_some_and(|f| f["last_pull"].is_string()))
        },
    );
    let partner = feed(&feeds, "partner").unwrap();
    assert!(partner["last_error"].is_null(), "{partner}");
    assert_eq!(partner["last_pull_objects"], 15, "{partner}");
    let osint = feed(&feeds, "osint").unwrap();
    assert!(osint["last_error"].is_null(), "{osint}");
    assert_eq!(osint["last_pull_objects"], 2, "two events: {osint}");
    let no_ca = feed(&feeds, "osint-no-ca").unwrap();
    let err = no_ca["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("UnknownIssuer"), "{no_ca}");
    assert!(err.contains(&misp.url("manifest.json")), "{no_ca}");
    let (_, found) = s.get("/api/v1/intel/indicators?value=192.0.2.80", &viewer);
    assert_eq!(found["items"][0]["sources"][0]["feed"], "osint", "{found}");
    let (_, found) = s.get("/api/v1/intel/indicators?value=203.0.113.1", &viewer);
    assert_eq!(
        found["items"][0]["sources"][0]["feed"], "partner",
        "{found}"
    );
}
