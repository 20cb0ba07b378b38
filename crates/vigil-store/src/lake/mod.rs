//! The event lake: every event as a row of time-partitioned Parquet files, queryable with SQL
//! as the table `events`.
//!
//! What this is for: hunting back through history (`SELECT … FROM events WHERE …`), retro-hunts
//! over a time range, per-source retention. Rows have fixed OCSF-aligned columns (see
//! [`row`]) plus the raw event as JSON, so one query works across sources and nothing a
//! decoder produced is lost.
//!
//! What this is not for: the durable hand-off from ingest (that is the journal: the lake is
//! fed from it and tells it how far it may commit), or alert state.
//!
//! - [`LakeWriter`]: buffers rows, flushes one file per hour partition, atomically.
//! - [`Lake::compact`]: merges the small files of closed partitions (background).
//! - [`Lake::apply_retention`]: deletes expired partitions, or expired sources' rows.
//! - [`Lake::query`]: SQL through DataFusion, with row, time and memory limits.
//! - [`Lake::scan_blocking`]: every stored event of a time range, streamed (retro-hunts).
//!
//! The file layout and the rule that keeps readers from ever seeing a row twice or missing one
//! across flushes, compactions and crashes are in [`layout`].

mod compact;
mod error;
pub mod layout;
mod query;
mod retention;
pub mod row;
mod scan;
mod table;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use compact::CompactionReport;
pub use error::{LakeError, Result};
pub use layout::Partition;
pub use query::{QueryLimits, QueryResult};
pub use retention::{RetentionPolicy, RetentionReport};
pub use row::{EntityColumns, EntityFiller, EntityInput, LakeRow, fill_from_native_fields};
pub use scan::{ScanRange, ScanStats, StoredEvent};
pub use writer::{FlushOutcome, FlushPolicy, LakeWriter, Recovery};

/// Settings shared by the writer, compaction and queries.
#[derive(Clone, Debug)]
pub struct LakeConfig {
    /// Rows per Parquet row group (the unit a time filter can skip).
    pub row_group_rows: usize,
    /// A partition is closed, and may be compacted, this long after its hour ends (late
    /// events still arrive for a while).
    pub close_after: jiff::SignedDuration,
    /// Compaction merges files up to this many bytes into one.
    pub compact_target_bytes: u64,
}

impl Default for LakeConfig {
    /// 64k-row groups, partitions closed 15 minutes after their hour, merged files up to
    /// 512 MiB.
    fn default() -> Self {
        LakeConfig {
            row_group_rows: 64 * 1024,
            close_after: jiff::SignedDuration::from_mins(15),
            compact_target_bytes: 512 << 20,
        }
    }
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    config: LakeConfig,
    /// Serialises the moves that change which files a partition holds (flush renames,
    /// compaction swaps, retention removals) within this process.
    layout: Mutex<()>,
    /// One compaction or retention pass at a time.
    maintenance: Mutex<()>,
}

/// A handle on the lake directory, cheap to clone and share between the writer, the
/// background compaction and query handlers. Opening one for reading takes no lock: queries
/// from another process (`vigil query --data DIR`) see exactly what is committed.
#[derive(Clone, Debug)]
pub struct Lake {
    inner: Arc<Inner>,
}

impl Lake {
    /// Opens (creating if needed) the lake at `root` (the server uses `<data>/lake`).
    pub fn open(root: impl Into<PathBuf>, config: LakeConfig) -> Result<Lake> {
        let root = root.into();
        layout::create_dir_durably(&root)?;
        Ok(Lake {
            inner: Arc::new(Inner {
                root,
                config,
                layout: Mutex::new(()),
                maintenance: Mutex::new(()),
            }),
        })
    }

    /// The lake directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The lake's settings.
    pub fn config(&self) -> &LakeConfig {
        &self.inner.config
    }

    fn layout_lock(&self) -> MutexGuard<'_, ()> {
        // A panic while holding the lock leaves files as valid as after a crash.
        self.inner
            .layout
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn maintenance_lock(&self) -> MutexGuard<'_, ()> {
        self.inner
            .maintenance
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The data files a reader sees now, in partition order.
    pub fn visible_files(&self) -> Result<Vec<layout::DataFile>> {
        let committed = layout::Commit::read(self.root())?;
        let mut out = Vec::new();
        for (partition, dir) in layout::partitions(self.root())? {
            let files = layout::data_files(partition, &dir)?;
            let (shown, _) = layout::visible(
                files.into_iter().map(|f| (f.range, f)).collect(),
                committed.flush,
            );
            out.extend(shown.into_iter().map(|(_, f)| f));
        }
        Ok(out)
    }
}
