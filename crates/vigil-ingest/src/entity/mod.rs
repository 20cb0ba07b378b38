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

/// The interned symbol of a field name, interned once per process (extractors look up dozens
/// of names per event; a string lookup in the interner would hash each one every time).
macro_rules! sym {
    ($name:literal) => {{
        static SYM: std::sync::OnceLock<vigil_core::Symbol> = std::sync::OnceLock::new();
        *SYM.get_or_init(|| vigil_core::Symbol::intern($name))
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

use vigil_core::{Entities, EntityField, Event, Symbol, Value};

/// The entities of `event`, by the extractor for its logsource product (`windows`, `zeek`,
/// `suricata`, `aws`, `okta`/`azure`/`auth0`, `linux`; anything else gets a generic one that
/// knows common host, address and user field names).
pub fn entities(event: &Event) -> Entities<'_> {
    let mut out = Entities::new();
    let fields = Fields(event);
    match event.logsource.product.as_deref() {
        Some("windows") => windows::extract(fields, &mut out),
        Some("zeek") => zeek::extract(fields, &mut out),
        Some("suricata") => suricata::extract(fields, &mut out),
        Some("aws") => cloudtrail::extract(fields, &mut out),
        Some("okta" | "azure" | "auth0") => identity::extract(
            fields,
            event.logsource.product.as_deref().unwrap_or_default(),
            &mut out,
        ),
        Some("linux") => linux::extract(fields, event.logsource.service.as_deref(), &mut out),
        _ => generic::extract(fields, &mut out),
    }
    out
}

/// Read access to an event's native fields by name, for the extractors.
#[derive(Clone, Copy)]
struct Fields<'e>(&'e Event);

impl<'e> Fields<'e> {
    /// The value of field `name`.
    fn get(self, name: Symbol) -> Option<&'e Value> {
        self.0.get(name)
    }

    /// The first of `names` that is present.
    fn first(self, names: &[Symbol]) -> Option<&'e Value> {
        names.iter().find_map(|n| self.get(*n))
    }

    /// The text of field `name`, when it is a string other than a placeholder (blank, `-`).
    fn text(self, name: Symbol) -> Option<&'e str> {
        self.get(name)
            .and_then(Value::as_text)
            .map(|t| t.as_str())
            .filter(|s| !matches!(s.trim(), "" | "-"))
    }

    /// The text of the first of `names` that holds a string other than a placeholder.
    fn first_text(self, names: &[Symbol]) -> Option<&'e str> {
        names.iter().find_map(|n| self.text(*n))
    }

    /// Adds the first of `names` present to `field` (a list contributes its first element).
    /// Returns whether a value was added.
    fn put(self, out: &mut Entities<'e>, field: EntityField, names: &[Symbol]) -> bool {
        names.iter().any(|n| match self.get(*n) {
            Some(Value::List(items)) => items.first().is_some_and(|v| out.add(field, v)),
            Some(v) => out.add(field, v),
            None => false,
        })
    }
}

/// The last component of a Windows or POSIX path (`C:\a\b.exe` → `b.exe`), borrowed.
fn basename(path: &str) -> &str {
    let path = path.trim().trim_matches('"');
    path.rsplit(['\\', '/']).next().unwrap_or(path)
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

    #[test]
    fn basenames_and_urls() {
        assert_eq!(basename(r"C:\Windows\System32\cmd.exe"), "cmd.exe");
        assert_eq!(basename("/usr/bin/dd"), "dd");
        assert_eq!(basename("wdavdaemon"), "wdavdaemon");
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
