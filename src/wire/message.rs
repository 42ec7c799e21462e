//! Peer-wire messages after the handshake: BEP 3, BEP 6 (fast extension),
//! BEP 10 (extension protocol envelope).
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

/// Largest frame we accept (length prefix value). A `Piece` carries at most
/// a 16 KiB block plus 9 header bytes; a bitfield of a huge torrent is the
/// other large message. Anything larger disconnects the peer.
pub const MAX_MESSAGE_LEN: u32 = 1 << 20;

/// Largest block we request or serve.
pub const BLOCK_LEN: u32 = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request { index: u32, begin: u32, length: u32 },
    Piece { index: u32, begin: u32, data: Vec<u8> },
    Cancel { index: u32, begin: u32, length: u32 },
    Port(u16),
    Suggest(u32),
    HaveAll,
    HaveNone,
    Reject { index: u32, begin: u32, length: u32 },
    AllowedFast(u32),
    /// BEP 10: `id` 0 is the extension handshake.
    Extended { id: u8, payload: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Invalid(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Invalid(s) => write!(f, "bad peer message: {s}"),
        }
    }
}

impl std::error::Error for WireError {}

impl Message {
    /// Decode one length-prefixed frame from the front of `buf`.
    /// `Ok(None)`: need more bytes. `Ok(Some((msg, consumed)))` otherwise.
    pub fn decode(_buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
        todo!()
    }

    /// Append the length-prefixed frame to `out`.
    pub fn encode(&self, _out: &mut Vec<u8>) {
        todo!()
    }
}
