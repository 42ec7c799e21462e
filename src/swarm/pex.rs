//! Peer exchange (BEP 11, `ut_pex`) for one torrent: peers that advertise
//! ut_pex in their extension handshake tell us the peers they know, and we
//! add those to the address book (source "pex") and connect within the
//! usual limits (`Torrent::peers_found`, the lifecycle's dialer); we tell each such peer ours, at
//! most once a [`SEND_EVERY`] and at most [`MAX_ADDED`] added per message,
//! as libtorrent does. Private torrents (BEP 27) never exchange peers.
//!
//! What we advertise is every connected peer's listen address: the address
//! we dialed, or the incoming peer's address with the port from its `p`;
//! its flags say seed, encrypted, uTP, reachable (we dialled it) and, when
//! we relay holepunches, ut_holepunch (`holepunch.rs`).
//! What we told each peer and when is its `PexPeer` (`peer/pex_state.rs`).

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use log::{debug, info};

use super::peer::pex_state::RECV_EVERY;
use super::picker::PeerKey;
use super::state::TState;
use super::stats::PeerSource;
use super::torrent::Torrent;
use crate::wire::pex::{
    PexMsg, FLAG_ENCRYPTION, FLAG_HOLEPUNCH, FLAG_REACHABLE, FLAG_SEED, FLAG_UTP,
};
use crate::wire::Message;

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
    if !p.pex.may_receive(now) {
        debug!("{addr}: ut_pex message sooner than {RECV_EVERY:?} after its last, ignored");
        return;
    }
    let msg = match PexMsg::parse(payload) {
        Ok(m) => m,
        Err(e) => {
            debug!("{addr}: ignoring its ut_pex message: {e}");
            return;
        }
    };
    let mut new = 0;
    for (a, flags) in &msg.added {
        new += usize::from(st.book.source_of(a).is_none());
        st.book.add_from(*a, PeerSource::Pex, now);
        super::holepunch::learnt_by_pex(st, *a, key, *flags);
    }
    info!(
        "{}: {addr} sent {} peers by PEX ({new} new, {} dropped)",
        st.name,
        msg.added.len(),
        msg.dropped.len()
    );
    if new > 0 {
        // Not with the state borrowed: the dialer borrows it.
        let t = t.clone();
        t.ctx.clone().spawn(async move { t.peers_found() });
    }
}

/// Once a second: send each ut_pex peer our list when it is due; the
/// holepunch flag only if we relay (`holepunch`: they would ask us).
pub(crate) fn tick(st: &mut TState, now: Instant, holepunch: bool) {
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
            if p.utp {
                flags |= FLAG_UTP;
            }
            if holepunch && p.ext.ut_holepunch.is_some() {
                flags |= FLAG_HOLEPUNCH;
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
