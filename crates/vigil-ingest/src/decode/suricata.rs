//! Suricata EVE JSON: records are framed and flattened by `json` (nested objects → dotted
//! names, `alert.signature`); this sets their logsource and time.
//!
//! SigmaHQ has no Suricata rules, so there is no taxonomy to follow: events get
//! `product: suricata, service: <event_type>` (`alert`, `flow`, `dns`, `http`, `tls`,
//! `fileinfo`, `anomaly`, or any other event_type, kept as is).

use vigil_core::{Event, LogSource, Symbol, Value};

/// Sets `product: suricata, service: <event_type>` and the time from `timestamp` (Suricata
/// writes offsets without a colon, `+0200`).
pub(crate) fn finish(event: &mut Event) {
    let mut ls = LogSource::product("suricata");
    if let Some(t) = text(event, "event_type") {
        ls = ls.with_service(&t);
    }
    event.logsource = ls;
    if event.time.is_none()
        && let Some(t) = text(event, "timestamp")
    {
        event.time = parse_time(&t);
    }
}

fn text(event: &Event, name: &str) -> Option<String> {
    Symbol::lookup(name)
        .and_then(|s| event.get(s))
        .and_then(Value::as_text)
        .map(|t| t.as_str().to_string())
}

/// RFC 3339, or Suricata's `2021-06-06T15:57:37.272281+0200` (offset without a colon).
fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    if let Some(ts) = super::windows::parse_time(text) {
        return Some(ts);
    }
    let b = text.as_bytes();
    let n = b.len();
    if n > 5 && matches!(b[n - 5], b'+' | b'-') && b[n - 4..].iter().all(u8::is_ascii_digit) {
        let fixed = format!("{}:{}", &text[..n - 2], &text[n - 2..]);
        return fixed.parse().ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let want: jiff::Timestamp = "2021-06-06T13:57:37.272281Z".parse().unwrap();
        assert_eq!(parse_time("2021-06-06T15:57:37.272281+0200"), Some(want));
        assert_eq!(parse_time("2021-06-06T15:57:37.272281+02:00"), Some(want));
        assert_eq!(parse_time("nope"), None);
    }
}
