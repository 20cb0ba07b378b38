//! The server's threat intelligence: the indicator set in force, where each feed's indicators
//! came from, imports through the API and the CLI, and the automatic retro-hunt of new
//! indicators.
//!
//! Feeds are files. Configured feeds (`[monitor.intel] feeds`) are read where they are; an
//! imported feed is kept under `<data>/intel/feeds/<feed>/` as the bytes it arrived as, one
//! file per import, so a restart rebuilds the same set. `replace` drops a feed's earlier
//! imports (a daily CSV that is the whole list); otherwise imports add up (a bundle of new
//! indicators). After every change the matcher is rebuilt from the whole set and swapped in
//! one step: detection never sees half a set.
//!
//! When an import brings indicators the set did not hold, the lake's last
//! `retrohunt_days` days are searched for them on a thread of their own (one retro-hunt at a
//! time); each match is recorded as an alert with its original event time and the tag
//! [`RETRO_TAG`]. An event already alerted on by live detection joins its alert instead of
//! doubling it (the alert store's hit ledger).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use vigil_core::Level;
use vigil_intel::{
    AllowEntry, Allowlist, DecayModel, FileReport, ImportOptions, IndicatorKind, IntelSet,
    LifecycleView, Matcher, Sighting, Sightings,
};
use vigil_store::lake::ScanRange;
use vigil_store::state::{Expect, NewAlert, RecordOutcome, RecordPut, RecordStore, StateError};

use crate::pipeline::{SharedIntel, new_alert};
use crate::retrohunt::{HuntRules, RetroHunt, retro_hunt_with};
use crate::{IntelSettings, Monitor, MonitorError, current, lock};

/// Where imported feeds are kept, under the data directory.
pub const FEEDS_DIR: &str = "intel/feeds";

/// The tag of alerts raised by the automatic retro-hunt of new indicators.
pub const RETRO_TAG: &str = "vigil.retro-hunt";

/// Rejections a feed's status lists (all are counted).
const REJECTIONS_SHOWN: usize = 20;

/// Automatic retro-hunts remembered for the feeds API.
const RETRO_LOG: usize = 20;

/// One feed's figures: what its files gave, and what went wrong.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct FeedStatus {
    pub name: String,
    /// `config` (a configured path, read at start) or `import` (kept in the data directory).
    pub origin: String,
    /// The configured path, for `config` feeds.
    pub path: Option<String>,
    /// Files (imports) the feed holds.
    pub files: u64,
    /// Objects, rows or lines read, over all its files.
    pub read: u64,
    /// Indicator values the feed brought first.
    pub added: u64,
    /// Indicator values another feed (or an earlier file) already had.
    pub merged: u64,
    /// Things that should have been indicators but could not be (all counted).
    pub rejected: u64,
    /// Deliberately not imported, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// The last import or load.
    #[schema(value_type = Option<String>)]
    pub last_import: Option<Timestamp>,
    /// For a TAXII feed: the last pull, its objects, and why it stopped early if it did.
    #[schema(value_type = Option<String>)]
    pub last_pull: Option<Timestamp>,
    pub last_pull_objects: u64,
    pub last_error: Option<String>,
    /// The first rejections (file, place, reason).
    pub rejections: Vec<String>,
}

impl FeedStatus {
    fn count(&mut self, fr: &FileReport) {
        self.files += 1;
        self.read += fr.read;
        self.added += fr.added;
        self.merged += fr.merged;
        self.rejected += fr.rejected.len() as u64;
        for (why, n) in &fr.skipped {
            *self.skipped.entry(why.clone()).or_default() += n;
        }
        for r in &fr.rejected {
            if self.rejections.len() < REJECTIONS_SHOWN {
                self.rejections.push(format!(
                    "{}: {}: {}",
                    fr.path.display(),
                    r.location,
                    r.reason
                ));
            }
        }
    }
}

/// One automatic retro-hunt of new indicators.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AutoRetroHunt {
    pub feed: String,
    #[schema(value_type = String)]
    pub started: Timestamp,
    /// Indicators the import brought that the set did not hold.
    pub new_indicators: usize,
    /// Stored events from this time on were searched.
    #[schema(value_type = String)]
    pub from: Timestamp,
    pub events_scanned: u64,
    /// Events naming a new indicator.
    pub matches: u64,
    /// Alerts created, and matches that joined an alert already there.
    pub alerts_created: u64,
    pub alerts_joined: u64,
    pub elapsed_ms: u64,
    /// Why it could not run or finish.
    pub error: Option<String>,
}

/// What `POST /api/v1/intel/import` did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportOutcome {
    pub feed: String,
    /// The format told from the content.
    pub format: Option<String>,
    pub read: u64,
    /// Indicator values in the file.
    pub indicators: u64,
    /// Of those, values no feed had before.
    pub new_indicators: usize,
    pub skipped: BTreeMap<String, u64>,
    pub rejected: u64,
    /// The rejections, at most 100, with place and reason.
    pub rejections: Vec<String>,
    /// Indicators in force after the import (live ones, in the matcher).
    pub indicators_in_force: usize,
    /// `started`, `no new indicators`, `disabled` or `no lake`.
    pub retro_hunt: String,
}

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntelImportError {
    #[error("feed name {0:?}: use 1-64 letters, digits, `.`, `_` or `-`, not starting with `.`")]
    BadFeedName(String),
    #[error("nothing to import: {0}")]
    NothingImported(String),
    #[error("keeping the feed file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Record kind of allowlist entries (id: the pattern as text).
const ALLOW: &str = "intel-allow";

/// The allowlist in force, replaceable while detection runs.
pub type SharedAllowlist = Arc<std::sync::RwLock<Arc<Allowlist>>>;

/// Drops the intel detections whose matched event value is allowlisted (the indicator itself
/// is left out of the matcher already; this covers values inside a block or under a domain).
pub fn drop_allowlisted(allowlist: &Allowlist, found: &mut Vec<vigil_detect::Detection>) {
    if allowlist.is_empty() {
        return;
    }
    found.retain(|d| {
        let Some(ctx) = &d.intel else { return true };
        let Some(kind) = IndicatorKind::from_name(ctx.kind) else {
            return true;
        };
        !d.evidence
            .iter()
            .any(|e| allowlist.suppresses(kind, &e.value).is_some())
    });
}

/// Record kind of TAXII cursors (id: the feed name).
const TAXII_CURSOR: &str = "taxii-cursor";

/// A TAXII 2.1 collection pulled on a schedule (`[[monitor.intel.taxii]]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxiiFeed {
    /// The feed name its indicators get (1-64 letters, digits, `.`, `_`, `-`).
    pub feed: String,
    /// The API root URL (`https://taxii.example/api1/`; http or https).
    pub root: String,
    /// The collection id.
    pub collection: String,
    /// Basic-auth user, if the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the password (secrets stay out of the file).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Minutes between pulls (default 60); the first is at start.
    #[serde(default = "default_taxii_interval")]
    pub interval_minutes: u64,
    /// Objects per page to ask for (default: the server's).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// A PEM file of CA certificates trusted besides the system's, for a server whose
    /// certificate a private CA issued.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_taxii_interval() -> u64 {
    60
}

/// The indicator set in force and its feeds.
pub struct IntelService {
    dir: PathBuf,
    settings: IntelSettings,
    records: Arc<dyn RecordStore>,
    /// The matcher detection reads (swapped whole).
    pub matcher: SharedIntel,
    /// The allowlist detection applies to each match (an allowlisted address inside a block
    /// indicator, a subdomain under a bad domain), swapped with the matcher.
    pub allowlist: SharedAllowlist,
    state: Mutex<IntelState>,
    retro_log: Mutex<VecDeque<AutoRetroHunt>>,
}

struct IntelState {
    set: IntelSet,
    feeds: BTreeMap<String, FeedStatus>,
    /// Values that never match (analysts' false positives, warninglists).
    allowlist: Allowlist,
    /// Each indicator's last sighting (from its alerts): refreshes decay.
    sightings: Sightings,
}

/// The lifecycle model in force: the configured one, or one that never decays.
fn model(settings: &IntelSettings) -> DecayModel {
    if settings.decay {
        settings.decay_model.clone()
    } else {
        DecayModel {
            floor: 0.0,
            ..DecayModel::default()
        }
    }
}

/// Each indicator's last sighting, from its intel alerts (`rule_hits`). A sighting only moves
/// a clock the indicator has (`effective_confidence`).
fn sightings(store: &dyn vigil_store::state::AlertStore) -> Result<Sightings, StateError> {
    let list: Vec<Sighting> = store
        .rule_hits(None)?
        .into_iter()
        .filter_map(|h| {
            let (kind, value) = h.rule_id.strip_prefix("intel:")?.split_once(':')?;
            Some(Sighting {
                kind: IndicatorKind::from_name(kind)?,
                value: value.to_string(),
                count: h.events,
                first_seen: h.last_seen,
                last_seen: h.last_seen,
                places: Vec::new(),
                places_dropped: 0,
            })
        })
        .collect();
    Ok(Sightings::from(list))
}

/// The allowlist stored in `records`.
fn load_allowlist(records: &dyn RecordStore) -> Result<Allowlist, String> {
    let mut list = Allowlist::new();
    for r in records.list_records(ALLOW).map_err(|e| e.to_string())? {
        let entry: AllowEntry =
            serde_json::from_str(&r.body).map_err(|e| format!("allowlist entry {}: {e}", r.id))?;
        list.add(entry);
    }
    Ok(list)
}

fn valid_feed_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl IntelService {
    /// Loads the configured feeds and those imported into `data_dir`, printing what each gave
    /// and its first rejections; a configured feed that cannot be read stops the start.
    pub fn open(
        data_dir: &Path,
        settings: &IntelSettings,
        records: Arc<dyn RecordStore>,
        store: &dyn vigil_store::state::AlertStore,
    ) -> Result<IntelService, MonitorError> {
        settings
            .decay_model
            .validate()
            .map_err(|e| MonitorError::Data(format!("[monitor.intel.decay_model]: {e}")))?;
        // A CA file that cannot be read would fail every pull: refuse it now, by feed.
        let ca_files = (settings.taxii.iter())
            .map(|f| ("taxii", &f.feed, &f.ca_file))
            .chain(settings.misp.iter().map(|f| ("misp", &f.feed, &f.ca_file)));
        for (table, feed, ca_file) in ca_files {
            if let Some(path) = ca_file {
                vigil_intel::fetch::check_ca_file(path).map_err(|e| {
                    MonitorError::Data(format!("[[monitor.intel.{table}]] feed {feed}: {e}"))
                })?;
            }
        }
        let allowlist = load_allowlist(records.as_ref()).map_err(MonitorError::Data)?;
        let dir = data_dir.join(FEEDS_DIR);
        let (set, feeds) = load_all(&dir, settings)?;
        for f in feeds.values() {
            eprintln!(
                "vigil serve: intel {}: {} indicators added, {} merged, {} rejected",
                f.path.as_deref().unwrap_or(&f.name),
                f.added,
                f.merged,
                f.rejected
            );
            for r in &f.rejections {
                eprintln!("vigil serve: intel   {r}");
            }
        }
        let state = IntelState {
            set,
            feeds,
            allowlist,
            // Read now, so the first matcher already has them (the refresher waits an interval).
            sightings: sightings(store)
                .map_err(|e| MonitorError::Data(format!("intel sightings: {e}")))?,
        };
        let service = IntelService {
            dir,
            settings: settings.clone(),
            records,
            matcher: Arc::new(std::sync::RwLock::new(Arc::new(Matcher::build(
                &IntelSet::new(),
                Timestamp::now(),
            )))),
            allowlist: Arc::new(std::sync::RwLock::new(Arc::new(Allowlist::new()))),
            state: Mutex::new(state),
            retro_log: Mutex::new(VecDeque::new()),
        };
        service.swap(&lock(&service.state));
        Ok(service)
    }

    /// The matcher in force.
    pub fn current(&self) -> Arc<Matcher> {
        current(&self.matcher)
    }

    /// Rebuilds the matcher from the whole set, leaving out what the lifecycle says (decayed,
    /// allowlisted), and swaps it in; returns the indicators in force.
    fn swap(&self, st: &IntelState) -> usize {
        let model = model(&self.settings);
        let view = LifecycleView {
            model: &model,
            sightings: &st.sightings,
            allowlist: &st.allowlist,
        };
        let m = view.build(&st.set, Timestamp::now());
        let n = m.len();
        *self.matcher.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(m);
        *self.allowlist.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(st.allowlist.clone());
        n
    }

    /// The allowlist's entries.
    pub fn allowlist(&self) -> Vec<AllowEntry> {
        lock(&self.state).allowlist.entries().to_vec()
    }

    /// Puts `entry` on the allowlist (kept in the state database) and rebuilds the matcher:
    /// the value stops matching everywhere at once.
    pub fn allow(&self, entry: AllowEntry) -> Result<(), StateError> {
        let mut st = lock(&self.state);
        self.records.put_records(&[RecordPut {
            kind: ALLOW.into(),
            id: entry.pattern.to_string(),
            body: Some(serde_json::to_string(&entry).expect("allowlist entries serialise")),
            expect: Expect::Any,
        }])?;
        st.allowlist.add(entry);
        self.swap(&st);
        Ok(())
    }

    /// Takes the entry whose pattern reads `pattern` (`domain example.com`, `cidr 10.0.0.0/8`,
    /// `domain-suffix cdn.example`) off the allowlist; false when there is none.
    pub fn disallow(&self, pattern: &str) -> Result<bool, StateError> {
        let mut st = lock(&self.state);
        let Some(r) = self.records.get_record(ALLOW, pattern)? else {
            return Ok(false);
        };
        self.records.put_records(&[RecordPut {
            kind: ALLOW.into(),
            id: pattern.to_string(),
            body: None,
            expect: Expect::Version(r.version),
        }])?;
        st.allowlist = load_allowlist(self.records.as_ref()).map_err(StateError::InvalidInput)?;
        self.swap(&st);
        Ok(true)
    }

    /// Re-reads each indicator's last sighting from the intel alerts (`rule_hits`) and
    /// rebuilds the matcher: decay moves on with time, a sighting refreshes it.
    pub fn refresh(&self, store: &dyn vigil_store::state::AlertStore) -> Result<usize, StateError> {
        let sightings = sightings(store)?;
        let mut st = lock(&self.state);
        st.sightings = sightings;
        Ok(self.swap(&st))
    }

    /// Runs `f` with the set and the lifecycle view of now (for exports and reports).
    pub fn with_view<T>(&self, f: impl FnOnce(&IntelSet, &LifecycleView<'_>) -> T) -> T {
        let st = lock(&self.state);
        let model = model(&self.settings);
        let view = LifecycleView {
            model: &model,
            sightings: &st.sightings,
            allowlist: &st.allowlist,
        };
        f(&st.set, &view)
    }

    /// Every feed's status, by name.
    pub fn feeds(&self) -> Vec<FeedStatus> {
        lock(&self.state).feeds.values().cloned().collect()
    }

    /// Indicators held (live or not).
    pub fn indicators(&self) -> usize {
        lock(&self.state).set.len()
    }

    /// The automatic retro-hunts, most recent first.
    pub fn retro_hunts(&self) -> Vec<AutoRetroHunt> {
        lock(&self.retro_log).iter().rev().cloned().collect()
    }

    /// Runs `f` over the indicators held.
    pub fn with_set<T>(&self, f: impl FnOnce(&IntelSet) -> T) -> T {
        f(&lock(&self.state).set)
    }
}

/// Reads every configured feed and every imported feed directory.
fn load_all(
    dir: &Path,
    settings: &IntelSettings,
) -> Result<(IntelSet, BTreeMap<String, FeedStatus>), MonitorError> {
    let mut set = IntelSet::new();
    let mut feeds = BTreeMap::new();
    let now = Timestamp::now();
    for path in &settings.feeds {
        let report = set
            .import_path(path)
            .map_err(|e| MonitorError::Data(format!("intel feed {}: {e}", path.display())))?;
        let name = path.display().to_string();
        let status = feeds.entry(name.clone()).or_insert_with(|| FeedStatus {
            name,
            origin: "config".into(),
            path: Some(path.display().to_string()),
            ..FeedStatus::default()
        });
        for fr in &report.files {
            status.count(fr);
        }
        status.last_import = Some(now);
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((set, feeds)),
        Err(e) => {
            return Err(MonitorError::Io {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| valid_feed_name(n))
        .collect();
    names.sort();
    for name in names {
        let opts = ImportOptions {
            feed: Some(name.clone()),
            ..ImportOptions::default()
        };
        let path = dir.join(&name);
        let report = set
            .import_path_with(&path, &opts)
            .map_err(|e| MonitorError::Data(format!("intel feed {}: {e}", path.display())))?;
        let status = feeds.entry(name.clone()).or_insert_with(|| FeedStatus {
            name,
            origin: "import".into(),
            ..FeedStatus::default()
        });
        for fr in &report.files {
            status.count(fr);
        }
        status.last_import = Some(now);
    }
    Ok((set, feeds))
}

/// Writes `bytes` as a new file of `feed_dir`, durably, named so files sort in import order.
/// The temporary file is written beside the feed directories (never read as a feed), fsynced,
/// renamed in, and the directory fsynced.
fn keep(feed_dir: &Path, bytes: &[u8]) -> Result<PathBuf, IntelImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IntelImportError::Io { path, source }
    };
    std::fs::create_dir_all(feed_dir).map_err(io(feed_dir))?;
    let stamp = Timestamp::now().as_nanosecond();
    let path = feed_dir.join(format!("{stamp:024}.feed"));
    let tmp = feed_dir
        .parent()
        .unwrap_or(feed_dir)
        .join(format!(".import-{stamp:024}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    std::fs::File::open(feed_dir)
        .and_then(|d| d.sync_all())
        .map_err(io(feed_dir))?;
    Ok(path)
}

/// Imports `bytes` as (part of) `feed`: checks it, keeps it in the data directory, adds it to
/// the set (or, with `replace`, makes it the feed's only file), swaps the matcher, and starts
/// the retro-hunt of the indicators no feed had before.
pub fn import(
    monitor: &Arc<Monitor>,
    feed: &str,
    bytes: &[u8],
    replace: bool,
) -> Result<ImportOutcome, IntelImportError> {
    if !valid_feed_name(feed) {
        return Err(IntelImportError::BadFeedName(feed.to_string()));
    }
    let service = &monitor.intel;
    let opts = ImportOptions {
        feed: Some(feed.to_string()),
        ..ImportOptions::default()
    };
    // The file alone first: what it holds, before anything is kept.
    let mut alone = IntelSet::new();
    let report = alone.import_bytes(feed, bytes, &opts);
    let rejections: Vec<String> = report
        .rejected
        .iter()
        .take(100)
        .map(|r| format!("{}: {}", r.location, r.reason))
        .collect();
    if alone.is_empty() {
        let why = match rejections.first() {
            Some(first) => format!(
                "no indicator in the body ({} rejected; first: {first})",
                report.rejected.len()
            ),
            None => format!(
                "no indicator in the body (format {}, {} read, skipped {:?})",
                report
                    .format
                    .map_or_else(|| "unknown".to_string(), |f| format!("{f:?}")),
                report.read,
                report.skipped
            ),
        };
        return Err(IntelImportError::NothingImported(why));
    }
    let feed_dir = service.dir.join(feed);
    let mut state = lock(&service.state);
    let new_keys: HashSet<(&'static str, String)> = alone
        .iter()
        .filter(|i| state.set.get(i.kind(), i.value()).is_none())
        .map(|i| (i.kind().name(), i.value().to_string()))
        .collect();
    if replace && feed_dir.exists() {
        for entry in std::fs::read_dir(&feed_dir)
            .map_err(|source| IntelImportError::Io {
                path: feed_dir.clone(),
                source,
            })?
            .filter_map(Result::ok)
        {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(|source| IntelImportError::Io { path: p, source })?;
        }
    }
    let kept = keep(&feed_dir, bytes)?;
    if replace {
        // Indicators only the feed's earlier files named go: rebuild from what is kept.
        match load_all(&service.dir, &service.settings) {
            Ok((set, feeds)) => {
                state.set = set;
                state.feeds = feeds;
            }
            Err(e) => {
                return Err(IntelImportError::Io {
                    path: service.dir.clone(),
                    source: std::io::Error::other(e.to_string()),
                });
            }
        }
    } else {
        let fr = state
            .set
            .import_bytes(&kept.display().to_string(), bytes, &opts);
        let status = state
            .feeds
            .entry(feed.to_string())
            .or_insert_with(|| FeedStatus {
                name: feed.to_string(),
                origin: "import".into(),
                ..FeedStatus::default()
            });
        status.count(&fr);
    }
    if let Some(status) = state.feeds.get_mut(feed) {
        status.last_import = Some(Timestamp::now());
    }
    let in_force = service.swap(&state);
    drop(state);

    let new_count = new_keys.len();
    let retro_hunt = if new_keys.is_empty() {
        "no new indicators"
    } else if service.settings.retrohunt_days == 0 {
        "disabled"
    } else if monitor.lake.is_none() {
        "no lake"
    } else {
        let m = Arc::clone(monitor);
        let feed = feed.to_string();
        let only_new = Matcher::build(&alone, Timestamp::now());
        let started = std::thread::Builder::new()
            .name("vigil-intel-retro".into())
            .spawn(move || {
                let done = auto_retro_hunt(&m, feed, only_new, new_keys);
                let mut log = lock(&m.intel.retro_log);
                if log.len() == RETRO_LOG {
                    log.pop_front();
                }
                log.push_back(done);
            });
        match started {
            Ok(_) => "started",
            Err(_) => "could not start a thread",
        }
    };
    Ok(ImportOutcome {
        feed: feed.to_string(),
        format: report.format.map(|f| format!("{f:?}")),
        read: report.read,
        indicators: report.added + report.merged,
        new_indicators: new_count,
        skipped: report.skipped.clone(),
        rejected: report.rejected.len() as u64,
        rejections,
        indicators_in_force: in_force,
        retro_hunt: retro_hunt.to_string(),
    })
}

/// Searches the lake's last `retrohunt_days` days for the indicators in `new_keys` (matched by
/// `only_new`, a matcher of the imported file) and records each match as an alert.
fn auto_retro_hunt(
    monitor: &Arc<Monitor>,
    feed: String,
    only_new: Matcher,
    new_keys: HashSet<(&'static str, String)>,
) -> AutoRetroHunt {
    let started_at = Instant::now();
    let now = Timestamp::now();
    let days = i64::from(monitor.intel.settings.retrohunt_days);
    let from = now
        .checked_sub(jiff::SignedDuration::from_hours(days.saturating_mul(24)))
        .unwrap_or(Timestamp::MIN);
    let mut out = AutoRetroHunt {
        feed,
        started: now,
        new_indicators: new_keys.len(),
        from,
        events_scanned: 0,
        matches: 0,
        alerts_created: 0,
        alerts_joined: 0,
        elapsed_ms: 0,
        error: None,
    };
    let Some(lake) = monitor.lake.as_ref() else {
        out.error = Some("the lake is disabled".into());
        return out;
    };
    // One retro-hunt at a time, waiting for a running one (an analyst's) to end.
    let _one_at_a_time = lock(&monitor.hunting);
    let rules = HuntRules::none(Arc::clone(&monitor.rules.current().rules));
    let hunt = RetroHunt {
        range: ScanRange {
            from: Some(from),
            to: None,
            source: None,
        },
        min_level: Level::Informational,
        max_matches: 0,
        intel: Some(Arc::new(only_new)),
    };
    let mut alerts: Vec<NewAlert> = Vec::new();
    let allowlist = current(&monitor.intel.allowlist);
    let scanned = retro_hunt_with(lake, &rules, &hunt, |d, event| {
        let Some(ctx) = &d.intel else { return };
        if !new_keys.contains(&(ctx.kind, ctx.indicator.clone())) {
            return;
        }
        let mut one = vec![d.clone()];
        drop_allowlisted(&allowlist, &mut one);
        if one.is_empty() {
            return;
        }
        let mut tags: Vec<String> = d.tags().iter().map(|t| format!("attack.{t}")).collect();
        tags.push(RETRO_TAG.to_string());
        alerts.push(new_alert(tags, d.clone(), event, now));
    });
    match scanned {
        Ok(report) => out.events_scanned = report.events_scanned,
        Err(e) => out.error = Some(e.to_string()),
    }
    out.matches = alerts.len() as u64;
    for chunk in alerts.chunks(1_000) {
        match monitor.store.record_batch(chunk) {
            Ok(outcomes) => {
                for o in outcomes {
                    match o {
                        RecordOutcome::Created { .. } => out.alerts_created += 1,
                        _ => out.alerts_joined += 1,
                    }
                }
            }
            Err(e) => {
                out.error = Some(format!("recording the alerts: {e}"));
                break;
            }
        }
    }
    out.elapsed_ms = started_at.elapsed().as_millis() as u64;
    eprintln!(
        "vigil serve: intel {}: retro-hunt of {} new indicators over {} stored events since {}: {} matches, {} alerts created{}",
        out.feed,
        out.new_indicators,
        out.events_scanned,
        out.from,
        out.matches,
        out.alerts_created,
        out.error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    out
}

/// A MISP feed (a directory of `manifest.json` and event files over HTTP) pulled on a schedule
/// (`[[monitor.intel.misp]]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MispFeed {
    /// The feed name its indicators get.
    pub feed: String,
    /// The feed's URL (the directory holding `manifest.json`; http or https).
    pub url: String,
    /// Minutes between pulls (default 60); the first is at start.
    #[serde(default = "default_taxii_interval")]
    pub interval_minutes: u64,
    /// A PEM file of CA certificates trusted besides the system's (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Record kind of MISP feed cursors (id: the feed name).
const MISP_CURSOR: &str = "misp-cursor";

/// One scheduled pull: reads the feed's cursor, lets `fetch` fill a set from it, keeps what
/// came as one new file of the feed (a STIX 2.1 bundle, so a restart rebuilds the indicators)
/// through [`import`] (new indicators are retro-hunted), then moves the cursor. A failed pull
/// keeps what it got before failing and says why in the feed's status.
fn run_pull<C>(
    monitor: &Arc<Monitor>,
    feed: &str,
    origin: &str,
    location: String,
    cursor_kind: &str,
    fetch: impl FnOnce(&mut IntelSet, &C) -> Result<(C, u64, Option<String>), String>,
) -> Result<u64, String>
where
    C: serde::Serialize + serde::de::DeserializeOwned + Default + PartialEq,
{
    let service = &monitor.intel;
    let note = |objects: u64, error: Option<String>| {
        let mut st = lock(&service.state);
        let status = st
            .feeds
            .entry(feed.to_string())
            .or_insert_with(|| FeedStatus {
                name: feed.to_string(),
                ..FeedStatus::default()
            });
        status.origin = origin.to_string();
        status.path = Some(location.clone());
        status.last_pull = Some(Timestamp::now());
        status.last_pull_objects = objects;
        status.last_error = error;
    };
    let fail = |e: String| {
        note(0, Some(e.clone()));
        e
    };
    let cursor: C = match service
        .records
        .get_record(cursor_kind, feed)
        .map_err(|e| fail(e.to_string()))?
    {
        Some(r) => serde_json::from_str(&r.body).unwrap_or_default(),
        None => C::default(),
    };
    let mut pulled = IntelSet::new();
    let (next, objects, error) = fetch(&mut pulled, &cursor).map_err(fail)?;
    if !pulled.is_empty() {
        let bytes = as_bundle(&pulled).map_err(|e| fail(e.to_string()))?;
        import(monitor, feed, &bytes, false).map_err(|e| fail(e.to_string()))?;
    }
    if next != cursor {
        service
            .records
            .put_records(&[RecordPut {
                kind: cursor_kind.into(),
                id: feed.to_string(),
                body: Some(serde_json::to_string(&next).unwrap_or_default()),
                expect: Expect::Any,
            }])
            .map_err(|e| fail(e.to_string()))?;
    }
    note(objects, error.clone());
    match error {
        Some(e) => Err(e),
        None => Ok(objects),
    }
}

/// Pulls `feed`'s TAXII collection from where its cursor stands ([`run_pull`]).
pub fn pull_taxii(monitor: &Arc<Monitor>, feed: &TaxiiFeed) -> Result<u64, String> {
    use vigil_intel::{ClientOptions, FeedClient, PullRequest, TaxiiCursor};
    let location = format!("{} collection {}", feed.root, feed.collection);
    run_pull(
        monitor,
        &feed.feed,
        "taxii",
        location,
        TAXII_CURSOR,
        |pulled, cursor: &TaxiiCursor| {
            let root =
                url::Url::parse(&feed.root).map_err(|e| format!("root {}: {e}", feed.root))?;
            let password = match &feed.password_env {
                Some(var) => Some(
                    std::env::var(var)
                        .map_err(|_| format!("password variable ${var} is not set"))?,
                ),
                None => None,
            };
            let client = FeedClient::new(ClientOptions {
                basic_auth: feed
                    .username
                    .clone()
                    .map(|u| (u, password.unwrap_or_default())),
                ca_file: feed.ca_file.clone(),
                ..ClientOptions::default()
            })
            .map_err(|e| e.to_string())?;
            let report = client.pull(
                pulled,
                &PullRequest {
                    limit: feed.page_size,
                    ..PullRequest::new(root, &feed.collection, &feed.feed)
                },
                cursor,
            );
            let error = report.error.as_ref().map(|e| e.to_string());
            Ok((report.cursor, report.objects, error))
        },
    )
}

/// Pulls the MISP feed's events newer than its cursor ([`run_pull`]); the objects counted are
/// the events fetched.
pub fn pull_misp(monitor: &Arc<Monitor>, feed: &MispFeed) -> Result<u64, String> {
    use vigil_intel::{ClientOptions, FeedClient, MispFeedCursor};
    run_pull(
        monitor,
        &feed.feed,
        "misp-feed",
        feed.url.clone(),
        MISP_CURSOR,
        |pulled, cursor: &MispFeedCursor| {
            let url = url::Url::parse(&feed.url).map_err(|e| format!("url {}: {e}", feed.url))?;
            let client = FeedClient::new(ClientOptions {
                ca_file: feed.ca_file.clone(),
                ..ClientOptions::default()
            })
            .map_err(|e| e.to_string())?;
            let report = client.pull_misp_feed(pulled, &url, &feed.feed, cursor);
            let error = report.error.as_ref().map(|e| e.to_string());
            Ok((report.cursor, report.events.len() as u64, error))
        },
    )
}

/// Every indicator of `set` (revoked and expired ones too, so a revocation is kept) as a STIX
/// 2.1 bundle the STIX importer reads back to the same indicators.
fn as_bundle(set: &IntelSet) -> serde_json::Result<Vec<u8>> {
    use vigil_intel::export::{Selection, indicator_id, stix_bundle};
    let model = DecayModel {
        floor: 0.0,
        ..DecayModel::default()
    };
    let (sightings, allowlist) = (Sightings::new(), Allowlist::new());
    let view = LifecycleView {
        model: &model,
        sightings: &sightings,
        allowlist: &allowlist,
    };
    let now = Timestamp::now();
    let sel = Selection {
        now,
        indicators: set
            .iter()
            .map(|i| (i, model.effective_confidence(i, &sightings, now)))
            .collect(),
        excluded: BTreeMap::new(),
    };
    let mut bundle = stix_bundle(&sel, &view);
    let revoked: HashSet<String> = set
        .iter()
        .filter(|i| i.revoked())
        .map(|i| indicator_id(i.kind(), i.value()))
        .collect();
    if let Some(objects) = bundle["objects"].as_array_mut() {
        for o in objects {
            if o["id"].as_str().is_some_and(|id| revoked.contains(id)) {
                o["revoked"] = serde_json::Value::Bool(true);
            }
        }
    }
    serde_json::to_vec(&bundle)
}
