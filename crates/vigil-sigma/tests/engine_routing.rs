//! Routing and prefilter behaviour of the compiled engine on hand-built rules and events.

use std::collections::BTreeMap;

use vigil_core::{Event, LogSource, Symbol, Value};
use vigil_sigma::ast::{Condition, Detection, FieldTest, Rule, Search, SearchBody};
use vigil_sigma::engine::{Engine, RuleMatch, Scratch};
use vigil_sigma::error::RejectReason;
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::matcher::{Matcher, StrKind};

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

fn value(kind: StrKind, pattern: &str) -> Matcher {
    Matcher::Str {
        kind,
        pattern: pattern.to_lowercase().into(),
        cased: false,
    }
}

fn test(field: &str, values: Vec<Matcher>) -> FieldTest {
    FieldTest {
        field: Symbol::intern(field),
        raw: values.iter().map(|v| format!("{v:?}")).collect(),
        values,
        all: false,
        negate: false,
        written: field.to_string(),
        location: Default::default(),
        value_set: Default::default(),
    }
}

/// A rule whose condition is `selection` (one map of field tests), optionally `and not filter`.
fn rule(
    title: &str,
    logsource: LogSource,
    selection: Vec<FieldTest>,
    filter: Option<Vec<FieldTest>>,
) -> Rule {
    let mut searches = vec![Search {
        name: "selection".into(),
        body: SearchBody::Fields(vec![selection]),
    }];
    let mut condition = Condition::Search(0);
    if let Some(f) = filter {
        searches.push(Search {
            name: "filter".into(),
            body: SearchBody::Fields(vec![f]),
        });
        condition = Condition::And(vec![
            condition,
            Condition::Not(Box::new(Condition::Search(1))),
        ]);
    }
    Rule {
        id: Some(format!("id-{title}")),
        name: None,
        title: title.to_string(),
        status: None,
        level: None,
        description: None,
        author: None,
        references: vec![],
        falsepositives: vec![],
        fields: vec![],
        date: None,
        modified: None,
        tags: vec![],
        logsource,
        detection: Detection {
            searches,
            condition,
        },
        license: None,
        related: vec![],
        scope: vec![],
        custom: BTreeMap::new(),
        location: Default::default(),
    }
}

fn windows(channel: &str, id: i64, fields: &[(&str, &str)]) -> Event {
    let mut e = Event::default();
    e.insert("Channel", Value::str(channel));
    e.insert("EventID", Value::Int(id));
    for (k, v) in fields {
        e.insert(k, Value::str(*v));
    }
    e.logsource = LogSource::product("windows");
    e
}

fn win(category: &str) -> LogSource {
    LogSource::product("windows").with_category(category)
}

/// Evaluates with both paths, asserts they agree, returns the matches.
fn eval(engine: &Engine, event: &Event) -> Vec<RuleMatch> {
    let mut scratch = Scratch::new(engine);
    let (mut fast, mut naive) = (Vec::new(), Vec::new());
    engine.evaluate(event, &mut scratch, &mut fast);
    engine.evaluate_naive(event, &mut naive);
    assert_eq!(
        fast, naive,
        "evaluate and evaluate_naive disagree on {event:?}"
    );
    fast
}

fn engine(rules: Vec<Rule>) -> Engine {
    let (engine, rejections) = Engine::compile(rules, &LogsourceMapping::builtin());
    assert!(rejections.is_empty(), "{rejections:?}");
    engine
}

#[test]
fn process_creation_routes_to_sysmon_1_and_security_4688() {
    let e = engine(vec![rule(
        "whoami",
        win("process_creation"),
        vec![
            test("Image", vec![value(StrKind::EndsWith, "\\whoami.exe")]),
            test("CommandLine", vec![value(StrKind::Contains, "/all")]),
        ],
        None,
    )]);
    let sysmon = windows(
        SYSMON,
        1,
        &[
            ("Image", "C:\\Windows\\System32\\WHOAMI.EXE"),
            ("CommandLine", "whoami /all"),
        ],
    );
    assert_eq!(
        eval(&e, &sysmon),
        vec![RuleMatch {
            rule: 0,
            variant: 0
        }]
    );
    let security = windows(
        "Security",
        4688,
        &[
            ("NewProcessName", "C:\\Windows\\System32\\whoami.exe"),
            ("CommandLine", "whoami /all"),
        ],
    );
    let m = eval(&e, &security);
    assert_eq!(
        m,
        vec![RuleMatch {
            rule: 0,
            variant: 1
        }]
    );
    assert_eq!(e.target_name(&m[0]), Some("security-4688"));
    // 4688 has no `Image`: the unrenamed field must not count there.
    let wrong_name = windows(
        "Security",
        4688,
        &[
            ("Image", "C:\\Windows\\System32\\whoami.exe"),
            ("CommandLine", "whoami /all"),
        ],
    );
    assert!(eval(&e, &wrong_name).is_empty());
    // Right fields, wrong EventID / channel.
    assert!(
        eval(
            &e,
            &windows(
                SYSMON,
                3,
                &[("Image", "x\\whoami.exe"), ("CommandLine", "/all")]
            )
        )
        .is_empty()
    );
    assert!(
        eval(
            &e,
            &windows(
                "System",
                1,
                &[("Image", "x\\whoami.exe"), ("CommandLine", "/all")]
            )
        )
        .is_empty()
    );
    // Channel names compare case-insensitively.
    let lower = windows(
        &SYSMON.to_lowercase(),
        1,
        &[("Image", "x\\whoami.exe"), ("CommandLine", "/all")],
    );
    assert_eq!(eval(&e, &lower).len(), 1);
}

#[test]
fn registry_set_needs_event_type_set_value() {
    let e = engine(vec![rule(
        "run key",
        win("registry_set"),
        vec![test(
            "TargetObject",
            vec![value(StrKind::Contains, "\\CurrentVersion\\Run\\")],
        )],
        None,
    )]);
    let key = (
        "TargetObject",
        "HKU\\S-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\evil",
    );
    let set = windows(SYSMON, 13, &[("EventType", "SetValue"), key]);
    assert_eq!(eval(&e, &set).len(), 1);
    assert!(eval(&e, &windows(SYSMON, 13, &[key])).is_empty());
    assert!(
        eval(
            &e,
            &windows(SYSMON, 12, &[("EventType", "DeleteValue"), key])
        )
        .is_empty()
    );
    assert!(
        eval(
            &e,
            &windows(SYSMON, 13, &[("EventType", "DeleteValue"), key])
        )
        .is_empty()
    );
}

#[test]
fn service_security_only_on_the_security_channel() {
    let e = engine(vec![rule(
        "logon",
        LogSource::product("windows").with_service("security"),
        vec![test(
            "TargetUserName",
            vec![value(StrKind::Equals, "admin")],
        )],
        None,
    )]);
    let fields = [("TargetUserName", "Admin")];
    assert_eq!(eval(&e, &windows("Security", 4624, &fields)).len(), 1);
    assert_eq!(eval(&e, &windows("security", 4625, &fields)).len(), 1);
    assert!(eval(&e, &windows("System", 4624, &fields)).is_empty());
    assert!(eval(&e, &windows(SYSMON, 1, &fields)).is_empty());
}

#[test]
fn non_windows_rules_route_by_event_logsource() {
    let e = engine(vec![
        rule(
            "console login",
            LogSource::product("aws").with_service("cloudtrail"),
            vec![test(
                "eventName",
                vec![value(StrKind::Equals, "ConsoleLogin")],
            )],
            None,
        ),
        rule(
            "any windows",
            LogSource::product("windows"),
            vec![test(
                "eventName",
                vec![value(StrKind::Equals, "ConsoleLogin")],
            )],
            None,
        ),
    ]);
    let mut ev = Event::default();
    ev.insert("eventName", Value::str("ConsoleLogin"));
    ev.logsource = LogSource::product("aws").with_service("cloudtrail");
    assert_eq!(
        eval(&e, &ev),
        vec![RuleMatch {
            rule: 0,
            variant: 0
        }]
    );
    ev.logsource = LogSource::product("okta").with_service("okta");
    assert!(eval(&e, &ev).is_empty());
    // A product-only Windows rule sees every Windows event.
    ev.logsource = LogSource::product("windows").with_service("security");
    assert_eq!(
        eval(&e, &ev),
        vec![RuleMatch {
            rule: 1,
            variant: 0
        }]
    );
}

#[test]
fn antivirus_maps_defender_and_keeps_logsource_routing() {
    let e = engine(vec![rule(
        "mimikatz signature",
        LogSource::default().with_category("antivirus"),
        vec![test(
            "Signature",
            vec![value(StrKind::Contains, "Mimikatz")],
        )],
        None,
    )]);
    let defender = windows(
        "Microsoft-Windows-Windows Defender/Operational",
        1116,
        &[("Threat Name", "HackTool:Win32/Mimikatz.D")],
    );
    assert_eq!(
        eval(&e, &defender),
        vec![RuleMatch {
            rule: 0,
            variant: 0
        }]
    );
    let mut av = Event::default();
    av.insert("Signature", Value::str("Mimikatz"));
    av.logsource = LogSource::default().with_category("antivirus");
    assert_eq!(
        eval(&e, &av),
        vec![RuleMatch {
            rule: 0,
            variant: 1
        }]
    );
}

#[test]
fn unmapped_windows_logsources_are_rejected_not_dropped() {
    let (e, rejections) = Engine::compile(
        vec![
            rule(
                "x",
                win("no_such_category"),
                vec![test("A", vec![value(StrKind::Equals, "abc")])],
                None,
            ),
            rule(
                "y",
                win("process_creation"),
                vec![test("A", vec![value(StrKind::Equals, "abc")])],
                None,
            ),
        ],
        &LogsourceMapping::builtin(),
    );
    assert_eq!(e.len(), 1);
    assert_eq!(e.rule(0).title, "y");
    assert_eq!(rejections.len(), 1);
    assert_eq!(
        rejections[0].reason,
        RejectReason::UnmappedLogsource("product: windows, category: no_such_category".into())
    );
}

#[test]
fn prefilter_skips_without_changing_results() {
    let e = engine(vec![
        // Filterable: needs "mimikatz".
        rule(
            "mimikatz",
            win("process_creation"),
            vec![test(
                "CommandLine",
                vec![value(StrKind::Contains, "mimikatz")],
            )],
            None,
        ),
        // `not` alone; filterable by `.exe`.
        rule(
            "not powershell",
            win("process_creation"),
            vec![test("Image", vec![value(StrKind::EndsWith, ".exe")])],
            Some(vec![test(
                "Image",
                vec![value(StrKind::Contains, "powershell")],
            )]),
        ),
        // A two-byte literal: used because the rule has nothing better (it would
        // otherwise be verified on every event).
        rule(
            "short",
            win("process_creation"),
            vec![test("CommandLine", vec![value(StrKind::Contains, "-e")])],
            None,
        ),
    ]);
    let stats = e.stats();
    assert_eq!(stats.rules, 3);
    assert_eq!(stats.variants, 6);
    assert_eq!(stats.prefiltered_variants, 6, "{stats:?}");
    let ev = windows(
        SYSMON,
        1,
        &[
            ("Image", "C:\\x\\cmd.exe"),
            ("CommandLine", "cmd -e MIMIKATZ"),
        ],
    );
    assert_eq!(
        eval(&e, &ev),
        vec![
            RuleMatch {
                rule: 0,
                variant: 0
            },
            RuleMatch {
                rule: 1,
                variant: 0
            },
            RuleMatch {
                rule: 2,
                variant: 0
            }
        ]
    );
    let ev = windows(
        SYSMON,
        1,
        &[
            ("Image", "C:\\x\\powershell.exe"),
            ("CommandLine", "nothing"),
        ],
    );
    assert!(eval(&e, &ev).is_empty());
}

#[test]
fn one_scratch_serves_many_events_and_engines() {
    let a = engine(vec![rule(
        "a",
        win("process_creation"),
        vec![test("CommandLine", vec![value(StrKind::Contains, "alpha")])],
        None,
    )]);
    let b = engine(vec![rule(
        "b",
        win("process_creation"),
        vec![test("CommandLine", vec![value(StrKind::Contains, "bravo")])],
        None,
    )]);
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    let ev = windows(SYSMON, 1, &[("CommandLine", "alpha bravo")]);
    for _ in 0..3 {
        a.evaluate(&ev, &mut scratch, &mut out);
        assert_eq!(out.len(), 1);
        b.evaluate(&ev, &mut scratch, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(b.rule(out[0].rule).title, "b");
    }
    let quiet = windows(SYSMON, 1, &[("CommandLine", "charlie")]);
    a.evaluate(&quiet, &mut scratch, &mut out);
    assert!(out.is_empty());
}

#[test]
fn engine_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}

#[test]
fn user_mapping_file_extends_the_builtin_table() {
    let mut mapping = LogsourceMapping::builtin();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mapping-user-edr.yml"
    );
    mapping.extend(LogsourceMapping::from_file(path).expect("fixture parses"));
    let (e, rejections) = Engine::compile(
        vec![
            rule(
                "whoami",
                win("process_creation"),
                vec![
                    test("Image", vec![value(StrKind::EndsWith, "\\whoami.exe")]),
                    test("CommandLine", vec![value(StrKind::Contains, "/all")]),
                ],
                None,
            ),
            rule(
                "usb",
                win("acme_usb"),
                vec![test("Vendor", vec![value(StrKind::Equals, "evil corp")])],
                None,
            ),
        ],
        &mapping,
    );
    assert!(rejections.is_empty(), "{rejections:?}");
    let edr = windows(
        "Acme-EDR/Process",
        100,
        &[
            ("ProcessPath", "C:\\w\\whoami.exe"),
            ("ProcessCommandLine", "whoami /all"),
        ],
    );
    let m = eval(&e, &edr);
    assert_eq!(
        m,
        vec![RuleMatch {
            rule: 0,
            variant: 2
        }]
    );
    assert_eq!(e.target_name(&m[0]), Some("acme-edr-process"));
    let usb = windows("Acme-EDR/Device", 201, &[("Vendor", "Evil Corp")]);
    assert_eq!(
        eval(&e, &usb),
        vec![RuleMatch {
            rule: 1,
            variant: 0
        }]
    );
}

#[test]
fn explain_names_the_renamed_fields_of_the_variant() {
    let e = engine(vec![rule(
        "whoami",
        win("process_creation"),
        vec![test(
            "Image",
            vec![value(StrKind::EndsWith, "\\whoami.exe")],
        )],
        None,
    )]);
    let security = windows("Security", 4688, &[("NewProcessName", "C:\\w\\whoami.exe")]);
    let m = eval(&e, &security);
    assert_eq!(m.len(), 1);
    let evidence = e.explain(&m[0], &security);
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].field.as_deref(), Some("NewProcessName"));
    assert_eq!(evidence[0].value, "C:\\w\\whoami.exe");
}

#[test]
fn many_distinct_event_logsources_stay_correct() {
    let e = engine(vec![rule(
        "any okta",
        LogSource::product("okta"),
        vec![test(
            "eventType",
            vec![value(StrKind::Equals, "user.session.start")],
        )],
        None,
    )]);
    let mut scratch = Scratch::default();
    let (mut fast, mut naive) = (Vec::new(), Vec::new());
    for round in 0..3 {
        for i in 0..200 {
            let mut ev = Event::default();
            ev.insert("eventType", Value::str("user.session.start"));
            ev.logsource = LogSource::product(if i % 2 == 0 { "okta" } else { "other" })
                .with_service(&format!("s{i}"));
            e.evaluate(&ev, &mut scratch, &mut fast);
            e.evaluate_naive(&ev, &mut naive);
            assert_eq!(fast, naive, "round {round}, logsource {}", ev.logsource);
            assert_eq!(fast.len(), usize::from(i % 2 == 0));
        }
    }
}

#[test]
fn service_rules_filed_under_their_event_ids_still_see_odd_event_ids() {
    let e = engine(vec![
        rule(
            "4624 admin",
            LogSource::product("windows").with_service("security"),
            vec![
                test("EventID", vec![value(StrKind::Equals, "4624")]),
                test("TargetUserName", vec![value(StrKind::Equals, "admin")]),
            ],
            None,
        ),
        rule(
            "any admin",
            LogSource::product("windows").with_service("security"),
            vec![test(
                "TargetUserName",
                vec![value(StrKind::Equals, "admin")],
            )],
            None,
        ),
    ]);
    let user = ("TargetUserName", "admin");
    assert_eq!(eval(&e, &windows("Security", 4624, &[user])).len(), 2);
    assert_eq!(eval(&e, &windows("Security", 4625, &[user])).len(), 1);
    assert_eq!(eval(&e, &windows("Security", 4688, &[user])).len(), 1);
    // EventID as text, as a list, or missing: routing must not lose the match.
    let mut text = windows("Security", 0, &[user]);
    text.set(Symbol::intern("EventID"), Value::str("4624"));
    assert_eq!(eval(&e, &text).len(), 2);
    let mut list = windows("Security", 0, &[user]);
    list.set(
        Symbol::intern("EventID"),
        Value::List(vec![Value::Int(1), Value::Int(4624)]),
    );
    assert_eq!(eval(&e, &list).len(), 2);
    let mut none = Event::default();
    none.insert("Channel", Value::str("Security"));
    none.insert("TargetUserName", Value::str("admin"));
    assert_eq!(eval(&e, &none).len(), 1);
}

/// A product-less `category: proxy` rule reaches Zeek and Suricata `http` events through the
/// built-in logsource targets, with `c-uri` renamed to each one's field (`uri`, `http.url`);
/// events of other logsources, or with the rule's own field name, do not match through them,
/// and an event labelled `category: proxy` still matches the rule as written.
#[test]
fn proxy_rules_reach_zeek_and_suricata_http_through_logsource_targets() {
    let e = engine(vec![rule(
        "webshell uri",
        LogSource::default().with_category("proxy"),
        vec![test("c-uri", vec![value(StrKind::Contains, "/cmd.jsp")])],
        None,
    )]);
    let with = |ls: LogSource, field: &str| {
        let mut ev = Event::default();
        ev.insert(field, Value::str("/shell/cmd.jsp?c=id"));
        ev.logsource = ls;
        ev
    };
    let zeek = LogSource::product("zeek").with_service("http");
    let suricata = LogSource::product("suricata").with_service("http");
    let m = |variant| vec![RuleMatch { rule: 0, variant }];
    let hit = with(zeek.clone(), "uri");
    assert_eq!(eval(&e, &hit), m(0));
    assert_eq!(e.target_name(&m(0)[0]), Some("zeek-http"));
    let evidence = e.explain(&m(0)[0], &hit);
    assert_eq!(evidence[0].field.as_deref(), Some("uri"));
    assert_eq!(eval(&e, &with(suricata.clone(), "http.url")), m(1));
    assert_eq!(e.target_name(&m(1)[0]), Some("suricata-http"));
    // The rule's own name on a Zeek event, or Zeek's name on a Suricata event: no match.
    assert!(eval(&e, &with(zeek, "c-uri")).is_empty());
    assert!(eval(&e, &with(suricata, "uri")).is_empty());
    assert!(
        eval(
            &e,
            &with(LogSource::product("zeek").with_service("dns"), "uri")
        )
        .is_empty()
    );
    // A proxy log a decoder labelled as such: the rule as written (its last variant).
    let own = with(LogSource::default().with_category("proxy"), "c-uri");
    assert_eq!(eval(&e, &own), m(2));
    assert_eq!(e.target_name(&m(2)[0]), None);
    let stats = e.stats();
    assert_eq!((stats.channel_variants, stats.logsource_variants), (0, 3));
}
