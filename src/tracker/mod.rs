//! Tracker clients: HTTP/HTTPS (BEP 3, BEP 23 compact peers), UDP (BEP 15),
//! and tiers (BEP 12).
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

use std::net::SocketAddr;
use std::time::Duration;

use crate::torrent::InfoHash;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    None,
    Started,
    Completed,
    Stopped,
}

#[derive(Clone, Debug)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Event,
    pub num_want: u32,
}

#[derive(Clone, Debug, Default)]
pub struct AnnounceResponse {
    pub interval: Duration,
    pub min_interval: Option<Duration>,
    pub peers: Vec<SocketAddr>,
    pub seeders: Option<u32>,
    pub leechers: Option<u32>,
    pub warning: Option<String>,
}

#[derive(Debug)]
pub enum TrackerError {
    Invalid(String),
}

impl std::fmt::Display for TrackerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrackerError::Invalid(s) => write!(f, "tracker: {s}"),
        }
    }
}

impl std::error::Error for TrackerError {}

/// Announce to one tracker URL (`http://`, `https://` or `udp://`).
pub async fn announce(
    _url: &str,
    _req: &AnnounceRequest,
) -> Result<AnnounceResponse, TrackerError> {
    todo!()
}

/// BEP 12 tiers: try trackers tier by tier, promote the one that answered
/// to the front of its tier.
pub struct TrackerTiers {
    pub tiers: Vec<Vec<String>>,
}

impl TrackerTiers {
    pub fn new(tiers: Vec<Vec<String>>) -> TrackerTiers {
        TrackerTiers { tiers }
    }

    /// Announce following BEP 12; the answer of the first tracker that answers.
    pub async fn announce(
        &mut self,
        _req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        todo!()
    }
}
