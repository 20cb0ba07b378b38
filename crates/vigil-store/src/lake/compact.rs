//! Background compaction: the many small files a partition collects (one per flush) become
//! one, so queries open few files and read long row groups.
//!
//! A merge writes the new file into `_tmp/` (fsynced), renames it into the partition as
//! `part-LO-HI.parquet` — from that instant it hides the files `LO..=HI` it replaces (see
//! [`super::layout`]) — then deletes them. A crash before the rename leaves a temp file that
//! the next open deletes; after it, files that are hidden already and deleted at the next
//! pass. Rows are copied batch by batch, so memory stays bounded whatever the partition's size.

use std::fs::File;
use std::path::Path;

use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use jiff::Timestamp;

use super::Lake;
use super::error::{LakeError, Result};
use super::layout::{self, Commit, DataFile, FileRange, Partition, TMP_DIR};
use super::row::file_schema;
use super::writer::writer_properties;

/// What one compaction pass did.
#[derive(Debug, Default)]
pub struct CompactionReport {
    /// Partitions that got a merged file.
    pub partitions: usize,
    /// Files merged away.
    pub files_merged: usize,
    /// Merged files written.
    pub files_written: usize,
    /// Rows copied into merged files.
    pub rows: u64,
    /// Hidden files deleted (replaced by a merge that was interrupted before deleting them).
    pub hidden_deleted: usize,
    /// Partitions skipped because a file could not be read or did not add up; each error names
    /// the file, which is left as it was.
    pub errors: Vec<LakeError>,
}

/// Decides, per record batch, which rows a rewrite keeps (`None`: all of them).
pub(crate) type RowFilter<'a> = &'a dyn Fn(&RecordBatch) -> Result<Option<BooleanArray>>;

impl Lake {
    /// Merges the files of every partition closed at `now` (its hour ended at least
    /// [`super::LakeConfig::close_after`] earlier) that has more than one, and deletes files
    /// an interrupted merge left hidden. Meant to be called periodically by the server.
    pub fn compact(&self, now: Timestamp) -> Result<CompactionReport> {
        let _pass = self.maintenance_lock();
        let mut report = CompactionReport::default();
        let committed = Commit::read(self.root())?;
        for (partition, dir) in layout::partitions(self.root())? {
            let files = layout::data_files(partition, &dir)?;
            let (shown, hidden) = layout::visible(
                files.into_iter().map(|f| (f.range, f)).collect(),
                committed.flush,
            );
            // Hidden files of committed flushes were replaced by a merged file; those of
            // uncommitted flushes belong to the writer's flush in progress: leave them.
            let replaced: Vec<_> = hidden
                .into_iter()
                .filter(|(r, _)| committed.flush.is_some_and(|c| r.hi <= c))
                .map(|(_, f)| f)
                .collect();
            if !replaced.is_empty() {
                report.hidden_deleted += self.delete_replaced(&dir, &replaced)?;
            }
            let closed = partition
                .end()
                .checked_add(self.config().close_after)
                .is_ok_and(|t| now >= t);
            if !closed || shown.len() < 2 {
                continue;
            }
            for group in merge_groups(shown.into_iter().map(|(_, f)| f).collect(), self) {
                let inputs = group.len();
                match self.rewrite(partition, &group, &|_| Ok(None)) {
                    Ok(rows) => {
                        report.files_merged += inputs;
                        report.files_written += 1;
                        report.rows += rows;
                        report.partitions += 1;
                    }
                    Err(e) => report.errors.push(e),
                }
            }
        }
        Ok(report)
    }

    /// Replaces `files` (consecutive visible files of `partition`, in range order) by one file
    /// holding the rows `keep` accepts, covering their whole flush range. Returns the rows
    /// written. The olds are deleted once the new file is in place.
    pub(crate) fn rewrite(
        &self,
        partition: Partition,
        files: &[DataFile],
        keep: RowFilter<'_>,
    ) -> Result<u64> {
        let (Some(first), Some(last)) = (files.first(), files.last()) else {
            return Ok(0);
        };
        let range = FileRange {
            lo: first.range.lo,
            hi: last.range.hi,
        };
        let dest = self
            .root()
            .join(partition.rel_dir())
            .join(range.file_name());
        let tmp = self.root().join(TMP_DIR).join(format!(
            "{}-{:02}-{}.merge.tmp",
            partition.date,
            partition.hour,
            range.file_name()
        ));
        let rows = match copy_rows(files, &tmp, self.config().row_group_rows, keep) {
            Ok(rows) => rows,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let _guard = self.layout_lock();
        let dir = dest.parent().expect("partition directory");
        if files.iter().any(|f| !f.path.exists()) {
            // Retention removed the partition meanwhile: nothing to replace.
            let _ = std::fs::remove_file(&tmp);
            return Ok(0);
        }
        if files.len() == 1 && dest == first.path {
            // A rewrite of a single file keeps its name: rename over it (atomic).
            layout::rename_durably(&tmp, &dest)?;
            return Ok(rows);
        }
        layout::rename_durably(&tmp, &dest)?;
        self.delete_replaced(dir, files)?;
        Ok(rows)
    }

    fn delete_replaced(&self, dir: &Path, files: &[DataFile]) -> Result<usize> {
        let mut n = 0;
        for f in files {
            match std::fs::remove_file(&f.path) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LakeError::io(&f.path)(e)),
            }
        }
        layout::sync_dir(dir)?;
        Ok(n)
    }
}

/// Splits a partition's visible files (in range order) into runs to merge: consecutive files
/// up to the target size; a run of one file is left alone.
fn merge_groups(files: Vec<DataFile>, lake: &Lake) -> Vec<Vec<DataFile>> {
    let target = lake.config().compact_target_bytes;
    let mut groups: Vec<Vec<DataFile>> = Vec::new();
    let mut current: Vec<DataFile> = Vec::new();
    let mut size = 0;
    for f in files {
        if !current.is_empty() && size + f.size > target {
            groups.push(std::mem::take(&mut current));
            size = 0;
        }
        size += f.size;
        current.push(f);
    }
    groups.push(current);
    groups.retain(|g| g.len() > 1);
    groups
}

/// Copies the rows of `files` that `keep` accepts into the new Parquet file `dest` (fsynced),
/// checking that every row read was accounted for.
fn copy_rows(
    files: &[DataFile],
    dest: &Path,
    row_group_rows: usize,
    keep: RowFilter<'_>,
) -> Result<u64> {
    let out = File::create(dest).map_err(LakeError::io(dest))?;
    let mut writer =
        ArrowWriter::try_new(out, file_schema(), Some(writer_properties(row_group_rows)))
            .map_err(LakeError::parquet(dest))?;
    let mut written = 0u64;
    for f in files {
        let (expected, read) = copy_file(&f.path, &mut writer, &mut written, keep)?;
        if expected != read {
            return Err(LakeError::Corrupt {
                path: f.path.clone(),
                reason: format!("footer says {expected} rows, {read} were read"),
            });
        }
    }
    let out = writer.into_inner().map_err(LakeError::parquet(dest))?;
    out.sync_all().map_err(LakeError::io(dest))?;
    Ok(written)
}

/// Streams one file's batches through `keep` into `writer`; returns (rows the footer
/// declares, rows read).
fn copy_file(
    path: &Path,
    writer: &mut ArrowWriter<File>,
    written: &mut u64,
    keep: RowFilter<'_>,
) -> Result<(u64, u64)> {
    let file = File::open(path).map_err(LakeError::io(path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(LakeError::parquet(path))?;
    let schema = file_schema();
    if builder.schema().fields() != schema.fields() {
        return Err(LakeError::Corrupt {
            path: path.to_path_buf(),
            reason: "schema differs from the lake's".to_string(),
        });
    }
    let expected = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(LakeError::parquet(path))?;
    let mut read = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| LakeError::Parquet {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        read += batch.num_rows() as u64;
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?;
        let batch = match keep(&batch)? {
            None => batch,
            Some(mask) => filter_record_batch(&batch, &mask)?,
        };
        if batch.num_rows() > 0 {
            *written += batch.num_rows() as u64;
            writer.write(&batch).map_err(LakeError::parquet(path))?;
        }
    }
    Ok((expected, read))
}
