//! Reacting to a peer's messages: each goes to the `TState` method that
//! owns what it changes (`state/peers.rs`, `state/upload.rs`), or to the
//! data path (`pieces.rs`) and BEP 9 (`metadata.rs`); plus the extension
//! handshake, and removing a peer when its session ends.
//!
//! Everything here is synchronous and runs with the torrent's state
//! borrowed (see `state/mod.rs`); work that must wait (hashing, disk) is
//! spawned as its own task.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use log::debug;

use crate::swarm::picker::{Block, PeerKey};
use crate::swarm::state::TState;
use crate::swarm::torrent::Torrent;
use crate::swarm::{metadata, pieces};
use crate::wire::extension::UT_METADATA_ID;
use crate::wire::{ExtHandshake, Message};

/// Handle one message; `Err` ends the session with that reason.
pub(crate) fn on_message(t: &Rc<Torrent>, key: PeerKey, msg: Message) -> Result<(), String> {
    let mut guard = t.st.borrow_mut();
    let st = &mut *guard;
    let Some(p) = st.peers.get_mut(&key) else {
        return Err("removed".into());
    };
    if p.closing {
        return Err("closing".into());
    }
    p.last_recv = Instant::now();
    let fast = p.fast;
    match msg {
        Message::KeepAlive | Message::Port(_) | Message::Suggest(_) => {}
        Message::Choke => st.on_choke(key),
        Message::Unchoke => {
            p.peer_choking = false;
            st.fill(key);
        }
        Message::Interested => {
            p.peer_interested = true;
            st.on_interested(t.ctx.now_ms());
        }
        Message::NotInterested => p.peer_interested = false,
        Message::Have(i) => st.on_have(key, i)?,
        Message::Bitfield(bytes) => st.on_bitfield(key, bytes)?,
        Message::HaveAll if fast => st.on_have_all(key),
        Message::HaveNone if fast => {}
        Message::Request {
            index,
            begin,
            length,
        } => st.on_request(
            key,
            Block {
                piece: index,
                begin,
                len: length,
            },
        )?,
        Message::Cancel {
            index,
            begin,
            length,
        } => st.on_cancel(
            key,
            Block {
                piece: index,
                begin,
                len: length,
            },
        ),
        Message::Piece { index, begin, data } => pieces::on_block(t, st, key, index, begin, &data)?,
        Message::Reject {
            index,
            begin,
            length,
        } if fast => st.on_reject(
            key,
            Block {
                piece: index,
                begin,
                len: length,
            },
        ),
        Message::AllowedFast(i) if fast => {
            p.add_allowed_fast(i);
            st.fill(key);
        }
        Message::Extended { id: 0, payload } if p.extended => on_ext_handshake(st, key, &payload),
        Message::Extended {
            id: UT_METADATA_ID,
            payload,
        } if p.extended => metadata::on_message(t, st, key, &payload),
        Message::Extended {
            id: crate::wire::pex::UT_PEX_ID,
            payload,
        } if p.extended => crate::swarm::pex::on_message(t, st, key, &payload),
        Message::Extended {
            id: crate::wire::holepunch::UT_HOLEPUNCH_ID,
            payload,
        } if p.extended => crate::swarm::holepunch::on_message(t, st, key, &payload),
        Message::Extended { .. } => {}
        other => return Err(format!("{other:?} without the fast extension")),
    }
    Ok(())
}

/// Handle one block (the reader's short path: the data is borrowed from
/// its receive buffer); `Err` ends the session with that reason.
pub(crate) fn on_piece(
    t: &Rc<Torrent>,
    key: PeerKey,
    index: u32,
    begin: u32,
    data: &[u8],
) -> Result<(), String> {
    let mut guard = t.st.borrow_mut();
    let st = &mut *guard;
    let Some(p) = st.peers.get_mut(&key) else {
        return Err("removed".into());
    };
    if p.closing {
        return Err("closing".into());
    }
    p.last_recv = Instant::now();
    pieces::on_block(t, st, key, index, begin, data)
}

fn on_ext_handshake(st: &mut TState, key: PeerKey, payload: &[u8]) {
    let Some(p) = st.peers.get_mut(&key) else {
        return;
    };
    match ExtHandshake::parse(payload) {
        Ok(hs) => {
            let listen = hs
                .listen_port
                .map(|port| SocketAddr::new(p.addr.ip(), port));
            let outgoing = p.outgoing;
            p.ext = hs;
            if let (false, Some(a)) = (outgoing, listen) {
                st.book.incoming(a);
            }
            st.request_metadata();
        }
        Err(e) => debug!("{}: ignoring its extension handshake: {e}", p.addr),
    }
}

/// The session ended: forget the peer everywhere. Whether it was removed
/// (the caller may then dial another).
pub(crate) fn remove_peer(t: &Rc<Torrent>, key: PeerKey) -> bool {
    let Ok(mut st) = t.st.try_borrow_mut() else {
        return false;
    };
    st.remove_peer(key)
}
