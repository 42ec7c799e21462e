//! The swarm engine: one smol executor thread doing all network I/O.
//!
//! [`Engine`] is the thread-safe handle the rest of rill uses (CLI, HTTP
//! server): it sends commands over a channel to the executor thread, which
//! owns every torrent, peer connection, tracker announce and timer. SHA-1
//! verification and disk I/O run on smol's blocking pool behind a
//! semaphore sized by the board profile, never on the network thread.
//!
//! Parts:
//! - [`engine`]: the public handle, configuration, and the command loop.
//! - [`stats`]: what the handle reports (`TorrentStats`) and rate meters.
//! - `ctx`: engine-wide state on the executor thread (limits, bans, spawn).
//! - `torrent`: per-torrent state and its lifecycle (metadata, checking,
//!   downloading, seeding), with the shared-state invariants.
//! - `pieces`: received blocks, verification, bad-piece blame and bans.
//! - `peer`: one connection (handshake, MSE/PE link, reader, writer,
//!   message handling).
//! - `metadata`: BEP 9 metadata fetch for magnets.
//! - `connect`, `listener`: outgoing and incoming connections.
//! - `announce`: the tracker loop; `dht_peers`: the DHT loop beside it.
//! - `upload`: serving requests and applying the choker.
//! - [`preload`]: the edges of big files asked for first (`rill serve`).
//! - [`picker`], [`choker`]: pure decision logic the engine drives.

mod announce;
pub mod choker;
mod connect;
mod ctx;
mod dht_peers;
pub mod engine;
mod listener;
mod mailbox;
mod metadata;
mod peer;
pub mod picker;
mod pieces;
pub mod preload;
pub mod stats;
mod torrent;
mod udp;
mod unwritten;
mod upload;

pub use engine::{
    AddOptions, Engine, EngineConfig, EngineError, PriorityHandle, Source, TorrentId,
};
pub use peer::Encryption;
pub use stats::{PeerSource, TorrentState, TorrentStats};
