//! Least-recently-read order of the disk cache's pieces: a min-heap keyed
//! by a logical read clock, with lazy deletion (pure, no I/O).
//!
//! Every key that may be evicted has a current stamp (the clock value of
//! its last read, or of its arrival). A read gives the key a new stamp and
//! pushes a new heap entry; the old entry stays in the heap, stale, and is
//! skipped when it reaches the top (its stamp no longer matches). So a
//! read, an insert and an eviction are O(log n); no operation scans or
//! sorts the keys. Stale entries are bounded: consecutive reads of the
//! same key (a player reading a piece in 64 KiB steps) reuse its stamp,
//! and when stale entries outnumber live ones the heap is rebuilt from the
//! live stamps in O(n), which happens at most once per n pushes
//! (amortised O(1)).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

/// Heap entries tolerated beyond twice the live keys before a rebuild.
const SLACK: usize = 64;

/// Invariants: every live key has exactly one heap entry carrying its
/// current stamp (plus any number of stale ones); stamps are unique and
/// increase with every touch; `tick` is the largest stamp handed out.
pub(crate) struct ReadOrder<K> {
    stamps: HashMap<K, u64>,
    heap: BinaryHeap<Reverse<(u64, K)>>,
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

    /// `key` was read now (or has just arrived): it becomes the most
    /// recent. A key not yet in the order is added.
    pub(crate) fn touch(&mut self, key: K) {
        if self.stamps.get(&key) == Some(&self.tick) {
            // Already the most recent: nothing was touched since.
            return;
        }
        self.tick = self.tick.saturating_add(1);
        self.stamps.insert(key, self.tick);
        self.heap.push(Reverse((self.tick, key)));
        if self.heap.len() > self.stamps.len().saturating_mul(2) + SLACK {
            self.heap = self.stamps.iter().map(|(k, s)| Reverse((*s, *k))).collect();
        }
    }

    /// Touch only if `key` is already in the order (a read of a piece that
    /// is not evictable yet changes nothing).
    pub(crate) fn touch_if_present(&mut self, key: K) {
        if self.stamps.contains_key(&key) {
            self.touch(key);
        }
    }

    /// Forget `key` (its heap entry goes stale).
    pub(crate) fn remove(&mut self, key: K) {
        self.stamps.remove(&key);
    }

    /// Take out the least recently read key.
    pub(crate) fn pop_oldest(&mut self) -> Option<K> {
        while let Some(Reverse((stamp, key))) = self.heap.pop() {
            if self.stamps.get(&key) == Some(&stamp) {
                self.stamps.remove(&key);
                return Some(key);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_read_first() {
        let mut o = ReadOrder::new();
        for k in 0..5u32 {
            o.touch(k);
        }
        o.touch(0);
        o.touch(2);
        assert_eq!(o.pop_oldest(), Some(1));
        assert_eq!(o.pop_oldest(), Some(3));
        assert_eq!(o.pop_oldest(), Some(4));
        assert_eq!(o.pop_oldest(), Some(0));
        assert_eq!(o.pop_oldest(), Some(2));
        assert_eq!(o.pop_oldest(), None);
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn removed_keys_are_never_returned() {
        let mut o = ReadOrder::new();
        o.touch(7u32);
        o.touch(8);
        o.remove(7);
        o.touch_if_present(7);
        assert_eq!(o.pop_oldest(), Some(8));
        assert_eq!(o.pop_oldest(), None);
        // Re-added after removal: live again with a fresh stamp.
        o.touch(7);
        assert_eq!(o.pop_oldest(), Some(7));
    }

    #[test]
    fn stale_entries_stay_bounded() {
        let mut o = ReadOrder::new();
        for k in 0..10u32 {
            o.touch(k);
        }
        for i in 0..100_000u32 {
            o.touch(i % 10);
            assert!(o.heap_len() <= 2 * 10 + SLACK + 1);
        }
        // Repeated reads of the most recent key push nothing.
        let before = o.heap_len();
        o.touch(99);
        o.touch(99);
        o.touch(99);
        assert_eq!(o.heap_len(), before + 1);
        // The order survived the rebuilds: 99 is newest, then 9, 8, ...
        let mut out = Vec::new();
        while let Some(k) = o.pop_oldest() {
            out.push(k);
        }
        assert_eq!(out, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
    }
}
