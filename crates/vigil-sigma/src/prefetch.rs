//! A cache hint: ask the CPU to start loading a line the next steps will read.
//!
//! What it is for: the literal scan probes a handful of memo slots per event, scattered over a
//! table of about 600 KB; requested together, their misses overlap instead of each waiting for
//! the one before. A hint changes nothing any read returns: where the target has no such
//! instruction it does nothing.

/// Starts loading the cache line holding `p` into every cache level.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address, and reads nothing the program
    // sees.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
