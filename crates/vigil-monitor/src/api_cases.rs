//! The incident-response routes: changing an incident's case (status, verdict, assignee, tasks,
//! comments), merging and splitting incidents, exceptions with their preview, the response
//! plans, and the MTTA/MTTC/MTTR report. Handlers parse, call [`crate::cases`], and map errors
//! to statuses.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_risk::{Case, CaseMetrics, Exception, ExceptionError};
use vigil_server::{ApiError, AuditNote, Identity};

use crate::api::{Mon, author, blocking, parse_time, state_error};
use crate::cases::{self, CaseChangeError, CaseView, ExceptionOutcome, IncidentChange};

fn case_error(e: CaseChangeError) -> ApiError {
    use CaseChangeError as E;
    match e {
        E::NotFound(_) | E::NoException(_) => ApiError::not_found(e.to_string()),
        E::Stale { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        E::Exception(ExceptionError::HidesTruePositive { .. }) => {
            ApiError::new(StatusCode::CONFLICT, e.to_string())
        }
        E::Transition(_) | E::Case(_) | E::Pin(_) | E::Exception(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        E::Invalid(_) => ApiError::bad_request(e.to_string()),
        E::Store(e) => state_error(e),
        E::Assess(_) | E::Corrupt { .. } => ApiError::internal(e.to_string()),
    }
}

/// Changes an incident's case: status through the workflow (a verdict when closing), assignee,
/// plan tasks done or not, a comment. The first change opens the case with its plan's tasks,
/// timed from when the incident was raised. 409 when `version` is stale.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "response",
    params(("id" = String, Path, description = "Incident id")), request_body = IncidentChange,
    responses((status = 200, body = CaseView),
              (status = 400, description = "Nothing to change, or a verdict without closing"),
              (status = 404, description = "No such incident"),
              (status = 409, description = "The case changed since `version`"),
              (status = 422, description = "Not an allowed transition (the allowed ones are named), unknown task, bad comment")))]
pub async fn update_incident(
    Extension(monitor): Mon,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Json(change): Json<IncidentChange>,
) -> Result<Response, ApiError> {
    let by = author(&who);
    let note = format!("incident {id}: {change:?}");
    let view =
        blocking(move || cases::change(&monitor, &id, &change, &by).map_err(case_error)).await?;
    Ok((Extension(AuditNote(note)), Json(view)).into_response())
}

/// Body of `POST /api/v1/incidents/{id}/merge`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// Incidents whose alerts join this one.
    pub from: Vec<String>,
}

/// Merges other incidents into this one: their alerts stay with it from now on, and alerts
/// about the same entities later join it too.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/merge", tag = "response",
    params(("id" = String, Path, description = "The incident that remains")), request_body = MergeRequest,
    responses((status = 200, body = CaseView), (status = 422, description = "Unknown incident, or merging with itself")))]
pub async fn merge_incidents(
    Extension(monitor): Mon,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Json(req): Json<MergeRequest>,
) -> Result<Response, ApiError> {
    let by = author(&who);
    let note = format!("incident {id}: merged {}", req.from.join(", "));
    let view =
        blocking(move || cases::merge(&monitor, &id, &req.from, &by).map_err(case_error)).await?;
    Ok((Extension(AuditNote(note)), Json(view)).into_response())
}

/// Body of `POST /api/v1/incidents/{id}/split`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitRequest {
    /// Alerts of this incident that form a new one.
    pub alerts: Vec<String>,
}

/// Answer of `POST /api/v1/incidents/{id}/split`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SplitOutcome {
    /// The new incident.
    pub id: String,
    /// The original incident's case (it records the split).
    pub case: CaseView,
}

/// Splits alerts off an incident into a new one.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/split", tag = "response",
    params(("id" = String, Path, description = "The incident split")), request_body = SplitRequest,
    responses((status = 200, body = SplitOutcome), (status = 422, description = "Unknown incident; no, all, or foreign alerts")))]
pub async fn split_incident(
    Extension(monitor): Mon,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Json(req): Json<SplitRequest>,
) -> Result<Response, ApiError> {
    let by = author(&who);
    let note = format!("incident {id}: split off {}", req.alerts.join(", "));
    let (new_id, case) =
        blocking(move || cases::split(&monitor, &id, &req.alerts, &by).map_err(case_error)).await?;
    Ok((
        Extension(AuditNote(note)),
        Json(SplitOutcome { id: new_id, case }),
    )
        .into_response())
}

/// Shows what an exception would have suppressed among the stored alerts of the look-back
/// period: how many, from which rules, and which of them were judged true positives.
#[utoipa::path(post, path = "/api/v1/exceptions/preview", tag = "response",
    request_body(content = Object, description = "An exception: rule_id, conditions [{field, value}] or all: true, reason"),
    responses((status = 200, body = ExceptionOutcome)))]
pub async fn preview_exception(
    Extension(monitor): Mon,
    Extension(who): Extension<Identity>,
    Json(exception): Json<ExceptionDraft>,
) -> Result<Json<ExceptionOutcome>, ApiError> {
    let by = author(&who);
    blocking(move || {
        cases::exception(&monitor, exception.into_exception(), &by, false)
            .map(Json)
            .map_err(case_error)
    })
    .await
}

/// An exception as sent: id, author and time are set by the server.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDraft {
    pub rule_id: String,
    /// `[{"field": "host"|"user"|"src_ip"|"dst_ip", "value": "..."}]`; IP values may be CIDR.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<vigil_risk::exception::Condition>,
    /// Silence the whole rule (then no conditions).
    #[serde(default)]
    pub all: bool,
    pub reason: String,
}

impl ExceptionDraft {
    fn into_exception(self) -> Exception {
        Exception {
            id: String::new(),
            rule_id: self.rule_id,
            conditions: self.conditions,
            all: self.all,
            reason: self.reason,
            author: String::new(),
            created: Timestamp::UNIX_EPOCH,
        }
    }
}

/// Saves an exception after previewing it: refused (409, naming them) when it would hide an
/// alert judged true positive. From then on live detection suppresses its alerts (counted in
/// `alerts_suppressed`) and assessment leaves the stored ones out.
#[utoipa::path(post, path = "/api/v1/exceptions", tag = "response",
    request_body(content = Object, description = "An exception: rule_id, conditions or all, reason"),
    responses((status = 200, body = ExceptionOutcome),
              (status = 409, description = "It would hide true positives (named)"),
              (status = 422, description = "Malformed (no reason, no condition, bad CIDR…)")))]
pub async fn save_exception(
    Extension(monitor): Mon,
    Extension(who): Extension<Identity>,
    Json(exception): Json<ExceptionDraft>,
) -> Result<Response, ApiError> {
    let by = author(&who);
    let outcome = blocking(move || {
        cases::exception(&monitor, exception.into_exception(), &by, true).map_err(case_error)
    })
    .await?;
    let note = format!(
        "exception {} on rule {} saved (would have suppressed {} stored alerts)",
        outcome.exception.id, outcome.exception.rule_id, outcome.preview.would_suppress
    );
    Ok((Extension(AuditNote(note)), Json(outcome)).into_response())
}

/// The saved exceptions.
#[utoipa::path(get, path = "/api/v1/exceptions", tag = "response",
    responses((status = 200, description = "The exceptions", content_type = "application/json")))]
pub async fn list_exceptions(Extension(monitor): Mon) -> Result<Response, ApiError> {
    blocking(move || {
        let all = monitor.cases.exceptions().map_err(case_error)?;
        Ok(Json(serde_json::json!({ "items": all, "total": all.len() })).into_response())
    })
    .await
}

/// Deletes an exception: its alerts are raised again from now on.
#[utoipa::path(delete, path = "/api/v1/exceptions/{id}", tag = "response",
    params(("id" = String, Path, description = "Exception id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such exception")))]
pub async fn delete_exception(
    Extension(monitor): Mon,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let note = format!("exception {id} deleted");
    blocking(move || cases::delete_exception(&monitor, &id).map_err(case_error)).await?;
    Ok((Extension(AuditNote(note)), StatusCode::NO_CONTENT).into_response())
}

/// The response plans (shipped and configured): roles, communication steps, tasks, SLA
/// targets, and what each applies to.
#[utoipa::path(get, path = "/api/v1/plans", tag = "response",
    responses((status = 200, description = "The plans", content_type = "application/json")))]
pub async fn list_plans(Extension(monitor): Mon) -> Json<serde_json::Value> {
    let plans: Vec<&vigil_risk::Plan> = monitor.cases.plans().plans().collect();
    Json(serde_json::json!({ "items": plans, "total": plans.len() }))
}

/// Query of `GET /api/v1/reports/response`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// Incidents raised from this time (RFC 3339); default 30 days ago.
    pub since: Option<String>,
    /// … up to this time; default now.
    pub until: Option<String>,
}

/// Time to acknowledge, contain and close (mean, median, p90; open incidents counted as
/// pending), counts by status and verdict, and SLA breaches — over the incidents raised in the
/// period, those nobody acted on included.
#[utoipa::path(get, path = "/api/v1/reports/response", tag = "response", params(ReportQuery),
    responses((status = 200, description = "The report", content_type = "application/json"),
              (status = 400, description = "Bad time")))]
pub async fn response_report(
    Extension(monitor): Mon,
    Query(q): Query<ReportQuery>,
) -> Result<Json<CaseMetrics>, ApiError> {
    let until = parse_time("until", &q.until)?.unwrap_or_else(Timestamp::now);
    let since = parse_time("since", &q.since)?.unwrap_or_else(|| {
        until
            .checked_sub(jiff::SignedDuration::from_hours(30 * 24))
            .unwrap_or(Timestamp::MIN)
    });
    blocking(move || {
        let assessed = cases::assess_now(&monitor).map_err(case_error)?;
        let plans = monitor.cases.plans();
        let all: Vec<Case> = assessed
            .incidents
            .iter()
            .map(|i| match assessed.case(&i.incident.id) {
                Some(c) => c.clone(),
                None => Case::open(
                    &i.incident.id,
                    i.raised,
                    i.plan.as_deref().and_then(|p| plans.get(p)),
                ),
            })
            .collect();
        Ok(Json(CaseMetrics::from_cases(&all, since, until)))
    })
    .await
}
