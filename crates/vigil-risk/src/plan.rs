//! Response plans: what to do, who does it and who is told, for one kind of incident.
//!
//! A plan is a YAML template (`plans/*.yaml`, shipped ones embedded in the binary) with roles,
//! communication steps, tasks per phase (identify → contain → eradicate → recover → lessons),
//! each owned by a role and due a number of minutes after the case opens, SLA targets, and
//! `applies_to`: the ATT&CK techniques, tactics and rule tags it is for. An incident gets the
//! plan [`PlanLibrary::choose`] picks from its tactics and its rules' tags.
//!
//! Not here: running the plan (a [`crate::case::Case`] tracks its tasks) or automated response.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::tactic::Tactic;

/// The id of the plan used when no other plan applies.
pub const GENERIC_PLAN: &str = "generic";

/// The plans shipped with Vigil: (file name, text).
const BUILTIN: [(&str, &str); 6] = [
    ("generic.yaml", include_str!("../plans/generic.yaml")),
    ("ransomware.yaml", include_str!("../plans/ransomware.yaml")),
    (
        "credential-theft.yaml",
        include_str!("../plans/credential-theft.yaml"),
    ),
    ("phishing.yaml", include_str!("../plans/phishing.yaml")),
    (
        "cloud-account-compromise.yaml",
        include_str!("../plans/cloud-account-compromise.yaml"),
    ),
    (
        "data-exfiltration.yaml",
        include_str!("../plans/data-exfiltration.yaml"),
    ),
];

/// A response plan template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Unique id (`ransomware`); a user plan with the id of a shipped one replaces it.
    pub id: String,
    pub title: String,
    pub description: String,
    /// What incidents the plan is for; empty for the generic plan.
    #[serde(default)]
    pub applies_to: AppliesTo,
    pub sla: SlaTargets,
    pub roles: Vec<Role>,
    #[serde(default)]
    pub communications: Vec<Communication>,
    pub tasks: Vec<PlanTask>,
}

/// What a plan is chosen for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliesTo {
    /// ATT&CK technique ids (`T1486`, `T1078.004`); a technique also covers its sub-techniques.
    #[serde(default)]
    pub techniques: Vec<String>,
    /// ATT&CK tactic short names (`credential-access`).
    #[serde(default)]
    pub tactics: Vec<String>,
    /// Other rule tags, compared case-insensitively (`cloud`, or `logsource:aws` when the caller
    /// adds the rules' log sources as tags).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Time targets, in minutes from the case's opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTargets {
    /// First move out of `new` (the acknowledgement).
    pub acknowledge_minutes: u32,
    /// Status `contained` (or later) reached.
    pub contain_minutes: u32,
    /// Status `closed`.
    pub close_minutes: u32,
}

impl SlaTargets {
    /// When the earliest target of a case opened at `opened` falls due: the moment a case
    /// nobody has acted on breaches its SLA (as `Case::sla` reports it).
    pub fn first_due(&self, opened: jiff::Timestamp) -> jiff::Timestamp {
        let first = self
            .acknowledge_minutes
            .min(self.contain_minutes)
            .min(self.close_minutes);
        crate::case::after(opened, first)
    }
}

/// A role in the response (incident commander, analyst, communications, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub id: String,
    pub title: String,
    /// What the role is responsible for.
    pub duties: String,
}

/// One communication step: who informs whom, when and with what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Communication {
    pub phase: Phase,
    /// The role that sends it.
    pub from: String,
    /// Who is informed (people or bodies outside the roles: `executive leadership`, `DPO`).
    pub to: String,
    /// Due this many minutes after the case opens.
    pub within_minutes: u32,
    pub message: String,
}

/// One task of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTask {
    /// Unique within the plan; cases refer to tasks by it.
    pub id: String,
    pub phase: Phase,
    /// The role responsible.
    pub role: String,
    /// Due this many minutes after the case opens.
    pub due_minutes: u32,
    pub title: String,
    #[serde(default)]
    pub detail: String,
}

/// The phases of incident handling (NIST SP 800-61 / SANS PICERL, preparation excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Identify,
    Contain,
    Eradicate,
    Recover,
    Lessons,
}

/// A plan that could not be loaded, with where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    pub file: String,
    /// 1-based line, when the problem has one.
    pub line: Option<u64>,
    /// 1-based column, for YAML errors.
    pub column: Option<u64>,
    pub reason: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{}:{}: {}", self.file, line, column, self.reason)
            }
            (Some(line), None) => write!(f, "{}:{}: {}", self.file, line, self.reason),
            _ => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// Every problem found while loading plans (nothing is loaded when there is one).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} plan problem(s): {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PlanErrors(pub Vec<PlanError>);

impl Plan {
    /// Parses and checks one plan; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Plan, Vec<PlanError>> {
        let plan: Plan = serde_saphyr::from_str(text).map_err(|e| {
            let rendered = e.to_string();
            // The rendered error is `error: line L column C: reason` and then a source snippet;
            // the position is taken from `location()` instead.
            let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let reason = match first.strip_prefix("line ") {
                Some(rest) if rest.contains(" column ") => {
                    rest.split_once(": ").map_or(first, |(_, r)| r)
                }
                _ => first,
            };
            let location = e.location().filter(|l| l.line() > 0);
            vec![PlanError {
                file: file.to_string(),
                line: location.map(|l| l.line()),
                column: location.map(|l| l.column()).filter(|c| *c > 0),
                reason: reason.to_string(),
            }]
        })?;
        let problems = plan.problems(text);
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(problems
                .into_iter()
                .map(|(line, reason)| PlanError {
                    file: file.to_string(),
                    line,
                    column: None,
                    reason,
                })
                .collect())
        }
    }

    /// What is wrong with a parsed plan: references to undefined roles, duplicate ids, unknown
    /// tactics, malformed technique ids, zero SLA targets. Lines are found by the offending text.
    fn problems(&self, text: &str) -> Vec<(Option<u64>, String)> {
        let mut out = Vec::new();
        let mut problem = |needle: &str, reason: String| out.push((line_of(text, needle), reason));
        if self.id.trim().is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problem(
                "id:",
                format!(
                    "plan id {:?} must be non-empty letters, digits, - or _",
                    self.id
                ),
            );
        }
        let sla = self.sla;
        for (name, v) in [
            ("acknowledge_minutes", sla.acknowledge_minutes),
            ("contain_minutes", sla.contain_minutes),
            ("close_minutes", sla.close_minutes),
        ] {
            if v == 0 {
                problem(name, format!("sla.{name} must be more than 0"));
            }
        }
        if !(sla.acknowledge_minutes <= sla.contain_minutes
            && sla.contain_minutes <= sla.close_minutes)
        {
            problem(
                "sla:",
                "sla targets must be in order: acknowledge ≤ contain ≤ close".into(),
            );
        }
        let mut roles = BTreeSet::new();
        for role in &self.roles {
            if !roles.insert(role.id.as_str()) {
                problem(&role.id, format!("role {:?} is defined twice", role.id));
            }
        }
        if roles.is_empty() {
            problem("roles:", "a plan needs at least one role".into());
        }
        let mut tasks = BTreeSet::new();
        for task in &self.tasks {
            if !tasks.insert(task.id.as_str()) {
                problem(&task.id, format!("task {:?} is defined twice", task.id));
            }
            if !roles.contains(task.role.as_str()) {
                problem(
                    &task.role,
                    format!(
                        "task {:?} is owned by role {:?}, which the plan does not define",
                        task.id, task.role
                    ),
                );
            }
        }
        if tasks.is_empty() {
            problem("tasks:", "a plan needs at least one task".into());
        }
        for c in &self.communications {
            if !roles.contains(c.from.as_str()) {
                problem(
                    &c.from,
                    format!(
                        "a communication is sent by role {:?}, which the plan does not define",
                        c.from
                    ),
                );
            }
        }
        for t in &self.applies_to.techniques {
            if technique_id(t).as_deref() != Some(t.as_str()) {
                problem(
                    t,
                    format!("{t:?} is not an ATT&CK technique id (T1234 or T1234.567)"),
                );
            }
        }
        for t in &self.applies_to.tactics {
            if Tactic::from_tag(t).is_none() {
                problem(t, format!("{t:?} is not an ATT&CK tactic"));
            }
        }
        out
    }

    /// How well the plan fits an incident; `None` when nothing matches.
    fn fit(
        &self,
        techniques: &BTreeSet<String>,
        tactics: &[Tactic],
        tags: &[String],
    ) -> Option<Fit> {
        let mut fit = Fit::default();
        for p in &self.applies_to.techniques {
            for t in techniques {
                if t == p {
                    fit.exact += 1;
                } else if t.starts_with(p.as_str()) && t.as_bytes().get(p.len()) == Some(&b'.') {
                    fit.parent += 1;
                }
            }
        }
        fit.tags = self
            .applies_to
            .tags
            .iter()
            .filter(|p| tags.iter().any(|t| t.trim().eq_ignore_ascii_case(p)))
            .count();
        fit.tactics = self
            .applies_to
            .tactics
            .iter()
            .filter_map(|p| Tactic::from_tag(p))
            .filter(|p| tactics.contains(p))
            .count();
        (fit != Fit::default()).then_some(fit)
    }
}

/// A plan's match against an incident, compared field by field in this order: a technique named
/// exactly beats a parent technique, which beats a tag, which beats a tactic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Fit {
    exact: usize,
    parent: usize,
    tags: usize,
    tactics: usize,
}

/// The ATT&CK technique id a tag names (`attack.t1003.001` → `T1003.001`), if any.
pub fn technique_id(tag: &str) -> Option<String> {
    let t = tag.trim();
    let t = t
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("attack."))
        .map_or(t, |_| &t[7..]);
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let ok = match b.len() {
        5 => digits(&b[1..]),
        9 => digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    };
    (ok && (b[0] == b'T' || b[0] == b't')).then(|| t.to_ascii_uppercase())
}

/// The first 1-based line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> Option<u64> {
    if needle.is_empty() {
        return None;
    }
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u64 + 1)
}

/// The plans available, by id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanLibrary {
    plans: BTreeMap<String, Plan>,
}

impl PlanLibrary {
    /// The plans shipped with Vigil (generic, ransomware, credential theft, phishing, cloud
    /// account compromise, data exfiltration).
    pub fn builtin() -> PlanLibrary {
        let mut plans = BTreeMap::new();
        for (file, text) in BUILTIN {
            // The shipped plans are parsed by the `every_shipped_plan_parses` test.
            let plan = Plan::parse(file, text)
                .unwrap_or_else(|e| panic!("shipped plan {file} is invalid: {e:?}"));
            plans.insert(plan.id.clone(), plan);
        }
        PlanLibrary { plans }
    }

    /// The shipped plans plus every `*.yaml`/`*.yml` plan in `dir`; a plan whose id is already
    /// known replaces it. Any problem (unreadable file, bad YAML, two files with one id) loads
    /// nothing and every problem is reported.
    pub fn load_dir(dir: &Path) -> Result<PlanLibrary, PlanErrors> {
        let mut library = PlanLibrary::builtin();
        let mut errors = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| {
            PlanErrors(vec![PlanError {
                file: dir.display().to_string(),
                line: None,
                column: None,
                reason: format!("cannot read the plan directory: {e}"),
            }])
        })?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|x| {
                        x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml")
                    })
            })
            .collect();
        files.sort();
        let mut from_dir: BTreeMap<String, String> = BTreeMap::new();
        for path in files {
            let name = path.display().to_string();
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(PlanError {
                        file: name,
                        line: None,
                        column: None,
                        reason: format!("cannot read: {e}"),
                    });
                    continue;
                }
            };
            match Plan::parse(&name, &text) {
                Ok(plan) => {
                    if let Some(other) = from_dir.insert(plan.id.clone(), name.clone()) {
                        errors.push(PlanError {
                            file: name,
                            line: line_of(&text, "id:"),
                            column: None,
                            reason: format!("plan id {:?} is also defined in {other}", plan.id),
                        });
                        continue;
                    }
                    library.plans.insert(plan.id.clone(), plan);
                }
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(library)
        } else {
            Err(PlanErrors(errors))
        }
    }

    /// A library of exactly these plans (later ones replace earlier ones with the same id).
    pub fn from_plans(plans: impl IntoIterator<Item = Plan>) -> PlanLibrary {
        PlanLibrary {
            plans: plans.into_iter().map(|p| (p.id.clone(), p)).collect(),
        }
    }

    /// The plan with this id.
    pub fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.get(id)
    }

    /// Every plan, by id.
    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.plans.values()
    }

    /// The plan for an incident with these ATT&CK `tactics` and rule `tags` (`attack.t1486`,
    /// `attack.impact`, `cloud`, …).
    ///
    /// Each plan's fit counts, in order of weight: techniques named exactly (`T1078.004` for
    /// `T1078.004`), techniques covered through their parent (`T1003` for `T1003.001`), other
    /// tags, tactics (from `tactics` and tactic tags). The plan with the greatest fit compared in
    /// that order wins — so one technique match beats any number of tactic matches — ties go to
    /// the smallest id. When no plan fits at all, the `generic` plan (`None` if the library has
    /// none).
    pub fn choose(&self, tactics: &[Tactic], tags: &[String]) -> Option<&Plan> {
        let techniques: BTreeSet<String> = tags.iter().filter_map(|t| technique_id(t)).collect();
        let mut all_tactics: Vec<Tactic> = tactics.to_vec();
        all_tactics.extend(tags.iter().filter_map(|t| Tactic::from_tag(t)));
        let mut best: Option<(Fit, &Plan)> = None;
        // In id order, replacing only on a strictly better fit: ties keep the smallest id.
        for plan in self.plans.values() {
            if let Some(fit) = plan.fit(&techniques, &all_tactics, tags)
                && best.is_none_or(|(b, _)| fit > b)
            {
                best = Some((fit, plan));
            }
        }
        best.map(|(_, p)| p).or_else(|| self.get(GENERIC_PLAN))
    }
}
