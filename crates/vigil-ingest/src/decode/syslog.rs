//! Syslog text: RFC 3164 (`<PRI>Mmm dd hh:mm:ss host tag[pid]: msg`, also without `<PRI>` as
//! in `/var/log/*` files, or with an RFC 3339 timestamp as rsyslog writes) and RFC 5424
//! (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`), one event per line.
//!
//! Fields: `facility`, `severity` (from PRI), `timestamp` (as written), `hostname`, `appname`
//! (the tag as written, `sshd(pam_unix)`), `program` (its base name, `sshd`), `pid`, `msgid`,
//! `structured_data` and `<sd-id>.<param>`, `msg` (the whole message text, which SigmaHQ's
//! keyword rules match). sshd, sudo and su messages are also parsed into fields (`user`,
//! `src_ip`, `src_port`, `auth_method`, `auth_result`, `target_user`, `command`, …).
//! Logsource: `product: linux`, `service: sshd | sudo | su` for those programs, else `syslog`.
//! A Sysmon for Linux line (`sysmon: <Event>…`) is decoded by `sysmon` on top of these fields
//! (`service: sysmon` and the EventID's category); its broken XML is a counted error.

use std::sync::Arc;

use jiff::Timestamp;
use vigil_core::{Event, LogSource, SourceRef, Value};

use super::{Line, Summary, lines, put, sysmon};
use crate::DecodeError;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// True when `line` starts with an RFC 3164 or RFC 5424 header.
pub(crate) fn is_syslog_line(line: &[u8]) -> bool {
    let line = String::from_utf8_lossy(line);
    parse(line.trim_end_matches('\r')).is_ok()
}

/// One parsed line.
#[derive(Default)]
struct Parsed<'a> {
    pri: Option<u8>,
    timestamp: &'a str,
    time: Option<Timestamp>,
    hostname: Option<&'a str>,
    appname: Option<&'a str>,
    pid: Option<&'a str>,
    msgid: Option<&'a str>,
    sd: Option<&'a str>,
    sd_params: Vec<(String, String)>,
    msg: &'a str,
}

/// Decodes a syslog file; each non-blank line is one event (record index = 1-based line).
pub(crate) fn decode(
    file: &Arc<str>,
    bytes: &[u8],
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Summary {
    let mut summary = Summary {
        events: 0,
        errors: 0,
    };
    for Line {
        offset: start,
        number: line_no,
        bytes: raw,
    } in lines(bytes)
    {
        if raw.trim_ascii().is_empty() {
            continue;
        }
        let line = String::from_utf8_lossy(raw);
        let parsed = match parse(&line) {
            Ok(p) => p,
            Err(reason) => {
                summary.errors += 1;
                on_error(DecodeError::new(
                    file,
                    Some(start as u64),
                    Some(line_no),
                    format!("line {line_no}: not syslog: {reason}"),
                ));
                continue;
            }
        };
        let source = SourceRef {
            file: Arc::clone(file),
            record_id: Some(line_no),
            offset: Some(start as u64),
        };
        match build(parsed, source) {
            Ok(event) => {
                summary.events += 1;
                on_event(event);
            }
            Err(reason) => {
                summary.errors += 1;
                on_error(DecodeError::new(
                    file,
                    Some(start as u64),
                    Some(line_no),
                    format!("line {line_no}: {reason}"),
                ));
            }
        }
    }
    summary
}

/// The event of one parsed line; `Err` when the line is a Sysmon for Linux event whose XML
/// is broken.
fn build(p: Parsed<'_>, source: SourceRef) -> Result<Event, String> {
    let mut event = Event::with_capacity(source, 16);
    event.time = p.time;
    if let Some(pri) = p.pri {
        put(&mut event, "facility", Value::Int(i64::from(pri / 8)));
        put(&mut event, "severity", Value::Int(i64::from(pri % 8)));
    }
    put(&mut event, "timestamp", Value::str(p.timestamp));
    if let Some(h) = p.hostname {
        put(&mut event, "hostname", Value::str(h));
    }
    let mut program = None;
    if let Some(app) = p.appname {
        put(&mut event, "appname", Value::str(app));
        let base = app.split('(').next().unwrap_or(app);
        let base = base.rsplit('/').next().unwrap_or(base);
        put(&mut event, "program", Value::str(base));
        program = Some(base.to_string());
    }
    if let Some(pid) = p.pid {
        put(&mut event, "pid", Value::str(pid));
    }
    if let Some(m) = p.msgid {
        put(&mut event, "msgid", Value::str(m));
    }
    if let Some(sd) = p.sd {
        put(&mut event, "structured_data", Value::str(sd));
    }
    for (k, v) in &p.sd_params {
        put(&mut event, k, Value::str(v.as_str()));
    }
    put(&mut event, "msg", Value::str(p.msg));
    let service = match program.as_deref() {
        Some("sshd") => {
            sshd_fields(&mut event, p.msg);
            "sshd"
        }
        Some("sudo") => {
            sudo_fields(&mut event, p.msg);
            "sudo"
        }
        Some("su") => {
            su_fields(&mut event, p.msg);
            "su"
        }
        _ => "syslog",
    };
    pam_fields(&mut event, p.msg);
    event.logsource = LogSource::product("linux").with_service(service);
    if sysmon::is_sysmon_message(program.as_deref(), p.msg) {
        sysmon::decode_into(p.msg, &mut event)?;
    }
    Ok(event)
}

fn parse(line: &str) -> Result<Parsed<'_>, String> {
    let mut p = Parsed::default();
    let mut rest = line;
    if let Some(after) = rest.strip_prefix('<') {
        let close = after
            .find('>')
            .filter(|&i| (1..=3).contains(&i))
            .ok_or("`<` without a `<PRI>`")?;
        let pri: u8 = after[..close]
            .parse()
            .ok()
            .filter(|&n| n <= 191)
            .ok_or_else(|| format!("PRI `{}` is not 0–191", &after[..close]))?;
        p.pri = Some(pri);
        rest = &after[close + 1..];
        if let Some(r) = rest.strip_prefix("1 ") {
            return parse_5424(p, r);
        }
    }
    parse_3164(p, rest)
}

/// Splits off the next space-separated token.
fn token(text: &str) -> (&str, &str) {
    match text.split_once(' ') {
        Some((a, b)) => (a, b),
        None => (text, ""),
    }
}

fn nil(text: &str) -> Option<&str> {
    (text != "-").then_some(text)
}

fn parse_5424<'a>(mut p: Parsed<'a>, rest: &'a str) -> Result<Parsed<'a>, String> {
    let (ts, rest) = token(rest);
    p.timestamp = ts;
    if ts != "-" {
        p.time = Some(
            ts.parse::<Timestamp>()
                .map_err(|_| format!("RFC 5424 timestamp `{ts}` is not RFC 3339"))?,
        );
    }
    let (host, rest) = token(rest);
    let (app, rest) = token(rest);
    let (procid, rest) = token(rest);
    let (msgid, rest) = token(rest);
    if msgid.is_empty() {
        return Err("RFC 5424 header cut short".to_string());
    }
    p.hostname = nil(host);
    p.appname = nil(app);
    p.pid = nil(procid);
    p.msgid = nil(msgid);
    let (sd, msg) = if let Some(r) = rest.strip_prefix('-') {
        (None, r)
    } else if rest.starts_with('[') {
        let end = sd_end(rest).ok_or("unterminated structured data")?;
        p.sd_params = sd_params(&rest[..end]);
        (Some(&rest[..end]), &rest[end..])
    } else {
        return Err("RFC 5424 structured data is neither `-` nor `[…]`".to_string());
    };
    p.sd = sd;
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    p.msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    Ok(p)
}

/// The end of the SD-ELEMENTs at the start of `text` (`[…][…]`, `\]` and `\"` escaped).
fn sd_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'[' {
        let mut quoted = false;
        i += 1;
        loop {
            match *b.get(i)? {
                b'\\' => i += 1,
                b'"' => quoted = !quoted,
                b']' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    Some(i)
}

/// `[id k="v" …]…` as (`id.k`, v) pairs.
fn sd_params(sd: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for element in sd.split_inclusive(']') {
        let Some(body) = element.strip_prefix('[') else {
            continue;
        };
        let (id, mut rest) = token(body.trim_end_matches(']'));
        while let Some(eq) = rest.find("=\"") {
            let name = rest[..eq].trim();
            let after = &rest[eq + 2..];
            let mut value = String::new();
            let mut chars = after.char_indices();
            let mut end = after.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            out.push((format!("{id}.{name}"), value));
            rest = &after[end..];
        }
    }
    out
}

fn parse_3164<'a>(mut p: Parsed<'a>, rest: &'a str) -> Result<Parsed<'a>, String> {
    // `Mmm dd hh:mm:ss` (day space-padded), or an RFC 3339 timestamp (rsyslog).
    let b = rest.as_bytes();
    let (stamp, rest) =
        if b.len() >= 16 && MONTHS.iter().any(|m| b.starts_with(m.as_bytes())) && b[3] == b' ' {
            let day_ok = (b[4] == b' ' || b[4].is_ascii_digit()) && b[5].is_ascii_digit();
            let time_ok = b[6] == b' '
                && b[9] == b':'
                && b[12] == b':'
                && [7, 8, 10, 11, 13, 14]
                    .iter()
                    .all(|&i| b[i].is_ascii_digit());
            if !(day_ok && time_ok) || b[15] != b' ' {
                return Err("no `Mmm dd hh:mm:ss` timestamp".to_string());
            }
            // Bytes 0..16 are ASCII (checked above), so these are char boundaries.
            (&rest[..15], &rest[16..])
        } else {
            let (ts, r) = token(rest);
            match ts.parse::<Timestamp>() {
                Ok(t) => {
                    p.time = Some(t);
                    (ts, r)
                }
                Err(_) => {
                    return Err("no RFC 3164 (`Mmm dd hh:mm:ss`) or RFC 5424 header".to_string());
                }
            }
        };
    p.timestamp = stamp;
    let (host, rest) = token(rest);
    if host.is_empty() {
        return Err("no hostname after the timestamp".to_string());
    }
    p.hostname = Some(host);
    // The tag: `app[pid]: ` or `app: ` (app without spaces); otherwise all of it is message.
    let rest_trim = rest.trim_start();
    let tag_end = rest_trim.find([' ', ':', '[']);
    let mut msg = rest;
    if let Some(i) = tag_end.filter(|&i| i > 0) {
        let app = &rest_trim[..i];
        let after = &rest_trim[i..];
        if let Some(r) = after.strip_prefix(':') {
            p.appname = Some(app);
            msg = r;
        } else if let Some(r) = after.strip_prefix('[')
            && let Some((pid, r)) = r.split_once(']')
            && let Some(r) = r.strip_prefix(':')
        {
            p.appname = Some(app);
            p.pid = Some(pid);
            msg = r;
        }
    }
    p.msg = msg.strip_prefix(' ').unwrap_or(msg);
    Ok(p)
}

/// The word after `prefix` in `text`, and what follows it.
fn word_after<'a>(text: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let i = text.find(prefix)?;
    let rest = &text[i + prefix.len()..];
    Some(token(rest))
}

/// sshd: `Accepted|Failed <method> for [invalid user ]USER from IP port N …`,
/// `Invalid user USER from IP [port N]`.
fn sshd_fields(event: &mut Event, msg: &str) {
    for (result, prefix) in [("accepted", "Accepted "), ("failed", "Failed ")] {
        let Some(rest) = msg.strip_prefix(prefix) else {
            continue;
        };
        let (method, rest) = token(rest);
        let Some(rest) = rest.strip_prefix("for ") else {
            continue;
        };
        let (rest, invalid) = match rest.strip_prefix("invalid user ") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let Some(from) = rest.rfind(" from ") else {
            continue;
        };
        let user = &rest[..from];
        let (ip, rest) = token(&rest[from + 6..]);
        put(event, "auth_result", Value::str(result));
        put(event, "auth_method", Value::str(method));
        put(event, "user", Value::str(user));
        put(event, "src_ip", Value::str(ip));
        if invalid {
            put(event, "invalid_user", Value::Bool(true));
        }
        if let Some((port, _)) = word_after(rest, "port ") {
            put(event, "src_port", Value::str(port));
        }
        return;
    }
    if let Some(rest) = msg.strip_prefix("Invalid user ")
        && let Some(from) = rest.rfind(" from ")
    {
        put(event, "user", Value::str(&rest[..from]));
        put(event, "invalid_user", Value::Bool(true));
        let (ip, rest) = token(&rest[from + 6..]);
        put(event, "src_ip", Value::str(ip));
        if let Some((port, _)) = word_after(rest, "port ") {
            put(event, "src_port", Value::str(port));
        }
    }
}

/// sudo: `USER : TTY=… ; PWD=… ; USER=… ; COMMAND=…`.
fn sudo_fields(event: &mut Event, msg: &str) {
    let Some((user, rest)) = msg.split_once(" : ") else {
        return;
    };
    put(event, "user", Value::str(user.trim()));
    for part in rest.split(" ; ") {
        let Some((k, v)) = part.split_once('=') else {
            if !part.trim().is_empty() {
                put(event, "sudo_error", Value::str(part.trim()));
            }
            continue;
        };
        let name = match k.trim() {
            "TTY" => "tty",
            "PWD" => "pwd",
            "USER" => "target_user",
            "GROUP" => "target_group",
            "COMMAND" => "command",
            _ => continue,
        };
        put(event, name, Value::str(v.trim()));
    }
}

/// su: `(to root) alice on pts/0`, `FAILED SU (to root) alice on pts/0`,
/// `Successful su for root by alice`.
fn su_fields(event: &mut Event, msg: &str) {
    let (rest, result) = match msg.strip_prefix("FAILED SU ") {
        Some(r) => (r, "failed"),
        None => (msg, "accepted"),
    };
    if let Some(r) = rest.strip_prefix("(to ")
        && let Some((target, r)) = r.split_once(") ")
    {
        let (user, r) = token(r);
        put(event, "target_user", Value::str(target));
        put(event, "user", Value::str(user));
        put(event, "auth_result", Value::str(result));
        if let Some((tty, _)) = word_after(r, "on ") {
            put(event, "tty", Value::str(tty));
        }
    } else if let Some(r) = msg.strip_prefix("Successful su for ")
        && let Some((target, user)) = r.split_once(" by ")
    {
        put(event, "target_user", Value::str(target));
        put(event, "user", Value::str(user.trim()));
        put(event, "auth_result", Value::str("accepted"));
    }
}

/// pam_unix lines (sshd, su, login…): `session opened for user X by Y(uid=N)`,
/// `authentication failure; … rhost=H user=U`.
fn pam_fields(event: &mut Event, msg: &str) {
    let msg = match msg.find("): ") {
        Some(i) if msg.starts_with("pam_unix(") => &msg[i + 3..],
        _ => msg,
    };
    if let Some(r) = msg
        .strip_prefix("session opened for user ")
        .or_else(|| msg.strip_prefix("session closed for user "))
    {
        let (target, r) = token(r);
        if event.get_str("target_user").is_none() {
            put(event, "target_user", Value::str(target));
        }
        if let Some(by) = r.strip_prefix("by ") {
            let by = by.split('(').next().unwrap_or_default().trim();
            if !by.is_empty() && event.get_str("user").is_none() {
                put(event, "user", Value::str(by));
            }
        }
    } else if let Some(r) = msg.strip_prefix("authentication failure; ") {
        for part in r.split_whitespace() {
            match part.split_once('=') {
                Some(("rhost", v)) if !v.is_empty() => put(event, "rhost", Value::str(v)),
                Some(("user", v)) if !v.is_empty() && event.get_str("user").is_none() => {
                    put(event, "user", Value::str(v))
                }
                _ => {}
            }
        }
        if event.get_str("auth_result").is_none() {
            put(event, "auth_result", Value::str("failed"));
        }
    }
}
