//! Peer-wire messages after the handshake: BEP 3, BEP 6 (fast extension),
//! BEP 10 (extension protocol envelope).
//!
//! Every message is a frame: a 4-byte big-endian length, then that many
//! bytes (a message id and its payload; length 0 is a keep-alive).
//!
//! How the engine uses this from a growing read buffer:
//! - [`Message::decode`] looks at the front of the buffer and answers
//!   "need more bytes" (`Ok(None)`), one message and how many bytes it used,
//!   or an error. A length prefix above [`MAX_MESSAGE_LEN`] is an error as
//!   soon as the 4 prefix bytes are there, before any body arrives, so a
//!   hostile peer cannot make us wait for (or buffer) a huge frame.
//! - An engine that reads the prefix and the body separately uses
//!   [`frame_len`] on the prefix (to know how much to read, or to drop the
//!   peer) and [`Message::decode_body`] on the body.
//!
//! Length rules are strict: fixed-size messages must have exactly their
//! size, and block lengths in request/reject/cancel/piece must be in
//! `1..=MAX_REQUEST_LEN`. Any error here means the peer broke the protocol
//! and the engine disconnects it. Unknown message ids are NOT errors (future
//! extensions, e.g. BEP 52 hash messages): they decode to
//! [`Message::Unknown`], which the engine ignores.

use crate::codec::bencode::BencodeError;

/// Largest frame we accept (length prefix value). A `Piece` carries at most
/// a 16 KiB block plus 9 header bytes; a bitfield of a huge torrent is the
/// other large message. Anything larger disconnects the peer.
pub const MAX_MESSAGE_LEN: u32 = 1 << 20;

/// Largest block we request or serve.
pub const BLOCK_LEN: u32 = 16 * 1024;

/// Largest block length a request, reject, cancel or piece may carry.
/// We only ask for [`BLOCK_LEN`], but some clients use up to 128 KiB; a
/// length of 0 or above this is a protocol violation.
pub const MAX_REQUEST_LEN: u32 = 128 * 1024;

const ID_CHOKE: u8 = 0;
const ID_UNCHOKE: u8 = 1;
const ID_INTERESTED: u8 = 2;
const ID_NOT_INTERESTED: u8 = 3;
const ID_HAVE: u8 = 4;
const ID_BITFIELD: u8 = 5;
const ID_REQUEST: u8 = 6;
const ID_PIECE: u8 = 7;
const ID_CANCEL: u8 = 8;
const ID_PORT: u8 = 9;
const ID_SUGGEST: u8 = 0x0D;
const ID_HAVE_ALL: u8 = 0x0E;
const ID_HAVE_NONE: u8 = 0x0F;
const ID_REJECT: u8 = 0x10;
const ID_ALLOWED_FAST: u8 = 0x11;
const ID_EXTENDED: u8 = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    Bitfield(Vec<u8>),
    Request {
        index: u32,
        begin: u32,
        length: u32,
    },
    Piece {
        index: u32,
        begin: u32,
        data: Vec<u8>,
    },
    Cancel {
        index: u32,
        begin: u32,
        length: u32,
    },
    Port(u16),
    Suggest(u32),
    HaveAll,
    HaveNone,
    Reject {
        index: u32,
        begin: u32,
        length: u32,
    },
    AllowedFast(u32),
    /// BEP 10: `id` 0 is the extension handshake.
    Extended {
        id: u8,
        payload: Vec<u8>,
    },
    /// A message id we do not know. Real clients ignore these, and so does
    /// the engine; it exists so that decode → encode is lossless. Only ever
    /// built by the decoder with an id outside the ones above.
    Unknown {
        id: u8,
        payload: Vec<u8>,
    },
}

/// Why a peer's bytes were rejected. Lengths are frame lengths (the value of
/// the length prefix: id byte plus payload) unless a field says otherwise.
/// The engine adds which peer it was when it logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The handshake was not exactly 68 bytes.
    HandshakeLength { actual: usize },
    /// The handshake's first byte was not 19.
    HandshakePstrLen { actual: u8 },
    /// The handshake's protocol string was not "BitTorrent protocol".
    HandshakeProtocol,
    /// A length prefix above [`MAX_MESSAGE_LEN`].
    FrameTooLong { len: u32, max: u32 },
    /// A fixed-size message with the wrong size.
    BadLength { id: u8, expected: u32, actual: u32 },
    /// A message shorter than its fixed header.
    TooShort { id: u8, min: u32, actual: u32 },
    /// A request/reject/cancel length, or a piece's data length, of 0 or
    /// above [`MAX_REQUEST_LEN`].
    BadBlockLength { id: u8, length: u32 },
    /// A bencoded message (`what`: which one) that is not what it must
    /// be: bad bencode, a missing key, a wrong type, an integer out of
    /// range, bytes after the dictionary.
    Bencode {
        what: &'static str,
        error: BencodeError,
    },
    /// A list of compact addresses (`key`) whose length is not a whole
    /// number of `entry`-byte entries.
    CompactLength {
        what: &'static str,
        key: &'static str,
        len: usize,
        entry: usize,
    },
    /// A ut_metadata `msg_type` we do not know. BEP 9 says to ignore
    /// these, so the engine ignores the message and keeps the peer.
    MetadataUnknownType { msg_type: i64 },
    /// A ut_metadata data message whose data length does not match the
    /// piece's size (16 KiB, or what is left for the last piece).
    MetadataDataLength {
        piece: u32,
        expected: u32,
        actual: usize,
    },
    /// A ut_holepunch message (BEP 55) whose length does not match its
    /// address type (12 bytes for IPv4, 24 for IPv6), or shorter than 2.
    HolepunchLength { expected: usize, actual: usize },
    /// A ut_holepunch field (`msg_type`, `addr_type`, `err_code`) with a
    /// value BEP 55 does not define.
    HolepunchUnknown { field: &'static str, value: u32 },
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use WireError::*;
        match self {
            HandshakeLength { actual } => {
                write!(f, "handshake is {actual} bytes, expected 68")
            }
            HandshakePstrLen { actual } => write!(
                f,
                "handshake protocol length byte is {actual}, expected 19 (not a BitTorrent peer, or encrypted)"
            ),
            HandshakeProtocol => write!(f, "handshake protocol string is not \"BitTorrent protocol\""),
            FrameTooLong { len, max } => {
                write!(f, "message length prefix {len} exceeds the limit {max}")
            }
            BadLength {
                id,
                expected,
                actual,
            } => write!(
                f,
                "message id {id} has length {actual}, expected exactly {expected}"
            ),
            TooShort { id, min, actual } => write!(
                f,
                "message id {id} has length {actual}, expected at least {min}"
            ),
            BadBlockLength { id, length } => write!(
                f,
                "message id {id} carries block length {length}, allowed 1..={MAX_REQUEST_LEN}"
            ),
            Bencode { what, error } => write!(f, "{what}: {error}"),
            CompactLength {
                what,
                key,
                len,
                entry,
            } => write!(
                f,
                "{what}: {key:?} is {len} bytes, not a multiple of {entry}"
            ),
            MetadataUnknownType { msg_type } => {
                write!(f, "ut_metadata message with unknown msg_type {msg_type}")
            }
            MetadataDataLength {
                piece,
                expected,
                actual,
            } => write!(
                f,
                "ut_metadata piece {piece} carries {actual} bytes, expected {expected}"
            ),
            HolepunchLength { expected, actual } => write!(
                f,
                "ut_holepunch message is {actual} bytes, expected {expected}"
            ),
            HolepunchUnknown { field, value } => {
                write!(f, "ut_holepunch message with unknown {field} {value}")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// Validate a frame's 4-byte length prefix; returns the number of bytes that
/// follow it (0 = keep-alive). Errors if it exceeds [`MAX_MESSAGE_LEN`]: the
/// engine then disconnects without reading or allocating the body.
pub fn frame_len(prefix: [u8; 4]) -> Result<u32, WireError> {
    let len = u32::from_be_bytes(prefix);
    if len > MAX_MESSAGE_LEN {
        return Err(WireError::FrameTooLong {
            len,
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(len)
}

/// A slice length as a frame length (id byte included), saturating: only
/// used for error reports on slices already bounded by `MAX_MESSAGE_LEN`.
fn frame_value(payload_len: usize) -> u32 {
    u32::try_from(payload_len)
        .ok()
        .and_then(|n| n.checked_add(1))
        .unwrap_or(u32::MAX)
}

/// The payload as exactly `N` bytes, or a `BadLength` error for `id`.
fn fixed<const N: usize>(id: u8, payload: &[u8]) -> Result<[u8; N], WireError> {
    payload.try_into().map_err(|_| WireError::BadLength {
        id,
        expected: frame_value(N),
        actual: frame_value(payload.len()),
    })
}

fn be32(b: [u8; 4]) -> u32 {
    u32::from_be_bytes(b)
}

/// `index`, `begin`, `length` of a request, reject or cancel.
fn block_ref(id: u8, payload: &[u8]) -> Result<(u32, u32, u32), WireError> {
    let p = fixed::<12>(id, payload)?;
    let index = be32([p[0], p[1], p[2], p[3]]);
    let begin = be32([p[4], p[5], p[6], p[7]]);
    let length = be32([p[8], p[9], p[10], p[11]]);
    if length == 0 || length > MAX_REQUEST_LEN {
        return Err(WireError::BadBlockLength { id, length });
    }
    Ok((index, begin, length))
}

impl Message {
    /// Decode one length-prefixed frame from the front of `buf`.
    /// `Ok(None)`: need more bytes. `Ok(Some((msg, consumed)))` otherwise.
    pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
        let prefix: [u8; 4] = match buf.get(..4).and_then(|p| p.try_into().ok()) {
            Some(p) => p,
            None => return Ok(None),
        };
        let len = frame_len(prefix)?;
        // len <= MAX_MESSAGE_LEN (1 MiB): no overflow on 32- or 64-bit.
        let total = 4 + len as usize;
        match buf.get(4..total) {
            Some(body) => Ok(Some((Message::decode_body(body)?, total))),
            None => Ok(None),
        }
    }

    /// Decode one frame's body (the bytes after the length prefix; empty
    /// means keep-alive).
    pub fn decode_body(body: &[u8]) -> Result<Message, WireError> {
        if body.len() > MAX_MESSAGE_LEN as usize {
            return Err(WireError::FrameTooLong {
                len: u32::try_from(body.len()).unwrap_or(u32::MAX),
                max: MAX_MESSAGE_LEN,
            });
        }
        let (&id, payload) = match body.split_first() {
            Some(split) => split,
            None => return Ok(Message::KeepAlive),
        };
        let msg = match id {
            ID_CHOKE => fixed::<0>(id, payload).map(|_| Message::Choke)?,
            ID_UNCHOKE => fixed::<0>(id, payload).map(|_| Message::Unchoke)?,
            ID_INTERESTED => fixed::<0>(id, payload).map(|_| Message::Interested)?,
            ID_NOT_INTERESTED => fixed::<0>(id, payload).map(|_| Message::NotInterested)?,
            ID_HAVE => Message::Have(be32(fixed(id, payload)?)),
            // Its length against the piece count is the engine's check.
            ID_BITFIELD => Message::Bitfield(payload.to_vec()),
            ID_REQUEST => {
                let (index, begin, length) = block_ref(id, payload)?;
                Message::Request {
                    index,
                    begin,
                    length,
                }
            }
            ID_PIECE => {
                if payload.len() < 8 {
                    return Err(WireError::TooShort {
                        id,
                        min: 9,
                        actual: frame_value(payload.len()),
                    });
                }
                let (head, data) = payload.split_at(8);
                if data.is_empty() || data.len() > MAX_REQUEST_LEN as usize {
                    return Err(WireError::BadBlockLength {
                        id,
                        length: u32::try_from(data.len()).unwrap_or(u32::MAX),
                    });
                }
                Message::Piece {
                    index: be32([head[0], head[1], head[2], head[3]]),
                    begin: be32([head[4], head[5], head[6], head[7]]),
                    data: data.to_vec(),
                }
            }
            ID_CANCEL => {
                let (index, begin, length) = block_ref(id, payload)?;
                Message::Cancel {
                    index,
                    begin,
                    length,
                }
            }
            ID_PORT => Message::Port(u16::from_be_bytes(fixed(id, payload)?)),
            ID_SUGGEST => Message::Suggest(be32(fixed(id, payload)?)),
            ID_HAVE_ALL => fixed::<0>(id, payload).map(|_| Message::HaveAll)?,
            ID_HAVE_NONE => fixed::<0>(id, payload).map(|_| Message::HaveNone)?,
            ID_REJECT => {
                let (index, begin, length) = block_ref(id, payload)?;
                Message::Reject {
                    index,
                    begin,
                    length,
                }
            }
            ID_ALLOWED_FAST => Message::AllowedFast(be32(fixed(id, payload)?)),
            ID_EXTENDED => match payload.split_first() {
                Some((&ext, rest)) => Message::Extended {
                    id: ext,
                    payload: rest.to_vec(),
                },
                None => {
                    return Err(WireError::TooShort {
                        id,
                        min: 2,
                        actual: 1,
                    })
                }
            },
            _ => Message::Unknown {
                id,
                payload: payload.to_vec(),
            },
        };
        Ok(msg)
    }

    /// Append the length-prefixed frame to `out`.
    ///
    /// The caller keeps payloads within [`MAX_MESSAGE_LEN`] (our bitfields,
    /// blocks and extension messages are far smaller); a peer would drop us
    /// for a larger frame anyway.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Message::KeepAlive => out.extend_from_slice(&[0; 4]),
            Message::Choke => frame(out, ID_CHOKE, &[]),
            Message::Unchoke => frame(out, ID_UNCHOKE, &[]),
            Message::Interested => frame(out, ID_INTERESTED, &[]),
            Message::NotInterested => frame(out, ID_NOT_INTERESTED, &[]),
            Message::Have(i) => frame(out, ID_HAVE, &[&i.to_be_bytes()]),
            Message::Bitfield(bits) => frame(out, ID_BITFIELD, &[bits]),
            Message::Request {
                index,
                begin,
                length,
            } => block_frame(out, ID_REQUEST, *index, *begin, *length),
            Message::Piece { index, begin, data } => frame(
                out,
                ID_PIECE,
                &[&index.to_be_bytes(), &begin.to_be_bytes(), data],
            ),
            Message::Cancel {
                index,
                begin,
                length,
            } => block_frame(out, ID_CANCEL, *index, *begin, *length),
            Message::Port(p) => frame(out, ID_PORT, &[&p.to_be_bytes()]),
            Message::Suggest(i) => frame(out, ID_SUGGEST, &[&i.to_be_bytes()]),
            Message::HaveAll => frame(out, ID_HAVE_ALL, &[]),
            Message::HaveNone => frame(out, ID_HAVE_NONE, &[]),
            Message::Reject {
                index,
                begin,
                length,
            } => block_frame(out, ID_REJECT, *index, *begin, *length),
            Message::AllowedFast(i) => frame(out, ID_ALLOWED_FAST, &[&i.to_be_bytes()]),
            Message::Extended { id, payload } => frame(out, ID_EXTENDED, &[&[*id], payload]),
            Message::Unknown { id, payload } => frame(out, *id, &[payload]),
        }
    }
}

/// Append prefix, id and the payload parts.
fn frame(out: &mut Vec<u8>, id: u8, parts: &[&[u8]]) {
    let payload_len = parts.iter().fold(0usize, |n, p| n.saturating_add(p.len()));
    let len = frame_value(payload_len);
    debug_assert!(len <= MAX_MESSAGE_LEN, "encoding a {len}-byte frame");
    out.reserve(payload_len.saturating_add(5));
    out.extend_from_slice(&len.to_be_bytes());
    out.push(id);
    for part in parts {
        out.extend_from_slice(part);
    }
}

fn block_frame(out: &mut Vec<u8>, id: u8, index: u32, begin: u32, length: u32) {
    frame(
        out,
        id,
        &[
            &index.to_be_bytes(),
            &begin.to_be_bytes(),
            &length.to_be_bytes(),
        ],
    );
}

#[cfg(test)]
#[path = "message_tests.rs"]
pub(super) mod tests;
