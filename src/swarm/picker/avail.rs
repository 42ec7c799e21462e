//! Piece availability counts and the rarest-first index.
//!
//! Every piece has a count of connected peers that have it. Pieces the
//! picker may still *start* (not verified, not started, not `Skip`) are
//! "listed": kept in buckets indexed by their count (counts above
//! [`BUCKET_CAP`] share the top bucket: rarity among that many copies does
//! not matter). A position table makes every move O(1):
//!
//! - `inc`/`dec` (a `Have`, a peer leaving): O(1);
//! - `insert`/`remove` (start, verify, priority change): O(1);
//! - `rarest(has)`: see there; no per-block cost, it runs once per started
//!   piece.
//!
//! Invariants: `pos[p] != NONE` iff `p` is listed, and then
//! `buckets[slot(count[p])][pos[p]] == p`; `listed` is the sum of bucket
//! lengths.

use crate::torrent::Bitfield;

use crate::random::XorShift;

/// Counts at or above this share one bucket.
pub(super) const BUCKET_CAP: u16 = 255;

const NONE: u32 = u32::MAX;

pub(super) struct Availability {
    count: Vec<u16>,
    buckets: Vec<Vec<u32>>,
    pos: Vec<u32>,
    listed: usize,
}

fn slot(c: u16) -> usize {
    usize::from(c.min(BUCKET_CAP))
}

impl Availability {
    /// `n` pieces, all with count 0, none listed.
    pub(super) fn new(n: u32) -> Availability {
        Availability {
            count: vec![0; n as usize],
            buckets: (0..=BUCKET_CAP).map(|_| Vec::new()).collect(),
            pos: vec![NONE; n as usize],
            listed: 0,
        }
    }

    /// How many connected peers announced piece `p` (0 if out of range).
    pub(super) fn count(&self, p: u32) -> u16 {
        self.count.get(p as usize).copied().unwrap_or(0)
    }

    pub(super) fn is_listed(&self, p: u32) -> bool {
        self.pos.get(p as usize).is_some_and(|&x| x != NONE)
    }

    /// Listed pieces that at least one connected peer has.
    pub(super) fn listed_available(&self) -> usize {
        self.listed - self.buckets[0].len()
    }

    pub(super) fn inc(&mut self, p: u32) {
        let Some(c) = self.count.get(p as usize).copied() else {
            return;
        };
        let n = c.saturating_add(1);
        self.recount(p, c, n);
    }

    pub(super) fn dec(&mut self, p: u32) {
        let Some(c) = self.count.get(p as usize).copied() else {
            return;
        };
        let n = c.saturating_sub(1);
        self.recount(p, c, n);
    }

    fn recount(&mut self, p: u32, old: u16, new: u16) {
        self.count[p as usize] = new;
        if self.is_listed(p) && slot(old) != slot(new) {
            self.unlink(p, slot(old));
            self.link(p, slot(new));
        }
    }

    /// List `p` as startable; no-op if already listed or out of range.
    pub(super) fn insert(&mut self, p: u32) {
        if p as usize >= self.pos.len() || self.is_listed(p) {
            return;
        }
        self.link(p, slot(self.count[p as usize]));
        self.listed += 1;
    }

    /// Unlist `p`; no-op if not listed.
    pub(super) fn remove(&mut self, p: u32) {
        if !self.is_listed(p) {
            return;
        }
        self.unlink(p, slot(self.count[p as usize]));
        self.listed -= 1;
    }

    fn link(&mut self, p: u32, b: usize) {
        self.pos[p as usize] = self.buckets[b].len() as u32;
        self.buckets[b].push(p);
    }

    fn unlink(&mut self, p: u32, b: usize) {
        let i = self.pos[p as usize] as usize;
        let bucket = &mut self.buckets[b];
        bucket.swap_remove(i);
        if let Some(&moved) = bucket.get(i) {
            self.pos[moved as usize] = i as u32;
        }
        self.pos[p as usize] = NONE;
    }

    /// The listed piece that `has` holds with the fewest copies among
    /// connected peers (count 0 never: nobody has it), ties broken randomly.
    ///
    /// Two strategies, chosen by how much of the torrent the peer has:
    /// - dense peer (at least 1/8 of all pieces): walk buckets from the
    ///   rarest, each from a random start, until a piece the peer has turns
    ///   up. Expected O(1/fraction) steps; worst case O(listed) cheap bit
    ///   tests, e.g. when the peer only has the most common pieces.
    /// - sparse peer: walk the peer's bitfield a byte at a time (zero bytes
    ///   skipped) and keep the rarest listed piece, reservoir-sampling ties:
    ///   O(pieces / 8 + pieces the peer has).
    pub(super) fn rarest(&self, has: &Bitfield, rng: &mut XorShift) -> Option<u32> {
        if self.listed_available() == 0 {
            return None;
        }
        if u64::from(has.count()) * 8 >= self.count.len() as u64 {
            self.rarest_dense(has, rng)
        } else {
            self.rarest_sparse(has, rng)
        }
    }

    fn rarest_dense(&self, has: &Bitfield, rng: &mut XorShift) -> Option<u32> {
        for bucket in self.buckets.iter().skip(1) {
            if bucket.is_empty() {
                continue;
            }
            let n = bucket.len();
            let start = rng.below(n as u64) as usize;
            let hit = (0..n)
                .map(|k| bucket[(start + k) % n])
                .find(|&p| has.get(p));
            if hit.is_some() {
                return hit;
            }
        }
        None
    }

    fn rarest_sparse(&self, has: &Bitfield, rng: &mut XorShift) -> Option<u32> {
        let mut best: Option<(u16, u32)> = None;
        let mut ties = 0u64;
        for (i, &byte) in has.as_bytes().iter().enumerate() {
            if byte == 0 {
                continue;
            }
            for bit in 0..8u32 {
                if byte & (0x80 >> bit) == 0 {
                    continue;
                }
                let Some(p) = u32::try_from(i)
                    .ok()
                    .and_then(|i| i.checked_mul(8))
                    .and_then(|b| b.checked_add(bit))
                else {
                    return best.map(|(_, p)| p);
                };
                if !self.is_listed(p) {
                    continue;
                }
                let c = self.count[p as usize];
                if c == 0 {
                    continue;
                }
                match best {
                    Some((bc, _)) if slot(c) > slot(bc) => {}
                    Some((bc, _)) if slot(c) == slot(bc) => {
                        ties += 1;
                        if rng.below(ties) == 0 {
                            best = Some((c, p));
                        }
                    }
                    _ => {
                        best = Some((c, p));
                        ties = 1;
                    }
                }
            }
        }
        best.map(|(_, p)| p)
    }

    /// Test-only consistency check of the invariants in the module docs.
    #[cfg(test)]
    pub(super) fn check(&self) {
        let mut total = 0;
        for (b, bucket) in self.buckets.iter().enumerate() {
            total += bucket.len();
            for (i, &p) in bucket.iter().enumerate() {
                assert_eq!(self.pos[p as usize] as usize, i);
                assert_eq!(slot(self.count[p as usize]), b);
            }
        }
        assert_eq!(total, self.listed);
        let listed = self.pos.iter().filter(|&&x| x != NONE).count();
        assert_eq!(listed, self.listed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(n: u32, ones: &[u32]) -> Bitfield {
        let mut b = Bitfield::new(n);
        for &i in ones {
            b.set(i);
        }
        b
    }

    #[test]
    fn buckets_follow_counts() {
        let mut a = Availability::new(10);
        for p in 0..10 {
            a.insert(p);
        }
        for _ in 0..3 {
            a.inc(4);
        }
        a.inc(7);
        a.inc(2);
        a.inc(2);
        a.check();
        assert_eq!(a.listed_available(), 3);
        let mut rng = XorShift::new(1);
        // Dense peer (has everything): rarest listed piece with count >= 1.
        assert_eq!(a.rarest(&Bitfield::full(10), &mut rng), Some(7));
        // Sparse peer with only 2 and 4: 2 is rarer.
        assert_eq!(a.rarest(&bits(10, &[2, 4]), &mut rng), Some(2));
        a.remove(7);
        a.remove(7);
        a.check();
        assert_eq!(a.rarest(&Bitfield::full(10), &mut rng), Some(2));
        a.dec(2);
        a.dec(2);
        a.dec(2);
        assert_eq!(a.count(2), 0);
        a.check();
        assert_eq!(a.rarest(&Bitfield::full(10), &mut rng), Some(4));
        assert_eq!(a.rarest(&bits(10, &[0, 1]), &mut rng), None);
        // Out of range is ignored.
        a.inc(99);
        a.dec(99);
        a.insert(99);
        a.remove(99);
        a.check();
        assert_eq!(a.count(99), 0);
    }

    #[test]
    fn counts_beyond_cap_share_top_bucket() {
        let mut a = Availability::new(3);
        a.insert(0);
        a.insert(1);
        for _ in 0..300 {
            a.inc(0);
            a.inc(1);
        }
        a.check();
        assert_eq!(a.count(0), 300);
        for _ in 0..300 {
            a.dec(0);
        }
        a.check();
        assert_eq!(a.listed_available(), 1);
    }
}
