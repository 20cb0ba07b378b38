//! Tokens in `<data>/tokens.json`: rewritten whole on each change through a temporary file,
//! fsync and rename (a crash leaves the old or the new file, never half of one), mode 0600.
//!
//! Writers from several processes (the server and `vigil token create`) take an exclusive
//! lock on `<data>/tokens.lock` and re-read the file before changing it. Readers need no
//! lock: the rename is atomic. Reads are served from memory and the file is re-read only
//! when its size, modification time or inode changed, so a token the CLI issues works at
//! once against a running server.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use fs4::FileExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{TokenRecord, TokenStore};
use crate::Error;

/// Name of the token file inside the data directory.
pub const TOKENS_FILE: &str = "tokens.json";
const LOCK_FILE: &str = "tokens.lock";
const FORMAT_VERSION: u32 = 1;

/// The token file's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    /// Set once the bootstrap admin token was issued (or refused because tokens existed), so
    /// revoking every token never brings a new bootstrap token back.
    bootstrapped: bool,
    tokens: Vec<TokenRecord>,
}

/// What identifies one version of the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// [`TokenStore`] on a JSON file in the data directory.
pub struct FileTokenStore {
    path: PathBuf,
    lock_path: PathBuf,
    cache: Mutex<Option<(Stamp, Arc<TokenFile>)>>,
}

impl FileTokenStore {
    /// The store in `data_dir` (created with mode 0700 if missing). The file itself is
    /// created on the first write.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        create_private_dir(data_dir)?;
        Ok(FileTokenStore {
            path: data_dir.join(TOKENS_FILE),
            lock_path: data_dir.join(LOCK_FILE),
            cache: Mutex::new(None),
        })
    }

    /// The token file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current contents, from memory when the file has not changed since last read
    /// (one `stat` per call; no copy of the records).
    fn current(&self) -> Result<Arc<TokenFile>, Error> {
        let stamp = match fs::metadata(&self.path) {
            Ok(m) => stamp_of(&m),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Arc::new(empty_file())),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, file)) = cache.as_ref()
            && *s == stamp
        {
            return Ok(file.clone());
        }
        let (stamp, file) = self.read_from_disk()?;
        let file = Arc::new(file);
        *cache = Some((stamp, file.clone()));
        Ok(file)
    }

    fn read_from_disk(&self) -> Result<(Stamp, TokenFile), Error> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok((
                    Stamp {
                        len: 0,
                        modified: None,
                        inode: 0,
                    },
                    empty_file(),
                ));
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        // Stamp from the open handle, so the stamp and the bytes belong to the same file.
        let stamp = stamp_of(&f.metadata().map_err(|e| Error::io(&self.path, e))?);
        let file: TokenFile =
            serde_json::from_reader(std::io::BufReader::new(f)).map_err(|source| {
                Error::TokenFile {
                    path: self.path.clone(),
                    source,
                }
            })?;
        Ok((stamp, file))
    }

    /// Runs `change` on the freshly read file under the cross-process lock; writes the file
    /// back when `change` returns `Ok((true, _))`.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut TokenFile) -> Result<(bool, T), Error>,
    ) -> Result<T, Error> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| Error::io(&self.lock_path, e))?;
        FileExt::lock(&lock).map_err(|e| Error::io(&self.lock_path, e))?;
        let (_, mut file) = self.read_from_disk()?;
        let (changed, out) = change(&mut file)?;
        if changed {
            file.version = FORMAT_VERSION;
            self.write_atomically(&file)?;
            // Forget the cache: the next read stats the new file and loads it.
            *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        // Dropping `lock` closes it, which releases the lock.
        drop(lock);
        Ok(out)
    }

    fn write_atomically(&self, file: &TokenFile) -> Result<(), Error> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(file).expect("token records always serialize");
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        // A leftover temporary file from a crash keeps its old mode: force 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(&tmp, e))?;
        }
        f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")))
    }
}

impl TokenStore for FileTokenStore {
    fn get(&self, id: &str) -> Result<Option<TokenRecord>, Error> {
        Ok(self.current()?.tokens.iter().find(|t| t.id == id).cloned())
    }

    fn list(&self) -> Result<Vec<TokenRecord>, Error> {
        Ok(self.current()?.tokens.clone())
    }

    fn insert(&self, record: TokenRecord) -> Result<(), Error> {
        self.update(|file| {
            if file.tokens.iter().any(|t| t.id == record.id) {
                return Err(Error::InvalidToken(format!(
                    "token id {} already exists",
                    record.id
                )));
            }
            file.tokens.push(record);
            // Once anyone holds a token, a bootstrap token would be a surprise: never issue one.
            file.bootstrapped = true;
            Ok((true, ()))
        })
    }

    fn insert_bootstrap(&self, record: TokenRecord) -> Result<bool, Error> {
        self.update(|file| {
            if file.bootstrapped || !file.tokens.is_empty() {
                return Ok((false, false));
            }
            file.tokens.push(record);
            file.bootstrapped = true;
            Ok((true, true))
        })
    }

    fn revoke(&self, id: &str, at: Timestamp) -> Result<TokenRecord, Error> {
        self.update(|file| {
            let t = file
                .tokens
                .iter_mut()
                .find(|t| t.id == id)
                .ok_or_else(|| Error::TokenNotFound(id.to_string()))?;
            let changed = t.revoked_at.is_none();
            if changed {
                t.revoked_at = Some(at);
            }
            Ok((changed, t.clone()))
        })
    }
}

fn empty_file() -> TokenFile {
    TokenFile {
        version: FORMAT_VERSION,
        bootstrapped: false,
        tokens: Vec::new(),
    }
}

fn stamp_of(m: &fs::Metadata) -> Stamp {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0;
    Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode,
    }
}

/// Creates `dir` (and parents) readable only by its owner when it does not exist yet.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| Error::io(dir, e))
}

/// Makes a rename or a new file in `dir` durable (a no-op where directories cannot be opened).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn record(id: &str) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            role: Role::Viewer,
            label: "t".into(),
            created_at: Timestamp::now(),
            expires_at: None,
            revoked_at: None,
            hash: "00".repeat(32),
        }
    }

    #[test]
    fn second_store_on_same_dir_sees_writes() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileTokenStore::open(dir.path()).unwrap();
        let b = FileTokenStore::open(dir.path()).unwrap();
        assert!(b.list().unwrap().is_empty());
        a.insert(record("aaaaaaaaaaaa")).unwrap();
        assert_eq!(b.list().unwrap().len(), 1);
        b.revoke("aaaaaaaaaaaa", Timestamp::now()).unwrap();
        assert!(a.get("aaaaaaaaaaaa").unwrap().unwrap().revoked_at.is_some());
        assert!(a.insert(record("aaaaaaaaaaaa")).is_err(), "duplicate id");
    }

    #[test]
    fn bootstrap_only_into_a_never_used_store() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileTokenStore::open(dir.path()).unwrap();
        assert!(s.insert_bootstrap(record("bbbbbbbbbbbb")).unwrap());
        assert!(!s.insert_bootstrap(record("cccccccccccc")).unwrap());
        let dir2 = tempfile::tempdir().unwrap();
        let s2 = FileTokenStore::open(dir2.path()).unwrap();
        s2.insert(record("dddddddddddd")).unwrap();
        assert!(!s2.insert_bootstrap(record("eeeeeeeeeeee")).unwrap());
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(TOKENS_FILE), b"{not json").unwrap();
        let s = FileTokenStore::open(dir.path()).unwrap();
        let err = s.list().unwrap_err().to_string();
        assert!(err.contains("tokens.json"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let s = FileTokenStore::open(&dir.path().join("data")).unwrap();
        s.insert(record("ffffffffffff")).unwrap();
        let mode = fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(dir.path().join("data"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
    }
}
