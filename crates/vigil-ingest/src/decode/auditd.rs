//! Linux audit logs (`/var/log/audit/audit.log`): lines `type=T msg=audit(SECS.MS:SERIAL): k=v …`.
//!
//! The records of one kernel event (SYSCALL, EXECVE, CWD, PATH, PROCTITLE, …) share the
//! `msg=audit(…)` id and become one event. They are usually adjacent, but need not be, so a
//! small map of open events is kept: an event is emitted at its `EOE` record, when more than
//! [`MAX_OPEN`] events are open (oldest first), or at the end of the input. Events come out in
//! the order they are completed (EOE, eviction, end of input). A record that arrives after its event was emitted (lines
//! out of order), or an `EOE` before any record of its event, is a counted error rather than
//! the start of a second event with the same id.
//!
//! Field names are auditd's own, as SigmaHQ's `product: linux, service: auditd` rules use them
//! (`type`, `key`, `exe`, `comm`, `a0`…, `name`, `nametype`, `syscall`); a name several records
//! carry (`type`, `name`, `a0` of SYSCALL and EXECVE) becomes a list, so `type: EXECVE` matches
//! any record of the event. Values auditd hex-encodes (`proctitle`, and unquoted `exe`, `comm`,
//! `name`, `cwd`, EXECVE `aN`, … when they hold special characters) are decoded; `proctitle`'s
//! NUL separators become spaces. `SYSCALL` is the syscall's name (x86_64 numbers) when the
//! log does not carry the enriched `SYSCALL=` already.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use jiff::Timestamp;
use vigil_core::{Event, LogSource, SourceRef, Value};

use super::{Line, Summary, lines, put};
use crate::DecodeError;

/// Events kept open at once waiting for more records; past this the oldest is emitted.
pub(crate) const MAX_OPEN: usize = 64;

/// Emitted event ids remembered, so that a record arriving after its event was emitted is
/// reported instead of starting a second event with the same id.
const CLOSED_KEPT: usize = 1024;

/// The ids of the last [`CLOSED_KEPT`] events emitted, oldest first, and as a set.
#[derive(Default)]
struct Closed {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Closed {
    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

fn remember(closed: &mut Closed, id: String) {
    if closed.order.len() == CLOSED_KEPT
        && let Some(old) = closed.order.pop_front()
    {
        closed.set.remove(&old);
    }
    closed.set.insert(id.clone());
    closed.order.push_back(id);
}

/// True when `line` looks like an audit record (`type=… msg=audit(`).
pub(crate) fn is_audit_line(line: &[u8]) -> bool {
    let line = line.trim_ascii_start();
    line.starts_with(b"type=") && line.windows(10).any(|w| w == b"msg=audit(")
}

/// One event being assembled.
struct Open {
    id: String,
    event: Event,
}

/// Decodes an audit log; each joined event is one event (record index = 1-based event order).
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
    let mut open: Vec<Open> = Vec::new();
    // Ids of the events emitted most recently, to tell a late record from a new event.
    let mut closed = Closed::default();
    let mut emit = |event: Event, summary: &mut Summary| {
        summary.events += 1;
        on_event(event);
    };
    let mut index = 0u64;
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
        let record = match parse_line(&line) {
            Ok(record) => record,
            Err(reason) => {
                summary.errors += 1;
                on_error(DecodeError::new(
                    file,
                    Some(start as u64),
                    Some(line_no),
                    format!("line {line_no}: {reason}"),
                ));
                continue;
            }
        };
        let is_eoe = record.kind == "EOE";
        let slot = match open.iter().position(|o| o.id == record.id) {
            Some(i) => i,
            None => {
                // A record for an event already emitted, or an EOE with nothing before it,
                // cannot be joined: starting a new event would split one kernel event in two
                // without a word.
                let late = closed.contains(record.id);
                if late || is_eoe {
                    let reason = if late {
                        format!(
                            "line {line_no}: {} record of audit({}) comes after that event was \
                             emitted (at its EOE, or when {MAX_OPEN} newer events were open); \
                             skipped",
                            record.kind, record.id
                        )
                    } else {
                        format!(
                            "line {line_no}: EOE of audit({}) before any other record of that \
                             event (lines out of order); skipped",
                            record.id
                        )
                    };
                    summary.errors += 1;
                    on_error(DecodeError::new(
                        file,
                        Some(start as u64),
                        Some(line_no),
                        reason,
                    ));
                    continue;
                }
                if open.len() >= MAX_OPEN {
                    let oldest = open.remove(0);
                    remember(&mut closed, oldest.id);
                    emit(finish(oldest.event), &mut summary);
                }
                index += 1;
                let mut event = Event::with_capacity(
                    SourceRef {
                        file: Arc::clone(file),
                        record_id: Some(index),
                        offset: Some(start as u64),
                    },
                    48,
                );
                event.time = record.time;
                event.logsource = LogSource::product("linux").with_service("auditd");
                put(&mut event, "serial", Value::str(record.serial));
                open.push(Open {
                    id: record.id.to_string(),
                    event,
                });
                open.len() - 1
            }
        };
        add_record(&mut open[slot].event, &record);
        if is_eoe {
            let done = open.remove(slot);
            remember(&mut closed, done.id);
            emit(finish(done.event), &mut summary);
        }
    }
    for o in open {
        emit(finish(o.event), &mut summary);
    }
    summary
}

/// One parsed line.
struct Record<'a> {
    kind: &'a str,
    id: &'a str,
    serial: &'a str,
    time: Option<Timestamp>,
    pairs: Vec<(&'a str, Raw<'a>)>,
}

/// A value as written: quoted (`"…"`), single-quoted (`'…'`, nested pairs) or bare.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Quoted(&'a str),
    Nested(&'a str),
    Bare(&'a str),
}

fn parse_line(line: &str) -> Result<Record<'_>, String> {
    let line = line.trim();
    let rest = line
        .strip_prefix("type=")
        .ok_or("does not start with `type=`")?;
    let (kind, rest) = rest
        .split_once(' ')
        .ok_or("no `msg=audit(` after the record type")?;
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix("msg=audit(")
        .ok_or("no `msg=audit(` after the record type")?;
    let (id, rest) = rest
        .split_once("):")
        .ok_or("`msg=audit(` without the closing `):`")?;
    let (stamp, serial) = id
        .split_once(':')
        .ok_or_else(|| format!("audit id `{id}` has no `:SERIAL`"))?;
    if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "audit id `{id}`: serial `{serial}` is not a number"
        ));
    }
    let time = parse_time(stamp).ok_or_else(|| format!("audit id `{id}`: bad timestamp"))?;
    if kind.is_empty() {
        return Err("empty record type".to_string());
    }
    Ok(Record {
        kind,
        id,
        serial,
        time: Some(time),
        pairs: pairs(rest),
    })
}

/// `SECS.MILLIS` as a timestamp.
fn parse_time(stamp: &str) -> Option<Timestamp> {
    let (secs, frac) = stamp.split_once('.').unwrap_or((stamp, ""));
    let secs: i64 = secs.parse().ok()?;
    let nanos = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: i32 = frac.parse().ok()?;
        digits * 10i32.pow(9 - frac.len() as u32)
    };
    Timestamp::new(secs, nanos).ok()
}

/// The `key=value` pairs of a record body (auditd's enriched `\x1d` separator counts as space).
fn pairs(text: &str) -> Vec<(&str, Raw<'_>)> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x1d');
        if rest.is_empty() {
            break;
        }
        let token_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '\x1d')
            .unwrap_or(rest.len());
        let Some(eq) = rest[..token_end].find('=') else {
            // A bare word (rare): skip it.
            rest = &rest[token_end..];
            continue;
        };
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(e) => (Raw::Quoted(&q[..e]), &q[e + 1..]),
                None => (Raw::Quoted(q), ""),
            }
        } else if let Some(q) = after.strip_prefix('\'') {
            match q.find('\'') {
                Some(e) => (Raw::Nested(&q[..e]), &q[e + 1..]),
                None => (Raw::Nested(q), ""),
            }
        } else {
            let e = after
                .find(|c: char| c.is_ascii_whitespace() || c == '\x1d')
                .unwrap_or(after.len());
            (Raw::Bare(&after[..e]), &after[e..])
        };
        out.push((key, value));
        rest = next;
    }
    out
}

/// Names whose bare value auditd hex-encodes when it holds a space, quote or control byte.
fn hex_encoded(kind: &str, key: &str) -> bool {
    matches!(
        key,
        "proctitle"
            | "exe"
            | "comm"
            | "name"
            | "cwd"
            | "path"
            | "acct"
            | "cmd"
            | "old"
            | "new"
            | "data"
            | "root_dir"
            | "watch"
            | "key"
    ) || (kind == "EXECVE" && key.starts_with('a') && key[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// Decodes auditd's hex (uppercase, even length); `None` when `text` is not that.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    if b.len() < 2
        || !b.len().is_multiple_of(2)
        || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F'))
    {
        return None;
    }
    let nib = |c: u8| if c <= b'9' { c - b'0' } else { c - b'A' + 10 };
    Some(b.chunks(2).map(|p| nib(p[0]) << 4 | nib(p[1])).collect())
}

fn add_record(event: &mut Event, record: &Record<'_>) {
    put(event, "type", Value::str(record.kind));
    add_pairs(event, record.kind, &record.pairs);
}

fn add_pairs(event: &mut Event, kind: &str, pairs: &[(&str, Raw<'_>)]) {
    for (key, raw) in pairs {
        let value = match *raw {
            Raw::Quoted(v) => v.to_string(),
            Raw::Nested(v) => {
                put(event, key, Value::str(v));
                add_pairs(event, kind, &self::pairs(v));
                continue;
            }
            Raw::Bare(v) if hex_encoded(kind, key) => match unhex(v) {
                Some(bytes) => {
                    let mut s = String::from_utf8_lossy(&bytes).into_owned();
                    if *key == "proctitle" {
                        s = s.trim_end_matches('\0').replace('\0', " ");
                    }
                    s
                }
                None => v.to_string(),
            },
            Raw::Bare(v) => v.to_string(),
        };
        put(event, key, Value::str(value));
    }
}

/// Adds `SYSCALL` (the syscall's name) for x86_64 records that only carry the number.
fn finish(mut event: Event) -> Event {
    let text = |name: &str| {
        event
            .get_str(name)
            .and_then(Value::as_text)
            .map(|t| t.as_str().to_string())
    };
    if event.get_str("SYSCALL").is_none()
        && text("arch").as_deref() == Some("c000003e")
        && let Some(name) = text("syscall")
            .and_then(|nr| nr.parse().ok())
            .and_then(x86_64_syscall)
    {
        put(&mut event, "SYSCALL", Value::str(name));
    }
    event
}

/// Names of the x86_64 syscalls audit rules commonly watch.
fn x86_64_syscall(nr: u32) -> Option<&'static str> {
    Some(match nr {
        0 => "read",
        1 => "write",
        2 => "open",
        41 => "socket",
        42 => "connect",
        43 => "accept",
        49 => "bind",
        56 => "clone",
        57 => "fork",
        58 => "vfork",
        59 => "execve",
        62 => "kill",
        82 => "rename",
        84 => "rmdir",
        87 => "unlink",
        90 => "chmod",
        92 => "chown",
        99 => "sysinfo",
        101 => "ptrace",
        103 => "syslog",
        105 => "setuid",
        133 => "mknod",
        135 => "personality",
        165 => "mount",
        175 => "init_module",
        176 => "delete_module",
        257 => "openat",
        259 => "mknodat",
        263 => "unlinkat",
        264 => "renameat",
        268 => "fchmodat",
        288 => "accept4",
        313 => "finit_module",
        319 => "memfd_create",
        322 => "execveat",
        _ => return None,
    })
}
