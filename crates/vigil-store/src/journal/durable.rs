//! The durable watermark and [`Ticket`], the handle an appender (or a tailing consumer) waits on.
//!
//! The committer publishes one number after each `fdatasync`: the *durable end*, one past the
//! highest offset that is on stable storage. Every wait in the journal is "until the durable
//! end passes offset N" — an appender waiting for its ack and a consumer waiting for new
//! records are the same thing. Blocking waiters sleep on a condition variable; async waiters
//! register a `Waker`, so tickets are plain futures usable from any runtime (tokio included)
//! without the journal depending on one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::error::{JournalError, Result};

/// Shared durability state: the watermark, a terminal failure, and the waiters.
#[derive(Debug)]
pub(crate) struct Durability {
    /// Fast-path copy of `State::end`, readable without the lock.
    end: AtomicU64,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    end: u64,
    /// Set once: the committer failed (`Failed`) or stopped (`Closed`).
    terminal: Option<Terminal>,
    wakers: HashMap<u64, (u64, Waker)>,
    next_waker_id: u64,
}

#[derive(Debug, Clone)]
enum Terminal {
    Closed,
    Failed(Arc<str>),
}

impl Terminal {
    fn error(&self) -> JournalError {
        match self {
            Terminal::Closed => JournalError::Closed,
            Terminal::Failed(reason) => JournalError::Failed {
                reason: reason.clone(),
            },
        }
    }
}

impl Durability {
    pub(crate) fn new(end: u64) -> Self {
        Durability {
            end: AtomicU64::new(end),
            state: Mutex::new(State {
                end,
                terminal: None,
                wakers: HashMap::new(),
                next_waker_id: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// One past the highest durable offset.
    pub(crate) fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only plain numbers behind: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the committer after an fsync: everything below `end` is durable.
    pub(crate) fn publish(&self, end: u64) {
        let ready: Vec<Waker> = {
            let mut state = self.lock();
            state.end = end;
            self.end.store(end, Ordering::Release);
            let mut ready = Vec::new();
            state.wakers.retain(|_, (offset, waker)| {
                if *offset < end {
                    ready.push(waker.clone());
                    false
                } else {
                    true
                }
            });
            ready
        };
        self.changed.notify_all();
        ready.into_iter().for_each(Waker::wake);
    }

    /// Called when the committer stops for good; wakes everyone so they can see why.
    pub(crate) fn terminate(&self, failure: Option<Arc<str>>) {
        let wakers: Vec<Waker> = {
            let mut state = self.lock();
            if state.terminal.is_none() {
                state.terminal = Some(match failure {
                    Some(reason) => Terminal::Failed(reason),
                    None => Terminal::Closed,
                });
            }
            state.wakers.drain().map(|(_, (_, waker))| waker).collect()
        };
        self.changed.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// `Some(result)` once `offset` is durable (or never will be).
    fn check(state: &State, offset: u64) -> Option<Result<u64>> {
        if offset < state.end {
            Some(Ok(offset))
        } else {
            state.terminal.as_ref().map(|t| Err(t.error()))
        }
    }
}

/// A promise that the record at [`offset`](Ticket::offset) becomes durable.
///
/// Returned by [`Journal::append`](super::Journal::append) (the record's acknowledgement) and
/// by [`Journal::when_durable`](super::Journal::when_durable) (a consumer waiting for the next
/// record). Wait with [`wait`](Ticket::wait) / [`wait_timeout`](Ticket::wait_timeout) from a
/// thread, or `.await` it from async code. It resolves to the offset, or to an error if the
/// journal failed or closed first. Offsets become durable in order, so waiting for the last of
/// several tickets covers the earlier ones.
#[derive(Debug)]
#[must_use = "an append is only acknowledged once its ticket resolves"]
pub struct Ticket {
    durability: Arc<Durability>,
    offset: u64,
    waker_id: Option<u64>,
}

impl Ticket {
    pub(crate) fn new(durability: Arc<Durability>, offset: u64) -> Self {
        Ticket {
            durability,
            offset,
            waker_id: None,
        }
    }

    /// The offset this ticket is for.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True once the record is durable (does not block).
    pub fn is_durable(&self) -> bool {
        self.offset < self.durability.end()
    }

    /// Blocks the calling thread until the record is durable; returns its offset.
    pub fn wait(self) -> Result<u64> {
        if self.is_durable() {
            return Ok(self.offset);
        }
        let durability = &self.durability;
        let mut state = durability.lock();
        loop {
            if let Some(result) = Durability::check(&state, self.offset) {
                return result;
            }
            state = durability
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Like [`wait`](Ticket::wait) but gives up after `timeout`, returning `Ok(None)`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<u64>> {
        if self.is_durable() {
            return Ok(Some(self.offset));
        }
        let deadline = Instant::now() + timeout;
        let durability = &self.durability;
        let mut state = durability.lock();
        loop {
            if let Some(result) = Durability::check(&state, self.offset) {
                return result.map(Some);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            state = durability
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Future for Ticket {
    type Output = Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.is_durable() {
            return Poll::Ready(Ok(this.offset));
        }
        let mut state = this.durability.lock();
        if let Some(result) = Durability::check(&state, this.offset) {
            if let Some(id) = this.waker_id.take() {
                state.wakers.remove(&id);
            }
            return Poll::Ready(result);
        }
        let id = *this.waker_id.get_or_insert_with(|| {
            state.next_waker_id += 1;
            state.next_waker_id
        });
        state.wakers.insert(id, (this.offset, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(id) = self.waker_id.take() {
            self.durability.lock().wakers.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn wait_returns_after_publish_and_errors_after_close() {
        let durability = Arc::new(Durability::new(0));
        let ticket = Ticket::new(durability.clone(), 2);
        let waiter = thread::spawn(move || ticket.wait());
        durability.publish(1);
        durability.publish(3);
        assert_eq!(waiter.join().unwrap().unwrap(), 2);

        let pending = Ticket::new(durability.clone(), 10);
        assert_eq!(
            pending.wait_timeout(Duration::from_millis(1)).unwrap(),
            None
        );
        durability.terminate(None);
        assert!(matches!(pending.wait(), Err(JournalError::Closed)));
    }

    #[test]
    fn failure_reaches_every_waiter() {
        let durability = Arc::new(Durability::new(0));
        durability.terminate(Some("disk on fire".into()));
        let err = Ticket::new(durability, 0).wait().unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }
}
