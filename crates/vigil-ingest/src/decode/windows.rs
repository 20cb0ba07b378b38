//! Windows event normalisation, shared by the EVTX decoder and every JSON rendering of Windows
//! events (evtx_dump's `Event.System`/`Event.EventData`, OTRF Security-Datasets records,
//! Winlogbeat/ECS), so that Sigma rules see the same field names and types whichever form an
//! event arrives in.
//!
//! The names are the ones Sigma's Windows rules use:
//! - `<Data Name="X">` in EventData → `X`; unnamed `<Data>` → `Data` (a list if several).
//! - UserData leaf elements → their own name; a leaf's attributes → `Leaf_Attribute`.
//! - System children keep their name (`EventID`, `Channel`, `Computer`, `EventRecordID`, …);
//!   System attributes become `Tag_Attribute` (`Provider_Name`, `Execution_ProcessID`,
//!   `Security_UserID`, `TimeCreated_SystemTime`, …).
//!
//! An EventData/UserData item named like a System child (`Version` in Sysmon event 4,
//! `Channel` in event 104) is kept as `EventData.Version` / `UserData.Channel`, so System's
//! value stays a scalar (routing reads `Channel` and `EventID`). Other repeated names become a
//! list: nothing is dropped, and a Sigma value matches a list when any element matches.
//!
//! Types: `EventID` is always [`Value::Int`]; every other value is the string Windows writes in
//! its XML (numbers in decimal, as `evtx` renders them), because Sigma compares numbers as
//! strings too and EVTX and JSON must agree. Values are also put in one canonical form where
//! evtx_dump versions differ: trailing blanks trimmed and GUIDs as `{lowercase}` (see
//! `flatten::scalar`), `TimeCreated_SystemTime` to the microsecond (see `finish`).

use jiff::Timestamp;
use vigil_core::{Event, LogSource, Symbol, Value};

use super::flatten::{Scalars, flatten, scalar};
use super::put;
use super::tree::Json;

/// Which Windows rendering a JSON record is, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rendering {
    /// `{"Event": {"System": …, "EventData": …}}` as evtx_dump (and the `evtx` crate) write it.
    EvtxJson,
    /// OTRF Security-Datasets: System and EventData fields flattened at the top level.
    Otrf,
    /// Winlogbeat / Elastic Common Schema (`winlog.*`).
    Ecs,
}

/// Recognises a Windows rendering from a record's top-level keys.
pub(crate) fn rendering(record: &Json) -> Option<Rendering> {
    let members = record.as_object()?;
    if let Some(Json::Object(event)) = record.get("Event")
        && event.iter().any(|(k, _)| k == "System")
    {
        return Some(Rendering::EvtxJson);
    }
    if matches!(record.get("winlog"), Some(Json::Object(_))) {
        return Some(Rendering::Ecs);
    }
    let has = |name: &str| members.iter().any(|(k, _)| k == name);
    if has("EventID") && (has("Channel") || has("SourceName") || has("Hostname")) {
        return Some(Rendering::Otrf);
    }
    None
}

/// Fills `event` from a record of the given rendering (see the module docs for the names).
pub(crate) fn normalise(kind: Rendering, record: &Json, event: &mut Event) {
    match kind {
        Rendering::EvtxJson => {
            if let Some(root) = record.get("Event") {
                from_event_xml(root, event);
            }
        }
        Rendering::Otrf => from_otrf(record, event),
        Rendering::Ecs => from_ecs(record, event),
    }
    finish(event);
}

/// The `Event` element of the evtx JSON rendering.
fn from_event_xml(root: &Json, event: &mut Event) {
    let Some(members) = root.as_object() else {
        return;
    };
    for (key, value) in members {
        match key.as_ref() {
            "System" => system(value, event),
            "EventData" => event_data(value, event),
            // RenderingInfo (from an .MTA) repeats System names (Level, Task) as display text;
            // it would shadow the real ones, so it is left out.
            "RenderingInfo" | "#attributes" | "Event_attributes" => {}
            // UserData and anything else: leaf elements by their own name.
            _ => leaves(key, None, value, event),
        }
    }
}

fn system(value: &Json, event: &mut Event) {
    let Some(members) = value.as_object() else {
        return;
    };
    for (key, child) in members {
        // `separate_json_attributes` renders `Provider_attributes: {Name: …}` beside `Provider`.
        if let Some(tag) = key.strip_suffix("_attributes") {
            attributes(tag, child, event);
            continue;
        }
        match child {
            Json::Object(_) => {
                if let Some(attrs) = child.get("#attributes") {
                    attributes(key, attrs, event);
                }
                if let Some(text) = child.get("#text") {
                    system_value(key, text, event);
                }
            }
            // An empty element (`<Correlation/>`) carries nothing.
            Json::Null => {}
            _ => system_value(key, child, event),
        }
    }
}

fn system_value(key: &str, value: &Json, event: &mut Event) {
    if key == "EventID" {
        put(event, key, event_id(value));
    } else if value.is_scalar() {
        put(event, key, scalar(value, Scalars::Text));
    }
}

/// `EventID` as an integer (a string that is not a number stays a string rather than vanish).
fn event_id(value: &Json) -> Value {
    match value.as_i64() {
        Some(id) => Value::Int(id),
        None => scalar(value, Scalars::Text),
    }
}

/// `Tag_Attribute` fields from an `#attributes` object; namespace declarations are skipped.
fn attributes(tag: &str, attrs: &Json, event: &mut Event) {
    let Some(members) = attrs.as_object() else {
        return;
    };
    for (name, value) in members {
        if name == "xmlns" || name.starts_with("xmlns:") || !value.is_scalar() {
            continue;
        }
        // Built by hand: `format!` showed as 4% of EVTX decode time here.
        let mut field = String::with_capacity(tag.len() + 1 + name.len());
        field.push_str(tag);
        field.push('_');
        field.push_str(name);
        put(event, &field, scalar(value, Scalars::Text));
    }
}

fn event_data(value: &Json, event: &mut Event) {
    let Some(members) = value.as_object() else {
        return;
    };
    for (key, child) in members {
        match key.as_ref() {
            "#attributes" => {}
            // Unnamed `<Data>` items: `{"#text": "x"}` or `{"#text": ["a", "b"]}`.
            "Data" => {
                let items = match child {
                    Json::Object(_) => child.get("#text").unwrap_or(&Json::Null),
                    other => other,
                };
                put(event, "Data", data_value(items));
            }
            _ => match child {
                Json::Object(_) => match child.get("#text") {
                    Some(text) => put_data(event, "EventData", key, data_value(text)),
                    None => leaves("EventData", Some(key), child, event),
                },
                _ => put_data(event, "EventData", key, data_value(child)),
            },
        }
    }
}

/// An EventData value: a string, or a list of strings for repeated items.
fn data_value(value: &Json) -> Value {
    match value {
        Json::Array(items) => Value::List(items.iter().map(data_value).collect()),
        Json::Object(_) => Value::str(""),
        scalar_node => scalar(scalar_node, Scalars::Text),
    }
}

/// System's plain child names. A data item with one of these names is kept as
/// `Section.Name` (`UserData.Channel` in event 104, `EventData.Version` in Sysmon event 4), so
/// System's own value stays a scalar: routing reads `Channel` and `EventID` as scalars.
pub(crate) const SYSTEM_NAMES: &[&str] = &[
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "EventRecordID",
    "Channel",
    "Computer",
];

/// Puts an EventData/UserData item under its own name, or `section.name` for a System name.
fn put_data(event: &mut Event, section: &str, name: &str, value: Value) {
    if SYSTEM_NAMES.contains(&name) {
        put(event, &format!("{section}.{name}"), value);
    } else {
        put(event, name, value);
    }
}

/// Leaf elements under `value` by their own name (UserData and unknown containers, whose
/// element name is `section`).
fn leaves(section: &str, name: Option<&str>, value: &Json, event: &mut Event) {
    match value {
        Json::Object(members) => {
            for (key, child) in members {
                match key.as_ref() {
                    "#attributes" => {
                        if let Some(name) = name {
                            attributes(name, child, event);
                        }
                    }
                    "#text" => {
                        if let Some(name) = name {
                            put_data(event, section, name, data_value(child));
                        }
                    }
                    _ => leaves(section, Some(key), child, event),
                }
            }
        }
        Json::Array(items) => {
            for item in items {
                leaves(section, name, item, event);
            }
        }
        scalar_node => {
            if let Some(name) = name {
                put_data(event, section, name, scalar(scalar_node, Scalars::Text));
            }
        }
    }
}

/// OTRF Security-Datasets: the record is already flat; keep every field, and add the
/// evtx names that rules use where OTRF has its own (`Hostname`, `SourceName`, `ProviderGuid`).
fn from_otrf(record: &Json, event: &mut Event) {
    let Some(members) = record.as_object() else {
        return;
    };
    let mut prefix = String::new();
    for (key, value) in members {
        if key == "EventID" {
            put(event, key, event_id(value));
        } else {
            prefix.clear();
            prefix.push_str(key);
            flatten(&mut prefix, value, Scalars::Text, event);
        }
    }
    for (otrf, evtx) in [
        ("Hostname", "Computer"),
        ("SourceName", "Provider_Name"),
        ("ProviderGuid", "Provider_Guid"),
    ] {
        if event.get_str(evtx).is_none()
            && let Some(v) = event.get_str(otrf).cloned()
        {
            put(event, evtx, v);
        }
    }
}

/// Winlogbeat / ECS: `winlog.*` mapped to the evtx names, everything else flattened with
/// dotted names as generic JSON would be.
fn from_ecs(record: &Json, event: &mut Event) {
    let Some(members) = record.as_object() else {
        return;
    };
    let mut prefix = String::new();
    for (key, value) in members {
        if key == "winlog" {
            winlog(value, event);
        } else {
            prefix.clear();
            prefix.push_str(key);
            flatten(&mut prefix, value, Scalars::Native, event);
        }
    }
}

fn winlog(value: &Json, event: &mut Event) {
    let Some(members) = value.as_object() else {
        return;
    };
    let mut prefix = String::new();
    for (key, child) in members {
        let name = match key.as_ref() {
            "event_data" => {
                event_data(child, event);
                continue;
            }
            "user_data" => {
                leaves("UserData", None, child, event);
                continue;
            }
            "event_id" => {
                put(event, "EventID", event_id(child));
                continue;
            }
            "process" => {
                if let Some(pid) = child.get("pid") {
                    put(event, "Execution_ProcessID", scalar(pid, Scalars::Text));
                }
                if let Some(tid) = child.get("thread").and_then(|t| t.get("id")) {
                    put(event, "Execution_ThreadID", scalar(tid, Scalars::Text));
                }
                continue;
            }
            "user" => {
                if let Some(sid) = child.get("identifier") {
                    put(event, "Security_UserID", scalar(sid, Scalars::Text));
                }
                None
            }
            "channel" => Some("Channel"),
            "computer_name" => Some("Computer"),
            "provider_name" => Some("Provider_Name"),
            "provider_guid" => Some("Provider_Guid"),
            "record_id" => Some("EventRecordID"),
            "task" => Some("Task"),
            "opcode" => Some("Opcode"),
            "version" => Some("Version"),
            "keywords" => Some("Keywords"),
            _ => None,
        };
        match name {
            Some(name) => match child {
                Json::Array(items) => {
                    let list = items.iter().map(|i| scalar(i, Scalars::Text)).collect();
                    put(event, name, Value::List(list));
                }
                _ => put(event, name, scalar(child, Scalars::Text)),
            },
            // Anything else stays addressable under its ECS name.
            None => {
                prefix.clear();
                prefix.push_str("winlog.");
                prefix.push_str(key);
                flatten(&mut prefix, child, Scalars::Native, event);
            }
        }
    }
}

/// Sets the logsource (`product: windows`, `service` from the channel) and the event time.
fn finish(event: &mut Event) {
    let mut logsource = LogSource::product("windows");
    if let Some(service) = event
        .get_str("Channel")
        .and_then(Value::as_text)
        .and_then(|c| service_for_channel(c.as_str()))
    {
        logsource = logsource.with_service(service);
    }
    event.logsource = logsource;
    // An exported log renumbers its record headers from 1, and a JSON file only has positions;
    // `EventRecordID` is the number the event had on its host, the one analysts search for.
    if let Some(id) = event
        .get_str("EventRecordID")
        .and_then(Value::as_f64)
        .filter(|id| *id >= 0.0)
    {
        event.source.record_id = Some(id as u64);
    }
    // evtx_dump (and so the SigmaHQ regression JSON) writes SystemTime to the microsecond,
    // the `evtx` crate and Windows to 100 ns: one canonical form keeps EVTX and JSON equal.
    let system_time = Symbol::intern("TimeCreated_SystemTime");
    if let Some(ts) = event
        .get(system_time)
        .and_then(Value::as_text)
        .and_then(|t| parse_time(t.as_str()))
    {
        let micros = Timestamp::from_microsecond(ts.as_microsecond()).unwrap_or(ts);
        event.set(system_time, Value::str(format!("{micros:.6}")));
        event.time = Some(micros);
        return;
    }
    event.time = ["@timestamp", "TimeCreated", "EventTime"]
        .iter()
        .filter_map(|name| Symbol::lookup(name))
        .filter_map(|name| event.get(name))
        .filter_map(Value::as_text)
        .find_map(|t| parse_time(t.as_str()));
}

/// Sigma's Windows `service` for a channel, where the mapping is well known. This is
/// informational: the Sigma field mapping routes rules by channel and EventID itself.
pub(crate) fn service_for_channel(channel: &str) -> Option<&'static str> {
    const SERVICES: &[(&str, &str)] = &[
        ("Security", "security"),
        ("System", "system"),
        ("Application", "application"),
        ("Microsoft-Windows-Sysmon/Operational", "sysmon"),
        ("Microsoft-Windows-PowerShell/Operational", "powershell"),
        ("PowerShellCore/Operational", "powershell"),
        ("Windows PowerShell", "powershell-classic"),
        (
            "Microsoft-Windows-Windows Defender/Operational",
            "windefend",
        ),
        (
            "Microsoft-Windows-TaskScheduler/Operational",
            "taskscheduler",
        ),
        ("Microsoft-Windows-WMI-Activity/Operational", "wmi"),
        ("Microsoft-Windows-DNS-Client/Operational", "dns-client"),
        ("DNS Server", "dns-server"),
        ("Microsoft-Windows-Bits-Client/Operational", "bits-client"),
        (
            "Microsoft-Windows-CodeIntegrity/Operational",
            "codeintegrity-operational",
        ),
        (
            "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
            "firewall-as",
        ),
        ("Microsoft-Windows-NTLM/Operational", "ntlm"),
        ("Microsoft-Windows-SMBClient/Security", "smbclient-security"),
        ("Microsoft-Windows-PrintService/Admin", "printservice-admin"),
        (
            "Microsoft-Windows-PrintService/Operational",
            "printservice-operational",
        ),
        (
            "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
            "terminalservices-localsessionmanager",
        ),
        (
            "Microsoft-Windows-DriverFrameworks-UserMode/Operational",
            "driver-framework",
        ),
        ("Microsoft-Windows-Shell-Core/Operational", "shell-core"),
        (
            "Microsoft-Windows-AppXDeployment-Server/Operational",
            "appxdeployment-server",
        ),
        (
            "Microsoft-Windows-AppXPackaging/Operational",
            "appxpackaging-om",
        ),
        ("Microsoft-Windows-CAPI2/Operational", "capi2"),
        (
            "Microsoft-Windows-Kernel-ShimEngine/Operational",
            "shimengine",
        ),
        ("Microsoft-Windows-OpenSSH/Operational", "openssh"),
        (
            "Microsoft-Windows-Diagnosis-Scripted/Operational",
            "diagnosis-scripted",
        ),
        ("Microsoft-Windows-LDAP-Client/Debug", "ldap_debug"),
        (
            "Microsoft-Windows-Security-Mitigations/KernelMode",
            "security-mitigations",
        ),
        (
            "Microsoft-Windows-Security-Mitigations/UserMode",
            "security-mitigations",
        ),
        ("Microsoft-Windows-Kernel-PnP/Configuration", "kernel-pnp"),
        ("Microsoft-Windows-Ntfs/Operational", "ntfs"),
        ("Microsoft-Windows-Hyper-V-Worker-Admin", "hyper-v-worker"),
    ];
    if channel.starts_with("Microsoft-Windows-AppLocker/") {
        return Some("applocker");
    }
    SERVICES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(channel))
        .map(|(_, service)| *service)
}

/// An event time: RFC 3339 (`2020-10-23T02:36:40.671Z`, up to 9 fractional digits), or a
/// zone-less `2020-09-22 14:53:02` (NXLog's `EventTime`), taken as UTC.
pub(crate) fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let civil = text.parse::<jiff::civil::DateTime>().ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(civil).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Event {
        let record: Json = serde_json::from_str(text).unwrap();
        let mut event = Event::default();
        normalise(
            rendering(&record).expect("a windows rendering"),
            &record,
            &mut event,
        );
        event
    }

    #[test]
    fn evtx_json_rendering() {
        let e = decode(
            r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"EventLog","Guid":"{a}"}},
            "EventID":{"#attributes":{"Qualifiers":32768},"#text":6009},"Level":4,"TimeCreated":{"#attributes":{"SystemTime":"2017-07-12T17:16:28.2141616Z"}},
            "Correlation":null,"Channel":"System","Security":{"#attributes":{"UserID":"S-1-5-18"}}},
            "EventData":{"Data":{"#text":["10.00.","15063",""]},"ProcessId":4460,"Empty":null}}}"##,
        );
        assert_eq!(e.get_str("EventID"), Some(&Value::Int(6009)));
        assert_eq!(e.get_str("EventID_Qualifiers"), Some(&Value::str("32768")));
        assert_eq!(e.get_str("Provider_Name"), Some(&Value::str("EventLog")));
        assert_eq!(e.get_str("Level"), Some(&Value::str("4")));
        assert_eq!(e.get_str("Security_UserID"), Some(&Value::str("S-1-5-18")));
        assert_eq!(e.get_str("ProcessId"), Some(&Value::str("4460")));
        assert_eq!(e.get_str("Empty"), Some(&Value::str("")));
        assert_eq!(
            e.get_str("Data"),
            Some(&Value::List(vec![
                Value::str("10.00."),
                Value::str("15063"),
                Value::str("")
            ]))
        );
        assert!(e.get_str("Correlation").is_none());
        assert_eq!(
            e.logsource,
            LogSource::product("windows").with_service("system")
        );
        assert_eq!(e.time.unwrap().to_string(), "2017-07-12T17:16:28.214161Z");
        assert_eq!(
            e.get_str("TimeCreated_SystemTime"),
            Some(&Value::str("2017-07-12T17:16:28.214161Z"))
        );
    }

    #[test]
    fn user_data_leaves() {
        let e = decode(
            r##"{"Event":{"System":{"EventID":1102,"Channel":"Security"},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"http://x"},
            "SubjectUserName":"bob","URL":{"#attributes":{"scheme":"http"},"#text":"http://a"}}}}}"##,
        );
        assert_eq!(e.get_str("SubjectUserName"), Some(&Value::str("bob")));
        assert_eq!(e.get_str("URL"), Some(&Value::str("http://a")));
        assert_eq!(e.get_str("URL_scheme"), Some(&Value::str("http")));
        assert_eq!(e.len(), 5);
    }

    #[test]
    fn otrf_adds_evtx_names() {
        let e = decode(
            r##"{"EventID":"4689","SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"WS5","Channel":"Security","Task":13313,"EventTime":"2020-09-22 14:53:02"}"##,
        );
        assert_eq!(e.get_str("EventID"), Some(&Value::Int(4689)));
        assert_eq!(e.get_str("Computer"), Some(&Value::str("WS5")));
        assert_eq!(
            e.get_str("Provider_Name"),
            Some(&Value::str("Microsoft-Windows-Security-Auditing"))
        );
        assert_eq!(e.get_str("Task"), Some(&Value::str("13313")));
        assert_eq!(e.time.unwrap().to_string(), "2020-09-22T14:53:02Z");
    }

    #[test]
    fn channels_to_services() {
        assert_eq!(
            service_for_channel("Microsoft-Windows-Sysmon/Operational"),
            Some("sysmon")
        );
        assert_eq!(
            service_for_channel("Windows PowerShell"),
            Some("powershell-classic")
        );
        assert_eq!(service_for_channel("security"), Some("security"));
        assert_eq!(
            service_for_channel("Microsoft-Windows-AppLocker/EXE and DLL"),
            Some("applocker")
        );
        assert_eq!(service_for_channel("Something/Else"), None);
    }
}
