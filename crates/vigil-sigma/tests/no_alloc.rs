//! Proves the evaluator's hot path allocates nothing: a counting global allocator watches this
//! thread while rules covering every matcher kind run over a few events (after one warm-up pass,
//! since the regex engine fills a per-thread cache on first use).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;

use vigil_core::{Event, Value};
use vigil_sigma::parse::{Document, parse_source};

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

const DETECTIONS: &[&str] = &[
    "  sel:\n    CommandLine|contains|all:\n      - ' -enc '\n      - 'hidden'\n  condition: sel\n",
    "  sel:\n    Image|endswith: '\\powershell.exe'\n    ParentImage|startswith: 'C:\\Windows\\'\n  condition: sel\n",
    "  sel:\n    Image: 'C:\\Windows\\*\\power?hell.exe'\n  condition: sel\n",
    "  sel:\n    CommandLine|re|i: '-e(nc)?\\s+[a-z0-9+/=]{8,}'\n  condition: sel\n",
    "  sel:\n    CommandLine|windash|contains: ' -w hidden'\n  condition: sel\n",
    "  sel:\n    CommandLine|base64offset|contains: 'http://'\n  condition: sel\n",
    "  sel:\n    DestinationIp|cidr: '10.0.0.0/8'\n  condition: sel\n",
    "  sel:\n    EventID: 1\n    ProcessId|gt: 100\n  condition: sel\n",
    "  sel:\n    UtcTime|hour|gte: 2\n  condition: sel\n",
    "  sel:\n    Image|fieldref|endswith: OriginalFileName\n  condition: sel\n",
    "  sel:\n    Missing: null\n    Other|exists: false\n    User|neq: SYSTEM\n  condition: sel\n",
    "  keywords:\n    - mimikatz\n    - 4688\n  condition: keywords\n",
    "  a:\n    EventID: 1\n  b:\n    User: x\n  condition: a and not b or 1 of them\n",
];

fn event(cmd: &str) -> Event {
    let mut e = Event::default();
    e.insert("EventID", Value::Int(1));
    e.insert("ProcessId", Value::Int(4242));
    e.insert("UtcTime", Value::str("2025-11-27 07:40:10.132"));
    e.insert("Image", Value::str("C:\\Windows\\System32\\powershell.exe"));
    e.insert("OriginalFileName", Value::str("PowerShell.EXE"));
    e.insert("ParentImage", Value::str("C:\\Windows\\explorer.exe"));
    e.insert("DestinationIp", Value::str("10.1.2.3"));
    e.insert("User", Value::str("EXAMPLE\\bob"));
    e.insert("Score", Value::Float(2.5));
    e.insert("Tags", Value::List(vec![Value::str("a"), Value::Int(3)]));
    e.insert("CommandLine", Value::str(cmd));
    e
}

#[test]
fn evaluation_allocates_nothing() {
    let rules: Vec<_> = DETECTIONS
        .iter()
        .map(|d| {
            let src = format!("title: t\nlogsource:\n  product: windows\ndetection:\n{d}");
            match parse_source(&src, "t.yml", &HashMap::new()).items.pop() {
                Some(Ok(Document::Rule(r))) => *r,
                other => panic!("{d}: {other:?}"),
            }
        })
        .collect();
    let events = [
        event("powershell -nop -w hidden -enc aHR0cDovL2V4YW1wbGUuY29t"),
        event("cmd.exe /c whoami"),
    ];
    let mut hits = 0;
    for r in &rules {
        for e in &events {
            hits += usize::from(r.matches(e));
        }
    }
    assert!(hits > 0);
    ACTIVE.with(|a| a.set(true));
    let mut again = 0;
    for _ in 0..100 {
        for r in &rules {
            for e in &events {
                again += usize::from(r.matches(e));
            }
        }
    }
    ACTIVE.with(|a| a.set(false));
    assert_eq!(again, hits * 100);
    assert_eq!(COUNT.with(Cell::get), 0, "allocations on the hot path");
}
