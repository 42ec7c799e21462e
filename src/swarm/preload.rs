//! Preloading the edges of big files: where players read first.
//!
//! A player that opens a video reads its first bytes, then often jumps to
//! the end (an MP4 whose `moov` index was written last, MKV cues), and an
//! HLS job needs the same places before its first segment. `rill serve`
//! therefore asks, as soon as a torrent's pieces are known and under its
//! own priority owner [`PRELOAD_OWNER`], for every file of at least
//! [`MIN_FILE`]:
//!
//! 1. the first and last [`EDGE_BYTES`] with `High` priority (what a probe
//!    reads: headers, the MP4 index, MKV cues);
//! 2. then the rest of the first [`HEAD_BYTES`] with `Soon` priority
//!    (picked after every `High` piece): what the first HLS segment is cut
//!    from. ffmpeg needs the video up to the first keyframe after the
//!    segment's 6 s, often 10 s or more: 4–8 MiB at 3–5 Mbit/s.
//!
//! By the time somebody presses play those pieces are usually there,
//! instead of waiting behind a second of ordinary requests already queued
//! at the peers. It costs nothing in bytes (they are downloaded anyway) and
//! only reorders the first MiB of each file. Small files (subtitles,
//! samples, NFOs) are left to rarest-first.
//!
//! Why a head beyond the edges: a swarm that delivers a burst right after
//! connecting (peers unchoke at once, a rate-limited seeder spends its
//! allowance) and then slows down decides the time to the first segment.
//! With only the 2 MiB edges, the burst was filled with rarest-first
//! pieces from all over the file and one HLS start in four waited seconds
//! for the piece right after the head. Why two levels: with the whole head
//! `High` (served lowest index first) the tail, which an MP4 written
//! index-last needs before anything plays, came only after 8 MiB.
//!
//! The preload is a guess made before anyone reads. The first stream
//! reader on the torrent replaces it (`Torrent::set_priority` clears this
//! owner): from then on the reader's own window, which holds its file's
//! edges, says what is needed, and the heads of the other files no longer
//! compete with it in the `High` set (which is served lowest index first).
//!
//! In storage mode `stream` the preload must fit the piece cache with room
//! to spare: it is fetched before anyone reads, so nothing protects it
//! there but age, and a preload larger than the cache evicts its own first
//! pieces, which the readers then fetch (and write to the card) again
//! (measured: two 40 MB files, a 16 MiB cache, readers opening a second
//! after the add: 1.09 bytes written per byte played). So the engine gives
//! [`edge_ranges`] a budget of half the cache: the `High` edges first, file
//! by file, then the `Soon` heads, each cut to what is left.
//!
//! This owner does not count as a stream reader: it does not make other
//! torrents yield (see the fairness rule in `peer::handle`).

use std::ops::Range;

use crate::swarm::picker::Priority;
use crate::torrent::Layout;

/// Priority owner of the preloaded edges (readers start at 2^32; the
/// session's storage-mode owner is 1).
pub const PRELOAD_OWNER: u64 = 2;
/// Bytes at each end of a file asked for first (`High`).
pub const EDGE_BYTES: u64 = 2 << 20;
/// Bytes at the start of a file asked for next (`Soon`).
pub const HEAD_BYTES: u64 = 8 << 20;
/// Files smaller than this are not preloaded.
pub const MIN_FILE: u64 = 16 << 20;

/// The ranges of pieces holding the first and last [`EDGE_BYTES`] (`High`)
/// and the rest of the first [`HEAD_BYTES`] (`Soon`) of each file of at
/// least [`MIN_FILE`] in `layout`. A piece in both keeps `High` (owners'
/// ranges combine by maximum).
///
/// With `budget` (bytes; storage mode `stream`), the ranges are taken
/// `High` first, then `Soon`, each in file order and cut short to the
/// whole pieces the budget has left, so they hold at most `budget` bytes
/// of pieces (a piece in two ranges counted twice).
pub fn edge_ranges(layout: &Layout, budget: Option<u64>) -> Vec<(Range<u32>, Priority)> {
    let mut out = Vec::new();
    for (file, &(_, len)) in layout.files.iter().enumerate() {
        if len < MIN_FILE {
            continue;
        }
        let head = layout.file_range_pieces(file, 0, EDGE_BYTES);
        let tail = layout.file_range_pieces(file, len.saturating_sub(EDGE_BYTES), len);
        let rest = layout.file_range_pieces(file, EDGE_BYTES, HEAD_BYTES.min(len));
        for (r, pr) in [
            (head, Priority::High),
            (tail, Priority::High),
            (rest, Priority::Soon),
        ] {
            if !r.is_empty() {
                out.push((r, pr));
            }
        }
    }
    match budget {
        Some(budget) => within(out, layout, budget),
        None => out,
    }
}

/// `ranges`, `High` before `Soon` (a stable sort keeps file order), each
/// cut to the whole pieces of `budget` bytes still left; empty ones go.
fn within(
    mut ranges: Vec<(Range<u32>, Priority)>,
    layout: &Layout,
    budget: u64,
) -> Vec<(Range<u32>, Priority)> {
    ranges.sort_by_key(|(_, pr)| std::cmp::Reverse(*pr));
    let piece = u64::from(layout.piece_length.max(1));
    let mut left = budget / piece;
    ranges
        .into_iter()
        .filter_map(|(r, pr)| {
            let take = u64::from(r.end - r.start).min(left);
            left -= take;
            let take = u32::try_from(take).unwrap_or(u32::MAX);
            (take > 0).then(|| (r.start..r.start + take, pr))
        })
        .collect()
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
        let r = edge_ranges(&l, None);
        assert_eq!(
            r,
            vec![
                (1..3, Priority::High),
                (99..101, Priority::High),
                (3..9, Priority::Soon)
            ],
            "video spans pieces 1..101"
        );
    }

    #[test]
    fn edges_follow_unaligned_files_and_never_leave_the_torrent() {
        // A 16 MiB + 1 B file starting mid-piece, 4 MiB pieces.
        let l = layout(4 << 20, &[MIB, 16 * MIB + 1]);
        let r = edge_ranges(&l, None);
        // Head: bytes 1..3 MiB of the torrent (piece 0); tail: the file's
        // last 2 MiB, torrent bytes 15 MiB + 1 ..17 MiB + 1 (pieces 3..5);
        // the rest of the head: bytes 3..9 MiB (pieces 0..3, piece 0
        // stays `High` by the maximum rule).
        assert_eq!(
            r,
            vec![
                (0..1, Priority::High),
                (3..5, Priority::High),
                (0..3, Priority::Soon)
            ]
        );
        assert!(r.iter().all(|(p, _)| p.end <= l.piece_count));
        assert!(edge_ranges(&layout(1 << 20, &[]), None).is_empty());
        assert!(edge_ranges(&layout(1 << 20, &[0, MIB]), None).is_empty());
    }

    #[test]
    fn a_budget_takes_every_edge_before_any_head() {
        // Two 40 MiB files in 1 MiB pieces: edges of 2 pieces at each end,
        // heads of 6 more; 7 MiB of budget holds three edges and one piece
        // of the fourth, and no head.
        let l = layout(1 << 20, &[40 * MIB, 40 * MIB]);
        assert_eq!(
            edge_ranges(&l, Some(7 * MIB + MIB / 2)),
            vec![
                (0..2, Priority::High),
                (38..40, Priority::High),
                (40..42, Priority::High),
                (78..79, Priority::High),
            ]
        );
        // 10 MiB: all four edges, then 2 pieces of the first file's head.
        let r = edge_ranges(&l, Some(10 * MIB));
        assert_eq!(r.len(), 5);
        assert_eq!(r[4], (2..4, Priority::Soon));
        let pieces: u32 = r.iter().map(|(r, _)| r.end - r.start).sum();
        assert_eq!(pieces, 10);
        // A budget below one piece preloads nothing; a large one all.
        assert!(edge_ranges(&l, Some(MIB - 1)).is_empty());
        assert_eq!(edge_ranges(&l, Some(u64::MAX)).len(), 6);
    }
}
