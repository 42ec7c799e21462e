//! The swarm's per-torrent state, [`TState`], and the methods that change it.
//!
//! This is the state layer of the swarm (see `swarm/mod.rs`): it imports
//! the pure parts below it (picker, choker, stats, a peer's `PeerState`)
//! and nothing that runs a task. Each file here owns one part of the state
//! and is its only writer: `peers.rs` (the peers table as the download
//! drives it), `blocks.rs` (received blocks and verdicts), `upload.rs` (upload queues and the choker), `rush.rs`
//! (urgent pieces), `fetch.rs` (BEP 9 metadata), `addrbook.rs` (where
//! peers come from), `blame.rs` (who sent bad data), `verify.rs` (the verification queue),
//! `hashing.rs` (what the verification tasks change: jobs, verdicts,
//! parked pieces, the write queue's error), `phase.rs` (what the
//! lifecycle changes: metadata, the store opening, completing, stopping,
//! readers and priorities, resume saves, the tick's resets).
//!
//! Every field with an invariant is private to this module: the code
//! above reads it through a getter (`info()`, `data()`, `phase()`,
//! `is_stopped()`, ...) and changes it only through these files' methods.
//! Public are only `name`, `counters` and `added` (plain values), `book`
//! (the address book keeps its own invariants) and `peers`, whose entries
//! the peer tasks update (their pipelines, flags and rates); the table
//! itself changes only through `add_peer` and `remove_peer`. Code that must wait
//! (hashing, disk, sockets) lives above, in `lifecycle.rs`, `pieces.rs` and
//! `peer/`, and calls these methods with the state borrowed.
//!
//! # Invariants
//! A torrent (`Torrent`, `torrent.rs`) is shared by `Rc` among its tasks (peer sessions, ticker,
//! announcer, verifications). All mutable state sits in one
//! `RefCell<TState>`:
//! - It is borrowed only in synchronous code and never across an `.await`
//!   (tasks copy what they need, drop the borrow, await, borrow again and
//!   re-check that the peer or torrent still exists). No other torrent's
//!   state is borrowed while holding it.
//! - `info.is_some()` iff every connected peer's `has` is `PeerHas::Known`
//!   (sized to the piece count).
//! - `data.is_some()` iff the store is open; the picker has then counted
//!   exactly the `Known` bitfields of the connected peers (whole bitfield
//!   once, each new `Have` bit once, `peer_left` on removal).
//! - A block is in a peer's `requests` iff the picker records it as
//!   outstanding at that peer: every `request_failed`, received block and
//!   endgame cancel removes it from both.
//! - `verify` holds the pieces with a verification queued or in flight; a
//!   piece is never verified twice at once (`verify.rs`), and at most the
//!   board's `hash_threads` jobs run (`pieces.rs` starts them).
//! - `stopped` is set once; afterwards no connection is made or accepted.

mod addrbook;
mod blame;
mod blocks;
mod fetch;
mod hashing;
mod peers;
mod phase;
mod rush;
mod upload;
mod verify;

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::store::PieceStore;
use crate::swarm::choker::{Choker, ChokerConfig};
use crate::swarm::peer::state::PeerState;
use crate::swarm::picker::{PeerKey, Picker, Priority};
use crate::swarm::stats::{Meter, PeerSource, TorrentState};
use crate::swarm::waste::Waste;
use crate::torrent::{Bitfield, Info};

pub(crate) use addrbook::AddrBook;
pub(crate) use blame::{block_digests, Blame, BlockDigests, STRIKES_TO_BAN};
pub(crate) use blocks::Received;
pub(crate) use fetch::MetadataFetch;
pub(crate) use hashing::{NextVerify, QueueTick};
pub(crate) use phase::PhaseOptions;
pub(crate) use upload::Batch;
pub(crate) use verify::VerifyQueue;

/// Blocks a torrent without readers may request per tick (second) while
/// another torrent is being streamed: 16 x 16 KiB = 256 KiB/s.
pub(crate) const BACKGROUND_BLOCKS_PER_TICK: u32 = 16;

/// Piece ranges with their priority, as the picker takes them.
pub(crate) type PriorityRanges = Vec<(Range<u32>, Priority)>;

/// The open store and what drives downloading from it.
pub(crate) struct Data {
    pub store: Arc<PieceStore>,
    pub picker: Picker,
    /// Verified pieces (our copy of the store's, updated on each verdict).
    pub have: Bitfield,
    /// Bytes of the verified pieces.
    pub done_bytes: u64,
}

impl Data {
    pub fn piece_count(&self) -> u32 {
        self.have.len()
    }

    pub fn is_complete(&self) -> bool {
        self.have.is_full()
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    /// Payload bytes of pieces downloaded and verified this run.
    pub downloaded: u64,
    /// Bytes of pieces verified at start (reused from disk).
    pub reused: u64,
    pub uploaded: u64,
    pub down: Meter,
    pub up: Meter,
    /// Payload that arrived for nothing this run, by cause.
    pub waste: Waste,
}

pub(crate) struct TState {
    pub name: String,
    phase: TorrentState,
    trackers: Vec<Vec<String>>,
    info: Option<Arc<Info>>,
    /// The bencoded `info` dictionary, served to peers over BEP 9.
    info_bytes: Option<Rc<[u8]>>,
    data: Option<Data>,
    fetch: Option<MetadataFetch>,
    pub peers: HashMap<PeerKey, PeerState>,
    /// Outgoing connections being set up.
    connecting: u32,
    pub book: AddrBook,
    choker: Choker,
    last_choke: Instant,
    blame: Blame,
    /// Complete pieces waiting for, or in, a verification job.
    verify: VerifyQueue,
    /// Verified pieces the disk refused, waiting in RAM (`pieces.rs`, `park`).
    unwritten: Vec<u32>,
    /// A retry of an unwritten piece is scheduled.
    write_retry: bool,
    /// `phase` is the error of the store's write queue (`pieces::unwritten_tick`).
    queue_error: bool,
    /// Every piece is verified; waiting for the write queue to drain
    /// before the torrent says it is complete (`on_complete`).
    completing: bool,
    /// Priorities set before the picker exists.
    pending_priorities: Vec<(u64, PriorityRanges)>,
    pub counters: Counters,
    resume_dirty: bool,
    resume_saving: bool,
    last_resume: Instant,
    stopped: bool,
    /// Whether the torrent was incomplete at start (announce `completed`).
    was_incomplete: bool,
    pub added: Instant,
    last_tick: Instant,
    /// Priority owners asking for `High`/`Urgent` pieces: stream readers.
    readers: HashSet<u64>,
    /// The engine-wide count of torrents with readers (`Ctx::streaming`).
    streaming: Rc<Cell<u32>>,
    /// Requests left this tick while throttled as background.
    background_budget: u32,
    /// The edges of big files are preloaded (`PRELOAD_OWNER` holds
    /// priorities) until the first stream reader replaces them.
    preloading: bool,
}

impl TState {
    /// A torrent's state when it is added: `info` for a torrent file,
    /// `None` for a magnet (its metadata is fetched first); `extra_peers`
    /// are pinned in the address book.
    pub fn new(
        name: String,
        trackers: Vec<Vec<String>>,
        info: Option<(Arc<Info>, Rc<[u8]>)>,
        extra_peers: &[SocketAddr],
        streaming: Rc<Cell<u32>>,
    ) -> TState {
        let now = Instant::now();
        let mut book = AddrBook::default();
        for a in extra_peers {
            book.add(*a, true, now);
        }
        let phase = if info.is_some() {
            TorrentState::Checking
        } else {
            TorrentState::FetchingMetadata
        };
        let (info, info_bytes) = match info {
            Some((i, b)) => (Some(i), Some(b)),
            None => (None, None),
        };
        let fetch = if info.is_none() {
            Some(MetadataFetch::new())
        } else {
            None
        };
        TState {
            name,
            phase,
            trackers,
            info,
            info_bytes,
            data: None,
            fetch,
            peers: HashMap::new(),
            connecting: 0,
            book,
            choker: Choker::new(ChokerConfig::default()),
            last_choke: now,
            blame: Blame::default(),
            verify: VerifyQueue::default(),
            unwritten: Vec::new(),
            write_retry: false,
            queue_error: false,
            completing: false,
            pending_priorities: Vec::new(),
            counters: Counters::default(),
            resume_dirty: false,
            resume_saving: false,
            last_resume: now,
            stopped: false,
            was_incomplete: false,
            added: now,
            last_tick: now,
            readers: HashSet::new(),
            streaming,
            background_budget: BACKGROUND_BLOCKS_PER_TICK,
            preloading: false,
        }
    }

    pub fn phase(&self) -> &TorrentState {
        &self.phase
    }

    /// Set once, when the torrent stops: no connection is made or
    /// accepted afterwards.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Tracker tiers (BEP 12).
    pub fn trackers(&self) -> &[Vec<String>] {
        &self.trackers
    }

    /// The parsed `info` dictionary, once known.
    pub fn info(&self) -> Option<&Arc<Info>> {
        self.info.as_ref()
    }

    /// A private torrent (BEP 27): no DHT, PEX or local discovery.
    pub fn is_private(&self) -> bool {
        self.info.as_ref().is_some_and(|i| i.private)
    }

    /// The bencoded `info` dictionary, once known (served over BEP 9).
    pub fn info_bytes(&self) -> Option<&Rc<[u8]>> {
        self.info_bytes.as_ref()
    }

    /// The open store and its picker (`None` until checked).
    pub fn data(&self) -> Option<&Data> {
        self.data.as_ref()
    }

    /// Connected peers plus outgoing connections being set up.
    pub fn peers_and_dials(&self) -> usize {
        self.peers.len() + self.connecting as usize
    }

    /// Stream readers asking for pieces now.
    pub fn reader_count(&self) -> usize {
        self.readers.len()
    }

    /// Background download yields: this torrent has no reader while
    /// another one has.
    pub fn is_background(&self) -> bool {
        self.readers.is_empty() && self.streaming.get() > 0
    }

    /// Pieces the store's disk cache evicted (storage mode `stream`) are
    /// missing again: the picker may fetch them when a reader wants them, and
    /// requests from peers for them are refused from now on.
    pub(crate) fn drop_evicted(&mut self) {
        let Some(d) = self.data.as_mut() else { return };
        let lost = d.store.take_evicted();
        if lost.is_empty() {
            return;
        }
        for p in lost {
            if d.have.clear(p) {
                d.picker.piece_failed(p);
                let size = u64::from(d.store.layout().piece_size(p));
                d.done_bytes = d.done_bytes.saturating_sub(size);
            }
        }
        if self.phase == TorrentState::Seeding {
            self.phase = TorrentState::Downloading;
        }
        self.refresh_all();
    }

    /// The address of connected peer `key`.
    /// A piece a stream reader waits on that no connected peer has
    /// (more peers must be found: DHT, trackers).
    pub fn stranded_piece(&self) -> Option<u32> {
        if self.readers.is_empty() {
            return None;
        }
        self.data.as_ref()?.picker.urgent_nobody_has()
    }

    pub fn peer_addr(&self, key: PeerKey) -> Option<SocketAddr> {
        self.peers.get(&key).map(|p| p.addr)
    }

    /// Connected peers counted by where they came from.
    pub fn peer_sources(&self) -> [u32; 6] {
        let mut n = [0u32; 6];
        for p in self.peers.values() {
            let src = if p.outgoing {
                self.book.source_of(&p.addr).unwrap_or(PeerSource::Manual)
            } else {
                PeerSource::Incoming
            };
            n[src as usize] = n[src as usize].saturating_add(1);
        }
        n
    }
}

/// Number of pieces of a parsed `info` (bounded by its hash list).
/// Number of pieces of a parsed `info` (bounded by its hash list).
pub(crate) fn piece_count(info: &Info) -> u32 {
    u32::try_from(info.piece_hashes.len()).unwrap_or(u32::MAX)
}
