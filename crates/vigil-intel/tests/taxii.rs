//! The TAXII 2.1 client against a real server — the OASIS reference server `medallion`
//! (PyPI, pinned in .ci/run) on 127.0.0.1, loaded with `fixtures/taxii/medallion_data.json`
//! — and against `tests/py/bad_taxii_server.py`, which fails in every way the client must
//! explain. Without python3 and medallion these tests fail under `CI=true` and are skipped
//! (with a message) otherwise.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use url::Url;
use vigil_intel::{
    ClientOptions, FeedClient, FetchError, IndicatorKind as K, IntelSet, PullRequest, TaxiiCursor,
    Tlp,
};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret";
const INDICATORS: &str = "11111111-1111-4111-8111-111111111111";
const NETWORK: &str = "22222222-2222-4222-8222-222222222222";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when python3 can import `module`; otherwise panics under `CI=true` (the tools are
/// installed there) and prints why the test is skipped.
fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = format!(
            "python3 cannot import `{module}` (pip install medallion==3.0.0 stix2-matcher==3.0.0)"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
    }
    ok
}

/// A python server started from `tests/py`, killed on drop. It prints its port first.
struct PyServer {
    child: Child,
    port: u16,
}

impl PyServer {
    fn start(script: &str, args: &[&str]) -> PyServer {
        let mut child = Command::new("python3")
            .arg(crate_dir().join("tests/py").join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{script} printed `{line}` instead of its port"));
        PyServer { child, port }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}/{path}", self.port)).unwrap()
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn medallion() -> Option<PyServer> {
    if !python_has("medallion") {
        return None;
    }
    let data = crate_dir().join("tests/fixtures/taxii/medallion_data.json");
    Some(PyServer::start(
        "taxii_server.py",
        &[data.to_str().unwrap(), USER, PASSWORD, "5"],
    ))
}

fn client(user: &str, password: &str) -> FeedClient {
    FeedClient::new(ClientOptions {
        basic_auth: Some((user.into(), password.into())),
        ..ClientOptions::default()
    })
    .unwrap()
}

fn request(root: &Url, collection: &str, limit: u32) -> PullRequest {
    PullRequest {
        limit: Some(limit),
        ..PullRequest::new(root.clone(), collection, "test-taxii")
    }
}

fn ip_source_id(set: &IntelSet, ip: &str) -> Option<String> {
    let ind = set.get(K::Ipv4, ip)?;
    assert_eq!(ind.sources().len(), 1, "{ip} imported once");
    let s = &ind.sources()[0];
    assert_eq!(&*s.feed, "test-taxii");
    s.external_id.as_deref().map(str::to_string)
}

#[test]
fn medallion_discovery_collections_and_paged_pulls() {
    let Some(server) = medallion() else { return };
    let c = client(USER, PASSWORD);

    let d = c.discovery(&server.url("")).unwrap();
    assert_eq!(d.title, "Vigil test TAXII server");
    let root = server.url("intel/");
    assert_eq!(d.api_roots, [root.to_string()]);
    assert_eq!(d.default.as_deref(), Some(root.as_str()));

    let info = c.api_root(&root).unwrap();
    assert_eq!(info.title, "Vigil test intel");
    assert_eq!(info.versions, ["application/taxii+json;version=2.1"]);

    let cols = c.collections(&root).unwrap();
    let ids: Vec<&str> = cols.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [INDICATORS, NETWORK]);
    assert_eq!(cols[0].title, "Indicators");
    assert!(cols[0].can_read && !cols[0].can_write);

    // 15 objects in pages of 5: three pages, each object once.
    let mut set = IntelSet::new();
    let r = c.pull(
        &mut set,
        &request(&root, INDICATORS, 5),
        &TaxiiCursor::default(),
    );
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.pages.len(), 3);
    assert_eq!(r.objects, 15);
    let read: Vec<u64> = r.pages.iter().map(|p| p.read).collect();
    assert_eq!(read, [5, 5, 5]);
    // 6 IPs, 3 domains, a URL and a SHA-256; the FOLLOWEDBY indicator is rejected by id.
    assert_eq!((r.added(), r.merged()), (11, 0));
    assert_eq!(set.len(), 11);
    let rejected: Vec<_> = r.rejections().collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        rejected[0].1.location.to_string(),
        "object indicator--11111111-0000-4000-8000-000000000012"
    );
    assert!(rejected[0].1.reason.contains("FOLLOWEDBY"));
    assert!(rejected[0].0.to_string_lossy().ends_with("page 3"));
    let skipped: u64 = r.pages.iter().flat_map(|p| p.skipped.values()).sum();
    assert_eq!(
        skipped, 3,
        "the marking definition, the malware and the relationship"
    );
    assert_eq!(
        ip_source_id(&set, "203.0.113.1").as_deref(),
        Some("indicator--11111111-0000-4000-8000-000000000001")
    );
    assert!(set.get(K::Domain, "bad9.example").is_some());
    assert!(set.get(K::Url, "http://bad10.example/gate.php").is_some());
    // Page 3's SHA-256 indicator refers to the feed's own TLP:RED definition of page 1.
    let sha = set.get(K::Sha256, &"AB".repeat(32)).unwrap();
    assert_eq!(sha.tlp(), Some(Tlp::Red));
    assert_eq!(set.get(K::Ipv4, "203.0.113.2").unwrap().tlp(), None);
    assert_eq!(
        r.cursor.added_after.as_deref(),
        Some("2026-01-01T00:15:00.000000Z")
    );

    // No limit asked: the server's page size (5 here) is used, and the same objects come.
    let mut unlimited = IntelSet::new();
    let req = PullRequest::new(root.clone(), INDICATORS, "test-taxii");
    let r0 = c.pull(&mut unlimited, &req, &TaxiiCursor::default());
    assert!(r0.error.is_none(), "{:?}", r0.error);
    assert_eq!((r0.pages.len(), r0.objects, r0.added()), (3, 15, 11));
    assert_eq!(r0.cursor, r.cursor);

    // Pulling again from the cursor: nothing newer, the cursor stays.
    let again = c.pull(&mut set, &request(&root, INDICATORS, 5), &r.cursor);
    assert!(again.error.is_none(), "{:?}", again.error);
    assert_eq!((again.objects, again.added(), again.merged()), (0, 0, 0));
    assert_eq!(again.cursor, r.cursor);

    // From a cursor after the fifth object: only the ten added later, in two pages (the
    // second asked with both `added_after` and `next`). The cursor carries the marking
    // definition of the first pull, so the SHA-256 indicator keeps its TLP.
    assert_eq!(r.cursor.markings.len(), 1);
    let mid = TaxiiCursor {
        added_after: Some("2026-01-01T00:05:00.000000Z".into()),
        markings: r.cursor.markings.clone(),
    };
    let mut later = IntelSet::new();
    let r2 = c.pull(&mut later, &request(&root, INDICATORS, 5), &mid);
    assert!(r2.error.is_none(), "{:?}", r2.error);
    assert_eq!((r2.pages.len(), r2.objects), (2, 10));
    assert_eq!(later.len(), 7);
    assert!(later.get(K::Ipv4, "203.0.113.4").is_none());
    assert!(later.get(K::Ipv4, "203.0.113.5").is_some());
    let sha = later.get(K::Sha256, &"AB".repeat(32)).unwrap();
    assert_eq!(sha.tlp(), Some(Tlp::Red));
    assert_eq!(r2.pages.iter().map(|p| p.read).sum::<u64>(), 10);
    assert_eq!(r2.cursor, r.cursor);

    // The second collection, into the same set: 4 objects of two values each.
    let r3 = c.pull(
        &mut set,
        &request(&root, NETWORK, 3),
        &TaxiiCursor::default(),
    );
    assert!(r3.error.is_none(), "{:?}", r3.error);
    assert_eq!((r3.pages.len(), r3.objects, r3.added()), (2, 4, 8));
    assert!(set.get(K::Ipv6, "2001:db8::4").is_some());
    assert!(set.get(K::Email, "ops4@bad.example").is_some());
    assert_eq!(
        r3.cursor.added_after.as_deref(),
        Some("2026-01-02T00:04:00.000000Z")
    );
}

#[test]
fn medallion_refusals_are_reasoned() {
    let Some(server) = medallion() else { return };
    let root = server.url("intel/");

    let wrong = client(USER, "wrong");
    let e = wrong.discovery(&server.url("")).unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 401, .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("HTTP 401 Unauthorized: Unauthorized Access"),
        "{e}"
    );
    let mut set = IntelSet::new();
    let r = wrong.pull(
        &mut set,
        &request(&root, INDICATORS, 5),
        &TaxiiCursor::default(),
    );
    assert!(matches!(
        r.error,
        Some(FetchError::Status { status: 401, .. })
    ));
    assert!(r.pages.is_empty() && set.is_empty());
    assert_eq!(r.cursor, TaxiiCursor::default());

    let c = client(USER, PASSWORD);
    let r = c.pull(
        &mut set,
        &request(&root, "no-such-collection", 5),
        &TaxiiCursor::default(),
    );
    let e = r.error.expect("404");
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e:?}");
    assert!(
        e.to_string().contains(
            "HTTP 404 Not Found: ProcessingError: Collection 'no-such-collection' not found."
        ),
        "{e}"
    );
    let e = c.collections(&server.url("nope/")).unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e:?}");
}

fn bad_pull(
    server: &PyServer,
    c: &FeedClient,
    collection: &str,
) -> (IntelSet, vigil_intel::PullReport) {
    let mut set = IntelSet::new();
    let r = c.pull(
        &mut set,
        &request(&server.url("bad/"), collection, 2),
        &TaxiiCursor::default(),
    );
    (set, r)
}

#[test]
fn misbehaving_server_errors_keep_earlier_pages() {
    if !python_has("http.server") {
        return;
    }
    let server = PyServer::start("bad_taxii_server.py", &[]);
    let c = client(USER, PASSWORD);
    let page1 = |set: &IntelSet| {
        set.get(K::Ipv4, "198.51.100.1").is_some() && set.get(K::Ipv4, "198.51.100.2").is_some()
    };
    let after_page1 = Some("2026-01-01T00:00:02.000000Z");

    // Garbage on page 2: page 1 stays imported, the cursor covers it only.
    let (set, r) = bad_pull(&server, &c, "garbage");
    let e = r.error.as_ref().unwrap();
    assert!(matches!(e, FetchError::NotJson { .. }), "{e:?}");
    assert!(e.to_string().contains("body starts `<html>oops"), "{e}");
    assert_eq!((r.pages.len(), r.added()), (1, 2));
    assert!(page1(&set));
    assert_eq!(r.cursor.added_after.as_deref(), after_page1);

    // HTTP 500 with a TAXII error body on page 2.
    let (set, r) = bad_pull(&server, &c, "err500");
    let e = r.error.as_ref().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "{}?limit=2&next=p2: HTTP 500 Internal Server Error: Backend exploded: the database is on fire",
            server.url("bad/collections/err500/objects/")
        )
    );
    assert!(page1(&set) && r.pages.len() == 1);
    assert_eq!(r.cursor.added_after.as_deref(), after_page1);

    // `next` answering the same page forever: both pages imported, then stopped.
    let (set, r) = bad_pull(&server, &c, "loop");
    assert!(
        matches!(&r.error, Some(FetchError::NextLoop { token, .. }) if token == "A"),
        "{:?}",
        r.error
    );
    assert_eq!((r.pages.len(), r.added()), (2, 4));
    assert!(page1(&set) && set.get(K::Ipv4, "198.51.100.4").is_some());
    assert_eq!(
        r.cursor.added_after.as_deref(),
        Some("2026-01-01T00:00:04.000000Z")
    );

    // Errors on the first page: nothing imported, each with its reason.
    let (set, r) = bad_pull(&server, &c, "html");
    assert!(set.is_empty() && r.pages.is_empty());
    let e = r.error.unwrap();
    assert!(
        matches!(&e, FetchError::ContentType { got, .. } if got == "text/html"),
        "{e:?}"
    );
    let (_, r) = bad_pull(&server, &c, "nobjects");
    let e = r.error.unwrap();
    assert!(
        e.to_string()
            .contains("says `more` but has no `objects` and no `next`"),
        "{e}"
    );
    let (_, r) = bad_pull(&server, &c, "bundle");
    assert!(
        r.error
            .unwrap()
            .to_string()
            .contains("a STIX bundle where a TAXII 2.1 envelope")
    );
    let (_, r) = bad_pull(&server, &c, "unknown");
    assert!(matches!(
        r.error,
        Some(FetchError::Status { status: 404, .. })
    ));

    // A response over the size limit, and one slower than the timeout.
    let small = FeedClient::new(ClientOptions {
        max_response_bytes: 1 << 20,
        timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    })
    .unwrap();
    let (_, r) = bad_pull(&server, &small, "big");
    assert!(
        matches!(r.error, Some(FetchError::TooLarge { limit: 1048576, .. })),
        "{:?}",
        r.error
    );
    let (_, r) = bad_pull(&server, &small, "slow");
    assert!(
        matches!(r.error, Some(FetchError::Timeout { .. })),
        "{:?}",
        r.error
    );

    // Nothing listening: a connection error naming the URL.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gone = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let e = c.discovery(&gone).unwrap_err();
    assert!(matches!(e, FetchError::Connect { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("{gone}taxii2/: request failed")),
        "{e}"
    );
}
