//! Bearer-token authentication and per-route roles, as one middleware: a route group gets it
//! with `route_layer`, naming the least role it accepts. 401 (with `WWW-Authenticate:
//! Bearer`) when the token is missing, unknown, revoked or expired; 403 when its role is
//! below the route's.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::error::ApiError;
use crate::tokens::{AuthError, Rejection};
use crate::{AppState, Role};

/// The state of one route group's gate: the app and the least role it accepts.
#[derive(Clone)]
pub(crate) struct RoleGate {
    pub(crate) state: AppState,
    pub(crate) min_role: Role,
}

/// Authenticates the bearer token, checks the role, and hands the [`Identity`] to the
/// handler (request extensions) and to outer layers such as the audit log (response
/// extensions).
pub(crate) async fn require_role(
    State(gate): State<RoleGate>,
    mut req: Request,
    next: Next,
) -> Response {
    let identity = match bearer(req.headers()) {
        None => return rejection(Rejection::Missing),
        Some(token) => match gate.state.tokens().authenticate(token, Timestamp::now()) {
            Ok(identity) => identity,
            Err(AuthError::Rejected(r)) => return rejection(r),
            Err(AuthError::Store(e)) => {
                return ApiError::internal(format!("token store: {e}")).into_response();
            }
        },
    };
    if identity.role < gate.min_role {
        let mut resp = ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "role {} may not do this: it needs {} or above",
                identity.role, gate.min_role
            ),
        )
        .into_response();
        resp.extensions_mut().insert(identity);
        return resp;
    }
    req.extensions_mut().insert(identity.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(identity);
    resp
}

fn rejection(r: Rejection) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, r.message()).into_response()
}

/// The token in `Authorization: Bearer <token>` (scheme case-insensitive), if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
