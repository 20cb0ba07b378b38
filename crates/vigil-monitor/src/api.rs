//! The monitoring routes of `/api/v1`: ingest, alerts, rules, sources, SQL and retro-hunts. Handlers are thin: they
//! parse, call [`Monitor`], and map errors to statuses; the roles are given where the routes
//! are added ([`routes`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::Level;
use vigil_server::{ApiBuilder, ApiError, AuditNote, Identity, Role};
use vigil_store::state::{
    Alert, AlertFilter, AlertStatus, AlertUpdate, Comment, Page, StateError, Verdict,
};

use crate::Monitor;
use crate::ingest::{BadRecord, Refusal};
use crate::rules::{ReloadReport, rule_key};
use crate::sources::SourceStats;
use crate::unit::UnitHeader;

pub(crate) type Mon = Extension<Arc<Monitor>>;

/// Adds the monitoring routes to `api`, each group behind the least role it needs.
pub fn routes(api: ApiBuilder, monitor: Arc<Monitor>) -> ApiBuilder {
    let ext = Extension(monitor);
    api.routes(
        Role::Viewer,
        OpenApiRouter::new()
            .routes(routes!(list_alerts))
            .routes(routes!(get_alert))
            .routes(routes!(list_rules))
            .routes(routes!(list_sources))
            .routes(routes!(list_incidents))
            .routes(routes!(get_incident))
            .routes(routes!(entity_risk))
            .routes(routes!(crate::api_intel::list_feeds))
            .routes(routes!(crate::api_intel::list_indicators))
            .routes(routes!(crate::api_intel::list_sightings))
            .routes(routes!(crate::api_intel::list_allowlist))
            .routes(routes!(crate::api_intel::export))
            .routes(routes!(crate::api_cases::list_exceptions))
            .routes(routes!(crate::api_cases::list_plans))
            .routes(routes!(crate::api_cases::response_report))
            .routes(routes!(crate::api_assets::list_assets))
            .routes(routes!(crate::api_attack::attack_coverage))
            .routes(routes!(crate::api_attack::attack_navigator))
            .layer(ext.clone()),
    )
    .routes(
        Role::Analyst,
        OpenApiRouter::new()
            .routes(routes!(ingest))
            .routes(routes!(update_alert))
            .routes(routes!(add_comment))
            .routes(routes!(query))
            .routes(routes!(retrohunt))
            .routes(routes!(crate::api_intel::import_feed))
            .routes(routes!(crate::api_intel::add_allowlist))
            .routes(routes!(crate::api_intel::remove_allowlist))
            .routes(routes!(crate::api_cases::update_incident))
            .routes(routes!(crate::api_cases::merge_incidents))
            .routes(routes!(crate::api_cases::split_incident))
            .routes(routes!(crate::api_cases::preview_exception))
            .routes(routes!(crate::api_cases::save_exception))
            .routes(routes!(crate::api_cases::delete_exception))
            .layer(ext.clone()),
    )
    .routes(
        Role::Admin,
        OpenApiRouter::new()
            .routes(routes!(set_rule))
            .routes(routes!(reload_rules))
            .layer(ext),
    )
}

pub(crate) fn state_error(e: StateError) -> ApiError {
    match e {
        StateError::NotFound(_) => ApiError::not_found(e.to_string()),
        e if e.is_client_error() => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

/// An optional RFC 3339 time of a request, or 400 naming the parameter.
pub(crate) fn parse_time(what: &str, s: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    s.as_deref()
        .map(|s| {
            s.parse::<Timestamp>()
                .map_err(|e| ApiError::bad_request(format!("{what} `{s}`: {e}")))
        })
        .transpose()
}

/// Runs store calls off the async threads (SQLite blocks).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

// ---------------------------------------------------------------------------------------------
// Ingest

/// Query of `POST /api/v1/ingest`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct IngestQuery {
    /// Source tag the events are counted under (`http:<source>`); default `http:default`.
    pub source: Option<String>,
    /// Decode as this format (`evtx`, `json`, `zeek-tsv`, `zeek-json`, `suricata-eve`,
    /// `cloudtrail`, `okta`, `azure`, `auth0`, `auditd`, `syslog`) instead of sniffing.
    pub format: Option<String>,
    /// Accept the good records of a body with bad ones (reported and counted) instead of
    /// refusing it whole.
    #[serde(default)]
    pub partial: bool,
}

/// Answer of `POST /api/v1/ingest`: sent only once the events are durable.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestReceipt {
    pub source: String,
    /// Events accepted (durable, and queued for detection).
    pub events: u64,
    /// Records refused (only with `partial=true`).
    pub rejected: u64,
    pub format: String,
    /// Journal offset of the unit.
    pub offset: u64,
    /// The refused records, at most 20.
    pub errors: Vec<BadRecord>,
}

/// Ingests a body of events in any supported format (NDJSON, JSON, EVTX, Zeek, Suricata,
/// CloudTrail, Okta, Entra, Auth0, auditd, syslog; gzip accepted). Answers only once the
/// events are durable. A malformed record refuses the whole body (400 naming its line) unless
/// `partial=true`; 429 when detection is too far behind. With an `Idempotency-Key` header, a
/// retry of a request that was processed gets the first receipt back (`Idempotent-Replayed:
/// true`) instead of the events being appended twice.
#[utoipa::path(post, path = "/api/v1/ingest", tag = "ingest", params(IngestQuery),
    request_body(content = String, description = "Events, as a log file would hold them", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Durable", body = IngestReceipt),
        (status = 400, description = "Malformed body; the message names the line"),
        (status = 413, description = "Body too large"),
        (status = 429, description = "Detection is behind; retry after the delay given"),
        (status = 409, description = "A request with the same Idempotency-Key is in progress"),
    ))]
pub async fn ingest(
    Extension(monitor): Mon,
    Extension(who): Extension<Identity>,
    Query(q): Query<IngestQuery>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    use crate::idempotency::{Claim, MAX_KEY_BYTES};
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_BYTES)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Idempotency-Key must be 1-{MAX_KEY_BYTES} visible ASCII characters"
                    ))
                })?;
            Some(k.to_string())
        }
    };
    let Some(key) = key else {
        return Ok(ingest_once(monitor, q, body, None).await?.0);
    };
    match monitor.idempotency.claim(&who.token_id, &key) {
        Claim::Replay(receipt) => {
            let mut resp = Json(receipt).into_response();
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(resp)
        }
        Claim::Busy => Err(ApiError::new(
            StatusCode::CONFLICT,
            "a request with this Idempotency-Key is still being processed; retry later",
        )),
        Claim::Fresh => {
            let m = Arc::clone(&monitor);
            let keyed = (who.token_id.clone(), key.clone());
            let outcome = ingest_once(monitor, q, body, Some(keyed)).await;
            match outcome {
                Ok((resp, reserved)) if resp.status() == StatusCode::OK => {
                    let receipt = resp
                        .extensions()
                        .get::<IngestReceiptJson>()
                        .map(|r| r.0.clone())
                        .unwrap_or_default();
                    let m2 = Arc::clone(&m);
                    let token = who.token_id.clone();
                    // A SQLite write: off the async runtime.
                    let recorded = tokio::task::spawn_blocking(move || {
                        m2.idempotency.finish(&token, &key, receipt, reserved)
                    })
                    .await;
                    if let Err(e) = recorded {
                        eprintln!("vigil serve: recording an idempotency key failed: {e}");
                    }
                    Ok(resp)
                }
                other => {
                    m.idempotency.abandon(&who.token_id, &key);
                    other.map(|(resp, _)| resp)
                }
            }
        }
    }
}

/// The receipt as sent, kept on the response for the idempotency record.
#[derive(Clone)]
struct IngestReceiptJson(serde_json::Value);

/// Checks and appends one body; with `keyed` (token id, `Idempotency-Key`) the unit carries
/// the key and its receipt, and the reservation taken before the append is handed back for
/// [`crate::idempotency::Idempotency::finish`].
async fn ingest_once(
    monitor: Arc<Monitor>,
    q: IngestQuery,
    body: Bytes,
    keyed: Option<(String, String)>,
) -> Result<(Response, Option<crate::idempotency::Reservation>), ApiError> {
    let tag = q.source.unwrap_or_else(|| "default".into());
    if tag.is_empty() || tag.len() > 128 || tag.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_request(
            "source must be 1-128 printable characters",
        ));
    }
    let header = UnitHeader {
        source: format!("http:{tag}"),
        format: q.format,
        received: Timestamp::now(),
        peer: None,
        path: None,
        idempotency: None,
    };
    let ingestor = monitor.ingestor.clone();
    // Refused before decoding: under overload the CPU belongs to detection.
    if let Err(r) = ingestor.admit() {
        return Ok((refusal(r), None));
    }
    let partial = q.partial;
    let m = Arc::clone(&monitor);
    let accepted = tokio::task::spawn_blocking(move || {
        let mut header = header;
        let checked = ingestor.check(&header, &body, partial)?;
        // The receipt but for the offset, which the append gives.
        let receipt = IngestReceipt {
            source: header.source.clone(),
            events: checked.events,
            rejected: checked.rejected,
            format: checked.format,
            offset: 0,
            errors: checked.errors,
        };
        let mut reserved = None;
        if let Some((token, key)) = keyed {
            let mut stamped = serde_json::to_value(&receipt).unwrap_or_default();
            if let Some(fields) = stamped.as_object_mut() {
                fields.remove("offset");
            }
            header.idempotency = Some(crate::unit::KeyStamp {
                token,
                key,
                receipt: stamped,
            });
            reserved = m.idempotency.reserve();
        }
        let ticket = ingestor.append(&header, &body)?;
        Ok::<_, Refusal>((receipt, ticket, reserved))
    })
    .await
    .map_err(|e| ApiError::internal(format!("ingest worker failed: {e}")))?;
    let (mut receipt, ticket, reserved) = match accepted {
        Ok(parts) => parts,
        Err(r) => return Ok((refusal(r), None)),
    };
    let offset = ticket.await.map_err(|e| {
        ApiError::internal(format!(
            "the journal could not make the events durable: {e}"
        ))
    })?;
    receipt.offset = offset;
    let note = AuditNote(format!(
        "ingested {} events ({}) from {} at offset {offset}",
        receipt.events, receipt.format, receipt.source
    ));
    let kept = IngestReceiptJson(serde_json::to_value(&receipt).unwrap_or_default());
    let mut resp = (Extension(note), Json(receipt)).into_response();
    resp.extensions_mut().insert(kept);
    Ok((resp, reserved))
}

/// The answer to a refused unit: the JSON error body, plus the bad records for a malformed
/// body and `Retry-After` when the server is behind.
fn refusal(r: Refusal) -> Response {
    let status = match &r {
        Refusal::Empty
        | Refusal::Malformed { .. }
        | Refusal::Undecodable(_)
        | Refusal::UnknownFormat(_) => StatusCode::BAD_REQUEST,
        Refusal::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Journal(vigil_store::journal::JournalError::Full { .. }) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        Refusal::Journal(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut error = serde_json::json!({
        "code": vigil_server::api::error::code_for(status),
        "message": r.to_string(),
    });
    if let Refusal::Malformed { errors, total } = &r {
        error["records"] = serde_json::json!(errors);
        error["malformed"] = serde_json::json!(total);
    }
    let mut resp = (status, Json(serde_json::json!({ "error": error }))).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// Alerts

/// Filters of `GET /api/v1/alerts`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
pub struct AlertQuery {
    /// Comma-separated statuses (`new,acknowledged`).
    pub status: Option<String>,
    /// Rule level at or above this one.
    pub min_level: Option<String>,
    pub rule_id: Option<String>,
    /// Host, user, source or destination IP.
    pub entity: Option<String>,
    /// Alerts active at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Alerts that started before this time (RFC 3339).
    pub until: Option<String>,
    /// Alerts written (created, joined by a hit, changed by an analyst) at or after this time
    /// (RFC 3339): what changed since a client's last sync.
    pub updated_since: Option<String>,
    /// Substring of title, id, entities, tags or evidence.
    pub text: Option<String>,
    pub assignee: Option<String>,
    pub verdict: Option<String>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl AlertQuery {
    fn into_filter(self) -> Result<AlertFilter, ApiError> {
        fn parse<T: std::str::FromStr>(what: &str, s: Option<String>) -> Result<Option<T>, ApiError>
        where
            T::Err: std::fmt::Display,
        {
            s.map(|s| {
                s.parse::<T>()
                    .map_err(|e| ApiError::bad_request(format!("{what} `{s}`: {e}")))
            })
            .transpose()
        }
        let status = match self.status {
            Some(list) => list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .parse::<AlertStatus>()
                        .map_err(|e| ApiError::bad_request(format!("status `{s}`: {e}")))
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(AlertFilter {
            status,
            min_level: parse::<Level>("min_level", self.min_level)?,
            rule_id: self.rule_id,
            entity: self.entity,
            since: parse::<Timestamp>("since", self.since)?,
            until: parse::<Timestamp>("until", self.until)?,
            updated_since: parse::<Timestamp>("updated_since", self.updated_since)?,
            text: self.text,
            assignee: self.assignee,
            verdict: parse::<Verdict>("verdict", self.verdict)?,
            limit: self.limit,
            cursor: self.cursor,
        })
    }
}

/// Lists alerts, newest first, with filters and cursor paging.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, description = "One page of alerts", content_type = "application/json")))]
pub async fn list_alerts(
    Extension(monitor): Mon,
    Query(q): Query<AlertQuery>,
) -> Result<Json<Page<Alert>>, ApiError> {
    let filter = q.into_filter()?;
    blocking(move || monitor.store.list(&filter).map_err(state_error))
        .await
        .map(Json)
}

/// An alert with its comments.
#[derive(Debug, Serialize)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    pub comments: Vec<Comment>,
}

/// One alert, with its evidence, sample events and comments.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "The alert", content_type = "application/json"),
              (status = 404, description = "No such alert")))]
pub async fn get_alert(
    Extension(monitor): Mon,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    blocking(move || {
        let alert = monitor
            .store
            .get(&id)
            .map_err(state_error)?
            .ok_or_else(|| ApiError::not_found(format!("no alert with id {id:?}")))?;
        let comments = monitor.store.comments(&id).map_err(state_error)?;
        Ok(AlertDetail { alert, comments })
    })
    .await
    .map(Json)
}

/// Body of `PATCH /api/v1/alerts/{id}`: any of status, assignee, verdict, with a comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertChange {
    /// `new`, `acknowledged`, `in-progress`, `closed`…
    pub status: Option<String>,
    /// Assignee; the empty string removes it.
    pub assignee: Option<String>,
    /// `true-positive`, `false-positive` or `benign`; required when closing.
    pub verdict: Option<String>,
    pub comment: Option<String>,
}

/// Changes an alert's status, assignee or verdict (the workflow decides which moves are
/// allowed), with an optional comment recorded in the same transaction.
#[utoipa::path(patch, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")), request_body = AlertChange,
    responses((status = 200, description = "The alert as it is now", content_type = "application/json"),
              (status = 404, description = "No such alert"),
              (status = 422, description = "Not an allowed change")))]
pub async fn update_alert(
    Extension(monitor): Mon,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Json(change): Json<AlertChange>,
) -> Result<Response, ApiError> {
    let parse_err =
        |what: &str, e: &dyn std::fmt::Display| ApiError::bad_request(format!("{what}: {e}"));
    let update = AlertUpdate {
        author: author(&who),
        status: change
            .status
            .as_deref()
            .map(str::parse::<AlertStatus>)
            .transpose()
            .map_err(|e| parse_err("status", &e))?,
        assignee: change.assignee,
        verdict: change
            .verdict
            .as_deref()
            .map(str::parse::<Verdict>)
            .transpose()
            .map_err(|e| parse_err("verdict", &e))?,
        comment: change.comment,
    };
    let note = format!(
        "alert {id}: {}",
        serde_json::to_string(&update).unwrap_or_default()
    );
    let alert = blocking(move || {
        let alert = monitor.store.update(&id, &update).map_err(state_error)?;
        // A false positive on an indicator: the value goes on the allowlist, with the reason.
        if update.verdict == Some(Verdict::FalsePositive) {
            crate::api_intel::allow_false_positive(&monitor, &alert, &update)?;
        }
        Ok(alert)
    })
    .await?;
    Ok((Extension(AuditNote(note)), Json(alert)).into_response())
}

pub(crate) fn author(who: &Identity) -> String {
    if who.label.is_empty() {
        format!("token:{}", who.token_id)
    } else {
        format!("{} (token:{})", who.label, who.token_id)
    }
}

/// Body of `POST /api/v1/alerts/{id}/comments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub text: String,
}

/// Adds a comment to an alert.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/comments", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")), request_body = NewComment,
    responses((status = 201, description = "The comment", content_type = "application/json"),
              (status = 404, description = "No such alert")))]
pub async fn add_comment(
    Extension(monitor): Mon,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Json(body): Json<NewComment>,
) -> Result<Response, ApiError> {
    let author = author(&who);
    let note = AuditNote(format!("comment on alert {id}"));
    let comment = blocking(move || {
        monitor
            .store
            .add_comment(&id, &author, &body.text)
            .map_err(state_error)
    })
    .await?;
    Ok((StatusCode::CREATED, Extension(note), Json(comment)).into_response())
}

// ---------------------------------------------------------------------------------------------
// Rules

/// One loaded rule as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleInfo {
    /// The rule's id (its title when it has none): what enable/disable and alerts use.
    pub id: String,
    pub title: String,
    pub level: String,
    pub status: Option<String>,
    /// `product/category/service` as the rule names them.
    pub logsource: String,
    pub enabled: bool,
    /// Alerts raised by this rule (after dedup).
    pub alerts: u64,
    /// Events that matched it.
    pub events: u64,
    #[schema(value_type = Option<String>)]
    pub last_seen: Option<Timestamp>,
    pub file: String,
}

/// A rule file or document that could not be used.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleLoadError {
    /// `file:line`.
    pub location: String,
    pub id: Option<String>,
    pub title: Option<String>,
    /// Reason kind (`unsupported-modifier`, `unmapped-logsource`…).
    pub kind: String,
    pub reason: String,
}

/// Answer of `GET /api/v1/rules`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// Reloads since the server started.
    pub generation: u64,
    pub loaded: usize,
    pub disabled: usize,
    pub rules: Vec<RuleInfo>,
    pub load_errors: Vec<RuleLoadError>,
}

/// Query of `GET /api/v1/rules`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
pub struct RuleQuery {
    /// Only rules whose id or title contains this (case-insensitive).
    pub text: Option<String>,
    /// Only rules that raised alerts.
    pub fired: bool,
}

/// The rules in force with their hit counts, and every rule that could not be loaded and why.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", params(RuleQuery),
    responses((status = 200, description = "Rules", body = RuleList)))]
pub async fn list_rules(
    Extension(monitor): Mon,
    Query(q): Query<RuleQuery>,
) -> Result<Json<RuleList>, ApiError> {
    blocking(move || {
        let snapshot = monitor.rules.current();
        let hits: std::collections::HashMap<String, vigil_store::state::RuleHits> = monitor
            .store
            .rule_hits(None)
            .map_err(state_error)?
            .into_iter()
            .map(|h| (h.rule_id.clone(), h))
            .collect();
        let needle = q.text.as_deref().map(str::to_lowercase);
        let rules = snapshot
            .rules
            .engine
            .rules()
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                needle.as_deref().is_none_or(|n| {
                    rule_key(r).to_lowercase().contains(n) || r.title.to_lowercase().contains(n)
                })
            })
            .map(|(i, r)| {
                let id = rule_key(r).to_string();
                let h = hits.get(&id);
                let ls = &r.logsource;
                RuleInfo {
                    title: r.title.clone(),
                    level: r.level.unwrap_or(Level::Medium).to_string(),
                    status: r.status.map(|s| s.as_str().to_string()),
                    logsource: [&ls.product, &ls.category, &ls.service]
                        .map(|p| p.as_deref().unwrap_or("*").to_string())
                        .join("/"),
                    enabled: !snapshot.is_disabled(i),
                    alerts: h.map_or(0, |h| h.alerts),
                    events: h.map_or(0, |h| h.events),
                    last_seen: h.map(|h| h.last_seen),
                    file: r.location.to_string(),
                    id,
                }
            })
            .filter(|r| !q.fired || r.alerts > 0)
            .collect();
        let load_errors = snapshot
            .rules
            .rejections()
            .map(|r| RuleLoadError {
                location: r.location.to_string(),
                id: r.rule_id.clone(),
                title: r.title.clone(),
                kind: r.reason.kind().to_string(),
                reason: r.reason.to_string(),
            })
            .collect();
        Ok(RuleList {
            generation: snapshot.generation,
            loaded: snapshot.rules.loaded(),
            disabled: snapshot.disabled_ids.len(),
            rules,
            load_errors,
        })
    })
    .await
    .map(Json)
}

/// Body of `PATCH /api/v1/rules/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    pub enabled: bool,
}

/// Enables or disables a rule by id; remembered across restarts and reloads.
#[utoipa::path(patch, path = "/api/v1/rules/{id}", tag = "rules",
    params(("id" = String, Path, description = "Rule id (or title for rules without one)")),
    request_body = RuleChange,
    responses((status = 204, description = "Done"), (status = 404, description = "No such rule")))]
pub async fn set_rule(
    Extension(monitor): Mon,
    Path(id): Path<String>,
    Json(change): Json<RuleChange>,
) -> Result<Response, ApiError> {
    let note = AuditNote(format!(
        "rule {id} {}",
        if change.enabled {
            "enabled"
        } else {
            "disabled"
        }
    ));
    let found = {
        let id = id.clone();
        blocking(move || {
            monitor
                .rules
                .set_enabled(&id, change.enabled)
                .map_err(|e| ApiError::internal(e.to_string()))
        })
        .await?
    };
    if !found {
        return Err(ApiError::not_found(format!(
            "no loaded rule with id {id:?}"
        )));
    }
    Ok((StatusCode::NO_CONTENT, Extension(note)).into_response())
}

/// Reads the rule files again and swaps the new set in without a restart; on failure the
/// rules in force stay.
#[utoipa::path(post, path = "/api/v1/rules/reload", tag = "rules",
    responses((status = 200, description = "Reloaded", body = ReloadReport),
              (status = 500, description = "The rules could not be loaded; the old set stays")))]
pub async fn reload_rules(Extension(monitor): Mon) -> Result<Response, ApiError> {
    let report = blocking(move || {
        monitor
            .rules
            .reload()
            .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    let note = AuditNote(format!(
        "rules reloaded: generation {}, {} loaded, {} rejected",
        report.generation, report.loaded, report.rejected
    ));
    Ok((Extension(note), Json(report)).into_response())
}

// ---------------------------------------------------------------------------------------------
// Sources

/// Detection's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineStatus {
    /// Units (journal records) received and not yet through detection.
    pub lag_units: u64,
    /// Bytes of the units received since start and not yet through detection.
    pub lag_bytes: u64,
    pub units: u64,
    pub events: u64,
    pub decode_errors: u64,
    pub alerts_new: u64,
    pub alerts_aggregated: u64,
    pub alerts_duplicate: u64,
    /// Detections a saved exception suppressed (not stored).
    pub alerts_suppressed: u64,
    pub bad_units: u64,
}

/// Answer of `GET /api/v1/sources`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceList {
    pub pipeline: PipelineStatus,
    pub sources: Vec<SourceStats>,
    /// Live listener and file-watcher figures (framing errors, files followed…).
    pub listeners: Vec<serde_json::Value>,
}

/// Every source seen: units, events, decode errors (with the latest reasons), last event
/// time; and detection's progress.
#[utoipa::path(get, path = "/api/v1/sources", tag = "sources",
    responses((status = 200, description = "Sources", body = SourceList)))]
pub async fn list_sources(Extension(monitor): Mon) -> Json<SourceList> {
    use std::sync::atomic::Ordering::Relaxed;
    let p = &monitor.progress;
    Json(SourceList {
        pipeline: PipelineStatus {
            lag_units: monitor.ingestor.lag(),
            lag_bytes: monitor.ingestor.lag_bytes(),
            units: p.units.load(Relaxed),
            events: p.events.load(Relaxed),
            decode_errors: p.decode_errors.load(Relaxed),
            alerts_new: p.alerts_new.load(Relaxed),
            alerts_aggregated: p.alerts_aggregated.load(Relaxed),
            alerts_duplicate: p.alerts_duplicate.load(Relaxed),
            alerts_suppressed: p.alerts_suppressed.load(Relaxed),
            bad_units: p.bad_units.load(Relaxed),
        },
        sources: monitor.sources.list(),
        listeners: monitor.listener_stats(),
    })
}

// ---------------------------------------------------------------------------------------------
// Hunting with SQL

/// Body of `POST /api/v1/query`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// A `SELECT` (or `WITH`/`EXPLAIN`) over the table `events`.
    pub sql: String,
    /// Rows returned at most (default 10,000; at most 100,000).
    pub max_rows: Option<usize>,
}

/// Runs SQL over the event lake (table `events`: time, ingest_time, source, file, record_id,
/// byte_offset, product, service, category, OCSF entity columns, raw JSON, date, hour).
/// Read-only; limited in rows, time and memory. Events are queryable once the lake has
/// flushed them (seconds).
#[utoipa::path(post, path = "/api/v1/query", tag = "hunt", request_body = QueryRequest,
    responses((status = 200, description = "`{columns, rows, row_count, truncated}`", content_type = "application/json"),
              (status = 400, description = "Not a query, or an SQL error"),
              (status = 503, description = "The lake is disabled")))]
pub async fn query(
    Extension(monitor): Mon,
    Json(req): Json<QueryRequest>,
) -> Result<Response, ApiError> {
    let Some(lake) = monitor.lake.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the event lake is disabled ([monitor.lake] enabled = false)",
        ));
    };
    let limits = vigil_store::lake::QueryLimits {
        max_rows: req.max_rows.unwrap_or(10_000).clamp(1, 100_000),
        ..vigil_store::lake::QueryLimits::default()
    };
    let result = lake.query(&req.sql, &limits).await.map_err(lake_error)?;
    let body = result.to_json().map_err(lake_error)?;
    let note = AuditNote(format!(
        "query ({} rows): {}",
        result.row_count,
        req.sql.chars().take(500).collect::<String>()
    ));
    Ok((Extension(note), Json(body)).into_response())
}

fn lake_error(e: vigil_store::lake::LakeError) -> ApiError {
    use vigil_store::lake::LakeError;
    match e {
        LakeError::Sql { .. } => ApiError::bad_request(e.to_string()),
        LakeError::Timeout(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Retro-hunts

/// Body of `POST /api/v1/retrohunt`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetroHuntRequest {
    /// Events with `time >= from` (RFC 3339); default: the oldest stored.
    pub from: Option<String>,
    /// Events with `time < to` (RFC 3339); default: the newest stored.
    pub to: Option<String>,
    /// Only events that arrived under this source tag.
    pub source: Option<String>,
    /// Ids (or titles) of loaded rules to run; default: every enabled rule.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Sigma rule text (one or more YAML documents) to run instead of the loaded rules.
    pub rule: Option<String>,
    /// Lowest rule level reported (default `informational`).
    pub min_level: Option<String>,
    /// Detections returned at most (default 1,000; at most 100,000); all are counted.
    pub max_matches: Option<usize>,
    /// Also match the stored events' entities against the server's threat-intel indicators.
    #[serde(default)]
    pub intel: bool,
}

/// Runs Sigma rules over events already in the lake: the loaded rule set, some of its rules,
/// or a rule sent with the request. Answers with the detections (not stored as alerts) and
/// per-rule counts. One retro-hunt runs at a time.
#[utoipa::path(post, path = "/api/v1/retrohunt", tag = "hunt", request_body = RetroHuntRequest,
    responses((status = 200, body = crate::retrohunt::RetroHuntReport),
              (status = 400, description = "Bad time range, unknown rule id, or rule text with no usable rule"),
              (status = 429, description = "Another retro-hunt is running"),
              (status = 503, description = "The lake is disabled")))]
pub async fn retrohunt(
    Extension(monitor): Mon,
    Json(req): Json<RetroHuntRequest>,
) -> Result<Response, ApiError> {
    use crate::retrohunt::{HuntRules, RetroHunt, RetroHuntError, retro_hunt, usable};
    let hunt = RetroHunt {
        range: vigil_store::lake::ScanRange {
            from: parse_time("from", &req.from)?,
            to: parse_time("to", &req.to)?,
            source: req.source.clone(),
        },
        min_level: match &req.min_level {
            Some(l) => l
                .parse::<Level>()
                .map_err(|e| ApiError::bad_request(format!("min_level `{l}`: {e}")))?,
            None => Level::Informational,
        },
        max_matches: req.max_matches.unwrap_or(1_000).min(100_000),
        intel: req.intel.then(|| monitor.intel.current()),
    };
    if req.rule.is_some() && !req.rules.is_empty() {
        return Err(ApiError::bad_request(
            "give either `rules` (loaded rule ids) or `rule` (rule text), not both",
        ));
    }
    let what = match (&req.rule, req.rules.len()) {
        (Some(_), _) => "rule text".to_string(),
        (None, 0) => "all enabled rules".to_string(),
        (None, n) => format!("{n} rule(s): {}", req.rules.join(", ")),
    };
    let m = Arc::clone(&monitor);
    // A thread of its own, outside the runtime: the lake scan drives a runtime of its own,
    // which tokio forbids on its blocking pool.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let hunt_thread = move || {
        let lake = m.lake.as_ref().ok_or(RetroHuntError::NoLake)?;
        let rules = match &req.rule {
            Some(text) => HuntRules::all(usable(
                m.compile_rule_text(text)
                    .map_err(|e| RetroHuntError::NoRules(vec![e]))?,
            )?),
            None => HuntRules::from_live(&m.rules.current(), &req.rules)?,
        };
        let Ok(_one_at_a_time) = m.hunting.try_lock() else {
            return Ok(None);
        };
        retro_hunt(lake, &rules, &hunt).map(Some)
    };
    std::thread::Builder::new()
        .name("vigil-retrohunt".into())
        .spawn(move || {
            let _ = tx.send(hunt_thread());
        })
        .map_err(|e| ApiError::internal(format!("starting the retro-hunt: {e}")))?;
    let outcome = rx
        .await
        .map_err(|_| ApiError::internal("the retro-hunt thread ended without an answer"))?;
    let report = match outcome {
        Ok(Some(report)) => report,
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "another retro-hunt is running; retry when it is done",
            ));
        }
        Err(e @ RetroHuntError::NoLake) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            ));
        }
        Err(RetroHuntError::Lake(e)) => return Err(lake_error(e)),
        Err(e) => return Err(ApiError::bad_request(e.to_string())),
    };
    let note = AuditNote(format!(
        "retrohunt with {what}: {} events, {} matches",
        report.events_scanned, report.matches_total
    ));
    Ok((Extension(note), Json(report)).into_response())
}

// ---------------------------------------------------------------------------------------------
// Assessment: incidents and entity risk

fn cases_error(e: crate::cases::CaseChangeError) -> ApiError {
    use crate::assess::AssessError;
    use crate::cases::CaseChangeError as E;
    match e {
        E::Store(e) | E::Assess(AssessError::Store(e)) => state_error(e),
        e => ApiError::internal(e.to_string()),
    }
}

/// Query of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct IncidentQuery {
    /// Incidents whose highest alert level is at least this one.
    pub min_severity: Option<String>,
    /// Incidents naming this host, user or IP (case-insensitive).
    pub entity: Option<String>,
    /// Incidents listed at most (default 100, at most 1,000).
    pub limit: Option<usize>,
}

/// Alerts of the look-back period grouped into incidents by shared hosts, users and IPs
/// (ubiquitous entities capped), most urgent first: each with its tactics in kill-chain order,
/// entities, rules, affected assets and top risk score.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "assessment", params(IncidentQuery),
    responses((status = 200, description = "`{items, total}`", content_type = "application/json"),
              (status = 400, description = "Bad filter")))]
pub async fn list_incidents(
    Extension(monitor): Mon,
    Query(q): Query<IncidentQuery>,
) -> Result<Response, ApiError> {
    let min = match &q.min_severity {
        Some(l) => Some(
            l.parse::<Level>()
                .map_err(|e| ApiError::bad_request(format!("min_severity `{l}`: {e}")))?,
        ),
        None => None,
    };
    let entity = q.entity.as_deref().map(str::to_lowercase);
    let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
    blocking(move || {
        let assessed = crate::cases::assess_now(&monitor).map_err(cases_error)?;
        let matching: Vec<&crate::assess::IncidentSummary> = assessed
            .incidents
            .iter()
            .filter(|i| min.is_none_or(|m| i.incident.severity >= m))
            .filter(|i| {
                entity.as_ref().is_none_or(|e| {
                    i.incident
                        .entities
                        .iter()
                        .chain(&i.incident.capped_entities)
                        .any(|k| &k.value == e)
                })
            })
            .collect();
        let total = matching.len();
        let items: Vec<_> = matching.into_iter().take(limit).collect();
        Ok(Json(serde_json::json!({ "items": items, "total": total })).into_response())
    })
    .await
}

/// One incident: its alerts in time order with their risk scores and the factors of each,
/// entities, tactics, affected assets and their blast radius.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "assessment",
    params(("id" = String, Path, description = "Incident id (`inc-` and its first alert's id)")),
    responses((status = 200, body = crate::assess::IncidentDetail),
              (status = 404, description = "No such incident")))]
pub async fn get_incident(
    Extension(monitor): Mon,
    Path(id): Path<String>,
) -> Result<Json<crate::assess::IncidentDetail>, ApiError> {
    blocking(move || {
        let assessed = crate::cases::assess_now(&monitor).map_err(cases_error)?;
        assessed
            .detail(&id)
            .map(Json)
            .ok_or_else(|| ApiError::not_found(format!("no incident `{id}`")))
    })
    .await
}

/// Query of `GET /api/v1/entities/risk`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EntityRiskQuery {
    /// Entities listed at most (default 50, at most 1,000).
    pub limit: Option<usize>,
}

/// Hosts, users and IPs by accumulated risk now (alert scores, halving every half-life), and
/// the moments an entity crossed the risk threshold (risk incidents).
#[utoipa::path(get, path = "/api/v1/entities/risk", tag = "assessment", params(EntityRiskQuery),
    responses((status = 200, body = crate::assess::EntityRiskReport)))]
pub async fn entity_risk(
    Extension(monitor): Mon,
    Query(q): Query<EntityRiskQuery>,
) -> Result<Json<crate::assess::EntityRiskReport>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1_000);
    blocking(move || {
        let now = Timestamp::now();
        let settings = &monitor.config.assess;
        let assessed = crate::cases::assess_now(&monitor).map_err(cases_error)?;
        Ok(Json(assessed.entity_risk(settings, now, limit)))
    })
    .await
}
