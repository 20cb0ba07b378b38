//! Exceptions: the issue's must-show (a preview over alerts where one matching alert was judged
//! a true positive refuses saving, naming it), CIDR and case-insensitive matching, rule-wide
//! exceptions only when explicit, and proposals from a false-positive incident.

use jiff::Timestamp;
use vigil_risk::Verdict;
use vigil_risk::exception::{
    Condition, Exception, ExceptionError, ExceptionFacts, Field, check_save, preview, propose,
};

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + minutes * 60).unwrap()
}

fn alert(id: &str, rule: &str, host: &str, user: &str, src: &str, minute: i64) -> ExceptionFacts {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    ExceptionFacts {
        alert_id: id.into(),
        rule_id: rule.into(),
        host: some(host),
        user: some(user),
        src_ip: some(src),
        dst_ip: None,
        verdict: None,
        time: at(minute),
    }
}

fn exception(rule: &str, conditions: &[(Field, &str)]) -> Exception {
    Exception {
        id: "exc-1".into(),
        rule_id: rule.into(),
        conditions: conditions
            .iter()
            .map(|(field, value)| Condition {
                field: *field,
                value: value.to_string(),
            })
            .collect(),
        all: false,
        reason: "backup job logs on as svc-backup every night".into(),
        author: "ana".into(),
        created: at(0),
    }
}

#[test]
fn saving_is_refused_when_the_exception_would_hide_a_true_positive() {
    let mut alerts = vec![
        alert(
            "a1",
            "win-logon-burst",
            "BKP-01",
            "svc-backup",
            "10.1.2.3",
            10,
        ),
        alert(
            "a2",
            "win-logon-burst",
            "bkp-01",
            "SVC-BACKUP",
            "10.1.9.9",
            20,
        ),
        alert(
            "a3",
            "win-logon-burst",
            "bkp-01",
            "svc-backup",
            "10.1.2.4",
            30,
        ),
        // Same host, other user: not covered.
        alert("a4", "win-logon-burst", "bkp-01", "mallory", "10.1.2.3", 40),
        // Same entities, other rule: not covered.
        alert("a5", "lsass-access", "bkp-01", "svc-backup", "10.1.2.3", 50),
    ];
    // a3 was part of a real intrusion.
    alerts[2].verdict = Some(Verdict::TruePositive);
    alerts[0].verdict = Some(Verdict::FalsePositive);
    let e = exception(
        "win-logon-burst",
        &[(Field::Host, "bkp-01"), (Field::User, "svc-backup")],
    );
    let p = preview(&e, &alerts);
    assert_eq!(p.examined, 5);
    assert_eq!(p.would_suppress, 3);
    assert_eq!(p.by_rule.get("win-logon-burst"), Some(&3));
    assert_eq!((p.first, p.last), (Some(at(10)), Some(at(30))));
    assert_eq!(p.true_positives, ["a3"]);
    let refused = check_save(&p).unwrap_err();
    assert_eq!(
        refused,
        ExceptionError::HidesTruePositive {
            ids: vec!["a3".into()]
        }
    );
    assert_eq!(
        refused.to_string(),
        "the exception would hide 1 alert(s) judged true positive: a3"
    );
    // Narrowed to the backup network's /29, a3 (10.1.2.4 is inside 10.1.2.0/29) still hides;
    // narrowed to one address it does not, and saving is allowed.
    let narrower = exception(
        "win-logon-burst",
        &[(Field::User, "svc-backup"), (Field::SrcIp, "10.1.2.0/29")],
    );
    assert_eq!(preview(&narrower, &alerts).true_positives, ["a3"]);
    let exact = exception(
        "win-logon-burst",
        &[(Field::User, "svc-backup"), (Field::SrcIp, "10.1.2.3")],
    );
    let p = preview(&exact, &alerts);
    assert_eq!(p.would_suppress, 1);
    assert_eq!(check_save(&p), Ok(()));
}

#[test]
fn conditions_compare_names_without_case_and_addresses_parsed() {
    let a = alert(
        "a1",
        "r",
        "WKS-07.corp.example",
        "CORP\\Alice",
        "::ffff:192.168.4.20",
        0,
    );
    let matches = |conditions: &[(Field, &str)]| exception("r", conditions).suppresses(&a);
    assert!(matches(&[(Field::Host, "wks-07.CORP.example")]));
    assert!(matches(&[(Field::User, "corp\\alice")]));
    assert!(
        !matches(&[(Field::Host, "wks-07")]),
        "host names compare whole"
    );
    // IPv4-mapped IPv6 is the IPv4 address; CIDR networks contain it.
    assert!(matches(&[(Field::SrcIp, "192.168.4.20")]));
    assert!(matches(&[(Field::SrcIp, "192.168.0.0/16")]));
    assert!(
        matches(&[(Field::SrcIp, "192.168.4.77/24")]),
        "host bits are ignored"
    );
    assert!(!matches(&[(Field::SrcIp, "192.168.5.0/24")]));
    // A field the alert lacks does not hold.
    assert!(!matches(&[(Field::DstIp, "0.0.0.0/0")]));
    // Every condition must hold.
    assert!(!matches(&[
        (Field::Host, "wks-07.corp.example"),
        (Field::User, "bob")
    ]));
    // Another rule is never suppressed.
    assert!(!exception("other", &[(Field::User, "corp\\alice")]).suppresses(&a));
}

#[test]
fn rule_wide_exceptions_must_be_explicit_and_bad_values_are_refused() {
    let a = alert("a1", "r", "h", "u", "10.0.0.1", 0);
    let empty = exception("r", &[]);
    assert_eq!(empty.check(), Err(ExceptionError::NoConditions));
    assert!(
        !empty.suppresses(&a),
        "an empty condition list is not a wildcard"
    );
    let p = preview(&empty, std::slice::from_ref(&a));
    assert_eq!(p.would_suppress, 0);
    assert!(matches!(
        check_save(&p),
        Err(ExceptionError::Malformed { .. })
    ));

    let rule_wide = Exception {
        all: true,
        ..exception("r", &[])
    };
    assert_eq!(rule_wide.check(), Ok(()));
    assert!(rule_wide.suppresses(&a));
    let both = Exception {
        all: true,
        ..exception("r", &[(Field::Host, "h")])
    };
    assert_eq!(both.check(), Err(ExceptionError::RuleWideWithConditions));

    let bad_ip = exception("r", &[(Field::SrcIp, "10.0.0.300")]);
    let e = bad_ip.check().unwrap_err().to_string();
    assert_eq!(
        e,
        "condition on src_ip: \"10.0.0.300\" is not an address or CIDR network"
    );
    let bad_cidr = exception("r", &[(Field::DstIp, "10.0.0.0/40")]);
    assert!(
        bad_cidr
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("condition on dst_ip")
    );
    let blank = exception("r", &[(Field::Host, "  ")]);
    assert!(matches!(
        blank.check(),
        Err(ExceptionError::BadCondition {
            field: Field::Host,
            ..
        })
    ));
    let no_reason = Exception {
        reason: " ".into(),
        ..exception("r", &[(Field::Host, "h")])
    };
    assert_eq!(no_reason.check(), Err(ExceptionError::NoReason));
    // The stored form: field names as the API shows them, `all` defaulting to false.
    let json = r#"{"id":"e","rule_id":"r","conditions":[{"field":"src_ip","value":"10.0.0.0/8"}],
        "reason":"scanner","author":"ana","created":"2026-12-01T00:00:00Z"}"#;
    let parsed: Exception = serde_json::from_str(json).unwrap();
    assert_eq!(parsed.conditions[0].field, Field::SrcIp);
    assert!(!parsed.all);
    assert!(parsed.suppresses(&a));
}

#[test]
fn proposals_keep_the_entity_values_each_rules_alerts_share() {
    let alerts = vec![
        alert(
            "a1",
            "win-logon-burst",
            "BKP-01",
            "svc-backup",
            "10.1.2.3",
            10,
        ),
        alert(
            "a2",
            "win-logon-burst",
            "bkp-01",
            "svc-backup",
            "10.1.2.4",
            20,
        ),
        alert(
            "a3",
            "smb-share-enum",
            "bkp-01",
            "svc-backup",
            "10.1.2.3",
            15,
        ),
        // Nothing in common across its alerts: no proposal for this rule.
        alert("a4", "noisy", "h1", "u1", "10.0.0.1", 5),
        alert("a5", "noisy", "h2", "u2", "10.0.0.2", 6),
    ];
    let drafts = propose(&alerts);
    assert_eq!(drafts.len(), 2);
    let smb = &drafts[0];
    assert_eq!(smb.rule_id, "smb-share-enum");
    assert_eq!(smb.conditions.len(), 3);
    let burst = &drafts[1];
    assert_eq!(burst.rule_id, "win-logon-burst");
    assert_eq!(
        burst.conditions,
        [
            Condition {
                field: Field::Host,
                value: "bkp-01".into()
            },
            Condition {
                field: Field::User,
                value: "svc-backup".into()
            }
        ],
        "the source addresses differ, so they are left out"
    );
    assert_eq!(burst.created, at(20));
    assert_eq!(burst.reason, "false positive: proposed from alerts a1, a2");
    // Every draft is well-formed and suppresses the alerts it came from.
    for d in &drafts {
        assert_eq!(d.check(), Ok(()));
        let own: Vec<&ExceptionFacts> = alerts.iter().filter(|a| a.rule_id == d.rule_id).collect();
        assert!(own.iter().all(|a| d.suppresses(a)));
    }
    assert!(propose(&[]).is_empty());
}
