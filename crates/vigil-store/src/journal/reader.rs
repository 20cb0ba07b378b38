//! Sequential reading from an offset, across segments, up to the durable end.

use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use super::Shared;
use super::error::{JournalError, Result};
use super::record::{self, Damage, Frame, RECORD_HEADER, SEGMENT_HEADER};
use super::segment;

/// One record read back from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's offset (its sequence number).
    pub offset: u64,
    /// The bytes appended, unchanged.
    pub payload: Vec<u8>,
}

/// Iterates records from an offset; returned by [`Journal::read_from`](super::Journal::read_from).
///
/// Yields only durable records, so a consumer never acts on something a crash could take back.
/// `next()` returns `None` when it has caught up; the reader keeps its place and yields again
/// once more records are durable (wait with [`Journal::when_durable`] on
/// [`position`](Reader::position)). Damage is reported as an `Err` item naming the segment and
/// byte position, after which the reader continues at the next segment (see the README).
///
/// [`Journal::when_durable`]: super::Journal::when_durable
#[derive(Debug)]
pub struct Reader {
    shared: Arc<Shared>,
    next: u64,
    cursor: Option<Cursor>,
    /// After damage in the newest segment: wait for a segment after this base to resume.
    stuck_in: Option<u64>,
}

#[derive(Debug)]
struct Cursor {
    base: u64,
    path: PathBuf,
    file: BufReader<File>,
    /// Byte position of the next record header.
    pos: u64,
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>, offset: u64) -> Self {
        Reader {
            shared,
            next: offset,
            cursor: None,
            stuck_in: None,
        }
    }

    /// The offset of the next record this reader will return: what a consumer commits once it
    /// has processed everything before it.
    pub fn position(&self) -> u64 {
        self.next
    }

    fn step(&mut self) -> Result<Option<Record>> {
        if let Some(base) = self.stuck_in {
            match self.shared.segments.after(base) {
                Some(next_base) => {
                    self.stuck_in = None;
                    self.next = next_base;
                }
                None => return Ok(None),
            }
        }
        if self.next >= self.shared.durability.end() {
            return Ok(None);
        }
        if self.cursor.is_none() {
            self.cursor = Some(self.open_at(self.next)?);
        }
        let mut payload = Vec::new();
        // A buffered read may have caught bytes of a record while it was still being written
        // (past the durable end at that time); on any damage, re-read once from the file.
        for attempt in 0..2 {
            let cursor = self.cursor.as_mut().expect("opened above");
            let found = record::read_frame(&mut cursor.file, &mut payload)
                .map_err(|e| JournalError::io("read", &cursor.path, e))?;
            match found {
                Frame::Record { offset, size } if offset == self.next => {
                    cursor.pos += size;
                    self.next += 1;
                    return Ok(Some(Record { offset, payload }));
                }
                Frame::End => {
                    if let Some(next_base) = self.shared.segments.after(cursor.base) {
                        // This segment is complete; the record lives in the next one.
                        self.cursor = None;
                        if next_base != self.next {
                            return Err(self.missing_records(next_base));
                        }
                        return self.step();
                    }
                }
                _ => {}
            }
            if attempt == 0 {
                let pos = cursor.pos;
                cursor
                    .file
                    .seek(SeekFrom::Start(pos))
                    .map_err(|e| JournalError::io("seek", &cursor.path, e))?;
                continue;
            }
            let damage = match found {
                Frame::Damaged(damage) => damage,
                Frame::Record { offset, .. } => Damage::UnexpectedOffset {
                    expected: self.next,
                    found: offset,
                },
                Frame::End => Damage::PartialHeader,
            };
            return Err(self.skip_damaged(damage));
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Reports damage at the cursor and moves past it to the next segment (or waits for one).
    fn skip_damaged(&mut self, damage: Damage) -> JournalError {
        let cursor = self
            .cursor
            .take()
            .expect("damage is found through a cursor");
        let resume_at = self.shared.segments.after(cursor.base);
        match resume_at {
            Some(next_base) => self.next = next_base,
            None => self.stuck_in = Some(cursor.base),
        }
        JournalError::Corrupt {
            segment: cursor.path,
            position: cursor.pos,
            offset: self.next,
            damage,
            resume_at,
        }
    }

    /// A segment ended before the next one's first offset: the records in between are missing.
    fn missing_records(&mut self, next_base: u64) -> JournalError {
        let expected = self.next;
        self.next = next_base;
        JournalError::Corrupt {
            segment: segment::segment_path(&self.shared.dir, next_base),
            position: 0,
            offset: expected,
            damage: Damage::UnexpectedOffset {
                expected,
                found: next_base,
            },
            resume_at: Some(next_base),
        }
    }

    /// Opens the segment holding `offset` and positions the cursor on that record.
    fn open_at(&mut self, offset: u64) -> Result<Cursor> {
        let Some(base) = self.shared.segments.containing(offset) else {
            return Err(self.removed(offset));
        };
        let path = segment::segment_path(&self.shared.dir, base);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.removed(offset)),
            Err(e) => return Err(JournalError::io("open", &path, e)),
        };
        let mut file = BufReader::with_capacity(256 * 1024, file);
        segment::read_segment_header(&mut file, &path, base)?;
        let mut pos = SEGMENT_HEADER as u64;
        // Skip whole records by their headers; checksums are checked when records are read.
        while let Some((len, found)) =
            record::read_header_only(&mut file).map_err(|e| JournalError::io("read", &path, e))?
        {
            if found >= offset {
                break;
            }
            file.seek_relative(i64::from(len))
                .map_err(|e| JournalError::io("seek", &path, e))?;
            pos += (RECORD_HEADER as u64) + u64::from(len);
        }
        file.seek(SeekFrom::Start(pos))
            .map_err(|e| JournalError::io("seek", &path, e))?;
        Ok(Cursor {
            base,
            path,
            file,
            pos,
        })
    }

    fn removed(&mut self, requested: u64) -> JournalError {
        let first_available = self.shared.segments.first().unwrap_or(requested);
        self.next = first_available;
        JournalError::OffsetRemoved {
            requested,
            first_available,
        }
    }
}

impl Iterator for Reader {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}
