//! One peer's side of peer exchange (BEP 11): what we told it and when,
//! and when it last told us. Pure bookkeeping, no I/O: `swarm/pex.rs`
//! reads and sends the messages.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::pex::PexMsg;

/// We send one peer at most one ut_pex message this often.
pub(crate) const SEND_EVERY: Duration = Duration::from_secs(60);
/// Added peers per message we send.
pub(crate) const MAX_ADDED: usize = 50;
/// We read one peer's ut_pex messages at most this often (BEP 11 asks
/// senders for one a minute; this leaves room for jitter).
pub(crate) const RECV_EVERY: Duration = Duration::from_secs(20);

/// Per peer: what we told it and when.
#[derive(Debug, Default)]
pub(crate) struct PexPeer {
    last_sent: Option<Instant>,
    last_recv: Option<Instant>,
    /// Addresses it has from us (added and not dropped since).
    told: HashSet<SocketAddr>,
}

impl PexPeer {
    /// Whether a ut_pex message from the peer is read now (at most one a
    /// [`RECV_EVERY`]); reading it counts.
    pub(crate) fn may_receive(&mut self, now: Instant) -> bool {
        if self
            .last_recv
            .is_some_and(|t| now.duration_since(t) < RECV_EVERY)
        {
            return false;
        }
        self.last_recv = Some(now);
        true
    }

    /// The message to send now, if one is due: peers in `current` it was
    /// not told of (up to [`MAX_ADDED`], never `itself`) and told peers no
    /// longer in `current`. `None` when not due or nothing changed.
    pub(crate) fn next_message(
        &mut self,
        now: Instant,
        current: &[(SocketAddr, u8)],
        itself: SocketAddr,
    ) -> Option<PexMsg> {
        if self
            .last_sent
            .is_some_and(|t| now.duration_since(t) < SEND_EVERY)
        {
            return None;
        }
        let added: Vec<(SocketAddr, u8)> = current
            .iter()
            .filter(|(a, _)| *a != itself && !self.told.contains(a))
            .take(MAX_ADDED)
            .copied()
            .collect();
        let dropped: Vec<SocketAddr> = self
            .told
            .iter()
            .filter(|a| !current.iter().any(|(c, _)| c == *a))
            .take(MAX_ADDED)
            .copied()
            .collect();
        if added.is_empty() && dropped.is_empty() {
            return None;
        }
        self.last_sent = Some(now);
        for a in &dropped {
            self.told.remove(a);
        }
        self.told.extend(added.iter().map(|(a, _)| *a));
        Some(PexMsg { added, dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pex::{FLAG_REACHABLE, FLAG_SEED};

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn sends_new_peers_once_a_minute_without_the_peer_itself() {
        let mut pp = PexPeer::default();
        let t0 = Instant::now();
        let current = [(a(1), FLAG_REACHABLE), (a(2), 0), (a(3), FLAG_SEED)];
        let m = pp.next_message(t0, &current, a(2)).unwrap();
        assert_eq!(m.added, vec![(a(1), FLAG_REACHABLE), (a(3), FLAG_SEED)]);
        assert!(m.dropped.is_empty());
        // What we send parses back as the peer will read it.
        assert_eq!(PexMsg::parse(&m.encode()).unwrap(), m);
        // Not again within the minute, even with a change.
        let changed = [(a(1), 0), (a(4), 0)];
        assert!(pp
            .next_message(t0 + SEND_EVERY / 2, &changed, a(2))
            .is_none());
        let m = pp.next_message(t0 + SEND_EVERY, &changed, a(2)).unwrap();
        assert_eq!(m.added, vec![(a(4), 0)]);
        assert_eq!(m.dropped, vec![a(3)]);
        // Nothing changed: nothing sent.
        assert!(pp
            .next_message(t0 + SEND_EVERY * 3, &changed, a(2))
            .is_none());
    }

    #[test]
    fn at_most_fifty_added_per_message() {
        let mut pp = PexPeer::default();
        let t0 = Instant::now();
        let current: Vec<(SocketAddr, u8)> = (1..=120).map(|p| (a(p), 0)).collect();
        let mut seen = HashSet::new();
        for i in 0..3 {
            let m = pp
                .next_message(t0 + SEND_EVERY * i, &current, a(999))
                .unwrap();
            assert!(m.added.len() <= MAX_ADDED);
            seen.extend(m.added.iter().map(|(x, _)| *x));
        }
        assert_eq!(seen.len(), 120);
        assert!(pp
            .next_message(t0 + SEND_EVERY * 4, &current, a(999))
            .is_none());
    }
}
