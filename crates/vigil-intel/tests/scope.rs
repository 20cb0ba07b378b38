//! Connection sides: a STIX `network-traffic:dst_ref.value` / `src_ref.value` indicator
//! matches its value only on that side of an event (and on the names an event connects to,
//! for a destination), a second feed naming the value anywhere widens it back, a newer version
//! of the same STIX object replaces the side, and the side survives a STIX export and re-import.

use jiff::Timestamp;
use serde_json::json;
use vigil_core::{Entities, EntityField as F};
use vigil_intel::export::{ExportFilter, select, stix_bundle};
use vigil_intel::{
    Allowlist, DecayModel, ImportOptions, IndicatorKind as K, IntelSet, LifecycleView, Matcher,
    Scope, Sightings,
};

fn now() -> Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

/// A bundle of one STIX indicator per `(id suffix, pattern)`.
fn bundle(patterns: &[(u32, &str)]) -> Vec<u8> {
    let objects: Vec<_> = patterns
        .iter()
        .map(|(n, p)| {
            json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
                "created": "2026-01-01T00:00:00.000Z",
                "modified": "2026-01-01T00:00:00.000Z",
                "pattern": p,
                "pattern_type": "stix",
                "valid_from": "2020-01-01T00:00:00Z"
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": objects
    }))
    .unwrap()
}

fn import(set: &mut IntelSet, feed: &str, bytes: &[u8]) {
    let r = set.import_bytes(feed, bytes, &ImportOptions::default());
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}

/// The fields of a one-value event that matched, for each field the value is put in.
fn matching_fields(m: &Matcher, value: &str, fields: &[F]) -> Vec<F> {
    fields
        .iter()
        .copied()
        .filter(|f| {
            let mut e = Entities::new();
            e.add_str(*f, value);
            let mut out = Vec::new();
            m.match_entities(&e, &mut out);
            !out.is_empty()
        })
        .collect()
}

const IP_FIELDS: [F; 3] = [F::SrcIp, F::DstIp, F::DeviceIp];
const NAME_FIELDS: [F; 5] = [
    F::SrcHostname,
    F::DstHostname,
    F::QueryHostname,
    F::UrlHostname,
    F::TlsSni,
];

#[test]
fn a_side_matches_only_there() {
    let mut set = IntelSet::new();
    import(
        &mut set,
        "stix",
        &bundle(&[
            (1, "[network-traffic:dst_ref.value = '198.51.100.7']"),
            (2, "[network-traffic:src_ref.value = '203.0.113.0/24']"),
            (3, "[network-traffic:dst_ref.value = 'c2.evil.example']"),
            (4, "[network-traffic:src_ref.value = 'scanner.example']"),
            (5, "[ipv4-addr:value = '192.0.2.1']"),
        ]),
    );
    assert_eq!(
        set.get(K::Ipv4, "198.51.100.7").unwrap().scope(),
        Scope::Destination
    );
    assert_eq!(set.get(K::Ipv4, "192.0.2.1").unwrap().scope(), Scope::Any);
    let m = Matcher::build(&set, now());

    assert_eq!(matching_fields(&m, "198.51.100.7", &IP_FIELDS), [F::DstIp]);
    // Inside a source-side block.
    assert_eq!(matching_fields(&m, "203.0.113.9", &IP_FIELDS), [F::SrcIp]);
    assert_eq!(matching_fields(&m, "192.0.2.1", &IP_FIELDS), IP_FIELDS);
    // A destination name counts where an event connects to it, and for its subdomains.
    assert_eq!(
        matching_fields(&m, "www.c2.evil.example", &NAME_FIELDS),
        [F::DstHostname, F::QueryHostname, F::UrlHostname, F::TlsSni]
    );
    assert_eq!(
        matching_fields(&m, "scanner.example", &NAME_FIELDS),
        [F::SrcHostname]
    );
}

#[test]
fn feeds_widen_and_newer_versions_replace_the_side() {
    let mut set = IntelSet::new();
    import(
        &mut set,
        "stix",
        &bundle(&[(1, "[network-traffic:dst_ref.value = '198.51.100.7']")]),
    );
    // A newer version of the same object says source: it replaces the side.
    import(
        &mut set,
        "stix",
        &bundle(&[(1, "[network-traffic:src_ref.value = '198.51.100.7']")]),
    );
    let ind = set.get(K::Ipv4, "198.51.100.7").unwrap();
    assert_eq!((ind.scope(), ind.sources().len()), (Scope::Source, 1));
    // Another feed naming the address anywhere: it counts anywhere.
    import(&mut set, "list", b"198.51.100.7\n");
    let ind = set.get(K::Ipv4, "198.51.100.7").unwrap();
    assert_eq!((ind.scope(), ind.sources().len()), (Scope::Any, 2));
    let m = Matcher::build(&set, now());
    assert_eq!(matching_fields(&m, "198.51.100.7", &IP_FIELDS), IP_FIELDS);
}

#[test]
fn the_side_survives_a_stix_round_trip() {
    let mut set = IntelSet::new();
    import(
        &mut set,
        "stix",
        &bundle(&[
            (1, "[network-traffic:dst_ref.value = '2001:db8::7']"),
            (2, "[network-traffic:src_ref.value = 'scanner.example']"),
            (3, "[domain-name:value = 'evil.example']"),
        ]),
    );
    // Nothing decays here: the round trip is about what the bundle carries.
    let model = DecayModel {
        floor: 0.0,
        ..DecayModel::default()
    };
    let (sightings, allowlist) = (Sightings::new(), Allowlist::new());
    let view = LifecycleView {
        model: &model,
        sightings: &sightings,
        allowlist: &allowlist,
    };
    let sel = select(&set, &view, &ExportFilter::default(), now());
    assert_eq!(sel.indicators.len(), 3, "{:?}", sel.excluded);
    let out = stix_bundle(&sel, &view);
    let patterns: Vec<&str> = out["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["pattern"].as_str())
        .collect();
    assert!(
        patterns.contains(&"[network-traffic:dst_ref.value = '2001:db8::7']"),
        "{patterns:?}"
    );
    assert!(patterns.contains(&"[network-traffic:src_ref.value = 'scanner.example']"));
    assert!(patterns.contains(&"[domain-name:value = 'evil.example']"));

    let mut back = IntelSet::new();
    import(&mut back, "export", &serde_json::to_vec(&out).unwrap());
    for (kind, value, scope) in [
        (K::Ipv6, "2001:db8::7", Scope::Destination),
        (K::Domain, "scanner.example", Scope::Source),
        (K::Domain, "evil.example", Scope::Any),
    ] {
        assert_eq!(back.get(kind, value).unwrap().scope(), scope, "{value}");
    }
}
