//! Winlogbeat / ECS records map to the same Windows names as EVTX (fixture made by hand, see
//! `fixtures/README.md`).

mod common;

use std::path::Path;

use common::decode_path;
use vigil_core::{LogSource, Value};

fn s(v: &str) -> Value {
    Value::str(v)
}

#[test]
fn winlogbeat_maps_to_evtx_names() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/winlogbeat.ndjson");
    let d = decode_path(&path, 0);
    assert_eq!((d.stats.events, d.stats.errors), (2, 0));

    let e = &d.events[0];
    assert_eq!(e.get_str("EventID"), Some(&Value::Int(1)));
    assert_eq!(
        e.get_str("Channel"),
        Some(&s("Microsoft-Windows-Sysmon/Operational"))
    );
    assert_eq!(e.get_str("Computer"), Some(&s("ws01.corp.local")));
    assert_eq!(
        e.get_str("Provider_Name"),
        Some(&s("Microsoft-Windows-Sysmon"))
    );
    assert_eq!(
        e.get_str("Provider_Guid"),
        Some(&s("{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"))
    );
    assert_eq!(e.get_str("EventRecordID"), Some(&s("81234")));
    assert_eq!(e.get_str("Version"), Some(&s("5")));
    assert_eq!(e.get_str("Execution_ProcessID"), Some(&s("3112")));
    assert_eq!(e.get_str("Execution_ThreadID"), Some(&s("4016")));
    assert_eq!(e.get_str("Security_UserID"), Some(&s("S-1-5-18")));
    assert_eq!(e.get_str("Image"), Some(&s(r"C:\Windows\System32\cmd.exe")));
    assert_eq!(
        e.get_str("CommandLine"),
        Some(&s(r#""C:\Windows\System32\cmd.exe" /c whoami"#))
    );
    assert_eq!(e.get_str("User"), Some(&s(r"CORP\alice")));
    assert_eq!(
        e.logsource,
        LogSource::product("windows").with_service("sysmon")
    );
    assert_eq!(e.time.unwrap().to_string(), "2023-03-14T09:21:07.512Z");
    // Non-winlog ECS fields stay addressable by their dotted names, with JSON types.
    assert_eq!(e.get_str("host.name"), Some(&s("ws01.corp.local")));
    assert_eq!(e.get_str("process.pid"), Some(&Value::Int(4242)));
    assert_eq!(e.get_str("winlog.user.name"), Some(&s("SYSTEM")));
    assert_eq!(e.get_str("winlog.api"), Some(&s("wineventlog")));
    // The record id is the host's EventRecordID; the offset locates the record in the file.
    assert_eq!(
        (e.source.record_id, e.source.offset),
        (Some(81234), Some(0))
    );

    let e = &d.events[1];
    assert_eq!(e.get_str("EventID"), Some(&Value::Int(4624)));
    assert_eq!(e.get_str("EventRecordID"), Some(&s("99001")));
    assert_eq!(
        e.get_str("Keywords"),
        Some(&Value::List(vec![s("Audit Success")]))
    );
    assert_eq!(e.get_str("LogonType"), Some(&s("3")));
    assert_eq!(e.get_str("IpAddress"), Some(&s("10.0.0.7")));
    assert_eq!(e.get_str("winlog.logon.type"), Some(&s("Network")));
    assert_eq!(
        e.logsource,
        LogSource::product("windows").with_service("security")
    );
}
