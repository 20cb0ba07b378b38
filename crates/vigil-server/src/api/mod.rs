//! The `/api/v1` router: routes grouped by the least role they accept, wrapped in the same
//! layers (JSON errors, metrics, concurrency limit, audit, timeout, body limit).
//!
//! Adding routes from another crate (alerts, ingest, query, rules, sources):
//!
//! ```no_run
//! use utoipa_axum::{router::OpenApiRouter, routes};
//! use vigil_server::{ApiBuilder, AppState, Role};
//!
//! /// Lists alerts.
//! #[utoipa::path(get, path = "/api/v1/alerts", responses((status = 200)))]
//! async fn list_alerts() -> &'static str { "[]" }
//!
//! fn api(state: AppState) -> axum::Router {
//!     ApiBuilder::new(state)
//!         .routes(Role::Viewer, OpenApiRouter::new().routes(routes!(list_alerts)))
//!         .build()
//! }
//! ```
//!
//! Each handler's `#[utoipa::path]` puts it in the OpenAPI document; the role given to
//! [`ApiBuilder::routes`] is enforced by [`auth`] and written into the document.

mod audit_layer;
mod auth;
pub mod error;
pub mod system;
pub mod tokens;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::{BoxError, Extension};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use audit_layer::AuditNote;
pub use error::ApiError;

use crate::{AppState, Role};

/// Name of the bearer security scheme in the OpenAPI document.
const BEARER_SCHEME: &str = "bearer";

/// Builds the API router: the core routes (health, whoami, metrics, the OpenAPI document,
/// token management) plus whatever other crates add with [`ApiBuilder::routes`].
pub struct ApiBuilder {
    state: AppState,
    routes: OpenApiRouter<AppState>,
}

impl ApiBuilder {
    /// A builder holding the core routes.
    pub fn new(state: AppState) -> Self {
        let builder = ApiBuilder {
            state,
            routes: OpenApiRouter::new().routes(routes!(system::health)),
        };
        builder
            .routes(
                Role::Viewer,
                OpenApiRouter::new()
                    .routes(routes!(system::whoami))
                    .routes(routes!(system::metrics))
                    .routes(routes!(system::openapi)),
            )
            .routes(
                Role::Admin,
                OpenApiRouter::new()
                    .routes(routes!(tokens::list_tokens, tokens::create_token))
                    .routes(routes!(tokens::revoke_token)),
            )
    }

    /// Adds routes that need a valid token of at least `min_role`. Handlers can read the
    /// caller's [`crate::Identity`] with `Extension<Identity>`, and describe a change for the
    /// audit log by returning `Extension(AuditNote(..))`.
    pub fn routes(mut self, min_role: Role, mut routes: OpenApiRouter<AppState>) -> Self {
        require_bearer_in_doc(routes.get_openapi_mut(), min_role);
        let gate = auth::RoleGate {
            state: self.state.clone(),
            min_role,
        };
        let routes = routes.route_layer(from_fn_with_state(gate, auth::require_role));
        self.routes = self.routes.merge(routes);
        self
    }

    /// The finished router with every layer.
    pub fn build(self) -> Router {
        let ApiBuilder { state, routes } = self;
        let (router, mut doc) = routes.split_for_parts();
        doc.info.title = "Vigil API".into();
        doc.info.version = env!("CARGO_PKG_VERSION").into();
        doc.info.description = Some(
            "Every route but /api/v1/health needs `Authorization: Bearer <token>`; \
             each operation names the least role it accepts."
                .into(),
        );
        let mut components = doc.components.take().unwrap_or_else(Components::new);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        doc.components = Some(components);
        let doc_json = doc
            .to_json()
            .expect("the OpenAPI document always serializes");
        let limits = state.limits().clone();
        router
            .fallback(error::not_found)
            .layer(Extension(system::OpenApiJson(doc_json.into())))
            .layer(DefaultBodyLimit::max(limits.max_body_bytes))
            .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                limits.request_timeout(),
            ))
            .layer(from_fn_with_state(
                state.clone(),
                audit_layer::audit_mutations,
            ))
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(overloaded))
                    .layer(LoadShedLayer::new())
                    .layer(GlobalConcurrencyLimitLayer::new(
                        limits.max_concurrent_requests,
                    )),
            )
            .layer(from_fn_with_state(
                state.metrics().clone(),
                crate::metrics::track_requests,
            ))
            .layer(from_fn(error::json_errors))
            .with_state(state)
    }
}

/// The API with the core routes only.
pub fn router(state: AppState) -> Router {
    ApiBuilder::new(state).build()
}

async fn overloaded(err: BoxError) -> axum::response::Response {
    let mut resp = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("server busy, retry shortly ({err})"),
    )
    .into_response();
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    resp
}

/// Marks every operation in `doc` as needing the bearer scheme and names its least role.
fn require_bearer_in_doc(doc: &mut OpenApi, min_role: Role) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            op.security = Some(vec![SecurityRequirement::new(
                BEARER_SCHEME,
                Vec::<String>::new(),
            )]);
            let note = format!("Requires role `{min_role}` or above.");
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                _ => note,
            });
        }
    }
}
