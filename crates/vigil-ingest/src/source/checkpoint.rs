//! The watched-file checkpoint: how far each file has been acknowledged, stored as one JSON
//! file replaced atomically (temp file, fsync, rename, fsync of the directory), so a crash
//! leaves either the old or the new checkpoint, never a torn one.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::IngestError;

/// The checkpoint file's name inside the state directory.
pub(crate) const FILE_NAME: &str = "tail-checkpoints.json";

/// The bytes of a file's start that identify its content.
pub(crate) const FINGERPRINT_MAX: u64 = 1024;

/// Which file (device and inode) and which content (fingerprint) a position belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The device and inode of a file (on non-Unix systems both 0: files are then told
    /// apart by path and fingerprint only).
    pub fn of(meta: &fs::Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            FileId { dev: 0, ino: 0 }
        }
    }
}

/// A CRC-32 of the first `len` bytes of a file (at most [`FINGERPRINT_MAX`]): a file whose
/// start no longer hashes the same was truncated and rewritten, or is another file that got
/// the same inode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    pub len: u64,
    pub crc: u32,
}

impl Fingerprint {
    /// The fingerprint of the first `min(size, FINGERPRINT_MAX)` bytes of `file`.
    pub fn read(file: &fs::File, size: u64) -> io::Result<Fingerprint> {
        Self::read_len(file, size.min(FINGERPRINT_MAX))
    }

    /// The fingerprint of the first `len` bytes (fewer when the file is shorter, which then
    /// never matches a fingerprint of `len` bytes).
    pub fn read_len(mut file: &fs::File, len: u64) -> io::Result<Fingerprint> {
        use std::io::Seek;
        file.seek(io::SeekFrom::Start(0))?;
        let mut head = Vec::with_capacity(len as usize);
        file.take(len).read_to_end(&mut head)?;
        Ok(Fingerprint {
            len: head.len() as u64,
            crc: crc32fast::hash(&head),
        })
    }

    /// Whether `file` still starts with the bytes this fingerprint was taken of.
    pub fn matches(&self, file: &fs::File) -> io::Result<bool> {
        Ok(Self::read_len(file, self.len)? == *self)
    }
}

/// One file's acknowledged position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The watch's configured name.
    pub source: String,
    /// Where the file was last seen.
    pub path: PathBuf,
    #[serde(flatten)]
    pub id: FileId,
    pub fingerprint: Fingerprint,
    /// The byte after the last acknowledged line (or skipped over-long line).
    pub offset: u64,
    /// Whether `offset` is inside an over-long line whose rest is to be skipped.
    #[serde(default)]
    pub skipping: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    version: u32,
    files: Vec<Entry>,
}

const VERSION: u32 = 1;

/// Reads the checkpoint in `dir`; no file yet is an empty checkpoint.
pub(crate) fn load(dir: &Path) -> Result<Vec<Entry>, IngestError> {
    let path = dir.join(FILE_NAME);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(IngestError::Io { path, source }),
    };
    let invalid = |reason: String| IngestError::Io {
        path: path.clone(),
        source: io::Error::new(io::ErrorKind::InvalidData, reason),
    };
    let doc: Document = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("not a tail checkpoint: {e}")))?;
    if doc.version != VERSION {
        return Err(invalid(format!(
            "checkpoint version {} (this build reads {VERSION})",
            doc.version
        )));
    }
    Ok(doc.files)
}

/// Replaces the checkpoint in `dir` with `files`, durably.
pub(crate) fn store(dir: &Path, files: Vec<Entry>) -> Result<(), IngestError> {
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    let doc = Document {
        version: VERSION,
        files,
    };
    let write = || -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        // The rename itself is only durable once the directory is synced (Unix).
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    };
    write().map_err(|source| IngestError::Io { path, source })
}
