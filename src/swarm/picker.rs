//! Which blocks to request from which peer.
//!
//! INTERFACE STUB — to be implemented (keep these signatures; add freely).

use std::ops::Range;

use crate::torrent::{Bitfield, Layout};

/// The engine's handle for a connected peer.
pub type PeerKey = u64;

/// One block request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Block {
    pub piece: u32,
    pub begin: u32,
    pub len: u32,
}

/// Priority of a piece range; higher wins. `Normal` is the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Skip,
    Normal,
    High,
    /// Needed now by a reader; `deadline_rank` orders urgent pieces (lower first).
    Urgent,
}

pub struct Picker {}

impl Picker {
    /// `have` = pieces already verified.
    pub fn new(_layout: &Layout, _have: &Bitfield) -> Picker {
        todo!()
    }
    /// A peer announced a piece (`Have`).
    pub fn peer_has_piece(&mut self, _piece: u32) {
        todo!()
    }
    /// A peer's whole bitfield arrived (or HaveAll).
    pub fn peer_has_bitfield(&mut self, _has: &Bitfield) {
        todo!()
    }
    /// A peer left: forget its availability and return its outstanding blocks.
    pub fn peer_left(&mut self, _peer: PeerKey, _has: &Bitfield) {
        todo!()
    }
    /// Pick up to `max` new blocks for `peer` (which has `has`). Streaming
    /// priorities first, then pieces already started, then rarest first;
    /// in endgame, blocks outstanding at other peers. `may_start` = whether
    /// a new piece may be started (the store's RAM cap).
    pub fn pick(&mut self, _peer: PeerKey, _has: &Bitfield, _max: usize, _may_start: bool, _out: &mut Vec<Block>) {
        todo!()
    }
    /// A block arrived from `peer`; returns the other peers that also had it
    /// requested (endgame) so the engine can cancel there.
    pub fn block_received(&mut self, _peer: PeerKey, _block: Block) -> Vec<PeerKey> {
        todo!()
    }
    /// A request will not be answered (reject, choke, timeout).
    pub fn request_failed(&mut self, _peer: PeerKey, _block: Block) {
        todo!()
    }
    pub fn piece_verified(&mut self, _piece: u32) {
        todo!()
    }
    /// Hash failure: every block of the piece is needed again.
    pub fn piece_failed(&mut self, _piece: u32) {
        todo!()
    }
    /// Whether `has` holds any piece we still want (decides `Interested`).
    pub fn wants_from(&self, _has: &Bitfield) -> bool {
        todo!()
    }
    /// Set the priority of pieces for one owner (a stream reader, a file
    /// selection). Several owners combine by maximum.
    pub fn set_priority(&mut self, _owner: u64, _ranges: &[(Range<u32>, Priority)]) {
        todo!()
    }
    pub fn clear_priority(&mut self, _owner: u64) {
        todo!()
    }
}
