//! Named consumer offsets, one small file per consumer under `<journal>/consumers/`.
//!
//! A consumer ("detect", "lake", …) commits the offset of the next record it has *not* yet
//! processed. The file is replaced atomically: write `<name>.offset.tmp`, `fsync` it, rename
//! over `<name>.offset`, `fsync` the directory. After a crash the file holds either the old or
//! the new offset, never a mix. A key-value store (redb, fjall) would give the same guarantee
//! with a dependency and a second file format; a handful of consumers committing every few
//! hundred milliseconds do not need one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::{JournalError, Result};
use super::segment::sync_dir;

const SUFFIX: &str = ".offset";

/// The consumer-offset files of one journal.
#[derive(Debug)]
pub(crate) struct ConsumerOffsets {
    dir: PathBuf,
    /// Serialises commits so two threads never share a temporary file; also a cache.
    offsets: Mutex<BTreeMap<String, u64>>,
}

impl ConsumerOffsets {
    /// Opens (creating if needed) the consumer directory and reads every committed offset.
    pub(crate) fn open(journal_dir: &Path) -> Result<Self> {
        let dir = journal_dir.join("consumers");
        if !dir.exists() {
            fs::create_dir(&dir).map_err(|e| JournalError::io("create directory", &dir, e))?;
            sync_dir(journal_dir)?;
        }
        let mut offsets = BTreeMap::new();
        let entries = fs::read_dir(&dir).map_err(|e| JournalError::io("list", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| JournalError::io("list", &dir, e))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
                continue; // leftovers such as `*.offset.tmp` from a crash mid-commit
            };
            if validate_name(name).is_err() {
                continue;
            }
            offsets.insert(name.to_owned(), read_offset(&entry.path())?);
        }
        Ok(ConsumerOffsets {
            dir,
            offsets: Mutex::new(offsets),
        })
    }

    /// The offset `name` last committed, if it ever did.
    pub(crate) fn get(&self, name: &str) -> Option<u64> {
        self.lock().get(name).copied()
    }

    /// Every consumer and its committed offset, by name.
    pub(crate) fn all(&self) -> BTreeMap<String, u64> {
        self.lock().clone()
    }

    /// Durably records that `name` will resume at `offset`.
    pub(crate) fn commit(&self, name: &str, offset: u64) -> Result<()> {
        validate_name(name)?;
        let mut offsets = self.lock();
        if offsets.get(name) == Some(&offset) {
            return Ok(());
        }
        let path = self.dir.join(format!("{name}{SUFFIX}"));
        let tmp = self.dir.join(format!("{name}{SUFFIX}.tmp"));
        write_synced(&tmp, format!("{offset}\n").as_bytes())
            .map_err(|e| JournalError::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| JournalError::io("rename", &path, e))?;
        sync_dir(&self.dir)?;
        offsets.insert(name.to_owned(), offset);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Consumer names become file names, so they are restricted to a safe alphabet.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(JournalError::InvalidConsumerName {
            name: name.to_owned(),
        })
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn read_offset(path: &Path) -> Result<u64> {
    let text = fs::read_to_string(path).map_err(|e| JournalError::io("read", path, e))?;
    text.trim()
        .parse()
        .map_err(|e| JournalError::BadConsumerFile {
            path: path.to_owned(),
            reason: format!("{e} in {:?}", text.trim()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_restricted() {
        assert!(validate_name("detect").is_ok());
        assert!(validate_name("lake_2-b").is_ok());
        for bad in ["", "../x", "a b", "é", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commit_survives_reopen_and_ignores_leftover_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = ConsumerOffsets::open(dir.path()).unwrap();
        offsets.commit("detect", 10).unwrap();
        offsets.commit("detect", 12).unwrap();
        offsets.commit("lake", 3).unwrap();
        fs::write(dir.path().join("consumers/detect.offset.tmp"), "garbage").unwrap();
        let reopened = ConsumerOffsets::open(dir.path()).unwrap();
        assert_eq!(reopened.get("detect"), Some(12));
        assert_eq!(reopened.get("lake"), Some(3));
        assert_eq!(reopened.get("other"), None);
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        ConsumerOffsets::open(dir.path()).unwrap();
        fs::write(dir.path().join("consumers/detect.offset"), "twelve").unwrap();
        let err = ConsumerOffsets::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("detect.offset"), "{err}");
    }
}
