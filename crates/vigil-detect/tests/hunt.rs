//! Hunting over the real corpora: output is identical whatever the thread count, and the
//! summary accounts for every event.

use std::path::PathBuf;

use vigil_core::Level;
use vigil_detect::hunt::{HuntOptions, HuntSink, hunt};
use vigil_detect::{Detection, load_and_compile};
use vigil_ingest::{DecodeError, IngestError, discover};
use vigil_sigma::mapping::LogsourceMapping;
use vigil_sigma::ruleset::SigmaConfig;

#[derive(Default)]
struct Collect {
    detections: Vec<(String, Option<String>, Option<u64>)>,
    errors: usize,
}

impl HuntSink for Collect {
    fn detection(&mut self, d: &Detection) {
        assert!(
            !d.evidence.is_empty(),
            "a detection without evidence: {d:?}"
        );
        self.detections.push((
            d.file.to_string(),
            d.rule_id().map(str::to_string),
            d.record_id,
        ));
    }
    fn decode_error(&mut self, _: &DecodeError) {
        self.errors += 1;
    }
    fn file_failed(&mut self, _: &IngestError) {
        self.errors += 1;
    }
}

#[test]
fn hunt_is_deterministic_across_thread_counts() {
    let Some(data) = vigil_core::corpus::corpus_dir() else {
        return;
    };
    let rules = load_and_compile(
        &[data.join("sigma/rules/windows")],
        &SigmaConfig::default(),
        &LogsourceMapping::builtin(),
    );
    assert!(rules.loaded() > 2000, "{} rules", rules.loaded());
    let files = discover(&[
        data.join("evtx-attack-samples/Credential Access"),
        data.join("security-datasets/windows/credential_access"),
    ])
    .unwrap();
    let mut runs = Vec::new();
    for threads in [1, 2, 3] {
        let mut sink = Collect::default();
        let opts = HuntOptions {
            threads,
            min_level: Level::Informational,
            decode_only: false,
            intel: None,
        };
        let summary = hunt(&files, &rules.engine, &opts, &mut sink).unwrap();
        assert_eq!(summary.files as usize, files.len());
        assert_eq!(summary.detections as usize, sink.detections.len());
        assert_eq!(
            summary.detections_by_level.values().sum::<u64>(),
            summary.detections
        );
        assert_eq!(
            summary.events_by_format.values().sum::<u64>(),
            summary.events
        );
        runs.push((summary.events, sink.detections, sink.errors));
    }
    assert!(runs[0].0 > 1000, "{} events", runs[0].0);
    assert!(
        !runs[0].1.is_empty(),
        "credential-access samples must raise detections"
    );
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
}

#[test]
fn min_level_filters_detections() {
    let Some(data) = vigil_core::corpus::corpus_dir() else {
        return;
    };
    let rules = load_and_compile(
        &[data.join("sigma/rules/windows")],
        &SigmaConfig::default(),
        &LogsourceMapping::builtin(),
    );
    let files: Vec<PathBuf> =
        discover(&[data.join("security-datasets/windows/credential_access")]).unwrap();
    let count = |min_level| {
        let mut sink = Collect::default();
        let opts = HuntOptions {
            threads: 2,
            min_level,
            decode_only: false,
            intel: None,
        };
        let s = hunt(&files, &rules.engine, &opts, &mut sink).unwrap();
        (s.detections, s.detections_by_level)
    };
    let (all, by_level) = count(Level::Informational);
    let (high, high_by_level) = count(Level::High);
    assert!(high < all, "{high} vs {all}");
    assert!(high_by_level.keys().all(|l| *l >= Level::High));
    assert_eq!(
        high,
        by_level
            .iter()
            .filter(|(l, _)| **l >= Level::High)
            .map(|(_, n)| n)
            .sum::<u64>()
    );
}
