//! Proves `Engine::evaluate` allocates nothing per event once warm: a counting global allocator
//! watches this thread while every SigmaHQ rule runs over the EVTX attack samples a second time
//! (the first pass fills the per-thread caches: regex lazy DFAs, the scratch's logsource table).
//! Skipped, saying so, when the corpus is absent outside CI.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use vigil_core::corpus::corpus_path;
use vigil_sigma::engine::Scratch;
use vigil_sigma::ruleset::SigmaConfig;

struct Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ACTIVE.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn evaluate_allocates_nothing_once_warm() {
    let (Some(sigma), Some(samples)) = (corpus_path("sigma"), corpus_path("evtx-attack-samples"))
    else {
        return;
    };
    let engine = common::compile_builtin(
        &[sigma.join("rules"), sigma.join("rules-emerging-threats")],
        &SigmaConfig::default(),
    );
    let files = common::files_with_ext(&samples, "evtx");
    let mut events = common::decode_all(&files, &vigil_ingest::DecodeOptions { evtx_threads: 1 });
    assert!(!events.is_empty());
    // Zeek and Suricata records reach the proxy/webserver/dns/firewall rules through logsource
    // targets (renamed detections in logsource groups): those allocate nothing either.
    if let (Some(zeek), Some(eve)) = (
        corpus_path("zeek/slips/test9-mixed-zeek-dir"),
        corpus_path("suricata/slips/test6-malicious.suricata.json"),
    ) {
        let network: Vec<_> = ["http.log", "dns.log", "conn.log"]
            .iter()
            .map(|f| zeek.join(f))
            .chain([eve])
            .collect();
        events.extend(common::decode_all(
            &network,
            &vigil_ingest::DecodeOptions { evtx_threads: 1 },
        ));
    }

    let mut scratch = Scratch::new(&engine);
    let mut out = Vec::with_capacity(engine.len());
    let mut warm = 0;
    for e in &events {
        engine.evaluate(e, &mut scratch, &mut out);
        warm += out.len();
    }
    ACTIVE.with(|a| a.set(true));
    let mut matches = 0;
    for e in &events {
        engine.evaluate(e, &mut scratch, &mut out);
        matches += out.len();
    }
    // Batches (as `vigil hunt` evaluates them) once their buffers have grown.
    ACTIVE.with(|a| a.set(false));
    let mut batched = Vec::with_capacity(engine.len());
    for chunk in events.chunks(24) {
        engine.evaluate_batch(chunk, &mut scratch, &mut batched);
    }
    ACTIVE.with(|a| a.set(true));
    let mut batch_matches = 0;
    for chunk in events.chunks(24) {
        engine.evaluate_batch(chunk, &mut scratch, &mut batched);
        batch_matches += batched.len();
    }
    ACTIVE.with(|a| a.set(false));
    let allocations = COUNT.with(Cell::get);
    assert_eq!(warm, matches);
    assert_eq!(batch_matches, matches);
    assert!(matches > 0);
    assert_eq!(
        allocations,
        0,
        "{allocations} allocations while evaluating {} events",
        events.len()
    );
}
