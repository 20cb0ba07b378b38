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

fn main() -> ExitCode {
    // reqwest's TLS is rustls without a built-in provider: give its clients ring.
    vigil_intel::fetch::install_crypto_provider();
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
