//! Linux logs (`linux/`): auditd `audit.log` files with records joined by serial, exact counts
//! per corpus file, field values of real records, and bad input counted with reasons.

mod common;

use common::{decode_mem, decode_path};
use vigil_core::Value;
use vigil_core::corpus::corpus_path;
use vigil_ingest::Format;

/// Exact per-file (format, events, errors), counted once from the corpus. The auditd files
/// hold 2 and 1 execve events (6 records each); the Sentinel `Syslog` exports are NDJSON.
const FILES: &[(&str, Format, u64, u64)] = &[
    (
        "otrf-security-datasets/sh_arp_cache_2020-11-10074812.log",
        Format::Auditd,
        2,
        0,
    ),
    (
        "otrf-security-datasets/sh_binary_padding_dd_2020-11-10081941.log",
        Format::Auditd,
        1,
        0,
    ),
    (
        "otrf-security-datasets/syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference_2022-05-11181020.json",
        Format::Json,
        50,
        0,
    ),
    (
        "otrf-security-datasets/syslog_sysmon_log4shell_cve2021_44228_jndi_reference_2022-05-11181020.json",
        Format::Json,
        93,
        0,
    ),
];

fn linux() -> Option<std::path::PathBuf> {
    corpus_path("linux")
}

fn text<'a>(event: &'a vigil_core::Event, name: &str) -> Option<&'a str> {
    event
        .get_str(name)
        .and_then(Value::as_text)
        .map(|t| t.as_str())
}

fn list(event: &vigil_core::Event, name: &str) -> Vec<String> {
    match event.get_str(name) {
        Some(Value::List(items)) => items
            .iter()
            .map(|v| {
                v.as_text()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default()
            })
            .collect(),
        Some(Value::Str(t)) => vec![t.as_str().to_string()],
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn corpus_counts() {
    let Some(dir) = linux() else { return };
    for (rel, format, events, errors) in FILES {
        let d = decode_path(&dir.join(rel), 0);
        for e in &d.errors {
            eprintln!("  {e}");
        }
        assert_eq!(
            (d.stats.format, d.stats.events, d.stats.errors),
            (*format, *events, *errors),
            "{rel}"
        );
        assert_eq!(d.events.len() as u64, *events);
    }
}

#[test]
fn auditd_execve_joined_with_syscall() {
    let Some(dir) = linux() else { return };
    let d = decode_path(
        &dir.join("otrf-security-datasets/sh_arp_cache_2020-11-10074812.log"),
        0,
    );
    let e = &d.events[0];
    assert_eq!(e.logsource.product.as_deref(), Some("linux"));
    assert_eq!(e.logsource.service.as_deref(), Some("auditd"));
    assert_eq!(text(e, "serial"), Some("92733"));
    assert_eq!(
        list(e, "type"),
        ["SYSCALL", "EXECVE", "CWD", "PATH", "PATH", "PROCTITLE"]
    );
    // SYSCALL's a0 (a pointer) and EXECVE's a0 (argv[0]) both kept.
    assert_eq!(list(e, "a0"), ["558e251634a0", "arp"]);
    assert_eq!(list(e, "a1"), ["558e25162a50", "-a"]);
    assert_eq!(text(e, "exe"), Some("/usr/sbin/arp"));
    assert_eq!(text(e, "comm"), Some("arp"));
    assert_eq!(text(e, "SYSCALL"), Some("execve"));
    assert_eq!(text(e, "syscall"), Some("59"));
    assert_eq!(text(e, "cwd"), Some("/home/wardog"));
    assert_eq!(text(e, "key"), Some("(null)"));
    assert_eq!(
        list(e, "name"),
        ["/usr/sbin/arp", "/lib64/ld-linux-x86-64.so.2"]
    );
    // 617270002D61 = "arp\0-a".
    assert_eq!(text(e, "proctitle"), Some("arp -a"));
    assert_eq!(
        e.time.map(|t| t.to_string()).as_deref(),
        Some("2020-11-10T07:48:16.155Z")
    );
    assert_eq!(e.source.record_id, Some(1));
    assert_eq!(e.source.offset, Some(0));
    assert_eq!(text(&d.events[1], "proctitle"), Some("grep -v ^?"));

    let d = decode_path(
        &dir.join("otrf-security-datasets/sh_binary_padding_dd_2020-11-10081941.log"),
        0,
    );
    let e = &d.events[0];
    assert_eq!(list(e, "a1"), ["558e251641a0", "if=/dev/zero"]);
    assert_eq!(text(e, "proctitle"), Some("dd if=/dev/zero bs=1 count=1"));
}

/// Records of two events interleaved: each still joins with its own serial.
#[test]
fn auditd_interleaved_serials() {
    let log = "\
type=SYSCALL msg=audit(1610000000.123:10): arch=c000003e syscall=59 success=yes exe=\"/bin/a\" key=\"k1\"
type=SYSCALL msg=audit(1610000000.124:11): arch=c000003e syscall=59 success=yes exe=\"/bin/b\" key=\"k2\"
type=EXECVE msg=audit(1610000000.123:10): argc=1 a0=\"a\"
type=EXECVE msg=audit(1610000000.124:11): argc=2 a0=\"b\" a1=2D2D6F7074696F6E2077697468207370616365
type=PROCTITLE msg=audit(1610000000.123:10): proctitle=2F62696E2F610078
type=EOE msg=audit(1610000000.124:11):
";
    let d = decode_mem("audit.log", log.as_bytes());
    assert_eq!(d.stats.format, Format::Auditd);
    assert_eq!((d.stats.events, d.stats.errors), (2, 0));
    // 11 ends first (EOE), then 10 at the end of input.
    let (b, a) = (&d.events[0], &d.events[1]);
    assert_eq!(text(a, "exe"), Some("/bin/a"));
    assert_eq!(list(a, "type"), ["SYSCALL", "EXECVE", "PROCTITLE"]);
    assert_eq!(list(a, "a0"), ["a"]);
    assert_eq!(text(a, "proctitle"), Some("/bin/a x"));
    assert_eq!(text(b, "exe"), Some("/bin/b"));
    assert_eq!(list(b, "type"), ["SYSCALL", "EXECVE", "EOE"]);
    // Hex-encoded EXECVE argument (it has spaces).
    assert_eq!(text(b, "a1"), Some("--option with space"));
    assert_eq!(text(b, "key"), Some("k2"));
}

/// A malformed line between good ones: one counted error with its offset; the run continues
/// and the event around it still joins.
#[test]
fn auditd_malformed_line() {
    let log = "\
type=SYSCALL msg=audit(1610000000.123:10): syscall=59 exe=\"/bin/a\"
type=EXECVE msg=audit(1610000000.123): argc=1 a0=\"a\"
garbage line
type=PATH msg=audit(1610000000.123:10): item=0 name=\"/bin/a\" nametype=NORMAL
";
    let d = decode_mem("audit.log", log.as_bytes());
    assert_eq!((d.stats.events, d.stats.errors), (1, 2));
    assert!(
        d.errors[0].reason.contains("has no `:SERIAL`"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.errors[0].offset, Some(67));
    assert!(d.errors[1].reason.contains("does not start with `type=`"));
    assert_eq!(d.errors[1].record, Some(3));
    let e = &d.events[0];
    assert_eq!(list(e, "type"), ["SYSCALL", "PATH"]);
    assert_eq!(text(e, "nametype"), Some("NORMAL"));
}

/// Non-corpus sanity: a file that is not auditd keeps its format.
#[test]
fn auditd_sniff_needs_msg_audit() {
    let d = decode_mem("x.json", b"{\"type\":\"SYSCALL\"}\n");
    assert_eq!(d.stats.format, Format::Json);
}
