//! JSON in every shape the corpora use, sniffed rather than configured: NDJSON, a single
//! object, pretty-printed objects concatenated without an array (SigmaHQ regression data),
//! top-level arrays of records, and evtx_dump's output with its `Record N` banner lines. Each
//! record is then recognised as a Windows rendering (see `windows`) or flattened generically
//! (see `flatten`).
//!
//! Records are framed one at a time with serde_json's `StreamDeserializer`, so a broken record
//! costs only itself: after a syntax error (or invalid UTF-8) the decoder resynchronises on the
//! next line that starts with `{` no further right than the broken record started (the next
//! NDJSON line, the next column-0 object of concatenated pretty JSON, the next element of a
//! pretty array). A minified array on one line cannot be resynchronised: its remaining
//! elements are lost, and counted as one error.

use std::sync::Arc;

use vigil_core::{Event, SourceRef, Symbol, Value};

use super::cloud::{self, Product};
use super::flatten::{Scalars, flatten};
use super::tree::Json;
use super::{suricata, sysmon, windows, zeek};
use crate::{DecodeError, JsonShape, LogsourceMap};

/// Who claims the records of a JSON file once framed and flattened.
pub(crate) enum Records<'m> {
    /// Sniffed JSON (or forced `json`): Windows renderings are normalised; any other record
    /// is offered to the user's `override` rules, then the cloud/identity recognisers, then
    /// the user's other rules; unclaimed, its logsource stays empty.
    Generic(&'m LogsourceMap),
    /// Zeek JSON: logsource from `_path` or the file name (`fallback`). `forced`: a record
    /// with neither `ts` nor `_path`, or a Windows rendering, is an error.
    Zeek {
        fallback: Option<String>,
        forced: bool,
    },
    /// Suricata EVE. `forced`: a record without `event_type`, or a Windows rendering, is an
    /// error.
    Suricata { forced: bool },
    /// A forced cloud/identity product: a record its recogniser does not claim is an error.
    Product(Product),
}

/// What decoding a JSON buffer found.
pub(crate) struct JsonSummary {
    pub(crate) shape: JsonShape,
    pub(crate) events: u64,
    pub(crate) errors: u64,
    /// The product the built-in recognisers gave the first event ([`Records::Generic`]).
    pub(crate) first_product: Option<Product>,
}

/// Decodes every record of `bytes` (the whole file), in file order.
pub(crate) fn decode(
    file: &Arc<str>,
    bytes: &[u8],
    records: &Records<'_>,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> JsonSummary {
    let mut decoder = Decoder {
        file,
        bytes,
        records,
        index: 0,
        summary: JsonSummary {
            shape: JsonShape::Single,
            events: 0,
            errors: 0,
            first_product: None,
        },
        multi_line: false,
        saw_array: false,
        saw_envelope: false,
        on_event,
        on_error,
    };
    decoder.run();
    let d = decoder;
    let mut summary = d.summary;
    summary.shape = if d.saw_envelope {
        JsonShape::Envelope
    } else if d.saw_array {
        JsonShape::Array
    } else if d.index <= 1 {
        JsonShape::Single
    } else if d.multi_line {
        JsonShape::Concatenated
    } else {
        JsonShape::Lines
    };
    summary
}

struct Decoder<'a, 'f> {
    file: &'a Arc<str>,
    bytes: &'a [u8],
    records: &'a Records<'a>,
    /// 1-based index of the record being decoded (counting broken ones).
    index: u64,
    summary: JsonSummary,
    multi_line: bool,
    saw_array: bool,
    saw_envelope: bool,
    on_event: &'f mut dyn FnMut(Event),
    on_error: &'f mut dyn FnMut(DecodeError),
}

impl Decoder<'_, '_> {
    fn run(&mut self) {
        let bytes = self.bytes;
        let mut pos = if bytes.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        // Depth of the top-level array we are in (a stream of arrays is allowed).
        let mut in_array = false;
        loop {
            pos = skip_ws(bytes, pos);
            let Some(&byte) = bytes.get(pos) else {
                return;
            };
            if in_array {
                match byte {
                    b',' => {
                        pos += 1;
                        continue;
                    }
                    b']' => {
                        in_array = false;
                        pos += 1;
                        continue;
                    }
                    _ => {}
                }
            } else if byte == b'[' {
                in_array = true;
                self.saw_array = true;
                pos += 1;
                continue;
            } else if let Some(next_line) = record_banner(bytes, pos) {
                pos = next_line;
                continue;
            }
            pos = self.record(pos);
        }
    }

    /// Decodes the record starting at `start`; returns where to go on from.
    fn record(&mut self, start: usize) -> usize {
        self.index += 1;
        let rest = &self.bytes[start..];
        let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<Json>();
        match stream.next() {
            Some(Ok(record)) => {
                let len = stream.byte_offset();
                if !self.multi_line && memchr_newline(&rest[..len]) {
                    self.multi_line = true;
                }
                self.emit(start, &record, true);
                start + len
            }
            Some(Err(err)) => {
                let at = error_offset(rest, err.line(), err.column()).map(|o| start + o);
                let reason = match at {
                    Some(at) => format!("invalid JSON at byte {at}: {}", strip_position(&err)),
                    None => format!("invalid JSON: {}", strip_position(&err)),
                };
                self.error(start, reason);
                resync(self.bytes, start)
            }
            None => self.bytes.len(),
        }
    }

    /// Emits one record; `top` allows unwrapping an envelope (only at the top level, so a
    /// record that itself has a single array member stays one record).
    fn emit(&mut self, start: usize, record: &Json, top: bool) {
        if !matches!(record, Json::Object(_)) {
            self.error(start, "record is not a JSON object".to_string());
            return;
        }
        if let Some(records) = envelope(record).filter(|_| top) {
            self.saw_envelope = true;
            for (i, inner) in records.iter().enumerate() {
                if i > 0 {
                    self.index += 1;
                }
                self.emit(start, inner, false);
            }
            return;
        }
        if let Some(log) = rule_test_log(record).filter(|_| top) {
            self.emit(start, log, false);
            return;
        }
        let mut event = Event::new(SourceRef {
            file: Arc::clone(self.file),
            record_id: Some(self.index),
            offset: Some(start as u64),
        });
        let is_windows = match windows::rendering(record) {
            Some(kind) => {
                windows::normalise(kind, record, &mut event);
                true
            }
            None => {
                flatten(&mut String::new(), record, Scalars::Native, &mut event);
                event.time = ["@timestamp", "timestamp", "time", "eventTime"]
                    .iter()
                    .filter_map(|name| Symbol::lookup(name))
                    .filter_map(|name| event.get(name))
                    .filter_map(Value::as_text)
                    .find_map(|t| windows::parse_time(t.as_str()));
                false
            }
        };
        match claim(self.records, &mut event, is_windows) {
            Ok(product) => {
                if self.summary.events == 0 {
                    self.summary.first_product = product;
                }
                self.summary.events += 1;
                (self.on_event)(event);
            }
            Err(reason) => self.error(start, reason),
        }
    }

    fn error(&mut self, start: usize, reason: String) {
        self.summary.errors += 1;
        let reason = format!("record {}: {reason}", self.index);
        (self.on_error)(DecodeError::new(
            self.file,
            Some(start as u64),
            Some(self.index),
            reason,
        ));
    }
}

/// Gives a decoded record its logsource according to `records`; returns the built-in product
/// that claimed it, or why a forced format cannot take it.
fn claim(
    records: &Records<'_>,
    event: &mut Event,
    is_windows: bool,
) -> Result<Option<Product>, String> {
    let has = |event: &Event, name: &str| {
        Symbol::lookup(name).is_some_and(|s| event.get(s).is_some_and(|v| *v != Value::Null))
    };
    const WINDOWS: &str = "a Windows event rendering, not";
    match records {
        Records::Generic(_) if is_windows => Ok(None),
        Records::Generic(map) => {
            if let Some(rule) = map.find(event, true) {
                rule.apply(event);
                return Ok(None);
            }
            if let Some(msg) = sentinel_sysmon(event) {
                sysmon::decode_into(&msg, event)?;
                return Ok(None);
            }
            if let Some(product) = cloud::assign(event) {
                return Ok(Some(product));
            }
            if let Some(rule) = map.find(event, false) {
                rule.apply(event);
            }
            Ok(None)
        }
        Records::Zeek { forced: true, .. } if is_windows => Err(format!("{WINDOWS} Zeek")),
        Records::Zeek {
            forced: true,
            fallback: _,
        } if !has(event, "ts") && !has(event, "_path") => {
            Err("not a Zeek record (neither `ts` nor `_path`)".to_string())
        }
        Records::Zeek { fallback, .. } => {
            zeek::finish_json(event, fallback.as_deref());
            Ok(None)
        }
        Records::Suricata { forced: true } if is_windows => Err(format!("{WINDOWS} Suricata EVE")),
        Records::Suricata { forced: true } if !has(event, "event_type") => {
            Err("not a Suricata EVE record (no `event_type`)".to_string())
        }
        Records::Suricata { .. } => {
            suricata::finish(event);
            Ok(None)
        }
        Records::Product(product) if is_windows => {
            Err(format!("{WINDOWS} {}", crate::Format::of_product(*product)))
        }
        Records::Product(product) => cloud::assign_as(event, *product).map(|()| None),
    }
}

/// The Sysmon for Linux XML of a Microsoft Sentinel `Syslog` record (`SyslogMessage`, sent by
/// `ProcessName: sysmon`), if it is one.
fn sentinel_sysmon(event: &Event) -> Option<String> {
    let text = |name: &str| {
        Symbol::lookup(name)
            .and_then(|s| event.get(s))
            .and_then(Value::as_text)
            .map(|t| t.as_str())
    };
    let msg = text("SyslogMessage")?;
    sysmon::is_sysmon_message(text("ProcessName"), msg).then(|| msg.to_string())
}

/// The records of an envelope object: one whose only member is a non-empty array of objects,
/// as CloudTrail writes (`{"Records": [...]}`). Its records share its offset.
fn envelope<'a, 'j>(record: &'a Json<'j>) -> Option<&'a [Json<'j>]> {
    let [(_, Json::Array(items))] = record.as_object()? else {
        return None;
    };
    let all_objects = !items.is_empty() && items.iter().all(|i| matches!(i, Json::Object(_)));
    all_objects.then_some(items.as_slice())
}

/// The event inside a Panther rule unit test (`{"analysis_type": "rule", "test_name": …,
/// "log": {…}}`, one per line as exported from panther-analysis): the log is what the rule
/// saw, so it is what gets decoded — recognised as Okta, Entra, CloudTrail… like any record.
/// The test's own metadata (expected result, mocks) is not telemetry and is dropped.
fn rule_test_log<'a, 'j>(record: &'a Json<'j>) -> Option<&'a Json<'j>> {
    if !matches!(record.get("analysis_type")?, Json::Str(_)) {
        return None;
    }
    record.get("test_name")?;
    record
        .get("log")
        .filter(|log| matches!(log, Json::Object(_)))
}

/// evtx_dump writes a `Record N` line before each record unless told not to; such a line is
/// framing, not a record. Returns where the next line starts.
pub(crate) fn record_banner(bytes: &[u8], pos: usize) -> Option<usize> {
    let rest = bytes[pos..].strip_prefix(b"Record ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let line_end = rest
        .iter()
        .position(|&b| b == b'\n')
        .map_or(rest.len(), |p| p + 1);
    Some(pos + 7 + line_end)
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

fn memchr_newline(bytes: &[u8]) -> bool {
    bytes.contains(&b'\n')
}

/// The next place after a broken record at `start` where a record can begin: a line whose
/// first non-blank byte is `{`, indented no more than the broken record was.
fn resync(bytes: &[u8], start: usize) -> usize {
    let line_start = bytes[..start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let indent = start - line_start;
    let mut pos = start;
    while let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') {
        let line = pos + nl + 1;
        let mut first = line;
        while first < bytes.len() && matches!(bytes[first], b' ' | b'\t') {
            first += 1;
        }
        if first - line <= indent && bytes.get(first) == Some(&b'{') {
            return first;
        }
        pos = line;
    }
    bytes.len()
}

/// The byte offset in `bytes` of serde_json's 1-based (line, column) position.
fn error_offset(bytes: &[u8], line: usize, column: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    let mut line_start = 0;
    for _ in 1..line {
        line_start += bytes[line_start..].iter().position(|&b| b == b'\n')? + 1;
    }
    Some((line_start + column.saturating_sub(1)).min(bytes.len()))
}

/// serde_json's message without its " at line L column C" suffix (relative to the record, so
/// misleading in a file-level report).
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &[u8]) -> (JsonSummary, Vec<Event>, Vec<DecodeError>) {
        let file: Arc<str> = "t.json".into();
        let (mut events, mut errors) = (Vec::new(), Vec::new());
        let map = LogsourceMap::default();
        let s = decode(
            &file,
            text,
            &Records::Generic(&map),
            &mut |e| events.push(e),
            &mut |e| errors.push(e),
        );
        (s, events, errors)
    }

    #[test]
    fn shapes() {
        let (s, ev, _) = run(b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!((s.shape, ev.len()), (JsonShape::Lines, 2));
        let (s, ev, _) = run(b"{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}");
        assert_eq!((s.shape, ev.len()), (JsonShape::Concatenated, 2));
        let (s, ev, _) = run(b"\xEF\xBB\xBF [ {\"a\":1}, {\"a\":2} , {\"a\":3}]");
        assert_eq!((s.shape, ev.len()), (JsonShape::Array, 3));
        let (s, ev, _) = run(b"{\"a\":{\"b\":[1,2]}}");
        assert_eq!((s.shape, ev.len()), (JsonShape::Single, 1));
        assert_eq!(
            ev[0].get_str("a.b"),
            Some(&Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
        assert_eq!(ev[0].source.record_id, Some(1));
    }

    #[test]
    fn envelopes_are_unwrapped() {
        let (s, ev, _) = run(
            b"{\"Records\":[{\"eventName\":\"A\"},{\"eventName\":\"B\"}]}\n{\"x\":[{\"y\":1}]}",
        );
        assert_eq!((s.events, s.shape), (3, JsonShape::Envelope));
        assert_eq!(ev[1].get_str("eventName"), Some(&Value::str("B")));
        assert_eq!(
            (ev[1].source.record_id, ev[1].source.offset),
            (Some(2), Some(0))
        );
        assert_eq!(
            (ev[2].source.record_id, ev[2].get_str("y")),
            (Some(3), Some(&Value::Int(1)))
        );
        // Not an envelope: two members, or an array of scalars.
        let (_, ev, _) = run(b"{\"a\":[{\"b\":1}],\"c\":2}\n{\"t\":[1,2]}");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].get_str("a.b"), Some(&Value::Int(1)));
        // Only the outer envelope is unwrapped.
        let (_, ev, _) = run(b"{\"Records\":[{\"items\":[{\"k\":1},{\"k\":2}]}]}");
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].get_str("items.k"),
            Some(&Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
    }

    #[test]
    fn rule_test_wrappers_yield_their_log() {
        let text = br#"{"analysis_type": "rule", "rule_id": "Okta.X", "test_name": "t", "expected_result": true, "log": {"eventType": "user.session.start", "actor": {"alternateId": "homer@springfield.gov"}}}
{"analysis_type": "rule", "test_name": "scalar log", "log": "not an object"}
"#;
        let (summary, events, errors) = run(text);
        assert_eq!((summary.events, errors.len()), (2, 0), "{errors:?}");
        let inner = &events[0];
        assert_eq!(
            inner
                .get_str("actor.alternateId")
                .and_then(Value::as_text)
                .map(|t| t.as_str()),
            Some("homer@springfield.gov")
        );
        assert!(inner.get_str("test_name").is_none());
        // A `log` that is not an object is not a wrapped event: the record is kept whole.
        assert!(events[1].get_str("test_name").is_some());
    }

    #[test]
    fn evtx_dump_record_banners_are_skipped() {
        let (s, ev, err) =
            run(b"Record 7\n{\n  \"a\": 1\n}\nRecord 8 (recovered)\n{\n  \"a\": 2\n}\n");
        assert_eq!(
            (s.events, s.errors, s.shape),
            (2, 0, JsonShape::Concatenated)
        );
        assert!(err.is_empty());
        assert_eq!(ev[1].source.record_id, Some(2));
    }

    #[test]
    fn broken_records_are_counted_and_skipped() {
        let text = b"{\"a\":1}\n42\n{\"a\":\xff\xfe}\n{\"a\": tru}\n{\"a\":5}\n";
        let (s, ev, err) = run(text);
        assert_eq!((s.events, s.errors), (2, 3));
        assert_eq!(ev[1].get_str("a"), Some(&Value::Int(5)));
        assert_eq!(ev[1].source.record_id, Some(5));
        assert!(err[0].reason.contains("not a JSON object"), "{}", err[0]);
        assert_eq!((err[0].offset, err[0].record), (Some(8), Some(2)));
        assert_eq!((err[1].offset, err[1].record), (Some(11), Some(3)));
        assert!(err[1].reason.contains("invalid"), "{}", err[1]);
    }

    #[test]
    fn concatenated_resyncs_on_column_zero() {
        let text = b"{\n  \"a\": {\n    \"b\": oops\n  }\n}\n{\n  \"a\": 2\n}\n";
        let (s, ev, err) = run(text);
        assert_eq!((s.events, s.errors), (1, 1));
        assert_eq!(ev[0].get_str("a"), Some(&Value::Int(2)));
        assert!(
            err[0]
                .reason
                .starts_with("record 1: invalid JSON at byte 20"),
            "{}",
            err[0]
        );
        assert_eq!(
            err[0].to_string().split(':').next(),
            Some("t.json @ offset 0")
        );
    }
}
