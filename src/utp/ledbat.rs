//! Congestion control and timers for one uTP connection: LEDBAT (BEP 29,
//! RFC 6817) with a 100 ms target queuing delay over the base delay of the
//! last two minutes, slow start below `ssthresh`, halving on loss, one
//! packet after a timeout; and an RFC 6298-like retransmission timeout.

use std::time::{Duration, Instant};

/// Target queuing delay (BEP 29).
pub const TARGET_US: f64 = 100_000.0;
/// Most the window grows per round trip in congestion avoidance.
const MAX_GAIN_BYTES: f64 = 3000.0;
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
        let off_target = ((TARGET_US - queuing) / TARGET_US).clamp(-1.0, 1.0);
        let cwnd = self.cwnd as f64;
        let next = if self.cwnd < self.ssthresh && off_target > 0.0 {
            cwnd + acked as f64
        } else {
            if off_target < 0.0 {
                self.ssthresh = self.cwnd;
            }
            cwnd + MAX_GAIN_BYTES * off_target * acked as f64 / cwnd
        };
        self.cwnd = (next as usize).clamp(self.mss, MAX_CWND);
    }

    /// A packet was lost (three duplicate acks or selective acks).
    pub fn on_loss(&mut self) {
        self.cwnd = (self.cwnd / 2).max(self.mss);
        self.ssthresh = self.cwnd;
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
        l.on_loss();
        assert!(l.cwnd >= 1400);
        l.on_timeout();
        assert_eq!(l.cwnd, 1400);
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
