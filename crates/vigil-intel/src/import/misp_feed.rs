//! MISP feeds, as MISP and PyMISP's feed generator publish them: a directory (or URL) with
//! `manifest.json` (event uuid → `info`, `date`, `Orgc`, `Tag`, `timestamp`), one
//! `<uuid>.json` per event (read by the MISP event importer), and `hashes.csv`.
//!
//! `hashes.csv` is not a list of file hashes: each line is `<md5 of an attribute value>,<event
//! uuid>` (PyMISP `MISPEvent.attributes_hashes('md5')`), an index MISP uses to look values up
//! without reading the events. Its lines are checked and counted as skipped, never imported
//! as MD5 indicators (they would never match a file).
//!
//! A directory import ([`crate::IntelSet::import_path`]) reads a feed's events through its
//! manifest, so no event is imported twice, names each event the manifest lists without a
//! file, and leaves files the manifest does not name to the ordinary import. A URL pull
//! ([`FeedClient::pull_misp_feed`]) fetches the manifest, then only events whose manifest
//! timestamp is newer than the cursor.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use url::Url;

use super::{Ctx, FeedFormat, ImportOptions};
use crate::fetch::parse_json;
use crate::set::{FileReport, ImportReport, Location, Rejection};
use crate::{FeedClient, FetchError, IntelSet};

/// The reason `hashes.csv` lines are counted as skipped.
const HASHES_SKIP: &str =
    "misp feed hashes.csv (MD5 of attribute values, MISP's lookup index: not indicators)";

/// True for a feed manifest: a non-empty object whose keys are uuids and whose values are
/// objects with an `info` or a `timestamp`.
pub(crate) fn is_manifest(doc: &J) -> bool {
    let Some(m) = doc.as_object() else {
        return false;
    };
    !m.is_empty()
        && m.iter()
            .take(8)
            .all(|(k, v)| is_uuid(k) && (v.get("info").is_some() || v.get("timestamp").is_some()))
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// One manifest entry: the event uuid and its timestamp (Unix seconds), if given.
struct Entry {
    uuid: String,
    timestamp: Option<i64>,
}

/// The manifest's entries in timestamp order (entries without one first); bad entries are
/// rejections in `report`.
fn entries(doc: &J, report: &mut FileReport) -> Vec<Entry> {
    let mut out = Vec::new();
    let Some(m) = doc.as_object() else {
        return out;
    };
    for (uuid, v) in m {
        report.read += 1;
        let loc = || Location::Object(uuid.clone());
        if !is_uuid(uuid) {
            report.reject(loc(), "manifest key is not an event uuid");
            continue;
        }
        if !v.is_object() {
            report.reject(loc(), "manifest entry is not an object");
            continue;
        }
        let timestamp = match v.get("timestamp") {
            None | Some(J::Null) => None,
            Some(J::Number(n)) => n.as_i64(),
            Some(J::String(s)) => match s.trim().parse::<i64>() {
                Ok(t) => Some(t),
                Err(_) => {
                    report.reject(loc(), format!("`timestamp` `{s}` is not Unix seconds"));
                    continue;
                }
            },
            Some(other) => {
                report.reject(loc(), format!("`timestamp` {other} is not Unix seconds"));
                continue;
            }
        };
        out.push(Entry {
            uuid: uuid.clone(),
            timestamp,
        });
    }
    out.sort_by_key(|e| e.timestamp);
    out
}

/// A manifest imported on its own (from bytes): its events are in other files, so it is
/// refused as a whole, saying where to point the import instead.
pub(super) fn lone_manifest(ctx: &mut Ctx<'_>, doc: &J) {
    let n = entries(doc, &mut ctx.report).len();
    ctx.report.reject(
        Location::File,
        format!(
            "MISP feed manifest of {n} events, which are files beside it: import the feed's \
             directory or URL"
        ),
    );
}

/// True when the first line of `text` is `<hex hash>,<uuid>` (a shape no other feed has;
/// later lines are checked one by one when read).
pub(super) fn is_hashes_csv(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .is_some_and(|l| hash_line(l).is_ok())
}

fn hash_line(line: &str) -> Result<(), String> {
    let (hash, uuid) = line.split_once(',').ok_or("not `<hash>,<event uuid>`")?;
    let (hash, uuid) = (hash.trim(), uuid.trim());
    if !matches!(hash.len(), 32 | 40 | 64 | 128) || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{hash}` is not a hex hash"));
    }
    if !is_uuid(uuid) {
        return Err(format!("`{uuid}` is not an event uuid"));
    }
    Ok(())
}

/// `hashes.csv`: every line checked; good lines counted as skipped, bad ones rejected.
pub(super) fn hashes(ctx: &mut Ctx<'_>, text: &str) {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        ctx.report.read += 1;
        match hash_line(line) {
            Ok(()) => ctx.report.skip(HASHES_SKIP),
            Err(e) => ctx.report.reject(Location::Line(n as u64 + 1), e),
        }
    }
}

/// The directory-import hook: every `manifest.json` among `files` that is a MISP feed
/// manifest has its feed imported through it (its events, its `hashes.csv`), with reports
/// added to `report`. Returns the files left for the ordinary import.
pub(crate) fn import_feed_dirs(
    set: &mut IntelSet,
    files: Vec<PathBuf>,
    opts: &ImportOptions,
    report: &mut ImportReport,
) -> Vec<PathBuf> {
    let manifests: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "manifest.json"))
        .cloned()
        .collect();
    let mut claimed = HashSet::new();
    for m in manifests {
        let Ok(bytes) = std::fs::read(&m) else {
            continue; // the ordinary import reports the unreadable file
        };
        let Ok(doc) = serde_json::from_slice::<J>(&bytes) else {
            continue;
        };
        if is_manifest(&doc) {
            claimed.extend(import_feed_dir(set, &m, &doc, opts, report));
        }
    }
    files.into_iter().filter(|f| !claimed.contains(f)).collect()
}

/// Imports the feed whose manifest is at `path`; returns the files it read.
fn import_feed_dir(
    set: &mut IntelSet,
    path: &Path,
    doc: &J,
    opts: &ImportOptions,
    report: &mut ImportReport,
) -> Vec<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut opts = opts.clone();
    if opts.feed.is_none() {
        // The feed is the directory, not each `<uuid>.json`.
        opts.feed = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    }
    let mut manifest = FileReport::new(path);
    manifest.format = Some(FeedFormat::MispFeedManifest);
    let mut claimed = vec![path.to_path_buf()];
    let mut files = Vec::new();
    for e in entries(doc, &mut manifest) {
        let event = dir.join(format!("{}.json", e.uuid));
        match std::fs::read(&event) {
            Ok(bytes) => {
                files.push(super::import_bytes(set, &event, &bytes, &opts));
                claimed.push(event);
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => manifest.reject(
                Location::Object(e.uuid.clone()),
                format!("event named in the manifest has no file {}.json", e.uuid),
            ),
            Err(err) => {
                files.push(FileReport::unreadable(
                    &event,
                    format!("cannot read: {err}"),
                ));
                claimed.push(event);
            }
        }
    }
    let hashes = dir.join("hashes.csv");
    if let Ok(bytes) = std::fs::read(&hashes) {
        files.push(super::import_bytes(set, &hashes, &bytes, &opts));
        claimed.push(hashes);
    }
    report.files.push(manifest);
    report.files.extend(files);
    claimed
}

/// Where the next pull of a MISP feed starts: the latest manifest timestamp (Unix seconds)
/// whose events are all done. Serde, for the caller to persist.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MispFeedCursor {
    pub since: Option<i64>,
}

/// What a MISP feed pull did: the manifest's report (entries read, missing events and bad
/// entries rejected by uuid), one report per event imported, how many events were
/// unchanged since the cursor, the next cursor, and the error that stopped the pull early.
#[derive(Debug)]
pub struct MispFeedReport {
    pub manifest: FileReport,
    pub events: Vec<FileReport>,
    /// Events whose manifest timestamp is not newer than the cursor: not fetched.
    pub unchanged: u64,
    pub cursor: MispFeedCursor,
    pub error: Option<FetchError>,
}

impl MispFeedReport {
    /// Indicator values new to the set, over all events.
    pub fn added(&self) -> u64 {
        self.events.iter().map(|e| e.added).sum()
    }

    /// Indicator values merged into existing indicators, over all events.
    pub fn merged(&self) -> u64 {
        self.events.iter().map(|e| e.merged).sum()
    }

    /// Every rejection, the manifest's first, with the file or URL it came from.
    pub fn rejections(&self) -> impl Iterator<Item = (&Path, &Rejection)> {
        std::iter::once(&self.manifest)
            .chain(&self.events)
            .flat_map(|f| f.rejected.iter().map(move |r| (f.path.as_path(), r)))
    }
}

impl FeedClient {
    /// Pulls the MISP feed at `feed_url` (the directory holding `manifest.json`) into `set`
    /// as feed `feed`: the manifest, then each event newer than `since`, oldest first. An
    /// event the manifest names but the server does not have (404) is a rejection naming
    /// its uuid, and the pull goes on; any other failure stops it, keeping what was
    /// imported, with the cursor just before the event that failed so the next pull
    /// retries it.
    pub fn pull_misp_feed(
        &self,
        set: &mut IntelSet,
        feed_url: &Url,
        feed: &str,
        since: &MispFeedCursor,
    ) -> MispFeedReport {
        let base = crate::taxii::dir(feed_url);
        let manifest_url = base.join("manifest.json").unwrap_or_else(|_| base.clone());
        let mut report = MispFeedReport {
            manifest: FileReport::new(Path::new(manifest_url.as_str())),
            events: Vec::new(),
            unchanged: 0,
            cursor: since.clone(),
            error: None,
        };
        report.manifest.format = Some(FeedFormat::MispFeedManifest);
        let doc = match self
            .get(&manifest_url, Some("application/json"))
            .and_then(|b| parse_json(manifest_url.as_str(), &b.bytes))
        {
            Ok(doc) if is_manifest(&doc) || doc.as_object().is_some_and(|m| m.is_empty()) => doc,
            Ok(_) => {
                report.error = Some(FetchError::Malformed {
                    url: manifest_url.to_string(),
                    reason: "not a MISP feed manifest (an object of event uuid → info, \
                             timestamp)"
                        .into(),
                });
                return report;
            }
            Err(e) => {
                report.error = Some(e);
                return report;
            }
        };
        let opts = ImportOptions {
            feed: Some(feed.to_string()),
            ..ImportOptions::default()
        };
        let entries = entries(&doc, &mut report.manifest);
        let mut done_through = since.since;
        for e in &entries {
            if let (Some(t), Some(s)) = (e.timestamp, since.since)
                && t <= s
            {
                report.unchanged += 1;
                continue;
            }
            let url = match base.join(&format!("{}.json", e.uuid)) {
                Ok(u) => u,
                Err(err) => {
                    report
                        .manifest
                        .reject(Location::Object(e.uuid.clone()), err.to_string());
                    continue;
                }
            };
            match self.get(&url, Some("application/json")) {
                Ok(body) => report
                    .events
                    .push(set.import_bytes(url.as_str(), &body.bytes, &opts)),
                Err(FetchError::Status {
                    status: 404 | 410, ..
                }) => report.manifest.reject(
                    Location::Object(e.uuid.clone()),
                    format!("event named in the manifest is not on the server ({url})"),
                ),
                Err(err) => {
                    // Retry this event next time: the cursor stays before it.
                    if let Some(t) = e.timestamp {
                        done_through = done_through.max(Some(t - 1));
                    }
                    report.cursor.since = done_through;
                    report.error = Some(err);
                    return report;
                }
            }
            done_through = done_through.max(e.timestamp);
        }
        report.cursor.since = done_through;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_lines() {
        let uuid = "5f4f4f4f-1111-4222-8333-444444444444";
        assert!(hash_line(&format!("{},{uuid}", "a".repeat(32))).is_ok());
        assert!(hash_line(&format!("{} , {uuid}", "A".repeat(40))).is_ok());
        assert!(hash_line(&format!("{},{uuid}", "g".repeat(32))).is_err());
        assert!(hash_line("abc").is_err());
        assert!(hash_line(&format!("{},not-a-uuid", "a".repeat(32))).is_err());
        assert!(is_hashes_csv(&format!("{},{uuid}\n\n", "b".repeat(32))));
        assert!(!is_hashes_csv("1.2.3.4\n"));
        assert!(!is_hashes_csv(""));
    }

    #[test]
    fn manifests() {
        let m = serde_json::json!({
            "5f4f4f4f-1111-4222-8333-444444444444": {"info": "x", "timestamp": "20"},
            "5f4f4f4f-1111-4222-8333-444444444445": {"info": "y", "timestamp": 10},
        });
        assert!(is_manifest(&m));
        let mut r = FileReport::default();
        let e = entries(&m, &mut r);
        assert_eq!(
            e.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
            [Some(10), Some(20)]
        );
        assert!(!is_manifest(&serde_json::json!({"Event": {"info": "x"}})));
        assert!(!is_manifest(&serde_json::json!({"../x": {"info": "x"}})));
        let bad = serde_json::json!({
            "5f4f4f4f-1111-4222-8333-444444444444": {"info": "x", "timestamp": "soon"},
        });
        let mut r = FileReport::default();
        assert!(entries(&bad, &mut r).is_empty());
        assert!(r.rejected[0].reason.contains("not Unix seconds"));
    }
}
