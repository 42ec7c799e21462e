//! A tiny xorshift64 PRNG for tie-breaking (picker) and optimistic unchokes
//! (choker).
//!
//! Neither needs cryptographic quality, only "not the same choice as every
//! other client" and reproducibility in tests: a seed makes every decision
//! deterministic. Seeding from entropy uses std's `RandomState` (randomly
//! keyed SipHash), so no extra crate is needed.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// xorshift64 (Marsaglia, shifts 13/7/17). Never holds state 0.
#[derive(Clone, Debug)]
pub(crate) struct XorShift(u64);

impl XorShift {
    /// A generator from `seed`; 0 (the one bad state) is replaced by a constant.
    pub(crate) fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// A generator seeded from `seed`, or from process entropy when `None`.
    pub(crate) fn from_seed_or_entropy(seed: Option<u64>) -> XorShift {
        match seed {
            Some(s) => XorShift::new(s),
            None => {
                let mut h = RandomState::new().build_hasher();
                h.write_u64(0x5eed);
                XorShift::new(h.finish())
            }
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`; 0 when `n` is 0. The modulo bias is irrelevant
    /// for the small `n` used here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = XorShift::new(7);
        let mut b = XorShift::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut z = XorShift::new(0);
        assert_ne!(z.next_u64(), 0);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let v = a.below(5);
            assert!(v < 5);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(a.below(0), 0);
        // Entropy seeding yields a working generator too.
        let mut e = XorShift::from_seed_or_entropy(None);
        assert_ne!(e.next_u64(), 0);
    }
}
