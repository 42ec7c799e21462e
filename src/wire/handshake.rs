//! The 68-byte BitTorrent handshake (BEP 3) with reserved-bit flags for
//! BEP 6 (fast) and BEP 10 (extension protocol).
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

use super::WireError;

pub const HANDSHAKE_LEN: usize = 68;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Ours: advertises BEP 6 and BEP 10.
    pub fn new(_info_hash: [u8; 20], _peer_id: [u8; 20]) -> Handshake {
        todo!()
    }
    pub fn parse(_buf: &[u8]) -> Result<Handshake, WireError> {
        todo!()
    }
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        todo!()
    }
    pub fn supports_extensions(&self) -> bool {
        todo!()
    }
    pub fn supports_fast(&self) -> bool {
        todo!()
    }
}
