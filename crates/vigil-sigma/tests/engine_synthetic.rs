//! Synthetic positives: for every SigmaHQ rule and every mapping target of it, two events built
//! from the rule's own values (in the target's channel, EventID and field names), one taking the
//! first alternative of every OR and one the last — so most rules fire on their events, and the differential `evaluate` == `evaluate_naive` is exercised on the
//! positive side for thousands of rules the real corpora never trigger. Each synthetic event is
//! evaluated against the whole rule set. Skipped, saying so, when the corpus is absent outside CI.

mod common;

use vigil_core::corpus::corpus_path;
use vigil_core::{Event, Symbol, Value};
use vigil_sigma::ast::{Condition, Detection, Rule, SearchBody};
use vigil_sigma::engine::{Engine, Scratch};
use vigil_sigma::mapping::{LogsourceMapping, Target};
use vigil_sigma::matcher::{Matcher, StrKind};

/// A string the matcher accepts, when one is easy to write down.
fn sample(m: &Matcher) -> Option<Value> {
    Some(match m {
        Matcher::Str { kind, pattern, .. } => Value::str(match kind {
            StrKind::Equals => pattern.to_string(),
            StrKind::StartsWith => format!("{pattern} tail"),
            StrKind::EndsWith => format!("head {pattern}"),
            StrKind::Contains => format!("head {pattern} tail"),
        }),
        Matcher::Glob(g) => {
            let mut out = String::new();
            let mut chars = g.pattern.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    '*' => out.push_str("zz"),
                    '?' => out.push('q'),
                    c => out.push(c),
                }
            }
            Value::str(out)
        }
        Matcher::Cidr(net) => Value::str(net.network().to_string()),
        Matcher::Num { value, .. } => Value::Float(*value),
        Matcher::AnyOf(ms) => return ms.iter().find_map(sample),
        _ => return None,
    })
}

/// Which alternative of every OR (condition `or`, list of maps, list of values) to write down:
/// the first or the last, so each pass exercises different branches.
#[derive(Clone, Copy)]
enum Pick {
    First,
    Last,
}

impl Pick {
    fn one<T>(self, items: &[T]) -> Option<&T> {
        match self {
            Pick::First => items.first(),
            Pick::Last => items.last(),
        }
    }
}

/// The searches one way of satisfying the condition needs (not under a `not`).
fn positive(c: &Condition, pick: Pick, out: &mut Vec<usize>) {
    match c {
        Condition::Search(i) => out.push(*i),
        Condition::And(cs) => cs.iter().for_each(|c| positive(c, pick, out)),
        Condition::Or(cs) => {
            if let Some(c) = pick.one(cs) {
                positive(c, pick, out);
            }
        }
        Condition::Not(_) => {}
    }
}

fn fill(event: &mut Event, detection: &Detection, pick: Pick, rename: &dyn Fn(Symbol) -> Symbol) {
    let mut wanted = Vec::new();
    positive(&detection.condition, pick, &mut wanted);
    for i in wanted {
        match &detection.searches[i].body {
            SearchBody::Fields(groups) => {
                for t in pick.one(groups).into_iter().flatten().filter(|t| !t.negate) {
                    let field = rename(t.field);
                    if event.get(field).is_some() {
                        continue;
                    }
                    let value = if t.all {
                        let parts: Vec<String> = t
                            .values
                            .iter()
                            .filter_map(sample)
                            .map(|v| v.to_string())
                            .collect();
                        Value::str(parts.join(" "))
                    } else {
                        let chosen = pick.one(&t.values).and_then(sample);
                        match chosen.or_else(|| t.values.iter().find_map(sample)) {
                            Some(v) => v,
                            None => continue,
                        }
                    };
                    event.push(field, value);
                }
            }
            SearchBody::Keywords(k) => {
                let parts: Vec<String> = if k.all {
                    k.values
                        .iter()
                        .filter_map(sample)
                        .map(|v| v.to_string())
                        .collect()
                } else {
                    pick.one(&k.values)
                        .and_then(sample)
                        .map(|v| v.to_string())
                        .into_iter()
                        .collect()
                };
                event.insert("Message", Value::str(parts.join(" ")));
            }
        }
    }
}

fn synthetic(rule: &Rule, target: Option<&Target>, pick: Pick) -> Event {
    let mut e = Event::default();
    e.logsource = rule.logsource.clone();
    match target {
        // A logsource target (Zeek `http` for `category: proxy`): the event has its logsource.
        Some(t) if t.event_logsource.is_some() => {
            e.logsource = t.event_logsource.clone().unwrap_or_default();
            for c in &t.conditions {
                e.push(c.field, Value::str(c.values[0].as_str()));
            }
            fill(&mut e, &rule.detection, pick, &|f| t.rename(f));
        }
        Some(t) => {
            e.insert("Channel", Value::str(t.channels[0].as_str()));
            e.insert(
                "EventID",
                Value::Int(t.event_ids.first().copied().unwrap_or(1)),
            );
            for c in &t.conditions {
                e.push(c.field, Value::str(c.values[0].as_str()));
            }
            fill(&mut e, &rule.detection, pick, &|f| t.rename(f));
        }
        None => fill(&mut e, &rule.detection, pick, &|f| f),
    }
    e
}

#[test]
fn synthetic_positives_agree_with_naive() {
    let Some(sigma) = corpus_path("sigma") else {
        return;
    };
    let mapping = LogsourceMapping::builtin();
    let (engine, _) = Engine::compile(common::load_sigmahq(&sigma).rules, &mapping);

    let mut scratch = Scratch::new(&engine);
    let (mut fast, mut naive) = (Vec::new(), Vec::new());
    let (mut events, mut own, mut matches) = (0, 0, 0);
    let mut mismatches = Vec::new();
    for r in 0..engine.len() {
        let rule = engine.rule(r);
        let resolved = mapping
            .resolve(&rule.logsource)
            .expect("compiled rules resolve");
        let targets = resolved.targets.iter().map(Some);
        let by_logsource = resolved.by_logsource.then_some(None);
        for (target, pick) in targets
            .chain(by_logsource)
            .flat_map(|t| [(t, Pick::First), (t, Pick::Last)])
        {
            let e = synthetic(rule, target, pick);
            events += 1;
            engine.evaluate(&e, &mut scratch, &mut fast);
            engine.evaluate_naive(&e, &mut naive);
            if fast != naive && mismatches.len() < 10 {
                mismatches.push(format!("{}: {fast:?} != {naive:?}", rule.title));
            }
            own += usize::from(fast.iter().any(|m| m.rule == r));
            matches += fast.len();
        }
    }
    eprintln!(
        "synthetic: {events} events for {} rules; {own} fire their own rule; {matches} matches",
        engine.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(
        own * 2 > events,
        "only {own} of {events} synthetic events fire their rule"
    );
}
