//! Preloading the edges of big files: where players read first.
//!
//! A player that opens a video reads its first bytes, then often jumps to
//! the end (an MP4 whose `moov` index was written last, MKV cues), and an
//! HLS job needs the same places before its first segment. `rill serve`
//! therefore asks for the first and last [`EDGE_BYTES`] of every file of at
//! least [`MIN_FILE`] with `High` priority as soon as a torrent's pieces are
//! known, under its own priority owner [`PRELOAD_OWNER`]: by the time
//! somebody presses play those pieces are usually there, instead of waiting
//! behind a second of ordinary requests already queued at the peers. It
//! costs nothing in bytes (they are downloaded anyway) and only reorders the
//! first few MiB of each file. Small files (subtitles, samples, NFOs) are
//! left to rarest-first.
//!
//! This owner does not count as a stream reader: it does not make other
//! torrents yield (see the fairness rule in `peer::handle`).

use std::ops::Range;

use crate::swarm::picker::Priority;
use crate::torrent::Layout;

/// Priority owner of the preloaded edges (readers start at 2^32; the
/// session's storage-mode owner is 1).
pub const PRELOAD_OWNER: u64 = 2;
/// Bytes at each end of a file asked for first.
pub const EDGE_BYTES: u64 = 2 << 20;
/// Files smaller than this are not preloaded.
pub const MIN_FILE: u64 = 16 << 20;

/// The `High` ranges of pieces holding the first and last [`EDGE_BYTES`] of
/// each file of at least [`MIN_FILE`] in `layout`.
pub fn edge_ranges(layout: &Layout) -> Vec<(Range<u32>, Priority)> {
    let mut out = Vec::new();
    for (file, &(_, len)) in layout.files.iter().enumerate() {
        if len < MIN_FILE {
            continue;
        }
        let head = layout.file_range_pieces(file, 0, EDGE_BYTES);
        let tail = layout.file_range_pieces(file, len.saturating_sub(EDGE_BYTES), len);
        for r in [head, tail] {
            if !r.is_empty() {
                out.push((r, Priority::High));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn layout(piece_length: u32, files: &[u64]) -> Layout {
        let mut offset = 0;
        let files: Vec<(u64, u64)> = files
            .iter()
            .map(|&len| {
                let f = (offset, len);
                offset += len;
                f
            })
            .collect();
        let pl = u64::from(piece_length);
        Layout {
            piece_length,
            total_length: offset,
            piece_count: u32::try_from(offset.div_ceil(pl)).unwrap(),
            files,
        }
    }

    #[test]
    fn big_files_get_both_edges_small_files_none() {
        // 1 MiB pieces: a 1 MiB subtitle, a 100 MiB video, a 5 MiB sample.
        let l = layout(1 << 20, &[MIB, 100 * MIB, 5 * MIB]);
        let r = edge_ranges(&l);
        assert_eq!(
            r,
            vec![(1..3, Priority::High), (99..101, Priority::High)],
            "video spans pieces 1..101"
        );
    }

    #[test]
    fn edges_follow_unaligned_files_and_never_leave_the_torrent() {
        // A 16 MiB + 1 B file starting mid-piece, 4 MiB pieces.
        let l = layout(4 << 20, &[MIB, 16 * MIB + 1]);
        let r = edge_ranges(&l);
        // Head: bytes 1..3 MiB of the torrent (piece 0); tail: the file's
        // last 2 MiB, torrent bytes 15 MiB + 1 ..17 MiB + 1 (pieces 3..5).
        assert_eq!(r, vec![(0..1, Priority::High), (3..5, Priority::High)]);
        assert!(r.iter().all(|(p, _)| p.end <= l.piece_count));
        assert!(edge_ranges(&layout(1 << 20, &[])).is_empty());
        assert!(edge_ranges(&layout(1 << 20, &[0, MIB])).is_empty());
    }
}
