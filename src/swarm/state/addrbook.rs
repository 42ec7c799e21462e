//! The per-torrent address book: where peers come from, failures,
//! back-off.
//!
//! Back-off: a failed attempt waits `RETRY_BASE * 2^(fails-1)` (capped at
//! [`RETRY_MAX`]) before the next; an address that fails [`MAX_FAILS`]
//! times in a row is forgotten unless the user gave it (`--peer`).
//!
//! Encryption (policy `prefer`): an address is dialled with MSE/PE first;
//! when the MSE handshake fails on a connected socket the next attempt is
//! plaintext, at once; if that fails too, the address backs off as usual
//! and starts with MSE again. `require` always dials MSE (RC4 only), `off`
//! never.
//!
//! Holepunch (BEP 55): an address a ut_pex peer gave with the holepunch
//! flag remembers that peer (the last to tell us) and the flags, so that
//! when a direct dial fails we can ask it for a rendezvous; an address a
//! relay's connect named is marked for [`PUNCH_WINDOW`], so that the
//! other end's dial arriving first is known as holepunched too.
//!
//! Invariant (kept by the methods, the only writers): at most `MAX_ADDRS`
//! entries; a `pinned` entry is never forgotten.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::swarm::peer::link::Encryption;
use crate::swarm::picker::PeerKey;
use crate::swarm::stats::PeerSource;

const RETRY_BASE: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Wait before reconnecting to a peer we were connected to.
const RECONNECT_AFTER: Duration = Duration::from_secs(10);
const MAX_FAILS: u32 = 6;
/// Addresses kept per torrent.
const MAX_ADDRS: usize = 2000;
/// How long after a relay's connect an incoming uTP connection from that
/// address counts as holepunched.
pub(crate) const PUNCH_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Entry {
    fails: u32,
    next_try: Instant,
    /// Connecting or connected.
    busy: bool,
    /// Given by the user: never forgotten.
    pinned: bool,
    /// Dial plaintext next (policy `prefer`, the last MSE attempt failed).
    plain_next: bool,
    /// Dial uTP only next: TCP connected but the peer closed a plain
    /// handshake (a uTP-only client whose TCP listener hangs up).
    utp_next: bool,
    /// Who told us first.
    source: PeerSource,
    /// The ut_pex peer that told us of it with the holepunch flag, and
    /// those flags.
    via: Option<(PeerKey, u8)>,
    /// When a relay's connect last named it.
    punch_at: Option<Instant>,
}

#[derive(Default, Debug)]
pub(crate) struct AddrBook {
    entries: HashMap<SocketAddr, Entry>,
}

impl AddrBook {
    /// Learn an address from a tracker, or (`pinned`) the user or a magnet.
    pub fn add(&mut self, addr: SocketAddr, pinned: bool, now: Instant) {
        let source = if pinned {
            PeerSource::Manual
        } else {
            PeerSource::Tracker
        };
        self.add_from(addr, source, now);
    }

    /// Where the address came from first, if we know it.
    pub fn source_of(&self, addr: &SocketAddr) -> Option<PeerSource> {
        self.entries.get(addr).map(|e| e.source)
    }

    /// Learn an address from `source` (`Manual` ones are pinned).
    pub fn add_from(&mut self, addr: SocketAddr, source: PeerSource, now: Instant) {
        // One entry per peer, however its IPv4 address was written.
        let addr = crate::net::dual::canonical(addr);
        let pinned = source == PeerSource::Manual;
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return;
        }
        if let Some(e) = self.entries.get_mut(&addr) {
            e.pinned |= pinned;
            return;
        }
        if self.entries.len() >= MAX_ADDRS && !pinned {
            return;
        }
        self.entries.insert(
            addr,
            Entry {
                fails: 0,
                next_try: now,
                busy: false,
                pinned,
                plain_next: false,
                utp_next: false,
                source,
                via: None,
                punch_at: None,
            },
        );
    }

    /// Up to `n` addresses to try now, fewest failures first.
    pub fn candidates(
        &self,
        now: Instant,
        n: usize,
        skip: impl Fn(&SocketAddr) -> bool,
    ) -> Vec<SocketAddr> {
        let mut c: Vec<(&SocketAddr, &Entry)> = self
            .entries
            .iter()
            .filter(|(a, e)| !e.busy && e.next_try <= now && !skip(a))
            .collect();
        c.sort_by_key(|(_, e)| (e.fails, e.next_try));
        c.into_iter().take(n).map(|(a, _)| *a).collect()
    }

    /// PEX peer `by` told us of `addr` with `flags` (see the module docs).
    pub fn introduced(&mut self, addr: SocketAddr, by: PeerKey, flags: u8) {
        if let Some(e) = self.entries.get_mut(&crate::net::dual::canonical(addr)) {
            e.via = Some((by, flags));
        }
    }

    /// Who told us of `addr` with the holepunch flag, and its flags.
    pub fn introducer(&self, addr: &SocketAddr) -> Option<(PeerKey, u8)> {
        self.entries.get(addr).and_then(|e| e.via)
    }

    /// A relay's connect names `addr` now.
    pub fn punching(&mut self, addr: &SocketAddr, now: Instant) {
        if let Some(e) = self.entries.get_mut(&crate::net::dual::canonical(*addr)) {
            e.punch_at = Some(now);
        }
    }

    /// Whether a relay's connect named `addr` within [`PUNCH_WINDOW`].
    pub fn punched(&self, addr: &SocketAddr, now: Instant) -> bool {
        self.entries
            .get(&crate::net::dual::canonical(*addr))
            .and_then(|e| e.punch_at)
            .is_some_and(|t| now.duration_since(t) < PUNCH_WINDOW)
    }

    /// Whether `addr` is being dialled or is connected.
    pub fn is_busy(&self, addr: &SocketAddr) -> bool {
        self.entries.get(addr).is_some_and(|e| e.busy)
    }

    pub fn set_busy(&mut self, addr: SocketAddr) {
        if let Some(e) = self.entries.get_mut(&addr) {
            e.busy = true;
        }
    }

    /// Whether to dial `addr` with MSE under `policy`.
    pub fn use_mse(&self, addr: &SocketAddr, policy: Encryption) -> bool {
        match policy {
            Encryption::Require => true,
            Encryption::Off => false,
            Encryption::Prefer => !self.entries.get(addr).is_some_and(|e| e.plain_next),
        }
    }

    /// An MSE handshake on a connected socket failed under `prefer`: the
    /// next attempt, right away and without counting a failure, is
    /// plaintext.
    pub fn mse_failed(&mut self, addr: &SocketAddr, now: Instant) {
        if let Some(e) = self.entries.get_mut(addr) {
            e.busy = false;
            e.plain_next = true;
            e.next_try = now;
        }
    }

    /// Whether the next attempt may use TCP (see [`Self::tcp_handshake_failed`]).
    pub fn use_tcp(&self, addr: &SocketAddr) -> bool {
        !self.entries.get(addr).is_some_and(|e| e.utp_next)
    }

    /// A plain handshake on a connected TCP socket failed: the next
    /// attempt, right away and without counting a failure, is uTP only
    /// (its failure then counts, and the one after tries both again).
    pub fn tcp_handshake_failed(&mut self, addr: &SocketAddr, now: Instant) {
        if let Some(e) = self.entries.get_mut(addr) {
            e.busy = false;
            e.utp_next = true;
            e.next_try = now;
        }
    }

    /// A peer connected to us and told us its listen address: do not dial it
    /// while connected.
    pub fn incoming(&mut self, addr: SocketAddr) {
        self.add(addr, false, Instant::now());
        self.set_busy(addr);
    }

    /// An attempt failed (connect or handshake). The next one is MSE
    /// again (policy `prefer`).
    pub fn failed(&mut self, addr: SocketAddr, now: Instant) {
        let Some(e) = self.entries.get_mut(&addr) else {
            return;
        };
        e.busy = false;
        e.plain_next = false;
        e.utp_next = false;
        e.fails = e.fails.saturating_add(1);
        if e.fails >= MAX_FAILS && !e.pinned {
            self.entries.remove(&addr);
            return;
        }
        let shift = e.fails.saturating_sub(1).min(16);
        e.next_try = now + RETRY_BASE.saturating_mul(1u32 << shift).min(RETRY_MAX);
    }

    /// A connection ended; `useful` if it lasted (no back-off then).
    pub fn closed(&mut self, addr: SocketAddr, now: Instant, useful: bool) {
        if useful {
            if let Some(e) = self.entries.get_mut(&addr) {
                e.busy = false;
                e.fails = 0;
                e.next_try = now + RECONNECT_AFTER;
            }
        } else {
            self.failed(addr, now);
        }
    }

    /// Never dial this address again (it is us).
    pub fn forget(&mut self, addr: SocketAddr) {
        self.entries.remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 2], port))
    }

    #[test]
    fn backoff_and_forgetting() {
        let mut b = AddrBook::default();
        let t0 = Instant::now();
        b.add(a(1), false, t0);
        b.add(a(2), true, t0);
        b.add(a(0), false, t0);
        assert_eq!(b.candidates(t0, 10, |_| false).len(), 2);
        b.set_busy(a(1));
        assert_eq!(b.candidates(t0, 10, |_| false), vec![a(2)]);
        b.failed(a(1), t0);
        assert!(!b.candidates(t0, 10, |_| false).contains(&a(1)));
        assert!(b.candidates(t0 + RETRY_BASE, 10, |_| false).contains(&a(1)));
        for _ in 0..MAX_FAILS {
            b.failed(a(1), t0);
            b.failed(a(2), t0);
        }
        // The tracker's address is gone, the user's stays (backed off).
        assert!(!b.entries.contains_key(&a(1)));
        assert!(b.entries.contains_key(&a(2)));
        assert!(b.candidates(t0 + RETRY_MAX, 10, |_| false).contains(&a(2)));
        assert!(b.candidates(t0 + RETRY_MAX, 10, |x| *x == a(2)).is_empty());
    }

    #[test]
    fn prefer_alternates_after_failed_handshakes() {
        let mut b = AddrBook::default();
        let t0 = Instant::now();
        b.add(a(1), false, t0);
        assert!(b.use_mse(&a(1), Encryption::Prefer));
        b.set_busy(a(1));
        b.mse_failed(&a(1), t0);
        // Plaintext next, at once, no failure counted.
        assert!(!b.use_mse(&a(1), Encryption::Prefer));
        assert_eq!(b.candidates(t0, 10, |_| false), vec![a(1)]);
        assert_eq!(b.entries[&a(1)].fails, 0);
        assert!(b.use_mse(&a(1), Encryption::Require));
        assert!(!b.use_mse(&a(1), Encryption::Off));
        // Plaintext failed too: back off, MSE first again.
        b.failed(a(1), t0);
        assert!(b.use_mse(&a(1), Encryption::Prefer));
        assert!(b.candidates(t0, 10, |_| false).is_empty());
        // Unknown addresses dial MSE first.
        assert!(b.use_mse(&a(9), Encryption::Prefer));
    }

    #[test]
    fn utp_alone_once_after_a_tcp_handshake_fails() {
        let mut b = AddrBook::default();
        let t0 = Instant::now();
        b.add(a(1), false, t0);
        assert!(b.use_tcp(&a(1)));
        b.set_busy(a(1));
        b.tcp_handshake_failed(&a(1), t0);
        // uTP alone next, at once, no failure counted.
        assert!(!b.use_tcp(&a(1)));
        assert_eq!(b.candidates(t0, 10, |_| false), vec![a(1)]);
        assert_eq!(b.entries[&a(1)].fails, 0);
        // That failed too: back off, both transports again.
        b.failed(a(1), t0);
        assert!(b.use_tcp(&a(1)));
        assert!(b.use_tcp(&a(9)));
    }

    #[test]
    fn useful_connection_reconnects_soon() {
        let mut b = AddrBook::default();
        let t0 = Instant::now();
        b.add(a(1), false, t0);
        b.set_busy(a(1));
        b.closed(a(1), t0, true);
        assert!(b.candidates(t0, 10, |_| false).is_empty());
        assert_eq!(
            b.candidates(t0 + RECONNECT_AFTER, 10, |_| false),
            vec![a(1)]
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_one_peer() {
        let mut b = AddrBook::default();
        let t0 = Instant::now();
        let mapped: SocketAddr = "[::ffff:127.0.0.2]:1".parse().unwrap();
        b.add_from(mapped, PeerSource::Pex, t0);
        b.add_from(a(1), PeerSource::Dht, t0);
        assert_eq!(b.candidates(t0, 10, |_| false), vec![a(1)]);
        assert_eq!(b.source_of(&a(1)), Some(PeerSource::Pex));
    }

    #[test]
    fn book_is_bounded() {
        let mut b = AddrBook::default();
        let t0 = Instant::now();
        for i in 0..(MAX_ADDRS as u32 + 50) {
            b.add(
                SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + i), 80)),
                false,
                t0,
            );
        }
        assert_eq!(b.entries.len(), MAX_ADDRS);
    }
}
