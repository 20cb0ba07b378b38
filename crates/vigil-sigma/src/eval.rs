//! The reference evaluator: does a [`Detection`] match an [`Event`], and why.
//!
//! What it is for: the plain, obviously-correct reading of Sigma semantics that the compiled
//! engine is tested against, and the evidence an alert carries. It allocates nothing while
//! deciding a match; [`Detection::explain`] (called only after a match) does.
//! What it is not for: routing events to rules or prefiltering (see `engine`).

use vigil_core::{Event, Value};

use crate::ast::{Condition, Detection, FieldTest, Keywords, Rule, Search, SearchBody};
use crate::matcher::Matcher;

/// Why a rule matched: one search identifier and the field value that satisfied it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// The search identifier (`selection`, `keywords`…).
    pub search: String,
    /// The event field, when the search names one (keyword hits name the field they were found in).
    pub field: Option<String>,
    /// The event's value (`(absent)` for a field that satisfied `null`/`exists: false`).
    pub value: String,
    /// The rule value as written, with its key and modifiers (`CommandLine|contains: whoami`).
    pub pattern: String,
}

impl Rule {
    /// True when the rule's detection matches `event` (logsource routing is the caller's job).
    pub fn matches(&self, event: &Event) -> bool {
        self.detection.matches(event)
    }
}

impl Detection {
    /// True when the condition holds for `event`. Allocates nothing.
    pub fn matches(&self, event: &Event) -> bool {
        self.condition_holds(&self.condition, event)
    }

    /// Evaluates one condition (sub)tree, short-circuiting.
    pub fn condition_holds(&self, c: &Condition, event: &Event) -> bool {
        match c {
            Condition::Search(i) => self.searches.get(*i).is_some_and(|s| s.matches(event)),
            Condition::And(items) => items.iter().all(|c| self.condition_holds(c, event)),
            Condition::Or(items) => items.iter().any(|c| self.condition_holds(c, event)),
            Condition::Not(c) => !self.condition_holds(c, event),
        }
    }

    /// The evidence for a match: every search used positively (not under `not`) that matched,
    /// with the fields and values that satisfied it. Meant to be called only after a match.
    ///
    /// One walk: each positive search is evaluated once, and the group, field tests and values
    /// that decide it are the evidence (the engine already knows the rule matched; evaluating
    /// the search, then finding its group, then its value cost three walks).
    pub fn explain(&self, event: &Event) -> Vec<Evidence> {
        let mut out = Vec::new();
        let mut seen = Seen::new(self.searches.len());
        self.explain_positive(&self.condition, event, &mut seen, &mut out);
        if out.is_empty() {
            // A rule that fired through negation alone (`condition: not filter`): the
            // explanation is which negated searches did not match.
            let mut negated = Vec::new();
            negated_searches(&self.condition, false, &mut negated);
            for i in negated {
                let search = &self.searches[i];
                if !search.matches(event) {
                    out.push(Evidence {
                        search: format!("not {}", search.name),
                        field: None,
                        value: "(no match)".to_string(),
                        pattern: format!("not {}", search.name),
                    });
                }
            }
        }
        out
    }

    /// Explains each search used positively in `c` the first time the walk reaches it (the
    /// order of first appearance in the condition, as the evidence lists them).
    fn explain_positive(
        &self,
        c: &Condition,
        event: &Event,
        seen: &mut Seen,
        out: &mut Vec<Evidence>,
    ) {
        match c {
            Condition::Search(i) => {
                if seen.first_visit(*i)
                    && let Some(search) = self.searches.get(*i)
                {
                    search.explain(event, out);
                }
            }
            Condition::And(items) | Condition::Or(items) => items
                .iter()
                .for_each(|c| self.explain_positive(c, event, seen, out)),
            Condition::Not(_) => {}
        }
    }
}

/// The search indices a walk of a condition has already reached: bits for up to 64 searches
/// (nearly every rule), a list beyond.
enum Seen {
    Bits(u64),
    List(Vec<usize>),
}

impl Seen {
    fn new(searches: usize) -> Seen {
        if searches <= 64 {
            Seen::Bits(0)
        } else {
            Seen::List(Vec::new())
        }
    }

    /// True the first time `i` is asked for.
    fn first_visit(&mut self, i: usize) -> bool {
        match self {
            // An index past the searches names none: `Detection::explain` skips it anyway.
            Seen::Bits(_) if i >= 64 => true,
            Seen::Bits(bits) => {
                let bit = 1u64 << i;
                let first = *bits & bit == 0;
                *bits |= bit;
                first
            }
            Seen::List(list) => {
                let first = !list.contains(&i);
                if first {
                    list.push(i);
                }
                first
            }
        }
    }
}

/// The searches that appear under a `not` in `c`.
fn negated_searches(c: &Condition, under_not: bool, out: &mut Vec<usize>) {
    match c {
        Condition::Search(i) => {
            if under_not && !out.contains(i) {
                out.push(*i);
            }
        }
        Condition::And(items) | Condition::Or(items) => items
            .iter()
            .for_each(|c| negated_searches(c, under_not, out)),
        Condition::Not(inner) => negated_searches(inner, !under_not, out),
    }
}

impl Search {
    /// True when this search identifier matches `event`.
    pub fn matches(&self, event: &Event) -> bool {
        match &self.body {
            SearchBody::Fields(groups) => groups.iter().any(|g| g.iter().all(|t| t.matches(event))),
            SearchBody::Keywords(k) => k.matches(event),
        }
    }

    /// When this search matches `event`, appends its evidence: for field tests, one item per
    /// test of the first group that holds; for keywords, each keyword found with the first
    /// field holding it. Appends nothing when it does not match.
    fn explain(&self, event: &Event, out: &mut Vec<Evidence>) {
        let start = out.len();
        match &self.body {
            SearchBody::Fields(groups) => {
                for g in groups {
                    if g.iter().all(|t| t.explain(&self.name, event, out)) {
                        return;
                    }
                    // A later test of the group failed: its earlier tests explain nothing.
                    out.truncate(start);
                }
            }
            SearchBody::Keywords(k) => {
                for (i, m) in k.values.iter().enumerate() {
                    let hit = event.fields().iter().find(|f| m.matches(&f.value, event));
                    match (hit, k.raw.get(i)) {
                        (Some(f), Some(raw)) => out.push(Evidence {
                            search: self.name.clone(),
                            field: Some(f.name.as_str().to_string()),
                            value: value_text(&f.value),
                            pattern: raw.clone(),
                        }),
                        (Some(_), None) => {}
                        (None, _) if k.all => {
                            // `|all` and a keyword not found: the search does not match.
                            out.truncate(start);
                            return;
                        }
                        (None, _) => {}
                    }
                }
            }
        }
    }
}

impl FieldTest {
    /// True when this `field|modifiers: values` test holds for `event` (after `neq`).
    pub fn matches(&self, event: &Event) -> bool {
        self.matches_with(event, true)
    }

    /// [`FieldTest::matches`] comparing the values one by one, never through their
    /// [`crate::valueset::ValueSet`] (the reference the tests hold the set to).
    pub fn matches_one_by_one(&self, event: &Event) -> bool {
        self.matches_with(event, false)
    }

    fn matches_with(&self, event: &Event, use_set: bool) -> bool {
        let hit = match event.get(self.field) {
            None => {
                let absent = Matcher::accepts_absent;
                if self.all {
                    self.values.iter().all(absent)
                } else {
                    self.values.iter().any(absent)
                }
            }
            Some(v) => {
                if self.all {
                    self.values.iter().all(|m| m.matches(v, event))
                } else if let Some(set) =
                    use_set.then(|| self.value_set.get(&self.values)).flatten()
                {
                    set.matches(v)
                } else {
                    self.values.iter().any(|m| m.matches(v, event))
                }
            }
        };
        hit != self.negate
    }

    /// Evaluates this test once and, when it holds, appends its evidence: the event's value
    /// and the rule value that matched it (the first in the rule's order), or the whole value
    /// list when no single value decides (`|all`, `|neq`). Returns whether the test holds.
    fn explain(&self, search: &str, event: &Event, out: &mut Vec<Evidence>) -> bool {
        let value = event.get(self.field);
        let decided_by = if self.negate || self.all {
            if !self.matches(event) {
                return false;
            }
            None
        } else {
            match value {
                None => {
                    let pick = self.values.iter().position(Matcher::accepts_absent);
                    if pick.is_none() {
                        return false;
                    }
                    pick
                }
                Some(v) => {
                    // The set answers "none of them" in a few lookups; which one still needs
                    // the values in order.
                    let set = self.value_set.get(&self.values);
                    if set.is_some_and(|s| !s.matches(v)) {
                        return false;
                    }
                    let pick = self.values.iter().position(|m| m.matches(v, event));
                    if pick.is_none() && set.is_none() {
                        return false;
                    }
                    pick
                }
            }
        };
        let pattern = match decided_by.and_then(|i| self.raw.get(i)) {
            Some(raw) => self.shown(raw),
            None => match self.raw.as_slice() {
                [one] => self.shown(one),
                many => self.shown(&format!("[{}]", many.join(", "))),
            },
        };
        out.push(Evidence {
            search: search.to_string(),
            field: Some(self.field.as_str().to_string()),
            value: value.map_or_else(|| "(absent)".to_string(), value_text),
            pattern,
        });
        true
    }

    /// `key|modifiers: value`, as the rule wrote them.
    fn shown(&self, raw: &str) -> String {
        let mut s = String::with_capacity(self.written.len() + 2 + raw.len());
        s.push_str(&self.written);
        s.push_str(": ");
        s.push_str(raw);
        s
    }
}

/// A value as evidence shows it (its `Display` form; strings and integers without the
/// formatting machinery).
fn value_text(v: &Value) -> String {
    match v {
        Value::Str(t) => t.as_str().to_owned(),
        Value::Int(i) => itoa::Buffer::new().format(*i).to_owned(),
        v => v.to_string(),
    }
}

impl Keywords {
    /// True when the keywords occur in any field value (every keyword with `|all`).
    pub fn matches(&self, event: &Event) -> bool {
        let found = |m: &Matcher| event.fields().iter().any(|f| m.matches(&f.value, event));
        if self.all {
            self.values.iter().all(found)
        } else {
            self.values.iter().any(found)
        }
    }
}
