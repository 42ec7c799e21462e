//! The write queue: verified pieces wait in RAM for a writer thread, so the
//! download does not wait for the disk.
//!
//! A verified piece of storage mode `keep` is handed to its store's
//! [`WriteQueue`] instead of being written by the thread that hashed it.
//! The queue's bytes count against a [`WriteBudget`] shared by every store
//! of the process (`ram.write_queue_mib` of the board profile). Handing a
//! piece over blocks only while the budget is full: that hashing thread
//! then keeps the piece's in-flight RAM, the picker starts no new pieces,
//! and the peers slow down (backpressure when, and only when, the disk is
//! behind by the whole budget). One piece is always admitted, so a budget
//! smaller than a piece still makes progress.
//!
//! One writer thread per store takes pieces in arrival order and writes
//! them through a closure given at start (the store's positional writes).
//! Until its write succeeded, a piece stays readable from the queue
//! ([`WriteQueue::get`]): stream readers and uploads are served from RAM.
//!
//! A write that fails (disk full, I/O error) loses nothing: the piece stays
//! queued, still verified, and the writer tries it again every [`RETRY`].
//! Meanwhile [`WriteQueue::error`] says why (the swarm shows it as the
//! torrent's error state), the budget is not given back (so hashing, then
//! the peers, slow down), and a push is let in over the budget so a hashing
//! thread never waits on a disk that does not work. The first write that
//! succeeds clears the error. Only a queue being dropped gives up on a
//! piece its last try could not write (it was never in a resume file).
//!
//! # Shared state
//!
//! `State` (behind one mutex, with the condvar `changed`) holds the queued
//! pieces; the budget has its own mutex and condvar (`freed`). Neither lock
//! is held while writing, and the two are never held together. Lock order
//! against the store: the queue's lock comes before the store's `have`
//! (the store takes `have` under it to snapshot "written" pieces, and the
//! writer clears the bit of a piece it could not write under it).
//!
//! Invariants:
//! - A piece is in `pieces` from [`WriteQueue::push`] until its write
//!   succeeded (or, once closed, its last try failed); `queue` lists exactly the pieces of `pieces` not yet taken
//!   by the writer.
//! - `bytes` is the sum of the lengths in `pieces`, and the budget's `used`
//!   the sum of `bytes` over every queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::buf::PieceBuf;
use super::{lock, StoreError};
use crate::torrent::Bitfield;

/// How long a flush waits for the writer before giving up (a disk that
/// hangs for this long is reported, not waited for forever).
const FLUSH_WAIT: Duration = Duration::from_secs(600);
/// Longest single condvar wait (each loop re-checks its condition).
const TICK: Duration = Duration::from_secs(1);
/// How long the writer waits after a failed write before trying again.
pub const RETRY: Duration = Duration::from_secs(5);

/// RAM for queued writes, shared by every store of the process.
#[derive(Debug)]
pub struct WriteBudget {
    cap: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

impl WriteBudget {
    pub fn new(cap: u64) -> Arc<WriteBudget> {
        Arc::new(WriteBudget {
            cap,
            used: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    /// Bytes of pieces waiting to be written now, all stores together.
    pub fn used(&self) -> u64 {
        *lock(&self.used)
    }

    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Take `n` bytes, waiting while the budget is full (one piece is
    /// always let in when nothing is queued) and `stuck` says no (checked
    /// without the budget's lock). Waits as long as the disk needs: this
    /// wait is the backpressure.
    fn acquire(&self, n: u64, stuck: impl Fn() -> bool) {
        // Bounded by the writers' progress and `stuck`: every wake re-checks.
        loop {
            let mut used = lock(&self.used);
            if *used == 0 || used.saturating_add(n) <= self.cap {
                *used = used.saturating_add(n);
                return;
            }
            drop(match self.freed.wait_timeout(used, TICK) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            });
            if stuck() {
                let mut used = lock(&self.used);
                *used = used.saturating_add(n);
                return;
            }
        }
    }

    fn release(&self, n: u64) {
        let mut used = lock(&self.used);
        *used = used.saturating_sub(n);
        drop(used);
        self.freed.notify_all();
    }
}

/// Writes one piece: (piece, bytes).
pub(crate) type WriteFn = Box<dyn Fn(u32, &[u8]) -> Result<(), StoreError> + Send>;

#[derive(Default)]
struct State {
    pieces: HashMap<u32, Arc<PieceBuf>>,
    queue: VecDeque<u32>,
    bytes: u64,
    closed: bool,
    /// Why the last write failed, until one succeeds.
    error: Option<String>,
    /// When the writer may try again after a failed write.
    retry_at: Option<Instant>,
    /// Buffers of written pieces, for the store to reuse (at most
    /// [`MAX_RETURNED`]).
    returned: Vec<PieceBuf>,
}

/// Most written-piece buffers kept for reuse.
const MAX_RETURNED: usize = 8;

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    budget: Arc<WriteBudget>,
    have: Arc<Mutex<Bitfield>>,
}

/// One store's queue and its writer thread.
pub(crate) struct WriteQueue {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl WriteQueue {
    /// Start the writer thread of a store; `have` is the store's bitfield
    /// (a piece that cannot be written is cleared there).
    pub(crate) fn start(
        name: &str,
        budget: Arc<WriteBudget>,
        have: Arc<Mutex<Bitfield>>,
        write: WriteFn,
    ) -> Result<WriteQueue, StoreError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            budget,
            have,
        });
        let s = shared.clone();
        let label = name.to_string();
        let writer = std::thread::Builder::new()
            .name("rill-writer".into())
            .spawn(move || run(&s, &label, &write))
            .map_err(|e| StoreError::Invalid(format!("cannot start a writer thread: {e}")))?;
        Ok(WriteQueue {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Queue a verified piece (blocks while the shared budget is full and
    /// this queue's writes work).
    pub(crate) fn push(&self, piece: u32, buf: Arc<PieceBuf>) {
        let n = buf.len() as u64;
        self.shared
            .budget
            .acquire(n, || lock(&self.shared.state).error.is_some());
        let mut st = lock(&self.shared.state);
        if let Some(old) = st.pieces.insert(piece, buf) {
            // Queued twice (cannot happen: a piece is verified once); keep
            // the accounting right anyway.
            st.bytes = st.bytes.saturating_sub(old.len() as u64);
            self.shared.budget.release(old.len() as u64);
        } else {
            st.queue.push_back(piece);
        }
        st.bytes = st.bytes.saturating_add(n);
        drop(st);
        self.shared.changed.notify_all();
    }

    /// The bytes of a piece still waiting to be written (or being written).
    pub(crate) fn get(&self, piece: u32) -> Option<Arc<PieceBuf>> {
        lock(&self.shared.state).pieces.get(&piece).cloned()
    }

    /// Bytes waiting now.
    pub(crate) fn bytes(&self) -> u64 {
        lock(&self.shared.state).bytes
    }

    /// `have` without the pieces not yet written, taken under the queue's
    /// lock so that no piece is between the two.
    pub(crate) fn written(&self) -> Bitfield {
        let st = lock(&self.shared.state);
        let mut have = lock(&self.shared.have).clone();
        for &p in st.pieces.keys() {
            have.clear(p);
        }
        have
    }

    /// Why writes fail now (pieces wait in RAM for a retry), if they do.
    pub(crate) fn error(&self) -> Option<String> {
        lock(&self.shared.state).error.clone()
    }

    /// Buffers of pieces written since the last call (no one else held
    /// them), to be reused for new pieces.
    pub(crate) fn take_returned(&self) -> Vec<PieceBuf> {
        std::mem::take(&mut lock(&self.shared.state).returned)
    }

    /// Wait until every queued piece is written (bounded by [`FLUSH_WAIT`];
    /// at once an error while writes fail).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let start = Instant::now();
        let mut st = lock(&self.shared.state);
        // Bounded by FLUSH_WAIT.
        while !st.pieces.is_empty() {
            if let Some(e) = &st.error {
                return Err(StoreError::Invalid(format!(
                    "{} verified pieces wait in RAM: {e}",
                    st.pieces.len()
                )));
            }
            if start.elapsed() >= FLUSH_WAIT {
                return Err(StoreError::Invalid(format!(
                    "{} pieces still not written after {FLUSH_WAIT:?}: the disk does not keep up",
                    st.pieces.len()
                )));
            }
            st = match self.shared.changed.wait_timeout(st, TICK) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        Ok(())
    }
}

impl Drop for WriteQueue {
    /// Write what is queued (one more try each while writes fail), then
    /// stop the writer.
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.changed.notify_all();
        if let Some(h) = lock(&self.writer).take() {
            let _ = h.join();
        }
    }
}

/// The writer thread: write queued pieces in order until closed and empty.
fn run(s: &Shared, name: &str, write: &WriteFn) {
    loop {
        let next = {
            let mut st = lock(&s.state);
            // Bounded: each turn waits at most TICK, and the loop ends once
            // the queue is closed and empty.
            loop {
                let wait = match st.retry_at {
                    Some(at) if !st.closed => at.saturating_duration_since(Instant::now()),
                    _ => Duration::ZERO,
                };
                if wait.is_zero() {
                    if let Some(p) = st.queue.pop_front() {
                        break st.pieces.get(&p).cloned().map(|b| (p, b));
                    }
                    if st.closed {
                        return;
                    }
                }
                st = match s
                    .changed
                    .wait_timeout(st, if wait.is_zero() { TICK } else { wait.min(TICK) })
                {
                    Ok((g, _)) => g,
                    Err(e) => e.into_inner().0,
                };
            }
        };
        let Some((piece, buf)) = next else { continue };
        let result = write(piece, &buf);
        let n = buf.len() as u64;
        let mut st = lock(&s.state);
        if let Err(e) = &result {
            if !st.closed {
                if st.error.is_none() {
                    log::error!(
                        "{name}: piece {piece} verified but not written ({e}); verified pieces waiting in RAM: {}; the write is retried every {} s",
                        st.pieces.len(),
                        RETRY.as_secs()
                    );
                }
                st.error = Some(e.to_string());
                st.retry_at = Some(Instant::now() + RETRY);
                st.queue.push_front(piece);
                drop(st);
                s.changed.notify_all();
                continue;
            }
            log::warn!(
                "{name}: piece {piece} verified but not written ({e}) before closing; it is fetched again next time"
            );
            lock(&s.have).clear(piece);
        } else if st.error.take().is_some() {
            log::info!(
                "{name}: writing to disk works again ({} pieces wait)",
                st.pieces.len().saturating_sub(1)
            );
            st.retry_at = None;
        }
        st.pieces.remove(&piece);
        if st.returned.len() < MAX_RETURNED {
            // Ours alone once out of `pieces`, unless a reader or the RAM
            // tier still holds it.
            if let Ok(b) = Arc::try_unwrap(buf) {
                st.returned.push(b);
            }
        }
        st.bytes = st.bytes.saturating_sub(n);
        drop(st);
        s.budget.release(n);
        s.changed.notify_all();
    }
}
