//! The swarm engine: one smol executor thread doing all network I/O.
//!
//! [`Engine`] is the thread-safe handle the rest of rill uses (CLI, HTTP
//! server): it sends commands over a channel to the executor thread, which
//! owns every torrent, peer connection, tracker announce and timer. SHA-1
//! verification and disk I/O run on smol's blocking pool behind a
//! semaphore sized by the board profile, never on the network thread.
//!
//! # Layers
//! Files import only files on their own layer or below (no import cycle;
//! `farm-studio look` shows none in `swarm/`). From the bottom:
//!
//! 1. Pure values and decisions: [`stats`] (what the handle reports, rate
//!    meters), [`waste`] (payload that arrived for nothing, by cause), `options` ([`AddOptions`]), [`picker`], [`choker`],
//!    [`preload`]; a peer's wire-level parts `peer/frames.rs`,
//!    `peer/pipeline.rs`, `peer/link.rs` (handshake, MSE/PE),
//!    `peer/pex_state.rs` (what PEX told a peer), `peer/hp_state.rs` (a
//!    peer's holepunch budget) and `peer/state.rs`
//!    (`PeerState`).
//! 2. `ctx`: engine-wide state on the executor thread (limits, bans,
//!    spawning, the blocking pool).
//! 3. `state/`: the per-torrent state `TState`, with its invariants, and
//!    the types that own parts of it (peers table, upload queues and the
//!    choker, rushing urgent pieces, BEP 9 fetch, address book, blame).
//!    Only their methods change that state; nothing here runs a task.
//! 4. `torrent`: the torrent handle shared by its tasks (`Torrent`: id,
//!    context, options, `RefCell<TState>`), the engine's table of them
//!    (`Torrents`), and `Upcalls`; `mailbox`: priority updates.
//! 5. The torrent's tasks: `upload` (reading blocks to send), `pieces`
//!    (received blocks, verification, a disk that refuses writes),
//!    `metadata` (BEP 9 messages), `peer/handle.rs` (one peer's messages)
//!    and `peer/mod.rs` (one session), `connect` (outgoing connections),
//!    `announce` (trackers), `dht_peers` (the DHT loop), `lsd_peers`
//!    (local discovery), `listener` (incoming connections).
//! 6. `lifecycle`: metadata → checking → downloading → seeding/complete,
//!    stopping, the once-a-second tick; it starts the tasks of layer 5.
//! 7. [`engine`]: the public handle and the command loop.
//!
//! Reports go up without an import: a task that finds the torrent failed,
//! complete, given its metadata, new peer addresses (PEX), or a holepunch
//! relay's `connect` (BEP 55) calls `Torrent::fail`, `on_complete`,
//! `metadata_ready`, `peers_found` or `holepunch_dial` (layer 4), which
//! hand it to the lifecycle through the
//! `Upcalls` it registered; a peer session that ends calls the `then` its
//! starter passed (`connect_more`, to dial a replacement).

mod announce;
pub mod choker;
mod connect;
mod ctx;
mod dht_peers;
pub mod engine;
mod holepunch;
mod lifecycle;
mod listener;
mod lsd_peers;
mod mailbox;
mod metadata;
mod options;
mod peer;
mod pex;
pub mod picker;
mod pieces;
pub mod preload;
mod state;
pub mod stats;
mod torrent;
mod udp;
mod upload;
pub mod waste;

pub use engine::{
    AddOptions, Discovery, Engine, EngineConfig, EngineError, PriorityHandle, Source, TorrentId,
};
pub use peer::Encryption;
pub use stats::{PeerSource, PeerSummary, TorrentState, TorrentStats};
