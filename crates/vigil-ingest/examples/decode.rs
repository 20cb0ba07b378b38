//! Decodes files or directories and prints totals and throughput (or the events, with
//! `--print`). Usage: `cargo run --release -p vigil-ingest --example decode -- [--threads N]
//! [--repeat N] [--print] PATH...`

use std::path::PathBuf;
use std::time::Instant;

use vigil_ingest::{DecodeOptions, decode_file, discover};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut threads, mut print, mut repeat, mut paths) = (0, false, 1, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--print" => print = true,
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let files = discover(&paths).unwrap_or_else(|e| panic!("{e}"));
    let opts = DecodeOptions {
        evtx_threads: threads,
    };
    let start = Instant::now();
    let (mut events, mut errors, mut bytes) = (0u64, 0u64, 0u64);
    for file in std::iter::repeat_n(&files, repeat).flatten() {
        let result = decode_file(
            file,
            &opts,
            &mut |e| {
                if print {
                    println!("{}", e.to_json());
                }
            },
            &mut |e| eprintln!("skipped: {e}"),
        );
        match result {
            Ok(s) => {
                events += s.events;
                errors += s.errors;
                bytes += s.bytes;
            }
            Err(e) => eprintln!("failed: {e}"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} files, {events} events, {errors} errors, {:.1} MB in {secs:.3}s: {:.0} events/s, {:.1} MB/s (evtx_threads={threads})",
        files.len(),
        bytes as f64 / 1e6,
        events as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
}
