//! Token management routes (admin only): list, issue, revoke.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use super::audit_layer::AuditNote;
use super::error::{ApiError, ErrorBody};
use crate::tokens::{IssuedToken, TokenInfo};
use crate::{AppState, Role};

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// The new token's role.
    pub role: Role,
    /// Who or what will hold it (at most 200 characters).
    #[serde(default)]
    pub label: String,
    /// When it stops working (RFC 3339); must be in the future. Never, if absent.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

/// Every token (no secrets), oldest first.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, description = "All tokens", body = Vec<TokenInfo>)))]
pub async fn list_tokens(
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<TokenInfo>>, ApiError> {
    let tokens = state.tokens().clone();
    let list = tokio::task::spawn_blocking(move || tokens.list())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(axum::Json(list))
}

/// Issues a token; the answer holds its plaintext, which is never shown again.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses(
        (status = 201, description = "Token issued", body = IssuedToken),
        (status = 400, description = "Bad label or expiry", body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    axum::Json(req): axum::Json<CreateToken>,
) -> Result<(StatusCode, Extension<AuditNote>, axum::Json<IssuedToken>), ApiError> {
    let tokens = state.tokens().clone();
    let issued =
        tokio::task::spawn_blocking(move || tokens.issue(req.role, &req.label, req.expires_at))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
    let note = AuditNote(format!(
        "created token id={} role={} label={:?}",
        issued.info.id, issued.info.role, issued.info.label
    ));
    Ok((StatusCode::CREATED, Extension(note), axum::Json(issued)))
}

/// Revokes a token for good; it stays listed as revoked.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 200, description = "Token revoked", body = TokenInfo),
        (status = 404, description = "No such token", body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(Extension<AuditNote>, axum::Json<TokenInfo>), ApiError> {
    let tokens = state.tokens().clone();
    let info = tokio::task::spawn_blocking(move || tokens.revoke(&id))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let note = AuditNote(format!("revoked token id={}", info.id));
    Ok((Extension(note), axum::Json(info)))
}
