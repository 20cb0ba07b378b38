//! SQL over the lake: the table `events` (every column of [`super::row`] plus the partition
//! columns `date`, `'YYYY-MM-DD'`, and `hour`, 0–23, both UTC), read-only, with limits.
//!
//! Each query gets its own DataFusion session over a snapshot of the commit record: no cache
//! can serve it a listing older than the last flush, and the memory limit is per query.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::json::{WriterBuilder, writer::JsonArray};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;

use super::Lake;
use super::error::{LakeError, Result};
use super::layout::Commit;
use super::row::file_schema;
use super::table::{EventsTable, VisibleFiles};

/// Bounds on one query, so an analyst's `SELECT *` cannot exhaust the server.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    /// Rows returned at most; the result says when more were available.
    pub max_rows: usize,
    /// Wall-clock limit; the query is cancelled when it runs out (`None`: no limit).
    pub timeout: Option<Duration>,
    /// Memory the query's operators may hold (sorts, aggregations, joins), in bytes.
    pub memory_bytes: usize,
}

impl Default for QueryLimits {
    /// 10,000 rows, 30 s, 512 MiB.
    fn default() -> Self {
        QueryLimits {
            max_rows: 10_000,
            timeout: Some(Duration::from_secs(30)),
            memory_bytes: 512 << 20,
        }
    }
}

/// A query's answer: Arrow batches, and a JSON rendering for the API and the CLI.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// The result's columns.
    pub schema: SchemaRef,
    /// The rows, at most [`QueryLimits::max_rows`].
    pub batches: Vec<RecordBatch>,
    /// Rows in `batches`.
    pub row_count: usize,
    /// True when the query had more rows than the limit allowed.
    pub truncated: bool,
}

impl QueryResult {
    /// The column names, in order.
    pub fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// One JSON object per row (null columns included as `null`; timestamps as RFC 3339
    /// text).
    pub fn json_rows(&self) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(Vec::new());
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        writer.write_batches(&batches)?;
        writer.finish()?;
        let bytes = writer.into_inner();
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(&bytes)
            .map_err(|e| LakeError::Query {
                message: format!("rendering rows as JSON: {e}"),
            })?;
        Ok(rows)
    }

    /// `{"columns": [...], "rows": [{...}], "row_count": n, "truncated": bool}`.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({
            "columns": self.column_names(),
            "rows": self.json_rows()?,
            "row_count": self.row_count,
            "truncated": self.truncated,
        }))
    }
}

impl Lake {
    /// Runs `sql` against the table `events`. Only queries run (`SELECT`, `WITH`, `EXPLAIN`);
    /// DDL, DML and `SET` are refused with [`LakeError::Sql`], as are SQL errors. Needs a tokio
    /// runtime with timers enabled when `limits.timeout` is set.
    pub async fn query(&self, sql: &str, limits: &QueryLimits) -> Result<QueryResult> {
        let run = self.query_retrying(sql, limits);
        match limits.timeout {
            // No time at all: refused before it starts (`timeout` polls the query once first,
            // and a query that never waits would finish inside a zero limit).
            Some(t) if t.is_zero() => Err(LakeError::Timeout(t)),
            Some(t) => tokio::time::timeout(t, run)
                .await
                .map_err(|_| LakeError::Timeout(t))?,
            None => run.await,
        }
    }

    /// [`Lake::query`] on a runtime of its own, for callers without one (the CLI reading a data
    /// directory directly). Fails with [`LakeError::InsideRuntime`] on a runtime thread.
    pub fn query_blocking(&self, sql: &str, limits: &QueryLimits) -> Result<QueryResult> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(LakeError::InsideRuntime);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(LakeError::io(self.root()))?;
        runtime.block_on(self.query(sql, limits))
    }

    async fn query_retrying(&self, sql: &str, limits: &QueryLimits) -> Result<QueryResult> {
        // A file listed by the query may be merged away or expired before it is read; the
        // rerun lists again and sees its replacement.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.query_once(sql, limits).await {
                Err(e) if attempt < 3 && LakeError::is_vanished_file(&e) => continue,
                other => return other.map_err(LakeError::from_datafusion),
            }
        }
    }

    async fn query_once(
        &self,
        sql: &str,
        limits: &QueryLimits,
    ) -> Result<QueryResult, DataFusionError> {
        let ctx = self.session(limits)?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = ctx.sql_with_options(sql, options).await?;
        // The limit lets scans stop early. EXPLAIN and EXPLAIN ANALYZE cannot take it (they
        // must stay the root of their plan; DataFusion refuses to plan them otherwise) and
        // return a few rows anyway; the stream below bounds every result either way.
        let df = if matches!(
            df.logical_plan(),
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)
        ) {
            df
        } else {
            df.limit(0, Some(limits.max_rows.saturating_add(1)))?
        };
        let mut stream = df.execute_stream().await?;
        let schema = stream.schema();
        let mut batches = Vec::new();
        let mut row_count = 0;
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let room = limits.max_rows - row_count;
            if batch.num_rows() > room {
                // Dropping the stream cancels the rest of the query.
                truncated = true;
                if room > 0 {
                    batches.push(batch.slice(0, room));
                    row_count += room;
                }
                break;
            }
            row_count += batch.num_rows();
            if batch.num_rows() > 0 {
                batches.push(batch);
            }
        }
        Ok(QueryResult {
            schema,
            batches,
            row_count,
            truncated,
        })
    }

    /// A session with the table `events` over the committed files of the lake.
    pub(super) fn session(&self, limits: &QueryLimits) -> Result<SessionContext, DataFusionError> {
        let root = std::fs::canonicalize(self.root())?;
        let committed = Commit::read(&root).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            // Listings must reflect the last commit; file contents never change under a name,
            // so the footer cache stays.
            .with_object_list_cache_limit(0)
            .build_arc()?;
        let lake_path = ObjectPath::from_filesystem_path(&root)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let store = VisibleFiles::new(Arc::new(LocalFileSystem::new()), lake_path, committed.flush);
        runtime.register_object_store(ObjectStoreUrl::local_filesystem().as_ref(), Arc::new(store));
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);

        let url = ListingTableUrl::parse(format!("{}/", root.display()))?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![
                ("date".to_string(), DataType::Utf8),
                ("hour".to_string(), DataType::Int32),
            ]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(file_schema());
        let table = ListingTable::try_new(config)?;
        ctx.register_table("events", Arc::new(EventsTable::new(table)))?;
        Ok(ctx)
    }
}
