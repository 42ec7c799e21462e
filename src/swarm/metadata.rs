//! BEP 9: fetching a magnet's `info` dictionary from peers, and serving
//! ours to peers that ask.
//!
//! We fetch the whole dictionary from one peer at a time (it is small:
//! 16 KiB pieces, at most `MAX_METADATA_SIZE`), so a mismatch against the
//! info hash blames exactly that peer. The peer must advertise
//! `ut_metadata` and `metadata_size` in its extension handshake. A reject,
//! a stall of [`STALL_TIMEOUT`], a disconnect or a hash mismatch moves on to
//! the next peer; a peer that failed once is not asked again. The SHA-1
//! check and the parse run on the blocking pool.

use std::rc::Rc;
use std::time::Instant;

use log::{debug, warn};

use super::picker::PeerKey;
use super::state::TState;
use super::torrent::Torrent;
use crate::torrent::{Info, InfoHash};
use crate::wire::MetadataMsg;

/// A ut_metadata message from a peer.
pub(crate) fn on_message(t: &Rc<Torrent>, st: &mut TState, key: PeerKey, payload: &[u8]) {
    let Some(addr) = st.peer_addr(key) else {
        return;
    };
    let msg = match MetadataMsg::parse(payload) {
        Ok(m) => m,
        Err(e) => {
            debug!("{addr}: ignoring ut_metadata message: {e}");
            return;
        }
    };
    match msg {
        MetadataMsg::Request { piece } => st.serve_metadata(key, piece),
        MetadataMsg::Reject { .. } => {
            if st.metadata_rejected(key) {
                debug!("{addr}: rejected our metadata request");
            }
        }
        MetadataMsg::Data {
            piece,
            total_size,
            data,
        } => match st.metadata_data(key, piece, total_size, data, Instant::now()) {
            Ok(None) => {}
            Ok(Some(bytes)) => {
                let t2 = t.clone();
                t.ctx
                    .spawn(async move { check_and_use(t2, key, addr, bytes).await });
            }
            Err(why) => debug!("{addr}: bad metadata piece: {why}"),
        },
    }
}

/// Hash-check an assembled dictionary off the network thread; use it or
/// blame its source and try the next peer.
async fn check_and_use(t: Rc<Torrent>, key: PeerKey, addr: std::net::SocketAddr, bytes: Vec<u8>) {
    let id = t.id;
    let checked = t
        .ctx
        .blocking(move || {
            if InfoHash::of_info_bytes(&bytes) != id {
                return None;
            }
            Some((Info::from_bytes(&bytes), bytes))
        })
        .await;
    match checked {
        Some((Ok(info), bytes)) => t.metadata_ready(info, bytes).await,
        Some((Err(e), _)) => t.fail(format!("the torrent's metadata is not valid: {e}")),
        None => {
            warn!("{id}: metadata from {addr} does not match the info hash; trying another peer");
            t.st.borrow_mut().metadata_mismatch(key);
        }
    }
}
