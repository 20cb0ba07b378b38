//! The indicator lifecycle: decay per kind, sightings refreshing it, the allowlist (by hand,
//! serialised, and from MISP warninglists) keeping values out of the matcher and out of
//! matches, and the build statistics that say what was left out and why.

use std::path::{Path, PathBuf};

use jiff::{Timestamp, ToSpan};
use vigil_core::{Entities, EntityField as F};
use vigil_intel::lifecycle::{AllowPattern, KindDecay, LifecycleError, MAX_PLACES};
use vigil_intel::{
    AllowEntry, Allowlist, DecayModel, ImportOptions, IndicatorKind as K, IntelMatch, IntelSet,
    LifecycleView, Matcher, NewIndicator, SightingPlace, Sightings, Source,
};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn now() -> Timestamp {
    ts("2026-12-01T00:00:00Z")
}

fn days_ago(d: i64) -> Timestamp {
    now().checked_sub((d * 24).hours()).unwrap()
}

/// An indicator a feed last saw `seen_days_ago` days before [`now`].
fn seen(kind: K, value: &str, confidence: Option<u8>, seen_days_ago: i64) -> NewIndicator {
    let mut n = NewIndicator::new(
        kind,
        value,
        Source {
            feed: "feed".into(),
            external_id: None,
            first_seen: None,
            last_seen: Some(days_ago(seen_days_ago)),
        },
    );
    n.confidence = confidence;
    n
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lifecycle")
        .join(name)
}

fn matched(m: &Matcher, field: F, value: &str) -> Vec<IntelMatch> {
    let mut e = Entities::new();
    e.add_str(field, value);
    let mut out = Vec::new();
    m.match_entities(&e, &mut out);
    out
}

fn entry(pattern: AllowPattern, reason: &str) -> AllowEntry {
    AllowEntry {
        pattern,
        reason: reason.into(),
        author: "analyst@example".into(),
        added: days_ago(1),
    }
}

#[test]
fn confidence_decays_per_kind_from_the_last_time_seen() {
    let model = DecayModel::default();
    model.validate().unwrap();
    let mut set = IntelSet::new();
    set.add(seen(K::Ipv4, "198.51.100.7", Some(80), 40))
        .unwrap();
    set.add(seen(K::Domain, "decays.example", Some(80), 40))
        .unwrap();
    set.add(seen(K::Sha256, &"ab".repeat(32), Some(80), 2000))
        .unwrap();
    set.add(seen(K::Url, "http://fresh.example/x", None, 6))
        .unwrap();
    let none = Sightings::new();
    let eff =
        |kind, value: &str| model.effective_confidence(set.get(kind, value).unwrap(), &none, now());
    // IP: linear over 60 days, 40 days old: 80 × (1 − 40/60) = 26.7, below the floor of 30.
    let ip = eff(K::Ipv4, "198.51.100.7");
    assert!((ip.score - 80.0 / 3.0).abs() < 1e-9, "{ip:?}");
    assert_eq!(
        (ip.base, ip.since, ip.matches),
        (80, Some(days_ago(40)), false)
    );
    // Domain: 180 days, so 80 × (1 − 40/180) = 62.2 still matches.
    let d = eff(K::Domain, "decays.example");
    assert!((d.score - 80.0 * (1.0 - 40.0 / 180.0)).abs() < 1e-9);
    assert!(d.matches);
    // Hashes never decay.
    assert_eq!(eff(K::Sha256, &"ab".repeat(32)).score, 80.0);
    // No confidence: the default base of 50; 6 days of 60 gone.
    let u = eff(K::Url, "http://fresh.example/x");
    assert_eq!(u.base, 50);
    assert!((u.score - 45.0).abs() < 1e-9);

    // A configured model: IPs never decay; the rest keep their defaults.
    let model: DecayModel =
        serde_json::from_str(r#"{"floor": 10, "ipv4": {"lifetime_days": null}}"#).unwrap();
    assert_eq!(model.ipv4, KindDecay::NEVER);
    assert_eq!(model.domain, DecayModel::default().domain);
    let ip = model.effective_confidence(set.get(K::Ipv4, "198.51.100.7").unwrap(), &none, now());
    assert_eq!((ip.score, ip.matches), (80.0, true));
    let bad: DecayModel = serde_json::from_str(r#"{"url": {"lifetime_days": -3}}"#).unwrap();
    assert!(matches!(bad.validate(), Err(LifecycleError::Model(m)) if m.contains("url")));
    assert!(serde_json::from_str::<DecayModel>(r#"{"ipv5": {}}"#).is_err());
}

#[test]
fn a_sighting_refreshes_decay_and_the_matcher_follows() {
    let mut set = IntelSet::new();
    set.add(seen(K::Ipv4, "198.51.100.7", Some(80), 40))
        .unwrap();
    set.add(seen(K::Ipv4, "198.51.100.8", Some(80), 40))
        .unwrap();
    let model = DecayModel::default();
    let allow = Allowlist::new();
    let mut sightings = Sightings::new();

    let view = LifecycleView {
        model: &model,
        sightings: &sightings,
        allowlist: &allow,
    };
    let m = view.build(&set, now());
    assert_eq!((m.stats().live, m.stats().decayed), (0, 2));
    assert!(matched(&m, F::DstIp, "198.51.100.7").is_empty());
    // The plain build ignores the lifecycle: that is what the sighting below comes from.
    let plain = Matcher::build(&set, now());
    let hit = matched(&plain, F::DstIp, "198.51.100.7").remove(0);
    let place = SightingPlace {
        source: "zeek-conn".into(),
        field: hit.field.to_string(),
        host: Some("ws-12".into()),
    };
    sightings.record(&hit, days_ago(2), place.clone());

    let view = LifecycleView {
        model: &model,
        sightings: &sightings,
        allowlist: &allow,
    };
    let eff =
        model.effective_confidence(set.get(K::Ipv4, "198.51.100.7").unwrap(), &sightings, now());
    assert_eq!(eff.since, Some(days_ago(2)));
    assert!((eff.score - 80.0 * (1.0 - 2.0 / 60.0)).abs() < 1e-9);
    let m = view.build(&set, now());
    assert_eq!((m.stats().live, m.stats().decayed), (1, 1));
    assert_eq!(matched(&m, F::DstIp, "198.51.100.7").len(), 1);
    assert!(matched(&m, F::DstIp, "198.51.100.8").is_empty());
    let census = view.census(&set, now());
    assert_eq!(census.get("matching"), Some(&1));
    assert_eq!(census.get("decayed"), Some(&1));

    // A sighting older than the feed's last_seen does not move the clock back.
    let mut old = Sightings::new();
    old.record(&hit, days_ago(50), place);
    let eff = model.effective_confidence(set.get(K::Ipv4, "198.51.100.7").unwrap(), &old, now());
    assert_eq!(eff.since, Some(days_ago(40)));
}

#[test]
fn sightings_count_bound_their_places_and_persist() {
    let set = {
        let mut s = IntelSet::new();
        s.add(seen(K::Domain, "evil.example", Some(90), 1)).unwrap();
        s
    };
    let m = Matcher::build(&set, now());
    let hit = matched(&m, F::QueryHostname, "a.evil.example").remove(0);
    let mut sightings = Sightings::new();
    for i in 0..(MAX_PLACES as i64 + 8) {
        let place = SightingPlace {
            source: "zeek-dns".into(),
            field: "query.hostname".into(),
            host: Some(format!("ws-{i}")),
        };
        // Out of order: the first and last seen still come out right.
        sightings.record(&hit, days_ago(10 - i % 10), place.clone());
        sightings.record(&hit, days_ago(10 - i % 10), place);
    }
    // Keyed by the indicator, not by the event's value.
    let s = sightings.get(K::Domain, "evil.example").unwrap();
    assert_eq!(s.count, 2 * (MAX_PLACES as u64 + 8));
    assert_eq!((s.first_seen, s.last_seen), (days_ago(10), days_ago(1)));
    assert_eq!(s.places.len(), MAX_PLACES);
    assert_eq!(
        s.places_dropped, 16,
        "8 places past the bound, each seen twice"
    );
    assert_eq!(s.places[0].host.as_deref(), Some("ws-0"));

    let json = serde_json::to_value(&sightings).unwrap();
    assert_eq!(json[0]["kind"], "domain");
    assert_eq!(json[0]["where"][1]["host"], "ws-1");
    let back: Sightings = serde_json::from_value(json).unwrap();
    assert_eq!(back, sightings);
    let bad = serde_json::json!([{"kind": "ipv5", "value": "x", "count": 1,
        "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z", "where": []}]);
    let err = serde_json::from_value::<Sightings>(bad).unwrap_err();
    assert!(
        err.to_string().contains("unknown indicator kind `ipv5`"),
        "{err}"
    );
}

#[test]
fn allowlisted_values_never_match_and_are_counted() {
    let mut set = IntelSet::new();
    for (k, v) in [
        (K::Ipv4, "8.8.8.8"),
        (K::Ipv4, "10.0.0.0/8"),
        (K::Domain, "cdn.example"),
        (K::Domain, "img.cdn.example"),
        (K::Url, "http://files.cdn.example/a.exe"),
        (K::Domain, "evil.example"),
        (K::Md5, "d41d8cd98f00b204e9800998ecf8427e"),
    ] {
        set.add(seen(k, v, Some(90), 1)).unwrap();
    }
    let mut allow = Allowlist::new();
    allow.add(entry(
        AllowPattern::cidr("8.8.8.0/24").unwrap(),
        "Google resolver",
    ));
    allow.add(entry(
        AllowPattern::domain_suffix("cdn.example").unwrap(),
        "our CDN",
    ));
    allow.add(entry(
        AllowPattern::value(K::Ipv4, "10.1.2.3").unwrap(),
        "the proxy",
    ));
    allow.add(entry(
        AllowPattern::value(K::Md5, "D41D8CD98F00B204E9800998ECF8427E").unwrap(),
        "empty file",
    ));
    assert_eq!(
        allow
            .suppresses(K::Domain, "IMG.cdn.example")
            .unwrap()
            .reason,
        "our CDN"
    );
    assert!(allow.suppresses(K::Domain, "notcdn.example").is_none());
    assert_eq!(
        allow.suppresses(K::Ipv4, "8.8.8.0/25").unwrap().reason,
        "Google resolver"
    );
    assert!(
        allow.suppresses(K::Ipv4, "8.8.0.0/16").is_none(),
        "wider than the entry"
    );

    let model = DecayModel::default();
    let sightings = Sightings::new();
    let view = LifecycleView {
        model: &model,
        sightings: &sightings,
        allowlist: &allow,
    };
    let m = view.build(&set, now());
    let stats = m.stats();
    assert_eq!((stats.live, stats.allowlisted, stats.decayed), (2, 5, 0));
    assert!(matched(&m, F::DstIp, "8.8.8.8").is_empty());
    assert!(matched(&m, F::QueryHostname, "img.cdn.example").is_empty());
    assert_eq!(matched(&m, F::QueryHostname, "x.evil.example").len(), 1);

    // A block indicator still matches the addresses in it, except the allowlisted one.
    let mut hits = matched(&m, F::DstIp, "10.1.2.3");
    hits.extend(matched(&m, F::DstIp, "10.1.2.4"));
    assert_eq!(hits.len(), 2);
    assert_eq!(allow.filter_matches(&mut hits), 1);
    assert_eq!(hits[0].value, "10.1.2.4");

    // Entries persist with their reason, author and time; bad ones are refused by reason.
    let json = serde_json::to_string(&allow).unwrap();
    let back: Allowlist = serde_json::from_str(&json).unwrap();
    assert_eq!(back, allow);
    let bad = r#"{"entries": [{"match": "value", "kind": "ipv4", "value": "not-an-ip",
        "reason": "r", "author": "a", "added": "2026-01-01T00:00:00Z"}]}"#;
    let err = serde_json::from_str::<Allowlist>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("ipv4: "), "{err}");
    let bad = r#"{"entries": [{"match": "regex", "value": ".*",
        "reason": "r", "author": "a", "added": "2026-01-01T00:00:00Z"}]}"#;
    let err = serde_json::from_str::<Allowlist>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`match` is `regex`"), "{err}");
}

#[test]
fn misp_warninglists_import_with_reasons() {
    let mut allow = Allowlist::new();
    let r = allow
        .import_misp_warninglist(&fixture("warninglist-string.json"), "misp", now())
        .unwrap();
    assert_eq!(r.name, "Known benign values (test)");
    assert_eq!(r.added, 4);
    assert_eq!(r.rejected.len(), 2, "{:?}", r.rejected);
    assert_eq!(r.rejected[0].0, 4);
    assert!(r.rejected[0].1.starts_with("`not a value at all`: "));
    assert_eq!(r.rejected[1], (5, "42 is not a string".to_string()));
    let e = allow
        .suppresses(K::Md5, "d41d8cd98f00b204e9800998ecf8427e")
        .unwrap();
    assert_eq!(
        e.reason,
        "MISP warninglist Known benign values (test): Values an analyst marked as false positives"
    );
    assert_eq!((e.author.as_str(), e.added), ("misp", now()));
    assert!(
        allow
            .suppresses(K::Url, "HTTP://updates.example:80/check")
            .is_some()
    );
    assert!(allow.suppresses(K::Ipv4, "192.0.2.10").is_some());

    let r = allow
        .import_misp_warninglist(&fixture("warninglist-cidr.json"), "misp", now())
        .unwrap();
    assert_eq!((r.added, r.rejected.len()), (3, 1));
    assert!(allow.suppresses(K::Ipv4, "8.8.8.8").is_some());
    assert!(allow.suppresses(K::Ipv4, "1.1.1.1").is_some());
    assert!(allow.suppresses(K::Ipv6, "2001:db8:53::1").is_some());
    assert!(
        allow
            .suppresses(K::Url, "http://8.8.8.8/dns-query")
            .is_some()
    );

    let r = allow
        .import_misp_warninglist(&fixture("warninglist-hostname.json"), "misp", now())
        .unwrap();
    assert_eq!((r.added, r.rejected.len()), (3, 0));
    let e = allow.suppresses(K::Domain, "a.fonts.example").unwrap();
    assert_eq!(e.reason, "MISP warninglist CDN names (test)");
    assert!(allow.suppresses(K::Domain, "static.example").is_some());
    assert!(allow.suppresses(K::Domain, "fonts.example.evil").is_none());
    assert_eq!(allow.len(), 10);

    let err = allow
        .import_misp_warninglist(&fixture("warninglist-regex.json"), "misp", now())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("warninglist type `regex` is not supported (string, cidr, hostname)"),
        "{err}"
    );
    let err = allow
        .import_misp_warninglist(&fixture("README.md"), "misp", now())
        .unwrap_err()
        .to_string();
    assert!(err.contains("README.md: not JSON: "), "{err}");
    assert_eq!(allow.len(), 10, "refused files add nothing");
}

/// The Feodo Tracker download of 2024-04-04 in the corpus, a day and a half later: its rows
/// carry first-seen and last-online times and no confidence (base 50), so with the default
/// IP lifetime of 60 days an address stops matching 24 days after it was last online. Counted
/// independently (Python over the CSV): 12 of the 28 match, 16 have decayed.
#[test]
fn feodo_tracker_a_day_and_a_half_after_its_download() {
    let Some(path) =
        vigil_core::corpus::corpus_path("intel/abusech/feodotracker_ipblocklist_2024-04-04.csv")
    else {
        return;
    };
    let mut set = IntelSet::new();
    let report = set
        .import_path_with(&path, &ImportOptions::default())
        .unwrap();
    assert_eq!(report.added(), 28);
    let model = DecayModel::default();
    let (sightings, allow) = (Sightings::new(), Allowlist::new());
    let view = LifecycleView {
        model: &model,
        sightings: &sightings,
        allowlist: &allow,
    };
    let at = ts("2024-04-05T12:00:00Z");
    let m = view.build(&set, at);
    assert_eq!((m.stats().live, m.stats().decayed), (12, 16));
    // Online on 2024-04-01: 4.5 days old, 50 × (1 − 4.5/60) = 46.25.
    let eff = model.effective_confidence(set.get(K::Ipv4, "192.9.135.73").unwrap(), &sightings, at);
    assert!((eff.score - 46.25).abs() < 1e-9, "{eff:?}");
    assert_eq!(matched(&m, F::DstIp, "192.9.135.73").len(), 1);
    // Last online 2024-03-04: 32.5 days, below the floor.
    assert!(matched(&m, F::DstIp, "37.60.242.85").is_empty());
}
