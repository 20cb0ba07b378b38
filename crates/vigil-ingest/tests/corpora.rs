//! Whole-corpus decoding: every file of the shared corpora decodes, with exact totals
//! (counted once with this decoder and cross-checked against the chunk headers' record
//! ranges for EVTX).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{decode_path, files_with_ext};
use rayon::prelude::*;
use vigil_core::Value;
use vigil_core::corpus::corpus_path;
use vigil_ingest::{DecodeOptions, Format, IngestError, decode_file, discover};

#[test]
fn evtx_attack_samples_all_decode() {
    let Some(dir) = corpus_path("evtx-attack-samples") else {
        return;
    };
    let files = files_with_ext(&dir, "evtx");
    assert_eq!(files.len(), 183);
    let (mut events, mut errors) = (0, 0);
    for f in &files {
        let d = decode_path(f, 0);
        assert_eq!(d.stats.format, Format::Evtx);
        assert_eq!(d.stats.events as usize, d.events.len());
        assert!(d.errors.is_empty(), "{}: {:?}", f.display(), d.errors);
        assert!(
            d.events
                .iter()
                .all(|e| matches!(e.get_str("EventID"), Some(Value::Int(_))))
        );
        assert!(
            d.events
                .iter()
                .all(|e| e.logsource.product.as_deref() == Some("windows"))
        );
        assert!(
            d.events
                .iter()
                .all(|e| e.time.is_some() && e.source.offset.is_some())
        );
        events += d.stats.events;
        errors += d.stats.errors;
    }
    assert_eq!((events, errors), (4462, 0));
}

#[test]
fn security_datasets_all_decode() {
    let Some(dir) = corpus_path("security-datasets/windows") else {
        return;
    };
    let files = files_with_ext(&dir, "json");
    assert_eq!(files.len(), 10);
    let (mut events, mut errors) = (0, 0);
    for f in &files {
        let d = decode_path(f, 0);
        assert_eq!(d.stats.json_shape, Some(vigil_ingest::JsonShape::Lines));
        assert!(
            d.events
                .iter()
                .all(|e| matches!(e.get_str("EventID"), Some(Value::Int(_))))
        );
        assert!(
            d.events
                .iter()
                .all(|e| e.get_str("Computer").is_some() && e.time.is_some())
        );
        events += d.stats.events;
        errors += d.stats.errors;
    }
    assert_eq!((events, errors), (2418, 0));
}

/// Files decoded in parallel on a rayon pool (as the `vigil` binary does), each with
/// automatic chunk workers: same totals, no deadlock even on a 2-thread pool.
#[test]
fn files_in_parallel_on_a_rayon_pool() {
    let Some(dir) = corpus_path("evtx-attack-samples") else {
        return;
    };
    let files = discover(&[dir]).unwrap();
    // Every .evtx, plus one IIS .log that sniffing then rejects; no LICENSE/.txt.
    assert_eq!(files.len(), 184);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (events, errors, unknown) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    pool.install(|| {
        files.par_iter().for_each(|f| {
            let mut count = 0;
            match decode_file(
                f,
                &DecodeOptions::default(),
                &mut |_| count += 1,
                &mut |_| {},
            ) {
                Ok(s) => {
                    assert_eq!(s.events, count);
                    events.fetch_add(s.events, Ordering::Relaxed);
                    errors.fetch_add(s.errors, Ordering::Relaxed);
                }
                Err(IngestError::UnknownFormat { path, .. }) => {
                    assert!(path.to_string_lossy().ends_with(".log"));
                    unknown.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("{e}"),
            }
        })
    });
    assert_eq!(events.into_inner(), 4462);
    assert_eq!(errors.into_inner(), 0);
    assert_eq!(unknown.into_inner(), 1);
}

/// Non-Windows JSON (CloudTrail envelopes, Suricata EVE NDJSON) decodes generically: dotted
/// names, JSON types; CloudTrail records get `product: aws, service: cloudtrail`.
#[test]
fn generic_json_corpora() {
    let (Some(cloudtrail), Some(suricata)) = (
        corpus_path("cloudtrail/invictus-aws-dataset"),
        corpus_path("suricata"),
    ) else {
        return;
    };
    let files = files_with_ext(&cloudtrail, "json");
    let (mut events, mut errors) = (0, 0);
    for f in &files {
        let d = decode_path(f, 0);
        assert_eq!(
            d.stats.json_shape,
            Some(vigil_ingest::JsonShape::Envelope),
            "{}",
            f.display()
        );
        for e in &d.events {
            assert!(e.get_str("eventName").is_some() && e.get_str("eventSource").is_some());
            assert_eq!(
                e.logsource,
                vigil_core::LogSource::product("aws").with_service("cloudtrail")
            );
            assert!(e.time.is_some());
        }
        events += d.stats.events;
        errors += d.stats.errors;
    }
    assert_eq!((files.len(), events, errors), (55, 2900, 0));
    let first = decode_path(&files[0], 0);
    assert!(
        first
            .events
            .iter()
            .any(|e| e.get_str("userIdentity.arn").is_some())
    );

    let files = files_with_ext(&suricata, "json");
    let (mut events, mut errors) = (0, 0);
    for f in &files {
        let d = decode_path(f, 0);
        assert!(d.events.iter().all(|e| e.get_str("event_type").is_some()));
        events += d.stats.events;
        errors += d.stats.errors;
    }
    assert_eq!((files.len(), events, errors), (5, 5548, 0));
}
