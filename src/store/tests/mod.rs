//! Tests of the piece store against real files in private temp directories:
//! multi-file layouts, paired verdicts, the RAM tier off, bad and duplicate
//! blocks. Bounds (hostile positions, caps, concurrency) live in
//! `limits.rs`, restart and failure cases in `recovery.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rill_testkit::TempDir;

use super::*;
use crate::torrent::{FileEntry, SafePath};
use crate::wire::message::BLOCK_LEN;

mod limits;
mod recovery;
mod writes;

/// Deterministic bytes that are never long runs of zeros.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A multi-file torrent named "t" over `bytes`, files given as (path, len).
fn torrent(files: &[(&str, u64)], piece_length: u32, bytes: &[u8]) -> Info {
    let mut entries = Vec::new();
    let mut offset = 0u64;
    for (path, len) in files {
        let mut comps: Vec<&[u8]> = vec![b"t"];
        comps.extend(path.split('/').map(str::as_bytes));
        let path = SafePath::from_components(&comps).expect("safe path");
        entries.push(FileEntry {
            path,
            length: *len,
            offset,
        });
        offset += len;
    }
    assert_eq!(offset, bytes.len() as u64);
    let piece_hashes = bytes
        .chunks(piece_length as usize)
        .map(|c| sha1_smol::Sha1::from(c).digest().bytes())
        .collect();
    Info {
        name: "t".into(),
        piece_length,
        piece_hashes,
        files: entries,
        multi_file: true,
        private: false,
        total_length: offset,
    }
}

fn cfg() -> StoreConfig {
    StoreConfig {
        inflight_ram: 64 << 20,
        ram_tier: 8 << 20,
        hash_threads: 2,
        write_budget: None,
    }
}

fn open(info: &Info, dir: &Path, resume: Option<PathBuf>, cfg: StoreConfig) -> PieceStore {
    PieceStore::open(info, InfoHash([9; 20]), dir, resume, cfg).expect("open store")
}

/// The bytes of piece `p` of `bytes`.
fn piece_of<'a>(info: &Info, bytes: &'a [u8], p: u32) -> &'a [u8] {
    let pl = info.piece_length as usize;
    let start = p as usize * pl;
    &bytes[start..(start + pl).min(bytes.len())]
}

/// Put every block of piece `p`, last block first; the final put must say
/// the piece is ready.
fn put_piece(store: &PieceStore, info: &Info, bytes: &[u8], p: u32) {
    let piece = piece_of(info, bytes, p);
    let blocks: Vec<(u32, &[u8])> = piece
        .chunks(BLOCK_LEN as usize)
        .enumerate()
        .map(|(i, b)| (i as u32 * BLOCK_LEN, b))
        .rev()
        .collect();
    let n = blocks.len();
    for (i, (begin, block)) in blocks.into_iter().enumerate() {
        let want = if i + 1 == n {
            BlockOutcome::PieceReady
        } else {
            BlockOutcome::Stored
        };
        assert_eq!(
            store.put_block(p, begin, block).expect("put block"),
            want,
            "piece {p} block at {begin}"
        );
    }
}

fn download(store: &PieceStore, info: &Info, bytes: &[u8], p: u32) {
    put_piece(store, info, bytes, p);
    assert_eq!(store.verify_piece(p).expect("verify"), Verdict::Good);
}

/// 70000 bytes in 32 KiB pieces (two blocks each; the last piece is short),
/// piece 1 spanning a.bin, c.bin and d.bin, with 0-byte files between and
/// at the end.
fn multi() -> (Info, Vec<u8>) {
    let bytes = data(70_000, 1);
    let files = [
        ("a.bin", 40_000),
        ("b.empty", 0),
        ("sub/c.bin", 10_000),
        ("sub/d.bin", 20_000),
        ("z/empty", 0),
    ];
    (torrent(&files, 32 * 1024, &bytes), bytes)
}

fn file_bytes(dir: &Path, info: &Info, i: usize) -> Vec<u8> {
    std::fs::read(info.files[i].path.under(dir)).expect("read file")
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PieceStore>();
}

#[test]
fn multi_file_download_reads_back_and_matches_files() {
    let tmp = TempDir::new("multi");
    let (info, bytes) = multi();
    let store = open(&info, tmp.path(), None, cfg());
    assert_eq!(store.layout().piece_count, 3);
    assert!(
        store
            .layout()
            .spans(1, 0, store.layout().piece_size(1))
            .len()
            >= 3
    );
    // 0-byte files exist from the start; nothing else is created yet.
    assert_eq!(file_bytes(tmp.path(), &info, 1).len(), 0);
    assert_eq!(file_bytes(tmp.path(), &info, 4).len(), 0);
    assert!(!info.files[0].path.under(tmp.path()).exists());

    for p in [2, 0, 1] {
        download(&store, &info, &bytes, p);
    }
    assert!(store.have().is_full());
    assert_eq!(store.bytes_written(), bytes.len() as u64);
    assert_eq!(store.inflight_bytes(), 0);
    for p in 0..3 {
        let size = store.layout().piece_size(p);
        assert_eq!(
            store.read(p, 0, size).expect("read"),
            piece_of(&info, &bytes, p)
        );
    }
    // A read in the middle of piece 1, crossing all three files.
    let at = 40_000 - 32 * 1024 - 100;
    assert_eq!(
        store.read(1, at, 10_200).expect("read"),
        &bytes[40_000 - 100..50_100]
    );
    let mut on_disk = Vec::new();
    for i in 0..info.files.len() {
        on_disk.extend(file_bytes(tmp.path(), &info, i));
    }
    assert_eq!(on_disk, bytes);
}

/// Aligned piece writes go through `O_DIRECT` (when the filesystem takes
/// it), unaligned parts and the fallback through the page cache: the files
/// must come out the same, with a tiny in-flight cap (buffers recycled) and
/// no RAM tier. Single file (last piece short, unaligned tail) and the
/// multi-file layout (spans at unaligned offsets).
#[test]
fn direct_and_page_cache_writes_give_the_same_files() {
    let single_bytes = data(5 * 64 * 1024 + 5000, 11);
    let single = torrent(
        &[("movie.mkv", single_bytes.len() as u64)],
        64 * 1024,
        &single_bytes,
    );
    let (multi_info, multi_bytes) = multi();
    for (info, bytes) in [(&single, &single_bytes), (&multi_info, &multi_bytes)] {
        for direct in [true, false] {
            let tmp = TempDir::new("direct");
            let small = StoreConfig {
                inflight_ram: 2 * u64::from(info.piece_length),
                ram_tier: 0,
                hash_threads: 1,
                write_budget: None,
            };
            let store = open(info, tmp.path(), None, small);
            store.files.set_direct_io(direct);
            let n = store.layout().piece_count;
            // Two pieces in flight at a time, verified out of order.
            let order: Vec<u32> = (0..n).rev().collect();
            for pair in order.chunks(2) {
                for &p in pair {
                    put_piece(&store, info, bytes, p);
                }
                for &p in pair {
                    assert_eq!(store.verify_piece(p).expect("verify"), Verdict::Good);
                }
            }
            assert!(store.have().is_full());
            assert_eq!(store.ram_tier_bytes(), 0);
            assert_eq!(store.inflight_bytes(), 0);
            if !direct {
                assert!(!store.files.direct_io());
            }
            let mut on_disk = Vec::new();
            for i in 0..info.files.len() {
                on_disk.extend(file_bytes(tmp.path(), info, i));
            }
            assert!(
                on_disk == **bytes,
                "direct {direct}, {} files",
                info.files.len()
            );
            for p in 0..n {
                let size = store.layout().piece_size(p);
                assert_eq!(
                    store.read(p, 0, size).expect("read"),
                    piece_of(info, bytes, p)
                );
            }
            store.save_resume().expect("sync");
        }
    }
}

/// Pieces verified in pairs: good with good, good with bad, with one not
/// complete, with one already verified; each gets its own verdict and
/// `inspect` sees each hashed piece once.
#[test]
fn pairs_of_pieces_get_their_own_verdicts() {
    let tmp = TempDir::new("pairs");
    let bytes = data(6 * 32 * 1024, 5);
    let info = torrent(&[("a.bin", bytes.len() as u64)], 32 * 1024, &bytes);
    let store = open(&info, tmp.path(), None, cfg());
    for p in [0, 1, 2, 3] {
        put_piece(&store, &info, &bytes, p);
    }
    // Piece 3 gets a wrong block: put it again after dropping it.
    store.discard_piece(3);
    let mut evil = piece_of(&info, &bytes, 3).to_vec();
    evil[100] ^= 1;
    for (i, block) in evil.chunks(BLOCK_LEN as usize).enumerate() {
        store
            .put_block(3, i as u32 * BLOCK_LEN, block)
            .expect("put");
    }
    let mut seen = Vec::new();
    // Only piece 1 is hot (a reader wants it): the tier keeps it alone.
    let r = store.verify_pieces_with(
        &[0, 1, 2, 3, 4],
        |p| p == 1,
        |p, buf| {
            assert_eq!(buf.len(), 32 * 1024);
            seen.push(p);
        },
    );
    assert_eq!(seen, vec![0, 1, 2, 3]);
    assert_eq!(r.len(), 5);
    assert_eq!(r[0].as_ref().ok(), Some(&Verdict::Good));
    assert_eq!(r[1].as_ref().ok(), Some(&Verdict::Good));
    assert_eq!(r[2].as_ref().ok(), Some(&Verdict::Good));
    assert_eq!(r[3].as_ref().ok(), Some(&Verdict::Bad));
    assert!(r[4].is_err(), "piece 4 has no blocks");
    assert_eq!(
        store.ram_tier_bytes(),
        32 * 1024,
        "only the hot piece in RAM"
    );
    // Already verified: good again, not hashed; out of range: an error.
    let mut again = 0;
    let r = store.verify_pieces_with(&[1, 99], |_| true, |_, _| again += 1);
    assert_eq!(r[0].as_ref().ok(), Some(&Verdict::Good));
    assert!(r[1].is_err());
    assert_eq!(again, 0);
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![0, 1, 2]);
    for p in 0..3 {
        let size = store.layout().piece_size(p);
        assert_eq!(
            store.read(p, 0, size).expect("read"),
            piece_of(&info, &bytes, p)
        );
    }
}

#[test]
fn reads_from_disk_when_ram_tier_is_off() {
    let tmp = TempDir::new("disk-read");
    let (info, bytes) = multi();
    let store = open(
        &info,
        tmp.path(),
        None,
        StoreConfig {
            ram_tier: 0,
            ..cfg()
        },
    );
    for p in 0..3 {
        download(&store, &info, &bytes, p);
    }
    assert_eq!(store.ram_tier_bytes(), 0);
    assert_eq!(
        store.read(1, 0, 32 * 1024).expect("read"),
        piece_of(&info, &bytes, 1)
    );
    assert_eq!(
        store.read(2, 4000, 464).expect("read"),
        &bytes[65_536 + 4000..]
    );
}

#[test]
fn bad_piece_is_dropped_then_good_one_accepted() {
    let tmp = TempDir::new("bad");
    let (info, bytes) = multi();
    let store = open(&info, tmp.path(), None, cfg());
    let mut wrong = bytes.clone();
    wrong[32 * 1024 + 5] ^= 0xff;
    put_piece(&store, &info, &wrong, 1);
    assert_eq!(store.verify_piece(1).expect("verify"), Verdict::Bad);
    assert!(!store.has_piece(1));
    assert_eq!(store.inflight_bytes(), 0);
    assert!(store.read(1, 0, 16).is_err());
    assert_eq!(store.bytes_written(), 0);
    download(&store, &info, &bytes, 1);
    assert!(store.has_piece(1));
    assert_eq!(
        store.read(1, 0, 32 * 1024).expect("read"),
        piece_of(&info, &bytes, 1)
    );
}

#[test]
fn duplicate_blocks_are_reported() {
    let tmp = TempDir::new("dup");
    let (info, bytes) = multi();
    let store = open(&info, tmp.path(), None, cfg());
    let block = &bytes[..BLOCK_LEN as usize];
    assert_eq!(
        store.put_block(0, 0, block).expect("put"),
        BlockOutcome::Stored
    );
    assert_eq!(
        store.put_block(0, 0, block).expect("put"),
        BlockOutcome::Duplicate
    );
    let second = &bytes[BLOCK_LEN as usize..2 * BLOCK_LEN as usize];
    assert_eq!(
        store.put_block(0, BLOCK_LEN, second).expect("put"),
        BlockOutcome::PieceReady
    );
    assert_eq!(store.verify_piece(0).expect("verify"), Verdict::Good);
    assert_eq!(
        store.put_block(0, 0, block).expect("put"),
        BlockOutcome::Duplicate
    );
    // Verifying again is harmless.
    assert_eq!(store.verify_piece(0).expect("verify"), Verdict::Good);
    assert_eq!(store.bytes_written(), 32 * 1024);
}
