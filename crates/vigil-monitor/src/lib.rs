//! Continuous monitoring — the engine of `vigil serve`.
//!
//! Input (HTTP bodies, syslog messages, lines of watched files) is appended to the journal as
//! [`unit`]s and acknowledged once durable ([`ingest`]). One consumer ([`pipeline`]) decodes
//! every unit, runs its events through the rule set in force ([`rules`]) and records hits as
//! deduplicated alerts in the state database, counting what each source sent ([`sources`]).
//! [`api`] adds the ingest, alert, rule and source routes to the server; [`service`] starts
//! everything and stops it cleanly.
//!
//! Not here: decoding (`vigil-ingest`), rule semantics (`vigil-sigma`), storage engines
//! (`vigil-store`), authentication and audit (`vigil-server`).

pub mod api;
mod api_assets;
mod api_attack;
mod api_cases;
mod api_intel;
pub mod assess;
pub mod cases;
pub mod demo;
mod error;
mod fsutil;
pub mod idempotency;
pub mod ingest;
pub mod intel;
pub mod live;
pub mod pipeline;
pub mod retrohunt;
pub mod rules;
pub mod service;
pub mod sources;
pub mod unit;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vigil_core::Level;
use vigil_ingest::LogsourceMap;
use vigil_store::journal::{Journal, JournalOptions};
use vigil_store::lake::{FlushPolicy, Lake, LakeConfig, LakeWriter};
use vigil_store::state::{
    AlertStore, DedupPolicy, Durability, RecordStore, SqliteStore, StateOptions,
};

pub use error::MonitorError;
pub use ingest::{IngestOptions, Ingestor};
pub use pipeline::{Pipeline, PipelineHandle, PipelineOptions, Progress};
pub use rules::{LiveRules, RuleCompiler, RuleLoader};
pub use service::run;
pub use sources::{SourceBook, SourceStats};

/// Settings of continuous monitoring (`[monitor]` in `vigil.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Lowest rule level that raises an alert.
    pub min_level: Level,
    /// Hits of one rule on one host/user/IP within this many seconds (event time) are one
    /// alert with a count; 0 makes every hit its own alert.
    pub dedup_window_secs: u64,
    /// Units detection may be behind before HTTP ingest answers 429 and listeners slow down.
    pub max_lag_units: u64,
    /// The same in bytes of units received since start (a unit may be a whole upload).
    pub max_lag_bytes: u64,
    /// Units detection handles per state transaction and offset commit.
    pub batch_units: usize,
    /// Journal segments are deleted once detection is past them; this also deletes unread
    /// ones older than this many hours (0 = never), as a disk-space backstop.
    pub journal_max_age_hours: u64,
    /// The event lake (Parquet under `<data>/lake`, SQL as table `events`).
    pub lake: LakeSettings,
    /// Syslog listeners; both off unless an address is given.
    pub syslog: SyslogConfig,
    /// Files and directories to follow.
    pub files: Vec<FileSourceConfig>,
    /// Alert scoring, incidents and entity risk.
    pub assess: assess::AssessSettings,
    /// Threat-intel feeds matched against every event.
    pub intel: IntelSettings,
}

/// Threat-intel feeds (`[monitor.intel]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntelSettings {
    /// Feed files or directories (STIX 2.1 bundles, MISP events, CSV, plain lists), read at
    /// start; a hit is an alert of rule `intel:<kind>:<value>`.
    pub feeds: Vec<PathBuf>,
    /// When an import brings new indicators, the lake's events of this many past days are
    /// searched for them (0: never).
    pub retrohunt_days: u32,
    /// Confidence decays with time since an indicator was last seen (by a feed or in an
    /// event); below the model's floor it stops matching.
    pub decay: bool,
    /// The decay model (`[monitor.intel.decay_model]`: per-kind lifetime and speed, floor).
    pub decay_model: vigil_intel::DecayModel,
    /// Every this many minutes, sightings are re-read from the intel alerts and the matcher
    /// rebuilt (decay moves on, sightings refresh it).
    pub refresh_minutes: u64,
    /// TAXII 2.1 collections pulled on a schedule (`[[monitor.intel.taxii]]`).
    pub taxii: Vec<intel::TaxiiFeed>,
    /// MISP feeds pulled on a schedule (`[[monitor.intel.misp]]`).
    pub misp: Vec<intel::MispFeed>,
}

impl Default for IntelSettings {
    fn default() -> Self {
        IntelSettings {
            feeds: Vec::new(),
            retrohunt_days: 30,
            decay: true,
            decay_model: vigil_intel::DecayModel::default(),
            refresh_minutes: 60,
            taxii: Vec::new(),
            misp: Vec::new(),
        }
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            min_level: Level::Informational,
            dedup_window_secs: 15 * 60,
            max_lag_units: IngestOptions::default().max_lag_units,
            max_lag_bytes: IngestOptions::default().max_lag_bytes,
            batch_units: PipelineOptions::default().batch_units,
            journal_max_age_hours: 0,
            lake: LakeSettings::default(),
            syslog: SyslogConfig::default(),
            files: Vec::new(),
            assess: assess::AssessSettings::default(),
            intel: IntelSettings::default(),
        }
    }
}

/// Event lake settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LakeSettings {
    /// Write every event to the lake.
    pub enabled: bool,
    /// Events become queryable within this many seconds at a trickle (sooner under load:
    /// a flush also happens every `flush_rows` events).
    pub flush_secs: u64,
    pub flush_rows: usize,
    /// Days to keep events of sources not listed in `retention_days_per_source`; 0 = forever.
    pub retention_days: u32,
    /// Days to keep each named source tag (e.g. `"http:edr" = 90`).
    pub retention_days_per_source: std::collections::BTreeMap<String, u32>,
    /// Seconds between compaction and retention passes.
    pub maintenance_secs: u64,
}

impl Default for LakeSettings {
    fn default() -> Self {
        LakeSettings {
            enabled: true,
            flush_secs: 5,
            flush_rows: 100_000,
            retention_days: 0,
            retention_days_per_source: Default::default(),
            maintenance_secs: 300,
        }
    }
}

/// Syslog listeners (RFC 3164 and 5424; TCP with octet-counting or newline framing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyslogConfig {
    /// UDP address to listen on, e.g. `127.0.0.1:5514`.
    pub udp: Option<std::net::SocketAddr>,
    /// TCP address to listen on.
    pub tcp: Option<std::net::SocketAddr>,
    /// Longest message accepted; longer ones are counted and dropped (TCP: the connection is closed).
    pub max_message_bytes: usize,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            udp: None,
            tcp: None,
            max_message_bytes: 64 * 1024,
        }
    }
}

/// A file, or the files of a directory, followed as they grow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Source name events are counted under.
    pub name: String,
    /// A file, or a directory whose matching files are followed.
    pub path: PathBuf,
    /// For a directory: file name pattern (`*.log`); default every file.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Decode as this format instead of sniffing.
    #[serde(default)]
    pub format: Option<String>,
}

/// Locks `m`; a poisoned lock only means another thread panicked holding it, and the state it
/// guards is replaced whole, so it is still sound.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The value in force of a swapped-whole `Arc` (matcher, allowlist, exceptions, rules).
pub(crate) fn current<T>(shared: &std::sync::RwLock<Arc<T>>) -> Arc<T> {
    Arc::clone(&shared.read().unwrap_or_else(|e| e.into_inner()))
}

/// Everything the monitor holds open: journal, state database, rules, counts.
pub struct Monitor {
    pub journal: Journal,
    pub store: Arc<dyn AlertStore>,
    pub rules: Arc<LiveRules>,
    pub sources: Arc<SourceBook>,
    pub progress: Arc<Progress>,
    pub ingestor: Ingestor,
    /// The event lake, for queries and maintenance (the writer belongs to detection).
    pub lake: Option<Lake>,
    pub config: MonitorConfig,
    data_dir: PathBuf,
    listeners: Mutex<Vec<ListenerStats>>,
    /// Compiles rule text sent with a retro-hunt; set by the binary (it knows the configured
    /// placeholders and logsource mappings), else the built-in mapping.
    compiler: std::sync::OnceLock<RuleCompiler>,
    /// One retro-hunt at a time: each scans the lake with a core of its own.
    pub(crate) hunting: Mutex<()>,
    /// The asset inventory (`<data>/assets.json`).
    pub inventory: assess::Inventory,
    /// The threat-intel indicators in force, their feeds and imports.
    pub intel: intel::IntelService,
    /// Analyst-side records (incident cases, pins, exceptions) in the state database.
    pub records: Arc<dyn RecordStore>,
    /// Incident cases, merges and splits, exceptions, response plans.
    pub cases: cases::CaseBook,
    /// The ATT&CK Enterprise catalogue, when configured (coverage, Navigator layers).
    pub attack: Option<Arc<vigil_risk::AttackCatalog>>,
    /// Ingest requests' `Idempotency-Key`s and their receipts.
    pub idempotency: idempotency::Idempotency,
    /// The look-back period's alerts between assessments (each reads only what changed).
    pub alert_cache: assess::AlertCache,
}

/// A live source's figures, rendered on demand for `GET /api/v1/sources`.
pub type ListenerStats = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

impl Monitor {
    /// Opens the journal (`<data>/journal`, repairing a torn tail) and the state database
    /// (`<data>/state.db`), and loads the rules.
    pub fn open(
        data_dir: &Path,
        config: MonitorConfig,
        json_logsource: LogsourceMap,
        loader: RuleLoader,
        max_body_bytes: usize,
    ) -> Result<Monitor, MonitorError> {
        std::fs::create_dir_all(data_dir).map_err(|e| MonitorError::Io {
            path: data_dir.to_path_buf(),
            source: e,
        })?;
        // A unit is one request body plus its header: the journal must take the largest body.
        let record = (max_body_bytes + 64 * 1024).max(JournalOptions::default().max_record_bytes);
        let journal = Journal::open(
            data_dir.join("journal"),
            JournalOptions {
                max_record_bytes: record,
                max_batch_bytes: record.max(JournalOptions::default().max_batch_bytes) * 2,
                ..JournalOptions::default()
            },
        )?;
        let recovery = journal.recovery();
        if let Some(torn) = &recovery.torn_tail {
            eprintln!(
                "vigil serve: journal: cut {} bytes of an interrupted write ({torn:?})",
                recovery.truncated_bytes
            );
        }
        let store = SqliteStore::open(
            data_dir.join("state.db"),
            StateOptions {
                // Alerts are rebuilt from the journal after power loss; analyst changes go
                // through the same connection, so keep FULL for them.
                durability: Durability::Full,
                dedup: DedupPolicy {
                    window: Duration::from_secs(config.dedup_window_secs),
                    ..DedupPolicy::default()
                },
                ..StateOptions::default()
            },
        )?;
        let lake = if config.lake.enabled {
            Some(
                Lake::open(data_dir.join("lake"), LakeConfig::default())
                    .map_err(|e| MonitorError::Data(format!("lake: {e}")))?,
            )
        } else {
            None
        };
        let rules = Arc::new(LiveRules::load(loader, data_dir)?);
        let sources = Arc::new(SourceBook::open(data_dir)?);
        let progress = Arc::new(Progress::default());
        // Where detection left off, so the backlog is right before detection starts too.
        if let Some(at) = journal.consumer_offset(pipeline::CONSUMER) {
            progress
                .committed
                .store(at, std::sync::atomic::Ordering::Release);
        }
        let ingestor = Ingestor::new(
            journal.clone(),
            Arc::clone(&progress),
            IngestOptions {
                max_lag_units: config.max_lag_units,
                max_lag_bytes: config.max_lag_bytes,
                json_logsource,
            },
        );
        let store = Arc::new(store);
        let records = Arc::clone(&store) as Arc<dyn RecordStore>;
        let intel = intel::IntelService::open(
            data_dir,
            &config.intel,
            Arc::clone(&records),
            store.as_ref(),
        )?;
        let cases = cases::CaseBook::open(Arc::clone(&records), config.assess.plans.as_deref())?;
        let attack = match &config.assess.attack_catalog {
            Some(path) => {
                let catalog = vigil_risk::AttackCatalog::load(path).map_err(|e| {
                    MonitorError::Data(format!("ATT&CK catalogue {}: {e}", path.display()))
                })?;
                eprintln!(
                    "vigil serve: ATT&CK catalogue {}: {} tactics, {} techniques",
                    path.display(),
                    catalog.tactics().len(),
                    catalog.techniques().len()
                );
                Some(Arc::new(catalog))
            }
            None => None,
        };
        let (idempotency, recovered) =
            idempotency::Idempotency::open(Arc::clone(&records), &journal)?;
        if recovered.recorded > 0 || recovered.unreadable > 0 {
            eprintln!(
                "vigil serve: idempotency: {} key(s) recorded from the journal ({} units read past the watermark, {} unreadable)",
                recovered.recorded, recovered.scanned, recovered.unreadable
            );
        }
        Ok(Monitor {
            journal,
            cases,
            attack,
            idempotency,
            alert_cache: assess::AlertCache::default(),
            records,
            store,
            rules,
            sources,
            progress,
            ingestor,
            lake,
            config,
            data_dir: data_dir.to_path_buf(),
            listeners: Mutex::new(Vec::new()),
            compiler: std::sync::OnceLock::new(),
            hunting: Mutex::new(()),
            inventory: assess::Inventory::new(data_dir),
            intel,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Sets how rule text sent with a retro-hunt is compiled (once; later calls are ignored).
    pub fn set_rule_compiler(&self, compiler: RuleCompiler) {
        let _ = self.compiler.set(compiler);
    }

    /// Compiles rule text (a retro-hunt's own rule) the way the configured rules are.
    pub fn compile_rule_text(&self, text: &str) -> Result<vigil_detect::LoadedRules, String> {
        match self.compiler.get() {
            Some(compile) => compile(text),
            None => Ok(vigil_detect::compile_source(
                text,
                "request",
                &vigil_sigma::ruleset::SigmaConfig::default(),
                &vigil_sigma::mapping::LogsourceMapping::builtin(),
            )),
        }
    }

    /// Starts the detection consumer.
    pub fn start_detection(
        &self,
        json_logsource: LogsourceMap,
    ) -> Result<PipelineHandle, MonitorError> {
        let lake = match &self.lake {
            Some(lake) => {
                let writer = LakeWriter::open(
                    lake,
                    FlushPolicy {
                        max_rows: self.config.lake.flush_rows.max(1),
                        max_age: Duration::from_secs(self.config.lake.flush_secs),
                        ..FlushPolicy::default()
                    },
                )
                .map_err(|e| MonitorError::Data(format!("lake: {e}")))?;
                let r = writer.recovery();
                if r.temp_files + r.uncommitted_files + r.replaced_files + r.trashed_partitions > 0
                {
                    eprintln!("vigil serve: lake: cleaned up after an interrupted write: {r:?}");
                }
                Some(writer)
            }
            None => None,
        };
        Pipeline {
            lake,
            journal: self.journal.clone(),
            store: Arc::clone(&self.store),
            rules: Arc::clone(&self.rules),
            sources: Arc::clone(&self.sources),
            progress: Arc::clone(&self.progress),
            intel: Arc::clone(&self.intel.matcher),
            exceptions: Arc::clone(&self.cases.exceptions),
            allowlist: Arc::clone(&self.intel.allowlist),
            options: PipelineOptions {
                min_level: self.config.min_level,
                batch_units: self.config.batch_units.max(1),
                json_logsource,
            },
        }
        .spawn()
        .map_err(|e| MonitorError::Io {
            path: self.data_dir.clone(),
            source: e,
        })
    }

    /// Registers a live source's figures for the sources API.
    pub fn add_listener_stats(&self, stats: ListenerStats) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(stats);
    }

    /// The live sources' figures now.
    pub fn listener_stats(&self) -> Vec<serde_json::Value> {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|f| f())
            .collect()
    }
}
