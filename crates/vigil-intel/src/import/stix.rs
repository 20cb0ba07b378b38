//! STIX 2.1 bundles: each `indicator` object with `pattern_type: stix` becomes the values its
//! pattern stands for (see `stix_pattern`), carrying the object's confidence, validity,
//! labels and indicator types, kill-chain phases, TLP marking and revocation. Other objects
//! (relationships, malware, observed-data and cyber-observables, …) are not indicators and
//! are counted by type; a pattern part that cannot become values is a rejection naming the
//! object id and the reason.

use std::collections::HashMap;

use serde_json::Value as J;

use super::stix_pattern;
use super::{Ctx, parse_time};
use crate::set::Location;
use crate::{NewIndicator, Source, Tlp};

/// True for a bundle, or a single STIX object (an object with `type` and a `--` id).
pub(super) fn is_stix(doc: &J) -> bool {
    let ty = doc.get("type").and_then(J::as_str);
    ty == Some("bundle")
        || (ty.is_some()
            && doc
                .get("id")
                .and_then(J::as_str)
                .is_some_and(|i| i.contains("--")))
}

pub(super) fn import(ctx: &mut Ctx<'_>, doc: &J) {
    let objects: Vec<&J> = if doc.get("type").and_then(J::as_str) == Some("bundle") {
        match doc.get("objects") {
            Some(J::Array(items)) => items.iter().collect(),
            None => Vec::new(),
            Some(_) => {
                ctx.report
                    .reject(Location::File, "bundle `objects` is not an array");
                return;
            }
        }
    } else {
        vec![doc]
    };
    let markings = tlp_markings(&objects);
    for (i, obj) in objects.iter().enumerate() {
        ctx.report.read += 1;
        let id = obj.get("id").and_then(J::as_str);
        let location = || Location::Object(id.map_or_else(|| format!("#{i}"), str::to_string));
        let Some(ty) = obj.get("type").and_then(J::as_str) else {
            ctx.report.reject(location(), "object without a `type`");
            continue;
        };
        if ty != "indicator" {
            ctx.report.skip(format!("stix {ty} (not an indicator)"));
            continue;
        }
        if let Err(reason) = indicator(ctx, obj, id, &markings, &location) {
            ctx.report.reject(location(), reason);
        }
    }
}

/// TLP of marking-definition objects in the bundle (TLP 1.0 `definition_type: tlp`, or a
/// TLP name), beside the predefined ids.
fn tlp_markings(objects: &[&J]) -> HashMap<String, Tlp> {
    let mut out = HashMap::new();
    for o in objects {
        if o.get("type").and_then(J::as_str) != Some("marking-definition") {
            continue;
        }
        let Some(id) = o.get("id").and_then(J::as_str) else {
            continue;
        };
        let tlp = o
            .pointer("/definition/tlp")
            .and_then(J::as_str)
            .or_else(|| o.get("name").and_then(J::as_str))
            .and_then(Tlp::from_name);
        if let Some(tlp) = tlp {
            out.insert(id.to_string(), tlp);
        }
    }
    out
}

fn indicator(
    ctx: &mut Ctx<'_>,
    obj: &J,
    id: Option<&str>,
    markings: &HashMap<String, Tlp>,
    location: &dyn Fn() -> Location,
) -> Result<(), String> {
    let id = id.ok_or("indicator without an `id`")?;
    let pattern_type = obj
        .get("pattern_type")
        .and_then(J::as_str)
        .unwrap_or("stix");
    if pattern_type != "stix" {
        return Err(format!(
            "pattern_type `{pattern_type}` is not supported (only `stix`)"
        ));
    }
    let pattern = obj
        .get("pattern")
        .and_then(J::as_str)
        .ok_or("indicator without a `pattern` string")?;
    let time = |name: &str| -> Result<Option<jiff::Timestamp>, String> {
        match obj.get(name) {
            None | Some(J::Null) => Ok(None),
            Some(J::String(s)) => parse_time(s).map_err(|e| format!("`{name}`: {e}")),
            Some(_) => Err(format!("`{name}` is not a string")),
        }
    };
    let valid_from = time("valid_from")?;
    let valid_until = time("valid_until")?;
    let confidence = match obj.get("confidence") {
        None | Some(J::Null) => None,
        Some(c) => Some(
            c.as_u64()
                .filter(|c| *c <= 100)
                .ok_or_else(|| format!("`confidence` {c} is not an integer 0–100"))?
                as u8,
        ),
    };
    let strings = |name: &str| -> Vec<String> {
        obj.get(name)
            .and_then(J::as_array)
            .map(|a| a.iter().filter_map(J::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let mut labels = strings("indicator_types");
    labels.extend(strings("labels"));
    if let Some(name) = obj.get("name").and_then(J::as_str) {
        labels.push(name.to_string());
    }
    let kill_chain: Vec<(String, String)> = obj
        .get("kill_chain_phases")
        .and_then(J::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        p.get("kill_chain_name")?.as_str()?.to_string(),
                        p.get("phase_name")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let tlp = strings("object_marking_refs")
        .iter()
        .filter_map(|m| Tlp::from_stix_marking(m).or_else(|| markings.get(m).copied()))
        .max();
    let revoked = obj.get("revoked").and_then(J::as_bool).unwrap_or(false);

    let conv = stix_pattern::convert(pattern).map_err(|e| format!("pattern syntax: {e}"))?;
    if conv.values.is_empty() {
        return Err(format!(
            "pattern `{pattern}` has no part that is a value: {}",
            conv.unsupported.join("; ")
        ));
    }
    if !conv.unsupported.is_empty() {
        ctx.report.reject(
            location(),
            format!(
                "pattern `{pattern}` imported in part; not imported: {}",
                conv.unsupported.join("; ")
            ),
        );
    }
    for (kind, value, scope) in conv.values {
        let new = NewIndicator {
            kind,
            value,
            confidence,
            valid_from,
            valid_until,
            revoked,
            labels: labels.clone(),
            tlp,
            kill_chain: kill_chain.clone(),
            scope,
            source: Source {
                feed: ctx.feed.clone(),
                external_id: Some(id.into()),
                first_seen: None,
                last_seen: None,
            },
        };
        ctx.report.add(ctx.set, location, new);
    }
    Ok(())
}
