//! BEP 9 ut_metadata messages: request, data, reject.
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

use super::WireError;

/// Metadata travels in 16 KiB pieces.
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;
/// Largest `info` dictionary we accept (limits RAM on a Pi).
pub const MAX_METADATA_SIZE: u32 = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMsg {
    Request { piece: u32 },
    Data { piece: u32, total_size: u32, data: Vec<u8> },
    Reject { piece: u32 },
}

impl MetadataMsg {
    pub fn parse(_payload: &[u8]) -> Result<MetadataMsg, WireError> {
        todo!()
    }
    pub fn encode(&self) -> Vec<u8> {
        todo!()
    }
}
