//! [`Matcher`]: an [`IntelSet`] compiled for matching events, immutable once built (rebuild
//! and swap an `Arc<Matcher>` to change it).
//!
//! - IP addresses: a hash map of single addresses, and prefix tries (`prefix-trie`, v4 and
//!   v6) of CIDR blocks, where every block covering the address matches.
//! - Domains: a hash table of names; an event's name is looked up whole, then each parent
//!   (`a.b.evil.example` → `b.evil.example` → `evil.example`), so a subdomain of a bad domain
//!   matches and the match names the parent's indicator.
//! - URLs: the event's URL is normalised as indicators are (see the `normalise` module), but
//!   only when its host is the host of some URL indicator: most URLs are rejected on a host
//!   lookup, without parsing or allocating.
//! - Hashes, JA3, e-mail addresses: lowercase, then a hash lookup; user agents and file names
//!   are looked up as written.
//!
//! Indicators that are revoked, expired or not yet valid at the build time are left out, and
//! [`Matcher::build_with`] leaves out those the lifecycle says no longer match.
//! Matching an event allocates only for its matches: lowercasing goes through a stack buffer.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet, HashTable};
use ipnet::{Ipv4Net, Ipv6Net};
use jiff::Timestamp;
use prefix_trie::PrefixMap;
use vigil_core::{Entities, EntityField, EntityKind, EntityValue};

use crate::normalise;
use crate::{Indicator, IndicatorKind, IntelSet};

type Hasher = foldhash::fast::FixedState;

/// How an event's value met its indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchHow {
    /// The same value.
    Exact,
    /// The event's name is a subdomain of the indicator's domain.
    Subdomain,
    /// The event's address is inside the indicator's CIDR block.
    InBlock,
}

/// One entity value of an event that matched an indicator.
#[derive(Clone, Debug)]
pub struct IntelMatch {
    /// The entity field that held the value (`dst_endpoint.ip`, `query.hostname`).
    pub field: EntityField,
    /// The value as the event had it.
    pub value: String,
    /// The indicator (its sources, confidence, labels, TLP).
    pub indicator: Arc<Indicator>,
    pub how: MatchHow,
}

/// What a build kept and left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Indicators that match.
    pub live: usize,
    /// Left out: revoked by every source.
    pub revoked: usize,
    /// Left out: `valid_until` passed.
    pub expired: usize,
    /// Left out: `valid_from` still ahead.
    pub not_yet_valid: usize,
    /// Left out by the lifecycle ([`Matcher::build_with`]): on the allowlist.
    pub allowlisted: usize,
    /// Left out by the lifecycle: confidence decayed below the floor.
    pub decayed: usize,
    /// Of the live ones: single IP addresses, CIDR blocks, and other values.
    pub ip_addresses: usize,
    pub ip_blocks: usize,
    pub values: usize,
}

/// Why the lifecycle (`crate::lifecycle::LifecycleView`) leaves a live indicator out of a
/// build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftOut {
    /// Its value is on the allowlist.
    Allowlisted,
    /// Its confidence decayed below the floor.
    Decayed,
}

/// The compiled, immutable form of an [`IntelSet`] (see the module documentation).
#[derive(Default)]
pub struct Matcher {
    indicators: Vec<Arc<Indicator>>,
    /// Non-IP values by (kind, value): positions in `indicators`.
    exact: HashTable<u32>,
    ips: HashMap<IpAddr, u32, Hasher>,
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
    url_hosts: HashSet<Box<str>, Hasher>,
    /// Which kinds have any indicator, to skip lookups that cannot match.
    present: [bool; IndicatorKind::ALL.len()],
    hasher: Hasher,
    stats: BuildStats,
}

fn key_hash(hasher: &Hasher, kind: IndicatorKind, value: &str) -> u64 {
    hasher.hash_one((kind as u8, value))
}

impl Matcher {
    /// Compiles the indicators of `set` that are live at `now`.
    pub fn build(set: &IntelSet, now: Timestamp) -> Matcher {
        Matcher::build_with(set, now, |_| None)
    }

    /// [`Matcher::build`], also leaving out the live indicators for which `leave_out` gives a
    /// reason (counted in [`BuildStats`]).
    pub fn build_with(
        set: &IntelSet,
        now: Timestamp,
        leave_out: impl Fn(&Indicator) -> Option<LeftOut>,
    ) -> Matcher {
        let mut m = Matcher::default();
        let values = set
            .iter()
            .filter(|i| !matches!(i.kind(), IndicatorKind::Ipv4 | IndicatorKind::Ipv6))
            .count();
        m.indicators.reserve(set.len());
        // Empty, so nothing is rehashed while reserving.
        m.exact.reserve(values, |_| 0);
        for ind in set.shared() {
            if ind.revoked() {
                m.stats.revoked += 1;
                continue;
            }
            if ind.valid_until().is_some_and(|t| t <= now) {
                m.stats.expired += 1;
                continue;
            }
            if ind.valid_from().is_some_and(|t| t > now) {
                m.stats.not_yet_valid += 1;
                continue;
            }
            match leave_out(ind) {
                Some(LeftOut::Allowlisted) => m.stats.allowlisted += 1,
                Some(LeftOut::Decayed) => m.stats.decayed += 1,
                None => m.insert(ind.clone()),
            }
        }
        m.stats.live = m.indicators.len();
        m
    }

    fn insert(&mut self, ind: Arc<Indicator>) {
        let pos = u32::try_from(self.indicators.len()).expect("fewer than 2^32 indicators");
        let kind = ind.kind();
        self.present[kind as usize] = true;
        match kind {
            IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => match ind.ip_net() {
                Some(net) if net.prefix_len() == net.max_prefix_len() => {
                    self.ips.insert(net.addr(), pos);
                    self.stats.ip_addresses += 1;
                }
                Some(ipnet::IpNet::V4(n)) => {
                    self.v4.insert(n, pos);
                    self.stats.ip_blocks += 1;
                }
                Some(ipnet::IpNet::V6(n)) => {
                    self.v6.insert(n, pos);
                    self.stats.ip_blocks += 1;
                }
                // Values were normalised on the way in, so they parse.
                None => return,
            },
            _ => {
                if kind == IndicatorKind::Url {
                    // The value is normalised, so its plain host reads without a parse.
                    match quick_host(ind.value()) {
                        Some(host) => {
                            self.url_hosts.insert(host.into());
                        }
                        None => {
                            if let Ok(u) = url::Url::parse(ind.value())
                                && let Some(host) = u.host_str()
                            {
                                self.url_hosts.insert(host.into());
                            }
                        }
                    }
                }
                let hash = key_hash(&self.hasher, kind, ind.value());
                let (indicators, hasher) = (&self.indicators, &self.hasher);
                self.exact.insert_unique(hash, pos, |&i| {
                    let x = &indicators[i as usize];
                    key_hash(hasher, x.kind(), x.value())
                });
                self.stats.values += 1;
            }
        }
        self.indicators.push(ind);
    }

    /// What the build kept and left out.
    pub fn stats(&self) -> BuildStats {
        self.stats
    }

    /// Number of live indicators.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// True when nothing can match.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Appends to `out` a match for each entity value of the event that an indicator names:
    /// IP fields against addresses and blocks; DNS-name fields (and `dst_endpoint.hostname`)
    /// against domains and their parents, or against IPs when they hold an address; URLs,
    /// e-mail addresses, file hashes, JA3, user agents and file names (`file.name`,
    /// `process.name`, `process.parent_process.name`) against their kinds.
    pub fn match_entities(&self, entities: &Entities<'_>, out: &mut Vec<IntelMatch>) {
        if self.indicators.is_empty() {
            return;
        }
        for (field, value) in entities.iter() {
            self.match_value(field, value, out);
        }
    }

    /// [`Matcher::match_entities`] for one field's value.
    pub fn match_value(
        &self,
        field: EntityField,
        value: &EntityValue<'_>,
        out: &mut Vec<IntelMatch>,
    ) {
        use IndicatorKind as K;
        let text = match value {
            EntityValue::Ip(ip) => {
                if field.kind() == EntityKind::Ip {
                    self.match_ip(field, *ip, out);
                }
                return;
            }
            EntityValue::Text(t) => &**t,
            EntityValue::Int(_) => return,
        };
        let mut buf = [0u8; 256];
        match field.kind() {
            EntityKind::Domain => self.match_name(field, text, &mut buf, out),
            EntityKind::Host if field == EntityField::DstHostname => {
                self.match_name(field, text, &mut buf, out)
            }
            EntityKind::Url if self.present[K::Url as usize] => {
                self.match_url(field, text, &mut buf, out)
            }
            EntityKind::Email if self.present[K::Email as usize] => {
                if text.is_ascii() {
                    let v = lower(text.trim(), &mut buf);
                    self.match_exact(field, text, K::Email, &v, out);
                } else if let Ok(v) = normalise::value(K::Email, text) {
                    self.match_exact(field, text, K::Email, &v, out);
                }
            }
            EntityKind::Hash => {
                let kind = field.hash_algorithm().and_then(IndicatorKind::of_hash);
                if let Some(kind) = kind.filter(|k| self.present[*k as usize]) {
                    let v = lower(text.trim(), &mut buf);
                    self.match_exact(field, text, kind, &v, out);
                }
            }
            EntityKind::TlsFingerprint
                if field == EntityField::TlsJa3 && self.present[K::Ja3 as usize] =>
            {
                let v = lower(text.trim(), &mut buf);
                self.match_exact(field, text, K::Ja3, &v, out);
            }
            EntityKind::UserAgent if self.present[K::UserAgent as usize] => {
                self.match_exact(field, text, K::UserAgent, text.trim(), out);
            }
            EntityKind::File | EntityKind::Process
                if matches!(
                    field,
                    EntityField::FileName | EntityField::ProcessName | EntityField::ParentName
                ) && self.present[K::FileName as usize] =>
            {
                self.match_exact(field, text, K::FileName, text.trim(), out);
            }
            _ => {}
        }
    }

    fn push(
        &self,
        field: EntityField,
        value: &str,
        pos: u32,
        how: MatchHow,
        out: &mut Vec<IntelMatch>,
    ) {
        out.push(IntelMatch {
            field,
            value: value.to_string(),
            indicator: self.indicators[pos as usize].clone(),
            how,
        });
    }

    fn find(&self, kind: IndicatorKind, value: &str) -> Option<u32> {
        let hash = key_hash(&self.hasher, kind, value);
        self.exact
            .find(hash, |&i| {
                let x = &self.indicators[i as usize];
                x.kind() == kind && x.value() == value
            })
            .copied()
    }

    fn match_exact(
        &self,
        field: EntityField,
        original: &str,
        kind: IndicatorKind,
        value: &str,
        out: &mut Vec<IntelMatch>,
    ) {
        if let Some(pos) = self.find(kind, value) {
            self.push(field, original, pos, MatchHow::Exact, out);
        }
    }

    fn match_ip(&self, field: EntityField, ip: IpAddr, out: &mut Vec<IntelMatch>) {
        let ip = ip.to_canonical();
        if let Some(&pos) = self.ips.get(&ip) {
            self.push_ip(field, ip, pos, MatchHow::Exact, out);
        }
        match ip {
            IpAddr::V4(a) if !self.v4.is_empty() => {
                let host = Ipv4Net::from(a);
                for &pos in self.v4.cover_values(&host) {
                    self.push_ip(field, ip, pos, MatchHow::InBlock, out);
                }
            }
            IpAddr::V6(a) if !self.v6.is_empty() => {
                let host = Ipv6Net::from(a);
                for &pos in self.v6.cover_values(&host) {
                    self.push_ip(field, ip, pos, MatchHow::InBlock, out);
                }
            }
            _ => {}
        }
    }

    fn push_ip(
        &self,
        field: EntityField,
        ip: IpAddr,
        pos: u32,
        how: MatchHow,
        out: &mut Vec<IntelMatch>,
    ) {
        out.push(IntelMatch {
            field,
            value: ip.to_string(),
            indicator: self.indicators[pos as usize].clone(),
            how,
        });
    }

    /// A DNS name (or an address written where a name goes): the name and its parents.
    fn match_name(
        &self,
        field: EntityField,
        text: &str,
        buf: &mut [u8; 256],
        out: &mut Vec<IntelMatch>,
    ) {
        let t = text.trim();
        let ip_like = t
            .as_bytes()
            .first()
            .is_some_and(|b| b.is_ascii_digit() || *b == b'[')
            || t.contains(':');
        if ip_like
            && let Some(ip) =
                normalise::parse_net(t).filter(|n| n.prefix_len() == n.max_prefix_len())
        {
            self.match_ip(field, ip.addr(), out);
            return;
        }
        if !self.present[IndicatorKind::Domain as usize] {
            return;
        }
        let owned;
        let name: &str = if t.is_ascii() {
            let t = t.strip_suffix('.').unwrap_or(t);
            owned = lower(t, buf);
            &owned
        } else {
            match normalise::domain(t) {
                Ok(n) => {
                    owned = Cow::Owned(n);
                    &owned
                }
                Err(_) => return,
            }
        };
        if let Some(pos) = self.find(IndicatorKind::Domain, name) {
            self.push(field, text, pos, MatchHow::Exact, out);
        }
        let mut rest = name;
        while let Some((_, parent)) = rest.split_once('.') {
            if !parent.contains('.') {
                break;
            }
            if let Some(pos) = self.find(IndicatorKind::Domain, parent) {
                self.push(field, text, pos, MatchHow::Subdomain, out);
            }
            rest = parent;
        }
    }

    fn match_url(
        &self,
        field: EntityField,
        text: &str,
        buf: &mut [u8; 256],
        out: &mut Vec<IntelMatch>,
    ) {
        let needs_parse = match quick_host(text) {
            Some(host) => self.url_hosts.contains(&*lower(host, buf)),
            // A host the quick path cannot vouch for: let the URL parser decide.
            None => true,
        };
        if !needs_parse {
            return;
        }
        if let Ok(norm) = normalise::url(text)
            && let Some(pos) = self.find(IndicatorKind::Url, &norm)
        {
            self.push(field, text, pos, MatchHow::Exact, out);
        }
    }
}

/// `s` in ASCII lowercase, through `buf` when it has uppercase letters and fits.
fn lower<'a>(s: &'a str, buf: &'a mut [u8; 256]) -> Cow<'a, str> {
    if !s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(s);
    }
    if s.len() > buf.len() {
        return Cow::Owned(s.to_ascii_lowercase());
    }
    let out = &mut buf[..s.len()];
    out.copy_from_slice(s.as_bytes());
    out.make_ascii_lowercase();
    // ASCII lowercasing keeps UTF-8 valid.
    Cow::Borrowed(std::str::from_utf8(out).expect("lowercased UTF-8"))
}

/// The host of a URL as the `url` crate would write it, when that is certain without parsing:
/// plain ASCII names and dotted-quad addresses (else `None`: IPv6, IDN, escapes, numeric
/// forms like `0x7f.1` that the parser rewrites).
fn quick_host(url: &str) -> Option<&str> {
    let url = url.trim();
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return None,
        None => host_port,
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return None;
    }
    let last = host
        .trim_end_matches('.')
        .rsplit('.')
        .next()
        .unwrap_or(host);
    if last.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && host.parse::<std::net::Ipv4Addr>().is_err()
    {
        return None;
    }
    if host.ends_with('.') {
        return None;
    }
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_hosts() {
        assert_eq!(
            quick_host("http://Evil.Example:8080/a"),
            Some("Evil.Example")
        );
        assert_eq!(
            quick_host("https://u:p@evil.example?x"),
            Some("evil.example")
        );
        assert_eq!(quick_host("http://1.2.3.4/x"), Some("1.2.3.4"));
        assert_eq!(quick_host("http://0x7f.1/x"), None);
        assert_eq!(quick_host("http://[::1]/x"), None);
        assert_eq!(quick_host("http://bücher.example/"), None);
        assert_eq!(quick_host("http://evil%2eexample/"), None);
    }

    #[test]
    fn lowercase_through_the_buffer() {
        let mut buf = [0u8; 256];
        assert!(matches!(lower("abc", &mut buf), Cow::Borrowed("abc")));
        assert_eq!(lower("ABc", &mut buf), "abc");
        assert_eq!(lower(&"A".repeat(300), &mut buf), "a".repeat(300));
    }
}
