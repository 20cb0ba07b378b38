//! The audit log: one JSON line per mutating call, each carrying the SHA-256 of the line
//! before it, so a modified, deleted, reordered or inserted line breaks the chain.
//!
//! A line is `{seq, time, actor_token_id, role, method, path, status, summary, prev_hash,
//! hash}` where `hash = SHA-256(prev_hash ‖ canonical JSON of the other fields)` and the
//! first record's `prev_hash` is 64 zeros. "Canonical" is the exact bytes `serde_json` writes
//! for the record in the field order above; [`verify`] also requires every line to be exactly
//! that, so even a change that keeps the JSON's meaning (a space, a reordered key) is found.
//!
//! What the chain cannot show on its own: lines cut from the end. [`VerifyReport`] gives the
//! last `seq` and `hash` so an operator can keep them elsewhere and compare later.
//!
//! Appends are serialized: one mutex in the process, an exclusive `flock` on the file
//! across processes (the CLI writes here too), and each line is fsync'd before
//! [`AuditLog::append`] returns, hence before the HTTP response is sent. Concurrent appends
//! share fsyncs (group commit): one fsync makes every line written before it durable.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fs4::FileExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tokens::{Identity, hex};
use crate::{Error, Role};

/// Name of the audit log inside the data directory.
pub const AUDIT_FILE: &str = "audit.log";
/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest summary kept, in characters; longer ones are cut with a marker.
const MAX_SUMMARY_CHARS: usize = 1000;
/// Longest request path kept, in characters.
const MAX_PATH_CHARS: usize = 2000;
/// How far from the end to look for the last record before reading the whole file.
const TAIL_WINDOW: u64 = 64 * 1024;

/// The audit log's path in a data directory.
pub fn audit_log_path(data_dir: &Path) -> PathBuf {
    data_dir.join(AUDIT_FILE)
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// 1 for the first record, then one more for each.
    pub seq: u64,
    /// When the record was written.
    pub time: Timestamp,
    /// The token that made the call; `None` for the CLI or an unauthenticated request.
    pub actor_token_id: Option<String>,
    /// That token's role.
    pub role: Option<Role>,
    /// HTTP method, or `CLI` for a command run on the data directory.
    pub method: String,
    /// Request path (with query), or the CLI command.
    pub path: String,
    /// HTTP status sent; `None` for the CLI.
    pub status: Option<u16>,
    /// What changed, in words (e.g. `created token id=… role=analyst`).
    pub summary: String,
    /// `hash` of the previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this record's other fields, lowercase hex.
    pub hash: String,
}

/// The fields that are hashed: everything but `hash`, in the record's order.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    time: &'a Timestamp,
    actor_token_id: &'a Option<String>,
    role: &'a Option<Role>,
    method: &'a str,
    path: &'a str,
    status: Option<u16>,
    summary: &'a str,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// The hash this record should carry, from its other fields.
    pub fn compute_hash(&self) -> String {
        let body = Hashed {
            seq: self.seq,
            time: &self.time,
            actor_token_id: &self.actor_token_id,
            role: &self.role,
            method: &self.method,
            path: &self.path,
            status: self.status,
            summary: &self.summary,
            prev_hash: &self.prev_hash,
        };
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(serde_json::to_vec(&body).expect("audit records always serialize"));
        hex(&h.finalize())
    }
}

/// What to record; [`AuditLog::append`] adds `seq`, `time` and the hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The acting token, if any.
    pub actor_token_id: Option<String>,
    /// Its role.
    pub role: Option<Role>,
    /// HTTP method or `CLI`.
    pub method: String,
    /// Request path or CLI command.
    pub path: String,
    /// HTTP status, `None` for the CLI.
    pub status: Option<u16>,
    /// What changed.
    pub summary: String,
}

impl AuditEntry {
    /// An entry for a command run by the CLI directly on the data directory.
    pub fn cli(command: &str, summary: String) -> Self {
        AuditEntry {
            actor_token_id: None,
            role: None,
            method: "CLI".into(),
            path: command.into(),
            status: None,
            summary,
        }
    }

    /// An entry for an HTTP call, made by `actor` if the request carried a valid token.
    pub fn http(
        actor: Option<&Identity>,
        method: &str,
        path: &str,
        status: u16,
        summary: String,
    ) -> Self {
        AuditEntry {
            actor_token_id: actor.map(|a| a.token_id.clone()),
            role: actor.map(|a| a.role),
            method: method.into(),
            path: path.into(),
            status: Some(status),
            summary,
        }
    }
}

/// The last record's position in the chain.
#[derive(Debug, Clone)]
struct Head {
    seq: u64,
    hash: String,
}

struct Writer {
    file: File,
    head: Head,
    /// File length after our last append; a different length means another process wrote.
    known_len: u64,
}

/// The append side of the audit log. Share one per process (e.g. in an `Arc`).
pub struct AuditLog {
    path: PathBuf,
    writer: Mutex<Writer>,
    /// A second handle on the file, for fsync outside the writer lock.
    sync_file: File,
    /// Bytes known durable: one fsync covers every line written before it started (group
    /// commit), so concurrent appends share fsyncs instead of queueing one each.
    synced_len: Mutex<u64>,
    torn_bytes: u64,
}

impl AuditLog {
    /// Opens (or creates, mode 0600) `<data_dir>/audit.log`. An incomplete last line — a
    /// write cut by a crash, never acknowledged — is cut off; [`Self::torn_bytes`] says how
    /// much. A last line that is complete but unreadable is an error: the chain cannot be
    /// continued, and `verify` will say where it breaks.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        crate::tokens::create_private_dir(data_dir)?;
        let path = audit_log_path(data_dir);
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(|e| Error::io(&path, e))?;
        FileExt::lock(&file).map_err(|e| Error::io(&path, e))?;
        let result = read_head(&path, &mut file);
        FileExt::unlock(&file).map_err(|e| Error::io(&path, e))?;
        let (head, known_len, torn_bytes) = result?;
        let sync_file = file.try_clone().map_err(|e| Error::io(&path, e))?;
        Ok(AuditLog {
            path,
            writer: Mutex::new(Writer {
                file,
                head,
                known_len,
            }),
            sync_file,
            synced_len: Mutex::new(known_len),
            torn_bytes,
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of an incomplete last line removed when the log was opened (0 normally).
    pub fn torn_bytes(&self) -> u64 {
        self.torn_bytes
    }

    /// Appends one record and returns once it is fsync'd (possibly by a concurrent caller's
    /// fsync); returns the record written. Blocking: from async code call it inside
    /// `spawn_blocking`.
    pub fn append(&self, entry: AuditEntry) -> Result<AuditRecord, Error> {
        let (record, end) = {
            let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let w = &mut *w;
            FileExt::lock(&w.file).map_err(|e| Error::io(&self.path, e))?;
            let result = self.append_locked(w, entry);
            let unlocked = FileExt::unlock(&w.file).map_err(|e| Error::io(&self.path, e));
            let record = result?;
            unlocked?;
            (record, w.known_len)
        };
        // Group commit: whoever holds `synced_len` fsyncs everything written so far; callers
        // whose line that fsync covered return without one of their own.
        let mut synced = self.synced_len.lock().unwrap_or_else(|p| p.into_inner());
        if *synced < end {
            let target = self
                .writer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .known_len;
            self.sync_file
                .sync_data()
                .map_err(|e| Error::io(&self.path, e))?;
            *synced = target;
        }
        Ok(record)
    }

    fn append_locked(&self, w: &mut Writer, entry: AuditEntry) -> Result<AuditRecord, Error> {
        let len = w
            .file
            .metadata()
            .map_err(|e| Error::io(&self.path, e))?
            .len();
        if len != w.known_len {
            let (head, new_len, _) = read_head(&self.path, &mut w.file)?;
            w.head = head;
            w.known_len = new_len;
        }
        let mut record = AuditRecord {
            seq: w.head.seq + 1,
            time: Timestamp::now(),
            actor_token_id: entry.actor_token_id,
            role: entry.role,
            method: entry.method,
            path: truncate_chars(entry.path, MAX_PATH_CHARS),
            status: entry.status,
            summary: truncate_chars(entry.summary, MAX_SUMMARY_CHARS),
            prev_hash: w.head.hash.clone(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        let mut line = serde_json::to_vec(&record).expect("audit records always serialize");
        line.push(b'\n');
        w.file
            .write_all(&line)
            .map_err(|e| Error::io(&self.path, e))?;
        w.known_len += line.len() as u64;
        w.head = Head {
            seq: record.seq,
            hash: record.hash.clone(),
        };
        Ok(record)
    }
}

/// Finds the last record, cutting an incomplete last line. Returns the head, the file
/// length afterwards and the bytes cut. The caller holds the exclusive lock.
fn read_head(path: &Path, file: &mut File) -> Result<(Head, u64, u64), Error> {
    let io = |e| Error::io(path, e);
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok((genesis(), 0, 0));
    }
    let mut start = len.saturating_sub(TAIL_WINDOW);
    let mut buf = read_from(file, start).map_err(io)?;
    // Make sure the window holds the newline that ends the line before the last one.
    let ends_with_newline = buf.last() == Some(&b'\n');
    let body_end = if ends_with_newline {
        buf.len() - 1
    } else {
        buf.len()
    };
    if start > 0 && !buf[..body_end].contains(&b'\n') {
        start = 0;
        buf = read_from(file, 0).map_err(io)?;
    }
    let mut torn = 0;
    if buf.last() != Some(&b'\n') {
        let keep = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        torn = (buf.len() - keep) as u64;
        buf.truncate(keep);
        file.set_len(start + keep as u64).map_err(io)?;
        file.sync_data().map_err(io)?;
    }
    let new_len = start + buf.len() as u64;
    if buf.is_empty() {
        return Ok((genesis(), new_len, torn));
    }
    let body = &buf[..buf.len() - 1];
    let last_line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None => body,
    };
    let bad = |reason: String| -> Error {
        let line = count_lines(path).unwrap_or(0);
        Error::AuditTampered {
            path: path.to_path_buf(),
            line,
            seq: None,
            reason: format!("last record cannot be continued: {reason}"),
        }
    };
    let record: AuditRecord =
        serde_json::from_slice(last_line).map_err(|e| bad(format!("not a record: {e}")))?;
    if record.compute_hash() != record.hash {
        return Err(bad("its hash does not match its contents".into()));
    }
    Ok((
        Head {
            seq: record.seq,
            hash: record.hash,
        },
        new_len,
        torn,
    ))
}

fn read_from(file: &mut File, offset: u64) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

fn count_lines(path: &Path) -> std::io::Result<u64> {
    let data = std::fs::read(path)?;
    Ok(data.iter().filter(|&&b| b == b'\n').count() as u64)
}

fn genesis() -> Head {
    Head {
        seq: 0,
        hash: GENESIS_HASH.to_string(),
    }
}

fn truncate_chars(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…(truncated)", &s[..cut]),
        None => s,
    }
}

/// What an intact audit log holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Number of records.
    pub records: u64,
    /// `seq` of the last record (0 when empty). Keep it with `head_hash` to detect lines cut
    /// from the end later.
    pub last_seq: u64,
    /// `hash` of the last record ([`GENESIS_HASH`] when empty).
    pub head_hash: String,
}

/// Checks the whole chain of the log at `path`. `Ok` means every line is a canonical record
/// whose `seq` follows the previous one, whose `prev_hash` is the previous `hash` and whose
/// `hash` matches its contents. The first line that fails is reported as
/// [`Error::AuditTampered`] with its line number. Takes a shared lock, so it can run while
/// the server appends.
pub fn verify(path: &Path) -> Result<VerifyReport, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    FileExt::lock_shared(&file).map_err(|e| Error::io(path, e))?;
    let result = verify_locked(path, &file);
    let _ = FileExt::unlock(&file);
    result
}

fn verify_locked(path: &Path, file: &File) -> Result<VerifyReport, Error> {
    let mut reader = BufReader::new(file);
    let mut prev = genesis();
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let tampered = |seq: Option<u64>, reason: String| Error::AuditTampered {
            path: path.to_path_buf(),
            line: line_no,
            seq,
            reason,
        };
        if buf.last() != Some(&b'\n') {
            return Err(tampered(
                None,
                "incomplete last line (a write cut by a crash, or an edit)".into(),
            ));
        }
        let text = &buf[..buf.len() - 1];
        let record: AuditRecord = serde_json::from_slice(text)
            .map_err(|e| tampered(None, format!("not an audit record: {e}")))?;
        let seq = Some(record.seq);
        if record.seq != prev.seq + 1 {
            return Err(tampered(
                seq,
                format!(
                    "expected seq {}, found {} (a line was deleted, inserted or moved)",
                    prev.seq + 1,
                    record.seq
                ),
            ));
        }
        if record.prev_hash != prev.hash {
            return Err(tampered(
                seq,
                "prev_hash is not the previous record's hash (a line was deleted, inserted or moved)"
                    .into(),
            ));
        }
        if record.compute_hash() != record.hash {
            return Err(tampered(
                seq,
                "hash does not match the record's contents (the line was modified)".into(),
            ));
        }
        let canonical = serde_json::to_vec(&record).expect("audit records always serialize");
        if canonical != text {
            return Err(tampered(
                seq,
                "line is not in canonical form (the line was modified)".into(),
            ));
        }
        prev = Head {
            seq: record.seq,
            hash: record.hash,
        };
    }
    Ok(VerifyReport {
        records: line_no,
        last_seq: prev.seq,
        head_hash: prev.hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for i in 0..n {
            log.append(AuditEntry::cli("test", format!("entry {i}")))
                .unwrap();
        }
        let path = log.path().to_path_buf();
        (dir, path)
    }

    fn broken_line(path: &Path) -> u64 {
        match verify(path) {
            Err(Error::AuditTampered { line, .. }) => line,
            other => panic!("expected tampering, got {other:?}"),
        }
    }

    #[test]
    fn fresh_chain_verifies() {
        let (_d, path) = log_with(5);
        let r = verify(&path).unwrap();
        assert_eq!((r.records, r.last_seq), (5, 5));
        assert_ne!(r.head_hash, GENESIS_HASH);
    }

    #[test]
    fn reopening_continues_the_chain() {
        let (d, path) = log_with(3);
        let log = AuditLog::open(d.path()).unwrap();
        assert_eq!(log.append(AuditEntry::cli("x", "y".into())).unwrap().seq, 4);
        assert_eq!(verify(&path).unwrap().records, 4);
    }

    #[test]
    fn two_writers_on_one_file_keep_one_chain() {
        let (d, path) = log_with(0);
        let a = AuditLog::open(d.path()).unwrap();
        let b = AuditLog::open(d.path()).unwrap();
        for i in 0..4 {
            let w = if i % 2 == 0 { &a } else { &b };
            assert_eq!(
                w.append(AuditEntry::cli("x", i.to_string())).unwrap().seq,
                i + 1
            );
        }
        assert_eq!(verify(&path).unwrap().records, 4);
    }

    #[test]
    fn concurrent_appends_form_one_chain() {
        let (d, path) = log_with(0);
        let log = std::sync::Arc::new(AuditLog::open(d.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        log.append(AuditEntry::cli("x", format!("{t}/{i}")))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = verify(&path).unwrap();
        assert_eq!((r.records, r.last_seq), (200, 200));
        assert_eq!(
            *log.synced_len.lock().unwrap(),
            std::fs::metadata(&path).unwrap().len()
        );
    }

    #[test]
    fn torn_tail_is_cut_on_open() {
        let (d, path) = log_with(2);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":3,\"ti").unwrap();
        drop(f);
        assert_eq!(broken_line(&path), 3);
        let log = AuditLog::open(d.path()).unwrap();
        assert_eq!(log.torn_bytes(), 12);
        assert_eq!(log.append(AuditEntry::cli("x", "y".into())).unwrap().seq, 3);
        assert_eq!(verify(&path).unwrap().records, 3);
    }

    #[test]
    fn each_kind_of_tampering_names_its_line() {
        // Modified byte inside the summary of line 2.
        let (_d, path) = log_with(4);
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replacen("entry 1", "entry 9", 1);
        std::fs::write(&path, edited).unwrap();
        assert_eq!(broken_line(&path), 2);

        // Line 3 deleted.
        let lines: Vec<&str> = text.lines().collect();
        let mut kept = lines.clone();
        kept.remove(2);
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
        assert_eq!(broken_line(&path), 3);

        // Lines 2 and 3 swapped.
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        std::fs::write(&path, swapped.join("\n") + "\n").unwrap();
        assert_eq!(broken_line(&path), 2);

        // A copy of line 1 inserted after it.
        let mut inserted = lines.clone();
        inserted.insert(1, lines[0]);
        std::fs::write(&path, inserted.join("\n") + "\n").unwrap();
        assert_eq!(broken_line(&path), 2);

        // Same meaning, different bytes: a space after a colon.
        let spaced = text.replacen("\"seq\":1,", "\"seq\": 1,", 1);
        std::fs::write(&path, spaced).unwrap();
        assert_eq!(broken_line(&path), 1);
    }

    #[test]
    fn unreadable_last_record_refuses_to_open() {
        let (d, path) = log_with(2);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"garbage\n").unwrap();
        drop(f);
        let err = AuditLog::open(d.path()).err().expect("must refuse");
        assert!(err.to_string().contains("audit.log:3"), "{err}");
    }

    #[test]
    fn long_summaries_are_cut() {
        let s = truncate_chars("é".repeat(1500), MAX_SUMMARY_CHARS);
        assert!(s.starts_with(&"é".repeat(1000)));
        assert!(s.ends_with("…(truncated)"));
    }
}
