//! rill: a torrent streaming box for small ARM boards.
//!
//! The crate is layered as `../DESIGN.md` describes. A module imports only
//! modules of a lower layer, lowest first (`tests/layers.rs` checks it,
//! with no exceptions; `docs/architecture.md` explains the order):
//!
//! `random` < `codec` < `torrent`, `crypto`, `config` < `durable`, `board` <
//! `wire` < `net` < `tracker`, `store` < `dht`, `lsd` < `utp` < `swarm` <
//! `reader`, `session` < `media` < `hls`, `dlna` < `app` < `http` < `cli`.
//!
//! The modules:
//!
//! - [`torrent`]: metainfo, magnet links, piece/file layout math (pure).
//! - [`crypto`]: MSE/PE's Diffie-Hellman and RC4, written here (pure).
//! - [`wire`]: peer-protocol messages and tracker packets (pure parse/emit).
//! - [`net`]: small network clients of our own (HTTP/1.1 over async-io + rustls).
//! - [`tracker`]: HTTP, HTTPS and UDP tracker clients with BEP 12 tiers.
//! - [`dht`]: the BEP 5 DHT node (between `net` and `swarm`: the swarm owns
//!   its UDP socket, the peer port's, and asks it for peers).
//! - [`lsd`]: local service discovery (BEP 14): multicast announces on the
//!   LAN, beside the DHT; the swarm announces its torrents and takes the peers.
//! - [`utp`]: uTP (BEP 29) connections with LEDBAT on the peer port's UDP
//!   socket, beside the DHT.
//! - [`store`]: the spill-to-disk piece store with fast resume.
//! - [`swarm`]: the engine on one smol executor: peers, picker, choker.
//! - [`reader`]: blocking Read+Seek over a torrent file; sliding priority
//!   window; [`reader::resolve`], the one "torrent + file index" check.
//! - [`codec`]: pure formats several layers share: bencode reads and
//!   writes, JSON, gzip, `Range` arithmetic, percent-encoding, base64, CRCs
//!   (no HTTP in them).
//! - [`app`]: [`app::Service`], the app's shared state, and stream tokens.
//! - [`http`]: every HTTP route (API, `/stream`, HLS, DLNA, UI, metrics),
//!   the server, the pure pieces under them (auth, request heads), and the
//!   mapping of every lower layer's errors to status codes.
//! - [`dlna`]: the DLNA/UPnP media server (SSDP discovery, ContentDirectory).
//! - [`durable`]: replacing state files atomically and durably.
//! - [`media`]: ffprobe, the persistent probe cache, the copy/encode plan.
//! - [`hls`]: HLS playlists and segments made by ffmpeg jobs, segment cache.
//! - [`session`]: the service's persistent torrent list under the data dir.
//! - [`board`]: board profiles (RAM budgets, limits) and auto-detection.
//! - [`config`]: the TOML-subset reader for board profiles and the service config.
//! - [`cli`]: the `rill` command line.

pub mod app;
pub mod board;
pub mod cli;
pub mod codec;
pub mod config;
pub mod crypto;
pub mod dht;
pub mod dlna;
pub mod durable;
pub mod hls;
pub mod http;
pub mod lsd;
pub mod media;
pub mod net;
pub mod random;
pub mod reader;
pub mod session;
pub mod store;
pub mod swarm;
pub mod torrent;
pub mod tracker;
pub mod utp;
pub mod wire;
