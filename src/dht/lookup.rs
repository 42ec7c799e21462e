//! One iterative lookup (BEP 5's `find_node` / `get_peers` walk), pure:
//! the node asks [`Lookup::next`] whom to query, and reports answers and
//! timeouts; the lookup keeps the closest candidates, at most [`ALPHA`]
//! queries in flight, and ends when the [`K`] closest live candidates
//! have all answered (or nothing is left to ask, or [`MAX_QUERIES`]).
//!
//! Candidates without a known id (bootstrap hosts) sort after every
//! real node, so they are asked only while nothing better is known.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::routing::{distance, K};
use crate::wire::krpc::{Id, NodeInfo};

/// Queries in flight at once.
pub const ALPHA: usize = 4;
/// Candidates remembered (nearest kept).
const MAX_CANDIDATES: usize = 64;
/// Queries one lookup may send in all.
pub const MAX_QUERIES: usize = 96;
/// Peers one lookup collects.
pub const MAX_PEERS: usize = 400;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    Asked,
    Answered,
    Failed,
}

#[derive(Debug)]
struct Cand {
    addr: SocketAddr,
    state: State,
    token: Option<Vec<u8>>,
}

pub struct Lookup {
    target: Id,
    /// Keyed by (distance, address): distinct nodes at one distance stay apart.
    cands: BTreeMap<(Id, SocketAddr), Cand>,
    in_flight: usize,
    sent: usize,
    pub peers: Vec<SocketAddr>,
}

impl Lookup {
    pub fn new(target: Id, start: &[NodeInfo], bootstrap: &[SocketAddr]) -> Lookup {
        let mut l = Lookup {
            target,
            cands: BTreeMap::new(),
            in_flight: 0,
            sent: 0,
            peers: Vec::new(),
        };
        for n in start {
            l.add(n.id, n.addr);
        }
        for (i, a) in bootstrap.iter().enumerate() {
            // After every real distance, in the given order.
            let mut key = [0xff; 20];
            key[19] = 0xff - (i.min(255) as u8);
            key[18] = 0xfe;
            l.insert(key, *a);
        }
        l
    }

    fn add(&mut self, id: Id, addr: SocketAddr) {
        self.insert(distance(&id, &self.target), addr);
    }

    fn insert(&mut self, key: Id, addr: SocketAddr) {
        if addr.port() == 0 || addr.ip().is_unspecified() {
            return;
        }
        if self.cands.values().any(|c| c.addr == addr) {
            return;
        }
        self.cands.insert(
            (key, addr),
            Cand {
                addr,
                state: State::New,
                token: None,
            },
        );
        // Drop the farthest candidate not waiting for an answer.
        while self.cands.len() > MAX_CANDIDATES {
            let far = self
                .cands
                .iter()
                .rev()
                .find(|(_, c)| c.state != State::Asked)
                .map(|(k, _)| *k);
            match far {
                Some(k) => {
                    self.cands.remove(&k);
                }
                None => break,
            }
        }
    }

    fn find(cands: &mut BTreeMap<(Id, SocketAddr), Cand>, addr: SocketAddr) -> Option<&mut Cand> {
        cands.values_mut().find(|c| c.addr == addr)
    }

    /// The next node to query, if one may be sent now.
    pub fn next_query(&mut self) -> Option<SocketAddr> {
        if self.in_flight >= ALPHA || self.sent >= MAX_QUERIES || self.done() {
            return None;
        }
        let c = self
            .cands
            .values_mut()
            .filter(|c| c.state != State::Failed)
            .take(K)
            .find(|c| c.state == State::New)?;
        c.state = State::Asked;
        self.in_flight += 1;
        self.sent += 1;
        Some(c.addr)
    }

    /// `addr` answered: its nodes become candidates, its peers results.
    pub fn answered(
        &mut self,
        addr: SocketAddr,
        nodes: &[NodeInfo],
        peers: &[SocketAddr],
        token: Option<Vec<u8>>,
    ) {
        let Some(c) = Self::find(&mut self.cands, addr) else {
            return;
        };
        if c.state == State::Asked {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        c.state = State::Answered;
        c.token = token;
        for n in nodes {
            self.add(n.id, n.addr);
        }
        for p in peers {
            if self.peers.len() < MAX_PEERS && !self.peers.contains(p) {
                self.peers.push(*p);
            }
        }
    }

    /// A query to `addr` failed or timed out.
    pub fn failed(&mut self, addr: SocketAddr) {
        let Some(c) = Self::find(&mut self.cands, addr) else {
            return;
        };
        if c.state == State::Asked {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        c.state = State::Failed;
    }

    /// Whether the lookup is over: the K closest live candidates answered,
    /// or nothing is left to ask and nothing is in flight.
    pub fn done(&self) -> bool {
        if self.sent >= MAX_QUERIES && self.in_flight == 0 {
            return true;
        }
        let mut live = self
            .cands
            .values()
            .filter(|c| c.state != State::Failed)
            .take(K);
        if self.in_flight > 0 {
            return false;
        }
        live.all(|c| c.state == State::Answered)
            || !self.cands.values().any(|c| c.state == State::New)
    }

    /// The closest nodes that answered with a token (for `announce_peer`).
    pub fn tokens(&self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.cands
            .values()
            .filter(|c| c.state == State::Answered)
            .filter_map(|c| Some((c.addr, c.token.clone()?)))
            .take(K)
            .collect()
    }

    /// How many nodes answered.
    pub fn answered_count(&self) -> usize {
        self.cands
            .values()
            .filter(|c| c.state == State::Answered)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(first: u8, port: u16) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = first;
        NodeInfo {
            id,
            addr: SocketAddr::from(([127, 0, 0, 3], port)),
        }
    }

    #[test]
    fn walks_closer_and_ends() {
        let boot: SocketAddr = "127.0.0.2:1".parse().unwrap();
        let mut l = Lookup::new([0; 20], &[], &[boot]);
        assert_eq!(l.next_query(), Some(boot));
        assert_eq!(l.next_query(), None, "nothing else known yet");
        let far = [n(0x80, 10), n(0x40, 11)];
        l.answered(boot, &far, &[], None);
        assert_eq!(l.next_query(), Some(far[1].addr), "nearest first");
        assert_eq!(l.next_query(), Some(far[0].addr));
        l.answered(
            far[1].addr,
            &[n(0x01, 12)],
            &["1.2.3.4:5".parse().unwrap()],
            Some(b"t".to_vec()),
        );
        l.failed(far[0].addr);
        assert_eq!(l.next_query(), Some(n(0x01, 12).addr));
        assert!(!l.done());
        l.answered(n(0x01, 12).addr, &[], &[], Some(b"u".to_vec()));
        assert!(l.done());
        assert_eq!(l.next_query(), None);
        assert_eq!(l.peers, vec!["1.2.3.4:5".parse::<SocketAddr>().unwrap()]);
        let tokens = l.tokens();
        assert_eq!(tokens[0], (n(0x01, 12).addr, b"u".to_vec()));
        assert_eq!(tokens.len(), 2);
    }

    #[test]
    fn alpha_and_bounds_hold() {
        let start: Vec<NodeInfo> = (0..100).map(|i| n(i as u8, 100 + i)).collect();
        let mut l = Lookup::new([0; 20], &start, &[]);
        assert!(l.cands.len() <= MAX_CANDIDATES);
        let mut asked = Vec::new();
        while let Some(a) = l.next_query() {
            asked.push(a);
        }
        assert_eq!(asked.len(), ALPHA);
        // Everyone fails: the lookup still ends, within MAX_QUERIES.
        let mut rounds = 0;
        while !l.done() && rounds < 1000 {
            for a in asked.drain(..) {
                l.failed(a);
            }
            while let Some(a) = l.next_query() {
                asked.push(a);
            }
            rounds += 1;
        }
        assert!(l.done());
        assert!(l.sent <= MAX_QUERIES);
    }
}
