//! Outgoing connections: the connector that opens new connections
//! within the limits (half-open count, per-torrent and total peers), from
//! the torrent's address book (`state/addrbook.rs`: sources, back-off,
//! which addresses are dialled with MSE/PE first); and the uTP dial a
//! holepunch relay asks for (`holepunch.rs`).

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use log::{debug, info};

use super::ctx::Ctx;
use super::ctx::{timeout, ConnSlot, MAX_HALF_OPEN};
use super::peer::{self, Encryption, Link, HANDSHAKE_TIMEOUT};
use super::state::TState;
use super::stats::{PeerSource, TorrentState};
use super::torrent::Torrent;

/// How many more dials the limits allow now (0 when the torrent is not
/// active): half-open count, per-torrent and total peers.
fn room(ctx: &Ctx, st: &TState) -> usize {
    let active = matches!(
        st.phase(),
        TorrentState::FetchingMetadata | TorrentState::Downloading | TorrentState::Seeding
    );
    if st.is_stopped() || !active {
        return 0;
    }
    let per_torrent = ctx.board.max_peers_per_torrent.max(1) as usize;
    let used = st.peers_and_dials();
    let global = ctx
        .board
        .max_connections
        .max(1)
        .saturating_sub(ctx.connections.get());
    let half_open = MAX_HALF_OPEN.saturating_sub(ctx.half_open.get());
    per_torrent
        .saturating_sub(used)
        .min(global as usize)
        .min(half_open as usize)
}

/// Open connections while the limits allow.
pub(crate) fn connect_more(t: &Rc<Torrent>) {
    let ctx = &t.ctx;
    let addrs = {
        let mut st = t.st.borrow_mut();
        let n = room(ctx, &st);
        if n == 0 {
            return;
        }
        let own = |a: &SocketAddr| ctx.is_banned(a.ip()) || ctx.is_own(a);
        let addrs = st.book.candidates(std::time::Instant::now(), n, own);
        for a in &addrs {
            st.book.set_busy(*a);
        }
        st.dials_started(addrs.len());
        addrs
    };
    for a in addrs {
        let slot = ConnSlot::new(ctx, true);
        let t2 = t.clone();
        let (mse, tcp) = {
            let st = t.st.borrow();
            (st.book.use_mse(&a, ctx.encryption), st.book.use_tcp(&a))
        };
        ctx.spawn(async move { connect_out(t2, a, slot, mse, tcp, None).await });
    }
}

/// A holepunch relay (`relay`) says: dial `addr` over uTP now. Within the
/// limits, never to an address we are connected to or dialling, ours or
/// a banned one; the address goes into the book (source `pex`).
pub(crate) fn holepunch_dial(t: &Rc<Torrent>, addr: SocketAddr, relay: SocketAddr) {
    let ctx = &t.ctx;
    let addr = crate::net::dual::canonical(addr);
    {
        let mut st = t.st.borrow_mut();
        let why_not = if room(ctx, &st) == 0 {
            Some("no room within the connection limits")
        } else if ctx.is_banned(addr.ip()) || ctx.is_own(&addr) || addr.port() == 0 {
            Some("banned, ours or port 0")
        } else if st.book.is_busy(&addr)
            || st.peers.values().any(|p| super::holepunch::is_at(p, addr))
        {
            Some("already connected or dialling")
        } else {
            None
        };
        if let Some(why) = why_not {
            debug!("{addr}: not dialling for {relay}'s holepunch connect: {why}");
            return;
        }
        st.book.add_from(addr, PeerSource::Pex, Instant::now());
        st.book.set_busy(addr);
        st.dials_started(1);
    }
    let slot = ConnSlot::new(ctx, true);
    let mse = t.st.borrow().book.use_mse(&addr, ctx.encryption);
    let t2 = t.clone();
    ctx.spawn(async move { connect_out(t2, addr, slot, mse, false, Some(relay)).await });
}

/// Dial `addr` (TCP too if `tcp`), with an MSE handshake first if `mse`;
/// `relay`: a holepunch dial that peer asked for (uTP only).
async fn connect_out(
    t: Rc<Torrent>,
    addr: SocketAddr,
    mut slot: ConnSlot,
    mse: bool,
    tcp: bool,
    relay: Option<SocketAddr>,
) {
    let local = t.ctx.local_ip;
    let (ih, pid) = (t.id.0, t.ctx.peer_id);
    let policy = t.ctx.encryption;
    let connected = std::cell::Cell::new(false);
    let over_tcp = std::cell::Cell::new(false);
    let res = timeout(HANDSHAKE_TIMEOUT, async {
        let sock = crate::utp::dial::dial(t.ctx.utp.get(), addr, local, tcp)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        connected.set(true);
        over_tcp.set(matches!(sock, crate::utp::PeerStream::Tcp(_)));
        let mut link = if mse {
            let ours = crate::wire::Handshake::new(ih, pid).encode();
            peer::link::connect(sock, ih, &ours, policy).await?
        } else {
            let mut link = Link::plain(sock, Vec::new());
            peer::send_handshake(&mut link, ih, pid).await?;
            link
        };
        let hs = peer::read_handshake(&mut link).await?;
        if hs.info_hash != ih {
            return Err("handshake for another torrent".to_string());
        }
        Ok((link, hs))
    })
    .await;
    {
        let mut st = t.st.borrow_mut();
        st.dial_ended();
    }
    let (link, hs) = match res {
        Some(Ok(x)) => x,
        Some(Err(e)) => {
            debug!("{addr}: {e}");
            let plain_tcp = !mse && over_tcp.get();
            attempt_failed(&t, addr, mse && connected.get(), plain_tcp, relay);
            return;
        }
        None => {
            debug!("{addr}: connect or handshake timed out");
            attempt_failed(&t, addr, mse && connected.get(), false, relay);
            return;
        }
    };
    if let Some(r) = relay {
        info!(
            "{}: {addr}: holepunched uTP connection (outgoing, relayed by {r})",
            t.st.borrow().name
        );
    }
    slot.established();
    peer::run(t, link, addr, hs, true, slot, connect_more).await;
}

/// Book-keeping for a failed attempt; `mse_handshake`: an MSE handshake
/// failed on a connected socket; `plain_tcp`: a plain handshake failed on
/// a connected TCP socket (a uTP-only peer's TCP listener hangs up: try
/// uTP alone next); `relay`: it was a holepunch dial (a failed one asks
/// for no other rendezvous), else a peer that told us of `addr` may be
/// asked for one.
fn attempt_failed(
    t: &Rc<Torrent>,
    addr: SocketAddr,
    mse_handshake: bool,
    plain_tcp: bool,
    relay: Option<SocketAddr>,
) {
    let now = Instant::now();
    let prefer = t.ctx.encryption == Encryption::Prefer;
    let utp_only = plain_tcp && t.ctx.utp.get().is_some();
    {
        let mut st = t.st.borrow_mut();
        if let Some(r) = relay {
            debug!("{addr}: the holepunch dial {r} asked for failed (why: the line above)");
        } else if !mse_handshake {
            let via = st.book.introducer(&addr);
            super::holepunch::after_failed_dial(&t.ctx, &mut st, addr, via);
        }
        if mse_handshake && prefer {
            debug!("{addr}: MSE failed, trying plain BitTorrent next");
            st.book.mse_failed(&addr, now);
        } else if utp_only {
            debug!("{addr}: the TCP handshake failed, trying uTP alone next");
            st.book.tcp_handshake_failed(&addr, now);
        } else {
            st.book.failed(addr, now);
        }
    }
    if (mse_handshake && prefer) || utp_only {
        connect_more(t);
    }
}
