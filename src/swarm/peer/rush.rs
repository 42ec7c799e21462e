//! Rushing the piece a stream reader waits for.
//!
//! When a reader's plan names an `Urgent` piece with blocks nobody has been
//! asked for (a seek, or playback that outran its window), two things
//! besides the transfer itself stand between that piece and the reader:
//!
//! - every peer's request queue is full of ordinary blocks (about a second
//!   of transfer at its rate, see `pipeline.rs`), and a peer serves
//!   requests in order, so a new request waits behind all of them;
//! - [`super::fill`] gives a piece's blocks to whichever peer is topped up
//!   first, so one peer may get all of it while the others idle on it.
//!
//! [`rush`] therefore first cancels, at every unchoked peer that has an
//! urgent piece, its queued requests of `Normal` pieces except the oldest
//! [`KEEP_QUEUED`] (likely on the wire already); the picker gets those
//! blocks back and hands them out again later. Then it gives out the urgent
//! pieces' blocks in turns of [`TURN_BLOCKS`] per peer, so every peer that
//! has them works on them at once. The ordinary top-up that follows queues
//! other work behind them. A cancelled block that still arrives is
//! accepted as usual (`PeerState::cancelled`).
//!
//! Nothing is cancelled while the store has no RAM to start a piece: the
//! pieces in flight must then finish first, and cancelling their blocks
//! would only delay that.

use std::collections::HashSet;
use std::time::Instant;

use crate::swarm::picker::{Block, PeerKey};
use crate::swarm::torrent::TState;
use crate::wire::Message;

/// Requests left queued at a peer when its ordinary ones are cancelled.
const KEEP_QUEUED: usize = 4;
/// Urgent blocks given to one peer per turn.
const TURN_BLOCKS: usize = 4;
/// Stop cancelling at a peer with this many cancelled blocks still
/// possibly on their way (their late arrival must stay acceptable; the
/// peer state remembers up to 512).
const MAX_CANCELLED: usize = 256;
/// Upper bound on turns (a piece of 64 MiB has 4096 blocks).
const MAX_TURNS: usize = 1024;

/// Make room for, and spread, the urgent pieces' unrequested blocks.
/// Call after priorities changed, before the ordinary top-up.
pub(crate) fn rush(st: &mut TState) {
    let TState { peers, data, .. } = st;
    let Some(d) = data.as_mut() else { return };
    let urgent = d.picker.urgent_unrequested();
    if urgent.is_empty() || !d.store.can_start_piece() {
        return;
    }
    let mut keys: Vec<PeerKey> = peers
        .iter()
        .filter(|(_, p)| !p.closing && p.am_interested && !p.peer_choking)
        .filter(|(_, p)| {
            p.has
                .known()
                .is_some_and(|h| urgent.iter().any(|&u| h.get(u)))
        })
        .map(|(&k, _)| k)
        .collect();
    keys.sort_unstable();
    for &key in &keys {
        let Some(p) = peers.get_mut(&key) else {
            continue;
        };
        let room = MAX_CANCELLED.saturating_sub(p.cancelled.len());
        let victims: Vec<Block> = p
            .requests
            .iter()
            .skip(KEEP_QUEUED)
            .map(|&(b, _)| b)
            .filter(|b| d.picker.is_background(b.piece))
            .take(room)
            .collect();
        if victims.is_empty() {
            continue;
        }
        let gone: HashSet<Block> = victims.iter().copied().collect();
        p.requests.retain(|(b, _)| !gone.contains(b));
        for b in victims {
            p.send(&Message::Cancel {
                index: b.piece,
                begin: b.begin,
                length: b.len,
            });
            p.note_cancelled(b);
            d.picker.request_failed(key, b);
        }
    }
    let mut out: Vec<Block> = Vec::new();
    for _ in 0..MAX_TURNS {
        let mut gave = false;
        for &key in &keys {
            let Some(p) = peers.get_mut(&key) else {
                continue;
            };
            let limit = p.pipeline.limit(p.ext.reqq) as usize;
            let room = limit.saturating_sub(p.requests.len()).min(TURN_BLOCKS);
            let Some(has) = p.has.known() else { continue };
            if room == 0 {
                continue;
            }
            out.clear();
            let may_start = d.store.can_start_piece();
            d.picker.pick(key, has, room, may_start, &mut out);
            let now = Instant::now();
            for &b in &out {
                gave = true;
                p.requests.push_back((b, now));
                p.send(&Message::Request {
                    index: b.piece,
                    begin: b.begin,
                    length: b.len,
                });
            }
        }
        if !gave || d.picker.urgent_unrequested().is_empty() {
            break;
        }
    }
}
