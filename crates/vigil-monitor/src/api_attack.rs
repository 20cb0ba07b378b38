//! The ATT&CK routes: which techniques the enabled rules cover, and the same as an ATT&CK
//! Navigator layer. They need the Enterprise catalogue (`[monitor.assess] attack_catalog`).

use axum::Extension;
use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use vigil_risk::{Coverage, RuleTags, coverage, navigator_layer};
use vigil_server::ApiError;

use crate::Monitor;
use crate::api::{Mon, blocking};
use crate::rules::rule_key;

/// The enabled rules' tags, as coverage reads them.
pub fn enabled_rule_tags(monitor: &Monitor) -> Vec<RuleTags> {
    let snapshot = monitor.rules.current();
    snapshot
        .rules
        .engine
        .rules()
        .iter()
        .enumerate()
        .filter(|(i, _)| !snapshot.is_disabled(*i))
        .map(|(_, r)| RuleTags {
            id: rule_key(r).to_string(),
            title: r.title.clone(),
            level: r.level.map(|l| l.to_string()),
            tags: r.tags.clone(),
        })
        .collect()
}

fn covered(monitor: &Monitor) -> Result<Coverage, ApiError> {
    let Some(catalog) = monitor.attack.as_ref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no ATT&CK catalogue: download MITRE's enterprise-attack.json (github.com/mitre-attack/attack-stix-data) and set `attack_catalog` under [monitor.assess]",
        ));
    };
    Ok(coverage(catalog, enabled_rule_tags(monitor).into_iter()))
}

/// Which ATT&CK techniques and sub-techniques the enabled rules cover (directly, or through a
/// sub-technique), per tactic covered/total, the uncovered ones, and tags naming nothing known.
#[utoipa::path(get, path = "/api/v1/attack/coverage", tag = "assessment",
    responses((status = 200, description = "The coverage report", content_type = "application/json"),
              (status = 404, description = "No ATT&CK catalogue configured")))]
pub async fn attack_coverage(Extension(monitor): Mon) -> Result<Json<Coverage>, ApiError> {
    blocking(move || covered(&monitor).map(Json)).await
}

/// Query of `GET /api/v1/attack/navigator`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LayerQuery {
    /// The layer's name (default `Vigil rule coverage`).
    pub name: Option<String>,
}

/// The coverage as an ATT&CK Navigator layer (format 4.5): each covered technique scored by
/// the number of rules, with their titles in the comment.
#[utoipa::path(get, path = "/api/v1/attack/navigator", tag = "assessment", params(LayerQuery),
    responses((status = 200, description = "An ATT&CK Navigator layer", content_type = "application/json"),
              (status = 404, description = "No ATT&CK catalogue configured")))]
pub async fn attack_navigator(
    Extension(monitor): Mon,
    Query(q): Query<LayerQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = q.name.unwrap_or_else(|| "Vigil rule coverage".into());
    blocking(move || covered(&monitor).map(|c| Json(navigator_layer(&c, &name)))).await
}
