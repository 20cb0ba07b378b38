//! Entities of a decoded event under OCSF names, computed on demand.
//!
//! What this is for: one call, [`entities`], gives the hosts, users, addresses, processes,
//! files, hashes, domains, URLs and cloud identities of any event this crate decodes, named as
//! OCSF names them (`src_endpoint.ip`, `process.cmd_line`, `cloud.account.uid`). The extractor
//! is chosen by the event's logsource product, one file per source family; values are
//! borrowed from the event.
//!
//! What it is not for: decoding. Decoders never call it, so decode throughput does not pay for
//! entities most events never need; the README's table lists the mapping per source.

/// The [`Name`] of a field, registered once per process (extractors read dozens of names per
/// event; the registration interns the name and gives it its slot in the per-event index).
macro_rules! sym {
    ($name:literal) => {{
        static NAME: std::sync::OnceLock<$crate::entity::Name> = std::sync::OnceLock::new();
        *NAME.get_or_init(|| $crate::entity::Name::register($name))
    }};
}

/// An array of [`sym!`]s.
macro_rules! syms {
    ($($name:literal),* $(,)?) => {
        [$(sym!($name)),*]
    };
}

mod cloudtrail;
mod generic;
mod identity;
mod linux;
mod suricata;
mod windows;
mod zeek;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{LazyLock, PoisonError, RwLock};

use vigil_core::{Entities, EntityField, Event, Symbol, Value};

/// The entities of `event`, by the extractor for its logsource product (`windows`, `zeek`,
/// `suricata`, `aws`, `okta`/`azure`/`auth0`, `linux`; anything else gets a generic one that
/// knows common host, address and user field names).
pub fn entities(event: &Event) -> Entities<'_> {
    LAST_SHAPE.with_borrow_mut(|last| {
        // Events of one source and EventID share their field names in the same order: the
        // index of the previous one is reused when the names (and the registry) are the same.
        let registered = REGISTERED.load(Ordering::Acquire);
        if last.index.resolved != registered || last.names.as_slice() != event.names() {
            last.index = Index::none();
            last.index.fill(event);
            last.names.clear();
            last.names.extend_from_slice(event.names());
        }
        extract(Fields {
            event,
            index: &last.index,
        })
    })
}

/// The field names of the last event indexed on a thread, and its index.
struct Shape {
    names: Vec<Symbol>,
    index: Index,
}

thread_local! {
    static LAST_SHAPE: RefCell<Shape> = RefCell::new(Shape {
        names: Vec::new(),
        index: Index::none(),
    });
}

/// Runs the extractor for the event's logsource product.
fn extract<'e>(fields: Fields<'_, 'e>) -> Entities<'e> {
    let mut out = Entities::new();
    let logsource = &fields.event.logsource;
    match logsource.product.as_deref() {
        Some("windows") => windows::extract(fields, &mut out),
        Some("zeek") => zeek::extract(fields, &mut out),
        Some("suricata") => suricata::extract(fields, &mut out),
        Some("aws") => cloudtrail::extract(fields, &mut out),
        Some(product @ ("okta" | "azure" | "auth0")) => {
            identity::extract(fields, product, &mut out)
        }
        Some("linux") => linux::extract(fields, logsource.service.as_deref(), &mut out),
        _ => generic::extract(fields, &mut out),
    }
    out
}

/// A field name an extractor reads (made by [`sym!`]): its symbol, and its slot in the
/// per-event [`Index`].
#[derive(Clone, Copy)]
struct Name {
    symbol: Symbol,
    slot: u16,
}

/// Slots in an [`Index`]; names registered beyond them are looked up in the event directly.
/// The extractors read about 190 distinct names.
const SLOTS: usize = 256;

/// An [`Index`] entry for a name the event does not have.
const ABSENT: u16 = u16::MAX;

/// Every name the extractors read, numbered in order of first use.
struct Registry {
    slots: HashMap<Symbol, u16, foldhash::fast::FixedState>,
}

/// The number of names in [`REGISTRY`] (read without its lock, to tell a cached index that
/// predates a registration).
static REGISTERED: AtomicU16 = AtomicU16::new(0);

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    RwLock::new(Registry {
        slots: HashMap::with_hasher(foldhash::fast::FixedState::default()),
    })
});

impl Name {
    /// The name's symbol and slot (the same slot for every call site naming it).
    fn register(name: &str) -> Name {
        let symbol = Symbol::intern(name);
        let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
        let next = registry.slots.len();
        let slot = match registry.slots.get(&symbol) {
            Some(slot) => *slot,
            None if next < SLOTS => {
                registry.slots.insert(symbol, next as u16);
                REGISTERED.store(next as u16 + 1, Ordering::Release);
                next as u16
            }
            None => ABSENT,
        };
        Name { symbol, slot }
    }
}

/// Where each registered name is among one event's fields, found in one pass over the
/// event's names (a hash lookup each) instead of a scan of them for every name read.
struct Index {
    /// The position of each slot's name in the event, or [`ABSENT`].
    at: [u16; SLOTS],
    /// Slots below this were registered when the index was built; later ones (and names
    /// without a slot) are looked up in the event.
    resolved: u16,
}

impl Index {
    /// Indexes `event` (an index that resolved nothing) over the names registered so far.
    /// Built in place: the index is returned by no function, so it is not copied.
    fn fill(&mut self, event: &Event) {
        if event.len() >= usize::from(ABSENT) {
            return;
        }
        let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
        for (i, name) in event.names().iter().enumerate() {
            if let Some(slot) = registry.slots.get(name) {
                // The first field of a repeated name, as `Event::get` gives.
                let entry = &mut self.at[usize::from(*slot)];
                if *entry == ABSENT {
                    *entry = i as u16;
                }
            }
        }
        self.resolved = registry.slots.len() as u16;
    }

    /// An index that resolves nothing: every name is looked up in the event (the reference
    /// the indexed lookups are tested against, and what [`Index::fill`] starts from).
    fn none() -> Index {
        Index {
            at: [ABSENT; SLOTS],
            resolved: 0,
        }
    }
}

/// Read access to an event's native fields by name, for the extractors.
#[derive(Clone, Copy)]
struct Fields<'i, 'e> {
    event: &'e Event,
    index: &'i Index,
}

impl<'e> Fields<'_, 'e> {
    /// The value of field `name`.
    #[inline]
    fn get(self, name: Name) -> Option<&'e Value> {
        if name.slot < self.index.resolved {
            match self.index.at[usize::from(name.slot)] {
                ABSENT => None,
                i => self.event.fields().get(usize::from(i)).map(|f| &f.value),
            }
        } else {
            self.event.get(name.symbol)
        }
    }

    /// The first of `names` that is present.
    fn first(self, names: &[Name]) -> Option<&'e Value> {
        names.iter().find_map(|n| self.get(*n))
    }

    /// The text of field `name`, when it is a string other than a placeholder (blank, `-`).
    fn text(self, name: Name) -> Option<&'e str> {
        self.get(name)
            .and_then(Value::as_text)
            .map(|t| t.as_str())
            .filter(|s| !matches!(s.trim(), "" | "-"))
    }

    /// The text of the first of `names` that holds a string other than a placeholder.
    fn first_text(self, names: &[Name]) -> Option<&'e str> {
        names.iter().find_map(|n| self.text(*n))
    }

    /// Adds the first of `names` present to `field` (a list contributes its first element).
    /// Returns whether a value was added.
    fn put(self, out: &mut Entities<'e>, field: EntityField, names: &[Name]) -> bool {
        names.iter().any(|n| match self.get(*n) {
            Some(Value::List(items)) => items.first().is_some_and(|v| out.add(field, v)),
            Some(v) => out.add(field, v),
            None => false,
        })
    }
}

/// The last component of a Windows or POSIX path (`C:\a\b.exe` → `b.exe`), borrowed. A
/// byte search from the end (both separators are ASCII, so the cut is a char boundary).
fn basename(path: &str) -> &str {
    let path = path.trim().trim_matches('"');
    match path.bytes().rposition(|b| b == b'\\' || b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Adds `path` and its file name to the two fields.
fn put_path<'e>(out: &mut Entities<'e>, path: EntityField, name: EntityField, value: &'e str) {
    if out.add_str(path, value) {
        out.add_str(name, basename(value));
    }
}

/// Adds `DOMAIN\user` (or `user@domain` is left whole: it is a name) as a user name and
/// domain, borrowing both halves.
fn put_account<'e>(
    out: &mut Entities<'e>,
    name: EntityField,
    domain: EntityField,
    value: &'e str,
) -> bool {
    match value.split_once('\\') {
        Some((d, n)) => {
            out.add_str(domain, d);
            out.add_str(name, n)
        }
        None => out.add_str(name, value),
    }
}

/// `http://host[:port]path` from a log's split host and path (Zeek, Suricata): owned, since
/// it is assembled. A path that is already absolute (`http://…`, proxies log those) is used
/// as is.
fn url_from_parts(host: &str, port: Option<i64>, path: &str) -> Option<String> {
    let path = path.trim();
    if path.contains("://") {
        return Some(path.to_string());
    }
    let host = host.trim();
    if host.is_empty() || host == "-" {
        return None;
    }
    let (scheme, default) = if port == Some(443) {
        ("https", 443)
    } else {
        ("http", 80)
    };
    let host = if host.contains(':')
        && !host.starts_with('[')
        && host.parse::<std::net::Ipv6Addr>().is_ok()
    {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let port = match port {
        Some(p) if p != default && p > 0 => format!(":{p}"),
        _ => String::new(),
    };
    let sep = if path.starts_with('/') { "" } else { "/" };
    Some(format!("{scheme}://{host}{port}{sep}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Indexed lookups give exactly what a scan of the event's names gives, for every event
    /// of every corpus folder a decoder reads (every extractor, every source shape).
    #[test]
    fn indexed_lookups_equal_scans() {
        let Some(dir) = vigil_core::corpus::corpus_dir() else {
            eprintln!("corpus not found: skipped");
            return;
        };
        let files = crate::discover(&[dir]).expect("corpus listing");
        let opts = crate::DecodeOptions { evtx_threads: 1 };
        let (mut events, mut with_entities) = (0usize, 0usize);
        for file in &files {
            let _ = crate::decode_file(
                file,
                &opts,
                &mut |event| {
                    let indexed = entities(&event);
                    let scanned = extract(Fields {
                        event: &event,
                        index: &Index::none(),
                    });
                    assert_eq!(indexed, scanned, "{}#{:?}", file.display(), event.source);
                    events += 1;
                    with_entities += usize::from(!indexed.is_empty());
                },
                &mut |_| {},
            );
        }
        assert!(
            events > 10_000 && with_entities > 10_000,
            "{events} / {with_entities}"
        );
    }

    #[test]
    fn basenames_and_urls() {
        assert_eq!(basename(r"C:\Windows\System32\cmd.exe"), "cmd.exe");
        assert_eq!(basename("/usr/bin/dd"), "dd");
        assert_eq!(basename("wdavdaemon"), "wdavdaemon");
        assert_eq!(basename(" \"C:\\Program Files\\a b\\x.exe\" "), "x.exe");
        assert_eq!(basename("C:\\dir\\"), "");
        assert_eq!(basename("C:/é/ü.exe"), "ü.exe");
        assert_eq!(
            url_from_parts("example.com", Some(80), "/a?b").as_deref(),
            Some("http://example.com/a?b")
        );
        assert_eq!(
            url_from_parts("10.0.0.1", Some(8080), "/").as_deref(),
            Some("http://10.0.0.1:8080/")
        );
        assert_eq!(
            url_from_parts("::1", None, "/x").as_deref(),
            Some("http://[::1]/x")
        );
        assert_eq!(
            url_from_parts("h", None, "http://other/x").as_deref(),
            Some("http://other/x")
        );
        assert_eq!(url_from_parts("", None, "/x"), None);
    }
}
