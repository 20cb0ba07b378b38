//! One lake row: an event flattened to the lake's columns, and how rows become Arrow batches.
//!
//! The columns are fixed (one schema for every source, so one SQL works across sources): the
//! event's time, where it came from, its Sigma logsource, a set of OCSF entity columns
//! (`src_ip`, `process_cmd_line`, …; null when the event has no such entity) and `raw`, the
//! event's own fields as JSON, so nothing the decoder produced is lost.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use jiff::Timestamp;
use vigil_core::{Entities, EntityValue, Event, Value};

/// The value types an entity column can hold.
trait EntityColumnType: Sized {
    const DATA_TYPE: DataType;
    fn array<'a>(values: impl Iterator<Item = &'a Option<Self>>) -> ArrayRef
    where
        Self: 'a;
    fn from_input(value: EntityInput) -> Option<Self>;
    fn size(value: &Option<Self>) -> usize;
}

impl EntityColumnType for String {
    const DATA_TYPE: DataType = DataType::Utf8;
    fn array<'a>(values: impl Iterator<Item = &'a Option<String>>) -> ArrayRef {
        Arc::new(values.map(Option::as_deref).collect::<StringArray>())
    }
    fn from_input(value: EntityInput) -> Option<String> {
        match value {
            EntityInput::Text(s) => Some(s),
            EntityInput::Int(i) => Some(i.to_string()),
        }
    }
    fn size(value: &Option<String>) -> usize {
        value.as_ref().map_or(0, String::len)
    }
}

impl EntityColumnType for i64 {
    const DATA_TYPE: DataType = DataType::Int64;
    fn array<'a>(values: impl Iterator<Item = &'a Option<i64>>) -> ArrayRef {
        Arc::new(values.copied().collect::<Int64Array>())
    }
    fn from_input(value: EntityInput) -> Option<i64> {
        match value {
            EntityInput::Int(i) => Some(i),
            EntityInput::Text(s) => s.trim().parse().ok(),
        }
    }
    fn size(_: &Option<i64>) -> usize {
        8
    }
}

/// A value offered to an entity column: text, or a number (ports, pids). Text offered to a
/// numeric column is parsed, and refused when it is not a number.
#[derive(Clone, Debug, PartialEq)]
pub enum EntityInput {
    Text(String),
    Int(i64),
}

macro_rules! col_type {
    (Text) => {
        String
    };
    (Int) => {
        i64
    };
}

macro_rules! entity_columns {
    ($( $(#[$doc:meta])* $column:ident: $kind:ident = $ocsf:literal; )*) => {
        /// The OCSF entity columns of a row, each null unless the event names that entity.
        /// Column names are the OCSF attribute paths with `_` for `.` (shortened where OCSF's
        /// are long: `src_endpoint.ip` is `src_ip`).
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct EntityColumns {
            $( $(#[$doc])* pub $column: Option<col_type!($kind)>, )*
        }

        /// Every entity column: its name in the lake and the OCSF attribute it holds (as
        /// `vigil_core::entity::EntityField::as_str` writes it).
        pub const ENTITY_COLUMNS: &[(&str, &str)] = &[ $( (stringify!($column), $ocsf), )* ];

        impl EntityColumns {
            /// Offers `value` for the OCSF attribute `ocsf_path` (`src_endpoint.ip`). Returns
            /// whether it was stored: the path must be one of [`ENTITY_COLUMNS`], the value
            /// must fit the column's type, and a column already set keeps its first value.
            pub fn set(&mut self, ocsf_path: &str, value: EntityInput) -> bool {
                match ocsf_path {
                    $( $ocsf => {
                        if self.$column.is_some() {
                            return false;
                        }
                        self.$column = <col_type!($kind)>::from_input(value);
                        self.$column.is_some()
                    } )*
                    _ => false,
                }
            }

            fn fields() -> Vec<Field> {
                vec![ $( Field::new(stringify!($column), <col_type!($kind)>::DATA_TYPE, true), )* ]
            }

            fn arrays(rows: &[LakeRow], out: &mut Vec<ArrayRef>) {
                $( out.push(<col_type!($kind)>::array(rows.iter().map(|r| &r.entities.$column))); )*
            }

            fn size(&self) -> usize {
                0 $( + <col_type!($kind)>::size(&self.$column) )*
            }
        }
    };
}

entity_columns! {
    /// The host that logged the event.
    device_hostname: Text = "device.hostname";
    /// An address of the host that logged the event.
    device_ip: Text = "device.ip";
    /// The user who acted.
    actor_user_name: Text = "actor.user.name";
    /// The acting user's domain.
    actor_user_domain: Text = "actor.user.domain";
    /// The acting user's unique id (SID, ARN, uid).
    actor_user_uid: Text = "actor.user.uid";
    /// The user acted upon (a logon's target account).
    user_name: Text = "user.name";
    /// The initiating side's address.
    src_ip: Text = "src_endpoint.ip";
    /// The initiating side's port.
    src_port: Int = "src_endpoint.port";
    /// The initiating side's host name.
    src_hostname: Text = "src_endpoint.hostname";
    /// The responding side's address.
    dst_ip: Text = "dst_endpoint.ip";
    /// The responding side's port.
    dst_port: Int = "dst_endpoint.port";
    /// The responding side's host name.
    dst_hostname: Text = "dst_endpoint.hostname";
    /// The process's file name (`powershell.exe`).
    process_name: Text = "process.name";
    /// The process's image path.
    process_path: Text = "process.path";
    /// The process's command line.
    process_cmd_line: Text = "process.cmd_line";
    /// The process id.
    process_pid: Int = "process.pid";
    /// The parent process's file name.
    parent_process_name: Text = "process.parent_process.name";
    /// The parent process's command line.
    parent_process_cmd_line: Text = "process.parent_process.cmd_line";
    /// The file acted on, full path.
    file_path: Text = "file.path";
    /// SHA-256 of the file acted on.
    file_hash_sha256: Text = "file.hashes.sha256";
    /// SHA-256 of the process image (Sysmon `Hashes`).
    process_hash_sha256: Text = "process.file.hashes.sha256";
    /// A DNS query's name.
    dns_query_hostname: Text = "query.hostname";
    /// The requested URL, whole.
    url: Text = "http_request.url.url_string";
    /// The HTTP (or API client) user agent.
    http_user_agent: Text = "http_request.user_agent";
    /// The cloud account, subscription or tenant the event happened in.
    cloud_account_uid: Text = "cloud.account.uid";
    /// The cloud region.
    cloud_region: Text = "cloud.region";
    /// The API operation (CloudTrail `eventName`).
    api_operation: Text = "api.operation";
}

impl EntityColumns {
    /// Copies the entities an OCSF extractor found (`vigil_ingest::entities`) into the
    /// columns that hold them; entities without a column stay in `raw` only.
    pub fn fill_from(&mut self, entities: &Entities<'_>) {
        for (field, value) in entities.iter() {
            let input = match value {
                EntityValue::Text(s) => EntityInput::Text(s.to_string()),
                EntityValue::Ip(ip) => EntityInput::Text(ip.to_string()),
                EntityValue::Int(i) => EntityInput::Int(*i),
            };
            self.set(field.as_str(), input);
        }
    }
}

/// One event as the lake stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct LakeRow {
    /// Event time from the log; the ingest time when the log has none. Partitions are cut on
    /// this value (UTC), so it is never null.
    pub time: Timestamp,
    /// When Vigil received the event.
    pub ingest_time: Timestamp,
    /// The source tag the event arrived under (an ingest tag, a watched file's name).
    pub source: String,
    /// The file or stream the event was read from (`vigil_core::SourceRef::file`).
    pub file: String,
    /// The record number inside the file (EVTX `EventRecordID`, or the 1-based record index).
    pub record_id: Option<u64>,
    /// The record's byte offset in the file, when the format has one. Named `byte_offset`
    /// because `offset` is an SQL keyword and would need quoting in every query.
    pub byte_offset: Option<u64>,
    /// Sigma logsource `product`.
    pub product: Option<String>,
    /// Sigma logsource `service`.
    pub service: Option<String>,
    /// Sigma logsource `category`.
    pub category: Option<String>,
    /// The OCSF entities of the event.
    pub entities: EntityColumns,
    /// The event's fields as one JSON object (`Event::to_json`).
    pub raw: String,
}

/// Fills a row's entity columns from its event. [`fill_from_native_fields`] is the built-in
/// one; the server passes `|e, cols| cols.fill_from(&vigil_ingest::entities(e))`, the OCSF
/// extractors of every decoder.
pub type EntityFiller = fn(&Event, &mut EntityColumns);

impl LakeRow {
    /// The row for `event`, received at `ingest_time` under the source tag `source`, with
    /// entity columns filled by [`fill_from_native_fields`].
    pub fn from_event(event: &Event, source: &str, ingest_time: Timestamp) -> LakeRow {
        LakeRow::from_event_with(event, source, ingest_time, fill_from_native_fields)
    }

    /// Same as [`LakeRow::from_event`] with the entity columns filled by `fill`.
    pub fn from_event_with(
        event: &Event,
        source: &str,
        ingest_time: Timestamp,
        fill: EntityFiller,
    ) -> LakeRow {
        let mut entities = EntityColumns::default();
        fill(event, &mut entities);
        LakeRow::with_columns(event, source, ingest_time, entities)
    }

    /// Same as [`LakeRow::from_event`] with the entity columns taken from `entities`, the
    /// OCSF entities already extracted from `event` (`vigil_ingest::entities(&event)`), so a
    /// pipeline that extracts them once for detection does not extract them again.
    pub fn from_event_with_entities(
        event: &Event,
        entities: &Entities<'_>,
        source: &str,
        ingest_time: Timestamp,
    ) -> LakeRow {
        let mut columns = EntityColumns::default();
        columns.fill_from(entities);
        LakeRow::with_columns(event, source, ingest_time, columns)
    }

    fn with_columns(
        event: &Event,
        source: &str,
        ingest_time: Timestamp,
        entities: EntityColumns,
    ) -> LakeRow {
        LakeRow {
            time: event.time.unwrap_or(ingest_time),
            ingest_time,
            source: source.to_string(),
            file: event.source.file.to_string(),
            record_id: event.source.record_id,
            byte_offset: event.source.offset,
            product: event.logsource.product.clone(),
            service: event.logsource.service.clone(),
            category: event.logsource.category.clone(),
            entities,
            raw: event.to_json().to_string(),
        }
    }

    /// Approximate memory the row holds, for the writer's buffer limit.
    pub fn size(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        std::mem::size_of::<LakeRow>()
            + self.source.len()
            + self.file.len()
            + opt(&self.product)
            + opt(&self.service)
            + opt(&self.category)
            + self.entities.size()
            + self.raw.len()
    }
}

/// The native field names the built-in filler knows, per OCSF attribute: the common ones of
/// Windows/Sysmon, Zeek, Suricata, syslog and CloudTrail. A stand-in for the full per-source
/// extractors of `vigil-ingest` (see [`EntityFiller`]).
const NATIVE_FIELDS: &[(&str, &str)] = &[
    ("Computer", "device.hostname"),
    ("hostname", "device.hostname"),
    ("SubjectUserName", "actor.user.name"),
    ("User", "actor.user.name"),
    ("SubjectDomainName", "actor.user.domain"),
    ("SubjectUserSid", "actor.user.uid"),
    ("userIdentity.userName", "actor.user.name"),
    ("userIdentity.arn", "actor.user.uid"),
    ("TargetUserName", "user.name"),
    ("SourceIp", "src_endpoint.ip"),
    ("IpAddress", "src_endpoint.ip"),
    ("id.orig_h", "src_endpoint.ip"),
    ("src_ip", "src_endpoint.ip"),
    ("sourceIPAddress", "src_endpoint.ip"),
    ("SourcePort", "src_endpoint.port"),
    ("IpPort", "src_endpoint.port"),
    ("id.orig_p", "src_endpoint.port"),
    ("src_port", "src_endpoint.port"),
    ("WorkstationName", "src_endpoint.hostname"),
    ("DestinationIp", "dst_endpoint.ip"),
    ("id.resp_h", "dst_endpoint.ip"),
    ("dest_ip", "dst_endpoint.ip"),
    ("DestinationPort", "dst_endpoint.port"),
    ("id.resp_p", "dst_endpoint.port"),
    ("dest_port", "dst_endpoint.port"),
    ("DestinationHostname", "dst_endpoint.hostname"),
    ("Image", "process.path"),
    ("NewProcessName", "process.path"),
    ("CommandLine", "process.cmd_line"),
    ("ProcessId", "process.pid"),
    ("ParentCommandLine", "process.parent_process.cmd_line"),
    ("TargetFilename", "file.path"),
    ("QueryName", "query.hostname"),
    ("dns.rrname", "query.hostname"),
    ("recipientAccountId", "cloud.account.uid"),
    ("awsRegion", "cloud.region"),
    ("eventName", "api.operation"),
    ("userAgent", "http_request.user_agent"),
];

/// The built-in [`EntityFiller`]: copies the well-known native fields of [`NATIVE_FIELDS`],
/// keeps only addresses that parse as IPs, derives process names from image paths and reads
/// the SHA-256 out of Sysmon's `Hashes`.
pub fn fill_from_native_fields(event: &Event, out: &mut EntityColumns) {
    for (name, path) in NATIVE_FIELDS {
        let Some(value) = event.get_str(name) else {
            continue;
        };
        let input = match value {
            Value::Int(i) => EntityInput::Int(*i),
            Value::Str(t) => {
                let s = t.as_str().trim();
                if matches!(s, "" | "-" | "(null)" | "?") {
                    continue;
                }
                if path.ends_with(".ip") && s.parse::<std::net::IpAddr>().is_err() {
                    continue;
                }
                EntityInput::Text(s.to_string())
            }
            _ => continue,
        };
        out.set(path, input);
    }
    let base = |p: &str| p.rsplit(['\\', '/']).next().unwrap_or(p).to_string();
    if out.process_name.is_none() {
        out.process_name = out.process_path.as_deref().map(base);
    }
    if let Some(Value::Str(parent)) = event.get_str("ParentImage") {
        out.set(
            "process.parent_process.name",
            EntityInput::Text(base(parent.as_str())),
        );
    }
    if let Some(Value::Str(hashes)) = event.get_str("Hashes") {
        let sha = hashes.as_str().split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.trim().eq_ignore_ascii_case("sha256").then(|| v.trim())
        });
        if let Some(sha) = sha {
            out.set(
                "process.file.hashes.sha256",
                EntityInput::Text(sha.to_ascii_lowercase()),
            );
        }
    }
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The schema of the lake's Parquet files (the table `events` adds the partition columns
/// `date` and `hour`).
pub fn file_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = vec![
            Field::new("time", timestamp_type(), false),
            Field::new("ingest_time", timestamp_type(), false),
            Field::new("source", DataType::Utf8, false),
            Field::new("file", DataType::Utf8, false),
            Field::new("record_id", DataType::UInt64, true),
            Field::new("byte_offset", DataType::UInt64, true),
            Field::new("product", DataType::Utf8, true),
            Field::new("service", DataType::Utf8, true),
            Field::new("category", DataType::Utf8, true),
        ];
        fields.extend(EntityColumns::fields());
        fields.push(Field::new("raw", DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    });
    Arc::clone(&SCHEMA)
}

/// The rows as one record batch of [`file_schema`].
pub fn rows_to_batch(
    rows: &[LakeRow],
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let micros = |t: &Timestamp| t.as_microsecond();
    let strings = |f: fn(&LakeRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| micros(&r.time)))
                .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| micros(&r.ingest_time)),
            )
            .with_timezone("UTC"),
        ),
        strings(|r| Some(r.source.as_str())),
        strings(|r| Some(r.file.as_str())),
        Arc::new(rows.iter().map(|r| r.record_id).collect::<UInt64Array>()),
        Arc::new(rows.iter().map(|r| r.byte_offset).collect::<UInt64Array>()),
        strings(|r| r.product.as_deref()),
        strings(|r| r.service.as_deref()),
        strings(|r| r.category.as_deref()),
    ];
    EntityColumns::arrays(rows, &mut columns);
    columns.push(strings(|r| Some(r.raw.as_str())));
    RecordBatch::try_new(file_schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::{LogSource, SourceRef};

    fn sysmon_event() -> Event {
        let mut e = Event::new(SourceRef {
            file: "sysmon.evtx".into(),
            record_id: Some(42),
            offset: None,
        });
        e.logsource = LogSource::product("windows").with_service("sysmon");
        e.insert("Computer", Value::str("WS01.corp"));
        e.insert("Image", Value::str("C:\\Windows\\System32\\cmd.exe"));
        e.insert("CommandLine", Value::str("cmd /c whoami"));
        e.insert("SourceIp", Value::str("-"));
        e.insert("DestinationIp", Value::str("10.0.0.9"));
        e.insert("DestinationPort", Value::str("445"));
        e.insert("Hashes", Value::str("MD5=AA,SHA256=ABCDEF,IMPHASH=00"));
        e
    }

    #[test]
    fn native_fields_fill_entity_columns() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let row = LakeRow::from_event(&sysmon_event(), "lab", t);
        let e = &row.entities;
        assert_eq!(e.device_hostname.as_deref(), Some("WS01.corp"));
        assert_eq!(e.process_name.as_deref(), Some("cmd.exe"));
        assert_eq!(e.process_cmd_line.as_deref(), Some("cmd /c whoami"));
        assert_eq!(e.src_ip, None, "placeholder '-' is not an address");
        assert_eq!(e.dst_ip.as_deref(), Some("10.0.0.9"));
        assert_eq!(e.dst_port, Some(445));
        assert_eq!(e.process_hash_sha256.as_deref(), Some("abcdef"));
        assert_eq!(row.time, t, "no event time: ingest time stands in");
        assert_eq!(row.record_id, Some(42));
        assert!(row.raw.contains("cmd /c whoami"));
    }

    #[test]
    fn every_column_is_an_ocsf_entity_field() {
        for (column, path) in ENTITY_COLUMNS {
            assert!(
                vigil_core::EntityField::from_name(path).is_some(),
                "{column}: {path} is not a vigil_core::EntityField"
            );
        }
    }

    #[test]
    fn set_keeps_first_value_and_refuses_wrong_types() {
        let mut e = EntityColumns::default();
        assert!(e.set("src_endpoint.port", EntityInput::Text("8080".into())));
        assert!(!e.set("src_endpoint.port", EntityInput::Int(1)));
        assert!(!e.set("dst_endpoint.port", EntityInput::Text("http".into())));
        assert!(!e.set("no.such.attribute", EntityInput::Int(1)));
        assert_eq!(e.src_port, Some(8080));
        assert_eq!(e.dst_port, None);
    }

    #[test]
    fn batch_matches_schema() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let rows = vec![LakeRow::from_event(&sysmon_event(), "lab", t); 3];
        let batch = rows_to_batch(&rows).unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(batch.schema(), file_schema());
        assert_eq!(
            file_schema().fields().len(),
            9 + ENTITY_COLUMNS.len() + 1,
            "fixed columns, entity columns, raw"
        );
    }
}
