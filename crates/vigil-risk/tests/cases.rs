//! Cases: acknowledgement and milestone times, task due times from the plan, SLA status, the
//! MTTA/MTTC/MTTR report with open cases, and refused changes.

use jiff::Timestamp;
use vigil_risk::case::{
    Case, CaseError, CaseEventKind, CaseMetrics, MAX_COMMENT_BYTES, SlaKind, SlaState,
};
use vigil_risk::{IncidentStatus, PlanLibrary, TransitionError, Verdict};

use IncidentStatus::*;

/// Minutes after a fixed opening time.
fn at(minutes: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + minutes * 60).unwrap()
}

fn ransomware_case(id: &str, opened: i64) -> Case {
    let library = PlanLibrary::builtin();
    Case::open(id, at(opened), library.get("ransomware"))
}

#[test]
fn opening_copies_the_plans_tasks_with_due_times_from_the_opening() {
    let case = ransomware_case("inc-a1", 0);
    let plan = PlanLibrary::builtin().get("ransomware").cloned().unwrap();
    assert_eq!(case.status, New);
    assert_eq!(case.plan.as_deref(), Some("ransomware"));
    assert_eq!(case.tasks.len(), plan.tasks.len());
    let isolate = case.tasks.iter().find(|t| t.id == "isolate-hosts").unwrap();
    assert_eq!(isolate.due, at(30));
    assert_eq!(isolate.role, "system-owner");
    assert!(isolate.done.is_none());
    assert_eq!(case.history.len(), 1);
    assert_eq!(
        case.history[0].what,
        CaseEventKind::Opened {
            plan: Some("ransomware".into())
        }
    );
    // At 45 minutes the two tasks due at 15 and 30 minutes are overdue.
    let overdue: Vec<&str> = case
        .overdue_tasks(at(45))
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(overdue, ["confirm-encryption", "isolate-hosts"]);
    // No plan, no tasks, no SLA.
    let bare = Case::open("inc-b", at(0), None);
    assert!(bare.tasks.is_empty());
    assert!(bare.sla(at(10_000)).targets.is_empty());
}

#[test]
fn the_first_move_out_of_new_is_the_acknowledgement() {
    let mut case = ransomware_case("inc-a1", 0);
    assert_eq!(case.acknowledged(), None);
    assert_eq!(case.transition(Triaged, None, "ana", at(12)), Ok(Triaged));
    assert_eq!(case.acknowledged(), Some(at(12)));
    assert_eq!(case.history[1].what, CaseEventKind::Acknowledged);
    assert_eq!(case.history[1].author, "ana");
    case.transition(Contained, None, "ana", at(50)).unwrap();
    case.transition(Closed, Some(Verdict::TruePositive), "bob", at(600))
        .unwrap();
    assert_eq!(
        (case.contained(), case.closed()),
        (Some(at(50)), Some(at(600)))
    );
    assert_eq!(case.verdict, Some(Verdict::TruePositive));
    // Reopened: no longer closed, acknowledged once only, verdict cleared.
    case.transition(Triaged, None, "bob", at(700)).unwrap();
    assert_eq!(case.closed(), None);
    assert_eq!(case.verdict, None);
    let acks = case
        .history
        .iter()
        .filter(|e| e.what == CaseEventKind::Acknowledged)
        .count();
    assert_eq!(acks, 1);
    // Closing straight from new acknowledges too.
    let mut fp = ransomware_case("inc-fp", 0);
    fp.transition(Closed, Some(Verdict::FalsePositive), "ana", at(5))
        .unwrap();
    assert_eq!(fp.acknowledged(), Some(at(5)));
    assert_eq!(fp.contained(), None);
}

#[test]
fn illegal_transitions_are_refused_and_change_nothing() {
    let mut case = ransomware_case("inc-a1", 0);
    let before = case.clone();
    let e = case.transition(Recovered, None, "ana", at(1)).unwrap_err();
    assert!(matches!(
        e,
        TransitionError::NotAllowed {
            from: New,
            to: Recovered,
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        "an incident cannot go from new to recovered; from new it can go to: triaged, closed"
    );
    assert_eq!(
        case.transition(Closed, None, "ana", at(1)),
        Err(TransitionError::VerdictMissing)
    );
    assert_eq!(case, before, "a refused move leaves no trace");
}

#[test]
fn tasks_assignment_and_comments_are_checked_and_recorded() {
    let mut case = ransomware_case("inc-a1", 0);
    case.complete_task("isolate-hosts", true, "ana", at(20))
        .unwrap();
    let task = case.tasks.iter().find(|t| t.id == "isolate-hosts").unwrap();
    assert_eq!(
        task.done.as_ref().map(|d| (d.author.as_str(), d.at)),
        Some(("ana", at(20)))
    );
    // Done twice: one event only. Undone: recorded.
    case.complete_task("isolate-hosts", true, "ana", at(21))
        .unwrap();
    case.complete_task("isolate-hosts", false, "bob", at(22))
        .unwrap();
    let kinds: Vec<&CaseEventKind> = case.history.iter().map(|e| &e.what).collect();
    assert_eq!(
        kinds[1..],
        [
            &CaseEventKind::TaskDone {
                task: "isolate-hosts".into()
            },
            &CaseEventKind::TaskUndone {
                task: "isolate-hosts".into()
            }
        ]
    );
    let e = case
        .complete_task("pay-ransom", true, "ana", at(23))
        .unwrap_err();
    assert!(
        matches!(&e, CaseError::UnknownTask { task, known } if task == "pay-ransom" && known.starts_with("confirm-encryption, isolate-hosts"))
    );

    case.assign(Some("ana"), "lead", at(5));
    case.assign(Some(" ana "), "lead", at(6)); // the same assignee: no event
    case.assign(None, "lead", at(7));
    let assigned: Vec<_> = case
        .history
        .iter()
        .filter_map(|e| match &e.what {
            CaseEventKind::Assigned { from, to } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        assigned,
        [(None, Some("ana".into())), (Some("ana".into()), None)]
    );

    case.comment("Patient zero is wks-07.", "ana", at(8))
        .unwrap();
    assert_eq!(case.comments[0].text, "Patient zero is wks-07.");
    assert_eq!(
        case.comment("  ", "ana", at(9)),
        Err(CaseError::EmptyComment)
    );
    assert_eq!(case.comment("x", "", at(9)), Err(CaseError::NoAuthor));
    let long = "x".repeat(MAX_COMMENT_BYTES + 1);
    assert_eq!(
        case.comment(&long, "ana", at(9)),
        Err(CaseError::CommentTooLong {
            len: MAX_COMMENT_BYTES + 1,
            max: MAX_COMMENT_BYTES
        })
    );
    assert_eq!(case.comments.len(), 1);
    case.note_merge(vec!["inc-b7".into()], "ana", at(10));
    case.note_split("inc-a9", vec!["a9".into()], "ana", at(11));
    // The whole case survives the JSON the server stores.
    let json = serde_json::to_string(&case).unwrap();
    assert!(
        json.contains(r#""event":"merged","from":["inc-b7"]"#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Case>(&json).unwrap(), case);
}

#[test]
fn sla_targets_are_met_breached_or_pending() {
    // Ransomware: acknowledge 15 min, contain 60 min, close 4320 min.
    let mut case = ransomware_case("inc-a1", 0);
    let sla = case.sla(at(10));
    assert_eq!(
        sla.get(SlaKind::Acknowledge).unwrap().state,
        SlaState::Pending
    );
    assert_eq!(
        sla.get(SlaKind::Acknowledge).unwrap().seconds_left,
        Some(5 * 60)
    );
    assert!(!sla.breached());
    // Not acknowledged at 20 minutes: breached, 5 minutes overdue.
    let sla = case.sla(at(20));
    let ack = sla.get(SlaKind::Acknowledge).unwrap();
    assert_eq!(
        (ack.state, ack.seconds_left),
        (SlaState::Breached, Some(-5 * 60))
    );
    // Acknowledged late stays breached; contained in time is met.
    case.transition(Triaged, None, "ana", at(20)).unwrap();
    case.transition(Contained, None, "ana", at(55)).unwrap();
    let sla = case.sla(at(100));
    assert_eq!(
        sla.get(SlaKind::Acknowledge).unwrap().state,
        SlaState::Breached
    );
    let contain = sla.get(SlaKind::Contain).unwrap();
    assert_eq!(
        (contain.state, contain.reached, contain.seconds_left),
        (SlaState::Met, Some(at(55)), None)
    );
    assert_eq!(sla.get(SlaKind::Close).unwrap().state, SlaState::Pending);
    // A false positive closed from new at 10 minutes meets all three.
    let mut fp = ransomware_case("inc-fp", 0);
    fp.transition(Closed, Some(Verdict::FalsePositive), "ana", at(10))
        .unwrap();
    assert!(
        fp.sla(at(100_000))
            .targets
            .iter()
            .all(|t| t.state == SlaState::Met)
    );
}

#[test]
fn metrics_count_open_cases_as_pending_not_as_zero() {
    let mut cases = Vec::new();
    // Acknowledged at 10, contained at 40, closed at 300 (true positive).
    let mut a = ransomware_case("a", 0);
    a.transition(Triaged, None, "x", at(10)).unwrap();
    a.transition(Contained, None, "x", at(40)).unwrap();
    a.transition(Closed, Some(Verdict::TruePositive), "x", at(300))
        .unwrap();
    cases.push(a);
    // Acknowledged at 20 (after opening at 100), contained at 200 (160 minutes: breach), open.
    let mut b = ransomware_case("b", 100);
    b.transition(Triaged, None, "x", at(120)).unwrap();
    b.transition(Contained, None, "x", at(260)).unwrap();
    cases.push(b);
    // False positive closed from new after 30 minutes (acknowledge breached).
    let mut c = ransomware_case("c", 200);
    c.transition(Closed, Some(Verdict::FalsePositive), "x", at(230))
        .unwrap();
    cases.push(c);
    // Never touched, opened at 400.
    cases.push(ransomware_case("d", 400));
    // Opened outside the period.
    cases.push(ransomware_case("e", 5_000));

    let m = CaseMetrics::from_cases(&cases, at(0), at(1_000));
    assert_eq!(m.cases, 4);
    assert_eq!(m.by_status.get("closed"), Some(&2));
    assert_eq!(m.by_status.get("contained"), Some(&1));
    assert_eq!(m.by_status.get("new"), Some(&1));
    assert_eq!(m.by_verdict.get("true-positive"), Some(&1));
    assert_eq!(m.by_verdict.get("false-positive"), Some(&1));
    // MTTA over a (10), b (20), c (30) minutes; d is pending for 600 minutes, not a 0.
    assert_eq!(m.mtta.count, 3);
    assert_eq!(m.mtta.mean_seconds, Some(20.0 * 60.0));
    assert_eq!(m.mtta.median_seconds, Some(20 * 60));
    assert_eq!(m.mtta.p90_seconds, Some(30 * 60));
    assert_eq!(
        (m.mtta.pending, m.mtta.oldest_pending_seconds),
        (1, Some(600 * 60))
    );
    // MTTC over a (40) and b (160); d pending; c closed without containment is in neither.
    assert_eq!(m.mttc.count, 2);
    assert_eq!(m.mttc.mean_seconds, Some(100.0 * 60.0));
    assert_eq!(m.mttc.pending, 1);
    // MTTR over a (300) and c (30); b and d still open.
    assert_eq!(m.mttr.count, 2);
    assert_eq!(m.mttr.median_seconds, Some(30 * 60));
    assert_eq!(m.mttr.p90_seconds, Some(300 * 60));
    assert_eq!(
        (m.mttr.pending, m.mttr.oldest_pending_seconds),
        (2, Some(900 * 60))
    );
    // Breaches at 1000: b contained late, c acknowledged late, d acknowledge and contain.
    assert_eq!(m.sla_breaches.get("acknowledge"), Some(&3));
    assert_eq!(m.sla_breaches.get("contain"), Some(&2));
    assert_eq!(m.sla_breaches.get("close"), None);
    assert_eq!(m.cases_breaching_sla, 3);

    // As of minute 250 case b was not yet contained, and a not yet closed.
    let m = CaseMetrics::from_cases(&cases, at(0), at(250));
    assert_eq!(m.cases, 3);
    assert_eq!((m.mttc.count, m.mttc.pending), (1, 1));
    assert_eq!(m.mttr.count, 1, "only c was closed by then");
    assert_eq!(m.by_status.get("triaged"), Some(&1));

    // No cases: nothing to average, nothing invented.
    let empty = CaseMetrics::from_cases(&[], at(0), at(1));
    assert_eq!(
        (
            empty.cases,
            empty.mtta.mean_seconds,
            empty.mtta.median_seconds
        ),
        (0, None, None)
    );
}
