//! uTP (BEP 29): reliable, LEDBAT-paced byte streams over the peer port's
//! UDP socket, shared with the DHT (datagrams are told apart by their
//! first byte, [`crate::dht::classify`]).
//!
//! - [`crate::wire::utp`]: the packet format (pure).
//! - [`conn`]: one connection's state machine, no I/O; [`counts`]: what it
//!   sent and resent.
//! - [`dial`]: outgoing peer connections, uTP first, then TCP.
//! - [`ledbat`]: its congestion window and retransmission timeout.
//! - [`stream`]: [`UtpStream`], the async byte stream the swarm uses, and
//!   [`PeerStream`], TCP or uTP under a peer session.
//!
//! [`Utp`] here is the socket layer: it routes packets to connections by
//! (address, connection id), answers SYNs (up to [`MAX_CONNS`] connections,
//! [`ACCEPT_BACKLOG`] waiting to be accepted), sends what connections
//! queue, and ticks their timers.
//!
//! Acks are deferred to the end of a burst: the receive loop (ours, or the
//! DHT node's on a shared socket) reads every datagram already queued, up
//! to [`BURST`], hands each to [`Utp::on_datagram`] (which only updates
//! the connection), then calls [`Utp::flush_due`]: one ack, and whatever
//! the acks opened in the window, per connection per burst instead of one
//! ack per datagram (as libutp's deferred acks). A lone datagram is
//! answered at once, as before.
//!
//! On Linux the socket takes UDP GRO and sends GSO
//! ([`crate::net::udp_offload`]): a burst of full-size datagrams from one
//! peer is one receive, split back into datagrams before anything looks at
//! them, and a connection's queued datagrams of one size are one send.
//! [`BURST`] counts datagrams either way.

pub mod conn;
pub mod counts;
pub mod dial;
pub mod ledbat;
pub mod stream;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;
use smol::channel::{Receiver, Sender};
use smol::{Async, Timer};

use crate::net::udp_offload::{self, Gso};
use crate::random::XorShift;
use crate::wire::utp::{self, Type};
use conn::{Conn, State};
pub use stream::{PeerStream, UtpStream};

/// Connections at most (open, half-open and closing).
pub const MAX_CONNS: usize = 512;
/// Datagrams a receive loop reads before it sends what they made due.
pub const BURST: usize = 32;
/// Accepted connections waiting for the swarm.
pub const ACCEPT_BACKLOG: usize = 32;
/// How often timers are looked at.
const TICK: Duration = Duration::from_millis(50);

/// Counters for `/metrics` (shared with other threads).
#[derive(Debug, Default)]
pub struct UtpStats {
    pub connects: AtomicU64,
    pub accepts: AtomicU64,
    pub open: AtomicU64,
    /// Packets sent again (`fast_retransmits` + `timeout_retransmits`).
    pub retransmits: AtomicU64,
    pub fast_retransmits: AtomicU64,
    pub timeout_retransmits: AtomicU64,
    /// SYN, DATA and FIN transmissions (resends included; acks not).
    pub packets_sent: AtomicU64,
    pub malformed: AtomicU64,
    pub unknown: AtomicU64,
    /// Datagram bytes (headers included) sent and received by uTP.
    pub sent_bytes: AtomicU64,
    pub received_bytes: AtomicU64,
}

impl UtpStats {
    /// Append the uTP lines of `GET /metrics` (Prometheus text format).
    pub fn render(&self, page: &mut String) {
        use std::fmt::Write;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rows = [
            (
                "rill_utp_connects_total",
                "counter",
                "Outgoing uTP connections made.",
                g(&self.connects),
            ),
            (
                "rill_utp_accepts_total",
                "counter",
                "Incoming uTP connections accepted.",
                g(&self.accepts),
            ),
            (
                "rill_utp_connections",
                "gauge",
                "uTP connections open (including closing).",
                g(&self.open),
            ),
            (
                "rill_utp_retransmits_total",
                "counter",
                "uTP packets sent again.",
                g(&self.retransmits),
            ),
            (
                "rill_utp_fast_retransmits_total",
                "counter",
                "uTP packets sent again after duplicate or selective acks.",
                g(&self.fast_retransmits),
            ),
            (
                "rill_utp_timeout_retransmits_total",
                "counter",
                "uTP packets sent again after a retransmission timeout.",
                g(&self.timeout_retransmits),
            ),
            (
                "rill_utp_packets_sent_total",
                "counter",
                "uTP SYN, DATA and FIN packets sent (resends included).",
                g(&self.packets_sent),
            ),
            (
                "rill_utp_sent_bytes_total",
                "counter",
                "uTP datagram bytes sent (headers and resends included).",
                g(&self.sent_bytes),
            ),
            (
                "rill_utp_received_bytes_total",
                "counter",
                "uTP datagram bytes received for our connections.",
                g(&self.received_bytes),
            ),
            (
                "rill_utp_malformed_total",
                "counter",
                "Datagrams that were not uTP packets.",
                g(&self.malformed),
            ),
            (
                "rill_utp_unknown_total",
                "counter",
                "uTP packets for no connection of ours.",
                g(&self.unknown),
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = write!(
                page,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            );
        }
    }
}

type Key = (SocketAddr, u16);

pub(crate) struct Inner {
    sock: UdpSocket,
    /// The socket's address (its family decides how IPv4 peers are
    /// addressed on it).
    local: Option<SocketAddr>,
    conns: RefCell<HashMap<Key, Rc<RefCell<Conn>>>>,
    accept_tx: Sender<(UtpStream, SocketAddr)>,
    rng: RefCell<XorShift>,
    pub stats: Arc<UtpStats>,
    /// Connections that took packets since the last [`Utp::flush_due`]:
    /// each at most once (so at most [`MAX_CONNS`]).
    due: RefCell<Vec<(Key, Rc<RefCell<Conn>>)>>,
    /// A connection's queued datagrams go out as GSO runs while the
    /// kernel takes them.
    gso: Gso,
}

/// The uTP socket layer of one UDP socket.
#[derive(Clone)]
pub struct Utp {
    inner: Rc<Inner>,
    accept_rx: Receiver<(UtpStream, SocketAddr)>,
}

impl Inner {
    /// Send what `c` has due (the socket is non-blocking; a full send
    /// buffer drops the datagram and retransmission covers it).
    pub(crate) fn flush(&self, addr: SocketAddr, c: &mut Conn, now: Instant) {
        let mut out = Vec::new();
        c.transmit(now, &mut out);
        let to = self.to_family(addr);
        self.gso.send_all(&self.sock, &out, to, |r| match r {
            Ok(n) => {
                self.stats.sent_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => debug!("uTP to {addr}: {e}"),
        });
        let new = c.take_new_counts();
        if new != counts::Counts::default() {
            let st = &self.stats;
            st.packets_sent.fetch_add(new.sent, Ordering::Relaxed);
            st.retransmits.fetch_add(new.resent(), Ordering::Relaxed);
            st.fast_retransmits.fetch_add(new.fast, Ordering::Relaxed);
            st.timeout_retransmits
                .fetch_add(new.timeout, Ordering::Relaxed);
        }
    }

    pub(crate) fn forget(&self, key: Key) {
        if self.conns.borrow_mut().remove(&key).is_some() {
            self.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn reset(&self, addr: SocketAddr, conn_id: u16, ack: u16) {
        let h = utp::Header {
            typ: Type::Reset,
            conn_id,
            ts_us: 0,
            ts_diff_us: 0,
            wnd: 0,
            seq: 0,
            ack,
        };
        let mut d = Vec::new();
        utp::build(&h, None, &[], &mut d);
        let _ = self.sock.send_to(&d, self.to_family(addr));
    }

    /// `addr` as our socket sends to it (IPv4-mapped on a dual-stack one).
    fn to_family(&self, addr: SocketAddr) -> SocketAddr {
        match self.local {
            Some(local) => crate::net::dual::to_socket_family(addr, local),
            None => addr,
        }
    }
}

impl Utp {
    /// A layer sending on `sock` (a clone of the shared socket, or the
    /// socket itself when no DHT runs).
    pub fn new(sock: UdpSocket, stats: Arc<UtpStats>) -> Utp {
        let (accept_tx, accept_rx) = smol::channel::bounded(ACCEPT_BACKLOG);
        Utp {
            inner: Rc::new(Inner {
                local: sock.local_addr().ok(),
                sock,
                conns: RefCell::new(HashMap::new()),
                accept_tx,
                rng: RefCell::new(XorShift::from_seed_or_entropy(None)),
                stats,
                due: RefCell::new(Vec::new()),
                gso: Gso::default(),
            }),
            accept_rx,
        }
    }

    /// A datagram that arrived on the shared socket. What it makes due
    /// for an open connection (an ack, data the ack let out) is sent by the
    /// next [`Utp::flush_due`]; a SYN is answered at once.
    pub fn on_datagram(&self, d: &[u8], from: SocketAddr) {
        let inner = &self.inner;
        let p = match utp::parse(d) {
            Ok(p) => p,
            Err(e) => {
                debug!("uTP from {from}: {e}");
                inner.stats.malformed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let now = Instant::now();
        let h = p.header;
        let key = (from, h.conn_id);
        let found = inner.conns.borrow().get(&key).cloned();
        if let Some(c) = found {
            let n = d.len() as u64;
            inner.stats.received_bytes.fetch_add(n, Ordering::Relaxed);
            {
                let mut conn = c.borrow_mut();
                conn.on_packet(&p, now);
                conn.wake();
            }
            let mut due = inner.due.borrow_mut();
            if !due.iter().any(|(k, _)| *k == key) {
                due.push((key, c));
            }
            return;
        }
        if h.typ != Type::Syn {
            inner.stats.unknown.fetch_add(1, Ordering::Relaxed);
            if matches!(h.typ, Type::Data | Type::Fin) {
                inner.reset(from, h.conn_id, h.seq);
            }
            return;
        }
        let key = (from, h.conn_id.wrapping_add(1));
        if inner.conns.borrow().contains_key(&key) {
            return; // a repeated SYN whose id collides is answered by the conn
        }
        if inner.conns.borrow().len() >= MAX_CONNS || inner.accept_tx.is_full() {
            debug!("uTP SYN from {from} refused: connection limit reached");
            inner.reset(from, h.conn_id, h.seq);
            return;
        }
        let seq = inner.rng.borrow_mut().next_u64() as u16;
        let c = Rc::new(RefCell::new(Conn::accept(&h, seq, now)));
        inner.flush(from, &mut c.borrow_mut(), now);
        inner.conns.borrow_mut().insert(key, c.clone());
        inner.stats.open.fetch_add(1, Ordering::Relaxed);
        inner.stats.accepts.fetch_add(1, Ordering::Relaxed);
        let s = UtpStream::new(inner.clone(), c, key);
        let _ = inner.accept_tx.try_send((s, from));
    }

    /// Dial `addr`: SYN, then wait for its answer (or the SYN timeouts).
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<UtpStream> {
        let inner = &self.inner;
        let key = {
            let conns = inner.conns.borrow();
            if conns.len() >= MAX_CONNS {
                return Err(std::io::Error::other("uTP connection limit reached"));
            }
            let mut rng = inner.rng.borrow_mut();
            // Our receive id and the peer's (id + 1) both unused for it.
            let id = (0..16)
                .map(|_| rng.next_u64() as u16)
                .find(|&id| {
                    !conns.contains_key(&(addr, id))
                        && !conns.contains_key(&(addr, id.wrapping_add(1)))
                })
                .ok_or_else(|| std::io::Error::other("no free uTP connection id"))?;
            (addr, id)
        };
        let now = Instant::now();
        let c = Rc::new(RefCell::new(Conn::connect(key.1, now)));
        inner.conns.borrow_mut().insert(key, c.clone());
        inner.stats.open.fetch_add(1, Ordering::Relaxed);
        inner.flush(addr, &mut c.borrow_mut(), now);
        let s = UtpStream::new(inner.clone(), c, key);
        s.connected().await?;
        inner.stats.connects.fetch_add(1, Ordering::Relaxed);
        Ok(s)
    }

    /// Send what the datagrams since the last call made due: once per
    /// connection. Receive loops call it at the end of every burst.
    pub fn flush_due(&self) {
        let due = std::mem::take(&mut *self.inner.due.borrow_mut());
        let now = Instant::now();
        for ((addr, _), c) in due {
            self.inner.flush(addr, &mut c.borrow_mut(), now);
        }
    }

    /// The next incoming connection.
    pub async fn accept(&self) -> Option<(UtpStream, SocketAddr)> {
        self.accept_rx.recv().await.ok()
    }

    /// Timers of every connection; forgets finished ones. Runs until the
    /// executor drops it.
    pub async fn drive(self) {
        loop {
            Timer::after(TICK).await;
            let now = Instant::now();
            let all: Vec<(Key, Rc<RefCell<Conn>>)> = self
                .inner
                .conns
                .borrow()
                .iter()
                .map(|(k, c)| (*k, c.clone()))
                .collect();
            for (key, c) in all {
                let mut c = c.borrow_mut();
                c.tick(now);
                self.inner.flush(key.0, &mut c, now);
                if let State::Closed(why) = &c.state {
                    debug!("uTP {}: {why}", key.0);
                }
                c.wake();
                if c.is_done(now) {
                    let n = c.counts;
                    debug!(
                        "uTP {}: closed after {} packets sent, {} resent ({} fast, {} timeout); \
                         {} payload bytes in {} first sends, {} not full",
                        key.0,
                        n.sent,
                        n.resent(),
                        n.fast,
                        n.timeout,
                        n.bytes,
                        n.sent - n.resent(),
                        n.short
                    );
                    self.inner.forget(key);
                }
            }
        }
    }

    /// Receive on `sock` when no DHT node does it for us (with GRO when
    /// the kernel has it: a receive may hold a run of datagrams).
    pub async fn recv_loop(self, sock: Async<UdpSocket>) {
        udp_offload::enable_gro(sock.get_ref());
        let mut buf = vec![0u8; udp_offload::MAX_COALESCED];
        loop {
            let burst = udp_offload::recv_burst(&sock, &mut buf, BURST, |d, from| {
                if crate::dht::classify(d) == crate::dht::Datagram::Other {
                    self.on_datagram(d, from);
                }
            });
            match burst.await {
                Ok(()) => self.flush_due(),
                Err(e) => {
                    debug!("uTP socket: {e}");
                    Timer::after(TICK).await;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "socket_tests.rs"]
mod tests;
