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
    pub fn explain(&self, event: &Event) -> Vec<Evidence> {
        let mut used = Vec::new();
        positive_searches(&self.condition, &mut used);
        let mut out = Vec::new();
        for i in used {
            let search = &self.searches[i];
            if search.matches(event) {
                search.explain(event, &mut out);
            }
        }
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

fn positive_searches(c: &Condition, out: &mut Vec<usize>) {
    match c {
        Condition::Search(i) => {
            if !out.contains(i) {
                out.push(*i);
            }
        }
        Condition::And(items) | Condition::Or(items) => {
            items.iter().for_each(|c| positive_searches(c, out))
        }
        Condition::Not(_) => {}
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

    fn explain(&self, event: &Event, out: &mut Vec<Evidence>) {
        match &self.body {
            SearchBody::Fields(groups) => {
                if let Some(g) = groups.iter().find(|g| g.iter().all(|t| t.matches(event))) {
                    for t in g {
                        out.push(t.evidence(&self.name, event));
                    }
                }
            }
            SearchBody::Keywords(k) => {
                for (m, raw) in k.values.iter().zip(&k.raw) {
                    let hit = event.fields().iter().find(|f| m.matches(&f.value, event));
                    if let Some(f) = hit {
                        out.push(Evidence {
                            search: self.name.clone(),
                            field: Some(f.name.as_str().to_string()),
                            value: f.value.to_string(),
                            pattern: raw.clone(),
                        });
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

    fn evidence(&self, search: &str, event: &Event) -> Evidence {
        let value = event.get(self.field);
        let shown = |raw: &str| format!("{}: {}", self.written, raw);
        let pattern = match value {
            Some(v) if !self.negate && !self.all => self
                .values
                .iter()
                .zip(&self.raw)
                .find(|(m, _)| m.matches(v, event))
                .map(|(_, raw)| shown(raw)),
            None if !self.negate && !self.all => self
                .values
                .iter()
                .zip(&self.raw)
                .find(|(m, _)| m.accepts_absent())
                .map(|(_, raw)| shown(raw)),
            _ => None,
        }
        .unwrap_or_else(|| match self.raw.as_slice() {
            [one] => shown(one),
            many => shown(&format!("[{}]", many.join(", "))),
        });
        Evidence {
            search: search.to_string(),
            field: Some(self.field.as_str().to_string()),
            value: value.map_or_else(|| "(absent)".to_string(), Value::to_string),
            pattern,
        }
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
