//! Running the API: bind, announce the address, serve until a shutdown future resolves,
//! then finish the requests in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
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
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./vigil-data"),
            limits: Limits::default(),
        }
    }
}

/// A bound listener, ready to serve a router.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
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
        })
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
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Serve)
    }
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
/// Prints to stderr `vigil serve: listening on http://ADDR`; on a data directory's first
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
    let server = Server::bind(config.listen).await?;
    eprintln!("vigil serve: listening on http://{}", server.local_addr());
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
