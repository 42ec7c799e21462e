//! Piece/file layout math: which byte ranges of which files a piece covers.
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

use std::ops::Range;

use super::Info;

/// The geometry of a torrent: piece size, total length, file boundaries.
/// Cheap to clone; all offsets are `u64` (32-bit ARM is first class).
#[derive(Clone, Debug)]
pub struct Layout {
    pub piece_length: u32,
    pub total_length: u64,
    pub piece_count: u32,
    /// `(offset, length)` of each file in the torrent's byte stream.
    pub files: Vec<(u64, u64)>,
}

/// One contiguous part of a piece that lies in one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpan {
    pub file: usize,
    /// Byte offset inside that file.
    pub file_offset: u64,
    /// Byte offset inside the piece.
    pub piece_offset: u32,
    pub len: u32,
}

impl Layout {
    pub fn new(_info: &Info) -> Layout {
        todo!()
    }

    /// Size of piece `p` (the last one may be short); 0 if out of range.
    pub fn piece_size(&self, _p: u32) -> u32 {
        todo!()
    }

    /// Offset of piece `p`'s first byte in the torrent's byte stream.
    pub fn piece_offset(&self, _p: u32) -> u64 {
        todo!()
    }

    /// The file spans covering `len` bytes at `begin` within piece `p`, in
    /// order, skipping 0-byte files.
    pub fn spans(&self, _p: u32, _begin: u32, _len: u32) -> Vec<FileSpan> {
        todo!()
    }

    /// Pieces that hold any byte of `file` (empty for a 0-byte file).
    pub fn file_pieces(&self, _file: usize) -> Range<u32> {
        todo!()
    }

    /// Pieces holding bytes `[start, end)` of `file`.
    pub fn file_range_pieces(&self, _file: usize, _start: u64, _end: u64) -> Range<u32> {
        todo!()
    }
}
