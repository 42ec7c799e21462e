//! Board profiles: RAM budgets and limits for the hardware rill runs on.
//!
//! INTERFACE STUB — to be implemented (keep these fields; add freely).
//! Profiles live in `board/*.toml`, are embedded at build time, auto-detected
//! from `/proc/device-tree/model` and `/proc/meminfo`, and overridable with
//! `--board NAME`.

#[derive(Clone, Debug, PartialEq)]
pub struct BoardProfile {
    pub name: String,
    pub description: String,
    /// Max peer connections per torrent.
    pub max_peers_per_torrent: u32,
    /// Max peer connections over all torrents.
    pub max_connections: u32,
    /// RAM for blocks of in-flight pieces, all torrents together (bytes).
    pub inflight_ram: u64,
    /// RAM tier of verified pieces kept for readers (bytes).
    pub ram_tier: u64,
    /// Threads for SHA-1 and disk writes.
    pub hash_threads: u32,
    /// tiny_http worker threads (streaming issue).
    pub http_workers: u32,
}
