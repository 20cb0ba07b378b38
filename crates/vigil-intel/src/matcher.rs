//! [`Matcher`]: an [`IntelSet`] compiled for matching events, immutable once built (rebuild
//! and swap an `Arc<Matcher>` to change it).
//!
//! - IP addresses: a hash map of single addresses, and sorted tables of the address ranges
//!   that CIDR blocks cut (v4 and v6, the `blocks` module), where every block covering the
//!   address matches.
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
//! the /24s that IPv4 blocks touch (2 MiB) spares most addresses the block lookup, and a
//! domain's parents are looked up only at the label counts some domain indicator has.
//! Matching an event allocates only for its matches.

use std::net::IpAddr;
use std::sync::Arc;

use blocks::Blocks;
use filter::BlockFilter;
use hashbrown::{HashMap, HashSet, HashTable};
use ipnet::Ipv4Net;
use jiff::Timestamp;
use vigil_core::EntityField;

mod blocks;
mod filter;
mod lookup;
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
    v4: Blocks<u32>,
    v6: Blocks<u128>,
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
#[inline(always)]
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
#[inline(always)]
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
#[inline(always)]
fn ip_hash(bits: u128, v6: bool) -> u64 {
    let tag = if v6 { K[2] } else { K[1] };
    mix(mix((bits as u64) ^ K[0], tag) ^ ((bits >> 64) as u64), K[0])
}

/// Number of labels of a DNS name.
fn labels(name: &str) -> usize {
    name.bytes().filter(|&b| b == b'.').count() + 1
}

/// A label count as a bit of [`ValueTables::domain_labels`].
#[inline(always)]
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
        // By chunks: first each indicator's block and value are asked for, then the chunk's
        // keys hashed and their filter blocks asked for, then all inserted. With millions of
        // indicators each of those reads misses the cache; in a chunk they overlap.
        const CHUNK: usize = 16;
        for chunk in positions.chunks(CHUNK) {
            for &pos in chunk {
                filter::prefetch(&*all[pos as usize]);
            }
            for &pos in chunk {
                if let Some(first) = all[pos as usize].value().as_bytes().first() {
                    filter::prefetch(first);
                }
            }
            let mut hashes = [0u64; CHUNK];
            // The table's buckets are read too (a probe starts at the bucket of the hash's
            // low bits): `get_bucket` reads the control byte there.
            let mask = t.exact.num_buckets().wrapping_sub(1);
            let mut seen = 0u32;
            for (hash, &pos) in hashes.iter_mut().zip(chunk) {
                let ind = &all[pos as usize];
                *hash = key_hash(ind.kind() as u8, ind.value().as_bytes());
                t.filter.prefetch(*hash);
                if let Some(&x) = t.exact.get_bucket(*hash as usize & mask) {
                    seen ^= x;
                }
            }
            std::hint::black_box(seen);
            for (&hash, &pos) in hashes.iter().zip(chunk) {
                t.add(all, pos, hash);
            }
        }
        t
    }

    /// Adds the indicator at `pos` of `all`, whose key hash is `hash`.
    fn add(&mut self, all: &[Arc<Indicator>], pos: u32, hash: u64) {
        let t = self;
        {
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
            t.filter.insert(hash);
            t.exact.insert_unique(hash, pos, |&i| {
                let x = &all[i as usize];
                key_hash(x.kind() as u8, x.value().as_bytes())
            });
        }
    }
}

impl IpTables {
    /// The tables of the IPv4 and IPv6 indicators at `v4` and `v6` of `all`.
    fn build(all: &[Arc<Indicator>], v4: &[u32], v6: &[u32]) -> IpTables {
        let mut t = IpTables {
            v4_addrs: HashMap::with_capacity_and_hasher(v4.len(), Hasher::default()),
            v6_addrs: HashMap::with_capacity_and_hasher(v6.len(), Hasher::default()),
            v4: Blocks::default(),
            v6: Blocks::default(),
            v4_cover: Vec::new(),
            filter: BlockFilter::with_keys(v4.len() + v6.len()),
            addresses: 0,
            blocks: 0,
        };
        let (mut v4_blocks, mut v6_blocks) = (Vec::new(), Vec::new());
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
                        v4_blocks.push((u32::from(n.network()), n.prefix_len(), pos));
                        t.cover_v4(n);
                    }
                    ipnet::IpNet::V6(n) => {
                        v6_blocks.push((u128::from(n.network()), n.prefix_len(), pos));
                    }
                }
                t.blocks += 1;
            }
        }
        t.v4 = Blocks::build(v4_blocks);
        t.v6 = Blocks::build(v6_blocks);
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
    #[inline]
    fn may_cover_v4(&self, bits: u32) -> bool {
        let slash24 = bits >> 8;
        !self.v4_cover.is_empty()
            && self.v4_cover[(slash24 >> 6) as usize] & (1 << (slash24 & 63)) != 0
    }

    /// Starts loading the bitmap word that [`IpTables::may_cover_v4`] reads for `bits`.
    fn prefetch_cover_v4(&self, bits: u32) {
        if let Some(word) = self.v4_cover.get((bits >> 14) as usize) {
            filter::prefetch(word);
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

/// The host of a URL as the `url` crate would write it, when that is certain without parsing:
/// plain ASCII names and dotted-quad addresses (else `None`: IPv6, IDN, escapes, numeric
/// forms like `0x7f.1` that the parser rewrites).
#[inline(always)]
fn quick_host(url: &str) -> Option<&str> {
    // This runs for every URL of every event: after the scheme, one pass over the authority
    // checks the host's bytes and the port's as it finds where they end.
    let url = lookup::trim(url);
    let b = url.as_bytes();
    let mut start = 0;
    for i in 0..b.len().saturating_sub(2) {
        if b[i] == b':' && b[i + 1] == b'/' && b[i + 2] == b'/' {
            start = i + 3;
            break;
        }
    }
    // Most authorities are a plain host: one test a byte finds where it ends and whether any
    // byte (`:`, `@`, or one no host holds) calls for the full reading below.
    let mut unusual = false;
    let mut end = b.len();
    for (i, &c) in b.iter().enumerate().skip(start) {
        let kind = AUTHORITY[c as usize];
        if kind == AUTHORITY_END {
            end = i;
            break;
        }
        unusual |= kind == AUTHORITY_OTHER;
    }
    if !unusual {
        let host = &url[start..end];
        if host.is_empty() || host.ends_with('.') {
            return None;
        }
        // A byte loop from the end: the last label is short, and `str::rfind` goes through
        // a char searcher and `memrchr`, several times the cost here.
        let last = b[start..end]
            .iter()
            .rposition(|&c| c == b'.')
            .map_or(start, |d| start + d + 1);
        if b[last].is_ascii_digit() && host.parse::<std::net::Ipv4Addr>().is_err() {
            return None;
        }
        return Some(host);
    }
    // The authority ends at the first `/`, `?`, `#` or `\`; the host follows its last `@`
    // and ends at the last `:` after that, which must start a numeric port.
    let (mut host_start, mut end) = (start, b.len());
    let (mut colon, mut colons, mut last_dot) = (0, 0u32, None);
    // A byte the host cannot hold (before the colon) or a port cannot (after it).
    let (mut bad_host, mut bad_port) = (false, false);
    for (i, &c) in b.iter().enumerate().skip(start) {
        match HOST_CLASS[c as usize] {
            Class::Name => {
                bad_port |= colons > 0 && !c.is_ascii_digit();
            }
            Class::Dot => {
                last_dot = Some(i);
                bad_port |= colons > 0;
            }
            Class::Colon => (colon, colons, bad_port) = (i, colons + 1, false),
            Class::At => {
                host_start = i + 1;
                (colons, last_dot, bad_host, bad_port) = (0, None, false, false);
            }
            Class::End => {
                end = i;
                break;
            }
            Class::Other => {
                bad_host |= colons == 0;
                bad_port |= colons > 0;
            }
        }
    }
    // Two colons put one in the host.
    if bad_host || bad_port || colons > 1 {
        return None;
    }
    let host_end = if colons == 1 { colon } else { end };
    let host = &url[host_start..host_end];
    if host.is_empty() || host.ends_with('.') {
        return None;
    }
    let last = last_dot.map_or(host_start, |d| d + 1);
    if b[last].is_ascii_digit() && host.parse::<std::net::Ipv4Addr>().is_err() {
        return None;
    }
    Some(host)
}

/// [`AUTHORITY`]: a byte a plain host holds (a letter, digit, `-`, `_` or `.`).
const AUTHORITY_HOST: u8 = 0;
/// [`AUTHORITY`]: `/`, `?`, `#` or `\`, which end the authority.
const AUTHORITY_END: u8 = 1;
/// [`AUTHORITY`]: anything else (`:` and `@` among them).
const AUTHORITY_OTHER: u8 = 2;

/// What a byte is to [`quick_host`]'s first, plain-host reading of an authority (three
/// values compared, not a `match`: no jump through a table for each byte).
const AUTHORITY: [u8; 256] = {
    let mut t = [AUTHORITY_OTHER; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match HOST_CLASS[c] {
            Class::Name | Class::Dot => AUTHORITY_HOST,
            Class::End => AUTHORITY_END,
            Class::Colon | Class::At | Class::Other => AUTHORITY_OTHER,
        };
        c += 1;
    }
    t
};

/// What a byte is to [`quick_host`]'s scan of an authority.
#[derive(Clone, Copy)]
enum Class {
    /// A letter, digit, `-` or `_`.
    Name,
    Dot,
    Colon,
    At,
    /// `/`, `?`, `#` or `\`: the authority ends.
    End,
    /// Anything else, which a plain host never holds.
    Other,
}

const HOST_CLASS: [Class; 256] = {
    let mut t = [Class::Other; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => Class::Name,
            b'.' => Class::Dot,
            b':' => Class::Colon,
            b'@' => Class::At,
            b'/' | b'?' | b'#' | b'\\' => Class::End,
            _ => Class::Other,
        };
        c += 1;
    }
    t
};

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
        assert_eq!(quick_host("evil.example/x"), Some("evil.example"));
        assert_eq!(quick_host("http://evil.example:x/"), None);
        assert_eq!(
            quick_host("http://a@b:c@evil.example:81/"),
            Some("evil.example")
        );
        assert_eq!(quick_host("http://evil.example./"), None);
        assert_eq!(quick_host("http://evil.example\\x"), Some("evil.example"));
        assert_eq!(quick_host("http://:80/"), None);
        assert_eq!(quick_host("http://1.2.3.4:8080/"), Some("1.2.3.4"));
    }

    /// The two-pass `quick_host` this one replaced, as the reference for the one below.
    fn quick_host_reference(url: &str) -> Option<&str> {
        let url = url.trim();
        let b = url.as_bytes();
        let start = (0..b.len().saturating_sub(2))
            .find(|&i| b[i] == b':' && b[i + 1] == b'/' && b[i + 2] == b'/')
            .map_or(0, |i| i + 3);
        let (mut host_start, mut colon, mut end) = (start, None, b.len());
        for (i, &c) in b.iter().enumerate().skip(start) {
            match c {
                b'/' | b'?' | b'#' | b'\\' => {
                    end = i;
                    break;
                }
                b'@' => (host_start, colon) = (i + 1, None),
                b':' => colon = Some(i),
                _ => {}
            }
        }
        let host_end = match colon {
            Some(c) if b[c + 1..end].iter().all(u8::is_ascii_digit) => c,
            Some(_) => return None,
            None => end,
        };
        let host = &url[host_start..host_end];
        if host.is_empty()
            || host.ends_with('.')
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return None;
        }
        let last = host.rfind('.').map_or(host, |i| &host[i + 1..]);
        if last.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && host.parse::<std::net::Ipv4Addr>().is_err()
        {
            return None;
        }
        Some(host)
    }

    /// The one-pass scan agrees with the reference on 200,000 strings made of the bytes that
    /// matter to it (separators, digits, letters, `%`, spaces, a non-ASCII letter).
    #[test]
    fn quick_host_is_the_reference() {
        const PARTS: [&str; 24] = [
            "http://", "https://", ":", "//", "/", "?", "#", "\\", "@", ".", "a", "B", "1", "255",
            "0x7f", "-", "_", "%2e", " ", "\t", "ü", "[::1]", "evil", "example",
        ];
        let mut x = 0x9e37_79b9_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut differ = Vec::new();
        let mut some = 0;
        for _ in 0..200_000 {
            let len = next() % 12;
            let s: String = (0..len)
                .map(|_| PARTS[(next() % PARTS.len() as u64) as usize])
                .collect();
            let (got, want) = (quick_host(&s), quick_host_reference(&s));
            some += usize::from(want.is_some());
            if got != want {
                differ.push((s.clone(), got.map(str::to_string), want.map(str::to_string)));
            }
        }
        assert!(differ.is_empty(), "{:?}", &differ[..differ.len().min(10)]);
        assert!(some > 10_000, "{some} strings with a host");
    }
}

#[cfg(test)]
mod prefilter_tests {
    use super::*;
    use crate::{NewIndicator, Source};
    use vigil_core::{Entities, EntityValue};

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

    /// The event path (filters for every value first, tables after) against each value
    /// matched alone, on an event whose names need more lookups than the first walk keeps
    /// bits for (domain indicators at every even label count up to 40).
    #[test]
    fn an_event_matches_as_its_values_do_one_by_one() {
        use IndicatorKind as K;
        let labels: Vec<String> = (0..40).map(|i| format!("l{i}")).collect();
        let name = format!("{}.example", labels.join("."));
        let suffixes: Vec<String> = (0..40)
            .step_by(2)
            .map(|i| format!("{}.example", labels[i..].join(".")))
            .collect();
        let mut items: Vec<(K, &str)> = suffixes.iter().map(|s| (K::Domain, s.as_str())).collect();
        items.extend([
            (K::Ipv4, "198.51.100.7"),
            (K::Ipv4, "198.51.100.0/24"),
            (K::Sha1, "0123456789abcdef0123456789abcdef01234567"),
            (K::Url, "http://evil.example/gate.php"),
            (K::Email, "bad@evil.example"),
        ]);
        let m = matcher(&items);
        let mut e = Entities::new();
        e.add_string(EntityField::TlsSni, format!("{name}.other"));
        e.add_string(EntityField::QueryHostname, name.clone());
        e.add_string(EntityField::SrcIp, "198.51.100.7".into());
        e.add_string(EntityField::DstIp, "203.0.113.9".into());
        e.add_string(
            EntityField::FileHash(vigil_core::HashAlgorithm::Sha1),
            "0123456789ABCDEF0123456789abcdef01234567".into(),
        );
        e.add_string(
            EntityField::UrlString,
            "HTTP://Evil.Example:80/gate.php".into(),
        );
        e.add_string(EntityField::ActorUserEmail, "Bad@Evil.Example".into());
        e.add_string(EntityField::UrlHostname, format!("www.{name}"));
        e.add_string(EntityField::DstHostname, format!("a.b.{name}"));
        let key = |x: &IntelMatch| {
            (
                x.field,
                x.value.clone(),
                x.indicator.value().to_string(),
                x.how,
            )
        };
        let mut whole = Vec::new();
        m.match_entities(&e, &mut whole);
        let mut alone = Vec::new();
        for (field, value) in e.iter() {
            m.match_value(field, value, &mut alone);
        }
        assert_eq!(
            whole.iter().map(key).collect::<Vec<_>>(),
            alone.iter().map(key).collect::<Vec<_>>()
        );
        // The baseline build of the body, which a CPU without AVX2 runs, agrees with the
        // form `match_entities` chose here.
        let mut portable = Vec::new();
        m.match_entities_in(&e, &mut portable);
        assert_eq!(
            whole.iter().map(key).collect::<Vec<_>>(),
            portable.iter().map(key).collect::<Vec<_>>()
        );
        // 20 suffixes for each of three names, the address twice (alone and in its block),
        // the hash, the URL and the e-mail address; the last fields are past the lookups whose
        // filter answers the first walk keeps (`PROBES`).
        assert_eq!(whole.len(), 3 * 20 + 2 + 3);
        assert_eq!(
            whole.last().map(|x| x.field),
            Some(EntityField::DstHostname)
        );
    }

    /// The form of `match_entities` chosen for this CPU and the baseline build of its body
    /// find the same matches, in the same order, over events made of indicator values (and
    /// their subdomains, blocks' addresses, case variants) mixed with values no indicator has.
    #[test]
    fn the_cpu_specific_form_matches_as_the_baseline_does() {
        use IndicatorKind as K;
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut values = Vec::new();
        for i in 0..600u64 {
            let r = next();
            values.push(match i % 6 {
                0 => (
                    K::Ipv4,
                    format!("198.{}.{}.{}", r as u8, (r >> 8) as u8, (r >> 16) as u8),
                ),
                1 => (
                    K::Ipv4,
                    format!("203.{}.{}.0/{}", r as u8, (r >> 8) as u8, 16 + r % 9),
                ),
                2 => (K::Domain, format!("d{:x}.example{}.com", r >> 40, r % 7)),
                3 => (
                    K::Url,
                    format!("http://u{:x}.example.net/{:x}", r >> 44, r % 999),
                ),
                4 => (K::Sha256, format!("{r:016x}").repeat(4)),
                _ => (K::Email, format!("m{:x}@example.org", r >> 48)),
            });
        }
        let items: Vec<(K, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let m = matcher(&items);
        let pick = |r: u64| &values[(r % values.len() as u64) as usize].1;
        let (mut events, mut total) = (0, 0);
        for _ in 0..3000 {
            let (r, s) = (next(), next());
            let mut e = Entities::new();
            let ip = |r: u64| {
                format!(
                    "{}.{}.{}.{}",
                    198 + r % 6,
                    r >> 8 & 255,
                    r >> 16 & 255,
                    r >> 24 & 255
                )
            };
            e.add_string(EntityField::SrcIp, ip(r));
            e.add_string(
                EntityField::DstIp,
                pick(s).split('/').next().unwrap_or("").into(),
            );
            e.add_string(EntityField::QueryHostname, format!("www.{}", pick(r >> 3)));
            e.add_string(EntityField::TlsSni, pick(s >> 5).to_uppercase());
            e.add_string(EntityField::UrlString, pick(r >> 7).clone());
            e.add_string(
                EntityField::FileHash(vigil_core::HashAlgorithm::Sha256),
                pick(s >> 9).to_uppercase(),
            );
            e.add_string(EntityField::ActorUserEmail, pick(r >> 11).clone());
            e.add_string(EntityField::DstHostname, format!("a.b.c.{}", pick(s >> 13)));
            let key = |x: &IntelMatch| (x.field, x.value.clone(), Arc::as_ptr(&x.indicator), x.how);
            let (mut chosen, mut baseline) = (Vec::new(), Vec::new());
            m.match_entities(&e, &mut chosen);
            m.match_entities_in(&e, &mut baseline);
            assert_eq!(
                chosen.iter().map(key).collect::<Vec<_>>(),
                baseline.iter().map(key).collect::<Vec<_>>()
            );
            events += usize::from(!chosen.is_empty());
            total += chosen.len();
        }
        // Most events hold some indicator's value (the picks), so the comparison covers
        // matches of every kind, not only "no match".
        assert!(
            events > 2000 && total > 4000,
            "{events} events, {total} matches"
        );
    }

    /// Past `PARALLEL_BUILD` indicators on each side the two sides' tables are built on two
    /// threads: every indicator is still in them.
    #[test]
    fn both_sides_built_apart_hold_every_indicator() {
        let n = PARALLEL_BUILD + 1000;
        let mut set = IntelSet::new();
        let source = Source {
            feed: "t".into(),
            external_id: None,
            first_seen: None,
            last_seen: None,
        };
        let values = (0..n).flat_map(|i| {
            let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            [
                (IndicatorKind::Ipv4, ip),
                (IndicatorKind::Domain, format!("d{i}.example")),
            ]
        });
        let news = values.map(|(k, v)| NewIndicator::new(k, v, source.clone()));
        set.add_all(news, |_, r| assert!(r.is_ok()));
        set.add(NewIndicator::new(
            IndicatorKind::Ipv4,
            "192.0.2.0/24",
            source,
        ))
        .unwrap();
        let m = Matcher::build(&set, "2026-01-01T00:00:00Z".parse().unwrap());
        let stats = m.stats();
        assert_eq!(
            (
                stats.live,
                stats.ip_addresses,
                stats.ip_blocks,
                stats.values
            ),
            (2 * n + 1, n, 1, n)
        );
        for i in (0..n).step_by(97) {
            let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            let name = format!("D{i}.Example");
            assert_eq!(
                hits(&m, EntityField::DstIp, &ip),
                vec![(ip, MatchHow::Exact)]
            );
            assert_eq!(
                hits(&m, EntityField::QueryHostname, &name),
                vec![(name.to_ascii_lowercase(), MatchHow::Exact)]
            );
        }
        assert_eq!(
            hits(&m, EntityField::DstIp, "192.0.2.9"),
            vec![("192.0.2.0/24".into(), MatchHow::InBlock)]
        );
    }

    /// A name with more parents to look up than the one pass keeps (a 200-label name and
    /// indicators of 100 labels, whose bit stands for every count from 63 up) still has
    /// each looked up, longest first.
    #[test]
    fn parents_past_the_kept_starts() {
        use IndicatorKind as K;
        let labels: Vec<String> = (0..200u8)
            .map(|i| char::from(b'a' + i % 26).to_string())
            .collect();
        let suffix = |n: usize| labels[200 - n..].join(".");
        let (long, longer, short) = (suffix(100), suffix(120), suffix(2));
        let m = matcher(&[
            (K::Domain, &long),
            (K::Domain, &longer),
            (K::Domain, &short),
        ]);
        let name = format!("{}.", labels.join(".").to_ascii_uppercase());
        let got = hits(&m, EntityField::QueryHostname, &name);
        let want: Vec<_> = [longer, long, short]
            .into_iter()
            .map(|v| (v, MatchHow::Subdomain))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            hits(&m, EntityField::QueryHostname, &suffix(120)),
            vec![
                (suffix(120), MatchHow::Exact),
                (suffix(100), MatchHow::Subdomain),
                (suffix(2), MatchHow::Subdomain)
            ]
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
