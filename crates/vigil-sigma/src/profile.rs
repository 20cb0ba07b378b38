//! Where a hunt pass's time goes, for the people tuning it: the [`Stage`]s around the engine
//! (decoding alone or beside detection, building detections, the rest of the batches; timed
//! by `vigil-detect`), [`Engine::evaluate`](crate::Engine::evaluate)'s phases (routing, the
//! literal scan, verifying candidates), the literal scan per searchers (values answered from
//! the memo, turned away by a gate, walked; the keyword text built for every event) and, per
//! variant verified, checks, matches and time.
//! Counted only when the crate is built with the `profile` feature (`cargo build --release -p
//! vigil --features profile`, then `vigil bench hunt`); without it every hook is an empty
//! inline function and [`report`] answers `None`.
//!
//! Times are in ticks: the x86-64 time-stamp counter (a few cycles to read, so the probes
//! barely move what they measure), nanoseconds on other targets. Compare ticks with ticks,
//! in one run. The per-variant and per-searchers tables take a lock per verification and per
//! value scanned: for their figures, profile with one thread (`--threads 1`).

use crate::engine::Engine;

#[cfg(feature = "profile")]
mod on {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Evaluations, then ticks spent routing, scanning and verifying.
    static PHASES: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    /// Per variant: (checks, matches, ticks).
    static VARIANTS: Mutex<Vec<(u64, u64, u64)>> = Mutex::new(Vec::new());

    #[inline]
    pub fn ticks() -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `rdtsc` reads the time-stamp counter; it has no preconditions and
            // touches no memory.
            unsafe { core::arch::x86_64::_rdtsc() }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            START
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_nanos() as u64
        }
    }

    /// Per searchers (by address): their literal count, and per [`super::ScanKind`] the
    /// values scanned, their bytes and the ticks spent.
    type Scans = (usize, [[u64; 3]; 4]);
    static SCANS: Mutex<Option<std::collections::HashMap<usize, Scans>>> = Mutex::new(None);

    pub fn scanned(id: usize, literals: usize, kind: super::ScanKind, bytes: usize, ticks: u64) {
        let mut scans = SCANS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = scans
            .get_or_insert_default()
            .entry(id)
            .or_insert((literals, [[0; 3]; 4]));
        let c = &mut entry.1[kind as usize];
        c[0] += 1;
        c[1] += bytes as u64;
        c[2] += ticks;
    }

    pub fn scans() -> Vec<(usize, Scans)> {
        SCANS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .flatten()
            .map(|(&id, s)| (id, *s))
            .collect()
    }

    pub fn evaluated(events: u64, route: u64, scan: u64, verify: u64) {
        for (i, t) in [events, route, scan, verify].into_iter().enumerate() {
            PHASES[i].fetch_add(t, Ordering::Relaxed);
        }
    }

    pub fn verified(variants: usize, vi: usize, matched: bool, ticks: u64) {
        let mut v = VARIANTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if v.len() < variants {
            v.resize(variants, (0, 0, 0));
        }
        if let Some(c) = v.get_mut(vi) {
            c.0 += 1;
            c.1 += u64::from(matched);
            c.2 += ticks;
        }
    }

    /// Per [`super::Stage`]: ticks, events.
    static STAGES: [[AtomicU64; 2]; 4] = [const { [const { AtomicU64::new(0) }; 2] }; 4];

    pub fn stage(stage: super::Stage, ticks: u64, events: u64) {
        let s = &STAGES[stage as usize];
        s[0].fetch_add(ticks, Ordering::Relaxed);
        s[1].fetch_add(events, Ordering::Relaxed);
    }

    pub fn stages() -> [[u64; 2]; 4] {
        STAGES
            .each_ref()
            .map(|s| s.each_ref().map(|c| c.load(Ordering::Relaxed)))
    }

    pub fn reset() {
        STAGES
            .iter()
            .flatten()
            .for_each(|c| c.store(0, Ordering::Relaxed));
        PHASES.iter().for_each(|p| p.store(0, Ordering::Relaxed));
        VARIANTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        *SCANS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    pub fn phases() -> [u64; 4] {
        PHASES.each_ref().map(|p| p.load(Ordering::Relaxed))
    }

    pub fn variants() -> Vec<(u64, u64, u64)> {
        VARIANTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Stages of a hunt pass outside the engine, timed by `vigil-detect` (see [`stage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Decoding in a decode-only pass (the bench's baseline).
    DecodingAlone,
    /// Decoding in a decode+detect pass, between detection batches.
    DecodingBesideDetection,
    /// Building detections for the rules that fired (entities, evidence, copies).
    Building,
    /// The rest of a detection batch: freeing the previous detections, threat-intel matching
    /// (when a hunt has indicators), dropping the events.
    BatchRest,
}

/// Adds `ticks` (and `events`) to a [`Stage`] (nothing without the `profile` feature).
#[inline]
pub fn stage(_stage: Stage, _ticks: u64, _events: u64) {
    #[cfg(feature = "profile")]
    on::stage(_stage, _ticks, _events);
}

/// A timestamp for the probes (0 without the `profile` feature): the x86-64 time-stamp
/// counter, nanoseconds elsewhere.
#[inline]
pub fn ticks() -> u64 {
    #[cfg(feature = "profile")]
    return on::ticks();
    #[cfg(not(feature = "profile"))]
    0
}

/// What became of one value the literal scan looked at (see [`report`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanKind {
    /// Answered from the memo.
    MemoHit,
    /// Turned away by the searchers' gate without a walk.
    Refused,
    /// Walked through the automaton.
    Walked,
    /// An event's joined text, built and scanned for keyword literals.
    KeywordText,
}

/// Counts one value scanned by the searchers at address `id` (over `literals` literals), of
/// `bytes` bytes, since [`ticks`] returned `started`.
#[inline]
pub(crate) fn scanned(_id: usize, _literals: usize, _kind: ScanKind, _bytes: usize, _started: u64) {
    #[cfg(feature = "profile")]
    on::scanned(
        _id,
        _literals,
        _kind,
        _bytes,
        on::ticks().wrapping_sub(_started),
    );
}

/// Records one evaluation's phases, each in ticks.
#[inline]
pub(crate) fn evaluated(_route: u64, _scan: u64, _verify: u64) {
    #[cfg(feature = "profile")]
    on::evaluated(1, _route, _scan, _verify);
}

/// Records the phases of a batch of `events` evaluations, each in ticks.
#[inline]
pub(crate) fn evaluated_batch(_events: usize, _route: u64, _scan: u64, _verify: u64) {
    #[cfg(feature = "profile")]
    on::evaluated(_events as u64, _route, _scan, _verify);
}

/// Records one verification of variant `vi` (of `variants`).
#[inline]
pub(crate) fn verified(_variants: usize, _vi: usize, _matched: bool, _ticks: u64) {
    #[cfg(feature = "profile")]
    on::verified(_variants, _vi, _matched, _ticks);
}

/// Forgets what was counted so far (say, a warm-up pass that built lazily compiled parts).
pub fn reset() {
    #[cfg(feature = "profile")]
    on::reset();
}

/// The phases, the hunt stages, the `top` costliest searchers of the literal scan and the
/// `top` costliest variants to verify since the last [`reset`], as text; `None` when the
/// crate was built without the `profile` feature.
pub fn report(engine: &Engine, top: usize) -> Option<String> {
    #[cfg(feature = "profile")]
    {
        use std::fmt::Write;
        let [events, route, scan, verify] = on::phases();
        let total = (route + scan + verify).max(1);
        let share = |t: u64| 100.0 * t as f64 / total as f64;
        let mut out = format!(
            "profile of Engine::evaluate: {events} evaluations, {total} ticks ({} per event): \
             routing {:.1} %, literal scan {:.1} %, verification {:.1} %\n",
            total / events.max(1),
            share(route),
            share(scan),
            share(verify),
        );
        let per = |[t, n]: [u64; 2]| t / n.max(1);
        let [alone, beside, building, rest] = on::stages();
        if alone[1] + beside[1] > 0 {
            let _ = writeln!(
                out,
                "hunt passes, ticks per event: decoding alone {} ({} events), decoding beside \
                 detection {} ({} events), evaluate {}, building detections {}, rest of the \
                 batches {}",
                per(alone),
                alone[1],
                per(beside),
                beside[1],
                total / events.max(1),
                per([building[0], beside[1]]),
                per([rest[0], beside[1]]),
            );
        }
        let mut scans = on::scans();
        scans.sort_by_key(|(_, (_, k))| std::cmp::Reverse(k.iter().map(|k| k[2]).sum::<u64>()));
        let _ = writeln!(
            out,
            "literal scan by searchers, values/bytes/ticks:\n{:>8}  {:>26}  {:>26}  {:>26}",
            "literals", "memo hits", "gate refused", "walked"
        );
        let cell = |[n, b, t]: [u64; 3]| format!("{n}/{b}/{t}");
        for (id, (literals, k)) in scans.iter().take(top) {
            let _ = if *id == 0 {
                writeln!(out, "keyword text of every event: {}", cell(k[3]))
            } else {
                let [hits, refused, walked, _] = k.map(cell);
                writeln!(
                    out,
                    "{literals:>8}  {hits:>26}  {refused:>26}  {walked:>26}"
                )
            };
        }
        let variants = on::variants();
        let (checks, matches) = variants.iter().fold((0, 0), |(c, m), v| (c + v.0, m + v.1));
        let _ = writeln!(
            out,
            "verification: {checks} checks, {matches} matches; costliest variants:\n\
             {:>8} {:>8} {:>12} {:>8}  rule",
            "checks", "matches", "ticks", "/check"
        );
        let mut order: Vec<usize> = (0..variants.len()).filter(|&i| variants[i].0 > 0).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(variants[i].2));
        for i in order.into_iter().take(top) {
            let (c, m, t) = variants[i];
            let _ = writeln!(
                out,
                "{c:>8} {m:>8} {t:>12} {:>8}  {}",
                t / c.max(1),
                engine.variant_title(i)
            );
        }
        Some(out)
    }
    #[cfg(not(feature = "profile"))]
    {
        let _ = (engine, top);
        None
    }
}
