//! HTTPS with a certificate made here (rcgen, self-signed for localhost), checked by a rustls
//! client that trusts only that certificate.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use vigil_server::{AppState, Error, Limits, Role, Server, TlsConfig};

fn write_cert(dir: &std::path::Path) -> (TlsConfig, rustls::pki_types::CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (TlsConfig { cert, key }, ck.cert.der().clone())
}

async fn https_get(
    addr: std::net::SocketAddr,
    root: &rustls::pki_types::CertificateDer<'static>,
    path: &str,
    token: Option<&str>,
) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The server may close without close_notify once the response is sent; keep what came.
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, root) = write_cert(dir.path());
    let state = AppState::open(&dir.path().join("data"), Limits::default()).unwrap();
    let token = state
        .tokens()
        .issue(Role::Viewer, "tls", None)
        .unwrap()
        .token;
    let server = Server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_tls(&tls)
        .unwrap();
    let addr = server.local_addr();
    assert_eq!(server.url(), format!("https://{addr}"));
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(vigil_server::router(state), async {
        let _ = rx.await;
    }));

    let health = https_get(addr, &root, "/api/v1/health", None).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let me = https_get(addr, &root, "/api/v1/whoami", Some(&token)).await;
    assert!(
        me.starts_with("HTTP/1.1 200") && me.contains("\"role\":\"viewer\""),
        "{me}"
    );
    let anon = https_get(addr, &root, "/api/v1/whoami", None).await;
    assert!(anon.starts_with("HTTP/1.1 401"), "{anon}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got).await;
    assert!(!got.starts_with(b"HTTP/1.1 200"));

    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn unreadable_certificate_or_key_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = write_cert(dir.path());
    let missing = TlsConfig {
        cert: dir.path().join("nope.pem"),
        key: good.key.clone(),
    };
    let not_pem = dir.path().join("garbage.pem");
    std::fs::write(&not_pem, "not a key").unwrap();
    let bad_key = TlsConfig {
        cert: good.cert.clone(),
        key: not_pem,
    };
    for (cfg, name) in [(missing, "nope.pem"), (bad_key, "garbage.pem")] {
        let server = Server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        match server.with_tls(&cfg) {
            Err(Error::Tls(msg)) => assert!(msg.contains(name), "{msg}"),
            Err(other) => panic!("{name}: unexpected error {other}"),
            Ok(_) => panic!("{name}: accepted"),
        }
    }
}
