//! Log decoders: bytes from files and streams into [`vigil_core::Event`]s.
//!
//! What this is for: turning a log file whose format nobody told us (Windows EVTX, or JSON in
//! any of the shapes security corpora use: NDJSON, one object, concatenated pretty objects,
//! arrays; evtx_dump, OTRF and Winlogbeat/ECS renderings of Windows events, or plain JSON;
//! Zeek TSV/JSON logs and Suricata EVE; Linux audit logs and syslog; gzip-compressed or not) into events whose field names Sigma rules can address, with every skipped record reported.
//! Windows events get the same field names and types whichever form they arrive in (see
//! `decode/windows.rs` and the README's table).
//!
//! What it is not for: evaluating rules or storing events. Live sources (syslog listeners,
//! watched files) are in [`source`]: they deliver raw records, which these decoders then read.
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
mod logsource_map;
mod sniff;
/// Live sources (syslog UDP/TCP listeners, watched files with checkpoints) feeding raw records
/// to an ingest pipeline in acknowledged batches.
pub mod source;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use vigil_core::Event;

pub use discover::discover;
pub use entity::entities;
pub use error::{DecodeError, IngestError};
pub use logsource_map::{FieldTest, LogsourceMap, LogsourceRule, Predicate};

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
    /// JSON whose (first) records are AWS CloudTrail events.
    CloudTrail,
    /// JSON whose (first) records are Okta System Log events.
    Okta,
    /// JSON whose (first) records are Entra ID (Azure AD) sign-in/audit or Azure activity logs.
    Azure,
    /// JSON whose (first) records are Auth0 logs.
    Auth0,
    /// A zero-length or whitespace-only file: nothing to decode (reported as one error).
    Empty,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Format {
    /// The format's name, as shown in summaries and accepted by `--input-format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::Json => "json",
            Format::ZeekTsv => "zeek-tsv",
            Format::ZeekJson => "zeek-json",
            Format::SuricataEve => "suricata-eve",
            Format::Auditd => "auditd",
            Format::Syslog => "syslog",
            Format::CloudTrail => "cloudtrail",
            Format::Okta => "okta",
            Format::Azure => "azure",
            Format::Auth0 => "auth0",
            Format::Empty => "empty",
        }
    }

    /// The formats a user can force (every one but [`Format::Empty`]), in `--help` order.
    pub const SELECTABLE: [Format; 11] = [
        Format::Evtx,
        Format::Json,
        Format::ZeekTsv,
        Format::ZeekJson,
        Format::SuricataEve,
        Format::CloudTrail,
        Format::Okta,
        Format::Azure,
        Format::Auth0,
        Format::Auditd,
        Format::Syslog,
    ];

    /// The cloud/identity product a JSON format stands for.
    pub(crate) fn product(self) -> Option<decode::cloud::Product> {
        use decode::cloud::Product;
        Some(match self {
            Format::CloudTrail => Product::CloudTrail,
            Format::Okta => Product::Okta,
            Format::Azure => Product::Azure,
            Format::Auth0 => Product::Auth0,
            _ => return None,
        })
    }

    /// The format label of a file whose first record a built-in recogniser claimed.
    pub(crate) fn of_product(product: decode::cloud::Product) -> Format {
        use decode::cloud::Product;
        match product {
            Product::CloudTrail => Format::CloudTrail,
            Product::Okta => Format::Okta,
            Product::Azure => Format::Azure,
            Product::Auth0 => Format::Auth0,
        }
    }
}

/// A format name that is not one of [`Format::SELECTABLE`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown input format `{0}` (known: evtx, json, zeek-tsv, zeek-json, suricata-eve, cloudtrail, okta, azure (or entra), auth0, auditd, syslog)"
)]
pub struct UnknownFormatName(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormatName;

    /// A format by its displayed name (`zeek-tsv`); `entra` is accepted for `azure`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("entra") {
            return Ok(Format::Azure);
        }
        Format::SELECTABLE
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormatName(s.to_string()))
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

/// What the user says about the input that the bytes cannot: a format to use instead of the
/// sniffed one, and logsource rules for generic JSON. The default (nothing forced, no rules)
/// is what [`decode_file`] and [`decode_bytes`] use.
///
/// Kept apart from [`DecodeOptions`] (how to decode, not what the input is), so code building
/// `DecodeOptions { evtx_threads }` keeps compiling.
#[derive(Clone, Debug, Default)]
pub struct InputSpec {
    /// Decode every file as this format instead of sniffing it. Bytes that cannot be that
    /// format at all are an [`IngestError::FormatMismatch`]; records of a forced JSON product
    /// (`cloudtrail`, `okta`, `azure`, `auth0`, `zeek-json`, `suricata-eve`) that are not that
    /// product's are counted errors, as are lines a forced line format cannot read.
    pub format: Option<Format>,
    /// Logsource rules for generic JSON records (see [`LogsourceMap`]).
    pub json_logsource: LogsourceMap,
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
    decode_file_as(path, opts, &InputSpec::default(), on_event, on_error)
}

/// [`decode_file`] with what the user said about the input: a forced format, logsource rules
/// for generic JSON.
pub fn decode_file_as(
    path: &Path,
    opts: &DecodeOptions,
    spec: &InputSpec,
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
    let is_evtx = !sniff::is_gzip(&head)
        && match spec.format {
            Some(Format::Evtx) => true,
            Some(_) => false,
            None => sniff::sniff(&head) == Ok(Format::Evtx),
        };
    if is_evtx {
        // Streamed from the file rather than read whole: EVTX logs can be large.
        sniff::fits(Format::Evtx, &head).map_err(|reason| mismatch(path, Format::Evtx, reason))?;
        let input = decode::evtx::Input::Path(path);
        let s = decode::evtx::decode(&name, input, opts.evtx_workers(), on_event, on_error)?;
        return Ok(FileStats {
            format: Format::Evtx,
            events: s.events,
            errors: s.errors,
            bytes: s.bytes,
            json_shape: None,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    decode_any(&name, path, &bytes, opts, spec, on_event, on_error)
}

/// Same as [`decode_file`] over in-memory bytes (`name` is used in errors and events).
pub fn decode_bytes(
    name: &str,
    bytes: &[u8],
    opts: &DecodeOptions,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Result<FileStats, IngestError> {
    decode_bytes_as(name, bytes, opts, &InputSpec::default(), on_event, on_error)
}

/// Same as [`decode_file_as`] over in-memory bytes.
pub fn decode_bytes_as(
    name: &str,
    bytes: &[u8],
    opts: &DecodeOptions,
    spec: &InputSpec,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Result<FileStats, IngestError> {
    decode_any(
        &name.into(),
        Path::new(name),
        bytes,
        opts,
        spec,
        on_event,
        on_error,
    )
}

fn mismatch(path: &Path, format: Format, reason: String) -> IngestError {
    IngestError::FormatMismatch {
        path: path.to_path_buf(),
        format,
        reason,
    }
}

/// The format to decode `bytes` as: the forced one when it can apply, else the sniffed one.
fn choose_format(
    name: &str,
    path: &Path,
    bytes: &[u8],
    spec: &InputSpec,
) -> Result<Format, IngestError> {
    let head = &bytes[..bytes.len().min(4096)];
    match spec.format {
        // Forcing cannot make a blank file hold records.
        Some(forced) if sniff::sniff(head) == Ok(Format::Empty) && forced != Format::Evtx => {
            Ok(Format::Empty)
        }
        Some(forced) => sniff::fits(forced, head)
            .map(|()| forced)
            .map_err(|reason| mismatch(path, forced, reason)),
        None => match sniff::sniff(head) {
            Ok(Format::Json) => Ok(sniff::json_flavour(name, bytes)),
            Ok(format) => Ok(format),
            Err(reason) => Err(IngestError::UnknownFormat {
                path: path.to_path_buf(),
                reason,
            }),
        },
    }
}

fn decode_any(
    name: &Arc<str>,
    path: &Path,
    bytes: &[u8],
    opts: &DecodeOptions,
    spec: &InputSpec,
    on_event: &mut dyn FnMut(Event),
    on_error: &mut dyn FnMut(DecodeError),
) -> Result<FileStats, IngestError> {
    if sniff::is_gzip(bytes) {
        return decode_gzip(name, path, bytes, opts, spec, on_event, on_error);
    }
    let format = choose_format(name, path, bytes, spec)?;
    let forced = spec.format.is_some();
    let bytes_len = bytes.len() as u64;
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
        Format::Json
        | Format::ZeekJson
        | Format::SuricataEve
        | Format::CloudTrail
        | Format::Okta
        | Format::Azure
        | Format::Auth0 => {
            use decode::json::Records;
            let records = match format {
                Format::ZeekJson => Records::Zeek {
                    fallback: decode::zeek::service_from_name(name),
                    forced,
                },
                Format::SuricataEve => Records::Suricata { forced },
                _ => match format.product().filter(|_| forced) {
                    Some(product) => Records::Product(product),
                    None => Records::Generic(&spec.json_logsource),
                },
            };
            let s = decode::json::decode(name, bytes, &records, on_event, on_error);
            // A sniffed JSON file is labelled by the product of its first claimed record.
            let format = match (forced, s.first_product) {
                (false, Some(product)) => Format::of_product(product),
                _ => format,
            };
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
    spec: &InputSpec,
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
    let mut stats = decode_any(name, path, &plain, opts, spec, on_event, on_error)?;
    stats.bytes = bytes.len() as u64;
    stats.errors += u64::from(broken.is_some());
    Ok(stats)
}
