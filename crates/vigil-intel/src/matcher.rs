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
//!
//! Most lookups miss, and the tables of millions of entries miss the CPU cache, so a Bloom
//! filter (`fastbloom`, about 10 bits per value) of every exact value, single address and
//! URL host answers most misses first; the value is hashed once, ASCII case folded while
//! hashing, so nothing is lowercased or copied before the filter says maybe. A bitmap of
//! the /24s that IPv4 blocks touch (2 MiB) spares most addresses the trie walk, and a
//! domain's parents are looked up only at the label counts some domain indicator has.
//! Matching an event allocates only for its matches.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use fastbloom::BloomFilter;
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
pub struct Matcher {
    indicators: Vec<Arc<Indicator>>,
    /// Non-IP values by (kind, value), hashed by [`key_hash`]: positions in `indicators`.
    exact: HashTable<u32>,
    v4_addrs: HashMap<u32, u32, Hasher>,
    v6_addrs: HashMap<u128, u32, Hasher>,
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
    /// Bit per /24 that some IPv4 block covers or overlaps (empty when there is no block).
    v4_cover: Vec<u64>,
    /// Every key of `exact`, single address and URL host: a "no" here is certain.
    filter: BloomFilter,
    /// The [`key_hash`] of each URL indicator's host: a URL is parsed only when its host's
    /// hash is here (a Bloom false positive on a busy host would parse every URL of it).
    url_hosts: HashSet<u64, Hasher>,
    /// Bit n: some domain indicator has n labels (63: 63 or more).
    domain_labels: u64,
    /// Which kinds have any indicator, to skip lookups that cannot match.
    present: [bool; IndicatorKind::ALL.len()],
    hasher: Hasher,
    stats: BuildStats,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            indicators: Vec::new(),
            exact: HashTable::new(),
            v4_addrs: HashMap::default(),
            v6_addrs: HashMap::default(),
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
            v4_cover: Vec::new(),
            url_hosts: HashSet::default(),
            filter: BloomFilter::with_num_bits(64).hashes(FILTER_HASHES),
            domain_labels: 0,
            present: [false; IndicatorKind::ALL.len()],
            hasher: Hasher::default(),
            stats: BuildStats::default(),
        }
    }
}

/// Bloom filter bits per key and hash functions: about 2% false positives, three bits to set
/// per key when building.
const FILTER_BITS_PER_KEY: usize = 10;
const FILTER_HASHES: u32 = 3;
/// The key tag of URL hosts in the filter (kinds use their discriminant).
const URL_HOST_TAG: u8 = 0xff;
/// The key tag of single IP addresses in the filter.
const IP_TAG: u8 = 0xfe;

/// The hash of a (kind, value) key, with ASCII letters folded to lowercase as they are
/// hashed: a value and any ASCII-case variant of it hash alike, so an event's value is looked
/// up without being lowercased first (the table comparison then decides case).
fn key_hash(tag: u8, value: &[u8]) -> u64 {
    // Setting bit 5 of every byte lowercases ASCII letters and leaves digits, `-` and `.`
    // alone; the other bytes it changes collide only with each other (a false "maybe").
    const FOLD: u64 = 0x2020_2020_2020_2020;
    const K: [u64; 3] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
    ];
    let mix = |a: u64, b: u64| {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    };
    let mut h = mix(u64::from(tag) ^ K[0], (value.len() as u64) ^ K[1]);
    let mut chunks = value.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes")) | FOLD;
        h = mix(h ^ w, K[2]);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = mix(h ^ (u64::from_le_bytes(b) | FOLD), K[1]);
    }
    mix(h, K[0])
}

/// Number of labels of a DNS name.
fn labels(name: &str) -> usize {
    name.bytes().filter(|&b| b == b'.').count() + 1
}

/// A label count as a bit of [`Matcher::domain_labels`].
fn label_bit(labels: usize) -> u64 {
    1 << labels.min(63)
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
        m.indicators.reserve(set.len());
        // First the live indicators, counted by table, so each table is sized once.
        let (mut values, mut hosts, mut v4_addrs, mut v6_addrs) = (0, 0, 0, 0);
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
                None => {
                    match ind.kind() {
                        IndicatorKind::Ipv4 => v4_addrs += usize::from(!ind.value().contains('/')),
                        IndicatorKind::Ipv6 => v6_addrs += usize::from(!ind.value().contains('/')),
                        IndicatorKind::Url => (values, hosts) = (values + 1, hosts + 1),
                        _ => values += 1,
                    }
                    m.indicators.push(ind.clone());
                }
            }
        }
        m.stats.live = m.indicators.len();
        // Empty, so nothing is rehashed while reserving.
        m.exact.reserve(values, |_| 0);
        m.v4_addrs.reserve(v4_addrs);
        m.v6_addrs.reserve(v6_addrs);
        m.url_hosts.reserve(hosts);
        let keys = values + hosts + v4_addrs + v6_addrs;
        m.filter =
            BloomFilter::with_num_bits((keys * FILTER_BITS_PER_KEY).max(64)).hashes(FILTER_HASHES);
        let indicators = std::mem::take(&mut m.indicators);
        for (pos, ind) in indicators.iter().enumerate() {
            m.insert(pos as u32, ind, &indicators);
        }
        m.indicators = indicators;
        m
    }

    /// Puts `ind`, at `pos` of `all`, in its table.
    fn insert(&mut self, pos: u32, ind: &Indicator, all: &[Arc<Indicator>]) {
        let kind = ind.kind();
        self.present[kind as usize] = true;
        match kind {
            IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => match ind.ip_net() {
                Some(net) if net.prefix_len() == net.max_prefix_len() => {
                    let key = match net.addr() {
                        IpAddr::V4(a) => {
                            self.v4_addrs.insert(u32::from(a), pos);
                            self.hasher.hash_one((IP_TAG, u128::from(u32::from(a))))
                        }
                        IpAddr::V6(a) => {
                            self.v6_addrs.insert(u128::from(a), pos);
                            self.hasher.hash_one((IP_TAG, u128::from(a) ^ V6_KEY))
                        }
                    };
                    self.filter.insert_hash(key);
                    self.stats.ip_addresses += 1;
                }
                Some(ipnet::IpNet::V4(n)) => {
                    self.v4.insert(n, pos);
                    self.cover_v4(n);
                    self.stats.ip_blocks += 1;
                }
                Some(ipnet::IpNet::V6(n)) => {
                    self.v6.insert(n, pos);
                    self.stats.ip_blocks += 1;
                }
                // Values were normalised on the way in, so they parse.
                None => {}
            },
            _ => {
                if kind == IndicatorKind::Url {
                    // The value is normalised, so its plain host reads without a parse.
                    let host = match quick_host(ind.value()) {
                        Some(host) => Some(key_hash(URL_HOST_TAG, host.as_bytes())),
                        None => url::Url::parse(ind.value()).ok().and_then(|u| {
                            u.host_str().map(|h| key_hash(URL_HOST_TAG, h.as_bytes()))
                        }),
                    };
                    if let Some(h) = host {
                        self.filter.insert_hash(h);
                        self.url_hosts.insert(h);
                    }
                }
                if kind == IndicatorKind::Domain {
                    self.domain_labels |= label_bit(labels(ind.value()));
                }
                let hash = key_hash(kind as u8, ind.value().as_bytes());
                self.filter.insert_hash(hash);
                self.exact.insert_unique(hash, pos, |&i| {
                    let x = &all[i as usize];
                    key_hash(x.kind() as u8, x.value().as_bytes())
                });
                self.stats.values += 1;
            }
        }
    }

    /// Marks the /24s that block `n` covers (or, for a block longer than /24, overlaps).
    fn cover_v4(&mut self, n: Ipv4Net) {
        if self.v4_cover.is_empty() {
            self.v4_cover = vec![0; (1 << 24) / 64];
        }
        let first = u32::from(n.network()) >> 8;
        let count = 1u32 << 24u8.saturating_sub(n.prefix_len());
        for slash24 in first..first + count {
            self.v4_cover[(slash24 >> 6) as usize] |= 1 << (slash24 & 63);
        }
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
    /// IP fields against addresses and blocks; DNS-name fields (and the endpoints' hostnames)
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
        match field.kind() {
            EntityKind::Domain => self.match_name(field, text, out),
            EntityKind::Host
                if matches!(field, EntityField::DstHostname | EntityField::SrcHostname) =>
            {
                self.match_name(field, text, out)
            }
            EntityKind::Url if self.present[K::Url as usize] => self.match_url(field, text, out),
            EntityKind::Email if self.present[K::Email as usize] => {
                if text.is_ascii() {
                    self.match_exact(field, text, K::Email, text.trim(), Case::Ascii, out);
                } else if let Ok(v) = normalise::value(K::Email, text) {
                    self.match_exact(field, text, K::Email, &v, Case::Exact, out);
                }
            }
            EntityKind::Hash => {
                let kind = field.hash_algorithm().and_then(IndicatorKind::of_hash);
                if let Some(kind) = kind.filter(|k| self.present[*k as usize]) {
                    self.match_exact(field, text, kind, text.trim(), Case::Ascii, out);
                }
            }
            EntityKind::TlsFingerprint
                if field == EntityField::TlsJa3 && self.present[K::Ja3 as usize] =>
            {
                self.match_exact(field, text, K::Ja3, text.trim(), Case::Ascii, out);
            }
            EntityKind::UserAgent if self.present[K::UserAgent as usize] => {
                self.match_exact(field, text, K::UserAgent, text.trim(), Case::Exact, out);
            }
            EntityKind::File | EntityKind::Process
                if matches!(
                    field,
                    EntityField::FileName | EntityField::ProcessName | EntityField::ParentName
                ) && self.present[K::FileName as usize] =>
            {
                self.match_exact(field, text, K::FileName, text.trim(), Case::Exact, out);
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
        let indicator = &self.indicators[pos as usize];
        // A connection-side indicator counts only on its side (see `Scope`).
        if !indicator.scope().admits(field) {
            return;
        }
        out.push(IntelMatch {
            field,
            value: value.to_string(),
            indicator: indicator.clone(),
            how,
        });
    }

    /// The position of the indicator of `kind` whose value is `value` (ASCII case ignored
    /// with [`Case::Ascii`], for kinds whose values are stored lowercase).
    fn find(&self, kind: IndicatorKind, value: &str, case: Case) -> Option<u32> {
        let hash = key_hash(kind as u8, value.as_bytes());
        if !self.filter.contains_hash(hash) {
            return None;
        }
        self.exact
            .find(hash, |&i| {
                let x = &self.indicators[i as usize];
                x.kind() == kind
                    && match case {
                        Case::Exact => x.value() == value,
                        Case::Ascii => x.value().eq_ignore_ascii_case(value),
                    }
            })
            .copied()
    }

    fn match_exact(
        &self,
        field: EntityField,
        original: &str,
        kind: IndicatorKind,
        value: &str,
        case: Case,
        out: &mut Vec<IntelMatch>,
    ) {
        if let Some(pos) = self.find(kind, value, case) {
            self.push(field, original, pos, MatchHow::Exact, out);
        }
    }

    fn match_ip(&self, field: EntityField, ip: IpAddr, out: &mut Vec<IntelMatch>) {
        let ip = ip.to_canonical();
        match ip {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                if !self.v4_addrs.is_empty()
                    && self
                        .filter
                        .contains_hash(self.hasher.hash_one((IP_TAG, u128::from(bits))))
                    && let Some(&pos) = self.v4_addrs.get(&bits)
                {
                    self.push_ip(field, ip, pos, MatchHow::Exact, out);
                }
                let slash24 = bits >> 8;
                if !self.v4_cover.is_empty()
                    && self.v4_cover[(slash24 >> 6) as usize] & (1 << (slash24 & 63)) != 0
                {
                    let host = Ipv4Net::from(a);
                    for &pos in self.v4.cover_values(&host) {
                        self.push_ip(field, ip, pos, MatchHow::InBlock, out);
                    }
                }
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                if !self.v6_addrs.is_empty()
                    && self
                        .filter
                        .contains_hash(self.hasher.hash_one((IP_TAG, bits ^ V6_KEY)))
                    && let Some(&pos) = self.v6_addrs.get(&bits)
                {
                    self.push_ip(field, ip, pos, MatchHow::Exact, out);
                }
                if !self.v6.is_empty() {
                    let host = Ipv6Net::from(a);
                    for &pos in self.v6.cover_values(&host) {
                        self.push_ip(field, ip, pos, MatchHow::InBlock, out);
                    }
                }
            }
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
        let indicator = &self.indicators[pos as usize];
        if !indicator.scope().admits(field) {
            return;
        }
        out.push(IntelMatch {
            field,
            value: ip.to_string(),
            indicator: indicator.clone(),
            how,
        });
    }

    /// A DNS name (or an address written where a name goes): the name and its parents.
    fn match_name(&self, field: EntityField, text: &str, out: &mut Vec<IntelMatch>) {
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
        let (name, case) = if t.is_ascii() {
            (t.strip_suffix('.').unwrap_or(t), Case::Ascii)
        } else {
            match normalise::domain(t) {
                Ok(n) => {
                    owned = n;
                    (owned.as_str(), Case::Exact)
                }
                Err(_) => return,
            }
        };
        // The name, then each parent of two labels or more, at the label counts that some
        // domain indicator has.
        let mut count = labels(name);
        let mut rest = name;
        let mut how = MatchHow::Exact;
        loop {
            if self.domain_labels & label_bit(count) != 0
                && let Some(pos) = self.find(IndicatorKind::Domain, rest, case)
            {
                self.push(field, text, pos, how, out);
            }
            match rest.split_once('.') {
                Some((_, parent)) if count > 2 => (rest, count) = (parent, count - 1),
                _ => break,
            }
            how = MatchHow::Subdomain;
        }
    }

    fn match_url(&self, field: EntityField, text: &str, out: &mut Vec<IntelMatch>) {
        let needs_parse = match quick_host(text) {
            Some(host) => {
                let h = key_hash(URL_HOST_TAG, host.as_bytes());
                self.filter.contains_hash(h) && self.url_hosts.contains(&h)
            }
            // A host the quick path cannot vouch for: let the URL parser decide.
            None => true,
        };
        if !needs_parse {
            return;
        }
        if let Ok(norm) = normalise::url(text)
            && let Some(pos) = self.find(IndicatorKind::Url, &norm, Case::Exact)
        {
            self.push(field, text, pos, MatchHow::Exact, out);
        }
    }
}

/// How a looked-up value is compared with the stored one.
#[derive(Clone, Copy)]
enum Case {
    /// Byte for byte.
    Exact,
    /// ASCII case ignored: the stored value is lowercase (hashes, e-mail, plain domains).
    Ascii,
}

/// Keeps IPv6 addresses' filter keys apart from IPv4 ones (`::a.b.c.d` would collide).
const V6_KEY: u128 = 1 << 127 | 1;

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
}

#[cfg(test)]
mod prefilter_tests {
    use super::*;
    use crate::{NewIndicator, Source};

    fn matcher(items: &[(IndicatorKind, &str)]) -> Matcher {
        let mut set = IntelSet::new();
        for (k, v) in items {
            let source = Source {
                feed: "t".into(),
                external_id: None,
                first_seen: None,
                last_seen: None,
            };
            set.add(NewIndicator::new(*k, *v, source)).unwrap();
        }
        Matcher::build(&set, "2026-01-01T00:00:00Z".parse().unwrap())
    }

    fn hits(m: &Matcher, field: EntityField, value: &str) -> Vec<(String, MatchHow)> {
        let mut out = Vec::new();
        let v = match vigil_core::parse_ip(value) {
            Some(ip) => EntityValue::Ip(ip),
            None => EntityValue::Text(value.into()),
        };
        m.match_value(field, &v, &mut out);
        out.into_iter()
            .map(|x| (x.indicator.value().to_string(), x.how))
            .collect()
    }

    #[test]
    fn key_hash_folds_ascii_case_only() {
        let h = |s: &str| key_hash(IndicatorKind::Sha1 as u8, s.as_bytes());
        assert_eq!(h("ABCdef0123456789"), h("abcdef0123456789"));
        assert_ne!(h("abcdef0123456789"), h("abcdef0123456788"));
        assert_ne!(
            key_hash(IndicatorKind::Md5 as u8, b"ab"),
            key_hash(IndicatorKind::Sha1 as u8, b"ab")
        );
    }

    #[test]
    fn block_bitmap_keeps_short_and_long_blocks() {
        use IndicatorKind as K;
        let m = matcher(&[
            (K::Ipv4, "10.0.0.0/8"),
            (K::Ipv4, "192.0.2.16/28"),
            (K::Ipv4, "0.0.0.0/0"),
            (K::Ipv4, "198.51.100.7"),
        ]);
        let f = EntityField::DstIp;
        let all = ("0.0.0.0/0".to_string(), MatchHow::InBlock);
        assert_eq!(
            hits(&m, f, "10.200.3.4"),
            vec![all.clone(), ("10.0.0.0/8".into(), MatchHow::InBlock)]
        );
        assert_eq!(
            hits(&m, f, "192.0.2.20"),
            vec![all.clone(), ("192.0.2.16/28".into(), MatchHow::InBlock)]
        );
        // The same /24, outside the /28.
        assert_eq!(hits(&m, f, "192.0.2.40"), vec![all.clone()]);
        assert_eq!(
            hits(&m, f, "198.51.100.7"),
            vec![("198.51.100.7".into(), MatchHow::Exact), all]
        );
    }

    #[test]
    fn parents_at_every_indicator_label_count() {
        use IndicatorKind as K;
        let m = matcher(&[
            (K::Domain, "evil.example"),
            (K::Domain, "a.b.c.other.example"),
        ]);
        let f = EntityField::QueryHostname;
        assert_eq!(
            hits(&m, f, "X.Y.Evil.Example."),
            vec![("evil.example".into(), MatchHow::Subdomain)]
        );
        assert_eq!(
            hits(&m, f, "z.A.b.c.other.example"),
            vec![("a.b.c.other.example".into(), MatchHow::Subdomain)]
        );
        assert_eq!(
            hits(&m, f, "a.b.c.other.example"),
            vec![("a.b.c.other.example".into(), MatchHow::Exact)]
        );
        assert!(hits(&m, f, "b.c.other.example").is_empty());
        assert!(hits(&m, f, "example").is_empty());
    }
}
