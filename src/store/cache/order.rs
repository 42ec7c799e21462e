//! Eviction order of the disk cache's pieces: a min-heap keyed by a band
//! and a logical clock, with lazy deletion (pure, no I/O).
//!
//! Every key that may be evicted has a current stamp: its [`Band`] (what
//! the readers still want of it, see there) and the clock value of its last
//! read or change. The key with the smallest (band, clock) goes first, so a
//! piece of a lower band is always evicted before one of a higher band, and
//! within a band the least recently touched goes first. A touch gives the
//! key a new stamp and pushes a new heap entry; the old entry stays in the
//! heap, stale, and is skipped when it reaches the top (its stamp no longer
//! matches). So a touch, an insert and an eviction are O(log n); no
//! operation scans or sorts the keys. Stale entries are bounded: consecutive reads of the
//! same key (a player reading a piece in 64 KiB steps) reuse its stamp,
//! and when stale entries outnumber live ones the heap is rebuilt from the
//! live stamps in O(n), which happens at most once per n pushes
//! (amortised O(1)).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

/// What the stream readers still want of a cached piece; lower bands are
/// evicted first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Band {
    /// Read, and in no open reader's plan: a reader has passed it.
    Passed,
    /// Never read and in no open reader's plan (a preload, the read-ahead
    /// of a reader that seeked away or closed): it may still be played.
    Unread,
    /// In an open reader's plan (its window or its file's edges): evicting
    /// it means fetching it again.
    Wanted,
}

/// Heap entries tolerated beyond twice the live keys before a rebuild.
const SLACK: usize = 64;

/// Invariants: every live key has exactly one heap entry carrying its
/// current stamp (plus any number of stale ones); stamps are unique and
/// increase with every touch; `tick` is the largest stamp handed out.
pub(crate) struct ReadOrder<K> {
    stamps: HashMap<K, (Band, u64)>,
    heap: BinaryHeap<Reverse<((Band, u64), K)>>,
    tick: u64,
}

impl<K: Copy + Ord + Hash> ReadOrder<K> {
    pub(crate) fn new() -> ReadOrder<K> {
        ReadOrder {
            stamps: HashMap::new(),
            heap: BinaryHeap::new(),
            tick: 0,
        }
    }

    /// Keys that may be evicted.
    pub(crate) fn len(&self) -> usize {
        self.stamps.len()
    }

    /// Heap entries, stale ones included (for tests of the bound).
    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// `key` was read now (or has just arrived, or changed band): it
    /// becomes the most recent of `band`. A key not yet in the order is
    /// added.
    pub(crate) fn touch(&mut self, key: K, band: Band) {
        if self.stamps.get(&key) == Some(&(band, self.tick)) {
            // Already the most recent: nothing was touched since.
            return;
        }
        self.tick = self.tick.saturating_add(1);
        self.stamps.insert(key, (band, self.tick));
        self.heap.push(Reverse(((band, self.tick), key)));
        if self.heap.len() > self.stamps.len().saturating_mul(2) + SLACK {
            self.heap = self.stamps.iter().map(|(k, s)| Reverse((*s, *k))).collect();
        }
    }

    /// Touch only if `key` is already in the order (a read of a piece that
    /// is not evictable yet changes nothing).
    pub(crate) fn touch_if_present(&mut self, key: K, band: Band) {
        if self.stamps.contains_key(&key) {
            self.touch(key, band);
        }
    }

    /// The band of `key`, if it is in the order.
    pub(crate) fn band(&self, key: K) -> Option<Band> {
        self.stamps.get(&key).map(|&(b, _)| b)
    }

    /// Forget `key` (its heap entry goes stale).
    pub(crate) fn remove(&mut self, key: K) {
        self.stamps.remove(&key);
    }

    /// Take out the least recently touched key of the lowest band.
    pub(crate) fn pop_oldest(&mut self) -> Option<(K, Band)> {
        while let Some(Reverse((stamp, key))) = self.heap.pop() {
            if self.stamps.get(&key) == Some(&stamp) {
                self.stamps.remove(&key);
                return Some((key, stamp.0));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Band::*;

    fn pop<K: Copy + Ord + Hash>(o: &mut ReadOrder<K>) -> Option<K> {
        o.pop_oldest().map(|(k, _)| k)
    }

    #[test]
    fn evicts_least_recently_read_first() {
        let mut o = ReadOrder::new();
        for k in 0..5u32 {
            o.touch(k, Passed);
        }
        o.touch(0, Passed);
        o.touch(2, Passed);
        assert_eq!(pop(&mut o), Some(1));
        assert_eq!(pop(&mut o), Some(3));
        assert_eq!(pop(&mut o), Some(4));
        assert_eq!(pop(&mut o), Some(0));
        assert_eq!(pop(&mut o), Some(2));
        assert_eq!(pop(&mut o), None);
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn removed_keys_are_never_returned() {
        let mut o = ReadOrder::new();
        o.touch(7u32, Passed);
        o.touch(8, Passed);
        o.remove(7);
        o.touch_if_present(7, Passed);
        assert_eq!(pop(&mut o), Some(8));
        assert_eq!(pop(&mut o), None);
        // Re-added after removal: live again with a fresh stamp.
        o.touch(7, Passed);
        assert_eq!(pop(&mut o), Some(7));
    }

    #[test]
    fn stale_entries_stay_bounded() {
        let mut o = ReadOrder::new();
        for k in 0..10u32 {
            o.touch(k, Passed);
        }
        for i in 0..100_000u32 {
            o.touch(i % 10, Passed);
            assert!(o.heap_len() <= 2 * 10 + SLACK + 1);
        }
        // Repeated reads of the most recent key push nothing.
        let before = o.heap_len();
        o.touch(99, Passed);
        o.touch(99, Passed);
        o.touch(99, Passed);
        assert_eq!(o.heap_len(), before + 1);
        // The order survived the rebuilds: 99 is newest, then 9, 8, ...
        let mut out = Vec::new();
        while let Some(k) = pop(&mut o) {
            out.push(k);
        }
        assert_eq!(out, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
    }

    #[test]
    fn lower_bands_go_first_whatever_their_age() {
        let mut o = ReadOrder::new();
        o.touch(1u32, Wanted);
        o.touch(2, Unread);
        o.touch(3, Passed);
        o.touch(4, Unread);
        o.touch(5, Passed);
        assert_eq!(o.band(2), Some(Unread));
        // 1 leaves the window unread; 3 is read again (most recent Passed).
        o.touch(1, Unread);
        o.touch(3, Passed);
        assert_eq!(o.pop_oldest(), Some((5, Passed)));
        assert_eq!(o.pop_oldest(), Some((3, Passed)));
        assert_eq!(o.pop_oldest(), Some((2, Unread)));
        o.touch(6, Wanted);
        assert_eq!(o.pop_oldest(), Some((4, Unread)));
        assert_eq!(o.pop_oldest(), Some((1, Unread)));
        assert_eq!(o.pop_oldest(), Some((6, Wanted)));
        assert_eq!(o.pop_oldest(), None);
        assert_eq!(o.band(6), None);
    }
}
