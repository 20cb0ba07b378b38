//! Value matchers: what one Sigma value with its modifier chain becomes.
//!
//! CONTRACT (shared by parse, eval and engine — extend, don't rename): the variants below and
//! `Matcher::matches`, `Matcher::prefilter_literals`, `Matcher::map_fields`.

use std::fmt::Write as _;
use std::net::IpAddr;

use vigil_core::{Event, Symbol, Value};

use crate::wildcard::{GlobProgram, SigmaStr};

/// How a plain string value compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrKind {
    Equals,
    StartsWith,
    EndsWith,
    Contains,
}

/// Numeric comparison operator (`lt`, `lte`, `gt`, `gte`; `Eq` for time parts without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumOp {
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
}

/// The part of a date field the time modifiers extract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// One compiled rule value.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// A wildcard-free string: `pattern` is lowercased unless `cased`.
    Str {
        kind: StrKind,
        pattern: Pattern,
        cased: bool,
    },
    /// A string with live `*`/`?` wildcards.
    Glob(Glob),
    /// `|re` (flags applied at build time).
    Regex(SigmaRegex),
    /// `|cidr`.
    Cidr(ipnet::IpNet),
    /// `|lt|lte|gt|gte`.
    Num { op: NumOp, value: f64 },
    /// `null`: the field is absent or null.
    Null,
    /// `|exists`.
    Exists(bool),
    /// `|fieldref` (optionally with startswith/endswith/contains).
    FieldRef {
        field: Symbol,
        kind: StrKind,
        cased: bool,
    },
    /// `|minute|hour|day|week|month|year` with an optional numeric comparison.
    TimePart {
        part: TimePart,
        op: NumOp,
        value: f64,
    },
    /// Alternative forms of one rule value (windash, base64offset, utf16 variants): any.
    AnyOf(Vec<Matcher>),
}

/// A compiled wildcard pattern.
#[derive(Clone, Debug)]
pub struct Glob {
    /// The pattern as written (after escapes were resolved into the internal form).
    pub pattern: Box<str>,
    pub cased: bool,
    program: GlobProgram,
}

impl Glob {
    /// Compiles a Sigma string; unless `cased` the pattern is lowercased here once, so matching
    /// compares it with the event's pre-lowered text.
    pub fn new(s: &SigmaStr, cased: bool) -> Glob {
        let s = if cased {
            s.clone()
        } else {
            s.map_literals(str::to_lowercase)
        };
        Glob {
            pattern: s.to_pattern().into(),
            cased,
            program: GlobProgram::new(&s),
        }
    }

    /// True when the whole of `hay` matches (compare `hay` lowercased unless `cased`).
    pub fn is_match(&self, hay: &str) -> bool {
        self.program.is_match(hay)
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.cased == other.cased
    }
}

impl Matcher {
    /// The matcher for a Sigma string: a plain [`Matcher::Str`] when the wildcards reduce to
    /// equals / starts-with / ends-with / contains, else a [`Matcher::Glob`].
    pub fn from_sigma_str(s: &SigmaStr, cased: bool) -> Matcher {
        use crate::wildcard::Part;
        let lower = |l: &str| {
            if cased {
                l.to_string()
            } else {
                l.to_lowercase()
            }
        };
        let str_matcher = |kind, l: &str| Matcher::Str {
            kind,
            pattern: lower(l).into(),
            cased,
        };
        match s.parts.as_slice() {
            [] => str_matcher(StrKind::Equals, ""),
            [Part::Lit(l)] => str_matcher(StrKind::Equals, l),
            [Part::Star, Part::Lit(l)] => str_matcher(StrKind::EndsWith, l),
            [Part::Lit(l), Part::Star] => str_matcher(StrKind::StartsWith, l),
            [Part::Star, Part::Lit(l), Part::Star] => str_matcher(StrKind::Contains, l),
            _ => Matcher::Glob(Glob::new(s, cased)),
        }
    }

    /// True when this matcher accepts `value` (`event` is needed by `fieldref`).
    pub fn matches(&self, value: &Value, event: &Event) -> bool {
        match (self, value) {
            (Matcher::Null, v) => matches!(v, Value::Null),
            (Matcher::Exists(present), _) => *present,
            (Matcher::AnyOf(ms), v) => ms.iter().any(|m| m.matches(v, event)),
            (_, Value::List(items)) => items.iter().any(|v| self.matches(v, event)),
            (m, v) => m.matches_scalar(v, event),
        }
    }

    /// [`Matcher::matches`] for a value that is neither a list nor handled structurally.
    fn matches_scalar(&self, value: &Value, event: &Event) -> bool {
        match self {
            Matcher::Str {
                kind,
                pattern,
                cased,
            } => with_str(value, |raw, lower| {
                str_cmp(*kind, if *cased { raw } else { lower }, pattern)
            }),
            Matcher::Glob(g) => with_str(value, |raw, lower| {
                g.is_match(if g.cased { raw } else { lower })
            }),
            Matcher::Regex(re) => with_str(value, |raw, _| re.is_match(raw)),
            Matcher::Cidr(net) => with_str(value, |raw, _| match parse_ip(raw) {
                Some(ip) => net.contains(&ip),
                None => false,
            }),
            Matcher::Num { op, value: rhs } => value.as_f64().is_some_and(|x| op.holds(x, *rhs)),
            Matcher::FieldRef { field, kind, cased } => match event.get(*field) {
                Some(other) => with_str(value, |raw, lower| {
                    let hay = if *cased { raw } else { lower };
                    other_matches(other, &|oraw, olower| {
                        str_cmp_plain(*kind, hay, if *cased { oraw } else { olower })
                    })
                }),
                None => false,
            },
            Matcher::TimePart {
                part,
                op,
                value: rhs,
            } => time_part(value, *part).is_some_and(|x| op.holds(x as f64, *rhs)),
            Matcher::Null | Matcher::Exists(_) | Matcher::AnyOf(_) => self.matches(value, event),
        }
    }

    /// Literals, lowercased, at least one of which must occur in the lowercased string form of
    /// the value whenever this matcher accepts it; `None` when there is no such guarantee
    /// (regex, cidr, numeric, null, exists, fieldref…). Used by the cross-rule prefilter.
    pub fn prefilter_literals(&self) -> Option<Vec<String>> {
        match self {
            Matcher::Str { pattern, cased, .. } if !pattern.is_empty() => Some(vec![if *cased {
                pattern.to_lowercase()
            } else {
                pattern.to_string()
            }]),
            Matcher::Glob(g) => g
                .program
                .longest_literal()
                .filter(|l| !l.is_empty())
                .map(|l| vec![l.to_lowercase()]),
            Matcher::AnyOf(ms) => {
                let mut out = Vec::new();
                for m in ms {
                    out.extend(m.prefilter_literals()?);
                }
                (!out.is_empty()).then_some(out)
            }
            _ => None,
        }
    }

    /// A copy with any referenced field renamed (only `FieldRef` refers to a field).
    pub fn map_fields(&self, rename: &impl Fn(Symbol) -> Symbol) -> Matcher {
        match self {
            Matcher::FieldRef { field, kind, cased } => Matcher::FieldRef {
                field: rename(*field),
                kind: *kind,
                cased: *cased,
            },
            Matcher::AnyOf(v) => Matcher::AnyOf(v.iter().map(|m| m.map_fields(rename)).collect()),
            other => other.clone(),
        }
    }

    /// True for matchers that accept an absent field (`null`, `exists: false`).
    pub fn accepts_absent(&self) -> bool {
        match self {
            Matcher::Null | Matcher::Exists(false) => true,
            Matcher::AnyOf(ms) => ms.iter().any(Matcher::accepts_absent),
            _ => false,
        }
    }
}

impl NumOp {
    /// `lhs op rhs`.
    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            NumOp::Lt => lhs < rhs,
            NumOp::Lte => lhs <= rhs,
            NumOp::Gt => lhs > rhs,
            NumOp::Gte => lhs >= rhs,
            NumOp::Eq => lhs == rhs,
        }
    }
}

#[inline]
fn str_cmp(kind: StrKind, hay: &str, pattern: &Pattern) -> bool {
    match kind {
        StrKind::Equals => hay == &**pattern,
        StrKind::StartsWith => hay.starts_with(&**pattern),
        StrKind::EndsWith => hay.ends_with(&**pattern),
        StrKind::Contains => pattern.is_contained_in(hay),
    }
}

/// A compiled `|re` value. The meta engine runs with its bounded backtracker off: on the
/// short values of log fields that engine spent most of its time clearing its visited set,
/// where the lazy DFA answers `is_match` directly.
///
/// ASCII values (nearly all log values) are matched by the same expression compiled without
/// Unicode (built on first use): on ASCII text it matches exactly what the Unicode one
/// matches — `\w`, `\d`, `\s`, `\b`, `.`, negated classes and case folding only differ on
/// non-ASCII characters — and its automaton is far smaller (`\w{1,64}` is a few states
/// instead of thousands, which SigmaHQ's svchost rule paid 13.5k ticks per check for).
#[derive(Clone, Debug)]
pub struct SigmaRegex {
    re: regex_automata::meta::Regex,
    /// The ASCII build; `None` inside when there is none (a non-ASCII pattern, or a class
    /// such as `\p{L}` that needs Unicode).
    ascii: std::sync::OnceLock<Option<regex_automata::meta::Regex>>,
    flags: RegexFlags,
    pattern: Box<str>,
}

/// Sigma's regex flags (`i`, `m`, `s`), kept to build the ASCII version later.
#[derive(Clone, Copy, Debug)]
struct RegexFlags {
    ignore_case: bool,
    multi_line: bool,
    dot_all: bool,
}

impl RegexFlags {
    fn build(self, pattern: &str, unicode: bool) -> Result<regex_automata::meta::Regex, String> {
        regex_automata::meta::Builder::new()
            // The ASCII build is made during a hunt, on first use: without a full DFA (which
            // its small automaton would otherwise get, at about twice the build cost, for
            // little over the lazy DFA's speed).
            .configure(
                regex_automata::meta::Config::new()
                    .backtrack(false)
                    .dfa(unicode),
            )
            .syntax(
                regex_automata::util::syntax::Config::new()
                    .case_insensitive(self.ignore_case)
                    .multi_line(self.multi_line)
                    .dot_matches_new_line(self.dot_all)
                    .unicode(unicode)
                    // Without Unicode, `.` and negated classes match single bytes, which is
                    // what they match in ASCII text (the only text this build sees).
                    .utf8(unicode),
            )
            .build(pattern)
            .map_err(|e| e.to_string())
    }
}

impl SigmaRegex {
    /// Compiles `pattern` with Sigma's flags (`i`, `m`, `s`).
    pub fn new(
        pattern: &str,
        ignore_case: bool,
        multi_line: bool,
        dot_all: bool,
    ) -> Result<SigmaRegex, String> {
        let flags = RegexFlags {
            ignore_case,
            multi_line,
            dot_all,
        };
        Ok(SigmaRegex {
            re: flags.build(pattern, true)?,
            ascii: std::sync::OnceLock::new(),
            flags,
            pattern: pattern.into(),
        })
    }

    /// True when the expression matches somewhere in `hay`.
    #[inline]
    pub fn is_match(&self, hay: &str) -> bool {
        match self.ascii_build().filter(|_| hay.is_ascii()) {
            Some(ascii) => ascii.is_match(hay),
            None => self.re.is_match(hay),
        }
    }

    /// [`SigmaRegex::is_match`] through the Unicode build alone (the reference the ASCII
    /// build is tested against).
    pub fn is_match_unicode(&self, hay: &str) -> bool {
        self.re.is_match(hay)
    }

    /// The ASCII build, made at the first call.
    fn ascii_build(&self) -> Option<&regex_automata::meta::Regex> {
        self.ascii
            .get_or_init(|| {
                self.pattern
                    .is_ascii()
                    .then(|| self.flags.build(&self.pattern, false).ok())
                    .flatten()
            })
            .as_ref()
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

/// [`str_cmp`] against a pattern known only at evaluation time (`fieldref`).
fn str_cmp_plain(kind: StrKind, hay: &str, pattern: &str) -> bool {
    match kind {
        StrKind::Equals => hay == pattern,
        StrKind::StartsWith => hay.starts_with(pattern),
        StrKind::EndsWith => hay.ends_with(pattern),
        StrKind::Contains => memchr::memmem::find(hay.as_bytes(), pattern.as_bytes()).is_some(),
    }
}

/// The text of a plain string value, with a substring searcher built the first time a
/// `contains` test uses it on a pattern of more than [`Pattern::SHORT`] bytes (building one
/// per comparison showed in profiles; building them all up front would cost memory for the
/// many patterns never verified).
#[derive(Clone, Default)]
pub struct Pattern {
    /// Up to 24 bytes in place: most Sigma values are that short, and verification then reads
    /// them from the matcher itself instead of following a pointer.
    text: compact_str::CompactString,
    finder: std::sync::OnceLock<Box<memchr::memmem::Finder<'static>>>,
}

impl Pattern {
    /// Patterns up to this long are searched by the standard library's `str::contains`, whose
    /// SIMD search for needles of 2 to 32 bytes needs nothing built: a boxed `Finder` is two
    /// more pointers to follow (the box, then its own copy of the needle) on rule data that
    /// verification mostly finds cold.
    const SHORT: usize = 32;

    /// True when the pattern occurs in `hay`.
    #[inline]
    pub fn is_contained_in(&self, hay: &str) -> bool {
        if hay.len() < self.text.len() {
            return false;
        }
        if self.text.len() <= Self::SHORT {
            return hay.contains(&*self.text);
        }
        self.finder
            .get_or_init(|| {
                Box::new(memchr::memmem::Finder::new(self.text.as_bytes()).into_owned())
            })
            .find(hay.as_bytes())
            .is_some()
    }
}

impl std::ops::Deref for Pattern {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.text, f)
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&str> for Pattern {
    fn from(s: &str) -> Self {
        Pattern {
            text: s.into(),
            finder: std::sync::OnceLock::new(),
        }
    }
}

impl From<String> for Pattern {
    fn from(s: String) -> Self {
        Pattern {
            text: s.into(),
            finder: std::sync::OnceLock::new(),
        }
    }
}

impl From<Box<str>> for Pattern {
    fn from(text: Box<str>) -> Self {
        Pattern {
            text: text.into(),
            finder: std::sync::OnceLock::new(),
        }
    }
}

/// A number's string form, written on the stack.
pub(crate) struct StackStr {
    buf: [u8; 48],
    len: usize,
}

impl StackStr {
    pub(crate) fn new() -> Self {
        StackStr {
            buf: [0; 48],
            len: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only whole `str`s are ever written in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Calls `f` with the raw and lowercased string form of a scalar (numbers and bools formatted
/// on the stack); `false` for null and lists.
#[inline]
pub(crate) fn with_str(value: &Value, f: impl FnOnce(&str, &str) -> bool) -> bool {
    match value {
        Value::Str(t) => f(t.as_str(), t.lower()),
        Value::Int(i) => {
            let mut buf = itoa::Buffer::new();
            let s = buf.format(*i);
            f(s, s)
        }
        Value::Float(x) => {
            let mut buf = StackStr::new();
            let _ = write!(buf, "{x}");
            f(buf.as_str(), buf.as_str())
        }
        Value::Bool(b) => {
            let s = if *b { "true" } else { "false" };
            f(s, s)
        }
        Value::Null | Value::List(_) => false,
    }
}

/// `with_str` over a value that may be a list (any element).
fn other_matches(value: &Value, f: &dyn Fn(&str, &str) -> bool) -> bool {
    match value {
        Value::List(items) => items.iter().any(|v| other_matches(v, f)),
        v => with_str(v, f),
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let ip: IpAddr = s.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    })
}

/// Extracts a time part from a date value: ISO-like text (`2024-05-01T13:45:00Z`,
/// `2024-05-01 13:45:00.123`) or a Unix timestamp in seconds or milliseconds.
fn time_part(value: &Value, part: TimePart) -> Option<i64> {
    let (y, mo, d, h, mi) = match value {
        Value::Str(t) => parse_datetime(t.as_str())?,
        Value::Int(_) | Value::Float(_) => {
            let secs = value.as_f64()?;
            let secs = if secs.abs() > 1e11 {
                secs / 1000.0
            } else {
                secs
            };
            let ts = jiff::Timestamp::from_second(secs as i64).ok()?;
            let dt = jiff::tz::Offset::UTC.to_datetime(ts);
            (
                dt.year() as i64,
                dt.month() as i64,
                dt.day() as i64,
                dt.hour() as i64,
                dt.minute() as i64,
            )
        }
        _ => return None,
    };
    Some(match part {
        TimePart::Minute => mi,
        TimePart::Hour => h,
        TimePart::Day => d,
        TimePart::Month => mo,
        TimePart::Year => y,
        TimePart::Week => {
            let date = jiff::civil::Date::new(y as i16, mo as i8, d as i8).ok()?;
            date.iso_week_date().week() as i64
        }
    })
}

fn parse_datetime(s: &str) -> Option<(i64, i64, i64, i64, i64)> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        if d.iter().all(u8::is_ascii_digit) {
            Some(d.iter().fold(0i64, |a, c| a * 10 + (c - b'0') as i64))
        } else {
            None
        }
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi) = match b.get(10) {
        Some(b'T' | b't' | b' ') if b.get(13) == Some(&b':') => (num(11..13)?, num(14..16)?),
        _ => (0, 0),
    };
    Some((y, mo, d, h, mi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_compare_in_their_display_form() {
        for i in [0, 7, -1, 4688, -4688, 1_000_000, i64::MIN, i64::MAX] {
            let shown = i.to_string();
            assert!(with_str(&Value::Int(i), |raw, lower| raw == shown && lower == shown));
        }
    }

    fn m(pattern: &str, kind: Option<StrKind>) -> Matcher {
        let mut s = SigmaStr::parse(pattern);
        match kind {
            Some(StrKind::Contains) => {
                s.star_before();
                s.star_after();
            }
            Some(StrKind::StartsWith) => s.star_after(),
            Some(StrKind::EndsWith) => s.star_before(),
            _ => {}
        }
        Matcher::from_sigma_str(&s, false)
    }

    #[test]
    fn wildcards_reduce_to_plain_string_matchers() {
        assert!(
            matches!(m("Abc", None), Matcher::Str { kind: StrKind::Equals, ref pattern, .. } if &**pattern == "abc")
        );
        assert!(matches!(
            m("abc", Some(StrKind::Contains)),
            Matcher::Str {
                kind: StrKind::Contains,
                ..
            }
        ));
        assert!(matches!(
            m("*abc", None),
            Matcher::Str {
                kind: StrKind::EndsWith,
                ..
            }
        ));
        assert!(matches!(m("a*c", None), Matcher::Glob(_)));
    }

    #[test]
    fn prefilter_literals_are_lowered_and_required() {
        let ev = Event::default();
        let cases = [
            (
                m("Mimikatz", Some(StrKind::Contains)),
                Some(vec!["mimikatz".to_string()]),
            ),
            (
                m("C:\\Win*\\CMD.exe", None),
                Some(vec!["\\cmd.exe".to_string()]),
            ),
            (m("*", None), None),
            (m("", None), None),
            (Matcher::Null, None),
            (
                Matcher::Regex(SigmaRegex::new("a", false, false, false).unwrap()),
                None,
            ),
        ];
        for (matcher, want) in cases {
            let got = matcher.prefilter_literals();
            assert_eq!(got, want, "{matcher:?}");
            // The guarantee: whenever the matcher accepts, a literal occurs in the lowered value.
            if let Some(lits) = got {
                for hay in ["C:\\Windows\\cmd.exe", "run MIMIKATZ now", "nothing"] {
                    if matcher.matches(&Value::str(hay), &ev) {
                        let low = hay.to_lowercase();
                        assert!(lits.iter().any(|l| low.contains(l.as_str())), "{hay}");
                    }
                }
            }
        }
        let any = Matcher::AnyOf(vec![m("a", None), m("b", None)]);
        assert_eq!(any.prefilter_literals(), Some(vec!["a".into(), "b".into()]));
        let mixed = Matcher::AnyOf(vec![m("a", None), Matcher::Null]);
        assert_eq!(mixed.prefilter_literals(), None);
    }

    #[test]
    fn numbers_compare_through_their_string_form() {
        let ev = Event::default();
        let four = m("4688", None);
        assert!(four.matches(&Value::Int(4688), &ev));
        assert!(four.matches(&Value::str("4688"), &ev));
        assert!(m("1.5", None).matches(&Value::Float(1.5), &ev));
        assert!(m("true", None).matches(&Value::Bool(true), &ev));
        assert!(!four.matches(&Value::Null, &ev));
        assert!(four.matches(&Value::List(vec![Value::Int(1), Value::Int(4688)]), &ev));
    }

    /// Short patterns go through `str::contains`, longer ones through a built `Finder`: both
    /// agree with a plain window comparison, at every length around the switch.
    #[test]
    fn contains_agrees_with_a_window_scan_either_side_of_the_short_limit() {
        let hay = "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe -nop -w hidden -enc aqbfafgajabh \u{e9}t\u{e9}";
        for start in [0, 3, 17, 40] {
            for len in 1..=Pattern::SHORT + 8 {
                let bytes = &hay.as_bytes()[start..];
                let Some(needle) = bytes.get(..len).and_then(|b| std::str::from_utf8(b).ok())
                else {
                    continue;
                };
                for pattern in [
                    needle.to_string(),
                    format!("{needle}#"),
                    format!("#{needle}"),
                ] {
                    let expected = hay
                        .as_bytes()
                        .windows(pattern.len())
                        .any(|w| w == pattern.as_bytes());
                    let p = Pattern::from(pattern.as_str());
                    assert_eq!(p.is_contained_in(hay), expected, "{pattern:?}");
                    assert!(
                        !p.is_contained_in(&pattern[1..]),
                        "longer than the haystack"
                    );
                }
            }
        }
    }
}
