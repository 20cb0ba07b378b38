//! Entities under OCSF names: concrete values for real records of every source (checked against
//! the raw bytes of the corpora), every event of every corpus folder extracted without a panic
//! and with consistent types, and every entity name resolved in the OCSF schema
//! (`ocsf-schema/dictionary.json` and `objects/`).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use common::{decode_mem, decode_path, files_with_ext};
use vigil_core::corpus::corpus_path;
use vigil_core::{EntityField as F, EntityKind, EntityType, EntityValue, Event, HashAlgorithm};
use vigil_ingest::{DecodeOptions, decode_file, discover, entities};

/// The event of file `events` with record id `id`.
fn record(events: &[Event], id: u64) -> &Event {
    events
        .iter()
        .find(|e| e.source.record_id == Some(id))
        .unwrap_or_else(|| panic!("record {id} missing"))
}

/// Asserts each field's value (in its display form) and that it has its field's type.
fn check(e: &Event, expected: &[(F, &str)]) {
    let ents = entities(e);
    for (field, want) in expected {
        let got = ents.get(*field);
        assert_eq!(
            got.map(|v| v.to_string()).as_deref(),
            Some(*want),
            "{field} of {}#{:?}; all: {:?}",
            e.source.file,
            e.source.record_id,
            ents.to_json()
        );
        assert_typed(*field, got.unwrap());
    }
}

/// Asserts the fields have no value.
fn absent(e: &Event, fields: &[F]) {
    let ents = entities(e);
    for f in fields {
        assert_eq!(ents.get(*f), None, "{f} should be absent");
    }
}

fn assert_typed(field: F, v: &EntityValue<'_>) {
    match (field.value_type(), v) {
        (EntityType::Text, EntityValue::Text(s)) => {
            assert!(
                !s.is_empty() && *s != "-" && s.trim() == s,
                "{field}: {s:?}"
            )
        }
        (EntityType::Ip, EntityValue::Ip(ip)) => {
            if let std::net::IpAddr::V6(v6) = ip {
                assert!(v6.to_ipv4_mapped().is_none(), "{field}: {ip} not canonical");
            }
        }
        (EntityType::Port, EntityValue::Int(p)) => assert!((1..=65535).contains(p)),
        (EntityType::Pid, EntityValue::Int(p)) => assert!(*p >= 0),
        (t, v) => panic!("{field}: {t:?} field holds {v:?}"),
    }
}

fn corpus(rel: &str) -> Option<Decoded> {
    corpus_path(rel).map(|p| Decoded(decode_path(&p, 1).events))
}

struct Decoded(Vec<Event>);

impl Decoded {
    fn at(&self, id: u64) -> &Event {
        record(&self.0, id)
    }
}

/// Panther's rule-test JSONL holds each real log under `log`: the logs, as NDJSON.
fn unwrap_rule_tests(path: &Path) -> Vec<u8> {
    let mut ndjson = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        serde_json::to_writer(&mut ndjson, &case["log"]).unwrap();
        ndjson.push(b'\n');
    }
    ndjson
}

// ---------------------------------------------------------------- Windows

#[test]
fn windows_sysmon_process_creation_with_hashes() {
    // Record 6577: Sysmon 1, Flash_update.exe started from Explorer (`strings -el` on the file
    // shows the Hashes value next to the image path).
    let Some(d) = corpus(
        "evtx-attack-samples/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
    ) else {
        return;
    };
    let e = d.at(6577);
    check(
        e,
        &[
            (F::DeviceHostname, "IEWIN7"),
            (
                F::ProcessPath,
                r"C:\Users\IEUser\Downloads\Flash_update.exe",
            ),
            (F::ProcessName, "Flash_update.exe"),
            (
                F::ProcessCmdLine,
                r#""C:\Users\IEUser\Downloads\Flash_update.exe""#,
            ),
            (F::ProcessPid, "2680"),
            (F::ParentPath, r"C:\Windows\explorer.exe"),
            (F::ParentName, "explorer.exe"),
            (F::ActorUserName, "IEUser"),
            (F::ActorUserDomain, "IEWIN7"),
            (
                F::ProcessFileHash(HashAlgorithm::Sha1),
                "B4E581F173F782A2F1DA5D29C95946EE500EB2D0",
            ),
            (
                F::ProcessFileHash(HashAlgorithm::Md5),
                "42893ADBC36605EC79B5BD610759947E",
            ),
            (
                F::ProcessFileHash(HashAlgorithm::Sha256),
                "1A061C74619DE6AF8C02CBA0FA00754BDD9E3515C0E08CAD6350C7ADFC8CDD5B",
            ),
            (
                F::ProcessFileHash(HashAlgorithm::Imphash),
                "40BEC1A4A3BCB7D3089B5E1532386613",
            ),
        ],
    );
    // The process image's hashes, not a file acted on; Sysmon's own service SID is not the user.
    absent(
        e,
        &[
            F::FileHash(HashAlgorithm::Sha1),
            F::ActorUserUid,
            F::FilePath,
        ],
    );
    let ents = entities(e);
    assert!(ents.get(F::ProcessUid).is_some());
    // Values are borrowed from the event (nothing here needs deriving).
    assert!(ents.iter().all(|(_, v)| matches!(
        v,
        EntityValue::Text(std::borrow::Cow::Borrowed(_)) | EntityValue::Int(_)
    )));
    assert_eq!(ents.of_kind(EntityKind::Hash).count(), 4);
    let json = ents.to_json();
    assert_eq!(json["process"]["file"]["hashes"][0]["algorithm"], "SHA-1");
    assert_eq!(json["process"]["parent_process"]["name"], "explorer.exe");
    assert_eq!(json["process"]["pid"], 2680);
}

#[test]
fn windows_security_4688() {
    // Record 227695: 4688, TSTheme.exe with NewProcessId 0x1fc (see tests/records.rs).
    let Some(d) = corpus("evtx-attack-samples/Command and Control/DE_RDP_Tunnel_5156.evtx") else {
        return;
    };
    let e = d.at(227695);
    check(
        e,
        &[
            (F::ProcessPath, r"C:\Windows\System32\TSTheme.exe"),
            (F::ProcessName, "TSTheme.exe"),
            (F::ProcessPid, "508"),
        ],
    );
    // Its empty CommandLine is not a value.
    absent(e, &[F::ProcessCmdLine]);
    assert!(entities(e).get(F::DeviceHostname).is_some());
}

#[test]
fn windows_otrf_security_and_sysmon() {
    let Some(d) = corpus(
        "security-datasets/windows/lateral_movement/host/covenant_copy_smb_CreateRequest_2020-09-22145302.json",
    ) else {
        return;
    };
    // Line 56: 4624 network logon of pgustavo from 172.18.39.5:62782.
    let logon = d.at(56);
    check(
        logon,
        &[
            (F::DeviceHostname, "WORKSTATION6.theshire.local"),
            (F::UserName, "pgustavo"),
            (F::UserDomain, "THESHIRE.LOCAL"),
            (F::UserUid, "S-1-5-21-4228717743-1032521047-1810997296-1104"),
            (F::SrcIp, "172.18.39.5"),
            (F::SrcPort, "62782"),
        ],
    );
    // `-` is no value: no subject, workstation or logon process (nor its `0x0` pid).
    absent(
        logon,
        &[
            F::ActorUserName,
            F::SrcHostname,
            F::ProcessPath,
            F::ProcessPid,
        ],
    );

    // Line 68: 4769 Kerberos service ticket on the DC; `IpAddress` is IPv4-mapped IPv6.
    let ticket = d.at(68);
    check(
        ticket,
        &[
            (F::DeviceHostname, "MORDORDC.theshire.local"),
            (F::UserName, "pgustavo@THESHIRE.LOCAL"),
            (F::SrcIp, "172.18.39.5"),
            (F::SrcPort, "62783"),
        ],
    );
    assert!(
        entities(ticket)
            .get(F::SrcIp)
            .and_then(EntityValue::as_ip)
            .is_some_and(|ip| ip.is_ipv4())
    );

    let Some(d) = corpus(
        "security-datasets/windows/credential_access/host/cmd_lsass_memory_dumpert_syscalls_2020-10-1822561997.json",
    ) else {
        return;
    };
    // Line 20: 4688 of Outflank-Dumpert.exe from cmd.exe (hex pids).
    check(
        d.at(20),
        &[
            (F::DeviceHostname, "WORKSTATION5"),
            (
                F::ProcessPath,
                r"C:\Users\wardog\Desktop\Outflank-Dumpert.exe",
            ),
            (F::ProcessName, "Outflank-Dumpert.exe"),
            (F::ProcessPid, "6772"),
            (F::ProcessCmdLine, "Outflank-Dumpert.exe"),
            (F::ParentPath, r"C:\Windows\System32\cmd.exe"),
            (F::ParentName, "cmd.exe"),
            (F::ParentPid, "3080"),
            (F::ActorUserName, "wardog"),
            (F::ActorUserDomain, "WORKSTATION5"),
            (
                F::ActorUserUid,
                "S-1-5-21-3940915590-64593676-1414006259-500",
            ),
        ],
    );
    // Line 46: Sysmon 11, svchost writing a prefetch file.
    check(
        d.at(46),
        &[
            (F::ProcessPath, r"C:\windows\system32\svchost.exe"),
            (
                F::FilePath,
                r"C:\Windows\Prefetch\OUTFLANK-DUMPERT.EXE-440DD2BD.pf",
            ),
            (F::FileName, "OUTFLANK-DUMPERT.EXE-440DD2BD.pf"),
        ],
    );

    let Some(d) = corpus(
        "security-datasets/windows/credential_access/host/cmd_psexec_lsa_secrets_dump_2020-10-1903305471.json",
    ) else {
        return;
    };
    // Line 261: Sysmon 3, SMB over link-local IPv6 (written uncompressed: `fe80:0:0:0:…`).
    let conn = d.at(261);
    check(
        conn,
        &[
            (F::ProcessName, "System"),
            (F::ProcessPid, "4"),
            (F::ActorUserName, "SYSTEM"),
            (F::ActorUserDomain, "NT AUTHORITY"),
            (F::SrcIp, "fe80::90e:17af:263c:5209"),
            (F::SrcPort, "58391"),
            (F::DstIp, "fe80::90e:17af:263c:5209"),
            (F::DstPort, "445"),
        ],
    );
    absent(conn, &[F::DstHostname, F::SrcHostname]);
    // Line 263: Sysmon 22, a DNS query.
    check(d.at(263), &[(F::QueryHostname, "WORKSTATION5")]);
}

// ---------------------------------------------------------------- Zeek

#[test]
fn zeek_tsv() {
    let Some(conn) =
        corpus("zeek/slips/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled")
    else {
        return;
    };
    check(
        conn.at(1),
        &[
            (F::SrcIp, "192.168.1.107"),
            (F::SrcPort, "65164"),
            (F::DstIp, "66.63.168.35"),
            (F::DstPort, "5888"),
        ],
    );
    let Some(dns) = corpus("zeek/slips/test10-mixed-zeek-dir/dns.log") else {
        return;
    };
    check(
        dns.at(1),
        &[
            (F::SrcIp, "2001:718:2:1663:dc58:6d9:ef13:51a5"),
            (F::DstIp, "2001:718:2:1611:0:1:0:90"),
            (F::DstPort, "53"),
            (F::QueryHostname, "clients6.google.com"),
        ],
    );
    let Some(ssl) =
        corpus("zeek/slips/test18-malicious-ctu-sme-11-win/zeek-labeled/ssl.log.labeled")
    else {
        return;
    };
    check(
        ssl.at(1),
        &[
            (F::SrcIp, "192.168.1.107"),
            (F::DstIp, "162.159.136.232"),
            (F::DstPort, "443"),
            (F::TlsSni, "discord.com"),
        ],
    );
    let Some(files) = corpus("zeek/slips/test10-mixed-zeek-dir/files.log") else {
        return;
    };
    let f = files.at(1);
    check(
        f,
        &[
            (F::SrcIp, "3.232.121.231"),
            (F::DstIp, "147.32.83.156"),
            (
                F::FileHash(HashAlgorithm::Md5),
                "aeeb74a57c1f9df4cfc4536d26a38b8c",
            ),
            (
                F::FileHash(HashAlgorithm::Sha1),
                "0a6b201a7bff643cc5dd6631e5940e858ee07d25",
            ),
            (
                F::FileHash(HashAlgorithm::Sha256),
                "fc85d5ae673d6d3befce84844d750aff3c8d3c9f041330017ed3c47b9c26c86e",
            ),
        ],
    );
    absent(f, &[F::FileName]);
    let json = entities(f).to_json();
    assert_eq!(json["file"]["hashes"].as_array().unwrap().len(), 3);
    assert_eq!(json["file"]["hashes"][2]["algorithm_id"], 3);
}

#[test]
fn zeek_json() {
    let Some(conn) = corpus("zeek/slips/test9-mixed-zeek-dir/conn.log") else {
        return;
    };
    check(
        conn.at(2),
        &[
            (F::SrcIp, "10.0.2.15"),
            (F::SrcPort, "49158"),
            (F::DstIp, "195.113.232.73"),
            (F::DstPort, "80"),
        ],
    );
    let Some(http) = corpus("zeek/slips/test9-mixed-zeek-dir/http.log") else {
        return;
    };
    check(
        http.at(3),
        &[
            (F::SrcIp, "10.0.2.15"),
            (F::DstIp, "147.32.80.7"),
            (F::UrlHostname, "relay.felk.cvut.cz"),
            (F::UrlString, "http://relay.felk.cvut.cz/wpad.dat"),
            (
                F::UserAgent,
                "Mozilla/4.0 (compatible; MSIE 8.0; Win32; Trident/4.0)",
            ),
        ],
    );
    // Record 1 has no user agent; its Host header is an address.
    check(
        http.at(1),
        &[(F::UrlString, "http://112.255.161.10/bin.sh")],
    );
    absent(http.at(1), &[F::UserAgent]);
    let Some(dns) = corpus("zeek/slips/test9-mixed-zeek-dir/dns.log") else {
        return;
    };
    check(
        dns.at(1),
        &[
            (F::SrcIp, "10.0.2.15"),
            (F::DstIp, "147.32.80.9"),
            (F::QueryHostname, "isatap.felk.cvut.cz"),
        ],
    );
    let Some(ssl) = corpus("zeek/slips/test15-malicious-zeek-dir/ssl.log") else {
        return;
    };
    check(
        ssl.at(1),
        &[(F::DstIp, "52.0.131.132"), (F::TlsSni, "netflix.com")],
    );
    // Gzip JSON: a server seen offering a service; the browser software seen on a client.
    let Some(known) = corpus("zeek/zed-sample-data/known_services.json.gz") else {
        return;
    };
    check(
        known.at(1),
        &[(F::DstIp, "10.47.3.200"), (F::DstPort, "80")],
    );
    let Some(software) = corpus("zeek/zed-sample-data/software.json.gz") else {
        return;
    };
    check(software.at(1), &[(F::SrcIp, "10.164.94.120")]);
    absent(software.at(1), &[F::DstIp]);
    let Some(dhcp) = corpus("zeek/slips/test9-mixed-zeek-dir/dhcp.log") else {
        return;
    };
    check(
        dhcp.at(1),
        &[
            (F::SrcIp, "10.0.2.15"),
            (F::DstIp, "10.0.2.2"),
            (F::SrcHostname, "John-PC"),
        ],
    );
}

// ---------------------------------------------------------------- Suricata

#[test]
fn suricata_eve() {
    let Some(d) = corpus("suricata/slips/test6-malicious.suricata.json") else {
        return;
    };
    // Line 1: alert.
    check(
        d.at(1),
        &[
            (F::DeviceHostname, "stratosphere.org"),
            (F::SrcIp, "78.36.196.213"),
            (F::SrcPort, "51698"),
            (F::DstIp, "192.168.1.129"),
            (F::DstPort, "445"),
        ],
    );
    // Line 17: dns query.
    check(
        d.at(17),
        &[
            (F::SrcIp, "192.168.1.129"),
            (F::QueryHostname, "www.google.com"),
        ],
    );
    // Line 113: tls with JA3/JA3S.
    check(
        d.at(113),
        &[
            (F::DstIp, "122.248.252.67"),
            (F::DstPort, "55443"),
            (F::TlsSni, "www.myedimax.com"),
            (F::TlsJa3, "b7202231ff2db28363c109cedc6d1642"),
            (F::TlsJa3s, "ad90cab724fafab2660fbf61673c91a9"),
        ],
    );
    // Line 686: http.
    check(
        d.at(686),
        &[
            (F::SrcIp, "182.237.17.202"),
            (F::UrlHostname, "147.32.82.197"),
            (F::UrlString, "http://147.32.82.197/"),
            (
                F::UserAgent,
                "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Safari/537.36",
            ),
        ],
    );
    // Line 1136: fileinfo over HTTP on port 554; the file name `/` has no base name.
    let f = d.at(1136);
    check(f, &[(F::UrlString, "http://147.32.82.197:554/")]);
    absent(f, &[F::FileName]);
}

// ---------------------------------------------------------------- CloudTrail

#[test]
fn cloudtrail_records() {
    let Some(d) = corpus(
        "cloudtrail/invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1220Z_WMiHxZgr5Hdd6UDc.json",
    ) else {
        return;
    };
    check(
        d.at(1),
        &[
            (F::ActorUserUid, "arn:aws:iam::123837392027:user/bert-jan"),
            (F::ActorUserName, "bert-jan"),
            (F::ActorUserAccountUid, "123837392027"),
            (F::SrcIp, "192.168.10.20"),
            (F::CloudAccountUid, "123837392027"),
            (F::CloudRegion, "us-east-1"),
            (F::CloudProvider, "AWS"),
            (F::ApiOperation, "CreateVolume"),
            (F::ApiServiceName, "ec2.amazonaws.com"),
        ],
    );
    assert!(
        entities(d.at(1))
            .get_str(F::UserAgent)
            .unwrap()
            .starts_with("APN/1.0 HashiCorp/1.0 Terraform/1.1.2")
    );

    // An assumed-role session: the ARN is the session's, the name the role's.
    let Some(d) = corpus(
        "cloudtrail/invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1200Z_iLj9fb7yyUG9X4Bf.json",
    ) else {
        return;
    };
    check(
        d.at(12),
        &[
            (
                F::ActorUserUid,
                "arn:aws:sts::123837392027:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1688990082523310002",
            ),
            (
                F::ActorUserName,
                "stratus-red-team-ec2-get-password-data-role",
            ),
            (F::ApiOperation, "GetPasswordData"),
        ],
    );

    // `AWS Internal` is neither an address nor a domain.
    let Some(d) = corpus(
        "cloudtrail/invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json",
    ) else {
        return;
    };
    absent(d.at(1), &[F::SrcIp, F::SrcDomain]);
    check(d.at(1), &[(F::ActorUserName, "benjamin")]);

    // An AWS service acting: `sourceIPAddress` is its domain.
    let Some(d) =
        corpus("cloudtrail/otrf-security-datasets/ec2_proxy_s3_exfiltration_2020-09-14011940.json")
    else {
        return;
    };
    let e = d.at(40);
    check(
        e,
        &[
            (F::SrcDomain, "ec2.amazonaws.com"),
            (F::CloudAccountUid, "123456789123"),
            (F::ApiOperation, "AssumeRole"),
            (F::ApiServiceName, "sts.amazonaws.com"),
        ],
    );
    absent(e, &[F::SrcIp, F::ActorUserUid]);
}

// ---------------------------------------------------------------- Identity

#[test]
fn identity_providers() {
    let Some(path) = corpus_path("identity/panther-analysis/identity_rule_tests.jsonl") else {
        return;
    };
    let d = Decoded(decode_mem("identity_rule_tests.ndjson", &unwrap_rule_tests(&path)).events);
    // Line 1: Okta impersonation grant.
    let okta = d.at(1);
    assert_eq!(okta.logsource.to_string(), "product: okta, service: okta");
    check(
        okta,
        &[
            (F::ActorUserUid, "111111"),
            (F::ActorUserName, "homer@springfield.gov"),
            (F::ActorUserEmail, "homer@springfield.gov"),
            (F::SrcIp, "1.1.1.1"),
        ],
    );
    // Line 19: Okta privilege grant to a user target.
    check(
        d.at(19),
        &[
            (F::ActorUserName, "jack@acme.io"),
            (F::SrcIp, "136.24.229.58"),
            (F::UserName, "alice@acme.io"),
            (F::UserUid, "00u6eup97mAJZWYmP357"),
            (
                F::UserAgent,
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.198 Safari/537.36",
            ),
        ],
    );
    // Line 103: Entra ID sign-in (diagnostic export).
    let signin = d.at(103);
    assert_eq!(
        signin.logsource.to_string(),
        "product: azure, service: signinlogs"
    );
    check(
        signin,
        &[
            (F::ActorUserName, "aragorn@lotr.com"),
            (F::ActorUserUid, "user-victim-123"),
            (F::SrcIp, "2.2.2.2"),
            (F::CloudAccountUid, "tenant-123"),
            (F::CloudProvider, "Azure"),
            (
                F::UserAgent,
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/1.1.1.1",
            ),
        ],
    );
    // Line 101: Entra ID audit, initiated by a user.
    check(
        d.at(101),
        &[
            (F::ActorUserName, "denethor@lotr.com"),
            (F::ActorUserUid, "admin-compromised-001"),
            (F::SrcIp, "1.2.3.4"),
            (F::ApiOperation, "Authentication Methods Policy Update"),
        ],
    );
    // Line 216: Auth0 log stream record (wrapped in `data`).
    let auth0 = d.at(216);
    assert_eq!(auth0.logsource.to_string(), "product: auth0");
    check(
        auth0,
        &[
            (F::ActorUserUid, "google-oauth2|105261262156475850461"),
            (F::SrcIp, "12.12.12.12"),
        ],
    );

    // Sentinel's AuditLogs: `InitiatedBy` is a JSON string.
    let Some(d) = corpus("identity/otrf-golden-saml/AADAuditEvents.json") else {
        return;
    };
    let e = d.at(1);
    assert_eq!(
        e.logsource.to_string(),
        "product: azure, service: auditlogs"
    );
    check(
        e,
        &[
            (F::ActorUserName, "pgustavo@simulandlabs.com"),
            (F::ActorUserUid, "aead923d-498b-4f64-a66c-2af91447a8b6"),
            (F::CloudAccountUid, "00000000-0000-0000-0000-000000000000"),
        ],
    );
}

// ---------------------------------------------------------------- Linux

#[test]
fn linux_auditd_and_syslog() {
    let Some(d) = corpus("linux/otrf-security-datasets/sh_binary_padding_dd_2020-11-10081941.log")
    else {
        return;
    };
    // Event 1: SYSCALL+EXECVE+CWD+PATH×2+PROCTITLE of `dd if=/dev/zero bs=1 count=1`.
    check(
        d.at(1),
        &[
            (F::ProcessPath, "/bin/dd"),
            (F::ProcessName, "dd"),
            (F::ProcessPid, "2168"),
            (F::ParentPid, "29002"),
            (F::ProcessCmdLine, "dd if=/dev/zero bs=1 count=1"),
            (F::ActorUserUid, "1000"),
            (F::FilePath, "/bin/dd"),
            (F::FileName, "dd"),
        ],
    );
    let Some(d) = corpus("linux/otrf-security-datasets/sh_arp_cache_2020-11-10074812.log") else {
        return;
    };
    check(
        d.at(2),
        &[
            (F::ProcessName, "grep"),
            (F::ProcessPid, "1632"),
            (F::ProcessCmdLine, "grep -v ^?"),
        ],
    );

    let Some(ssh) = corpus("linux/loghub/OpenSSH/OpenSSH_2k.log") else {
        return;
    };
    // Line 6: `sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2`
    check(
        ssh.at(6),
        &[
            (F::DeviceHostname, "LabSZ"),
            (F::ProcessName, "sshd"),
            (F::ProcessPid, "24200"),
            (F::UserName, "webmaster"),
            (F::SrcIp, "173.234.31.186"),
            (F::SrcPort, "38926"),
        ],
    );
    absent(ssh.at(6), &[F::ActorUserName]);
    let Some(linux) = corpus("linux/loghub/Linux/Linux_2k.log") else {
        return;
    };
    // Line 1: pam_unix authentication failure from rhost=218.188.2.4; line 4 from a host name.
    check(
        linux.at(1),
        &[(F::DeviceHostname, "combo"), (F::SrcIp, "218.188.2.4")],
    );
    check(
        linux.at(4),
        &[(F::SrcHostname, "220-135-151-1.hinet-ip.hinet.net")],
    );
    absent(linux.at(4), &[F::SrcIp]);

    // Sentinel Syslog exports are generic JSON: host name and address still found.
    let Some(d) = corpus(
        "linux/otrf-security-datasets/syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference_2022-05-11181020.json",
    ) else {
        return;
    };
    check(
        d.at(1),
        &[(F::DeviceHostname, "UBUNTU5"), (F::DeviceIp, "192.168.2.5")],
    );
}

/// Sysmon for Linux (OTRF's Log4Shell capture in Sentinel `Syslog` records) gets the same
/// process, file and network entities as Sysmon for Windows, plus the syslog host's address.
#[test]
fn linux_sysmon_process_file_network() {
    let Some(d) = corpus(
        "linux/otrf-security-datasets/syslog_sysmon_log4shell_cve2021_44228_jndi_reference_2022-05-11181020.json",
    ) else {
        return;
    };
    // Record 8: Tomcat's JVM starts the payload (`bash -c {echo,…}`).
    check(
        d.at(8),
        &[
            (F::DeviceHostname, "UBUNTU5"),
            (F::DeviceIp, "192.168.2.5"),
            (F::ProcessPath, "/bin/bash"),
            (F::ProcessName, "bash"),
            (F::ProcessPid, "17790"),
            (
                F::ParentPath,
                "/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java",
            ),
            (F::ParentName, "java"),
            (F::ParentPid, "1340"),
            (F::ActorUserName, "tomcat"),
        ],
    );
    // Record 4: the JVM writes its log file.
    check(
        d.at(4),
        &[
            (F::FilePath, "/opt/tomcat/logs/vulnapp-2.14.0.log"),
            (F::FileName, "vulnapp-2.14.0.log"),
            (F::ProcessName, "java"),
        ],
    );
    // Record 33: the reverse shell's connection.
    check(
        d.at(33),
        &[
            (F::SrcIp, "192.168.2.5"),
            (F::SrcPort, "39634"),
            (F::DstIp, "192.168.2.6"),
            (F::DstPort, "443"),
            (F::ProcessName, "bash"),
        ],
    );
    // `User: -` is no user.
    absent(d.at(33), &[F::ActorUserName]);
}

// ---------------------------------------------------------------- every event

/// Every file of the corpus folders (Panther rule-test JSONL unwrapped to its logs; gzip
/// logs included, whether or not `discover` lists them).
fn decode_folder(dir: &Path, on_event: &mut dyn FnMut(Event)) {
    let mut files = discover(&[dir.to_path_buf()]).unwrap();
    files.extend(files_with_ext(dir, "gz"));
    files.sort();
    files.dedup();
    for path in files {
        let name = path.to_string_lossy().to_string();
        if name.ends_with("_rule_tests.jsonl") {
            for e in decode_mem(&name, &unwrap_rule_tests(&path)).events {
                on_event(e);
            }
            continue;
        }
        // Files no decoder reads (CSV, label files) are someone else's concern here.
        let _ = decode_file(&path, &DecodeOptions::default(), on_event, &mut |_| {});
    }
}

#[test]
fn every_event_of_every_corpus() {
    let folders = [
        "evtx-attack-samples",
        "security-datasets",
        "zeek",
        "suricata",
        "cloudtrail",
        "identity",
        "linux",
    ];
    let mut seen: BTreeMap<F, u64> = BTreeMap::new();
    let mut report = Vec::new();
    for folder in folders {
        let Some(dir) = corpus_path(folder) else {
            return;
        };
        let (mut events, mut with_entities) = (0u64, 0u64);
        // Per product: events, and events lacking what every event of it must have.
        let mut missing: BTreeMap<String, u64> = BTreeMap::new();
        // Logsources of the events without any entity, for the report.
        let mut empty: BTreeMap<String, u64> = BTreeMap::new();
        decode_folder(&dir, &mut |e| {
            events += 1;
            let ents = entities(&e);
            with_entities += u64::from(!ents.is_empty());
            if ents.is_empty() {
                *empty.entry(e.logsource.to_string()).or_default() += 1;
            }
            for (f, v) in ents.iter() {
                assert_typed(f, v);
                *seen.entry(f).or_default() += 1;
            }
            let json = ents.to_json();
            assert!(json.is_object());
            for (field, must) in required(&e) {
                if must && ents.get(field).is_none() {
                    *missing
                        .entry(format!("{} {field}", e.logsource))
                        .or_default() += 1;
                }
            }
        });
        assert!(events > 0, "{folder}: no events");
        assert!(missing.is_empty(), "{folder}: {missing:?}");
        report.push(format!(
            "{folder}: {events} events, {with_entities} with entities; none in {empty:?}"
        ));
        if !["identity", "zeek"].contains(&folder) {
            // Panther's identity tests include Duo/OneLogin/scheduled-query rows with no
            // recognised source, and Zeek has logs about no connection (x509, pe, software,
            // loaded_scripts, capture_loss…); every event of the other folders names some
            // entity.
            assert!(
                with_entities * 100 >= events * 99,
                "{folder}: only {with_entities} of {events} events have entities"
            );
        }
    }
    let never: Vec<&str> = F::ALL
        .iter()
        .filter(|f| !seen.contains_key(f))
        .map(|f| f.as_str())
        .collect();
    eprintln!("{}\nfields never produced: {never:?}", report.join("\n"));
    // The common entities are produced somewhere in the corpora.
    for f in [
        F::DeviceHostname,
        F::ActorUserName,
        F::UserName,
        F::SrcIp,
        F::DstPort,
        F::ProcessCmdLine,
        F::ParentPath,
        F::FileHash(HashAlgorithm::Sha256),
        F::ProcessFileHash(HashAlgorithm::Md5),
        F::QueryHostname,
        F::UrlString,
        F::TlsSni,
        F::CloudAccountUid,
        F::ApiOperation,
    ] {
        assert!(seen.contains_key(&f), "{f} never produced");
    }
}

/// What an event must yield, from the native fields it has: the tuple of every Zeek/Suricata
/// record with valid addresses, the account and operation of every CloudTrail record, the
/// host of every Windows event.
fn required(e: &Event) -> Vec<(F, bool)> {
    let valid_ip = |name: &str| {
        e.get_str(name)
            .and_then(|v| v.as_text())
            .is_some_and(|t| vigil_core::parse_ip(t.as_str()).is_some())
    };
    let has = |name: &str| e.get_str(name).is_some();
    match e.logsource.product.as_deref() {
        Some("windows") => vec![(F::DeviceHostname, has("Computer"))],
        Some("zeek") => vec![
            (F::SrcIp, valid_ip("id.orig_h")),
            (F::DstIp, valid_ip("id.resp_h")),
            (
                F::QueryHostname,
                e.logsource.service.as_deref() == Some("dns") && has("query"),
            ),
        ],
        Some("suricata") => vec![
            (F::SrcIp, valid_ip("src_ip")),
            (F::DstIp, valid_ip("dest_ip")),
        ],
        Some("aws") => vec![
            (F::CloudProvider, true),
            (F::ApiOperation, has("eventName")),
            (F::ActorUserUid, has("userIdentity.arn")),
        ],
        Some("okta") => vec![(F::ActorUserUid, has("actor.id"))],
        Some("linux") if e.logsource.service.as_deref() == Some("auditd") => {
            vec![(F::ProcessPid, has("pid"))]
        }
        Some("linux") => vec![(F::DeviceHostname, has("hostname"))],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------- OCSF schema

/// The OCSF schema as the repository ships it: the attribute dictionary and the objects, with
/// `extends` chains and `$include`d profiles resolved.
struct Schema {
    root: PathBuf,
    dictionary: serde_json::Map<String, serde_json::Value>,
    /// Scalar types (`hostname_t`) and what they refine.
    types: serde_json::Map<String, serde_json::Value>,
    objects: HashMap<String, serde_json::Value>,
    /// Attribute names used by some event class or profile (where a path may start).
    event_attributes: BTreeSet<String>,
}

impl Schema {
    fn load(root: &Path) -> Schema {
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_slice(&std::fs::read(p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let dict = read(&root.join("dictionary.json"));
        let dictionary = dict["attributes"].as_object().unwrap().clone();
        let types = dict["types"]["attributes"].as_object().unwrap().clone();
        let mut objects = HashMap::new();
        for entry in std::fs::read_dir(root.join("objects")).unwrap() {
            let obj = read(&entry.unwrap().path());
            objects.insert(obj["name"].as_str().unwrap().to_string(), obj);
        }
        let mut event_attributes = BTreeSet::new();
        let mut stack = vec![root.join("events"), root.join("profiles")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "json")
                    && let Some(attrs) = read(&p)["attributes"].as_object()
                {
                    event_attributes.extend(attrs.keys().cloned());
                }
            }
        }
        Schema {
            root: root.to_path_buf(),
            dictionary,
            types,
            objects,
            event_attributes,
        }
    }

    /// The attributes of object `name` (own, `$include`d, inherited) with their declared
    /// type override, if any.
    fn attributes(&self, name: &str) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        let mut next = Some(name.to_string());
        while let Some(name) = next.take() {
            let Some(obj) = self.objects.get(&name) else {
                break;
            };
            let attrs = obj["attributes"].as_object().cloned().unwrap_or_default();
            for (k, v) in &attrs {
                if k == "$include" {
                    for inc in v.as_array().into_iter().flatten() {
                        let p = self.root.join(inc.as_str().unwrap());
                        let prof: serde_json::Value =
                            serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                        for (pk, pv) in prof["attributes"].as_object().into_iter().flatten() {
                            out.entry(pk.clone())
                                .or_insert(pv["type"].as_str().map(str::to_string));
                        }
                    }
                } else {
                    out.entry(k.clone())
                        .or_insert(v["type"].as_str().map(str::to_string));
                }
            }
            next = obj["extends"].as_str().map(str::to_string);
        }
        out
    }

    /// Resolves a dotted attribute path to the type of its last attribute.
    fn resolve(&self, path: &str) -> Result<String, String> {
        let mut segments = path.split('.');
        let first = segments.next().unwrap();
        if !self.event_attributes.contains(first) {
            return Err(format!("{first}: no event class has it"));
        }
        let mut ty = self.dict_type(first)?;
        for seg in segments {
            let attrs = self.attributes(&ty);
            if attrs.is_empty() {
                return Err(format!("{path}: {ty} is not an object"));
            }
            let Some(over) = attrs.get(seg) else {
                return Err(format!("{path}: object {ty} has no {seg}"));
            };
            ty = match over {
                Some(t) => t.clone(),
                None => self.dict_type(seg)?,
            };
        }
        Ok(ty)
    }

    /// The scalar type `ty` is declared as (`process_name_t` → `string_t`).
    fn base_type(&self, ty: &str) -> String {
        let mut ty = ty.to_string();
        while let Some(base) = self.types.get(&ty).and_then(|t| t["type"].as_str()) {
            ty = base.to_string();
        }
        ty
    }

    fn dict_type(&self, name: &str) -> Result<String, String> {
        self.dictionary
            .get(name)
            .and_then(|a| a["type"].as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("{name}: not in the dictionary"))
    }
}

#[test]
fn every_entity_name_is_an_ocsf_attribute() {
    let Some(root) = corpus_path("ocsf-schema") else {
        return;
    };
    let schema = Schema::load(&root);
    for field in F::ALL {
        let ty = schema
            .resolve(field.ocsf_path())
            .unwrap_or_else(|e| panic!("{field}: {e}"));
        // The value type agrees with OCSF's (text: any string type but an IP).
        let ok = match field.value_type() {
            EntityType::Ip => ty == "ip_t",
            EntityType::Port => ty == "port_t",
            EntityType::Pid => ty == "integer_t",
            EntityType::Text => ty != "ip_t" && schema.base_type(&ty) == "string_t",
        };
        assert!(ok, "{field}: OCSF type {ty}, ours {:?}", field.value_type());
        // Hash algorithms are OCSF fingerprint algorithm ids with OCSF's caption.
        if let Some(alg) = field.hash_algorithm() {
            let caption = &schema.objects["fingerprint"]["attributes"]["algorithm_id"]["enum"]
                [alg.ocsf_id().to_string()]["caption"];
            assert_eq!(caption, alg.caption(), "{field}");
        }
    }
    // A path that is not OCSF is refused (the check is not vacuous).
    assert!(schema.resolve("dns.query.hostname").is_err());
    assert!(schema.resolve("http.user_agent").is_err());
    assert!(schema.resolve("src_endpoint.ipaddr").is_err());
}
