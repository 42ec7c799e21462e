//! The RAM tier: recently verified pieces kept in memory for readers.
//!
//! A stream reader usually asks for a piece right after it was verified (it
//! was prioritised because the player wanted it), so keeping the last few
//! pieces in RAM saves an SD-card read. The tier is a byte-bounded LRU with
//! O(log n) insert, lookup and eviction (a map for lookup plus an ordered map
//! of use ticks). Plain data: the store wraps it in a mutex.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::buf::PieceBuf;

struct Entry {
    data: Arc<PieceBuf>,
    tick: u64,
}

/// Invariants: `bytes` is the sum of the entries' lengths and never exceeds
/// `cap`; `order` maps each entry's `tick` to its piece, one to one.
pub(crate) struct RamTier {
    entries: HashMap<u32, Entry>,
    order: BTreeMap<u64, u32>,
    bytes: u64,
    cap: u64,
    next_tick: u64,
}

impl RamTier {
    pub(crate) fn new(cap: u64) -> RamTier {
        RamTier {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            bytes: 0,
            cap,
            next_tick: 0,
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Change the cap, evicting least recently used pieces to fit.
    pub(crate) fn set_cap(&mut self, cap: u64) {
        self.cap = cap;
        self.evict_to(cap);
    }

    /// Evict least recently used pieces until at most `cap` bytes remain;
    /// returns them.
    fn evict_to(&mut self, cap: u64) -> Vec<Arc<PieceBuf>> {
        let mut out = Vec::new();
        while self.bytes > cap {
            let Some((_, victim)) = self.order.pop_first() else {
                break;
            };
            if let Some(e) = self.entries.remove(&victim) {
                self.bytes -= e.data.len() as u64;
                out.push(e.data);
            }
        }
        out
    }

    /// Keep `data` for `piece`, evicting the least recently used pieces to
    /// make room. Returns what is not kept (the evicted pieces, or `data`
    /// itself if it is larger than the whole cap) so buffers can be reused.
    pub(crate) fn insert(&mut self, piece: u32, data: Arc<PieceBuf>) -> Vec<Arc<PieceBuf>> {
        let len = data.len() as u64;
        if len > self.cap {
            return vec![data];
        }
        let mut out: Vec<Arc<PieceBuf>> = self.remove(piece).into_iter().collect();
        out.extend(self.evict_to(self.cap - len));
        let tick = self.tick();
        self.order.insert(tick, piece);
        self.entries.insert(piece, Entry { data, tick });
        self.bytes += len;
        out
    }

    /// The piece's bytes if held, marking it most recently used.
    pub(crate) fn get(&mut self, piece: u32) -> Option<Arc<PieceBuf>> {
        let tick = self.tick();
        let e = self.entries.get_mut(&piece)?;
        self.order.remove(&e.tick);
        e.tick = tick;
        self.order.insert(tick, piece);
        Some(Arc::clone(&e.data))
    }

    fn remove(&mut self, piece: u32) -> Option<Arc<PieceBuf>> {
        let e = self.entries.remove(&piece)?;
        self.order.remove(&e.tick);
        self.bytes -= e.data.len() as u64;
        Some(e.data)
    }

    fn tick(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(n: usize, fill: u8) -> Arc<PieceBuf> {
        Arc::new(PieceBuf::from_slice(&vec![fill; n]))
    }

    #[test]
    fn evicts_least_recently_used_within_cap() {
        let mut t = RamTier::new(300);
        t.insert(0, piece(100, 0));
        t.insert(1, piece(100, 1));
        t.insert(2, piece(100, 2));
        assert_eq!(t.bytes(), 300);
        // Touch 0 so 1 is the oldest.
        assert!(t.get(0).is_some());
        let evicted = t.insert(3, piece(100, 3));
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0][0], 1);
        assert!(t.bytes() <= 300);
        assert!(t.get(1).is_none());
        assert_eq!(t.get(0).map(|d| d[0]), Some(0));
        assert_eq!(t.get(2).map(|d| d[0]), Some(2));
        assert_eq!(t.get(3).map(|d| d[0]), Some(3));
        // A bigger piece evicts as many as needed.
        t.insert(4, piece(250, 4));
        assert!(t.bytes() <= 300);
        assert_eq!(t.bytes(), 250);
        assert!(t.get(4).is_some());
    }

    #[test]
    fn oversized_piece_and_zero_cap_are_not_kept() {
        let mut t = RamTier::new(50);
        assert_eq!(t.insert(0, piece(51, 0)).len(), 1);
        assert!(t.get(0).is_none());
        assert_eq!(t.bytes(), 0);
        let mut z = RamTier::new(0);
        assert_eq!(z.insert(0, piece(1, 0)).len(), 1);
        assert!(z.get(0).is_none());
    }

    #[test]
    fn shrinking_the_cap_evicts_oldest() {
        let mut t = RamTier::new(300);
        for p in 0..3 {
            assert!(t.insert(p, piece(100, p as u8)).is_empty());
        }
        t.set_cap(150);
        assert_eq!(t.bytes(), 100);
        assert!(t.get(2).is_some());
        assert!(t.get(0).is_none());
    }

    #[test]
    fn reinsert_replaces_without_double_counting() {
        let mut t = RamTier::new(1000);
        t.insert(7, piece(100, 1));
        t.insert(7, piece(100, 2));
        assert_eq!(t.bytes(), 100);
        assert_eq!(t.get(7).map(|d| d[0]), Some(2));
    }
}
