//! SigmaHQ-style regression cases: `info.yml` naming a rule, plus the log files on which that
//! rule must fire at least `match_count` times.
//!
//! A case passes only when the rule fires often enough on **every** listed rendering (the
//! `.evtx` and its `.json` twin), evaluated through the full engine — routing, field mapping
//! and prefilter included — exactly as `vigil hunt` would.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use vigil_ingest::{DecodeOptions, decode_file};
use vigil_sigma::engine::{Engine, RuleMatch, Scratch};

/// One regression case, as read from its `info.yml`.
#[derive(Clone, Debug)]
pub struct Case {
    pub info: PathBuf,
    pub rule_id: String,
    pub rule_title: String,
    /// Log files the rule must fire on, with the minimum number of matching events.
    pub files: Vec<(PathBuf, u64)>,
}

/// An `info.yml` that could not be used as a case.
#[derive(Clone, Debug)]
pub struct CaseError {
    pub info: PathBuf,
    pub reason: String,
}

#[derive(Deserialize)]
struct InfoYml {
    rule_metadata: Vec<RuleMeta>,
    #[serde(default)]
    regression_tests_info: Option<Vec<TestInfo>>,
}

#[derive(Deserialize)]
struct RuleMeta {
    id: String,
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
struct TestInfo {
    #[serde(default)]
    r#type: Option<String>,
    #[serde(default)]
    match_count: Option<u64>,
    path: String,
}

/// Finds every `info.yml` under `dir` (sorted). Cases with no active test entry (SigmaHQ
/// comments some out) are skipped, not failed; malformed ones are returned as errors.
pub fn discover_cases(dir: &Path) -> (Vec<Case>, Vec<CaseError>) {
    let mut infos = Vec::new();
    collect_infos(dir, &mut infos);
    infos.sort();
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for info in infos {
        match read_case(&info) {
            Ok(Some(c)) => cases.push(c),
            Ok(None) => {}
            Err(reason) => errors.push(CaseError { info, reason }),
        }
    }
    (cases, errors)
}

fn collect_infos(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect_infos(&p, out);
        } else if p.file_name().is_some_and(|n| n == "info.yml") {
            out.push(p);
        }
    }
}

fn read_case(info: &Path) -> Result<Option<Case>, String> {
    let text = std::fs::read_to_string(info).map_err(|e| e.to_string())?;
    let parsed: InfoYml = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
    let meta = parsed
        .rule_metadata
        .into_iter()
        .next()
        .ok_or("no rule_metadata entry")?;
    let Some(tests) = parsed.regression_tests_info else {
        return Ok(None);
    };
    let folder = info.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    for t in tests {
        if t.r#type.as_deref().is_some_and(|ty| ty != "evtx") {
            continue;
        }
        // The path is relative to the SigmaHQ repository root; the files sit beside info.yml.
        let name = Path::new(&t.path)
            .file_name()
            .ok_or_else(|| format!("test path {:?} has no file name", t.path))?;
        let evtx = folder.join(name);
        let min = t.match_count.unwrap_or(1);
        files.push((evtx.clone(), min));
        // The JSON rendering of the same events must give the same answer.
        let json = evtx.with_extension("json");
        if json.is_file() {
            files.push((json, min));
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    Ok(Some(Case {
        info: info.to_path_buf(),
        rule_id: meta.id,
        rule_title: meta.title,
        files,
    }))
}

/// The outcome of one file of a case.
#[derive(Clone, Debug)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub expected: u64,
    pub matched: u64,
    pub events: u64,
    pub decode_errors: u64,
    /// Set when the file could not be decoded at all.
    pub failure: Option<String>,
}

impl FileOutcome {
    /// True when the rule fired at least as often as required.
    pub fn passed(&self) -> bool {
        self.failure.is_none() && self.matched >= self.expected
    }
}

/// The outcome of a case.
#[derive(Clone, Debug)]
pub struct CaseOutcome {
    pub case: Case,
    /// Why the case could not run (e.g. its rule is not loaded), if so.
    pub error: Option<String>,
    pub files: Vec<FileOutcome>,
}

impl CaseOutcome {
    /// True when the case ran and every file passed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && !self.files.is_empty() && self.files.iter().all(FileOutcome::passed)
    }
}

/// Runs `case` through `engine`: counts events of each file on which the case's rule fires.
pub fn run_case(case: &Case, engine: &Engine) -> CaseOutcome {
    let Some(rule) =
        (0..engine.len()).find(|&i| engine.rule(i).id.as_deref() == Some(&case.rule_id))
    else {
        return CaseOutcome {
            case: case.clone(),
            error: Some(format!("rule {} is not loaded", case.rule_id)),
            files: Vec::new(),
        };
    };
    let mut scratch = Scratch::new(engine);
    let mut matches: Vec<RuleMatch> = Vec::new();
    let files = case
        .files
        .iter()
        .map(|(path, expected)| {
            let (mut matched, mut events, mut decode_errors) = (0, 0, 0);
            let result = decode_file(
                path,
                &DecodeOptions::default(),
                &mut |event| {
                    events += 1;
                    matches.clear();
                    engine.evaluate(&event, &mut scratch, &mut matches);
                    if matches.iter().any(|m| m.rule == rule) {
                        matched += 1;
                    }
                },
                &mut |_| decode_errors += 1,
            );
            FileOutcome {
                path: path.clone(),
                expected: *expected,
                matched,
                events,
                decode_errors,
                failure: result.err().map(|e| e.to_string()),
            }
        })
        .collect();
    CaseOutcome {
        case: case.clone(),
        error: None,
        files,
    }
}
