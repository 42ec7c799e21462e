//! `.torrent` files (BEP 3, v1): parsing, and the `info` dictionary alone
//! (BEP 9 hands us just that).
//!
//! Input is untrusted. Limits, checked before anything is sized from them:
//! at most [`MAX_TORRENT_BYTES`] of input (checked before decoding),
//! nesting at most [`MAX_DEPTH`] levels, piece length 1..=[`MAX_PIECE_LENGTH`],
//! at most [`MAX_FILES`] files, at most [`MAX_TRACKERS`] tracker URLs (the
//! rest are dropped with a log line). Anything else that does not add up
//! (piece count vs. total length, overflowing sums, unsafe or clashing paths)
//! rejects the torrent with a [`MetainfoError`] saying which field and why.
//!
//! The info hash is the SHA-1 of the `info` dictionary's bytes exactly as
//! they appear in the file; they are kept in [`Metainfo::info_bytes`] (never
//! re-encoded, which could change them). Dictionaries with unsorted keys
//! and bytes after the top-level dictionary are rejected as malformed.
//!
//! Layout: `bencode` holds the limits over `codec::bencode`'s checked
//! reads, `info` the `info`
//! dictionary (files, pieces, paths); this file the outer dictionary and
//! trackers.

mod bencode;
mod info;

pub use bencode::{MAX_DEPTH, MAX_TORRENT_BYTES};
pub use info::{MAX_FILES, MAX_PIECE_LENGTH};

use bencode::{bencode_error, bytes, list, with_dict};

use super::{InfoHash, PathError, SafePath};
use crate::codec::bencode::{missing, BencodeError};

/// Most tracker URLs kept from one torrent (all tiers together).
pub const MAX_TRACKERS: usize = 256;
/// Longest tracker URL kept, in bytes.
const MAX_URL_BYTES: usize = 2048;

/// A whole `.torrent` file.
#[derive(Clone, Debug)]
pub struct Metainfo {
    pub info_hash: InfoHash,
    pub info: Info,
    /// The exact bencoded bytes of the `info` dictionary (served over BEP 9).
    pub info_bytes: Vec<u8>,
    /// Tracker tiers (BEP 12); `announce` alone becomes one tier of one URL.
    pub trackers: Vec<Vec<String>>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
}

/// The `info` dictionary.
#[derive(Clone, Debug)]
pub struct Info {
    /// The torrent's name, already checked to be a safe single path component.
    pub name: String,
    pub piece_length: u32,
    pub piece_hashes: Vec<[u8; 20]>,
    /// In torrent order; a single-file torrent has one entry whose path is
    /// just the name. Offsets are cumulative.
    pub files: Vec<FileEntry>,
    /// True when the torrent has a `files` list (it then lives in a folder).
    pub multi_file: bool,
    pub private: bool,
    pub total_length: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Where the file lands, relative to the output directory
    /// (`name` or `name/dir/file`), made safe by [`SafePath`].
    pub path: SafePath,
    pub length: u64,
    /// Offset of the file's first byte in the torrent's byte stream.
    pub offset: u64,
}

/// Why a torrent was refused. Field names are written as in the file
/// (`info.piece length`, `info.files[3].path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetainfoError {
    /// Not one well-formed bencoded dictionary within the limits, or a
    /// field of the wrong type, missing, or out of range (the error names
    /// the field).
    Bencode(BencodeError),
    /// `piece length` outside 1..=[`MAX_PIECE_LENGTH`].
    PieceLength {
        value: i64,
    },
    /// `pieces` is not a whole number of 20-byte hashes (or is empty).
    PiecesLength {
        len: usize,
    },
    /// The number of piece hashes does not match the total length.
    PieceCount {
        expected: u64,
        found: u64,
    },
    /// Both `length` and `files` given (or neither).
    LengthAndFiles {
        both: bool,
    },
    /// A multi-file torrent with an empty `files` list.
    NoFiles,
    TooManyFiles {
        limit: usize,
    },
    /// A negative file length.
    FileLength {
        file: usize,
        value: i64,
    },
    /// The total length is 0.
    EmptyTorrent,
    /// The file lengths add up to more than `u64` holds.
    TotalOverflow,
    /// The name is not usable as a path component.
    BadName(PathError),
    /// A file's path is unsafe (index in the `files` list).
    BadPath {
        file: usize,
        error: PathError,
    },
    /// Two files land on the same path.
    DuplicatePath {
        path: String,
    },
    /// A file's path is also a directory of another file.
    PathConflict {
        path: String,
    },
}

impl std::fmt::Display for MetainfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use MetainfoError::*;
        match self {
            Bencode(e) => write!(f, "{e}"),
            PieceLength { value } => write!(
                f,
                "'info.piece length' is {value}, must be 1 to {MAX_PIECE_LENGTH} bytes"
            ),
            PiecesLength { len } => write!(
                f,
                "'info.pieces' is {len} bytes, not a non-zero multiple of 20"
            ),
            PieceCount { expected, found } => {
                write!(
                    f,
                    "total length needs {expected} pieces but 'info.pieces' holds {found} hashes"
                )
            }
            LengthAndFiles { both: true } => write!(f, "'info' has both 'length' and 'files'"),
            LengthAndFiles { both: false } => write!(f, "'info' has neither 'length' nor 'files'"),
            NoFiles => write!(f, "'info.files' is empty"),
            TooManyFiles { limit } => write!(f, "more than {limit} files"),
            FileLength { file, value } => {
                write!(f, "'info.files[{file}].length' is negative ({value})")
            }
            EmptyTorrent => write!(f, "total length is 0 bytes"),
            TotalOverflow => write!(f, "file lengths add up to more than 2^64 bytes"),
            BadName(e) => write!(f, "'info.name': {e}"),
            BadPath { file, error } => write!(f, "'info.files[{file}].path': {error}"),
            DuplicatePath { path } => write!(f, "two files have the same path '{path}'"),
            PathConflict { path } => {
                write!(f, "'{path}' is both a file and a directory of another file")
            }
        }
    }
}

impl std::error::Error for MetainfoError {}

impl From<BencodeError> for MetainfoError {
    fn from(e: BencodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}

impl Metainfo {
    /// Parse a `.torrent` file's bytes.
    pub fn from_bytes(input: &[u8]) -> Result<Metainfo, MetainfoError> {
        let mut info_raw: Option<&[u8]> = None;
        let mut announce: Option<&[u8]> = None;
        let mut tiers: Vec<Vec<&[u8]>> = Vec::new();
        let (mut comment, mut comment_utf8, mut created_by) = (None, None, None);
        with_dict(input, |top| {
            while let Some((key, value)) = top.next_pair().map_err(bencode_error)? {
                match key {
                    b"info" => {
                        info_raw = Some(
                            bencode::dict(value, "info")?
                                .into_raw()
                                .map_err(bencode_error)?,
                        );
                    }
                    b"announce" => announce = bytes(value, "announce").ok(),
                    b"announce-list" => tiers = announce_tiers(value)?,
                    b"comment" => comment = bytes(value, "comment").ok(),
                    b"comment.utf-8" => comment_utf8 = bytes(value, "comment.utf-8").ok(),
                    b"created by" => created_by = bytes(value, "created by").ok(),
                    // Anything else is skipped (the decoder consumes it).
                    _ => {}
                }
            }
            Ok(())
        })?;
        let info_raw = info_raw.ok_or_else(|| missing("info"))?;
        let info = Info::from_bytes(info_raw)?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(Metainfo {
            info_hash: InfoHash::of_info_bytes(info_raw),
            info,
            info_bytes: info_raw.to_vec(),
            trackers: trackers(announce, &tiers),
            comment: comment_utf8.or(comment).map(text),
            created_by: created_by.map(text),
        })
    }
}

/// Read `announce-list` leniently: a tier may also be a bare string (some
/// creators write a flat list); other junk is skipped. Bencode errors and
/// the depth limit still fail the parse.
fn announce_tiers<'s>(
    value: bendy::decoding::Object<'_, 's>,
) -> Result<Vec<Vec<&'s [u8]>>, MetainfoError> {
    let mut tiers = Vec::new();
    let mut seen = 0usize;
    let Ok(mut outer) = list(value, "announce-list") else {
        return Ok(tiers);
    };
    while let Some(tier) = outer.next_object().map_err(bencode_error)? {
        let mut urls = Vec::new();
        match tier {
            bendy::decoding::Object::Bytes(url) => urls.push(url),
            bendy::decoding::Object::List(mut l) => {
                while let Some(item) = l.next_object().map_err(bencode_error)? {
                    if let bendy::decoding::Object::Bytes(url) = item {
                        urls.push(url);
                    }
                }
            }
            _ => {}
        }
        // Bound the work and memory spent on absurd lists.
        seen = seen.saturating_add(urls.len());
        if seen > 4 * MAX_TRACKERS {
            break;
        }
        tiers.push(urls);
    }
    Ok(tiers)
}

/// BEP 12: `announce-list` wins when it holds any usable URL, otherwise
/// `announce` is the one tier. Non-UTF-8, empty, overlong and duplicate
/// URLs are dropped; so are empty tiers and URLs past [`MAX_TRACKERS`].
fn trackers(announce: Option<&[u8]>, tiers: &[Vec<&[u8]>]) -> Vec<Vec<String>> {
    let mut seen: Vec<&str> = Vec::new();
    let mut dropped = 0usize;
    let mut out = Vec::new();
    for tier in tiers {
        let mut kept = Vec::new();
        for raw in tier {
            match usable_url(raw) {
                Some(url) if !seen.contains(&url) && seen.len() < MAX_TRACKERS => {
                    seen.push(url);
                    kept.push(url.to_string());
                }
                Some(url) if !seen.contains(&url) => dropped += 1,
                _ => {}
            }
        }
        if !kept.is_empty() {
            out.push(kept);
        }
    }
    if dropped > 0 {
        log::warn!("torrent lists more than {MAX_TRACKERS} trackers; ignoring {dropped} of them");
    }
    if out.is_empty() {
        if let Some(url) = announce.and_then(usable_url) {
            out.push(vec![url.to_string()]);
        }
    }
    out
}

fn usable_url(raw: &[u8]) -> Option<&str> {
    let url = std::str::from_utf8(raw).ok()?.trim();
    let ok = !url.is_empty() && url.len() <= MAX_URL_BYTES && !url.chars().any(char::is_control);
    ok.then_some(url)
}

#[cfg(test)]
mod tests;
