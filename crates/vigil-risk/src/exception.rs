//! Exceptions: verdict feedback that stops a rule alerting on what was judged harmless.
//!
//! An exception names one rule and conditions on the alert's entities (`host`, `user`,
//! `src_ip`, `dst_ip`), all of which must hold. Host and user names compare case-insensitively;
//! IP conditions take an address or a CIDR network (`10.1.0.0/16`) and compare parsed addresses
//! (IPv4-mapped IPv6 counts as IPv4).
//!
//! A rule-wide exception (no conditions) silences a rule entirely, so it must say so: it needs
//! `all: true`, and `all: true` with conditions is refused as contradictory. An empty condition
//! list is otherwise a mistake, not a wildcard.
//!
//! Before saving, [`preview`] runs the exception over stored alerts: how many it would have
//! suppressed, from which rules, over what time; [`check_save`] refuses it when any of them was
//! judged a true positive. [`propose`] drafts exceptions from a closed false-positive incident.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::workflow::Verdict;

/// An alert entity field an exception can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Host,
    User,
    SrcIp,
    DstIp,
}

impl Field {
    /// Every field, in the order proposals list them.
    pub const ALL: [Field; 4] = [Field::Host, Field::User, Field::SrcIp, Field::DstIp];

    /// The field's name (`src_ip`).
    pub fn name(self) -> &'static str {
        match self {
            Field::Host => "host",
            Field::User => "user",
            Field::SrcIp => "src_ip",
            Field::DstIp => "dst_ip",
        }
    }

    fn is_ip(self) -> bool {
        matches!(self, Field::SrcIp | Field::DstIp)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One condition: `field` equals `value` (or, for IP fields, lies in the network `value`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: Field,
    pub value: String,
}

/// A saved exception for one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub id: String,
    pub rule_id: String,
    /// All must hold. Empty only with `all`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Suppresses every alert of the rule; must be said explicitly (and then no conditions).
    #[serde(default)]
    pub all: bool,
    /// Why the alerts are harmless (shown to whoever wonders why a rule went quiet).
    pub reason: String,
    pub author: String,
    pub created: Timestamp,
}

/// What an exception is tested against: one stored alert's rule, entities and verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionFacts {
    pub alert_id: String,
    pub rule_id: String,
    pub host: Option<String>,
    pub user: Option<String>,
    pub src_ip: Option<String>,
    pub dst_ip: Option<String>,
    /// The verdict of the incident the alert ended in, if it was closed.
    pub verdict: Option<Verdict>,
    pub time: Timestamp,
}

impl ExceptionFacts {
    /// The value of `field`, if the alert has one.
    pub fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::Host => self.host.as_deref(),
            Field::User => self.user.as_deref(),
            Field::SrcIp => self.src_ip.as_deref(),
            Field::DstIp => self.dst_ip.as_deref(),
        }
    }
}

/// A refused exception.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExceptionError {
    #[error("an exception must name the rule it applies to")]
    NoRule,
    #[error("an exception needs a reason")]
    NoReason,
    #[error(
        "an exception needs at least one condition (host, user, src_ip, dst_ip); to silence the \
         whole rule say `all: true`"
    )]
    NoConditions,
    #[error("`all: true` silences the whole rule and cannot have conditions")]
    RuleWideWithConditions,
    #[error("condition on {field}: {reason}")]
    BadCondition { field: Field, reason: String },
    #[error("the exception is malformed: {reason}")]
    Malformed { reason: String },
    #[error(
        "the exception would hide {} alert(s) judged true positive: {}",
        .ids.len(),
        .ids.join(", ")
    )]
    HidesTruePositive { ids: Vec<String> },
}

/// A condition ready to test.
enum Test {
    Name(Field, String),
    Net(Field, IpNet),
}

impl Test {
    fn holds(&self, facts: &ExceptionFacts) -> bool {
        match self {
            Test::Name(field, want) => facts
                .get(*field)
                .is_some_and(|v| v.trim().to_lowercase() == *want),
            Test::Net(field, net) => facts
                .get(*field)
                .and_then(parse_ip)
                .is_some_and(|ip| net.contains(&ip)),
        }
    }
}

/// An address, IPv4-mapped IPv6 taken as IPv4.
fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

impl Exception {
    /// Checks the exception is well-formed (rule, reason, conditions parse, rule-wide only when
    /// explicit).
    pub fn check(&self) -> Result<(), ExceptionError> {
        self.tests().map(|_| ())
    }

    fn tests(&self) -> Result<Vec<Test>, ExceptionError> {
        if self.rule_id.trim().is_empty() {
            return Err(ExceptionError::NoRule);
        }
        if self.reason.trim().is_empty() {
            return Err(ExceptionError::NoReason);
        }
        match (self.all, self.conditions.is_empty()) {
            (false, true) => return Err(ExceptionError::NoConditions),
            (true, false) => return Err(ExceptionError::RuleWideWithConditions),
            _ => {}
        }
        self.conditions
            .iter()
            .map(|c| {
                let bad = |reason: String| ExceptionError::BadCondition {
                    field: c.field,
                    reason,
                };
                let v = c.value.trim();
                if v.is_empty() {
                    return Err(bad("the value is empty".into()));
                }
                if !c.field.is_ip() {
                    return Ok(Test::Name(c.field, v.to_lowercase()));
                }
                let net = if v.contains('/') {
                    v.parse::<IpNet>()
                        .map_err(|e| bad(format!("{v:?} is not an address or CIDR network: {e}")))?
                        .trunc()
                } else {
                    IpNet::from(
                        parse_ip(v).ok_or_else(|| {
                            bad(format!("{v:?} is not an address or CIDR network"))
                        })?,
                    )
                };
                Ok(Test::Net(c.field, net))
            })
            .collect()
    }

    /// Whether the exception suppresses this alert: same rule and every condition holds. A
    /// malformed exception suppresses nothing.
    pub fn suppresses(&self, facts: &ExceptionFacts) -> bool {
        self.tests()
            .is_ok_and(|tests| suppressed(self, &tests, facts))
    }
}

fn suppressed(exception: &Exception, tests: &[Test], facts: &ExceptionFacts) -> bool {
    facts.rule_id == exception.rule_id && tests.iter().all(|t| t.holds(facts))
}

/// What an exception would have done to stored alerts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// Alerts looked at.
    pub examined: usize,
    /// Alerts it would have suppressed.
    pub would_suppress: usize,
    /// Suppressed alerts per rule.
    pub by_rule: BTreeMap<String, usize>,
    /// The earliest and latest suppressed alert.
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Suppressed alerts whose verdict was true positive, in (time, id) order.
    pub true_positives: Vec<String>,
    /// Why the exception is malformed (then it suppresses nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Runs `exception` over `alerts`. A malformed exception suppresses nothing; its problem is
/// in `Preview::problem` and [`check_save`] refuses it.
pub fn preview(exception: &Exception, alerts: &[ExceptionFacts]) -> Preview {
    let mut p = Preview {
        examined: alerts.len(),
        ..Preview::default()
    };
    let tests = match exception.tests() {
        Ok(t) => t,
        Err(e) => {
            p.problem = Some(e.to_string());
            return p;
        }
    };
    let mut true_positives = Vec::new();
    for a in alerts.iter().filter(|a| suppressed(exception, &tests, a)) {
        p.would_suppress += 1;
        *p.by_rule.entry(a.rule_id.clone()).or_default() += 1;
        p.first = Some(p.first.map_or(a.time, |t| t.min(a.time)));
        p.last = Some(p.last.map_or(a.time, |t| t.max(a.time)));
        if a.verdict == Some(Verdict::TruePositive) {
            true_positives.push((a.time, a.alert_id.clone()));
        }
    }
    true_positives.sort();
    p.true_positives = true_positives.into_iter().map(|(_, id)| id).collect();
    p
}

/// Refuses saving an exception whose preview hides alerts judged true positive (naming them),
/// or whose preview found it malformed.
pub fn check_save(preview: &Preview) -> Result<(), ExceptionError> {
    if let Some(reason) = &preview.problem {
        return Err(ExceptionError::Malformed {
            reason: reason.clone(),
        });
    }
    if preview.true_positives.is_empty() {
        Ok(())
    } else {
        Err(ExceptionError::HidesTruePositive {
            ids: preview.true_positives.clone(),
        })
    }
}

/// Draft exceptions from the alerts of an incident closed as false positive: one per rule,
/// with a condition for each entity field on which all of that rule's alerts agree (host and
/// user names lowercased, addresses canonical). A rule whose alerts share no entity value gets
/// no draft — silencing it whole must be decided explicitly, not proposed.
///
/// Drafts have id `proposed-<rule>`, no author, and the latest alert's time as `created`: the
/// server sets id, author and time when an analyst saves one.
pub fn propose(incident_alerts: &[ExceptionFacts]) -> Vec<Exception> {
    let mut by_rule: BTreeMap<&str, Vec<&ExceptionFacts>> = BTreeMap::new();
    for a in incident_alerts {
        by_rule.entry(a.rule_id.as_str()).or_default().push(a);
    }
    by_rule
        .into_iter()
        .filter_map(|(rule, alerts)| {
            let conditions: Vec<Condition> = Field::ALL
                .into_iter()
                .filter_map(|field| {
                    let normal = |a: &&ExceptionFacts| {
                        let v = a.get(field)?.trim();
                        if v.is_empty() {
                            None
                        } else if field.is_ip() {
                            parse_ip(v).map(|ip| ip.to_string())
                        } else {
                            Some(v.to_lowercase())
                        }
                    };
                    let first = normal(&alerts[0])?;
                    alerts[1..]
                        .iter()
                        .all(|a| normal(a).as_deref() == Some(first.as_str()))
                        .then_some(Condition {
                            field,
                            value: first,
                        })
                })
                .collect();
            if conditions.is_empty() {
                return None;
            }
            let mut ids: Vec<&str> = alerts.iter().map(|a| a.alert_id.as_str()).collect();
            ids.sort_unstable();
            let listed = if ids.len() > 3 {
                format!("{} and {} more", ids[..3].join(", "), ids.len() - 3)
            } else {
                ids.join(", ")
            };
            Some(Exception {
                id: format!("proposed-{rule}"),
                rule_id: rule.to_string(),
                conditions,
                all: false,
                reason: format!("false positive: proposed from alerts {listed}"),
                author: String::new(),
                created: alerts.iter().map(|a| a.time).max().unwrap_or_default(),
            })
        })
        .collect()
}
