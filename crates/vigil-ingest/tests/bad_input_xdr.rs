//! Bad input for the network, cloud, identity and Linux decoders, and forced formats: every
//! damaged record is a counted error with the file, offset and a reason, nothing panics, and
//! the records around it still decode. The inputs are built here (no corpus needed).

mod common;

use std::io::Write;

use common::decode_mem;
use vigil_core::Value;
use vigil_ingest::{
    DecodeError, DecodeOptions, FileStats, Format, IngestError, InputSpec, decode_bytes_as,
};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Decodes `bytes` as `format` (forced), collecting everything.
fn forced(
    name: &str,
    bytes: &[u8],
    format: Format,
) -> Result<(FileStats, Vec<vigil_core::Event>, Vec<DecodeError>), IngestError> {
    let (mut events, mut errors) = (Vec::new(), Vec::new());
    let spec = InputSpec {
        format: Some(format),
        ..InputSpec::default()
    };
    let stats = decode_bytes_as(
        name,
        bytes,
        &DecodeOptions::default(),
        &spec,
        &mut |e| events.push(e),
        &mut |e| errors.push(e),
    )?;
    assert_eq!(
        stats.errors as usize,
        errors.len(),
        "errors counted = reported"
    );
    assert_eq!(stats.events as usize, events.len());
    Ok((stats, events, errors))
}

const ZEEK_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n\
    #unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.resp_p\n\
    #types\ttime\tstring\taddr\tport\n";

fn zeek_tsv(lines: usize) -> String {
    let mut text = ZEEK_HEADER.to_string();
    for i in 0..lines {
        text.push_str(&format!(
            "{}.5\tC{i:017}\t10.0.{}.{}\t{}\n",
            1_700_000_000 + i,
            i / 250,
            i % 250,
            1024 + i
        ));
    }
    text
}

#[test]
fn truncated_zeek_gzip_keeps_what_precedes_the_cut() {
    let plain = zeek_tsv(3000);
    let full = gzip(plain.as_bytes());
    let d = decode_mem("conn.log.gz", &full);
    assert_eq!(
        (d.stats.format, d.stats.events, d.stats.errors),
        (Format::ZeekTsv, 3000, 0)
    );
    let cut = &full[..full.len() * 2 / 3];
    let d = decode_mem("conn.log.gz", cut);
    assert_eq!(d.stats.format, Format::ZeekTsv);
    assert_eq!(d.stats.errors as usize, d.errors.len());
    let gz = d
        .errors
        .iter()
        .find(|e| e.reason.contains("gzip stream broken after"))
        .unwrap_or_else(|| panic!("no gzip error in {:?}", d.errors));
    assert!(gz.to_string().starts_with("conn.log.gz @ offset "), "{gz}");
    assert!(
        d.stats.events > 1000 && d.stats.events < 3000,
        "{}",
        d.stats.events
    );
    // At most the line the cut went through is a second error (short columns).
    assert!(d.stats.errors <= 2, "{:?}", d.errors);
    // Cut inside the gzip header: nothing to decode, one error, still not a panic.
    let d = decode_mem("conn.log.gz", &full[..6]);
    assert_eq!((d.stats.events, d.stats.errors), (0, 1));
    assert!(
        d.errors[0].reason.contains("gzip stream broken after 0"),
        "{}",
        d.errors[0]
    );
}

#[test]
fn truncated_cloudtrail_gzip() {
    let record = |i: usize| {
        format!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/u{i}"}},"eventTime":"2026-11-30T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","requestParameters":{{"key":"k{i}"}}}}"#
        )
    };
    // The delivered shape: one envelope on one line. Cut, the envelope never closes, so its
    // records cannot be told apart: the gzip error and the JSON error are both reported.
    let envelope = format!(
        "{{\"Records\":[{}]}}",
        (0..400).map(record).collect::<Vec<_>>().join(",")
    );
    let full = gzip(envelope.as_bytes());
    let d = decode_mem("ct.json.gz", &full);
    assert_eq!(
        (d.stats.format, d.stats.events, d.stats.errors),
        (Format::CloudTrail, 400, 0)
    );
    let d = decode_mem("ct.json.gz", &full[..full.len() / 2]);
    assert_eq!(d.stats.events, 0);
    assert_eq!(d.stats.errors, 2, "{:?}", d.errors);
    assert!(
        d.errors[0].reason.contains("gzip stream broken"),
        "{}",
        d.errors[0]
    );
    assert!(
        d.errors[1]
            .reason
            .starts_with("record 1: invalid JSON at byte ")
            && d.errors[1].reason.contains("EOF"),
        "{}",
        d.errors[1]
    );
    // One record per line (CloudTrail Lake / Firehose exports): the lines before the cut
    // decode as CloudTrail.
    let lines: String = (0..400).map(|i| record(i) + "\n").collect();
    let full = gzip(lines.as_bytes());
    let d = decode_mem("ct.ndjson.gz", &full[..full.len() / 2]);
    assert_eq!(d.stats.format, Format::CloudTrail);
    assert!(
        d.stats.events > 100 && d.stats.events < 400,
        "{}",
        d.stats.events
    );
    assert!((1..=2).contains(&d.stats.errors), "{:?}", d.errors);
    assert!(d.events.iter().all(|e| {
        e.logsource == vigil_core::LogSource::product("aws").with_service("cloudtrail")
    }));
}

#[test]
fn headerless_zeek_tsv() {
    let body = "1700000000.5\tCabc\t10.0.0.1\t80\n1700000001.5\tCdef\t10.0.0.2\t443\n";
    // Sniffed: nothing says it is Zeek, so it is no format we know, with the first bytes.
    let err = vigil_ingest::decode_bytes(
        "conn.log",
        body.as_bytes(),
        &DecodeOptions::default(),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, IngestError::UnknownFormat { .. }), "{err}");
    assert!(err.to_string().contains("first bytes 31 37 30 30"), "{err}");
    // Forced: each line is a counted error saying the header is missing.
    let (stats, events, errors) = forced("conn.log", body.as_bytes(), Format::ZeekTsv).unwrap();
    assert_eq!((stats.events, stats.errors, events.len()), (0, 2, 0));
    assert_eq!(
        errors[1].to_string(),
        "conn.log @ offset 30: record 2: data line before the #fields header"
    );
}

#[test]
fn zeek_tsv_line_with_a_wrong_column_count() {
    let mut text = zeek_tsv(3);
    let bad_at = text.len();
    text.push_str("1700000009.5\tCshort\t10.0.0.9\n");
    text.push_str("1700000010.5\tClong\t10.0.0.10\t80\textra\n");
    text.push_str(&zeek_tsv(1)[ZEEK_HEADER.len()..]);
    let d = decode_mem("conn.log", text.as_bytes());
    assert_eq!((d.stats.events, d.stats.errors), (4, 2), "{:?}", d.errors);
    assert_eq!(d.errors[0].offset, Some(bad_at as u64));
    assert_eq!(d.errors[0].record, Some(4));
    assert!(
        d.errors[0]
            .reason
            .ends_with("3 columns, but #fields names 4"),
        "{}",
        d.errors[0]
    );
    assert!(d.errors[1].reason.contains("5 columns"), "{}", d.errors[1]);
    assert_eq!(
        d.events[3].get_str("uid"),
        Some(&Value::str("C00000000000000000"))
    );
}

#[test]
fn non_json_lines_in_suricata_eve() {
    let text = b"{\"timestamp\":\"2026-11-30T10:00:00.000000+0000\",\"event_type\":\"alert\",\"src_ip\":\"10.0.0.1\",\"alert\":{\"signature\":\"X\"}}\n\
                 <html>502 Bad Gateway</html>\n\
                 {\"timestamp\":\"2026-11-30T10:00:01.000000+0000\",\"event_type\":\"dns\",\"src_ip\":\"10.0.0.1\"\n\
                 {\"timestamp\":\"2026-11-30T10:00:02.000000+0000\",\"event_type\":\"flow\",\"src_ip\":\"10.0.0.1\"}\n";
    let d = decode_mem("eve.json", text);
    assert_eq!(d.stats.format, Format::SuricataEve);
    assert_eq!((d.stats.events, d.stats.errors), (2, 2), "{:?}", d.errors);
    // The HTML line is skipped with the JSON reader's reason; the unterminated record too.
    assert_eq!(d.errors[0].record, Some(2));
    assert!(
        d.errors[0]
            .reason
            .starts_with("record 2: invalid JSON at byte"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.errors[1].record, Some(3));
    let services: Vec<_> = d
        .events
        .iter()
        .map(|e| e.logsource.service.clone())
        .collect();
    assert_eq!(services, [Some("alert".into()), Some("flow".into())]);
    // A broken first line does not make the file generic JSON.
    let tail = &text[text.iter().position(|&b| b == b'\n').unwrap() + 1..];
    let mut first_broken = b"{\"timestamp\": oops\n".to_vec();
    first_broken.extend_from_slice(tail);
    let d = decode_mem("eve.json", &first_broken);
    assert_eq!(d.stats.format, Format::SuricataEve);
    // The broken first record's error covers the HTML line too: resynchronising skips to the
    // next line that opens an object.
    assert_eq!((d.stats.events, d.stats.errors), (1, 2), "{:?}", d.errors);
    assert_eq!(d.events[0].logsource.service.as_deref(), Some("flow"));
}

#[test]
fn non_json_lines_in_okta_ndjson() {
    let okta = |i: u32| {
        format!(
            r#"{{"uuid":"u{i}","published":"2026-11-30T10:0{i}:00.000Z","eventType":"user.session.start","actor":{{"alternateId":"a{i}@example.com"}},"legacyEventType":"core.user_auth.login_success"}}"#
        )
    };
    let text = format!(
        "{}\n# exported by a script\n{}\n\u{0}\u{1}binary\n{{\"uuid\": \"u9\", \"published\": }}\n{}\n",
        okta(1),
        okta(2),
        okta(3)
    );
    let d = decode_mem("okta.ndjson", text.as_bytes());
    assert_eq!(d.stats.format, Format::Okta);
    assert_eq!((d.stats.events, d.stats.errors), (3, 3), "{:?}", d.errors);
    for e in &d.errors {
        assert!(e.reason.contains("invalid JSON"), "{e}");
        assert!(e.to_string().starts_with("okta.ndjson @ offset "), "{e}");
    }
    assert!(
        d.events
            .iter()
            .all(|e| e.logsource.product.as_deref() == Some("okta"))
    );
    assert_eq!(
        d.events[2].get_str("actor.alternateId"),
        Some(&Value::str("a3@example.com"))
    );
}

#[test]
fn auditd_interleaved_out_of_order_and_unclosed() {
    let text = "\
type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=59 success=yes exe=\"/usr/bin/id\" key=\"x\"
type=SYSCALL msg=audit(1700000000.200:11): arch=c000003e syscall=59 success=yes exe=\"/usr/bin/w\"
type=EXECVE msg=audit(1700000000.100:10): argc=1 a0=\"id\"
type=EXECVE msg=audit(1700000000.200:11): argc=1 a0=\"w\"
type=EOE msg=audit(1700000000.200:11): 
type=EOE msg=audit(1700000000.100:10): 
type=PATH msg=audit(1700000000.100:10): item=0 name=\"/usr/bin/id\"
type=EOE msg=audit(1700000000.300:12): 
type=SYSCALL msg=audit(1700000000.300:12): arch=c000003e syscall=2 success=yes exe=\"/usr/bin/cat\"
this is not an audit record
type=SYSCALL msg=audit(1700000000.400:13): arch=c000003e syscall=59 success=yes exe=\"/usr/bin/curl\"
type=EXECVE msg=audit(1700000000.400:13): argc=2 a0=\"curl\" a1=\"http://x\"
";
    let d = decode_mem("audit.log", text.as_bytes());
    assert_eq!(d.stats.format, Format::Auditd);
    for e in &d.errors {
        eprintln!("{e}");
    }
    // Interleaved serials 10 and 11 are joined each into its own event (emitted at their EOE,
    // 11 first).
    let serial = |e: &vigil_core::Event| e.get_str("serial").unwrap().to_string();
    let serials: Vec<String> = d.events.iter().map(serial).collect();
    assert_eq!(serials, ["11", "10", "12", "13"]);
    let (e11, e10) = (&d.events[0], &d.events[1]);
    assert_eq!(e10.get_str("a0"), Some(&Value::str("id")));
    assert_eq!(e10.get_str("exe"), Some(&Value::str("/usr/bin/id")));
    // The late PATH record was not joined (nor made an event of its own).
    assert_eq!(e10.get_str("name"), None);
    assert_eq!(e11.get_str("exe"), Some(&Value::str("/usr/bin/w")));
    assert_eq!(
        e11.get_str("type"),
        Some(&Value::List(vec![
            Value::str("SYSCALL"),
            Value::str("EXECVE"),
            Value::str("EOE")
        ]))
    );
    // Out of order: the PATH record after serial 10's EOE, and serial 12's EOE before its
    // SYSCALL, are counted errors that say so; the garbage line too.
    assert_eq!(d.stats.errors, 3, "{:?}", d.errors);
    assert!(
        d.errors[0].reason.starts_with(
            "line 7: PATH record of audit(1700000000.100:10) comes after that event was emitted"
        ),
        "{}",
        d.errors[0]
    );
    assert!(
        d.errors[1]
            .reason
            .starts_with("line 8: EOE of audit(1700000000.300:12) before any other record"),
        "{}",
        d.errors[1]
    );
    assert!(
        d.errors[2]
            .reason
            .starts_with("line 10: does not start with `type=`"),
        "{}",
        d.errors[2]
    );
    // Serial 12 (its EOE skipped) and 13 (never closed) are still emitted at the end, whole.
    assert_eq!(
        d.events[2].get_str("exe"),
        Some(&Value::str("/usr/bin/cat"))
    );
    assert_eq!(d.events[3].get_str("a1"), Some(&Value::str("http://x")));
    assert_eq!(d.events[3].get_str("SYSCALL"), Some(&Value::str("execve")));
}

#[test]
fn syslog_garbage_lines() {
    let text =
        b"Nov 30 10:05:01 web-1 sshd[1]: Accepted publickey for a from 10.0.0.1 port 2 ssh2\n\
                 \xff\xfe\x00garbage\x01\n\
                 <999>Nov 30 10:05:02 web-1 su: x\n\
                 Nov 30 10:05\n\
                 <34>1 2026-11-30T10:05:03Z web-1 sudo - - [broken sd\n\
                 Nov 30 10:05:04 web-1 CRON[2]: (root) CMD (true)\n";
    let d = decode_mem("auth.log", text);
    assert_eq!(d.stats.format, Format::Syslog);
    assert_eq!((d.stats.events, d.stats.errors), (2, 4), "{:?}", d.errors);
    let lines: Vec<u64> = d.errors.iter().map(|e| e.record.unwrap()).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    for e in &d.errors {
        assert!(e.reason.contains(": not syslog: "), "{e}");
    }
    assert!(
        d.errors[1].reason.contains("PRI `999` is not 0–191"),
        "{}",
        d.errors[1]
    );
    assert!(
        d.errors[3].reason.contains("unterminated structured data"),
        "{}",
        d.errors[3]
    );
    // Forced syslog on a file whose first line is garbage (the sniffer refuses it): the lines
    // that are syslog still decode.
    let second_line = text.iter().position(|&b| b == b'\n').unwrap() + 1;
    let (stats, events, errors) = forced("auth.log", &text[second_line..], Format::Syslog).unwrap();
    assert_eq!((stats.events, stats.errors), (1, 4), "{errors:?}");
    assert_eq!(events[0].get_str("program"), Some(&Value::str("CRON")));
}

#[test]
fn forced_formats_on_the_right_and_wrong_bytes() {
    let eve = b"{\"timestamp\":\"2026-11-30T10:00:00Z\",\"event_type\":\"alert\",\"src_ip\":\"10.0.0.1\"}\n";
    // Right bytes: the same events the sniffer gives.
    let sniffed = decode_mem("eve.json", eve);
    let (stats, events, _) = forced("eve.json", eve, Format::SuricataEve).unwrap();
    assert_eq!(
        (stats.format, stats.events, stats.errors),
        (Format::SuricataEve, 1, 0)
    );
    assert_eq!(events[0].fields(), sniffed.events[0].fields());
    assert_eq!(events[0].logsource, sniffed.events[0].logsource);
    // A Zeek JSON record without `_path` in a file not named like a Zeek log: the sniffer
    // calls it generic JSON, forcing zeek-json gives it the Zeek logsource.
    let zeek = b"{\"ts\":1700000000.5,\"query\":\"example.org\"}\n";
    assert_eq!(decode_mem("export.json", zeek).stats.format, Format::Json);
    let (_, events, _) = forced("export.json", zeek, Format::ZeekJson).unwrap();
    assert_eq!(events[0].logsource.product.as_deref(), Some("zeek"));
    // Wrong records: counted errors with the reason, no event with a wrong logsource.
    let (stats, events, errors) = forced("eve.json", eve, Format::CloudTrail).unwrap();
    assert_eq!(
        (stats.format, stats.events, stats.errors, events.len()),
        (Format::CloudTrail, 0, 1, 0)
    );
    assert!(
        errors[0]
            .reason
            .starts_with("record 1: not a CloudTrail record"),
        "{}",
        errors[0]
    );
    let (_, _, errors) = forced("x.json", b"{\"a\":1}\n", Format::SuricataEve).unwrap();
    assert!(
        errors[0].reason.contains("no `event_type`"),
        "{}",
        errors[0]
    );
    let (_, _, errors) = forced("x.json", b"{\"a\":1}\n", Format::ZeekJson).unwrap();
    assert!(
        errors[0].reason.contains("neither `ts` nor `_path`"),
        "{}",
        errors[0]
    );
    // Wrong bytes: the file is refused with the reason.
    let err = forced("eve.json", eve, Format::Evtx).unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::FormatMismatch {
                format: Format::Evtx,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "eve.json: not evtx as forced: no EVTX file header (`ElfFile\\0`); first bytes 7b 22 74 69 6d 65 73 74"
    );
    let err = forced("a.log", b"type=EOE msg=audit(1.0:1): \n", Format::Okta).unwrap_err();
    assert!(
        err.to_string()
            .contains("not okta as forced: JSON starts with"),
        "{err}"
    );
    // Lines forced to auditd: every line that is not audit is a counted error.
    let (stats, _, errors) = forced("eve.json", eve, Format::Auditd).unwrap();
    assert_eq!((stats.events, stats.errors), (0, 1));
    assert!(
        errors[0].reason.contains("does not start with `type=`"),
        "{}",
        errors[0]
    );
    // Forced and gzip: decompressed first.
    let (stats, events, _) = forced("eve.json.gz", &gzip(eve), Format::SuricataEve).unwrap();
    assert_eq!((stats.format, events.len()), (Format::SuricataEve, 1));
    // A blank file stays empty whatever is forced.
    let (stats, _, _) = forced("blank", b"  \n", Format::Syslog).unwrap();
    assert_eq!((stats.format, stats.errors), (Format::Empty, 1));
    // Names parse back, `entra` included; an unknown one says which exist.
    for f in Format::SELECTABLE {
        assert_eq!(f.to_string().parse::<Format>(), Ok(f));
    }
    assert_eq!("entra".parse::<Format>(), Ok(Format::Azure));
    let err = "pcap".parse::<Format>().unwrap_err().to_string();
    assert!(
        err.contains("unknown input format `pcap`") && err.contains("zeek-tsv"),
        "{err}"
    );
}
