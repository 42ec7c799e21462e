//! `.torrent` files (BEP 3, v1): parsing, and the `info` dictionary alone
//! (BEP 9 hands us just that).
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

use super::{InfoHash, SafePath};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetainfoError {
    /// Placeholder until implemented.
    Invalid(String),
}

impl std::fmt::Display for MetainfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetainfoError::Invalid(s) => write!(f, "invalid torrent: {s}"),
        }
    }
}

impl std::error::Error for MetainfoError {}

impl Metainfo {
    /// Parse a `.torrent` file's bytes.
    pub fn from_bytes(_bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        todo!()
    }
}

impl Info {
    /// Parse a bare bencoded `info` dictionary (as fetched over BEP 9).
    pub fn from_bytes(_bytes: &[u8]) -> Result<Info, MetainfoError> {
        todo!()
    }
}
