//! Piece/file layout math: which byte ranges of which files a piece covers.
//!
//! A torrent is one byte stream cut two ways: into fixed-size pieces (the
//! last one may be short) and into files laid end to end (0-byte files take
//! no room). The store uses [`Layout::spans`] to write a verified piece into
//! its files; the picker and stream readers use [`Layout::file_pieces`] and
//! [`Layout::file_range_pieces`] to find the pieces a file or a byte range
//! needs. Offsets are `u64`. Every method is total: inputs out of range give
//! an empty answer (0, an empty `Vec` or an empty range), never a panic, even
//! for a `Layout` built by hand with inconsistent fields.

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
    pub fn new(info: &Info) -> Layout {
        Layout {
            piece_length: info.piece_length,
            total_length: info.total_length,
            piece_count: u32::try_from(info.piece_hashes.len()).unwrap_or(u32::MAX),
            files: info.files.iter().map(|f| (f.offset, f.length)).collect(),
        }
    }

    /// Size of piece `p` (the last one may be short); 0 if out of range.
    pub fn piece_size(&self, p: u32) -> u32 {
        if p >= self.piece_count {
            return 0;
        }
        let left = self.total_length.saturating_sub(self.piece_offset(p));
        // min() with a u32 always fits.
        left.min(u64::from(self.piece_length)) as u32
    }

    /// Offset of piece `p`'s first byte in the torrent's byte stream
    /// (the total length for pieces past the end).
    pub fn piece_offset(&self, p: u32) -> u64 {
        (u64::from(p) * u64::from(self.piece_length)).min(self.total_length)
    }

    /// The file spans covering `len` bytes at `begin` within piece `p`, in
    /// order, skipping 0-byte files. Empty if `len` is 0 or the range does
    /// not lie entirely inside the piece.
    pub fn spans(&self, p: u32, begin: u32, len: u32) -> Vec<FileSpan> {
        let size = u64::from(self.piece_size(p));
        let (begin, len64) = (u64::from(begin), u64::from(len));
        if len == 0 || begin + len64 > size {
            return Vec::new();
        }
        let piece_start = self.piece_offset(p);
        let start = piece_start + begin;
        let end = start + len64;
        // Files are in stream order, so their end offsets ascend.
        let first = self
            .files
            .partition_point(|&(off, flen)| off.saturating_add(flen) <= start);
        let mut out = Vec::new();
        for (file, &(off, flen)) in self.files.iter().enumerate().skip(first) {
            if off >= end {
                break;
            }
            let s = start.max(off);
            let e = end.min(off.saturating_add(flen));
            if s < e {
                out.push(FileSpan {
                    file,
                    file_offset: s - off,
                    // Both are below `size`, which fits a u32.
                    piece_offset: (s - piece_start) as u32,
                    len: (e - s) as u32,
                });
            }
        }
        out
    }

    /// Pieces that hold any byte of `file` (empty for a 0-byte file).
    pub fn file_pieces(&self, file: usize) -> Range<u32> {
        match self.files.get(file) {
            Some(&(off, len)) => self.byte_pieces(off, off.saturating_add(len)),
            None => 0..0,
        }
    }

    /// Pieces holding bytes `[start, end)` of `file`; `end` is clamped to
    /// the file's length, and an empty range of bytes gives no pieces.
    pub fn file_range_pieces(&self, file: usize, start: u64, end: u64) -> Range<u32> {
        match self.files.get(file) {
            Some(&(off, len)) => {
                let end = end.min(len);
                if start >= end {
                    return 0..0;
                }
                self.byte_pieces(off.saturating_add(start), off.saturating_add(end))
            }
            None => 0..0,
        }
    }

    /// For each file: how many of its bytes lie in pieces `have` says
    /// are done (the `bytes_done` of the API, and how HLS tells a file is
    /// whole on disk).
    pub fn file_bytes_done(&self, have: impl Fn(u32) -> bool) -> Vec<u64> {
        let pl = u64::from(self.piece_length);
        self.files
            .iter()
            .enumerate()
            .map(|(i, &(off, len))| {
                let end = off.saturating_add(len);
                self.file_pieces(i)
                    .filter(|&p| have(p))
                    .map(|p| {
                        let ps = u64::from(p).saturating_mul(pl);
                        let pe = ps.saturating_add(u64::from(self.piece_size(p)));
                        pe.min(end).saturating_sub(ps.max(off))
                    })
                    .fold(0u64, u64::saturating_add)
            })
            .collect()
    }

    /// Pieces holding stream bytes `[start, end)`, clamped to the torrent.
    fn byte_pieces(&self, start: u64, end: u64) -> Range<u32> {
        let end = end.min(self.total_length);
        if start >= end || self.piece_length == 0 {
            return 0..0;
        }
        let pl = u64::from(self.piece_length);
        let count = u64::from(self.piece_count);
        let first = (start / pl).min(count);
        let last = ((end - 1) / pl + 1).min(count);
        // Both are at most piece_count, a u32.
        first as u32..last as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_file_bytes_follow_the_bitfield() {
        // Pieces of 10 bytes; files of 15, 0, 12 and 3 bytes (30 bytes, 3 pieces).
        let layout = layout(10, &[15, 0, 12, 3]);
        assert_eq!(layout.file_bytes_done(|_| true), vec![15, 0, 12, 3]);
        assert_eq!(layout.file_bytes_done(|_| false), vec![0, 0, 0, 0]);
        assert_eq!(layout.file_bytes_done(|p| p == 1), vec![5, 0, 5, 0]);
        assert_eq!(layout.file_bytes_done(|p| p == 2), vec![0, 0, 7, 3]);
        // A layout with nonsense does not panic.
        let odd = Layout {
            piece_length: 0,
            total_length: u64::MAX,
            piece_count: 2,
            files: vec![(u64::MAX - 1, 5)],
        };
        let _ = odd.file_bytes_done(|_| true);
    }

    /// A layout from piece length and file lengths (offsets cumulative).
    fn layout(piece_length: u32, lengths: &[u64]) -> Layout {
        let mut files = Vec::new();
        let mut off = 0;
        for &len in lengths {
            files.push((off, len));
            off += len;
        }
        let piece_count = off.div_ceil(u64::from(piece_length)) as u32;
        Layout {
            piece_length,
            total_length: off,
            piece_count,
            files,
        }
    }

    fn span(file: usize, file_offset: u64, piece_offset: u32, len: u32) -> FileSpan {
        FileSpan {
            file,
            file_offset,
            piece_offset,
            len,
        }
    }

    #[test]
    fn piece_sizes_and_offsets() {
        let l = layout(10, &[25]);
        assert_eq!(l.piece_count, 3);
        let sizes: Vec<u32> = (0..4).map(|p| l.piece_size(p)).collect();
        assert_eq!(sizes, vec![10, 10, 5, 0]);
        let offsets: Vec<u64> = (0..4).map(|p| l.piece_offset(p)).collect();
        assert_eq!(offsets, vec![0, 10, 20, 25]);
        assert_eq!(l.piece_offset(u32::MAX), 25);
        assert_eq!(l.piece_size(u32::MAX), 0);
        let exact = layout(10, &[30]);
        assert_eq!((exact.piece_count, exact.piece_size(2)), (3, 10));
    }

    #[test]
    fn offsets_beyond_4_gib_are_exact() {
        let l = layout(1 << 24, &[5 << 30, 1]);
        let last = l.piece_count - 1;
        assert_eq!(l.piece_offset(last), 5 << 30);
        assert_eq!(l.piece_size(last), 1);
        assert_eq!(l.spans(last, 0, 1), vec![span(1, 0, 0, 1)]);
        assert_eq!(l.file_pieces(1), last..last + 1);
    }

    #[test]
    fn piece_crossing_several_files_skips_empty_ones() {
        // Bytes: f0 [0,3) f1 [3,7) f2 empty f3 [7,9) f4 [9,19)
        let l = layout(10, &[3, 4, 0, 2, 10]);
        assert_eq!(
            l.spans(0, 0, 10),
            vec![
                span(0, 0, 0, 3),
                span(1, 0, 3, 4),
                span(3, 0, 7, 2),
                span(4, 0, 9, 1)
            ]
        );
        assert_eq!(l.spans(1, 0, 9), vec![span(4, 1, 0, 9)]);
        // A block in the middle of the piece.
        assert_eq!(
            l.spans(0, 2, 6),
            vec![span(0, 2, 2, 1), span(1, 0, 3, 4), span(3, 0, 7, 1)]
        );
        // A block starting exactly where the empty file sits.
        assert_eq!(l.spans(0, 7, 2), vec![span(3, 0, 7, 2)]);
    }

    #[test]
    fn empty_files_at_start_middle_and_end() {
        let l = layout(4, &[0, 0, 5, 0, 3, 0]);
        assert_eq!(l.spans(0, 0, 4), vec![span(2, 0, 0, 4)]);
        assert_eq!(l.spans(1, 0, 4), vec![span(2, 4, 0, 1), span(4, 0, 1, 3)]);
        for f in [0, 1, 3, 5] {
            assert!(l.file_pieces(f).is_empty(), "file {f}");
            assert!(l.file_range_pieces(f, 0, 10).is_empty(), "file {f}");
        }
        assert_eq!(l.file_pieces(2), 0..2);
        assert_eq!(l.file_pieces(4), 1..2);
    }

    #[test]
    fn file_smaller_than_a_piece() {
        let l = layout(16, &[10, 2, 30]);
        assert_eq!(l.file_pieces(0), 0..1);
        assert_eq!(l.file_pieces(1), 0..1);
        assert_eq!(l.file_pieces(2), 0..3);
        assert_eq!(l.spans(0, 10, 2), vec![span(1, 0, 10, 2)]);
        assert_eq!(
            l.spans(0, 8, 8),
            vec![span(0, 8, 8, 2), span(1, 0, 10, 2), span(2, 0, 12, 4)]
        );
    }

    #[test]
    fn file_range_pieces() {
        let l = layout(10, &[5, 50]); // file 1 is stream bytes [5, 55)
        assert_eq!(l.file_range_pieces(1, 0, 5), 0..1);
        assert_eq!(l.file_range_pieces(1, 0, 6), 0..2);
        assert_eq!(l.file_range_pieces(1, 5, 15), 1..2);
        assert_eq!(l.file_range_pieces(1, 44, 50), 4..6);
        assert_eq!(
            l.file_range_pieces(1, 44, u64::MAX),
            4..6,
            "end clamps to the file"
        );
        assert_eq!(l.file_range_pieces(1, 49, 50), 5..6);
        assert!(l.file_range_pieces(1, 50, 60).is_empty());
        assert!(l.file_range_pieces(1, 7, 7).is_empty());
        assert!(l.file_range_pieces(1, 9, 3).is_empty());
        assert!(l.file_range_pieces(2, 0, 1).is_empty());
        assert!(l.file_range_pieces(1, u64::MAX, u64::MAX).is_empty());
    }

    #[test]
    fn out_of_range_inputs_give_empty_answers() {
        let l = layout(10, &[3, 4, 0, 2, 10]);
        assert!(l.spans(2, 0, 1).is_empty(), "no such piece");
        assert!(l.spans(1, 0, 10).is_empty(), "past the short last piece");
        assert!(l.spans(0, 10, 1).is_empty());
        assert!(l.spans(0, 0, 0).is_empty());
        assert!(l.spans(0, u32::MAX, u32::MAX).is_empty());
        assert!(l.spans(u32::MAX, 0, 1).is_empty());
        assert!(l.file_pieces(99).is_empty());
        assert!(l.file_pieces(usize::MAX).is_empty());
        // Inconsistent hand-built layouts do not panic either.
        let junk = Layout {
            piece_length: 0,
            total_length: u64::MAX,
            piece_count: 5,
            files: vec![(u64::MAX, u64::MAX), (0, 1)],
        };
        for p in [0, 4, 5, u32::MAX] {
            let _ = (
                junk.piece_size(p),
                junk.piece_offset(p),
                junk.spans(p, 0, 1),
            );
        }
        assert!(
            junk.file_pieces(0).is_empty() && junk.file_range_pieces(0, 0, u64::MAX).is_empty()
        );
        let junk = Layout {
            piece_length: 7,
            total_length: 3,
            piece_count: u32::MAX,
            files: vec![(u64::MAX, u64::MAX)],
        };
        let _ = (
            junk.spans(u32::MAX - 1, 0, 1),
            junk.file_pieces(0),
            junk.piece_size(9),
        );
    }

    /// Every byte of every file is covered exactly once, in order, by the
    /// spans of the pieces `file_pieces` names, for many shapes.
    #[test]
    fn spans_and_file_pieces_agree_everywhere() {
        let shapes: &[&[u64]] = &[
            &[1],
            &[7],
            &[0, 7, 0],
            &[3, 3, 3, 3],
            &[1, 0, 1, 0, 1, 0, 20, 0],
            &[16, 16],
            &[15, 1, 17, 0, 2],
        ];
        for &lengths in shapes {
            for pl in [1u32, 2, 3, 4, 5, 8, 16, 64] {
                let l = layout(pl, lengths);
                let mut seen = vec![0u64; lengths.len()];
                let mut pieces_of = vec![Vec::new(); lengths.len()];
                for p in 0..l.piece_count {
                    let size = l.piece_size(p);
                    let spans = l.spans(p, 0, size);
                    assert_eq!(spans.iter().map(|s| s.len).sum::<u32>(), size);
                    let mut at = 0;
                    for s in spans {
                        assert_eq!(s.piece_offset, at);
                        assert_eq!(s.file_offset, seen[s.file], "{lengths:?} pl {pl}");
                        assert!(s.len > 0);
                        at += s.len;
                        seen[s.file] += u64::from(s.len);
                        pieces_of[s.file].push(p);
                    }
                }
                assert_eq!(seen, lengths.to_vec());
                for (f, ps) in pieces_of.iter_mut().enumerate() {
                    ps.dedup();
                    assert_eq!(
                        l.file_pieces(f).collect::<Vec<_>>(),
                        *ps,
                        "{lengths:?} pl {pl} file {f}"
                    );
                }
            }
        }
    }

    #[test]
    fn built_from_parsed_info() {
        use crate::torrent::Metainfo;
        let bytes = b"d4:infod5:filesld6:lengthi3e4:pathl1:aeed6:lengthi0e4:pathl1:beed6:lengthi20e4:pathl1:ceee4:name1:n12:piece lengthi16e6:pieces40:0123456789012345678901234567890123456789ee";
        let m = Metainfo::from_bytes(bytes).expect("parse");
        let l = Layout::new(&m.info);
        assert_eq!((l.piece_length, l.total_length, l.piece_count), (16, 23, 2));
        assert_eq!(l.files, vec![(0, 3), (3, 0), (3, 20)]);
        assert_eq!(l.spans(1, 0, 7), vec![span(2, 13, 0, 7)]);
    }
}
