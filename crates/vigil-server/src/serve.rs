//! Running the API: bind, announce the address, serve until a shutdown future resolves,
//! then finish the requests in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::{AppState, Error, Limits, ensure_bootstrap_admin, router};

/// Settings of `vigil serve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Data directory: tokens, audit log and (later) journal, lake and state database.
    pub data_dir: PathBuf,
    /// Request limits.
    pub limits: Limits,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsConfig>,
}

/// PEM files for HTTPS (rustls, TLS 1.2 and 1.3, ring provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How long requests in flight may take to finish after a TLS server is told to stop.
const TLS_DRAIN: Duration = Duration::from_secs(30);

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./vigil-data"),
            limits: Limits::default(),
            tls: None,
        }
    }
}

/// A bound listener, ready to serve a router.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<RustlsConfig>,
}

impl Server {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        Ok(Server {
            listener,
            local_addr,
            tls: None,
        })
    }

    /// Serves HTTPS with the certificate and key in `tls`; fails here, before serving, if
    /// they cannot be read.
    pub fn with_tls(mut self, tls: &TlsConfig) -> Result<Self, Error> {
        self.tls = Some(load_tls(tls)?);
        Ok(self)
    }

    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `router` until `shutdown` resolves, then waits for requests in flight.
    pub async fn run(
        self,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Some(tls) = self.tls else {
            return axum::serve(self.listener, router)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(Error::Serve);
        };
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopper.graceful_shutdown(Some(TLS_DRAIN));
        });
        let listener = self.listener.into_std().map_err(Error::Serve)?;
        axum_server::from_tcp_rustls(listener, tls)
            .map_err(Error::Serve)?
            .handle(handle)
            .serve(router.into_make_service())
            .await
            .map_err(Error::Serve)
    }
}

/// Reads the PEM certificate chain and key into a rustls server configuration.
fn load_tls(tls: &TlsConfig) -> Result<RustlsConfig, Error> {
    let bad =
        |path: &Path, e: &dyn std::fmt::Display| Error::Tls(format!("{}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(&tls.cert, &e))?;
    if certs.is_empty() {
        return Err(bad(&tls.cert, &"no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| bad(&tls.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::Tls(format!(
                "{} with {}: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// `vigil serve` with the core routes: opens the data directory, prints a one-time admin
/// token on its first start, binds, prints the address, serves until `shutdown`.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_router(config, router, shutdown).await
}

/// Like [`serve`], with the router made by `make_router` (e.g. an [`crate::ApiBuilder`]
/// with more routes).
///
/// Prints to stderr `vigil serve: listening on http://ADDR` (or `https://`); on a data directory's first
/// start also prints the bootstrap admin token alone on a line of stdout (so scripts can
/// capture it), with an explanation on stderr.
pub async fn serve_router(
    config: ServeConfig,
    make_router: impl FnOnce(AppState) -> Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let state = AppState::open(&config.data_dir, config.limits.clone())?;
    if state.audit().torn_bytes() > 0 {
        eprintln!(
            "vigil serve: cut {} bytes of an incomplete last line from {} (a write interrupted by a crash)",
            state.audit().torn_bytes(),
            state.audit().path().display()
        );
    }
    if let Some(admin) = ensure_bootstrap_admin(&config.data_dir)? {
        eprintln!(
            "vigil serve: first start: one-time admin token {} (shown only now; create more with `vigil token create`):",
            admin.info.id
        );
        println!("{}", admin.token);
    }
    let mut server = Server::bind(config.listen).await?;
    if let Some(tls) = &config.tls {
        server = server.with_tls(tls)?;
    }
    eprintln!("vigil serve: listening on {}", server.url());
    server.run(make_router(state), shutdown).await
}

/// Resolves on Ctrl-C, or SIGTERM on Unix: pass it as `shutdown` to stop like a service.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
