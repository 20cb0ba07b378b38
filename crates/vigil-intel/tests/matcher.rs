//! The matcher: IP addresses and CIDR blocks (v4 and v6), domains and their subdomains, URL
//! normalisation, hash case, e-mail, JA3, user agents, file names; revoked, expired and not
//! yet valid indicators left out; and real corpus events (Zeek, decoded by `vigil-ingest`)
//! matched through their OCSF entities.

use std::path::Path;

use jiff::Timestamp;
use vigil_core::{Entities, EntityField as F, HashAlgorithm as H};
use vigil_intel::{
    ImportOptions, IndicatorKind as K, IntelMatch, IntelSet, MatchHow, Matcher, NewIndicator,
    Source,
};

fn src(feed: &str) -> Source {
    Source {
        feed: feed.into(),
        external_id: None,
        first_seen: None,
        last_seen: None,
    }
}

fn now() -> Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

fn set_of(items: &[(K, &str)]) -> IntelSet {
    let mut set = IntelSet::new();
    for (k, v) in items {
        set.add(NewIndicator::new(*k, *v, src("test"))).unwrap();
    }
    set
}

fn matches(m: &Matcher, e: &Entities<'_>) -> Vec<(String, String, String, MatchHow)> {
    let mut out = Vec::new();
    m.match_entities(e, &mut out);
    out.iter()
        .map(|x: &IntelMatch| {
            (
                x.field.to_string(),
                x.value.clone(),
                x.indicator.value().to_string(),
                x.how,
            )
        })
        .collect()
}

fn t(field: &str, value: &str, ind: &str, how: MatchHow) -> (String, String, String, MatchHow) {
    (field.into(), value.into(), ind.into(), how)
}

#[test]
fn ip_addresses_and_blocks() {
    let set = set_of(&[
        (K::Ipv4, "10.0.0.0/8"),
        (K::Ipv4, "10.1.0.0/16"),
        (K::Ipv4, "10.1.2.3"),
        (K::Ipv6, "2001:db8::/32"),
        (K::Ipv6, "2001:db8::5"),
    ]);
    let m = Matcher::build(&set, now());
    assert_eq!(m.stats().ip_addresses, 2);
    assert_eq!(m.stats().ip_blocks, 3);
    let mut e = Entities::new();
    e.add_str(F::SrcIp, "::ffff:10.1.2.3");
    e.add_str(F::DstIp, "11.0.0.1");
    e.add_str(F::DeviceIp, "2001:DB8::5");
    assert_eq!(
        matches(&m, &e),
        [
            t("src_endpoint.ip", "10.1.2.3", "10.1.2.3", MatchHow::Exact),
            t(
                "src_endpoint.ip",
                "10.1.2.3",
                "10.0.0.0/8",
                MatchHow::InBlock
            ),
            t(
                "src_endpoint.ip",
                "10.1.2.3",
                "10.1.0.0/16",
                MatchHow::InBlock
            ),
            t("device.ip", "2001:db8::5", "2001:db8::5", MatchHow::Exact),
            t(
                "device.ip",
                "2001:db8::5",
                "2001:db8::/32",
                MatchHow::InBlock
            ),
        ]
    );
    let mut e = Entities::new();
    e.add_str(F::DstIp, "2001:db9::1");
    e.add_str(F::SrcIp, "9.255.255.255");
    assert!(matches(&m, &e).is_empty());
}

#[test]
fn subdomains_match_their_parent() {
    let set = set_of(&[(K::Domain, "evil.example"), (K::Domain, "b.evil.example")]);
    let m = Matcher::build(&set, now());
    let mut e = Entities::new();
    e.add_str(F::QueryHostname, "A.B.EVIL.example.");
    e.add_str(F::TlsSni, "notevil.example");
    e.add_str(F::UrlHostname, "evil.example");
    e.add_str(F::DstHostname, "x.evil.example");
    assert_eq!(
        matches(&m, &e),
        [
            t(
                "query.hostname",
                "A.B.EVIL.example.",
                "b.evil.example",
                MatchHow::Subdomain
            ),
            t(
                "query.hostname",
                "A.B.EVIL.example.",
                "evil.example",
                MatchHow::Subdomain
            ),
            t(
                "http_request.url.hostname",
                "evil.example",
                "evil.example",
                MatchHow::Exact
            ),
            t(
                "dst_endpoint.hostname",
                "x.evil.example",
                "evil.example",
                MatchHow::Subdomain
            ),
        ]
    );
    // An address where a name goes is matched against the IP indicators.
    let set = set_of(&[(K::Ipv4, "203.0.113.0/24")]);
    let m = Matcher::build(&set, now());
    let mut e = Entities::new();
    e.add_str(F::UrlHostname, "203.0.113.9");
    assert_eq!(
        matches(&m, &e),
        [t(
            "http_request.url.hostname",
            "203.0.113.9",
            "203.0.113.0/24",
            MatchHow::InBlock
        )]
    );
}

#[test]
fn urls_are_normalised_on_both_sides() {
    let set = set_of(&[
        (K::Url, "http://x4z9arb.cn/4712/"),
        (K::Url, "https://evil.example/a%2fb?q=%7e"),
    ]);
    let m = Matcher::build(&set, now());
    for (url, hit) in [
        ("HTTP://X4Z9ARB.CN:80/4712", true),
        ("http://x4z9arb.cn/4712/", true),
        ("http://x4z9arb.cn/%34712#top", true),
        ("http://x4z9arb.cn/4713", false),
        ("https://x4z9arb.cn/4712", false),
        ("https://evil.example:443/a%2Fb?q=~", true),
        ("https://evil.example/a/b?q=~", false),
        ("http://other.example/4712", false),
    ] {
        let mut e = Entities::new();
        e.add_str(F::UrlString, url);
        assert_eq!(matches(&m, &e).len(), usize::from(hit), "{url}");
    }
}

#[test]
fn hashes_emails_and_exact_values() {
    let sha = "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c";
    let set = set_of(&[
        (K::Sha256, sha),
        (K::Md5, "0749BAE92CA336A02C83D126E04EC628"),
        (K::Email, "Bad@Evil.Example"),
        (K::Ja3, "e7d705a3286e19ea42f587b344ee6865"),
        (K::UserAgent, "EvilBot/1.0"),
        (K::FileName, "3Z4wnG9603it23y.exe"),
    ]);
    let m = Matcher::build(&set, now());
    let upper = sha.to_uppercase();
    let mut e = Entities::new();
    e.add_str(F::ProcessFileHash(H::Sha256), &upper);
    e.add_str(F::FileHash(H::Md5), "0749bae92ca336a02c83d126e04ec628");
    e.add_str(F::FileHash(H::Sha1), sha); // a SHA-256 value in a SHA-1 field: no match
    e.add_str(F::ActorUserEmail, "BAD@evil.example");
    e.add_str(F::TlsJa3, "E7D705A3286E19EA42F587B344EE6865");
    e.add_str(F::UserAgent, "EvilBot/1.0");
    e.add_str(F::ProcessName, "3Z4wnG9603it23y.exe");
    let got = matches(&m, &e);
    let fields: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        fields,
        [
            "process.file.hashes.sha256",
            "file.hashes.md5",
            "actor.user.email_addr",
            "tls.ja3_hash.value",
            "http_request.user_agent",
            "process.name",
        ]
    );
    assert_eq!(got[0].1, upper, "the event's value as written");
    // User agents and file names are exact.
    let mut e = Entities::new();
    e.add_str(F::UserAgent, "evilbot/1.0");
    e.add_str(F::FileName, "3z4wng9603it23y.exe");
    assert!(matches(&m, &e).is_empty());
}

#[test]
fn expired_revoked_and_future_indicators_do_not_match() {
    let ts = |s: &str| s.parse::<Timestamp>().unwrap();
    let mut set = IntelSet::new();
    let mut add = |v: &str, from: Option<&str>, until: Option<&str>, revoked: bool| {
        let mut n = NewIndicator::new(K::Ipv4, v, src("f"));
        n.valid_from = from.map(ts);
        n.valid_until = until.map(ts);
        n.revoked = revoked;
        set.add(n).unwrap();
    };
    add("192.0.2.1", None, Some("2025-01-01T00:00:00Z"), false);
    add("192.0.2.2", None, None, true);
    add("192.0.2.3", Some("2027-01-01T00:00:00Z"), None, false);
    add(
        "192.0.2.4",
        Some("2020-01-01T00:00:00Z"),
        Some("2030-01-01T00:00:00Z"),
        false,
    );
    let m = Matcher::build(&set, now());
    let s = m.stats();
    assert_eq!(
        (s.live, s.expired, s.revoked, s.not_yet_valid),
        (1, 1, 1, 1)
    );
    for (ip, hit) in [
        ("192.0.2.1", false),
        ("192.0.2.2", false),
        ("192.0.2.3", false),
        ("192.0.2.4", true),
    ] {
        let mut e = Entities::new();
        e.add_str(F::DstIp, ip);
        assert_eq!(matches(&m, &e).len(), usize::from(hit), "{ip}");
    }
    // Built later, the future one has become live (and the expired one stays out).
    let later = Matcher::build(&set, ts("2027-06-01T00:00:00Z"));
    assert_eq!(later.stats().live, 2);
}

#[test]
fn a_match_carries_every_source() {
    let mut set = IntelSet::new();
    let mut a = NewIndicator::new(K::Domain, "evil.example", src("feed-a"));
    a.confidence = Some(40);
    set.add(a).unwrap();
    let mut b = NewIndicator::new(K::Domain, "EVIL.example.", src("feed-b"));
    b.confidence = Some(90);
    set.add(b).unwrap();
    assert_eq!(set.len(), 1);
    let m = Matcher::build(&set, now());
    let mut e = Entities::new();
    e.add_str(F::QueryHostname, "www.evil.example");
    let mut out = Vec::new();
    m.match_entities(&e, &mut out);
    assert_eq!(out.len(), 1);
    let feeds: Vec<&str> = out[0]
        .indicator
        .sources()
        .iter()
        .map(|s| &*s.feed)
        .collect();
    assert_eq!(feeds, ["feed-a", "feed-b"]);
    assert_eq!(out[0].indicator.confidence(), Some(90));
}

/// Decodes a corpus file with `vigil-ingest`.
fn decode(path: &Path) -> Vec<vigil_core::Event> {
    let mut events = Vec::new();
    vigil_ingest::decode_file(
        path,
        &vigil_ingest::DecodeOptions::default(),
        &mut |e| events.push(e),
        &mut |e| panic!("{e}"),
    )
    .unwrap();
    events
}

/// Every match over `events`, with the index of its event.
fn match_all(m: &Matcher, events: &[vigil_core::Event]) -> Vec<(usize, IntelMatch)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        buf.clear();
        m.match_entities(&vigil_ingest::entities(ev), &mut buf);
        out.extend(buf.drain(..).map(|x| (i, x)));
    }
    out
}

#[test]
fn zeek_dns_event_whose_name_is_in_a_feed() {
    let Some(path) = vigil_core::corpus::corpus_path("zeek/slips/test9-mixed-zeek-dir/dns.log")
    else {
        return;
    };
    let events = decode(&path);
    // A query name that occurs in exactly one event of the log.
    let names: Vec<Option<String>> = events
        .iter()
        .map(|e| {
            vigil_ingest::entities(e)
                .get_str(F::QueryHostname)
                .map(str::to_string)
        })
        .collect();
    let (idx, name) = names
        .iter()
        .enumerate()
        .find_map(|(i, n)| {
            let n = n.as_ref()?;
            (n.contains('.') && names.iter().filter(|m| m.as_ref() == Some(n)).count() == 1)
                .then(|| (i, n.clone()))
        })
        .expect("a query name seen once");
    let mut set = IntelSet::new();
    let feed = format!("# test feed\n{name}\n");
    let r = set.import_bytes("feed.txt", feed.as_bytes(), &ImportOptions::default());
    assert_eq!(r.added, 1);
    let m = Matcher::build(&set, now());
    let all = match_all(&m, &events);
    assert_eq!(all.len(), 1, "{name}");
    let (i, hit) = &all[0];
    assert_eq!(*i, idx);
    assert_eq!(hit.field, F::QueryHostname);
    assert_eq!(hit.value, name);
    assert_eq!(hit.how, MatchHow::Exact);
    assert_eq!(&*hit.indicator.sources()[0].feed, "feed.txt");
}

#[test]
fn zeek_http_event_whose_server_is_in_a_feed() {
    let Some(path) =
        vigil_core::corpus::corpus_path("zeek/slips/test14-malicious-zeek-dir/http.log")
    else {
        return;
    };
    let events = decode(&path);
    // Every address an event's entities hold, to pick one that only one event has, once.
    let mut seen: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for (i, ev) in events.iter().enumerate() {
        for (_, v) in vigil_ingest::entities(ev).iter() {
            seen.entry(v.to_string()).or_default().push(i);
        }
    }
    let (idx, ip) = events
        .iter()
        .enumerate()
        .find_map(|(i, ev)| {
            let ip = vigil_ingest::entities(ev).get(F::DstIp)?.to_string();
            (seen[&ip] == [i]).then_some((i, ip))
        })
        .expect("a server address seen in one event");
    let mut set = IntelSet::new();
    set.add(NewIndicator::new(K::Ipv4, ip.clone(), src("stix-test")))
        .unwrap();
    let m = Matcher::build(&set, now());
    let all = match_all(&m, &events);
    assert_eq!(all.len(), 1, "{ip}");
    assert_eq!(all[0].0, idx);
    assert_eq!(all[0].1.field, F::DstIp);
    assert_eq!(all[0].1.value, ip);
}
