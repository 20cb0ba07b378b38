//! The indicator model, after STIX 2.1's `indicator` object: what is looked for (a kind and a
//! normalised value), how much it is trusted, when it holds, how it may be shared, and which
//! feeds said so.
//!
//! One (kind, normalised value) is one [`Indicator`] whatever the number of feeds that name
//! it: each feed is a [`Source`] of it, and its properties are merged (see
//! [`Indicator::merge`]).

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use vigil_core::{EntityField, HashAlgorithm};

use crate::normalise::{self, ValueError};

/// What an indicator's value is, which decides how it is normalised and which entity fields
/// of an event it is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// An IPv4 address or CIDR block (`ipv4-addr:value`).
    Ipv4,
    /// An IPv6 address or CIDR block (`ipv6-addr:value`).
    Ipv6,
    /// A DNS name; its subdomains match too (`domain-name:value`).
    Domain,
    /// A URL (`url:value`), normalised with the `url` crate.
    Url,
    /// An e-mail address (`email-addr:value`), lowercase.
    Email,
    /// An MD5 file hash, lowercase hex.
    Md5,
    /// A SHA-1 file hash, lowercase hex.
    Sha1,
    /// A SHA-256 file hash, lowercase hex.
    Sha256,
    /// A SHA-512 file hash, lowercase hex.
    Sha512,
    /// A JA3 TLS client fingerprint (an MD5, lowercase hex).
    Ja3,
    /// An HTTP user agent, exactly as sent (trimmed).
    UserAgent,
    /// A file name (no directory), exactly as written (trimmed).
    FileName,
}

impl IndicatorKind {
    /// Every kind.
    pub const ALL: [IndicatorKind; 12] = [
        IndicatorKind::Ipv4,
        IndicatorKind::Ipv6,
        IndicatorKind::Domain,
        IndicatorKind::Url,
        IndicatorKind::Email,
        IndicatorKind::Md5,
        IndicatorKind::Sha1,
        IndicatorKind::Sha256,
        IndicatorKind::Sha512,
        IndicatorKind::Ja3,
        IndicatorKind::UserAgent,
        IndicatorKind::FileName,
    ];

    /// The kind's short name (`ipv4`, `sha256`, `user-agent`).
    pub fn name(self) -> &'static str {
        match self {
            IndicatorKind::Ipv4 => "ipv4",
            IndicatorKind::Ipv6 => "ipv6",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Url => "url",
            IndicatorKind::Email => "email",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
            IndicatorKind::Sha512 => "sha512",
            IndicatorKind::Ja3 => "ja3",
            IndicatorKind::UserAgent => "user-agent",
            IndicatorKind::FileName => "filename",
        }
    }

    /// The kind named `name` ([`IndicatorKind::name`], case-insensitive).
    pub fn from_name(name: &str) -> Option<IndicatorKind> {
        IndicatorKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// The file-hash kind of an algorithm (Imphash has none).
    pub fn of_hash(alg: HashAlgorithm) -> Option<IndicatorKind> {
        match alg {
            HashAlgorithm::Md5 => Some(IndicatorKind::Md5),
            HashAlgorithm::Sha1 => Some(IndicatorKind::Sha1),
            HashAlgorithm::Sha256 => Some(IndicatorKind::Sha256),
            HashAlgorithm::Sha512 => Some(IndicatorKind::Sha512),
            HashAlgorithm::Imphash => None,
        }
    }

    /// The kind's value in canonical form, or why `raw` is not one (see the `normalise`
    /// module for each kind's rules). An address of the other IP family is refused.
    pub fn normalise(self, raw: &str) -> Result<String, ValueError> {
        normalise::value(self, raw)
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Traffic Light Protocol marking (TLP 2.0 names; TLP 1.0 `white` reads as `clear`),
/// ordered from least to most restrictive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    /// The marking named `name`: `tlp:amber`, `TLP:CLEAR`, `white`, `amber+strict`.
    pub fn from_name(name: &str) -> Option<Tlp> {
        let n = name.trim();
        let n = n
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("tlp:"))
            .map_or(n, |_| &n[4..]);
        Some(match n.to_ascii_lowercase().as_str() {
            "clear" | "white" => Tlp::Clear,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" => Tlp::AmberStrict,
            "red" => Tlp::Red,
            _ => return None,
        })
    }

    /// The marking of a STIX 2.1 predefined TLP marking-definition id.
    pub fn from_stix_marking(id: &str) -> Option<Tlp> {
        Some(match id {
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Tlp::Clear,
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Tlp::Green,
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Tlp::Amber,
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Tlp::Red,
            // TLP 2.0 definitions (the OASIS TLP 2.0 extension's ids).
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487" => Tlp::Clear,
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb" => Tlp::Green,
            "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421" => Tlp::Amber,
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003" => Tlp::AmberStrict,
            "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1" => Tlp::Red,
            _ => return None,
        })
    }

    /// `TLP:CLEAR`, `TLP:AMBER+STRICT`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in an event an indicator's value counts. Most feeds name a value wherever it turns
/// up; a STIX pattern on `network-traffic:src_ref` or `dst_ref` names one side of a
/// connection, and matching it on the other side would say more than the pattern does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Any entity field of the value's kind.
    #[default]
    Any,
    /// Only the source side of a connection (`src_endpoint.*`).
    Source,
    /// Only the destination side: `dst_endpoint.*`, and the names an event connects to (DNS
    /// query, URL host, TLS SNI).
    Destination,
}

impl Scope {
    /// True when a value found in `field` counts for an indicator of this scope.
    pub fn admits(self, field: EntityField) -> bool {
        use EntityField as F;
        match self {
            Scope::Any => true,
            Scope::Source => matches!(field, F::SrcIp | F::SrcHostname | F::SrcDomain),
            Scope::Destination => matches!(
                field,
                F::DstIp | F::DstHostname | F::QueryHostname | F::UrlHostname | F::TlsSni
            ),
        }
    }

    /// The scope of two statements of one value: the same, or anywhere when they differ.
    pub fn union(self, other: Scope) -> Scope {
        if self == other { self } else { Scope::Any }
    }

    /// `any`, `source`, `destination`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Any => "any",
            Scope::Source => "source",
            Scope::Destination => "destination",
        }
    }
}

/// A kill-chain phase (STIX `kill_chain_phases[]`): `lockheed-martin-cyber-kill-chain` /
/// `command-and-control`, `mitre-attack` / `exfiltration`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KillChainPhase {
    pub kill_chain_name: Arc<str>,
    pub phase_name: Arc<str>,
}

/// One feed's statement of an indicator: the feed (file or configured feed name), the id the
/// feed gives it (STIX id, MISP attribute uuid, abuse.ch row id, line number), and when that
/// feed saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The feed's name.
    pub feed: Arc<str>,
    /// The indicator's id in that feed, when it has one.
    pub external_id: Option<Box<str>>,
    /// When the feed first saw the value (`first_seen_utc`, MISP `first_seen`).
    pub first_seen: Option<Timestamp>,
    /// When the feed last saw it (`last_online`, `last_seen_utc`).
    pub last_seen: Option<Timestamp>,
}

/// An indicator as a feed states it, before normalisation and merging: what importers (and
/// callers building sets by hand) give [`crate::IntelSet::add`].
#[derive(Clone, Debug)]
pub struct NewIndicator {
    pub kind: IndicatorKind,
    /// The value as the feed wrote it; normalised by [`IndicatorKind::normalise`].
    pub value: String,
    /// 0–100, STIX `confidence`.
    pub confidence: Option<u8>,
    pub valid_from: Option<Timestamp>,
    pub valid_until: Option<Timestamp>,
    /// The feed withdrew it (STIX `revoked`).
    pub revoked: bool,
    pub labels: Vec<String>,
    pub tlp: Option<Tlp>,
    pub kill_chain: Vec<(String, String)>,
    /// Where in an event the value counts ([`Scope::Any`] for nearly every feed).
    pub scope: Scope,
    pub source: Source,
}

impl NewIndicator {
    /// An indicator of `kind` with nothing but its value and source.
    pub fn new(kind: IndicatorKind, value: impl Into<String>, source: Source) -> Self {
        NewIndicator {
            kind,
            value: value.into(),
            confidence: None,
            valid_from: None,
            valid_until: None,
            revoked: false,
            labels: Vec::new(),
            tlp: None,
            kill_chain: Vec::new(),
            scope: Scope::Any,
            source,
        }
    }
}

/// An indicator: a normalised value of one kind, with what every source said about it merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Indicator {
    pub(crate) value: Box<str>,
    /// Everything but the value. A feed states the same things (its name, no id, the same
    /// labels, TLP and validity) for thousands of values, and a set holds millions: a
    /// statement equal to the last one added of its kind shares its allocation (see
    /// [`crate::IntelSet::add`]); merging into a shared one copies it first. The kind is
    /// there too, which keeps an indicator at 24 bytes (40 with its `Arc` counts, one
    /// 48-byte heap block).
    pub(crate) stmt: Arc<Statement>,
}

/// The merged statement of an indicator's sources (see [`Indicator`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) kind: IndicatorKind,
    pub(crate) confidence: Option<u8>,
    pub(crate) revoked: bool,
    pub(crate) scope: Scope,
    pub(crate) tlp: Option<Tlp>,
    // Boxed slices rather than vectors, and times as seconds: a set holds millions.
    pub(crate) valid_from: Secs,
    pub(crate) valid_until: Secs,
    pub(crate) labels: Box<[Arc<str>]>,
    pub(crate) kill_chain: Box<[KillChainPhase]>,
    pub(crate) sources: Box<[Source]>,
}

impl Indicator {
    /// What the value is.
    pub fn kind(&self) -> IndicatorKind {
        self.stmt.kind
    }

    /// The normalised value (`10.0.0.0/8`, `evil.example`, `http://evil.example/a`).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The highest confidence any source gave (0–100).
    pub fn confidence(&self) -> Option<u8> {
        self.stmt.confidence
    }

    /// The earliest time any source says it holds from.
    pub fn valid_from(&self) -> Option<Timestamp> {
        self.stmt.valid_from.get()
    }

    /// The latest time it holds until; `None` when any source sets no end.
    pub fn valid_until(&self) -> Option<Timestamp> {
        self.stmt.valid_until.get()
    }

    /// True when every source revoked it.
    pub fn revoked(&self) -> bool {
        self.stmt.revoked
    }

    /// Where in an event the value counts: [`Scope::Any`] unless every source names one
    /// side of a connection.
    pub fn scope(&self) -> Scope {
        self.stmt.scope
    }

    /// The most restrictive TLP marking of its sources.
    pub fn tlp(&self) -> Option<Tlp> {
        self.stmt.tlp
    }

    /// Every source's labels (STIX `labels`/`indicator_types`, MISP tags, feed malware names).
    pub fn labels(&self) -> &[Arc<str>] {
        &self.stmt.labels
    }

    /// Every source's kill-chain phases.
    pub fn kill_chain(&self) -> &[KillChainPhase] {
        &self.stmt.kill_chain
    }

    /// The feeds that name it, in the order they were imported.
    pub fn sources(&self) -> &[Source] {
        &self.stmt.sources
    }

    /// The earliest `first_seen` of its sources.
    pub fn first_seen(&self) -> Option<Timestamp> {
        self.sources().iter().filter_map(|s| s.first_seen).min()
    }

    /// The latest `last_seen` (or `first_seen`) of its sources.
    pub fn last_seen(&self) -> Option<Timestamp> {
        self.sources()
            .iter()
            .filter_map(|s| s.last_seen.or(s.first_seen))
            .max()
    }

    /// True when it should match at `now`: not revoked, `valid_from` reached, `valid_until`
    /// not passed.
    pub fn is_live(&self, now: Timestamp) -> bool {
        !self.revoked()
            && self.valid_from().is_none_or(|t| t <= now)
            && self.valid_until().is_none_or(|t| now < t)
    }

    /// For an IP indicator, its block (an address is a /32 or /128).
    pub fn ip_net(&self) -> Option<ipnet::IpNet> {
        match self.kind() {
            IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => normalise::parse_net(&self.value),
            _ => None,
        }
    }

    /// A first statement of a value (already normalised); `intern` shares repeated strings,
    /// and `last` is the statement of the indicator added before, shared when equal.
    pub(crate) fn from_new(
        new: NewIndicator,
        value: String,
        intern: &mut impl FnMut(&str) -> Arc<str>,
        last: Option<&Arc<Statement>>,
    ) -> Indicator {
        // Most rows of a feed state what the row before did: share it without building a
        // statement (an allocation and a free per indicator) only to find it equal.
        if let Some(last) = last
            && last.says(&new)
        {
            return Indicator {
                value: value.into_boxed_str(),
                stmt: last.clone(),
            };
        }
        let mut stmt = Statement {
            kind: new.kind,
            confidence: new.confidence,
            revoked: new.revoked,
            scope: new.scope,
            tlp: new.tlp,
            valid_from: Secs::of(new.valid_from),
            valid_until: Secs::of(new.valid_until),
            labels: Box::default(),
            kill_chain: Box::default(),
            sources: Box::new([new.source]),
        };
        stmt.add_labels(&new.labels, &new.kill_chain, intern);
        let stmt = match last {
            Some(last) if **last == stmt => last.clone(),
            _ => Arc::new(stmt),
        };
        Indicator {
            value: value.into_boxed_str(),
            stmt,
        }
    }

    /// Merges another source's statement of the same value: sources accumulate (a source
    /// with the same feed and id replaces its earlier statement: a newer version of the
    /// same object), confidence is the highest, validity the widest, TLP the most
    /// restrictive, labels and phases the union; revoked only when every statement is.
    pub(crate) fn merge(&mut self, new: NewIndicator, intern: &mut impl FnMut(&str) -> Arc<str>) {
        Arc::make_mut(&mut self.stmt).merge(new, intern);
    }
}

impl Statement {
    /// True when the statement [`Indicator::from_new`] would build from `new` equals this one.
    fn says(&self, new: &NewIndicator) -> bool {
        self.kind == new.kind
            && self.confidence == new.confidence
            && self.revoked == new.revoked
            && self.scope == new.scope
            && self.tlp == new.tlp
            && self.valid_from == Secs::of(new.valid_from)
            && self.valid_until == Secs::of(new.valid_until)
            && matches!(&*self.sources, [s] if *s == new.source)
            && same_labels(&self.labels, &new.labels)
            && same_phases(&self.kill_chain, &new.kill_chain)
    }

    fn merge(&mut self, new: NewIndicator, intern: &mut impl FnMut(&str) -> Arc<str>) {
        let same = self
            .sources
            .iter()
            .position(|s| s.feed == new.source.feed && s.external_id == new.source.external_id);
        let single_replaced = same.is_some() && self.sources.len() == 1;
        match same {
            Some(i) if self.sources.len() == 1 => {
                // A re-import or a newer version of the only statement: it now says this.
                self.sources[i] = new.source;
                self.revoked = new.revoked;
                self.scope = new.scope;
            }
            Some(i) => {
                self.sources[i] = new.source;
                self.revoked &= new.revoked;
            }
            None => {
                let mut sources = std::mem::take(&mut self.sources).into_vec();
                sources.push(new.source);
                self.sources = sources.into_boxed_slice();
                self.revoked &= new.revoked;
            }
        }
        if !single_replaced {
            self.scope = self.scope.union(new.scope);
        }
        self.confidence = self.confidence.max(new.confidence);
        self.valid_from = Secs::of(match (self.valid_from.get(), new.valid_from) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        });
        self.valid_until = Secs::of(match (self.valid_until.get(), new.valid_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        });
        self.tlp = self.tlp.max(new.tlp);
        self.add_labels(&new.labels, &new.kill_chain, intern);
    }

    fn add_labels(
        &mut self,
        labels: &[String],
        phases: &[(String, String)],
        intern: &mut impl FnMut(&str) -> Arc<str>,
    ) {
        if labels.is_empty() && phases.is_empty() {
            return;
        }
        let mut all = std::mem::take(&mut self.labels).into_vec();
        for l in labels {
            let l = l.trim();
            if !l.is_empty() && !all.iter().any(|x| &**x == l) {
                all.push(intern(l));
            }
        }
        self.labels = all.into_boxed_slice();
        let mut kill_chain = std::mem::take(&mut self.kill_chain).into_vec();
        for (chain, phase) in phases {
            if !kill_chain
                .iter()
                .any(|p| &*p.kill_chain_name == chain && &*p.phase_name == phase)
            {
                kill_chain.push(KillChainPhase {
                    kill_chain_name: intern(chain),
                    phase_name: intern(phase),
                });
            }
        }
        self.kill_chain = kill_chain.into_boxed_slice();
    }
}

/// True when `given` labels, kept as [`Statement::add_labels`] keeps them (trimmed, empty
/// ones and repeats left out), are `kept`.
fn same_labels(kept: &[Arc<str>], given: &[String]) -> bool {
    let mut n = 0;
    for l in given {
        let l = l.trim();
        if l.is_empty() || kept[..n].iter().any(|x| &**x == l) {
            continue;
        }
        if kept.get(n).is_none_or(|x| &**x != l) {
            return false;
        }
        n += 1;
    }
    n == kept.len()
}

/// [`same_labels`] for kill-chain phases (repeats left out).
fn same_phases(kept: &[KillChainPhase], given: &[(String, String)]) -> bool {
    let mut n = 0;
    for (chain, phase) in given {
        let is = |p: &KillChainPhase| &*p.kill_chain_name == chain && &*p.phase_name == phase;
        if kept[..n].iter().any(is) {
            continue;
        }
        if !kept.get(n).is_some_and(is) {
            return false;
        }
        n += 1;
    }
    n == kept.len()
}

/// A time to the second in 8 bytes (no time as `i64::MIN`), for the validity bounds every
/// indicator carries: sets hold millions, and intel validity is never sub-second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Secs(i64);

impl Secs {
    fn of(t: Option<Timestamp>) -> Secs {
        Secs(t.map_or(i64::MIN, |t| t.as_second()))
    }

    fn get(self) -> Option<Timestamp> {
        if self.0 == i64::MIN {
            None
        } else {
            Timestamp::from_second(self.0).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(feed: &str, id: &str) -> Source {
        Source {
            feed: feed.into(),
            external_id: Some(id.into()),
            first_seen: None,
            last_seen: None,
        }
    }

    fn intern(s: &str) -> Arc<str> {
        s.into()
    }

    #[test]
    fn merge_widens_and_keeps_every_source() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut a = NewIndicator::new(IndicatorKind::Domain, "evil.example", src("a", "1"));
        a.confidence = Some(40);
        a.valid_from = Some(t("2024-01-01T00:00:00Z"));
        a.valid_until = Some(t("2024-02-01T00:00:00Z"));
        a.tlp = Some(Tlp::Green);
        a.labels = vec!["c2".into()];
        let mut ind = Indicator::from_new(a, "evil.example".into(), &mut intern, None);
        let mut b = NewIndicator::new(IndicatorKind::Domain, "evil.example", src("b", "x"));
        b.confidence = Some(80);
        b.valid_from = Some(t("2023-06-01T00:00:00Z"));
        b.valid_until = Some(t("2024-03-01T00:00:00Z"));
        b.tlp = Some(Tlp::Amber);
        b.labels = vec!["c2".into(), "emotet".into()];
        b.revoked = true;
        ind.merge(b, &mut intern);
        assert_eq!(ind.sources().len(), 2);
        assert_eq!(ind.confidence(), Some(80));
        assert_eq!(ind.valid_from(), Some(t("2023-06-01T00:00:00Z")));
        assert_eq!(ind.valid_until(), Some(t("2024-03-01T00:00:00Z")));
        assert_eq!(ind.tlp(), Some(Tlp::Amber));
        assert_eq!(ind.labels().len(), 2);
        assert!(!ind.revoked(), "one source still asserts it");
        // The same feed and id again replaces its statement instead of adding a source.
        let mut again = NewIndicator::new(IndicatorKind::Domain, "evil.example", src("b", "x"));
        again.revoked = true;
        ind.merge(again, &mut intern);
        assert_eq!(ind.sources().len(), 2);
        // Its newer statement sets no end, so the indicator has none either.
        assert_eq!(ind.valid_until(), None);
        assert!(ind.is_live(t("2030-01-01T00:00:00Z")));
    }

    /// `says` agrees with building the statement and comparing, for statements that differ
    /// from the last one in each part (labels repeated, blank and reordered among them).
    #[test]
    fn says_is_build_and_compare() {
        let mut base = NewIndicator::new(IndicatorKind::Domain, "a.example", src("f", "1"));
        base.labels = vec!["c2".into(), " emotet ".into(), "c2".into(), "".into()];
        base.kill_chain = vec![("k".into(), "p".into()), ("k".into(), "p".into())];
        let built = |n: &NewIndicator| {
            Indicator::from_new(n.clone(), "a.example".into(), &mut intern, None).stmt
        };
        let last = built(&base);
        let variants: Vec<fn(&mut NewIndicator)> = vec![
            |_| {},
            |n| n.labels = vec!["c2".into(), "emotet".into()],
            |n| n.labels = vec!["emotet".into(), "c2".into()],
            |n| n.labels = vec!["c2".into()],
            |n| n.labels.push("new".into()),
            |n| n.kill_chain = vec![("k".into(), "p".into())],
            |n| n.kill_chain.push(("k".into(), "q".into())),
            |n| n.kill_chain.clear(),
            |n| n.source = src("f", "2"),
            |n| n.source = src("g", "1"),
            |n| n.confidence = Some(1),
            |n| n.revoked = true,
            |n| n.scope = Scope::Source,
            |n| n.tlp = Some(Tlp::Red),
            |n| n.valid_from = Some(Timestamp::UNIX_EPOCH),
            |n| n.valid_until = Some(Timestamp::UNIX_EPOCH),
            |n| n.kind = IndicatorKind::Url,
        ];
        let mut equal = 0;
        for (i, change) in variants.iter().enumerate() {
            let mut n = base.clone();
            change(&mut n);
            assert_eq!(last.says(&n), *last == *built(&n), "variant {i}");
            equal += usize::from(last.says(&n));
        }
        assert_eq!(equal, 3);
    }

    #[test]
    fn tlp_names() {
        assert_eq!(Tlp::from_name("tlp:white"), Some(Tlp::Clear));
        assert_eq!(Tlp::from_name("TLP:AMBER+STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(Tlp::from_name("red"), Some(Tlp::Red));
        assert_eq!(Tlp::from_name("tlp:ex:chr"), None);
        assert!(Tlp::Red > Tlp::Green);
    }
}
