//! Bounds tests of the piece store: hostile block positions, the
//! in-flight and RAM-tier caps, waiting for a piece, concurrent writers and
//! readers, and a bounded file-descriptor cache.

use super::*;

#[test]
fn hostile_block_positions_are_errors_not_panics() {
    let tmp = TempDir::new("hostile");
    let (info, bytes) = multi();
    let store = open(&info, tmp.path(), None, cfg());
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
        tmp.path(),
        None,
        StoreConfig {
            inflight_ram: 2 * 32 * 1024,
            ..cfg()
        },
    );
    let block = |p: u32| &bytes[p as usize * 32 * 1024..][..BLOCK_LEN as usize];
    assert_eq!(store.pieces_that_fit(), 2);
    assert_eq!(
        store.put_block(0, 0, block(0)).expect("put"),
        BlockOutcome::Stored
    );
    assert_eq!(store.pieces_that_fit(), 1);
    assert_eq!(
        store.put_block(1, 0, block(1)).expect("put"),
        BlockOutcome::Stored
    );
    assert_eq!(store.pieces_that_fit(), 0);
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
    assert_eq!(store.pieces_that_fit(), 1);
    assert_eq!(
        store.put_block(2, 0, block(2)).expect("put"),
        BlockOutcome::Stored
    );
    // Verifying frees room too.
    assert_eq!(store.verify_piece(1).expect("verify"), Verdict::Good);
    assert_eq!(store.pieces_that_fit(), 1);
    // A piece reserved before its blocks arrive takes its room at once.
    store.admit(5);
    assert_eq!(store.pieces_that_fit(), 0);
    assert_eq!(
        store.put_block(5, 0, block(5)).expect("put"),
        BlockOutcome::Stored
    );

    // A cap smaller than one piece still lets one piece through.
    let tmp2 = TempDir::new("cap-tiny");
    let tiny = open(
        &info,
        tmp2.path(),
        None,
        StoreConfig {
            inflight_ram: 1,
            ..cfg()
        },
    );
    assert_eq!(tiny.pieces_that_fit(), 1);
    assert_eq!(
        tiny.put_block(3, 0, block(3)).expect("put"),
        BlockOutcome::Stored
    );
    assert_eq!(tiny.pieces_that_fit(), 0);
    assert_eq!(
        tiny.put_block(4, 0, block(4)).expect("put"),
        BlockOutcome::NoRoom
    );
    // A piece a reader waits for is admitted over the cap; a verified or
    // out-of-range piece is not.
    tiny.admit(4);
    assert_eq!(tiny.inflight_bytes(), 2 * 32 * 1024);
    assert_eq!(
        tiny.put_block(4, 0, block(4)).expect("put"),
        BlockOutcome::Stored
    );
    tiny.admit(4);
    tiny.admit(99);
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
        tmp.path(),
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
    let store = Arc::new(open(&info, tmp.path(), None, cfg()));
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
        tmp.path(),
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
    let store = open(&info, tmp.path(), None, cfg());
    for p in 0..store.layout().piece_count {
        download(&store, &info, &bytes, p);
        assert!(store.files.open_count() <= files::MAX_OPEN_FILES);
    }
    for (i, _) in files.iter().enumerate() {
        assert_eq!(
            file_bytes(tmp.path(), &info, i),
            &bytes[i * 1000..(i + 1) * 1000]
        );
    }
}
