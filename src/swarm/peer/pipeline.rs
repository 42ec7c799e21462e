//! How many requests to keep outstanding at one peer.
//!
//! A fixed small queue starves fast peers (one round trip per few blocks),
//! a huge one hoards blocks at slow peers, and every block queued there is
//! time a new urgent request (a seek) waits behind. The depth is sized in
//! time: enough requests to cover [`TARGET_SECS`] of transfer at the
//! measured rate, never below 2, never above the peer's `reqq` or
//! [`MAX_DEPTH`]. Between rate samples each received block adds one (slow
//! start, so a fresh fast peer ramps up within a few round trips), at most
//! a quarter above the rate target ([`slow_start_ceiling`]): a queue
//! never holds much more than [`TARGET_SECS`] x 1.25 at the peer's rate. A
//! peer that sends nothing for [`REQUEST_TIMEOUT`] while we wait is
//! snubbed: depth 1 until a block arrives.

use std::time::{Duration, Instant};

use crate::wire::message::BLOCK_LEN;

/// Requests cover about this much time at the current rate.
const TARGET_SECS: f64 = 1.0;
/// Upper bound whatever the peer allows.
pub(crate) const MAX_DEPTH: u32 = 256;
/// A peer that does not advertise `reqq` is assumed to accept this many.
const DEFAULT_REQQ: u32 = 250;
const MIN_DEPTH: u32 = 2;
const START_DEPTH: u32 = 4;
/// No block for this long while requests are outstanding: snubbed.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    depth: u32,
    target: u32,
    snubbed: bool,
    last_block: Option<Instant>,
}

impl Default for Pipeline {
    fn default() -> Pipeline {
        Pipeline {
            depth: START_DEPTH,
            target: MIN_DEPTH,
            snubbed: false,
            last_block: None,
        }
    }
}

fn cap(reqq: Option<u32>) -> u32 {
    reqq.unwrap_or(DEFAULT_REQQ).clamp(1, MAX_DEPTH)
}

/// How deep slow start may go for a rate target of `target` requests: a
/// quarter above it (rounded up, so a small target can still grow by one).
fn slow_start_ceiling(target: u32, reqq: Option<u32>) -> u32 {
    target.saturating_add(target.div_ceil(4)).min(cap(reqq))
}

impl Pipeline {
    /// Requests to keep outstanding now.
    pub fn limit(&self, reqq: Option<u32>) -> u32 {
        if self.snubbed {
            1
        } else {
            self.depth.min(cap(reqq))
        }
    }

    #[cfg(test)]
    pub fn is_snubbed(&self) -> bool {
        self.snubbed
    }

    /// A requested block arrived.
    pub fn on_block(&mut self, now: Instant, reqq: Option<u32>) {
        self.last_block = Some(now);
        if self.snubbed {
            self.snubbed = false;
            self.depth = MIN_DEPTH;
            return;
        }
        if self.depth < slow_start_ceiling(self.target, reqq) {
            self.depth += 1;
        }
    }

    /// Once a second: follow the measured download rate (bytes/s).
    pub fn on_tick(&mut self, rate: f64, reqq: Option<u32>) {
        let blocks = (rate * TARGET_SECS / f64::from(BLOCK_LEN)).ceil();
        let blocks = if blocks.is_finite() && blocks > 0.0 {
            blocks.min(f64::from(MAX_DEPTH)) as u32
        } else {
            0
        };
        self.target = blocks.max(MIN_DEPTH).min(cap(reqq));
        let ceiling = slow_start_ceiling(self.target, reqq);
        self.depth = self.depth.clamp(self.target, ceiling.max(self.target));
    }

    /// Whether the peer has kept us waiting too long: `oldest` is when the
    /// oldest outstanding request was sent (`None`: nothing outstanding).
    /// Marks the peer snubbed when so.
    pub fn check_timeout(&mut self, now: Instant, oldest: Option<Instant>) -> bool {
        let Some(oldest) = oldest else { return false };
        let since = match self.last_block {
            Some(b) if b > oldest => b,
            _ => oldest,
        };
        if now.duration_since(since) >= REQUEST_TIMEOUT {
            self.snubbed = true;
            self.last_block = Some(now);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_peer_ramps_to_the_cap() {
        let mut p = Pipeline::default();
        let now = Instant::now();
        assert_eq!(p.limit(None), START_DEPTH);
        for _ in 0..100 {
            p.on_block(now, None);
        }
        // Slow start alone is bounded by the (still low) rate target.
        assert!(p.limit(None) <= START_DEPTH);
        // 50 MB/s is far more than MAX_DEPTH blocks a second.
        p.on_tick(50e6, None);
        assert_eq!(p.limit(None), DEFAULT_REQQ);
        assert_eq!(p.limit(Some(100)), 100);
        p.on_tick(50e6, Some(1000));
        assert_eq!(p.limit(Some(1000)), MAX_DEPTH);
    }

    #[test]
    fn depth_follows_the_rate_down() {
        let mut p = Pipeline::default();
        p.on_tick(50e6, None);
        assert_eq!(p.limit(None), DEFAULT_REQQ);
        // 10 blocks a second: target 10, at most a quarter above.
        p.on_tick(10.0 * f64::from(BLOCK_LEN), None);
        assert!(
            p.limit(None) <= 13 && p.limit(None) >= 10,
            "{}",
            p.limit(None)
        );
        p.on_tick(0.0, None);
        assert!(p.limit(None) <= MIN_DEPTH + 1);
        assert!(p.limit(None) >= MIN_DEPTH);
        p.on_tick(f64::NAN, Some(1));
        assert_eq!(p.limit(Some(1)), 1);
    }

    /// Seconds of transfer the queue holds at `rate` bytes/s.
    fn queued_secs(p: &Pipeline, rate: f64) -> f64 {
        f64::from(p.limit(None)) * f64::from(BLOCK_LEN) / rate
    }

    #[test]
    fn queue_holds_about_a_second_at_the_peers_rate() {
        // The 88 KB/s peer of the bench/swarm log, whose queue used to
        // reach 24 blocks (4.4 s): however many blocks arrive between
        // ticks, it holds 1 to 1.25 s (plus rounding to whole blocks).
        let now = Instant::now();
        for rate in [88e3, 300e3, 1.2e6] {
            let mut p = Pipeline::default();
            for _ in 0..5 {
                p.on_tick(rate, None);
                for _ in 0..200 {
                    p.on_block(now, None);
                }
                let secs = queued_secs(&p, rate);
                let slack = 2.0 * f64::from(BLOCK_LEN) / rate;
                assert!(secs >= 1.0 && secs <= 1.25 + slack, "{rate}: {secs} s");
            }
        }
        // Slow start: between two ticks a ramping peer grows by at most a
        // quarter of its target, and the next tick follows the rate up.
        let mut p = Pipeline::default();
        p.on_tick(20.0 * f64::from(BLOCK_LEN), None);
        assert_eq!(p.limit(None), 20);
        for _ in 0..100 {
            p.on_block(now, None);
        }
        assert_eq!(p.limit(None), 25);
        p.on_tick(40.0 * f64::from(BLOCK_LEN), None);
        assert_eq!(p.limit(None), 40);
    }

    #[test]
    fn silent_peer_is_snubbed_until_a_block_arrives() {
        let mut p = Pipeline::default();
        let t0 = Instant::now();
        assert!(!p.check_timeout(t0, None));
        assert!(!p.check_timeout(t0 + Duration::from_secs(5), Some(t0)));
        assert!(p.check_timeout(t0 + REQUEST_TIMEOUT, Some(t0)));
        assert!(p.is_snubbed());
        assert_eq!(p.limit(None), 1);
        p.on_block(t0 + REQUEST_TIMEOUT, None);
        assert!(!p.is_snubbed());
        assert_eq!(p.limit(None), MIN_DEPTH);
    }
}
