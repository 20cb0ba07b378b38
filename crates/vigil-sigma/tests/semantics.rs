//! Sigma semantics, one corner at a time: each test parses a small rule and checks which events
//! it matches with the reference evaluator (`Detection::matches`).

use std::collections::HashMap;

use vigil_core::{Event, Value};
use vigil_sigma::parse::{Document, parse_source};
use vigil_sigma::{Rejection, Rule};

fn parse_with(
    detection: &str,
    placeholders: &HashMap<String, Vec<String>>,
) -> Result<Rule, Box<Rejection>> {
    let src = format!(
        "title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n  product: windows\ndetection:\n{detection}"
    );
    let mut parsed = parse_source(&src, "test.yml", placeholders);
    assert_eq!(parsed.items.len(), 1);
    match parsed.items.pop().unwrap() {
        Ok(Document::Rule(r)) => Ok(*r),
        Ok(other) => panic!("not a rule: {other:?}"),
        Err(e) => Err(Box::new(e)),
    }
}

fn rule(detection: &str) -> Rule {
    parse_with(detection, &HashMap::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn reject(detection: &str) -> Box<Rejection> {
    parse_with(detection, &HashMap::new()).expect_err("should be rejected")
}

fn ev(fields: &[(&str, Value)]) -> Event {
    let mut e = Event::default();
    for (k, v) in fields {
        e.insert(k, v.clone());
    }
    e
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn cmd(x: &str) -> Event {
    ev(&[("CommandLine", s(x))])
}

#[test]
fn plain_values_are_case_insensitive_and_cased_is_not() {
    let r = rule("  sel:\n    Image|endswith: '\\CMD.exe'\n  condition: sel\n");
    assert!(r.matches(&ev(&[("Image", s("C:\\Windows\\cmd.EXE"))])));
    let r = rule("  sel:\n    Image|endswith|cased: '\\CMD.exe'\n  condition: sel\n");
    assert!(!r.matches(&ev(&[("Image", s("C:\\Windows\\cmd.EXE"))])));
    assert!(r.matches(&ev(&[("Image", s("C:\\Windows\\CMD.exe"))])));
}

#[test]
fn wildcard_escapes() {
    // `\*` is a literal star.
    let r = rule("  sel:\n    CommandLine: 'a\\*b'\n  condition: sel\n");
    assert!(r.matches(&cmd("a*b")));
    assert!(!r.matches(&cmd("axxb")));
    // `\\*` is a backslash followed by a live star.
    let r = rule("  sel:\n    CommandLine: 'C:\\\\*'\n  condition: sel\n");
    assert!(r.matches(&cmd("C:\\anything")));
    assert!(!r.matches(&cmd("C:anything")));
    // `\\\\` is two literal backslashes.
    let r = rule("  sel:\n    CommandLine: '\\\\\\\\server'\n  condition: sel\n");
    assert!(r.matches(&cmd("\\\\server")));
    // A backslash before an ordinary character is literal.
    let r = rule("  sel:\n    CommandLine: 'C:\\Windows\\x'\n  condition: sel\n");
    assert!(r.matches(&cmd("c:\\windows\\x")));
    // `?` is exactly one character.
    let r = rule("  sel:\n    CommandLine: 'a?c'\n  condition: sel\n");
    assert!(r.matches(&cmd("abc")));
    assert!(!r.matches(&cmd("abbc")));
}

#[test]
fn numbers_match_numbers_and_strings() {
    let r = rule("  sel:\n    EventID: 4688\n  condition: sel\n");
    assert!(r.matches(&ev(&[("EventID", Value::Int(4688))])));
    assert!(r.matches(&ev(&[("EventID", s("4688"))])));
    assert!(!r.matches(&ev(&[("EventID", Value::Int(46880))])));
    let r = rule("  sel:\n    EventID: '4688'\n  condition: sel\n");
    assert!(r.matches(&ev(&[("EventID", Value::Int(4688))])));
    // Numbers written unusually match as written and in canonical form.
    let r = rule("  sel:\n    V: 1.50\n  condition: sel\n");
    assert!(r.matches(&ev(&[("V", Value::Float(1.5))])));
    assert!(r.matches(&ev(&[("V", s("1.50"))])));
    let r = rule("  sel:\n    V: 007\n  condition: sel\n");
    assert!(r.matches(&ev(&[("V", Value::Int(7))])));
    assert!(r.matches(&ev(&[("V", s("007"))])));
    // A list value matches when any element does.
    let r = rule("  sel:\n    Tags: b\n  condition: sel\n");
    assert!(r.matches(&ev(&[("Tags", Value::List(vec![s("a"), s("B")]))])));
}

#[test]
fn value_lists_or_and_all() {
    let r = rule("  sel:\n    CommandLine|contains:\n      - foo\n      - bar\n  condition: sel\n");
    assert!(r.matches(&cmd("xx bar")));
    let r =
        rule("  sel:\n    CommandLine|contains|all:\n      - foo\n      - bar\n  condition: sel\n");
    assert!(!r.matches(&cmd("xx bar")));
    assert!(r.matches(&cmd("bar foo")));
    // `all` on a single value is rejected (the specification forbids it).
    let e = reject("  sel:\n    CommandLine|contains|all: foo\n  condition: sel\n");
    assert_eq!(e.reason.kind(), "invalid-modifiers");
}

#[test]
fn maps_and_lists_of_maps() {
    let r = rule("  sel:\n    - A: 1\n      B: 2\n    - C: 3\n  condition: sel\n");
    let n = Value::Int;
    assert!(r.matches(&ev(&[("A", n(1)), ("B", n(2))])));
    assert!(!r.matches(&ev(&[("A", n(1))])));
    assert!(r.matches(&ev(&[("C", n(3))])));
}

#[test]
fn null_empty_and_exists() {
    let r = rule("  sel:\n    Field: null\n  condition: sel\n");
    assert!(r.matches(&ev(&[])));
    assert!(r.matches(&ev(&[("Field", Value::Null)])));
    assert!(!r.matches(&ev(&[("Field", s(""))])));
    let r = rule("  sel:\n    Field: ''\n  condition: sel\n");
    assert!(r.matches(&ev(&[("Field", s(""))])));
    assert!(!r.matches(&ev(&[])));
    let r = rule("  sel:\n    Field|exists: true\n  condition: sel\n");
    assert!(r.matches(&ev(&[("Field", s(""))])));
    assert!(!r.matches(&ev(&[])));
    let r = rule("  sel:\n    Field|exists: false\n  condition: sel\n");
    assert!(r.matches(&ev(&[])));
    assert!(!r.matches(&ev(&[("Field", s("x"))])));
    // An absent field matches nothing else.
    let r = rule("  sel:\n    Field|contains: ''\n  condition: sel\n");
    assert!(!r.matches(&ev(&[])));
    // A condition that can never hold is rejected at load time.
    let e = reject("  sel:\n    Field|exists: false\n    Field: x\n  condition: sel\n");
    assert_eq!(e.reason.kind(), "cannot-fire");
    let e = reject("  sel: {}\n  condition: sel\n");
    assert_eq!(e.reason.kind(), "cannot-fire");
    let e = reject("  sel:\n    Field: []\n  condition: sel\n");
    assert_eq!(e.reason.kind(), "cannot-fire");
}

#[test]
fn neq_negates_the_item() {
    let r = rule("  sel:\n    User|neq: admin\n  condition: sel\n");
    assert!(r.matches(&ev(&[("User", s("bob"))])));
    assert!(!r.matches(&ev(&[("User", s("ADMIN"))])));
    assert!(r.matches(&ev(&[])));
}

#[test]
fn keywords_any_and_all() {
    let r = rule("  keywords:\n    - mimikatz\n    - 4688\n  condition: keywords\n");
    assert!(r.matches(&ev(&[("Msg", s("ran MimiKatz.exe"))])));
    assert!(r.matches(&ev(&[("Id", Value::Int(4688))])));
    assert!(!r.matches(&ev(&[("Msg", s("benign"))])));
    let r = rule("  keywords:\n    '|all':\n      - foo\n      - bar\n  condition: keywords\n");
    assert!(r.matches(&ev(&[("A", s("foo")), ("B", s("xbarx"))])));
    assert!(!r.matches(&ev(&[("A", s("foo"))])));
    let ex = r
        .detection
        .explain(&ev(&[("A", s("foo")), ("B", s("xbarx"))]));
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[1].field.as_deref(), Some("B"));
}

#[test]
fn regex_and_flags() {
    let r = rule("  sel:\n    CommandLine|re: 'ab+c'\n  condition: sel\n");
    assert!(r.matches(&cmd("xxabbbcxx")));
    assert!(!r.matches(&cmd("ABC")));
    let r = rule("  sel:\n    CommandLine|re|i: '^abc$'\n  condition: sel\n");
    assert!(r.matches(&cmd("ABC")));
    let r = rule("  sel:\n    CommandLine|re|m: '^b$'\n  condition: sel\n");
    assert!(r.matches(&cmd("a\nb\nc")));
    let r = rule("  sel:\n    CommandLine|re: '^b$'\n  condition: sel\n");
    assert!(!r.matches(&cmd("a\nb\nc")));
    let r = rule("  sel:\n    CommandLine|re|s: 'a.b'\n  condition: sel\n");
    assert!(r.matches(&cmd("a\nb")));
    let r = rule("  sel:\n    CommandLine|re: 'a.b'\n  condition: sel\n");
    assert!(!r.matches(&cmd("a\nb")));
}

#[test]
fn windash_matches_every_dash() {
    let r = rule("  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel\n");
    for d in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        assert!(r.matches(&cmd(&format!("powershell {d}enc AAA"))), "{d}");
    }
    assert!(!r.matches(&cmd("powershell +enc AAA")));
    // Not inside words.
    let r = rule("  sel:\n    CommandLine|windash|contains: 'file-name'\n  condition: sel\n");
    assert!(!r.matches(&cmd("file/name")));
}

#[test]
fn base64_offsets_find_the_value() {
    use base64::Engine as _;
    let r = rule("  sel:\n    CommandLine|base64offset|contains: 'http://'\n  condition: sel\n");
    for prefix in ["", "a", "ab", "abc"] {
        let enc =
            base64::engine::general_purpose::STANDARD.encode(format!("{prefix}http://x.example"));
        assert!(r.matches(&cmd(&enc)), "{prefix:?} {enc}");
    }
    assert!(!r.matches(&cmd(
        &base64::engine::general_purpose::STANDARD.encode("https://x")
    )));
    let r = rule("  sel:\n    CommandLine|base64: 'ab'\n  condition: sel\n");
    assert!(r.matches(&cmd("YWI=")));
}

#[test]
fn utf16_encodings_before_base64() {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let le: Vec<u8> = "ping".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = "ping".encode_utf16().flat_map(u16::to_be_bytes).collect();
    let r = rule("  sel:\n    C|wide|base64offset|contains: ping\n  condition: sel\n");
    assert!(r.matches(&ev(&[("C", s(&b64(&le)))])));
    let r = rule("  sel:\n    C|utf16le|base64: ping\n  condition: sel\n");
    assert!(r.matches(&ev(&[("C", s(&b64(&le)))])));
    let r = rule("  sel:\n    C|utf16be|base64: ping\n  condition: sel\n");
    assert!(r.matches(&ev(&[("C", s(&b64(&be)))])));
    let mut bom = vec![0xFF, 0xFE];
    bom.extend(&le);
    let r = rule("  sel:\n    C|utf16|base64: ping\n  condition: sel\n");
    assert!(r.matches(&ev(&[("C", s(&b64(&bom)))])));
}

#[test]
fn cidr_v4_and_v6() {
    let r =
        rule("  sel:\n    Ip|cidr:\n      - 10.0.0.0/8\n      - 'fe80::/10'\n  condition: sel\n");
    assert!(r.matches(&ev(&[("Ip", s("10.1.2.3"))])));
    assert!(r.matches(&ev(&[("Ip", s("::ffff:10.1.2.3"))])));
    assert!(r.matches(&ev(&[("Ip", s("fe80::1"))])));
    assert!(!r.matches(&ev(&[("Ip", s("11.0.0.1"))])));
    assert!(!r.matches(&ev(&[("Ip", s("not an ip"))])));
    assert_eq!(
        reject("  sel:\n    Ip|cidr: 10.0.0.0/99\n  condition: sel\n")
            .reason
            .kind(),
        "invalid-value"
    );
}

#[test]
fn fieldref_compares_fields() {
    let r = rule("  sel:\n    A|fieldref: B\n  condition: sel\n");
    assert!(r.matches(&ev(&[("A", s("x")), ("B", s("X"))])));
    assert!(!r.matches(&ev(&[("A", s("x")), ("B", s("y"))])));
    assert!(!r.matches(&ev(&[("A", s("x"))])));
    let r = rule("  sel:\n    A|fieldref|startswith: B\n  condition: sel\n");
    assert!(r.matches(&ev(&[("A", s("prefix-rest")), ("B", s("prefix"))])));
    let r = rule("  sel:\n    A|fieldref|endswith: B\n  condition: sel\n");
    assert!(r.matches(&ev(&[("A", s("x.exe")), ("B", s(".exe"))])));
    let r = rule("  sel:\n    A|fieldref|contains: B\n  condition: sel\n");
    assert!(r.matches(&ev(&[("A", s("aXb")), ("B", s("x"))])));
    let r = rule("  sel:\n    A|fieldref|neq: B\n  condition: sel\n");
    assert!(r.matches(&ev(&[("A", s("x")), ("B", s("y"))])));
    assert!(!r.matches(&ev(&[("A", s("x")), ("B", s("x"))])));
    assert_eq!(
        reject("  sel:\n    A|fieldref: 'B*'\n  condition: sel\n")
            .reason
            .kind(),
        "invalid-value"
    );
}

#[test]
fn numeric_comparisons() {
    let r = rule("  sel:\n    N|gt: -1.5\n  condition: sel\n");
    assert!(r.matches(&ev(&[("N", Value::Int(0))])));
    assert!(r.matches(&ev(&[("N", s("-1.25"))])));
    assert!(!r.matches(&ev(&[("N", Value::Float(-1.5))])));
    let r = rule("  sel:\n    N|gte: -1.5\n  condition: sel\n");
    assert!(r.matches(&ev(&[("N", Value::Float(-1.5))])));
    let r = rule("  sel:\n    N|lt: 10\n  condition: sel\n");
    assert!(r.matches(&ev(&[("N", s("0x9"))])));
    assert!(!r.matches(&ev(&[("N", s("abc"))])));
    let r = rule("  sel:\n    N|lte: 2.5\n  condition: sel\n");
    assert!(r.matches(&ev(&[("N", Value::Float(2.5))])));
    assert_eq!(
        reject("  sel:\n    N|lt: abc\n  condition: sel\n")
            .reason
            .kind(),
        "invalid-value"
    );
}

#[test]
fn time_parts() {
    let t = || ev(&[("T", s("2024-05-06T13:45:10Z"))]);
    assert!(rule("  sel:\n    T|hour: 13\n  condition: sel\n").matches(&t()));
    assert!(rule("  sel:\n    T|minute: 45\n  condition: sel\n").matches(&t()));
    assert!(rule("  sel:\n    T|day: 6\n  condition: sel\n").matches(&t()));
    assert!(rule("  sel:\n    T|month: 5\n  condition: sel\n").matches(&t()));
    assert!(rule("  sel:\n    T|year: 2024\n  condition: sel\n").matches(&t()));
    // 2024-05-06 is in ISO week 19.
    assert!(rule("  sel:\n    T|week: 19\n  condition: sel\n").matches(&t()));
    assert!(rule("  sel:\n    T|hour|gte: 12\n  condition: sel\n").matches(&t()));
    assert!(!rule("  sel:\n    T|hour|lt: 12\n  condition: sel\n").matches(&t()));
    // Space-separated dates and epoch seconds work too.
    assert!(
        rule("  sel:\n    T|hour: 7\n  condition: sel\n")
            .matches(&ev(&[("T", s("2025-11-27 07:40:10.132"))]))
    );
    assert!(
        rule("  sel:\n    T|year: 2023\n  condition: sel\n")
            .matches(&ev(&[("T", Value::Int(1_700_000_000))]))
    );
}

#[test]
fn expand_placeholders() {
    let mut p = HashMap::new();
    p.insert(
        "Workstations".to_string(),
        vec!["WS1".to_string(), "WS2".to_string()],
    );
    let r = parse_with(
        "  sel:\n    Host|expand: '%Workstations%'\n  condition: sel\n",
        &p,
    )
    .unwrap();
    assert!(r.matches(&ev(&[("Host", s("ws2"))])));
    assert!(!r.matches(&ev(&[("Host", s("ws3"))])));
    let e = reject("  sel:\n    Host|expand: '%Workstations%'\n  condition: sel\n");
    assert!(e.to_string().contains("%Workstations%"), "{e}");
    // Without `expand`, percent signs are literal.
    let r = rule("  sel:\n    Host: '%Workstations%'\n  condition: sel\n");
    assert!(r.matches(&ev(&[("Host", s("%workstations%"))])));
}

#[test]
fn conditions_precedence_and_underscore_identifiers() {
    let d = "  a:\n    A: 1\n  b:\n    B: 1\n  c:\n    C: 1\n  _x:\n    X: 1\n";
    let n = |v: i64| Value::Int(v);
    let r = rule(&format!("{d}  condition: a or b and not c\n"));
    assert!(r.matches(&ev(&[("A", n(1)), ("C", n(1))])));
    assert!(r.matches(&ev(&[("B", n(1))])));
    assert!(!r.matches(&ev(&[("B", n(1)), ("C", n(1))])));
    // `them` skips `_x`.
    let r = rule(&format!("{d}  condition: all of them\n"));
    assert!(r.matches(&ev(&[("A", n(1)), ("B", n(1)), ("C", n(1))])));
    let r = rule(&format!("{d}  condition: 1 of _*\n"));
    assert!(r.matches(&ev(&[("X", n(1))])));
    assert!(!r.matches(&ev(&[("A", n(1))])));
    // A list of conditions is OR'd.
    let r = rule(&format!("{d}  condition:\n    - a\n    - b\n"));
    assert!(r.matches(&ev(&[("B", n(1))])));
}

#[test]
fn explain_names_search_field_value_and_pattern() {
    let r = rule(
        "  selection:\n    Image|endswith: '\\whoami.exe'\n  filter:\n    User: SYSTEM\n  condition: selection and not filter\n",
    );
    let e = ev(&[
        ("Image", s("C:\\Windows\\System32\\whoami.exe")),
        ("User", s("bob")),
    ]);
    assert!(r.matches(&e));
    let ex = r.detection.explain(&e);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].search, "selection");
    assert_eq!(ex[0].field.as_deref(), Some("Image"));
    assert_eq!(ex[0].value, "C:\\Windows\\System32\\whoami.exe");
    assert_eq!(ex[0].pattern, "Image|endswith: \\whoami.exe");
}
