//! Uploading: queueing peers' requests (bounded), reading the blocks on the
//! blocking pool for the peer's writer, and applying the choker's
//! decisions every 10 s (and soon after a new peer becomes interested, so
//! a fresh leecher does not wait a whole round for its first unchoke).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::choker::{ChokeChange, ChokerConfig, PeerStats};
use super::ctx::Ctx;
use super::picker::{Block, PeerKey};
use super::torrent::{TState, Torrent};
use crate::store::{PieceStore, StoreError};
use crate::swarm::stats::TorrentState;
use crate::wire::extension::OUR_REQQ;
use crate::wire::message::MAX_REQUEST_LEN;
use crate::wire::Message;

/// Blocks read from the store per trip to the blocking pool.
const BATCH_BLOCKS: usize = 8;

/// Blocks to read and send to one peer.
pub(crate) struct Batch {
    store: Arc<PieceStore>,
    blocks: Vec<Block>,
}

/// The peer asked for a block.
pub(crate) fn on_request(st: &mut TState, key: PeerKey, b: Block) -> Result<(), String> {
    let TState { peers, data, .. } = st;
    let Some(p) = peers.get_mut(&key) else {
        return Ok(());
    };
    let valid = data.as_ref().is_some_and(|d| {
        d.have.get(b.piece)
            // The store's own bit: the stream-mode disk cache clears it at
            // eviction, before the engine's tick catches up.
            && d.store.has_piece(b.piece)
            && b.len > 0
            && b.len <= MAX_REQUEST_LEN
            && b.begin
                .checked_add(b.len)
                .is_some_and(|end| end <= d.store.layout().piece_size(b.piece))
    });
    let full = p.uploads.len() >= OUR_REQQ as usize;
    if p.am_choking || !valid || full {
        if p.fast {
            p.send(&Message::Reject {
                index: b.piece,
                begin: b.begin,
                length: b.len,
            });
        }
        return Ok(());
    }
    if !p.uploads.contains(&b) {
        p.uploads.push_back(b);
        p.kick();
    }
    Ok(())
}

/// The peer no longer wants a block (if we have not read it yet).
pub(crate) fn on_cancel(st: &mut TState, key: PeerKey, b: Block) {
    if let Some(p) = st.peers.get_mut(&key) {
        p.uploads.retain(|x| *x != b);
    }
}

/// The next blocks to serve to `key`, if any.
pub(crate) fn take_batch(st: &mut TState, key: PeerKey) -> Option<Batch> {
    let TState { peers, data, .. } = st;
    let d = data.as_ref()?;
    let p = peers.get_mut(&key)?;
    if p.am_choking || p.uploads.is_empty() {
        return None;
    }
    let n = p.uploads.len().min(BATCH_BLOCKS);
    Some(Batch {
        store: d.store.clone(),
        blocks: p.uploads.drain(..n).collect(),
    })
}

/// Read a batch on the blocking pool; the encoded `Piece` frames and
/// their payload bytes.
pub(crate) async fn read_batch(t: &Rc<Torrent>, batch: Batch) -> Result<(Vec<u8>, u64), String> {
    let Batch { store, blocks } = batch;
    let res = t
        .ctx
        .blocking(move || -> Result<(Vec<u8>, u64), StoreError> {
            let mut out = Vec::new();
            let mut bytes = 0u64;
            for b in blocks {
                let data = store.read(b.piece, b.begin, b.len)?;
                bytes += data.len() as u64;
                Message::Piece {
                    index: b.piece,
                    begin: b.begin,
                    data,
                }
                .encode(&mut out);
            }
            Ok((out, bytes))
        })
        .await;
    res.map_err(|e| format!("reading a block to upload: {e}"))
}

/// A peer became interested: if an upload slot is free, run the choker
/// now (without closing the period) so it need not wait a whole round.
pub(crate) fn on_interested(st: &mut TState, ctx: &Ctx) {
    let slots = ChokerConfig::default().regular_slots + 1;
    let unchoked = st.peers.values().filter(|p| !p.am_choking).count();
    if unchoked < slots {
        run_choker(st, ctx, Instant::now(), false);
    }
}

/// One choker round; a `regular` round (every 10 s) also closes the
/// measuring period.
pub(crate) fn run_choker(st: &mut TState, ctx: &Ctx, now: Instant, regular: bool) {
    if regular {
        st.last_choke = now;
    }
    let seeding = matches!(st.phase, TorrentState::Seeding | TorrentState::Complete);
    let stats: Vec<PeerStats> = st
        .peers
        .values()
        .filter(|p| !p.closing)
        .map(|p| PeerStats {
            peer: p.key,
            interested: p.peer_interested,
            downloaded: p.period_down,
            uploaded: p.period_up,
        })
        .collect();
    let changes = st.choker.tick(ctx.now_ms(), seeding, &stats);
    if regular {
        for p in st.peers.values_mut() {
            p.period_down = 0;
            p.period_up = 0;
        }
    }
    for c in changes {
        match c {
            ChokeChange::Choke(k) => {
                let Some(p) = st.peers.get_mut(&k) else {
                    continue;
                };
                if p.am_choking {
                    continue;
                }
                p.am_choking = true;
                p.send(&Message::Choke);
                let dropped: Vec<Block> = p.uploads.drain(..).collect();
                if p.fast {
                    for b in dropped {
                        p.send(&Message::Reject {
                            index: b.piece,
                            begin: b.begin,
                            length: b.len,
                        });
                    }
                }
            }
            ChokeChange::Unchoke(k) => {
                let Some(p) = st.peers.get_mut(&k) else {
                    continue;
                };
                if p.am_choking {
                    p.am_choking = false;
                    p.send(&Message::Unchoke);
                }
            }
        }
    }
}
