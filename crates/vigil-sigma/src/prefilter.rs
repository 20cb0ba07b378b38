//! The cross-rule prefilter: a necessary condition per rule, checked for all rules at once.
//!
//! What it is for: most rules can only match an event that contains some literal text (a
//! `CommandLine|contains: 'mimikatz'` rule needs "mimikatz" somewhere). From each rule's
//! condition tree we derive a *required literal set* — at least one of its literals occurs in
//! the lowercased string form of some field value of every event the rule matches — and one
//! Aho-Corasick automaton over all of them finds, in one pass over an event's values, every rule
//! that may match. Those (and the rules without a set) are then verified exactly.
//!
//! What it is not for: deciding a match. A literal hit proves nothing; a miss proves the rule
//! cannot match. Anything without such a guarantee (regex, cidr, numbers, `not`, `neq`, short
//! literals) is simply "always check".

use aho_corasick::{AhoCorasick, MatchKind};
use vigil_core::{Event, Value};

use crate::ast::{Condition, Detection, FieldTest, Keywords, Search, SearchBody};
use crate::matcher::Matcher;

/// Literals shorter than this would hit nearly every event; a branch needing one of them is
/// treated as unfilterable.
pub const MIN_LITERAL_LEN: usize = 3;

/// The literals one of which must occur in an event the detection matches (lowercased), or
/// `None` when no such set is known.
pub fn required_literals(detection: &Detection) -> Option<Vec<String>> {
    condition(&detection.condition, &detection.searches)
}

fn condition(c: &Condition, searches: &[Search]) -> Option<Vec<String>> {
    match c {
        Condition::Search(i) => search(searches.get(*i)?),
        Condition::And(children) => best(children.iter().map(|c| condition(c, searches))),
        Condition::Or(children) => union(children.iter().map(|c| condition(c, searches))),
        Condition::Not(inner) => match &**inner {
            Condition::Not(x) => condition(x, searches),
            _ => None,
        },
    }
}

fn search(s: &Search) -> Option<Vec<String>> {
    match &s.body {
        // OR across maps, AND within a map.
        SearchBody::Fields(groups) => union(
            groups
                .iter()
                .map(|group| best(group.iter().map(field_test))),
        ),
        SearchBody::Keywords(k) => keywords(k),
    }
}

fn field_test(t: &FieldTest) -> Option<Vec<String>> {
    if t.negate || t.values.is_empty() {
        return None;
    }
    values(&t.values, t.all)
}

fn keywords(k: &Keywords) -> Option<Vec<String>> {
    if k.values.is_empty() {
        return None;
    }
    values(&k.values, k.all)
}

/// Every value must match under `all` (any one value's set is required), else one of them
/// (the union is required).
fn values(values: &[Matcher], all: bool) -> Option<Vec<String>> {
    let sets = values.iter().map(|m| normalise(m.prefilter_literals()?));
    if all { best(sets) } else { union(sets) }
}

/// The most selective of the known sets (an AND needs all of them; one is enough to filter).
fn best(sets: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    sets.flatten().max_by_key(|s| quality(s))
}

/// The union, if every branch has a set (an OR is filterable only when every branch is).
fn union(sets: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for s in sets {
        out.extend(s?);
    }
    if out.is_empty() {
        return None;
    }
    normalise(out)
}

/// Higher is more selective: the shortest literal decides how often the set fires, then fewer
/// literals is better.
fn quality(set: &[String]) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = set.iter().map(String::len).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(set.len()))
}

/// Deduplicates, drops literals that contain another literal of the set (the shorter one fires
/// whenever the longer does), and rejects sets with a literal too short to be useful.
fn normalise(mut set: Vec<String>) -> Option<Vec<String>> {
    if set.is_empty() || set.iter().any(|l| l.len() < MIN_LITERAL_LEN) {
        return None;
    }
    set.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    set.dedup();
    let mut kept: Vec<String> = Vec::with_capacity(set.len());
    for lit in set {
        if !kept.iter().any(|k| lit.contains(k.as_str())) {
            kept.push(lit);
        }
    }
    Some(kept)
}

/// One automaton over every rule's required literals, and which rules each literal serves.
#[derive(Debug)]
pub struct Prefilter {
    automaton: Option<AhoCorasick>,
    /// Pattern id → rule indices that list this literal.
    pattern_rules: Vec<Vec<u32>>,
}

impl Prefilter {
    /// Builds the automaton from `(rule index, literal set)` pairs.
    pub fn build(sets: &[(u32, Vec<String>)]) -> Prefilter {
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut patterns: Vec<&str> = Vec::new();
        let mut pattern_rules: Vec<Vec<u32>> = Vec::new();
        for (rule, set) in sets {
            for lit in set {
                let id = *index.entry(lit.as_str()).or_insert_with(|| {
                    patterns.push(lit.as_str());
                    pattern_rules.push(Vec::new());
                    patterns.len() - 1
                });
                if pattern_rules[id].last() != Some(rule) {
                    pattern_rules[id].push(*rule);
                }
            }
        }
        let automaton = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .expect("literal patterns always build")
        });
        Prefilter {
            automaton,
            pattern_rules,
        }
    }

    /// Number of distinct literals.
    pub fn literal_count(&self) -> usize {
        self.pattern_rules.len()
    }

    /// Marks (`marks[rule] = epoch`) every rule with a literal occurring in a lowercased
    /// string value of `event`. `buf`/`lower` are reusable buffers for numbers' string forms.
    pub fn scan(
        &self,
        event: &Event,
        marks: &mut [u32],
        epoch: u32,
        buf: &mut String,
        lower: &mut String,
    ) {
        let Some(ac) = &self.automaton else {
            return;
        };
        for field in event.fields() {
            self.scan_value(ac, &field.value, marks, epoch, buf, lower);
        }
    }

    fn scan_value(
        &self,
        ac: &AhoCorasick,
        value: &Value,
        marks: &mut [u32],
        epoch: u32,
        buf: &mut String,
        lower: &mut String,
    ) {
        let text: &str = match value {
            Value::Str(t) => t.lower(),
            Value::List(items) => {
                for v in items {
                    self.scan_value(ac, v, marks, epoch, buf, lower);
                }
                return;
            }
            Value::Null => return,
            other => match other.scalar_str(buf) {
                Some(s) => {
                    lower.clear();
                    lower.push_str(s);
                    lower.make_ascii_lowercase();
                    lower.as_str()
                }
                None => return,
            },
        };
        if text.len() < MIN_LITERAL_LEN {
            return;
        }
        for m in ac.find_overlapping_iter(text) {
            for &rule in &self.pattern_rules[m.pattern().as_usize()] {
                marks[rule as usize] = epoch;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::StrKind;
    use vigil_core::Symbol;

    fn s(kind: StrKind, p: &str) -> Matcher {
        Matcher::Str {
            kind,
            pattern: p.into(),
            cased: false,
        }
    }

    fn test(field: &str, values: Vec<Matcher>, all: bool, negate: bool) -> FieldTest {
        FieldTest {
            field: Symbol::intern(field),
            raw: values.iter().map(|v| format!("{v:?}")).collect(),
            values,
            all,
            negate,
            written: field.into(),
            location: Default::default(),
        }
    }

    fn det(searches: Vec<Vec<Vec<FieldTest>>>, condition: Condition) -> Detection {
        Detection {
            searches: searches
                .into_iter()
                .enumerate()
                .map(|(i, g)| Search {
                    name: format!("s{i}"),
                    body: SearchBody::Fields(g),
                })
                .collect(),
            condition,
        }
    }

    #[test]
    fn and_picks_the_best_child_or_unions_and_not_drops() {
        let sel = vec![vec![
            test(
                "Image",
                vec![s(StrKind::EndsWith, "\\cmd.exe")],
                false,
                false,
            ),
            test(
                "CommandLine",
                vec![
                    s(StrKind::Contains, "lsadump::"),
                    s(StrKind::Contains, "sekurlsa::"),
                ],
                false,
                false,
            ),
        ]];
        let filter = vec![vec![test(
            "User",
            vec![s(StrKind::Contains, "system")],
            false,
            false,
        )]];
        let d = det(
            vec![sel.clone(), filter.clone()],
            Condition::And(vec![
                Condition::Search(0),
                Condition::Not(Box::new(Condition::Search(1))),
            ]),
        );
        assert_eq!(
            required_literals(&d),
            Some(vec!["lsadump::".to_string(), "sekurlsa::".to_string()])
        );
        let d = det(
            vec![sel, filter],
            Condition::Or(vec![
                Condition::Search(0),
                Condition::Not(Box::new(Condition::Search(1))),
            ]),
        );
        assert_eq!(required_literals(&d), None);
    }

    #[test]
    fn short_literals_negation_and_all() {
        let short = det(
            vec![vec![vec![test(
                "A",
                vec![s(StrKind::Contains, "-e")],
                false,
                false,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(required_literals(&short), None);
        let neq = det(
            vec![vec![vec![test(
                "A",
                vec![s(StrKind::Contains, "abcd")],
                false,
                true,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(required_literals(&neq), None);
        let all = det(
            vec![vec![vec![test(
                "A",
                vec![s(StrKind::Contains, "-e"), s(StrKind::Contains, "invoke-")],
                true,
                false,
            )]]],
            Condition::Search(0),
        );
        assert_eq!(required_literals(&all), Some(vec!["invoke-".to_string()]));
    }

    #[test]
    fn scan_marks_rules_by_literal() {
        let p = Prefilter::build(&[(0, vec!["mimikatz".into()]), (2, vec!["4688".into()])]);
        let mut e = Event::default();
        e.insert("CommandLine", Value::str("C:\\x\\MimiKatz.exe"));
        let mut marks = vec![0; 3];
        let (mut a, mut b) = (String::new(), String::new());
        p.scan(&e, &mut marks, 1, &mut a, &mut b);
        assert_eq!(marks, vec![1, 0, 0]);
        e.insert("EventID", Value::Int(4688));
        p.scan(&e, &mut marks, 2, &mut a, &mut b);
        assert_eq!(marks, vec![2, 0, 2]);
    }
}
