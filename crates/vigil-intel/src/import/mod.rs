//! Importers, one file per feed format, and the sniffing that picks one from a file's
//! content: JSON is a STIX 2.1 bundle or a MISP event by its shape; text is CSV when its
//! header (commented or not) names columns a mapping knows, else a one-indicator-per-line
//! list.

mod csv_feed;
mod list;
mod misp;
pub(crate) mod misp_feed;
mod stix;
pub(crate) mod stix_pattern;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;

pub use csv_feed::{CsvKind, CsvMapping, CsvPreset};

use crate::IntelSet;
use crate::set::{FileReport, Location};

/// A feed format, as sniffed from content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedFormat {
    /// A STIX 2.1 bundle (or a single STIX object).
    StixBundle,
    /// A MISP event (`{"Event": {...}}`, a bare event, or a list of them).
    MispEvent,
    /// A MISP feed's `manifest.json` (event uuid → info, timestamp).
    MispFeedManifest,
    /// A MISP feed's `hashes.csv` (`<md5 of a value>,<event uuid>`: an index, not indicators).
    MispFeedHashes,
    /// CSV read through a column mapping.
    Csv(CsvPreset),
    /// One indicator per line, `#` comments (Maltrail trails, IP blocklists).
    List,
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedFormat::StixBundle => f.write_str("stix 2.1"),
            FeedFormat::MispEvent => f.write_str("misp event"),
            FeedFormat::MispFeedManifest => f.write_str("misp feed manifest"),
            FeedFormat::MispFeedHashes => f.write_str("misp feed hashes.csv"),
            FeedFormat::Csv(p) => write!(f, "csv ({})", p.name()),
            FeedFormat::List => f.write_str("list"),
        }
    }
}

/// How to import: what to call the feed, how to read CSV whose header no preset knows, and
/// whether MISP attributes not marked for detection count.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The feed name sources get; the file name when `None`.
    pub feed: Option<String>,
    /// The column mapping for CSV files; when `None`, the abuse.ch presets are tried on the
    /// header and CSV no preset recognises is rejected (listing its columns).
    pub csv: Option<CsvMapping>,
    /// Import MISP attributes whose `to_ids` is false too (by default they are counted as
    /// skipped: MISP marks them as context, not for detection).
    pub misp_include_non_ids: bool,
}

/// Shared per-file state for importers.
pub(crate) struct Ctx<'a> {
    pub set: &'a mut IntelSet,
    pub report: FileReport,
    pub feed: Arc<str>,
    pub opts: &'a ImportOptions,
}

pub(crate) fn import_bytes(
    set: &mut IntelSet,
    path: &Path,
    bytes: &[u8],
    opts: &ImportOptions,
) -> FileReport {
    let feed: Arc<str> = match &opts.feed {
        Some(f) => f.as_str().into(),
        None => path
            .file_name()
            .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy())
            .into(),
    };
    let mut ctx = Ctx {
        set,
        report: FileReport::new(path),
        feed,
        opts,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let head = &bytes[..bytes.len().min(4096)];
    if head.contains(&0) {
        ctx.report.reject(
            Location::File,
            "binary content (NUL bytes): not an intel feed",
        );
        return ctx.report;
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => ctx.report.reject(Location::File, "empty file"),
        Some(b'{' | b'[') => json(&mut ctx, bytes),
        Some(_) => match std::str::from_utf8(bytes) {
            Ok(text) => text_feed(&mut ctx, text),
            Err(e) => ctx.report.reject(
                Location::File,
                format!(
                    "not UTF-8 text (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            ),
        },
    }
    ctx.report
}

fn json(ctx: &mut Ctx<'_>, bytes: &[u8]) {
    let doc: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            ctx.report.reject(
                Location::File,
                format!(
                    "invalid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
            );
            return;
        }
    };
    if stix::is_stix(&doc) {
        ctx.report.format = Some(FeedFormat::StixBundle);
        stix::import(ctx, &doc);
    } else if misp::is_misp(&doc) {
        ctx.report.format = Some(FeedFormat::MispEvent);
        misp::import(ctx, &doc);
    } else if misp_feed::is_manifest(&doc) {
        ctx.report.format = Some(FeedFormat::MispFeedManifest);
        misp_feed::lone_manifest(ctx, &doc);
    } else {
        ctx.report.reject(
            Location::File,
            "JSON that is neither a STIX 2.1 bundle (`type: bundle`) nor a MISP event (`Event`)",
        );
    }
}

fn text_feed(ctx: &mut Ctx<'_>, text: &str) {
    if misp_feed::is_hashes_csv(text) {
        ctx.report.format = Some(FeedFormat::MispFeedHashes);
        misp_feed::hashes(ctx, text);
        return;
    }
    match csv_feed::detect(text, ctx.opts.csv.as_ref()) {
        csv_feed::Detected::Csv(found) => {
            ctx.report.format = Some(FeedFormat::Csv(found.0.preset));
            csv_feed::import(ctx, text, &found);
        }
        csv_feed::Detected::UnknownColumns(cols) => ctx.report.reject(
            Location::File,
            format!(
                "CSV whose columns no preset knows ({}): give a CsvMapping",
                cols.join(", ")
            ),
        ),
        csv_feed::Detected::NotCsv => {
            ctx.report.format = Some(FeedFormat::List);
            list::import(ctx, text);
        }
    }
}

/// A feed timestamp: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC, as abuse.ch writes), a date, or
/// Unix seconds (MISP). Empty and `None` are no time.
pub(crate) fn parse_time(s: &str) -> Result<Option<Timestamp>, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("null") {
        return Ok(None);
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(Some(t));
    }
    let s_utc = s.strip_suffix(" UTC").unwrap_or(s);
    if let Ok(dt) = s_utc.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| Some(z.timestamp()))
            .map_err(|e| format!("time `{s}`: {e}"));
    }
    if let Ok(secs) = s.parse::<i64>() {
        return Timestamp::from_second(secs)
            .map(Some)
            .map_err(|e| format!("time `{s}`: {e}"));
    }
    Err(format!("`{s}` is not a time"))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        let t = |s| parse_time(s).unwrap().unwrap().to_string();
        assert_eq!(t("2023-05-23 17:51:44"), "2023-05-23T17:51:44Z");
        assert_eq!(t("2024-04-01"), "2024-04-01T00:00:00Z");
        assert_eq!(t("2014-05-08T09:00:00.000000Z"), "2014-05-08T09:00:00Z");
        assert_eq!(t("1472540684"), "2016-08-30T07:04:44Z");
        assert_eq!(parse_time("").unwrap(), None);
        assert!(parse_time("yesterday").is_err());
    }
}
