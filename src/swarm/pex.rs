//! Peer exchange (BEP 11, `ut_pex`) for one torrent: peers that advertise
//! ut_pex in their extension handshake tell us the peers they know, and we
//! add those to the address book (source "pex") and connect within the
//! usual limits (`connect::connect_more`); we tell each such peer ours, at
//! most once a [`SEND_EVERY`] and at most [`MAX_ADDED`] added per message,
//! as libtorrent does. Private torrents (BEP 27) never exchange peers.
//!
//! What we advertise is every connected peer's listen address: the address
//! we dialed, or the incoming peer's address with the port from its `p`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{debug, info};

use super::connect;
use super::picker::PeerKey;
use super::state::TState;
use super::stats::PeerSource;
use super::torrent::Torrent;
use crate::wire::pex::{PexMsg, FLAG_ENCRYPTION, FLAG_REACHABLE, FLAG_SEED};
use crate::wire::Message;

/// We send one peer at most one ut_pex message this often.
pub(crate) const SEND_EVERY: Duration = Duration::from_secs(60);
/// Added peers per message we send.
pub(crate) const MAX_ADDED: usize = 50;
/// We read one peer's ut_pex messages at most this often (BEP 11 asks
/// senders for one a minute; this leaves room for jitter).
const RECV_EVERY: Duration = Duration::from_secs(20);

/// Per peer: what we told it and when.
#[derive(Debug, Default)]
pub(crate) struct PexPeer {
    last_sent: Option<Instant>,
    last_recv: Option<Instant>,
    /// Addresses it has from us (added and not dropped since).
    told: HashSet<SocketAddr>,
}

impl PexPeer {
    /// The message to send now, if one is due: peers in `current` it was
    /// not told of (up to [`MAX_ADDED`], never `itself`) and told peers no
    /// longer in `current`. `None` when not due or nothing changed.
    fn next_message(
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

fn private(st: &TState) -> bool {
    st.is_private()
}

/// A ut_pex message from `key`: learn its added peers and connect.
pub(crate) fn on_message(t: &Rc<Torrent>, st: &mut TState, key: PeerKey, payload: &[u8]) {
    if !t.ctx.pex || private(st) {
        return;
    }
    let now = Instant::now();
    let Some(p) = st.peers.get_mut(&key) else {
        return;
    };
    let addr = p.addr;
    if p.pex
        .last_recv
        .is_some_and(|t| now.duration_since(t) < RECV_EVERY)
    {
        debug!("{addr}: ut_pex message sooner than {RECV_EVERY:?} after its last, ignored");
        return;
    }
    p.pex.last_recv = Some(now);
    let msg = match PexMsg::parse(payload) {
        Ok(m) => m,
        Err(e) => {
            debug!("{addr}: ignoring its ut_pex message: {e}");
            return;
        }
    };
    let mut new = 0;
    for (a, _flags) in &msg.added {
        new += usize::from(st.book.source_of(a).is_none());
        st.book.add_from(*a, PeerSource::Pex, now);
    }
    info!(
        "{}: {addr} sent {} peers by PEX ({new} new, {} dropped)",
        st.name,
        msg.added.len(),
        msg.dropped.len()
    );
    if new > 0 {
        let t = t.clone();
        t.ctx
            .clone()
            .spawn(async move { connect::connect_more(&t) });
    }
}

/// Once a second: send each ut_pex peer our list when it is due.
pub(crate) fn tick(st: &mut TState, now: Instant) {
    if private(st) {
        return;
    }
    let current: Vec<(SocketAddr, u8)> = st
        .peers
        .values()
        .filter_map(|p| {
            let listen = if p.outgoing {
                p.addr
            } else {
                SocketAddr::new(p.addr.ip(), p.ext.listen_port?)
            };
            let mut flags = if p.outgoing { FLAG_REACHABLE } else { 0 };
            if p.is_seed() {
                flags |= FLAG_SEED;
            }
            if p.encrypted {
                flags |= FLAG_ENCRYPTION;
            }
            Some((listen, flags))
        })
        .collect();
    for p in st.peers.values_mut() {
        let Some(id) = p.ext.ut_pex.filter(|_| p.extended && !p.closing) else {
            continue;
        };
        let itself = match p.ext.listen_port {
            Some(port) if !p.outgoing => SocketAddr::new(p.addr.ip(), port),
            _ => p.addr,
        };
        if let Some(msg) = p.pex.next_message(now, &current, itself) {
            debug!(
                "{}: sending ut_pex ({} added, {} dropped)",
                p.addr,
                msg.added.len(),
                msg.dropped.len()
            );
            p.send(&Message::Extended {
                id,
                payload: msg.encode(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
