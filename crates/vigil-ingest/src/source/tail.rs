//! Watched files and directories: complete lines appended to them are sent in acknowledged
//! batches, and each file's position is checkpointed once its batch is acknowledged.
//!
//! Files are polled (portable, and cheap for the tens of files a host has). A file is known by
//! its device and inode, and by a fingerprint of its first bytes, so that:
//! - rename rotation (`app.log` → `app.log.1`, new `app.log`): the old file is read to its end
//!   through the handle kept open, then let go; the new one is read from its start;
//! - copytruncate (the file shrinks below the position, or its start changes): it is read again
//!   from the start, counted as a truncation;
//! - a deleted file is read to its end through the open handle and dropped from the checkpoint;
//! - a restart resumes every file at its acknowledged position, and a file rotated while Vigil
//!   was down is found by inode in its directory and finished.

use std::fs;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::checkpoint::{self, Entry, FileId, Fingerprint};
use super::stats::{IssueKind, SourceStats};
use super::{SourceBatch, SourceSender, wait_ack};
use crate::{Format, IngestError};

/// One watched file, or a directory and a pattern for the files in it to watch.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    /// The source name put in batches, shown in stats, and keying the checkpoint (unique).
    pub name: String,
    /// A file, or a directory whose matching files (not its subdirectories) are watched.
    pub path: PathBuf,
    /// For a directory: the file names to watch, as a glob (`*.log`); `None` watches all.
    pub pattern: Option<String>,
    /// The format of the lines, or `None` to let the pipeline sniff it.
    pub format: Option<Format>,
}

impl WatchSpec {
    /// Watches `path` (a file, or every file of a directory) as source `name`, format sniffed.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        WatchSpec {
            name: name.into(),
            path: path.into(),
            pattern: None,
            format: None,
        }
    }
}

/// Settings of a [`Tailer`]; [`TailConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct TailConfig {
    /// The sources to watch.
    pub watches: Vec<WatchSpec>,
    /// Where the checkpoint file (`tail-checkpoints.json`) lives; created if missing.
    pub state_dir: PathBuf,
    /// How often files are looked at (default 250 ms).
    pub poll_interval: Duration,
    /// The longest line accepted, in bytes (default 256 KiB); longer ones are counted as
    /// oversize and skipped.
    pub max_line: usize,
    /// The most lines in one batch (default 1000).
    pub max_batch_lines: usize,
    /// The most bytes in one batch, roughly (default 1 MiB).
    pub max_batch_bytes: usize,
}

impl TailConfig {
    /// Defaults for watching `watches`, checkpointing in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>, watches: Vec<WatchSpec>) -> Self {
        TailConfig {
            watches,
            state_dir: state_dir.into(),
            poll_interval: Duration::from_millis(250),
            max_line: 256 * 1024,
            max_batch_lines: 1000,
            max_batch_bytes: 1024 * 1024,
        }
    }
}

/// Follows the configured files, sending their new lines and checkpointing acknowledged ones.
///
/// Created with [`Tailer::open`] (which reads the checkpoint), run with [`Tailer::run`].
pub struct Tailer {
    core: Arc<Mutex<Core>>,
    stats: Vec<(String, Arc<SourceStats>)>,
    poll_interval: Duration,
    checkpoint_path: PathBuf,
}

impl Tailer {
    /// Checks the configuration and reads the checkpoint, finding each checkpointed file again
    /// (by device and inode, in its watch or, when rotated while stopped, in its directory).
    pub fn open(cfg: TailConfig) -> Result<Tailer, IngestError> {
        let invalid = |path: &Path, reason: String| IngestError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, reason),
        };
        let mut patterns = Vec::new();
        for (i, w) in cfg.watches.iter().enumerate() {
            if cfg.watches[..i].iter().any(|o| o.name == w.name) {
                return Err(invalid(
                    &w.path,
                    format!("watch name `{}` used twice", w.name),
                ));
            }
            let pattern = match &w.pattern {
                Some(p) => Some(
                    glob::Pattern::new(p)
                        .map_err(|e| invalid(&w.path, format!("pattern `{p}`: {e}")))?,
                ),
                None => None,
            };
            patterns.push(pattern);
        }
        fs::create_dir_all(&cfg.state_dir).map_err(|source| IngestError::Io {
            path: cfg.state_dir.clone(),
            source,
        })?;
        let entries = checkpoint::load(&cfg.state_dir)?;
        let stats: Vec<(String, Arc<SourceStats>)> = cfg
            .watches
            .iter()
            .map(|w| (w.name.clone(), Arc::default()))
            .collect();
        let mut core = Core {
            poll_interval: cfg.poll_interval,
            checkpoint_path: cfg.state_dir.join(checkpoint::FILE_NAME),
            stats: stats.iter().map(|(_, s)| Arc::clone(s)).collect(),
            patterns,
            cfg,
            files: Vec::new(),
            dirty: false,
            watch_errors: Vec::new(),
        };
        core.watch_errors = vec![None; core.cfg.watches.len()];
        core.resume(entries);
        Ok(Tailer {
            poll_interval: core.poll_interval,
            checkpoint_path: core.checkpoint_path.clone(),
            core: Arc::new(Mutex::new(core)),
            stats,
        })
    }

    /// Each watch's name and counters, in configuration order.
    pub fn stats(&self) -> &[(String, Arc<SourceStats>)] {
        &self.stats
    }

    /// The checkpoint file.
    pub fn checkpoint_path(&self) -> &Path {
        &self.checkpoint_path
    }

    /// Polls the files until `shutdown` resolves or the pipeline's receiver is gone.
    ///
    /// Each batch waits for its ack before its file's checkpoint advances; a refused or
    /// dropped ack is counted and its lines are read again at the next poll (at-least-once).
    /// At shutdown, a batch awaiting its ack is abandoned unacknowledged, so it is sent again
    /// after a restart.
    pub async fn run(self, tx: SourceSender, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        loop {
            self.blocking(Core::scan).await;
            let outcome = tokio::select! {
                _ = &mut shutdown => return,
                o = self.read_all(&tx) => o,
            };
            if outcome == Outcome::Closed {
                return;
            }
            self.blocking(Core::finish_rotated).await;
            self.blocking(Core::store_if_dirty).await;
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    /// Sends every file's complete new lines, one batch per file in turn, until none has more.
    async fn read_all(&self, tx: &SourceSender) -> Outcome {
        loop {
            let files = self.with(|c| c.files.len());
            let mut more = false;
            for i in 0..files {
                let Some(mut read) = self.blocking(move |c| c.read_batch(i)).await else {
                    continue;
                };
                more |= read.more;
                if read.records.is_empty() {
                    self.blocking(move |c| c.advance(i, &read)).await;
                    continue;
                }
                let (ack_tx, ack_rx) = oneshot::channel();
                let (count, bytes) = (read.records.len(), read.bytes);
                let records = std::mem::take(&mut read.records);
                let (batch, stats) = self.with(|c| {
                    let t = &c.files[i];
                    let w = &c.cfg.watches[t.watch];
                    let batch = SourceBatch {
                        source: w.name.clone(),
                        format: w.format,
                        peer: None,
                        path: Some(t.path.clone()),
                        records,
                        ack: Some(ack_tx),
                    };
                    (batch, Arc::clone(&c.stats[t.watch]))
                });
                let path = batch.path.clone();
                if tx.send(batch).await.is_err() {
                    return Outcome::Closed;
                }
                stats.delivered(count, bytes);
                match wait_ack(ack_rx).await {
                    Ok(()) => {
                        self.blocking(move |c| {
                            c.advance(i, &read);
                            c.store();
                        })
                        .await;
                    }
                    Err(reason) => {
                        let reason = format!(
                            "batch of {count} lines not made durable: {reason}; read again at the next poll"
                        );
                        stats.issue(IssueKind::Ack, None, path, Some(read.start), reason);
                        return Outcome::AckFailed;
                    }
                }
            }
            if !more {
                return Outcome::Done;
            }
        }
    }

    /// Runs `f` on the tailer's state here: for work that does no I/O. The state is only used
    /// by [`Tailer::run`], one step at a time, so the lock is never contended.
    fn with<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        f(&mut self.core.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs `f` on the tailer's state on a blocking thread (file reads and fsyncs).
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> R + Send + 'static,
    ) -> R {
        let core = Arc::clone(&self.core);
        let job = tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a file half-updated in a way later
            // polls would misread (offsets only move on ack): keep going.
            let mut core = core.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut core)
        });
        match job.await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Every file is read up to its last complete line.
    Done,
    /// The pipeline refused a batch: wait for the next poll.
    AckFailed,
    /// The pipeline's receiver is gone.
    Closed,
}

/// The state behind a [`Tailer`], used from blocking threads.
struct Core {
    cfg: TailConfig,
    patterns: Vec<Option<glob::Pattern>>,
    stats: Vec<Arc<SourceStats>>,
    files: Vec<Tracked>,
    /// The checkpoint lags the files' state (a file added, dropped or restarted).
    dirty: bool,
    /// The last error listing each watch, so a lasting one is reported once, not every poll.
    watch_errors: Vec<Option<String>>,
    poll_interval: Duration,
    checkpoint_path: PathBuf,
}

/// A file being followed.
struct Tracked {
    /// Index of its watch in the configuration.
    watch: usize,
    /// Where it was last seen.
    path: PathBuf,
    id: FileId,
    /// Kept open so a renamed or deleted file can still be read to its end.
    file: fs::File,
    fingerprint: Fingerprint,
    /// The byte after the last acknowledged (or skipped) line.
    offset: u64,
    /// Inside an over-long line: skip to the next newline.
    skipping: bool,
    /// No longer at a watched path (renamed away or deleted): read to the end, then drop.
    rotated: bool,
    /// Consecutive polls in which a rotated file had nothing new.
    idle: u32,
    /// Something was read from the file in this poll.
    progressed: bool,
}

/// Lines read from one file, not yet acknowledged.
struct Lines {
    /// The position they were read from.
    start: u64,
    /// The position after them (and after any over-long line skipped).
    end: u64,
    skipping: bool,
    records: Vec<Vec<u8>>,
    bytes: usize,
    /// A batch limit stopped the read before the end of the file.
    more: bool,
}

/// A file found at a watched path.
struct Found {
    watch: usize,
    path: PathBuf,
    id: FileId,
}

impl Core {
    /// Matches checkpoint entries to files, at start-up.
    fn resume(&mut self, entries: Vec<Entry>) {
        let found = self.discover();
        for e in entries {
            let Some(watch) = self.cfg.watches.iter().position(|w| w.name == e.source) else {
                // The source was removed from the configuration: its positions go with it.
                self.dirty = true;
                continue;
            };
            let stats = Arc::clone(&self.stats[watch]);
            let at_watch = found
                .iter()
                .find(|f| f.watch == watch && f.id == e.id)
                .map(|f| f.path.clone());
            let (path, rotated) = match at_watch {
                Some(p) => (p, false),
                None => match find_by_id(&e.path, e.id) {
                    Some(p) => (p, true),
                    None => {
                        let reason = format!(
                            "checkpointed file no longer found: lines after offset {}, if any, were not read",
                            e.offset
                        );
                        stats.issue(
                            IssueKind::Dropped,
                            None,
                            Some(e.path),
                            Some(e.offset),
                            reason,
                        );
                        self.dirty = true;
                        continue;
                    }
                },
            };
            let file = match fs::File::open(&path) {
                Ok(f) => f,
                Err(err) => {
                    let reason = format!("cannot reopen checkpointed file: {err}");
                    stats.issue(IssueKind::Dropped, None, Some(path), Some(e.offset), reason);
                    self.dirty = true;
                    continue;
                }
            };
            let mut t = Tracked {
                watch,
                path,
                id: e.id,
                file,
                fingerprint: e.fingerprint,
                offset: e.offset,
                skipping: e.skipping,
                rotated,
                idle: 0,
                progressed: false,
            };
            if rotated && !matches!(t.fingerprint.matches(&t.file), Ok(true)) {
                // Another file that got the old inode: the checkpointed one is gone.
                let reason = "checkpointed file no longer found (its inode holds another file)";
                stats.issue(
                    IssueKind::Dropped,
                    None,
                    Some(t.path),
                    Some(e.offset),
                    reason,
                );
                self.dirty = true;
                continue;
            }
            self.check_start(&mut t);
            self.files.push(t);
        }
    }

    /// The files at watched paths now.
    fn discover(&mut self) -> Vec<Found> {
        let mut found = Vec::new();
        for (watch, w) in self.cfg.watches.iter().enumerate() {
            let mut error = None;
            match fs::metadata(&w.path) {
                Ok(meta) if meta.is_dir() => match fs::read_dir(&w.path) {
                    Ok(dir) => {
                        for entry in dir.flatten() {
                            let name = entry.file_name();
                            let matches = self.patterns[watch]
                                .as_ref()
                                .is_none_or(|p| p.matches(&name.to_string_lossy()));
                            if !matches {
                                continue;
                            }
                            let path = entry.path();
                            // Following symlinks, like the writer does.
                            if let Ok(meta) = fs::metadata(&path)
                                && meta.is_file()
                            {
                                let id = FileId::of(&meta);
                                found.push(Found { watch, path, id });
                            }
                        }
                    }
                    Err(e) => error = Some(format!("cannot list the directory: {e}")),
                },
                Ok(meta) if meta.is_file() => found.push(Found {
                    watch,
                    path: w.path.clone(),
                    id: FileId::of(&meta),
                }),
                Ok(_) => error = Some("neither a file nor a directory".to_string()),
                // Not there yet: normal for a log not yet written.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => error = Some(format!("cannot read: {e}")),
            }
            if error != self.watch_errors[watch] {
                if let Some(reason) = &error {
                    let path = Some(w.path.clone());
                    self.stats[watch].issue(IssueKind::Io, None, path, None, reason.clone());
                }
                self.watch_errors[watch] = error;
            }
        }
        found
    }

    /// Follows new files, notices moved, rotated, deleted and truncated ones.
    fn scan(&mut self) {
        let found = self.discover();
        let mut files = std::mem::take(&mut self.files);
        for t in &mut files {
            if t.rotated {
                continue;
            }
            match found.iter().find(|f| f.watch == t.watch && f.id == t.id) {
                Some(f) => {
                    t.path.clone_from(&f.path);
                    self.check_start(t);
                }
                None => {
                    t.rotated = true;
                    self.dirty = true;
                }
            }
        }
        for f in found {
            if files.iter().any(|t| t.watch == f.watch && t.id == f.id) {
                continue;
            }
            let stats = &self.stats[f.watch];
            let opened = fs::File::open(&f.path).and_then(|file| {
                let size = file.metadata()?.len();
                let fingerprint = Fingerprint::read(&file, size)?;
                Ok((file, fingerprint))
            });
            match opened {
                Ok((file, fingerprint)) => {
                    files.push(Tracked {
                        watch: f.watch,
                        path: f.path,
                        id: f.id,
                        file,
                        fingerprint,
                        offset: 0,
                        skipping: false,
                        rotated: false,
                        idle: 0,
                        progressed: false,
                    });
                    self.dirty = true;
                }
                // Deleted between listing and opening.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    let reason = format!("cannot open: {e}");
                    stats.issue(IssueKind::Io, None, Some(f.path), None, reason);
                }
            }
        }
        self.files = files;
    }

    /// Restarts `t` from its beginning when it shrank below its position or its first bytes
    /// changed (copytruncate, or a new file that got the same inode); extends its fingerprint
    /// while it is shorter than [`checkpoint::FINGERPRINT_MAX`].
    fn check_start(&mut self, t: &mut Tracked) {
        let stats = &self.stats[t.watch];
        let checked = t.file.metadata().and_then(|meta| {
            let size = meta.len();
            let same = size >= t.offset && t.fingerprint.matches(&t.file)?;
            Ok((size, same))
        });
        let (size, same) = match checked {
            Ok(c) => c,
            Err(e) => {
                let reason = format!("cannot check the file: {e}");
                stats.issue(IssueKind::Io, None, Some(t.path.clone()), None, reason);
                return;
            }
        };
        if !same {
            let reason = if size < t.offset {
                format!("file shrank to {size} bytes: read again from the start")
            } else {
                format!(
                    "the file's first {} bytes changed: read again from the start",
                    t.fingerprint.len
                )
            };
            stats.issue(
                IssueKind::Truncated,
                None,
                Some(t.path.clone()),
                Some(t.offset),
                reason,
            );
            t.offset = 0;
            t.skipping = false;
            self.dirty = true;
        }
        if !same || t.fingerprint.len < size.min(checkpoint::FINGERPRINT_MAX) {
            match Fingerprint::read(&t.file, size) {
                Ok(fp) => t.fingerprint = fp,
                Err(e) => {
                    let reason = format!("cannot read the file's start: {e}");
                    stats.issue(IssueKind::Io, None, Some(t.path.clone()), None, reason);
                }
            }
        }
    }

    /// Reads the next batch of complete lines of file `i` from its position. A rotated file
    /// that has stayed unchanged for a poll is finished: its last line counts even without a
    /// newline, since nothing will complete it.
    fn read_batch(&mut self, i: usize) -> Option<Lines> {
        let t = &mut self.files[i];
        let stats = &self.stats[t.watch];
        let finishing = t.rotated && t.idle >= 1;
        match read_lines(t, &self.cfg, stats, finishing) {
            Ok(read) => {
                t.progressed |= read.end != t.offset;
                Some(read)
            }
            Err(e) => {
                let reason = format!("read: {e}");
                stats.issue(
                    IssueKind::Io,
                    None,
                    Some(t.path.clone()),
                    Some(t.offset),
                    reason,
                );
                None
            }
        }
    }

    /// Moves file `i` past an acknowledged (or empty) read.
    fn advance(&mut self, i: usize, read: &Lines) {
        let t = &mut self.files[i];
        if t.offset == read.start && (t.offset, t.skipping) != (read.end, read.skipping) {
            t.offset = read.end;
            t.skipping = read.skipping;
            self.dirty = true;
        }
    }

    /// Lets go of rotated files that had nothing new for two polls in a row (the second one
    /// read a last unterminated line, if any).
    fn finish_rotated(&mut self) {
        let before = self.files.len();
        self.files.retain_mut(|t| {
            if !t.rotated {
                return true;
            }
            t.idle = if std::mem::take(&mut t.progressed) {
                0
            } else {
                t.idle + 1
            };
            let done = t.idle >= 2;
            if done {
                self.stats[t.watch].rotated();
            }
            !done
        });
        self.dirty |= self.files.len() != before;
    }

    fn store_if_dirty(&mut self) {
        if self.dirty {
            self.store();
        }
    }

    /// Writes the checkpoint; a failure is counted on every watch and retried next poll.
    fn store(&mut self) {
        let entries = self
            .files
            .iter()
            .map(|t| Entry {
                source: self.cfg.watches[t.watch].name.clone(),
                path: t.path.clone(),
                id: t.id,
                fingerprint: t.fingerprint,
                offset: t.offset,
                skipping: t.skipping,
            })
            .collect();
        match checkpoint::store(&self.cfg.state_dir, entries) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                self.dirty = true;
                for stats in &self.stats {
                    let path = Some(self.checkpoint_path.clone());
                    stats.issue(IssueKind::Io, None, path, None, e.to_string());
                }
            }
        }
    }
}

/// Reads complete lines of `t` from its position, up to the batch limits; over-long lines are
/// counted and skipped, blank lines dropped, a trailing CR removed.
fn read_lines(
    t: &mut Tracked,
    cfg: &TailConfig,
    stats: &SourceStats,
    finishing: bool,
) -> io::Result<Lines> {
    const CHUNK: usize = 64 * 1024;
    t.file.seek(SeekFrom::Start(t.offset))?;
    let mut read = Lines {
        start: t.offset,
        end: t.offset,
        skipping: t.skipping,
        records: Vec::new(),
        bytes: 0,
        more: false,
    };
    // Bytes read but not consumed yet; `read.end` is the file offset of `buf[0]`.
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    let full = |r: &Lines| r.records.len() >= cfg.max_batch_lines || r.bytes >= cfg.max_batch_bytes;
    loop {
        if full(&read) {
            read.more = true;
            break;
        }
        let n = t.file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut used = 0;
        while let Some(nl) = buf[used..].iter().position(|&b| b == b'\n') {
            let line = &buf[used..used + nl];
            let at = read.end + used as u64;
            used += nl + 1;
            if std::mem::take(&mut read.skipping) {
                // The end of an over-long line already counted.
            } else if line.len() > cfg.max_line {
                oversize(stats, t, at, line.len(), cfg.max_line);
            } else {
                push_line(&mut read, line);
            }
            if full(&read) {
                break;
            }
        }
        buf.drain(..used);
        read.end += used as u64;
        if full(&read) {
            continue;
        }
        if !read.skipping && buf.len() > cfg.max_line {
            oversize(stats, t, read.end, buf.len(), cfg.max_line);
            read.skipping = true;
        }
        if read.skipping {
            read.end += buf.len() as u64;
            buf.clear();
        }
    }
    if finishing && !buf.is_empty() && !read.more {
        read.end += buf.len() as u64;
        push_line(&mut read, &buf);
    }
    Ok(read)
}

fn push_line(read: &mut Lines, line: &[u8]) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.is_empty() {
        read.bytes += line.len();
        read.records.push(line.to_vec());
    }
}

fn oversize(stats: &SourceStats, t: &Tracked, at: u64, len: usize, max: usize) {
    let reason = format!("line of {len} bytes or more is over the {max}-byte maximum: skipped");
    stats.issue(
        IssueKind::Oversize,
        None,
        Some(t.path.clone()),
        Some(at),
        reason,
    );
}

/// A file with device and inode `id` in the directory of `path`: where a file rotated while
/// Vigil was stopped went (`app.log` → `app.log.1`).
fn find_by_id(path: &Path, id: FileId) -> Option<PathBuf> {
    let dir = path.parent()?;
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let meta = fs::metadata(entry.path()).ok()?;
        (meta.is_file() && FileId::of(&meta) == id).then(|| entry.path())
    })
}
