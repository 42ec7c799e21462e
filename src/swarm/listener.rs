//! Incoming connections: accept, read the peer's handshake, route it to
//! the torrent with that info hash, answer with ours, run the session.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use log::{debug, warn};
use smol::{Async, Timer};

use super::ctx::{timeout, ConnSlot, Ctx};
use super::peer::{self, HANDSHAKE_TIMEOUT};
use crate::torrent::InfoHash;

/// Accept until the engine stops (the task is dropped with the executor).
pub(crate) async fn run(ctx: Rc<Ctx>, listener: Async<TcpListener>) {
    loop {
        match listener.accept().await {
            Ok((sock, addr)) => {
                if ctx.is_banned(addr.ip()) {
                    debug!("{addr}: refusing banned peer");
                    continue;
                }
                if !ctx.has_connection_room() {
                    debug!("{addr}: refusing, connection limit reached");
                    continue;
                }
                let slot = ConnSlot::new(&ctx, true);
                let c = ctx.clone();
                ctx.spawn(async move { incoming(c, sock, addr, slot).await });
            }
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                warn!("accepting a peer connection: {e}");
                Timer::after(Duration::from_millis(200)).await;
            }
        }
    }
}

async fn incoming(ctx: Rc<Ctx>, sock: Async<TcpStream>, addr: SocketAddr, mut slot: ConnSlot) {
    let hs = match timeout(HANDSHAKE_TIMEOUT, peer::read_handshake(&sock)).await {
        Some(Ok(hs)) => hs,
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
    let torrent = ctx.torrents.borrow().get(&id).cloned();
    let Some(t) = torrent else {
        debug!("{addr}: asked for unknown torrent {id}");
        return;
    };
    if t.is_stopped() {
        return;
    }
    match timeout(
        HANDSHAKE_TIMEOUT,
        peer::send_handshake(&sock, id.0, ctx.peer_id),
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
    peer::run(t, sock, addr, hs, false, slot).await;
}
