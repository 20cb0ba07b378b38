//! [`IntelSet`]: the indicators collected from every import, one per (kind, normalised
//! value), and the [`ImportReport`] that accounts for everything an import read.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use hashbrown::HashTable;

use crate::import::{self, FeedFormat, ImportOptions};
use crate::indicator::Statement;
use crate::normalise::{self, ValueError};
use crate::{Indicator, IndicatorKind, IntelError, NewIndicator};

/// Indicators from any number of feeds. Adding a value that is already there merges the new
/// source into the existing indicator ([`Indicator::sources`]), so each (kind, normalised
/// value) is held once.
///
/// Indicators are kept behind `Arc`s so that a [`crate::Matcher`] built from the set shares
/// them instead of copying; changing an indicator after a build copies that one only.
#[derive(Default, Clone)]
pub struct IntelSet {
    indicators: Vec<Arc<Indicator>>,
    /// Each indicator's (kind, value) hash, folded to 32 bits: the index grows by rehashing
    /// these instead of reading every indicator's value again (a cache miss or two each).
    hashes: Vec<u32>,
    /// Positions in `indicators`, hashed by [`table_hash`] of `hashes`.
    index: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    /// Labels, feed names and kill-chain names repeat across thousands of indicators.
    strings: HashSet<Arc<str>, foldhash::fast::FixedState>,
    /// Per kind, the statement of the indicator of that kind added last, shared by the next
    /// one when equal (feeds mix kinds row by row: a MISP event, a ThreatFox export).
    last: [Option<Arc<Statement>>; IndicatorKind::ALL.len()],
}

/// What [`IntelSet::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// A value not seen before.
    New,
    /// A value already there: the source was merged into it.
    Merged,
}

impl IntelSet {
    /// An empty set.
    pub fn new() -> Self {
        IntelSet::default()
    }

    /// Number of indicators (distinct kind and value).
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Every indicator, in the order first added.
    pub fn iter(&self) -> impl Iterator<Item = &Indicator> {
        self.indicators.iter().map(|i| &**i)
    }

    /// The indicators as shared handles (for the matcher).
    pub(crate) fn shared(&self) -> &[Arc<Indicator>] {
        &self.indicators
    }

    /// The indicator of `kind` whose value is `value` once normalised.
    pub fn get(&self, kind: IndicatorKind, value: &str) -> Option<&Indicator> {
        let value = kind.normalise(value).ok()?;
        self.position(kind, &value)
            .map(|i| &*self.indicators[i as usize])
    }

    fn position(&self, kind: IndicatorKind, value: &str) -> Option<u32> {
        self.position_hashed(kind, value, key_hash(&self.hasher, kind, value))
    }

    fn position_hashed(&self, kind: IndicatorKind, value: &str, h32: u32) -> Option<u32> {
        self.index
            .find(table_hash(h32), |&i| {
                self.hashes[i as usize] == h32 && {
                    let ind = &self.indicators[i as usize];
                    &*ind.value == value && ind.kind() == kind
                }
            })
            .copied()
    }

    /// Adds one feed's statement of an indicator: normalises its value and either inserts it
    /// or merges it into the indicator already holding that value.
    pub fn add(&mut self, new: NewIndicator) -> Result<Added, ValueError> {
        let prepared = Prepared::new(&self.hasher, new);
        self.insert(prepared)
    }

    /// Adds many statements with the same result as [`IntelSet::add`] for each in turn (the
    /// same order, merges and shared statements), telling `outcome` the result of each by
    /// its position in `items`. Large batches are read from `items` (hence `Send`) and
    /// normalised on a second thread while this one inserts the chunk before: building and
    /// normalising a statement cost about as much as the index probe that follows, and the
    /// two overlap.
    pub fn add_all<I>(
        &mut self,
        items: I,
        mut outcome: impl FnMut(usize, Result<Added, ValueError>),
    ) where
        I: IntoIterator<Item = NewIndicator>,
        I::IntoIter: Send,
    {
        let mut items = items.into_iter();
        self.reserve(items.size_hint().0);
        if items.size_hint().1.is_some_and(|n| n <= BATCH_CHUNK) {
            for (i, new) in items.enumerate() {
                outcome(i, self.add(new));
            }
            return;
        }
        let hasher = self.hasher.clone();
        std::thread::scope(|scope| {
            // The second thread reads the statements too: building them (the caller's
            // iterator: copying values, parsing rows) is work this thread need not wait for.
            // Two chunks in flight: it prepares the next while this thread inserts one.
            let (done, from_worker) = mpsc::sync_channel::<Vec<Prepared>>(2);
            scope.spawn(move || {
                loop {
                    let chunk: Vec<Prepared> = items
                        .by_ref()
                        .take(BATCH_CHUNK)
                        .map(|n| Prepared::new(&hasher, n))
                        .collect();
                    if chunk.is_empty() || done.send(chunk).is_err() {
                        return;
                    }
                }
            });
            let mut position = 0;
            for prepared in from_worker {
                let mut prepared = prepared.into_iter();
                while prepared.len() > 0 {
                    self.touch(&prepared.as_slice()[..prepared.len().min(PROBE_BATCH)]);
                    for p in prepared.by_ref().take(PROBE_BATCH) {
                        outcome(position, self.insert(p));
                        position += 1;
                    }
                }
            }
        });
    }

    /// Room for `additional` more indicators without growing the index on the way (growing
    /// it rehashes every entry).
    pub fn reserve(&mut self, additional: usize) {
        let hashes = &self.hashes;
        self.index
            .reserve(additional, |&i| table_hash(hashes[i as usize]));
        self.hashes.reserve(additional);
        self.indicators.reserve(additional);
    }

    /// Reads the index buckets where the probes of `batch` will start. A set of millions
    /// has an index far larger than the cache, so each probe misses it; read one after the
    /// other here, the misses overlap, and the inserts that follow find the buckets cached.
    fn touch(&self, batch: &[Prepared]) {
        let mask = self.index.num_buckets().wrapping_sub(1);
        let mut seen = 0u32;
        for p in batch.iter().filter(|p| p.value.is_ok()) {
            let first = table_hash(p.h32) as usize & mask;
            // A probe reads 16 control bytes from `first` (one cache line or two), and a new
            // value's slot is written at `first` or soon after. `get_bucket` reads a control
            // byte, and the slot only when it is full: the three neighbours in the slot's
            // aligned group of four (one cache line) bring the line in when `first` is empty.
            for i in [first, first ^ 1, first ^ 2, first ^ 3, (first + 15) & mask] {
                if let Some(&x) = self.index.get_bucket(i) {
                    seen ^= x;
                }
            }
        }
        std::hint::black_box(seen);
    }

    /// Inserts or merges a statement whose value is normalised and hashed.
    fn insert(&mut self, prepared: Prepared) -> Result<Added, ValueError> {
        let Prepared { new, value, h32 } = prepared;
        let value = value?;
        let kind = new.kind;
        let existing = self.position_hashed(kind, &value, h32);
        let strings = &mut self.strings;
        let mut intern = |s: &str| -> Arc<str> {
            if let Some(a) = strings.get(s) {
                return a.clone();
            }
            let a: Arc<str> = s.into();
            strings.insert(a.clone());
            a
        };
        if let Some(i) = existing {
            Arc::make_mut(&mut self.indicators[i as usize]).merge(new, &mut intern);
            return Ok(Added::Merged);
        }
        let mut new = new;
        let last = &mut self.last[kind as usize];
        // The feed name of the statement before is the interned one: no lookup for it.
        match last.as_ref().and_then(|l| l.sources.first()) {
            Some(s) if s.feed == new.source.feed => new.source.feed = s.feed.clone(),
            _ => new.source.feed = intern(&new.source.feed),
        }
        let ind = Indicator::from_new(new, value, &mut intern, last.as_ref());
        if !last.as_ref().is_some_and(|l| Arc::ptr_eq(l, &ind.stmt)) {
            *last = Some(ind.stmt.clone());
        }
        let pos = u32::try_from(self.indicators.len()).expect("fewer than 2^32 indicators");
        let hashes = &self.hashes;
        self.index
            .insert_unique(table_hash(h32), pos, |&i| table_hash(hashes[i as usize]));
        self.hashes.push(h32);
        self.indicators.push(Arc::new(ind));
        Ok(Added::New)
    }

    /// Imports a file, or every file under a directory (recursively, in name order), sniffing
    /// each one's format from its content. Files that cannot be read or understood, and every
    /// object, row or line not imported, are in the report; the error is only for a `path`
    /// that cannot be read at all.
    pub fn import_path(&mut self, path: &Path) -> Result<ImportReport, IntelError> {
        self.import_path_with(path, &ImportOptions::default())
    }

    /// [`IntelSet::import_path`] with options (feed name, CSV column mapping, MISP
    /// attributes not marked for detection).
    pub fn import_path_with(
        &mut self,
        path: &Path,
        opts: &ImportOptions,
    ) -> Result<ImportReport, IntelError> {
        let mut report = ImportReport::default();
        let meta = std::fs::metadata(path).map_err(|source| IntelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files, &mut report.skipped_files)?;
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        // A MISP feed's events are read through its manifest, once each.
        let files = import::misp_feed::import_feed_dirs(self, files, opts, &mut report);
        for file in files {
            let fr = match std::fs::read(&file) {
                Ok(bytes) => import::import_bytes(self, &file, &bytes, opts),
                Err(e) => FileReport::unreadable(&file, format!("cannot read: {e}")),
            };
            report.files.push(fr);
        }
        Ok(report)
    }

    /// Imports bytes already in memory; `name` stands for the file in the report and as the
    /// default feed name.
    pub fn import_bytes(&mut self, name: &str, bytes: &[u8], opts: &ImportOptions) -> FileReport {
        import::import_bytes(self, Path::new(name), bytes, opts)
    }
}

/// Statements per chunk handed to the normalising thread by [`IntelSet::add_all`]: large
/// enough that the hand-over costs nothing beside the work, small enough to stay in cache.
const BATCH_CHUNK: usize = 4096;

/// Statements whose index buckets [`IntelSet::touch`] reads before inserting them: enough
/// misses in flight to cover the latency of one, few enough that the buckets stay cached.
const PROBE_BATCH: usize = 16;

/// A statement with its value normalised (or why it could not be) and hashed: the part of
/// adding that does not need the set, done on another thread by [`IntelSet::add_all`].
struct Prepared {
    new: NewIndicator,
    value: Result<String, ValueError>,
    h32: u32,
}

impl Prepared {
    fn new(hasher: &foldhash::fast::FixedState, mut new: NewIndicator) -> Prepared {
        let value = normalise::value_owned(new.kind, std::mem::take(&mut new.value));
        let h32 = value.as_ref().map_or(0, |v| key_hash(hasher, new.kind, v));
        Prepared { new, value, h32 }
    }
}

/// The (kind, value) hash the index keeps per indicator, 32 bits of foldhash.
fn key_hash(hasher: &foldhash::fast::FixedState, kind: IndicatorKind, value: &str) -> u32 {
    let h = hasher.hash_one((kind as u8, value));
    (h ^ (h >> 32)) as u32
}

/// The index's 64-bit hash of a kept 32-bit one: the multiplication spreads it over the high
/// bits (hashbrown's tag) as well as the low ones (the bucket).
fn table_hash(h32: u32) -> u64 {
    u64::from(h32).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Files under `dir`; licence, README and SOURCE files and dot-files are listed as skipped.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, skipped: &mut Vec<PathBuf>) -> Result<(), IntelError> {
    let io = |source| IntelError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if path.is_dir() {
            if !name.starts_with('.') {
                walk(&path, out, skipped)?;
            }
        } else if name.starts_with('.')
            || name.starts_with("license")
            || name.starts_with("readme")
            || name.starts_with("source")
            || name.ends_with(".md")
        {
            skipped.push(path);
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Where in a file a rejected item was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole (unreadable, unknown format, not valid JSON).
    File,
    /// A line (1-based) of a list or CSV file.
    Line(u64),
    /// An object by its id (STIX id, MISP attribute uuid), or its position when it has none.
    Object(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => f.write_str("file"),
            Location::Line(n) => write!(f, "line {n}"),
            Location::Object(id) => write!(f, "object {id}"),
        }
    }
}

/// Something read but not imported, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub location: Location,
    pub reason: String,
}

/// What importing one file did. Everything read is accounted for: `added + merged` imported
/// indicator values, `skipped` counts what is deliberately not an indicator (by reason), and
/// `rejected` lists each thing that should have been one but could not be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    /// The format sniffed from the content (`None` when it could not be told).
    pub format: Option<FeedFormat>,
    /// Objects, attributes, rows or lines read (comments and blank lines excluded).
    pub read: u64,
    /// Indicator values new to the set.
    pub added: u64,
    /// Indicator values already in the set, merged as another source.
    pub merged: u64,
    /// Deliberately not imported, counted by reason (`stix relationship`, `misp to_ids false`).
    pub skipped: BTreeMap<String, u64>,
    /// Not imported because of a problem, each with its place and reason.
    pub rejected: Vec<Rejection>,
}

impl FileReport {
    pub(crate) fn new(path: &Path) -> Self {
        FileReport {
            path: path.to_path_buf(),
            ..FileReport::default()
        }
    }

    pub(crate) fn unreadable(path: &Path, reason: String) -> Self {
        let mut r = FileReport::new(path);
        r.reject(Location::File, reason);
        r
    }

    pub(crate) fn reject(&mut self, location: Location, reason: impl Into<String>) {
        self.rejected.push(Rejection {
            location,
            reason: reason.into(),
        });
    }

    pub(crate) fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += 1;
    }

    /// Adds `new` to `set`, counting the outcome or rejecting it at `location`.
    pub(crate) fn add(
        &mut self,
        set: &mut IntelSet,
        location: impl FnOnce() -> Location,
        new: NewIndicator,
    ) {
        let kind = new.kind;
        match set.add(new) {
            Ok(Added::New) => self.added += 1,
            Ok(Added::Merged) => self.merged += 1,
            Err(e) => self.reject(location(), format!("{kind}: {e}")),
        }
    }
}

/// Statements of a line-based feed (CSV, lists) waiting to go into the set through
/// [`IntelSet::add_all`] together, so that a large file is normalised on a second thread and
/// its inserts batched. The importer flushes before any rejection of its own, which keeps
/// rejections in line order; the outcome of each is what [`FileReport::add`] would count.
#[derive(Default)]
pub(crate) struct LineBatch {
    news: Vec<NewIndicator>,
    /// Each statement's line and kind, for its rejection.
    lines: Vec<(u64, IndicatorKind)>,
}

/// Statements a [`LineBatch`] holds at most (about 13 MiB of them) before adding them.
const LINE_BATCH: usize = 65_536;

impl LineBatch {
    /// Queues `new`, read at `line`; adds the queue when it is full.
    pub(crate) fn push(
        &mut self,
        set: &mut IntelSet,
        report: &mut FileReport,
        line: u64,
        new: NewIndicator,
    ) {
        self.lines.push((line, new.kind));
        self.news.push(new);
        if self.news.len() >= LINE_BATCH {
            self.flush(set, report);
        }
    }

    /// Adds every queued statement, counting each outcome in `report`.
    pub(crate) fn flush(&mut self, set: &mut IntelSet, report: &mut FileReport) {
        let lines = &self.lines;
        set.add_all(self.news.drain(..), |i, r| match r {
            Ok(Added::New) => report.added += 1,
            Ok(Added::Merged) => report.merged += 1,
            Err(e) => {
                let (line, kind) = lines[i];
                report.reject(Location::Line(line), format!("{kind}: {e}"));
            }
        });
        self.lines.clear();
    }
}

/// What an import did, file by file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub files: Vec<FileReport>,
    /// Files a directory import left out (licences, READMEs, dot-files).
    pub skipped_files: Vec<PathBuf>,
}

impl ImportReport {
    /// Indicator values new to the set, over all files.
    pub fn added(&self) -> u64 {
        self.files.iter().map(|f| f.added).sum()
    }

    /// Indicator values merged into existing indicators, over all files.
    pub fn merged(&self) -> u64 {
        self.files.iter().map(|f| f.merged).sum()
    }

    /// Every rejection with its file.
    pub fn rejections(&self) -> impl Iterator<Item = (&Path, &Rejection)> {
        self.files
            .iter()
            .flat_map(|f| f.rejected.iter().map(move |r| (f.path.as_path(), r)))
    }

    /// The report of the file at `path`.
    pub fn file(&self, path: &Path) -> Option<&FileReport> {
        self.files.iter().find(|f| f.path == path)
    }
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = self
            .format
            .map_or("unknown format".to_string(), |x| x.to_string());
        write!(
            f,
            "{} ({format}): {} read, {} added, {} merged, {} skipped, {} rejected",
            self.path.display(),
            self.read,
            self.added,
            self.merged,
            self.skipped.values().sum::<u64>(),
            self.rejected.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    fn new(value: &str, feed: &str) -> NewIndicator {
        let source = Source {
            feed: feed.into(),
            external_id: None,
            first_seen: None,
            last_seen: None,
        };
        let mut n = NewIndicator::new(IndicatorKind::Domain, value, source);
        n.labels = vec!["c2".into()];
        n
    }

    /// Statements for [`add_all_is_add_in_turn`]: several chunks' worth, with repeated
    /// values (merged, across chunk ends too), case variants, other feeds and invalid values.
    fn mixed(count: usize) -> Vec<NewIndicator> {
        (0..count)
            .map(|i| {
                let (kind, value) = match i % 7 {
                    0 => (
                        IndicatorKind::Ipv4,
                        format!("10.0.{}.{}", i / 250 % 250, i % 250),
                    ),
                    1 => (IndicatorKind::Domain, format!("H{}.Example", i % 3000)),
                    2 => (
                        IndicatorKind::Url,
                        format!("http://u{}.example/p/", i % 5000),
                    ),
                    3 => (IndicatorKind::Email, format!("A{}@b.example", i)),
                    4 => (IndicatorKind::Md5, format!("{:032x}", i % 4000)),
                    5 => (IndicatorKind::Ipv4, format!("10.{}.0.0/16", i % 300)),
                    _ => (IndicatorKind::Domain, format!("bad domain {i}")),
                };
                let mut n = new(&value, if i % 11 == 0 { "g" } else { "f" });
                n.kind = kind;
                n.value = value;
                n
            })
            .collect()
    }

    #[test]
    fn add_all_is_add_in_turn() {
        let items = mixed(3 * BATCH_CHUNK + 17);
        let mut one_by_one = IntelSet::new();
        let expected: Vec<_> = items.iter().map(|n| one_by_one.add(n.clone())).collect();
        let mut batched = IntelSet::new();
        let mut got = Vec::new();
        batched.add_all(items.clone(), |i, r| got.push((i, r)));
        let positions: Vec<usize> = got.iter().map(|(i, _)| *i).collect();
        assert_eq!(positions, (0..items.len()).collect::<Vec<_>>());
        let got: Vec<_> = got.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, expected);
        assert!(got.iter().any(|r| r.is_err()) && got.contains(&Ok(Added::Merged)));
        assert_eq!(batched.len(), one_by_one.len());
        for (a, b) in batched.indicators.iter().zip(&one_by_one.indicators) {
            assert_eq!(**a, **b);
        }
        // The statements are shared alike.
        let shared = |s: &IntelSet| {
            s.indicators
                .windows(2)
                .filter(|w| Arc::ptr_eq(&w[0].stmt, &w[1].stmt))
                .count()
        };
        assert_eq!(shared(&batched), shared(&one_by_one));
        // A small batch goes the same way on this thread.
        let mut small = IntelSet::new();
        small.add_all(items[..50].to_vec(), |_, _| {});
        assert_eq!(small.len(), {
            let mut s = IntelSet::new();
            items[..50].iter().for_each(|n| drop(s.add(n.clone())));
            s.len()
        });
    }

    #[test]
    fn equal_statements_are_shared_until_one_changes() {
        let mut set = IntelSet::new();
        set.add(new("a.example", "f")).unwrap();
        // Another kind in between (feeds mix them row by row) does not stop the sharing.
        let mut ip = new("192.0.2.1", "f");
        ip.kind = IndicatorKind::Ipv4;
        set.add(ip).unwrap();
        set.add(new("b.example", "f")).unwrap();
        let (a, b) = (&set.indicators[0], &set.indicators[2]);
        assert!(Arc::ptr_eq(&a.stmt, &b.stmt));
        assert_eq!(set.indicators[1].kind(), IndicatorKind::Ipv4);
        // A second feed naming b: b gets its own statement, a keeps its one source.
        assert_eq!(set.add(new("B.Example", "g")).unwrap(), Added::Merged);
        let a = set.get(IndicatorKind::Domain, "a.example").unwrap();
        let b = set.get(IndicatorKind::Domain, "b.example").unwrap();
        assert_eq!(a.sources().len(), 1);
        assert_eq!(b.sources().len(), 2);
        assert_eq!(b.labels().len(), 1);
        // Another feed's statement is not shared with the one before.
        set.add(new("c.example", "g")).unwrap();
        let c = set.get(IndicatorKind::Domain, "c.example").unwrap();
        assert_eq!(&*c.sources()[0].feed, "g");
        assert_eq!(set.len(), 4);
    }
}
