//! The data path's state: a received block goes to the store and is
//! cancelled at the other peers that were asked for it (endgame); a
//! verdict updates the verified set, the picker and the peers. The hashing
//! itself, and what a verdict means for blame and bans, are `pieces.rs`'s.
//!
//! Invariants kept here: a block leaves a peer's `requests` and the
//! picker's outstanding set together; `data.have`, `data.done_bytes` and
//! the picker's verified set change together; a complete piece enters
//! `verifying` and `verify_queue` once.

use std::time::Instant;

use log::debug;

use super::TState;
use crate::store::BlockOutcome;
use crate::swarm::peer::Asked;
use crate::swarm::picker::{Block, PeerKey};
use crate::swarm::waste::{CancelCause, Fate};
use crate::wire::Message;

/// Unrequested blocks tolerated from one peer before dropping it.
const MAX_UNSOLICITED: u32 = 64;

/// What became of a received block.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Not taken: the peer is gone, did not ask for it (tolerated up to
    /// `MAX_UNSOLICITED`), or the store is not open.
    Ignored,
    /// Stored (or a duplicate, or no room: asked for again later).
    Taken,
    /// It completed its piece, now queued for verification.
    PieceQueued,
}

impl TState {
    /// A `Piece` message from `key`; `Err` ends the session.
    pub(crate) fn on_block(
        &mut self,
        key: PeerKey,
        piece: u32,
        begin: u32,
        data: &[u8],
    ) -> Result<Received, String> {
        let len = u32::try_from(data.len()).map_err(|_| "oversized block".to_string())?;
        let block = Block { piece, begin, len };
        let TState {
            peers,
            data: tdata,
            blame,
            verify,
            counters,
            ..
        } = self;
        let Some(p) = peers.get_mut(&key) else {
            return Ok(Received::Ignored);
        };
        let Some(asked) = p.take_request(&block) else {
            p.unsolicited += 1;
            debug!("{}: unrequested block {piece}+{begin}", p.addr);
            if p.unsolicited > MAX_UNSOLICITED {
                return Err("too many unrequested blocks".into());
            }
            return Ok(Received::Ignored);
        };
        let now = Instant::now();
        p.pipeline.on_block(now, p.ext.reqq);
        p.down.add(u64::from(len));
        p.period_down = p.period_down.saturating_add(u64::from(len));
        counters.down.add(u64::from(len));
        let from = p.addr;
        let Some(d) = tdata.as_mut() else {
            return Ok(Received::Ignored);
        };
        let outcome = match d.store.put_block(piece, begin, data) {
            Ok(o) => o,
            Err(e) => {
                d.picker.request_failed(key, block);
                return Err(format!("block {piece}+{begin}: {e}"));
            }
        };
        let fate = match outcome {
            BlockOutcome::Stored | BlockOutcome::PieceReady => Fate::Kept,
            BlockOutcome::Duplicate => Fate::Copy,
            BlockOutcome::NoRoom => Fate::NoRoom,
        };
        let cancelled = match asked {
            Asked::Cancelled(cause) => Some(cause),
            Asked::Live => None,
        };
        counters.waste.arrived(cancelled, len, fate);
        match outcome {
            BlockOutcome::NoRoom => d.picker.request_failed(key, block),
            BlockOutcome::Stored | BlockOutcome::PieceReady | BlockOutcome::Duplicate => {
                if fate == Fate::Kept {
                    blame.record(piece, begin, from);
                }
                for other in d.picker.block_received(key, block) {
                    if let Some(o) = peers.get_mut(&other) {
                        if o.take_request(&block).is_some() {
                            o.send(&Message::Cancel {
                                index: piece,
                                begin,
                                length: len,
                            });
                            o.note_cancelled(block, CancelCause::Copy);
                            counters.waste.cancelled(CancelCause::Copy);
                        }
                    }
                }
                if outcome == BlockOutcome::PieceReady && verify.push(piece) {
                    return Ok(Received::PieceQueued);
                }
            }
        }
        Ok(Received::Taken)
    }

    /// `piece` passed its hash check: mark it verified, tell every peer,
    /// cancel what is still asked for it. Whether the torrent is now
    /// complete.
    pub(crate) fn piece_verified(&mut self, piece: u32) -> bool {
        let TState {
            data,
            peers,
            counters,
            ..
        } = self;
        let Some(d) = data.as_mut() else { return false };
        if !d.have.set(piece) {
            return false;
        }
        d.picker.piece_verified(piece);
        let size = u64::from(d.store.layout().piece_size(piece));
        d.done_bytes = d.done_bytes.saturating_add(size);
        counters.downloaded = counters.downloaded.saturating_add(size);
        let complete = d.is_complete();
        for p in peers.values_mut() {
            p.send(&Message::Have(piece));
            // Requests still out for it (endgame, late arrivals) are moot.
            let moot: Vec<Block> = p
                .requests
                .iter()
                .map(|r| r.0)
                .filter(|b| b.piece == piece)
                .collect();
            for b in moot {
                p.take_request(&b);
                p.note_cancelled(b, CancelCause::Verified);
                counters.waste.cancelled(CancelCause::Verified);
                p.send(&Message::Cancel {
                    index: b.piece,
                    begin: b.begin,
                    length: b.len,
                });
            }
        }
        self.resume_dirty = true;
        // Only peers that had this piece can have become uninteresting.
        let keys: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.am_interested && p.has.known().is_some_and(|h| h.get(piece)))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.update_interest(k);
        }
        complete
    }

    /// `piece` failed its hash check: the picker fetches it again, and its
    /// bytes count as wasted.
    pub(crate) fn piece_failed(&mut self, piece: u32) {
        if let Some(d) = self.data.as_mut() {
            d.picker.piece_failed(piece);
            let size = d.store.layout().piece_size(piece);
            self.counters.waste.add_hash_failed(u64::from(size));
        }
    }
}
