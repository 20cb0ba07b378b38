//! Middleware appending every mutating call (POST, PUT, PATCH, DELETE) to the audit log,
//! refused ones included, after the handler ran and before the response leaves.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::AppState;
use crate::audit::AuditEntry;
use crate::tokens::Identity;

/// A handler's one-line account of what it changed, put in the response's extensions
/// (`Extension(AuditNote(...))`); the audit layer records it as the summary.
#[derive(Debug, Clone)]
pub struct AuditNote(pub String);

/// Records the call once the inner service answered; if the record cannot be made durable
/// the client gets a 500 instead of the original answer.
pub(crate) async fn audit_mutations(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    if !is_mutating(&method) {
        return next.run(req).await;
    }
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let mut resp = next.run(req).await;
    let actor = resp.extensions().get::<Identity>().cloned();
    let status = resp.status();
    let summary = match resp.extensions_mut().remove::<AuditNote>() {
        Some(note) => note.0,
        None if status.is_success() => "done".to_string(),
        None => format!(
            "refused: {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
    };
    let entry = AuditEntry::http(
        actor.as_ref(),
        method.as_str(),
        &path,
        status.as_u16(),
        summary,
    );
    let log = state.audit().clone();
    match tokio::task::spawn_blocking(move || log.append(entry)).await {
        Ok(Ok(_)) => resp,
        Ok(Err(e)) => ApiError::internal(format!(
            "the audit log could not record this call ({e}); its effect may have been applied"
        ))
        .into_response(),
        Err(e) => ApiError::internal(format!("audit writer failed: {e}")).into_response(),
    }
}

fn is_mutating(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}
