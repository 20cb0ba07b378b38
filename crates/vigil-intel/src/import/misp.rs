//! MISP events (`{"Event": {...}}` as a MISP feed serves `<uuid>.json`, a bare event, a list
//! of them, or a REST search `{"response": [...]}`): the event's attributes and its objects'
//! attributes. Attributes whose type names an indicator kind become indicators; `to_ids:
//! false` (context, not for detection), deleted attributes and objects, and types that are
//! not indicators (`link`, `text`, `regkey`, …) are counted as skipped by reason. Event and
//! attribute tags become labels, `tlp:*` tags the TLP marking and `osint:certainty="N"` the
//! confidence.

use serde_json::Value as J;

use super::{Ctx, parse_time};
use crate::normalise::strip_port;
use crate::set::Location;
use crate::{IndicatorKind, NewIndicator, Source, Tlp};

pub(super) fn is_misp(doc: &J) -> bool {
    match doc {
        J::Object(m) => {
            m.contains_key("Event")
                || m.get("response").is_some_and(J::is_array)
                || (m.contains_key("info")
                    && (m.contains_key("Attribute") || m.contains_key("Object")))
        }
        J::Array(items) => items.first().is_some_and(is_misp),
        _ => false,
    }
}

pub(super) fn import(ctx: &mut Ctx<'_>, doc: &J) {
    match doc {
        J::Array(items) => items.iter().for_each(|e| import(ctx, e)),
        J::Object(m) if m.get("response").is_some_and(J::is_array) => {
            import(ctx, &m["response"]);
        }
        J::Object(m) => match m.get("Event") {
            Some(ev @ J::Object(_)) => event(ctx, ev),
            Some(_) => ctx
                .report
                .reject(Location::File, "`Event` is not an object"),
            None => event(ctx, doc),
        },
        _ => ctx
            .report
            .reject(Location::File, "a MISP event list item is not an object"),
    }
}

/// Labels, TLP and confidence from a `Tag` list.
#[derive(Clone, Default)]
struct Tags {
    labels: Vec<String>,
    tlp: Option<Tlp>,
    confidence: Option<u8>,
}

impl Tags {
    fn read(&mut self, holder: &J) {
        let Some(tags) = holder.get("Tag").and_then(J::as_array) else {
            return;
        };
        for name in tags
            .iter()
            .filter_map(|t| t.get("name").and_then(J::as_str))
        {
            let tlp_tag = name
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("tlp:"));
            if let Some(tlp) = Tlp::from_name(name).filter(|_| tlp_tag) {
                self.tlp = self.tlp.max(Some(tlp));
            } else if let Some(c) = name
                .strip_prefix("osint:certainty=\"")
                .and_then(|r| r.strip_suffix('"'))
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|c| *c <= 100)
            {
                self.confidence = self.confidence.max(Some(c));
            } else {
                self.labels.push(name.to_string());
            }
        }
    }
}

fn event(ctx: &mut Ctx<'_>, ev: &J) {
    let mut tags = Tags::default();
    tags.read(ev);
    if let Some(attrs) = ev.get("Attribute").and_then(J::as_array) {
        for (i, a) in attrs.iter().enumerate() {
            attribute(ctx, a, &tags, false, &|| format!("Attribute #{i}"));
        }
    }
    if let Some(objects) = ev.get("Object").and_then(J::as_array) {
        for (oi, o) in objects.iter().enumerate() {
            let deleted = truthy(o.get("deleted"));
            let Some(attrs) = o.get("Attribute").and_then(J::as_array) else {
                continue;
            };
            for (ai, a) in attrs.iter().enumerate() {
                attribute(ctx, a, &tags, deleted, &|| {
                    format!("Object #{oi} Attribute #{ai}")
                });
            }
        }
    }
}

/// MISP writes booleans as `true`, `"1"` or `1` depending on version.
fn truthy(v: Option<&J>) -> bool {
    match v {
        Some(J::Bool(b)) => *b,
        Some(J::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        Some(J::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

fn attribute(
    ctx: &mut Ctx<'_>,
    a: &J,
    tags: &Tags,
    object_deleted: bool,
    position: &dyn Fn() -> String,
) {
    ctx.report.read += 1;
    let uuid = a.get("uuid").and_then(J::as_str);
    let location = || Location::Object(uuid.map_or_else(position, str::to_string));
    let (Some(ty), Some(value)) = (
        a.get("type").and_then(J::as_str),
        a.get("value").and_then(J::as_str),
    ) else {
        ctx.report
            .reject(location(), "attribute without a string `type` and `value`");
        return;
    };
    if object_deleted || truthy(a.get("deleted")) {
        ctx.report.skip("misp deleted attribute");
        return;
    }
    let values = values_of(ty, value);
    if values.is_empty() {
        ctx.report
            .skip(format!("misp {ty} (not an indicator type)"));
        return;
    }
    if !ctx.opts.misp_include_non_ids && !truthy(a.get("to_ids")) {
        ctx.report.skip("misp to_ids false (not for detection)");
        return;
    }
    let mut tags = tags.clone();
    tags.read(a);
    let time = |name: &str| match a.get(name).and_then(J::as_str) {
        Some(s) => parse_time(s).map_err(|e| format!("`{name}`: {e}")),
        None => Ok(None),
    };
    let (first_seen, last_seen) = match (time("first_seen"), time("last_seen")) {
        (Ok(f), Ok(l)) => (f, l),
        (Err(e), _) | (_, Err(e)) => {
            ctx.report.reject(location(), e);
            return;
        }
    };
    for (kind, v) in values {
        let new = NewIndicator {
            kind,
            value: v.to_string(),
            confidence: tags.confidence,
            valid_from: None,
            valid_until: None,
            revoked: false,
            labels: tags.labels.clone(),
            tlp: tags.tlp,
            kill_chain: Vec::new(),
            scope: crate::Scope::Any,
            source: Source {
                feed: ctx.feed.clone(),
                external_id: uuid.map(Into::into),
                first_seen,
                last_seen,
            },
        };
        ctx.report.add(ctx.set, location, new);
    }
}

/// The indicator values of a MISP attribute (composite `a|b` types give one or two).
fn values_of<'v>(ty: &str, value: &'v str) -> Vec<(IndicatorKind, &'v str)> {
    use IndicatorKind as K;
    let ip = |v: &'v str| -> (K, &'v str) {
        let v = strip_port(v);
        if v.contains(':') {
            (K::Ipv6, v)
        } else {
            (K::Ipv4, v)
        }
    };
    let (first, second) = value.split_once('|').unwrap_or((value, ""));
    match ty {
        "ip-src" | "ip-dst" => vec![ip(value)],
        "ip-src|port" | "ip-dst|port" => vec![ip(first)],
        "domain" | "hostname" => vec![(K::Domain, value)],
        "hostname|port" => vec![(K::Domain, first)],
        "domain|ip" => vec![(K::Domain, first), ip(second)],
        "url" => vec![(K::Url, value)],
        "md5" => vec![(K::Md5, value)],
        "sha1" => vec![(K::Sha1, value)],
        "sha256" => vec![(K::Sha256, value)],
        "sha512" => vec![(K::Sha512, value)],
        "filename|md5" => vec![(K::Md5, second)],
        "filename|sha1" => vec![(K::Sha1, second)],
        "filename|sha256" => vec![(K::Sha256, second)],
        "filename|sha512" => vec![(K::Sha512, second)],
        "filename" => vec![(K::FileName, value)],
        "email" | "email-src" | "email-dst" | "email-reply-to" => vec![(K::Email, value)],
        "user-agent" => vec![(K::UserAgent, value)],
        "ja3-fingerprint-md5" => vec![(K::Ja3, value)],
        _ => Vec::new(),
    }
}
