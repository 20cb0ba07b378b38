//! Format sniffing: which decoder a file needs, from its first bytes (never its name).

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
                "first bytes {} are neither the EVTX magic `ElfFile` nor JSON `{{`/`[`",
                shown.join(" ")
            ))
        }
    }
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
    }
}
