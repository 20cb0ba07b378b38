//! `hunt` with indicators: when rules fire on an event, its intel match reuses the entities
//! their detections hold instead of extracting them again. The output must be what running
//! `detect` then `detect_intel` (its own extraction) on each event gives. The indicators are
//! the file hashes of the events rules fire on, so both kinds of detection land on the same
//! events. Skipped (saying so) when the corpus is absent outside CI.

use std::sync::Arc;

use vigil_core::{Level, Timestamp};
use vigil_detect::hunt::{HuntOptions, HuntSink, hunt};
use vigil_detect::{Detection, detect, detect_intel, load_and_compile};
use vigil_ingest::{DecodeError, IngestError, discover};
use vigil_intel::{ImportOptions, IntelSet, Matcher};
use vigil_sigma::engine::Scratch;
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;

#[derive(Default)]
struct Collect(Vec<Detection>);

impl HuntSink for Collect {
    fn detection(&mut self, d: &Detection) {
        self.0.push(d.clone());
    }
    fn decode_error(&mut self, _: &DecodeError) {}
    fn file_failed(&mut self, e: &IngestError) {
        panic!("{e}");
    }
}

fn json(d: &[Detection]) -> Vec<String> {
    d.iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect()
}

#[test]
fn intel_beside_rules_equals_intel_alone() {
    let Some(data) = vigil_core::corpus::corpus_dir() else {
        eprintln!("skipped: no corpus");
        return;
    };
    let rules = load_and_compile(
        &[data.join("sigma/rules/windows")],
        &SigmaConfig::default(),
        &LogsourceMapping::builtin(),
    );
    let files = discover(&[data.join("evtx-attack-samples/Execution")]).unwrap();
    let opts = |intel| HuntOptions {
        threads: 1,
        min_level: Level::Informational,
        decode_only: false,
        intel,
    };

    // The indicators: every file hash on an event some rule fires on.
    let mut plain = Collect::default();
    hunt(&files, &rules.engine, &opts(None), &mut plain).unwrap();
    let mut hashes: Vec<String> = plain
        .0
        .iter()
        .flat_map(|d| d.entities.iter())
        .filter(|(f, _)| f.hash_algorithm().is_some())
        .filter_map(|(_, v)| v.as_str().map(str::to_string))
        .collect();
    hashes.sort();
    hashes.dedup();
    assert!(hashes.len() > 10, "only {} hashes", hashes.len());
    let mut set = IntelSet::new();
    let list = format!(
        "# file hashes of events rules fire on\n{}\n",
        hashes.join("\n")
    );
    let report = set.import_bytes("hashes.txt", list.as_bytes(), &ImportOptions::default());
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let matcher = Arc::new(Matcher::build(&set, Timestamp::now()));

    let mut with_intel = Collect::default();
    hunt(
        &files,
        &rules.engine,
        &opts(Some(Arc::clone(&matcher))),
        &mut with_intel,
    )
    .unwrap();

    // The same events, each through `detect` and then `detect_intel` on its own.
    let mut alone = Vec::new();
    let (mut scratch, mut matches, mut buf) = (Scratch::new(&rules.engine), Vec::new(), Vec::new());
    for file in &files {
        let mut each = |e: vigil_core::Event| {
            detect(
                &rules.engine,
                &e,
                &mut scratch,
                &mut matches,
                Level::Informational,
                &mut alone,
            );
            detect_intel(&matcher, &e, &mut buf, Level::Informational, &mut alone);
        };
        vigil_ingest::decode_file(file, &Default::default(), &mut each, &mut |_| {}).unwrap();
    }
    let intel_hits = alone.iter().filter(|d| d.intel.is_some()).count();
    let rule_hits = alone.len() - intel_hits;
    eprintln!("{rule_hits} rule detections, {intel_hits} intel detections");
    assert!(intel_hits > 10 && rule_hits > 10);
    let (mut got, mut want) = (json(&with_intel.0), json(&alone));
    got.sort();
    want.sort();
    assert_eq!(got, want);
}
