//! Helpers shared by the corpus rule tests: all SigmaHQ rules loaded once per test binary,
//! and the rule ids firing on one event.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vigil_core::Event;
use vigil_detect::{LoadedRules, detect, load_and_compile};
use vigil_sigma::engine::Scratch;
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;

/// Every SigmaHQ rule folder, with the sample placeholder values, compiled once.
pub fn rules() -> &'static LoadedRules {
    static RULES: OnceLock<LoadedRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let data = vigil_core::corpus::corpus_dir().unwrap();
        let config = SigmaConfig::from_file(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vigil-sigma/data/placeholders-sample.yml"
        )))
        .unwrap();
        let dirs: Vec<PathBuf> = [
            "rules",
            "rules-emerging-threats",
            "rules-threat-hunting",
            "rules-placeholder",
            "rules-compliance",
        ]
        .iter()
        .map(|d| data.join("sigma").join(d))
        .filter(|d| d.is_dir())
        .collect();
        load_and_compile(&dirs, &config, &LogsourceMapping::builtin())
    })
}

/// Rule ids firing on `event`.
pub fn fired(event: &Event) -> Vec<String> {
    let engine = &rules().engine;
    let mut scratch = Scratch::default();
    let (mut matches, mut out) = (Vec::new(), Vec::new());
    detect(
        engine,
        event,
        &mut scratch,
        &mut matches,
        vigil_core::Level::Informational,
        &mut out,
    );
    out.into_iter()
        .filter_map(|d| d.rule_id().map(str::to_string))
        .collect()
}
