//! The DHT node on the swarm's executor: the receive loop (answers
//! queries, matches responses to transactions), outgoing queries with
//! timeouts, lookups, and upkeep (bootstrap, pings of questionable nodes,
//! bucket refresh, token rotation, saving the table).
//!
//! Bounds: at most [`MAX_PENDING`] queries in flight (all lookups); a
//! query unanswered after [`QUERY_TIMEOUT`] counts as a failure of that
//! node; a lookup gives up after [`LOOKUP_DEADLINE`]. Bootstrap hosts are
//! resolved each time they are needed, so a failed bootstrap is retried
//! with fresh addresses (every 30 s, doubling to 10 minutes). A node bound
//! to a loopback address skips the public routers (it cannot reach them)
//! and keeps only loopback bootstrap addresses.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use smol::channel::{Receiver, Sender};
use smol::{Async, Timer};

use super::lookup::Lookup;
use super::routing::K;
use super::secure_id::{self, ExternalIp};
use super::server::{Outcome, Server, TOKEN_ROTATE};
use super::tables::{Family, Tables};
use super::{bump, classify, persist, Datagram, DhtConfig, DhtStats};
use crate::net::udp_offload;
use crate::random::XorShift;
use crate::wire::krpc::{Body, Id, Krpc, NodeInfo, Query, Response, Want};

pub const MAX_PENDING: usize = 256;
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
pub const LOOKUP_DEADLINE: Duration = Duration::from_secs(30);
const SWEEP_EVERY: Duration = Duration::from_millis(250);
const UPKEEP_EVERY: Duration = Duration::from_secs(60);
const SAVE_EVERY: Duration = Duration::from_secs(10 * 60);
const BOOTSTRAP_RETRY_FIRST: Duration = Duration::from_secs(30);
const BOOTSTRAP_RETRY_MAX: Duration = Duration::from_secs(600);

/// The answer to one of our queries: `None` for a timeout or an error.
pub struct Reply {
    pub addr: SocketAddr,
    pub response: Option<Response>,
}

struct Pending {
    addr: SocketAddr,
    sent: Instant,
    reply: Option<Sender<Reply>>,
}

pub struct Node {
    sock: Async<UdpSocket>,
    /// The routing tables (IPv4 and IPv6, BEP 32); their `own_id` is our
    /// node id (the one place it is kept: a new external address may
    /// change it, see `secure_id`).
    table: RefCell<Tables>,
    /// What answering nodes say our address is (BEP 42 `ip`).
    external: RefCell<ExternalIp>,
    /// Both families on a dual-stack socket (BEP 32), else the default.
    want: Want,
    server: RefCell<Server>,
    pending: RefCell<HashMap<[u8; 2], Pending>>,
    next_tid: Cell<u16>,
    rng: RefCell<XorShift>,
    cfg: DhtConfig,
    pub stats: Arc<DhtStats>,
    /// Where non-DHT datagrams (uTP) go.
    other: RefCell<Option<OtherHandler>>,
}

/// Non-DHT datagrams: one call per datagram, then one at the end of each
/// burst read off the socket (uTP sends its deferred acks then).
struct OtherHandler {
    datagram: Box<DatagramFn>,
    burst_end: Box<dyn Fn()>,
}

type DatagramFn = dyn Fn(&[u8], SocketAddr);

/// Datagrams read off the socket before the burst's end is signalled.
const BURST: usize = 32;

impl Node {
    /// A node on `sock` (already bound), with the table from the state
    /// file if there is a good one.
    pub fn new(
        sock: UdpSocket,
        mut cfg: DhtConfig,
        stats: Arc<DhtStats>,
    ) -> std::io::Result<Rc<Node>> {
        let local = sock.local_addr()?;
        let loopback = local.ip().is_loopback();
        let dual = local.ip() == std::net::Ipv6Addr::UNSPECIFIED;
        let want = Want { n4: dual, n6: dual };
        if loopback && cfg.bootstrap == DhtConfig::default().bootstrap {
            // A socket bound to 127.x cannot reach them; do not even resolve.
            info!("DHT: bound to a loopback address, so not using the public routers");
            cfg.bootstrap.clear();
        }
        let sock = Async::new(sock)?;
        let mut rng = XorShift::from_seed_or_entropy(None);
        let now = Instant::now();
        let saved = cfg.state_file.as_deref().and_then(persist::load);
        let (own, nodes) = saved.unwrap_or_else(|| (secure_id::random_id(&mut rng), Vec::new()));
        // Not confirmed until they answer again.
        let table = Tables::with_nodes(own, &nodes, now);
        if !nodes.is_empty() {
            let (v4, v6) = (table.len_of(Family::V4), table.len_of(Family::V6));
            info!("DHT: {v4} IPv4 and {v6} IPv6 nodes from the saved routing tables");
        }
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
        secret[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
        stats.nodes.store(table.len() as u64, Ordering::Relaxed);
        Ok(Rc::new(Node {
            sock,
            table: RefCell::new(table),
            external: RefCell::default(),
            want,
            server: RefCell::new(Server::new(secret, now)),
            pending: RefCell::new(HashMap::new()),
            next_tid: Cell::new(rng.next_u64() as u16),
            rng: RefCell::new(rng),
            cfg,
            stats,
            other: RefCell::new(None),
        }))
    }

    /// Hand datagrams that are not DHT (uTP) to `datagram`, and call
    /// `burst_end` after each burst of datagrams read off the socket.
    pub fn set_other(
        &self,
        datagram: impl Fn(&[u8], SocketAddr) + 'static,
        burst_end: impl Fn() + 'static,
    ) {
        *self.other.borrow_mut() = Some(OtherHandler {
            datagram: Box::new(datagram),
            burst_end: Box::new(burst_end),
        });
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.get_ref().local_addr()
    }

    /// Receive until the executor drops the task.
    pub async fn run(self: Rc<Self>) {
        // GRO: uTP's runs of datagrams come as one receive (split below).
        udp_offload::enable_gro(self.sock.get_ref());
        let mut buf = vec![0u8; udp_offload::MAX_COALESCED];
        loop {
            let burst =
                udp_offload::recv_burst(&self.sock, &mut buf, BURST, |d, from| self.take(d, from));
            match burst.await {
                Ok(()) => {
                    if let Some(h) = self.other.borrow().as_ref() {
                        (h.burst_end)();
                    }
                }
                Err(e) => {
                    debug!("DHT socket: {e}");
                    Timer::after(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The datagrams of one receive (`seg` bytes each, the last maybe
    /// shorter: GRO), from `from`, one at a time; how many.
    /// One datagram from the socket: ours, or the other user's (uTP).
    fn take(&self, d: &[u8], from: SocketAddr) {
        match classify(d) {
            Datagram::Dht => self.handle(d, from),
            Datagram::Other => {
                bump(&self.stats.other_datagrams);
                if let Some(h) = self.other.borrow().as_ref() {
                    (h.datagram)(d, from);
                }
            }
        }
    }

    fn send(&self, msg: &Krpc, to: SocketAddr) -> bool {
        // The socket is non-blocking; a full send buffer drops the datagram.
        let to = match self.local_addr() {
            Ok(local) => crate::net::dual::to_socket_family(to, local),
            Err(_) => to,
        };
        self.sock.get_ref().send_to(&msg.encode(), to).is_ok()
    }

    fn handle(&self, d: &[u8], from: SocketAddr) {
        let now = Instant::now();
        let msg = match Krpc::parse(d) {
            Ok(m) => m,
            Err(e) => {
                bump(&self.stats.malformed);
                // Garbage counts against the sender's rate too.
                self.server.borrow_mut().allow(from.ip(), now);
                debug!("DHT: ignoring a datagram from {from}: {e}");
                return;
            }
        };
        match msg.body {
            Body::Query(q) => {
                bump(&self.stats.queries_in);
                if !self.server.borrow_mut().allow(from.ip(), now) {
                    bump(&self.stats.rate_limited);
                    return;
                }
                if let Some(id) = q.sender() {
                    self.table
                        .borrow_mut()
                        .heard(NodeInfo { id, addr: from }, false, now);
                }
                let (reply, outcome) = {
                    let table = self.table.borrow();
                    self.server
                        .borrow_mut()
                        .answer(&table, &msg.tid, &q, from, now)
                };
                if outcome == Outcome::Stored {
                    bump(&self.stats.announces_in);
                    // The gauge follows the store at once, not at the next upkeep.
                    let (_, peers) = self.server.borrow().stored();
                    self.stats
                        .stored_peers
                        .store(peers as u64, Ordering::Relaxed);
                }
                self.send(&reply, from);
            }
            Body::Response(r) => {
                let Some(p) = self.take_pending(&msg.tid, from) else {
                    return;
                };
                if let Some(seen) = r.ip {
                    self.seen_at(from.ip(), seen.ip(), now);
                }
                self.table.borrow_mut().heard(
                    NodeInfo {
                        id: r.id,
                        addr: from,
                    },
                    true,
                    now,
                );
                if let Some(tx) = p.reply {
                    let _ = tx.try_send(Reply {
                        addr: from,
                        response: Some(r),
                    });
                }
            }
            Body::Error { code, message } => {
                let Some(p) = self.take_pending(&msg.tid, from) else {
                    return;
                };
                debug!("DHT: {from} answered error {code}: {message}");
                if let Some(tx) = p.reply {
                    let _ = tx.try_send(Reply {
                        addr: from,
                        response: None,
                    });
                }
            }
        }
    }

    fn own(&self) -> Id {
        self.table.borrow().own_id()
    }

    /// `voter` saw us at `seen`: once enough nodes agree on an external
    /// address our id does not fit, take one that does (BEP 42).
    fn seen_at(&self, voter: IpAddr, seen: IpAddr, now: Instant) {
        let Some(ext) = self.external.borrow_mut().vote(voter, seen) else {
            return;
        };
        if secure_id::fits(&self.own(), ext) {
            info!("DHT: our external address is {ext}; our node id fits it (BEP 42)");
            return;
        }
        let id = secure_id::id_for(ext, &secure_id::random_id(&mut self.rng.borrow_mut()));
        let mut table = self.table.borrow_mut();
        *table = table.with_own_id(id, now);
        info!(
            "DHT: our external address is {ext}; new node id {} for it (BEP 42), {} nodes kept",
            crate::torrent::InfoHash(id),
            table.len()
        );
    }

    fn take_pending(&self, tid: &[u8], from: SocketAddr) -> Option<Pending> {
        let key: [u8; 2] = tid.try_into().ok()?;
        let mut pending = self.pending.borrow_mut();
        if pending.get(&key)?.addr != from {
            return None;
        }
        pending.remove(&key)
    }

    /// Send `q` to `to`; the answer (or timeout) goes to `reply`. False if
    /// too many queries are in flight or the send failed.
    fn query(&self, to: SocketAddr, q: Query, reply: Option<Sender<Reply>>) -> bool {
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= MAX_PENDING {
            return false;
        }
        let mut tid = self.next_tid.get();
        while pending.contains_key(&tid.to_be_bytes()) {
            tid = tid.wrapping_add(1);
        }
        self.next_tid.set(tid.wrapping_add(1));
        let msg = Krpc {
            tid: tid.to_be_bytes().to_vec(),
            body: Body::Query(q),
        };
        if !self.send(&msg, to) {
            return false;
        }
        bump(&self.stats.queries_out);
        pending.insert(
            tid.to_be_bytes(),
            Pending {
                addr: to,
                sent: Instant::now(),
                reply,
            },
        );
        true
    }

    /// Expire unanswered queries (each a failure of its node).
    fn sweep(&self, now: Instant) {
        let expired: Vec<Pending> = {
            let mut pending = self.pending.borrow_mut();
            let keys: Vec<[u8; 2]> = pending
                .iter()
                .filter(|(_, p)| now.duration_since(p.sent) >= QUERY_TIMEOUT)
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| pending.remove(k)).collect()
        };
        for p in expired {
            bump(&self.stats.timeouts);
            self.table.borrow_mut().failed(p.addr);
            if let Some(tx) = p.reply {
                let _ = tx.try_send(Reply {
                    addr: p.addr,
                    response: None,
                });
            }
        }
        let t = self.table.borrow();
        self.stats.nodes.store(t.len() as u64, Ordering::Relaxed);
        self.stats
            .good_nodes
            .store(t.good(now) as u64, Ordering::Relaxed);
        let (_, peers) = self.server.borrow().stored();
        self.stats
            .stored_peers
            .store(peers as u64, Ordering::Relaxed);
    }

    /// Addresses of the bootstrap hosts in our socket's family.
    async fn resolve_bootstrap(&self) -> Vec<SocketAddr> {
        super::resolve_bootstrap(self.cfg.bootstrap.clone(), self.local_addr().ok()).await
    }

    /// An iterative lookup of `target`: `get_peers` if `peers`, else
    /// `find_node`. Uses the bootstrap hosts while the table is small.
    pub async fn lookup(&self, target: Id, peers: bool) -> Lookup {
        self.lookup_with(target, peers, &mut |_| {}).await
    }

    /// [`Node::lookup`], handing each answer's peers to `found` as they
    /// come (a slow node at the end does not hold back the first peers).
    async fn lookup_with(
        &self,
        target: Id,
        peers: bool,
        found: &mut dyn FnMut(&[SocketAddr]),
    ) -> Lookup {
        bump(&self.stats.lookups);
        let start = self.table.borrow().start(&target, K);
        let boot = if start.len() < K {
            self.resolve_bootstrap().await
        } else {
            Vec::new()
        };
        let mut l = Lookup::new(target, &start, &boot);
        let (tx, rx): (Sender<Reply>, Receiver<Reply>) = smol::channel::unbounded();
        let deadline = Instant::now() + LOOKUP_DEADLINE;
        loop {
            while let Some(a) = l.next_query() {
                let q = if peers {
                    Query::GetPeers {
                        id: self.own(),
                        info_hash: target,
                        want: self.want,
                    }
                } else {
                    Query::FindNode {
                        id: self.own(),
                        target,
                        want: self.want,
                    }
                };
                if !self.query(a, q, Some(tx.clone())) {
                    l.failed(a);
                }
            }
            if l.done() {
                break;
            }
            let r = smol::future::or(async { rx.recv().await.ok() }, async {
                Timer::at(deadline).await;
                None
            })
            .await;
            match r {
                Some(Reply {
                    addr,
                    response: Some(resp),
                }) => {
                    if !resp.values.is_empty() {
                        let n = resp.values.len() as u64;
                        self.stats.peers_found.fetch_add(n, Ordering::Relaxed);
                        found(&resp.values);
                    }
                    l.answered(addr, &resp.nodes, &resp.values, resp.token)
                }
                Some(Reply { addr, .. }) => l.failed(addr),
                None => break,
            }
        }
        l
    }

    /// Find peers of `info_hash` (each answer's peers go to `found` at
    /// once) and, with `port`, announce us on it to the closest nodes that
    /// gave tokens. Returns every peer found.
    pub async fn get_peers(
        &self,
        info_hash: Id,
        port: Option<u16>,
        found: &mut dyn FnMut(&[SocketAddr]),
    ) -> Vec<SocketAddr> {
        let l = self.lookup_with(info_hash, true, found).await;
        debug!(
            "DHT: lookup of {} found {} peers ({} nodes answered)",
            crate::torrent::InfoHash(info_hash),
            l.peers.len(),
            l.answered_count()
        );
        if let Some(port) = port {
            for (addr, token) in l.tokens() {
                let q = Query::AnnouncePeer {
                    id: self.own(),
                    info_hash,
                    port,
                    implied_port: false,
                    token,
                };
                self.query(addr, q, None);
            }
        }
        l.peers
    }

    /// Upkeep until the executor drops the task.
    pub async fn maintain(self: Rc<Self>) {
        let me = self.clone();
        let sweeper = async move {
            let mut rotated = Instant::now();
            loop {
                Timer::after(SWEEP_EVERY).await;
                let now = Instant::now();
                me.sweep(now);
                if now.duration_since(rotated) >= TOKEN_ROTATE {
                    let mut s = [0u8; 16];
                    {
                        let mut r = me.rng.borrow_mut();
                        s[..8].copy_from_slice(&r.next_u64().to_be_bytes());
                        s[8..].copy_from_slice(&r.next_u64().to_be_bytes());
                    }
                    me.server.borrow_mut().rotate(s, now);
                    rotated = now;
                }
            }
        };
        smol::future::or(sweeper, self.upkeep()).await;
    }

    async fn upkeep(&self) {
        let mut retry = BOOTSTRAP_RETRY_FIRST;
        let mut next_bootstrap = Instant::now();
        let mut saved = Instant::now();
        let mut first_save = true;
        loop {
            let now = Instant::now();
            if self.table.borrow().len() < K && now >= next_bootstrap {
                let l = self.lookup(self.own(), false).await;
                let n = self.table.borrow().len();
                if n == 0 && self.cfg.bootstrap.is_empty() {
                    debug!("DHT: empty routing table and no bootstrap nodes");
                    next_bootstrap = Instant::now() + BOOTSTRAP_RETRY_MAX;
                } else if n == 0 {
                    warn!(
                        "DHT: no node answered ({} asked); bootstrapping again in {} s",
                        l.answered_count(),
                        retry.as_secs()
                    );
                    next_bootstrap = Instant::now() + retry;
                    retry = (retry * 2).min(BOOTSTRAP_RETRY_MAX);
                } else {
                    info!("DHT: bootstrapped, {n} nodes");
                    retry = BOOTSTRAP_RETRY_FIRST;
                    next_bootstrap = Instant::now() + BOOTSTRAP_RETRY_FIRST;
                }
            }
            // Ping questionable nodes; refresh quiet buckets.
            let to_ping = self.table.borrow().to_ping(now, K);
            for a in to_ping {
                self.query(a, Query::Ping { id: self.own() }, None);
            }
            let targets = {
                let mut rng = self.rng.borrow_mut();
                self.table
                    .borrow()
                    .stale_targets(now, 2, || secure_id::random_id(&mut rng))
            };
            for t in targets {
                self.table.borrow_mut().touch(&t, now);
                self.lookup(t, false).await;
            }
            if (first_save && !self.table.borrow().is_empty()) || saved.elapsed() >= SAVE_EVERY {
                first_save = false;
                self.save().await;
                saved = Instant::now();
            }
            Timer::after(if first_save {
                Duration::from_secs(5)
            } else {
                UPKEEP_EVERY
            })
            .await;
        }
    }

    /// Write the routing table to the state file (on the blocking pool).
    pub async fn save(&self) {
        let Some(path) = self.cfg.state_file.clone() else {
            return;
        };
        let bytes = persist::encode(&self.own(), &self.table.borrow().nodes());
        let r = smol::unblock(move || crate::durable::write_atomic(&path, &bytes)).await;
        if let Err(e) = r {
            warn!("saving the DHT routing table: {e}");
        }
    }

    /// Nodes in the routing tables (both families).
    pub fn node_count(&self) -> usize {
        self.table.borrow().len()
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
