//! Congestion control and timers for one uTP connection: LEDBAT (BEP 29,
//! RFC 6817) with a 100 ms target queuing delay over the base delay of the
//! last two minutes, slow start below `ssthresh`, halving on loss (once
//! per round trip), one packet after a timeout; and an RFC 6298-like
//! retransmission timeout.
//!
//! Below the target the window grows by at most [`MAX_GAIN_BYTES`] per
//! round trip (BEP 29). Above it, it shrinks in proportion to itself, as
//! LEDBAT++ (draft-irtf-iccrg-ledbat-plus-plus, multiplicative decrease)
//! has it: by `cwnd * (queuing / target - 1)` per round trip, at most
//! half. BEP 29's additive decrease (at most 3000 bytes per round trip)
//! took seconds to give up a 200 KB window, and uTP kept a quarter of a
//! link a TCP flow wanted (tests/utp_link.rs). Slow start ends at 3/4 of
//! the target (LEDBAT++ too), so its overshoot is a smaller queue.

use std::time::{Duration, Instant};

/// Target queuing delay (BEP 29).
pub const TARGET_US: f64 = 100_000.0;
/// Most the window grows per round trip in congestion avoidance.
const MAX_GAIN_BYTES: f64 = 3000.0;
/// Slow start ends once the queuing delay is 3/4 of the target.
const SLOW_START_EXIT: f64 = 0.25;
/// Largest congestion window.
pub const MAX_CWND: usize = 1 << 20;
const MIN_RTO: Duration = Duration::from_millis(500);
const MAX_RTO: Duration = Duration::from_secs(30);
const BASE_BUCKET: Duration = Duration::from_secs(60);

/// `a` before `b` in wrapping u32 microseconds.
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[derive(Debug)]
pub struct Ledbat {
    pub cwnd: usize,
    ssthresh: usize,
    mss: usize,
    /// Minimum delay of this minute and of the last one.
    base: [Option<u32>; 2],
    bucket_start: Instant,
    srtt: Option<Duration>,
    rttvar: Duration,
    pub rto: Duration,
    /// Losses before this are of the same round trip as the last one.
    loss_until: Option<Instant>,
}

impl Ledbat {
    pub fn new(mss: usize, now: Instant) -> Ledbat {
        Ledbat {
            cwnd: 2 * mss,
            ssthresh: MAX_CWND,
            mss,
            base: [None, None],
            bucket_start: now,
            srtt: None,
            rttvar: Duration::ZERO,
            rto: Duration::from_secs(1),
            loss_until: None,
        }
    }

    /// A round-trip sample from a packet sent once (Karn).
    pub fn rtt_sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + rtt) / 8);
            }
        }
        let s = self.srtt.unwrap_or(rtt);
        self.rto = (s + self.rttvar * 4).clamp(MIN_RTO, MAX_RTO);
    }

    fn base_delay(&mut self, sample: u32, now: Instant) -> u32 {
        if now.duration_since(self.bucket_start) >= BASE_BUCKET {
            self.base = [None, self.base[0]];
            self.bucket_start = now;
        }
        match self.base[0] {
            Some(b) if !before(sample, b) => {}
            _ => self.base[0] = Some(sample),
        }
        match self.base[1] {
            Some(b) if before(b, sample) && before(b, self.base[0].unwrap_or(sample)) => b,
            _ => self.base[0].unwrap_or(sample),
        }
    }

    /// `acked` bytes newly acknowledged; `delay_us` the peer's measure of
    /// our packets' one-way delay (0: none).
    pub fn on_ack(&mut self, acked: usize, delay_us: u32, now: Instant) {
        if acked == 0 {
            return;
        }
        let queuing = if delay_us == 0 {
            0.0
        } else {
            let base = self.base_delay(delay_us, now);
            f64::from(delay_us.wrapping_sub(base))
        };
        let off_target = ((TARGET_US - queuing) / TARGET_US).min(1.0);
        let cwnd = self.cwnd as f64;
        // The share of a round trip's worth of data this ack stands for.
        let share = acked as f64 / cwnd;
        let next = if self.cwnd < self.ssthresh && off_target > SLOW_START_EXIT {
            cwnd + acked as f64
        } else if off_target >= 0.0 {
            self.ssthresh = self.ssthresh.min(self.cwnd);
            cwnd + MAX_GAIN_BYTES * off_target * share
        } else {
            self.ssthresh = self.ssthresh.min(self.cwnd);
            cwnd - (cwnd * -off_target).min(cwnd / 2.0) * share
        };
        self.cwnd = (next as usize).clamp(self.mss, MAX_CWND);
    }

    /// A packet was lost (three duplicate acks or selective acks). The
    /// window halves once per round trip: the packets lost from one
    /// window full are one congestion event, not one each.
    pub fn on_loss(&mut self, now: Instant) {
        if self.loss_until.is_some_and(|t| now < t) {
            return;
        }
        self.cwnd = (self.cwnd / 2).max(self.mss);
        self.ssthresh = self.cwnd;
        self.loss_until = Some(now + self.srtt.unwrap_or(self.rto));
    }

    /// The retransmission timer fired.
    pub fn on_timeout(&mut self) {
        self.ssthresh = (self.cwnd / 2).max(self.mss);
        self.cwnd = self.mss;
        self.rto = (self.rto * 2).min(MAX_RTO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_below_target_and_backs_off_above() {
        let now = Instant::now();
        let mut l = Ledbat::new(1400, now);
        let start = l.cwnd;
        for _ in 0..10 {
            l.on_ack(1400, 1000, now);
        }
        assert!(l.cwnd > start);
        let grown = l.cwnd;
        // 250 ms of queuing over the 1 ms base: the window shrinks.
        for _ in 0..50 {
            l.on_ack(1400, 251_000, now);
        }
        assert!(l.cwnd < grown, "{} {}", l.cwnd, grown);
        l.on_loss(now);
        assert!(l.cwnd >= 1400);
        l.on_timeout();
        assert_eq!(l.cwnd, 1400);
    }

    #[test]
    fn shrinks_in_proportion_to_the_queue_at_most_by_half() {
        let now = Instant::now();
        // A round trip's worth of acks (one ack of a window full) with
        // `queuing` µs over the 1 ms base: how much the window shrinks.
        let shrink = |queuing: u32| {
            let mut l = Ledbat::new(1400, now);
            l.cwnd = 100_000;
            l.ssthresh = 100_000;
            l.on_ack(1400, 1000, now);
            let from = l.cwnd;
            l.on_ack(from, 1000 + queuing, now);
            from - l.cwnd
        };
        let near = |got: usize, want: usize| got.abs_diff(want) < 200;
        assert_eq!(shrink(100_000), 0);
        assert!(near(shrink(125_000), 25_000), "{}", shrink(125_000));
        assert!(near(shrink(150_000), 50_000), "{}", shrink(150_000));
        assert!(near(shrink(400_000), 50_000), "{}", shrink(400_000));
        // A wild delay takes the window to one packet, not to NaN.
        let mut l = Ledbat::new(1400, now);
        l.on_ack(1400, 1000, now);
        l.on_ack(1400, 1000 + (1 << 31) - 1, now);
        assert!(l.cwnd >= 1400 && l.cwnd <= MAX_CWND);
    }

    #[test]
    fn halves_once_per_round_trip() {
        let now = Instant::now();
        let mut l = Ledbat::new(1400, now);
        l.rtt_sample(Duration::from_millis(100));
        l.cwnd = 64_000;
        l.on_loss(now);
        l.on_loss(now + Duration::from_millis(10));
        assert_eq!(l.cwnd, 32_000);
        l.on_loss(now + Duration::from_millis(120));
        assert_eq!(l.cwnd, 16_000);
    }

    #[test]
    fn base_delay_survives_clock_wrap() {
        let now = Instant::now();
        let mut l = Ledbat::new(1400, now);
        assert_eq!(l.base_delay(u32::MAX - 10, now), u32::MAX - 10);
        // 20 µs later in wrapping terms is not a new minimum.
        assert_eq!(l.base_delay(9, now), u32::MAX - 10);
        assert_eq!(l.base_delay(u32::MAX - 20, now), u32::MAX - 20);
    }

    #[test]
    fn rto_from_rtt() {
        let mut l = Ledbat::new(1400, Instant::now());
        l.rtt_sample(Duration::from_millis(200));
        assert_eq!(l.rto, Duration::from_millis(600));
        for _ in 0..50 {
            l.rtt_sample(Duration::from_millis(1));
        }
        assert_eq!(l.rto, MIN_RTO);
        for _ in 0..10 {
            l.on_timeout();
        }
        assert_eq!(l.rto, MAX_RTO);
    }
}
