//! Loading a rule set and compiling it into the engine, with one report of everything that
//! could not be used.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use vigil_sigma::engine::Engine;
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::Rejection;
use vigil_sigma::ruleset::{LoadReport, RuleSet, SigmaConfig, load_rules, load_source};

/// A compiled rule set and the account of how it was built.
pub struct LoadedRules {
    pub engine: Engine,
    /// Parse-time report (files, documents, loaded, rejected, correlations, filters).
    pub report: LoadReport,
    /// Rules that parsed but could not be compiled (e.g. an unmapped logsource).
    pub compile_rejections: Vec<Rejection>,
    pub correlations: usize,
    pub filters: usize,
    pub elapsed: Duration,
}

impl LoadedRules {
    /// Every rejection, parse-time then compile-time.
    pub fn rejections(&self) -> impl Iterator<Item = &Rejection> {
        self.report.rejected.iter().chain(&self.compile_rejections)
    }

    /// Rules usable for detection.
    pub fn loaded(&self) -> usize {
        self.engine.len()
    }

    /// Rejection counts by reason kind, most frequent first.
    pub fn rejected_by_kind(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for r in self.rejections() {
            *counts.entry(r.reason.kind().to_string()).or_default() += 1;
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

/// Loads every rule under `paths`, then compiles the usable ones with `mapping`.
pub fn load_and_compile(
    paths: &[PathBuf],
    config: &SigmaConfig,
    mapping: &LogsourceMapping,
) -> LoadedRules {
    let start = Instant::now();
    compile(load_rules(paths, config), mapping, start)
}

/// Compiles the rules of one text (see [`vigil_sigma::ruleset::load_source`]) with `mapping`:
/// for rules that are not files, such as one pasted into a retro-hunt.
pub fn compile_source(
    src: &str,
    name: &str,
    config: &SigmaConfig,
    mapping: &LogsourceMapping,
) -> LoadedRules {
    let start = Instant::now();
    compile(load_source(src, name, config), mapping, start)
}

fn compile(set: RuleSet, mapping: &LogsourceMapping, start: Instant) -> LoadedRules {
    let correlations = set.correlations.len();
    let filters = set.filters.len();
    let (engine, compile_rejections) = Engine::compile(set.rules, mapping);
    LoadedRules {
        engine,
        report: set.report,
        compile_rejections,
        correlations,
        filters,
        elapsed: start.elapsed(),
    }
}
