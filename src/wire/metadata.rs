//! BEP 9 ut_metadata messages: request, data, reject.
//!
//! This is how a magnet link gets its info dictionary from peers: the
//! metadata is cut into 16 KiB pieces, each asked for and sent as a
//! bencoded dictionary `{msg_type, piece[, total_size]}` inside an extended
//! message; a data message carries the piece's raw bytes right after the
//! dictionary. Parsing finds the dictionary's end with bendy (which reports
//! the bytes a dictionary spans), then checks everything the engine will
//! size buffers from: the piece index against [`MAX_METADATA_SIZE`],
//! `total_size` in 1..=MAX_METADATA_SIZE, and the data length exactly the
//! piece's size (16 KiB, or the remainder for the last piece).
//!
//! Unknown keys are ignored. An unknown `msg_type` gives
//! [`WireError::MetadataUnknownType`], which BEP 9 says to ignore.

use super::bencode::{in_msg, LIMITS};
use super::WireError;
use crate::codec::bencode::{
    check_int, for_each_pair, int_text, missing, no_trailing_bytes, put_bytes, put_int,
    BencodeError,
};

/// Metadata travels in 16 KiB pieces.
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;
/// Largest `info` dictionary we accept (limits RAM on a Pi).
pub const MAX_METADATA_SIZE: u32 = 16 * 1024 * 1024;
/// Pieces in metadata of [`MAX_METADATA_SIZE`]: piece indexes are below this.
pub const MAX_METADATA_PIECES: u32 = MAX_METADATA_SIZE / METADATA_PIECE_LEN;

const MSG_REQUEST: i64 = 0;
const MSG_DATA: i64 = 1;
const MSG_REJECT: i64 = 2;

const WHAT: &str = "ut_metadata message";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMsg {
    Request {
        piece: u32,
    },
    Data {
        piece: u32,
        total_size: u32,
        data: Vec<u8>,
    },
    Reject {
        piece: u32,
    },
}

/// Size of piece `piece` of metadata that is `total_size` bytes long, or
/// `None` if the piece lies past the end.
pub fn piece_len(total_size: u32, piece: u32) -> Option<u32> {
    let start = piece.checked_mul(METADATA_PIECE_LEN)?;
    let left = total_size.checked_sub(start).filter(|n| *n > 0)?;
    Some(left.min(METADATA_PIECE_LEN))
}

/// A required key's integer, checked to lie in `lo..=hi`: `field` is its
/// raw text as collected (`None`: absent, `Some(None)`: not an integer).
fn required<T>(key: &'static str, field: Option<Option<&str>>, lo: T, hi: T) -> Result<T, WireError>
where
    T: TryFrom<i64> + PartialOrd,
{
    field
        .ok_or_else(|| missing(key))
        .and_then(|text| check_int(key, text, lo, hi))
        .map_err(in_msg(WHAT))
}

impl MetadataMsg {
    /// Parse the payload of an extended message carrying our ut_metadata id.
    pub fn parse(payload: &[u8]) -> Result<MetadataMsg, WireError> {
        // Keep the raw integer texts; which ones are required and how they
        // are checked depends on msg_type, known only at the end.
        let mut msg_type = None;
        let mut piece = None;
        let mut total_size = None;
        let used = for_each_pair(payload, LIMITS, |key, value| {
            match key {
                b"msg_type" => msg_type = Some(int_text(value)),
                b"piece" => piece = Some(int_text(value)),
                b"total_size" => total_size = Some(int_text(value)),
                _ => {}
            }
            Ok::<(), BencodeError>(())
        })
        .map_err(in_msg(WHAT))?;
        let msg_type: i64 = required("msg_type", msg_type, i64::MIN, i64::MAX)?;
        if !matches!(msg_type, MSG_REQUEST | MSG_DATA | MSG_REJECT) {
            return Err(WireError::MetadataUnknownType { msg_type });
        }
        let piece: u32 = required("piece", piece, 0, MAX_METADATA_PIECES - 1)?;
        let rest = payload.get(used..).unwrap_or_default();
        match msg_type {
            MSG_DATA => {
                let total_size: u32 = required("total_size", total_size, 1, MAX_METADATA_SIZE)?;
                let expected = piece_len(total_size, piece).ok_or_else(|| {
                    in_msg(WHAT)(BencodeError::BadInteger {
                        field: "piece".into(),
                        value: piece.to_string(),
                    })
                })?;
                if rest.len() != expected as usize {
                    return Err(WireError::MetadataDataLength {
                        piece,
                        expected,
                        actual: rest.len(),
                    });
                }
                Ok(MetadataMsg::Data {
                    piece,
                    total_size,
                    data: rest.to_vec(),
                })
            }
            MSG_REQUEST => {
                no_trailing_bytes(payload, used).map_err(in_msg(WHAT))?;
                Ok(MetadataMsg::Request { piece })
            }
            _ => {
                no_trailing_bytes(payload, used).map_err(in_msg(WHAT))?;
                Ok(MetadataMsg::Reject { piece })
            }
        }
    }

    /// The extended-message payload: dictionary (keys sorted), then the
    /// data for a data message.
    pub fn encode(&self) -> Vec<u8> {
        let (msg_type, piece, data) = match self {
            MetadataMsg::Request { piece } => (MSG_REQUEST, *piece, None),
            MetadataMsg::Data {
                piece,
                total_size,
                data,
            } => (MSG_DATA, *piece, Some((*total_size, data))),
            MetadataMsg::Reject { piece } => (MSG_REJECT, *piece, None),
        };
        let data_len = data.map_or(0, |(_, d)| d.len());
        let mut out = Vec::with_capacity(data_len.saturating_add(64));
        out.push(b'd');
        put_bytes(&mut out, b"msg_type");
        put_int(&mut out, msg_type);
        put_bytes(&mut out, b"piece");
        put_int(&mut out, i64::from(piece));
        if let Some((total_size, _)) = data {
            put_bytes(&mut out, b"total_size");
            put_int(&mut out, i64::from(total_size));
        }
        out.push(b'e');
        if let Some((_, bytes)) = data {
            out.extend_from_slice(bytes);
        }
        out
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
