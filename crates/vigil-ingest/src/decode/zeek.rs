//! Zeek logs: the ASCII (TSV) writer with its `#separator`/`#fields`/`#types` headers, and the
//! logsource and event time of Zeek JSON records (framed and flattened by `json`).
//!
//! Field names are kept exactly as Zeek writes them (`id.orig_h`, `id.resp_p`, `query`), the
//! names SigmaHQ's zeek rules use; logsource is `product: zeek, service: <#path>`.

use std::sync::Arc;

use jiff::Timestamp;
use vigil_core::{Event, LogSource, SourceRef, Symbol, Value};

use super::{Line, Summary, intern, lines, put_sym};
use crate::DecodeError;

/// The type of one Zeek column.
#[derive(Clone, Debug, PartialEq)]
enum Ty {
    /// `count`, `int`, `port`.
    Int,
    /// `double`, `interval`, `time`.
    Float,
    /// `bool` (`T`/`F`).
    Bool,
    /// Everything else (`string`, `addr`, `subnet`, `enum`, `pattern`, …).
    Str,
    /// `set[T]`, `vector[T]`.
    List(Box<Ty>),
}

impl Ty {
    fn parse(text: &str) -> Ty {
        let inner = text
            .strip_prefix("set[")
            .or_else(|| text.strip_prefix("vector["))
            .and_then(|t| t.strip_suffix(']'));
        if let Some(inner) = inner {
            return Ty::List(Box::new(Ty::parse(inner)));
        }
        match text {
            "count" | "int" | "port" => Ty::Int,
            "double" | "interval" | "time" => Ty::Float,
            "bool" => Ty::Bool,
            _ => Ty::Str,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Ty::Int => "an integer",
            Ty::Float => "a number",
            Ty::Bool => "a bool (T/F)",
            Ty::Str => "a string",
            Ty::List(_) => "a list",
        }
    }
}

/// The header state of a Zeek TSV file (a file may hold several header blocks).
struct Header {
    separator: String,
    set_separator: String,
    empty: String,
    unset: String,
    path: Option<String>,
    fields: Option<Vec<(Symbol, Box<str>)>>,
    types: Vec<Ty>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            path: None,
            fields: None,
            types: Vec::new(),
        }
    }
}

/// Decodes a Zeek TSV file; each data line is one event (record index = 1-based data line).
pub(crate) fn decode_tsv(
    file: &Arc<str>,
    bytes: &[u8],
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Summary {
    let mut summary = Summary {
        events: 0,
        errors: 0,
    };
    let mut header = Header::default();
    let fallback = service_from_name(file);
    let ts = intern("ts");
    let mut index = 0u64;
    for Line {
        offset: start,
        bytes: raw,
        ..
    } in lines(bytes)
    {
        let trimmed = raw.trim_ascii_start();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with(b"#") {
            header_line(&mut header, &String::from_utf8_lossy(trimmed));
            continue;
        }
        index += 1;
        let mut fail = |reason: String| {
            summary.errors += 1;
            on_error(DecodeError::new(
                file,
                Some(start as u64),
                Some(index),
                format!("record {index}: {reason}"),
            ));
        };
        let Ok(line) = std::str::from_utf8(raw) else {
            fail("invalid UTF-8".to_string());
            continue;
        };
        let Some(fields) = &header.fields else {
            fail("data line before the #fields header".to_string());
            continue;
        };
        let columns: Vec<&str> = line.split(header.separator.as_str()).collect();
        if columns.len() != fields.len() {
            fail(format!(
                "{} columns, but #fields names {}",
                columns.len(),
                fields.len()
            ));
            continue;
        }
        let mut event = Event::with_capacity(
            SourceRef {
                file: Arc::clone(file),
                record_id: Some(index),
                offset: Some(start as u64),
            },
            fields.len(),
        );
        let mut bad = None;
        for (i, (column, (sym, name))) in columns.iter().zip(fields).enumerate() {
            if *column == header.unset {
                continue;
            }
            let ty = header.types.get(i).unwrap_or(&Ty::Str);
            match typed(column, ty, &header) {
                Some(value) => {
                    if *sym == ts
                        && let Value::Float(secs) = value
                    {
                        event.time = time_from_secs(secs);
                    }
                    put_sym(&mut event, *sym, value);
                }
                None => {
                    bad = Some(format!("column `{name}`: `{column}` is not {}", ty.name()));
                    break;
                }
            }
        }
        if let Some(reason) = bad {
            fail(reason);
            continue;
        }
        let service = header.path.as_deref().or(fallback.as_deref());
        event.logsource = logsource(service);
        summary.events += 1;
        on_event(event);
    }
    summary
}

/// Applies one `#…` header line.
fn header_line(header: &mut Header, line: &str) {
    if let Some(sep) = line.strip_prefix("#separator ") {
        // A new header block starts: forget the previous one's fields.
        *header = Header {
            separator: unescape(sep.trim_end()),
            ..Header::default()
        };
        return;
    }
    let mut parts = line.split(header.separator.as_str());
    let key = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let value = || unescape(&rest.join(header.separator.as_str()));
    match key {
        "#set_separator" => header.set_separator = value(),
        "#empty_field" => header.empty = value(),
        "#unset_field" => header.unset = value(),
        "#path" => header.path = Some(value()),
        "#fields" => {
            header.fields = Some(
                rest.iter()
                    .map(|name| (intern(name), Box::<str>::from(*name)))
                    .collect(),
            );
            header.types.clear();
        }
        "#types" => header.types = rest.iter().map(|t| Ty::parse(t)).collect(),
        _ => {} // #open, #close, comments
    }
}

/// A column's value by its type; `None` when it does not parse.
fn typed(text: &str, ty: &Ty, header: &Header) -> Option<Value> {
    match ty {
        Ty::List(inner) => {
            if text == header.empty {
                return Some(Value::List(Vec::new()));
            }
            text.split(header.set_separator.as_str())
                .map(|item| {
                    if item == header.unset {
                        Some(Value::Null)
                    } else {
                        scalar(item, inner)
                    }
                })
                .collect::<Option<Vec<_>>>()
                .map(Value::List)
        }
        Ty::Str if text == header.empty => Some(Value::str("")),
        _ => scalar(text, ty),
    }
}

fn scalar(text: &str, ty: &Ty) -> Option<Value> {
    match ty {
        Ty::Int => match text.parse::<i64>() {
            Ok(i) => Some(Value::Int(i)),
            // A count past i64: keep every digit, as generic JSON does.
            Err(_) => text.parse::<u64>().ok().map(|u| Value::str(u.to_string())),
        },
        Ty::Float => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float),
        Ty::Bool => match text {
            "T" => Some(Value::Bool(true)),
            "F" => Some(Value::Bool(false)),
            _ => None,
        },
        Ty::Str | Ty::List(_) => Some(Value::str(unescape(text))),
    }
}

/// Decodes Zeek's `\xHH` escapes (separators and non-printable bytes inside values).
fn unescape(text: &str) -> String {
    if !text.contains("\\x") {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.get(i + 1) == Some(&b'x')
            && let Some(hex) = bytes.get(i + 2..i + 4)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Seconds since the epoch (Zeek `time`) as a timestamp, to the microsecond.
fn time_from_secs(secs: f64) -> Option<Timestamp> {
    Timestamp::from_microsecond((secs * 1e6).round() as i64).ok()
}

/// `product: zeek` with the log's name as service, when known.
fn logsource(service: Option<&str>) -> LogSource {
    let ls = LogSource::product("zeek");
    match service {
        Some(s) if !s.is_empty() => ls.with_service(s),
        _ => ls,
    }
}

/// The log name from a file name (`dns.log`, `conn.json.gz`, `conn.log.labeled` → `dns`,
/// `conn`), used when a record carries no `_path`.
pub(crate) fn service_from_name(file: &str) -> Option<String> {
    let base = file.rsplit(['/', '\\']).next()?;
    let stem = base.split('.').next()?;
    (!stem.is_empty()).then(|| stem.to_ascii_lowercase())
}

/// Log names Zeek writes, to recognise JSON logs without `_path` or `uid` by their file name.
pub(crate) const KNOWN_LOGS: &[&str] = &[
    "arp",
    "capture_loss",
    "conn",
    "dce_rpc",
    "dhcp",
    "dnp3",
    "dns",
    "dpd",
    "files",
    "ftp",
    "http",
    "intel",
    "irc",
    "kerberos",
    "known_certs",
    "known_hosts",
    "known_services",
    "loaded_scripts",
    "modbus",
    "mysql",
    "notice",
    "ntlm",
    "ntp",
    "ocsp",
    "packet_filter",
    "pe",
    "quic",
    "radius",
    "rdp",
    "reporter",
    "rfb",
    "signatures",
    "sip",
    "smb_files",
    "smb_mapping",
    "smtp",
    "snmp",
    "socks",
    "software",
    "ssh",
    "ssl",
    "stats",
    "syslog",
    "telemetry",
    "traceroute",
    "tunnel",
    "weird",
    "x509",
];

/// Sets the logsource (`_path`, else the file name) and the time (`ts`, epoch seconds or
/// RFC 3339) of an event decoded from a Zeek JSON record.
pub(crate) fn finish_json(event: &mut Event, fallback: Option<&str>) {
    let path = Symbol::lookup("_path")
        .and_then(|s| event.get(s))
        .and_then(Value::as_text)
        .map(|t| t.as_str().to_string());
    event.logsource = logsource(path.as_deref().or(fallback));
    event.time = match Symbol::lookup("ts").and_then(|s| event.get(s)) {
        Some(Value::Float(secs)) => time_from_secs(*secs),
        Some(Value::Int(secs)) => Timestamp::from_second(*secs).ok(),
        Some(Value::Str(t)) => super::windows::parse_time(t.as_str()),
        _ => None,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Vec<Event>, Vec<DecodeError>) {
        let file: Arc<str> = "logs/conn.log".into();
        let (mut events, mut errors) = (Vec::new(), Vec::new());
        let s = decode_tsv(&file, text.as_bytes(), &mut |e| events.push(e), &mut |e| {
            errors.push(e)
        });
        assert_eq!(
            (s.events, s.errors),
            (events.len() as u64, errors.len() as u64)
        );
        (events, errors)
    }

    #[test]
    fn types_unset_and_empty() {
        let text = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
                    #path\tdns\n#fields\tts\tid.resp_p\tquery\trejected\tanswers\tTTLs\tmsg\n\
                    #types\ttime\tport\tstring\tbool\tvector[string]\tvector[interval]\tstring\n\
                    1.5\t53\ta\\x09b.com\tF\t1.2.3.4,x\t(empty)\t-\n";
        let (ev, err) = run(text);
        assert!(err.is_empty(), "{err:?}");
        let e = &ev[0];
        assert_eq!(e.get_str("id.resp_p"), Some(&Value::Int(53)));
        assert_eq!(e.get_str("query"), Some(&Value::str("a\tb.com")));
        assert_eq!(e.get_str("rejected"), Some(&Value::Bool(false)));
        assert_eq!(
            e.get_str("answers"),
            Some(&Value::List(vec![Value::str("1.2.3.4"), Value::str("x")]))
        );
        assert_eq!(e.get_str("TTLs"), Some(&Value::List(vec![])));
        assert_eq!(e.get_str("msg"), None);
        assert_eq!(e.logsource.to_string(), "product: zeek, service: dns");
        assert_eq!(e.time, Timestamp::from_millisecond(1500).ok());
    }

    #[test]
    fn bad_lines_are_counted() {
        let text = "#separator \\x09\n1\tx\n#fields\tts\tn\n#types\ttime\tcount\n1\t2\t3\n\
                    1\tzz\n2\t7\n";
        let (ev, err) = run(text);
        assert_eq!((ev.len(), err.len()), (1, 3));
        assert!(err[0].reason.contains("before the #fields"), "{}", err[0]);
        assert!(err[1].reason.contains("3 columns"), "{}", err[1]);
        assert!(err[2].reason.contains("`n`"), "{}", err[2]);
        assert_eq!(ev[0].get_str("n"), Some(&Value::Int(7)));
        assert_eq!(ev[0].logsource.to_string(), "product: zeek, service: conn");
    }
}
