//! Magnet URIs (BEP 9): `xt=urn:btih:` in hex or base32, `dn`, `tr`, `x.pe`.
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

use std::net::SocketAddr;

use super::InfoHash;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    pub info_hash: InfoHash,
    pub display_name: Option<String>,
    pub trackers: Vec<String>,
    /// `x.pe` peer addresses (`host:port`, IPv4 or `[v6]:port`).
    pub peers: Vec<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MagnetError {
    Invalid(String),
}

impl std::fmt::Display for MagnetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MagnetError::Invalid(s) => write!(f, "invalid magnet URI: {s}"),
        }
    }
}

impl std::error::Error for MagnetError {}

impl Magnet {
    pub fn parse(_uri: &str) -> Result<Magnet, MagnetError> {
        todo!()
    }
}
