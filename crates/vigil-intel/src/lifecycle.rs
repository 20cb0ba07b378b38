//! The indicator lifecycle: confidence that decays unless the value is seen again, sightings
//! that record where it was seen (and refresh it), and an allowlist (MISP's "warninglist")
//! whose values never match.
//!
//! What this is for: deciding, at a given time, which indicators of an [`IntelSet`] should
//! still match — [`LifecycleView::build`] compiles a [`Matcher`] without the decayed and the
//! allowlisted ones, counting each in [`crate::BuildStats`] — and keeping the sightings and
//! the allowlist in a form the server persists (serde). What it is not for: storing them, or
//! deciding what an analyst's verdict is (callers add allowlist entries).
//!
//! **Decay** follows MISP's polynomial decaying model (Mokaddem, Wagener, Dulaunoy, Iklody,
//! "Decaying Indicators of Compromise", 2019, arXiv:1902.03914; MISP ≥ 2.4.114):
//!
//! ```text
//! score(t) = base × (1 − (t / τ)^(1/δ))      for t < τ, else 0
//! ```
//!
//! where `base` is the indicator's confidence (STIX `confidence`, or
//! [`DecayModel::default_confidence`] when no source gave one), `t` the time since the value
//! was last seen — the later of its feeds' `last_seen` and its last [`Sighting`], or
//! `valid_from` when neither exists — `τ` the kind's lifetime and `δ` its decay speed
//! (δ = 1 decays linearly; δ < 1 holds the score longer, then drops; δ > 1 drops early). An
//! indicator whose score falls below [`DecayModel::floor`] stops matching. An indicator with
//! no time at all does not decay: nothing says when it was last true.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::Path;

use hashbrown::{Equivalent, HashMap};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use jiff::Timestamp;
use prefix_trie::PrefixMap;
use serde::{Deserialize, Serialize};

use crate::matcher::LeftOut;
use crate::normalise;
use crate::{Indicator, IndicatorKind, IntelMatch, IntelSet, Matcher};

/// A problem with lifecycle configuration or an allowlist file.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A decay parameter out of range.
    #[error("decay model: {0}")]
    Model(String),
    /// An allowlist file that could not be read or understood as a whole.
    #[error("{path}: {reason}")]
    Allowlist { path: String, reason: String },
}

/// How one kind of indicator decays (see the module docs for the formula).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindDecay {
    /// τ: days after the last sighting at which the score reaches 0; `None` never decays.
    pub lifetime_days: Option<f64>,
    /// δ: decay speed, > 0 (1 = linear).
    #[serde(default = "one")]
    pub speed: f64,
}

fn one() -> f64 {
    1.0
}

impl KindDecay {
    /// Decays linearly to 0 over `days` (half the confidence left at `days / 2`).
    pub const fn linear(days: f64) -> KindDecay {
        KindDecay {
            lifetime_days: Some(days),
            speed: 1.0,
        }
    }

    /// Never decays.
    pub const NEVER: KindDecay = KindDecay {
        lifetime_days: None,
        speed: 1.0,
    };

    /// The fraction (0–1) of the base score left `age_days` after the last sighting.
    pub fn remaining(&self, age_days: f64) -> f64 {
        let Some(tau) = self.lifetime_days else {
            return 1.0;
        };
        if age_days <= 0.0 {
            return 1.0;
        }
        if age_days >= tau {
            return 0.0;
        }
        1.0 - (age_days / tau).powf(1.0 / self.speed)
    }
}

/// The decay model: one [`KindDecay`] per indicator kind, the floor below which an indicator
/// stops matching, and the confidence assumed when no source gave one.
///
/// Defaults (all linear, δ = 1, so half the confidence is left at half the lifetime): IP
/// addresses and URLs 60 days (half at 30: addresses are reassigned and URLs taken down
/// quickly), domains and e-mail addresses 180 days (half at 90), JA3, user agents and file
/// names 365 days; file hashes never decay (a file's hash stays bad). Floor 30, default
/// confidence 50.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecayModel {
    /// Scores below this (0–100) stop matching.
    pub floor: f64,
    /// The base score of indicators no source gave a confidence.
    pub default_confidence: u8,
    pub ipv4: KindDecay,
    pub ipv6: KindDecay,
    pub domain: KindDecay,
    pub url: KindDecay,
    pub email: KindDecay,
    pub md5: KindDecay,
    pub sha1: KindDecay,
    pub sha256: KindDecay,
    pub sha512: KindDecay,
    pub ja3: KindDecay,
    pub user_agent: KindDecay,
    pub filename: KindDecay,
}

impl Default for DecayModel {
    fn default() -> Self {
        DecayModel {
            floor: 30.0,
            default_confidence: 50,
            ipv4: KindDecay::linear(60.0),
            ipv6: KindDecay::linear(60.0),
            domain: KindDecay::linear(180.0),
            url: KindDecay::linear(60.0),
            email: KindDecay::linear(180.0),
            md5: KindDecay::NEVER,
            sha1: KindDecay::NEVER,
            sha256: KindDecay::NEVER,
            sha512: KindDecay::NEVER,
            ja3: KindDecay::linear(365.0),
            user_agent: KindDecay::linear(365.0),
            filename: KindDecay::linear(365.0),
        }
    }
}

/// An indicator's confidence at a time, and what it was computed from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Effective {
    /// The confidence before decay (0–100).
    pub base: u8,
    /// The decayed confidence (0–100).
    pub score: f64,
    /// The time decay counts from (last seen by a feed or a sighting, else `valid_from`).
    pub since: Option<Timestamp>,
    /// True when the score is at least the floor.
    pub matches: bool,
}

impl DecayModel {
    /// Refuses lifetimes and speeds that are not positive and finite, and a floor outside
    /// 0–100.
    pub fn validate(&self) -> Result<(), LifecycleError> {
        if !(0.0..=100.0).contains(&self.floor) {
            return Err(LifecycleError::Model(format!(
                "floor {} is not within 0–100",
                self.floor
            )));
        }
        if self.default_confidence > 100 {
            return Err(LifecycleError::Model(format!(
                "default_confidence {} is above 100",
                self.default_confidence
            )));
        }
        for kind in IndicatorKind::ALL {
            let d = self.of(kind);
            let bad = |x: f64| !x.is_finite() || x <= 0.0;
            if bad(d.speed) || d.lifetime_days.is_some_and(bad) {
                return Err(LifecycleError::Model(format!(
                    "{kind}: lifetime_days and speed must be positive (got {:?}, {})",
                    d.lifetime_days, d.speed
                )));
            }
        }
        Ok(())
    }

    /// The decay of `kind`.
    pub fn of(&self, kind: IndicatorKind) -> &KindDecay {
        use IndicatorKind as K;
        match kind {
            K::Ipv4 => &self.ipv4,
            K::Ipv6 => &self.ipv6,
            K::Domain => &self.domain,
            K::Url => &self.url,
            K::Email => &self.email,
            K::Md5 => &self.md5,
            K::Sha1 => &self.sha1,
            K::Sha256 => &self.sha256,
            K::Sha512 => &self.sha512,
            K::Ja3 => &self.ja3,
            K::UserAgent => &self.user_agent,
            K::FileName => &self.filename,
        }
    }

    /// The confidence of `ind` at `now`, its sightings refreshing the decay clock.
    pub fn effective_confidence(
        &self,
        ind: &Indicator,
        sightings: &Sightings,
        now: Timestamp,
    ) -> Effective {
        let base = ind.confidence().unwrap_or(self.default_confidence).min(100);
        let seen = sightings.get(ind.kind(), ind.value()).map(|s| s.last_seen);
        // The indicator's own clock (last seen by a feed, else valid from); a sighting moves it
        // forward, never back, and never starts one for an indicator that has none.
        let since = ind
            .last_seen()
            .or_else(|| ind.valid_from())
            .map(|own| own.max(seen.unwrap_or(own)));
        let remaining = since.map_or(1.0, |t| {
            let age = now.duration_since(t).as_secs_f64() / 86_400.0;
            self.of(ind.kind()).remaining(age)
        });
        let score = f64::from(base) * remaining;
        Effective {
            base,
            score,
            since,
            matches: score >= self.floor,
        }
    }
}

/// Where a value was seen: the event source, the entity field, and the host when known.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SightingPlace {
    pub source: String,
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// How many distinct places a sighting keeps; later ones are counted, not kept.
pub const MAX_PLACES: usize = 32;

/// The sightings of one indicator: how often, first and last time, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    #[serde(with = "kind_name")]
    pub kind: IndicatorKind,
    /// The indicator's (normalised) value, not the event's.
    pub value: String,
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Distinct places, at most [`MAX_PLACES`], in the order first seen.
    #[serde(rename = "where")]
    pub places: Vec<SightingPlace>,
    /// Sightings at places beyond the first [`MAX_PLACES`].
    #[serde(default)]
    pub places_dropped: u64,
}

/// Every indicator's sightings, by (kind, indicator value). Serialises as a list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Sighting>", into = "Vec<Sighting>")]
pub struct Sightings {
    map: HashMap<KindValue, Sighting, RandomState>,
}

type RandomState = foldhash::fast::RandomState;

/// A (kind, value) key, looked up by [`KindValueRef`] without building a string.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KindValue {
    kind: IndicatorKind,
    value: Box<str>,
}

impl Hash for KindValue {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.kind, &*self.value).hash(h);
    }
}

/// The borrowed form of [`KindValue`]; hashes the same.
struct KindValueRef<'a>(IndicatorKind, &'a str);

impl Hash for KindValueRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.0, self.1).hash(h);
    }
}

impl Equivalent<KindValue> for KindValueRef<'_> {
    fn equivalent(&self, k: &KindValue) -> bool {
        self.0 == k.kind && self.1 == &*k.value
    }
}

fn key(kind: IndicatorKind, value: &str) -> KindValue {
    KindValue {
        kind,
        value: value.into(),
    }
}

impl From<Vec<Sighting>> for Sightings {
    fn from(list: Vec<Sighting>) -> Self {
        let mut s = Sightings::default();
        for x in list {
            s.map.insert(key(x.kind, &x.value), x);
        }
        s
    }
}

impl From<Sightings> for Vec<Sighting> {
    fn from(s: Sightings) -> Self {
        let mut v: Vec<Sighting> = s.map.into_values().collect();
        v.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
        v
    }
}

impl Sightings {
    /// No sightings.
    pub fn new() -> Self {
        Sightings::default()
    }

    /// Records that `m` matched an event of time `time` at `place`: counts it, widens first
    /// and last seen (events may arrive out of order), and keeps the place if new.
    pub fn record(&mut self, m: &IntelMatch, time: Timestamp, place: SightingPlace) {
        let ind = &m.indicator;
        let k = KindValueRef(ind.kind(), ind.value());
        if self.map.get(&k).is_none() {
            let fresh = Sighting {
                kind: ind.kind(),
                value: ind.value().to_string(),
                count: 0,
                first_seen: time,
                last_seen: time,
                places: Vec::new(),
                places_dropped: 0,
            };
            self.map.insert(key(ind.kind(), ind.value()), fresh);
        }
        let Some(s) = self.map.get_mut(&k) else {
            return;
        };
        s.count += 1;
        s.first_seen = s.first_seen.min(time);
        s.last_seen = s.last_seen.max(time);
        if !s.places.contains(&place) {
            if s.places.len() < MAX_PLACES {
                s.places.push(place);
            } else {
                s.places_dropped += 1;
            }
        }
    }

    /// The sightings of the indicator of `kind` and normalised `value`.
    pub fn get(&self, kind: IndicatorKind, value: &str) -> Option<&Sighting> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get(&KindValueRef(kind, value))
    }

    /// Number of indicators sighted.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing was sighted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every sighting, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Sighting> {
        self.map.values()
    }
}

/// What an allowlist entry covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowPattern {
    /// One value of one kind (normalised as indicators are).
    Value { kind: IndicatorKind, value: String },
    /// Every IP address in a block, and every IP indicator inside it.
    Cidr(IpNet),
    /// A domain and all its subdomains (and URLs on them).
    DomainSuffix(String),
}

impl fmt::Display for AllowPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowPattern::Value { kind, value } => write!(f, "{kind} {value}"),
            AllowPattern::Cidr(net) => write!(f, "cidr {net}"),
            AllowPattern::DomainSuffix(d) => write!(f, "domain-suffix {d}"),
        }
    }
}

/// One allowlist entry: what it covers, why, who put it there and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawEntry", into = "RawEntry")]
pub struct AllowEntry {
    pub pattern: AllowPattern,
    pub reason: String,
    pub author: String,
    pub added: Timestamp,
}

/// The serialised form of an entry: `{"match": "value"|"cidr"|"domain-suffix", "kind"?,
/// "value", "reason", "author", "added"}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(rename = "match")]
    how: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    value: String,
    reason: String,
    author: String,
    added: Timestamp,
}

impl TryFrom<RawEntry> for AllowEntry {
    type Error = String;

    fn try_from(r: RawEntry) -> Result<Self, String> {
        let pattern = match (r.how.as_str(), r.kind.as_deref()) {
            ("value", Some(k)) => {
                let kind =
                    IndicatorKind::from_name(k).ok_or_else(|| format!("unknown kind `{k}`"))?;
                AllowPattern::value(kind, &r.value)?
            }
            ("value", None) => return Err("a `value` entry needs a `kind`".into()),
            ("cidr", _) => AllowPattern::cidr(&r.value)?,
            ("domain-suffix", _) => AllowPattern::domain_suffix(&r.value)?,
            (other, _) => {
                return Err(format!(
                    "`match` is `{other}`, not value, cidr or domain-suffix"
                ));
            }
        };
        Ok(AllowEntry {
            pattern,
            reason: r.reason,
            author: r.author,
            added: r.added,
        })
    }
}

impl From<AllowEntry> for RawEntry {
    fn from(e: AllowEntry) -> Self {
        let (how, kind, value) = match e.pattern {
            AllowPattern::Value { kind, value } => ("value", Some(kind.name().to_string()), value),
            AllowPattern::Cidr(net) => ("cidr", None, net.to_string()),
            AllowPattern::DomainSuffix(d) => ("domain-suffix", None, d),
        };
        RawEntry {
            how: how.into(),
            kind,
            value,
            reason: e.reason,
            author: e.author,
            added: e.added,
        }
    }
}

impl AllowPattern {
    /// A value of `kind`, normalised.
    pub fn value(kind: IndicatorKind, raw: &str) -> Result<AllowPattern, String> {
        let value = kind.normalise(raw).map_err(|e| format!("{kind}: {e}"))?;
        Ok(AllowPattern::Value { kind, value })
    }

    /// A CIDR block (an address is a /32 or /128).
    pub fn cidr(raw: &str) -> Result<AllowPattern, String> {
        normalise::parse_net(raw.trim())
            .map(AllowPattern::Cidr)
            .ok_or_else(|| format!("`{raw}` is not an IP address or CIDR block"))
    }

    /// A domain and its subdomains (a leading `.` or `*.` is allowed).
    pub fn domain_suffix(raw: &str) -> Result<AllowPattern, String> {
        let raw = raw.trim();
        let raw = raw
            .strip_prefix("*.")
            .or_else(|| raw.strip_prefix('.'))
            .unwrap_or(raw);
        normalise::domain(raw)
            .map(AllowPattern::DomainSuffix)
            .map_err(|e| format!("domain: {e}"))
    }
}

/// The host of a normalised URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    (!host.is_empty()).then_some(host)
}

/// Values that must never match, each with its reason (MISP calls these warninglists:
/// resolvers, CDNs, well-known hashes, an analyst's false positives).
///
/// Indexed (values hashed, blocks in prefix tries, domain suffixes looked up
/// name by parent), so checking millions of indicators against thousands of entries stays
/// linear in the indicators. Serialises as `{"entries": [...]}`; the index is rebuilt on load.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(from = "AllowlistData", into = "AllowlistData")]
pub struct Allowlist {
    entries: Vec<AllowEntry>,
    index: AllowIndex,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowlistData {
    entries: Vec<AllowEntry>,
}

impl From<AllowlistData> for Allowlist {
    fn from(d: AllowlistData) -> Self {
        let mut a = Allowlist::default();
        for e in d.entries {
            a.add(e);
        }
        a
    }
}

impl From<Allowlist> for AllowlistData {
    fn from(a: Allowlist) -> Self {
        AllowlistData { entries: a.entries }
    }
}

impl PartialEq for Allowlist {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Allowlist {}

impl fmt::Debug for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allowlist")
            .field("entries", &self.entries)
            .finish()
    }
}

/// Positions in `entries` by what they cover; the first entry of a pattern is the one named.
#[derive(Clone, Default)]
struct AllowIndex {
    values: HashMap<KindValue, usize, RandomState>,
    v4: PrefixMap<Ipv4Net, usize>,
    v6: PrefixMap<Ipv6Net, usize>,
    suffixes: HashMap<Box<str>, usize, RandomState>,
}

impl AllowIndex {
    fn insert(&mut self, pattern: &AllowPattern, pos: usize) {
        match pattern {
            AllowPattern::Value { kind, value } => {
                self.values.entry(key(*kind, value)).or_insert(pos);
            }
            AllowPattern::Cidr(IpNet::V4(n)) => {
                if self.v4.get(n).is_none() {
                    self.v4.insert(*n, pos);
                }
            }
            AllowPattern::Cidr(IpNet::V6(n)) => {
                if self.v6.get(n).is_none() {
                    self.v6.insert(*n, pos);
                }
            }
            AllowPattern::DomainSuffix(d) => {
                self.suffixes.entry(d.as_str().into()).or_insert(pos);
            }
        }
    }

    /// The first entry covering `value` of `kind` (normalised): the same value, a block
    /// holding the address (or a URL's address host), a suffix of the domain (or of a URL's
    /// or e-mail address's host).
    fn find(&self, kind: IndicatorKind, value: &str) -> Option<usize> {
        let mut best = self.values.get(&KindValueRef(kind, value)).copied();
        let mut consider = |p: usize| best = Some(best.map_or(p, |b| b.min(p)));
        let host = match kind {
            IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => Some(value),
            IndicatorKind::Url => url_host(value),
            IndicatorKind::Domain => Some(value),
            IndicatorKind::Email => value.rsplit_once('@').map(|(_, d)| d),
            _ => None,
        };
        let Some(host) = host else {
            return best;
        };
        let net = (kind != IndicatorKind::Domain && kind != IndicatorKind::Email)
            .then(|| normalise::parse_net(host))
            .flatten();
        match net {
            Some(IpNet::V4(n)) => self.v4.cover_values(&n).for_each(|&p| consider(p)),
            Some(IpNet::V6(n)) => self.v6.cover_values(&n).for_each(|&p| consider(p)),
            None if !self.suffixes.is_empty()
                && kind != IndicatorKind::Ipv4
                && kind != IndicatorKind::Ipv6 =>
            {
                let mut name = host;
                loop {
                    if let Some(&p) = self.suffixes.get(name) {
                        consider(p);
                    }
                    match name.split_once('.') {
                        Some((_, parent)) => name = parent,
                        None => break,
                    }
                }
            }
            None => {}
        }
        best
    }
}

/// What importing a MISP warninglist did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WarninglistReport {
    pub name: String,
    /// Entries added.
    pub added: usize,
    /// List items that could not be read as the list's type, each with its position and
    /// reason.
    pub rejected: Vec<(usize, String)>,
}

impl Allowlist {
    /// An empty allowlist.
    pub fn new() -> Self {
        Allowlist::default()
    }

    /// Adds an entry.
    pub fn add(&mut self, entry: AllowEntry) {
        self.index.insert(&entry.pattern, self.entries.len());
        self.entries.push(entry);
    }

    /// Every entry, in the order added.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry covering `value` of `kind` (normalised here; a value that does not
    /// normalise is compared as written).
    pub fn suppresses(&self, kind: IndicatorKind, value: &str) -> Option<&AllowEntry> {
        if self.entries.is_empty() {
            return None;
        }
        let norm = kind.normalise(value);
        self.suppresses_normalised(kind, norm.as_deref().unwrap_or(value))
    }

    /// [`Allowlist::suppresses`] for a value already in canonical form (an indicator's
    /// value), without normalising it again.
    pub fn suppresses_normalised(&self, kind: IndicatorKind, value: &str) -> Option<&AllowEntry> {
        if self.entries.is_empty() {
            return None;
        }
        self.index.find(kind, value).map(|i| &self.entries[i])
    }

    /// Removes from `matches` those whose event value is allowlisted (an address inside an
    /// indicator's block, a subdomain of a bad domain), returning how many were removed.
    pub fn filter_matches(&self, matches: &mut Vec<IntelMatch>) -> usize {
        let before = matches.len();
        matches.retain(|m| self.suppresses(m.indicator.kind(), &m.value).is_none());
        before - matches.len()
    }

    /// Imports a MISP warninglist (`{"name", "type": "string"|"cidr"|"hostname", "list":
    /// [...]}`), each item an entry with the list's name and description as the reason.
    /// `string` items get their kind from their value (as plain lists do). Other list types
    /// (`substring`, `regex`) are refused as a whole, naming the type.
    pub fn import_misp_warninglist(
        &mut self,
        path: &Path,
        author: &str,
        now: Timestamp,
    ) -> Result<WarninglistReport, LifecycleError> {
        let fail = |reason: String| LifecycleError::Allowlist {
            path: path.display().to_string(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
        let name = doc
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or_else(|| fail("no `name`: not a MISP warninglist".into()))?;
        let ty = doc.get("type").and_then(|t| t.as_str()).unwrap_or("string");
        let list = doc
            .get("list")
            .and_then(|l| l.as_array())
            .ok_or_else(|| fail("no `list` array: not a MISP warninglist".into()))?;
        let parse: fn(&str) -> Result<AllowPattern, String> = match ty {
            "string" => |s| {
                normalise::guess(s)
                    .map(|(kind, value)| AllowPattern::Value { kind, value })
                    .map_err(|e| e.to_string())
            },
            "cidr" => AllowPattern::cidr,
            "hostname" => AllowPattern::domain_suffix,
            other => {
                return Err(fail(format!(
                    "warninglist type `{other}` is not supported (string, cidr, hostname)"
                )));
            }
        };
        let reason = match doc.get("description").and_then(|d| d.as_str()) {
            Some(d) if !d.is_empty() => format!("MISP warninglist {name}: {d}"),
            _ => format!("MISP warninglist {name}"),
        };
        let mut report = WarninglistReport {
            name: name.to_string(),
            ..WarninglistReport::default()
        };
        for (i, item) in list.iter().enumerate() {
            let Some(s) = item.as_str() else {
                report.rejected.push((i, format!("{item} is not a string")));
                continue;
            };
            match parse(s) {
                Ok(pattern) => {
                    self.add(AllowEntry {
                        pattern,
                        reason: reason.clone(),
                        author: author.to_string(),
                        added: now,
                    });
                    report.added += 1;
                }
                Err(e) => report.rejected.push((i, format!("`{s}`: {e}"))),
            }
        }
        Ok(report)
    }
}

/// The lifecycle's view of a set at build time: what decayed and what is allowlisted.
#[derive(Clone, Copy, Debug)]
pub struct LifecycleView<'a> {
    pub model: &'a DecayModel,
    pub sightings: &'a Sightings,
    pub allowlist: &'a Allowlist,
}

impl LifecycleView<'_> {
    /// Why `ind` should not match at `now`, if it should not.
    pub fn leave_out(&self, ind: &Indicator, now: Timestamp) -> Option<LeftOut> {
        if self
            .allowlist
            .suppresses_normalised(ind.kind(), ind.value())
            .is_some()
        {
            return Some(LeftOut::Allowlisted);
        }
        let eff = self.model.effective_confidence(ind, self.sightings, now);
        (!eff.matches).then_some(LeftOut::Decayed)
    }

    /// A matcher of the indicators of `set` live at `now`, without the decayed and the
    /// allowlisted ones (counted in its stats).
    pub fn build(&self, set: &IntelSet, now: Timestamp) -> Matcher {
        Matcher::build_with(set, now, |ind| self.leave_out(ind, now))
    }

    /// How many indicators of `set` each reason leaves out at `now` (revoked and expired
    /// ones included), for reports.
    pub fn census(&self, set: &IntelSet, now: Timestamp) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for ind in set.iter() {
            let why = if !ind.is_live(now) {
                "not live (revoked, expired or not yet valid)"
            } else {
                match self.leave_out(ind, now) {
                    Some(LeftOut::Allowlisted) => "allowlisted",
                    Some(LeftOut::Decayed) => "decayed",
                    None => "matching",
                }
            };
            *out.entry(why).or_default() += 1;
        }
        out
    }
}

/// Serde for an [`IndicatorKind`] as its name (`ipv4`, `sha256`, `user-agent`).
mod kind_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::IndicatorKind;

    pub fn serialize<S: Serializer>(k: &IndicatorKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IndicatorKind, D::Error> {
        let name = String::deserialize(d)?;
        IndicatorKind::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown indicator kind `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_decay_at_its_points() {
        let lin = KindDecay::linear(60.0);
        assert_eq!(lin.remaining(0.0), 1.0);
        assert!((lin.remaining(30.0) - 0.5).abs() < 1e-12);
        assert_eq!(lin.remaining(60.0), 0.0);
        assert_eq!(
            lin.remaining(-5.0),
            1.0,
            "a sighting in the future counts as now"
        );
        // δ < 1 holds the score longer: (1/2)^(1/0.5) = 1/4 gone at half the lifetime.
        let slow = KindDecay {
            lifetime_days: Some(60.0),
            speed: 0.5,
        };
        assert!((slow.remaining(30.0) - 0.75).abs() < 1e-12);
        assert_eq!(KindDecay::NEVER.remaining(10_000.0), 1.0);
    }

    #[test]
    fn a_sighting_moves_a_clock_forward_and_never_starts_one() {
        use crate::{NewIndicator, Source};
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let model = DecayModel::default();
        let now = t("2026-06-01T00:00:00Z");
        let source = |last_seen| Source {
            feed: "f".into(),
            external_id: None,
            first_seen: None,
            last_seen,
        };
        let mut set = IntelSet::new();
        for (v, last) in [
            ("192.0.2.1", None),
            ("192.0.2.2", Some(t("2026-05-01T00:00:00Z"))),
        ] {
            set.add(NewIndicator::new(IndicatorKind::Ipv4, v, source(last)))
                .unwrap();
        }
        let seen = |v: &str, at: &str| Sighting {
            kind: IndicatorKind::Ipv4,
            value: v.into(),
            count: 1,
            first_seen: t(at),
            last_seen: t(at),
            places: Vec::new(),
            places_dropped: 0,
        };
        let get = |v| set.get(IndicatorKind::Ipv4, v).unwrap();
        // An old event's sighting does not start a clock for an undated indicator.
        let old = Sightings::from(vec![seen("192.0.2.1", "2020-01-01T00:00:00Z")]);
        let e = model.effective_confidence(get("192.0.2.1"), &old, now);
        assert_eq!((e.since, e.matches), (None, true));
        // An older sighting does not move a clock back; a newer one moves it forward.
        let older = Sightings::from(vec![seen("192.0.2.2", "2026-02-01T00:00:00Z")]);
        let e = model.effective_confidence(get("192.0.2.2"), &older, now);
        assert_eq!(e.since, Some(t("2026-05-01T00:00:00Z")));
        let newer = Sightings::from(vec![seen("192.0.2.2", "2026-05-31T00:00:00Z")]);
        let e = model.effective_confidence(get("192.0.2.2"), &newer, now);
        assert_eq!(e.since, Some(t("2026-05-31T00:00:00Z")));
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("http://a.example:8080/x"), Some("a.example"));
        assert_eq!(
            url_host("https://u:p@[2001:db8::1]:443/"),
            Some("2001:db8::1")
        );
        assert_eq!(url_host("http://1.2.3.4?q"), Some("1.2.3.4"));
        assert_eq!(url_host("nonsense"), None);
    }

    #[test]
    fn suffixes_cover_subdomains_only_at_label_boundaries() {
        let mut list = Allowlist::new();
        list.add(AllowEntry {
            pattern: AllowPattern::domain_suffix("*.Example.com").unwrap(),
            reason: "r".into(),
            author: "a".into(),
            added: Timestamp::UNIX_EPOCH,
        });
        let covers = |kind, v| list.suppresses_normalised(kind, v).is_some();
        assert!(covers(IndicatorKind::Domain, "example.com"));
        assert!(covers(IndicatorKind::Domain, "a.b.example.com"));
        assert!(!covers(IndicatorKind::Domain, "badexample.com"));
        assert!(covers(IndicatorKind::Url, "http://cdn.example.com/x"));
        assert!(covers(IndicatorKind::Email, "x@mail.example.com"));
        assert!(!covers(IndicatorKind::Sha256, "example.com"));
    }

    #[test]
    fn the_first_covering_entry_is_named() {
        let mut list = Allowlist::new();
        for (p, r) in [
            (AllowPattern::cidr("10.1.0.0/16").unwrap(), "narrow first"),
            (AllowPattern::cidr("10.0.0.0/8").unwrap(), "wide"),
            (
                AllowPattern::value(IndicatorKind::Ipv4, "10.1.2.3").unwrap(),
                "exact",
            ),
            (AllowPattern::cidr("2001:db8::/32").unwrap(), "v6"),
        ] {
            list.add(AllowEntry {
                pattern: p,
                reason: r.into(),
                author: "a".into(),
                added: Timestamp::UNIX_EPOCH,
            });
        }
        let why = |kind, v| {
            list.suppresses_normalised(kind, v)
                .map(|e| e.reason.as_str())
        };
        assert_eq!(why(IndicatorKind::Ipv4, "10.1.2.3"), Some("narrow first"));
        assert_eq!(why(IndicatorKind::Ipv4, "10.2.0.0/16"), Some("wide"));
        assert_eq!(why(IndicatorKind::Ipv4, "10.0.0.0/7"), None);
        assert_eq!(
            why(IndicatorKind::Url, "http://[2001:db8::1]/x"),
            Some("v6")
        );
        assert_eq!(why(IndicatorKind::Domain, "10.1.2.3"), None);
    }
}
