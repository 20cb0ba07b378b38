//! Vigil's HTTP server: the `/api/v1` API and what guards it.
//!
//! - [`tokens`]: random bearer tokens, stored hashed, with roles ([`Role`]) and expiry.
//! - [`api`]: the router ([`router`], [`ApiBuilder`]); authentication and per-route roles as
//!   a layer; JSON errors; body, time and concurrency limits; OpenAPI; metrics.
//! - [`audit`]: the hash-chained audit log of every mutating call, and [`audit::verify`].
//! - [`serve`](mod@serve): binding, optional TLS, graceful shutdown.
//!
//! Not here: ingest, alerts, queries, rules — other crates add those routes through
//! [`ApiBuilder::routes`].

pub mod api;
pub mod audit;
mod error;
pub mod metrics;
mod role;
pub mod serve;
mod state;
pub mod tokens;

pub use api::{ApiBuilder, ApiError, AuditNote, router};
pub use audit::{AuditLog, VerifyReport, audit_log_path, verify};
pub use error::Error;
pub use role::{Role, UnknownRole};
pub use serve::{ServeConfig, Server, TlsConfig, serve, serve_router, shutdown_signal};
pub use state::{AppState, Limits};
pub use tokens::{
    Identity, IssuedToken, TokenInfo, create_token, ensure_bootstrap_admin, list_tokens,
    revoke_token,
};
