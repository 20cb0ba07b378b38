//! Format sniffing: which decoder a file needs, from its first bytes (the file name only
//! helps tell a Zeek JSON log without `_path`/`uid` from other JSON).

use crate::Format;

/// The EVTX file header magic.
const EVTX_MAGIC: &[u8] = b"ElfFile\0";

/// The format of a file that starts with `head` (a prefix of at least a few hundred bytes
/// when the file has them), or why it is none we know.
pub(crate) fn sniff(head: &[u8]) -> Result<Format, String> {
    if head.starts_with(EVTX_MAGIC) {
        return Ok(Format::Evtx);
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    // Zeek's ASCII writer starts with `#separator` (one Slips log has a TAB before it).
    if text.trim_ascii_start().starts_with(b"#separator ") {
        return Ok(Format::ZeekTsv);
    }
    // auditd: the first line is `type=… msg=audit(…`.
    let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
    if crate::decode::auditd::is_audit_line(first) {
        return Ok(Format::Auditd);
    }
    // syslog: the first non-blank line has an RFC 3164 or RFC 5424 header.
    let first_text = text
        .split(|&b| b == b'\n')
        .find(|l| !l.trim_ascii().is_empty())
        .unwrap_or_default();
    if !first_text.is_empty() && crate::decode::syslog::is_syslog_line(first_text) {
        return Ok(Format::Syslog);
    }
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => Ok(Format::Json),
        // evtx_dump's JSON output with its `Record N` banner lines.
        Some(b'R')
            if text.starts_with(b"Record ") && text.get(7).is_some_and(u8::is_ascii_digit) =>
        {
            Ok(Format::Json)
        }
        None if head.len() < 4096 => Ok(Format::Empty),
        None => Err("only whitespace in the first 4096 bytes".to_string()),
        Some(_) if head.starts_with(&EVTX_MAGIC[..3]) => {
            Err("starts like EVTX (`Elf`) but the file header magic is damaged".to_string())
        }
        Some(_) => {
            let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Err(format!(
                "first bytes {} match no known format (EVTX, JSON, Zeek TSV, auditd, syslog, gzip)",
                shown.join(" ")
            ))
        }
    }
}

/// Whether the bytes starting with `head` can be `forced` at all (the user chose the format):
/// EVTX needs its file magic, the JSON formats a `{`, `[` or evtx_dump `Record N` first. The
/// line formats (Zeek TSV, auditd, syslog) fit any text: each line they cannot read is a
/// counted error, which names the line.
pub(crate) fn fits(forced: Format, head: &[u8]) -> Result<(), String> {
    let first_bytes = || {
        let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        shown.join(" ")
    };
    match forced {
        Format::Evtx if head.starts_with(EVTX_MAGIC) => Ok(()),
        Format::Evtx => Err(format!(
            "no EVTX file header (`ElfFile\\0`); first bytes {}",
            first_bytes()
        )),
        Format::Json
        | Format::ZeekJson
        | Format::SuricataEve
        | Format::CloudTrail
        | Format::Okta
        | Format::Azure
        | Format::Auth0 => {
            let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
            match text.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) if matches!(text[i], b'{' | b'[') => Ok(()),
                Some(i) if crate::decode::json::record_banner(text, i).is_some() => Ok(()),
                Some(i) => Err(format!(
                    "JSON starts with `{{` or `[`, but the first non-blank byte (offset {i}) is {:?}",
                    char::from(text[i])
                )),
                None => Ok(()),
            }
        }
        Format::ZeekTsv | Format::Auditd | Format::Syslog => Ok(()),
        // What a blank file is found to be, not a way to read one with records.
        Format::Empty => Err("`empty` cannot be forced on a file that is not blank".to_string()),
    }
}

/// True for a gzip stream (magic `1f 8b`): decompressed, then sniffed again.
pub(crate) fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// Broken records skipped, at most, looking for the first one that parses.
const FLAVOUR_TRIES: usize = 16;

/// The rest of `text` from the next line whose first non-blank byte is `{`.
fn next_object_line(text: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    while let Some(nl) = text[pos..].iter().position(|&b| b == b'\n') {
        pos += nl + 1;
        let line = text[pos..].trim_ascii_start();
        if line.starts_with(b"{") {
            return Some(line);
        }
    }
    None
}

/// Refines [`Format::Json`] by the keys of the first record that parses (of an array, too): Suricata EVE
/// (`event_type` with `timestamp`, `flow_id` or `src_ip`), Zeek JSON (`_path`, or `ts` with
/// `uid`/`uids`/`id`/`fuid`/`id.orig_h`, or `ts` in a file named like a Zeek log, or a lone
/// `name` in `loaded_scripts.log`), else JSON.
pub(crate) fn json_flavour(name: &str, bytes: &[u8]) -> Format {
    use std::collections::BTreeMap;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rest = text.trim_ascii_start();
    if let Some(inner) = rest.strip_prefix(b"[") {
        rest = inner.trim_ascii_start();
    }
    // The first record that parses decides: a broken first line must not turn an EVE or Zeek
    // file into generic JSON (its records would lose their logsource without a word).
    let mut keys = None;
    for _ in 0..FLAVOUR_TRIES {
        let mut stream = serde_json::Deserializer::from_slice(rest)
            .into_iter::<BTreeMap<String, serde::de::IgnoredAny>>();
        match stream.next() {
            Some(Ok(found)) => {
                keys = Some(found);
                break;
            }
            Some(Err(_)) => match next_object_line(rest) {
                Some(next) => rest = next,
                None => break,
            },
            None => break,
        }
    }
    let Some(keys) = keys else {
        return Format::Json;
    };
    let has = |k: &str| keys.contains_key(k);
    if has("event_type") && (has("timestamp") || has("flow_id") || has("src_ip")) {
        return Format::SuricataEve;
    }
    let zeek_keys = ["uid", "uids", "id", "fuid", "id.orig_h"];
    let stem = crate::decode::zeek::service_from_name(name);
    let zeek_name = stem
        .as_deref()
        .is_some_and(|s| crate::decode::zeek::KNOWN_LOGS.contains(&s));
    // `loaded_scripts` is the one Zeek log without `ts`: `{"name": …}` only.
    let scripts = stem.as_deref() == Some("loaded_scripts") && keys.len() == 1 && has("name");
    if (has("_path") && (has("ts") || has("_write_ts")))
        || (has("ts") && (zeek_keys.iter().any(|k| has(k)) || zeek_name))
        || scripts
    {
        return Format::ZeekJson;
    }
    Format::Json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(sniff(b"ElfFile\0\0\0"), Ok(Format::Evtx));
        assert_eq!(sniff(b"\xEF\xBB\xBF\n  {\"a\":1}"), Ok(Format::Json));
        assert_eq!(sniff(b"[{}]"), Ok(Format::Json));
        assert_eq!(sniff(b"Record 1\n{}"), Ok(Format::Json));
        assert!(sniff(b"Record x").is_err());
        assert_eq!(sniff(b""), Ok(Format::Empty));
        assert_eq!(sniff(b" \n"), Ok(Format::Empty));
        assert!(sniff(b"\x01\x02garbage").unwrap_err().contains("01 02 67"));
        assert!(sniff(b"ElfXile\0").unwrap_err().contains("damaged"));
        assert_eq!(sniff(b"\t#separator \\x09\n"), Ok(Format::ZeekTsv));
        assert!(is_gzip(b"\x1f\x8b\x08"));
        assert_eq!(
            sniff(b"type=EOE msg=audit(1.000:1): \n"),
            Ok(Format::Auditd)
        );
        assert!(sniff(b"type=EOE no audit\n").is_err());
        assert_eq!(
            sniff(b"Jun 14 15:16:01 combo sshd[1]: x\n"),
            Ok(Format::Syslog)
        );
        assert_eq!(
            sniff(b"<34>1 2003-10-11T22:14:15.003Z h su - ID47 - m\n"),
            Ok(Format::Syslog)
        );
        assert!(sniff(b"June 14 nothing\n").is_err());
    }

    #[test]
    fn forced_formats_fit_or_say_why() {
        assert_eq!(fits(Format::Evtx, b"ElfFile\0\0"), Ok(()));
        let err = fits(Format::Evtx, b"{\"a\":1}").unwrap_err();
        assert!(err.contains("first bytes 7b 22 61"), "{err}");
        assert_eq!(
            fits(Format::CloudTrail, b"\xEF\xBB\xBF {\"Records\":[]}"),
            Ok(())
        );
        assert_eq!(fits(Format::Json, b"Record 3\n{}"), Ok(()));
        let err = fits(Format::SuricataEve, b"  Jun 14 15:16:01 host x: y").unwrap_err();
        assert!(err.contains("offset 2") && err.contains("'J'"), "{err}");
        assert_eq!(fits(Format::Syslog, b"anything at all"), Ok(()));
        assert!(fits(Format::Empty, b"{}").is_err());
    }

    #[test]
    fn json_flavours() {
        let eve = b"{\"timestamp\":\"x\",\"event_type\":\"alert\"}";
        assert_eq!(json_flavour("eve.json", eve), Format::SuricataEve);
        assert_eq!(
            json_flavour("a", b" [ {\"_path\":\"dns\",\"ts\":1}]"),
            Format::ZeekJson
        );
        assert_eq!(
            json_flavour("a", b"{\"ts\":1,\"uid\":\"C\"}"),
            Format::ZeekJson
        );
        assert_eq!(json_flavour("d/arp.log", b"{\"ts\":1}"), Format::ZeekJson);
        assert_eq!(json_flavour("d/x.json", b"{\"ts\":1}"), Format::Json);
        assert_eq!(json_flavour("a", b"{\"Records\":[]}"), Format::Json);
        assert_eq!(json_flavour("a", b"{broken"), Format::Json);
        // A broken first line does not hide what the file is.
        let eve = b"{\"timestamp\": oops\nnot json\n{\"timestamp\":\"x\",\"event_type\":\"dns\"}\n";
        assert_eq!(json_flavour("eve.json", eve), Format::SuricataEve);
    }
}
