//! The handle of one torrent on the executor thread, shared by `Rc` among
//! its tasks (peer sessions, ticker, announcer, verifications): its id,
//! options and state, the announcer's wake channel, and the three things
//! the tasks report up to the lifecycle ([`Upcalls`], filled in by
//! `lifecycle.rs`, which this file does not import). Also the stats
//! snapshot it publishes.
//!
//! # Shared state
//! All mutable state sits in `st: RefCell<TState>` (its invariants are on
//! [`TState`], `state/mod.rs`). It is borrowed only in synchronous code and
//! never across an `.await` (tasks copy what they need, drop the borrow,
//! await, borrow again and re-check that the peer or torrent still exists).
//! No other torrent's state is borrowed while holding it. The cells below
//! (`announce_task`, `stopping`) belong to the lifecycle.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use smol::channel::{Receiver, Sender};
use smol::Task;

use super::ctx::Ctx;
use super::options::AddOptions;
use super::state::{piece_count, TState};
use super::stats::{PeerSummary, Published, TorrentStats};
use crate::store::PieceStore;
use crate::torrent::{Info, InfoHash};

/// What the torrent tells its announcer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    Completed,
    Stop,
}

/// What the tasks below the lifecycle report up to it: the torrent cannot
/// go on (a disk or metadata failure: it stops), every piece is verified,
/// a magnet's metadata arrived (matching the info hash, parsed), new peer
/// addresses are in the address book (PEX: dial now, not at the tick). Plain
/// function pointers, called synchronously, so a report acts at once.
pub(crate) struct Upcalls {
    pub fail: fn(&Rc<Torrent>, String),
    pub complete: fn(&Rc<Torrent>),
    pub metadata: fn(Rc<Torrent>, Info, Vec<u8>) -> LocalFuture,
    pub peers_found: fn(&Rc<Torrent>),
    pub holepunch_dial: fn(&Rc<Torrent>, SocketAddr, SocketAddr),
}

/// A future on the executor thread (not `Send`).
pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The engine's torrents by info hash. The engine adds and removes them;
/// the listener finds an incoming connection's torrent here; a torrent
/// looks here for the others' RAM shares.
#[derive(Default)]
pub(crate) struct Torrents(RefCell<HashMap<InfoHash, Rc<Torrent>>>);

impl Torrents {
    pub fn get(&self, id: &InfoHash) -> Option<Rc<Torrent>> {
        self.0.borrow().get(id).cloned()
    }

    pub fn contains(&self, id: &InfoHash) -> bool {
        self.0.borrow().contains_key(id)
    }

    pub fn insert(&self, t: Rc<Torrent>) {
        self.0.borrow_mut().insert(t.id, t);
    }

    pub fn remove(&self, id: &InfoHash) -> Option<Rc<Torrent>> {
        self.0.borrow_mut().remove(id)
    }

    pub fn all(&self) -> Vec<Rc<Torrent>> {
        self.0.borrow().values().cloned().collect()
    }

    pub fn ids(&self) -> Vec<InfoHash> {
        self.0.borrow().keys().copied().collect()
    }

    /// Whether `t` is the torrent the table holds under its id (not one
    /// removed whose stop is still running).
    fn is_current(&self, t: &Torrent) -> bool {
        self.0
            .borrow()
            .get(&t.id)
            .is_some_and(|x| std::ptr::eq(Rc::as_ptr(x), t))
    }

    /// Torrents other than `id` whose store is open.
    pub fn open_besides(&self, id: InfoHash) -> usize {
        self.0
            .borrow()
            .values()
            .filter(|t| t.id != id && t.st.try_borrow().is_ok_and(|st| st.data().is_some()))
            .count()
    }

    /// Split the RAM caps anew over the torrents whose store is open (after
    /// one opened or was removed). Call with no torrent state borrowed.
    pub fn rebalance_ram(&self, ctx: &Ctx) {
        let stores: Vec<Arc<PieceStore>> = self
            .0
            .borrow()
            .values()
            .filter_map(|t| {
                let st = t.st.try_borrow().ok()?;
                st.data().map(|d| d.store.clone())
            })
            .collect();
        for s in &stores {
            let (inflight, tier) = ctx.ram_share(stores.len(), s.layout().piece_length);
            s.set_ram_caps(inflight, tier);
        }
    }
}

pub(crate) struct Torrent {
    pub id: InfoHash,
    pub ctx: Rc<Ctx>,
    /// The engine's table this torrent is in.
    pub all: Rc<Torrents>,
    pub opts: AddOptions,
    pub st: RefCell<TState>,
    pub(super) wake: Sender<Wake>,
    pub(super) wake_rx: Receiver<Wake>,
    pub(super) announce_task: RefCell<Option<Task<()>>>,
    pub(super) stopping: Cell<bool>,
    /// Closed when `stop` has finished (later callers wait on it).
    pub(super) stopped_tx: Sender<()>,
    pub(super) stopped_rx: Receiver<()>,
    up: &'static Upcalls,
}

impl Torrent {
    /// A torrent with its initial state `st` (see `TState::new`).
    pub fn new(
        ctx: &Rc<Ctx>,
        all: &Rc<Torrents>,
        id: InfoHash,
        st: TState,
        opts: AddOptions,
        up: &'static Upcalls,
    ) -> Rc<Torrent> {
        let (wake, wake_rx) = smol::channel::unbounded();
        let (stopped_tx, stopped_rx) = smol::channel::bounded(1);
        Rc::new(Torrent {
            id,
            ctx: ctx.clone(),
            all: all.clone(),
            opts,
            st: RefCell::new(st),
            wake,
            wake_rx,
            announce_task: RefCell::new(None),
            stopping: Cell::new(false),
            stopped_tx,
            stopped_rx,
            up,
        })
    }

    /// A failure the torrent cannot continue after (disk, bad metadata):
    /// it reports the error and stops.
    pub fn fail(self: &Rc<Self>, msg: String) {
        (self.up.fail)(self, msg)
    }

    /// Every piece is verified: announce it, save resume, and either keep
    /// seeding or stop.
    pub fn on_complete(self: &Rc<Self>) {
        (self.up.complete)(self)
    }

    /// The magnet's metadata arrived, matched the info hash and parsed:
    /// check the files and start downloading.
    pub async fn metadata_ready(self: Rc<Self>, info: Info, bytes: Vec<u8>) {
        (self.up.metadata)(self, info, bytes).await
    }

    /// New addresses are in the address book: dial within the limits.
    pub fn peers_found(self: &Rc<Self>) {
        (self.up.peers_found)(self)
    }

    /// A holepunch relay named `addr` (BEP 55 connect): dial it over uTP
    /// now, within the limits.
    pub fn holepunch_dial(self: &Rc<Self>, addr: SocketAddr, relay: SocketAddr) {
        (self.up.holepunch_dial)(self, addr, relay)
    }

    pub fn is_stopped(&self) -> bool {
        self.st.borrow().is_stopped()
    }

    /// Copy a stats snapshot to the shared table and wake waiters. A
    /// torrent no longer in the engine's table (removed: its stop is still
    /// running) publishes nothing, so it does not reappear in listings.
    pub fn publish(&self) {
        if !self.all.is_current(self) {
            return;
        }
        let (stats, info, store) = {
            let st = self.st.borrow();
            let (pieces_done, pieces_total, total_length, bytes_done) = match (st.data(), st.info())
            {
                (Some(d), Some(i)) => (
                    // Pieces the stream cache evicted since the last tick
                    // are not ours any more (a torrent read faster than
                    // the tick would otherwise show every piece done).
                    d.have.count().saturating_sub(d.store.evicted_pending()),
                    d.piece_count(),
                    i.total_length,
                    d.done_bytes,
                ),
                (None, Some(i)) => (0, piece_count(i), i.total_length, 0),
                _ => (0, 0, 0, 0),
            };
            let stats = TorrentStats {
                id: self.id,
                name: st.name.clone(),
                state: st.phase().clone(),
                pieces_done,
                pieces_total,
                total_length,
                bytes_done,
                downloaded: st.counters.downloaded,
                reused: st.counters.reused,
                uploaded: st.counters.uploaded,
                wasted: st.counters.waste.total(),
                download_rate: st.counters.down.rate(),
                upload_rate: st.counters.up.rate(),
                peers: u32::try_from(st.peers.len()).unwrap_or(u32::MAX),
                peers_encrypted: st.peers.values().filter(|p| p.encrypted).count() as u32,
                peers_utp: st.peers.values().filter(|p| p.utp).count() as u32,
                peer_list: st
                    .peers
                    .values()
                    .map(|p| PeerSummary {
                        addr: p.addr,
                        utp: p.utp,
                        encrypted: p.encrypted,
                        outgoing: p.outgoing,
                        download_rate: p.down.rate(),
                        upload_rate: p.up.rate(),
                    })
                    .collect(),
                peer_sources: st.peer_sources(),
                elapsed: st.added.elapsed(),
            };
            (
                stats,
                st.info().cloned(),
                st.data().map(|d| d.store.clone()),
            )
        };
        let id = self.id;
        self.ctx.shared.update(|m| {
            m.insert(id, Published { stats, info, store });
        });
    }
}
