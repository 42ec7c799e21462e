//! The piece picker: which 16 KiB blocks to request from which peer.
//!
//! Pure and deterministic (given a seed): no I/O, no clock of its own. The
//! engine tells it what peers have, asks it for blocks, and reports what
//! arrived, failed, verified. Order of preference in [`Picker::pick`]:
//!
//! 1. `Urgent` pieces (a stream reader is waiting), nearest a reader's
//!    position first: the first piece of every reader's urgent range, then
//!    the second of each, and so on, lowest index first among equals (so
//!    one reader's urgent bytes do not starve another's); and for them
//!    also blocks stuck at another peer for longer than
//!    [`PickerConfig::urgent_steal_after_ms`] (a second request, see
//!    "stealing" below);
//! 2. `High` pieces, lowest index first (the read-ahead window), then
//!    `Soon` pieces the same way (the preloaded head of a big file);
//! 3. blocks of `Normal` pieces already started (keeps in-flight RAM small);
//! 4. new `Normal` pieces, rarest first with random tie-breaks (only as
//!    many as the caller says may start: the in-flight RAM they need);
//! 5. endgame: once every wanted block is requested somewhere, blocks
//!    outstanding elsewhere for longer than
//!    [`PickerConfig::endgame_dup_after_ms`], up to
//!    [`PickerConfig::max_requests_per_block`] requests per block. [`Picker::block_received`] returns the other
//!    peers to cancel at. Before endgame, when no new piece may start (the
//!    in-flight RAM is full), only blocks outstanding for longer than
//!    [`PickerConfig::stuck_steal_after_ms`] (stuck at a slow peer).
//!
//! A peer lacking a priority piece simply falls through to the next step,
//! so it still gets normal work. `Skip` pieces are never picked (not even
//! ones already started).
//!
//! Stealing urgent blocks: the engine passes time in with
//! [`Picker::set_now`] (milliseconds on any monotonic clock); every request
//! records it. An `Urgent` block whose latest request is older than the
//! threshold may be requested once more from another peer (bounded like
//! endgame). [`Picker::urgent_outstanding`] lists a peer's urgent requests
//! with their age, for an engine that wants to cancel at a slow peer.
//!
//! Cost: `peer_has_piece`, `block_received`, `request_failed`: O(1)
//! (hashing). `peer_has_bitfield`/`peer_left`: O(pieces) bit walk. `pick`:
//! O(priority pieces + started pieces + blocks handed out; the urgent pieces
//! also sorted, each ranked over the owners' ranges) plus, per new
//! piece started, the rarest search in `avail.rs` (expected O(1) for a peer
//! with most pieces, O(pieces/8) byte walk for a sparse one). No work is
//! O(pieces) per *block*.
//!
//! Invariants (checked by `check_invariants` in tests):
//! - `state[p]` is `Have` iff `have[p]`; `Partial` iff `partials` has `p`.
//! - `wanted[p]` iff not `Have` and priority is not `Skip`.
//! - a piece is listed in `avail` iff `Fresh` and not `Skip`.
//! - `urgent`/`high`/`soon` hold exactly the not-`Have` pieces of that
//!   priority.
//! - a slot's `wanted` = not received and no request; `Partial::wanted`
//!   counts them; `open_blocks` sums them over non-`Skip` partial pieces.
//! - `(piece, block)` is in `outstanding[peer]` iff that slot has a
//!   request from `peer`; a slot never holds two requests from one peer.

mod avail;
mod levels;
mod pick;
mod priorities;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::random::XorShift;
use crate::torrent::{Bitfield, Layout};

use avail::Availability;
use priorities::Priorities;

/// The engine's handle for a connected peer.
pub type PeerKey = u64;

/// Block size on the wire (BEP 3 convention, what every client accepts).
pub const BLOCK_LEN: u32 = 16 * 1024;

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
    /// Not wanted (deselected file); never picked.
    Skip,
    Normal,
    /// Picked after `High` and before any `Normal` piece, lowest index
    /// first: a guess at what will be read (the preloaded head of a big
    /// file, see `swarm::preload`). Not a stream reader's need.
    Soon,
    /// Picked before any `Soon` or `Normal` piece, lowest index first.
    High,
    /// Needed now by a reader: picked first, in streaming order from each
    /// reader's position (readers served side by side), and stuck blocks
    /// may be requested twice.
    Urgent,
}

/// Tunables; `Default` is what the engine uses.
#[derive(Clone, Debug)]
pub struct PickerConfig {
    /// Seed for tie-breaking; `None` = from process entropy. Tests set it.
    pub seed: Option<u64>,
    /// Most simultaneous requests of one block (endgame and urgent
    /// stealing); 1 disables both. Default 2.
    pub max_requests_per_block: usize,
    /// An `Urgent` block requested this long ago (ms) may be requested from
    /// another peer too. Default 2000.
    pub urgent_steal_after_ms: u64,
    /// When no new piece may start (the in-flight RAM is full), a block of
    /// any priority requested this long ago (ms) may be requested from
    /// another peer too, so a slow peer cannot hold the started pieces
    /// back. Default 2000.
    pub stuck_steal_after_ms: u64,
    /// In endgame, a block requested this long ago (ms) may be requested
    /// from another peer too. A peer's queue holds about a second of its
    /// rate, so a younger request is on time, and a copy asked elsewhere
    /// would mostly arrive as a second copy. Default 500.
    pub endgame_dup_after_ms: u64,
}

impl Default for PickerConfig {
    fn default() -> PickerConfig {
        PickerConfig {
            seed: None,
            max_requests_per_block: 2,
            urgent_steal_after_ms: 2000,
            stuck_steal_after_ms: 2000,
            endgame_dup_after_ms: 500,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceState {
    /// Not verified, no block state yet.
    Fresh,
    /// Blocks being fetched; see `partials`.
    Partial,
    /// Verified.
    Have,
}

/// One outstanding request of a block.
#[derive(Clone, Copy, Debug)]
struct Req {
    peer: PeerKey,
    since_ms: u64,
}

#[derive(Debug, Default)]
struct Slot {
    received: bool,
    reqs: Vec<Req>,
}

impl Slot {
    fn is_wanted(&self) -> bool {
        !self.received && self.reqs.is_empty()
    }
}

/// A started piece: one slot per block.
#[derive(Debug)]
struct Partial {
    slots: Vec<Slot>,
    /// Slots neither received nor requested.
    wanted: u32,
    received: u32,
}

/// Blocks requested a second time while a first request was out, by why
/// (each may bring a copy we do not need: see `swarm::waste`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecondRequests {
    /// Endgame: every wanted block was requested somewhere.
    pub endgame: u64,
    /// Urgent blocks stuck at a peer.
    pub urgent: u64,
    /// Blocks stuck at a slow peer while no new piece may start.
    pub stuck: u64,
}

/// Rarest-first, priority-aware block picker for one torrent.
pub struct Picker {
    piece_count: u32,
    piece_length: u32,
    total_length: u64,
    cfg: PickerConfig,
    rng: XorShift,
    now_ms: u64,
    state: Vec<PieceState>,
    have: Bitfield,
    wanted: Bitfield,
    avail: Availability,
    prio: Priorities,
    urgent: BTreeSet<u32>,
    high: BTreeSet<u32>,
    soon: BTreeSet<u32>,
    partials: BTreeMap<u32, Partial>,
    open_blocks: u64,
    outstanding: HashMap<PeerKey, HashSet<(u32, u32)>>,
    second: SecondRequests,
}

/// The block `idx` of a piece of `size` bytes.
fn block_at(piece: u32, size: u32, idx: u32) -> Block {
    let begin = idx.saturating_mul(BLOCK_LEN);
    Block {
        piece,
        begin,
        len: size.saturating_sub(begin).min(BLOCK_LEN),
    }
}

impl Picker {
    /// `have` = pieces already verified.
    pub fn new(layout: &Layout, have: &Bitfield) -> Picker {
        Picker::with_config(layout, have, PickerConfig::default())
    }

    /// Like [`Picker::new`] with explicit tunables (seed for tests).
    pub fn with_config(layout: &Layout, have: &Bitfield, cfg: PickerConfig) -> Picker {
        let n = layout.piece_count;
        let mut p = Picker {
            piece_count: n,
            piece_length: layout.piece_length,
            total_length: layout.total_length,
            rng: XorShift::from_seed_or_entropy(cfg.seed),
            cfg,
            now_ms: 0,
            state: vec![PieceState::Fresh; n as usize],
            have: Bitfield::new(n),
            wanted: Bitfield::full(n),
            avail: Availability::new(n),
            prio: Priorities::new(n),
            urgent: BTreeSet::new(),
            high: BTreeSet::new(),
            soon: BTreeSet::new(),
            partials: BTreeMap::new(),
            open_blocks: 0,
            outstanding: HashMap::new(),
            second: SecondRequests::default(),
        };
        for i in 0..n {
            if have.get(i) {
                p.state[i as usize] = PieceState::Have;
                p.have.set(i);
                p.wanted.clear(i);
            } else {
                p.avail.insert(i);
            }
        }
        p
    }

    /// Size of piece `p` from the layout's fields (the last one may be
    /// short); 0 out of range. Saturating: a bad layout yields odd sizes,
    /// never a panic.
    fn piece_size(&self, p: u32) -> u32 {
        if p >= self.piece_count {
            return 0;
        }
        if p + 1 < self.piece_count {
            return self.piece_length;
        }
        let before = u64::from(self.piece_length) * u64::from(p);
        let rest = self.total_length.saturating_sub(before);
        u32::try_from(rest)
            .unwrap_or(u32::MAX)
            .min(self.piece_length)
    }

    /// Number of blocks of piece `p`.
    pub fn block_count(&self, p: u32) -> u32 {
        self.piece_size(p).div_ceil(BLOCK_LEN)
    }

    /// The slot index of `b` if it is a well-formed block of this torrent.
    fn block_index(&self, b: Block) -> Option<u32> {
        if b.begin % BLOCK_LEN != 0 {
            return None;
        }
        let idx = b.begin / BLOCK_LEN;
        let size = self.piece_size(b.piece);
        (idx < size.div_ceil(BLOCK_LEN) && block_at(b.piece, size, idx) == b).then_some(idx)
    }

    /// Advance the picker's clock (ms, any monotonic origin). Requests made
    /// by `pick` are stamped with it; it drives urgent stealing.
    pub fn set_now(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    /// A peer announced a piece (`Have`). Call once per new bit.
    pub fn peer_has_piece(&mut self, piece: u32) {
        self.avail.inc(piece);
    }

    /// A peer's whole bitfield arrived (or HaveAll).
    pub fn peer_has_bitfield(&mut self, has: &Bitfield) {
        for p in has.ones().take_while(|&p| p < self.piece_count) {
            self.avail.inc(p);
        }
    }

    /// A peer left: forget its availability and return its outstanding blocks.
    pub fn peer_left(&mut self, peer: PeerKey, has: &Bitfield) {
        for p in has.ones().take_while(|&p| p < self.piece_count) {
            self.avail.dec(p);
        }
        if let Some(set) = self.outstanding.remove(&peer) {
            for (p, idx) in set {
                self.drop_request(peer, p, idx);
            }
        }
    }

    /// Remove `peer`'s request from slot `(p, idx)` (not from the peer
    /// index); a slot left with no request and no data becomes wanted.
    fn drop_request(&mut self, peer: PeerKey, p: u32, idx: u32) {
        let counts = self.prio.get(p) != Priority::Skip;
        let Some(part) = self.partials.get_mut(&p) else {
            return;
        };
        let Some(slot) = part.slots.get_mut(idx as usize) else {
            return;
        };
        let before = slot.reqs.len();
        slot.reqs.retain(|r| r.peer != peer);
        if slot.reqs.len() != before && slot.is_wanted() {
            part.wanted += 1;
            if counts {
                self.open_blocks += 1;
            }
        }
    }

    /// A block arrived from `peer`; returns the other peers that also had it
    /// requested (endgame) so the engine can cancel there. Their requests
    /// count as gone from now on. A malformed, unrequested-piece or
    /// duplicate block returns nothing and changes nothing but `peer`'s
    /// own request; see [`Picker::is_outstanding`] to filter such blocks.
    pub fn block_received(&mut self, peer: PeerKey, block: Block) -> Vec<PeerKey> {
        let Some(idx) = self.block_index(block) else {
            return Vec::new();
        };
        let p = block.piece;
        if let Some(set) = self.outstanding.get_mut(&peer) {
            set.remove(&(p, idx));
        }
        let counts = self.prio.get(p) != Priority::Skip;
        let Some(part) = self.partials.get_mut(&p) else {
            return Vec::new();
        };
        let Some(slot) = part.slots.get_mut(idx as usize) else {
            return Vec::new();
        };
        let was_wanted = slot.is_wanted();
        slot.reqs.retain(|r| r.peer != peer);
        if slot.received {
            return Vec::new();
        }
        slot.received = true;
        part.received += 1;
        if was_wanted {
            part.wanted -= 1;
            if counts {
                self.open_blocks -= 1;
            }
        }
        let others: Vec<PeerKey> = slot.reqs.drain(..).map(|r| r.peer).collect();
        for o in &others {
            if let Some(set) = self.outstanding.get_mut(o) {
                set.remove(&(p, idx));
            }
        }
        others
    }

    /// A request will not be answered (reject, choke, timeout).
    pub fn request_failed(&mut self, peer: PeerKey, block: Block) {
        let Some(idx) = self.block_index(block) else {
            return;
        };
        let known = self
            .outstanding
            .get_mut(&peer)
            .is_some_and(|set| set.remove(&(block.piece, idx)));
        if known {
            self.drop_request(peer, block.piece, idx);
        }
    }

    /// Forget every request of piece `p` (it was verified or reset).
    fn forget_requests(&mut self, p: u32, part: &Partial) {
        for (idx, slot) in part.slots.iter().enumerate() {
            for r in &slot.reqs {
                if let Some(set) = self.outstanding.get_mut(&r.peer) {
                    set.remove(&(p, idx as u32));
                }
            }
        }
    }

    /// The piece passed its hash check: never pick it again.
    pub fn piece_verified(&mut self, piece: u32) {
        let Some(st) = self.state.get(piece as usize).copied() else {
            return;
        };
        match st {
            PieceState::Have => return,
            PieceState::Fresh => self.avail.remove(piece),
            PieceState::Partial => {
                if let Some(part) = self.partials.remove(&piece) {
                    if self.prio.get(piece) != Priority::Skip {
                        self.open_blocks -= u64::from(part.wanted);
                    }
                    self.forget_requests(piece, &part);
                }
            }
        }
        self.state[piece as usize] = PieceState::Have;
        self.have.set(piece);
        self.wanted.clear(piece);
        self.urgent.remove(&piece);
        self.high.remove(&piece);
        self.soon.remove(&piece);
    }

    /// Hash failure: every block of the piece is needed again. The piece
    /// becomes unstarted (ranked by rarity again, and counted against `starts` again)
    /// unless requests for it are still out, in which case its received
    /// blocks become wanted and the requests stay. Also accepted for a
    /// verified piece whose data went bad.
    pub fn piece_failed(&mut self, piece: u32) {
        let Some(st) = self.state.get(piece as usize).copied() else {
            return;
        };
        let pr = self.prio.get(piece);
        match st {
            PieceState::Fresh => {}
            PieceState::Have => {
                self.have.clear(piece);
                self.state[piece as usize] = PieceState::Fresh;
                if pr != Priority::Skip {
                    self.wanted.set(piece);
                    self.avail.insert(piece);
                }
                self.set_membership(piece, pr, true);
            }
            PieceState::Partial => {
                let Some(part) = self.partials.get_mut(&piece) else {
                    return;
                };
                let requested = part.slots.iter().any(|s| !s.reqs.is_empty());
                if requested {
                    for slot in part.slots.iter_mut().filter(|s| s.received) {
                        slot.received = false;
                        if slot.reqs.is_empty() {
                            part.wanted += 1;
                            if pr != Priority::Skip {
                                self.open_blocks += 1;
                            }
                        }
                    }
                    part.received = 0;
                } else {
                    if pr != Priority::Skip {
                        self.open_blocks -= u64::from(part.wanted);
                        self.avail.insert(piece);
                    }
                    self.partials.remove(&piece);
                    self.state[piece as usize] = PieceState::Fresh;
                }
            }
        }
    }

    /// Whether `has` holds any piece we still want (decides `Interested`).
    pub fn wants_from(&self, has: &Bitfield) -> bool {
        has.as_bytes()
            .iter()
            .zip(self.wanted.as_bytes())
            .any(|(a, b)| a & b != 0)
    }

    /// Whether piece `p` is still wanted (a `Have` may make us interested).
    pub fn wants_piece(&self, p: u32) -> bool {
        self.wanted.get(p)
    }

    /// Verified pieces.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Pieces still wanted (not verified, not `Skip`).
    pub fn remaining_pieces(&self) -> u32 {
        self.wanted.count()
    }

    /// Every wanted piece is verified (`Skip` pieces do not count).
    pub fn is_complete(&self) -> bool {
        self.remaining_pieces() == 0
    }

    /// Every block of `piece` has arrived: time to hash it.
    pub fn piece_received(&self, piece: u32) -> bool {
        self.partials
            .get(&piece)
            .is_some_and(|part| part.received as usize == part.slots.len())
    }

    /// Whether `block` is requested from `peer` (to drop unsolicited data).
    pub fn is_outstanding(&self, peer: PeerKey, block: Block) -> bool {
        match self.block_index(block) {
            Some(idx) => self
                .outstanding
                .get(&peer)
                .is_some_and(|s| s.contains(&(block.piece, idx))),
            None => false,
        }
    }

    /// Number of requests outstanding at `peer`.
    pub fn outstanding_count(&self, peer: PeerKey) -> usize {
        self.outstanding.get(&peer).map_or(0, |s| s.len())
    }

    /// How many second requests `pick` handed out, by why.
    pub fn second_requests(&self) -> SecondRequests {
        self.second
    }

    /// Every wanted block is requested somewhere (no unrequested block in a
    /// started piece, no startable piece any connected peer has): `pick`
    /// now hands out duplicate requests.
    pub fn in_endgame(&self) -> bool {
        self.open_blocks == 0 && self.avail.listed_available() == 0
    }

    /// Availability of piece `p` among connected peers.
    pub fn availability(&self, p: u32) -> u16 {
        self.avail.count(p)
    }
}
