//! The rule set detection runs: compiled once, swapped whole on reload, with the rules an
//! admin disabled kept aside and remembered across restarts.
//!
//! Detection takes a snapshot ([`LiveRules::current`]) per journal record, so a reload never
//! changes the rules in the middle of a unit and never blocks detection while compiling.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_detect::LoadedRules;

use crate::MonitorError;

/// Loads and compiles the configured rule set (the binary supplies it: it knows the flags and
/// the configuration file). Called at start and on every reload, from a blocking thread.
pub type RuleLoader = Arc<dyn Fn() -> Result<LoadedRules, String> + Send + Sync>;

/// Compiles rule text that is not on disk (a rule sent with a retro-hunt) with the same
/// placeholders and logsource mappings as the configured rules.
pub type RuleCompiler = Arc<dyn Fn(&str) -> Result<LoadedRules, String> + Send + Sync>;

/// One compiled rule set and what is switched off in it.
pub struct RuleSnapshot {
    /// The compiled rules, shared between snapshots that differ only in what is disabled.
    pub rules: Arc<LoadedRules>,
    /// Engine indexes of disabled rules (parallel to `rules.engine.rules()`).
    disabled: Vec<bool>,
    /// Ids (or titles, for rules without an id) of disabled rules.
    pub disabled_ids: BTreeSet<String>,
    /// Reloads since start (0 = the rule set loaded at start).
    pub generation: u64,
}

impl RuleSnapshot {
    fn new(rules: Arc<LoadedRules>, disabled_ids: BTreeSet<String>, generation: u64) -> Self {
        let disabled = rules
            .engine
            .rules()
            .iter()
            .map(|r| disabled_ids.contains(rule_key(r)))
            .collect();
        RuleSnapshot {
            rules,
            disabled,
            disabled_ids,
            generation,
        }
    }

    /// Whether the rule at this engine index is switched off.
    pub fn is_disabled(&self, index: usize) -> bool {
        self.disabled.get(index).copied().unwrap_or(false)
    }
}

/// The id the API and the alert store use for a rule: its `id`, else its title.
pub fn rule_key(rule: &vigil_sigma::Rule) -> &str {
    rule.id.as_deref().unwrap_or(&rule.title)
}

/// The rule set in force, replaceable while detection runs.
pub struct LiveRules {
    current: RwLock<Arc<RuleSnapshot>>,
    loader: RuleLoader,
    /// Where the disabled set is persisted (`<data>/rules-disabled.json`).
    disabled_path: PathBuf,
    /// One reload or enable/disable at a time.
    change: Mutex<()>,
}

/// The file holding the disabled rule ids.
#[derive(Debug, Default, Serialize, Deserialize)]
struct DisabledFile {
    disabled: BTreeSet<String>,
}

/// What a reload did, for the API and the log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadReport {
    /// Rules usable for detection after the reload.
    pub loaded: usize,
    /// Rules that could not be used, with reasons in `GET /api/v1/rules`.
    pub rejected: usize,
    /// The new generation number.
    pub generation: u64,
    /// Seconds the load and compile took.
    pub seconds: f64,
}

impl LiveRules {
    /// Loads the rule set with `loader` and the disabled set from `data_dir`.
    pub fn load(loader: RuleLoader, data_dir: &Path) -> Result<LiveRules, MonitorError> {
        let disabled_path = data_dir.join("rules-disabled.json");
        let disabled = read_disabled(&disabled_path)?;
        let rules = loader().map_err(MonitorError::Rules)?;
        Ok(LiveRules {
            current: RwLock::new(Arc::new(RuleSnapshot::new(Arc::new(rules), disabled, 0))),
            loader,
            disabled_path,
            change: Mutex::new(()),
        })
    }

    /// The rule set to use now.
    pub fn current(&self) -> Arc<RuleSnapshot> {
        crate::current(&self.current)
    }

    /// Reads the rules from disk again and swaps them in; on failure the old set stays.
    pub fn reload(&self) -> Result<ReloadReport, MonitorError> {
        let _one = self.change.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current();
        let rules = (self.loader)().map_err(MonitorError::Rules)?;
        let snapshot = RuleSnapshot::new(
            Arc::new(rules),
            old.disabled_ids.clone(),
            old.generation + 1,
        );
        let report = ReloadReport {
            loaded: snapshot.rules.loaded(),
            rejected: snapshot.rules.rejections().count(),
            generation: snapshot.generation,
            seconds: snapshot.rules.elapsed.as_secs_f64(),
        };
        self.swap(snapshot);
        Ok(report)
    }

    /// Switches a rule on or off by id (or title); persisted before it takes effect. Returns
    /// `false` when no loaded rule has that id.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, MonitorError> {
        let _one = self.change.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current();
        if !old.rules.engine.rules().iter().any(|r| rule_key(r) == id) {
            return Ok(false);
        }
        let mut disabled = old.disabled_ids.clone();
        let changed = if enabled {
            disabled.remove(id)
        } else {
            disabled.insert(id.to_string())
        };
        if changed {
            write_disabled(&self.disabled_path, &disabled)?;
            // The compiled engine is shared: only the disabled flags are rebuilt.
            self.swap(RuleSnapshot::new(
                Arc::clone(&old.rules),
                disabled,
                old.generation,
            ));
        }
        Ok(true)
    }

    fn swap(&self, snapshot: RuleSnapshot) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}

fn read_disabled(path: &Path) -> Result<BTreeSet<String>, MonitorError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<DisabledFile>(&bytes)
            .map(|f| f.disabled)
            .map_err(|e| MonitorError::Data(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(MonitorError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

fn write_disabled(path: &Path, disabled: &BTreeSet<String>) -> Result<(), MonitorError> {
    let body = serde_json::to_vec_pretty(&DisabledFile {
        disabled: disabled.clone(),
    })
    .expect("a set of strings serialises");
    crate::fsutil::write_atomically(path, &body)
}
