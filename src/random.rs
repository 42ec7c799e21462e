//! Randomness without a crate, in two strengths.
//!
//! - [`os_bytes`]: bytes from the kernel (`/dev/urandom`), for secrets:
//!   stream-URL keys, tokens of the private ffmpeg source.
//! - [`seed`] and [`XorShift`]: cheap, non-cryptographic numbers for
//!   choices that only need to differ from other clients' and from run to
//!   run (peer ids, UDP transaction ids, tracker shuffles, the picker's
//!   ties, optimistic unchokes). [`seed`] mixes std's per-process random
//!   `RandomState` key with the clock and a counter; a seeded [`XorShift`]
//!   makes every decision reproducible in tests.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Fill `buf` from the kernel's random source.
pub fn os_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// A fresh unpredictable-enough 64-bit value (not for secrets).
pub fn seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// xorshift64 (Marsaglia, shifts 13/7/17). Never holds state 0.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed`; 0 (the one bad state) is replaced by a constant.
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// A generator seeded from `seed`, or from [`seed()`] when `None`.
    pub fn from_seed_or_entropy(seed: Option<u64>) -> XorShift {
        XorShift::new(seed.unwrap_or_else(self::seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`; 0 when `n` is 0. The modulo bias is irrelevant
    /// for the small `n` used here.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // i + 1 <= len fits in u64, and the result is <= i.
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_in_range_and_shuffles_permute() {
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
        let mut moved = false;
        for _ in 0..200 {
            let mut v: Vec<u32> = (0..10).collect();
            a.shuffle(&mut v);
            let mut sorted = v.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
            moved |= v[0] != 0;
        }
        assert!(moved);
        assert_ne!(seed(), seed());
        let mut e = XorShift::from_seed_or_entropy(None);
        assert_ne!(e.next_u64(), 0);
    }

    #[test]
    fn os_bytes_fill_the_buffer() {
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        os_bytes(&mut x).expect("/dev/urandom");
        os_bytes(&mut y).expect("/dev/urandom");
        assert_ne!(x, y);
    }
}
