//! Log decoders: bytes from files and streams into [`vigil_core::Event`]s.
//!
//! What this is for: turning a log file whose format nobody told us (Windows EVTX, or JSON in
//! any of the shapes security corpora use: NDJSON, one object, concatenated pretty objects,
//! arrays; evtx_dump, OTRF and Winlogbeat/ECS renderings of Windows events, or plain JSON;
//! Zeek TSV/JSON logs and Suricata EVE; Linux audit logs and syslog; gzip-compressed or not) into events whose field names Sigma rules can address, with every skipped record reported.
//! Windows events get the same field names and types whichever form they arrive in (see
//! `decode/windows.rs` and the README's table).
//!
//! What it is not for: evaluating rules, storing events, or tailing live sources (yet).
//!
//! ```no_run
//! use vigil_ingest::{DecodeOptions, decode_file, discover};
//! # fn main() -> Result<(), vigil_ingest::IngestError> {
//! for path in discover(&["logs/".into()])? {
//!     let stats = decode_file(&path, &DecodeOptions::default(), &mut |event| {
//!         println!("{}", event.to_json());
//!     }, &mut |err| eprintln!("skipped: {err}"))?;
//!     eprintln!("{}: {} events ({}), {} errors", path.display(), stats.events, stats.format, stats.errors);
//! }
//! # Ok(()) }
//! ```

mod decode;
mod discover;
mod entity;
mod error;
mod sniff;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use vigil_core::Event;

pub use discover::discover;
pub use entity::entities;
pub use error::{DecodeError, IngestError};

/// A file format this crate decodes, as sniffed from the file's first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Windows XML event log (`ElfFile` magic).
    Evtx,
    /// JSON records; the framing found is in [`FileStats::json_shape`].
    Json,
    /// Zeek ASCII logs (`#separator`, `#fields`, `#types` headers, tab-separated columns).
    ZeekTsv,
    /// Zeek JSON logs (NDJSON with `_path`, or `ts` with `uid`, …).
    ZeekJson,
    /// Suricata EVE JSON (records with `event_type`).
    SuricataEve,
    /// Linux audit log (`type=… msg=audit(…): …` lines; the records of one event joined).
    Auditd,
    /// Syslog text lines, RFC 3164 (with or without `<PRI>`) or RFC 5424.
    Syslog,
    /// A zero-length or whitespace-only file: nothing to decode (reported as one error).
    Empty,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Evtx => "evtx",
            Format::Json => "json",
            Format::ZeekTsv => "zeek-tsv",
            Format::ZeekJson => "zeek-json",
            Format::SuricataEve => "suricata-eve",
            Format::Auditd => "auditd",
            Format::Syslog => "syslog",
            Format::Empty => "empty",
        })
    }
}

/// How the records of a JSON file were framed (found while decoding, not configured).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JsonShape {
    /// One record per line (NDJSON / JSON Lines).
    Lines,
    /// A single object.
    Single,
    /// Several (pretty-printed) objects one after another, without an enclosing array.
    Concatenated,
    /// A top-level array of records.
    Array,
    /// Objects whose only member is an array of records (CloudTrail's `{"Records": [...]}`).
    Envelope,
}

impl fmt::Display for JsonShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonShape::Lines => "ndjson",
            JsonShape::Single => "single object",
            JsonShape::Concatenated => "concatenated objects",
            JsonShape::Array => "array",
            JsonShape::Envelope => "envelope",
        })
    }
}

/// What decoding one file produced, for progress lines and totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStats {
    /// The sniffed format.
    pub format: Format,
    /// Events passed to `on_event`.
    pub events: u64,
    /// Records (or chunks) skipped and passed to `on_error`.
    pub errors: u64,
    /// Size of the input in bytes.
    pub bytes: u64,
    /// For JSON, how its records were framed.
    pub json_shape: Option<JsonShape>,
}

/// Decoder settings; the defaults suit both a single big file and many files on a pool.
#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    /// EVTX chunks decoded concurrently on rayon's pool: 0 = one per pool thread, 1 = inline
    /// on the calling thread. When called from inside a rayon worker (files already decoded in
    /// parallel) chunks are always decoded inline, since a blocked worker waiting for chunk
    /// jobs on its own pool could starve it.
    pub evtx_threads: usize,
}

impl DecodeOptions {
    /// The number of EVTX chunk workers to use on the current thread.
    fn evtx_workers(&self) -> usize {
        if rayon::current_thread_index().is_some() {
            1
        } else if self.evtx_threads == 0 {
            rayon::current_num_threads()
        } else {
            self.evtx_threads
        }
    }
}

/// Sniffs the format and decodes one file, calling `on_event` for each event in file order and
/// `on_error` for each skipped record.
pub fn decode_file(
    path: &Path,
    opts: &DecodeOptions,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Result<FileStats, IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(io)?;
    let name: Arc<str> = path.to_string_lossy().into();
    if sniff::is_gzip(&head) {
        let bytes = std::fs::read(path).map_err(io)?;
        return decode_sniffed(&name, path, &bytes, opts, on_event, on_error);
    }
    match sniff::sniff(&head) {
        Ok(Format::Evtx) => {
            let input = decode::evtx::Input::Path(path);
            let s = decode::evtx::decode(&name, input, opts.evtx_workers(), on_event, on_error)?;
            Ok(FileStats {
                format: Format::Evtx,
                events: s.events,
                errors: s.errors,
                bytes: s.bytes,
                json_shape: None,
            })
        }
        Ok(_) => {
            let bytes = std::fs::read(path).map_err(io)?;
            decode_sniffed(&name, path, &bytes, opts, on_event, on_error)
        }
        Err(reason) => Err(IngestError::UnknownFormat {
            path: path.to_path_buf(),
            reason,
        }),
    }
}

/// Same as [`decode_file`] over in-memory bytes (`name` is used in errors and events).
pub fn decode_bytes(
    name: &str,
    bytes: &[u8],
    opts: &DecodeOptions,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Result<FileStats, IngestError> {
    decode_sniffed(
        &name.into(),
        Path::new(name),
        bytes,
        opts,
        on_event,
        on_error,
    )
}

fn decode_sniffed(
    name: &Arc<str>,
    path: &Path,
    bytes: &[u8],
    opts: &DecodeOptions,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Result<FileStats, IngestError> {
    if sniff::is_gzip(bytes) {
        return decode_gzip(name, path, bytes, opts, on_event, on_error);
    }
    let format = sniff::sniff(&bytes[..bytes.len().min(4096)]).map_err(|reason| {
        IngestError::UnknownFormat {
            path: path.to_path_buf(),
            reason,
        }
    })?;
    let bytes_len = bytes.len() as u64;
    let format = match format {
        Format::Json => sniff::json_flavour(name, bytes),
        other => other,
    };
    match format {
        Format::Evtx => {
            let input = decode::evtx::Input::Bytes(bytes);
            let s = decode::evtx::decode(name, input, opts.evtx_workers(), on_event, on_error)?;
            Ok(FileStats {
                format,
                events: s.events,
                errors: s.errors,
                bytes: s.bytes,
                json_shape: None,
            })
        }
        Format::Json | Format::ZeekJson | Format::SuricataEve => {
            let fallback = decode::zeek::service_from_name(name);
            let mut finish = |mut event: Event| {
                match format {
                    Format::ZeekJson => decode::zeek::finish_json(&mut event, fallback.as_deref()),
                    Format::SuricataEve => decode::suricata::finish(&mut event),
                    _ => {}
                }
                on_event(event);
            };
            let s = decode::json::decode(name, bytes, &mut finish, on_error);
            Ok(FileStats {
                format,
                events: s.events,
                errors: s.errors,
                bytes: bytes_len,
                json_shape: Some(s.shape),
            })
        }
        Format::ZeekTsv | Format::Auditd | Format::Syslog => {
            let decode_lines = match format {
                Format::ZeekTsv => decode::zeek::decode_tsv,
                Format::Auditd => decode::auditd::decode,
                _ => decode::syslog::decode,
            };
            let s = decode_lines(name, bytes, on_event, on_error);
            Ok(FileStats {
                format,
                events: s.events,
                errors: s.errors,
                bytes: bytes_len,
                json_shape: None,
            })
        }
        Format::Empty => {
            on_error(DecodeError::new(
                name,
                Some(0),
                None,
                "empty file: no records",
            ));
            Ok(FileStats {
                format,
                events: 0,
                errors: 1,
                bytes: bytes_len,
                json_shape: None,
            })
        }
    }
}

/// A gzip file (Zeek's rotated logs, `*.json.gz`): decompressed in memory, then sniffed and
/// decoded like any file. Offsets in events and errors are in the decompressed bytes; a broken
/// or truncated stream is one error and what was decompressed before it is still decoded.
fn decode_gzip(
    name: &Arc<str>,
    path: &Path,
    bytes: &[u8],
    opts: &DecodeOptions,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Result<FileStats, IngestError> {
    let mut plain = Vec::with_capacity(bytes.len() * 8);
    let broken = flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .err();
    if let Some(err) = &broken {
        on_error(DecodeError::new(
            name,
            Some(plain.len() as u64),
            None,
            format!(
                "gzip stream broken after {} decompressed bytes: {err}",
                plain.len()
            ),
        ));
        if plain.is_empty() {
            return Ok(FileStats {
                format: Format::Empty,
                events: 0,
                errors: 1,
                bytes: bytes.len() as u64,
                json_shape: None,
            });
        }
    }
    let mut stats = decode_sniffed(name, path, &plain, opts, on_event, on_error)?;
    stats.bytes = bytes.len() as u64;
    stats.errors += u64::from(broken.is_some());
    Ok(stats)
}
