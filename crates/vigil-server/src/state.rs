//! What every handler can reach: tokens, the audit log, metrics, limits, the start time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::audit::AuditLog;
use crate::metrics::Metrics;
use crate::tokens::Tokens;

/// Request limits, all enforced by tower layers in front of every route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Longest a request may take, in seconds; slower ones get 503.
    pub request_timeout_secs: u64,
    /// Requests handled at once; more are refused at once with 503 rather than queued.
    pub max_concurrent_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            request_timeout_secs: 30,
            max_concurrent_requests: 256,
        }
    }
}

impl Limits {
    /// The timeout as a `Duration`.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// Shared state of the API, cheap to clone. Routes added by other crates extract it with
/// `State<AppState>`, or bring their own state with `OpenApiRouter::with_state` before
/// handing their routes to [`crate::ApiBuilder::routes`].
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    tokens: Tokens,
    audit: Arc<AuditLog>,
    metrics: Metrics,
    limits: Limits,
    started: Instant,
}

impl AppState {
    /// State over `<data_dir>`: its token file, its audit log, a fresh metrics registry.
    pub fn open(data_dir: &Path, limits: Limits) -> Result<Self, Error> {
        Ok(Self::new(
            data_dir,
            Tokens::open(data_dir)?,
            Arc::new(AuditLog::open(data_dir)?),
            Metrics::new(),
            limits,
        ))
    }

    /// State from parts (e.g. tokens kept in the state database).
    pub fn new(
        data_dir: &Path,
        tokens: Tokens,
        audit: Arc<AuditLog>,
        metrics: Metrics,
        limits: Limits,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                tokens,
                audit,
                metrics,
                limits,
                started: Instant::now(),
            }),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Token checks and management.
    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// The audit log.
    pub fn audit(&self) -> &Arc<AuditLog> {
        &self.inner.audit
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The request limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Time since this state was created (the server's start).
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }
}
