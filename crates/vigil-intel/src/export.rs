//! Exports: the indicators that should match now, as a STIX 2.1 bundle (with their sightings)
//! for other platforms, and as blocklists — plain text per kind and an nftables script — for
//! the prevention side.
//!
//! What this is for: [`select`] picks the indicators of an [`IntelSet`] that are live, not
//! allowlisted, not decayed (see [`crate::lifecycle`]), of the wanted kinds and at least the
//! wanted effective confidence, and says how many each reason left out; [`stix_bundle`],
//! [`blocklist`] and [`nftables_script`] write a selection. What it is not for: pushing the
//! result anywhere (callers write files, serve them, or pipe the script into `nft -f`).
//!
//! STIX ids are UUIDv5 of the kind and value (`indicator--…`, `sighting--…`) under a fixed
//! Vigil namespace, so exporting the same indicator again gives the same id and consumers
//! update instead of duplicating. The bundle reads back through Vigil's own STIX importer to
//! the same indicators (kind, value, confidence, validity end, labels, TLP, kill-chain
//! phases; `valid_from` is required by STIX, so an indicator without one is exported with
//! its first sighting by a feed, else the export time).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::lifecycle::{Effective, LifecycleView};
use crate::matcher::LeftOut;
use crate::{Indicator, IndicatorKind, IntelSet, Scope, Tlp};

/// The namespace of Vigil's UUIDv5 STIX ids (a fixed random UUID: changing it would change
/// every exported id).
pub const STIX_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f3a_9c1e_54d2_4b8a_9e07_d1c2_b3a4_f5e6);

/// The predefined STIX 2.1 TLP 1.0 marking definitions, and OASIS's TLP 2.0 AMBER+STRICT
/// (which has no 1.0 equivalent; its definition object is put into the bundle).
fn tlp_marking(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Green => "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Amber => "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::AmberStrict => AMBER_STRICT,
        Tlp::Red => "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    }
}

const AMBER_STRICT: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";

/// Which indicators to export.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportFilter {
    /// Only indicators whose effective (decayed) confidence is at least this (0–100).
    pub min_confidence: Option<f64>,
    /// Only these kinds; all when empty.
    pub kinds: Vec<IndicatorKind>,
}

/// The indicators chosen for export, each with its confidence now, and what was left out.
#[derive(Clone, Debug)]
pub struct Selection<'a> {
    /// When the selection was made (the time exports write as generated).
    pub now: Timestamp,
    /// The chosen indicators, sorted by kind and value.
    pub indicators: Vec<(&'a Indicator, Effective)>,
    /// Indicators left out, counted by reason.
    pub excluded: BTreeMap<&'static str, usize>,
}

/// Chooses the indicators of `set` to export at `now`: live (not revoked, not expired, valid
/// from), not allowlisted, not decayed below the floor, of `filter`'s kinds and confidence.
pub fn select<'a>(
    set: &'a IntelSet,
    view: &LifecycleView<'_>,
    filter: &ExportFilter,
    now: Timestamp,
) -> Selection<'a> {
    let mut excluded = BTreeMap::new();
    let mut indicators = Vec::new();
    for ind in set.iter() {
        let why = if ind.revoked() {
            Some("revoked")
        } else if ind.valid_until().is_some_and(|t| t <= now) {
            Some("expired")
        } else if ind.valid_from().is_some_and(|t| t > now) {
            Some("not yet valid")
        } else if !filter.kinds.is_empty() && !filter.kinds.contains(&ind.kind()) {
            Some("kind not selected")
        } else {
            match view.leave_out(ind, now) {
                Some(LeftOut::Allowlisted) => Some("allowlisted"),
                Some(LeftOut::Decayed) => Some("decayed"),
                None => None,
            }
        };
        if let Some(why) = why {
            *excluded.entry(why).or_default() += 1;
            continue;
        }
        let eff = view.model.effective_confidence(ind, view.sightings, now);
        if filter.min_confidence.is_some_and(|min| eff.score < min) {
            *excluded.entry("below min confidence").or_default() += 1;
            continue;
        }
        indicators.push((ind, eff));
    }
    indicators.sort_by(|a, b| (a.0.kind(), a.0.value()).cmp(&(b.0.kind(), b.0.value())));
    Selection {
        now,
        indicators,
        excluded,
    }
}

/// `2026-12-01T00:00:00.000Z`: a timestamp to the millisecond, as STIX 2.1 requires of
/// `created` and `modified`.
pub fn stix_millis(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The STIX 2.1 id of the indicator of `kind` and normalised `value`.
pub fn indicator_id(kind: IndicatorKind, value: &str) -> String {
    format!("indicator--{}", uuid5("indicator", kind, value))
}

/// The STIX 2.1 id of the sighting object of that indicator.
pub fn sighting_id(kind: IndicatorKind, value: &str) -> String {
    format!("sighting--{}", uuid5("sighting", kind, value))
}

fn uuid5(object: &str, kind: IndicatorKind, value: &str) -> Uuid {
    Uuid::new_v5(
        &STIX_ID_NAMESPACE,
        format!("{object}:{}:{value}", kind.name()).as_bytes(),
    )
}

/// The STIX object path an indicator kind's value is compared on; `None` for JA3, which STIX
/// 2.1 has no property for.
fn object_path(kind: IndicatorKind) -> Option<&'static str> {
    use IndicatorKind as K;
    Some(match kind {
        K::Ipv4 => "ipv4-addr:value",
        K::Ipv6 => "ipv6-addr:value",
        K::Domain => "domain-name:value",
        K::Url => "url:value",
        K::Email => "email-addr:value",
        K::Md5 => "file:hashes.MD5",
        K::Sha1 => "file:hashes.'SHA-1'",
        K::Sha256 => "file:hashes.'SHA-256'",
        K::Sha512 => "file:hashes.'SHA-512'",
        K::UserAgent => "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
        K::FileName => "file:name",
        K::Ja3 => return None,
    })
}

/// The STIX pattern `[path = 'value']`, quotes and backslashes escaped.
pub fn stix_pattern(kind: IndicatorKind, value: &str) -> Option<String> {
    stix_pattern_scoped(kind, value, Scope::Any)
}

/// [`stix_pattern`] for an indicator that counts on one side of a connection only: an address
/// or name of [`Scope::Source`] is `network-traffic:src_ref.value`, of
/// [`Scope::Destination`] `dst_ref.value`, so the side survives a round trip.
pub fn stix_pattern_scoped(kind: IndicatorKind, value: &str, scope: Scope) -> Option<String> {
    use IndicatorKind as K;
    let path = match (scope, kind) {
        (Scope::Source, K::Ipv4 | K::Ipv6 | K::Domain) => "network-traffic:src_ref.value",
        (Scope::Destination, K::Ipv4 | K::Ipv6 | K::Domain) => "network-traffic:dst_ref.value",
        _ => object_path(kind)?,
    };
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    Some(format!("[{path} = '{escaped}']"))
}

/// A STIX 2.1 bundle of the selected indicators and their sightings (see the module docs).
/// JA3 indicators have no STIX pattern and are left out, counted in the bundle's
/// `x_vigil_left_out`.
pub fn stix_bundle(sel: &Selection<'_>, view: &LifecycleView<'_>) -> Value {
    // STIX 2.1 wants `created` and `modified` to the millisecond (the OASIS validator checks).
    let now = stix_millis(sel.now);
    let mut objects = Vec::new();
    let mut strict = false;
    let mut left_out = 0;
    for (ind, eff) in &sel.indicators {
        let Some(pattern) = stix_pattern_scoped(ind.kind(), ind.value(), ind.scope()) else {
            left_out += 1;
            continue;
        };
        let id = indicator_id(ind.kind(), ind.value());
        let valid_from = ind
            .valid_from()
            .or_else(|| ind.first_seen())
            .unwrap_or(sel.now);
        let mut o = json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": id,
            "created": now,
            "modified": now,
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": valid_from.to_string(),
            "x_vigil_kind": ind.kind().name(),
            "x_vigil_effective_confidence": (eff.score * 10.0).round() / 10.0,
        });
        if let Some(until) = ind.valid_until() {
            o["valid_until"] = json!(until.to_string());
        }
        if let Some(c) = ind.confidence() {
            o["confidence"] = json!(c);
        }
        if !ind.labels().is_empty() {
            o["labels"] = json!(ind.labels().iter().map(|l| &**l).collect::<Vec<_>>());
        }
        if let Some(tlp) = ind.tlp() {
            strict |= tlp == Tlp::AmberStrict;
            o["object_marking_refs"] = json!([tlp_marking(tlp)]);
        }
        if !ind.kill_chain().is_empty() {
            o["kill_chain_phases"] = ind
                .kill_chain()
                .iter()
                .map(|p| json!({"kill_chain_name": &*p.kill_chain_name, "phase_name": &*p.phase_name}))
                .collect();
        }
        o["external_references"] = ind
            .sources()
            .iter()
            .map(|s| {
                let mut r = json!({"source_name": &*s.feed});
                if let Some(eid) = &s.external_id {
                    r["external_id"] = json!(&**eid);
                }
                let mut seen = Vec::new();
                if let Some(t) = s.first_seen {
                    seen.push(format!("first seen {t}"));
                }
                if let Some(t) = s.last_seen {
                    seen.push(format!("last seen {t}"));
                }
                // STIX wants more than a source name in a reference.
                r["description"] = json!(if seen.is_empty() {
                    format!("named by feed {}", s.feed)
                } else {
                    seen.join(", ")
                });
                r
            })
            .collect();
        objects.push(o);
        if let Some(s) = view.sightings.get(ind.kind(), ind.value()) {
            objects.push(json!({
                "type": "sighting",
                "spec_version": "2.1",
                "id": sighting_id(ind.kind(), ind.value()),
                "created": now,
                "modified": now,
                "sighting_of_ref": id,
                // STIX caps count at 999,999,999.
                "count": s.count.min(999_999_999),
                "first_seen": s.first_seen.to_string(),
                "last_seen": s.last_seen.to_string(),
                "x_vigil_where": s.places,
                "x_vigil_places_dropped": s.places_dropped,
            }));
        }
    }
    if strict {
        objects.insert(
            0,
            json!({
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": AMBER_STRICT,
                "created": "2022-10-01T00:00:00.000Z",
                "name": "TLP:AMBER+STRICT",
                "extensions": {
                    "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                        "extension_type": "property-extension",
                        "tlp_2_0": "amber+strict"
                    }
                }
            }),
        );
    }
    let ids: Vec<&str> = objects.iter().filter_map(|o| o["id"].as_str()).collect();
    let bundle_id = Uuid::new_v5(&STIX_ID_NAMESPACE, ids.join(",").as_bytes());
    json!({
        "type": "bundle",
        "id": format!("bundle--{bundle_id}"),
        "objects": objects,
        "x_vigil_generated": now,
        "x_vigil_left_out": {"ja3 (no STIX 2.1 object path)": left_out},
    })
}

/// A plain-text blocklist of the selected indicators of `kind`: a `#` header with the kind,
/// the generation time and the count, then one value per line, sorted.
pub fn blocklist(sel: &Selection<'_>, kind: IndicatorKind) -> String {
    let values: Vec<&str> = sel
        .indicators
        .iter()
        .filter(|(i, _)| i.kind() == kind)
        .map(|(i, _)| i.value())
        .collect();
    let mut out = format!(
        "# vigil blocklist: {kind}\n# generated {}; {} values\n",
        sel.now,
        values.len()
    );
    for v in values {
        // Values are normalised (no newlines in IPs, domains, URLs or hashes); user agents and
        // file names are kept on one line all the same.
        out.push_str(&v.replace(['\n', '\r'], " "));
        out.push('\n');
    }
    out
}

/// A refused nftables table name.
#[derive(Debug, thiserror::Error)]
#[error("nftables table name `{0}`: use 1–64 letters, digits and `_`, starting with a letter")]
pub struct TableNameError(pub String);

/// An nftables script (for `nft -f`) that defines, in table `inet <table>`, the named sets
/// `vigil_ipv4` (`ipv4_addr`) and `vigil_ipv6` (`ipv6_addr`) with `flags interval` (so CIDR
/// blocks fit) and `auto-merge` (overlapping blocks and addresses merge), then replaces their
/// elements with the selected IP indicators. Other objects of the table are left alone and
/// the whole file is one transaction, so re-running it swaps the lists atomically. Rules
/// that use the sets (`ip saddr @vigil_ipv4 drop`) are the caller's.
pub fn nftables_script(sel: &Selection<'_>, table: &str) -> Result<String, TableNameError> {
    let ok = (1..=64).contains(&table.len())
        && table.starts_with(|c: char| c.is_ascii_alphabetic())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(TableNameError(table.to_string()));
    }
    let of = |kind| -> Vec<&str> {
        sel.indicators
            .iter()
            .filter(|(i, _)| i.kind() == kind)
            .map(|(i, _)| i.value())
            .collect()
    };
    let (v4, v6) = (of(IndicatorKind::Ipv4), of(IndicatorKind::Ipv6));
    let mut out = format!(
        "#!/usr/sbin/nft -f\n# vigil blocklist, generated {}: {} IPv4 and {} IPv6 addresses or blocks\n",
        sel.now,
        v4.len(),
        v6.len()
    );
    let _ = writeln!(out, "table inet {table} {{");
    for (set, ty) in [("vigil_ipv4", "ipv4_addr"), ("vigil_ipv6", "ipv6_addr")] {
        let _ = writeln!(
            out,
            "\tset {set} {{\n\t\ttype {ty}\n\t\tflags interval\n\t\tauto-merge\n\t}}"
        );
    }
    out.push_str("}\n");
    for (set, values) in [("vigil_ipv4", &v4), ("vigil_ipv6", &v6)] {
        let _ = writeln!(out, "flush set inet {table} {set}");
        // Elements in chunks, so no line grows without bound.
        for chunk in values.chunks(256) {
            let _ = writeln!(
                out,
                "add element inet {table} {set} {{ {} }}",
                chunk.join(", ")
            );
        }
    }
    Ok(out)
}
