//! On-disk framing of one record and of a segment's file header.
//!
//! A record is a 16-byte header followed by the payload:
//!
//! ```text
//! 0..4   payload length (u32, little endian)
//! 4..8   CRC-32 of payload ++ bytes 0..4 ++ bytes 8..16
//! 8..16  offset (u64, little endian)
//! 16..   payload
//! ```
//!
//! The checksum covers the length and the offset as well as the payload, so a torn or
//! bit-flipped header is caught like a damaged payload. Putting the payload first in the CRC
//! lets an appender checksum its payload before taking the queue lock; the header (known only
//! once the offset is assigned under the lock) is folded in afterwards in O(12 bytes).

use std::fmt;
use std::io::{self, Read};

/// Bytes in a record header.
pub const RECORD_HEADER: usize = 16;
/// Bytes in a segment file header: magic, format version, first offset.
pub const SEGMENT_HEADER: usize = 16;
const MAGIC: [u8; 4] = *b"VGLJ";
const VERSION: u32 = 1;

/// Builds a record header for a payload whose CRC (`crc32fast::hash(payload)`) is known.
pub fn encode_header(payload_len: u32, offset: u64, payload_crc: u32) -> [u8; RECORD_HEADER] {
    let mut header = [0u8; RECORD_HEADER];
    header[0..4].copy_from_slice(&payload_len.to_le_bytes());
    header[8..16].copy_from_slice(&offset.to_le_bytes());
    let crc = record_crc(payload_crc, &header);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header
}

/// CRC of `payload ++ header[0..4] ++ header[8..16]`, continuing from the payload's CRC.
fn record_crc(payload_crc: u32, header: &[u8; RECORD_HEADER]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(payload_crc);
    hasher.update(&header[0..4]);
    hasher.update(&header[8..16]);
    hasher.finalize()
}

/// The file header written at the start of every segment.
pub fn encode_segment_header(base: u64) -> [u8; SEGMENT_HEADER] {
    let mut header = [0u8; SEGMENT_HEADER];
    header[0..4].copy_from_slice(&MAGIC);
    header[4..8].copy_from_slice(&VERSION.to_le_bytes());
    header[8..16].copy_from_slice(&base.to_le_bytes());
    header
}

/// Checks a segment file header against the base offset its file name claims.
pub fn check_segment_header(header: &[u8; SEGMENT_HEADER], base: u64) -> Result<(), String> {
    if header[0..4] != MAGIC {
        return Err("wrong magic bytes".into());
    }
    let version = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!("unsupported format version {version}"));
    }
    let stored = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    if stored != base {
        return Err(format!(
            "header says first offset {stored}, file name says {base}"
        ));
    }
    Ok(())
}

/// Why a record failed its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The file ends inside a record header.
    PartialHeader,
    /// The file ends before the payload the header announces.
    ShortPayload,
    /// The checksum does not match the bytes.
    ChecksumMismatch,
    /// The record is intact but carries another offset than the one expected at this place.
    UnexpectedOffset {
        /// The offset that should be here.
        expected: u64,
        /// The offset the record carries.
        found: u64,
    },
    /// The segment's file header is missing or incomplete.
    PartialSegmentHeader,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::PartialHeader => f.write_str("file ends inside a record header"),
            Damage::ShortPayload => f.write_str("file ends inside a record payload"),
            Damage::ChecksumMismatch => f.write_str("checksum mismatch"),
            Damage::UnexpectedOffset { expected, found } => {
                write!(f, "record carries offset {found}, expected {expected}")
            }
            Damage::PartialSegmentHeader => f.write_str("segment header is incomplete"),
        }
    }
}

/// What [`read_frame`] found at the current position.
#[derive(Debug)]
pub enum Frame {
    /// An intact record; its payload was left in the caller's buffer.
    Record {
        /// The record's offset.
        offset: u64,
        /// Total bytes the record occupies (header + payload).
        size: u64,
    },
    /// A clean end of file exactly at a record boundary.
    End,
    /// A damaged record starting at the current position.
    Damaged(Damage),
}

/// Reads one record from `reader` into `payload` (cleared first) and checks it.
///
/// The payload buffer grows as bytes arrive instead of trusting the header's length, so a
/// corrupted length cannot make us allocate gigabytes.
pub fn read_frame<R: Read>(reader: &mut R, payload: &mut Vec<u8>) -> io::Result<Frame> {
    let mut header = [0u8; RECORD_HEADER];
    let got = read_full(reader, &mut header)?;
    if got == 0 {
        return Ok(Frame::End);
    }
    if got < RECORD_HEADER {
        return Ok(Frame::Damaged(Damage::PartialHeader));
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let stored_crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let offset = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    payload.clear();
    reader.take(u64::from(len)).read_to_end(payload)?;
    if payload.len() < len as usize {
        return Ok(Frame::Damaged(Damage::ShortPayload));
    }
    if record_crc(crc32fast::hash(payload), &header) != stored_crc {
        return Ok(Frame::Damaged(Damage::ChecksumMismatch));
    }
    Ok(Frame::Record {
        offset,
        size: (RECORD_HEADER + payload.len()) as u64,
    })
}

/// Reads a record header only (no checks) and returns `(payload length, offset)`, or `None`
/// at end of file or inside a partial header. Used to skip quickly to an offset.
pub fn read_header_only<R: Read>(reader: &mut R) -> io::Result<Option<(u32, u64)>> {
    let mut header = [0u8; RECORD_HEADER];
    if read_full(reader, &mut header)? < RECORD_HEADER {
        return Ok(None);
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let offset = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    Ok(Some((len, offset)))
}

/// Like `read_exact`, but returns how many bytes were read before end of file.
pub fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(offset: u64, payload: &[u8]) -> Vec<u8> {
        let mut bytes =
            encode_header(payload.len() as u32, offset, crc32fast::hash(payload)).to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn crc_continues_from_the_payload_crc() {
        let payload = b"hello journal";
        let header = encode_header(payload.len() as u32, 42, crc32fast::hash(payload));
        let mut whole = payload.to_vec();
        whole.extend_from_slice(&header[0..4]);
        whole.extend_from_slice(&header[8..16]);
        let stored = u32::from_le_bytes(header[4..8].try_into().unwrap());
        assert_eq!(stored, crc32fast::hash(&whole));
    }

    #[test]
    fn round_trip_and_clean_end() {
        let mut bytes = frame(7, b"abc");
        bytes.extend(frame(8, b""));
        let mut reader = &bytes[..];
        let mut payload = Vec::new();
        match read_frame(&mut reader, &mut payload).unwrap() {
            Frame::Record { offset, size } => {
                assert_eq!((offset, size), (7, 19));
                assert_eq!(payload, b"abc");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            read_frame(&mut reader, &mut payload).unwrap(),
            Frame::Record {
                offset: 8,
                size: 16
            }
        ));
        assert!(matches!(
            read_frame(&mut reader, &mut payload).unwrap(),
            Frame::End
        ));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = frame(3, b"payload bytes");
        for position in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[position] ^= 1 << bit;
                let found = read_frame(&mut &damaged[..], &mut Vec::new()).unwrap();
                assert!(
                    matches!(found, Frame::Damaged(_)),
                    "flip at byte {position} bit {bit} gave {found:?}"
                );
            }
        }
    }

    #[test]
    fn huge_length_in_a_corrupt_header_is_a_short_payload() {
        let mut bytes = frame(3, b"x");
        bytes[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_frame(&mut &bytes[..], &mut Vec::new()).unwrap(),
            Frame::Damaged(Damage::ShortPayload)
        ));
    }

    #[test]
    fn segment_header_checks_magic_version_and_base() {
        let header = encode_segment_header(100);
        assert!(check_segment_header(&header, 100).is_ok());
        assert!(check_segment_header(&header, 101).is_err());
        let mut wrong = header;
        wrong[0] = b'X';
        assert!(check_segment_header(&wrong, 100).is_err());
    }
}
