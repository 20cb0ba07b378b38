//! Cases: the analyst-side state of one incident — status and verdict, assignee, the response
//! plan's tasks with their due times, comments, and a history of who did what when — plus SLA
//! status and the MTTA / MTTC / MTTR report over many cases.
//!
//! Every change goes through a method that checks it and appends a [`CaseEvent`], so the
//! history is complete and the times the report needs (acknowledged, contained, closed) are
//! read from it rather than kept twice. Not here: storage (the server persists cases as JSON).
//!
//! Times measured from the case's opening:
//! - **acknowledged**: the first move out of `new` (whatever the target status);
//! - **contained**: the first move to `contained`, `eradicated` or `recovered`;
//! - **closed**: the last move to `closed`, while the case is still closed (a reopened case is
//!   not closed).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::plan::{Phase, Plan, SlaTargets};
use crate::workflow::{IncidentStatus, TransitionError, Verdict};

/// The longest comment accepted, in bytes.
pub const MAX_COMMENT_BYTES: usize = 16 * 1024;

/// The author recorded for what Vigil does by itself (opening a case).
pub const SYSTEM_AUTHOR: &str = "vigil";

/// The analyst-side state of one incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The incident's id.
    pub id: String,
    pub status: IncidentStatus,
    /// Set when closed; cleared when reopened.
    pub verdict: Option<Verdict>,
    pub assignee: Option<String>,
    /// The response plan the tasks came from.
    pub plan: Option<String>,
    /// The plan's SLA targets, copied so the case keeps them if the plan changes.
    pub sla: Option<SlaTargets>,
    pub opened: Timestamp,
    pub tasks: Vec<CaseTask>,
    pub comments: Vec<Comment>,
    /// Everything that happened to the case, oldest first.
    pub history: Vec<CaseEvent>,
}

/// A plan task in a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseTask {
    pub id: String,
    pub phase: Phase,
    pub role: String,
    pub title: String,
    /// The case's opening plus the task's offset.
    pub due: Timestamp,
    /// Who marked it done and when; `None` while open.
    pub done: Option<Stamp>,
}

/// Who did something and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub author: String,
    pub at: Timestamp,
}

/// A comment on a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub author: String,
    pub at: Timestamp,
    pub text: String,
}

/// One entry of a case's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub at: Timestamp,
    pub author: String,
    #[serde(flatten)]
    pub what: CaseEventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum CaseEventKind {
    Opened {
        plan: Option<String>,
    },
    /// The first move out of `new`.
    Acknowledged,
    StatusChanged {
        from: IncidentStatus,
        to: IncidentStatus,
        verdict: Option<Verdict>,
    },
    Assigned {
        from: Option<String>,
        to: Option<String>,
    },
    TaskDone {
        task: String,
    },
    TaskUndone {
        task: String,
    },
    /// A comment was added (its index in `comments`).
    Commented {
        index: usize,
    },
    /// Other incidents' alerts were merged into this one.
    Merged {
        from: Vec<String>,
    },
    /// Alerts of this incident were split off into a new one.
    Split {
        into: String,
        alerts: Vec<String>,
    },
}

/// A refused change to a case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("case has no task {task:?}; its tasks are: {known}")]
    UnknownTask { task: String, known: String },
    #[error("a comment cannot be empty")]
    EmptyComment,
    #[error("a comment is limited to {max} bytes; this one has {len}")]
    CommentTooLong { len: usize, max: usize },
    #[error("an author is required")]
    NoAuthor,
}

impl Case {
    /// A new case for incident `id`, opened at `now`, with `plan`'s tasks due from `now`.
    pub fn open(id: &str, now: Timestamp, plan: Option<&Plan>) -> Case {
        let tasks = plan.map_or_else(Vec::new, |p| {
            p.tasks
                .iter()
                .map(|t| CaseTask {
                    id: t.id.clone(),
                    phase: t.phase,
                    role: t.role.clone(),
                    title: t.title.clone(),
                    due: after(now, t.due_minutes),
                    done: None,
                })
                .collect()
        });
        let plan_id = plan.map(|p| p.id.clone());
        Case {
            id: id.to_string(),
            status: IncidentStatus::New,
            verdict: None,
            assignee: None,
            plan: plan_id.clone(),
            sla: plan.map(|p| p.sla),
            opened: now,
            tasks,
            comments: Vec::new(),
            history: vec![CaseEvent {
                at: now,
                author: SYSTEM_AUTHOR.to_string(),
                what: CaseEventKind::Opened { plan: plan_id },
            }],
        }
    }

    fn record(&mut self, author: &str, at: Timestamp, what: CaseEventKind) {
        self.history.push(CaseEvent {
            at,
            author: author.to_string(),
            what,
        });
    }

    /// Moves the case to `to` (with a verdict when closing) through the workflow table. The
    /// first move out of `new` is also recorded as the acknowledgement.
    pub fn transition(
        &mut self,
        to: IncidentStatus,
        verdict: Option<Verdict>,
        author: &str,
        now: Timestamp,
    ) -> Result<IncidentStatus, TransitionError> {
        let from = self.status;
        let to = from.transition(to, verdict)?;
        if from == IncidentStatus::New && self.acknowledged().is_none() {
            self.record(author, now, CaseEventKind::Acknowledged);
        }
        self.status = to;
        self.verdict = verdict;
        self.record(
            author,
            now,
            CaseEventKind::StatusChanged { from, to, verdict },
        );
        Ok(to)
    }

    /// Assigns the case to `assignee` (`None` unassigns); no event when nothing changes.
    pub fn assign(&mut self, assignee: Option<&str>, author: &str, now: Timestamp) {
        let to = assignee
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from);
        if to == self.assignee {
            return;
        }
        let from = std::mem::replace(&mut self.assignee, to.clone());
        self.record(author, now, CaseEventKind::Assigned { from, to });
    }

    /// Marks task `task` done (or not done again); no event when it already was.
    pub fn complete_task(
        &mut self,
        task: &str,
        done: bool,
        author: &str,
        now: Timestamp,
    ) -> Result<(), CaseError> {
        let Some(t) = self.tasks.iter_mut().find(|t| t.id == task) else {
            let known: Vec<&str> = self.tasks.iter().map(|t| t.id.as_str()).collect();
            return Err(CaseError::UnknownTask {
                task: task.to_string(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        };
        if t.done.is_some() == done {
            return Ok(());
        }
        t.done = done.then(|| Stamp {
            author: author.to_string(),
            at: now,
        });
        let task = task.to_string();
        let what = if done {
            CaseEventKind::TaskDone { task }
        } else {
            CaseEventKind::TaskUndone { task }
        };
        self.record(author, now, what);
        Ok(())
    }

    /// Adds a comment (non-empty, at most [`MAX_COMMENT_BYTES`]).
    pub fn comment(&mut self, text: &str, author: &str, now: Timestamp) -> Result<(), CaseError> {
        if author.trim().is_empty() {
            return Err(CaseError::NoAuthor);
        }
        if text.trim().is_empty() {
            return Err(CaseError::EmptyComment);
        }
        if text.len() > MAX_COMMENT_BYTES {
            return Err(CaseError::CommentTooLong {
                len: text.len(),
                max: MAX_COMMENT_BYTES,
            });
        }
        self.comments.push(Comment {
            author: author.to_string(),
            at: now,
            text: text.to_string(),
        });
        let index = self.comments.len() - 1;
        self.record(author, now, CaseEventKind::Commented { index });
        Ok(())
    }

    /// Records that the alerts of incidents `from` were merged into this case's incident.
    pub fn note_merge(&mut self, from: Vec<String>, author: &str, now: Timestamp) {
        self.record(author, now, CaseEventKind::Merged { from });
    }

    /// Records that `alerts` were split off into incident `into`.
    pub fn note_split(&mut self, into: &str, alerts: Vec<String>, author: &str, now: Timestamp) {
        let into = into.to_string();
        self.record(author, now, CaseEventKind::Split { into, alerts });
    }

    /// When the case was acknowledged (first moved out of `new`).
    pub fn acknowledged(&self) -> Option<Timestamp> {
        self.history
            .iter()
            .find(|e| e.what == CaseEventKind::Acknowledged)
            .map(|e| e.at)
    }

    /// When the case first reached `contained` or a later handling status.
    pub fn contained(&self) -> Option<Timestamp> {
        use IncidentStatus::{Contained, Eradicated, Recovered};
        self.history
            .iter()
            .find(|e| {
                matches!(
                    e.what,
                    CaseEventKind::StatusChanged {
                        to: Contained | Eradicated | Recovered,
                        ..
                    }
                )
            })
            .map(|e| e.at)
    }

    /// When the case was closed, if it is closed now.
    pub fn closed(&self) -> Option<Timestamp> {
        if self.status != IncidentStatus::Closed {
            return None;
        }
        self.history
            .iter()
            .rev()
            .find(|e| {
                matches!(
                    e.what,
                    CaseEventKind::StatusChanged {
                        to: IncidentStatus::Closed,
                        ..
                    }
                )
            })
            .map(|e| e.at)
    }

    /// Tasks not done whose due time is before `now`.
    pub fn overdue_tasks(&self, now: Timestamp) -> Vec<&CaseTask> {
        self.tasks
            .iter()
            .filter(|t| t.done.is_none() && t.due < now)
            .collect()
    }

    /// Each SLA target's state at `now`; no targets without a plan.
    ///
    /// The contain target counts as reached at close when the case was closed without being
    /// contained (a false positive closed from `new` has nothing to contain).
    pub fn sla(&self, now: Timestamp) -> SlaStatus {
        let Some(sla) = self.sla else {
            return SlaStatus::default();
        };
        let closed = self.closed();
        let targets = [
            (
                SlaKind::Acknowledge,
                sla.acknowledge_minutes,
                self.acknowledged(),
            ),
            (
                SlaKind::Contain,
                sla.contain_minutes,
                self.contained().or(closed),
            ),
            (SlaKind::Close, sla.close_minutes, closed),
        ]
        .into_iter()
        .map(|(kind, minutes, reached)| {
            let due = after(self.opened, minutes);
            let state = match reached {
                Some(at) if at <= due => SlaState::Met,
                Some(_) => SlaState::Breached,
                None if now > due => SlaState::Breached,
                None => SlaState::Pending,
            };
            SlaTarget {
                kind,
                due,
                reached,
                state,
                seconds_left: (reached.is_none()).then(|| due.duration_since(now).as_secs()),
            }
        })
        .collect();
        SlaStatus { targets }
    }
}

/// `t` plus `minutes` (saturating at the end of time).
pub(crate) fn after(t: Timestamp, minutes: u32) -> Timestamp {
    t.checked_add(SignedDuration::from_mins(i64::from(minutes)))
        .unwrap_or(Timestamp::MAX)
}

/// Which SLA target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlaKind {
    Acknowledge,
    Contain,
    Close,
}

impl SlaKind {
    /// The lowercase name (as serialised).
    pub fn name(self) -> &'static str {
        match self {
            SlaKind::Acknowledge => "acknowledge",
            SlaKind::Contain => "contain",
            SlaKind::Close => "close",
        }
    }
}

/// Where one SLA target stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlaState {
    /// Reached on or before its due time.
    Met,
    /// Reached late, or not reached and past due.
    Breached,
    /// Not reached, not yet due.
    Pending,
}

/// One SLA target of a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTarget {
    pub kind: SlaKind,
    pub due: Timestamp,
    /// When it was reached, if it was.
    pub reached: Option<Timestamp>,
    pub state: SlaState,
    /// Until due (negative when overdue); only while not reached.
    pub seconds_left: Option<i64>,
}

/// The SLA targets of a case (empty when it has no plan).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaStatus {
    pub targets: Vec<SlaTarget>,
}

impl SlaStatus {
    /// The target of this kind.
    pub fn get(&self, kind: SlaKind) -> Option<&SlaTarget> {
        self.targets.iter().find(|t| t.kind == kind)
    }

    /// Whether any target is breached.
    pub fn breached(&self) -> bool {
        self.targets.iter().any(|t| t.state == SlaState::Breached)
    }
}

/// The distribution of one handling time over cases.
///
/// `count`, `mean`, `median` and `p90` are over the cases that reached the milestone. Cases that
/// have not reached it yet are not taken as 0 (which would flatter the figures) nor dropped:
/// `pending` counts them and `oldest_pending_seconds` is the longest any of them has waited,
/// a lower bound for its eventual time. A case closed without reaching a milestone (a false
/// positive never contained) is in neither.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DurationStats {
    pub count: usize,
    pub mean_seconds: Option<f64>,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    pub pending: usize,
    pub oldest_pending_seconds: Option<i64>,
}

impl DurationStats {
    fn new(mut done: Vec<i64>, pending: &[i64]) -> DurationStats {
        done.sort_unstable();
        // Nearest-rank percentile: the smallest value with at least p% of values at or below it.
        let rank = |p: usize| -> Option<i64> {
            let n = done.len();
            (n > 0).then(|| done[(n * p).div_ceil(100).clamp(1, n) - 1])
        };
        DurationStats {
            count: done.len(),
            mean_seconds: (!done.is_empty())
                .then(|| done.iter().map(|d| *d as f64).sum::<f64>() / done.len() as f64),
            median_seconds: rank(50),
            p90_seconds: rank(90),
            pending: pending.len(),
            oldest_pending_seconds: pending.iter().copied().max(),
        }
    }
}

/// The handling report over the cases opened in `[since, until)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseMetrics {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Cases counted.
    pub cases: usize,
    /// Cases per current status (`new`, `triaged`, …).
    pub by_status: BTreeMap<String, usize>,
    /// Closed cases per verdict (`true-positive`, …).
    pub by_verdict: BTreeMap<String, usize>,
    /// Mean time to acknowledge: opening → first move out of `new`.
    pub mtta: DurationStats,
    /// Mean time to contain: opening → `contained` (or later). Pending: open, not contained.
    pub mttc: DurationStats,
    /// Mean time to resolve: opening → `closed`. Pending: every open case.
    pub mttr: DurationStats,
    /// Breached SLA targets at `until`, per target kind (`acknowledge`, `contain`, `close`).
    pub sla_breaches: BTreeMap<String, usize>,
    /// Cases with at least one breached target.
    pub cases_breaching_sla: usize,
}

impl CaseMetrics {
    /// The report over `cases` opened in `[since, until)`; pending times are measured up to
    /// `until`, which is also when SLA targets are judged. Milestones after `until` are
    /// treated as not reached yet, so a report for a past period is what it was then.
    pub fn from_cases(cases: &[Case], since: Timestamp, until: Timestamp) -> CaseMetrics {
        let mut m = CaseMetrics {
            since: Some(since),
            until: Some(until),
            ..CaseMetrics::default()
        };
        let (mut ack, mut ack_p) = (Vec::new(), Vec::new());
        let (mut con, mut con_p) = (Vec::new(), Vec::new());
        let (mut res, mut res_p) = (Vec::new(), Vec::new());
        for case in cases
            .iter()
            .filter(|c| c.opened >= since && c.opened < until)
        {
            let c = case.as_of(until);
            m.cases += 1;
            *m.by_status.entry(c.status.to_string()).or_default() += 1;
            if let (IncidentStatus::Closed, Some(v)) = (c.status, c.verdict) {
                *m.by_verdict.entry(verdict_name(v).to_string()).or_default() += 1;
            }
            let age = until.duration_since(c.opened).as_secs();
            let since_open = |t: Timestamp| t.duration_since(c.opened).as_secs();
            let open = c.status.is_open();
            match c.acknowledged() {
                Some(t) => ack.push(since_open(t)),
                None => ack_p.push(age),
            }
            match c.contained() {
                Some(t) => con.push(since_open(t)),
                None if open => con_p.push(age),
                None => {}
            }
            match c.closed() {
                Some(t) => res.push(since_open(t)),
                None => res_p.push(age),
            }
            let sla = c.sla(until);
            for t in sla.targets.iter().filter(|t| t.state == SlaState::Breached) {
                *m.sla_breaches.entry(t.kind.name().to_string()).or_default() += 1;
            }
            m.cases_breaching_sla += usize::from(sla.breached());
        }
        m.mtta = DurationStats::new(ack, &ack_p);
        m.mttc = DurationStats::new(con, &con_p);
        m.mttr = DurationStats::new(res, &res_p);
        m
    }
}

impl Case {
    /// This case's handling as it was at `t`: history after `t` dropped, status and verdict from
    /// the last status change up to it (tasks and comments are left as they are now).
    pub fn as_of(&self, t: Timestamp) -> Case {
        if self.history.iter().all(|e| e.at <= t) {
            return self.clone();
        }
        let mut c = self.clone();
        c.history.retain(|e| e.at <= t);
        c.status = IncidentStatus::New;
        c.verdict = None;
        for e in &c.history {
            if let CaseEventKind::StatusChanged { to, verdict, .. } = e.what {
                c.status = to;
                c.verdict = verdict;
            }
        }
        c
    }
}

/// The kebab-case name of a verdict (as serialised).
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::TruePositive => "true-positive",
        Verdict::FalsePositive => "false-positive",
        Verdict::Benign => "benign",
    }
}
