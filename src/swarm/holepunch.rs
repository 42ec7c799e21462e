//! The holepunch extension (BEP 55, `ut_holepunch`) for one torrent: two
//! peers that cannot accept connections (each behind a NAT or firewall)
//! and a third connected to both. The bytes are `wire/holepunch.rs`.
//!
//! - As a relay: peer X asks for a rendezvous with endpoint Y. Y is us:
//!   error NoSelf; no connection to Y: NotConnected; Y did not name
//!   ut_holepunch in its extension handshake: NoSupport; else X gets
//!   `connect(Y)` and Y gets `connect(X)` (Y is X itself: NoSelf, as
//!   libtorrent answers), each the endpoint the other's
//!   NAT maps (a uTP connection's remote address; a TCP one's IP with its
//!   listen port).
//! - At either end: a relay's `connect(A)` dials A over uTP at once (both
//!   ends send SYNs, so each NAT sees an outgoing flow first and lets the
//!   other's packets in), within the usual connection limits, never to an
//!   address we are connected to or dialling (`connect::holepunch_dial`,
//!   reached through the `holepunch_dial` upcall).
//! - As an initiator: when a direct dial to an address we learnt by PEX
//!   fails and the PEX flags say it supports ut_holepunch, the peer that
//!   told us of it (connected to it) is asked for a rendezvous.
//!
//! Bounds: each peer gets [`PER_MINUTE`] holepunch messages read and
//! [`PER_MINUTE`] sent by us per minute; more are dropped with a debug line.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use log::debug;

use super::ctx::Ctx;
use super::peer::hp_state::PER_MINUTE;
use super::peer::state::PeerState;
use super::picker::PeerKey;
use super::state::TState;
use super::stats::PeerSource;
use super::torrent::Torrent;
use crate::net::dual::canonical;
use crate::wire::holepunch::{HolepunchMsg, HpError, HpKind};
use crate::wire::pex::FLAG_HOLEPUNCH;
use crate::wire::Message;

/// Whether we offer ut_holepunch (a connect is answered by a uTP dial;
/// never for private torrents, BEP 27, whose peers come from the tracker).
pub(crate) fn enabled(ctx: &Ctx) -> bool {
    ctx.holepunch && ctx.utp.get().is_some()
}

/// The endpoint to give others for `p`: where its NAT maps it.
fn endpoint(p: &PeerState) -> SocketAddr {
    match p.ext.listen_port {
        Some(port) if !p.utp && !p.outgoing => SocketAddr::new(p.addr.ip(), port),
        _ => p.addr,
    }
}

/// Whether `p` is the peer at `addr` (its remote or its listen address).
pub(crate) fn is_at(p: &PeerState, addr: SocketAddr) -> bool {
    let addr = canonical(addr);
    canonical(p.addr) == addr
        || p.ext
            .listen_port
            .is_some_and(|port| canonical(SocketAddr::new(p.addr.ip(), port)) == addr)
}

/// Queue a holepunch message for `p` if it takes them and its budget allows.
fn send(p: &mut PeerState, now: Instant, kind: HpKind, addr: SocketAddr) -> bool {
    let Some(id) = p.ext.ut_holepunch.filter(|_| p.extended && !p.closing) else {
        return false;
    };
    if !p.holepunch.take_send(now) {
        debug!(
            "{}: not sending ut_holepunch {kind:?}: {PER_MINUTE} sent this minute",
            p.addr
        );
        return false;
    }
    let payload = HolepunchMsg { kind, addr }.encode();
    p.send(&Message::Extended { id, payload });
    true
}

/// A ut_holepunch message from `key`.
pub(crate) fn on_message(t: &Rc<Torrent>, st: &mut TState, key: PeerKey, payload: &[u8]) {
    if !enabled(&t.ctx) || st.is_private() {
        return;
    }
    let now = Instant::now();
    let Some(p) = st.peers.get_mut(&key) else {
        return;
    };
    let from = p.addr;
    let msg = match HolepunchMsg::parse(payload) {
        Ok(m) => m,
        Err(e) => {
            debug!("{from}: ignoring its ut_holepunch message: {e}");
            return;
        }
    };
    if !p.holepunch.take_recv(now) {
        debug!("{from}: more than {PER_MINUTE} ut_holepunch messages this minute, ignored");
        return;
    }
    match msg.kind {
        HpKind::Rendezvous => relay(&t.ctx, st, key, msg.addr, now),
        HpKind::Connect => {
            st.book.add_from(msg.addr, PeerSource::Pex, now);
            st.book.punching(&msg.addr, now);
            debug!(
                "{}: {from} relays a holepunch connect to {}: dialling it over uTP",
                st.name, msg.addr
            );
            let t = t.clone();
            // Not with the state borrowed: the dialer borrows it.
            t.ctx
                .clone()
                .spawn(async move { t.holepunch_dial(msg.addr, from) });
        }
        HpKind::Error(HpError::NoSelf) if !st.peers.values().any(|p| is_at(p, msg.addr)) => {
            // Our own address as the relay sees it (PEX told us of it).
            debug!(
                "{from}: no holepunch to {}: it is us; not dialling it again",
                msg.addr
            );
            st.book.forget(msg.addr);
        }
        HpKind::Error(e) => debug!("{from}: no holepunch to {} through it: {e}", msg.addr),
    }
}

/// Peer `x` asks us to relay a rendezvous with `target`.
fn relay(ctx: &Ctx, st: &mut TState, x: PeerKey, target: SocketAddr, now: Instant) {
    let own = ctx.is_own(&target);
    let y = st
        .peers
        .values()
        .find(|p| p.key != x && !p.closing && is_at(p, target))
        .map(|p| {
            (
                p.key,
                endpoint(p),
                p.ext.ut_holepunch.is_some() && p.extended,
            )
        });
    let refusal = match y {
        _ if own => Some(HpError::NoSelf),
        _ if target.port() == 0 || target.ip().is_unspecified() => Some(HpError::NoSuchPeer),
        // The asker itself (libtorrent answers NoSelf here too).
        None if st.peers.get(&x).is_some_and(|p| is_at(p, target)) => Some(HpError::NoSelf),
        None => Some(HpError::NotConnected),
        Some((_, _, false)) => Some(HpError::NoSupport),
        Some(_) => None,
    };
    let Some(xp) = st.peers.get_mut(&x) else {
        return;
    };
    let (x_addr, x_end) = (xp.addr, endpoint(xp));
    if let Some(e) = refusal {
        debug!("{x_addr}: asks a holepunch rendezvous with {target}: refused, {e}");
        send(xp, now, HpKind::Error(e), target);
        return;
    }
    let Some((y_key, y_end, _)) = y else {
        return;
    };
    if !send(xp, now, HpKind::Connect, y_end) {
        return;
    }
    if let Some(yp) = st.peers.get_mut(&y_key) {
        send(yp, now, HpKind::Connect, x_end);
    }
    debug!("{x_addr}: relayed a holepunch rendezvous: connect({y_end}) to it, connect({x_end}) to {target}");
}

/// A direct dial to `addr` failed; `via` is the peer that told us of it by
/// PEX and the flags it gave. Ask that peer for a rendezvous if it is
/// still connected and both it and `addr` support ut_holepunch.
pub(crate) fn after_failed_dial(
    ctx: &Ctx,
    st: &mut TState,
    addr: SocketAddr,
    via: Option<(PeerKey, u8)>,
) {
    let Some((key, flags)) = via.filter(|(_, f)| f & FLAG_HOLEPUNCH != 0) else {
        return;
    };
    if !enabled(ctx) || st.peers.values().any(|p| is_at(p, addr)) {
        return;
    }
    let name = st.name.clone();
    let Some(r) = st.peers.get_mut(&key) else {
        debug!("{addr}: would ask for a holepunch, but the peer that told us of it left");
        return;
    };
    let relay = r.addr;
    if send(r, Instant::now(), HpKind::Rendezvous, addr) {
        debug!("{name}: {addr} did not answer a direct dial (PEX flags {flags:#04x}); asked {relay} for a holepunch rendezvous");
    }
}

/// A ut_pex peer `key` told us of `addr` with `flags`: remember who, for
/// [`after_failed_dial`].
pub(crate) fn learnt_by_pex(st: &mut TState, addr: SocketAddr, key: PeerKey, flags: u8) {
    if flags & FLAG_HOLEPUNCH != 0 {
        st.book.introduced(addr, key, flags);
    }
}
