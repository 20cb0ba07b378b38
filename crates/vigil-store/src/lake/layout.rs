//! Where lake files live, what their names mean, and which of them a reader may see.
//!
//! ```text
//! <lake>/_committed                          the last committed flush and journal position
//! <lake>/_lock                               held (flock) by the one writer
//! <lake>/_tmp/…                              files being written; never read, cleaned at open
//! <lake>/_trash-…                            partitions being deleted; cleaned at open
//! <lake>/date=2026-01-02/hour=05/part-0000000007-0000000007.parquet   one flush
//! <lake>/date=2026-01-02/hour=05/part-0000000003-0000000006.parquet   flushes 3..=6 merged
//! ```
//!
//! The visibility rule, applied by every reader: a data file `part-LO-HI.parquet` is visible
//! when `HI` is at most the committed flush number, and no other file of its partition covers
//! a range that contains `LO..=HI`. So a flush becomes visible all at once when `_committed`
//! is replaced, and a merged file hides the files it replaces the moment it is renamed into
//! place, before they are deleted: at no instant can a reader see a row twice or miss one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::error::{LakeError, Result};

/// The commit record's file name.
pub const COMMIT_FILE: &str = "_committed";
/// The writer's lock file name.
pub const LOCK_FILE: &str = "_lock";
/// Where files are written before being renamed into their partition.
pub const TMP_DIR: &str = "_tmp";
/// Prefix of partitions renamed away for deletion.
pub const TRASH_PREFIX: &str = "_trash-";

/// One hour of events (UTC), the unit of partitioning, compaction and retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// The UTC day.
    pub date: Date,
    /// The UTC hour, 0–23.
    pub hour: i8,
}

impl Partition {
    /// The partition holding events at `time`.
    pub fn of(time: Timestamp) -> Partition {
        let dt = time.to_zoned_datetime(TimeZone::UTC).datetime();
        Partition {
            date: dt.date(),
            hour: dt.hour(),
        }
    }

    /// The directory relative to the lake root: `date=2026-01-02/hour=05`.
    pub fn rel_dir(&self) -> PathBuf {
        Path::new(&format!("date={}", self.date)).join(format!("hour={:02}", self.hour))
    }

    /// The first instant of the hour.
    pub fn start(&self) -> Timestamp {
        self.date
            .at(self.hour, 0, 0, 0)
            .to_zoned_datetime(TimeZone::UTC)
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MIN)
    }

    /// The first instant after the hour.
    pub fn end(&self) -> Timestamp {
        self.start()
            .checked_add(jiff::SignedDuration::from_hours(1))
            .unwrap_or(Timestamp::MAX)
    }

    /// Parses the two directory names of a partition (`date=…`, `hour=…`).
    pub fn parse(date_dir: &str, hour_dir: &str) -> Option<Partition> {
        let date: Date = date_dir.strip_prefix("date=")?.parse().ok()?;
        let hour: i8 = hour_dir.strip_prefix("hour=")?.parse().ok()?;
        (0..24).contains(&hour).then_some(Partition { date, hour })
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "date={}/hour={:02}", self.date, self.hour)
    }
}

/// The flush range a data file holds: `part-LO-HI.parquet` has the rows of flushes LO..=HI
/// (one flush for a file the writer wrote, several for a merged one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileRange {
    pub lo: u64,
    pub hi: u64,
}

impl FileRange {
    /// The file name.
    pub fn file_name(&self) -> String {
        format!("part-{:010}-{:010}.parquet", self.lo, self.hi)
    }

    /// Parses a data file name; anything else (temp files, strangers) is `None`.
    pub fn parse(name: &str) -> Option<FileRange> {
        let (lo, hi) = name
            .strip_prefix("part-")?
            .strip_suffix(".parquet")?
            .split_once('-')?;
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(lo) || !all_digits(hi) {
            return None;
        }
        let r = FileRange {
            lo: lo.parse().ok()?,
            hi: hi.parse().ok()?,
        };
        (r.lo <= r.hi).then_some(r)
    }
}

/// Files of one partition, each with its flush range.
pub type RangedFiles<T> = Vec<(FileRange, T)>;

/// Splits the files of one partition into those a reader sees and those hidden by the
/// visibility rule (uncommitted, or covered by a merged file). `committed` is the committed
/// flush number (`None`: nothing is committed yet).
pub fn visible<T>(
    mut files: RangedFiles<T>,
    committed: Option<u64>,
) -> (RangedFiles<T>, RangedFiles<T>) {
    let mut hidden = Vec::new();
    let mut shown = Vec::new();
    // Widest first among equal starts, so a covering file is met before what it covers.
    files.sort_by(|a, b| a.0.lo.cmp(&b.0.lo).then(b.0.hi.cmp(&a.0.hi)));
    let mut reach: Option<u64> = None;
    for (range, item) in files {
        let committed_file = committed.is_some_and(|c| range.hi <= c);
        let covered = reach.is_some_and(|r| range.hi <= r);
        if committed_file && !covered {
            reach = Some(reach.map_or(range.hi, |r| r.max(range.hi)));
            shown.push((range, item));
        } else {
            hidden.push((range, item));
        }
    }
    (shown, hidden)
}

/// The lake's commit record: the last flush whose files are all durable, and the journal
/// position of the last row it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Commit {
    /// The last committed flush number (`None`: nothing committed yet).
    pub flush: Option<u64>,
    /// Every row appended with a position up to this one is in committed files.
    pub through: Option<u64>,
}

impl Commit {
    /// Reads `<lake>/_committed`; a missing file is the empty commit.
    pub fn read(lake: &Path) -> Result<Commit> {
        let path = lake.join(COMMIT_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Commit::default()),
            Err(e) => return Err(LakeError::io(&path)(e)),
        };
        let corrupt = |reason: &str| LakeError::Corrupt {
            path: path.clone(),
            reason: format!("commit record {reason}: {text:?}"),
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| corrupt(&e.to_string()))?;
        let field = |name: &str| match v.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .map(Some)
                .ok_or_else(|| corrupt(&format!("has a non-integer {name}"))),
        };
        Ok(Commit {
            flush: field("flush")?,
            through: field("through")?,
        })
    }

    /// Replaces `<lake>/_committed` atomically and durably.
    pub fn write(&self, lake: &Path) -> Result<()> {
        let text = serde_json::json!({"flush": self.flush, "through": self.through}).to_string();
        let tmp = lake.join(TMP_DIR).join("committed.tmp");
        write_durably(&tmp, text.as_bytes())?;
        rename_durably(&tmp, &lake.join(COMMIT_FILE))
    }
}

/// Writes `bytes` to `path` and fsyncs it.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(LakeError::io(path))?;
    f.write_all(bytes).map_err(LakeError::io(path))?;
    f.sync_all().map_err(LakeError::io(path))
}

/// Fsyncs a directory, making renames and deletions in it durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LakeError::io(dir))
}

/// Renames `from` over `to` and fsyncs `to`'s directory (and `from`'s when it differs).
pub fn rename_durably(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(LakeError::io(to))?;
    let to_dir = to.parent().unwrap_or(Path::new("."));
    sync_dir(to_dir)?;
    if let Some(from_dir) = from.parent()
        && from_dir != to_dir
    {
        sync_dir(from_dir)?;
    }
    Ok(())
}

/// Creates `dir` (and missing parents), fsyncing each parent whose entries changed so the new
/// directories survive a crash.
pub fn create_dir_durably(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durably(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(LakeError::io(dir)(e)),
    }
    sync_dir(dir.parent().unwrap_or(Path::new(".")))
}

/// One data file found on disk.
#[derive(Clone, Debug)]
pub struct DataFile {
    pub partition: Partition,
    pub range: FileRange,
    pub path: PathBuf,
    pub size: u64,
}

/// Every partition directory of the lake, in time order.
pub fn partitions(lake: &Path) -> Result<Vec<(Partition, PathBuf)>> {
    let mut out = Vec::new();
    for date in read_dir_names(lake)? {
        if !date.starts_with("date=") {
            continue;
        }
        let date_dir = lake.join(&date);
        if !date_dir.is_dir() {
            continue;
        }
        for hour in read_dir_names(&date_dir)? {
            if let Some(p) = Partition::parse(&date, &hour) {
                out.push((p, date_dir.join(hour)));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The data files of one partition directory (named `part-LO-HI.parquet`), visible or not.
pub fn data_files(partition: Partition, dir: &Path) -> Result<Vec<DataFile>> {
    let mut out = Vec::new();
    for name in read_dir_names(dir)? {
        let Some(range) = FileRange::parse(&name) else {
            continue;
        };
        let path = dir.join(&name);
        let size = fs::metadata(&path).map_err(LakeError::io(&path))?.len();
        out.push(DataFile {
            partition,
            range,
            path,
            size,
        });
    }
    Ok(out)
}

/// The names in `dir`; a missing directory has none.
pub fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LakeError::io(dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(LakeError::io(dir))?;
        // Names that are not UTF-8 cannot be lake files; leave them be.
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(lo: u64, hi: u64) -> (FileRange, ()) {
        (FileRange { lo, hi }, ())
    }

    fn ranges(v: &[(FileRange, ())]) -> Vec<(u64, u64)> {
        let mut out: Vec<_> = v.iter().map(|(r, _)| (r.lo, r.hi)).collect();
        out.sort();
        out
    }

    #[test]
    fn names_round_trip() {
        let range = FileRange { lo: 3, hi: 17 };
        assert_eq!(range.file_name(), "part-0000000003-0000000017.parquet");
        assert_eq!(FileRange::parse(&range.file_name()), Some(range));
        for bad in [
            "part-1-2.parquet.tmp",
            "part-2-1.parquet",
            "part--1.parquet",
            "part-a-1.parquet",
            "x.parquet",
        ] {
            assert_eq!(FileRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn partitions_are_utc_hours() {
        let t: Timestamp = "2026-01-02T05:59:59.999Z".parse().unwrap();
        let p = Partition::of(t);
        assert_eq!(p.to_string(), "date=2026-01-02/hour=05");
        assert_eq!(p.start().to_string(), "2026-01-02T05:00:00Z");
        assert_eq!(p.end().to_string(), "2026-01-02T06:00:00Z");
        assert_eq!(Partition::parse("date=2026-01-02", "hour=05"), Some(p));
        assert_eq!(Partition::parse("date=2026-01-02", "hour=24"), None);
    }

    #[test]
    fn merged_file_hides_what_it_covers() {
        // Merged 1..=3 is renamed in while 1, 2, 3 still exist; 4 was flushed after.
        let files = vec![r(1, 1), r(2, 2), r(3, 3), r(1, 3), r(4, 4)];
        let (shown, hidden) = visible(files, Some(4));
        assert_eq!(ranges(&shown), vec![(1, 3), (4, 4)]);
        assert_eq!(ranges(&hidden), vec![(1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn uncommitted_flush_is_hidden() {
        let (shown, hidden) = visible(vec![r(1, 2), r(3, 3)], Some(2));
        assert_eq!(ranges(&shown), vec![(1, 2)]);
        assert_eq!(ranges(&hidden), vec![(3, 3)]);
        let (shown, _) = visible(vec![r(1, 1)], None);
        assert!(shown.is_empty(), "nothing committed, nothing visible");
    }
}
