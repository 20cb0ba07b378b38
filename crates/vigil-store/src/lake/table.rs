//! The table `events`: a DataFusion `ListingTable` over the lake directory, with two additions.
//!
//! - [`VisibleFiles`], an object store that lists only the files the visibility rule of
//!   [`super::layout`] shows (committed, not replaced by a merge), so a query reads each row
//!   exactly once however flushes and compactions interleave with it.
//! - [`EventsTable`], which turns bounds on `time` into bounds on the partition columns
//!   `date` and `hour`, so `WHERE time >= …` skips whole partition directories at planning
//!   (DataFusion cannot know that the partitions are cut on `time`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::ListingTable;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result as StoreResult,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{col, lit};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;

use super::layout::{self, FileRange, Partition};

/// The local file system, listing only the lake files a reader may see as of one commit.
#[derive(Debug)]
pub(crate) struct VisibleFiles {
    inner: Arc<dyn ObjectStore>,
    /// The lake directory as an object path.
    lake: ObjectPath,
    /// The committed flush of the query's snapshot.
    committed: Option<u64>,
}

impl VisibleFiles {
    pub(crate) fn new(
        inner: Arc<dyn ObjectStore>,
        lake: ObjectPath,
        committed: Option<u64>,
    ) -> Self {
        VisibleFiles {
            inner,
            lake,
            committed,
        }
    }
}

impl fmt::Display for VisibleFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VisibleFiles({}, {})", self.inner, self.lake)
    }
}

/// Keeps the objects outside the lake, and of those inside only the visible data files.
fn filter_visible(
    objects: Vec<ObjectMeta>,
    lake: &ObjectPath,
    committed: Option<u64>,
) -> Vec<ObjectMeta> {
    let mut out = Vec::with_capacity(objects.len());
    let mut by_partition: BTreeMap<Partition, Vec<(FileRange, ObjectMeta)>> = BTreeMap::new();
    for meta in objects {
        let Some(rel) = meta.location.prefix_match(lake) else {
            out.push(meta);
            continue;
        };
        let parts: Vec<String> = rel.map(|p| p.as_ref().to_string()).collect();
        let [date, hour, name] = parts.as_slice() else {
            continue;
        };
        if let (Some(partition), Some(range)) =
            (Partition::parse(date, hour), FileRange::parse(name))
        {
            by_partition
                .entry(partition)
                .or_default()
                .push((range, meta));
        }
    }
    for files in by_partition.into_values() {
        let (shown, _) = layout::visible(files, committed);
        out.extend(shown.into_iter().map(|(_, meta)| meta));
    }
    out
}

#[async_trait]
impl ObjectStore for VisibleFiles {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> StoreResult<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> StoreResult<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &ObjectPath, options: GetOptions) -> StoreResult<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, StoreResult<ObjectPath>>,
    ) -> BoxStream<'static, StoreResult<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, StoreResult<ObjectMeta>> {
        // The rule needs all files of a partition at once; listings are per table or per
        // partition, so collecting first costs nothing in practice.
        let listing = self.inner.list(prefix);
        let lake = self.lake.clone();
        let committed = self.committed;
        futures::stream::once(async move {
            let all: Vec<ObjectMeta> = listing.try_collect().await?;
            let shown = filter_visible(all, &lake, committed);
            Ok::<_, datafusion::object_store::Error>(futures::stream::iter(
                shown.into_iter().map(Ok),
            ))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> StoreResult<ListResult> {
        let mut result = self.inner.list_with_delimiter(prefix).await?;
        result.objects = filter_visible(
            std::mem::take(&mut result.objects),
            &self.lake,
            self.committed,
        );
        Ok(result)
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> StoreResult<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// The lake's table provider: [`ListingTable`] plus partition pruning on `time`.
#[derive(Debug)]
pub(crate) struct EventsTable {
    inner: ListingTable,
}

impl EventsTable {
    pub(crate) fn new(inner: ListingTable) -> Self {
        EventsTable { inner }
    }
}

#[async_trait]
impl TableProvider for EventsTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut filters = filters.to_vec();
        let bounds = TimeBounds::from_filters(&filters);
        filters.extend(bounds.partition_filters());
        self.inner.scan(state, projection, &filters, limit).await
    }
}

/// Bounds on `time` found in a query's conjunctive filters (microseconds since the epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimeBounds {
    /// Rows have `time >= lower`.
    pub lower: Option<i64>,
    /// Rows have `time <= upper`.
    pub upper: Option<i64>,
}

impl TimeBounds {
    pub(crate) fn from_filters(filters: &[Expr]) -> TimeBounds {
        let mut b = TimeBounds::default();
        for f in filters {
            b.add(f);
        }
        b
    }

    fn add(&mut self, expr: &Expr) {
        match expr {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => {
                self.add(left);
                self.add(right);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, value) = match (
                    time_column(left),
                    micros(right),
                    time_column(right),
                    micros(left),
                ) {
                    (true, Some(v), _, _) => (*op, v),
                    (_, _, true, Some(v)) => match op.swap() {
                        Some(op) => (op, v),
                        None => return,
                    },
                    _ => return,
                };
                match op {
                    Operator::Eq => {
                        self.raise(value);
                        self.lower_upper(value);
                    }
                    Operator::Gt | Operator::GtEq => self.raise(value),
                    Operator::Lt | Operator::LtEq => self.lower_upper(value),
                    _ => {}
                }
            }
            Expr::Between(between) if !between.negated && time_column(&between.expr) => {
                if let Some(v) = micros(&between.low) {
                    self.raise(v);
                }
                if let Some(v) = micros(&between.high) {
                    self.lower_upper(v);
                }
            }
            _ => {}
        }
    }

    fn raise(&mut self, v: i64) {
        self.lower = Some(self.lower.map_or(v, |l| l.max(v)));
    }

    fn lower_upper(&mut self, v: i64) {
        self.upper = Some(self.upper.map_or(v, |u| u.min(v)));
    }

    /// Filters on `date`/`hour` implied by the bounds: the partitions of the bound's hour and
    /// after (before). Strictness is dropped, which only keeps one extra partition at most.
    pub(crate) fn partition_filters(&self) -> Vec<Expr> {
        let mut out = Vec::new();
        let partition = |v: i64| Timestamp::from_microsecond(v).ok().map(Partition::of);
        if let Some(p) = self.lower.and_then(partition) {
            let date = lit(p.date.to_string());
            out.push(
                col("date").gt(date.clone()).or(col("date")
                    .eq(date)
                    .and(col("hour").gt_eq(lit(i32::from(p.hour))))),
            );
        }
        if let Some(p) = self.upper.and_then(partition) {
            let date = lit(p.date.to_string());
            out.push(
                col("date").lt(date.clone()).or(col("date")
                    .eq(date)
                    .and(col("hour").lt_eq(lit(i32::from(p.hour))))),
            );
        }
        out
    }
}

fn time_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Column(c) if c.name == "time")
}

/// A literal timestamp (any unit) in microseconds, rounded outwards never: sub-microsecond
/// parts are truncated, which can only widen a bound by less than one partition.
fn micros(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Expr {
        let t: Timestamp = s.parse().unwrap();
        lit(ScalarValue::TimestampMicrosecond(
            Some(t.as_microsecond()),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn bounds_from_comparisons_and_between() {
        let f = vec![
            col("time").gt_eq(ts("2026-01-02T05:10:00Z")),
            ts("2026-01-02T07:00:00Z").gt(col("time")),
            col("source").eq(lit("x")),
        ];
        let b = TimeBounds::from_filters(&f);
        assert_eq!(
            b.lower,
            Some(
                "2026-01-02T05:10:00Z"
                    .parse::<Timestamp>()
                    .unwrap()
                    .as_microsecond()
            )
        );
        assert_eq!(
            b.upper,
            Some(
                "2026-01-02T07:00:00Z"
                    .parse::<Timestamp>()
                    .unwrap()
                    .as_microsecond()
            )
        );
        assert_eq!(b.partition_filters().len(), 2);

        let f = vec![col("time").between(ts("2026-01-01T00:00:00Z"), ts("2026-01-03T00:00:00Z"))];
        let b = TimeBounds::from_filters(&f);
        assert!(b.lower.is_some() && b.upper.is_some());
    }

    #[test]
    fn no_bounds_from_other_shapes() {
        let f = vec![
            col("time").not_eq(ts("2026-01-02T05:10:00Z")),
            col("ingest_time").gt(ts("2026-01-02T05:10:00Z")),
            col("time")
                .gt(ts("2026-01-02T05:10:00Z"))
                .or(col("source").eq(lit("x"))),
        ];
        assert_eq!(TimeBounds::from_filters(&f), TimeBounds::default());
    }
}
