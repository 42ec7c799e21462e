//! Tests of the stream-mode disk cache against real files in private temp
//! directories: the limit holds, eviction is least-recently-read across
//! torrents, evicted pieces stop being verified, a restart re-checks the
//! files, hostile file names and oversized pieces are refused.

use rill_testkit::TempDir;

use super::*;
use crate::store::{BlockOutcome, PieceStore, StoreConfig, Verdict};
use crate::torrent::Info;
use crate::torrent::{FileEntry, SafePath};

const PL: u32 = 16 * 1024;

/// A one-file torrent of `pieces` pieces of one block each (the last one
/// short), with bytes depending on `seed`.
fn torrent(pieces: u32, seed: u8) -> (Info, Vec<u8>) {
    let len = u64::from(PL) * u64::from(pieces) - 1000;
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect();
    let path = SafePath::from_components(&[b"movie.mkv"]).expect("path");
    let info = Info {
        name: "movie.mkv".into(),
        piece_length: PL,
        piece_hashes: bytes
            .chunks(PL as usize)
            .map(|c| sha1_smol::Sha1::from(c).digest().bytes())
            .collect(),
        files: vec![FileEntry {
            path,
            length: len,
            offset: 0,
        }],
        multi_file: false,
        private: false,
        total_length: len,
    };
    (info, bytes)
}

fn piece(bytes: &[u8], p: u32) -> &[u8] {
    let s = p as usize * PL as usize;
    &bytes[s..(s + PL as usize).min(bytes.len())]
}

fn download(store: &PieceStore, bytes: &[u8], p: u32) {
    let data = piece(bytes, p);
    assert_eq!(
        store.put_block(p, 0, data).expect("put"),
        BlockOutcome::PieceReady
    );
    assert_eq!(store.verify_piece(p).expect("verify"), Verdict::Good);
}

/// Bytes of the piece files under `dir` (what the card holds).
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir(dir).expect("list").flatten() {
        if let Ok(files) = std::fs::read_dir(t.path()) {
            for f in files.flatten() {
                total += f.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

fn cfg() -> StoreConfig {
    StoreConfig {
        inflight_ram: 1 << 20,
        // No RAM tier: every read goes to the cache files.
        ram_tier: 0,
        hash_threads: 1,
        write_budget: None,
    }
}

#[test]
fn piece_names() {
    assert_eq!(parse_piece_name("0.piece"), Some(0));
    assert_eq!(parse_piece_name("4294967295.piece"), Some(u32::MAX));
    for bad in [
        "4294967296.piece",
        "99999999999.piece",
        ".piece",
        "-1.piece",
        "+1.piece",
        "1.piece.tmp",
        "1.PIECE",
        "1",
        "a.piece",
        " 1.piece",
        "1 .piece",
        "١.piece",
        "",
    ] {
        assert_eq!(parse_piece_name(bad), None, "{bad:?}");
    }
}

#[test]
fn streams_a_torrent_four_times_the_limit_within_it() {
    let dir = TempDir::new("limit");
    let limit = u64::from(PL) * 5;
    let cache = DiskCache::open(dir.path(), limit).expect("cache");
    let (info, bytes) = torrent(20, 1);
    let id = InfoHash([1; 20]);
    let store = PieceStore::open_cached(&info, id, cache.clone(), cfg()).expect("open");
    let mut evicted = Vec::new();
    for p in 0..20 {
        download(&store, &bytes, p);
        assert!(cache.used() <= limit);
        assert!(disk_bytes(dir.path()) <= limit);
        // Read it, as a stream reader would, and re-read piece 0 each time:
        // the most recently read piece is never the one evicted.
        let got = store
            .read(p, 0, store.layout().piece_size(p))
            .expect("read");
        assert_eq!(got, piece(&bytes, p));
        if p > 0 {
            assert_eq!(store.read(0, 0, 10).expect("piece 0"), &bytes[..10]);
        }
        evicted.extend(store.take_evicted());
    }
    let have = store.have();
    assert_eq!(have.count(), 5);
    assert!(have.get(0), "piece 0 was read last, it must stay");
    assert!(have.get(19));
    for p in &evicted {
        assert!(!have.get(*p), "evicted piece {p} still claimed");
        assert!(store.read(*p, 0, 1).is_err());
    }
    assert_eq!(evicted.len(), 15);
    assert_eq!(cache.evictions(), 15);
    assert_eq!(store.bytes_written(), bytes.len() as u64);
    // Fetching an evicted piece again works and evicts the oldest.
    download(&store, &bytes, 3);
    assert!(store.has_piece(3));
    assert!(disk_bytes(dir.path()) <= limit);
}

#[test]
fn eviction_crosses_torrents_and_restart_rechecks_files() {
    let dir = TempDir::new("two");
    let limit = u64::from(PL) * 4;
    let (a_info, a_bytes) = torrent(6, 2);
    let (b_info, b_bytes) = torrent(6, 3);
    let (a, b) = (InfoHash([0xa; 20]), InfoHash([0xb; 20]));
    {
        let cache = DiskCache::open(dir.path(), limit).expect("cache");
        let sa = PieceStore::open_cached(&a_info, a, cache.clone(), cfg()).expect("a");
        let sb = PieceStore::open_cached(&b_info, b, cache.clone(), cfg()).expect("b");
        for p in 0..4 {
            download(&sa, &a_bytes, p);
        }
        sa.read(1, 0, 1).expect("read a1");
        // B's pieces push out A's least recently read ones: 0, 2, 3, then 1.
        download(&sb, &b_bytes, 0);
        download(&sb, &b_bytes, 1);
        let mut lost = sa.take_evicted();
        lost.sort_unstable();
        assert_eq!(lost, vec![0, 2]);
        assert!(sa.has_piece(1) && sa.has_piece(3));
        assert!(sa.take_evicted().is_empty());
        assert_eq!(cache.used(), limit);
        drop(sa);
        drop(sb);
    }
    // Corrupt B's piece 1 and leave a stray file: a restart drops both.
    let b_dir = dir.path().join(b.to_hex());
    std::fs::write(b_dir.join("1.piece"), vec![0u8; PL as usize]).expect("corrupt");
    std::fs::write(b_dir.join("junk.tmp"), b"x").expect("stray");
    std::fs::write(b_dir.join("77.piece"), b"no such piece").expect("stray piece");
    // (Room for the strays too: the open must not evict to fit them.)
    let cache = DiskCache::open(dir.path(), limit * 2).expect("reopen");
    assert!(!b_dir.join("junk.tmp").exists());
    let sb = PieceStore::open_cached(&b_info, b, cache.clone(), cfg()).expect("b again");
    assert!(sb.has_piece(0));
    assert!(!sb.has_piece(1), "a corrupt piece file is not trusted");
    assert!(!b_dir.join("1.piece").exists());
    assert!(!b_dir.join("77.piece").exists());
    assert_eq!(sb.read(0, 0, 100).expect("read"), &b_bytes[..100]);
    let sa = PieceStore::open_cached(&a_info, a, cache.clone(), cfg()).expect("a again");
    assert_eq!(sa.have().count(), 2);
    assert_eq!(cache.used(), u64::from(PL) * 3);
    // A smaller limit at the next start evicts down to it.
    drop((sa, sb));
    let cache = DiskCache::open(dir.path(), u64::from(PL)).expect("smaller");
    assert!(cache.used() <= u64::from(PL));
    assert!(disk_bytes(dir.path()) <= u64::from(PL));
    cache.remove_torrent(a);
    cache.remove_torrent(b);
    assert_eq!(cache.used(), 0);
    assert_eq!(disk_bytes(dir.path()), 0);
}

#[test]
fn piece_larger_than_the_cache_is_refused() {
    let dir = TempDir::new("small");
    let cache = DiskCache::open(dir.path(), u64::from(PL) - 1).expect("cache");
    let (info, bytes) = torrent(2, 4);
    let store =
        PieceStore::open_cached(&info, InfoHash([4; 20]), cache.clone(), cfg()).expect("open");
    store.put_block(0, 0, piece(&bytes, 0)).expect("put");
    let e = store.verify_piece(0).expect_err("too big");
    assert!(e.to_string().contains("stream_cache_mib"), "{e}");
    assert!(!store.has_piece(0));
    assert_eq!(cache.used(), 0);
}

#[test]
fn concurrent_writers_and_readers_stay_within_the_limit() {
    let dir = TempDir::new("threads");
    let limit = u64::from(PL) * 6;
    let cache = DiskCache::open(dir.path(), limit).expect("cache");
    let mut stores = Vec::new();
    for t in 0..4u8 {
        let (info, bytes) = torrent(16, 10 + t);
        let s = PieceStore::open_cached(&info, InfoHash([t + 20; 20]), cache.clone(), cfg())
            .expect("open");
        stores.push((Arc::new(s), bytes));
    }
    let handles: Vec<_> = stores
        .into_iter()
        .map(|(s, bytes)| {
            std::thread::spawn(move || {
                for p in 0..16 {
                    download(&s, &bytes, p);
                    // Evicted at once by another thread, or readable.
                    if let Ok(got) = s.read(p, 0, 100) {
                        assert_eq!(got, &piece(&bytes, p)[..100]);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer");
    }
    assert!(cache.used() <= limit);
    assert!(disk_bytes(dir.path()) <= limit);
}

#[test]
fn pieces_a_reader_wants_outlive_the_passed_and_unread_ones() {
    let dir = TempDir::new("bands");
    let limit = u64::from(PL) * 4;
    let cache = DiskCache::open(dir.path(), limit).expect("cache");
    let (info, bytes) = torrent(12, 5);
    let store =
        PieceStore::open_cached(&info, InfoHash([5; 20]), cache.clone(), cfg()).expect("open");
    // A reader's plan: its file's head (0) and tail (11), window 1..3.
    store.want_pieces(&[0, 1, 2, 11], &[]);
    download(&store, &bytes, 11);
    download(&store, &bytes, 0);
    store.read_played(0, 0, 10).expect("read 0");
    download(&store, &bytes, 1);
    // A preload nobody asked for yet.
    download(&store, &bytes, 7);
    store.read_played(1, 0, 10).expect("read 1");
    // The reader moves on: 1 passed, 3 joins the window.
    store.want_pieces(&[3], &[1]);
    // An upload to a peer reads 7: it stays unread.
    store.read(7, 0, 10).expect("upload 7");
    download(&store, &bytes, 2);
    assert_eq!(store.take_evicted(), vec![1], "the passed piece goes first");
    download(&store, &bytes, 3);
    assert_eq!(store.take_evicted(), vec![7], "then the unread one");
    assert_eq!(cache.window_evictions(), 0);
    // Only wanted pieces left: one goes (the tail, least recently
    // touched), and the cache counts it.
    download(&store, &bytes, 9);
    assert_eq!(store.take_evicted(), vec![11]);
    assert_eq!(cache.window_evictions(), 1);
    // The reader closes: its pieces become evictable, the played ones
    // (0, then 3 read just now) before the unread ones (9, 2).
    store.want_pieces(&[], &[0, 2, 3, 11]);
    store.read_played(3, 0, 10).expect("read 3");
    download(&store, &bytes, 10);
    assert_eq!(store.take_evicted(), vec![0]);
    download(&store, &bytes, 11);
    assert_eq!(store.take_evicted(), vec![3]);
    download(&store, &bytes, 1);
    assert_eq!(store.take_evicted(), vec![9]);
    assert_eq!(cache.window_evictions(), 1);
    assert!(cache.used() <= limit);
}
