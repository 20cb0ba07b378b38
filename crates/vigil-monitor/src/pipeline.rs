//! Continuous detection: the journal consumer that decodes each acknowledged unit, runs every
//! event through the rule set in force and records the hits as alerts.
//!
//! Exactly-once in effect: the consumer commits its journal offset only after the alerts of
//! everything before it are committed in the state database (one transaction per batch). A
//! crash in between replays those units; alert ids come from rule id + event identity (the
//! unit's journal offset and the record's place in it), so the store recognises the replayed
//! hits as duplicates and no alert is doubled or lost.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use vigil_core::{EntityField, Event, Level};
use vigil_detect::{Detection, detect_intel_with};
use vigil_ingest::{DecodeOptions, InputSpec, LogsourceMap, decode_bytes_as};
use vigil_sigma::engine::{RuleMatch, Scratch};
use vigil_store::journal::Journal;
use vigil_store::lake::{LakeRow, LakeWriter};
use vigil_store::state::{AlertEntities, AlertStore, EventRef, Evidence, NewAlert, RuleRef};

use crate::rules::{LiveRules, RuleSnapshot};
use crate::sources::{SourceBook, UnitOutcome};
use crate::unit::{self, UnitHeader};

/// The journal consumer name of detection.
pub const CONSUMER: &str = "detect";
/// The journal consumer name of the lake writer: its offset trails detection by up to one
/// lake flush, and keeps the journal segments the lake still needs.
pub const LAKE_CONSUMER: &str = "lake";

/// Settings of the detection consumer.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Lowest rule level that raises an alert.
    pub min_level: Level,
    /// Units processed between two commits (one state transaction, one offset commit).
    pub batch_units: usize,
    /// Logsource rules for generic JSON, as in `vigil hunt`.
    pub json_logsource: LogsourceMap,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            min_level: Level::Informational,
            batch_units: 64,
            json_logsource: LogsourceMap::default(),
        }
    }
}

/// The bytes of units appended since the server started that detection has not committed
/// yet, by journal offset: the backlog bound in bytes (a unit is anything from one line to a
/// whole upload, so a bound in units alone lets the journal grow by its largest body times the
/// unit bound). Units already in the journal at start are not counted: the previous run
/// admitted them under the same bound, and the unit bound still covers them.
#[derive(Debug, Default)]
pub struct Backlog {
    inner: Mutex<BacklogInner>,
}

#[derive(Debug, Default)]
struct BacklogInner {
    /// Detection's committed position: every unit before it is processed.
    committed: u64,
    /// Uncommitted units' sizes, by offset.
    units: BTreeMap<u64, u64>,
    bytes: u64,
}

impl Backlog {
    fn lock(&self) -> std::sync::MutexGuard<'_, BacklogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A unit of `len` bytes was appended at `offset` (ignored if detection is already past
    /// it: it was processed before its appender got here).
    pub fn appended(&self, offset: u64, len: u64) {
        let mut b = self.lock();
        if offset >= b.committed && b.units.insert(offset, len).is_none() {
            b.bytes += len;
        }
    }

    /// Detection committed every unit before `position`.
    pub fn committed(&self, position: u64) {
        let mut b = self.lock();
        b.committed = b.committed.max(position);
        let rest = b.units.split_off(&position);
        let done: u64 = std::mem::replace(&mut b.units, rest).into_values().sum();
        b.bytes -= done;
    }

    /// Bytes appended and not yet committed.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

/// Live figures of the consumer, read by the API, metrics and back-pressure.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes appended since start and not yet through detection (the byte bound of ingest).
    pub backlog: Backlog,
    /// The committed offset: every unit before it is fully processed.
    pub committed: AtomicU64,
    pub units: AtomicU64,
    pub events: AtomicU64,
    pub alerts_new: AtomicU64,
    pub alerts_aggregated: AtomicU64,
    pub alerts_duplicate: AtomicU64,
    /// Detections a saved exception suppressed (not stored).
    pub alerts_suppressed: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Journal records that were not readable units (damage, foreign payloads).
    pub bad_units: AtomicU64,
    /// Failed attempts to store alerts (retried; the offset is not committed meanwhile).
    pub store_failures: AtomicU64,
    /// Rows flushed to the lake, and the lake's committed journal offset.
    pub lake_rows: AtomicU64,
    pub lake_committed: AtomicU64,
    /// Failed lake flushes (retried at the next batch).
    pub lake_failures: AtomicU64,
}

/// Everything the consumer needs.
pub struct Pipeline {
    pub journal: Journal,
    pub store: Arc<dyn AlertStore>,
    pub rules: Arc<LiveRules>,
    pub sources: Arc<SourceBook>,
    pub progress: Arc<Progress>,
    pub options: PipelineOptions,
    /// Writes every event to the lake too, when given.
    pub lake: Option<LakeWriter>,
    /// Threat-intel indicators every event's entities are matched against (swapped whole
    /// when the feeds are reloaded).
    pub intel: SharedIntel,
    /// Analysts' exceptions: detections they suppress are counted, not stored.
    pub exceptions: crate::cases::SharedExceptions,
    /// The intel allowlist, applied to each intel match.
    pub allowlist: crate::intel::SharedAllowlist,
}

/// The compiled indicators in force, replaceable while detection runs.
pub type SharedIntel = Arc<std::sync::RwLock<Arc<vigil_intel::Matcher>>>;

/// The running consumers (detection, and the lake writer when there is a lake); stop them
/// with [`PipelineHandle::stop`].
pub struct PipelineHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl PipelineHandle {
    /// Asks the consumers to finish their batch, commit and exit, and waits for them.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Pipeline {
    /// Starts detection on its own thread, and the lake writer on another: the lake decodes
    /// the units again under its own journal offset, so building rows and writing Parquet use
    /// the second core and never delay an alert.
    pub fn spawn(mut self) -> std::io::Result<PipelineHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        if let Some(writer) = self.lake.take() {
            let feeder = LakeFeeder {
                journal: self.journal.clone(),
                writer,
                progress: Arc::clone(&self.progress),
                json_logsource: self.options.json_logsource.clone(),
                batch_units: self.options.batch_units,
            };
            let flag = Arc::clone(&stop);
            threads.push(
                std::thread::Builder::new()
                    .name("vigil-lake".into())
                    .spawn(move || feeder.run(&flag))?,
            );
        }
        let flag = Arc::clone(&stop);
        threads.push(
            std::thread::Builder::new()
                .name("vigil-detect".into())
                .spawn(move || self.run(&flag))?,
        );
        Ok(PipelineHandle { stop, threads })
    }

    fn run(mut self, stop: &AtomicBool) {
        let detect_from = loop {
            match self.journal.register_consumer(CONSUMER) {
                Ok(offset) => break offset,
                Err(e) => {
                    eprintln!("vigil serve: detection cannot register with the journal: {e}");
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        };
        self.progress
            .committed
            .store(detect_from, Ordering::Release);
        self.progress.backlog.committed(detect_from);
        let mut reader = self.journal.read_from(detect_from);
        let mut work = Worker::new(&self.options);
        let mut detect_next = detect_from;
        loop {
            let stopping = stop.load(Ordering::Acquire);
            let rules = self.rules.current();
            let mut units = 0;
            let mut alerts = Vec::new();
            while units < self.options.batch_units {
                let Some(item) = reader.next() else { break };
                units += 1;
                match item {
                    Ok(record) => work.unit(
                        &mut self,
                        &rules,
                        record.offset,
                        &record.payload,
                        &mut alerts,
                    ),
                    Err(e) => {
                        self.progress.bad_units.fetch_add(1, Ordering::Relaxed);
                        eprintln!("vigil serve: detection skipped damaged journal data: {e}");
                    }
                }
            }
            if units > 0 {
                self.suppress(&mut alerts);
                let position = reader.position();
                if position > detect_next {
                    self.commit(&alerts, position, stop);
                    detect_next = position;
                }
            } else if stopping {
                return;
            } else {
                // Caught up: sleep until the next unit is durable, waking now and then to
                // notice a stop request.
                let _ = self
                    .journal
                    .when_durable(reader.position())
                    .wait_timeout(Duration::from_millis(200));
            }
        }
    }

    /// Drops the detections a saved exception suppresses, counting them.
    fn suppress(&self, alerts: &mut Vec<NewAlert>) {
        let exceptions = crate::current(&self.exceptions);
        if exceptions.is_empty() || alerts.is_empty() {
            return;
        }
        let before = alerts.len();
        alerts.retain(|a| {
            let facts = vigil_risk::ExceptionFacts {
                alert_id: String::new(),
                rule_id: a.rule.id.clone(),
                host: a.entities.host.clone(),
                user: a.entities.user.clone(),
                src_ip: a.entities.src_ip.map(|ip| ip.to_string()),
                dst_ip: a.entities.dst_ip.map(|ip| ip.to_string()),
                verdict: None,
                time: a.event.time.unwrap_or_default(),
            };
            !exceptions.iter().any(|x| x.suppresses(&facts))
        });
        self.progress
            .alerts_suppressed
            .fetch_add((before - alerts.len()) as u64, Ordering::Relaxed);
    }

    /// Stores the batch's alerts, then the source counts, then the offset — retrying the
    /// store until it works, because committing the offset without it would lose alerts.
    fn commit(&self, alerts: &[NewAlert], position: u64, stop: &AtomicBool) {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.store.record_batch(alerts) {
                Ok(outcomes) => {
                    for o in outcomes {
                        let counter = match o {
                            vigil_store::state::RecordOutcome::Created { .. } => {
                                &self.progress.alerts_new
                            }
                            vigil_store::state::RecordOutcome::Aggregated { .. } => {
                                &self.progress.alerts_aggregated
                            }
                            vigil_store::state::RecordOutcome::Duplicate { .. } => {
                                &self.progress.alerts_duplicate
                            }
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                Err(e) => {
                    self.progress.store_failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "vigil serve: storing {} alerts failed, retrying: {e}",
                        alerts.len()
                    );
                    if stop.load(Ordering::Acquire) {
                        // Not committing: the units are replayed at the next start.
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        if let Err(e) = self.sources.save() {
            eprintln!("vigil serve: saving source counts failed: {e}");
        }
        match self.journal.commit_consumer(CONSUMER, position) {
            Ok(()) => {
                self.progress.committed.store(position, Ordering::Release);
                self.progress.backlog.committed(position);
            }
            Err(e) => eprintln!("vigil serve: committing the detection offset failed: {e}"),
        }
    }
}

/// One journal record decoded: its header, the events of its body, and what could not be
/// decoded (records, and the body as a whole: `decoded` is the format or the reason).
struct DecodedUnit {
    header: UnitHeader,
    bytes: u64,
    events: Vec<Event>,
    errors: Vec<vigil_ingest::DecodeError>,
    decoded: Result<vigil_ingest::FileStats, vigil_ingest::IngestError>,
}

/// Why a journal record gave no events at all.
enum UnitError {
    /// Not a unit (damage, a foreign payload).
    NotAUnit(String),
    /// A unit whose forced format is unknown.
    Format {
        header: Box<UnitHeader>,
        bytes: u64,
        reason: String,
    },
}

/// Decodes a journal record the same way for detection and for the lake.
fn decode_unit(
    offset: u64,
    payload: &[u8],
    decode: &DecodeOptions,
    spec: &mut InputSpec,
) -> Result<DecodedUnit, UnitError> {
    let (header, body) = unit::decode(payload).map_err(|e| UnitError::NotAUnit(e.to_string()))?;
    let bytes = body.len() as u64;
    match header.forced_format() {
        Ok(format) => spec.format = format,
        Err(e) => {
            return Err(UnitError::Format {
                reason: e.to_string(),
                header: Box::new(header),
                bytes,
            });
        }
    }
    let name = unit::stream_name(&header, offset);
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let decoded = decode_bytes_as(
        &name,
        body,
        decode,
        spec,
        &mut |e| events.push(e),
        &mut |e| errors.push(e),
    );
    Ok(DecodedUnit {
        header,
        bytes,
        events,
        errors,
        decoded,
    })
}

/// The lake's own journal consumer: decodes each unit again and writes its events as lake
/// rows, committing its offset (`lake`) only once the rows are flushed, so a crash replays
/// exactly what the lake did not keep.
struct LakeFeeder {
    journal: Journal,
    writer: LakeWriter,
    progress: Arc<Progress>,
    json_logsource: LogsourceMap,
    batch_units: usize,
}

impl LakeFeeder {
    fn run(mut self, stop: &AtomicBool) {
        while let Err(e) = self.journal.register_consumer(LAKE_CONSUMER) {
            eprintln!("vigil serve: the lake cannot register with the journal: {e}");
            if stop.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        // The writer knows how far its committed files go; the journal keeps everything after.
        let from = self
            .writer
            .consumer_offset()
            .unwrap_or_else(|| self.journal.first_offset());
        self.progress.lake_committed.store(from, Ordering::Release);
        let mut reader = self.journal.read_from(from);
        let decode = DecodeOptions { evtx_threads: 1 };
        let mut spec = InputSpec {
            format: None,
            json_logsource: self.json_logsource.clone(),
        };
        loop {
            let stopping = stop.load(Ordering::Acquire);
            let mut units = 0;
            while units < self.batch_units {
                let Some(item) = reader.next() else { break };
                units += 1;
                // Damaged records are counted by detection, which reads the same journal.
                if let Ok(record) = item {
                    self.unit(record.offset, &record.payload, &decode, &mut spec);
                }
            }
            if units > 0 {
                self.flush(false);
            } else if stopping {
                self.flush(true);
                return;
            } else {
                self.flush(false);
                let _ = self
                    .journal
                    .when_durable(reader.position())
                    .wait_timeout(Duration::from_millis(200));
            }
        }
    }

    /// Appends the events of one unit as rows (what cannot be decoded is detection's to count).
    fn unit(&mut self, offset: u64, payload: &[u8], decode: &DecodeOptions, spec: &mut InputSpec) {
        let Ok(unit) = decode_unit(offset, payload, decode, spec) else {
            return;
        };
        let (header, events) = (unit.header, unit.events);
        for event in &events {
            let entities = vigil_ingest::entities(event);
            let row = LakeRow::from_event_with_entities(
                event,
                &entities,
                &header.source,
                header.received,
            );
            if let Err(e) = self.writer.append(row, offset) {
                self.progress.lake_failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("vigil serve: lake refused an event of journal record {offset}: {e}");
            }
        }
    }

    /// Flushes when due (or now, on shutdown) and moves the lake's journal offset.
    fn flush(&mut self, now: bool) {
        let flushed = if now {
            self.writer.flush()
        } else {
            self.writer.flush_if_due()
        };
        match flushed {
            Ok(Some(outcome)) => {
                self.progress
                    .lake_rows
                    .fetch_add(outcome.rows as u64, Ordering::Relaxed);
                if let Some(offset) = self.writer.consumer_offset() {
                    match self.journal.commit_consumer(LAKE_CONSUMER, offset) {
                        Ok(()) => self
                            .progress
                            .lake_committed
                            .store(offset, Ordering::Release),
                        Err(e) => eprintln!("vigil serve: committing the lake offset failed: {e}"),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                self.progress.lake_failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("vigil serve: lake flush failed (rows kept, retried): {e}");
            }
        }
    }
}

/// Reusable per-thread buffers.
struct Worker {
    decode: DecodeOptions,
    spec: InputSpec,
    /// A batch's matches: (event's index in the batch, match).
    matches: Vec<(u32, RuleMatch)>,
    intel_buf: Vec<vigil_intel::IntelMatch>,
    scratch: Option<(u64, usize, Scratch)>,
}

/// Events evaluated together ([`vigil_sigma::engine::Engine::evaluate_batch`]), as `vigil hunt`
/// does: their candidates are verified rule by rule (vigil-detect's README).
const DETECT_BATCH: usize = 24;

impl Worker {
    fn new(options: &PipelineOptions) -> Self {
        Worker {
            decode: DecodeOptions { evtx_threads: 1 },
            spec: InputSpec {
                format: None,
                json_logsource: options.json_logsource.clone(),
            },
            matches: Vec::new(),
            intel_buf: Vec::new(),
            scratch: None,
        }
    }

    /// A scratch for this snapshot's engine (rebuilt after a reload).
    fn scratch(&mut self, rules: &RuleSnapshot) -> &mut Scratch {
        let key = (rules.generation, Arc::as_ptr(&rules.rules) as usize);
        if self
            .scratch
            .as_ref()
            .is_none_or(|(g, p, _)| (*g, *p) != key)
        {
            self.scratch = Some((key.0, key.1, Scratch::new(&rules.rules.engine)));
        }
        &mut self.scratch.as_mut().expect("just set").2
    }

    fn unit(
        &mut self,
        pipeline: &mut Pipeline,
        rules: &RuleSnapshot,
        offset: u64,
        payload: &[u8],
        alerts: &mut Vec<NewAlert>,
    ) {
        let progress = Arc::clone(&pipeline.progress);
        let DecodedUnit {
            header,
            bytes,
            events,
            errors,
            decoded,
        } = match decode_unit(offset, payload, &self.decode, &mut self.spec) {
            Ok(unit) => unit,
            Err(UnitError::NotAUnit(e)) => {
                progress.bad_units.fetch_add(1, Ordering::Relaxed);
                eprintln!("vigil serve: journal record {offset} is not a unit: {e}");
                return;
            }
            Err(UnitError::Format {
                header,
                bytes,
                reason,
            }) => {
                let outcome = UnitOutcome {
                    bytes,
                    received: Some(header.received),
                    error_count: 1,
                    errors: vec![format!("journal record {offset}: {reason}")],
                    ..UnitOutcome::default()
                };
                pipeline.sources.count(offset, &header.source, outcome);
                return;
            }
        };
        let mut outcome = UnitOutcome {
            bytes,
            received: Some(header.received),
            ..UnitOutcome::default()
        };
        match decoded {
            Ok(stats) => outcome.format = Some(stats.format.name().to_string()),
            Err(e) => {
                outcome.error_count += 1;
                outcome.errors.push(e.to_string());
            }
        }
        outcome.error_count += errors.len() as u64;
        outcome
            .errors
            .extend(errors.iter().rev().take(5).rev().map(ToString::to_string));
        outcome.events = events.len() as u64;
        outcome.last_event_time = events.iter().filter_map(|e| e.time).max();
        progress.units.fetch_add(1, Ordering::Relaxed);
        progress
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        progress
            .decode_errors
            .fetch_add(outcome.error_count, Ordering::Relaxed);
        for batch in events.chunks(DETECT_BATCH) {
            self.detect(pipeline, rules, &header, batch, alerts);
        }
        pipeline.sources.count(offset, &header.source, outcome);
    }

    /// Evaluates `batch` together, then turns each event's matches (and indicator hits) into
    /// alerts, in event order.
    fn detect(
        &mut self,
        pipeline: &Pipeline,
        rules: &RuleSnapshot,
        header: &UnitHeader,
        batch: &[Event],
        alerts: &mut Vec<NewAlert>,
    ) {
        let engine = &rules.rules.engine;
        let mut matches = std::mem::take(&mut self.matches);
        engine.evaluate_batch(batch, self.scratch(rules), &mut matches);
        for (event, mine) in vigil_sigma::engine::matches_by_event(batch, &matches) {
            self.alerts_of(pipeline, rules, header, event, mine, alerts);
        }
        self.matches = matches;
    }

    /// The alerts of one event: its rule matches `matches` (enabled rules at or above the
    /// minimum level) and the indicators its entities hit.
    fn alerts_of(
        &mut self,
        pipeline: &Pipeline,
        rules: &RuleSnapshot,
        header: &UnitHeader,
        event: &Event,
        matches: &[(u32, RuleMatch)],
        alerts: &mut Vec<NewAlert>,
    ) {
        let engine = &rules.rules.engine;
        // The event's entities, extracted once for all its detections (rules and indicators),
        // and owned once for the rule detections, which share them.
        let mut entities = None;
        let mut owned = None;
        for (_, m) in matches {
            if rules.is_disabled(m.rule) {
                continue;
            }
            let rule = engine.rule(m.rule);
            if rule.level.unwrap_or(Level::Medium) < pipeline.options.min_level {
                continue;
            }
            let e = entities.get_or_insert_with(|| vigil_ingest::entities(event));
            let e = owned.get_or_insert_with(|| Arc::new(e.clone().into_owned()));
            let detection = Detection::with_entities(engine, m, event, Arc::clone(e));
            alerts.push(new_alert(
                rule.tags.clone(),
                detection,
                event,
                header.received,
            ));
        }
        let intel = crate::current(&pipeline.intel);
        if !intel.is_empty() {
            let mut found = Vec::new();
            detect_intel_with(
                &intel,
                event,
                entities.get_or_insert_with(|| vigil_ingest::entities(event)),
                &mut self.intel_buf,
                pipeline.options.min_level,
                &mut found,
            );
            let allowlist = crate::current(&pipeline.allowlist);
            crate::intel::drop_allowlisted(&allowlist, &mut found);
            for d in found {
                let tags = d.tags().iter().map(|t| format!("attack.{t}")).collect();
                alerts.push(new_alert(tags, d, event, header.received));
            }
        }
    }
}

/// The store's view of one detection (of a rule, or of an indicator).
pub(crate) fn new_alert(
    tags: Vec<String>,
    d: Detection,
    event: &Event,
    received: Timestamp,
) -> NewAlert {
    let text = |f| d.entities.get_str(f).map(str::to_string);
    let ip = |f| d.entities.get(f).and_then(|v| v.as_ip());
    NewAlert {
        rule: RuleRef {
            id: d.rule_id().unwrap_or(d.rule_title()).to_string(),
            title: d.rule_title().to_string(),
            level: d.level(),
            status: d.status().map(str::to_string),
            tags,
        },
        event: EventRef {
            source: d.file.to_string(),
            record_id: d.record_id,
            offset: event.source.offset,
            time: event.time.or(Some(received)),
        },
        entities: AlertEntities {
            host: d.host.as_deref().map(str::to_string),
            user: text(EntityField::ActorUserName).or_else(|| text(EntityField::UserName)),
            src_ip: ip(EntityField::SrcIp),
            dst_ip: ip(EntityField::DstIp),
        },
        evidence: d
            .evidence
            .into_iter()
            .map(|e| Evidence {
                search: e.search,
                field: e.field,
                value: e.value,
                pattern: e.pattern,
            })
            .collect(),
    }
}

/// How long the consumer is behind the journal, in units (for back-pressure and health).
pub fn lag(journal: &Journal, progress: &Progress) -> u64 {
    journal
        .next_offset()
        .saturating_sub(progress.committed.load(Ordering::Acquire))
}

/// Waits (blocking) until the consumer has committed past `offset` or `timeout` passes;
/// true when it did. For tests and `vigil bench serve`.
pub fn wait_processed(progress: &Progress, offset: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while progress.committed.load(Ordering::Acquire) <= offset {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}
