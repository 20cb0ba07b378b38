//! One file per format; `windows` holds the normalisation that the EVTX decoder and the JSON
//! renderings of Windows events share, so both yield the same fields for the same event.

pub(crate) mod auditd;
pub(crate) mod cloud;
pub(crate) mod evtx;
pub(crate) mod flatten;
pub(crate) mod json;
pub(crate) mod suricata;
pub(crate) mod syslog;
pub(crate) mod sysmon;
pub(crate) mod tree;
pub(crate) mod windows;
pub(crate) mod zeek;

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use vigil_core::{Event, Symbol, Value};

/// What a line-oriented decoder (Zeek TSV, auditd, syslog) read from one file.
pub(crate) struct Summary {
    pub(crate) events: u64,
    pub(crate) errors: u64,
}

/// One line of a text log: its byte offset, 1-based number, and bytes without `\n`/`\r\n`.
pub(crate) struct Line<'a> {
    pub(crate) offset: usize,
    pub(crate) number: u64,
    pub(crate) bytes: &'a [u8],
}

/// The lines of `bytes`, blank ones included (each decoder decides what a blank line means).
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = Line<'_>> {
    let mut pos = 0usize;
    let mut number = 0u64;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let end = memchr_newline(&bytes[pos..]).map_or(bytes.len(), |p| pos + p);
        let raw = &bytes[pos..end];
        let line = Line {
            offset: pos,
            number: {
                number += 1;
                number
            },
            bytes: raw.strip_suffix(b"\r").unwrap_or(raw),
        };
        pos = end + 1;
        Some(line)
    })
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Appends a field; a name the event already has turns its value into a list (Sigma matches
/// a list when any element matches), so a repeated name never hides a value.
pub(crate) fn put(event: &mut Event, name: &str, value: Value) {
    put_sym(event, intern(name), value);
}

/// Names one thread remembers; past this, names go to the global interner only (generic JSON
/// can have unbounded key sets).
const CACHE_LIMIT: usize = 8192;

thread_local! {
    static SYMBOLS: RefCell<HashMap<Box<str>, Symbol, BuildHasherDefault<FxHasher>>> =
        RefCell::new(HashMap::default());
}

/// [`Symbol::intern`] through a per-thread cache: the global interner is a sharded map behind
/// locks with SipHash, and showed as ~10% of EVTX decode time; the same few hundred field
/// names repeat in every record.
pub(crate) fn intern(name: &str) -> Symbol {
    SYMBOLS.with(|cache| {
        if let Some(sym) = cache.borrow().get(name) {
            return *sym;
        }
        let sym = Symbol::intern(name);
        let mut cache = cache.borrow_mut();
        if cache.len() < CACHE_LIMIT {
            cache.insert(name.into(), sym);
        }
        sym
    })
}

/// The multiply-rotate hash rustc uses for its own symbol tables: field names are short and
/// not attacker-chosen in a way that matters for a bounded cache.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.write(&[b]);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// [`put`] with an interned name.
pub(crate) fn put_sym(event: &mut Event, name: Symbol, value: Value) {
    if event.get(name).is_none() {
        event.push(name, value);
        return;
    }
    let old = event.get(name).cloned().unwrap_or(Value::Null);
    let merged = match (old, value) {
        (Value::List(mut a), Value::List(b)) => {
            a.extend(b);
            a
        }
        (Value::List(mut a), v) => {
            a.push(v);
            a
        }
        (o, Value::List(mut b)) => {
            b.insert(0, o);
            b
        }
        (o, v) => vec![o, v],
    };
    event.set(name, Value::List(merged));
}
