//! A TAXII 2.1 client: server discovery, API root information, collections, and pulling a
//! collection's objects page by page (`added_after`, `limit`, `next`) into an [`IntelSet`]
//! through the STIX importer, over http or https ([`FeedClient`], in [`crate::fetch`]).
//!
//! What this is for: a background thread that pulls a feed on a schedule and keeps a
//! [`TaxiiCursor`] (serde, so the caller can persist it) to ask only for what is new next
//! time. It is blocking (reqwest's blocking client): call it from a plain thread, never from
//! inside an async runtime. What it is not for: scheduling, storing the cursor, or writing to
//! collections (it only reads).
//!
//! Nothing a server sends can panic the client or vanish: every failure is a [`FetchError`]
//! naming the URL and the reason (HTTP status with the TAXII error body's title, wrong
//! content type, not JSON, not an envelope, too large, timeout, TLS, a `next` token given
//! twice). A pull that fails part-way keeps the pages it imported, reports them, and returns
//! the cursor up to the last imported page in [`PullReport`], with the error beside it.

use std::collections::HashSet;
use std::path::PathBuf;

use jiff::Timestamp;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use url::Url;

use crate::fetch::{FeedClient, FetchError, parse_json};
use crate::set::{FileReport, Rejection};
use crate::{ImportOptions, IntelSet};

/// The media type of TAXII 2.1 responses, sent as `Accept`.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

impl FeedClient {
    /// GETs a TAXII resource: sends the TAXII `Accept`, checks the content type, parses the
    /// JSON object.
    fn taxii_get(&self, url: &Url) -> Result<(serde_json::Map<String, J>, HeaderMap), FetchError> {
        let body = self.get(url, Some(TAXII_MEDIA_TYPE))?;
        let u = url.as_str();
        let ct = body
            .headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_taxii_21(&ct) {
            return Err(FetchError::ContentType {
                url: u.to_string(),
                got: ct,
                expected: TAXII_MEDIA_TYPE,
            });
        }
        match parse_json(u, &body.bytes)? {
            J::Object(m) => Ok((m, body.headers)),
            other => Err(FetchError::Malformed {
                url: u.to_string(),
                reason: format!("expected a JSON object, got {}", json_kind(&other)),
            }),
        }
    }

    /// The server's discovery resource (`GET {server}/taxii2/`; a URL already ending in
    /// `/taxii2/` is used as it is).
    pub fn discovery(&self, server: &Url) -> Result<Discovery, FetchError> {
        let url = if server.path().ends_with("/taxii2/") {
            server.clone()
        } else {
            join(&dir(server), "taxii2/")?
        };
        let (m, _) = self.taxii_get(&url)?;
        resource(&url, m)
    }

    /// An API root's information (`GET {root}`).
    pub fn api_root(&self, root: &Url) -> Result<ApiRoot, FetchError> {
        let url = dir(root);
        let (m, _) = self.taxii_get(&url)?;
        resource(&url, m)
    }

    /// The collections of an API root (`GET {root}/collections/`).
    pub fn collections(&self, root: &Url) -> Result<Vec<Collection>, FetchError> {
        let url = join(&dir(root), "collections/")?;
        let (mut m, _) = self.taxii_get(&url)?;
        // An API root without collections answers `{}`.
        match m.remove("collections") {
            None => Ok(Vec::new()),
            Some(list) => serde_json::from_value(list).map_err(|e| FetchError::Malformed {
                url: url.to_string(),
                reason: format!("`collections`: {e}"),
            }),
        }
    }

    /// One page of a collection's objects (`GET {root}/collections/{id}/objects/` with the
    /// query's `added_after`, `limit` and `next`).
    pub fn objects_page(
        &self,
        root: &Url,
        collection: &str,
        query: &PageQuery,
    ) -> Result<Page, FetchError> {
        let mut url = objects_url(root, collection)?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(a) = &query.added_after {
                q.append_pair("added_after", a);
            }
            if let Some(l) = query.limit {
                q.append_pair("limit", &l.to_string());
            }
            if let Some(n) = &query.next {
                q.append_pair("next", n);
            }
        }
        let (m, headers) = self.taxii_get(&url)?;
        envelope(&url, m, &headers)
    }

    /// Pulls every page of a collection added after `since` into `set`, importing each page's
    /// objects through the STIX importer as feed `feed`. Never fails as a whole: a failure
    /// stops the pull and is in [`PullReport::error`], with everything imported before it
    /// kept and reported and the cursor advanced only over imported pages.
    pub fn pull(&self, set: &mut IntelSet, req: &PullRequest, since: &TaxiiCursor) -> PullReport {
        let mut report = PullReport {
            collection: req.collection.clone(),
            pages: Vec::new(),
            objects: 0,
            cursor: since.clone(),
            notes: Vec::new(),
            error: None,
        };
        let opts = ImportOptions {
            feed: Some(req.feed.clone()),
            ..ImportOptions::default()
        };
        let page_url = match objects_url(&req.root, &req.collection) {
            Ok(u) => u,
            Err(e) => {
                report.error = Some(e);
                return report;
            }
        };
        let mut query = PageQuery {
            added_after: since.added_after.clone(),
            limit: req.limit,
            next: None,
        };
        // A server may keep one `next` token for a whole paging session (medallion does), so
        // a loop is a page of nothing new, not a repeated token.
        let mut seen = HashSet::new();
        // Marking definitions of earlier pages and pulls, for indicators that refer to them
        // later (a feed's own TLP definition must not be lost at a page boundary).
        let mut markings = since.markings.clone();
        loop {
            if report.pages.len() as u32 >= req.max_pages {
                report.error = Some(FetchError::TooManyPages {
                    url: page_url.to_string(),
                    pages: req.max_pages,
                });
                break;
            }
            let page = match self.objects_page(&req.root, &req.collection, &query) {
                Ok(p) => p,
                Err(e) => {
                    report.error = Some(e);
                    break;
                }
            };
            let n = report.pages.len() + 1;
            let count = page.objects.len();
            let mut fresh = false;
            for o in &page.objects {
                let key = (
                    o.get("id").and_then(J::as_str).map(str::to_string),
                    o.get("modified").and_then(J::as_str).map(str::to_string),
                );
                fresh |= seen.insert(key);
            }
            let stuck = if count == 0 {
                page.more && page.next == query.next
            } else {
                !fresh
            };
            if let Some(token) = query.next.as_ref().filter(|_| stuck) {
                report.error = Some(FetchError::NextLoop {
                    url: page_url.to_string(),
                    token: token.clone(),
                });
                break;
            }
            report.objects += count as u64;
            let name = format!("{page_url} page {n}");
            let file = if count == 0 {
                FileReport {
                    path: PathBuf::from(&name),
                    format: Some(crate::FeedFormat::StixBundle),
                    ..FileReport::default()
                }
            } else {
                import_page(set, &name, page.objects, &mut markings, &opts)
            };
            report.pages.push(file);
            report.cursor.markings.clone_from(&markings);
            match page
                .date_added_last
                .as_ref()
                .or(page.date_added_first.as_ref())
            {
                Some(last) => report.cursor.advance(last),
                None if count > 0 => report.notes.push(format!(
                    "page {n}: no X-TAXII-Date-Added-Last header; the cursor did not advance"
                )),
                None => {}
            }
            if !page.more {
                break;
            }
            match page.next {
                Some(token) => {
                    // medallion 3.0.0 answers 500 to `next` without `limit`: when the caller
                    // set none, ask for the page size the server chose.
                    if query.limit.is_none() && count > 0 {
                        query.limit = u32::try_from(count).ok();
                    }
                    query.next = Some(token);
                }
                // TAXII 2.1 lets a server page by `added_after` alone: continue from the
                // page's last date added, if it moved.
                None => match page.date_added_last {
                    Some(last) if Some(&last) != query.added_after.as_ref() => {
                        query.added_after = Some(last);
                    }
                    _ => {
                        report.error = Some(FetchError::Malformed {
                            url: page_url.to_string(),
                            reason: format!(
                                "page {n} says `more` but gives no `next` and no new \
                                 X-TAXII-Date-Added-Last to continue from"
                            ),
                        });
                        break;
                    }
                },
            }
        }
        report
    }
}

/// The most marking definitions a cursor carries (a feed has a handful).
const MAX_MARKINGS: usize = 256;

/// The reason the STIX importer counts a marking definition as skipped under.
const MARKING_SKIP: &str = "stix marking-definition (not an indicator)";

/// Imports one page's objects as a bundle, with the marking definitions of earlier pages
/// prepended so references to them resolve; those carried definitions are taken out of the
/// page's counts again (they were counted on their own page).
fn import_page(
    set: &mut IntelSet,
    name: &str,
    objects: Vec<J>,
    markings: &mut Vec<J>,
    opts: &ImportOptions,
) -> FileReport {
    let carried = markings.len() as u64;
    for o in &objects {
        let id = o.get("id").and_then(J::as_str);
        if o.get("type").and_then(J::as_str) == Some("marking-definition")
            && id.is_some()
            && markings.len() < MAX_MARKINGS
            && !markings
                .iter()
                .any(|m| m.get("id").and_then(J::as_str) == id)
        {
            markings.push(o.clone());
        }
    }
    let mut all = markings[..carried as usize].to_vec();
    all.extend(objects);
    let bundle = serde_json::json!({"type": "bundle", "objects": all});
    let bytes = serde_json::to_vec(&bundle).expect("JSON values serialise");
    let mut file = set.import_bytes(name, &bytes, opts);
    if carried > 0 {
        file.read -= carried;
        if let Some(n) = file.skipped.get_mut(MARKING_SKIP) {
            *n -= carried;
            if *n == 0 {
                file.skipped.remove(MARKING_SKIP);
            }
        }
    }
    file
}

fn objects_url(root: &Url, collection: &str) -> Result<Url, FetchError> {
    if collection.is_empty() || collection.contains(['/', '?', '#']) {
        return Err(FetchError::Url {
            url: root.to_string(),
            reason: format!("`{collection}` is not a collection id"),
        });
    }
    join(&dir(root), &format!("collections/{collection}/objects/"))
}

/// `url` with a trailing slash, so relative joins go below it.
pub(crate) fn dir(url: &Url) -> Url {
    let mut u = url.clone();
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u
}

fn join(base: &Url, rel: &str) -> Result<Url, FetchError> {
    base.join(rel).map_err(|e| FetchError::Url {
        url: base.to_string(),
        reason: format!("cannot join `{rel}`: {e}"),
    })
}

/// `application/taxii+json` with version 2.1 or no version (which TAXII 2.1 says is the
/// latest), parameters and case aside.
fn is_taxii_21(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    if !media.eq_ignore_ascii_case("application/taxii+json") {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("version") => v.trim() == "2.1",
        _ => true,
    })
}

fn json_kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "an array",
        J::Object(_) => "an object",
    }
}

fn resource<T: serde::de::DeserializeOwned>(
    url: &Url,
    m: serde_json::Map<String, J>,
) -> Result<T, FetchError> {
    serde_json::from_value(J::Object(m)).map_err(|e| FetchError::Malformed {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

/// Reads a TAXII 2.1 envelope: `objects` (absent when there are none), `more`, `next`.
fn envelope(
    url: &Url,
    mut m: serde_json::Map<String, J>,
    headers: &HeaderMap,
) -> Result<Page, FetchError> {
    let bad = |reason: String| FetchError::Malformed {
        url: url.to_string(),
        reason,
    };
    if m.get("type").and_then(J::as_str) == Some("bundle") {
        return Err(bad(
            "a STIX bundle where a TAXII 2.1 envelope was expected (a TAXII 2.0 server?)".into(),
        ));
    }
    let known = ["objects", "more", "next"];
    if !m.is_empty() && !m.keys().any(|k| known.contains(&k.as_str())) {
        let keys: Vec<&str> = m.keys().map(String::as_str).take(8).collect();
        return Err(bad(format!(
            "not a TAXII envelope: no `objects`, `more` or `next` (keys: {})",
            keys.join(", ")
        )));
    }
    let objects = match m.remove("objects") {
        None => Vec::new(),
        Some(J::Array(items)) => items,
        Some(other) => {
            return Err(bad(format!(
                "envelope `objects` is {}, not a list",
                json_kind(&other)
            )));
        }
    };
    let more = match m.get("more") {
        None | Some(J::Null) => false,
        Some(J::Bool(b)) => *b,
        Some(other) => {
            return Err(bad(format!(
                "envelope `more` is {}, not a boolean",
                json_kind(other)
            )));
        }
    };
    let next = match m.get("next") {
        None | Some(J::Null) => None,
        Some(J::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(bad(format!(
                "envelope `next` is {}, not a string",
                json_kind(other)
            )));
        }
    };
    if more && objects.is_empty() && next.is_none() {
        return Err(bad(
            "envelope says `more` but has no `objects` and no `next`".into(),
        ));
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| s.parse::<Timestamp>().is_ok())
    };
    Ok(Page {
        objects,
        more,
        next,
        date_added_first: header("X-TAXII-Date-Added-First"),
        date_added_last: header("X-TAXII-Date-Added-Last"),
    })
}

/// The discovery resource: what the server is and where its API roots are.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Discovery {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    /// The default API root's URL.
    #[serde(default)]
    pub default: Option<String>,
    /// The API roots' URLs (possibly relative to the discovery URL).
    #[serde(default)]
    pub api_roots: Vec<String>,
}

/// An API root's information.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ApiRoot {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// TAXII versions it speaks (`application/taxii+json;version=2.1`).
    #[serde(default)]
    pub versions: Vec<String>,
    /// The largest request body it accepts, in bytes.
    #[serde(default)]
    pub max_content_length: Option<u64>,
}

/// One collection of an API root.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    pub can_read: bool,
    pub can_write: bool,
    #[serde(default)]
    pub media_types: Vec<String>,
}

/// What to ask for in one objects request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// Only objects added after this timestamp (as the server wrote it).
    pub added_after: Option<String>,
    /// At most this many objects (the server may cap it lower).
    pub limit: Option<u32>,
    /// The `next` token of the previous page.
    pub next: Option<String>,
}

/// One page of objects and how to get the next.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub objects: Vec<J>,
    pub more: bool,
    pub next: Option<String>,
    /// `X-TAXII-Date-Added-First` / `-Last`: when the first and last objects of the page
    /// were added to the collection.
    pub date_added_first: Option<String>,
    pub date_added_last: Option<String>,
}

/// Which collection to pull, as what feed, and in pages of what size.
#[derive(Clone, Debug)]
pub struct PullRequest {
    /// The API root URL (`http://host/api1/`).
    pub root: Url,
    /// The collection id.
    pub collection: String,
    /// The feed name the imported indicators' sources get.
    pub feed: String,
    /// Objects per page to ask for (`None`: the server's default).
    pub limit: Option<u32>,
    /// Stop after this many pages (a server with endless distinct `next` tokens).
    pub max_pages: u32,
}

impl PullRequest {
    /// A pull of `collection` under `root` as feed `feed`, server page size, at most 10,000
    /// pages.
    pub fn new(root: Url, collection: impl Into<String>, feed: impl Into<String>) -> Self {
        PullRequest {
            root,
            collection: collection.into(),
            feed: feed.into(),
            limit: None,
            max_pages: 10_000,
        }
    }
}

/// Where the next pull starts: the latest date added of the objects already pulled, as the
/// server wrote it (`X-TAXII-Date-Added-Last`), sent back as `added_after`; and the marking
/// definitions received so far, so indicators added later that refer to a feed's own TLP
/// definition still get its TLP.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaxiiCursor {
    pub added_after: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markings: Vec<J>,
}

impl TaxiiCursor {
    /// Moves the cursor to `date_added` if that is later (compared as timestamps).
    fn advance(&mut self, date_added: &str) {
        let Ok(new) = date_added.parse::<Timestamp>() else {
            return;
        };
        let later = match self.added_after.as_deref().map(str::parse::<Timestamp>) {
            Some(Ok(old)) => new > old,
            _ => true,
        };
        if later {
            self.added_after = Some(date_added.to_string());
        }
    }
}

/// What a pull did: a [`FileReport`] per page (objects read, indicators added and merged,
/// rejections with object ids and reasons), the cursor for the next pull, and the error that
/// stopped it early, if any.
#[derive(Debug)]
pub struct PullReport {
    pub collection: String,
    /// One report per page imported, in order.
    pub pages: Vec<FileReport>,
    /// Objects received over all pages.
    pub objects: u64,
    /// The cursor after the last page imported (unchanged when nothing was).
    pub cursor: TaxiiCursor,
    /// Things worth knowing that are not errors (a page without date headers).
    pub notes: Vec<String>,
    /// What stopped the pull before the server said there was no more.
    pub error: Option<FetchError>,
}

impl PullReport {
    /// Indicator values new to the set, over all pages.
    pub fn added(&self) -> u64 {
        self.pages.iter().map(|p| p.added).sum()
    }

    /// Indicator values merged into existing indicators, over all pages.
    pub fn merged(&self) -> u64 {
        self.pages.iter().map(|p| p.merged).sum()
    }

    /// Every rejected object with the page it came in.
    pub fn rejections(&self) -> impl Iterator<Item = (&std::path::Path, &Rejection)> {
        self.pages
            .iter()
            .flat_map(|f| f.rejected.iter().map(move |r| (f.path.as_path(), r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(is_taxii_21("application/taxii+json;version=2.1"));
        assert!(is_taxii_21(
            "Application/TAXII+json; version=2.1; charset=utf-8"
        ));
        assert!(is_taxii_21("application/taxii+json"));
        assert!(!is_taxii_21("application/taxii+json;version=2.0"));
        assert!(!is_taxii_21("application/json"));
        assert!(!is_taxii_21("text/html"));
    }

    #[test]
    fn cursor_moves_forward_only() {
        let mut c = TaxiiCursor::default();
        c.advance("2026-01-02T00:00:00.000000Z");
        c.advance("2026-01-01T00:00:00Z");
        assert_eq!(
            c.added_after.as_deref(),
            Some("2026-01-02T00:00:00.000000Z")
        );
        c.advance("not a time");
        c.advance("2026-01-02T00:00:00.5Z");
        assert_eq!(c.added_after.as_deref(), Some("2026-01-02T00:00:00.5Z"));
    }

    #[test]
    fn cursor_round_trips_through_json() {
        let c = TaxiiCursor {
            added_after: Some("2026-01-02T00:00:00.000000Z".into()),
            markings: vec![serde_json::json!({"type": "marking-definition", "id": "m--1"})],
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<TaxiiCursor>(&text).unwrap(), c);
        let old: TaxiiCursor = serde_json::from_str(r#"{"added_after": null}"#).unwrap();
        assert_eq!(old, TaxiiCursor::default());
    }

    #[test]
    fn envelopes() {
        let url = Url::parse("http://127.0.0.1/c/").unwrap();
        let h = HeaderMap::new();
        let obj = |v: J| v.as_object().unwrap().clone();
        let p = envelope(&url, obj(serde_json::json!({})), &h).unwrap();
        assert!(p.objects.is_empty() && !p.more);
        let e = envelope(&url, obj(serde_json::json!({"more": true})), &h).unwrap_err();
        assert!(e.to_string().contains("no `objects` and no `next`"), "{e}");
        let e = envelope(&url, obj(serde_json::json!({"objects": 3})), &h).unwrap_err();
        assert!(e.to_string().contains("a number, not a list"), "{e}");
        let e = envelope(&url, obj(serde_json::json!({"title": "x"})), &h).unwrap_err();
        assert!(e.to_string().contains("not a TAXII envelope"), "{e}");
        let e = envelope(
            &url,
            obj(serde_json::json!({"type": "bundle", "objects": []})),
            &h,
        )
        .unwrap_err();
        assert!(e.to_string().contains("TAXII 2.0"), "{e}");
    }

    #[test]
    fn urls() {
        let root = Url::parse("http://h:1/api1").unwrap();
        assert_eq!(
            objects_url(&root, "c-1").unwrap().as_str(),
            "http://h:1/api1/collections/c-1/objects/"
        );
        assert!(objects_url(&root, "../x").is_err());
        let c = FeedClient::new(crate::ClientOptions::default()).unwrap();
        let e = c.discovery(&Url::parse("ftp://h/").unwrap()).unwrap_err();
        assert!(e.to_string().contains("http and https only"), "{e}");
    }
}
