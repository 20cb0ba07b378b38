//! Retention: how long the lake keeps events, per source.
//!
//! A partition (one UTC hour) expires for a source once its hour ended more than that
//! source's number of days ago. A partition expired for every source is deleted whole
//! (renamed to `_trash-…` first, so it vanishes from readers in one step); one that is expired
//! for some sources only is rewritten without their rows, through the same atomic path as
//! compaction. Sources are matched on the `source` column exactly.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use jiff::{SignedDuration, Timestamp};

use super::Lake;
use super::error::{LakeError, Result};
use super::layout::{self, Commit, TRASH_PREFIX};

/// Days to keep, by source tag, with a default for the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Days to keep sources not listed in `per_source`; `None` keeps them forever.
    pub default_days: Option<u32>,
    /// Days to keep each named source (overrides the default, longer or shorter).
    pub per_source: BTreeMap<String, u32>,
}

/// What one retention pass deleted.
#[derive(Debug, Default)]
pub struct RetentionReport {
    /// Partitions deleted whole.
    pub partitions_deleted: usize,
    /// Partitions rewritten without the rows of expired sources.
    pub partitions_rewritten: usize,
    /// Rows removed by those rewrites (rows of deleted partitions are not counted: deleting
    /// them reads nothing).
    pub rows_removed: u64,
    /// Partitions left alone because a file could not be read; each error names the file.
    pub errors: Vec<LakeError>,
}

fn cutoff(now: Timestamp, days: u32) -> Timestamp {
    now.checked_sub(SignedDuration::from_hours(i64::from(days) * 24))
        .unwrap_or(Timestamp::MIN)
}

impl Lake {
    /// Applies `policy` as of `now`. Meant to be called periodically by the server.
    pub fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport> {
        let _pass = self.maintenance_lock();
        let mut report = RetentionReport::default();
        // The newest cutoff of all: a partition ending before it is expired for every source.
        // With no default, unlisted sources never expire and partitions are only rewritten.
        let whole = policy.default_days.map(|d| {
            let longest = policy.per_source.values().copied().fold(d, u32::max);
            cutoff(now, longest)
        });
        let committed = Commit::read(self.root())?;
        for (partition, dir) in layout::partitions(self.root())? {
            let end = partition.end();
            if whole.is_some_and(|w| end <= w) {
                // Unique, so a trash left by a crashed pass never blocks the rename.
                let trash = self.root().join(format!(
                    "{TRASH_PREFIX}{}-{:02}-{}",
                    partition.date,
                    partition.hour,
                    Timestamp::now().as_nanosecond()
                ));
                {
                    let _guard = self.layout_lock();
                    layout::rename_durably(&dir, &trash)?;
                }
                std::fs::remove_dir_all(&trash).map_err(LakeError::io(&trash))?;
                report.partitions_deleted += 1;
                continue;
            }
            let expired: Vec<&str> = policy
                .per_source
                .iter()
                .filter(|(_, days)| end <= cutoff(now, **days))
                .map(|(s, _)| s.as_str())
                .collect();
            let default_expired = policy.default_days.is_some_and(|d| end <= cutoff(now, d));
            if expired.is_empty() && !default_expired {
                continue;
            }
            // Which rows go: those of an expired listed source, and (when the default has
            // expired) those of any source not listed.
            let drop_row = |source: &str| {
                if policy.per_source.contains_key(source) {
                    expired.contains(&source)
                } else {
                    default_expired
                }
            };
            let keep =
                |batch: &datafusion::arrow::array::RecordBatch| -> Result<Option<BooleanArray>> {
                    let sources = batch
                        .column_by_name("source")
                        .and_then(|c| c.as_string_opt::<i32>())
                        .ok_or_else(|| LakeError::Corrupt {
                            path: dir.clone(),
                            reason: "no text column `source`".to_string(),
                        })?;
                    let mask: BooleanArray = (0..sources.len())
                        .map(|i| Some(sources.is_null(i) || !drop_row(sources.value(i))))
                        .collect();
                    Ok(Some(mask))
                };
            let files = layout::data_files(partition, &dir)?;
            let (shown, _) = layout::visible(
                files.into_iter().map(|f| (f.range, f)).collect(),
                committed.flush,
            );
            let shown: Vec<_> = shown.into_iter().map(|(_, f)| f).collect();
            let before: u64 = match count_rows(&shown) {
                Ok(n) => n,
                Err(e) => {
                    report.errors.push(e);
                    continue;
                }
            };
            let has_expired_rows = match any_row(&shown, &keep) {
                Ok(found) => found,
                Err(e) => {
                    report.errors.push(e);
                    continue;
                }
            };
            if !has_expired_rows {
                continue;
            }
            match self.rewrite(partition, &shown, &keep) {
                Ok(after) => {
                    report.partitions_rewritten += 1;
                    report.rows_removed += before.saturating_sub(after);
                }
                Err(e) => report.errors.push(e),
            }
        }
        self.remove_empty_dates()?;
        Ok(report)
    }

    /// Removes `date=…` directories whose hours are all gone.
    fn remove_empty_dates(&self) -> Result<()> {
        let _guard = self.layout_lock();
        for name in layout::read_dir_names(self.root())? {
            if !name.starts_with("date=") {
                continue;
            }
            let dir = self.root().join(name);
            if dir.is_dir() && layout::read_dir_names(&dir)?.is_empty() {
                std::fs::remove_dir(&dir).map_err(LakeError::io(&dir))?;
            }
        }
        layout::sync_dir(self.root())
    }
}

/// Rows in `files`, from their footers.
fn count_rows(files: &[layout::DataFile]) -> Result<u64> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let mut n = 0u64;
    for f in files {
        let file = std::fs::File::open(&f.path).map_err(LakeError::io(&f.path))?;
        let reader = SerializedFileReader::new(file).map_err(LakeError::parquet(&f.path))?;
        n += reader.metadata().file_metadata().num_rows().max(0) as u64;
    }
    Ok(n)
}

/// True when some row of `files` is one `keep` drops (reads only the `source` column).
fn any_row(
    files: &[layout::DataFile],
    keep: &dyn Fn(&datafusion::arrow::array::RecordBatch) -> Result<Option<BooleanArray>>,
) -> Result<bool> {
    use datafusion::parquet::arrow::ProjectionMask;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    for f in files {
        let file = std::fs::File::open(&f.path).map_err(LakeError::io(&f.path))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(LakeError::parquet(&f.path))?;
        let Some(index) = builder.schema().index_of("source").ok() else {
            return Err(LakeError::Corrupt {
                path: f.path.clone(),
                reason: "no column `source`".to_string(),
            });
        };
        let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(LakeError::parquet(&f.path))?;
        for batch in reader {
            let batch = batch.map_err(|e| LakeError::Parquet {
                path: f.path.clone(),
                source: e.into(),
            })?;
            if let Some(mask) = keep(&batch)?
                && mask.false_count() > 0
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
