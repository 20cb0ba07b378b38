//! `vigil`: the command line. Thin subcommands over the library crates; see `vigil --help`.

mod cli;
mod cmd;
mod config;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: fewer instructions per allocation than glibc's malloc for the millions of small
/// values of an intel load (see the vigil-intel README's Benchmarks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3 keeps freed memory for `purge_delay` milliseconds (1,000 by default) before
/// giving it back to the OS. Under an ingest flood that retention was most of `vigil serve`'s
/// peak memory: `tests/overload.rs` peaked at 125–167 MiB (its bound is 160) with the default,
/// 107–113 MiB with 10 ms and 100–104 MiB with 0, for about the same CPU (2026-12-03, debug
/// build, 2 cores). 10 ms is mimalloc v2's default. Only while the option holds v3's built-in
/// value: a `MIMALLOC_PURGE_DELAY` from the environment wins.
fn shorten_allocator_purge_delay() {
    use libmimalloc_sys::{mi_option_get, mi_option_set};
    // SAFETY: reading and setting an option are plain calls on mimalloc's option table, valid
    // at any time from any thread.
    unsafe {
        if mi_option_get(MI_OPTION_PURGE_DELAY) == 1000 {
            mi_option_set(MI_OPTION_PURGE_DELAY, 10);
        }
    }
}

/// `mi_option_purge_delay`'s place in mimalloc v3's `mi_option_e` (the Rust bindings name no
/// constant for it; `purge_delay_is_option_15` checks it against the C library).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // reqwest's TLS is rustls without a built-in provider: give its clients ring.
    vigil_intel::fetch::install_crypto_provider();
    let cli = cli::Cli::parse();
    if matches!(cli.command, cli::Command::Serve(_)) {
        shorten_allocator_purge_delay();
    }
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    /// The option at [`super::MI_OPTION_PURGE_DELAY`] is the purge delay: it holds v3's
    /// default (1,000 ms) until set, and reads back what was set. A mimalloc that numbers its
    /// options otherwise fails here instead of having another option changed.
    #[test]
    fn purge_delay_is_option_15() {
        use libmimalloc_sys::{mi_option_get, mi_option_set};
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: see `shorten_allocator_purge_delay`.
        unsafe {
            assert_eq!(mi_option_get(super::MI_OPTION_PURGE_DELAY), 1000);
            mi_option_set(super::MI_OPTION_PURGE_DELAY, 10);
            assert_eq!(mi_option_get(super::MI_OPTION_PURGE_DELAY), 10);
        }
    }
}
