//! Concrete field values of real records, in each rendering.

mod common;

use common::decode_path;
use vigil_core::corpus::corpus_path;
use vigil_core::{Event, LogSource, Value};
use vigil_ingest::Format;

fn s(v: &str) -> Value {
    Value::str(v)
}

fn by_record(events: &[Event], id: u64) -> &Event {
    events
        .iter()
        .find(|e| e.source.record_id == Some(id))
        .unwrap_or_else(|| panic!("record {id} missing"))
}

#[test]
fn sysmon_process_creation() {
    let Some(path) = corpus_path(
        "evtx-attack-samples/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
    ) else {
        return;
    };
    let d = decode_path(&path, 1);
    assert_eq!(
        (d.stats.format, d.stats.events, d.stats.errors),
        (Format::Evtx, 23, 0)
    );
    let e = by_record(&d.events, 6577);
    assert_eq!(e.get_str("EventID"), Some(&Value::Int(1)));
    assert_eq!(
        e.get_str("Image"),
        Some(&s(r"C:\Users\IEUser\Downloads\Flash_update.exe"))
    );
    assert_eq!(
        e.get_str("CommandLine"),
        Some(&s(r#""C:\Users\IEUser\Downloads\Flash_update.exe""#))
    );
    assert_eq!(
        e.get_str("ParentImage"),
        Some(&s(r"C:\Windows\explorer.exe"))
    );
    assert_eq!(e.get_str("ProcessId"), Some(&s("2680")));
    assert_eq!(
        e.get_str("Provider_Name"),
        Some(&s("Microsoft-Windows-Sysmon"))
    );
    assert_eq!(e.get_str("Execution_ProcessID"), Some(&s("1912")));
    assert_eq!(e.get_str("Security_UserID"), Some(&s("S-1-5-18")));
    assert_eq!(e.get_str("Computer"), Some(&s("IEWIN7")));
    assert_eq!(e.get_str("EventRecordID"), Some(&s("6577")));
    assert_eq!(
        e.logsource,
        LogSource::product("windows").with_service("sysmon")
    );
    assert_eq!(e.time.unwrap().to_string(), "2019-04-27T15:57:53.368863Z");
    // The record's own offset: past the file header, inside the first chunk.
    let offset = e.source.offset.expect("record offset");
    assert!((4096 + 512..4096 + 65536).contains(&offset), "{offset}");
    assert_eq!(&*e.source.file, path.to_str().unwrap());
}

#[test]
fn security_4688_and_log_cleared() {
    let Some(path) = corpus_path("evtx-attack-samples/Command and Control/DE_RDP_Tunnel_5156.evtx")
    else {
        return;
    };
    let d = decode_path(&path, 2);
    let e = by_record(&d.events, 227695);
    assert_eq!(e.get_str("EventID"), Some(&Value::Int(4688)));
    assert_eq!(
        e.get_str("NewProcessName"),
        Some(&s(r"C:\Windows\System32\TSTheme.exe"))
    );
    assert_eq!(e.get_str("NewProcessId"), Some(&s("0x1fc")));
    assert_eq!(e.get_str("CommandLine"), Some(&s("")));
    assert_eq!(
        e.get_str("Provider_Guid"),
        Some(&s("{54849625-5478-4994-a5ba-3e3b0328c30d}"))
    );
    assert_eq!(
        e.logsource,
        LogSource::product("windows").with_service("security")
    );
    // 1102 "audit log cleared": UserData leaves by their own name.
    let cleared = d
        .events
        .iter()
        .find(|e| e.get_str("EventID") == Some(&Value::Int(1102)))
        .unwrap();
    assert_eq!(cleared.get_str("SubjectUserName"), Some(&s("admin01")));
    assert_eq!(cleared.get_str("SubjectLogonId"), Some(&s("0xaf855")));
}

#[test]
fn classic_powershell_unnamed_data_and_name_clashes() {
    let Some(path) =
        corpus_path("evtx-attack-samples/Other/emotet/exec_emotet_ps_800_invoke-item.evtx")
    else {
        return;
    };
    let d = decode_path(&path, 1);
    let e = &d.events[0];
    assert_eq!(e.get_str("EventID"), Some(&Value::Int(800)));
    assert_eq!(e.get_str("EventID_Qualifiers"), Some(&s("0")));
    assert_eq!(
        e.logsource,
        LogSource::product("windows").with_service("powershell-classic")
    );
    let Some(Value::List(items)) = e.get_str("Data") else {
        panic!("Data list")
    };
    assert!(items.len() > 1);
    assert!(
        items[0]
            .as_text()
            .unwrap()
            .as_str()
            .starts_with("$Va5w3n8=")
    );

    // System event 104 has a UserData leaf named Channel too: kept as UserData.Channel.
    let Some(path) =
        corpus_path("evtx-attack-samples/Defense Evasion/DE_104_system_log_cleared.evtx")
    else {
        return;
    };
    let d = decode_path(&path, 1);
    let e = d
        .events
        .iter()
        .find(|e| e.get_str("EventID") == Some(&Value::Int(104)))
        .unwrap();
    assert_eq!(e.get_str("Channel"), Some(&s("System")));
    assert_eq!(e.get_str("UserData.Channel"), Some(&s("System")));
    assert_eq!(e.get_str("BackupPath"), Some(&s("")));
    assert_eq!(
        e.logsource,
        LogSource::product("windows").with_service("system")
    );
}

#[test]
fn otrf_security_datasets_record() {
    let Some(path) = corpus_path(
        "security-datasets/windows/defense_evasion/host/cmd_bitsadmin_download_psh_script_2020-10-2302365189.json",
    ) else {
        return;
    };
    let d = decode_path(&path, 0);
    assert_eq!(
        (d.stats.format, d.stats.json_shape),
        (Format::Json, Some(vigil_ingest::JsonShape::Lines))
    );
    assert_eq!((d.stats.events, d.stats.errors), (424, 0));
    let e = &d.events[0];
    assert_eq!(e.get_str("EventID"), Some(&Value::Int(1102)));
    assert_eq!(e.get_str("Computer"), Some(&s("WORKSTATION5")));
    assert_eq!(e.get_str("Hostname"), Some(&s("WORKSTATION5")));
    assert_eq!(
        e.get_str("Provider_Name"),
        Some(&s("Microsoft-Windows-Eventlog"))
    );
    assert_eq!(
        e.get_str("Provider_Guid"),
        Some(&s("{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}"))
    );
    assert_eq!(e.get_str("Level"), Some(&s("4")));
    assert_eq!(
        e.logsource,
        LogSource::product("windows").with_service("security")
    );
    assert_eq!(e.time.unwrap().to_string(), "2020-10-23T02:36:40.671Z");
    assert_eq!((e.source.record_id, e.source.offset), (Some(1), Some(0)));
    // The second record starts right after the first line.
    let first_line = std::fs::read(&path)
        .unwrap()
        .iter()
        .position(|&b| b == b'\n')
        .unwrap() as u64;
    assert_eq!(d.events[1].source.offset, Some(first_line + 1));
    assert!(
        d.events
            .iter()
            .all(|e| matches!(e.get_str("EventID"), Some(Value::Int(_))))
    );
    let bits = d
        .events
        .iter()
        .find(|e| {
            e.get_str("Image")
                .is_some_and(|v| v.to_string().ends_with("bitsadmin.exe"))
        })
        .unwrap();
    assert!(
        bits.get_str("CommandLine")
            .unwrap()
            .to_string()
            .contains("/transfer")
    );
}

#[test]
fn chunk_workers_do_not_change_the_output() {
    let Some(path) = corpus_path(
        "evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
    ) else {
        return;
    };
    let one = decode_path(&path, 1);
    let two = decode_path(&path, 2);
    assert_eq!(one.stats.events, 565);
    assert_eq!(one.events.len(), two.events.len());
    for (a, b) in one.events.iter().zip(&two.events) {
        assert_eq!(a.fields(), b.fields());
        assert_eq!(a.source, b.source);
    }
    // File order: record ids ascend.
    assert!(
        one.events
            .windows(2)
            .all(|w| w[0].source.record_id < w[1].source.record_id)
    );
}
