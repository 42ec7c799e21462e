//! Small randomness without a crate: UDP transaction ids and the BEP 12
//! tier shuffle. Seeds come from std's `RandomState` (randomly keyed per
//! process by the OS) mixed with the clock and a counter; a splitmix64
//! stream spreads one seed over many draws. Not for secrets.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh unpredictable 64-bit value.
pub(super) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// splitmix64.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new() -> Rng {
        Rng(random_u64())
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates shuffle.
    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // i + 1 <= len fits in u64; the modulo bias is irrelevant here.
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_differ_and_shuffle_permutes() {
        assert_ne!(random_u64(), random_u64());
        let mut rng = Rng::new();
        let mut seen_other_first = false;
        for _ in 0..200 {
            let mut v: Vec<u32> = (0..10).collect();
            rng.shuffle(&mut v);
            let mut sorted = v.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
            seen_other_first |= v[0] != 0;
        }
        assert!(seen_other_first);
    }
}
