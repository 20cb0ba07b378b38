//! Locating the shared test corpora (`../shared/data`, or `VIGIL_CORPUS`) for tests and
//! benchmarks.

use std::path::PathBuf;

/// The corpus root: `$VIGIL_CORPUS` if set, else `shared/data` beside the repository.
///
/// Returns `None` (tests then skip, saying so) when it is missing outside CI; when `CI` is set
/// a missing corpus is a failure, so this panics with the path it looked at.
pub fn corpus_dir() -> Option<PathBuf> {
    // Cargo sets CARGO_MANIFEST_DIR when it runs tests and benches (every crate sits at
    // crates/NAME); the compile-time value is the fallback for binaries run directly.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let dir = match std::env::var_os("VIGIL_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => manifest.join("../../../shared/data"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        panic!(
            "corpus not found at {} (set VIGIL_CORPUS); in CI a missing corpus is a failure",
            dir.display()
        );
    }
    eprintln!(
        "skipping: corpus not found at {} (set VIGIL_CORPUS)",
        dir.display()
    );
    None
}

/// A path inside the corpus (see [`corpus_dir`]).
pub fn corpus_path(relative: &str) -> Option<PathBuf> {
    corpus_dir().map(|d| d.join(relative))
}
