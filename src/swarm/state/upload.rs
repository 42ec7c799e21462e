//! Upload state: queueing peers' requests (bounded by `OUR_REQQ`),
//! handing batches of them to the peer's writer, and applying the
//! choker's decisions every 10 s (and soon after a new peer becomes
//! interested, so a fresh leecher does not wait a whole round for its first
//! unchoke).
//!
//! Invariant (kept here, the only writer of `uploads` and `am_choking`):
//! a choked peer has no queued uploads, and only valid requests for pieces
//! we have are queued.

use std::sync::Arc;
use std::time::Instant;

use super::TState;
use crate::store::PieceStore;
use crate::swarm::choker::{ChokeChange, ChokerConfig, PeerStats};
use crate::swarm::picker::{Block, PeerKey};
use crate::swarm::stats::TorrentState;
use crate::wire::extension::OUR_REQQ;
use crate::wire::message::MAX_REQUEST_LEN;
use crate::wire::Message;

/// Blocks read from the store per trip to the blocking pool.
const BATCH_BLOCKS: usize = 8;

/// Blocks to read and send to one peer.
pub(crate) struct Batch {
    pub(crate) store: Arc<PieceStore>,
    pub(crate) blocks: Vec<Block>,
}

impl TState {
    /// The peer asked for a block.
    pub(crate) fn on_request(&mut self, key: PeerKey, b: Block) -> Result<(), String> {
        let TState { peers, data, .. } = self;
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
    pub(crate) fn on_cancel(&mut self, key: PeerKey, b: Block) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.uploads.retain(|x| *x != b);
        }
    }

    /// The next blocks to serve to `key`, if any.
    pub(crate) fn take_batch(&mut self, key: PeerKey) -> Option<Batch> {
        let TState { peers, data, .. } = self;
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

    /// A peer became interested: if an upload slot is free, run the choker
    /// now (without closing the period) so it need not wait a whole round.
    pub(crate) fn on_interested(&mut self, now_ms: u64) {
        let slots = ChokerConfig::default().regular_slots + 1;
        let unchoked = self.peers.values().filter(|p| !p.am_choking).count();
        if unchoked < slots {
            self.run_choker(now_ms, Instant::now(), false);
        }
    }

    /// The regular choker round, when its interval has passed since the
    /// last one.
    pub(crate) fn choke_if_due(&mut self, now_ms: u64, now: Instant) {
        let every = std::time::Duration::from_millis(crate::swarm::choker::TICK_INTERVAL_MS);
        if now.duration_since(self.last_choke) >= every {
            self.run_choker(now_ms, now, true);
        }
    }

    /// One choker round; a `regular` round (every 10 s) also closes the
    /// measuring period.
    pub(crate) fn run_choker(&mut self, now_ms: u64, now: Instant, regular: bool) {
        if regular {
            self.last_choke = now;
        }
        let seeding = matches!(self.phase, TorrentState::Seeding | TorrentState::Complete);
        let stats: Vec<PeerStats> = self
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
        let changes = self.choker.tick(now_ms, seeding, &stats);
        if regular {
            for p in self.peers.values_mut() {
                p.period_down = 0;
                p.period_up = 0;
            }
        }
        for c in changes {
            match c {
                ChokeChange::Choke(k) => {
                    let Some(p) = self.peers.get_mut(&k) else {
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
                    let Some(p) = self.peers.get_mut(&k) else {
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
}
