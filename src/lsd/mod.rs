//! Local service discovery (BEP 14): finding peers of our torrents on the
//! LAN through multicast, so two boxes in one house find each other
//! without a tracker or the DHT.
//!
//! [`Lsd`] owns one socket per family (see [`socket`]): IPv4 on
//! 239.192.152.143:6771 when the peer listener takes IPv4 (a v4 address,
//! 0.0.0.0 or a dual-stack `[::]`), IPv6 on `[ff15::efc0:988f]:6771` when
//! it takes IPv6. [`Lsd::announce`] sends a torrent's announce (the wire
//! format is `wire::lsd`) on each, at most once a minute per torrent
//! ([`limit::AnnounceLimit`]); the caller (the swarm) announces every
//! torrent at start and every 5 minutes. [`Lsd::run`] reads announces,
//! at most [`READ_RATE`] a second (a token bucket, burst [`READ_BURST`]),
//! skips ours (by cookie) and hands each (info hash, sender IP + its
//! `Port`) to the swarm, which keeps those of its non-private torrents.
//!
//! It runs on the swarm's executor thread (`!Send`); the counters
//! ([`LsdStats`]) are atomics read by `/metrics`.

pub mod limit;
pub mod socket;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_io::Async;
use log::{debug, info, warn};

use crate::torrent::InfoHash;
use crate::wire::lsd as msg;

/// Announce datagrams read per second, at most (more are dropped).
pub const READ_RATE: u32 = 50;
/// Burst of the read budget.
pub const READ_BURST: u32 = 100;

/// Counters for `/metrics` (shared with other threads).
#[derive(Debug, Default)]
pub struct LsdStats {
    /// Announce datagrams sent (one per torrent and family).
    pub sent: AtomicU64,
    /// Announces of others read and parsed.
    pub received: AtomicU64,
    /// Datagrams that were not announces.
    pub malformed: AtomicU64,
    /// Datagrams dropped by the read budget.
    pub rate_limited: AtomicU64,
    /// Peers handed to a torrent of ours.
    pub peers: AtomicU64,
}

impl LsdStats {
    /// Append the LSD lines of `GET /metrics` (Prometheus text format).
    pub fn render(&self, page: &mut String) {
        use std::fmt::Write;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rows = [
            (
                "rill_lsd_announces_sent_total",
                "Local discovery announces sent (per torrent and IP family).",
                g(&self.sent),
            ),
            (
                "rill_lsd_announces_received_total",
                "Local discovery announces of other clients read.",
                g(&self.received),
            ),
            (
                "rill_lsd_malformed_total",
                "Datagrams on the local discovery port that were not announces.",
                g(&self.malformed),
            ),
            (
                "rill_lsd_rate_limited_total",
                "Local discovery datagrams dropped by the read budget.",
                g(&self.rate_limited),
            ),
            (
                "rill_lsd_peers_total",
                "Peers of our torrents found by local discovery.",
                g(&self.peers),
            ),
        ];
        for (name, help, v) in rows {
            let _ = write!(
                page,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            );
        }
    }
}

/// One family's socket.
struct Group {
    sock: Async<UdpSocket>,
    /// The group and port, as `Host` names it and as we send to it.
    to: SocketAddr,
    /// A send failed already (warned once).
    failing: Cell<bool>,
}

/// The local discovery service (see the module docs).
pub struct Lsd {
    groups: Vec<Group>,
    /// Our BitTorrent listen port, announced.
    port: u16,
    cookie: String,
    limit: RefCell<limit::AnnounceLimit>,
    budget: RefCell<limit::Bucket>,
    stats: Arc<LsdStats>,
}

impl Lsd {
    /// Bind the sockets that fit the peer listener `listen` (see the module
    /// docs). Fails only if none could be made.
    pub fn bind(listen: SocketAddr, stats: Arc<LsdStats>) -> io::Result<Lsd> {
        let (v4, v6) = match listen.ip() {
            IpAddr::V4(ip) => (Some(ip), None),
            IpAddr::V6(ip) if ip.is_unspecified() => (Some(Ipv4Addr::UNSPECIFIED), Some(0)),
            IpAddr::V6(_) => (None, Some(scope_of(listen))),
        };
        let mut groups = Vec::new();
        let mut last_err = None;
        let v4 = v4.map(|ip| {
            let to = SocketAddr::from((socket::GROUP_V4, socket::PORT));
            (socket::bind_v4(ip), to)
        });
        let v6 = v6.map(|ifindex| {
            let to = SocketAddr::from((socket::GROUP_V6, socket::PORT));
            (socket::bind_v6(ifindex), to)
        });
        for (made, to) in v4.into_iter().chain(v6) {
            match made.and_then(Async::new) {
                Ok(sock) => groups.push(Group {
                    sock,
                    to,
                    failing: Cell::new(false),
                }),
                Err(e) => {
                    warn!("local peer discovery: cannot join {to}: {e}");
                    last_err = Some(e);
                }
            }
        }
        if groups.is_empty() {
            return Err(last_err.unwrap_or_else(|| io::Error::other("no IP family to use")));
        }
        Ok(Lsd {
            groups,
            port: listen.port(),
            cookie: format!("{:016x}", crate::random::seed()),
            limit: RefCell::default(),
            budget: RefCell::new(limit::Bucket::new(READ_RATE, READ_BURST, Instant::now())),
            stats,
        })
    }

    /// The groups joined, for the log.
    pub fn groups(&self) -> Vec<SocketAddr> {
        self.groups.iter().map(|g| g.to).collect()
    }

    /// Announce `ih` on every group, unless it was announced less than a
    /// minute ago. Whether it was sent (on at least one group).
    pub async fn announce(&self, ih: InfoHash) -> bool {
        if !self.limit.borrow_mut().allow(ih, Instant::now()) {
            return false;
        }
        let mut sent = false;
        for g in &self.groups {
            let d = msg::encode(&g.to.to_string(), self.port, &[ih], &self.cookie);
            match g.sock.send_to(&d, g.to).await {
                Ok(_) => {
                    sent = true;
                    g.failing.set(false);
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if !g.failing.replace(true) => {
                    if g.to.is_ipv6()
                        && e.raw_os_error() == Some(rustix::io::Errno::ADDRNOTAVAIL.raw_os_error())
                    {
                        // The usual home LAN: IPv6 link-local addresses
                        // only, which cannot send to a site-scope group.
                        info!(
                            "local peer discovery: no IPv6 address beyond link-local \
                             to send to {} from; announcing over IPv4 only",
                            g.to
                        );
                    } else {
                        warn!(
                            "local peer discovery: cannot send to {} ({e}); \
                             is there a route for multicast on the LAN interface?",
                            g.to
                        );
                    }
                }
                Err(e) => debug!("local peer discovery: send to {}: {e}", g.to),
            }
        }
        sent
    }

    /// Read announces forever; `on_peer(info hash, peer address)` for each
    /// torrent in each one of others, returning whether it was ours.
    pub async fn run(&self, on_peer: &dyn Fn(InfoHash, SocketAddr) -> bool) {
        let one = |i: usize| async move {
            match self.groups.get(i) {
                Some(g) => self.read_loop(g, on_peer).await,
                None => smol::future::pending().await,
            }
        };
        smol::future::or(one(0), one(1)).await
    }

    async fn read_loop(&self, g: &Group, on_peer: &dyn Fn(InfoHash, SocketAddr) -> bool) {
        let mut buf = vec![0u8; msg::MAX_DATAGRAM + 1];
        loop {
            let (n, from) = match g.sock.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    debug!("local peer discovery: reading {}: {e}", g.to);
                    smol::Timer::after(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if !self.budget.borrow_mut().take(Instant::now()) {
                self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let a = match msg::parse(buf.get(..n).unwrap_or_default()) {
                Ok(a) => a,
                Err(e) => {
                    self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    debug!("local peer discovery: from {from}: {e}");
                    continue;
                }
            };
            if a.cookie.as_deref() == Some(self.cookie.as_str()) {
                continue;
            }
            self.stats.received.fetch_add(1, Ordering::Relaxed);
            let peer = peer_addr(from, a.port);
            for ih in a.infohashes {
                if on_peer(ih, peer) {
                    self.stats.peers.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The interface index of a link-local listen address (its scope), or 0.
fn scope_of(listen: SocketAddr) -> u32 {
    match listen {
        SocketAddr::V6(a) => a.scope_id(),
        SocketAddr::V4(_) => 0,
    }
}

/// The peer an announce from `from` names: the sender's IP (an IPv4
/// mapped one as IPv4; a link-local IPv6 one keeps its scope) and the
/// announced port.
pub fn peer_addr(from: SocketAddr, port: u16) -> SocketAddr {
    match from {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, port)),
            None => SocketAddr::V6(SocketAddrV6::new(*a.ip(), port, 0, a.scope_id())),
        },
        SocketAddr::V4(a) => SocketAddr::from((*a.ip(), port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_the_sender_ip_with_the_announced_port() {
        let p = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(peer_addr(p("10.0.0.2:6771"), 51413), p("10.0.0.2:51413"));
        assert_eq!(
            peer_addr(p("[::ffff:10.0.0.2]:6771"), 7000),
            p("10.0.0.2:7000")
        );
        let ll = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 6771, 0, 3));
        match peer_addr(ll, 6881) {
            SocketAddr::V6(a) => assert_eq!((a.port(), a.scope_id()), (6881, 3)),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn renders_every_counter() {
        let s = LsdStats::default();
        s.peers.store(2, Ordering::Relaxed);
        let mut page = String::new();
        s.render(&mut page);
        assert!(page.contains("\nrill_lsd_peers_total 2\n"));
        assert_eq!(page.matches("# TYPE").count(), 5);
    }
}
