//! Incident handling in the server: cases (status, verdict, assignee, plan tasks, comments),
//! merges and splits, and exceptions — kept as records in the state database, applied by
//! assessment, and exceptions also by live detection.
//!
//! Records: `case/<incident id>` ([`vigil_risk::Case`]), `pin/<alert id>` (the incident an
//! analyst put the alert in), `exception/<id>` ([`vigil_risk::Exception`]). Every change is a
//! read-modify-write under one lock, written with a version check, so two analysts' changes
//! never overwrite each other silently (a stale `version` gets 409).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_risk::exception::{check_save, preview};
use vigil_risk::incident::{merge_pins, split_pins};
use vigil_risk::{
    Case, CaseError, CaseEventKind, Exception, ExceptionError, IncidentStatus, PinError,
    PlanErrors, PlanLibrary, Preview, TransitionError, Verdict,
};
use vigil_store::state::{Expect, RecordPut, RecordStore, StateError};

use crate::assess::{AssessError, Assessed, Decisions, assess_cached};
use crate::{Monitor, MonitorError, lock};

/// Record kinds.
const CASE: &str = "case";
const PIN: &str = "pin";
const EXCEPTION: &str = "exception";

/// Exceptions in force, read by live detection (swapped whole).
pub type SharedExceptions = Arc<RwLock<Arc<Vec<Exception>>>>;

/// Why a change to an incident was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CaseChangeError {
    #[error("no incident `{0}`")]
    NotFound(String),
    #[error("no exception `{0}`")]
    NoException(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Pin(#[from] PinError),
    #[error(transparent)]
    Exception(#[from] ExceptionError),
    #[error("{0}")]
    Invalid(String),
    #[error("incident `{id}` changed since version {expected} (now {found}): re-read it and retry")]
    Stale {
        id: String,
        expected: i64,
        found: i64,
    },
    #[error(transparent)]
    Store(#[from] StateError),
    #[error(transparent)]
    Assess(#[from] AssessError),
    #[error("stored {kind} `{id}` cannot be read: {reason}")]
    Corrupt {
        kind: &'static str,
        id: String,
        reason: String,
    },
}

/// An analyst's change to an incident (every field optional, at least one given).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentChange {
    /// `new`, `triaged`, `contained`, `eradicated`, `recovered` or `closed`.
    #[schema(value_type = Option<String>)]
    pub status: Option<IncidentStatus>,
    /// Required when closing: `true-positive`, `false-positive` or `benign`.
    #[schema(value_type = Option<String>)]
    pub verdict: Option<Verdict>,
    /// Who handles it; an empty string unassigns.
    pub assignee: Option<String>,
    pub comment: Option<String>,
    /// Plan tasks to mark done (`true`) or open again (`false`), by task id.
    #[serde(default)]
    pub tasks: BTreeMap<String, bool>,
    /// The case version the change was decided on (from the incident's `case.version`); a
    /// newer stored case refuses the change with 409.
    pub version: Option<i64>,
}

/// A case as stored, with its record version.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseView {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub case: Case,
    /// Send it back with the next change.
    pub version: i64,
}

/// What `POST /api/v1/exceptions` and its preview answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExceptionOutcome {
    #[schema(value_type = Object)]
    pub exception: Exception,
    #[schema(value_type = Object)]
    pub preview: Preview,
    pub saved: bool,
}

/// The case store and the plans.
pub struct CaseBook {
    records: Arc<dyn RecordStore>,
    plans: Arc<PlanLibrary>,
    /// Exceptions in force, for detection.
    pub exceptions: SharedExceptions,
    write: Mutex<()>,
}

fn decode<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    id: &str,
    body: &str,
) -> Result<T, CaseChangeError> {
    serde_json::from_str(body).map_err(|e| CaseChangeError::Corrupt {
        kind,
        id: id.to_string(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("case records serialise")
}

impl CaseBook {
    /// Opens the case book over `records`, with the shipped plans and those of `plans_dir`
    /// (a plan with a shipped plan's id replaces it).
    pub fn open(
        records: Arc<dyn RecordStore>,
        plans_dir: Option<&Path>,
    ) -> Result<CaseBook, MonitorError> {
        let plans = match plans_dir {
            Some(dir) => PlanLibrary::load_dir(dir).map_err(|e: PlanErrors| {
                MonitorError::Data(format!("response plans in {}: {e}", dir.display()))
            })?,
            None => PlanLibrary::builtin(),
        };
        let book = CaseBook {
            records,
            plans: Arc::new(plans),
            exceptions: Arc::new(RwLock::new(Arc::new(Vec::new()))),
            write: Mutex::new(()),
        };
        book.publish_exceptions()
            .map_err(|e| MonitorError::Data(format!("exceptions: {e}")))?;
        Ok(book)
    }

    /// The response plans.
    pub fn plans(&self) -> &PlanLibrary {
        &self.plans
    }

    /// Every stored case, by incident id.
    fn cases(&self) -> Result<BTreeMap<String, Case>, CaseChangeError> {
        self.records
            .list_records(CASE)?
            .into_iter()
            .map(|r| Ok((r.id.clone(), decode(CASE, &r.id, &r.body)?)))
            .collect()
    }

    fn pins(&self) -> Result<BTreeMap<String, String>, CaseChangeError> {
        self.records
            .list_records(PIN)?
            .into_iter()
            .map(|r| Ok((r.id.clone(), decode(PIN, &r.id, &r.body)?)))
            .collect()
    }

    /// Re-reads the saved exceptions and hands them to detection.
    fn publish_exceptions(&self) -> Result<(), CaseChangeError> {
        let all = self.exceptions()?;
        *self.exceptions.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(all);
        Ok(())
    }

    /// The saved exceptions, by id.
    pub fn exceptions(&self) -> Result<Vec<Exception>, CaseChangeError> {
        self.records
            .list_records(EXCEPTION)?
            .into_iter()
            .map(|r| decode(EXCEPTION, &r.id, &r.body))
            .collect()
    }

    /// The decisions assessment applies now (`rule_tags` is the caller's: it knows the rules).
    pub fn decisions(&self) -> Result<Decisions, CaseChangeError> {
        Ok(Decisions {
            rule_tags: BTreeMap::new(),
            pins: self.pins()?,
            exceptions: self.exceptions()?,
            cases: self.cases()?,
            plans: Arc::clone(&self.plans),
        })
    }
}

/// Assessment with every decision applied.
pub fn assess_now(monitor: &Monitor) -> Result<Assessed, CaseChangeError> {
    let mut decisions = monitor.cases.decisions()?;
    decisions.rule_tags = logsource_tags(monitor);
    Ok(assess_cached(
        monitor.store.as_ref(),
        &monitor.alert_cache,
        &monitor.inventory,
        &monitor.config.assess,
        Timestamp::now(),
        &decisions,
    )?)
}

/// `logsource:<product>` for every rule of the live set that names a product, by rule id.
pub fn logsource_tags(monitor: &Monitor) -> BTreeMap<String, Vec<String>> {
    let snapshot = monitor.rules.current();
    snapshot
        .rules
        .engine
        .rules()
        .iter()
        .filter_map(|r| {
            let product = r.logsource.product.as_deref()?;
            Some((
                crate::rules::rule_key(r).to_string(),
                vec![format!("logsource:{}", product.to_ascii_lowercase())],
            ))
        })
        .collect()
}

/// The stored case of `id`, or a new one opened when the incident was raised with its plan.
fn case_or_open(
    book: &CaseBook,
    assessed: &Assessed,
    id: &str,
) -> Result<(Case, Expect), CaseChangeError> {
    if let Some(r) = book.records.get_record(CASE, id)? {
        return Ok((decode(CASE, id, &r.body)?, Expect::Version(r.version)));
    }
    let summary = assessed
        .incidents
        .iter()
        .find(|i| i.incident.id == id)
        .ok_or_else(|| CaseChangeError::NotFound(id.to_string()))?;
    let plan = summary.plan.as_deref().and_then(|p| book.plans.get(p));
    Ok((Case::open(id, summary.raised, plan), Expect::Absent))
}

fn put_case(case: &Case, expect: Expect) -> RecordPut {
    RecordPut {
        kind: CASE.into(),
        id: case.id.clone(),
        body: Some(encode(case)),
        expect,
    }
}

fn stale(id: &str, e: StateError) -> CaseChangeError {
    match e {
        StateError::Conflict {
            expected, found, ..
        } => CaseChangeError::Stale {
            id: id.to_string(),
            expected: match expected {
                Expect::Version(v) => v,
                _ => 0,
            },
            found: found.unwrap_or(0),
        },
        e => CaseChangeError::Store(e),
    }
}

/// Applies an analyst's change to incident `id` (opening its case on the first change).
pub fn change(
    monitor: &Monitor,
    id: &str,
    change: &IncidentChange,
    author: &str,
) -> Result<CaseView, CaseChangeError> {
    if change.status.is_none()
        && change.verdict.is_none()
        && change.assignee.is_none()
        && change.comment.is_none()
        && change.tasks.is_empty()
    {
        return Err(CaseChangeError::Invalid(
            "nothing to change: give status (and verdict), assignee, comment or tasks".into(),
        ));
    }
    if change.verdict.is_some() && change.status.is_none() {
        return Err(CaseChangeError::Invalid(
            "a verdict is given when closing: send status `closed` with it".into(),
        ));
    }
    let book = &monitor.cases;
    let _one_writer = lock(&book.write);
    let assessed = assess_now(monitor)?;
    let (mut case, expect) = case_or_open(book, &assessed, id)?;
    if let (Some(want), Expect::Version(have)) = (change.version, expect)
        && want != have
    {
        return Err(CaseChangeError::Stale {
            id: id.to_string(),
            expected: want,
            found: have,
        });
    }
    let now = Timestamp::now();
    if let Some(to) = change.status {
        case.transition(to, change.verdict, author, now)?;
    }
    if let Some(a) = &change.assignee {
        case.assign(Some(a.as_str()), author, now);
    }
    for (task, done) in &change.tasks {
        case.complete_task(task, *done, author, now)?;
    }
    if let Some(text) = &change.comment {
        case.comment(text, author, now)?;
    }
    let version = book
        .records
        .put_records(&[put_case(&case, expect)])
        .map_err(|e| stale(id, e))?[0];
    Ok(CaseView { case, version })
}

/// Merges incidents `from` into `into`: their alerts are pinned to `into` (and stay there),
/// the case of `into` records the merge. Idempotent: incidents its case already records as
/// merged into it are skipped (a retried request succeeds without a second history entry).
pub fn merge(
    monitor: &Monitor,
    into: &str,
    from: &[String],
    author: &str,
) -> Result<CaseView, CaseChangeError> {
    let book = &monitor.cases;
    let _one_writer = lock(&book.write);
    let assessed = assess_now(monitor)?;
    let pins = book.pins()?;
    let (mut case, expect) = case_or_open(book, &assessed, into)?;
    let done: Vec<&String> = case
        .history
        .iter()
        .filter_map(|e| match &e.what {
            CaseEventKind::Merged { from } => Some(from),
            _ => None,
        })
        .flatten()
        .collect();
    let grouped = assessed.grouped();
    let todo: Vec<String> = from
        .iter()
        .filter(|f| !(done.contains(f) && grouped.iter().all(|i| &i.id != *f)))
        .cloned()
        .collect();
    if todo.is_empty() && !from.is_empty() {
        return Ok(CaseView {
            case,
            version: match expect {
                Expect::Version(v) => v,
                _ => 0,
            },
        });
    }
    let new_pins = merge_pins(&grouped, &pins, into, &todo)?;
    case.note_merge(todo, author, Timestamp::now());
    let mut puts = pin_changes(&pins, &new_pins);
    puts.push(put_case(&case, expect));
    let versions = book
        .records
        .put_records(&puts)
        .map_err(|e| stale(into, e))?;
    Ok(CaseView {
        case,
        version: *versions.last().unwrap_or(&0),
    })
}

/// Splits `alerts` off incident `id` into a new incident; returns the new incident's id and
/// the original's case (which records the split). Idempotent: when the case already records
/// splitting exactly these alerts off and they are still together, that incident is returned.
pub fn split(
    monitor: &Monitor,
    id: &str,
    alerts: &[String],
    author: &str,
) -> Result<(String, CaseView), CaseChangeError> {
    let book = &monitor.cases;
    let _one_writer = lock(&book.write);
    let assessed = assess_now(monitor)?;
    let pins = book.pins()?;
    let (mut case, expect) = case_or_open(book, &assessed, id)?;
    let grouped = assessed.grouped();
    let wanted: std::collections::BTreeSet<&String> = alerts.iter().collect();
    let earlier = case.history.iter().rev().find_map(|e| match &e.what {
        CaseEventKind::Split {
            into,
            alerts: moved,
        } if moved.iter().collect::<std::collections::BTreeSet<_>>() == wanted => {
            Some(into.clone())
        }
        _ => None,
    });
    if let Some(done) = earlier
        && grouped
            .iter()
            .any(|i| i.id == done && alerts.iter().all(|a| i.alerts.contains(a)))
    {
        let version = match expect {
            Expect::Version(v) => v,
            _ => 0,
        };
        return Ok((done, CaseView { case, version }));
    }
    let (new_pins, new_id) = split_pins(&grouped, &pins, id, alerts)?;
    case.note_split(&new_id, alerts.to_vec(), author, Timestamp::now());
    let mut puts = pin_changes(&pins, &new_pins);
    puts.push(put_case(&case, expect));
    let versions = book.records.put_records(&puts).map_err(|e| stale(id, e))?;
    Ok((
        new_id,
        CaseView {
            case,
            version: *versions.last().unwrap_or(&0),
        },
    ))
}

/// The record writes that turn pins `old` into `new`.
fn pin_changes(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<RecordPut> {
    new.iter()
        .filter(|(alert, inc)| old.get(*alert) != Some(inc))
        .map(|(alert, inc)| RecordPut {
            kind: PIN.into(),
            id: alert.clone(),
            body: Some(encode(inc)),
            expect: Expect::Any,
        })
        .collect()
}

/// What `exception` would have suppressed among the stored alerts of the look-back period,
/// and — with `save` — saves it unless it would hide an alert judged true positive.
pub fn exception(
    monitor: &Monitor,
    mut exception: Exception,
    author: &str,
    save: bool,
) -> Result<ExceptionOutcome, CaseChangeError> {
    let book = &monitor.cases;
    let _one_writer = lock(&book.write);
    exception.author = author.to_string();
    exception.created = Timestamp::now();
    if exception.id.trim().is_empty() || exception.id.starts_with("proposed-") {
        // Writes are serialised under the lock above, so the clock's nanoseconds are unique.
        exception.id = format!("exc-{:x}", exception.created.as_nanosecond());
    }
    // Previewed over every stored alert of the period, including those already suppressed by
    // other exceptions (a true positive hidden by an earlier exception still counts).
    let mut decisions = book.decisions()?;
    decisions.exceptions.clear();
    let assessed = assess_cached(
        monitor.store.as_ref(),
        &monitor.alert_cache,
        &monitor.inventory,
        &monitor.config.assess,
        Timestamp::now(),
        &decisions,
    )?;
    let facts = assessed.exception_facts();
    let p = preview(&exception, &facts);
    if !save {
        return Ok(ExceptionOutcome {
            exception,
            preview: p,
            saved: false,
        });
    }
    check_save(&p)?;
    book.records.put_records(&[RecordPut {
        kind: EXCEPTION.into(),
        id: exception.id.clone(),
        body: Some(encode(&exception)),
        expect: Expect::Absent,
    }])?;
    book.publish_exceptions()?;
    Ok(ExceptionOutcome {
        exception,
        preview: p,
        saved: true,
    })
}

/// Deletes exception `id`; alerts it suppressed show again and live detection raises them.
pub fn delete_exception(monitor: &Monitor, id: &str) -> Result<(), CaseChangeError> {
    let book = &monitor.cases;
    let _one_writer = lock(&book.write);
    let Some(r) = book.records.get_record(EXCEPTION, id)? else {
        return Err(CaseChangeError::NoException(id.to_string()));
    };
    book.records.put_records(&[RecordPut {
        kind: EXCEPTION.into(),
        id: id.to_string(),
        body: None,
        expect: Expect::Version(r.version),
    }])?;
    book.publish_exceptions()?;
    Ok(())
}
