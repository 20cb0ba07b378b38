//! Bad input never panics and never vanishes: every damaged record is a counted error naming
//! the file and offset, and decoding goes on with the next record.

mod common;

use std::path::PathBuf;

use common::{decode_mem, decode_path};
use vigil_core::Value;
use vigil_core::corpus::corpus_path;
use vigil_ingest::{DecodeOptions, Format, IngestError, decode_bytes};

/// A multi-chunk EVTX (565 events in 17 chunks).
fn big_evtx() -> Option<Vec<u8>> {
    let path = corpus_path(
        "evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
    )?;
    Some(std::fs::read(path).unwrap())
}

/// A scratch directory for this test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vigil-ingest-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn truncated_evtx_keeps_what_precedes_the_cut() {
    let Some(full) = big_evtx() else { return };
    let all = decode_mem("full.evtx", &full).stats.events;
    assert_eq!(all, 565);
    let scratch = Scratch::new("truncated");
    let mut last_events = 0;
    for cut in [
        10,
        4095,
        4096 + 100,
        4096 + 30_000,
        4096 + 65536 + 1000,
        4096 + 5 * 65536 + 40_000,
        full.len() - 1,
    ] {
        let path = scratch.write(&format!("cut-{cut}.evtx"), &full[..cut]);
        for d in [
            decode_path(&path, 1),
            decode_mem(&format!("cut-{cut}.evtx"), &full[..cut]),
        ] {
            assert!(d.stats.errors >= 1, "cut {cut}: no error reported");
            assert_eq!(d.stats.errors as usize, d.errors.len());
            assert!(d.stats.events <= all, "cut {cut}");
            for e in &d.errors {
                eprintln!("{e}");
            }
            for e in &d.errors {
                assert!(e.file.ends_with(&format!("cut-{cut}.evtx")), "{e}");
                assert!(
                    e.offset.is_some_and(|o| o <= cut as u64 + 65536),
                    "cut {cut}: {e}"
                );
            }
            if cut >= 4096 + 30_000 {
                assert!(
                    d.stats.events > 0,
                    "cut {cut}: records before the cut were lost"
                );
            }
        }
        let events = decode_path(&path, 1).stats.events;
        assert!(
            events >= last_events,
            "a longer prefix decoded fewer events"
        );
        last_events = events;
    }
    // Cut one byte short: the last chunk is read (padded) and only its tail is lost.
    assert!(last_events >= all - 40, "{last_events} of {all}");
}

#[test]
fn corrupted_chunk_costs_only_its_records() {
    let Some(mut bytes) = big_evtx() else { return };
    // Overwrite the middle of chunk 2's record area.
    let chunk2 = 4096 + 2 * 65536;
    for b in &mut bytes[chunk2 + 20_000..chunk2 + 20_400] {
        *b ^= 0xA5;
    }
    // And the header magic of chunk 4.
    let chunk4 = 4096 + 4 * 65536;
    bytes[chunk4..chunk4 + 8].copy_from_slice(b"XXXXXXXX");
    let scratch = Scratch::new("corrupt");
    let path = scratch.write("corrupt.evtx", &bytes);
    let d = decode_path(&path, 2);
    for e in &d.errors {
        eprintln!("{e}");
    }
    assert!(d.stats.errors >= 2, "{:?}", d.errors);
    assert!(
        d.stats.events > 400 && d.stats.events < 565,
        "{}",
        d.stats.events
    );
    assert!(
        d.errors.iter().any(|e| e.offset == Some(chunk4 as u64)),
        "{:?}",
        d.errors
    );
    assert!(
        d.errors.iter().any(|e| e
            .offset
            .is_some_and(|o| (chunk2 as u64..chunk2 as u64 + 65536).contains(&o))),
        "{:?}",
        d.errors
    );
    for e in &d.errors {
        assert!(e.to_string().contains("corrupt.evtx @ offset "), "{e}");
    }
}

#[test]
fn random_bytes() {
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    };
    let random: Vec<u8> = (0..200_000).map(|_| noise()).collect();
    let err = decode_bytes(
        "noise.bin",
        &random,
        &DecodeOptions::default(),
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, IngestError::UnknownFormat { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("noise.bin: unknown format: first bytes"),
        "{err}"
    );

    // Noise behind a valid EVTX magic: every chunk is reported, nothing panics.
    let mut fake = b"ElfFile\0".to_vec();
    fake.extend(&random);
    let d = decode_mem("fake.evtx", &fake);
    assert_eq!(d.stats.format, Format::Evtx);
    assert_eq!(d.stats.events, 0);
    assert!(d.stats.errors >= 1);

    // Noise behind a JSON opening brace: one record, one error.
    let mut fake = b"{".to_vec();
    fake.extend(&random);
    let d = decode_mem("fake.json", &fake);
    assert_eq!((d.stats.events, d.stats.errors), (0, 1));
    assert_eq!(d.errors[0].offset, Some(0));
}

#[test]
fn ndjson_with_invalid_utf8() {
    let text = b"{\"a\":\"ok\"}\n{\"a\":\"bad \xC3\x28 utf8\"}\n{\"a\":\"ok again\"}\n";
    let d = decode_mem("bad-utf8.ndjson", text);
    assert_eq!((d.stats.events, d.stats.errors), (2, 1));
    assert_eq!(d.errors[0].offset, Some(11));
    assert_eq!(d.errors[0].record, Some(2));
    assert!(
        d.errors[0]
            .reason
            .starts_with("record 2: invalid JSON at byte 21"),
        "{}",
        d.errors[0]
    );
    assert_eq!(d.events[1].get_str("a"), Some(&Value::str("ok again")));
    assert_eq!(d.events[1].source.record_id, Some(3));
}

#[test]
fn broken_object_in_concatenated_json() {
    let Some(path) = corpus_path(
        "sigma/regression_data/rules-threat-hunting/windows/image_load/image_load_win_werfaultsecure_dbgcore_dbghelp_load/8a2f4b1c-3d5e-4f7a-9b2c-1e4f6d8a9c2b.json",
    ) else {
        return;
    };
    let good = std::fs::read_to_string(path).unwrap();
    let good = good.trim_end();
    // The broken copy loses its middle: an unterminated object, then the next one at column 0.
    let broken = format!("{}\n{}", &good[..good.len() / 2], "  \"x\": }\n}");
    let text = format!("{good}\n{broken}\n{good}\n");
    let d = decode_mem("concat.json", text.as_bytes());
    assert_eq!(
        d.stats.json_shape,
        Some(vigil_ingest::JsonShape::Concatenated)
    );
    assert_eq!((d.stats.events, d.stats.errors), (2, 1), "{:?}", d.errors);
    assert_eq!(d.errors[0].offset, Some(good.len() as u64 + 1));
    assert_eq!(d.errors[0].record, Some(2));
    // Windows renderings carry EventRecordID, which wins over the position in the file.
    assert_eq!(d.events[1].source.record_id, d.events[0].source.record_id);
    assert!(d.events[1].source.record_id.is_some_and(|id| id > 0));
    assert_eq!(
        d.events[1].source.offset,
        Some((good.len() + 1 + broken.len() + 1) as u64)
    );
    assert_eq!(
        d.events[1].get_str("ImageLoaded"),
        Some(&Value::str(r"C:\Windows\System32\dbgcore.dll"))
    );
    assert_eq!(d.events[0].fields(), d.events[1].fields());
}

#[test]
fn empty_file() {
    let scratch = Scratch::new("empty");
    let path = scratch.write("empty.json", b"");
    let d = decode_path(&path, 0);
    assert_eq!(
        (d.stats.format, d.stats.events, d.stats.errors),
        (Format::Empty, 0, 1)
    );
    assert_eq!(d.errors[0].offset, Some(0));
    assert!(
        d.errors[0]
            .to_string()
            .ends_with("empty.json @ offset 0: empty file: no records"),
        "{}",
        d.errors[0]
    );
}

#[test]
fn broken_element_in_an_array() {
    let pretty = b"[\n  {\"a\": 1},\n  {\"a\": oops},\n  {\"a\": 3}\n]\n";
    let d = decode_mem("array.json", pretty);
    assert_eq!(d.stats.json_shape, Some(vigil_ingest::JsonShape::Array));
    assert_eq!((d.stats.events, d.stats.errors), (2, 1));
    assert_eq!(d.events[1].get_str("a"), Some(&Value::Int(3)));
    assert_eq!(
        (d.errors[0].offset, d.errors[0].record),
        (Some(16), Some(2))
    );
    // On one line there is no line to resynchronise on: the rest is lost, as one error.
    let minified = b"[{\"a\":1},{\"a\":oops},{\"a\":3}]";
    let d = decode_mem("min.json", minified);
    assert_eq!((d.stats.events, d.stats.errors), (1, 1));
}
