//! `Idempotency-Key` for `POST /api/v1/ingest`: a client that timed out after sending a body
//! cannot know whether it was made durable; retrying with the same key returns the first
//! request's receipt instead of appending the events a second time (which would count them
//! twice and raise their alerts again — the alert store's hit keys include the journal
//! offset, so a second copy is new to them).
//!
//! Keys are scoped to the calling token and remembered for [`KEEP_FOR`]: in memory (at most
//! [`CAPACITY`], the oldest forgotten first) and, once the events are durable, as a record in
//! the state database (kind [`RECORD_KIND`]), so a retry after a server restart is recognised
//! too. [`Idempotency::prune`] deletes records older than [`KEEP_FOR`].
//!
//! A crash can fall between the journal making a unit durable and the receipt's record being
//! written. So the unit carries its key and receipt in its header ([`KeyStamp`]), and the
//! state database keeps a watermark (kind [`WATERMARK_KIND`]): every keyed unit below it has
//! its record. Each receipt is written in one transaction with a new watermark: the lowest
//! journal offset a keyed request still in flight may append at ([`Reservation`]), or the
//! journal's next offset when there is none. At open, [`Idempotency::open`] reads the units
//! from the watermark on and records the keys it finds without a record.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_store::journal::Journal;
use vigil_store::state::{Expect, RecordPut, RecordStore, StateError};

use crate::unit::{self, KeyStamp};

/// The state-database record kind of a remembered key's receipt.
pub const RECORD_KIND: &str = "ingest-key";

/// The state-database record kind of the journal watermark (one record, id [`WATERMARK_ID`]):
/// every unit below it that carries a key has that key's record.
pub const WATERMARK_KIND: &str = "ingest-key-watermark";
const WATERMARK_ID: &str = "journal";

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
    /// The journal keyed units go to, and the offsets from which keyed requests in flight
    /// may append (with how many requests hold each).
    journal: Option<(Journal, Arc<Gate>)>,
    last_prune: Mutex<Option<Instant>>,
}

/// Offsets from which keyed requests in flight may append, with how many hold each.
type Gate = Mutex<BTreeMap<u64, usize>>;

/// A keyed request's hold on the watermark: from its making until it is dropped (after the
/// receipt was recorded, or the request failed), no watermark written passes `from`, the
/// journal's next offset when it was made — where the request's unit will be, or later.
pub struct Reservation {
    gate: Arc<Gate>,
    from: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = gate.get_mut(&self.from) {
            *n -= 1;
            if *n == 0 {
                gate.remove(&self.from);
            }
        }
    }
}

/// What [`Idempotency::open`] found in the journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Units read from the watermark on.
    pub scanned: u64,
    /// Keys whose receipt was missing and is now recorded.
    pub recorded: u64,
    /// Records that could not be read as units (skipped; detection reports them).
    pub unreadable: u64,
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

/// The write of the watermark at `offset`.
fn watermark(offset: u64) -> RecordPut {
    RecordPut {
        kind: WATERMARK_KIND.into(),
        id: WATERMARK_ID.into(),
        body: Some(offset.to_string()),
        expect: Expect::Any,
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
            journal: None,
            last_prune: Mutex::default(),
        }
    }

    /// [`Idempotency::with_records`] for units appended to `journal`: first records the keys
    /// of the units from the watermark on that have no record (the server stopped between a
    /// unit's durability and its receipt), then moves the watermark to the journal's end.
    pub fn open(
        records: Arc<dyn RecordStore>,
        journal: &Journal,
    ) -> Result<(Self, Recovered), StateError> {
        let mut found = Recovered::default();
        let end = journal.durable_end();
        // No watermark: the journal was written by a version that did not stamp keys (this
        // one writes the watermark at its first open, before any append), so nothing to read.
        let mark = records
            .get_record(WATERMARK_KIND, WATERMARK_ID)?
            .map_or(Some(end), |r| r.body.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .max(journal.first_offset());
        let mut puts = Vec::new();
        for record in journal.read_from(mark) {
            let Ok(record) = record else {
                found.unreadable += 1;
                continue;
            };
            if record.offset >= end {
                break;
            }
            found.scanned += 1;
            let stamp = match unit::decode(&record.payload) {
                Ok((header, _)) => header.idempotency,
                Err(_) => {
                    found.unreadable += 1;
                    continue;
                }
            };
            let Some(KeyStamp {
                token,
                key,
                mut receipt,
            }) = stamp
            else {
                continue;
            };
            let id = record_id(&token, &key);
            if records.get_record(RECORD_KIND, &id)?.is_some() {
                continue;
            }
            if let Some(fields) = receipt.as_object_mut() {
                fields.insert("offset".into(), record.offset.into());
            }
            puts.push(RecordPut {
                kind: RECORD_KIND.into(),
                id,
                body: Some(receipt.to_string()),
                expect: Expect::Any,
            });
            found.recorded += 1;
        }
        puts.push(watermark(end));
        records.put_records(&puts)?;
        let mut me = Idempotency::with_records(records);
        me.journal = Some((journal.clone(), Arc::default()));
        Ok((me, found))
    }

    /// Holds the watermark below where a keyed request's unit will be appended: take it
    /// before the append, keep it until [`Idempotency::finish`] returns.
    pub fn reserve(&self) -> Option<Reservation> {
        let (journal, gate) = self.journal.as_ref()?;
        let mut held = gate.lock().unwrap_or_else(|e| e.into_inner());
        // Read under the lock: a watermark computed after this sees the reservation, and one
        // computed before read a next offset no greater than this one.
        let from = journal.next_offset();
        *held.entry(from).or_default() += 1;
        Some(Reservation {
            gate: Arc::clone(gate),
            from,
        })
    }

    /// The watermark a receipt written now may carry: below every other request's
    /// reservation (`mine` is the writer's own, which its receipt covers).
    fn watermark_now(&self, mine: Option<&Reservation>) -> Option<u64> {
        let (journal, gate) = self.journal.as_ref()?;
        let held = gate.lock().unwrap_or_else(|e| e.into_inner());
        let lowest_other = held.iter().find_map(|(&from, &n)| {
            let others = n - usize::from(mine.is_some_and(|r| r.from == from));
            (others > 0).then_some(from)
        });
        Some(lowest_other.unwrap_or_else(|| journal.next_offset()))
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

    /// Records the answer of a processed request, in memory and in the state database (with
    /// a new watermark, before `reserved` is let go).
    pub fn finish(
        &self,
        token: &str,
        key: &str,
        receipt: serde_json::Value,
        reserved: Option<Reservation>,
    ) {
        if let Some(records) = &self.records {
            let mut puts = vec![RecordPut {
                kind: RECORD_KIND.into(),
                id: record_id(token, key),
                body: Some(receipt.to_string()),
                expect: Expect::Any,
            }];
            puts.extend(self.watermark_now(reserved.as_ref()).map(watermark));
            if let Err(e) = records.put_records(&puts) {
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

    /// Moves the watermark up to the lowest reservation (or the journal's next offset), so
    /// that the next open reads only the units since: called by the server's housekeeping,
    /// since without keyed requests nothing else moves it.
    pub fn advance_watermark(&self) -> Result<(), StateError> {
        match (&self.records, self.watermark_now(None)) {
            (Some(records), Some(offset)) => records.put_records(&[watermark(offset)]).map(drop),
            _ => Ok(()),
        }
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
        i.finish("t1", "k", serde_json::json!({"offset": 7}), None);
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
        first.finish("t", "old", serde_json::json!({"offset": 1}), None);
        lag.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(first.claim("t", "new"), Claim::Fresh);
        first.finish("t", "new", serde_json::json!({"offset": 2}), None);
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

    /// A keyed unit in `journal` with `receipt` (but for its offset), as the API appends it.
    fn append_keyed(journal: &Journal, key: Option<&str>) -> u64 {
        let header = crate::unit::UnitHeader {
            source: "http:test".into(),
            format: None,
            received: "2026-12-02T00:00:00Z".parse().unwrap(),
            peer: None,
            path: None,
            idempotency: key.map(|k| KeyStamp {
                token: "t".into(),
                key: k.into(),
                receipt: serde_json::json!({"source": "http:test", "events": 1}),
            }),
        };
        let ticket = journal
            .append(&unit::encode(&header, b"{\"a\":1}\n"))
            .unwrap();
        ticket.wait().unwrap()
    }

    fn watermark_of(records: &Arc<dyn RecordStore>) -> u64 {
        let r = records.get_record(WATERMARK_KIND, WATERMARK_ID).unwrap();
        r.unwrap().body.parse().unwrap()
    }

    /// The server stops after a keyed unit is durable and before its receipt is recorded:
    /// the next open records it from the unit's header, so the retry is a replay; units whose
    /// receipts were recorded, and units without a key, are left as they are.
    #[test]
    fn a_key_whose_unit_is_durable_survives_a_crash_before_its_record() {
        use vigil_store::journal::JournalOptions;
        let dir = tempfile::tempdir().unwrap();
        let records = store(dir.path(), Arc::default());
        let journal = Journal::open(dir.path().join("journal"), JournalOptions::default()).unwrap();
        // A journal from before the watermark existed is not read at the first open.
        append_keyed(&journal, None);
        let (first, found) = Idempotency::open(Arc::clone(&records), &journal).unwrap();
        assert_eq!(found, Recovered::default());
        assert_eq!(watermark_of(&records), journal.next_offset());

        // A request that completes, one without a key, then one cut off by the crash.
        assert_eq!(first.claim("t", "done"), Claim::Fresh);
        let reserved = first.reserve();
        let done = append_keyed(&journal, Some("done"));
        let receipt = serde_json::json!({"source": "http:test", "events": 1, "offset": done});
        first.finish("t", "done", receipt.clone(), reserved);
        append_keyed(&journal, None);
        assert_eq!(first.claim("t", "cut"), Claim::Fresh);
        let reserved = first.reserve();
        let cut = append_keyed(&journal, Some("cut"));
        drop(reserved);
        drop(first);

        let (again, found) = Idempotency::open(Arc::clone(&records), &journal).unwrap();
        assert_eq!(found.recorded, 1, "{found:?}");
        assert_eq!(
            found.scanned, 2,
            "from the watermark after `done`: {found:?}"
        );
        assert_eq!(again.claim("t", "done"), Claim::Replay(receipt));
        assert_eq!(
            again.claim("t", "cut"),
            Claim::Replay(serde_json::json!({"source": "http:test", "events": 1, "offset": cut}))
        );
        assert_eq!(again.claim("u", "cut"), Claim::Fresh, "scoped to its token");
        assert_eq!(watermark_of(&records), journal.next_offset());
        // Units without keys: housekeeping moves the watermark past them.
        append_keyed(&journal, None);
        again.advance_watermark().unwrap();
        assert_eq!(watermark_of(&records), journal.next_offset());
        drop(again);
        // Nothing more to find.
        let (_, found) = Idempotency::open(Arc::clone(&records), &journal).unwrap();
        assert_eq!((found.scanned, found.recorded), (0, 0));
    }

    /// A receipt recorded while another keyed request is between its reservation and its
    /// record leaves the watermark at that request's reservation, so a crash then does not
    /// skip the other unit.
    #[test]
    fn the_watermark_stays_below_requests_in_flight() {
        use vigil_store::journal::JournalOptions;
        let dir = tempfile::tempdir().unwrap();
        let records = store(dir.path(), Arc::default());
        let journal = Journal::open(dir.path().join("journal"), JournalOptions::default()).unwrap();
        let (i, _) = Idempotency::open(Arc::clone(&records), &journal).unwrap();
        append_keyed(&journal, None);
        assert_eq!(i.claim("t", "slow"), Claim::Fresh);
        let slow_reserved = i.reserve().unwrap();
        let slow_from = slow_reserved.from;
        assert_eq!(i.claim("t", "fast"), Claim::Fresh);
        let fast_reserved = i.reserve();
        // The slow request's unit lands first; the fast one's receipt is recorded first.
        let slow = append_keyed(&journal, Some("slow"));
        let fast = append_keyed(&journal, Some("fast"));
        assert!(slow >= slow_from && fast > slow);
        i.finish(
            "t",
            "fast",
            serde_json::json!({"offset": fast}),
            fast_reserved,
        );
        assert_eq!(watermark_of(&records), slow_from);
        i.advance_watermark().unwrap();
        assert_eq!(
            watermark_of(&records),
            slow_from,
            "housekeeping keeps it there too"
        );
        // The crash: the slow request never records its receipt.
        drop(slow_reserved);
        drop(i);
        let (again, found) = Idempotency::open(Arc::clone(&records), &journal).unwrap();
        assert_eq!(found.recorded, 1, "{found:?}");
        assert_eq!(
            again.claim("t", "slow"),
            Claim::Replay(serde_json::json!({"source": "http:test", "events": 1, "offset": slow}))
        );
        assert_eq!(
            again.claim("t", "fast"),
            Claim::Replay(serde_json::json!({"offset": fast}))
        );
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
