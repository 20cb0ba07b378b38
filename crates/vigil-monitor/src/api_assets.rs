//! `GET /api/v1/assets`: the inventory's assets next to what telemetry shows — every host,
//! user and IP address seen in stored events, with first and last seen and how many events,
//! marked managed (an inventory asset) or not. Unmanaged hosts and addresses are the attack
//! surface nobody listed.

use axum::extract::Query;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigil_server::ApiError;

use crate::api::Mon;

/// The lake query behind the discovered assets: hosts (the logging device), acting users, and
/// both ends' addresses, grouped with their first and last event time.
const DISCOVERY_SQL: &str = "\
SELECT kind, value, min(time) AS first_seen, max(time) AS last_seen, count(*) AS events FROM (\
  SELECT 'host' AS kind, lower(device_hostname) AS value, time FROM events WHERE device_hostname IS NOT NULL \
  UNION ALL SELECT 'user' AS kind, lower(actor_user_name) AS value, time FROM events WHERE actor_user_name IS NOT NULL \
  UNION ALL SELECT 'ip' AS kind, src_ip AS value, time FROM events WHERE src_ip IS NOT NULL \
  UNION ALL SELECT 'ip' AS kind, dst_ip AS value, time FROM events WHERE dst_ip IS NOT NULL\
) GROUP BY kind, value ORDER BY last_seen DESC";

/// Query of `GET /api/v1/assets`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct AssetQuery {
    /// Only `host`, `user` or `ip` entities.
    pub kind: Option<String>,
    /// Only entities no inventory asset accounts for (hosts and addresses).
    #[serde(default)]
    pub unmanaged: bool,
    /// Discovered entities listed at most (default 500, at most 10,000).
    pub limit: Option<usize>,
}

/// One host, user or address seen in events.
#[derive(Debug, Serialize, ToSchema)]
pub struct Discovered {
    pub kind: String,
    pub value: String,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub events: u64,
    /// The inventory asset it is (by host name or address), if any.
    pub asset: Option<String>,
}

/// Answer of `GET /api/v1/assets`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetList {
    /// The imported inventory.
    #[schema(value_type = Vec<Object>)]
    pub inventory: Vec<vigil_risk::Asset>,
    /// Entities seen in stored events, most recently seen first.
    pub discovered: Vec<Discovered>,
    /// Discovered entities matching the filters (all counted, `limit` listed).
    pub discovered_total: usize,
    /// Of the hosts and addresses seen, how many no inventory asset accounts for.
    pub unmanaged: usize,
}

/// The inventory and the hosts, users and addresses seen in stored events (first and last
/// seen, events), each marked with the inventory asset it is, if any.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assessment", params(AssetQuery),
    responses((status = 200, body = AssetList), (status = 400, description = "Bad kind"),
              (status = 503, description = "The lake is disabled")))]
pub async fn list_assets(
    Extension(monitor): Mon,
    Query(q): Query<AssetQuery>,
) -> Result<Json<AssetList>, ApiError> {
    if let Some(k) = &q.kind
        && !matches!(k.as_str(), "host" | "user" | "ip")
    {
        return Err(ApiError::bad_request(format!(
            "kind `{k}`: use host, user or ip"
        )));
    }
    let limit = q.limit.unwrap_or(500).clamp(1, 10_000);
    let inventory = monitor
        .inventory
        .current()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let Some(lake) = monitor.lake.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the event lake is disabled ([monitor.lake] enabled = false): nothing to discover from",
        ));
    };
    let limits = vigil_store::lake::QueryLimits {
        max_rows: 1_000_000,
        ..vigil_store::lake::QueryLimits::default()
    };
    let result = lake
        .query(DISCOVERY_SQL, &limits)
        .await
        .map_err(|e| ApiError::internal(format!("discovering assets: {e}")))?;
    let rows = result
        .json_rows()
        .map_err(|e| ApiError::internal(format!("discovering assets: {e}")))?;
    let mut discovered = Vec::new();
    let mut unmanaged = 0;
    let mut total = 0;
    for row in rows {
        let text = |k: &str| row.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let (Some(kind), Some(value)) = (text("kind"), text("value")) else {
            continue;
        };
        let asset = match kind.as_str() {
            "host" => inventory.by_hostname(&value),
            "ip" => value.parse().ok().and_then(|ip| inventory.by_ip(ip)),
            _ => None,
        }
        .map(|a| a.id.clone());
        let is_unmanaged = asset.is_none() && kind != "user";
        unmanaged += usize::from(is_unmanaged);
        if q.kind.as_deref().is_some_and(|k| k != kind) || (q.unmanaged && !is_unmanaged) {
            continue;
        }
        total += 1;
        if discovered.len() < limit {
            discovered.push(Discovered {
                first_seen: text("first_seen"),
                last_seen: text("last_seen"),
                events: row.get("events").and_then(|v| v.as_u64()).unwrap_or(0),
                kind,
                value,
                asset,
            });
        }
    }
    Ok(Json(AssetList {
        inventory: inventory.assets().cloned().collect(),
        discovered,
        discovered_total: total,
        unmanaged,
    }))
}
