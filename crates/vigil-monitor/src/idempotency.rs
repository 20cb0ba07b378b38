//! `Idempotency-Key` for `POST /api/v1/ingest`: a client that timed out after sending a body
//! cannot know whether it was made durable; retrying with the same key returns the first
//! request's receipt instead of appending the events a second time (which would count them
//! twice and raise their alerts again — the alert store's hit keys include the journal
//! offset, so a second copy is new to them).
//!
//! Keys are scoped to the calling token and remembered for [`KEEP_FOR`]: in memory (at most
//! [`CAPACITY`], the oldest forgotten first) and, once the events are durable, as a record in
//! the state database (kind [`RECORD_KIND`]), so a retry after a server restart is recognised
//! too. The one gap: a crash after the journal made the events durable and before the record
//! was written (a single SQLite write) forgets that key. [`Idempotency::prune`] deletes
//! records older than [`KEEP_FOR`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_store::state::{Expect, RecordPut, RecordStore, StateError};

/// The state-database record kind of a remembered key's receipt.
pub const RECORD_KIND: &str = "ingest-key";

/// How long a key's receipt is kept.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

/// Keys remembered at most (the oldest are forgotten first).
pub const CAPACITY: usize = 100_000;

/// How often [`Idempotency::prune`] deletes expired keys from the state database.
pub const PRUNE_EVERY: Duration = Duration::from_secs(15 * 60);

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 255;

/// Where a key stands.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyState {
    /// A request with this key is being processed now.
    InFlight,
    /// It was processed; this was its answer.
    Done(serde_json::Value),
}

/// What to do with a request carrying a key.
#[derive(Debug, PartialEq)]
pub enum Claim {
    /// First time: process it, then [`Idempotency::finish`] or [`Idempotency::abandon`].
    Fresh,
    /// Processed before: answer this again.
    Replay(serde_json::Value),
    /// Another request with the key is in progress.
    Busy,
}

/// The remembered keys.
#[derive(Default)]
pub struct Idempotency {
    inner: Mutex<Inner>,
    records: Option<Arc<dyn RecordStore>>,
    last_prune: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<(String, String), (KeyState, Instant)>,
    /// Insertion order, for forgetting the oldest.
    order: VecDeque<((String, String), Instant)>,
}

impl Inner {
    fn forget_old(&mut self, now: Instant) {
        while let Some((key, at)) = self.order.front() {
            let expired = now.duration_since(*at) > KEEP_FOR;
            if !expired && self.order.len() <= CAPACITY {
                break;
            }
            // Only drop the map entry if it is the one this order entry recorded.
            if self.keys.get(key).is_some_and(|(_, t)| t == at) {
                self.keys.remove(key);
            }
            self.order.pop_front();
        }
    }

    fn insert(&mut self, k: (String, String), state: KeyState, now: Instant) {
        self.keys.insert(k.clone(), (state, now));
        self.order.push_back((k, now));
    }
}

/// The record id of `token`'s `key`: both, JSON-quoted, so no key can pose as another's.
fn record_id(token: &str, key: &str) -> String {
    serde_json::to_string(&[token, key]).unwrap_or_default()
}

impl Idempotency {
    /// Keys kept in memory and as records in `records` (which survive a restart).
    pub fn with_records(records: Arc<dyn RecordStore>) -> Self {
        Idempotency {
            inner: Mutex::default(),
            records: Some(records),
            last_prune: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks `key` of `token` and, when it is new, marks it in flight. A key not in memory
    /// is looked up in the state database (a request before a restart); a failed lookup
    /// treats it as new, as without the database.
    pub fn claim(&self, token: &str, key: &str) -> Claim {
        let k = (token.to_string(), key.to_string());
        {
            let mut inner = self.lock();
            let now = Instant::now();
            inner.forget_old(now);
            match inner.keys.get(&k) {
                Some((KeyState::InFlight, _)) => return Claim::Busy,
                Some((KeyState::Done(receipt), _)) => return Claim::Replay(receipt.clone()),
                None if self.records.is_none() => {
                    inner.insert(k, KeyState::InFlight, now);
                    return Claim::Fresh;
                }
                None => {}
            }
        }
        // Not in memory: the database, without holding the lock.
        let stored = self.stored(token, key);
        let mut inner = self.lock();
        let now = Instant::now();
        match inner.keys.get(&k) {
            // Another request with the key came in meanwhile.
            Some((KeyState::InFlight, _)) => Claim::Busy,
            Some((KeyState::Done(receipt), _)) => Claim::Replay(receipt.clone()),
            None => match stored {
                Some(receipt) => {
                    inner.insert(k, KeyState::Done(receipt.clone()), now);
                    Claim::Replay(receipt)
                }
                None => {
                    inner.insert(k, KeyState::InFlight, now);
                    Claim::Fresh
                }
            },
        }
    }

    /// The receipt recorded for the key in the state database, if younger than [`KEEP_FOR`].
    fn stored(&self, token: &str, key: &str) -> Option<serde_json::Value> {
        let records = self.records.as_ref()?;
        let record = match records.get_record(RECORD_KIND, &record_id(token, key)) {
            Ok(r) => r?,
            Err(e) => {
                eprintln!("vigil serve: idempotency key lookup failed (treated as new): {e}");
                return None;
            }
        };
        let age = jiff::Timestamp::now().duration_since(record.updated_at);
        if age.as_secs() > KEEP_FOR.as_secs() as i64 {
            return None;
        }
        serde_json::from_str(&record.body).ok()
    }

    /// Records the answer of a processed request, in memory and in the state database.
    pub fn finish(&self, token: &str, key: &str, receipt: serde_json::Value) {
        if let Some(records) = &self.records {
            let put = RecordPut {
                kind: RECORD_KIND.into(),
                id: record_id(token, key),
                body: Some(receipt.to_string()),
                expect: Expect::Any,
            };
            if let Err(e) = records.put_records(&[put]) {
                // The receipt is still kept in memory: only a retry after a restart is lost.
                eprintln!("vigil serve: idempotency key not recorded (kept in memory): {e}");
            }
        }
        let mut inner = self.lock();
        if let Some(entry) = inner.keys.get_mut(&(token.to_string(), key.to_string())) {
            entry.0 = KeyState::Done(receipt);
        }
    }

    /// Forgets a key whose request failed (nothing was appended): a retry processes it anew.
    pub fn abandon(&self, token: &str, key: &str) {
        self.lock()
            .keys
            .remove(&(token.to_string(), key.to_string()));
    }

    /// Deletes the state database's keys older than [`KEEP_FOR`]; returns how many. Runs at
    /// most every [`PRUNE_EVERY`] (callers may call it more often).
    pub fn prune(&self) -> Result<u64, StateError> {
        let Some(records) = &self.records else {
            return Ok(0);
        };
        {
            let mut last = self.last_prune.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
                return Ok(0);
            }
            *last = Some(Instant::now());
        }
        let keep = jiff::SignedDuration::from_secs(KEEP_FOR.as_secs() as i64);
        let cutoff = jiff::Timestamp::now()
            .checked_sub(keep)
            .unwrap_or(jiff::Timestamp::MIN);
        records.forget_records_before(RECORD_KIND, cutoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_fresh_then_busy_then_replayed_and_scoped_to_its_token() {
        let i = Idempotency::default();
        assert_eq!(i.claim("t1", "k"), Claim::Fresh);
        assert_eq!(i.claim("t1", "k"), Claim::Busy);
        assert_eq!(i.claim("t2", "k"), Claim::Fresh, "another token's key");
        i.finish("t1", "k", serde_json::json!({"offset": 7}));
        assert_eq!(
            i.claim("t1", "k"),
            Claim::Replay(serde_json::json!({"offset": 7}))
        );
        i.abandon("t2", "k");
        assert_eq!(
            i.claim("t2", "k"),
            Claim::Fresh,
            "a failed request can be retried"
        );
    }

    /// A real state database whose clock runs `lag` seconds behind now.
    fn store(
        dir: &std::path::Path,
        lag: Arc<std::sync::atomic::AtomicI64>,
    ) -> Arc<dyn RecordStore> {
        let options = vigil_store::state::StateOptions {
            clock: Arc::new(move || {
                jiff::Timestamp::now()
                    - jiff::SignedDuration::from_secs(
                        lag.load(std::sync::atomic::Ordering::Relaxed),
                    )
            }),
            ..Default::default()
        };
        Arc::new(vigil_store::state::SqliteStore::open(dir.join("state.db"), options).unwrap())
    }

    #[test]
    fn keys_outlive_a_restart_and_expire_from_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let lag = Arc::new(std::sync::atomic::AtomicI64::new(2 * 24 * 3600));
        let records = store(dir.path(), Arc::clone(&lag));
        let first = Idempotency::with_records(Arc::clone(&records));
        // Written two days ago (the store's clock lags), then one now.
        assert_eq!(first.claim("t", "old"), Claim::Fresh);
        first.finish("t", "old", serde_json::json!({"offset": 1}));
        lag.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(first.claim("t", "new"), Claim::Fresh);
        first.finish("t", "new", serde_json::json!({"offset": 2}));
        assert_eq!(first.claim("t", "failed"), Claim::Fresh);
        first.abandon("t", "failed");
        drop(first);

        // A restart: the recent key is replayed from the database, the expired one and the
        // abandoned one are new, and another token's key of the same name is new.
        let again = Idempotency::with_records(Arc::clone(&records));
        assert_eq!(
            again.claim("t", "new"),
            Claim::Replay(serde_json::json!({"offset": 2}))
        );
        assert_eq!(again.claim("u", "new"), Claim::Fresh);
        assert_eq!(again.claim("t", "old"), Claim::Fresh);
        assert_eq!(again.claim("t", "failed"), Claim::Fresh);
        // Pruning deletes only the expired record, once per PRUNE_EVERY.
        assert_eq!(again.prune().unwrap(), 1);
        assert_eq!(again.prune().unwrap(), 0);
        let left: Vec<String> = records
            .list_records(RECORD_KIND)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(left, [record_id("t", "new")]);
    }

    #[test]
    fn the_oldest_keys_are_forgotten_beyond_capacity() {
        let i = Idempotency::default();
        for n in 0..=CAPACITY {
            assert_eq!(i.claim("t", &n.to_string()), Claim::Fresh);
        }
        // One over capacity: the first key is gone, the last is kept.
        assert_eq!(i.claim("t", "0"), Claim::Fresh);
        assert_eq!(i.claim("t", &CAPACITY.to_string()), Claim::Busy);
    }
}
