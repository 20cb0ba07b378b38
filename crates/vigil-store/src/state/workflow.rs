//! The alert triage workflow: which status changes are allowed and what they do to the verdict.
//!
//! This is the one place the rules live; every store implementation calls [`apply`] before it
//! writes, so SQLite and a future PostgreSQL store refuse the same things.
//!
//! ```text
//! new ──► acknowledged ──► in-progress ──► closed (verdict required)
//!  │           │                ▲             │
//!  │           └────────────────┼──► closed   │
//!  ├──► in-progress             └─────────────┘ reopen (verdict cleared)
//!  └──► closed
//! ```

use super::error::StateError;
use super::model::{AlertStatus, AlertUpdate, Verdict};

/// Largest comment accepted, in bytes: comments are notes, not attachments.
pub const MAX_COMMENT_BYTES: usize = 64 * 1024;

impl AlertStatus {
    /// Whether the workflow allows moving from `self` to `next`. Staying put is not a move.
    pub fn can_become(self, next: AlertStatus) -> bool {
        use AlertStatus::*;
        matches!(
            (self, next),
            (New, Acknowledged | InProgress | Closed)
                | (Acknowledged, InProgress | Closed)
                | (InProgress, Closed)
                // Reopening: new evidence or a wrong verdict.
                | (Closed, InProgress)
        )
    }
}

/// The status, verdict and assignee an alert has after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub status: AlertStatus,
    pub verdict: Option<Verdict>,
    /// `Some(None)` clears the assignee, `None` leaves it.
    pub assignee: Option<Option<String>>,
    /// The comment to store, trimmed.
    pub comment: Option<String>,
}

/// Checks `update` against an alert currently in `status` with `verdict`, and says what to write.
///
/// Rules: at least one change or a comment; an author; allowed transitions only; closing needs a
/// verdict; a verdict only on a closed alert (changing the verdict of a closed alert is allowed);
/// reopening clears the verdict.
pub(crate) fn apply(
    status: AlertStatus,
    verdict: Option<Verdict>,
    update: &AlertUpdate,
) -> Result<Outcome, StateError> {
    if update.author.trim().is_empty() {
        return Err(StateError::InvalidInput(
            "an alert update needs an author".into(),
        ));
    }
    let comment = match &update.comment {
        None => None,
        Some(c) if c.trim().is_empty() => {
            return Err(StateError::InvalidInput("the comment is empty".into()));
        }
        Some(c) if c.len() > MAX_COMMENT_BYTES => {
            return Err(StateError::InvalidInput(format!(
                "the comment is {} bytes; the limit is {MAX_COMMENT_BYTES}",
                c.len()
            )));
        }
        Some(c) => Some(c.trim().to_string()),
    };
    if update.status.is_none()
        && update.assignee.is_none()
        && update.verdict.is_none()
        && comment.is_none()
    {
        return Err(StateError::InvalidInput(
            "an alert update must change the status, assignee or verdict, or add a comment".into(),
        ));
    }

    let next = update.status.unwrap_or(status);
    if next != status && !status.can_become(next) {
        return Err(StateError::InvalidTransition {
            from: status,
            to: next,
        });
    }
    let next_verdict = match (next, update.verdict) {
        (AlertStatus::Closed, Some(v)) => Some(v),
        (AlertStatus::Closed, None) => Some(verdict.ok_or(StateError::VerdictRequired)?),
        (open, Some(v)) => {
            return Err(StateError::VerdictOnOpenAlert {
                verdict: v,
                status: open,
            });
        }
        (_, None) => None,
    };
    let assignee = update.assignee.as_ref().map(|a| {
        let a = a.trim();
        (!a.is_empty()).then(|| a.to_string())
    });
    Ok(Outcome {
        status: next,
        verdict: next_verdict,
        assignee,
        comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(status: Option<AlertStatus>, verdict: Option<Verdict>) -> AlertUpdate {
        AlertUpdate {
            author: "ana".into(),
            status,
            verdict,
            ..AlertUpdate::default()
        }
    }

    #[test]
    fn transitions_are_the_documented_ones() {
        use AlertStatus::*;
        let allowed: Vec<_> = AlertStatus::ALL
            .into_iter()
            .flat_map(|a| AlertStatus::ALL.into_iter().map(move |b| (a, b)))
            .filter(|&(a, b)| a.can_become(b))
            .collect();
        assert_eq!(
            allowed,
            [
                (New, Acknowledged),
                (New, InProgress),
                (New, Closed),
                (Acknowledged, InProgress),
                (Acknowledged, Closed),
                (InProgress, Closed),
                (Closed, InProgress),
            ]
        );
    }

    #[test]
    fn closing_needs_a_verdict_and_reopening_clears_it() {
        let closed = update(Some(AlertStatus::Closed), None);
        assert!(matches!(
            apply(AlertStatus::New, None, &closed),
            Err(StateError::VerdictRequired)
        ));
        let with = update(Some(AlertStatus::Closed), Some(Verdict::Benign));
        let out = apply(AlertStatus::InProgress, None, &with).unwrap();
        assert_eq!(out.verdict, Some(Verdict::Benign));
        let reopen = update(Some(AlertStatus::InProgress), None);
        let out = apply(AlertStatus::Closed, Some(Verdict::Benign), &reopen).unwrap();
        assert_eq!((out.status, out.verdict), (AlertStatus::InProgress, None));
        // Correcting the verdict of a closed alert keeps it closed.
        let fix = update(None, Some(Verdict::TruePositive));
        let out = apply(AlertStatus::Closed, Some(Verdict::Benign), &fix).unwrap();
        assert_eq!(
            (out.status, out.verdict),
            (AlertStatus::Closed, Some(Verdict::TruePositive))
        );
    }

    #[test]
    fn refuses_empty_and_anonymous_updates_and_open_verdicts() {
        let empty = update(None, None);
        assert!(matches!(
            apply(AlertStatus::New, None, &empty),
            Err(StateError::InvalidInput(_))
        ));
        let mut anonymous = update(Some(AlertStatus::Acknowledged), None);
        anonymous.author = " ".into();
        assert!(apply(AlertStatus::New, None, &anonymous).is_err());
        let open_verdict = update(None, Some(Verdict::Benign));
        assert!(matches!(
            apply(AlertStatus::New, None, &open_verdict),
            Err(StateError::VerdictOnOpenAlert { .. })
        ));
        let back = update(Some(AlertStatus::New), None);
        assert!(matches!(
            apply(AlertStatus::Acknowledged, None, &back),
            Err(StateError::InvalidTransition { .. })
        ));
    }
}
