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
//! The IP tables and the others are built on two threads when both sides are large.
//!
//! Most lookups miss, and the tables of millions of entries miss the CPU cache, so
//! split-block Bloom filters (one cache line per lookup, 12 bits per value; the `filter`
//! module) of every exact value and URL host, and of every single address, answer most
//! misses first; the value is hashed once, ASCII case folded while
//! hashing, so nothing is lowercased or copied before the filter says maybe. A bitmap of
//! the /24s that IPv4 blocks touch (2 MiB) spares most addresses the trie walk, and a
//! domain's parents are looked up only at the label counts some domain indicator has.
//! Matching an event allocates only for its matches.

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet, HashTable};
use ipnet::{Ipv4Net, Ipv6Net};
use jiff::Timestamp;
use prefix_trie::PrefixMap;
use vigil_core::{Entities, EntityField, EntityKind, EntityValue};

use crate::normalise;
use filter::BlockFilter;

mod filter;
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
    values: ValueTables,
    ips: IpTables,
    stats: BuildStats,
}

/// Every value but IP addresses and blocks: URLs, names, hashes, e-mail, JA3, user agents,
/// file names. Built on its own thread, beside [`IpTables`].
struct ValueTables {
    /// Values by (kind, value), hashed by [`key_hash`]: positions in `Matcher::indicators`.
    exact: HashTable<u32>,
    /// Every key of `exact` and every URL host: a "no" here is certain.
    filter: BlockFilter,
    /// The [`key_hash`] of each URL indicator's host: a URL is parsed only when its host's
    /// hash is here (a filter false positive on a busy host would parse every URL of it).
    url_hosts: HashSet<u64, Hasher>,
    /// Bit n: some domain indicator has n labels (63: 63 or more).
    domain_labels: u64,
    /// Which kinds have any indicator, to skip lookups that cannot match.
    present: [bool; IndicatorKind::ALL.len()],
}

/// IP addresses and blocks.
struct IpTables {
    v4_addrs: HashMap<u32, u32, Hasher>,
    v6_addrs: HashMap<u128, u32, Hasher>,
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
    /// Bit per /24 that some IPv4 block covers or overlaps (empty when there is no block).
    v4_cover: Vec<u64>,
    /// Every single address ([`ip_hash`]): a "no" here is certain.
    filter: BlockFilter,
    addresses: usize,
    blocks: usize,
}

impl Default for ValueTables {
    fn default() -> Self {
        ValueTables::build(&[], &[])
    }
}

impl Default for IpTables {
    fn default() -> Self {
        IpTables::build(&[], &[], &[])
    }
}

/// The key tag of URL hosts in the filter (kinds use their discriminant).
const URL_HOST_TAG: u8 = 0xff;
/// Below this many indicators of each side the tables are built on one thread: starting a
/// second costs more than it saves.
const PARALLEL_BUILD: usize = 50_000;

/// The 64-bit multiply folded to 64 bits: the mixing step of [`key_hash`] and [`ip_hash`].
fn mix(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

const K: [u64; 3] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
];

/// The hash of a (kind, value) key, with ASCII letters folded to lowercase as they are
/// hashed: a value and any ASCII-case variant of it hash alike, so an event's value is looked
/// up without being lowercased first (the table comparison then decides case).
fn key_hash(tag: u8, value: &[u8]) -> u64 {
    // Setting bit 5 of every byte lowercases ASCII letters and leaves digits, `-` and `.`
    // alone; the other bytes it changes collide only with each other (a false "maybe").
    const FOLD: u64 = 0x2020_2020_2020_2020;
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

/// The filter hash of a single IP address (IPv6 ones tagged apart: `::a.b.c.d` is not
/// `a.b.c.d`).
fn ip_hash(bits: u128, v6: bool) -> u64 {
    let tag = if v6 { K[2] } else { K[1] };
    mix(mix((bits as u64) ^ K[0], tag) ^ ((bits >> 64) as u64), K[0])
}

/// Number of labels of a DNS name.
fn labels(name: &str) -> usize {
    name.bytes().filter(|&b| b == b'.').count() + 1
}

/// A label count as a bit of [`ValueTables::domain_labels`].
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
    ///
    /// The live indicators are sorted out first, by side (IPs, other values); the two sides'
    /// tables are then built on two threads when both are large.
    pub fn build_with(
        set: &IntelSet,
        now: Timestamp,
        leave_out: impl Fn(&Indicator) -> Option<LeftOut>,
    ) -> Matcher {
        let mut stats = BuildStats::default();
        let mut indicators = Vec::with_capacity(set.len());
        // Positions in `indicators`, by table: other values, IPv4, IPv6.
        let (mut values, mut v4, mut v6) = (Vec::new(), Vec::new(), Vec::new());
        for ind in set.shared() {
            if ind.revoked() {
                stats.revoked += 1;
                continue;
            }
            if ind.valid_until().is_some_and(|t| t <= now) {
                stats.expired += 1;
                continue;
            }
            if ind.valid_from().is_some_and(|t| t > now) {
                stats.not_yet_valid += 1;
                continue;
            }
            match leave_out(ind) {
                Some(LeftOut::Allowlisted) => stats.allowlisted += 1,
                Some(LeftOut::Decayed) => stats.decayed += 1,
                None => {
                    let pos = indicators.len() as u32;
                    match ind.kind() {
                        IndicatorKind::Ipv4 => v4.push(pos),
                        IndicatorKind::Ipv6 => v6.push(pos),
                        _ => values.push(pos),
                    }
                    indicators.push(ind.clone());
                }
            }
        }
        stats.live = indicators.len();
        let (values, ips) = if values.len().min(v4.len() + v6.len()) < PARALLEL_BUILD {
            (
                ValueTables::build(&indicators, &values),
                IpTables::build(&indicators, &v4, &v6),
            )
        } else {
            std::thread::scope(|scope| {
                let other = scope.spawn(|| ValueTables::build(&indicators, &values));
                let ips = IpTables::build(&indicators, &v4, &v6);
                let values = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (values, ips)
            })
        };
        stats.values = values.exact.len();
        stats.ip_addresses = ips.addresses;
        stats.ip_blocks = ips.blocks;
        Matcher {
            indicators,
            values,
            ips,
            stats,
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
            EntityKind::Url if self.values.present[K::Url as usize] => {
                self.match_url(field, text, out)
            }
            EntityKind::Email if self.values.present[K::Email as usize] => {
                if text.is_ascii() {
                    self.match_exact(field, text, K::Email, text.trim(), Case::Ascii, out);
                } else if let Ok(v) = normalise::value(K::Email, text) {
                    self.match_exact(field, text, K::Email, &v, Case::Exact, out);
                }
            }
            EntityKind::Hash => {
                let kind = field.hash_algorithm().and_then(IndicatorKind::of_hash);
                if let Some(kind) = kind.filter(|k| self.values.present[*k as usize]) {
                    self.match_exact(field, text, kind, text.trim(), Case::Ascii, out);
                }
            }
            EntityKind::TlsFingerprint
                if field == EntityField::TlsJa3 && self.values.present[K::Ja3 as usize] =>
            {
                self.match_exact(field, text, K::Ja3, text.trim(), Case::Ascii, out);
            }
            EntityKind::UserAgent if self.values.present[K::UserAgent as usize] => {
                self.match_exact(field, text, K::UserAgent, text.trim(), Case::Exact, out);
            }
            EntityKind::File | EntityKind::Process
                if matches!(
                    field,
                    EntityField::FileName | EntityField::ProcessName | EntityField::ParentName
                ) && self.values.present[K::FileName as usize] =>
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
        if !self.values.filter.contains(hash) {
            return None;
        }
        self.values
            .exact
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
                if self.ips.filter.contains(ip_hash(u128::from(bits), false))
                    && let Some(&pos) = self.ips.v4_addrs.get(&bits)
                {
                    self.push_ip(field, ip, pos, MatchHow::Exact, out);
                }
                if self.ips.may_cover_v4(bits) {
                    let host = Ipv4Net::from(a);
                    for &pos in self.ips.v4.cover_values(&host) {
                        self.push_ip(field, ip, pos, MatchHow::InBlock, out);
                    }
                }
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                if self.ips.filter.contains(ip_hash(bits, true))
                    && let Some(&pos) = self.ips.v6_addrs.get(&bits)
                {
                    self.push_ip(field, ip, pos, MatchHow::Exact, out);
                }
                if !self.ips.v6.is_empty() {
                    let host = Ipv6Net::from(a);
                    for &pos in self.ips.v6.cover_values(&host) {
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
        if !self.values.present[IndicatorKind::Domain as usize] {
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
            if self.values.domain_labels & label_bit(count) != 0
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
                self.values.filter.contains(h) && self.values.url_hosts.contains(&h)
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

impl ValueTables {
    /// The tables of the indicators at `positions` of `all` (none of them IPs).
    fn build(all: &[Arc<Indicator>], positions: &[u32]) -> ValueTables {
        let urls = positions
            .iter()
            .filter(|&&p| all[p as usize].kind() == IndicatorKind::Url)
            .count();
        let mut t = ValueTables {
            exact: HashTable::with_capacity(positions.len()),
            filter: BlockFilter::with_keys(positions.len() + urls),
            url_hosts: HashSet::with_capacity_and_hasher(urls, Hasher::default()),
            domain_labels: 0,
            present: [false; IndicatorKind::ALL.len()],
        };
        for &pos in positions {
            let ind = &all[pos as usize];
            let kind = ind.kind();
            t.present[kind as usize] = true;
            if kind == IndicatorKind::Url {
                // The value is normalised, so its plain host reads without a parse.
                let host = match quick_host(ind.value()) {
                    Some(host) => Some(key_hash(URL_HOST_TAG, host.as_bytes())),
                    None => url::Url::parse(ind.value())
                        .ok()
                        .and_then(|u| u.host_str().map(|h| key_hash(URL_HOST_TAG, h.as_bytes()))),
                };
                if let Some(h) = host {
                    t.filter.insert(h);
                    t.url_hosts.insert(h);
                }
            }
            if kind == IndicatorKind::Domain {
                t.domain_labels |= label_bit(labels(ind.value()));
            }
            let hash = key_hash(kind as u8, ind.value().as_bytes());
            t.filter.insert(hash);
            t.exact.insert_unique(hash, pos, |&i| {
                let x = &all[i as usize];
                key_hash(x.kind() as u8, x.value().as_bytes())
            });
        }
        t
    }
}

impl IpTables {
    /// The tables of the IPv4 and IPv6 indicators at `v4` and `v6` of `all`.
    fn build(all: &[Arc<Indicator>], v4: &[u32], v6: &[u32]) -> IpTables {
        let mut t = IpTables {
            v4_addrs: HashMap::with_capacity_and_hasher(v4.len(), Hasher::default()),
            v6_addrs: HashMap::with_capacity_and_hasher(v6.len(), Hasher::default()),
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
            v4_cover: Vec::new(),
            filter: BlockFilter::with_keys(v4.len() + v6.len()),
            addresses: 0,
            blocks: 0,
        };
        for &pos in v4.iter().chain(v6) {
            // Values were normalised on the way in, so they parse.
            let Some(net) = all[pos as usize].ip_net() else {
                continue;
            };
            if net.prefix_len() == net.max_prefix_len() {
                let hash = match net.addr() {
                    IpAddr::V4(a) => {
                        t.v4_addrs.insert(u32::from(a), pos);
                        ip_hash(u128::from(u32::from(a)), false)
                    }
                    IpAddr::V6(a) => {
                        t.v6_addrs.insert(u128::from(a), pos);
                        ip_hash(u128::from(a), true)
                    }
                };
                t.filter.insert(hash);
                t.addresses += 1;
            } else {
                match net {
                    ipnet::IpNet::V4(n) => {
                        t.v4.insert(n, pos);
                        t.cover_v4(n);
                    }
                    ipnet::IpNet::V6(n) => {
                        t.v6.insert(n, pos);
                    }
                }
                t.blocks += 1;
            }
        }
        t
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

    /// True when some IPv4 block may cover the address `bits`.
    fn may_cover_v4(&self, bits: u32) -> bool {
        let slash24 = bits >> 8;
        !self.v4_cover.is_empty()
            && self.v4_cover[(slash24 >> 6) as usize] & (1 << (slash24 & 63)) != 0
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
