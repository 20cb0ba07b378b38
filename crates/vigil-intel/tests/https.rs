//! The feed client over HTTPS, on 127.0.0.1 only: `tests/py/https_server.py` serves files, a
//! MISP feed and the OASIS TAXII server medallion with a certificate made here by `rcgen` (a
//! throwaway CA and a leaf for 127.0.0.1). The CA given as a CA file is trusted; without it,
//! or with another CA, the handshake fails with a TLS error naming the URL; a leaf for
//! another name is refused; HTTP errors and size limits behave as over plain http. Without
//! python3 (and medallion, for the TAXII pull) these tests fail under `CI=true` and are
//! skipped with a message otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use url::Url;
use vigil_intel::{
    ClientOptions, FeedClient, FetchError, ImportOptions, IndicatorKind as K, IntelSet,
    MispFeedCursor, PullRequest, TaxiiCursor, Tlp,
};

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
        let msg = format!("python3 cannot import `{module}` (pip install medallion==3.0.0)");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipped: {msg}");
    }
    ok
}

/// A CA and a server certificate it signed, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A new CA named `ca_name`, and a leaf for `names` (IP addresses or DNS names).
    fn new(ca_name: &str, names: &[&str]) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "vigil test feed");
        let leaf_cert = leaf
            .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf_cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `tests/py/https_server.py` on a free port (its first line), killed on drop.
struct HttpsServer {
    child: Child,
    port: u16,
}

impl HttpsServer {
    fn start(pki: &Pki, args: &[&Path]) -> HttpsServer {
        let mut child = Command::new("python3")
            .arg(crate_dir().join("tests/py/https_server.py"))
            .arg(pki.path("cert.pem"))
            .arg(pki.path("key.pem"))
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
            .unwrap_or_else(|_| panic!("https_server.py printed `{line}` instead of its port"));
        HttpsServer { child, port }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("https://127.0.0.1:{}/{path}", self.port)).unwrap()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(ca_file: Option<PathBuf>) -> FeedClient {
    FeedClient::new(ClientOptions {
        ca_file,
        ..ClientOptions::default()
    })
    .unwrap()
}

/// A plain list of three addresses and a domain, self-made.
const LIST: &str =
    "# vigil https test list\n198.51.100.7\n198.51.100.8\n203.0.113.9\nbad.feed-evil.example\n";

#[test]
fn a_file_over_https_with_the_ca_and_every_refusal_without_it() {
    if !python_has("ssl") {
        return;
    }
    let pki = Pki::new("Vigil test CA", &["127.0.0.1"]);
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("feed.txt"), LIST).unwrap();
    std::fs::write(files.path().join("big.txt"), "x".repeat(4096)).unwrap();
    let server = HttpsServer::start(&pki, &[Path::new("static"), files.path()]);
    let feed = server.url("feed.txt");

    // Trusted through the CA file: the bytes come, and import like the file.
    let fetched = client(Some(pki.path("ca.pem"))).fetch(&feed).unwrap();
    assert_eq!(fetched.bytes, LIST.as_bytes());
    let mut set = IntelSet::new();
    let report = set.import_bytes(
        feed.as_str(),
        &fetched.bytes,
        &ImportOptions {
            feed: Some("https-test".into()),
            ..ImportOptions::default()
        },
    );
    assert_eq!((report.added, report.rejected.len()), (4, 0));
    assert!(set.get(K::Ipv4, "203.0.113.9").is_some());
    assert!(set.get(K::Domain, "bad.feed-evil.example").is_some());

    // The system's roots alone do not know the test CA: a TLS error naming the URL.
    let e = client(None).fetch(&feed).unwrap_err();
    assert!(matches!(e, FetchError::Tls { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.starts_with(feed.as_str()), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(text.contains("not signed by a trusted CA"), "{text}");

    // Another CA's certificate as the CA file is no better.
    let other = Pki::new("Another CA", &["127.0.0.1"]);
    let e = client(Some(other.path("ca.pem"))).fetch(&feed).unwrap_err();
    assert!(matches!(e, FetchError::Tls { .. }), "{e:?}");

    // The right CA but a name the certificate is not for (localhost is 127.0.0.1 too).
    let by_name = Url::parse(&format!("https://localhost:{}/feed.txt", server.port)).unwrap();
    let e = client(Some(pki.path("ca.pem")))
        .fetch(&by_name)
        .unwrap_err();
    assert!(matches!(e, FetchError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("issued for another name"), "{e}");

    // HTTP errors over TLS, named as over http.
    let c = client(Some(pki.path("ca.pem")));
    let missing = server.url("missing.csv");
    match c.fetch(&missing).unwrap_err() {
        FetchError::Status { url, status, .. } => {
            assert_eq!((url.as_str(), status), (missing.as_str(), 404));
        }
        other => panic!("{other:?}"),
    }
    let e = c.fetch(&server.url("status/500")).unwrap_err();
    assert!(
        e.to_string()
            .contains("HTTP 500 Internal Server Error: status 500 on purpose"),
        "{e}"
    );

    // The size limit holds over TLS too.
    let small = FeedClient::new(ClientOptions {
        ca_file: Some(pki.path("ca.pem")),
        max_response_bytes: 1000,
        ..ClientOptions::default()
    })
    .unwrap();
    let e = small.fetch(&server.url("big.txt")).unwrap_err();
    assert!(
        matches!(e, FetchError::TooLarge { limit: 1000, .. }),
        "{e:?}"
    );

    // Redirects: to https followed; from https down to plain http refused.
    let to_https = server.url(&format!("redirect?to={}", feed));
    assert_eq!(c.fetch(&to_https).unwrap().bytes, LIST.as_bytes());
    let plain_feed = format!("http://127.0.0.1:{}/feed.txt", server.port);
    let e = c
        .fetch(&server.url(&format!("redirect?to={plain_feed}")))
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&format!("redirect from https to {plain_feed} refused")),
        "{text}"
    );

    // Plain http to the TLS port is not a TLS success either: a named failure.
    let plain = Url::parse(&format!("http://127.0.0.1:{}/feed.txt", server.port)).unwrap();
    let e = c.fetch(&plain).unwrap_err();
    assert!(e.to_string().starts_with(plain.as_str()), "{e}");
}

#[test]
fn unusable_ca_files_are_refused_when_the_client_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let check = |path: PathBuf, expect: &str| {
        let e = FeedClient::new(ClientOptions {
            ca_file: Some(path.clone()),
            ..ClientOptions::default()
        })
        .err()
        .expect("refused");
        assert!(matches!(e, FetchError::CaFile { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(expect), "{text}");
    };
    check(dir.path().join("absent.pem"), "cannot read");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    check(garbage, "no `BEGIN CERTIFICATE` block");
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    check(broken, "certificate 1");
}

#[test]
fn misp_feed_over_https() {
    if !python_has("ssl") {
        return;
    }
    let pki = Pki::new("Vigil test CA", &["127.0.0.1"]);
    let feed_dir = crate_dir().join("tests/fixtures/misp-feed/feed");
    let server = HttpsServer::start(&pki, &[Path::new("static"), &feed_dir]);

    let mut set = IntelSet::new();
    let c = client(Some(pki.path("ca.pem")));
    let r = c.pull_misp_feed(
        &mut set,
        &server.url(""),
        "osint",
        &MispFeedCursor::default(),
    );
    assert!(r.error.is_none(), "{:?}", r.error);
    // As over http (tests/misp_feed.rs): two events of three, the third rejected as missing.
    assert_eq!((r.manifest.read, r.events.len()), (3, 2));
    assert_eq!((r.added(), r.merged()), (6, 0));
    assert_eq!(r.rejections().count(), 1);
    let ip = set.get(K::Ipv4, "192.0.2.80").expect("event A's ip-dst");
    assert_eq!(ip.tlp(), Some(Tlp::Amber));
    assert!(set.get(K::Email, "boss@feed-evil.example").is_some());

    // Without the CA: the manifest's TLS failure stops the pull, nothing imported.
    let mut none = IntelSet::new();
    let r = client(None).pull_misp_feed(
        &mut none,
        &server.url(""),
        "osint",
        &MispFeedCursor::default(),
    );
    assert!(
        matches!(r.error, Some(FetchError::Tls { .. })),
        "{:?}",
        r.error
    );
    assert!(none.is_empty());
    assert_eq!(r.cursor, MispFeedCursor::default());
}

#[test]
fn taxii_pull_from_medallion_over_https() {
    if !python_has("medallion") {
        return;
    }
    let pki = Pki::new("Vigil test CA", &["127.0.0.1"]);
    let data = crate_dir().join("tests/fixtures/taxii/medallion_data.json");
    let server = HttpsServer::start(
        &pki,
        &[
            Path::new("taxii"),
            &data,
            Path::new("alice"),
            Path::new("s3cret"),
            Path::new("5"),
        ],
    );
    let c = FeedClient::new(ClientOptions {
        basic_auth: Some(("alice".into(), "s3cret".into())),
        ca_file: Some(pki.path("ca.pem")),
        ..ClientOptions::default()
    })
    .unwrap();
    let d = c.discovery(&server.url("")).unwrap();
    let root = server.url("intel/");
    assert_eq!(d.api_roots, [root.to_string()]);

    // The collection of tests/taxii.rs, in pages of 5, over TLS: the same 15 objects.
    let mut set = IntelSet::new();
    let r = c.pull(
        &mut set,
        &PullRequest {
            limit: Some(5),
            ..PullRequest::new(root.clone(), "11111111-1111-4111-8111-111111111111", "tls")
        },
        &TaxiiCursor::default(),
    );
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!((r.pages.len(), r.objects, r.added()), (3, 15, 11));
    assert!(set.get(K::Ipv4, "203.0.113.1").is_some());
    assert_eq!(
        set.get(K::Sha256, &"AB".repeat(32)).unwrap().tlp(),
        Some(Tlp::Red)
    );

    // Without the CA: discovery fails with the TLS reason, naming the URL.
    let e = client(None).discovery(&server.url("")).unwrap_err();
    assert!(matches!(e, FetchError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("/taxii2/"), "{e}");
}
