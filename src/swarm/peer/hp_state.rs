//! What the holepunch extension (BEP 55) keeps per peer: how many of its
//! messages we read and sent this minute. The policy is `swarm/holepunch.rs`;
//! this lives beside the peer's other state so that `PeerState` needs
//! nothing from the layer above it.

use std::time::{Duration, Instant};

/// Holepunch messages per peer per minute, each way.
pub(crate) const PER_MINUTE: u32 = 5;
const WINDOW: Duration = Duration::from_secs(60);

/// At most `PER_MINUTE` events in a fixed one-minute window.
#[derive(Debug, Default)]
struct Budget {
    since: Option<Instant>,
    used: u32,
}

impl Budget {
    /// Whether one more event fits now; a fitting one counts.
    fn take(&mut self, now: Instant) -> bool {
        if self.since.is_none_or(|t| now.duration_since(t) >= WINDOW) {
            self.since = Some(now);
            self.used = 0;
        }
        if self.used >= PER_MINUTE {
            return false;
        }
        self.used += 1;
        true
    }
}

/// Per peer: its holepunch messages read and ours sent, this minute.
#[derive(Debug, Default)]
pub(crate) struct HpPeer {
    recv: Budget,
    sent: Budget,
}

impl HpPeer {
    /// Whether one more holepunch message from the peer is read now.
    pub fn take_recv(&mut self, now: Instant) -> bool {
        self.recv.take(now)
    }

    /// Whether one more holepunch message may be sent to the peer now.
    pub fn take_send(&mut self, now: Instant) -> bool {
        self.sent.take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_allows_a_few_per_minute() {
        let mut b = Budget::default();
        let t0 = Instant::now();
        for _ in 0..PER_MINUTE {
            assert!(b.take(t0));
        }
        assert!(!b.take(t0 + WINDOW / 2));
        assert!(b.take(t0 + WINDOW));
    }
}
