//! Importers on the real intel corpora (`../shared/data/intel`, see its SOURCE.md): counts
//! and concrete indicators of STIX 2.1 bundles, MISP events, the abuse.ch Feodo CSV, the
//! ThreatFox IP list and Maltrail trails. Skipped (with a note) when the corpus is absent
//! outside CI.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use vigil_core::corpus::corpus_path;
use vigil_intel::{
    FeedFormat, FileReport, ImportReport, IndicatorKind as K, IntelSet, Location, Tlp,
};

fn intel(rel: &str) -> Option<PathBuf> {
    corpus_path(&format!("intel/{rel}"))
}

fn import(path: &Path) -> (IntelSet, ImportReport) {
    let mut set = IntelSet::new();
    let report = set.import_path(path).unwrap();
    (set, report)
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn skipped(f: &FileReport, reason: &str) -> u64 {
    f.skipped.get(reason).copied().unwrap_or(0)
}

#[test]
fn stix_c2_ip_example() {
    let Some(path) =
        intel("stix2/cti-stix2-json-schemas/examples/indicator-for-c2-ip-address.json")
    else {
        return;
    };
    let (set, report) = import(&path);
    let f = &report.files[0];
    assert_eq!(f.format, Some(FeedFormat::StixBundle));
    assert_eq!((f.read, f.added, f.merged, f.rejected.len()), (1, 1, 0, 0));
    let ind = set.get(K::Ipv4, "10.0.0.0").expect("the C2 address");
    assert_eq!(ind.valid_from(), Some(ts("2014-05-08T09:00:00Z")));
    assert_eq!(ind.valid_until(), None);
    let labels: Vec<&str> = ind.labels().iter().map(|l| &**l).collect();
    assert_eq!(
        labels,
        ["malicious-activity", "IP Address for known C2 channel"]
    );
    assert_eq!(ind.sources().len(), 1);
    assert_eq!(&*ind.sources()[0].feed, "indicator-for-c2-ip-address.json");
    assert_eq!(
        ind.sources()[0].external_id.as_deref(),
        Some("indicator--33fe3b22-0201-47cf-85d0-97c02164528d")
    );
}

#[test]
fn stix_examples_merge_one_value_from_several_bundles() {
    let Some(dir) = intel("stix2/cti-stix2-json-schemas/examples") else {
        return;
    };
    let Some(docs) = intel("stix2/cti-documentation/example_json") else {
        return;
    };
    let mut set = IntelSet::new();
    let a = set.import_path(&dir).unwrap();
    let b = set.import_path(&docs).unwrap();
    // 10.0.0.0 is the pattern of an indicator in four bundles: one indicator, four sources.
    let ip = set.get(K::Ipv4, "10.0.0.0").unwrap();
    let mut feeds: Vec<&str> = ip.sources().iter().map(|s| &*s.feed).collect();
    feeds.sort_unstable();
    assert_eq!(
        feeds,
        [
            "indicator-for-c2-ip-address.json",
            "indicator-to-campaign-relationship.json",
            "indicators-for-C2-with-COA.json",
            "using-marking-definitions.json"
        ]
    );
    // using-marking-definitions marks it TLP:AMBER (a predefined marking id).
    assert_eq!(ip.tlp(), Some(Tlp::Amber));
    // The malware hash of two bundles, and the URL of the documentation's example.
    let hash = set
        .get(
            K::Sha256,
            "EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C",
        )
        .unwrap();
    assert_eq!(hash.sources().len(), 2);
    assert!(set.get(K::Url, "http://x4z9arb.cn/4712").is_some());
    assert!(set.get(K::Url, "http://paypa1.banking.com/").is_some());
    // apt1: CIDR blocks, domains and MD5s import; the two x509 patterns are rejected.
    let apt1 = a
        .files
        .iter()
        .find(|f| f.path.ends_with("apt1.json"))
        .unwrap();
    assert_eq!((apt1.read, apt1.added, apt1.rejected.len()), (76, 10, 2));
    assert_eq!(skipped(apt1, "stix relationship (not an indicator)"), 30);
    assert!(apt1.rejected.iter().all(|r| {
        r.reason
            .contains("`x509-certificate:issuer` has no indicator kind")
    }));
    assert_eq!(
        apt1.rejected[0].location,
        Location::Object("indicator--b3b6b540-d838-41e2-853b-005056c00008".into())
    );
    let block = set.get(K::Ipv4, "223.166.0.0/15").unwrap();
    assert_eq!(block.ip_net().unwrap().to_string(), "223.166.0.0/15");
    assert!(set.get(K::Domain, "hugesoft.org").is_some());
    assert!(
        set.get(K::Md5, "001dd76872d80801692ff942308c64e6")
            .is_some()
    );
    // The MATCHES patterns of the e-mail example are rejected with the operator named.
    let email = a
        .files
        .iter()
        .find(|f| {
            f.path
                .ends_with("malicious-email-indicator-with-attachment.json")
        })
        .unwrap();
    assert_eq!(email.rejected.len(), 2);
    assert!(
        email
            .rejected
            .iter()
            .all(|r| r.reason.contains("comparison operator MATCHES"))
    );
    // Observed data and cyber-observable objects are counted, never indicators.
    let sod = b
        .files
        .iter()
        .find(|f| f.path.ends_with("sighting-of-observed-data.json"))
        .unwrap();
    assert_eq!(sod.added + sod.merged, 0);
    assert_eq!(skipped(sod, "stix observed-data (not an indicator)"), 2);
    assert_eq!(skipped(sod, "stix file (not an indicator)"), 1);
}

#[test]
fn stix_poisonivy_or_patterns() {
    let Some(path) = intel("stix2/cti-stix2-json-schemas/examples/threat-reports/poisonivy.json")
    else {
        return;
    };
    let (set, report) = import(&path);
    let f = &report.files[0];
    // Count, from the JSON itself, the indicators whose pattern names 113.10.246.30.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let naming = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .filter(|o| o["pattern"].as_str().unwrap().contains("'113.10.246.30'"))
        .count();
    assert_eq!(naming, 4);
    assert_eq!(
        set.get(K::Ipv4, "113.10.246.30").unwrap().sources().len(),
        naming
    );
    assert_eq!((f.read, f.added, f.merged), (155, 44, 22));
    // `domain autuo.xicp.net` is not a name; the address in the same OR still imports.
    assert_eq!(f.rejected.len(), 1);
    assert_eq!(
        f.rejected[0].location,
        Location::Object("indicator--4e4c4ad7-4909-456a-b6fa-e24a6f682a40".into())
    );
    assert!(
        f.rejected[0]
            .reason
            .contains("`domain autuo.xicp.net` is not a domain name")
    );
    assert!(set.get(K::Ipv4, "60.10.1.115").is_some());
    assert!(set.get(K::FileName, "CBricksDoc").is_some());
    assert_eq!(set.len(), 44);
}

#[test]
fn misp_events() {
    let Some(dir) = intel("misp/pymisp-tests") else {
        return;
    };
    let (set, report) = import(&dir);
    assert_eq!(report.files.len(), 7);
    assert!(
        report
            .files
            .iter()
            .all(|f| f.format == Some(FeedFormat::MispEvent))
    );
    // Every attribute read is added, merged, skipped or rejected (one value per attribute in
    // these events).
    for f in &report.files {
        let skipped: u64 = f.skipped.values().sum();
        assert_eq!(
            f.read,
            f.added + f.merged + skipped + f.rejected.len() as u64,
            "{f}"
        );
    }
    let xorist = report
        .files
        .iter()
        .find(|f| {
            f.path
                .ends_with("57c4445b-c548-4654-af0b-4be3950d210f.json")
        })
        .unwrap();
    assert_eq!((xorist.read, xorist.added), (9, 4));
    assert_eq!(skipped(xorist, "misp link (not an indicator type)"), 2);
    assert_eq!(
        skipped(xorist, "misp regkey|value (not an indicator type)"),
        1
    );
    let md5 = set.get(K::Md5, "0749bae92ca336a02c83d126e04ec628").unwrap();
    assert_eq!(md5.tlp(), Some(Tlp::Clear));
    assert!(
        md5.labels()
            .iter()
            .any(|l| &**l == "circl:incident-classification=\"malware\"")
    );
    assert_eq!(
        md5.sources()[0].external_id.as_deref(),
        Some("57c4448b-454c-4d17-90d1-4d2f950d210f")
    );
    assert!(
        set.get(
            K::Sha256,
            "b3c4ae251f8094fa15b510051835c657eaef2a6cea46075d3aec964b14a99f68"
        )
        .is_some()
    );
    assert!(set.get(K::FileName, "3Z4wnG9603it23y.exe").is_some());
    // Object attributes count, and `to_ids: false` ones are skipped by default.
    let samsam = report
        .files
        .iter()
        .find(|f| f.path.ends_with("mainly_objects_1.json"))
        .unwrap();
    assert_eq!((samsam.read, samsam.added + samsam.merged), (74, 21));
    assert_eq!(skipped(samsam, "misp to_ids false (not for detection)"), 15);
    // Paths given as file names are rejected, naming the attribute.
    let sunorcal = report
        .files
        .iter()
        .find(|f| f.path.ends_with("to_delete1.json"))
        .unwrap();
    assert_eq!(sunorcal.rejected.len(), 4);
    assert!(
        sunorcal.rejected[1]
            .reason
            .contains(r"`%TEMP%\~Update.lnk` is a path")
    );
}

#[test]
fn feodo_tracker_csv() {
    let Some(path) = intel("abusech/feodotracker_ipblocklist_2024-04-04.csv") else {
        return;
    };
    let (set, report) = import(&path);
    let f = &report.files[0];
    assert!(matches!(
        f.format,
        Some(FeedFormat::Csv(vigil_intel::CsvPreset::FeodoTracker))
    ));
    assert_eq!(
        (f.read, f.added, f.merged, f.rejected.len()),
        (28, 28, 0, 0),
        "{:?}",
        f.rejected
    );
    let ip = set.get(K::Ipv4, "192.9.135.73").unwrap();
    assert_eq!(&*ip.labels()[0], "Pikabot");
    assert_eq!(ip.first_seen(), Some(ts("2023-05-23T17:51:44Z")));
    assert_eq!(ip.last_seen(), Some(ts("2024-04-01T00:00:00Z")));
    assert!(set.iter().all(|i| i.kind() == K::Ipv4));
}

#[test]
fn threatfox_ip_list_and_maltrail() {
    let Some(tf) = intel("abusech/threatfox_ioc_ips.txt") else {
        return;
    };
    let Some(conti) = intel("maltrail/malware/conti.txt") else {
        return;
    };
    let (set, report) = import(&tf);
    let f = &report.files[0];
    assert_eq!(f.format, Some(FeedFormat::List));
    assert_eq!((f.read, f.added, f.rejected.len()), (19_863, 19_863, 0));
    assert!(set.get(K::Ipv4, "1.7.147.211").is_some());

    let (set, report) = import(&conti);
    let f = &report.files[0];
    assert_eq!((f.read, f.added, f.merged), (37, 36, 0));
    assert_eq!(f.rejected.len(), 1);
    assert_eq!(f.rejected[0].location, Location::Line(49));
    assert!(
        f.rejected[0]
            .reason
            .contains("`/zeh7dkwfdxw99tdk/` is a URL path without a host")
    );
    let d = set.get(K::Domain, "contirecovery.info").unwrap();
    let labels: Vec<&str> = d.labels().iter().map(|l| &**l).collect();
    assert_eq!(labels, ["conti", "monti"]);
    // `IP:port` trails are addresses.
    assert!(set.get(K::Ipv4, "209.14.0.234").is_some());
}

#[test]
fn whole_intel_corpus_is_accounted_for() {
    let Some(dir) = corpus_path("intel") else {
        return;
    };
    let (set, report) = import(&dir);
    // Lists and CSV: each line read is added, merged or rejected.
    for f in &report.files {
        if matches!(f.format, Some(FeedFormat::List | FeedFormat::Csv(_))) {
            assert_eq!(f.read, f.added + f.merged + f.rejected.len() as u64, "{f}");
        }
        // A file nothing came from says why.
        if f.added + f.merged == 0 {
            assert!(!f.skipped.is_empty() || !f.rejected.is_empty(), "{f}");
        }
    }
    // JSON Schemas beside the bundles are rejected as files, not misread.
    let schema = report
        .files
        .iter()
        .find(|f| f.path.ends_with("schemas/common/core.json"))
        .unwrap();
    assert_eq!(schema.format, None);
    assert_eq!(schema.rejected[0].location, Location::File);
    // Licence and SOURCE files are left out and listed.
    assert!(
        report
            .skipped_files
            .iter()
            .any(|p| p.ends_with("SOURCE.md"))
    );
    assert_eq!(set.len() as u64, report.added());
    // Several feeds name some values: one indicator each.
    assert!(report.merged() > 0);
    assert!(set.iter().any(|i| {
        let mut feeds: Vec<&str> = i.sources().iter().map(|s| &*s.feed).collect();
        feeds.dedup();
        feeds.len() > 1
    }));
}
