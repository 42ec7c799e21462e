//! What we know about one connected peer, and how messages to it are
//! queued for its writer task.
//!
//! Lives inside the torrent's `TState::peers` (see `state/mod.rs` for the
//! borrow rules). The writer task drains `outbox` (encoded control
//! messages) and `uploads` (requests to serve); anything that queues for
//! it calls [`PeerState::kick`].
//!
//! [`Cancelled`] holds the blocks we cancelled (or gave up on) at the
//! peer: their late arrival is still accepted, for [`CANCELLED_FOR`]. A
//! peer that honours cancels never sends them, so without that bound its
//! list would only grow (and rush stops cancelling at a peer with many in
//! it).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::channel::Sender;

use super::hp_state::HpPeer;
use super::pex_state::PexPeer;
use super::pipeline::Pipeline;
use crate::swarm::picker::{Block, PeerKey};
use crate::swarm::stats::Meter;
use crate::swarm::waste::CancelCause;
use crate::torrent::Bitfield;
use crate::utp::PeerStream;
use crate::wire::{ExtHandshake, Message};

/// Largest `Have` list kept for a peer before we know the piece count.
const MAX_EARLY_HAVES: usize = 1 << 16;
/// Allowed-fast pieces we remember per peer (BEP 6 suggests 10).
const MAX_ALLOWED_FAST: usize = 32;
/// Encoded control messages waiting for a slow peer before we give up on it
/// (one message larger than this may still be queued alone).
const MAX_OUTBOX: usize = 2 << 20;
/// Blocks whose late arrival we still accept after cancelling them.
const MAX_CANCELLED: usize = 512;
/// How long after cancelling a block its late arrival is still accepted.
/// A peer that wrote it into its socket before our cancel arrived sends it
/// within a few seconds even at 100 KB/s; later than this it was dropped.
pub(crate) const CANCELLED_FOR: Duration = Duration::from_secs(30);

/// The pieces a peer has.
pub(crate) enum PeerHas {
    /// We know the piece count (the normal case).
    Known(Bitfield),
    /// A magnet without metadata: what the peer said so far.
    Early {
        bitfield: Option<Vec<u8>>,
        haves: Vec<u32>,
        all: bool,
    },
}

impl PeerHas {
    pub fn known(&self) -> Option<&Bitfield> {
        match self {
            PeerHas::Known(b) => Some(b),
            PeerHas::Early { .. } => None,
        }
    }
}

pub(crate) struct PeerState {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub outgoing: bool,
    pub peer_id: [u8; 20],
    /// BEP 6 (fast extension) on both sides.
    pub fast: bool,
    /// BEP 10 on both sides.
    pub extended: bool,
    /// The peer's extension handshake.
    pub ext: ExtHandshake,
    pub has: PeerHas,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    /// Our requests to the peer, oldest first, with when they were sent.
    pub requests: VecDeque<(Block, Instant)>,
    /// Blocks we cancelled or gave up on; late data for them is accepted.
    pub cancelled: Cancelled,
    pub pipeline: Pipeline,
    /// The peer's requests waiting to be served, oldest first.
    pub uploads: VecDeque<Block>,
    /// Pieces the peer lets us request while choked (BEP 6).
    pub allowed_fast: Vec<u32>,
    pub connected_at: Instant,
    pub last_recv: Instant,
    pub last_send: Instant,
    pub down: Meter,
    pub up: Meter,
    /// Block bytes this choker period (reset by the choker).
    pub period_down: u64,
    pub period_up: u64,
    /// Blocks we did not ask for (a few are normal after cancels).
    pub unsolicited: u32,
    /// Set when we decided to drop the peer; its tasks are ending.
    pub closing: bool,
    /// The connection is RC4-encrypted (MSE/PE).
    pub encrypted: bool,
    /// The connection is over uTP (else TCP).
    pub utp: bool,
    /// Peer exchange with it (BEP 11).
    pub pex: PexPeer,
    /// Holepunch messages with it (BEP 55).
    pub holepunch: HpPeer,
    sock: Rc<PeerStream>,
    kick: Sender<()>,
    outbox: Vec<u8>,
}

impl PeerState {
    pub fn new(
        key: PeerKey,
        addr: SocketAddr,
        outgoing: bool,
        peer_id: [u8; 20],
        sock: Rc<PeerStream>,
        kick: Sender<()>,
        piece_count: Option<u32>,
    ) -> PeerState {
        let now = Instant::now();
        PeerState {
            key,
            addr,
            outgoing,
            peer_id,
            fast: false,
            extended: false,
            ext: ExtHandshake::default(),
            has: match piece_count {
                Some(n) => PeerHas::Known(Bitfield::new(n)),
                None => PeerHas::Early {
                    bitfield: None,
                    haves: Vec::new(),
                    all: false,
                },
            },
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            requests: VecDeque::new(),
            cancelled: Cancelled::default(),
            pipeline: Pipeline::default(),
            uploads: VecDeque::new(),
            allowed_fast: Vec::new(),
            connected_at: now,
            last_recv: now,
            last_send: now,
            down: Meter::default(),
            up: Meter::default(),
            period_down: 0,
            period_up: 0,
            unsolicited: 0,
            closing: false,
            encrypted: false,
            utp: false,
            pex: Default::default(),
            holepunch: HpPeer::default(),
            sock,
            kick,
            outbox: Vec::new(),
        }
    }

    /// Queue a message for the writer. A peer that lets more than
    /// `MAX_OUTBOX` bytes pile up (it does not read, or floods us with
    /// requests for metadata) is dropped.
    pub fn send(&mut self, msg: &Message) {
        if self.closing {
            return;
        }
        if self.outbox.len() > MAX_OUTBOX {
            self.close("not reading what we send");
            return;
        }
        msg.encode(&mut self.outbox);
        self.kick();
    }

    /// Wake the writer task (it looks at `outbox` and `uploads`).
    pub fn kick(&self) {
        let _ = self.kick.try_send(());
    }

    /// Take the queued control messages (for the writer).
    pub fn take_outbox(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbox)
    }

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Drop the connection: both tasks see the socket close and the
    /// session cleans up.
    pub fn close(&mut self, why: &str) {
        if !self.closing {
            log::debug!("{}: closing: {why}", self.addr);
        }
        self.closing = true;
        self.sock.shutdown();
        self.kick();
    }

    /// Remember a block we gave up on for `cause`, so its late arrival is
    /// accepted.
    pub fn note_cancelled(&mut self, b: Block, cause: CancelCause) {
        self.cancelled.note(b, cause, Instant::now());
    }

    /// Take `b` out of our outstanding requests (or of the cancelled list);
    /// whether, and how, we had asked for it.
    pub fn take_request(&mut self, b: &Block) -> Option<Asked> {
        if let Some(i) = self.requests.iter().position(|(r, _)| r == b) {
            self.requests.remove(i);
            return Some(Asked::Live);
        }
        self.cancelled.take(b, Instant::now()).map(Asked::Cancelled)
    }

    pub fn is_seed(&self) -> bool {
        match &self.has {
            PeerHas::Known(b) => b.is_full(),
            PeerHas::Early { all, .. } => *all,
        }
    }

    /// Record an allowed-fast piece (BEP 6), bounded.
    pub fn add_allowed_fast(&mut self, piece: u32) {
        if self.allowed_fast.len() < MAX_ALLOWED_FAST && !self.allowed_fast.contains(&piece) {
            self.allowed_fast.push(piece);
        }
    }

    /// Record a `Have` before the piece count is known (bounded).
    pub fn early_have(&mut self, piece: u32) {
        if let PeerHas::Early { haves, .. } = &mut self.has {
            if haves.len() < MAX_EARLY_HAVES {
                haves.push(piece);
            }
        }
    }

    /// The piece count became known: turn what the peer said into a
    /// bitfield. A bitfield of the wrong size is dropped (the peer's `Have`s
    /// still count).
    pub fn resolve_has(&mut self, n: u32) {
        let PeerHas::Early {
            bitfield,
            haves,
            all,
        } = &self.has
        else {
            return;
        };
        let mut b = if *all {
            Bitfield::full(n)
        } else {
            bitfield
                .as_ref()
                .and_then(|bytes| Bitfield::from_bytes(bytes, n))
                .unwrap_or_else(|| Bitfield::new(n))
        };
        for &h in haves {
            b.set(h);
        }
        self.has = PeerHas::Known(b);
    }
}

/// How a block that arrived had been asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// An outstanding request.
    Live,
    /// A request we had taken back, and why.
    Cancelled(CancelCause),
}

/// Blocks cancelled at one peer, oldest first, with when and why: at most
/// [`MAX_CANCELLED`], none older than [`CANCELLED_FOR`] once
/// [`Cancelled::forget`] ran (the peer tick calls it every second; `note`
/// and `take` also drop expired entries).
#[derive(Default)]
pub(crate) struct Cancelled {
    blocks: VecDeque<(Block, CancelCause, Instant)>,
}

impl Cancelled {
    /// Remember `b`, cancelled for `cause` at `now` (the oldest entry goes
    /// when full).
    pub fn note(&mut self, b: Block, cause: CancelCause, now: Instant) {
        self.forget(now);
        if self.blocks.len() >= MAX_CANCELLED {
            self.blocks.pop_front();
        }
        self.blocks.push_back((b, cause, now));
    }

    /// Take `b` out if it was cancelled within [`CANCELLED_FOR`] of `now`;
    /// why it was, if it was.
    pub fn take(&mut self, b: &Block, now: Instant) -> Option<CancelCause> {
        self.forget(now);
        let i = self.blocks.iter().position(|(r, _, _)| r == b)?;
        self.blocks.remove(i).map(|(_, cause, _)| cause)
    }

    /// Drop the entries cancelled [`CANCELLED_FOR`] or more before `now`.
    /// Entries are in the order they were noted, so the expired ones are
    /// at the front.
    pub fn forget(&mut self, now: Instant) {
        while let Some(&(_, _, at)) = self.blocks.front() {
            if now.saturating_duration_since(at) < CANCELLED_FOR {
                break;
            }
            self.blocks.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::picker::BLOCK_LEN;

    fn block(p: u32, i: u32) -> Block {
        Block {
            piece: p,
            begin: i * BLOCK_LEN,
            len: BLOCK_LEN,
        }
    }

    #[test]
    fn cancelled_blocks_are_accepted_late_but_forgotten_after_30_s() {
        let t0 = Instant::now();
        let mut c = Cancelled::default();
        c.note(block(1, 0), CancelCause::Copy, t0);
        c.note(
            block(1, 1),
            CancelCause::Choke,
            t0 + Duration::from_secs(10),
        );
        c.note(block(2, 0), CancelCause::Copy, t0 + Duration::from_secs(20));
        // Arrives 5 s late: accepted once, not twice, with why it was
        // cancelled.
        assert_eq!(
            c.take(&block(1, 1), t0 + Duration::from_secs(15)),
            Some(CancelCause::Choke)
        );
        assert_eq!(c.take(&block(1, 1), t0 + Duration::from_secs(15)), None);
        assert_eq!(c.len(), 2);
        // A peer that honoured the cancel never sends 1/0: at 30 s it is
        // gone from the list, and would no longer be accepted.
        c.forget(t0 + CANCELLED_FOR - Duration::from_millis(1));
        assert_eq!(c.len(), 2);
        c.forget(t0 + CANCELLED_FOR);
        assert_eq!(c.len(), 1);
        assert_eq!(c.take(&block(1, 0), t0 + CANCELLED_FOR), None);
        // `take` itself drops what expired: 2/0 is 30 s old at 50 s.
        assert_eq!(c.take(&block(2, 0), t0 + Duration::from_secs(50)), None);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn cancelled_list_is_bounded_oldest_first() {
        let t0 = Instant::now();
        let mut c = Cancelled::default();
        let n = MAX_CANCELLED as u32 + 10;
        for i in 0..n {
            c.note(block(i / 64, i % 64), CancelCause::Copy, t0);
        }
        assert_eq!(c.len(), MAX_CANCELLED);
        // The first ten went; the eleventh and the last are still there.
        assert_eq!(c.take(&block(0, 9), t0), None);
        assert_eq!(c.take(&block(0, 10), t0), Some(CancelCause::Copy));
        assert_eq!(
            c.take(&block((n - 1) / 64, (n - 1) % 64), t0),
            Some(CancelCause::Copy)
        );
        // Time going backwards (a caller's mistake) forgets nothing.
        c.forget(t0 - Duration::from_secs(1));
        assert_eq!(c.len(), MAX_CANCELLED - 2);
    }
}
