//! The BEP 10 extension handshake dictionary.
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

use super::WireError;

/// Our id for ut_metadata in the `m` dictionary we send.
pub const UT_METADATA_ID: u8 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// The peer's id for ut_metadata, if it supports it (0 = disabled).
    pub ut_metadata: Option<u8>,
    pub metadata_size: Option<u32>,
    /// Client name and version (`v`).
    pub client: Option<String>,
    /// Max outstanding requests the peer accepts (`reqq`).
    pub reqq: Option<u32>,
    /// The peer's listen port (`p`).
    pub listen_port: Option<u16>,
}

impl ExtHandshake {
    pub fn parse(_payload: &[u8]) -> Result<ExtHandshake, WireError> {
        todo!()
    }
    pub fn encode(&self) -> Vec<u8> {
        todo!()
    }
}
