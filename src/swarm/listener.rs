//! Incoming connections: accept, tell plain BitTorrent from MSE/PE by the
//! first bytes (plain starts with 19, "BitTorrent protocol"), run the MSE
//! handshake when it is one (its SKEY names the torrent among ours), read
//! the peer's handshake, route it to the torrent with that info hash,
//! answer with ours, run the session. The policy refuses plaintext peers
//! (`require`) or MSE peers (`off`).

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use log::{debug, warn};
use smol::{Async, Timer};

use super::connect;
use super::ctx::{timeout, ConnSlot, Ctx};
use super::peer::{self, Encryption, Link, HANDSHAKE_TIMEOUT, SNIFF_LEN};
use super::torrent::Torrents;
use crate::torrent::InfoHash;
use crate::utp::{PeerStream, Utp};

/// Start accepting peers: on the TCP listener, and over uTP if it runs.
pub(crate) fn start(ctx: &Rc<Ctx>, torrents: &Rc<Torrents>, listener: Async<TcpListener>) {
    let (c, all) = (ctx.clone(), torrents.clone());
    ctx.spawn(async move { run(c, all, listener).await });
    if let Some(u) = ctx.utp.get() {
        let (c, all, u) = (ctx.clone(), torrents.clone(), u.clone());
        ctx.spawn(async move { run_utp(c, all, u).await });
    }
}

/// Accept until the engine stops (the task is dropped with the executor).
async fn run(ctx: Rc<Ctx>, torrents: Rc<Torrents>, listener: Async<TcpListener>) {
    loop {
        match listener.accept().await {
            Ok((sock, addr)) => {
                // On a dual-stack listener IPv4 peers come IPv4-mapped.
                let addr = crate::net::dual::canonical(addr);
                if ctx.is_banned(addr.ip()) {
                    debug!("{addr}: refusing banned peer");
                    continue;
                }
                if !ctx.has_connection_room() {
                    debug!("{addr}: refusing, connection limit reached");
                    continue;
                }
                let slot = ConnSlot::new(&ctx, true);
                let (c, all) = (ctx.clone(), torrents.clone());
                ctx.spawn(async move { incoming(c, all, PeerStream::Tcp(sock), addr, slot).await });
            }
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                warn!("accepting a peer connection: {e}");
                Timer::after(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Accept uTP connections like TCP ones (until the engine stops).
async fn run_utp(ctx: Rc<Ctx>, torrents: Rc<Torrents>, utp: Utp) {
    while let Some((sock, addr)) = utp.accept().await {
        if ctx.is_banned(addr.ip()) || !ctx.has_connection_room() {
            debug!("{addr}: refusing uTP peer (banned or connection limit reached)");
            continue;
        }
        let slot = ConnSlot::new(&ctx, true);
        let (c, all) = (ctx.clone(), torrents.clone());
        ctx.spawn(async move { incoming(c, all, PeerStream::Utp(sock), addr, slot).await });
    }
}

/// The peer's handshake, over MSE if it starts one.
async fn handshake(
    ctx: &Ctx,
    torrents: &Torrents,
    sock: PeerStream,
) -> Result<(Link, crate::wire::Handshake), String> {
    let mut first = [0u8; SNIFF_LEN];
    {
        use smol::io::AsyncReadExt;
        let mut s = &sock;
        s.read_exact(&mut first)
            .await
            .map_err(|e| format!("reading handshake: {e}"))?;
    }
    let policy = ctx.encryption;
    if peer::is_plain_start(&first) {
        if policy == Encryption::Require {
            return Err("plaintext peer refused (encryption = require)".into());
        }
        let mut link = Link::plain(sock, first.to_vec());
        let hs = peer::read_handshake(&mut link).await?;
        return Ok((link, hs));
    }
    if policy == Encryption::Off {
        return Err("not a BitTorrent handshake (MSE is off)".into());
    }
    let skeys: Vec<[u8; 20]> = torrents.ids().iter().map(|k| k.0).collect();
    let (skey, mut link) = peer::link::accept(sock, &first, skeys, policy).await?;
    let hs = peer::read_handshake(&mut link).await?;
    if hs.info_hash != skey {
        return Err("MSE SKEY and handshake name different torrents".into());
    }
    Ok((link, hs))
}

async fn incoming(
    ctx: Rc<Ctx>,
    torrents: Rc<Torrents>,
    sock: PeerStream,
    addr: SocketAddr,
    mut slot: ConnSlot,
) {
    let (mut link, hs) = match timeout(HANDSHAKE_TIMEOUT, handshake(&ctx, &torrents, sock)).await {
        Some(Ok(x)) => x,
        Some(Err(e)) => {
            debug!("{addr}: {e}");
            return;
        }
        None => {
            debug!("{addr}: handshake timed out");
            return;
        }
    };
    let id = InfoHash(hs.info_hash);
    let torrent = torrents.get(&id);
    let Some(t) = torrent else {
        debug!("{addr}: asked for unknown torrent {id}");
        return;
    };
    if t.is_stopped() {
        return;
    }
    match timeout(
        HANDSHAKE_TIMEOUT,
        peer::send_handshake(&mut link, id.0, ctx.peer_id),
    )
    .await
    {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            debug!("{addr}: {e}");
            return;
        }
        None => return,
    }
    slot.established();
    peer::run(t, link, addr, hs, false, slot, connect::connect_more).await;
}
