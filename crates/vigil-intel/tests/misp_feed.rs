//! MISP feeds (`fixtures/misp-feed/feed`: manifest, two event files, a manifest entry whose
//! file is missing, `hashes.csv`) from a directory, and over HTTP from `python3 -m
//! http.server` on 127.0.0.1; a server failing part-way from `tests/py/bad_taxii_server.py`.
//! The HTTP tests need python3: without it they fail under `CI=true` and are skipped (with a
//! message) otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use url::Url;
use vigil_intel::{
    ClientOptions, FeedClient, FeedFormat, FetchError, ImportOptions, IndicatorKind as K, IntelSet,
    Location, MispFeedCursor, Tlp,
};

const A: &str = "5a1c0c5e-0000-4000-8000-00000000000a";
const B: &str = "5a1c0c5e-0000-4000-8000-00000000000b";
const C: &str = "5a1c0c5e-0000-4000-8000-00000000000c";
const TS_A: i64 = 1767225600;
const TS_C: i64 = 1767398400;

fn feed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/misp-feed/feed")
}

/// Indicators of the two events with a file: A's IP, domain and MD5 (its `text` is not an
/// indicator), B's URL, e-mail and SHA-256 (its `to_ids: false` IP is skipped).
fn assert_feed_indicators(set: &IntelSet, feed: &str) {
    assert_eq!(set.len(), 6);
    let ip = set.get(K::Ipv4, "192.0.2.80").expect("A's ip-dst");
    assert_eq!(ip.tlp(), Some(Tlp::Amber));
    assert_eq!(&*ip.sources()[0].feed, feed);
    assert_eq!(
        ip.sources()[0].external_id.as_deref(),
        Some("5a1c0c5e-1111-4000-8000-000000000001")
    );
    assert!(set.get(K::Domain, "c2.feed-evil.example").is_some());
    assert!(
        set.get(K::Md5, "0123456789abcdef0123456789abcdef")
            .is_some()
    );
    let url = set
        .get(K::Url, "http://phish.feed-evil.example/login.php")
        .expect("B's url");
    assert_eq!(url.tlp(), Some(Tlp::Green));
    assert!(set.get(K::Email, "boss@feed-evil.example").is_some());
    assert!(set.get(K::Sha256, &"ab".repeat(32)).is_some());
    assert!(set.get(K::Ipv4, "198.51.100.200").is_none());
}

#[test]
fn directory_feed_reads_each_event_once_through_its_manifest() {
    for start in [feed_dir(), feed_dir().join("manifest.json")] {
        let mut set = IntelSet::new();
        let r = set.import_path(&start).unwrap();
        let paths: Vec<String> = r
            .files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            paths,
            [
                "manifest.json".to_string(),
                format!("{A}.json"),
                format!("{B}.json"),
                "hashes.csv".to_string()
            ],
            "each file once, events through the manifest (from {})",
            start.display()
        );
        let manifest = &r.files[0];
        assert_eq!(manifest.format, Some(FeedFormat::MispFeedManifest));
        assert_eq!(manifest.read, 3);
        assert_eq!(manifest.rejected.len(), 1);
        assert_eq!(manifest.rejected[0].location, Location::Object(C.into()));
        assert_eq!(
            manifest.rejected[0].reason,
            format!("event named in the manifest has no file {C}.json")
        );
        assert!(
            r.files[1..3]
                .iter()
                .all(|f| f.format == Some(FeedFormat::MispEvent) && f.rejected.is_empty())
        );
        assert_eq!(
            r.files[1].skipped.get("misp text (not an indicator type)"),
            Some(&1)
        );
        assert_eq!(
            r.files[2]
                .skipped
                .get("misp to_ids false (not for detection)"),
            Some(&1)
        );
        let hashes = &r.files[3];
        assert_eq!(hashes.format, Some(FeedFormat::MispFeedHashes));
        assert_eq!(
            (hashes.read, hashes.added, hashes.rejected.len()),
            (8, 0, 0)
        );
        assert_eq!(hashes.skipped.values().sum::<u64>(), 8);
        assert_eq!((r.added(), r.merged()), (6, 0));
        assert_feed_indicators(&set, "feed");
    }
}

#[test]
fn manifest_and_hashes_alone_are_explained() {
    let mut set = IntelSet::new();
    let bytes = std::fs::read(feed_dir().join("manifest.json")).unwrap();
    let r = set.import_bytes("manifest.json", &bytes, &ImportOptions::default());
    assert_eq!(r.format, Some(FeedFormat::MispFeedManifest));
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].location, Location::File);
    assert!(
        r.rejected[0]
            .reason
            .contains("MISP feed manifest of 3 events")
    );

    let text = format!(
        "{m},{A}\n{m},not-a-uuid\n0123,{A}\n",
        m = "e67b5d889e5982df5e5da03882fa2a69"
    );
    let r = set.import_bytes("hashes.csv", text.as_bytes(), &ImportOptions::default());
    assert_eq!(r.format, Some(FeedFormat::MispFeedHashes));
    assert_eq!((r.read, r.added), (3, 0));
    let bad: Vec<_> = r
        .rejected
        .iter()
        .map(|x| (x.location.clone(), x.reason.as_str()))
        .collect();
    assert_eq!(
        bad,
        [
            (Location::Line(2), "`not-a-uuid` is not an event uuid"),
            (Location::Line(3), "`0123` is not a hex hash"),
        ]
    );
    assert!(set.is_empty());
}

fn python3() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("python3 is needed for the MISP feed HTTP tests");
        }
        eprintln!("skipped: no python3");
    }
    ok
}

/// A python process serving on 127.0.0.1, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `args` and reads the port from its first line (the first number after
    /// `port `, or the whole line).
    fn start(args: &[&str], dir: &Path) -> Server {
        let mut child = Command::new("python3")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3");
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
        Server { child, port }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}/{path}", self.port)).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn feed_over_http_skips_unchanged_events() {
    if !python3() {
        return;
    }
    let server = Server::start(
        &["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        &feed_dir(),
    );
    let client = FeedClient::new(ClientOptions::default()).unwrap();
    let feed = server.url("");

    let mut set = IntelSet::new();
    let r = client.pull_misp_feed(&mut set, &feed, "osint", &MispFeedCursor::default());
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!((r.manifest.read, r.events.len(), r.unchanged), (3, 2, 0));
    assert_eq!((r.added(), r.merged()), (6, 0));
    let rejected: Vec<_> = r.rejections().collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].1.location, Location::Object(C.into()));
    assert!(
        rejected[0].1.reason.contains(&format!(
            "event named in the manifest is not on the server ({})",
            server.url(&format!("{C}.json"))
        )),
        "{}",
        rejected[0].1.reason
    );
    assert_feed_indicators(&set, "osint");
    // The missing event is reported, not retried forever: the cursor passes it.
    assert_eq!(r.cursor.since, Some(TS_C));

    // Nothing newer: no event fetched.
    let again = client.pull_misp_feed(&mut set, &feed, "osint", &r.cursor);
    assert!(again.error.is_none());
    assert_eq!((again.unchanged, again.events.len()), (3, 0));
    assert_eq!(again.cursor, r.cursor);

    // From A's timestamp: only B (and C, still missing) are asked for.
    let mut later = IntelSet::new();
    let since_a = MispFeedCursor { since: Some(TS_A) };
    let r = client.pull_misp_feed(&mut later, &feed, "osint", &since_a);
    assert_eq!((r.unchanged, r.events.len()), (1, 1));
    assert!(
        r.events[0]
            .path
            .to_string_lossy()
            .ends_with(&format!("{B}.json"))
    );
    assert!(later.get(K::Ipv4, "192.0.2.80").is_none());
    assert!(later.get(K::Email, "boss@feed-evil.example").is_some());

    // No feed there: the manifest's 404.
    let r = client.pull_misp_feed(
        &mut later,
        &server.url("nothing/"),
        "osint",
        &MispFeedCursor::default(),
    );
    assert!(
        matches!(r.error, Some(FetchError::Status { status: 404, .. })),
        "{:?}",
        r.error
    );
    assert!(r.events.is_empty());
}

#[test]
fn failing_event_keeps_what_came_before_and_is_retried() {
    if !python3() {
        return;
    }
    let py = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py");
    let server = Server::start(&["bad_taxii_server.py"], &py);
    let client = FeedClient::new(ClientOptions::default()).unwrap();
    let mut set = IntelSet::new();
    let r = client.pull_misp_feed(
        &mut set,
        &server.url("misp/"),
        "broken",
        &MispFeedCursor::default(),
    );
    let e = r.error.as_ref().expect("the 500");
    assert!(matches!(e, FetchError::Status { status: 500, .. }), "{e:?}");
    assert!(
        e.to_string()
            .ends_with("5a1c0c5e-0000-4000-8000-0000000000d2.json: HTTP 500 Internal Server Error: Internal Server Error"),
        "{e}"
    );
    assert_eq!(r.events.len(), 1);
    assert!(set.get(K::Ipv4, "198.51.100.77").is_some());
    // Before the failed event (timestamp 200), after the one imported (100).
    assert_eq!(r.cursor.since, Some(199));
}
