//! Helpers shared by vigil-sigma's integration tests: finding corpus files, loading SigmaHQ's
//! rule set, compiling engines and decoding events.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vigil_core::Event;
use vigil_sigma::engine::Engine;
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::{RuleSet, SigmaConfig, load_rules};

/// The rule folders of a SigmaHQ checkout that hold rules.
pub const SIGMAHQ_RULE_DIRS: [&str; 5] = [
    "rules",
    "rules-emerging-threats",
    "rules-threat-hunting",
    "rules-placeholder",
    "rules-compliance",
];

/// Every rule folder ([`SIGMAHQ_RULE_DIRS`]) of the SigmaHQ checkout at `sigma`.
pub fn sigmahq_rule_dirs(sigma: &Path) -> Vec<PathBuf> {
    SIGMAHQ_RULE_DIRS.iter().map(|d| sigma.join(d)).collect()
}

/// The sample placeholder values (`data/placeholders-sample.yml`), which let the
/// rules-placeholder rules load too.
pub fn sample_placeholders() -> SigmaConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/placeholders-sample.yml");
    SigmaConfig::from_file(&path).expect("sample placeholders parse")
}

/// All of SigmaHQ's rules (every folder of [`sigmahq_rule_dirs`]) with the sample placeholders.
pub fn load_sigmahq(sigma: &Path) -> RuleSet {
    load_rules(&sigmahq_rule_dirs(sigma), &sample_placeholders())
}

/// The rules under `dirs`, compiled with the built-in logsource mapping; compile rejections are
/// dropped.
pub fn compile_builtin(dirs: &[PathBuf], config: &SigmaConfig) -> Engine {
    let set = load_rules(dirs, config);
    Engine::compile(set.rules, &LogsourceMapping::builtin()).0
}

/// All of SigmaHQ's rules at `sigma` (every folder of [`sigmahq_rule_dirs`], with the sample
/// placeholders) compiled with the built-in logsource mapping.
pub fn sigmahq_engine(sigma: &Path) -> Engine {
    compile_builtin(&sigmahq_rule_dirs(sigma), &sample_placeholders())
}

/// Every file under `dir` (recursively, sorted, as [`vigil_ingest::discover`] finds them: hidden
/// files and obvious non-logs skipped, symlinked folders not followed) whose extension is `ext`,
/// compared case-insensitively. A missing `dir` yields no files.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    let mut files = vigil_ingest::discover(&[dir.to_path_buf()])
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    files.retain(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)));
    files
}

/// Every file named `name` under `dir` (recursively, sorted). A missing or unreadable folder
/// yields nothing. (Not [`vigil_ingest::discover`]: it skips `.yml` files.)
pub fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, name, out);
            } else if path.file_name().is_some_and(|n| n == name) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, name, &mut out);
    out.sort();
    out
}

/// Every event of `files`, in order, decoded with `opts`; files that fail to decode and
/// undecodable records are skipped.
pub fn decode_all(files: &[PathBuf], opts: &vigil_ingest::DecodeOptions) -> Vec<Event> {
    let mut events = Vec::new();
    for f in files {
        let _ = vigil_ingest::decode_file(f, opts, &mut |e| events.push(e), &mut |_| {});
    }
    events
}
