//! Zeek (TSV, JSON, gzip) and Suricata EVE: every corpus file with its exact event count and no
//! errors, field values of real records, logsource, and bad input counted with reasons.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{decode_mem, decode_path};
use vigil_core::Value;
use vigil_core::corpus::corpus_path;
use vigil_ingest::Format;

/// Every log file under `dir` (licences, READMEs, label configs and signature lists skipped).
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                stack.push(path);
            } else if !(name.starts_with("LICENSE")
                || [".md", ".txt", ".config"].iter().any(|e| name.ends_with(e)))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Decodes every file of `dir` and prints `relative format events errors` lines.
fn census(dir: &Path) -> Vec<(String, Format, u64, u64)> {
    log_files(dir)
        .iter()
        .map(|f| {
            let d = decode_path(f, 0);
            assert_eq!(d.stats.errors as usize, d.errors.len());
            assert_eq!(d.stats.events as usize, d.events.len());
            for e in d.errors.iter().take(3) {
                eprintln!("  {e}");
            }
            let rel = f
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, d.stats.format, d.stats.events, d.stats.errors)
        })
        .collect()
}

/// Exact per-file (format, events, errors), counted once from the corpora.
const ZEEK: &[(&str, Format, u64, u64)] = &[
    (
        "slips/port-scans/horizontal/conn.log",
        Format::ZeekTsv,
        41,
        0,
    ),
    (
        "slips/port-scans/vertical/conn.log",
        Format::ZeekJson,
        50,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/capture_loss.log",
        Format::ZeekTsv,
        1,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/conn.log",
        Format::ZeekTsv,
        141,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/dns.log",
        Format::ZeekTsv,
        93,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/files.log",
        Format::ZeekTsv,
        6,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/loaded_scripts.log",
        Format::ZeekTsv,
        403,
        0,
    ),
    // Line 21 of this file really is broken: its last columns are joined by spaces (23
    // columns for 26 names); the error is reported, the other 12 records decode.
    (
        "slips/test10-mixed-zeek-dir/notice.log",
        Format::ZeekTsv,
        12,
        1,
    ),
    (
        "slips/test10-mixed-zeek-dir/packet_filter.log",
        Format::ZeekTsv,
        1,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/reporter.log",
        Format::ZeekTsv,
        2,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/ssl.log",
        Format::ZeekTsv,
        13,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/weird.log",
        Format::ZeekTsv,
        2,
        0,
    ),
    (
        "slips/test10-mixed-zeek-dir/x509.log",
        Format::ZeekTsv,
        2,
        0,
    ),
    (
        "slips/test13-malicious-dhcpscan-zeek-dir/conn.log",
        Format::ZeekJson,
        2,
        0,
    ),
    (
        "slips/test13-malicious-dhcpscan-zeek-dir/dhcp.log",
        Format::ZeekJson,
        10,
        0,
    ),
    (
        "slips/test14-malicious-zeek-dir/conn.log",
        Format::ZeekJson,
        5,
        0,
    ),
    (
        "slips/test14-malicious-zeek-dir/http.log",
        Format::ZeekJson,
        521,
        0,
    ),
    (
        "slips/test14-malicious-zeek-dir/smtp.log",
        Format::ZeekJson,
        5,
        0,
    ),
    (
        "slips/test14-malicious-zeek-dir/tunnel.log",
        Format::ZeekJson,
        2,
        0,
    ),
    (
        "slips/test15-malicious-zeek-dir/conn.log",
        Format::ZeekJson,
        2,
        0,
    ),
    (
        "slips/test15-malicious-zeek-dir/software.log",
        Format::ZeekJson,
        3,
        0,
    ),
    (
        "slips/test15-malicious-zeek-dir/ssl.log",
        Format::ZeekJson,
        206,
        0,
    ),
    (
        "slips/test16-malicious-zeek-dir/arp.log",
        Format::ZeekJson,
        2,
        0,
    ),
    (
        "slips/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled",
        Format::ZeekTsv,
        766,
        0,
    ),
    (
        "slips/test18-malicious-ctu-sme-11-win/zeek-labeled/dhcp.log.labeled",
        Format::ZeekTsv,
        1,
        0,
    ),
    (
        "slips/test18-malicious-ctu-sme-11-win/zeek-labeled/dns.log.labeled",
        Format::ZeekTsv,
        22,
        0,
    ),
    (
        "slips/test18-malicious-ctu-sme-11-win/zeek-labeled/notice.log.labeled",
        Format::ZeekTsv,
        2,
        0,
    ),
    (
        "slips/test18-malicious-ctu-sme-11-win/zeek-labeled/quic.log.labeled",
        Format::ZeekTsv,
        2,
        0,
    ),
    (
        "slips/test18-malicious-ctu-sme-11-win/zeek-labeled/ssl.log.labeled",
        Format::ZeekTsv,
        2,
        0,
    ),
    // Headers only.
    (
        "slips/test18-malicious-ctu-sme-11-win/zeek-labeled/telemetry.log.labeled",
        Format::ZeekTsv,
        0,
        0,
    ),
    ("slips/test9-mixed-zeek-dir/arp.log", Format::ZeekJson, 2, 0),
    (
        "slips/test9-mixed-zeek-dir/conn.log",
        Format::ZeekJson,
        576,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/dhcp.log",
        Format::ZeekJson,
        5,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/dns.log",
        Format::ZeekJson,
        239,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/files.log",
        Format::ZeekJson,
        936,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/http.log",
        Format::ZeekJson,
        516,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/loaded_scripts.log",
        Format::ZeekJson,
        402,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/notice.log",
        Format::ZeekJson,
        18,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/packet_filter.log",
        Format::ZeekJson,
        1,
        0,
    ),
    ("slips/test9-mixed-zeek-dir/pe.log", Format::ZeekJson, 1, 0),
    (
        "slips/test9-mixed-zeek-dir/smtp.log",
        Format::ZeekJson,
        5,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/software.log",
        Format::ZeekJson,
        3,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/ssl.log",
        Format::ZeekJson,
        205,
        0,
    ),
    (
        "slips/test9-mixed-zeek-dir/x509.log",
        Format::ZeekJson,
        154,
        0,
    ),
    ("zed-sample-data/dce_rpc.json.gz", Format::ZeekJson, 78, 0),
    ("zed-sample-data/dpd.json.gz", Format::ZeekJson, 77, 0),
    ("zed-sample-data/ftp.json.gz", Format::ZeekJson, 93, 0),
    ("zed-sample-data/kerberos.json.gz", Format::ZeekJson, 11, 0),
    (
        "zed-sample-data/known_services.json.gz",
        Format::ZeekJson,
        1579,
        0,
    ),
    ("zed-sample-data/notice.json.gz", Format::ZeekJson, 207, 0),
    ("zed-sample-data/ntlm.json.gz", Format::ZeekJson, 422, 0),
    ("zed-sample-data/pe.json.gz", Format::ZeekJson, 21, 0),
    ("zed-sample-data/rdp.json.gz", Format::ZeekJson, 4122, 0),
    ("zed-sample-data/smb_files.json.gz", Format::ZeekJson, 13, 0),
    (
        "zed-sample-data/smb_mapping.json.gz",
        Format::ZeekJson,
        393,
        0,
    ),
    ("zed-sample-data/smtp.json.gz", Format::ZeekJson, 1188, 0),
    ("zed-sample-data/snmp.json.gz", Format::ZeekJson, 65, 0),
    ("zed-sample-data/software.json.gz", Format::ZeekJson, 376, 0),
    ("zed-sample-data/ssh.json.gz", Format::ZeekJson, 22, 0),
];

const SURICATA: &[(&str, Format, u64, u64)] = &[
    (
        "slips/test6-malicious.suricata.json",
        Format::SuricataEve,
        5000,
        0,
    ),
    (
        "suricata-sample-data/first-org-conf-2015/alerts-only.json",
        Format::SuricataEve,
        136,
        0,
    ),
    (
        "suricata-sample-data/honeypot-2018/alerts-only.json",
        Format::SuricataEve,
        44,
        0,
    ),
    (
        "suricata-sample-data/wrccdc-2017/alerts-only.json",
        Format::SuricataEve,
        161,
        0,
    ),
    (
        "suricata-sample-data/wrccdc-2018/alerts-only.json",
        Format::SuricataEve,
        207,
        0,
    ),
];

#[test]
fn every_corpus_file_decodes_with_exact_counts() {
    for (name, want) in [("zeek", ZEEK), ("suricata", SURICATA)] {
        let Some(dir) = corpus_path(name) else {
            return;
        };
        let got = census(&dir);
        let want: Vec<_> = want
            .iter()
            .map(|(f, fmt, e, r)| (f.to_string(), *fmt, *e, *r))
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

/// Every event of a Zeek file is `product: zeek` with its log as service.
#[test]
fn zeek_logsource_for_every_event() {
    let Some(dir) = corpus_path("zeek") else {
        return;
    };
    for f in log_files(&dir) {
        let d = decode_path(&f, 0);
        let stem = f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .split('.')
            .next()
            .unwrap()
            .to_string();
        for e in &d.events {
            assert_eq!(
                e.logsource.product.as_deref(),
                Some("zeek"),
                "{}",
                f.display()
            );
            assert_eq!(
                e.logsource.service.as_deref(),
                Some(stem.as_str()),
                "{}",
                f.display()
            );
        }
    }
}

fn ts(text: &str) -> Option<jiff::Timestamp> {
    Some(text.parse().unwrap())
}

#[test]
fn zeek_tsv_conn_record() {
    let Some(f) = corpus_path("zeek/slips/port-scans/horizontal/conn.log") else {
        return;
    };
    let d = decode_path(&f, 0);
    let e = &d.events[0];
    assert_eq!(e.get_str("uid"), Some(&Value::str("Cxl7TP23vZQ4RolkJf")));
    assert_eq!(e.get_str("id.orig_h"), Some(&Value::str("10.0.2.112")));
    assert_eq!(e.get_str("id.orig_p"), Some(&Value::Int(49168)));
    assert_eq!(e.get_str("id.resp_p"), Some(&Value::Int(80)));
    assert_eq!(e.get_str("service"), Some(&Value::str("http")));
    assert_eq!(e.get_str("duration"), Some(&Value::Float(0.055687)));
    assert_eq!(e.get_str("ts"), Some(&Value::Float(928.943457)));
    assert_eq!(e.get_str("local_orig"), None, "`-` is unset: absent");
    assert_eq!(
        e.get_str("tunnel_parents"),
        Some(&Value::List(vec![])),
        "(empty)"
    );
    assert_eq!(e.logsource.to_string(), "product: zeek, service: conn");
    assert_eq!(e.time, ts("1970-01-01T00:15:28.943457Z"));
    assert_eq!(
        (e.source.record_id, e.source.offset.is_some()),
        (Some(1), true)
    );

    // The labelled CTU file: bools, extra label columns.
    let Some(f) =
        corpus_path("zeek/slips/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled")
    else {
        return;
    };
    let d = decode_path(&f, 0);
    let e = &d.events[0];
    assert_eq!(e.get_str("id.resp_h"), Some(&Value::str("66.63.168.35")));
    assert_eq!(e.get_str("id.resp_p"), Some(&Value::Int(5888)));
    assert_eq!(e.get_str("local_orig"), Some(&Value::Bool(true)));
    assert_eq!(e.get_str("local_resp"), Some(&Value::Bool(false)));
    assert_eq!(e.get_str("orig_pkts"), Some(&Value::Int(2)));
    assert_eq!(e.get_str("label"), Some(&Value::str("Malicious")));
    assert_eq!(e.time, ts("2023-02-22T00:00:03.714845Z"));
}

#[test]
fn zeek_json_records() {
    let Some(f) = corpus_path("zeek/slips/test9-mixed-zeek-dir/dns.log") else {
        return;
    };
    let d = decode_path(&f, 0);
    assert_eq!(d.stats.format, Format::ZeekJson);
    let e = &d.events[0];
    assert_eq!(e.get_str("query"), Some(&Value::str("isatap.felk.cvut.cz")));
    assert_eq!(e.get_str("id.orig_h"), Some(&Value::str("10.0.2.15")));
    assert_eq!(e.get_str("id.resp_p"), Some(&Value::Int(53)));
    assert_eq!(e.get_str("rcode_name"), Some(&Value::str("NXDOMAIN")));
    assert_eq!(e.get_str("AA"), Some(&Value::Bool(false)));
    // No `_path`: the service comes from the file name.
    assert_eq!(e.logsource.to_string(), "product: zeek, service: dns");

    // gzip, `_path`, RFC 3339 `ts`; the record's own `service` field is not the logsource.
    let Some(f) = corpus_path("zeek/zed-sample-data/kerberos.json.gz") else {
        return;
    };
    let d = decode_path(&f, 0);
    let e = &d.events[0];
    assert_eq!(e.get_str("id.orig_h"), Some(&Value::str("10.128.0.241")));
    assert_eq!(e.get_str("id.resp_p"), Some(&Value::Int(808)));
    assert_eq!(e.get_str("service"), Some(&Value::str("krbtgt/NM")));
    assert_eq!(e.get_str("forwardable"), Some(&Value::Bool(true)));
    assert_eq!(e.logsource.to_string(), "product: zeek, service: kerberos");
    assert_eq!(e.time, ts("2018-03-24T17:18:05.713879Z"));
}

#[test]
fn suricata_eve_records() {
    let Some(f) = corpus_path("suricata/slips/test6-malicious.suricata.json") else {
        return;
    };
    let d = decode_path(&f, 0);
    assert_eq!(d.stats.format, Format::SuricataEve);
    let e = &d.events[0];
    assert_eq!(
        e.get_str("alert.signature"),
        Some(&Value::str(
            "ET CINS Active Threat Intelligence Poor Reputation IP group 89"
        ))
    );
    assert_eq!(e.get_str("alert.signature_id"), Some(&Value::Int(2403388)));
    assert_eq!(
        e.get_str("alert.category"),
        Some(&Value::str("Misc Attack"))
    );
    assert_eq!(
        e.get_str("alert.metadata.tag"),
        Some(&Value::List(vec![Value::str("CINS")]))
    );
    assert_eq!(e.get_str("src_ip"), Some(&Value::str("78.36.196.213")));
    assert_eq!(e.get_str("dest_port"), Some(&Value::Int(445)));
    assert_eq!(e.get_str("flow.pkts_toserver"), Some(&Value::Int(1)));
    assert_eq!(e.logsource.to_string(), "product: suricata, service: alert");
    assert_eq!(e.time, ts("2021-06-06T13:59:46.457984Z"));
    // Services follow event_type (SOURCE.md's counts).
    let mut by_type = std::collections::BTreeMap::new();
    for e in &d.events {
        *by_type
            .entry(e.logsource.service.clone().unwrap())
            .or_insert(0) += 1;
        assert!(e.time.is_some());
    }
    let want = [
        ("alert", 745),
        ("anomaly", 3),
        ("dns", 680),
        ("fileinfo", 3),
        ("flow", 3512),
        ("http", 56),
        ("tls", 1),
    ];
    let want: std::collections::BTreeMap<String, i32> =
        want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(by_type, want);

    // A pretty-printed array of alerts.
    let Some(f) = corpus_path("suricata/suricata-sample-data/honeypot-2018/alerts-only.json")
    else {
        return;
    };
    let d = decode_path(&f, 0);
    assert_eq!(d.stats.json_shape, Some(vigil_ingest::JsonShape::Array));
    assert!(d.events.iter().all(|e| e.logsource.to_string()
        == "product: suricata, service: alert"
        && e.get_str("alert.signature").is_some()));
}

// ---- bad input ----

const HEADER: &str =
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n";

#[test]
fn zeek_tsv_without_fields_header() {
    let text = format!("{HEADER}1.0\tC1\t10.0.0.1\n2.0\tC2\t10.0.0.2\n");
    let d = decode_mem("conn.log", text.as_bytes());
    assert_eq!(
        (d.stats.format, d.stats.events, d.stats.errors),
        (Format::ZeekTsv, 0, 2)
    );
    assert!(
        d.errors[0].reason.contains("before the #fields header"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.errors[1].offset, Some(HEADER.len() as u64 + 16));
    // No header at all: not recognisable, a reasoned failure for this file only.
    let err = vigil_ingest::decode_bytes(
        "conn.log",
        b"1.0\tC1\t10.0.0.1\n",
        &Default::default(),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("match no known format"), "{err}");
}

#[test]
fn zeek_tsv_wrong_columns_and_bad_values() {
    let Some(f) = corpus_path("zeek/slips/port-scans/horizontal/conn.log") else {
        return;
    };
    let text = std::fs::read_to_string(f).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let first_data = lines.iter().position(|l| !l.starts_with('#')).unwrap();
    // Record 2 loses its last column; record 3 gets a non-numeric port.
    let cut = lines[first_data + 1].rfind('\t').unwrap();
    lines[first_data + 1].truncate(cut);
    let mut cols: Vec<&str> = lines[first_data + 2].split('\t').collect();
    cols[5] = "eighty";
    lines[first_data + 2] = cols.join("\t");
    let bad = lines.join("\n");
    let offset2 = lines[..first_data + 1]
        .iter()
        .map(|l| l.len() + 1)
        .sum::<usize>() as u64;
    let d = decode_mem("conn.log", bad.as_bytes());
    assert_eq!((d.stats.events, d.stats.errors), (39, 2), "{:?}", d.errors);
    assert!(
        d.errors[0]
            .reason
            .contains("20 columns, but #fields names 21"),
        "{}",
        d.errors[0]
    );
    assert_eq!(
        (d.errors[0].offset, d.errors[0].record),
        (Some(offset2), Some(2))
    );
    assert!(
        d.errors[1]
            .reason
            .contains("column `id.resp_p`: `eighty` is not an integer"),
        "{}",
        d.errors[1]
    );
    assert_eq!(d.events[1].source.record_id, Some(4), "decoding went on");
}

#[test]
fn eve_with_a_non_json_line() {
    let Some(f) = corpus_path("suricata/slips/test6-malicious.suricata.json") else {
        return;
    };
    let text = std::fs::read_to_string(f).unwrap();
    let mut lines: Vec<&str> = text.lines().take(3).collect();
    lines.insert(1, "Jun  6 15:59:46 sensor suricata[42]: not json");
    let bad = lines.join("\n");
    let d = decode_mem("eve.json", bad.as_bytes());
    assert_eq!(
        (d.stats.format, d.stats.events, d.stats.errors),
        (Format::SuricataEve, 3, 1)
    );
    assert!(
        d.errors[0].reason.contains("invalid JSON"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.errors[0].record, Some(2));
    assert!(
        d.events
            .iter()
            .all(|e| e.logsource.product.as_deref() == Some("suricata"))
    );
}

#[test]
fn truncated_gzip() {
    let Some(f) = corpus_path("zeek/zed-sample-data/rdp.json.gz") else {
        return;
    };
    let gz = std::fs::read(f).unwrap();
    let d = decode_mem("rdp.json.gz", &gz[..gz.len() / 2]);
    assert_eq!(d.stats.format, Format::ZeekJson);
    assert!(
        d.events.len() > 1000 && d.events.len() < 4122,
        "{}",
        d.events.len()
    );
    assert!(
        d.errors
            .iter()
            .any(|e| e.reason.contains("gzip stream broken")),
        "{:?}",
        d.errors
    );
    assert_eq!(d.stats.errors as usize, d.errors.len());
    assert!(
        d.errors.len() <= 2,
        "the gzip error and at most one cut record: {:?}",
        d.errors
    );
    // Only the gzip header: one error, no events.
    let d = decode_mem("x.gz", &gz[..12]);
    assert_eq!((d.stats.events, d.stats.errors), (0, 1));
    // A whole gzip made here decodes like the plain text.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(format!("{HEADER}#fields\tts\tuid\n#types\ttime\tstring\n1.5\tC1\n").as_bytes())
        .unwrap();
    let d = decode_mem("conn.log.gz", &enc.finish().unwrap());
    assert_eq!(
        (d.stats.format, d.stats.events, d.stats.errors),
        (Format::ZeekTsv, 1, 0)
    );
}
