//! Matching an event's values against a built [`Matcher`].
//!
//! An event's values are walked twice. The first walk only asks the filters (and the /24
//! bitmap) about every lookup the values need; the second, taken only when some answer was
//! "maybe", goes to the tables for those lookups. With millions of indicators the filters do
//! not fit in the CPU caches, so each filter read is a cache miss: asked one value after
//! another, with table work in between, an event of ten values waits for ten misses in turn,
//! while the first walk's reads depend on nothing but the event and are in flight together.
//! Most events match nothing, so most stop after the first walk, having allocated nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vigil_core::{Entities, EntityField, EntityKind, EntityValue};

use super::{Case, IntelMatch, MatchHow, Matcher, URL_HOST_TAG, ip_hash, key_hash};
use super::{label_bit, quick_host};
use crate::{IndicatorKind, normalise};

/// One lookup an event value needs.
#[derive(Clone, Copy)]
enum Lookup<'a> {
    /// `value` of `kind` in the table of values.
    Value {
        kind: IndicatorKind,
        value: &'a str,
        case: Case,
        how: MatchHow,
    },
    /// A URL whose plain host is the step's hash: parsed only when that host is some URL
    /// indicator's.
    UrlHost,
    /// A URL whose host the quick path cannot vouch for: the URL parser decides.
    UrlParse,
    /// An IPv4 address among the single addresses.
    V4Addr(u32),
    /// An IPv4 address in the blocks.
    V4Blocks(u32),
    V6Addr(u128),
    V6Blocks(u128),
}

/// Lookups of one event whose filter answers the first walk keeps (an event of ten values
/// needs about fifteen); any past these are asked in the second walk.
const PROBES: usize = 32;

/// What a lookup asks of the filters, kept while the first walk goes on (see
/// [`Matcher::match_entities`]).
#[derive(Clone, Copy)]
enum Probe {
    /// The value filter, for this key hash.
    Values(u64),
    /// The single-address filter, for this address hash.
    Ips(u64),
    /// The /24 bitmap of IPv4 blocks, for this address.
    V4Cover(u32),
    /// Known without reading memory.
    Answer(bool),
}

/// A lookup with the field and text it is for, and its filter hash.
struct Step<'a> {
    field: EntityField,
    /// The event's text (for IP lookups, unused: the address is written out).
    text: &'a str,
    hash: u64,
    lookup: Lookup<'a>,
}

/// The lookup of `value` of `kind` in the table of values, for the event's `text`.
#[inline(always)]
fn exact_step<'a>(
    field: EntityField,
    text: &'a str,
    kind: IndicatorKind,
    value: &'a str,
    case: Case,
) -> Step<'a> {
    value_step(field, text, kind, value, case, MatchHow::Exact)
}

/// [`exact_step`] for a value found `how` (the name itself or one of its parents).
#[inline(always)]
fn value_step<'a>(
    field: EntityField,
    text: &'a str,
    kind: IndicatorKind,
    value: &'a str,
    case: Case,
    how: MatchHow,
) -> Step<'a> {
    Step {
        field,
        text,
        hash: key_hash(kind as u8, value.as_bytes()),
        lookup: Lookup::Value {
            kind,
            value,
            case,
            how,
        },
    }
}

/// Where the parents of a DNS name to look up start, kept by [`scan_name`]: past this many
/// they are found again from the left.
const KEPT_STARTS: usize = 16;

/// What one pass over a DNS name finds (see [`Matcher::walk_name`]).
struct NameScan {
    /// Every byte is ASCII.
    ascii: bool,
    /// Some byte is a `:` (the name may be an IPv6 address).
    colon: bool,
    /// Labels of the whole name (dots + 1).
    labels: usize,
    /// How many parents to look up there are: those of two labels or more whose label
    /// count has its bit in the mask.
    found: usize,
}

/// Scans `name` once from its end, keeping in `starts` where its parents to look up begin,
/// shortest parent first. Eight bytes at a time: a word's dots are found all at once, and
/// most words of a name hold one or none.
#[inline(always)]
fn scan_name(name: &[u8], mask: u64, starts: &mut [u32; KEPT_STARTS]) -> NameScan {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // The high bit of each byte of `w` that is zero, and of no other byte.
    let zero_bytes = |w: u64| !(((w & LOW7).wrapping_add(LOW7)) | w | LOW7);
    let (mut high, mut colons, mut labels, mut found) = (0u64, 0u64, 1usize, 0usize);
    let mut dot = |i: usize, labels: &mut usize| {
        // `name[i + 1..]` has `labels` labels.
        if *labels >= 2 && mask & label_bit(*labels) != 0 {
            if let Some(slot) = starts.get_mut(found) {
                *slot = (i + 1) as u32;
            }
            found += 1;
        }
        *labels += 1;
    };
    let mut end = name.len();
    while end >= 8 {
        let w = u64::from_le_bytes(name[end - 8..end].try_into().expect("8 bytes"));
        high |= w;
        colons |= zero_bytes(w ^ (ONES * u64::from(b':')));
        // Dots from the word's last byte (its highest) down.
        let mut dots = zero_bytes(w ^ (ONES * u64::from(b'.')));
        while dots != 0 {
            let bit = 63 - dots.leading_zeros() as usize;
            dot(end - 8 + bit / 8, &mut labels);
            dots &= !(1u64 << bit);
        }
        end -= 8;
    }
    for i in (0..end).rev() {
        let c = name[i];
        high |= u64::from(c);
        colons |= u64::from(c == b':');
        if c == b'.' {
            dot(i, &mut labels);
        }
    }
    NameScan {
        ascii: high & (ONES * 0x80) == 0,
        colon: colons != 0,
        labels,
        found,
    }
}

/// `s` trimmed as `str::trim` trims it. Entity values are trimmed when added, so nearly
/// every call returns at the check of the two end bytes, without decoding characters.
#[inline(always)]
pub(super) fn trim(s: &str) -> &str {
    let graphic = |b: Option<&u8>| b.is_some_and(|&b| (0x21..0x7f).contains(&b));
    let b = s.as_bytes();
    if graphic(b.first()) && graphic(b.last()) {
        s
    } else {
        s.trim()
    }
}

impl Matcher {
    /// Appends to `out` a match for each entity value of the event that an indicator names:
    /// IP fields against addresses and blocks; DNS-name fields (and the endpoints' hostnames)
    /// against domains and their parents, or against IPs when they hold an address; URLs,
    /// e-mail addresses, file hashes, JA3, user agents and file names (`file.name`,
    /// `process.name`, `process.parent_process.name`) against their kinds.
    pub fn match_entities(&self, entities: &Entities<'_>, out: &mut Vec<IntelMatch>) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("bmi2")
            && std::is_x86_feature_detected!("lzcnt")
        {
            // SAFETY: the CPU has every feature the function is compiled with (checked just
            // above, each check a cached load), the one requirement of `target_feature`.
            return unsafe { self.match_entities_x86_64_v3(entities, out) };
        }
        self.match_entities_in(entities, out);
    }

    /// [`Matcher::match_entities`] compiled for the x86-64-v3 level (AVX2, BMI1/2, LZCNT),
    /// which nearly every x86-64 server since 2015 has; the build's baseline is SSE2.
    ///
    /// A filter answer builds a mask of eight bits from eight multiplications: SSE2 has
    /// neither a 32-bit vector multiply nor a per-lane shift, so the compiler emulates both
    /// (≈ 45 instructions a probe), where `vpmulld`/`vpsllvd` take a few. The walks gain the
    /// BMI shifts and bit scans.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt")]
    fn match_entities_x86_64_v3(&self, entities: &Entities<'_>, out: &mut Vec<IntelMatch>) {
        self.match_entities_in(entities, out);
    }

    /// The body of [`Matcher::match_entities`], inlined into both of its forms with the
    /// walks it calls.
    #[inline(always)]
    pub(super) fn match_entities_in(&self, entities: &Entities<'_>, out: &mut Vec<IntelMatch>) {
        if self.indicators.is_empty() {
            return;
        }
        // First walk: every lookup's filter line is requested (prefetched) as its step is
        // made, and the filters are asked only after the walk, when the lines are arriving
        // together. Bit i of `maybe` says lookup i may match (lookups past the
        // `PROBES`th are asked again in the second walk).
        let mut probes = [Probe::Answer(false); PROBES];
        let mut count = 0usize;
        for (field, value) in entities.iter() {
            self.walk(field, value, &mut |step| {
                if let Some(slot) = probes.get_mut(count) {
                    *slot = self.probe(&step);
                }
                count += 1;
            });
        }
        let maybe = self.answer_all(&probes[..count.min(PROBES)]);
        let all_asked = count <= PROBES;
        if maybe == 0 && all_asked {
            return;
        }
        let mut i = 0usize;
        for (field, value) in entities.iter() {
            if all_asked && maybe >> i == 0 {
                break;
            }
            self.walk(field, value, &mut |step| {
                let may = if i < PROBES {
                    maybe >> i & 1 == 1
                } else {
                    self.may_match(&step)
                };
                if may {
                    self.resolve(&step, out);
                }
                i += 1;
            });
        }
    }

    /// [`Matcher::match_entities`] for one field's value.
    pub fn match_value(
        &self,
        field: EntityField,
        value: &EntityValue<'_>,
        out: &mut Vec<IntelMatch>,
    ) {
        self.walk(field, value, &mut |step| {
            if self.may_match(&step) {
                self.resolve(&step, out);
            }
        });
    }

    /// Calls `visit` with each lookup that `field`'s `value` needs, in the order their
    /// matches are reported.
    #[inline(always)]
    fn walk(&self, field: EntityField, value: &EntityValue<'_>, visit: &mut impl FnMut(Step<'_>)) {
        use IndicatorKind as K;
        let text = match value {
            EntityValue::Ip(ip) => {
                if field.kind() == EntityKind::Ip {
                    self.walk_ip(field, *ip, visit);
                }
                return;
            }
            EntityValue::Text(t) => &**t,
            EntityValue::Int(_) => return,
        };
        let present = &self.values.present;
        let exact = exact_step;
        match field.kind() {
            EntityKind::Domain => self.walk_name(field, text, visit),
            EntityKind::Host
                if matches!(field, EntityField::DstHostname | EntityField::SrcHostname) =>
            {
                self.walk_name(field, text, visit)
            }
            EntityKind::Url if present[K::Url as usize] => match quick_host(text) {
                Some(host) => visit(Step {
                    field,
                    text,
                    hash: key_hash(URL_HOST_TAG, host.as_bytes()),
                    lookup: Lookup::UrlHost,
                }),
                None => visit(Step {
                    field,
                    text,
                    hash: 0,
                    lookup: Lookup::UrlParse,
                }),
            },
            EntityKind::Email if present[K::Email as usize] => {
                if text.is_ascii() {
                    visit(exact(field, text, K::Email, trim(text), Case::Ascii));
                } else if let Ok(v) = normalise::value(K::Email, text) {
                    visit(exact(field, text, K::Email, &v, Case::Exact));
                }
            }
            EntityKind::Hash => {
                let kind = field.hash_algorithm().and_then(IndicatorKind::of_hash);
                if let Some(kind) = kind.filter(|k| present[*k as usize]) {
                    visit(exact(field, text, kind, trim(text), Case::Ascii));
                }
            }
            EntityKind::TlsFingerprint
                if field == EntityField::TlsJa3 && present[K::Ja3 as usize] =>
            {
                visit(exact(field, text, K::Ja3, trim(text), Case::Ascii));
            }
            EntityKind::UserAgent if present[K::UserAgent as usize] => {
                visit(exact(field, text, K::UserAgent, trim(text), Case::Exact));
            }
            EntityKind::File | EntityKind::Process
                if matches!(
                    field,
                    EntityField::FileName | EntityField::ProcessName | EntityField::ParentName
                ) && present[K::FileName as usize] =>
            {
                visit(exact(field, text, K::FileName, trim(text), Case::Exact));
            }
            _ => {}
        }
    }

    /// An address: among the single addresses, then in the blocks.
    #[inline(always)]
    fn walk_ip(&self, field: EntityField, ip: IpAddr, visit: &mut impl FnMut(Step<'_>)) {
        let step = |hash, lookup| Step {
            field,
            text: "",
            hash,
            lookup,
        };
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                visit(step(ip_hash(u128::from(bits), false), Lookup::V4Addr(bits)));
                visit(step(0, Lookup::V4Blocks(bits)));
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                visit(step(ip_hash(bits, true), Lookup::V6Addr(bits)));
                visit(step(0, Lookup::V6Blocks(bits)));
            }
        }
    }

    /// A DNS name (or an address written where a name goes): the name, then each parent of
    /// two labels or more, at the label counts that some domain indicator has.
    ///
    /// One pass over the name, from the right, tells whether it is ASCII, whether it holds a
    /// `:` and where each parent to look up starts (only at label counts some indicator
    /// has); names need no other pass, copy or allocation unless they are not ASCII.
    #[inline(always)]
    fn walk_name(&self, field: EntityField, text: &str, visit: &mut impl FnMut(Step<'_>)) {
        let t = trim(text);
        let name = t.strip_suffix('.').unwrap_or(t);
        let mut starts = [0; KEPT_STARTS];
        let scan = scan_name(name.as_bytes(), self.values.domain_labels, &mut starts);
        let ip_like = t
            .as_bytes()
            .first()
            .is_some_and(|b| b.is_ascii_digit() || *b == b'[')
            || scan.colon;
        if ip_like
            && let Some(ip) =
                normalise::parse_net(t).filter(|n| n.prefix_len() == n.max_prefix_len())
        {
            self.walk_ip(field, ip.addr(), visit);
            return;
        }
        if !self.values.present[IndicatorKind::Domain as usize] {
            return;
        }
        if scan.ascii {
            self.walk_suffixes(field, text, name, (&scan, &starts), Case::Ascii, visit);
        } else if let Ok(owned) = normalise::domain(t) {
            let scan = scan_name(owned.as_bytes(), self.values.domain_labels, &mut starts);
            self.walk_suffixes(field, text, &owned, (&scan, &starts), Case::Exact, visit);
        }
    }

    /// The lookups of `name` (whole, then its parents, longest first) that `scan` found.
    #[inline(always)]
    fn walk_suffixes(
        &self,
        field: EntityField,
        text: &str,
        name: &str,
        (scan, starts): (&NameScan, &[u32; KEPT_STARTS]),
        case: Case,
        visit: &mut impl FnMut(Step<'_>),
    ) {
        let kind = IndicatorKind::Domain;
        let mut step =
            |start: usize, how| visit(value_step(field, text, kind, &name[start..], case, how));
        let mask = self.values.domain_labels;
        if mask & label_bit(scan.labels) != 0 {
            step(0, MatchHow::Exact);
        }
        if scan.found <= KEPT_STARTS {
            for &start in starts[..scan.found].iter().rev() {
                step(start as usize, MatchHow::Subdomain);
            }
        } else {
            // More parents than kept (indicators at many label counts, or of 63 labels or
            // more, whose one bit stands for every count from 63): found again from the left.
            let mut count = scan.labels;
            for (i, b) in name.bytes().enumerate() {
                if b == b'.' {
                    count -= 1;
                    if count >= 2 && mask & label_bit(count) != 0 {
                        step(i + 1, MatchHow::Subdomain);
                    }
                }
            }
        }
    }

    /// False when the step certainly matches nothing: its filter (or the /24 bitmap) says
    /// so. Reads one cache line and does not branch on it.
    #[inline(always)]
    fn may_match(&self, step: &Step<'_>) -> bool {
        self.answer(self.probe(step))
    }

    /// The filter question of `step`, its cache line requested now to be read later by
    /// [`Matcher::answer`].
    #[inline(always)]
    fn probe(&self, step: &Step<'_>) -> Probe {
        match step.lookup {
            Lookup::Value { .. } | Lookup::UrlHost => {
                self.values.filter.prefetch(step.hash);
                Probe::Values(step.hash)
            }
            Lookup::V4Addr(_) | Lookup::V6Addr(_) => {
                self.ips.filter.prefetch(step.hash);
                Probe::Ips(step.hash)
            }
            Lookup::V4Blocks(bits) => {
                self.ips.prefetch_cover_v4(bits);
                Probe::V4Cover(bits)
            }
            Lookup::V6Blocks(_) => Probe::Answer(!self.ips.v6.is_empty()),
            Lookup::UrlParse => Probe::Answer(true),
        }
    }

    /// The answers to `probes` (at most 64), bit i for probe i.
    #[inline(always)]
    fn answer_all(&self, probes: &[Probe]) -> u64 {
        let mut maybe = 0u64;
        for (i, probe) in probes.iter().enumerate() {
            maybe |= u64::from(self.answer(*probe)) << i;
        }
        maybe
    }

    /// The answer to a [`Probe`]: false when its lookup certainly matches nothing.
    #[inline(always)]
    fn answer(&self, probe: Probe) -> bool {
        match probe {
            Probe::Values(hash) => self.values.filter.contains(hash),
            Probe::Ips(hash) => self.ips.filter.contains(hash),
            Probe::V4Cover(bits) => self.ips.may_cover_v4(bits),
            Probe::Answer(yes) => yes,
        }
    }

    /// The tables' answer for a step the filters let through.
    fn resolve(&self, step: &Step<'_>, out: &mut Vec<IntelMatch>) {
        let field = step.field;
        match step.lookup {
            Lookup::Value {
                kind,
                value,
                case,
                how,
            } => {
                if let Some(pos) = self.find_hashed(kind, value, case, step.hash) {
                    self.push(field, step.text, pos, how, out);
                }
            }
            Lookup::UrlHost => {
                if self.values.url_hosts.contains(&step.hash) {
                    self.match_url(field, step.text, out);
                }
            }
            Lookup::UrlParse => self.match_url(field, step.text, out),
            Lookup::V4Addr(bits) => {
                if let Some(&pos) = self.ips.v4_addrs.get(&bits) {
                    let ip = IpAddr::V4(Ipv4Addr::from(bits));
                    self.push_ip(field, ip, pos, MatchHow::Exact, out);
                }
            }
            Lookup::V4Blocks(bits) => {
                let ip = IpAddr::V4(Ipv4Addr::from(bits));
                self.ips.v4.covering(bits, &mut |pos| {
                    self.push_ip(field, ip, pos, MatchHow::InBlock, out);
                });
            }
            Lookup::V6Addr(bits) => {
                if let Some(&pos) = self.ips.v6_addrs.get(&bits) {
                    let ip = IpAddr::V6(Ipv6Addr::from(bits));
                    self.push_ip(field, ip, pos, MatchHow::Exact, out);
                }
            }
            Lookup::V6Blocks(bits) => {
                let ip = IpAddr::V6(Ipv6Addr::from(bits));
                self.ips.v6.covering(bits, &mut |pos| {
                    self.push_ip(field, ip, pos, MatchHow::InBlock, out);
                });
            }
        }
    }

    /// The position of the indicator of `kind` whose value is `value` and key hash `hash`
    /// (ASCII case ignored with [`Case::Ascii`], for kinds whose values are stored
    /// lowercase).
    fn find_hashed(&self, kind: IndicatorKind, value: &str, case: Case, hash: u64) -> Option<u32> {
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

    /// A URL whose host some URL indicator has (or that only the parser can read):
    /// normalised, then looked up.
    fn match_url(&self, field: EntityField, text: &str, out: &mut Vec<IntelMatch>) {
        let kind = IndicatorKind::Url;
        if let Ok(norm) = normalise::url(text) {
            let hash = key_hash(kind as u8, norm.as_bytes());
            if self.values.filter.contains(hash)
                && let Some(pos) = self.find_hashed(kind, &norm, Case::Exact, hash)
            {
                self.push(field, text, pos, MatchHow::Exact, out);
            }
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
        let value = match ip {
            IpAddr::V4(a) => ipv4_text(a),
            IpAddr::V6(a) => a.to_string(),
        };
        out.push(IntelMatch {
            field,
            value,
            indicator: indicator.clone(),
            how,
        });
    }
}

/// `a` in dotted-quad form, as `Ipv4Addr`'s `Display` writes it, without the formatting
/// machinery (a match on an address block allocates this text for every event that has the
/// address).
fn ipv4_text(a: Ipv4Addr) -> String {
    let mut s = String::with_capacity(15);
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if octet >= 100 {
            s.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            s.push(char::from(b'0' + octet / 10 % 10));
        }
        s.push(char::from(b'0' + octet % 10));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time scan finds what a byte-by-byte reading of the name finds, over
    /// names of every length up to 40 bytes made of letters, dots, colons and a non-ASCII
    /// letter, with masks of every label count up to 8 and of 63 and over.
    #[test]
    fn scan_name_reads_as_bytes_do() {
        const BYTES: [&str; 6] = ["a", "b", ".", ".", ":", "é"];
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = next() % 40;
            let name: String = (0..len)
                .map(|_| BYTES[(next() % BYTES.len() as u64) as usize])
                .collect();
            let mask = next() & (0x1ff | 1 << 63);
            let b = name.as_bytes();
            let mut want = Vec::new();
            let mut labels = 1;
            for i in (0..b.len()).rev() {
                if b[i] == b'.' {
                    if labels >= 2 && mask & label_bit(labels) != 0 {
                        want.push(i as u32 + 1);
                    }
                    labels += 1;
                }
            }
            let mut starts = [0; KEPT_STARTS];
            let scan = scan_name(b, mask, &mut starts);
            assert_eq!(scan.labels, labels, "{name}");
            assert_eq!(scan.found, want.len(), "{name}");
            let kept = want.len().min(KEPT_STARTS);
            assert_eq!(&starts[..kept], &want[..kept], "{name}");
            assert_eq!(scan.ascii, name.is_ascii(), "{name}");
            assert_eq!(scan.colon, name.contains(':'), "{name}");
        }
    }

    #[test]
    fn ipv4_text_is_display() {
        for a in [
            0u32,
            1,
            0x0a00_0001,
            0x6464_6464,
            0xc0a8_0a63,
            0xffff_ffff,
            0x0109_630a,
        ] {
            let a = Ipv4Addr::from(a);
            assert_eq!(ipv4_text(a), a.to_string());
        }
    }
}
