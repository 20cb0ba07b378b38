//! A field test's long list of plain `equals`/`startswith`/`endswith` values, answered by a
//! few hash lookups instead of one comparison per value.
//!
//! What it is for: verification of rules whose tests list dozens or hundreds of values
//! (`ImageLoaded|endswith` with 443 DLL names, `Image|endswith` with 55 images): comparing a
//! value with each of them in turn was a visible part of the engine's verification cost. Here
//! the values of one test go into a hash set, and an event's value is looked up once (equality)
//! or once per distinct value length (its prefix or suffix of that length). The answer is
//! exactly that of comparing the values one by one (unit tests below, and
//! `tests/engine_corpus.rs` over every SigmaHQ test and corpus event). What it is not for:
//! `contains`, globs, regexes, windash forms or `|all` (those tests keep the plain loop). An
//! automaton per test was tried first: building them cost more than they saved.

use std::collections::HashSet;
use std::sync::OnceLock;

use vigil_core::Value;

use crate::matcher::{Matcher, StrKind, with_str};

/// Fewest values worth a set (each plain comparison is short).
const MIN_VALUES: usize = 8;

/// The set over a field test's values, built the first time the test is evaluated (most tests
/// are never verified in a hunt). Cloning gives an unbuilt one.
#[derive(Default)]
pub struct ValueSet {
    built: OnceLock<Option<ValueSetMatcher>>,
}

impl Clone for ValueSet {
    fn clone(&self) -> Self {
        ValueSet::default()
    }
}

impl std::fmt::Debug for ValueSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueSet")
    }
}

impl ValueSet {
    /// The set for `values` when they can share one (all plain strings of one kind and case
    /// rule, equals/startswith/endswith, enough of them); `None` means: compare them one by
    /// one.
    pub fn get(&self, values: &[Matcher]) -> Option<&ValueSetMatcher> {
        self.built
            .get_or_init(|| ValueSetMatcher::build(values))
            .as_ref()
    }
}

/// A built [`ValueSet`]: the values' common comparison, the values, and their distinct lengths.
pub struct ValueSetMatcher {
    kind: StrKind,
    cased: bool,
    values: HashSet<Box<[u8]>, foldhash::fast::FixedState>,
    /// Distinct value lengths, ascending.
    lengths: Vec<usize>,
}

impl ValueSetMatcher {
    /// True when one of the values matches `value` (a list: any element), exactly as
    /// `values.iter().any(|m| m.matches(value, event))` would answer.
    pub fn matches(&self, value: &Value) -> bool {
        match value {
            Value::List(items) => items.iter().any(|v| self.matches(v)),
            v => with_str(v, |raw, lower| {
                self.is_match(if self.cased { raw } else { lower })
            }),
        }
    }

    fn build(values: &[Matcher]) -> Option<ValueSetMatcher> {
        let (kind, cased) = match values.first()? {
            Matcher::Str { kind, cased, .. } if *kind != StrKind::Contains => (*kind, *cased),
            _ => return None,
        };
        if values.len() < MIN_VALUES {
            return None;
        }
        let mut set = HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0x7661_6c73));
        let mut lengths = Vec::new();
        for m in values {
            match m {
                Matcher::Str {
                    kind: k,
                    pattern,
                    cased: c,
                } if *k == kind && *c == cased => {
                    set.insert(Box::<[u8]>::from(pattern.as_bytes()));
                    lengths.push(pattern.len());
                }
                _ => return None,
            }
        }
        lengths.sort_unstable();
        lengths.dedup();
        Some(ValueSetMatcher {
            kind,
            cased,
            values: set,
            lengths,
        })
    }

    /// True when one of the values stands in `hay` as the kind says (byte comparisons, as
    /// `str::starts_with`/`ends_with`/`==` make them).
    fn is_match(&self, hay: &str) -> bool {
        let hay = hay.as_bytes();
        match self.kind {
            StrKind::Equals => self.values.contains(hay),
            StrKind::StartsWith => self
                .lengths
                .iter()
                .take_while(|&&l| l <= hay.len())
                .any(|&l| self.values.contains(&hay[..l])),
            StrKind::EndsWith => self
                .lengths
                .iter()
                .take_while(|&&l| l <= hay.len())
                .any(|&l| self.values.contains(&hay[hay.len() - l..])),
            StrKind::Contains => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Text;

    fn s(kind: StrKind, p: &str) -> Matcher {
        Matcher::Str {
            kind,
            pattern: p.to_lowercase().into(),
            cased: false,
        }
    }

    /// Every haystack against every kind: the set answers what the values one by one answer.
    #[test]
    fn a_set_answers_what_its_values_answer() {
        let patterns = [
            "bc",
            "abcd",
            "abc",
            "\\cmd.exe",
            "cmd",
            "x",
            "é\\",
            "aab",
            "ab",
            "zz",
            "",
        ];
        let hays = [
            "",
            "a",
            "b",
            "bc",
            "abc",
            "abcd",
            "abcde",
            "xabc",
            "aabc",
            "zabcd",
            "C:\\CMD.EXE",
            "c:\\windows\\cmd.exe",
            "cmd.exe",
            "É\\",
            "xé\\y",
            "zzz",
            "aab",
            "aaab",
            "ab",
        ];
        let event = vigil_core::Event::default();
        for kind in [StrKind::Equals, StrKind::StartsWith, StrKind::EndsWith] {
            for n in [MIN_VALUES, patterns.len()] {
                let values: Vec<Matcher> = patterns[..n].iter().map(|p| s(kind, p)).collect();
                let set = ValueSet::default();
                let sm = set
                    .get(&values)
                    .expect("plain values of one kind make a set");
                for hay in hays {
                    let v = Value::Str(Text::new(hay));
                    let plain = values.iter().any(|m| m.matches(&v, &event));
                    assert_eq!(sm.matches(&v), plain, "{kind:?} {n} {hay:?}");
                }
                let list = Value::List(vec![Value::Int(7), Value::Str(Text::new("xabc"))]);
                let plain = values.iter().any(|m| m.matches(&list, &event));
                assert_eq!(sm.matches(&list), plain, "{kind:?} list");
            }
        }
    }

    #[test]
    fn mixed_few_or_contains_values_keep_the_plain_loop() {
        let mut values: Vec<Matcher> = (0..10)
            .map(|i| s(StrKind::EndsWith, &format!("v{i}")))
            .collect();
        assert!(ValueSet::default().get(&values).is_some());
        assert!(ValueSet::default().get(&values[..MIN_VALUES - 1]).is_none());
        values.push(s(StrKind::Contains, "x"));
        assert!(ValueSet::default().get(&values).is_none());
        values.pop();
        values.push(Matcher::Null);
        assert!(ValueSet::default().get(&values).is_none());
        let contains: Vec<Matcher> = (0..10)
            .map(|i| s(StrKind::Contains, &format!("v{i}")))
            .collect();
        assert!(ValueSet::default().get(&contains).is_none());
    }
}
