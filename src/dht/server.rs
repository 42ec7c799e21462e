//! The DHT's server side, pure: answers to `ping`, `find_node`,
//! `get_peers` and `announce_peer`, with the state they need — write
//! tokens, the peers others announced, and a per-IP rate limit.
//!
//! - Tokens (BEP 5): SHA-1 of a secret and the asker's IP, 8 bytes; the
//!   secret rotates every [`TOKEN_ROTATE`] and the previous one is still
//!   accepted, so a token lives 5 to 10 minutes.
//! - Stored peers: at most [`MAX_PEERS_PER_HASH`] per info hash and
//!   [`MAX_HASHES`] info hashes, each expiring after [`PEER_TTL`].
//! - Rate limit: a token bucket per IP ([`RATE_PER_SEC`], burst
//!   [`RATE_BURST`]); the table of IPs is bounded ([`MAX_IPS`]).
//! - No amplification: an answer carries at most 8 nodes or
//!   [`MAX_VALUES_SENT`] peers of the asker's address family, so it is at
//!   most a few hundred bytes for a query of about a hundred.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::routing::K;
use super::tables::{Family, Tables};
use crate::wire::krpc::{
    Body, Id, Krpc, NodeInfo, Query, Response, Want, ERR_METHOD, ERR_PROTOCOL,
};

pub const TOKEN_ROTATE: Duration = Duration::from_secs(5 * 60);
pub const MAX_PEERS_PER_HASH: usize = 50;
pub const MAX_HASHES: usize = 256;
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
pub const RATE_PER_SEC: f32 = 20.0;
pub const RATE_BURST: f32 = 40.0;
pub const MAX_IPS: usize = 2048;
/// Peers per `get_peers` answer (50 IPv6 peers: 1 KB, under one MTU).
pub const MAX_VALUES_SENT: usize = 50;

pub struct Server {
    secret: [u8; 16],
    previous: [u8; 16],
    rotated: Instant,
    peers: HashMap<Id, Vec<(SocketAddr, Instant)>>,
    rate: HashMap<IpAddr, (f32, Instant)>,
}

/// What happened to a query, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    Stored,
    /// `announce_peer` with a wrong or expired token.
    BadToken,
}

impl Server {
    pub fn new(secret: [u8; 16], now: Instant) -> Server {
        Server {
            secret,
            previous: secret,
            rotated: now,
            peers: HashMap::new(),
            rate: HashMap::new(),
        }
    }

    /// Rotate the token secret (call every [`TOKEN_ROTATE`]) and drop
    /// expired peers and idle rate entries.
    pub fn rotate(&mut self, fresh: [u8; 16], now: Instant) {
        self.previous = self.secret;
        self.secret = fresh;
        self.rotated = now;
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        self.peers.retain(|_, v| {
            v.retain(|(_, at)| now.duration_since(*at) < PEER_TTL);
            !v.is_empty()
        });
        self.rate
            .retain(|_, (_, last)| now.duration_since(*last) < Duration::from_secs(10));
    }

    fn token_with(secret: &[u8; 16], ip: IpAddr) -> Vec<u8> {
        let mut h = sha1_smol::Sha1::new();
        h.update(secret);
        match ip {
            IpAddr::V4(a) => h.update(&a.octets()),
            IpAddr::V6(a) => h.update(&a.octets()),
        }
        h.digest().bytes()[..8].to_vec()
    }

    pub fn token(&self, ip: IpAddr) -> Vec<u8> {
        Self::token_with(&self.secret, ip)
    }

    fn token_ok(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == Self::token_with(&self.secret, ip).as_slice()
            || token == Self::token_with(&self.previous, ip).as_slice()
    }

    /// May `ip` send a query now? Spends one from its bucket.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.rate.contains_key(&ip) && self.rate.len() >= MAX_IPS {
            self.rate
                .retain(|_, (_, last)| now.duration_since(*last) < Duration::from_secs(2));
            if self.rate.len() >= MAX_IPS {
                // Many IPs at once (spoofed floods): refuse newcomers.
                return false;
            }
        }
        let (tokens, last) = self.rate.entry(ip).or_insert((RATE_BURST, now));
        let gained = now.duration_since(*last).as_secs_f32() * RATE_PER_SEC;
        *tokens = (*tokens + gained).min(RATE_BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Info hashes and peers stored for others.
    pub fn stored(&self) -> (usize, usize) {
        (self.peers.len(), self.peers.values().map(Vec::len).sum())
    }

    fn store(&mut self, hash: Id, peer: SocketAddr, now: Instant) -> bool {
        if !self.peers.contains_key(&hash) && self.peers.len() >= MAX_HASHES {
            self.expire(now);
            if self.peers.len() >= MAX_HASHES {
                return false;
            }
        }
        let list = self.peers.entry(hash).or_default();
        if let Some(e) = list.iter_mut().find(|(a, _)| *a == peer) {
            e.1 = now;
            return true;
        }
        if list.len() >= MAX_PEERS_PER_HASH {
            // Replace the oldest announce.
            if let Some(oldest) = list.iter_mut().min_by_key(|(_, at)| *at) {
                *oldest = (peer, now);
            }
            return true;
        }
        list.push((peer, now));
        true
    }

    fn values(&self, hash: &Id, from: &SocketAddr, now: Instant) -> Vec<SocketAddr> {
        self.peers
            .get(hash)
            .map(|v| {
                v.iter()
                    .filter(|(a, at)| {
                        a.is_ipv4() == from.is_ipv4() && now.duration_since(*at) < PEER_TTL
                    })
                    .take(MAX_VALUES_SENT)
                    .map(|(a, _)| *a)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The answer to `query` (transaction `tid`) from `from`.
    pub fn answer(
        &mut self,
        table: &Tables,
        tid: &[u8],
        query: &Query,
        from: SocketAddr,
        now: Instant,
    ) -> (Krpc, Outcome) {
        let own = table.own_id();
        // The K closest of each family asked for (BEP 32 `want`), each from
        // its own table, else of the asker's own family.
        let nodes = |target: &Id, want: &Want| {
            let (v4, v6) = if *want == Want::default() {
                (from.is_ipv4(), from.is_ipv6())
            } else {
                (want.n4, want.n6)
            };
            let mut n: Vec<NodeInfo> = Vec::with_capacity(2 * K);
            if v4 {
                n.extend(table.closest(Family::V4, target, K, true));
            }
            if v6 {
                n.extend(table.closest(Family::V6, target, K, true));
            }
            n
        };
        // Every answer tells the asker where we saw it (BEP 42 `ip`), from
        // which it learns its external address.
        let reply = |r: Response| Krpc {
            tid: tid.to_vec(),
            body: Body::Response(Response {
                ip: Some(from),
                ..r
            }),
        };
        let error = |code, message: &str| Krpc {
            tid: tid.to_vec(),
            body: Body::Error {
                code,
                message: message.into(),
            },
        };
        match query {
            Query::Ping { .. } => (
                reply(Response {
                    id: own,
                    ..Response::default()
                }),
                Outcome::Answered,
            ),
            Query::FindNode { target, want, .. } => (
                reply(Response {
                    id: own,
                    nodes: nodes(target, want),
                    ..Response::default()
                }),
                Outcome::Answered,
            ),
            Query::GetPeers {
                info_hash, want, ..
            } => {
                let values = self.values(info_hash, &from, now);
                let nodes = if values.is_empty() {
                    nodes(info_hash, want)
                } else {
                    Vec::new()
                };
                let r = Response {
                    id: own,
                    nodes,
                    values,
                    token: Some(self.token(from.ip())),
                    ip: None,
                };
                (reply(r), Outcome::Answered)
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                ..
            } => {
                if !self.token_ok(from.ip(), token) {
                    return (error(ERR_PROTOCOL, "bad token"), Outcome::BadToken);
                }
                let port = if *implied_port { from.port() } else { *port };
                if port == 0 {
                    return (error(ERR_PROTOCOL, "bad port"), Outcome::BadToken);
                }
                let stored = self.store(*info_hash, SocketAddr::new(from.ip(), port), now);
                let r = reply(Response {
                    id: own,
                    ..Response::default()
                });
                (
                    r,
                    if stored {
                        Outcome::Stored
                    } else {
                        Outcome::Answered
                    },
                )
            }
            Query::Unknown { .. } => (error(ERR_METHOD, "Method Unknown"), Outcome::Answered),
        }
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
