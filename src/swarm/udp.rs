//! The peer port's UDP socket, shared by the DHT node and the uTP layer:
//! binding it, giving uTP its clone of it, and starting uTP's tasks (the
//! DHT node hands non-DHT datagrams to uTP; without a DHT node uTP reads
//! the socket itself). On `[::]` it is dual-stack like the TCP listener.

use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;

use log::warn;
use smol::Async;

use super::ctx::Ctx;
use crate::dht::DhtConfig;
use crate::utp::{Utp, UtpStats};

/// The sockets [`bind`] made.
pub(crate) struct Bound {
    /// For the DHT node, with its config.
    pub dht: Option<(UdpSocket, DhtConfig)>,
    /// uTP's socket (a clone for sending) and, with no DHT node, the one
    /// it reads.
    pub utp: Option<(UdpSocket, Option<UdpSocket>)>,
    /// uTP's counters, when it runs.
    pub stats: Option<Arc<UtpStats>>,
}

/// Bind UDP on `listen` when the DHT or uTP (or both) run.
pub(crate) fn bind(listen: SocketAddr, dht: Option<DhtConfig>, utp: bool) -> Bound {
    if dht.is_none() && !utp {
        return Bound {
            dht: None,
            utp: None,
            stats: None,
        };
    }
    let sock = match crate::net::dual::bind_udp(listen) {
        Ok(s) => s,
        Err(e) => {
            warn!("DHT and uTP off: cannot bind UDP {listen}: {e}");
            return Bound {
                dht: None,
                utp: None,
                stats: None,
            };
        }
    };
    let send = if utp {
        sock.try_clone().map_err(|e| warn!("uTP off: {e}")).ok()
    } else {
        None
    };
    let stats = send.as_ref().map(|_| Arc::new(UtpStats::default()));
    match dht {
        Some(c) => Bound {
            dht: Some((sock, c)),
            utp: send.map(|s| (s, None)),
            stats,
        },
        None => Bound {
            dht: None,
            utp: send.map(|s| (s, Some(sock))),
            stats,
        },
    }
}

/// Set the context's uTP layer and start its tasks: datagrams in (from
/// the DHT node, or its own socket) and timers; the engine's main loop
/// accepts its incoming connections (`listener::run_utp`).
pub(crate) fn start_utp(
    ctx: &Rc<Ctx>,
    utp: Option<(UdpSocket, Option<UdpSocket>)>,
    stats: Option<Arc<UtpStats>>,
) {
    let Some(((send, alone), stats)) = utp.zip(stats) else {
        return;
    };
    let u = Utp::new(send, stats);
    let _ = ctx.utp.set(u.clone());
    if let Some(node) = ctx.dht.get() {
        let (u, v) = (u.clone(), u.clone());
        node.set_other(move |d, from| u.on_datagram(d, from), move || v.flush_due());
    }
    if let Some(sock) = alone.and_then(|s| Async::new(s).map_err(|e| warn!("uTP off: {e}")).ok()) {
        ctx.spawn(u.clone().recv_loop(sock));
    }
    ctx.spawn(u.drive());
}
