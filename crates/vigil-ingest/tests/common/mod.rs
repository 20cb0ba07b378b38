//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vigil_ingest::{DecodeError, DecodeOptions, FileStats, decode_bytes, decode_file};

/// Every event and error one file yields.
pub struct Decoded {
    pub stats: FileStats,
    pub events: Vec<vigil_core::Event>,
    pub errors: Vec<DecodeError>,
}

/// Decodes `path` with `threads` EVTX workers, collecting everything.
pub fn decode_path(path: &Path, threads: usize) -> Decoded {
    let (mut events, mut errors) = (Vec::new(), Vec::new());
    let opts = DecodeOptions {
        evtx_threads: threads,
    };
    let stats = decode_file(path, &opts, &mut |e| events.push(e), &mut |e| {
        errors.push(e)
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Decoded {
        stats,
        events,
        errors,
    }
}

/// Decodes in-memory bytes, collecting everything.
pub fn decode_mem(name: &str, bytes: &[u8]) -> Decoded {
    let (mut events, mut errors) = (Vec::new(), Vec::new());
    let stats = decode_bytes(
        name,
        bytes,
        &DecodeOptions::default(),
        &mut |e| events.push(e),
        &mut |e| errors.push(e),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    Decoded {
        stats,
        events,
        errors,
    }
}

/// All files with extension `ext` under `dir`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
