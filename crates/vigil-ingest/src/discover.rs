//! Expanding the paths a user gave into the files to decode.

use std::path::{Path, PathBuf};

use crate::IngestError;

/// Extensions that are never logs (documentation, rule and config files that sit beside
/// corpora); anything else is sniffed. `.gz` is not among them: Zeek rotates its logs to
/// `.log.gz` and CloudTrail delivers `.json.gz`, which the decoders read (a `.tar.gz` is
/// skipped by name).
const NOT_LOGS: &[&str] = &[
    "md", "markdown", "txt", "rst", "yml", "yaml", "toml", "ini", "cfg", "html", "htm", "pdf",
    "png", "jpg", "jpeg", "gif", "svg", "zip", "tgz", "bz2", "xz", "7z", "rar", "py", "ps1", "sh",
    "rs", "exe", "dll", "lock",
];

/// Expands files and directories (recursively, sorted, skipping hidden files and obvious
/// non-logs like .md/.yml/.txt) into the files to decode.
///
/// A path given explicitly as a file is always kept, whatever its name: the user asked for
/// it. Symlinks to files are followed, symlinks to directories are not. A path that does not
/// exist is an [`IngestError::Io`].
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, IngestError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| IngestError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(io)?;
        // Symlinked directories are not followed (as ripgrep does): a link loop would never end.
        if kind.is_dir() {
            walk(&path, out)?;
        } else if (kind.is_file() || (kind.is_symlink() && path.is_file())) && !is_excluded(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_excluded(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_uppercase())
        .unwrap_or_default();
    ext.is_some_and(|e| NOT_LOGS.contains(&e.as_str()))
        || name.ends_with(".TAR.GZ")
        || matches!(name.as_str(), "LICENSE" | "README" | "NOTICE" | "COPYING")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_and_skips_hidden() {
        let root = std::env::temp_dir().join(format!("vigil-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (name, body) in [
            ("b/2.json", "{}"),
            ("b/1.evtx", ""),
            ("a.json", "{}"),
            (".hidden/x.json", "{}"),
            ("b/.x.json", "{}"),
            ("b/notes.md", ""),
        ] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(&root, root.join("b/loop")).unwrap();
        let found = discover(&[root.clone(), root.join("b/notes.md")]).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.json", "b/1.evtx", "b/2.json", "b/notes.md"]);
        assert!(matches!(
            discover(&[root.join("missing")]),
            Err(IngestError::Io { .. })
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn skips_non_logs() {
        assert!(is_excluded(Path::new("a/README.md")));
        assert!(is_excluded(Path::new("a/info.yml")));
        assert!(is_excluded(Path::new("LICENSE")));
        assert!(!is_excluded(Path::new("a/x.evtx")));
        assert!(!is_excluded(Path::new("a/x.json")));
        assert!(!is_excluded(Path::new("a/x.log")));
        assert!(!is_excluded(Path::new("zeek/conn.log.gz")));
        assert!(is_excluded(Path::new("a/sigma.tar.gz")));
    }
}
