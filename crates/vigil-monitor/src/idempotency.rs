//! `Idempotency-Key` for `POST /api/v1/ingest`: a client that timed out after sending a body
//! cannot know whether it was made durable; retrying with the same key returns the first
//! request's receipt instead of appending the events a second time (which would count them
//! twice and raise their alerts again — the alert store's hit keys include the journal
//! offset, so a second copy is new to them).
//!
//! Keys are scoped to the calling token, remembered for [`KEEP_FOR`] or until [`CAPACITY`]
//! newer keys push them out, in memory: a retry after a server restart is not recognised (the
//! receipt says `idempotent: false` so clients can tell).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a key's receipt is kept.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

/// Keys remembered at most (the oldest are forgotten first).
pub const CAPACITY: usize = 100_000;

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
}

impl Idempotency {
    /// Checks `key` of `token` and, when it is new, marks it in flight.
    pub fn claim(&self, token: &str, key: &str) -> Claim {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        inner.forget_old(now);
        let k = (token.to_string(), key.to_string());
        match inner.keys.get(&k) {
            Some((KeyState::InFlight, _)) => Claim::Busy,
            Some((KeyState::Done(receipt), _)) => Claim::Replay(receipt.clone()),
            None => {
                inner.keys.insert(k.clone(), (KeyState::InFlight, now));
                inner.order.push_back((k, now));
                Claim::Fresh
            }
        }
    }

    /// Records the answer of a processed request.
    pub fn finish(&self, token: &str, key: &str, receipt: serde_json::Value) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = inner.keys.get_mut(&(token.to_string(), key.to_string())) {
            entry.0 = KeyState::Done(receipt);
        }
    }

    /// Forgets a key whose request failed (nothing was appended): a retry processes it anew.
    pub fn abandon(&self, token: &str, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.keys.remove(&(token.to_string(), key.to_string()));
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
