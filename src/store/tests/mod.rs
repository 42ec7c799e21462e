//! Tests of the piece store against real files in private temp directories:
//! multi-file layouts, hostile block positions, caps, concurrency. Restart
//! and failure cases live in `recovery.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::torrent::{FileEntry, SafePath};
use crate::wire::message::BLOCK_LEN;

mod recovery;
mod writes;

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rill-store-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
    let store = open(&info, &tmp.0, None, cfg());
    assert_eq!(store.layout().piece_count, 3);
    assert!(
        store
            .layout()
            .spans(1, 0, store.layout().piece_size(1))
            .len()
            >= 3
    );
    // 0-byte files exist from the start; nothing else is created yet.
    assert_eq!(file_bytes(&tmp.0, &info, 1).len(), 0);
    assert_eq!(file_bytes(&tmp.0, &info, 4).len(), 0);
    assert!(!info.files[0].path.under(&tmp.0).exists());

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
        on_disk.extend(file_bytes(&tmp.0, &info, i));
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
            let store = open(info, &tmp.0, None, small);
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
                on_disk.extend(file_bytes(&tmp.0, info, i));
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
    let store = open(&info, &tmp.0, None, cfg());
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
        &tmp.0,
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
    let store = open(&info, &tmp.0, None, cfg());
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
    let store = open(&info, &tmp.0, None, cfg());
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

#[test]
fn hostile_block_positions_are_errors_not_panics() {
    let tmp = TempDir::new("hostile");
    let (info, bytes) = multi();
    let store = open(&info, &tmp.0, None, cfg());
    let block = vec![1u8; BLOCK_LEN as usize];
    let invalid = |r: Result<BlockOutcome, StoreError>| matches!(r, Err(StoreError::Invalid(_)));
    assert!(invalid(store.put_block(3, 0, &block)), "piece out of range");
    assert!(invalid(store.put_block(u32::MAX, 0, &block)));
    assert!(invalid(store.put_block(0, 1, &block)), "misaligned");
    assert!(
        invalid(store.put_block(0, 2 * BLOCK_LEN, &block)),
        "past the end"
    );
    assert!(invalid(store.put_block(
        0,
        u32::MAX - BLOCK_LEN + 1,
        &block
    )));
    assert!(invalid(store.put_block(0, 0, &block[..100])), "short block");
    assert!(invalid(store.put_block(0, 0, &[])), "empty block");
    assert!(
        invalid(store.put_block(0, 0, &vec![0; BLOCK_LEN as usize + 1])),
        "long block"
    );
    // The last piece is 4464 bytes: one short block.
    assert!(invalid(store.put_block(2, 0, &block)));
    assert!(invalid(store.put_block(2, 0, &bytes[..4463])));
    assert_eq!(
        store.put_block(2, 0, &bytes[65_536..]).expect("put"),
        BlockOutcome::PieceReady
    );
    // Nothing hostile left anything in flight except piece 2.
    assert_eq!(store.inflight_bytes(), 4464);
    assert!(
        matches!(store.verify_piece(0), Err(StoreError::Invalid(_))),
        "nothing to verify"
    );
    assert!(matches!(store.verify_piece(9), Err(StoreError::Invalid(_))));
    assert_eq!(
        store.put_block(1, 0, &block).expect("put"),
        BlockOutcome::Stored
    );
    let e = store.verify_piece(1).expect_err("incomplete");
    assert!(e.to_string().contains("1 of 2 blocks"), "{e}");
    assert_eq!(store.verify_piece(2).expect("verify"), Verdict::Good);
    // Reads: out of range or unverified.
    assert!(store.read(2, 0, 4465).is_err());
    assert!(store.read(2, u32::MAX, 2).is_err());
    assert!(store.read(2, 4464, 0).expect("empty read").is_empty());
    assert!(store.read(0, 0, 1).is_err());
    assert!(store.read(7, 0, 1).is_err());
    assert!(!store.wait_for_piece(7, Duration::from_millis(1)));
}

#[test]
fn inflight_cap_refuses_new_pieces() {
    let tmp = TempDir::new("cap");
    let bytes = data(8 * 32 * 1024, 2);
    let info = torrent(&[("f", bytes.len() as u64)], 32 * 1024, &bytes);
    let store = open(
        &info,
        &tmp.0,
        None,
        StoreConfig {
            inflight_ram: 2 * 32 * 1024,
            ..cfg()
        },
    );
    let block = |p: u32| &bytes[p as usize * 32 * 1024..][..BLOCK_LEN as usize];
    assert!(store.can_start_piece());
    assert_eq!(
        store.put_block(0, 0, block(0)).expect("put"),
        BlockOutcome::Stored
    );
    assert!(store.can_start_piece());
    assert_eq!(
        store.put_block(1, 0, block(1)).expect("put"),
        BlockOutcome::Stored
    );
    assert!(!store.can_start_piece());
    assert_eq!(
        store.put_block(2, 0, block(2)).expect("put"),
        BlockOutcome::NoRoom
    );
    assert_eq!(store.inflight_bytes(), 2 * 32 * 1024);
    // Pieces already started still take blocks.
    assert_eq!(
        store
            .put_block(1, BLOCK_LEN, &bytes[32 * 1024 + 16384..][..16384])
            .expect("put"),
        BlockOutcome::PieceReady
    );
    store.discard_piece(0);
    assert!(store.can_start_piece());
    assert_eq!(
        store.put_block(2, 0, block(2)).expect("put"),
        BlockOutcome::Stored
    );
    // Verifying frees room too.
    assert_eq!(store.verify_piece(1).expect("verify"), Verdict::Good);
    assert!(store.can_start_piece());

    // A cap smaller than one piece still lets one piece through.
    let tmp2 = TempDir::new("cap-tiny");
    let tiny = open(
        &info,
        &tmp2.0,
        None,
        StoreConfig {
            inflight_ram: 1,
            ..cfg()
        },
    );
    assert!(tiny.can_start_piece());
    assert_eq!(
        tiny.put_block(3, 0, block(3)).expect("put"),
        BlockOutcome::Stored
    );
    assert!(!tiny.can_start_piece());
    assert_eq!(
        tiny.put_block(4, 0, block(4)).expect("put"),
        BlockOutcome::NoRoom
    );
    // A piece a reader waits for is admitted over the cap; a verified or
    // out-of-range piece is not.
    tiny.admit_urgent(4);
    assert_eq!(tiny.inflight_bytes(), 2 * 32 * 1024);
    assert_eq!(
        tiny.put_block(4, 0, block(4)).expect("put"),
        BlockOutcome::Stored
    );
    tiny.admit_urgent(4);
    tiny.admit_urgent(99);
    assert_eq!(tiny.inflight_bytes(), 2 * 32 * 1024, "no double count");
}

#[test]
fn ram_tier_respects_its_cap() {
    let tmp = TempDir::new("ram");
    let bytes = data(10 * 32 * 1024, 3);
    let info = torrent(&[("f", bytes.len() as u64)], 32 * 1024, &bytes);
    let cap = 3 * 32 * 1024 + 100;
    let store = open(
        &info,
        &tmp.0,
        None,
        StoreConfig {
            ram_tier: cap,
            ..cfg()
        },
    );
    for p in 0..10 {
        download(&store, &info, &bytes, p);
        assert!(store.ram_tier_bytes() <= cap);
    }
    assert_eq!(store.ram_tier_bytes(), 3 * 32 * 1024);
    // Evicted pieces come from disk, kept ones from RAM: both are right.
    for p in 0..10 {
        assert_eq!(
            store.read(p, 0, 32 * 1024).expect("read"),
            piece_of(&info, &bytes, p)
        );
    }
}

#[test]
fn wait_for_piece_wakes_on_completion_and_times_out() {
    let tmp = TempDir::new("wait");
    let (info, bytes) = multi();
    let store = Arc::new(open(&info, &tmp.0, None, cfg()));
    assert!(!store.wait_for_piece(0, Duration::from_millis(20)));
    let s2 = Arc::clone(&store);
    let waiter = std::thread::spawn(move || s2.wait_for_piece(1, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(20));
    download(&store, &info, &bytes, 1);
    assert!(waiter.join().expect("waiter"));
    assert!(store.wait_for_piece(1, Duration::ZERO));
}

#[test]
fn concurrent_writers_and_readers_agree() {
    let tmp = TempDir::new("threads");
    let bytes = data(16 * 32 * 1024, 4);
    let info = torrent(
        &[
            ("a", 100_000),
            ("b", 0),
            ("c", bytes.len() as u64 - 100_000),
        ],
        32 * 1024,
        &bytes,
    );
    let store = Arc::new(open(
        &info,
        &tmp.0,
        None,
        StoreConfig {
            ram_tier: 64 * 1024,
            ..cfg()
        },
    ));
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (store, info, bytes) = (&store, &info, &bytes);
            s.spawn(move || {
                for p in (t..16).step_by(4) {
                    download(store, info, bytes, p);
                    let other = (p + 1) % 16;
                    if store.wait_for_piece(other, Duration::from_secs(30)) {
                        assert_eq!(
                            store.read(other, 0, 32 * 1024).expect("read"),
                            piece_of(info, bytes, other)
                        );
                    }
                }
            });
        }
    });
    assert!(store.have().is_full());
    assert_eq!(store.bytes_written(), bytes.len() as u64);
}

#[test]
fn many_files_keep_descriptors_bounded() {
    let tmp = TempDir::new("fds");
    let bytes = data(100 * 1000, 5);
    let names: Vec<String> = (0..100).map(|i| format!("d{}/f{i}", i % 7)).collect();
    let files: Vec<(&str, u64)> = names.iter().map(|n| (n.as_str(), 1000)).collect();
    let info = torrent(&files, 16 * 1024, &bytes);
    let store = open(&info, &tmp.0, None, cfg());
    for p in 0..store.layout().piece_count {
        download(&store, &info, &bytes, p);
        assert!(store.files.open_count() <= files::MAX_OPEN_FILES);
    }
    for (i, _) in files.iter().enumerate() {
        assert_eq!(
            file_bytes(&tmp.0, &info, i),
            &bytes[i * 1000..(i + 1) * 1000]
        );
    }
}
