//! Windows EVTX files, through the `evtx` crate.
//!
//! Route: `evtx` renders each record to compact JSON on its own worker threads (chunks are
//! independent, so they decode in parallel), and the same worker parses that JSON into an
//! [`Event`] with the shared Windows normalisation. Going through evtx's JSON rendering rather
//! than its internal tree (which the crate does not expose) is what makes an `.evtx` file and
//! its evtx_dump `.json` rendering yield identical fields; it is also evtx's fastest public
//! renderer. The conversion runs inside the per-record closure, so it is parallel too.
//!
//! Damage: a chunk or record that `evtx` cannot read is reported with its file offset and
//! skipped. A file cut inside a chunk (which `evtx` would silently drop) is padded with zeros
//! so that the records before the cut still decode, and the cut itself is reported.

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};
use vigil_core::{Event, SourceRef};

use super::tree::Json;
use super::windows::{self, Rendering};
use crate::{DecodeError, IngestError};

const FILE_HEADER: u64 = 4096;
const CHUNK: u64 = 65536;
const RECORD_HEADER: u64 = 24;

/// Where the EVTX bytes are.
pub(crate) enum Input<'a> {
    Path(&'a Path),
    Bytes(&'a [u8]),
}

/// What decoding an EVTX file found.
#[derive(Default)]
pub(crate) struct EvtxSummary {
    pub(crate) events: u64,
    pub(crate) errors: u64,
    pub(crate) bytes: u64,
}

/// A chunk's identity (as its records see their chunk header) and its place in the file.
#[derive(Clone, Copy, Debug)]
struct Span {
    first_id: u64,
    last_id: u64,
    checksum: u32,
    offset: u64,
}

/// The bytes `evtx` reads: the file itself, or a buffer (in-memory input, or a padded copy
/// of a truncated file).
enum Reader {
    File(File),
    Memory(Cursor<Vec<u8>>),
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Reader::File(f) => f.read(buf),
            Reader::Memory(c) => c.read(buf),
        }
    }
}

impl Seek for Reader {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Reader::File(f) => f.seek(pos),
            Reader::Memory(c) => c.seek(pos),
        }
    }
}

/// Decodes every record, in record order, with `threads` chunk workers (1 = inline).
pub(crate) fn decode(
    file: &Arc<str>,
    input: Input<'_>,
    threads: usize,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Result<EvtxSummary, IngestError> {
    let io = |source| IngestError::Io {
        path: file.as_ref().into(),
        source,
    };
    let mut summary = EvtxSummary::default();
    let mut report = |err: DecodeError| {
        summary.errors += 1;
        on_error(err);
    };
    let len = match input {
        Input::Path(path) => std::fs::metadata(path).map_err(io)?.len(),
        Input::Bytes(bytes) => bytes.len() as u64,
    };
    if len < FILE_HEADER {
        let reason = format!("EVTX file header truncated: {len} of {FILE_HEADER} bytes");
        report(DecodeError::new(file, Some(0), None, reason));
        return Ok(EvtxSummary {
            bytes: len,
            ..summary
        });
    }
    let cut = (len - FILE_HEADER) % CHUNK;
    let mut reader = if cut != 0 {
        // A file cut inside a chunk: `evtx` would skip the short chunk without a word, so pad
        // it with zeros; its records before the cut decode, and the cut is reported here.
        let reason = format!(
            "file ends inside a chunk ({cut} of {CHUNK} bytes): records past the cut are lost"
        );
        report(DecodeError::new(file, Some(len - cut), None, reason));
        let mut bytes = match input {
            Input::Path(path) => std::fs::read(path).map_err(io)?,
            Input::Bytes(bytes) => bytes.to_vec(),
        };
        bytes.resize((len - cut + CHUNK) as usize, 0);
        Reader::Memory(Cursor::new(bytes))
    } else {
        match input {
            Input::Path(path) => Reader::File(File::open(path).map_err(io)?),
            Input::Bytes(bytes) => Reader::Memory(Cursor::new(bytes.to_vec())),
        }
    };
    let spans = Arc::new(chunk_spans(&mut reader));
    // Handing chunks to workers only pays when there are several: most small logs have one.
    let threads = threads.clamp(1, spans.len().max(1));
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut parser = match EvtxParser::from_read_seek(reader) {
        Ok(parser) => parser.with_configuration(
            ParserSettings::new()
                .num_threads(threads)
                .indent(false)
                .separate_json_attributes(false),
        ),
        Err(e) => {
            let reason = format!("unreadable EVTX file header: {}", chain(&e));
            report(DecodeError::new(file, Some(0), None, reason));
            return Ok(EvtxSummary {
                bytes: len,
                ..summary
            });
        }
    };

    let worker_file = Arc::clone(file);
    let worker_spans = Arc::clone(&spans);
    // Runs on evtx's worker threads: render, parse and normalise one record.
    let convert = move |record: evtx::err::Result<evtx::EvtxRecord<'_>>| {
        let record = record?;
        let header = record.chunk.header;
        let offset = worker_spans
            .iter()
            .find(|s| {
                s.first_id == header.first_event_record_id
                    && s.checksum == header.header_chunk_checksum
            })
            .map(|s| s.offset + record.binxml_offset.saturating_sub(RECORD_HEADER));
        let record_id = record.event_record_id;
        let rendered = record.into_json_bytes()?;
        Ok(to_event(&worker_file, record_id, offset, &rendered.data))
    };
    let mut events = 0;
    let mut records = parser.serialized_records(convert);
    loop {
        // `evtx` re-raises a worker's panic here: a decoder bug must cost this file, not the
        // process. Only the decoder is guarded; a panic in `on_event` is the caller's own.
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| records.next()));
        match next {
            Ok(None) => break,
            Ok(Some(Ok(Ok(event)))) => {
                events += 1;
                on_event(event);
            }
            Ok(Some(Ok(Err(err)))) => report(err),
            Ok(Some(Err(err))) => report(evtx_error(file, &spans, &err)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let reason = format!("EVTX decoder panicked, rest of file skipped: {what}");
                report(DecodeError::new(file, None, None, reason));
                break;
            }
        }
    }
    Ok(EvtxSummary {
        events,
        errors: summary.errors,
        bytes: len,
    })
}

/// One rendered record → an event (runs on a worker thread).
fn to_event(
    file: &Arc<str>,
    record_id: u64,
    offset: Option<u64>,
    json: &[u8],
) -> Result<Event, DecodeError> {
    let fail = |reason: String| DecodeError::new(file, offset, Some(record_id), reason);
    // One UTF-8 check over the whole record (fast on long ASCII runs), then serde_json's
    // `str` reader, which skips re-validating every string.
    let text =
        std::str::from_utf8(json).map_err(|e| fail(format!("evtx rendered invalid UTF-8: {e}")))?;
    let tree: Json =
        serde_json::from_str(text).map_err(|e| fail(format!("evtx rendered invalid JSON: {e}")))?;
    let mut event = Event::new(SourceRef {
        file: Arc::clone(file),
        record_id: Some(record_id),
        offset,
    });
    match windows::rendering(&tree) {
        Some(Rendering::EvtxJson) => windows::normalise(Rendering::EvtxJson, &tree, &mut event),
        _ => return Err(fail("record has no Event/System element".to_string())),
    }
    Ok(event)
}

/// Every chunk header in the file, so records and errors can be given a file offset.
fn chunk_spans(reader: &mut Reader) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut header = [0u8; 128];
    for n in 0.. {
        let offset = FILE_HEADER + n * CHUNK;
        if reader.seek(SeekFrom::Start(offset)).is_err() || reader.read_exact(&mut header).is_err()
        {
            break;
        }
        if &header[..8] != b"ElfChnk\0" {
            continue;
        }
        let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().unwrap_or_default());
        spans.push(Span {
            first_id: u64_at(24),
            last_id: u64_at(32),
            checksum: u32::from_le_bytes(header[124..128].try_into().unwrap_or_default()),
            offset,
        });
    }
    spans
}

/// An `evtx` error as a [`DecodeError`] with the best file offset it allows.
fn evtx_error(file: &Arc<str>, spans: &[Span], err: &EvtxError) -> DecodeError {
    let (offset, record) = match err {
        EvtxError::FailedToParseChunk { chunk_id, .. } => {
            (Some(FILE_HEADER + chunk_id * CHUNK), None)
        }
        EvtxError::FailedToParseRecord { record_id, .. } => (
            spans
                .iter()
                .find(|s| (s.first_id..=s.last_id).contains(record_id))
                .map(|s| s.offset),
            Some(*record_id),
        ),
        EvtxError::FailedToReadRecordAt { chunk, offset, .. } => {
            (chunk.map(|c| FILE_HEADER + c * CHUNK + offset), None)
        }
        _ => (None, None),
    };
    DecodeError::new(file, offset, record, chain(err))
}

/// An error and its causes, joined: evtx's top-level messages alone say little.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
