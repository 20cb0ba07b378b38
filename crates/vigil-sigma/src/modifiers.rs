//! Sigma value modifiers: parsing a `field|mod|mod` chain and turning one rule value into a
//! [`Matcher`].
//!
//! What it is for: every modifier of the specification (see `docs/SIGMA.md`), applied in one
//! fixed, documented order so that chains written in any order mean the same thing:
//! expand → wildcards → windash → utf16 → base64/base64offset → contains/startswith/endswith →
//! case. What it is not for: evaluating matchers (`matcher.rs`) or parsing YAML (`parse/`).

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine as _;
use vigil_core::Symbol;

use crate::error::RejectReason;
use crate::matcher::{Matcher, NumOp, StrKind, TimePart};
use crate::wildcard::{Part, SigmaStr};

/// A rule value as YAML gave it.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleValue {
    /// A string (quoted, or plain text that is not a number, bool or null).
    Str(String),
    /// A plain number, in its canonical text form (`4688`, `-1.5`).
    Number(String),
    Bool(bool),
    /// `null`, `~` or nothing.
    Null,
}

impl RuleValue {
    /// The value as a string (what `4688` compares as).
    pub fn text(&self) -> String {
        match self {
            RuleValue::Str(s) | RuleValue::Number(s) => s.clone(),
            RuleValue::Bool(b) => b.to_string(),
            RuleValue::Null => "null".into(),
        }
    }
}

/// How strings are encoded before base64 (`utf16le`/`wide`, `utf16be`, `utf16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Utf16 {
    Le,
    Be,
    /// Byte-order mark FF FE, then little-endian.
    Bom,
}

/// The base64 modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base64 {
    Plain,
    /// The three offset-shifted forms, for finding the value inside a longer encoded text.
    Offset,
}

/// A parsed modifier chain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Modifiers {
    pub kind: Option<StrKind>,
    pub all: bool,
    pub re: bool,
    pub re_ignore_case: bool,
    pub re_multi_line: bool,
    pub re_dot_all: bool,
    pub windash: bool,
    pub cidr: bool,
    pub base64: Option<Base64>,
    pub utf16: Option<Utf16>,
    pub fieldref: bool,
    pub expand: bool,
    pub exists: bool,
    pub cased: bool,
    pub num: Option<NumOp>,
    pub neq: bool,
    pub time: Option<TimePart>,
}

impl Modifiers {
    /// Parses the modifiers after the field name (`key` is the whole key, for messages).
    pub fn parse(key: &str, names: &[&str]) -> Result<Modifiers, RejectReason> {
        let mut m = Modifiers::default();
        let conflict = |message: &str| RejectReason::InvalidModifiers {
            key: key.to_string(),
            message: message.to_string(),
        };
        for name in names {
            match name.to_ascii_lowercase().as_str() {
                "contains" | "startswith" | "endswith" => {
                    if m.kind.is_some() {
                        return Err(conflict("more than one of contains/startswith/endswith"));
                    }
                    m.kind = Some(match name.to_ascii_lowercase().as_str() {
                        "contains" => StrKind::Contains,
                        "startswith" => StrKind::StartsWith,
                        _ => StrKind::EndsWith,
                    });
                }
                "all" => m.all = true,
                "re" => m.re = true,
                "i" | "ignorecase" => m.re_ignore_case = true,
                "m" | "multiline" => m.re_multi_line = true,
                "s" | "dotall" => m.re_dot_all = true,
                "windash" => m.windash = true,
                "cidr" => m.cidr = true,
                "base64" => m.base64 = Some(Base64::Plain),
                "base64offset" => m.base64 = Some(Base64::Offset),
                "utf16le" | "wide" => m.utf16 = Some(Utf16::Le),
                "utf16be" => m.utf16 = Some(Utf16::Be),
                "utf16" => m.utf16 = Some(Utf16::Bom),
                "fieldref" => m.fieldref = true,
                "expand" => m.expand = true,
                "exists" => m.exists = true,
                "cased" => m.cased = true,
                "lt" => m.num = Some(NumOp::Lt),
                "lte" => m.num = Some(NumOp::Lte),
                "gt" => m.num = Some(NumOp::Gt),
                "gte" => m.num = Some(NumOp::Gte),
                "neq" => m.neq = true,
                "minute" => m.time = Some(TimePart::Minute),
                "hour" => m.time = Some(TimePart::Hour),
                "day" => m.time = Some(TimePart::Day),
                "week" => m.time = Some(TimePart::Week),
                "month" => m.time = Some(TimePart::Month),
                "year" => m.time = Some(TimePart::Year),
                _ => return Err(RejectReason::UnknownModifier((*name).to_string())),
            }
        }
        let flags = m.re_ignore_case || m.re_multi_line || m.re_dot_all;
        if flags && !m.re {
            return Err(conflict("regex flags (i, m, s) need `re`"));
        }
        let specials = [
            m.re,
            m.cidr,
            m.fieldref,
            m.exists,
            m.num.is_some() && m.time.is_none(),
            m.time.is_some(),
            m.base64.is_some() || m.utf16.is_some(),
        ];
        if specials.iter().filter(|b| **b).count() > 1 {
            return Err(conflict(
                "re, cidr, fieldref, exists, numeric, time and encoding modifiers exclude each other",
            ));
        }
        if (m.re || m.cidr || m.exists || m.num.is_some() || m.time.is_some())
            && (m.kind.is_some() || m.windash || m.expand)
        {
            return Err(conflict(
                "contains/startswith/endswith/windash/expand only apply to string values",
            ));
        }
        Ok(m)
    }

    /// Builds the matcher for one value. `field` names the key in messages; `placeholders`
    /// resolves `%name%` under `expand`.
    pub fn build(
        &self,
        field: &str,
        value: &RuleValue,
        placeholders: &HashMap<String, Vec<String>>,
    ) -> Result<Matcher, RejectReason> {
        let invalid = |message: String| RejectReason::InvalidValue {
            field: field.to_string(),
            message,
        };
        if self.exists {
            return match value {
                RuleValue::Bool(b) => Ok(Matcher::Exists(*b)),
                RuleValue::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Matcher::Exists(true)),
                RuleValue::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Matcher::Exists(false)),
                other => Err(invalid(format!(
                    "`exists` needs true or false, not {:?}",
                    other.text()
                ))),
            };
        }
        if *value == RuleValue::Null {
            return Ok(Matcher::Null);
        }
        if let Some(part) = self.time {
            let v = number(value).ok_or_else(|| invalid("time parts compare numbers".into()))?;
            return Ok(Matcher::TimePart {
                part,
                op: self.num.unwrap_or(NumOp::Eq),
                value: v,
            });
        }
        if let Some(op) = self.num {
            let v = number(value)
                .ok_or_else(|| invalid(format!("{:?} is not a number for {op:?}", value.text())))?;
            return Ok(Matcher::Num { op, value: v });
        }
        let text = value.text();
        if self.cidr {
            let net = text
                .trim()
                .parse::<ipnet::IpNet>()
                .or_else(|_| {
                    text.trim()
                        .parse::<std::net::IpAddr>()
                        .map(ipnet::IpNet::from)
                })
                .map_err(|_| invalid(format!("{text:?} is not a CIDR network")))?;
            return Ok(Matcher::Cidr(net.trunc()));
        }
        if self.fieldref {
            if text.contains(['*', '?']) {
                return Err(invalid(
                    "fieldref takes a field name, not a wildcard".into(),
                ));
            }
            return Ok(Matcher::FieldRef {
                field: Symbol::intern(text.trim()),
                kind: self.kind.unwrap_or(StrKind::Equals),
                cased: self.cased,
            });
        }
        if self.re {
            let re = crate::matcher::SigmaRegex::new(
                &text,
                self.re_ignore_case,
                self.re_multi_line,
                self.re_dot_all,
            )
            .map_err(|message| RejectReason::InvalidRegex {
                pattern: text.clone(),
                message,
            })?;
            return Ok(Matcher::Regex(re));
        }

        // Strings: expand, wildcards, windash, encodings, then placement.
        let mut texts = if self.expand {
            expand(&text, placeholders)?
        } else {
            vec![text]
        };
        // A number also matches in its canonical form (`007` as 7, `1.50` as 1.5), which is how
        // numeric event values are written when compared.
        if let RuleValue::Number(raw) = value
            && let Some(canon) = canonical_number(raw)
            && canon != *raw
        {
            texts.push(canon);
        }
        let mut forms: Vec<SigmaStr> = Vec::new();
        for t in &texts {
            let s = match value {
                RuleValue::Str(_) => SigmaStr::parse(t),
                _ => SigmaStr::literal(t),
            };
            if self.windash {
                forms.extend(windash(&s).map_err(invalid)?);
            } else {
                forms.push(s);
            }
        }
        if let (Some(enc), None) = (self.utf16, self.base64) {
            // Without base64 the encoded bytes are matched as characters (pySigma's `wide`).
            forms = forms
                .iter()
                .map(|s| s.map_literals(|l| utf16(l, enc).into_iter().map(char::from).collect()))
                .collect();
        }
        if let Some(b64) = self.base64 {
            let mut encoded = Vec::new();
            for s in &forms {
                let lit = s
                    .as_literal()
                    .ok_or_else(|| invalid("base64 values cannot contain wildcards".to_string()))?;
                let bytes = match self.utf16 {
                    None => lit.into_bytes(),
                    Some(enc) => utf16(&lit, enc),
                };
                match b64 {
                    Base64::Plain => encoded.push(SigmaStr::literal(&b64_encode(&bytes))),
                    Base64::Offset => {
                        encoded.extend(base64_offsets(&bytes).iter().map(|e| SigmaStr::literal(e)))
                    }
                }
            }
            forms = encoded;
        }
        let mut matchers: Vec<Matcher> = Vec::new();
        for mut s in forms {
            match self.kind {
                Some(StrKind::Contains) => {
                    s.star_before();
                    s.star_after();
                }
                Some(StrKind::StartsWith) => s.star_after(),
                Some(StrKind::EndsWith) => s.star_before(),
                Some(StrKind::Equals) | None => {}
            }
            // base64 output is case-sensitive by nature.
            let cased = self.cased || self.base64.is_some();
            let m = Matcher::from_sigma_str(&s, cased);
            if !matchers.iter().any(|x| same(x, &m)) {
                matchers.push(m);
            }
        }
        Ok(if matchers.len() == 1 {
            matchers.pop().expect("one matcher")
        } else {
            Matcher::AnyOf(matchers)
        })
    }
}

fn same(a: &Matcher, b: &Matcher) -> bool {
    match (a, b) {
        (
            Matcher::Str {
                kind: k1,
                pattern: p1,
                cased: c1,
            },
            Matcher::Str {
                kind: k2,
                pattern: p2,
                cased: c2,
            },
        ) => k1 == k2 && p1 == p2 && c1 == c2,
        (Matcher::Glob(a), Matcher::Glob(b)) => a == b,
        _ => false,
    }
}

fn canonical_number(raw: &str) -> Option<String> {
    match raw.parse::<i64>() {
        Ok(i) => Some(i.to_string()),
        Err(_) => raw.parse::<f64>().ok().map(|f| f.to_string()),
    }
}

fn number(v: &RuleValue) -> Option<f64> {
    match v {
        RuleValue::Number(s) | RuleValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Replaces every `%name%` with each of its configured values (all combinations).
fn expand(
    text: &str,
    placeholders: &HashMap<String, Vec<String>>,
) -> Result<Vec<String>, RejectReason> {
    let mut out = vec![String::new()];
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let values = placeholders
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| RejectReason::UnresolvedPlaceholder(name.to_string()))?;
        let prefix = &rest[..start];
        out = out
            .iter()
            .flat_map(|o| values.iter().map(move |v| format!("{o}{prefix}{v}")))
            .collect();
        rest = &rest[start + len + 2..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}

/// The dashes a Windows command line accepts for a parameter's `-` or `/`.
const DASHES: [&str; 5] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"];

/// At most this many windash positions in one value (5^n forms).
const MAX_WINDASH_POSITIONS: usize = 5;

/// pySigma's windash: each `-` or `/` where `\B[-/]\b` matches (a parameter start, not the
/// dash inside `file-name`) may be any of [`DASHES`]; all combinations.
fn windash(s: &SigmaStr) -> Result<Vec<SigmaStr>, String> {
    static PARAM_START: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\B[-/]\b").expect("static regex"));
    // Split every literal at the dash positions; `None` marks a dash slot.
    let mut pieces: Vec<Option<Part>> = Vec::new();
    let mut slots = 0;
    for p in &s.parts {
        match p {
            Part::Lit(l) => {
                let mut last = 0;
                for m in PARAM_START.find_iter(l) {
                    pieces.push(Some(Part::Lit(l[last..m.start()].to_string())));
                    pieces.push(None);
                    slots += 1;
                    last = m.end();
                }
                pieces.push(Some(Part::Lit(l[last..].to_string())));
            }
            other => pieces.push(Some(other.clone())),
        }
    }
    if slots > MAX_WINDASH_POSITIONS {
        return Err(format!(
            "windash on {slots} parameters would need 5^{slots} forms (at most {MAX_WINDASH_POSITIONS})"
        ));
    }
    let mut forms = vec![SigmaStr::default()];
    for piece in pieces {
        match piece {
            Some(p) => forms.iter_mut().for_each(|f| f.push(p.clone())),
            None => {
                forms = forms
                    .iter()
                    .flat_map(|f| {
                        DASHES.iter().map(move |d| {
                            let mut f = f.clone();
                            f.push(Part::Lit((*d).to_string()));
                            f
                        })
                    })
                    .collect()
            }
        }
    }
    Ok(forms)
}

fn utf16(s: &str, enc: Utf16) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2 + 2);
    if enc == Utf16::Bom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for unit in s.encode_utf16() {
        match enc {
            Utf16::Be => out.extend_from_slice(&unit.to_be_bytes()),
            Utf16::Le | Utf16::Bom => out.extend_from_slice(&unit.to_le_bytes()),
        }
    }
    out
}

fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The three forms in which `bytes` appear inside base64 of a longer text, depending on the
/// offset (0, 1 or 2) of the value in it: encode with that many leading bytes, then drop the
/// characters that depend on the unknown bytes before and after (pySigma's `base64offset`).
pub fn base64_offsets(bytes: &[u8]) -> [String; 3] {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    std::array::from_fn(|i| {
        let mut shifted = vec![b' '; i];
        shifted.extend_from_slice(bytes);
        let enc = b64_encode(&shifted);
        let end = enc.len() - END[(bytes.len() + i) % 3];
        enc[START[i].min(end)..end].to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(m: &Matcher) -> Vec<String> {
        match m {
            Matcher::AnyOf(ms) => ms.iter().flat_map(forms).collect(),
            Matcher::Str { pattern, .. } => vec![pattern.to_string()],
            Matcher::Glob(g) => vec![g.pattern.to_string()],
            other => panic!("unexpected {other:?}"),
        }
    }

    fn build(mods: &[&str], v: &str) -> Result<Matcher, RejectReason> {
        Modifiers::parse("f", mods)?.build("f", &RuleValue::Str(v.into()), &HashMap::new())
    }

    #[test]
    fn base64offset_known_forms() {
        // The SigmaHQ-documented encodings of "http://".
        assert_eq!(
            base64_offsets(b"http://"),
            [
                "aHR0cDovL".to_string(),
                "h0dHA6Ly".into(),
                "odHRwOi8v".into()
            ]
        );
        let m = build(&["base64offset", "contains"], "http://").unwrap();
        assert_eq!(forms(&m), ["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]);
    }

    #[test]
    fn base64_and_utf16() {
        let m = build(&["base64"], "abc").unwrap();
        assert_eq!(forms(&m), ["YWJj"]);
        // "ab" in UTF-16LE is 61 00 62 00.
        let m = build(&["wide", "base64"], "ab").unwrap();
        assert_eq!(forms(&m), [b64_encode(&[0x61, 0, 0x62, 0])]);
        let m = build(&["utf16be", "base64"], "ab").unwrap();
        assert_eq!(forms(&m), [b64_encode(&[0, 0x61, 0, 0x62])]);
        let m = build(&["utf16", "base64"], "ab").unwrap();
        assert_eq!(forms(&m), [b64_encode(&[0xFF, 0xFE, 0x61, 0, 0x62, 0])]);
        assert!(build(&["base64"], "a*").is_err());
        let m = build(&["wide", "contains"], "ab").unwrap();
        assert_eq!(forms(&m), ["a\0b\0"]);
    }

    #[test]
    fn windash_only_at_parameter_starts() {
        let m = build(&["windash", "contains"], " -enc file-name /x").unwrap();
        let f = forms(&m);
        assert_eq!(f.len(), 25);
        assert!(f.contains(&" -enc file-name /x".to_string()));
        assert!(f.contains(&" /enc file-name -x".to_string()));
        assert!(f.contains(&" \u{2015}enc file-name \u{2013}x".to_string()));
        assert!(f.iter().all(|s| s.contains("file-name")));
        let m = build(&["windash"], "-a").unwrap();
        assert_eq!(forms(&m).len(), 5);
    }

    #[test]
    fn unknown_modifier_is_named() {
        assert_eq!(
            Modifiers::parse("f|containz", &["containz"]),
            Err(RejectReason::UnknownModifier("containz".into()))
        );
        assert!(Modifiers::parse("f|i", &["i"]).is_err());
        assert!(Modifiers::parse("f", &["re", "contains"]).is_err());
    }

    #[test]
    fn expand_resolves_or_rejects() {
        let mut p = HashMap::new();
        p.insert("ws".to_string(), vec!["PC1".to_string(), "PC2".to_string()]);
        let m = Modifiers::parse("f", &["expand"])
            .unwrap()
            .build("f", &RuleValue::Str("%ws%$".into()), &p)
            .unwrap();
        assert_eq!(forms(&m), ["pc1$", "pc2$"]);
        let e = Modifiers::parse("f", &["expand"]).unwrap().build(
            "f",
            &RuleValue::Str("%nope%".into()),
            &p,
        );
        assert_eq!(
            e.unwrap_err(),
            RejectReason::UnresolvedPlaceholder("nope".into())
        );
    }
}
