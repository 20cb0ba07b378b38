//! Buffering rows and flushing them as Parquet files, atomically and durably.
//!
//! A flush writes one file per partition the buffered rows fall in, each first into `_tmp/`,
//! fsynced, then renamed into its partition (directories fsynced), and only then records the
//! flush in `_committed`. Readers see none of a flush's files before that record is replaced
//! and all of them after (see [`super::layout`]), so a crash mid-flush leaves nothing half
//! written or half visible; reopening deletes the orphans and the journal replays their rows.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::{WriterProperties, WriterVersion};

use super::Lake;
use super::error::{LakeError, Result};
use super::layout::{self, Commit, FileRange, LOCK_FILE, Partition, TMP_DIR, TRASH_PREFIX};
use super::row::{LakeRow, file_schema, rows_to_batch};

/// When the writer flushes on its own ([`LakeWriter::flush_if_due`]).
#[derive(Clone, Debug)]
pub struct FlushPolicy {
    /// Flush once this many rows are buffered.
    pub max_rows: usize,
    /// Flush once the buffered rows hold about this many bytes.
    pub max_bytes: usize,
    /// Flush once the oldest buffered row has waited this long.
    pub max_age: Duration,
}

impl Default for FlushPolicy {
    /// 100,000 rows, 64 MiB or 30 s: files of a few MB at sustained load, and events
    /// searchable within half a minute at a trickle.
    fn default() -> Self {
        FlushPolicy {
            max_rows: 100_000,
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(30),
        }
    }
}

/// What one flush made durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushOutcome {
    /// The flush number (the `LO`/`HI` of its file names).
    pub flush: u64,
    /// The files written, one per partition.
    pub files: Vec<PathBuf>,
    /// Rows written.
    pub rows: usize,
    /// Every row appended with a position up to this one is now durable: the journal
    /// consumer feeding the lake may commit its offset here.
    pub durable_through: Option<u64>,
}

/// What reopening the lake for writing cleaned up after a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Temp files of interrupted flushes, compactions or commits.
    pub temp_files: usize,
    /// Files of a flush that was renamed into place but never committed.
    pub uncommitted_files: usize,
    /// Files a merged file replaced, left behind by an interrupted compaction.
    pub replaced_files: usize,
    /// Partitions renamed away for deletion by an interrupted retention pass.
    pub trashed_partitions: usize,
}

/// Holds the exclusive lock on `<lake>/_lock` ([`crate::lockfile`]).
#[derive(Debug)]
struct WriteLock {
    _file: File,
}

impl WriteLock {
    fn acquire(lake: &Path) -> Result<WriteLock> {
        let path = lake.join(LOCK_FILE);
        match crate::lockfile::lock_exclusive(&path) {
            Ok(Some(file)) => Ok(WriteLock { _file: file }),
            Ok(None) => Err(LakeError::Locked { path }),
            Err(e) => Err(LakeError::io(&path)(e)),
        }
    }
}

/// The lake's single writer: buffers rows per partition and flushes them to Parquet.
///
/// Rows come with the journal position they were read at. Positions must not go back; rows at
/// or before the committed position are skipped, so replaying the journal from an older
/// offset after a crash writes nothing twice. Call [`LakeWriter::flush`] (or
/// [`LakeWriter::flush_if_due`]) between journal records, not in the middle of one.
#[derive(Debug)]
pub struct LakeWriter {
    lake: Lake,
    policy: FlushPolicy,
    buffer: BTreeMap<Partition, Vec<LakeRow>>,
    rows: usize,
    bytes: usize,
    oldest: Option<Instant>,
    last_position: Option<u64>,
    committed: Commit,
    recovery: Recovery,
    _lock: WriteLock,
}

impl LakeWriter {
    /// Opens `lake` for writing: takes the write lock, then deletes what a crash left behind
    /// (see [`Recovery`]).
    pub fn open(lake: &Lake, policy: FlushPolicy) -> Result<LakeWriter> {
        let root = lake.root();
        layout::create_dir_durably(&root.join(TMP_DIR))?;
        let lock = WriteLock::acquire(root)?;
        let committed = Commit::read(root)?;
        let recovery = recover(root, committed)?;
        Ok(LakeWriter {
            lake: lake.clone(),
            policy,
            buffer: BTreeMap::new(),
            rows: 0,
            bytes: 0,
            oldest: None,
            last_position: committed.through,
            committed,
            recovery,
            _lock: lock,
        })
    }

    /// What opening cleaned up.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The last position whose rows are all durable: replay the journal after it.
    pub fn durable_through(&self) -> Option<u64> {
        self.committed.through
    }

    /// The journal offset the lake's consumer may commit (the next one to read): one past
    /// [`LakeWriter::durable_through`]; `None` while nothing is durable.
    pub fn consumer_offset(&self) -> Option<u64> {
        self.committed.through.map(|p| p.saturating_add(1))
    }

    /// Rows buffered and not yet durable.
    pub fn buffered_rows(&self) -> usize {
        self.rows
    }

    /// Buffers `row`, read at journal `position`. Returns `false` (and drops the row) when
    /// `position` is already durable, which happens while the journal replays after a crash.
    pub fn append(&mut self, row: LakeRow, position: u64) -> Result<bool> {
        if self.committed.through.is_some_and(|c| position <= c) {
            return Ok(false);
        }
        if let Some(last) = self.last_position
            && position < last
        {
            return Err(LakeError::PositionOutOfOrder { position, last });
        }
        self.last_position = Some(position);
        self.rows += 1;
        self.bytes += row.size();
        self.oldest.get_or_insert_with(Instant::now);
        self.buffer
            .entry(Partition::of(row.time))
            .or_default()
            .push(row);
        Ok(true)
    }

    /// True when a [`FlushPolicy`] limit is reached.
    pub fn is_due(&self) -> bool {
        self.rows >= self.policy.max_rows
            || self.bytes >= self.policy.max_bytes
            || self
                .oldest
                .is_some_and(|t| t.elapsed() >= self.policy.max_age)
    }

    /// Flushes when [`LakeWriter::is_due`].
    pub fn flush_if_due(&mut self) -> Result<Option<FlushOutcome>> {
        if self.is_due() {
            self.flush()
        } else {
            Ok(None)
        }
    }

    /// Writes every buffered row to Parquet and commits the flush. `None` when nothing was
    /// buffered. On error the rows stay buffered and the next flush tries again.
    pub fn flush(&mut self) -> Result<Option<FlushOutcome>> {
        if self.rows == 0 {
            return Ok(None);
        }
        let root = self.lake.root().to_path_buf();
        let flush = self.committed.flush.map_or(1, |f| f + 1);
        let range = FileRange {
            lo: flush,
            hi: flush,
        };
        let mut staged = Vec::with_capacity(self.buffer.len());
        for (partition, rows) in &mut self.buffer {
            // Sorted by time, each row group covers a narrow time range and its statistics
            // let time-bounded queries skip it.
            rows.sort_by_key(|r| r.time);
            let tmp = root.join(TMP_DIR).join(format!(
                "{}-{:02}-{}.tmp",
                partition.date,
                partition.hour,
                range.file_name()
            ));
            write_parquet(&tmp, rows, self.lake.config().row_group_rows)?;
            staged.push((tmp, root.join(partition.rel_dir()).join(range.file_name())));
        }
        let commit = Commit {
            flush: Some(flush),
            through: self.last_position,
        };
        {
            // Retention renames partition directories away; a flush must not rename a file
            // into one that is on its way out.
            let _guard = self.lake.layout_lock();
            for (tmp, dest) in &staged {
                let dir = dest.parent().expect("partition directory");
                layout::create_dir_durably(dir)?;
                std::fs::rename(tmp, dest).map_err(LakeError::io(dest))?;
            }
            let mut dirs: Vec<&Path> = staged.iter().filter_map(|(_, d)| d.parent()).collect();
            dirs.dedup();
            for dir in dirs {
                layout::sync_dir(dir)?;
            }
            commit.write(&root)?;
        }
        let outcome = FlushOutcome {
            flush,
            files: staged.into_iter().map(|(_, dest)| dest).collect(),
            rows: self.rows,
            durable_through: commit.through,
        };
        self.committed = commit;
        self.buffer.clear();
        self.rows = 0;
        self.bytes = 0;
        self.oldest = None;
        Ok(Some(outcome))
    }
}

/// The Parquet writer settings every lake file uses.
pub(crate) fn writer_properties(row_group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        // zstd level 1: close to snappy's speed, a third smaller on log text and JSON.
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "vigil.lake.schema".to_string(),
            "1".to_string(),
        )]))
        .build()
}

/// Writes `rows` as the Parquet file `path` (fsynced before returning).
fn write_parquet(path: &Path, rows: &[LakeRow], row_group_rows: usize) -> Result<()> {
    let file = File::create(path).map_err(LakeError::io(path))?;
    let mut writer =
        ArrowWriter::try_new(file, file_schema(), Some(writer_properties(row_group_rows)))
            .map_err(LakeError::parquet(path))?;
    for chunk in rows.chunks(row_group_rows.max(1)) {
        let batch = rows_to_batch(chunk)?;
        writer.write(&batch).map_err(LakeError::parquet(path))?;
    }
    let file = writer.into_inner().map_err(LakeError::parquet(path))?;
    file.sync_all().map_err(LakeError::io(path))
}

/// Deletes what an interrupted flush, compaction or retention pass left: temp files, files of
/// an uncommitted flush, files a merged file replaced, trashed partitions.
fn recover(root: &Path, committed: Commit) -> Result<Recovery> {
    let mut rec = Recovery::default();
    let tmp = root.join(TMP_DIR);
    for name in layout::read_dir_names(&tmp)? {
        let path = tmp.join(name);
        std::fs::remove_file(&path).map_err(LakeError::io(&path))?;
        rec.temp_files += 1;
    }
    for name in layout::read_dir_names(root)? {
        if name.starts_with(TRASH_PREFIX) {
            let path = root.join(name);
            std::fs::remove_dir_all(&path).map_err(LakeError::io(&path))?;
            rec.trashed_partitions += 1;
        }
    }
    for (partition, dir) in layout::partitions(root)? {
        let files = layout::data_files(partition, &dir)?;
        let entries = files.into_iter().map(|f| (f.range, f)).collect();
        let (_, hidden) = layout::visible(entries, committed.flush);
        for (range, file) in &hidden {
            std::fs::remove_file(&file.path).map_err(LakeError::io(&file.path))?;
            if committed.flush.is_some_and(|c| range.hi <= c) {
                rec.replaced_files += 1;
            } else {
                rec.uncommitted_files += 1;
            }
        }
        if !hidden.is_empty() {
            layout::sync_dir(&dir)?;
        }
    }
    layout::sync_dir(root)?;
    Ok(rec)
}
