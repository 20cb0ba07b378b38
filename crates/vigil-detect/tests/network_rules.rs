//! Network corpora (`zeek/`, `suricata/`): a SigmaHQ `product: zeek` rule fires on a specific
//! real Zeek record, a second one on a Zeek TSV record (a self-made variant of a real one), and
//! SigmaHQ has no rule for Suricata, with all SigmaHQ rules loaded.

mod common;
use common::fired;

use std::path::Path;

use vigil_core::Event;
use vigil_ingest::{DecodeOptions, decode_bytes, decode_file};

/// Every event of one corpus file (gzip included), with no decode error.
fn events(path: &Path) -> Vec<Event> {
    let mut out = Vec::new();
    let stats = decode_file(
        path,
        &DecodeOptions::default(),
        &mut |e| out.push(e),
        &mut |e| panic!("{e}"),
    )
    .unwrap();
    assert_eq!(stats.errors, 0);
    out
}

fn text<'e>(e: &'e Event, name: &str) -> Option<&'e str> {
    e.get_str(name)?.as_text().map(|t| t.as_str())
}

const BZAR_EXECUTION: &str = "b640c0b8-87f8-4daa-aef8-95a24261dd1d";
const DNS_MINING_POOLS: &str = "bf74135c-18e8-4a72-a926-0e4f47888c19";

/// Brim's zed sample (Zeek JSON, gzip): record 4 of `dce_rpc` is a remote `svcctl`
/// `CreateServiceW` call, which "MITRE BZAR Indicators for Execution" names; the
/// `OpenSCManagerW` call just before it (record 3) fires nothing.
#[test]
fn sigma_zeek_dce_rpc_rule_fires_on_real_record() {
    let Some(path) = vigil_core::corpus::corpus_path("zeek/zed-sample-data/dce_rpc.json.gz") else {
        return;
    };
    let evs = events(&path);
    assert_eq!(evs.len(), 78);
    let record = |n: u64| {
        evs.iter()
            .find(|e| e.source.record_id == Some(n))
            .unwrap_or_else(|| panic!("no record {n}"))
    };
    let e = record(4);
    assert_eq!(e.logsource.to_string(), "product: zeek, service: dce_rpc");
    assert_eq!(text(e, "endpoint"), Some("svcctl"));
    assert_eq!(text(e, "operation"), Some("CreateServiceW"));
    let ids = fired(e);
    assert!(ids.iter().any(|i| i == BZAR_EXECUTION), "fired: {ids:?}");

    let before = record(3);
    assert_eq!(text(before, "operation"), Some("OpenSCManagerW"));
    assert!(fired(before).is_empty(), "{:?}", fired(before));

    // Every CreateServiceW/StartServiceW and task-scheduler call of the capture fires it.
    let expected = evs
        .iter()
        .filter(|e| {
            matches!(
                text(e, "operation"),
                Some("CreateServiceW" | "StartServiceW" | "SchRpcRegisterTask" | "SchRpcRun")
            )
        })
        .count();
    let firing = evs
        .iter()
        .filter(|e| fired(e).iter().any(|i| i == BZAR_EXECUTION))
        .count();
    assert_eq!((firing, expected), (24, 24));
}

/// No DNS query of the Zeek corpus goes to a mining pool, so the TSV path is shown on a
/// self-made record: the headers and first record of `zeek/slips/test10-mixed-zeek-dir/dns.log`
/// (Slips, GPL-2.0) with the query changed from `clients6.google.com` to
/// `pool.supportxmr.com`. "Monero Crypto Coin Mining Pool Lookup" fires on it and not on the
/// unchanged record.
#[test]
fn sigma_zeek_dns_rule_fires_on_tsv_record() {
    if vigil_core::corpus::corpus_dir().is_none() {
        return;
    }
    let header = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tdns
#open\t2020-10-06-17-32-46
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool
";
    let record = "1601998366.786397\tCYwXsR3yfDq6hooIU2\t2001:718:2:1663:dc58:6d9:ef13:51a5\t53879\t2001:718:2:1611:0:1:0:90\t53\tudp\t3478\t0.006970\tclients6.google.com\t1\tC_INTERNET\t28\tAAAA\t0\tNOERROR\tF\tF\tT\tT\t0\tclients.l.google.com,2a00:1450:4014:80c::200e\t15.000000,105.000000\tF\n";
    let variant = record.replace("clients6.google.com", "pool.supportxmr.com");
    let log = format!("{header}{record}{variant}");
    let mut evs = Vec::new();
    let stats = decode_bytes(
        "dns.log",
        log.as_bytes(),
        &DecodeOptions::default(),
        &mut |e| evs.push(e),
        &mut |e| panic!("{e}"),
    )
    .unwrap();
    assert_eq!(stats.format.name(), "zeek-tsv");
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[1].logsource.to_string(), "product: zeek, service: dns");
    assert_eq!(text(&evs[1], "query"), Some("pool.supportxmr.com"));
    assert!(!fired(&evs[0]).iter().any(|i| i == DNS_MINING_POOLS));
    let ids = fired(&evs[1]);
    assert!(ids.iter().any(|i| i == DNS_MINING_POOLS), "fired: {ids:?}");
}

/// SigmaHQ ships no rule for `product: suricata` (Suricata's own alerts are its detections);
/// EVE records get `product: suricata, service: <event_type>` for user rules.
#[test]
fn sigmahq_has_no_suricata_rules() {
    let Some(sigma) = vigil_core::corpus::corpus_path("sigma") else {
        return;
    };
    let mut files = 0;
    let mut suricata = 0;
    let mut stack = vec![sigma];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yml") {
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                suricata += usize::from(text.to_ascii_lowercase().contains("product: suricata"));
            }
        }
    }
    assert!(files > 3000, "{files} rule files");
    assert_eq!(suricata, 0);
}
