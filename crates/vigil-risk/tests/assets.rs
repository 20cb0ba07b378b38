//! Asset inventories from CSV and JSON: lookups, blast radius, and refusals that say where and
//! why (and load nothing).

use std::path::{Path, PathBuf};

use vigil_risk::AssetInventory;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn csv_inventory_answers_by_host_ip_and_lists_the_blast_radius() {
    let inv = AssetInventory::import_path(&fixture("assets.csv")).unwrap();
    assert_eq!(inv.len(), 4);
    let web = inv.by_hostname("WEB01").unwrap();
    assert_eq!(web.id, "web01.corp.example");
    assert_eq!(web.criticality, 4);
    assert!(web.has_tag("internet-facing"));
    assert_eq!(web.ips.len(), 2);
    assert_eq!(
        inv.by_ip("10.0.2.20".parse().unwrap()).unwrap().id,
        "db01.corp.example"
    );
    assert!(inv.by_hostname("unknown").is_none());
    // The database serves the web tier, which serves the workstation.
    let db = inv.blast_radius("db01.corp.example").unwrap();
    assert_eq!(db.dependents, ["web01.corp.example", "wks-07.corp.example"]);
    assert!(db.dependencies.is_empty());
    let wks = inv.blast_radius("wks-07.corp.example").unwrap();
    assert_eq!(
        wks.dependencies,
        ["db01.corp.example", "web01.corp.example"]
    );
    assert!(inv.blast_radius("nope").is_none());
}

#[test]
fn json_inventory_takes_ids_or_hostnames_and_ipv6() {
    let inv = AssetInventory::import_path(&fixture("assets.json")).unwrap();
    assert_eq!(inv.len(), 3);
    assert_eq!(
        inv.get("queue01").unwrap().owner.as_deref(),
        Some("platform")
    );
    assert_eq!(inv.by_ip("fd00::10".parse().unwrap()).unwrap().id, "api01");
    assert_eq!(inv.blast_radius("queue01").unwrap().dependents, ["api01"]);
}

#[test]
fn bad_inventories_are_refused_with_place_and_reason() {
    let cases: &[(&str, &[&str])] = &[
        (
            "hostname,criticality,colour\nh1,3,red\n",
            &["x.csv:line 1: unknown column(s) [\"colour\"]"],
        ),
        (
            "owner,criticality\nbob,3\n",
            &["a `hostname` or `id` column is required"],
        ),
        (
            "hostname,criticality\nh1,3\nh2,7\nh3,high\n",
            &[
                "x.csv:line 3: criticality 7 is out of range (1 to 5) for asset `h2`",
                "x.csv:line 4: criticality `high` is not a number from 1 to 5",
            ],
        ),
        (
            "hostname,criticality,depends_on\nh1,3,h9\n",
            &["x.csv:line 2: asset `h1` depends on unknown asset `h9`"],
        ),
        (
            "hostname,criticality,ips\nh1,3,10.0.0.300\n",
            &["x.csv:line 2: `10.0.0.300` is not an IP address"],
        ),
        (
            "hostname,criticality\nh1,3\nh1,4\n",
            &["x.csv:line 3: asset `h1` is defined twice (first at line 2)"],
        ),
    ];
    for (text, expected) in cases {
        let errors = AssetInventory::import_str(text, "x.csv").unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for e in *expected {
            assert!(shown.iter().any(|s| s.contains(e)), "{e} not in {shown:?}");
        }
    }
    let json_cases: &[(&str, &str)] = &[
        (
            r#"[{"hostname": "a", "criticality": 0}]"#,
            "x.json:entry 1: criticality 0 is out of range",
        ),
        (
            r#"[{"hostname": "a"}]"#,
            "x.json:entry 1: missing field `criticality`",
        ),
        (
            r#"[{"criticality": 2}]"#,
            "x.json:entry 1: the entry has neither an id nor a hostname",
        ),
        (r#"{"hosts": []}"#, "expected an array of assets"),
        ("[{\"hostname\": ", "x.json:line 1: not JSON"),
    ];
    for (text, expected) in json_cases {
        let errors = AssetInventory::import_str(text, "x.json").unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().any(|s| s.contains(expected)),
            "{expected} not in {shown:?}"
        );
    }
}
