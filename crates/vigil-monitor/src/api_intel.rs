//! The threat-intel routes of `/api/v1/intel`: feeds and their figures, imports, indicator
//! lookup and sightings. Handlers parse, call [`crate::intel`], and map errors to statuses.

use axum::body::Bytes;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_intel::lifecycle::AllowPattern;
use vigil_intel::{AllowEntry, Indicator, IndicatorKind};
use vigil_server::{ApiError, AuditNote};
use vigil_store::state::AlertFilter;

use crate::api::{Mon, blocking, parse_time, state_error};
use crate::intel::{AutoRetroHunt, FeedStatus, ImportOutcome, IntelImportError, import};

/// Answer of `GET /api/v1/intel/feeds`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedList {
    /// Indicators held, one per (kind, value), live or not.
    pub indicators: usize,
    /// Indicators in the matcher now (live: not revoked, not expired, valid already).
    pub in_force: usize,
    /// What the matcher left out, and why.
    #[schema(value_type = Object)]
    pub left_out: serde_json::Value,
    pub feeds: Vec<FeedStatus>,
    /// The automatic retro-hunts of new indicators, most recent first.
    pub retro_hunts: Vec<AutoRetroHunt>,
}

/// The feeds, what each gave and what each could not import, and the automatic retro-hunts.
#[utoipa::path(get, path = "/api/v1/intel/feeds", tag = "intel",
    responses((status = 200, body = FeedList)))]
pub async fn list_feeds(Extension(monitor): Mon) -> Result<Json<FeedList>, ApiError> {
    blocking(move || {
        let matcher = monitor.intel.current();
        let stats = matcher.stats();
        Ok(Json(FeedList {
            indicators: monitor.intel.indicators(),
            in_force: matcher.len(),
            left_out: serde_json::json!({
                "revoked": stats.revoked,
                "expired": stats.expired,
                "not_yet_valid": stats.not_yet_valid,
                "allowlisted": stats.allowlisted,
                "decayed": stats.decayed,
            }),
            feeds: monitor.intel.feeds(),
            retro_hunts: monitor.intel.retro_hunts(),
        }))
    })
    .await
}

/// Query of `POST /api/v1/intel/import`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ImportQuery {
    /// The feed the indicators belong to (1-64 letters, digits, `.`, `_`, `-`).
    pub feed: String,
    /// Make this file the feed's whole content (a full list such as a daily CSV export):
    /// indicators only its earlier imports named are dropped.
    #[serde(default)]
    pub replace: bool,
}

/// Imports a STIX 2.1 bundle, MISP event, CSV feed (abuse.ch presets) or plain list (format
/// told from the content) into a feed. Kept in the data directory; the matcher is swapped at
/// once; new indicators are searched for in the lake's recent events (alerts tagged
/// `vigil.retro-hunt`). Every object not imported is counted, and the first are named.
#[utoipa::path(post, path = "/api/v1/intel/import", tag = "intel", params(ImportQuery),
    request_body(content = String, description = "A feed file", content_type = "application/octet-stream"),
    responses((status = 200, body = ImportOutcome),
              (status = 400, description = "Bad feed name, or nothing importable (reasons given)")))]
pub async fn import_feed(
    Extension(monitor): Mon,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let outcome = blocking(move || {
        import(&monitor, &q.feed, &body, q.replace).map_err(|e| match e {
            IntelImportError::BadFeedName(_) | IntelImportError::NothingImported(_) => {
                ApiError::bad_request(e.to_string())
            }
            IntelImportError::Io { .. } => ApiError::internal(e.to_string()),
        })
    })
    .await?;
    let note = AuditNote(format!(
        "intel import into feed {}: {} indicators ({} new), {} rejected",
        outcome.feed, outcome.indicators, outcome.new_indicators, outcome.rejected
    ));
    Ok((Extension(note), Json(outcome)).into_response())
}

/// Query of `GET /api/v1/intel/indicators`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct IndicatorQuery {
    /// A value to look up (normalised like the indicators: case, URL form, CIDR).
    pub value: Option<String>,
    /// Only this kind (`ipv4`, `domain`, `url`, `sha256`, …).
    pub kind: Option<String>,
    /// Only indicators this feed names.
    pub feed: Option<String>,
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<usize>,
}

/// One indicator as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorView {
    pub kind: String,
    pub value: String,
    pub confidence: Option<u8>,
    #[schema(value_type = Option<String>)]
    pub valid_from: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub valid_until: Option<Timestamp>,
    pub revoked: bool,
    /// Where in an event it counts: `any`, or `source` / `destination` for a STIX
    /// `network-traffic:src_ref` / `dst_ref` indicator.
    pub scope: String,
    pub tlp: Option<String>,
    pub labels: Vec<String>,
    /// The feeds that name it, with their ids and first/last seen.
    #[schema(value_type = Vec<Object>)]
    pub sources: Vec<serde_json::Value>,
    /// Alerts it raised (its sightings): count, events, first and last event time, hosts.
    #[schema(value_type = Option<Object>)]
    pub sightings: Option<serde_json::Value>,
}

fn view(i: &Indicator) -> IndicatorView {
    IndicatorView {
        kind: i.kind().name().to_string(),
        value: i.value().to_string(),
        confidence: i.confidence(),
        valid_from: i.valid_from(),
        valid_until: i.valid_until(),
        revoked: i.revoked(),
        scope: i.scope().name().to_string(),
        tlp: i.tlp().map(|t| t.as_str().to_string()),
        labels: i.labels().iter().map(|l| l.to_string()).collect(),
        sources: i
            .sources()
            .iter()
            .map(|s| {
                serde_json::json!({
                    "feed": &*s.feed,
                    "id": s.external_id.as_deref(),
                    "first_seen": s.first_seen,
                    "last_seen": s.last_seen,
                })
            })
            .collect(),
        sightings: None,
    }
}

/// Answer of `GET /api/v1/intel/indicators`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorList {
    /// Indicators that passed the filters (all counted, `limit` returned).
    pub total: usize,
    pub items: Vec<IndicatorView>,
}

/// Looks a value up (every kind it could be, a domain's parents and an address's blocks
/// included, with the indicator's sightings), or lists indicators by kind and feed.
#[utoipa::path(get, path = "/api/v1/intel/indicators", tag = "intel", params(IndicatorQuery),
    responses((status = 200, body = IndicatorList), (status = 400, description = "Unknown kind")))]
pub async fn list_indicators(
    Extension(monitor): Mon,
    Query(q): Query<IndicatorQuery>,
) -> Result<Json<IndicatorList>, ApiError> {
    let kind = match &q.kind {
        Some(k) => Some(IndicatorKind::from_name(k).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown indicator kind `{k}` (ipv4, ipv6, domain, url, email, md5, sha1, sha256, sha512, ja3, user-agent, filename)"
            ))
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100).min(10_000);
    blocking(move || {
        let mut items = Vec::new();
        let mut total = 0;
        if let Some(value) = &q.value {
            // What the matcher would say of this value, whatever field it came from.
            let matcher = monitor.intel.current();
            let mut seen = std::collections::HashSet::new();
            for m in lookup(&matcher, value) {
                let i = &m.indicator;
                if kind.is_some_and(|k| k != i.kind())
                    || !seen.insert((i.kind(), i.value().to_string()))
                {
                    continue;
                }
                total += 1;
                if items.len() < limit {
                    let mut v = view(i);
                    v.sightings = sightings_of(&monitor, &v.kind, &v.value)?;
                    items.push(v);
                }
            }
            // Indicators held but not in force (expired, revoked) are shown too.
            monitor.intel.with_set(|set| {
                for k in IndicatorKind::ALL {
                    if kind.is_some_and(|want| want != k) {
                        continue;
                    }
                    let Ok(norm) = k.normalise(value) else {
                        continue;
                    };
                    if let Some(i) = set.get(k, &norm)
                        && seen.insert((k, norm))
                    {
                        total += 1;
                        if items.len() < limit {
                            items.push(view(i));
                        }
                    }
                }
            });
        } else {
            monitor.intel.with_set(|set| {
                for i in set.iter() {
                    if kind.is_some_and(|k| k != i.kind())
                        || q.feed
                            .as_deref()
                            .is_some_and(|f| !i.sources().iter().any(|s| &*s.feed == f))
                    {
                        continue;
                    }
                    total += 1;
                    if items.len() < limit {
                        items.push(view(i));
                    }
                }
            });
        }
        Ok(Json(IndicatorList { total, items }))
    })
    .await
}

/// The alerts an indicator raised, summed: its sightings.
fn sightings_of(
    monitor: &crate::Monitor,
    kind: &str,
    value: &str,
) -> Result<Option<serde_json::Value>, ApiError> {
    let rule_id = format!("intel:{kind}:{value}");
    let page = monitor
        .store
        .list(&AlertFilter {
            rule_id: Some(rule_id),
            limit: Some(AlertFilter::MAX_LIMIT),
            ..AlertFilter::default()
        })
        .map_err(state_error)?;
    if page.items.is_empty() {
        return Ok(None);
    }
    let mut hosts = std::collections::BTreeSet::new();
    let mut sources = std::collections::BTreeSet::new();
    let (mut events, mut retro) = (0, 0);
    for a in &page.items {
        events += a.count;
        if a.rule.tags.iter().any(|t| t == crate::intel::RETRO_TAG) {
            retro += 1;
        }
        hosts.extend(a.entities.host.clone());
        sources.insert(a.event.source.clone());
    }
    Ok(Some(serde_json::json!({
        "alerts": page.items.len(),
        "retro_alerts": retro,
        "events": events,
        "first_seen": page.items.iter().map(|a| a.first_seen).min(),
        "last_seen": page.items.iter().map(|a| a.last_seen).max(),
        "hosts": hosts,
        "sources": sources,
    })))
}

/// One indicator's sightings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SightingRow {
    pub kind: String,
    pub value: String,
    /// Alerts raised, and the events in them.
    pub alerts: u64,
    pub events: u64,
    #[schema(value_type = String)]
    pub last_seen: Timestamp,
}

/// Query of `GET /api/v1/intel/sightings`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct SightingQuery {
    /// Only sightings since this time (RFC 3339).
    pub since: Option<String>,
}

/// Every indicator seen in events (an intel alert), most events first.
#[utoipa::path(get, path = "/api/v1/intel/sightings", tag = "intel", params(SightingQuery),
    responses((status = 200, body = Vec<SightingRow>), (status = 400, description = "Bad time")))]
pub async fn list_sightings(
    Extension(monitor): Mon,
    Query(q): Query<SightingQuery>,
) -> Result<Json<Vec<SightingRow>>, ApiError> {
    let since = parse_time("since", &q.since)?;
    blocking(move || {
        let mut rows: Vec<SightingRow> = monitor
            .store
            .rule_hits(since)
            .map_err(state_error)?
            .into_iter()
            .filter_map(|h| {
                let (kind, value) = h.rule_id.strip_prefix("intel:")?.split_once(':')?;
                Some(SightingRow {
                    kind: kind.to_string(),
                    value: value.to_string(),
                    alerts: h.alerts,
                    events: h.events,
                    last_seen: h.last_seen,
                })
            })
            .collect();
        rows.sort_by(|a, b| b.events.cmp(&a.events).then(a.value.cmp(&b.value)));
        Ok(Json(rows))
    })
    .await
}

/// What the matcher says of `value` put in every entity field it could be in: an address, a
/// DNS name (parents included), a URL, an e-mail address, a hash of its length, a JA3, a user
/// agent or a file name.
fn lookup(matcher: &vigil_intel::Matcher, value: &str) -> Vec<vigil_intel::IntelMatch> {
    use vigil_core::{Entities, EntityField as F, HashAlgorithm};
    let value = value.trim();
    let mut e = Entities::new();
    if let Ok(ip) = value.parse::<std::net::IpAddr>() {
        e.add_ip(F::SrcIp, ip);
    }
    e.add_str(F::QueryHostname, value);
    if value.contains("://") {
        e.add_str(F::UrlString, value);
    }
    if value.contains('@') {
        e.add_str(F::ActorUserEmail, value);
    }
    if value.bytes().all(|b| b.is_ascii_hexdigit()) {
        let alg = match value.len() {
            32 => Some("MD5"),
            40 => Some("SHA1"),
            64 => Some("SHA256"),
            128 => Some("SHA512"),
            _ => None,
        };
        if let Some(alg) = alg.and_then(HashAlgorithm::from_name) {
            e.add_str(F::FileHash(alg), value);
        }
        if value.len() == 32 {
            e.add_str(F::TlsJa3, value);
        }
    }
    e.add_str(F::UserAgent, value);
    e.add_str(F::FileName, value);
    let mut out = Vec::new();
    matcher.match_entities(&e, &mut out);
    out
}

/// After an analyst closed `alert` as a false positive: when it is an intel alert, its
/// indicator's value goes on the allowlist with the verdict as the reason.
pub(crate) fn allow_false_positive(
    monitor: &crate::Monitor,
    alert: &vigil_store::state::Alert,
    update: &vigil_store::state::AlertUpdate,
) -> Result<(), ApiError> {
    let Some((kind, value)) = alert
        .rule
        .id
        .strip_prefix("intel:")
        .and_then(|r| r.split_once(':'))
    else {
        return Ok(());
    };
    let Some(kind) = IndicatorKind::from_name(kind) else {
        return Ok(());
    };
    let pattern = AllowPattern::value(kind, value).map_err(ApiError::internal)?;
    let reason = match update.comment.as_deref().map(str::trim) {
        Some(c) if !c.is_empty() => format!("false positive (alert {}): {c}", alert.id),
        _ => format!("false positive (alert {})", alert.id),
    };
    monitor
        .intel
        .allow(AllowEntry {
            pattern,
            reason,
            author: update.author.clone(),
            added: Timestamp::now(),
        })
        .map_err(state_error)
}

/// Body of `POST /api/v1/intel/allowlist`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowRequest {
    /// `value` (one value of `kind`), `cidr` (an address block) or `domain-suffix` (a domain
    /// and its subdomains).
    #[serde(rename = "match")]
    pub how: String,
    /// For `value`: `ipv4`, `domain`, `url`, `sha256`, …
    pub kind: Option<String>,
    pub value: String,
    /// Why it must never match (required).
    pub reason: String,
}

/// The allowlist: values, blocks and domain suffixes that never match, each with its reason,
/// author and time (analysts' false positives included).
#[utoipa::path(get, path = "/api/v1/intel/allowlist", tag = "intel",
    responses((status = 200, description = "`{items, total}`", content_type = "application/json")))]
pub async fn list_allowlist(Extension(monitor): Mon) -> Json<serde_json::Value> {
    let items = monitor.intel.allowlist();
    Json(serde_json::json!({ "total": items.len(), "items": items }))
}

/// Puts a value, block or domain suffix on the allowlist: it stops matching at once (live
/// detection, retro-hunts, exports).
#[utoipa::path(post, path = "/api/v1/intel/allowlist", tag = "intel", request_body = AllowRequest,
    responses((status = 200, description = "The entry", content_type = "application/json"),
              (status = 400, description = "Bad pattern or no reason")))]
pub async fn add_allowlist(
    Extension(monitor): Mon,
    Extension(who): Extension<vigil_server::Identity>,
    Json(req): Json<AllowRequest>,
) -> Result<Response, ApiError> {
    if req.reason.trim().is_empty() {
        return Err(ApiError::bad_request("an allowlist entry needs a reason"));
    }
    let pattern = match (req.how.as_str(), req.kind.as_deref()) {
        ("value", Some(k)) => {
            let kind = IndicatorKind::from_name(k)
                .ok_or_else(|| ApiError::bad_request(format!("unknown indicator kind `{k}`")))?;
            AllowPattern::value(kind, &req.value)
        }
        ("value", None) => return Err(ApiError::bad_request("`match: value` needs a `kind`")),
        ("cidr", _) => AllowPattern::cidr(&req.value),
        ("domain-suffix", _) => AllowPattern::domain_suffix(&req.value),
        (other, _) => {
            return Err(ApiError::bad_request(format!(
                "match `{other}`: use value, cidr or domain-suffix"
            )));
        }
    }
    .map_err(ApiError::bad_request)?;
    let entry = AllowEntry {
        pattern,
        reason: req.reason.trim().to_string(),
        author: crate::api::author(&who),
        added: Timestamp::now(),
    };
    let note = AuditNote(format!("allowlisted {}: {}", entry.pattern, entry.reason));
    let shown = serde_json::to_value(&entry).unwrap_or_default();
    blocking(move || monitor.intel.allow(entry).map_err(state_error)).await?;
    Ok((Extension(note), Json(shown)).into_response())
}

/// Query of `DELETE /api/v1/intel/allowlist`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DisallowQuery {
    /// The entry's pattern as listed: `domain example.com`, `cidr 10.0.0.0/8`,
    /// `domain-suffix cdn.example`.
    pub pattern: String,
}

/// Takes an entry off the allowlist: its values match again from now on.
#[utoipa::path(delete, path = "/api/v1/intel/allowlist", tag = "intel", params(DisallowQuery),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such entry")))]
pub async fn remove_allowlist(
    Extension(monitor): Mon,
    Query(q): Query<DisallowQuery>,
) -> Result<Response, ApiError> {
    let note = AuditNote(format!("allowlist entry removed: {}", q.pattern));
    let pattern = q.pattern.clone();
    let removed = blocking(move || monitor.intel.disallow(&pattern).map_err(state_error)).await?;
    if !removed {
        return Err(ApiError::not_found(format!(
            "no allowlist entry `{}`",
            q.pattern
        )));
    }
    Ok((Extension(note), axum::http::StatusCode::NO_CONTENT).into_response())
}

/// Query of `GET /api/v1/intel/export`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// `stix` (a STIX 2.1 bundle of indicators and sightings), `text` (one value per line of
    /// one `kind`) or `nftables` (an `nft -f` script of address sets).
    pub format: String,
    /// Kinds exported (`text` needs exactly one); all when absent.
    pub kind: Option<String>,
    /// Only indicators whose decayed confidence is at least this (0-100).
    pub min_confidence: Option<f64>,
    /// For `nftables`: the table (default `vigil`).
    pub table: Option<String>,
}

/// Exports the indicators that match now (live, not allowlisted, not decayed): as a STIX 2.1
/// bundle with their sightings, a plain blocklist, or nftables sets for the prevention side.
#[utoipa::path(get, path = "/api/v1/intel/export", tag = "intel", params(ExportQuery),
    responses((status = 200, description = "The export"), (status = 400, description = "Bad format, kind or table")))]
pub async fn export(
    Extension(monitor): Mon,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    use vigil_intel::export::{ExportFilter, blocklist, nftables_script, select, stix_bundle};
    let kind = q
        .kind
        .as_deref()
        .map(|k| {
            IndicatorKind::from_name(k)
                .ok_or_else(|| ApiError::bad_request(format!("unknown indicator kind `{k}`")))
        })
        .transpose()?;
    let filter = ExportFilter {
        min_confidence: q.min_confidence,
        kinds: kind.into_iter().collect(),
    };
    blocking(move || {
        monitor.intel.with_view(|set, view| {
            let sel = select(set, view, &filter, Timestamp::now());
            let (content_type, body) = match q.format.as_str() {
                "stix" => (
                    "application/stix+json;version=2.1",
                    serde_json::to_string(&stix_bundle(&sel, view)).unwrap_or_default(),
                ),
                "text" => {
                    let kind = kind.ok_or_else(|| {
                        ApiError::bad_request("`format=text` lists one kind: give `kind`")
                    })?;
                    ("text/plain; charset=utf-8", blocklist(&sel, kind))
                }
                "nftables" => (
                    "text/plain; charset=utf-8",
                    nftables_script(&sel, q.table.as_deref().unwrap_or("vigil"))
                        .map_err(|e| ApiError::bad_request(e.to_string()))?,
                ),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "format `{other}`: use stix, text or nftables"
                    )));
                }
            };
            Ok(([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response())
        })
    })
    .await
}
