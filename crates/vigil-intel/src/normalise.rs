//! Canonical forms of indicator values, shared by importers (what is stored) and the matcher
//! (what an event's value is compared as), so both sides agree by construction.
//!
//! - IP: `std::net` / `ipnet` parsing; a CIDR is truncated to its network (`10.1.2.3/8` →
//!   `10.0.0.0/8`), a /32 or /128 is a plain address, IPv4-mapped IPv6 is IPv4.
//! - Domain: lowercase ASCII (IDNs as punycode, through the `url` crate's IDNA), no trailing
//!   dot, a leading `*.` dropped (subdomains match anyway). Single-label names are refused: as
//!   a suffix, `com` would match every `.com` name.
//! - URL: parsed by the `url` crate (WHATWG: scheme and host lowercase, default port dropped,
//!   unsafe characters percent-encoded); then the fragment dropped, escapes of unreserved
//!   characters decoded and other escapes' hex uppercased (RFC 3986 §6.2.2), and one trailing
//!   slash of a non-root path removed. A URL without scheme is read as `http://`.
//! - E-mail: lowercase, one `@`, a valid domain. Hashes and JA3: hex of the right length,
//!   lowercase. User agents and file names: trimmed, otherwise exact.

use ipnet::IpNet;
use std::borrow::Cow;

use crate::IndicatorKind;

/// Why a value is not a valid indicator of its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(msg.into()))
}

/// The canonical form of `raw` as a `kind` value.
pub(crate) fn value(kind: IndicatorKind, raw: &str) -> Result<String, ValueError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return err("empty value");
    }
    match kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 => {
            let Some(net) = parse_net(raw) else {
                return err(format!("`{raw}` is not an IP address or CIDR block"));
            };
            let v4 = matches!(net, IpNet::V4(_));
            if v4 != (kind == IndicatorKind::Ipv4) {
                return err(format!("`{raw}` is not an {kind} address"));
            }
            Ok(net_to_string(net))
        }
        IndicatorKind::Domain => domain(raw),
        IndicatorKind::Url => url(raw),
        IndicatorKind::Email => email(raw),
        IndicatorKind::Md5 | IndicatorKind::Ja3 => hex(raw, 32, kind),
        IndicatorKind::Sha1 => hex(raw, 40, kind),
        IndicatorKind::Sha256 => hex(raw, 64, kind),
        IndicatorKind::Sha512 => hex(raw, 128, kind),
        IndicatorKind::UserAgent => Ok(raw.to_string()),
        IndicatorKind::FileName => {
            if raw.contains(['/', '\\']) {
                return err(format!("`{raw}` is a path, not a file name"));
            }
            Ok(raw.to_string())
        }
    }
}

/// [`value`] for an owned string, handed back without a copy when it is already canonical:
/// a plain dotted-quad IPv4 address (the standard parser takes no leading zeros, so it
/// prints as written) or IPv4 block, a lowercase hash of the right length, a lowercase plain
/// domain, e-mail address or URL, which is what most feed rows hold. Only the others are
/// parsed (a URL through the `url` crate costs thousands of instructions).
pub(crate) fn value_owned(kind: IndicatorKind, raw: String) -> Result<String, ValueError> {
    let lower_hex = |len: usize| raw.len() == len && raw.bytes().all(|b| LOWER_HEX[b as usize]);
    let canonical = match kind {
        IndicatorKind::Ipv4 => canonical_ipv4(&raw),
        IndicatorKind::Md5 | IndicatorKind::Ja3 => lower_hex(32),
        IndicatorKind::Sha1 => lower_hex(40),
        IndicatorKind::Sha256 => lower_hex(64),
        IndicatorKind::Sha512 => lower_hex(128),
        IndicatorKind::Domain => canonical_plain_domain(&raw),
        IndicatorKind::Email => canonical_email(&raw),
        IndicatorKind::Url => canonical_url(&raw),
        _ => false,
    };
    if canonical {
        Ok(raw)
    } else {
        value(kind, &raw)
    }
}

/// Lowercase hexadecimal digits, by byte.
const LOWER_HEX: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = matches!(b as u8, b'0'..=b'9' | b'a'..=b'f');
        b += 1;
    }
    t
};

/// True when [`value`] would return `raw` unchanged as an IPv4 value: a dotted-quad address,
/// or one with a prefix length of 0–31 written without leading zeros and no host bits set.
fn canonical_ipv4(raw: &str) -> bool {
    let Some(slash) = raw.bytes().position(|b| b == b'/') else {
        return raw.parse::<std::net::Ipv4Addr>().is_ok();
    };
    let (addr, len) = (&raw[..slash], &raw.as_bytes()[slash + 1..]);
    let len = match *len {
        [d @ b'0'..=b'9'] => d - b'0',
        [t @ b'1'..=b'3', u @ b'0'..=b'9'] => (t - b'0') * 10 + (u - b'0'),
        _ => return false,
    };
    let Ok(addr) = addr.parse::<std::net::Ipv4Addr>() else {
        return false;
    };
    len < 32 && u32::from(addr) & (u32::MAX >> len) == 0
}

/// True when [`email`] would return `raw` unchanged: a local part of printable ASCII other
/// than uppercase letters and `@`, and a canonical plain domain.
fn canonical_email(raw: &str) -> bool {
    let Some(at) = raw.bytes().rposition(|b| b == b'@') else {
        return false;
    };
    let (local, host) = (&raw.as_bytes()[..at], &raw[at + 1..]);
    !local.is_empty()
        && local
            .iter()
            .all(|&b| b.is_ascii_graphic() && !b.is_ascii_uppercase() && b != b'@')
        && canonical_plain_domain(host)
}

/// Bytes a path or query may hold and keep as they are through [`url`]: unreserved
/// characters and the sub-delimiters, `:`, `@` and `/` (the `url` crate escapes none of
/// them; `'` only in a path, as it escapes it in the query of a special scheme). `%` is not
/// among them: escapes are rewritten.
const URL_KEPT: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let both = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        t[b] = if both {
            PATH | QUERY
        } else if c == b'\'' {
            PATH
        } else if c == b'?' {
            QUERY
        } else {
            0
        };
        b += 1;
    }
    t
};
const PATH: u8 = 1;
const QUERY: u8 = 2;

/// True when [`url`] would return `raw` unchanged: `http://` or `https://`, a host that is a
/// dotted-quad address or a plain lowercase name whose last label starts with a letter
/// (the URL standard reads a name ending in a number as an address), no port, user or
/// fragment, and a path (present, without `.` or `..` segments, no trailing slash but the
/// root's) and query of bytes the parser keeps as they are. Anything else is parsed.
fn canonical_url(raw: &str) -> bool {
    let Some(rest) = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"))
    else {
        return false;
    };
    let Some(slash) = rest.bytes().position(|b| b == b'/') else {
        return false;
    };
    let (host, b) = (&rest[..slash], &rest.as_bytes()[slash..]);
    let host_ok = match plain_name(host.as_bytes(), false) {
        Some((_, last)) if last.is_ascii_lowercase() => true,
        _ => host.parse::<std::net::Ipv4Addr>().is_ok(),
    };
    if !host_ok {
        return false;
    }
    // The path, segment by segment, up to the query.
    let dot_segment = |s: &[u8]| s == b"." || s == b"..";
    let (mut i, mut segment) = (0, 0);
    while i < b.len() && b[i] != b'?' {
        if URL_KEPT[b[i] as usize] & PATH == 0 {
            return false;
        }
        if b[i] == b'/' {
            if dot_segment(&b[segment..i]) {
                return false;
            }
            segment = i + 1;
        }
        i += 1;
    }
    if dot_segment(&b[segment..i]) || (i > 1 && b[i - 1] == b'/') {
        return false;
    }
    match b.get(i + 1..) {
        None => true,
        Some(query) => {
            !query.is_empty() && query.iter().all(|&c| URL_KEPT[c as usize] & QUERY != 0)
        }
    }
}

/// One pass over a plain DNS name: lowercase letters, digits, `-` (and `_` when
/// `underscore`) in dot-separated labels of 1–63 bytes, none of them punycode (`xn--`), 253
/// bytes at most. Gives the number of labels and the last label's first byte; `None` when
/// the name is not plain.
fn plain_name(name: &[u8], underscore: bool) -> Option<(usize, u8)> {
    let label_ok = |l: &[u8]| !l.is_empty() && l.len() <= 63 && !l.starts_with(b"xn--");
    if name.len() > 253 {
        return None;
    }
    let (mut labels, mut start) = (1, 0);
    for (i, &b) in name.iter().enumerate() {
        if b == b'.' {
            if !label_ok(&name[start..i]) {
                return None;
            }
            labels += 1;
            start = i + 1;
        } else if !(b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || b == b'-'
            || (underscore && b == b'_'))
        {
            return None;
        }
    }
    if !label_ok(&name[start..]) {
        return None;
    }
    Some((labels, name[start]))
}

/// True when [`domain`] would return `name` unchanged: lowercase letters, digits, `-`, `_`
/// and dots only, no punycode label, two labels or more of 1–63 bytes, not an address.
fn canonical_plain_domain(name: &str) -> bool {
    match plain_name(name.as_bytes(), true) {
        // An address's last label starts with a digit: only then is it parsed as one.
        Some((labels, last)) => {
            labels >= 2 && !(last.is_ascii_digit() && name.parse::<std::net::Ipv4Addr>().is_ok())
        }
        None => false,
    }
}

/// An address or CIDR block (brackets and zone dropped, host bits cleared).
pub(crate) fn parse_net(raw: &str) -> Option<IpNet> {
    let raw = raw.trim();
    if let Some((addr, len)) = raw.split_once('/') {
        let addr = vigil_core::parse_ip(addr)?;
        let len: u8 = len.trim().parse().ok()?;
        return IpNet::new(addr, len).ok().map(|n| n.trunc());
    }
    vigil_core::parse_ip(raw).map(IpNet::from)
}

/// A block as text: a single address without its prefix length.
pub(crate) fn net_to_string(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// `1.2.3.4:443` or `[2001:db8::1]:443` without the port; other text unchanged.
pub(crate) fn strip_port(raw: &str) -> &str {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('[')
        && let Some((addr, port)) = rest.split_once("]:")
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return addr;
    }
    match raw.rsplit_once(':') {
        Some((addr, port))
            if !addr.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && addr.parse::<std::net::Ipv4Addr>().is_ok() =>
        {
            addr
        }
        _ => raw,
    }
}

fn hex(raw: &str, len: usize, kind: IndicatorKind) -> Result<String, ValueError> {
    if raw.len() != len || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return err(format!(
            "`{raw}` is not a {kind} ({len} hexadecimal digits)"
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

/// A DNS name in canonical form.
pub(crate) fn domain(raw: &str) -> Result<String, ValueError> {
    let raw = raw.trim();
    let name = raw.strip_suffix('.').unwrap_or(raw);
    let name = name.strip_prefix("*.").unwrap_or(name);
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || "/:@?#[]\\".contains(c)) {
        return err(format!("`{raw}` is not a domain name"));
    }
    if parse_net(name).is_some() {
        return err(format!("`{raw}` is an IP address, not a domain name"));
    }
    // Plain ASCII names (letters, digits, `-`, `_`, dots, no punycode label) are already
    // what IDNA would return once lowercased; others go through the `url` crate's IDNA.
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name
            .split('.')
            .any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"));
    let ascii = if plain {
        name.to_ascii_lowercase()
    } else {
        match url::Host::parse(name) {
            Ok(url::Host::Domain(d)) => d,
            Ok(_) => return err(format!("`{raw}` is an IP address, not a domain name")),
            Err(e) => return err(format!("`{raw}` is not a domain name ({e})")),
        }
    };
    if ascii.len() > 253
        || ascii.split('.').any(|l| l.is_empty() || l.len() > 63)
        || !ascii
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return err(format!("`{raw}` is not a domain name"));
    }
    if !ascii.contains('.') {
        return err(format!(
            "`{raw}` is a single-label name: as a suffix it would match every name under it"
        ));
    }
    Ok(ascii)
}

fn email(raw: &str) -> Result<String, ValueError> {
    let Some((local, host)) = raw.rsplit_once('@') else {
        return err(format!("`{raw}` is not an e-mail address (no `@`)"));
    };
    if local.is_empty() || local.contains(|c: char| c.is_whitespace() || c == '@') {
        return err(format!("`{raw}` is not an e-mail address"));
    }
    let host = domain(host).map_err(|e| ValueError(format!("`{raw}`: {e}")))?;
    Ok(format!("{}@{host}", local.to_lowercase()))
}

/// A URL in canonical form (see the module documentation).
pub(crate) fn url(raw: &str) -> Result<String, ValueError> {
    let raw = raw.trim();
    let with_scheme: Cow<str> = if raw.contains("://") {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(format!("http://{raw}"))
    };
    let mut u = url::Url::parse(&with_scheme)
        .map_err(|e| ValueError(format!("`{raw}` is not a URL ({e})")))?;
    if u.host_str().is_none_or(str::is_empty) {
        return err(format!("`{raw}` is not a URL with a host"));
    }
    u.set_fragment(None);
    let path = tidy_escapes(u.path());
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => path.into_owned(),
    };
    u.set_path(&path);
    if let Some(q) = u.query() {
        let q = tidy_escapes(q).into_owned();
        u.set_query(Some(&q));
    }
    Ok(u.into())
}

/// Decodes `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) and uppercases
/// the hex of the others: the same resource however the escapes were written.
fn tidy_escapes(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let (h, l) = (b[i + 1], b[i + 2]);
            if let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) {
                let c = h * 16 + l;
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    out.push(c as char);
                } else {
                    out.push('%');
                    out.push(b[i + 1].to_ascii_uppercase() as char);
                    out.push(b[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // Multi-byte characters were percent-encoded by the parser, so bytes are ASCII here.
        out.push(b[i] as char);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The kind and canonical value of a bare indicator (a line of a list, a CSV cell without a
/// type column): URL if it has a scheme or a host followed by a path, an IP or CIDR (a port
/// dropped), a hash by its length, an e-mail address by its `@`, else a domain.
pub(crate) fn guess(raw: &str) -> Result<(IndicatorKind, String), ValueError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return err("empty value");
    }
    if raw.contains("://") {
        return Ok((IndicatorKind::Url, url(raw)?));
    }
    if let Some(net) = parse_net(strip_port(raw)) {
        let kind = match net {
            IpNet::V4(_) => IndicatorKind::Ipv4,
            IpNet::V6(_) => IndicatorKind::Ipv6,
        };
        return Ok((kind, net_to_string(net)));
    }
    if raw
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b':' || b == b'/')
    {
        return err(format!("`{raw}` is not an IP address"));
    }
    if raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        let kind = match raw.len() {
            32 => Some(IndicatorKind::Md5),
            40 => Some(IndicatorKind::Sha1),
            64 => Some(IndicatorKind::Sha256),
            128 => Some(IndicatorKind::Sha512),
            _ => None,
        };
        if let Some(kind) = kind {
            return Ok((kind, raw.to_ascii_lowercase()));
        }
    }
    if raw.starts_with('/') {
        return err(format!(
            "`{raw}` is a URL path without a host: no indicator kind matches a bare path"
        ));
    }
    if raw.contains('@') && !raw.contains('/') {
        return Ok((IndicatorKind::Email, email(raw)?));
    }
    if let Some((host, _)) = raw.split_once('/') {
        // `host/path` (Maltrail URL trails): a URL if the host is a name or an address.
        if parse_net(strip_port(host)).is_some() || domain(strip_any_port(host)).is_ok() {
            return Ok((IndicatorKind::Url, url(raw)?));
        }
        return err(format!("`{raw}` is neither a URL nor a domain name"));
    }
    Ok((IndicatorKind::Domain, domain(raw)?))
}

fn strip_any_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorKind as K;

    #[test]
    fn ips() {
        assert_eq!(value(K::Ipv4, " 10.1.2.3/8 ").unwrap(), "10.0.0.0/8");
        assert_eq!(value(K::Ipv4, "10.1.2.3/32").unwrap(), "10.1.2.3");
        assert_eq!(value(K::Ipv4, "::ffff:10.1.2.3").unwrap(), "10.1.2.3");
        assert_eq!(value(K::Ipv6, "2001:DB8::1/32").unwrap(), "2001:db8::/32");
        assert!(value(K::Ipv4, "2001:db8::1").is_err());
        assert!(value(K::Ipv4, "10.0.0.0/33").is_err());
        assert_eq!(strip_port("1.2.3.4:443"), "1.2.3.4");
        assert_eq!(strip_port("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
    }

    #[test]
    fn owned_values_are_the_same_canonical_values() {
        for (k, v) in [
            (K::Ipv4, "10.1.2.3"),
            (K::Ipv4, "010.1.2.3"),
            (K::Ipv4, " 10.1.2.3"),
            (K::Ipv4, "10.1.2.3/32"),
            (K::Ipv4, "::ffff:10.1.2.3"),
            (K::Md5, "0123456789abcdef0123456789abcdef"),
            (K::Md5, "0123456789ABCDEF0123456789abcdef"),
            (K::Sha1, "0123456789abcdef0123456789abcdef"),
            (K::Domain, "Evil.Example"),
            (K::Domain, "evil.example"),
            (K::Domain, "evil.example."),
            (K::Domain, "xn--bcher-kva.example"),
            (K::Domain, "1.2.3.4"),
            (K::Domain, "a..example"),
            (K::Domain, "localhost"),
            (K::Domain, "_dmarc.evil-1.example"),
        ] {
            assert_eq!(value_owned(k, v.to_string()), value(k, v), "{k} {v}");
        }
    }

    /// The canonical-form shortcuts of `value_owned` (IPv4 blocks, e-mail, URLs) against
    /// `value` itself, over every combination of pieces that each break one of its rules.
    #[test]
    fn shortcuts_agree_with_the_full_normalisation() {
        let (mut checked, mut kept, mut quick) = (0, 0, 0);
        let mut check = |k: IndicatorKind, v: String| {
            let full = value(k, &v);
            kept += usize::from(full.as_deref() == Ok(v.as_str()));
            quick += usize::from(match k {
                K::Ipv4 => canonical_ipv4(&v),
                K::Email => canonical_email(&v),
                _ => canonical_url(&v),
            });
            assert_eq!(value_owned(k, v.clone()), full, "{k} {v:?}");
            checked += 1;
        };
        for addr in [
            "10.1.0.0",
            "10.1.2.3",
            "0.0.0.0",
            "010.1.0.0",
            "10.1.0",
            "::",
        ] {
            for len in [
                "", "/", "/0", "/8", "/16", "/16 ", "/016", "/24", "/31", "/32", "/33",
            ] {
                check(K::Ipv4, format!("{addr}{len}"));
            }
        }
        let domains = [
            "evil.example",
            "Evil.example",
            "evil.example.",
            "xn--bcher-kva.example",
            "a..example",
            "localhost",
            "1.2.3.4",
            "_dmarc.evil-1.example",
            "bücher.example",
        ];
        for local in ["a", "a.b+c_d", "A", "a b", "é", "a@b", "", "a\t"] {
            for host in domains {
                check(K::Email, format!("{local}@{host}"));
            }
        }
        let schemes = ["http://", "https://", "HTTP://", "ftp://", "http:/", ""];
        let hosts = [
            "evil.example",
            "Evil.example",
            "1.2.3.4",
            "01.2.3.4",
            "1.2.3",
            "a.b.0x1",
            "a.example.9",
            "xn--bcher-kva.example",
            "a..example",
            "-a-.example",
            "a_b.example",
            "[::1]",
            "evil.example:80",
            "evil.example:8080",
            "u@evil.example",
            "bücher.example",
            "evil.example.",
            "",
        ];
        let paths = [
            "",
            "/",
            "/a",
            "/a/",
            "/./a",
            "/a/..",
            "/a/.b",
            "/%7e",
            "/a b",
            "/a'b",
            "/a`b",
            "/a{b}",
            "/a\\b",
            "/a:b@c",
            "//a",
            "/a!$&()*+,;=",
            "/~x-y_z.php",
            "/é",
            "/a|b",
        ];
        let queries = [
            "", "?", "?q=1", "?q='", "?a=b?c", "?q=%41", "?q=a b", "?x=/@:",
        ];
        for scheme in schemes {
            for host in hosts {
                for path in paths {
                    for query in queries {
                        for fragment in ["", "#f"] {
                            check(K::Url, format!("{scheme}{host}{path}{query}{fragment}"));
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 66 + 72 + 6 * 18 * 19 * 8 * 2);
        // Both sides of each shortcut are exercised (the pieces are mostly odd ones: the
        // shortcut takes the plain forms, the parser the rest).
        assert!(kept < checked / 2, "{kept} of {checked} kept");
        assert!(quick > 200 && quick < kept, "{quick} of {kept} shortcut");
    }

    #[test]
    fn domains() {
        assert_eq!(domain("Evil.Example.").unwrap(), "evil.example");
        assert_eq!(domain("*.evil.example").unwrap(), "evil.example");
        assert_eq!(domain("bücher.example").unwrap(), "xn--bcher-kva.example");
        assert!(domain("com").unwrap_err().0.contains("single-label"));
        assert!(domain("domain autuo.xicp.net").is_err());
        assert!(domain("1.2.3.4").unwrap_err().0.contains("IP address"));
        assert!(domain("a..b").is_err());
    }

    #[test]
    fn urls() {
        let n = |s| url(s).unwrap();
        assert_eq!(n("HTTP://Evil.Example:80/a/"), "http://evil.example/a");
        assert_eq!(n("https://evil.example:443"), "https://evil.example/");
        assert_eq!(
            n("http://evil.example/%7euser/%2f?q=%3d%41#frag"),
            "http://evil.example/~user/%2F?q=%3DA"
        );
        assert_eq!(n("evil.example/x"), "http://evil.example/x");
        assert_eq!(n("http://evil.example/a b"), "http://evil.example/a%20b");
        assert_eq!(n("http://evil.example:8080/"), "http://evil.example:8080/");
        assert!(url("http://").is_err());
    }

    #[test]
    fn guesses() {
        let g = |s| guess(s).unwrap();
        assert_eq!(g("185.14.28.109:443"), (K::Ipv4, "185.14.28.109".into()));
        assert_eq!(
            g("http://185.14.28.109"),
            (K::Url, "http://185.14.28.109/".into())
        );
        assert_eq!(
            g("contirecovery.info"),
            (K::Domain, "contirecovery.info".into())
        );
        assert_eq!(
            g("ABCDEF0123456789abcdef0123456789"),
            (K::Md5, "abcdef0123456789abcdef0123456789".into())
        );
        assert_eq!(g("Bad@Evil.Example"), (K::Email, "bad@evil.example".into()));
        assert_eq!(
            g("evil.example/gate.php"),
            (K::Url, "http://evil.example/gate.php".into())
        );
        assert!(
            guess("/zeh7dkwfdxw99tdk/")
                .unwrap_err()
                .0
                .contains("without a host")
        );
    }

    #[test]
    fn hashes_and_emails() {
        assert_eq!(
            value(K::Sha1, "A".repeat(40).as_str()).unwrap(),
            "a".repeat(40)
        );
        assert!(value(K::Sha256, "abc").is_err());
        assert_eq!(
            value(K::Email, "Foo@Bar.Example").unwrap(),
            "foo@bar.example"
        );
        assert!(value(K::Email, "foo").is_err());
        assert!(value(K::FileName, "C:\\x\\evil.exe").is_err());
    }
}
