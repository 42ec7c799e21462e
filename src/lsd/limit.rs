//! The two budgets of local discovery, pure (time is passed in):
//! [`AnnounceLimit`], at most one announce per torrent per
//! [`MIN_INTERVAL`] (BEP 14 asks for no more than one a minute), over a
//! bounded set of torrents; and [`Bucket`], a token bucket over the
//! datagrams we read, so a flood on the LAN costs bounded CPU.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::torrent::InfoHash;

/// The shortest time between two announces of one torrent.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Torrents whose last announce time is kept; past it, entries older
/// than [`MIN_INTERVAL`] go (they no longer limit anything), and if none
/// are that old the announce is refused.
pub const MAX_TRACKED: usize = 4096;

/// When each torrent was last announced.
#[derive(Debug, Default)]
pub struct AnnounceLimit {
    last: HashMap<InfoHash, Instant>,
}

impl AnnounceLimit {
    /// Whether `ih` may be announced at `now`; if so, it counts as
    /// announced.
    pub fn allow(&mut self, ih: InfoHash, now: Instant) -> bool {
        let recent = |t: &Instant| now.saturating_duration_since(*t) < MIN_INTERVAL;
        if self.last.get(&ih).is_some_and(recent) {
            return false;
        }
        if !self.last.contains_key(&ih) && self.last.len() >= MAX_TRACKED {
            self.last.retain(|_, t| recent(t));
            if self.last.len() >= MAX_TRACKED {
                return false;
            }
        }
        self.last.insert(ih, now);
        true
    }
}

/// A token bucket: `rate` tokens a second up to `burst`.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst),
            at: now,
        }
    }

    /// Take one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let secs = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now.max(self.at);
        self.tokens = (self.tokens + secs * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_announce_per_torrent_per_minute() {
        let t0 = Instant::now();
        let mut l = AnnounceLimit::default();
        let (a, b) = (InfoHash([1; 20]), InfoHash([2; 20]));
        assert!(l.allow(a, t0));
        assert!(l.allow(b, t0));
        assert!(!l.allow(a, t0 + Duration::from_secs(59)));
        assert!(l.allow(a, t0 + MIN_INTERVAL));
        assert!(!l.allow(a, t0 + MIN_INTERVAL + Duration::from_secs(1)));
    }

    #[test]
    fn tracked_torrents_are_bounded() {
        let t0 = Instant::now();
        let mut l = AnnounceLimit::default();
        let ih = |i: usize| {
            let mut h = [0u8; 20];
            h[..8].copy_from_slice(&(i as u64).to_be_bytes());
            InfoHash(h)
        };
        for i in 0..MAX_TRACKED {
            assert!(l.allow(ih(i), t0));
        }
        // Full of recent entries: a new torrent waits.
        assert!(!l.allow(ih(MAX_TRACKED), t0 + Duration::from_secs(1)));
        // A minute later the old entries make room.
        assert!(l.allow(ih(MAX_TRACKED), t0 + MIN_INTERVAL));
        assert!(l.last.len() <= MAX_TRACKED);
    }

    #[test]
    fn bucket_refills_at_its_rate_up_to_its_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10, 3, t0);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(100)));
        // A long quiet spell gives back the burst, not more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| b.take(later)).count(), 3);
    }
}
