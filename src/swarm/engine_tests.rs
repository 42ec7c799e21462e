//! Tests of the engine handle: adding, removing, listing.

use super::*;
use std::path::PathBuf;
use std::time::Instant;

/// A single-file torrent of `len` bytes (16 KiB pieces, made-up hashes)
/// named `name`, with no trackers: it waits for peers and does nothing.
fn metainfo(name: &str, len: u64) -> Metainfo {
    let pieces = len.div_ceil(16384) as usize;
    let mut t = Vec::new();
    t.extend_from_slice(b"d4:infod6:lengthi");
    t.extend_from_slice(format!("{len}e4:name{}:{name}", name.len()).as_bytes());
    t.extend_from_slice(format!("12:piece lengthi16384e6:pieces{}:", pieces * 20).as_bytes());
    t.extend((0..pieces * 20).map(|i| i as u8));
    t.extend_from_slice(b"ee");
    Metainfo::from_bytes(&t).expect("test torrent parses")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "rill-engine-{tag}-{}-{}",
        std::process::id(),
        crate::random::seed()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn removed_torrent_stays_out_of_listings() {
    let dir = temp_dir("remove");
    let engine = Engine::start(EngineConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        listen_fallback: false,
        board: crate::board::select(None).expect("board"),
        encryption: Encryption::default(),
        utp: true,
    })
    .expect("engine starts");
    let opts = AddOptions {
        out_dir: dir.clone(),
        resume_dir: Some(dir.join(".rill")),
        ..AddOptions::default()
    };
    let a = engine
        .add(
            Source::Torrent(Box::new(metainfo("a.bin", 100_000))),
            opts.clone(),
        )
        .expect("add a");
    let b = engine
        .add(
            Source::Torrent(Box::new(metainfo("b.bin", 50_000))),
            opts.clone(),
        )
        .expect("add b");
    // Both stores open (they split the RAM budget), then remove one.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut gen = 0;
    while engine.store(a).is_none() || engine.store(b).is_none() {
        assert!(Instant::now() < deadline, "stores did not open");
        gen = engine.wait_change(gen, Duration::from_millis(200));
    }
    engine.remove(a).expect("remove");
    assert!(engine.stats(a).is_none());
    // Its stop (resume save, `stopped` announce) finishes meanwhile and
    // must not publish it again. Bounded: 2 s of changes.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        gen = engine.wait_change(gen, Duration::from_millis(100));
        let ids: Vec<TorrentId> = engine.list().iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![b], "removed torrent reappeared");
        assert!(engine.stats(a).is_none() && engine.info(a).is_none());
    }
    // The stop did run: the resume file was saved.
    assert!(dir
        .join(".rill")
        .join(format!("{}.resume", a.to_hex()))
        .exists());
    // And it can be added again.
    let again = engine
        .add(Source::Torrent(Box::new(metainfo("a.bin", 100_000))), opts)
        .expect("re-add");
    assert_eq!(again, a);
    assert!(engine.stats(a).is_some());
    engine.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
