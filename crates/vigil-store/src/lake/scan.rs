//! Reading stored events back in full, for a retro-hunt: every row of a time range (and
//! optionally one source), streamed batch by batch so a range of any size is read in bounded
//! memory, with what is needed to rebuild the decoded event (logsource, origin, raw fields).
//!
//! A scan holds the lake's maintenance lock, so compaction and retention in this process
//! cannot merge away or expire a file the scan has listed but not yet read.

use std::ops::ControlFlow;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{TimestampMicrosecondType, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::prelude::{col, lit};
use futures::StreamExt;
use jiff::Timestamp;

use super::Lake;
use super::error::{LakeError, Result};
use super::query::QueryLimits;

/// Which stored events a scan reads: `from <= time < to`, optionally of one source tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanRange {
    /// Inclusive lower bound on the event time (`None`: from the oldest).
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on the event time (`None`: up to the newest).
    pub to: Option<Timestamp>,
    /// Only events that arrived under this source tag.
    pub source: Option<String>,
}

/// One stored event, borrowed from the batch being read.
#[derive(Clone, Copy, Debug)]
pub struct StoredEvent<'a> {
    pub time: Timestamp,
    pub source: &'a str,
    pub file: &'a str,
    pub record_id: Option<u64>,
    pub byte_offset: Option<u64>,
    pub product: Option<&'a str>,
    pub service: Option<&'a str>,
    pub category: Option<&'a str>,
    /// The event's fields as one flat JSON object (`Event::to_json`).
    pub raw: &'a str,
}

/// What a scan read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Rows handed to the callback.
    pub rows: u64,
    /// Whether the callback stopped the scan before the end of the range.
    pub stopped: bool,
}

/// The columns a scan reads, in this order.
const COLUMNS: [&str; 9] = [
    "time",
    "source",
    "file",
    "record_id",
    "byte_offset",
    "product",
    "service",
    "category",
    "raw",
];

impl Lake {
    /// Streams every committed event in `range` to `each` (in no particular order) until the
    /// range ends or `each` breaks. `memory_bytes` bounds what the scan's operators hold. Runs
    /// on a runtime of its own: call it from a blocking thread, not from async code.
    pub fn scan_blocking(
        &self,
        range: &ScanRange,
        memory_bytes: usize,
        mut each: impl FnMut(StoredEvent<'_>) -> ControlFlow<()>,
    ) -> Result<ScanStats> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(LakeError::InsideRuntime);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(LakeError::io(self.root()))?;
        let _maintenance = self.maintenance_lock();
        runtime
            .block_on(self.scan(range, memory_bytes, &mut each))
            .map_err(LakeError::from_datafusion)
    }

    async fn scan(
        &self,
        range: &ScanRange,
        memory_bytes: usize,
        each: &mut impl FnMut(StoredEvent<'_>) -> ControlFlow<()>,
    ) -> Result<ScanStats, DataFusionError> {
        let limits = QueryLimits {
            memory_bytes,
            ..QueryLimits::default()
        };
        let ctx = self.session(&limits)?;
        let mut df = ctx.table("events").await?.select_columns(&COLUMNS)?;
        let micros = |t: Timestamp| {
            lit(ScalarValue::TimestampMicrosecond(
                Some(t.as_microsecond()),
                Some("UTC".into()),
            ))
        };
        if let Some(from) = range.from {
            df = df.filter(col("time").gt_eq(micros(from)))?;
        }
        if let Some(to) = range.to {
            df = df.filter(col("time").lt(micros(to)))?;
        }
        if let Some(source) = &range.source {
            df = df.filter(col("source").eq(lit(source.as_str())))?;
        }
        let mut stream = df.execute_stream().await?;
        let mut stats = ScanStats::default();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if deliver(&batch, each, &mut stats)?.is_break() {
                // Dropping the stream cancels the rest of the scan.
                stats.stopped = true;
                break;
            }
        }
        Ok(stats)
    }
}

/// Hands the rows of one batch (columns in [`COLUMNS`] order) to `each`.
fn deliver(
    batch: &RecordBatch,
    each: &mut impl FnMut(StoredEvent<'_>) -> ControlFlow<()>,
    stats: &mut ScanStats,
) -> Result<ControlFlow<()>, DataFusionError> {
    let column = |i: usize| batch.column(i);
    let time = column(0)
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| schema_error("time"))?;
    let strings = |i: usize| {
        column(i)
            .as_string_opt::<i32>()
            .ok_or_else(|| schema_error(COLUMNS[i]))
    };
    let numbers = |i: usize| {
        column(i)
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| schema_error(COLUMNS[i]))
    };
    let (source, file, record_id, byte_offset) =
        (strings(1)?, strings(2)?, numbers(3)?, numbers(4)?);
    let (product, service, category, raw) = (strings(5)?, strings(6)?, strings(7)?, strings(8)?);
    for row in 0..batch.num_rows() {
        let Ok(at) = Timestamp::from_microsecond(time.value(row)) else {
            return Err(schema_error("time (out of range)"));
        };
        let event = StoredEvent {
            time: at,
            source: source.value(row),
            file: file.value(row),
            record_id: (!record_id.is_null(row)).then(|| record_id.value(row)),
            byte_offset: (!byte_offset.is_null(row)).then(|| byte_offset.value(row)),
            product: text(product, row),
            service: text(service, row),
            category: text(category, row),
            raw: raw.value(row),
        };
        stats.rows += 1;
        if each(event).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// The string at `row`, or `None` when it is null.
fn text(a: &StringArray, row: usize) -> Option<&str> {
    (!a.is_null(row)).then(|| a.value(row))
}

fn schema_error(column: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "lake column `{column}` does not have the lake's type"
    ))
}
