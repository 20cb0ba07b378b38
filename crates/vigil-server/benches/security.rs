//! What the guard costs per request: checking a bearer token against the file store, and
//! appending one fsync'd audit record.
//!
//! `cargo bench -p vigil-server --bench security`

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use vigil_server::Role;
use vigil_server::audit::{AuditEntry, AuditLog};
use vigil_server::tokens::Tokens;

fn authenticate(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Tokens::open(dir.path()).unwrap();
    // 200 tokens in the file; the one checked is the last issued.
    let mut last = String::new();
    for i in 0..200 {
        last = tokens
            .issue(Role::Analyst, &format!("holder {i}"), None)
            .unwrap()
            .token;
    }
    let now = Timestamp::now();
    c.bench_function("authenticate (200 tokens, file store)", |b| {
        b.iter(|| {
            tokens
                .authenticate(std::hint::black_box(&last), now)
                .unwrap()
        })
    });
}

fn audit_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let mut g = c.benchmark_group("audit");
    g.sample_size(20);
    g.bench_function("append + fsync", |b| {
        b.iter(|| {
            log.append(AuditEntry::cli("bench", "one record".into()))
                .unwrap()
        })
    });
    // Eight callers at once, as eight concurrent mutating requests: with group commit they
    // share fsyncs, so the batch costs far less than eight single appends.
    g.bench_function("8 concurrent appends", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        log.append(AuditEntry::cli("bench", "one of eight".into()))
                            .unwrap()
                    });
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, authenticate, audit_append);
criterion_main!(benches);
