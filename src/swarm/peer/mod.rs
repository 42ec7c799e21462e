//! One peer connection: the handshake, then two loops sharing the socket
//! ([`link`]: plaintext or RC4 after MSE/PE) —
//! a reader that decodes frames and hands each message to [`handle`], and
//! a writer that sends queued messages and serves upload requests. When
//! either ends (error, close, or [`PeerState::close`]) the session removes
//! the peer from its torrent. A wire error only ends that peer's session,
//! with a debug log.

mod frames;
mod handle;
pub(crate) mod hp_state;
pub(crate) mod link;
pub(crate) mod pex_state;
pub(crate) mod pipeline;
pub(crate) mod state;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{debug, info};
use smol::channel::Receiver;
use smol::io::{AsyncReadExt, AsyncWriteExt};

pub use link::Encryption;
pub(crate) use link::{is_plain_start, Link, SNIFF_LEN};
pub(crate) use state::{Asked, PeerState};

use super::ctx::{timeout, ConnSlot};
use super::state::{piece_count, Batch, TState};
use super::torrent::Torrent;
use super::upload;
use crate::crypto::rc4::Rc4;
use crate::utp::PeerStream;
use crate::wire::handshake::HANDSHAKE_LEN;
use crate::wire::metadata::MAX_METADATA_SIZE;
use crate::wire::{ExtHandshake, Handshake, Message};

/// A write that makes no progress for this long drops the peer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connect plus handshake must finish within this.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Read the peer's 68-byte handshake.
pub(crate) async fn read_handshake(link: &mut Link) -> Result<Handshake, String> {
    let mut buf = [0u8; HANDSHAKE_LEN];
    link.read_exact(&mut buf)
        .await
        .map_err(|e| format!("reading handshake: {e}"))?;
    Handshake::parse(&buf).map_err(|e| e.to_string())
}

/// Send our handshake for `info_hash`.
pub(crate) async fn send_handshake(
    link: &mut Link,
    info_hash: [u8; 20],
    peer_id: [u8; 20],
) -> Result<(), String> {
    link.write_all(&Handshake::new(info_hash, peer_id).encode())
        .await
        .map_err(|e| format!("sending handshake: {e}"))
}

/// Run a connection whose handshakes are done, until it ends; then, if the
/// peer was removed and the torrent runs on, call `then` (the connector's
/// `connect_more`, to dial a replacement).
pub(crate) async fn run(
    t: Rc<Torrent>,
    link: Link,
    addr: SocketAddr,
    remote: Handshake,
    outgoing: bool,
    _slot: ConnSlot,
    then: fn(&Rc<Torrent>),
) {
    let encrypted = link.is_encrypted();
    let utp = link.sock.is_utp();
    let transport = if utp { "uTP" } else { "TCP" };
    let Link {
        sock,
        tx,
        rx,
        pending,
    } = link;
    let sock = Rc::new(sock);
    let (kick_tx, kick_rx) = smol::channel::bounded(1);
    let key = t.ctx.new_peer_key();
    {
        let mut st = t.st.borrow_mut();
        if let Err(why) = admit(&t, &st, &remote, addr) {
            debug!("{addr}: not keeping the connection: {why}");
            if outgoing && remote.peer_id == t.ctx.peer_id {
                st.book.forget(addr);
            } else if outgoing {
                st.book.closed(addr, Instant::now(), false);
            }
            return;
        }
        let n = st.info().map(|i| piece_count(i));
        let mut p = PeerState::new(
            key,
            addr,
            outgoing,
            remote.peer_id,
            sock.clone(),
            kick_tx,
            n,
        );
        p.fast = remote.supports_fast();
        p.extended = remote.supports_extensions();
        p.encrypted = encrypted;
        p.utp = utp;
        if utp && !outgoing && st.book.punched(&addr, Instant::now()) {
            info!(
                "{}: {addr}: holepunched uTP connection (incoming, after a relay's connect)",
                st.name
            );
        }
        greet(&t, &st, &mut p);
        st.add_peer(p);
    }
    debug!(
        "{addr}: connected ({}, {}) over {transport}",
        if outgoing { "outgoing" } else { "incoming" },
        if encrypted { "RC4" } else { "plaintext" }
    );
    let why = smol::future::or(
        reader(&t, key, &sock, rx, &pending),
        writer(&t, key, &sock, kick_rx, tx),
    )
    .await;
    debug!("{addr}: disconnected: {why}");
    if handle::remove_peer(&t, key) && !t.is_stopped() {
        then(&t);
    }
}

/// Whether to keep a new connection.
fn admit(
    t: &Torrent,
    st: &TState,
    remote: &Handshake,
    addr: SocketAddr,
) -> Result<(), &'static str> {
    if st.is_stopped() || st.phase().is_done() && !t.opts.seed {
        return Err("torrent is not active");
    }
    if remote.peer_id == t.ctx.peer_id {
        return Err("connected to ourselves");
    }
    if t.ctx.is_banned(addr.ip()) {
        return Err("peer is banned");
    }
    if st.peers.len() >= t.ctx.board.max_peers_per_torrent.max(1) as usize {
        return Err("peer limit reached");
    }
    if st.peers.values().any(|p| p.peer_id == remote.peer_id) {
        return Err("already connected to this peer id");
    }
    Ok(())
}

/// First messages: extension handshake, then what we have.
fn greet(t: &Torrent, st: &TState, p: &mut PeerState) {
    if p.extended {
        let size = st
            .info_bytes()
            .and_then(|b| u32::try_from(b.len()).ok())
            .filter(|&s| s > 0 && s <= MAX_METADATA_SIZE);
        let pex = t.ctx.pex && !st.is_private();
        // Not for private torrents: peers come from their tracker only.
        let holepunch = crate::swarm::holepunch::enabled(&t.ctx) && !st.is_private();
        let hs = ExtHandshake::ours(size, Some(t.ctx.listen.port()), pex, holepunch);
        p.send(&Message::Extended {
            id: 0,
            payload: hs.encode(),
        });
    }
    match st.data() {
        Some(d) if d.have.count() > 0 => {
            if d.have.is_full() && p.fast {
                p.send(&Message::HaveAll);
            } else {
                p.send(&Message::Bitfield(d.have.as_bytes().to_vec()));
            }
        }
        _ => {
            if p.fast {
                p.send(&Message::HaveNone);
            }
        }
    }
}

async fn reader(
    t: &Rc<Torrent>,
    key: u64,
    sock: &PeerStream,
    mut rx: Option<Rc4>,
    pending: &[u8],
) -> String {
    let mut buf = frames::RecvBuf::new();
    buf.preload(pending);
    let mut s = sock;
    loop {
        loop {
            let handled = match buf.next_frame() {
                Ok(Some(frames::Frame::Piece { index, begin, data })) => {
                    handle::on_piece(t, key, index, begin, data)
                }
                Ok(Some(frames::Frame::Other(msg))) => handle::on_message(t, key, msg),
                Ok(None) => break,
                Err(e) => return e.to_string(),
            };
            if let Err(why) = handled {
                return why;
            }
        }
        let room = buf.spare();
        let n = match s.read(room).await {
            Ok(0) => return "closed by peer".into(),
            Ok(n) => n,
            Err(e) => return format!("read: {e}"),
        };
        if let (Some(rx), Some(got)) = (rx.as_mut(), room.get_mut(..n)) {
            rx.apply(got);
        }
        buf.filled(n);
    }
}

enum Job {
    Send(Vec<u8>),
    Upload(Batch),
    Wait,
}

async fn writer(
    t: &Rc<Torrent>,
    key: u64,
    sock: &PeerStream,
    kick: Receiver<()>,
    mut tx: Option<Rc4>,
) -> String {
    let mut s = sock;
    loop {
        let job = {
            let mut st = t.st.borrow_mut();
            let Some(p) = st.peers.get_mut(&key) else {
                return "removed".into();
            };
            if p.closing {
                return "closing".into();
            }
            let out = p.take_outbox();
            if !out.is_empty() {
                Job::Send(out)
            } else {
                match st.take_batch(key) {
                    Some(batch) => Job::Upload(batch),
                    None => Job::Wait,
                }
            }
        };
        let (mut frames, payload) = match job {
            Job::Send(b) => (b, 0),
            Job::Upload(batch) => match upload::read_batch(t, batch).await {
                Ok(x) => x,
                Err(why) => return why,
            },
            Job::Wait => {
                if kick.recv().await.is_err() {
                    return "removed".into();
                }
                continue;
            }
        };
        if let Some(tx) = tx.as_mut() {
            tx.apply(&mut frames);
        }
        match timeout(WRITE_TIMEOUT, s.write_all(&frames)).await {
            None => return "write timed out".into(),
            Some(Err(e)) => return format!("write: {e}"),
            Some(Ok(())) => {}
        }
        let mut st = t.st.borrow_mut();
        if payload > 0 {
            st.counters.uploaded = st.counters.uploaded.saturating_add(payload);
            st.counters.up.add(payload);
        }
        if let Some(p) = st.peers.get_mut(&key) {
            p.last_send = Instant::now();
            p.up.add(payload);
            p.period_up = p.period_up.saturating_add(payload);
        }
    }
}
