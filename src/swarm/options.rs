//! What a torrent is added with ([`AddOptions`]): where its files and
//! resume file go, extra peers, seeding, storage mode `stream`, preloading;
//! and how the engine finds peers besides trackers ([`Discovery`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// Files land in `out_dir/<name>` (or `out_dir/<name>/...`).
    pub out_dir: PathBuf,
    /// Where `<infohash-hex>.resume` lives; `None`: no resume file.
    pub resume_dir: Option<PathBuf>,
    /// Peers to connect to besides those trackers and the magnet name.
    pub extra_peers: Vec<SocketAddr>,
    /// Keep uploading after completion.
    pub seed: bool,
    /// Storage mode `stream`: keep verified pieces in this bounded disk
    /// cache instead of `out_dir` (see `store::cache`).
    pub disk_cache: Option<Arc<crate::store::DiskCache>>,
    /// Ask for the edges of big files first (see [`super::preload`]).
    pub preload_edges: bool,
}

/// Peer discovery besides trackers and given peers, for
/// `Engine::start_with`.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// The DHT node's config; `None`: no DHT.
    pub dht: Option<crate::dht::DhtConfig>,
    /// Local peer discovery (BEP 14) on the LAN; off anyway when peers
    /// listen on loopback.
    pub lsd: bool,
    /// Peer exchange (BEP 11, `ut_pex`) with peers that offer it; never
    /// for private torrents.
    pub pex: bool,
    /// The holepunch extension (BEP 55, `ut_holepunch`): relay for peers
    /// that ask, and dial over uTP when a relay says so.
    pub holepunch: bool,
}

impl Default for Discovery {
    /// What `Engine::start` uses: no DHT and no LSD (both go beyond the
    /// peers a torrent is given), peer exchange and holepunch with those
    /// peers on.
    fn default() -> Self {
        Discovery {
            dht: None,
            lsd: false,
            pex: true,
            holepunch: true,
        }
    }
}
