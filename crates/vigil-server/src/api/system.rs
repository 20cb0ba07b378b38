//! Routes about the server itself: health, who am I, metrics, the API document.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::tokens::Identity;

/// Body of `GET /api/v1/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: &'static str,
    /// The server's version.
    pub version: &'static str,
    /// Whole seconds since the server started.
    pub uptime_seconds: u64,
}

/// Liveness and version; the one route that needs no token.
#[utoipa::path(get, path = "/api/v1/health", tag = "system",
    responses((status = 200, description = "Server is up", body = Health)))]
pub async fn health(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.uptime().as_secs(),
    })
}

/// The calling token's id, role, label and expiry.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "system",
    responses((status = 200, description = "The caller", body = Identity)))]
pub async fn whoami(Extension(identity): Extension<Identity>) -> axum::Json<Identity> {
    axum::Json(identity)
}

/// Prometheus text exposition of the server's metrics.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
}

/// The OpenAPI document, serialized once when the router is built and handed to
/// [`openapi`] as a request extension.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<String>);

/// This API's OpenAPI 3.1 document, covering every route the server has.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi(Extension(doc): Extension<OpenApiJson>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
}
