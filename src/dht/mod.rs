//! The DHT (BEP 5, Mainline): finding peers without a tracker.
//!
//! A layer between [`crate::net`] and [`crate::swarm`]: the swarm owns the
//! UDP socket (bound to the TCP peer listener's address and port) and runs
//! a [`Node`] on its smol executor; torrents ask it for peers and announce
//! through it. The pure parts sit apart from the I/O:
//!
//! - [`routing`]: the k-bucket routing table (k = 8), good/questionable/bad.
//! - [`tables`]: the node's two routing tables, IPv4 and IPv6 (BEP 32).
//! - [`server`]: answers to queries, tokens, stored peers, per-IP rate limit.
//! - [`lookup`]: one iterative `find_node`/`get_peers` walk.
//! - [`persist`]: the routing table's file under the data directory.
//! - [`secure_id`]: BEP 42 ids and our external address from answers' `ip`.
//! - [`metrics`]: its lines of `/metrics`.
//! - [`settings`]: the `dht` and `dht_bootstrap` config keys.
//! - [`node`]: the socket loop, transactions, timeouts, upkeep.
//!
//! Datagrams on the shared socket are told apart by [`classify`] (a
//! bencoded dictionary starts with `d`; uTP packets never do, their first
//! byte is type and version).

pub mod lookup;
pub mod metrics;
pub mod node;
pub mod persist;
pub mod routing;
pub mod secure_id;
pub mod server;
pub mod settings;
pub mod tables;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

pub use node::Node;
pub use settings::DhtSettings;

/// The well-known routers used when no bootstrap nodes are given.
pub const DEFAULT_BOOTSTRAP: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// How the engine runs its DHT node.
#[derive(Clone, Debug)]
pub struct DhtConfig {
    /// `HOST:PORT` bootstrap nodes, resolved when needed.
    pub bootstrap: Vec<String>,
    /// Where the routing table is saved and loaded (`None`: not kept).
    pub state_file: Option<PathBuf>,
}

impl Default for DhtConfig {
    fn default() -> Self {
        DhtConfig {
            bootstrap: DEFAULT_BOOTSTRAP.iter().map(|s| s.to_string()).collect(),
            state_file: None,
        }
    }
}

/// Check a `HOST:PORT` bootstrap entry (a flag or config value) without
/// resolving it; the message names what is wrong.
pub fn check_bootstrap(entry: &str) -> Result<(), String> {
    let bad = || format!("{entry:?}: not a HOST:PORT address");
    let (host, port) = entry.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(bad()),
    }
}

/// What arrived on the shared UDP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datagram {
    Dht,
    /// Anything else (uTP, handed to [`crate::utp`]).
    Other,
}

/// The bootstrap `hosts` resolved (off the executor), keeping only
/// addresses a socket bound to `local` can reach: both families on a
/// dual-stack `[::]`, loopback ones only from a loopback address.
pub async fn resolve_bootstrap(hosts: Vec<String>, local: Option<SocketAddr>) -> Vec<SocketAddr> {
    let dual = local.is_some_and(|a| a.ip() == std::net::Ipv6Addr::UNSPECIFIED);
    let v4 = local.is_none_or(|a| a.is_ipv4());
    let loopback = local.is_some_and(|a| a.ip().is_loopback());
    smol::unblock(move || {
        let mut out = Vec::new();
        for h in &hosts {
            match h.to_socket_addrs() {
                Ok(a) => out.extend(
                    a.filter(|a| {
                        (dual || a.is_ipv4() == v4) && (a.ip().is_loopback() || !loopback)
                    })
                    .take(4),
                ),
                Err(e) => log::warn!("DHT bootstrap {h}: {e}"),
            }
        }
        out
    })
    .await
}

/// Tell a DHT datagram from others by its first byte.
pub fn classify(datagram: &[u8]) -> Datagram {
    match datagram.first() {
        Some(b'd') => Datagram::Dht,
        _ => Datagram::Other,
    }
}

/// Counters the node keeps for `/metrics` and the API (shared with other
/// threads; each is one relaxed atomic).
#[derive(Debug, Default)]
pub struct DhtStats {
    pub nodes: AtomicU64,
    pub good_nodes: AtomicU64,
    pub queries_in: AtomicU64,
    pub queries_out: AtomicU64,
    pub timeouts: AtomicU64,
    pub rate_limited: AtomicU64,
    pub malformed: AtomicU64,
    pub stored_peers: AtomicU64,
    pub announces_in: AtomicU64,
    pub lookups: AtomicU64,
    pub peers_found: AtomicU64,
    pub other_datagrams: AtomicU64,
}

/// A copy of [`DhtStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DhtSnapshot {
    pub nodes: u64,
    pub good_nodes: u64,
    pub queries_in: u64,
    pub queries_out: u64,
    pub timeouts: u64,
    pub rate_limited: u64,
    pub malformed: u64,
    pub stored_peers: u64,
    pub announces_in: u64,
    pub lookups: u64,
    pub peers_found: u64,
    pub other_datagrams: u64,
}

impl DhtStats {
    pub fn snapshot(&self) -> DhtSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DhtSnapshot {
            nodes: g(&self.nodes),
            good_nodes: g(&self.good_nodes),
            queries_in: g(&self.queries_in),
            queries_out: g(&self.queries_out),
            timeouts: g(&self.timeouts),
            rate_limited: g(&self.rate_limited),
            malformed: g(&self.malformed),
            stored_peers: g(&self.stored_peers),
            announces_in: g(&self.announces_in),
            lookups: g(&self.lookups),
            peers_found: g(&self.peers_found),
            other_datagrams: g(&self.other_datagrams),
        }
    }
}

pub(crate) fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_entries_are_checked() {
        for ok in ["router.bittorrent.com:6881", "127.0.0.2:1", "[::1]:6881"] {
            assert_eq!(check_bootstrap(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "host",
            ":6881",
            "host:0",
            "host:x",
            "host:70000",
            "a b:1",
        ] {
            assert!(check_bootstrap(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn demux_by_first_byte() {
        assert_eq!(classify(b"d1:ad2:id20:"), Datagram::Dht);
        assert_eq!(classify(&[0x41, 0, 0, 0]), Datagram::Other);
        assert_eq!(classify(&[]), Datagram::Other);
    }
}
