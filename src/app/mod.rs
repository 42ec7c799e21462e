//! The app of `rill serve` as one value: [`Service`], the state every
//! front end answers from (the engine, the torrent list, HLS, DLNA's
//! identity, watch positions, stream tokens), and [`Service::file`], the
//! one way to go from "torrent `ID`, file `N`" to a file or a typed error
//! ([`Service::file_when_known`] waits for a magnet's metadata first).
//!
//! Between the parts it holds (`hls`, `dlna`, `session`, ...) and `http`,
//! which wraps it with what only HTTP needs (credentials, counters, the
//! upload limit: `http::Web`). Nothing here knows HTTP: errors are
//! [`FileError`]s, which `http/error.rs` maps to status codes.
//!
//! - [`tokens`]: the per-file stream tokens (`/s/TOKEN/NAME`).
//!
//! # Shared state
//! A `Service` is shared by every HTTP worker through an `Arc`; it is
//! immutable, and each part it holds has its own locks.

pub mod tokens;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dlna::Device;
use crate::hls::Hls;
use crate::net::portmap::ExternalAddr;
use crate::reader::{resolve, FileError, FileRef, ReaderConfig};
use crate::session::positions::Positions;
use crate::session::Session;
use crate::store::DiskCache;
use crate::swarm::{Engine, TorrentId};
use tokens::StreamTokens;

/// What the front ends share.
pub struct Service {
    pub engine: Arc<Engine>,
    pub session: Arc<Session>,
    /// How stream readers read (window bounds, wait per piece).
    pub reader: ReaderConfig,
    /// The DLNA media server's identity; `None` when DLNA is off.
    pub dlna: Option<Arc<Device>>,
    /// Watch positions for the web UI's resume.
    pub positions: Arc<Positions>,
    /// Per-file stream URLs that need no credentials (`/s/TOKEN/NAME`).
    pub tokens: StreamTokens,
    /// Storage mode `stream`: the disk cache (for `/metrics`).
    pub disk_cache: Option<Arc<DiskCache>>,
    /// HLS and media probing (`None` if it could not start).
    pub hls: Option<Arc<Hls>>,
    /// The external address port mapping learnt (`None`: mapping is off).
    pub external_addr: Option<ExternalAddr>,
}

impl Service {
    /// File `index` of torrent `id`: the torrent must be in the session
    /// (the list the API shows), the engine must know its metadata, and
    /// the file must exist ([`resolve`] checks the last two).
    pub fn file(&self, id: TorrentId, index: usize) -> Result<FileRef, FileError> {
        if !self.session.contains(id) {
            return Err(FileError::UnknownTorrent(id));
        }
        resolve(&self.engine, id, index)
    }

    /// [`Service::file`], but a magnet whose metadata has not arrived yet
    /// is waited for, at most `wait` (woken by the engine's publications):
    /// a player handed a stream URL right after the magnet was added gets
    /// the bytes instead of a `503` it may not retry.
    pub fn file_when_known(
        &self,
        id: TorrentId,
        index: usize,
        wait: Duration,
    ) -> Result<FileRef, FileError> {
        let deadline = Instant::now() + wait;
        // The current generation (u64::MAX is never current: no wait).
        let mut seen = self.engine.wait_change(u64::MAX, Duration::ZERO);
        // Bounded by the deadline; the count guards against a storm of
        // publications that never brings the metadata.
        for _ in 0..METADATA_WAIT_ROUNDS {
            match self.file(id, index) {
                Err(FileError::NoMetadata(_)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    seen = self.engine.wait_change(seen, left);
                }
                other => return other,
            }
        }
        self.file(id, index)
    }
}

/// Most engine publications looked at while waiting for metadata (the
/// engine publishes about once a second per torrent, and on changes).
const METADATA_WAIT_ROUNDS: usize = 10_000;
