//! Sysmon for Linux: the `<Event>` XML it writes to syslog (`sysmon: <Event><System>…`), found
//! in plain syslog lines (`program: sysmon`) and in Microsoft Sentinel `Syslog` exports
//! (`SyslogMessage`), decoded into the field names SigmaHQ's Linux category rules use.
//!
//! Fields: each `<Data Name="X">` of EventData → `X` (`Image`, `CommandLine`, `ParentImage`,
//! `User`, `TargetFilename`, `DestinationIp`, …); System children by their own name
//! (`EventID`, `Channel`, `Computer`, …) and System attributes as `Tag_Attribute`
//! (`Provider_Name`, `TimeCreated_SystemTime`, `Execution_ProcessID`, `Security_UserId`), as
//! the Windows decoders name them. `EventID` is an integer, everything else the string Sysmon
//! wrote. An EventData item named like a System child is `EventData.Name` (as for Windows).
//!
//! Logsource: `product: linux, service: sysmon`, and the Sigma category of the EventID (1
//! process_creation, 3 network_connection, 4/16 sysmon_status, 5 process_termination, 9
//! raw_access_read, 11 file_event, 23 file_delete); other EventIDs get no category.
//!
//! Why `quick-xml`: a pull parser that borrows from the message (no DOM), handles entity and
//! character references and reports where a document breaks. Sysmon for Linux writes `&quot`
//! without its `;` inside command lines, so lone ampersands are allowed and kept as written.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event as Xml};
use quick_xml::reader::Reader;
use vigil_core::{Event, LogSource, Value};

use super::intern;
use super::windows::{SYSTEM_NAMES, parse_time};

/// The field a decoded event gets when its message was cut short before `</Event>`.
pub(crate) const TRUNCATED: &str = "sysmon_truncated";

/// The provider Sysmon for Linux names in `<Provider Name=…>`.
const PROVIDER: &str = "Linux-Sysmon";

/// True when a syslog message (of program `program`, if known) is a Sysmon for Linux event:
/// it starts with `<Event>` and either the program is `sysmon` or the message names the
/// provider near its start.
pub(crate) fn is_sysmon_message(program: Option<&str>, msg: &str) -> bool {
    let msg = msg.trim_start();
    if !(msg.starts_with("<Event>") || msg.starts_with("<Event ")) {
        return false;
    }
    program.is_some_and(|p| p.eq_ignore_ascii_case("sysmon"))
        || msg
            .get(..msg.len().min(256))
            .or(Some(msg))
            .is_some_and(|head| head.contains(PROVIDER))
}

/// The Sigma category of a Sysmon for Linux EventID.
pub(crate) fn category(event_id: i64) -> Option<&'static str> {
    Some(match event_id {
        1 => "process_creation",
        3 => "network_connection",
        4 | 16 => "sysmon_status",
        5 => "process_termination",
        9 => "raw_access_read",
        11 => "file_event",
        23 => "file_delete",
        _ => return None,
    })
}

/// Decodes the Sysmon XML `msg` into `event` (fields set over any of the same name the
/// syslog envelope had: Sentinel's `Computer` is Sysmon's too), sets the logsource and, when
/// `TimeCreated` parses, the event time. A message cut short after its `<EventID>` keeps what
/// it holds and gets `sysmon_truncated: true`; broken XML, or a cut before the EventID, is an
/// error (nothing added) whose reason says where.
pub(crate) fn decode_into(msg: &str, event: &mut Event) -> Result<(), String> {
    let Parsed { fields, truncated } = parse(msg.trim())?;
    let event_id = fields.iter().find_map(|(name, value)| match value {
        Value::Int(id) if name == "EventID" => Some(*id),
        _ => None,
    });
    let Some(event_id) = event_id else {
        return Err(if truncated {
            format!(
                "Sysmon XML cut short at byte {} before its <EventID>",
                msg.trim().len()
            )
        } else {
            "Sysmon event without a numeric <EventID>".to_string()
        });
    };
    if truncated {
        event.set(intern(TRUNCATED), Value::Bool(true));
    }
    let mut time = None;
    for (name, value) in fields {
        if name == "TimeCreated_SystemTime" {
            time = value.as_text().and_then(|t| parse_time(t.as_str()));
        }
        event.set(intern(&name), value);
    }
    if time.is_some() {
        event.time = time;
    }
    let mut logsource = LogSource::product("linux").with_service("sysmon");
    if let Some(c) = category(event_id) {
        logsource = logsource.with_category(c);
    }
    event.logsource = logsource;
    Ok(())
}

/// Where the parser is in the document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Top,
    System,
    EventData,
    Other,
}

/// What [`parse`] read from one document.
struct Parsed {
    /// Fields in document order (a repeated EventData name collected into a list).
    fields: Vec<(String, Value)>,
    /// The document ended before `</Event>` (at a clean point: between or inside values).
    truncated: bool,
}

/// The fields of one Sysmon `<Event>` document; a document cut short at a clean point is kept
/// as far as it goes, broken XML is an error.
fn parse(xml: &str) -> Result<Parsed, String> {
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.allow_dangling_amp = true;
    config.check_end_names = true;

    let mut out: Vec<(String, Value)> = Vec::with_capacity(40);
    // Open elements below the root; `None` until `<Event>` was seen.
    let mut depth: Option<usize> = None;
    let mut section = Section::Top;
    // The element whose text is being collected, with the name its text goes under.
    let mut leaf: Option<String> = None;
    let mut text = String::new();
    loop {
        let at = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| {
            format!(
                "Sysmon XML broken at byte {}: {e}",
                reader.error_position().max(at)
            )
        })?;
        match ev {
            Xml::Start(start) if depth.is_none() => {
                root(&start)?;
                depth = Some(0);
            }
            Xml::Empty(start) if depth.is_none() => {
                root(&start)?;
                return Err("Sysmon XML: empty <Event/>".to_string());
            }
            Xml::Start(start) => {
                let d = depth.unwrap_or_default();
                let name = local(&start);
                match (d, section) {
                    (0, _) => {
                        section = match name.as_str() {
                            "System" => Section::System,
                            "EventData" => Section::EventData,
                            _ => Section::Other,
                        };
                    }
                    (1, Section::System) => {
                        attributes(&start, &name, &mut out)?;
                        leaf = Some(name);
                    }
                    (1, Section::EventData) if name == "Data" => {
                        let data = data_name(&start)?.unwrap_or_else(|| "Data".to_string());
                        leaf = Some(if SYSTEM_NAMES.contains(&data.as_str()) {
                            format!("EventData.{data}")
                        } else {
                            data
                        });
                    }
                    _ => leaf = None,
                }
                text.clear();
                depth = Some(d + 1);
            }
            Xml::Empty(start) => {
                let d = depth.unwrap_or_default();
                let name = local(&start);
                match (d, section) {
                    (1, Section::System) => attributes(&start, &name, &mut out)?,
                    (1, Section::EventData) if name == "Data" => {
                        if let Some(data) = data_name(&start)? {
                            push(&mut out, data, Value::str(""));
                        }
                    }
                    _ => {}
                }
            }
            Xml::Text(t) => {
                if leaf.is_some() {
                    text.push_str(&t.xml10_content());
                }
            }
            Xml::CData(t) => {
                if leaf.is_some() {
                    text.push_str(&t.xml10_content());
                }
            }
            Xml::GeneralRef(r) => {
                if leaf.is_some() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        Ok(None) => match resolve_predefined_entity(&r) {
                            Some(s) => text.push_str(s),
                            None => return Err(format!("Sysmon XML: unknown entity &{};", &*r)),
                        },
                        Err(e) => return Err(format!("Sysmon XML: {e}")),
                    }
                }
            }
            Xml::End(_) => {
                let Some(d) = depth else {
                    return Err("Sysmon XML: end tag before <Event>".to_string());
                };
                if d == 0 {
                    // `</Event>`: anything after it is not part of the event.
                    return Ok(Parsed {
                        fields: out,
                        truncated: false,
                    });
                }
                if let Some(name) = leaf.take() {
                    let value = if name == "EventID" {
                        match text.trim().parse::<i64>() {
                            Ok(id) => Value::Int(id),
                            Err(_) => {
                                return Err(format!(
                                    "Sysmon XML: <EventID> `{}` is not a number",
                                    text.trim()
                                ));
                            }
                        }
                    } else {
                        Value::str(text.trim_end())
                    };
                    push(&mut out, name, value);
                }
                if d == 1 {
                    section = Section::Top;
                }
                depth = Some(d - 1);
            }
            Xml::Eof => {
                if depth.is_none() {
                    return Err("Sysmon XML: no <Event> element".to_string());
                }
                // Cut short (syslog's message size limit: rsyslog's default is 8 KiB, many
                // relays cut at 1 or 2 KiB): what was complete is kept, and the value being
                // written when the cut came, as far as it got.
                if let Some(name) = leaf.take().filter(|n| !text.is_empty() && n != "EventID") {
                    push(&mut out, name, Value::str(text.as_str()));
                }
                return Ok(Parsed {
                    fields: out,
                    truncated: true,
                });
            }
            Xml::Decl(_) | Xml::PI(_) | Xml::Comment(_) | Xml::DocType(_) => {}
        }
    }
}

/// Checks that the root element is `<Event>`.
fn root(start: &BytesStart<'_>) -> Result<(), String> {
    if start.local_name().as_ref() == "Event" {
        return Ok(());
    }
    Err(format!(
        "Sysmon XML: root element is <{}>, not <Event>",
        start.name().as_ref()
    ))
}

/// The element's local name as text.
fn local(start: &BytesStart<'_>) -> String {
    start.local_name().as_ref().to_string()
}

/// `Name="…"` of a `<Data>` element.
fn data_name(start: &BytesStart<'_>) -> Result<Option<String>, String> {
    match start.try_get_attribute("Name") {
        Ok(Some(a)) => a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(|v| Some(v.into_owned()))
            .map_err(|e| format!("Sysmon XML: <Data Name>: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("Sysmon XML: <Data> attributes: {e}")),
    }
}

/// A System element's attributes as `Tag_Attribute` (`Provider_Name`, `Security_UserId`).
fn attributes(
    start: &BytesStart<'_>,
    tag: &str,
    out: &mut Vec<(String, Value)>,
) -> Result<(), String> {
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("Sysmon XML: <{tag}> attributes: {e}"))?;
        let key = attr.key.local_name().as_ref().to_string();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("Sysmon XML: <{tag} {key}>: {e}"))?;
        push(out, format!("{tag}_{key}"), Value::str(value.as_ref()));
    }
    Ok(())
}

/// Appends a field; a repeated name becomes a list.
fn push(out: &mut Vec<(String, Value)>, name: String, value: Value) {
    match out.iter_mut().find(|(n, _)| *n == name) {
        Some((_, Value::List(items))) => items.push(value),
        Some((_, old)) => {
            let first = std::mem::replace(old, Value::Null);
            *old = Value::List(vec![first, value]);
        }
        None => out.push((name, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROCESS: &str = r#"<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/><EventID>1</EventID><Version>5</Version><TimeCreated SystemTime="2022-05-11T18:10:22.001232000Z"/><EventRecordID>245770</EventRecordID><Execution ProcessID="1590" ThreadID="1590"/><Channel>Linux-Sysmon/Operational</Channel><Computer>UBUNTU5</Computer><Security UserId="0"/></System><EventData><Data Name="Image">/bin/dash</Data><Data Name="CommandLine">sh -c omicli &quot SELECT x&quot  | grep = &amp;&amp; echo &#65;&lt;</Data><Data Name="Version">7</Data><Data Name="User">tomcat</Data></EventData></Event>"#;

    #[test]
    fn fields_names_and_category() {
        let mut e = Event::default();
        decode_into(PROCESS, &mut e).unwrap();
        assert_eq!(e.get_str("EventID"), Some(&Value::Int(1)));
        assert_eq!(
            e.get_str("Provider_Name"),
            Some(&Value::str("Linux-Sysmon"))
        );
        assert_eq!(e.get_str("Security_UserId"), Some(&Value::str("0")));
        assert_eq!(e.get_str("Execution_ProcessID"), Some(&Value::str("1590")));
        assert_eq!(e.get_str("Computer"), Some(&Value::str("UBUNTU5")));
        assert_eq!(e.get_str("Image"), Some(&Value::str("/bin/dash")));
        // Sysmon's `&quot` without `;` kept as written; real references resolved.
        assert_eq!(
            e.get_str("CommandLine"),
            Some(&Value::str(
                "sh -c omicli &quot SELECT x&quot  | grep = && echo A<"
            ))
        );
        // EventData's `Version` does not turn System's into a list.
        assert_eq!(e.get_str("Version"), Some(&Value::str("5")));
        assert_eq!(e.get_str("EventData.Version"), Some(&Value::str("7")));
        assert_eq!(
            e.logsource,
            LogSource::product("linux")
                .with_category("process_creation")
                .with_service("sysmon")
        );
        assert_eq!(
            e.time.map(|t| t.to_string()).as_deref(),
            Some("2022-05-11T18:10:22.001232Z")
        );
    }

    #[test]
    fn cut_short_keeps_what_is_complete() {
        let at = PROCESS.find("tomcat").unwrap() + 3;
        let mut e = Event::default();
        decode_into(&PROCESS[..at], &mut e).unwrap();
        assert_eq!(e.get_str(TRUNCATED), Some(&Value::Bool(true)));
        assert_eq!(e.get_str("Image"), Some(&Value::str("/bin/dash")));
        assert_eq!(e.get_str("User"), Some(&Value::str("tom")));
        assert_eq!(e.logsource.category.as_deref(), Some("process_creation"));
        let mut whole = Event::default();
        decode_into(PROCESS, &mut whole).unwrap();
        assert_eq!(whole.get_str(TRUNCATED), None);
    }

    #[test]
    fn other_event_ids_have_no_category() {
        let xml = PROCESS.replace("<EventID>1<", "<EventID>255<");
        let mut e = Event::default();
        decode_into(&xml, &mut e).unwrap();
        assert_eq!(
            e.logsource,
            LogSource::product("linux").with_service("sysmon")
        );
    }

    #[test]
    fn broken_documents_are_reasoned_errors() {
        let early = &PROCESS[..PROCESS.find("<EventID>").unwrap()];
        let cases: &[(&str, &str)] = &[
            (early, "cut short at byte 92 before its <EventID>"),
            (
                "<Event><System><EventID>1</System></Event>",
                "broken at byte",
            ),
            ("<Other/>", "not <Event>"),
            ("<Event/>", "empty <Event/>"),
            (
                "<Event><System><EventID>x</EventID></System></Event>",
                "not a number",
            ),
            (
                "<Event><System></System></Event>",
                "without a numeric <EventID>",
            ),
            (
                "<Event><EventData><Data Name=\"A\">&bogus;</Data></EventData></Event>",
                "unknown entity",
            ),
            ("not xml at all", "no <Event>"),
        ];
        for (xml, want) in cases {
            let mut e = Event::default();
            let err = decode_into(xml, &mut e).unwrap_err();
            assert!(err.contains(want), "{xml}: {err}");
            assert!(e.is_empty(), "{xml}: nothing added on error");
        }
    }

    #[test]
    fn recognises_messages() {
        assert!(is_sysmon_message(
            Some("sysmon"),
            "<Event><System/></Event>"
        ));
        assert!(is_sysmon_message(None, PROCESS));
        assert!(!is_sysmon_message(None, "<Event><System/></Event>"));
        assert!(!is_sysmon_message(Some("sysmon"), "Sysmon started"));
    }
}
