//! Bad input: malformed bundles, patterns with operators that are not values, CSV with broken
//! rows, MISP attributes that are deleted or not for detection, files that are no feed at all.
//! Each is reported with its place and reason, and nothing else in the file is lost.
//!
//! The CSV samples below are written by hand after abuse.ch's documented export formats
//! (URLhaus `csv_recent`, ThreatFox `export/csv`); the MISP and STIX ones after the corpus
//! files' shapes.

use vigil_intel::{
    CsvKind, CsvMapping, FeedFormat, FileReport, ImportOptions, IndicatorKind as K, IntelSet,
    Location,
};

fn import(name: &str, text: &str) -> (IntelSet, FileReport) {
    import_with(name, text, &ImportOptions::default())
}

fn import_with(name: &str, text: &str, opts: &ImportOptions) -> (IntelSet, FileReport) {
    let mut set = IntelSet::new();
    let report = set.import_bytes(name, text.as_bytes(), opts);
    (set, report)
}

fn reasons(r: &FileReport) -> Vec<(String, String)> {
    r.rejected
        .iter()
        .map(|x| (x.location.to_string(), x.reason.clone()))
        .collect()
}

#[test]
fn malformed_json_is_one_file_rejection() {
    let (set, r) = import(
        "b.json",
        "{\"type\": \"bundle\", \"objects\": [ {\"type\": ",
    );
    assert!(set.is_empty());
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].location, Location::File);
    assert!(
        r.rejected[0]
            .reason
            .starts_with("invalid JSON at line 1 column"),
        "{:?}",
        r.rejected
    );

    let (_, r) = import("b.json", r#"{"type": "bundle", "objects": {"a": 1}}"#);
    assert_eq!(r.rejected[0].reason, "bundle `objects` is not an array");

    let (_, r) = import("x.json", r#"{"hello": "world"}"#);
    assert!(r.rejected[0].reason.contains("neither a STIX 2.1 bundle"));
}

const BUNDLE: &str = r#"{"type": "bundle", "id": "bundle--1", "objects": [
  {"type": "indicator", "id": "indicator--good", "pattern_type": "stix", "confidence": 85,
   "valid_from": "2024-01-01T00:00:00Z", "valid_until": "2025-01-01T00:00:00Z",
   "indicator_types": ["malicious-activity"],
   "kill_chain_phases": [{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "command-and-control"}],
   "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],
   "pattern": "[domain-name:value = 'c2.evil.example' OR ipv4-addr:value = '198.51.100.7'] OR [url:value = 'http://evil.example/gate.php']"},
  {"type": "indicator", "id": "indicator--seq", "pattern_type": "stix",
   "pattern": "[ipv4-addr:value = '198.51.100.8'] FOLLOWEDBY [domain-name:value = 'b.example']"},
  {"type": "indicator", "id": "indicator--within", "pattern_type": "stix",
   "pattern": "[ipv4-addr:value = '198.51.100.9'] REPEATS 5 TIMES WITHIN 60 SECONDS"},
  {"type": "indicator", "id": "indicator--like", "pattern_type": "stix",
   "pattern": "[domain-name:value LIKE '%.evil.example']"},
  {"type": "indicator", "id": "indicator--gt", "pattern_type": "stix",
   "pattern": "[file:size > 1000000]"},
  {"type": "indicator", "id": "indicator--partial", "pattern_type": "stix",
   "pattern": "[file:hashes.'SHA-256' = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' OR file:name MATCHES '^inv.*\\\\.exe$']"},
  {"type": "indicator", "id": "indicator--syntax", "pattern_type": "stix",
   "pattern": "[ipv4-addr:value = '198.51.100.10'"},
  {"type": "indicator", "id": "indicator--sigma", "pattern_type": "sigma", "pattern": "title: x"},
  {"type": "indicator", "id": "indicator--nopattern", "pattern_type": "stix"},
  {"type": "indicator", "id": "indicator--conf", "pattern_type": "stix", "confidence": 150,
   "pattern": "[ipv4-addr:value = '198.51.100.11']"},
  {"type": "indicator", "id": "indicator--time", "pattern_type": "stix", "valid_from": "last tuesday",
   "pattern": "[ipv4-addr:value = '198.51.100.12']"},
  {"type": "indicator", "id": "indicator--badip", "pattern_type": "stix",
   "pattern": "[ipv4-addr:value = '198.51.100.300']"},
  {"type": "observed-data", "id": "observed-data--1", "number_observed": 1, "object_refs": ["ipv4-addr--1"]},
  {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "203.0.113.1"},
  {"name": "neither type nor id"}
]}"#;

#[test]
fn stix_objects_each_accounted_for() {
    let (set, r) = import("bundle.json", BUNDLE);
    assert_eq!(r.format, Some(FeedFormat::StixBundle));
    assert_eq!(r.read, 15);
    // The good indicator's three values, and the hash of the partly converted one.
    assert_eq!(r.added, 4);
    assert_eq!(set.len(), 4);
    let d = set.get(K::Domain, "C2.Evil.Example").unwrap();
    assert_eq!(d.confidence(), Some(85));
    assert_eq!(d.tlp(), Some(vigil_intel::Tlp::Green));
    assert_eq!(&*d.kill_chain()[0].phase_name, "command-and-control");
    assert_eq!(d.valid_until().unwrap().to_string(), "2025-01-01T00:00:00Z");
    assert!(set.get(K::Url, "http://EVIL.example:80/gate.php").is_some());
    assert!(set.get(K::Sha256, &"a".repeat(64)).is_some());
    // Observed data and the SCO are counted as not indicators.
    assert_eq!(
        r.skipped.get("stix observed-data (not an indicator)"),
        Some(&1)
    );
    assert_eq!(r.skipped.get("stix ipv4-addr (not an indicator)"), Some(&1));
    let got = reasons(&r);
    let expect = [
        ("object indicator--seq", "observation operator FOLLOWEDBY"),
        ("object indicator--within", "qualifier WITHIN 60 SECONDS"),
        (
            "object indicator--like",
            "comparison operator LIKE on `domain-name:value`",
        ),
        (
            "object indicator--gt",
            "comparison operator > on `file:size`",
        ),
        (
            "object indicator--partial",
            "imported in part; not imported: comparison operator MATCHES on `file:name`",
        ),
        (
            "object indicator--syntax",
            "pattern syntax: offset 34: expected `]` closing the observation",
        ),
        (
            "object indicator--sigma",
            "pattern_type `sigma` is not supported",
        ),
        (
            "object indicator--nopattern",
            "indicator without a `pattern` string",
        ),
        (
            "object indicator--conf",
            "`confidence` 150 is not an integer 0–100",
        ),
        (
            "object indicator--time",
            "`valid_from`: `last tuesday` is not a time",
        ),
        (
            "object indicator--badip",
            "ipv4: `198.51.100.300` is not an IP address or CIDR block",
        ),
        ("object #14", "object without a `type`"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for ((loc, reason), (eloc, ereason)) in got.iter().zip(expect) {
        assert_eq!(loc, eloc);
        assert!(
            reason.contains(ereason),
            "{loc}: {reason} (expected {ereason})"
        );
    }
    // REPEATS binds first: the WITHIN applies to the repeated observation.
    assert!(got[1].1.contains("WITHIN"));
}

const FEODO: &str = "\
################################################################
# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #
################################################################
#
\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"
\"2023-05-23 17:51:44\",\"192.0.2.1\",\"1194\",\"online\",\"2024-04-01\",\"Pikabot\"
\"2024-02-08 19:20:49\",\"192.0.2.2\",\"5000\"
\"2024-02-08 19:50:53\",\"192.0.2.999\",\"9785\",\"offline\",\"2024-03-04\",\"Pikabot\"
\"yesterday\",\"192.0.2.4\",\"9785\",\"offline\",\"2024-03-04\",\"Pikabot\"

\"2024-02-09 06:56:00\",\"192.0.2.5\",\"2078\",\"offline\",\"2024-03-11\",\"QakBot\"
";

#[test]
fn csv_broken_rows_name_their_lines() {
    let (set, r) = import("feodo.csv", FEODO);
    assert_eq!(
        r.format,
        Some(FeedFormat::Csv(vigil_intel::CsvPreset::FeodoTracker))
    );
    assert_eq!((r.read, r.added), (5, 2));
    assert_eq!(
        reasons(&r),
        [
            (
                "line 7".to_string(),
                "row has 3 fields, the header 6".to_string()
            ),
            (
                "line 8".to_string(),
                "`192.0.2.999` is not an IP address".to_string()
            ),
            (
                "line 9".to_string(),
                "`yesterday` is not a time".to_string()
            ),
        ]
    );
    assert!(set.get(K::Ipv4, "192.0.2.1").is_some());
    assert_eq!(
        &*set.get(K::Ipv4, "192.0.2.5").unwrap().labels()[0],
        "QakBot"
    );
}

const THREATFOX: &str = r#"################################################################
# ThreatFox IOCs: CSV export                                    #
################################################################
#
# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","fk_malware","malware_alias","malware_printable","last_seen_utc","confidence_level","is_compromised","reference","tags","anonymous","reporter"
"2026-07-04 22:19:04", "1844855", "dazayse.hi-lo.example", "domain", "payload_delivery", "js.clearfake", "None", "ClearFake", "", "100", "False", "None", "ClearFake,win-0x4679,windows", "1", "anonymous"
"2026-07-04 21:46:30", "1844853", "198.51.100.36:5555", "ip:port", "botnet_cc", "win.cobalt_strike", "Agentemis,BEACON", "Cobalt Strike", "2026-07-05 10:00:00", "75", "False", "None", "c2", "0", "r"
"2026-07-04 21:40:00", "1844850", "http://evil.example/x.exe", "url", "payload_delivery", "win.x", "None", "X", "", "50", "False", "None", "None", "0", "r"
"2026-07-04 21:30:00", "1844849", "3dd25cbfe76db155615283f905992030468f3da93dd25cbfe76db155615283f9", "sha256_hash", "payload", "win.vidar", "None", "Vidar", "", "95", "False", "None", "None", "0", "r"
"2026-07-04 21:20:00", "1844848", "somethingelse", "weird_type", "payload", "win.x", "None", "X", "", "95", "False", "None", "None", "0", "r"
"2026-07-04 21:10:00", "1844847", "evil2.example", "domain", "payload", "win.x", "None", "X", "", "high", "False", "None", "None", "0", "r"
# Number of entries: 6
"#;

#[test]
fn threatfox_csv_preset() {
    let (set, r) = import("threatfox.csv", THREATFOX);
    assert_eq!(
        r.format,
        Some(FeedFormat::Csv(vigil_intel::CsvPreset::ThreatFox))
    );
    assert_eq!((r.read, r.added), (6, 4));
    assert_eq!(
        reasons(&r),
        [
            (
                "line 10".to_string(),
                "type `weird_type` has no indicator kind".to_string()
            ),
            (
                "line 11".to_string(),
                "confidence `high` is not 0–100".to_string()
            ),
        ]
    );
    let d = set.get(K::Domain, "dazayse.hi-lo.example").unwrap();
    assert_eq!(d.confidence(), Some(100));
    let labels: Vec<&str> = d.labels().iter().map(|l| &**l).collect();
    assert_eq!(
        labels,
        ["payload_delivery", "ClearFake", "win-0x4679", "windows"]
    );
    assert_eq!(d.sources()[0].external_id.as_deref(), Some("1844855"));
    let ip = set.get(K::Ipv4, "198.51.100.36").unwrap();
    assert_eq!(ip.last_seen().unwrap().to_string(), "2026-07-05T10:00:00Z");
    assert!(set.get(K::Url, "http://evil.example/x.exe").is_some());
    assert!(
        set.get(
            K::Sha256,
            "3dd25cbfe76db155615283f905992030468f3da93dd25cbfe76db155615283f9"
        )
        .is_some()
    );
}

#[test]
fn urlhaus_preset_and_custom_mapping() {
    let urlhaus = "# abuse.ch URLhaus Database Dump (CSV - recent URLs only)\n#\n# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n\"3821497\",\"2026-04-14 16:02:21\",\"http://198.51.100.1:39122/bin.sh\",\"online\",\"2026-04-14 16:02:21\",\"malware_download\",\"32-bit,elf,mips,Mozi\",\"https://urlhaus.abuse.ch/url/3821497/\",\"geenensp\"\n\"3821496\",\"2026-04-14 16:02:19\",\"not a url\",\"online\",\"\",\"malware_download\",\"\",\"https://urlhaus.abuse.ch/url/3821496/\",\"x\"\n";
    let (set, r) = import("urlhaus.csv", urlhaus);
    assert_eq!(
        r.format,
        Some(FeedFormat::Csv(vigil_intel::CsvPreset::UrlHaus))
    );
    assert_eq!((r.read, r.added), (2, 1));
    assert_eq!(r.rejected[0].location, Location::Line(5));
    assert!(
        r.rejected[0]
            .reason
            .starts_with("url: `not a url` is not a URL")
    );
    let u = set.get(K::Url, "http://198.51.100.1:39122/bin.sh").unwrap();
    assert_eq!(u.labels().len(), 5);

    // Columns no preset knows: the file is rejected naming them, until a mapping is given.
    let custom = "indicator,kind,score\nevil.example,domain,80\n203.0.113.9,ip,70\n";
    let (set, r) = import("mine.csv", custom);
    assert!(set.is_empty());
    assert_eq!(
        r.rejected[0].reason,
        "CSV whose columns no preset knows (indicator, kind, score): give a CsvMapping"
    );
    let opts = ImportOptions {
        csv: Some(CsvMapping {
            kind: CsvKind::Column("kind".into()),
            confidence: Some("score".into()),
            ..CsvMapping::new("indicator")
        }),
        feed: Some("my feed".into()),
        ..ImportOptions::default()
    };
    let (set, r) = import_with("mine.csv", custom, &opts);
    assert_eq!((r.read, r.added), (2, 2), "{:?}", r.rejected);
    let ip = set.get(K::Ipv4, "203.0.113.9").unwrap();
    assert_eq!(ip.confidence(), Some(70));
    assert_eq!(&*ip.sources()[0].feed, "my feed");
}

const MISP: &str = r#"{"Event": {"info": "test", "uuid": "e1",
  "Tag": [{"name": "tlp:amber"}, {"name": "misp-galaxy:banker=\"Gozi\""}],
  "Attribute": [
    {"uuid": "a1", "type": "ip-dst|port", "value": "198.51.100.20|443", "to_ids": true,
     "Tag": [{"name": "osint:certainty=\"75\""}], "first_seen": "2024-01-02T03:04:05Z"},
    {"uuid": "a2", "type": "domain", "value": "gone.example", "to_ids": true, "deleted": true},
    {"uuid": "a3", "type": "domain", "value": "context.example", "to_ids": false},
    {"uuid": "a4", "type": "domain|ip", "value": "both.example|198.51.100.21", "to_ids": "1"},
    {"uuid": "a5", "type": "sha1", "value": "not-a-hash", "to_ids": true},
    {"uuid": "a6", "type": "md5", "value": "0749bae92ca336a02c83d126e04ec628", "to_ids": true, "first_seen": "someday"},
    {"uuid": "a7", "type": "text", "value": "hello", "to_ids": false},
    {"type": "url"}
  ],
  "Object": [
    {"name": "file", "deleted": true, "Attribute": [
      {"uuid": "o1", "type": "sha256", "value": "b3c4ae251f8094fa15b510051835c657eaef2a6cea46075d3aec964b14a99f68", "to_ids": true}]},
    {"name": "domain-ip", "Attribute": [
      {"uuid": "o2", "type": "hostname", "value": "host.example", "to_ids": true}]}
  ]}}"#;

#[test]
fn misp_flags_and_broken_attributes() {
    let (set, r) = import("event.json", MISP);
    assert_eq!(r.format, Some(FeedFormat::MispEvent));
    assert_eq!(r.read, 10);
    assert_eq!(r.skipped.get("misp deleted attribute"), Some(&2));
    assert_eq!(
        r.skipped.get("misp to_ids false (not for detection)"),
        Some(&1)
    );
    assert_eq!(r.skipped.get("misp text (not an indicator type)"), Some(&1));
    assert_eq!(
        reasons(&r),
        [
            (
                "object a5".to_string(),
                "sha1: `not-a-hash` is not a sha1 (40 hexadecimal digits)".to_string()
            ),
            (
                "object a6".to_string(),
                "`first_seen`: `someday` is not a time".to_string()
            ),
            (
                "object Attribute #7".to_string(),
                "attribute without a string `type` and `value`".to_string()
            ),
        ]
    );
    let ip = set.get(K::Ipv4, "198.51.100.20").unwrap();
    assert_eq!(ip.confidence(), Some(75));
    assert_eq!(ip.tlp(), Some(vigil_intel::Tlp::Amber));
    assert_eq!(&*ip.labels()[0], "misp-galaxy:banker=\"Gozi\"");
    assert_eq!(ip.first_seen().unwrap().to_string(), "2024-01-02T03:04:05Z");
    assert!(set.get(K::Domain, "both.example").is_some());
    assert!(set.get(K::Ipv4, "198.51.100.21").is_some());
    assert!(set.get(K::Domain, "host.example").is_some());
    assert!(set.get(K::Domain, "gone.example").is_none());
    assert_eq!(set.len(), 4);

    // With non-detection attributes asked for, the context domain imports too.
    let opts = ImportOptions {
        misp_include_non_ids: true,
        ..ImportOptions::default()
    };
    let (set, _) = import_with("event.json", MISP, &opts);
    assert!(set.get(K::Domain, "context.example").is_some());
}

#[test]
fn files_that_are_no_feed() {
    let mut set = IntelSet::new();
    let r = set.import_bytes("bin", b"\x00\x01\x02ELF", &ImportOptions::default());
    assert!(r.rejected[0].reason.starts_with("binary content"));
    let r = set.import_bytes(
        "latin1.txt",
        b"evil.example\n\xe9t\xe9\n",
        &ImportOptions::default(),
    );
    assert_eq!(
        r.rejected[0].reason,
        "not UTF-8 text (invalid byte at offset 13)"
    );
    let r = set.import_bytes("empty.txt", b"  \n", &ImportOptions::default());
    assert_eq!(r.rejected[0].reason, "empty file");
    assert!(set.is_empty());
    // A list keeps its good lines around a bad one.
    let r = set.import_bytes(
        "list.txt",
        b"# my list\nevil.example\nthis is prose\n\n198.51.100.0/24 # a block\n",
        &ImportOptions::default(),
    );
    assert_eq!((r.read, r.added), (3, 2));
    assert_eq!(r.rejected[0].location, Location::Line(3));
    assert!(
        r.rejected[0]
            .reason
            .contains("`this is prose` is not a domain name")
    );
    assert!(set.get(K::Ipv4, "198.51.100.0/24").is_some());
    // A missing path is the one hard error.
    let err = IntelSet::new()
        .import_path(std::path::Path::new("/nonexistent/feed.json"))
        .unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/feed.json: "));
}
