//! What the engine reports about its torrents, and how other threads wait
//! for it to change.
//!
//! The executor thread publishes a [`TorrentStats`] snapshot per torrent
//! into [`Shared`] (once a second and on every state change); handles on
//! other threads read the snapshot or block on the condvar until the
//! generation counter moves. Nothing here touches the network.
//!
//! # Shared state
//! `Shared::inner` is one `std::sync::Mutex`, held only to copy a snapshot in
//! or out (never across I/O or an `.await`); `Shared::changed` is notified
//! after every publish. Invariant: `gen` increases on every change, so a
//! waiter that saw generation `g` wakes for anything newer.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::store::PieceStore;
use crate::torrent::{Info, InfoHash};

/// Where a torrent is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TorrentState {
    /// A magnet: asking peers for the `info` dictionary (BEP 9).
    FetchingMetadata,
    /// Hash-checking data already on disk.
    Checking,
    Downloading,
    /// Complete and still uploading (`AddOptions::seed`).
    Seeding,
    /// Complete; no longer connected to peers.
    Complete,
    /// Stopped by an error it cannot recover from (e.g. the disk failed).
    Error(String),
}

impl TorrentState {
    /// Every wanted piece is verified.
    pub fn is_done(&self) -> bool {
        matches!(self, TorrentState::Seeding | TorrentState::Complete)
    }
}

impl std::fmt::Display for TorrentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TorrentState::FetchingMetadata => f.write_str("fetching metadata"),
            TorrentState::Checking => f.write_str("checking"),
            TorrentState::Downloading => f.write_str("downloading"),
            TorrentState::Seeding => f.write_str("seeding"),
            TorrentState::Complete => f.write_str("complete"),
            TorrentState::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// Where a connected peer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerSource {
    /// `--peer`, a magnet's `x.pe`.
    Manual = 0,
    Tracker = 1,
    Dht = 2,
    Pex = 3,
    Lsd = 4,
    /// It connected to us.
    Incoming = 5,
}

impl PeerSource {
    pub const ALL: [PeerSource; 6] = [
        PeerSource::Manual,
        PeerSource::Tracker,
        PeerSource::Dht,
        PeerSource::Pex,
        PeerSource::Lsd,
        PeerSource::Incoming,
    ];

    /// The name the API and `/metrics` use.
    pub fn name(self) -> &'static str {
        match self {
            PeerSource::Manual => "manual",
            PeerSource::Tracker => "tracker",
            PeerSource::Dht => "dht",
            PeerSource::Pex => "pex",
            PeerSource::Lsd => "lsd",
            PeerSource::Incoming => "incoming",
        }
    }
}

/// One connected peer, as the API lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerSummary {
    pub addr: std::net::SocketAddr,
    /// Over uTP (else TCP).
    pub utp: bool,
    /// RC4-encrypted (MSE/PE; else plaintext).
    pub encrypted: bool,
    /// We dialled it (else it connected to us).
    pub outgoing: bool,
    /// Payload bytes per second from it and to it.
    pub download_rate: f64,
    pub upload_rate: f64,
}

/// A snapshot of one torrent.
#[derive(Clone, Debug, PartialEq)]
pub struct TorrentStats {
    pub id: InfoHash,
    /// The torrent's name (a magnet's `dn` or its info hash until the
    /// metadata arrives).
    pub name: String,
    pub state: TorrentState,
    pub pieces_done: u32,
    /// 0 while a magnet's metadata is unknown.
    pub pieces_total: u32,
    /// Bytes of all pieces (0 while unknown).
    pub total_length: u64,
    /// Bytes of verified pieces.
    pub bytes_done: u64,
    /// Payload bytes of pieces downloaded from peers and verified this run.
    pub downloaded: u64,
    /// Bytes of pieces found verified on disk when the torrent started.
    pub reused: u64,
    /// Payload bytes sent to peers this run.
    pub uploaded: u64,
    /// Payload bytes received this run that did not add to the download
    /// (second copies, no room, failed pieces: `swarm::waste`).
    pub wasted: u64,
    /// Payload bytes per second received (all blocks, before verification).
    pub download_rate: f64,
    pub upload_rate: f64,
    /// Established peer connections.
    pub peers: u32,
    /// Of those, the RC4-encrypted ones (MSE/PE); the rest are plaintext.
    pub peers_encrypted: u32,
    /// Of those, the ones over uTP; the rest are over TCP.
    pub peers_utp: u32,
    /// Each connected peer (as many as the connection limit allows).
    pub peer_list: Vec<PeerSummary>,
    /// Connected peers by source, indexed by `PeerSource as usize`.
    pub peer_sources: [u32; 6],
    /// Time since the torrent was added.
    pub elapsed: Duration,
}

impl TorrentStats {
    /// Done fraction in `0.0..=1.0` (0 while the size is unknown).
    pub fn progress(&self) -> f64 {
        if self.total_length == 0 {
            if self.state.is_done() {
                return 1.0;
            }
            return 0.0;
        }
        self.bytes_done as f64 / self.total_length as f64
    }
}

/// One published torrent: its snapshot plus what readers on other threads
/// need once the metadata is known.
#[derive(Clone)]
pub(crate) struct Published {
    pub stats: TorrentStats,
    pub info: Option<Arc<Info>>,
    pub store: Option<Arc<PieceStore>>,
}

#[derive(Default)]
pub(crate) struct SharedInner {
    pub torrents: HashMap<InfoHash, Published>,
    pub gen: u64,
}

/// State shared between the executor thread and [`super::Engine`] handles.
#[derive(Default)]
pub(crate) struct Shared {
    inner: Mutex<SharedInner>,
    changed: Condvar,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, SharedInner> {
        // A panic while holding this lock cannot leave it inconsistent (it
        // holds plain snapshots), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the published entries under the lock, then wake waiters.
    pub fn update(&self, f: impl FnOnce(&mut HashMap<InfoHash, Published>)) {
        {
            let mut g = self.lock();
            f(&mut g.torrents);
            g.gen = g.gen.wrapping_add(1);
        }
        self.changed.notify_all();
    }

    /// Block until the generation differs from `seen` or `timeout` passes;
    /// returns the current generation.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut g = self.lock();
        while g.gen == seen {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = match self.changed.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        g.gen
    }
}

/// A byte-rate meter: bytes are added as they flow; `tick` folds the last
/// period into an exponential moving average.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meter {
    pending: u64,
    rate: f64,
}

impl Meter {
    pub fn add(&mut self, bytes: u64) {
        self.pending = self.pending.saturating_add(bytes);
    }

    /// Close a period of `secs` seconds.
    pub fn tick(&mut self, secs: f64) {
        if secs <= 0.0 {
            return;
        }
        let now = self.pending as f64 / secs;
        self.pending = 0;
        // Weighted toward the newest second so pipelines react quickly.
        self.rate = 0.6 * now + 0.4 * self.rate;
        if self.rate < 1.0 {
            self.rate = 0.0;
        }
    }

    /// Bytes per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_follows_the_rate() {
        let mut m = Meter::default();
        for _ in 0..20 {
            m.add(1000);
            m.tick(1.0);
        }
        assert!((m.rate() - 1000.0).abs() < 1.0);
        for _ in 0..40 {
            m.tick(1.0);
        }
        assert_eq!(m.rate(), 0.0);
        m.tick(0.0);
        assert_eq!(m.rate(), 0.0);
    }

    #[test]
    fn wait_returns_on_change_or_timeout() {
        let s = Arc::new(Shared::default());
        let g0 = s.wait(u64::MAX, Duration::from_millis(1));
        assert_eq!(g0, 0);
        assert_eq!(s.wait(g0, Duration::from_millis(10)), g0);
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.update(|_| {}));
        let g1 = s.wait(g0, Duration::from_secs(10));
        assert_eq!(g1, 1);
        let _ = t.join();
    }
}
