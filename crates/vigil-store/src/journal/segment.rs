//! Segment files: naming, listing, creation and the recovery scan of the last segment.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::error::{JournalError, Result};
use super::record::{self, Damage, Frame, SEGMENT_HEADER};

/// Segment files are `<first offset, 20 digits>.seg` so a plain sort orders them.
const SUFFIX: &str = ".seg";

/// The path of the segment whose first offset is `base`.
pub fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}{SUFFIX}"))
}

/// Parses a segment file name back into its first offset.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// First offsets of every segment in `dir`, ascending. Other files are ignored.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io("list", dir, e))?;
    let mut bases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list", dir, e))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_segment_name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// `fsync` on a directory, so that a file created, renamed or removed in it survives power loss.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("fsync directory", dir, e))
}

/// Creates the segment starting at `base`: writes and syncs its header, then syncs the
/// directory so the new name is durable before any record in it is acknowledged.
pub fn create_segment(dir: &Path, base: u64) -> Result<File> {
    let path = segment_path(dir, base);
    let mut file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|e| JournalError::io("create", &path, e))?;
    file.write_all(&record::encode_segment_header(base))
        .and_then(|()| file.sync_data())
        .map_err(|e| JournalError::io("write segment header", &path, e))?;
    sync_dir(dir)?;
    Ok(file)
}

/// What the recovery scan of the last segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailScan {
    /// Offset of the last intact record, if the segment holds any.
    pub last_offset: Option<u64>,
    /// Bytes of the segment that are intact (header + whole records).
    pub valid_len: u64,
    /// The file's length before recovery.
    pub file_len: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub damage: Option<Damage>,
}

/// Scans the segment at `path` (first offset `base`) record by record, checking each checksum
/// and that offsets run `base, base + 1, …`. Stops at the first damaged record.
pub fn scan_segment(path: &Path, base: u64) -> Result<TailScan> {
    let file = File::open(path).map_err(|e| JournalError::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| JournalError::io("stat", path, e))?
        .len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut header = [0u8; SEGMENT_HEADER];
    let got = record::read_full(&mut reader, &mut header)
        .map_err(|e| JournalError::io("read", path, e))?;
    let zeroed = header[..got].iter().all(|&b| b == 0);
    if got < SEGMENT_HEADER || zeroed {
        // A crash between creating the file and syncing its header: the header is short, or
        // the file's size reached the disk before its data did (zeros). No record can follow,
        // since records are only written after the header is synced.
        return if zeroed || header[..got] == record::encode_segment_header(base)[..got] {
            Ok(TailScan {
                last_offset: None,
                valid_len: 0,
                file_len,
                damage: Some(Damage::PartialSegmentHeader),
            })
        } else {
            Err(JournalError::BadSegment {
                segment: path.to_owned(),
                reason: format!("{got}-byte file with a foreign header"),
            })
        };
    }
    record::check_segment_header(&header, base).map_err(|reason| JournalError::BadSegment {
        segment: path.to_owned(),
        reason,
    })?;
    let mut valid_len = SEGMENT_HEADER as u64;
    let mut expected = base;
    let mut payload = Vec::new();
    let damage = loop {
        match record::read_frame(&mut reader, &mut payload)
            .map_err(|e| JournalError::io("read", path, e))?
        {
            Frame::End => break None,
            Frame::Damaged(damage) => break Some(damage),
            Frame::Record { offset, .. } if offset != expected => {
                break Some(Damage::UnexpectedOffset {
                    expected,
                    found: offset,
                });
            }
            Frame::Record { size, .. } => {
                valid_len += size;
                expected += 1;
            }
        }
    };
    Ok(TailScan {
        last_offset: (expected > base).then(|| expected - 1),
        valid_len,
        file_len,
        damage,
    })
}

/// Cuts the segment at `path` down to `len` bytes (rewriting its header when `len` is 0) and
/// makes that durable.
pub fn truncate_segment(path: &Path, base: u64, len: u64) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| JournalError::io("open", path, e))?;
    file.set_len(len)
        .map_err(|e| JournalError::io("truncate", path, e))?;
    if len == 0 {
        file.write_all(&record::encode_segment_header(base))
            .map_err(|e| JournalError::io("write segment header", path, e))?;
    }
    file.sync_all()
        .map_err(|e| JournalError::io("fsync", path, e))
}

/// Opens the segment at `path` for appending and returns it with its current length.
pub fn open_for_append(path: &Path) -> Result<(File, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| JournalError::io("open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| JournalError::io("stat", path, e))?
        .len();
    Ok((file, len))
}

/// Reads and checks a segment's file header from `reader`.
pub fn read_segment_header<R: Read>(reader: &mut R, path: &Path, base: u64) -> Result<()> {
    let mut header = [0u8; SEGMENT_HEADER];
    let got =
        record::read_full(reader, &mut header).map_err(|e| JournalError::io("read", path, e))?;
    if got < SEGMENT_HEADER {
        return Err(JournalError::BadSegment {
            segment: path.to_owned(),
            reason: "file shorter than the segment header".into(),
        });
    }
    record::check_segment_header(&header, base).map_err(|reason| JournalError::BadSegment {
        segment: path.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_and_parse() {
        let dir = Path::new("/j");
        let path = segment_path(dir, 1234);
        assert_eq!(path, Path::new("/j/00000000000000001234.seg"));
        assert_eq!(parse_segment_name("00000000000000001234.seg"), Some(1234));
        assert_eq!(parse_segment_name("1234.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000123x.seg"), None);
        assert_eq!(parse_segment_name("00000000000000001234.seg.tmp"), None);
    }
}
