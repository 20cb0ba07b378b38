//! Whole-corpus decoding: every file of the shared corpora decodes, with exact totals.

mod common;

use common::{decode_path, files_with_ext};
use vigil_core::corpus::corpus_path;

#[test]
fn evtx_attack_samples_all_decode() {
    let Some(dir) = corpus_path("evtx-attack-samples") else {
        return;
    };
    let files = files_with_ext(&dir, "evtx");
    let (mut events, mut errors) = (0, 0);
    for f in &files {
        let d = decode_path(f, 0);
        assert_eq!(d.stats.events as usize, d.events.len());
        for e in &d.errors {
            eprintln!("ERR {e}");
        }
        events += d.stats.events;
        errors += d.stats.errors;
    }
    eprintln!(
        "evtx-attack-samples: {} files, {events} events, {errors} errors",
        files.len()
    );
    assert_eq!(files.len(), 183);
}

#[test]
fn security_datasets_all_decode() {
    let Some(dir) = corpus_path("security-datasets/windows") else {
        return;
    };
    let files = files_with_ext(&dir, "json");
    let (mut events, mut errors) = (0, 0);
    for f in &files {
        let d = decode_path(f, 0);
        for e in &d.errors {
            eprintln!("ERR {e}");
        }
        eprintln!(
            "{}: {:?} {}",
            f.display(),
            d.stats.json_shape,
            d.stats.events
        );
        events += d.stats.events;
        errors += d.stats.errors;
    }
    eprintln!(
        "security-datasets: {} files, {events} events, {errors} errors",
        files.len()
    );
    assert_eq!(files.len(), 10);
}
