//! Stream readers against a real, rate-limited aria2c seeder on loopback:
//!
//! - 200 random ranges read through a `FileReader` while the file is still
//!   downloading all equal the source bytes;
//! - a read at 80% of a file that is not downloaded there returns its bytes
//!   before the file completes, and the pieces around 80% complete before
//!   every piece between 10% and 70% (completion order recorded by one
//!   thread per piece blocked in `PieceStore::wait_for_piece`; the BEP 6
//!   allowed-fast pieces aria2c offers while it still chokes us excepted);
//! - a piece nobody sends fails the read with `TimedOut` (a bounded
//!   wait), and opening a missing torrent or file is refused.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::reader::{FileReader, ReaderConfig};
use rill::store::PieceStore;
use rill::swarm::{AddOptions, Engine, EngineConfig, Source, TorrentId};
use rill::torrent::Metainfo;

use crate::{aria2c_seed, free_port, make_torrent, Rng, TempDir, KIB, MIB, SERIAL, WAIT};

pub(crate) fn engine(ip: &str) -> Engine {
    let board = rill::board::select(None).expect("board profile");
    Engine::start(EngineConfig {
        listen: format!("{ip}:0").parse().expect("addr"),
        listen_fallback: false,
        board,
        encryption: Default::default(),
        utp: true,
    })
    .expect("engine starts")
}

/// Add the torrent (downloading from `peer`) and wait for its store.
fn add_and_open(
    e: &Engine,
    meta: &Metainfo,
    out: &Path,
    peer: &str,
) -> (TorrentId, Arc<PieceStore>) {
    add_with(e, meta, out, peer, false)
}

/// [`add_and_open`], with the edges of big files preloaded or not.
pub(crate) fn add_with(
    e: &Engine,
    meta: &Metainfo,
    out: &Path,
    peer: &str,
    preload_edges: bool,
) -> (TorrentId, Arc<PieceStore>) {
    let opts = AddOptions {
        disk_cache: None,
        preload_edges,
        out_dir: out.to_path_buf(),
        resume_dir: None,
        extra_peers: vec![peer.parse().expect("peer addr")],
        seed: false,
    };
    let id = e
        .add(Source::Torrent(Box::new(meta.clone())), opts)
        .expect("add");
    let start = Instant::now();
    let mut gen = 0;
    loop {
        if let Some(s) = e.store(id) {
            return (id, s);
        }
        assert!(start.elapsed() < WAIT, "store never opened");
        gen = e.wait_change(gen, Duration::from_millis(200));
    }
}

/// The BEP 6 allowed-fast set a peer offers to `ip` (first `k` pieces).
pub(crate) fn allowed_fast(ip: [u8; 4], info_hash: &[u8; 20], pieces: u32, k: usize) -> Vec<u32> {
    let mut x = vec![ip[0], ip[1], ip[2], 0];
    x.extend_from_slice(info_hash);
    let k = k.min(pieces as usize);
    let mut set = Vec::new();
    while set.len() < k {
        x = sha1_smol::Sha1::from(&x).digest().bytes().to_vec();
        for c in x.chunks(4) {
            if set.len() == k {
                break;
            }
            let y = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let index = y % pieces;
            if !set.contains(&index) {
                set.push(index);
            }
        }
    }
    set
}

pub(crate) fn cfg() -> ReaderConfig {
    ReaderConfig {
        window_min: MIB as u64,
        window_max: 8 * MIB as u64,
        wait_timeout: Duration::from_secs(60),
    }
}

/// Completion stamps: one thread per piece, each blocked on the store's
/// completion condvar, stamps the moment its piece is verified.
pub(crate) struct Stamps(Vec<(u32, std::thread::JoinHandle<Option<Instant>>)>);

impl Stamps {
    pub(crate) fn start<'a>(
        store: &Arc<PieceStore>,
        pieces: impl Iterator<Item = &'a u32>,
    ) -> Stamps {
        let waiters = pieces
            .map(|&p| {
                let s = store.clone();
                let t = std::thread::Builder::new()
                    .stack_size(64 * KIB)
                    .spawn(move || s.wait_for_piece(p, WAIT).then(Instant::now))
                    .expect("spawn waiter");
                (p, t)
            })
            .collect();
        Stamps(waiters)
    }

    /// Wait for every piece; the pieces of `later` (but those in
    /// `excluded`) that completed no later than the last of `first`.
    /// `excluded` is for the BEP 6 allowed-fast pieces aria2c offers while
    /// it still chokes us: the engine rightly requests those before the
    /// unchoke, so they may arrive first whatever their priority.
    pub(crate) fn completed_before(
        self,
        first: &[u32],
        later: &[u32],
        excluded: &[u32],
    ) -> Vec<u32> {
        let done: Vec<(u32, Instant)> = self
            .0
            .into_iter()
            .map(|(p, t)| {
                let when = t
                    .join()
                    .expect("waiter")
                    .unwrap_or_else(|| panic!("piece {p} never completed"));
                (p, when)
            })
            .collect();
        let last_first = done
            .iter()
            .filter(|(p, _)| first.contains(p))
            .map(|(_, t)| *t)
            .max()
            .expect("stamps of the first pieces");
        done.iter()
            .filter(|(p, t)| later.contains(p) && !excluded.contains(p) && *t <= last_first)
            .map(|(p, _)| *p)
            .collect()
    }
}

/// Block until a reader waits for a piece (the counter moved past
/// `before`): its priorities have been sent.
pub(crate) fn wait_for_a_wait(before: u64) {
    let start = Instant::now();
    while rill::reader::stats().waits == before {
        assert!(start.elapsed() < WAIT, "the reader never waited");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(crate) fn wait_complete(store: &PieceStore) {
    let n = store.layout().piece_count;
    for p in 0..n {
        assert!(store.wait_for_piece(p, WAIT), "piece {p} never completed");
    }
    // A verified piece may still wait in the write queue: the file is
    // read next, so wait until every one is written.
    if let Err(e) = store.flush_writes() {
        panic!("verified pieces never reached the file: {e}");
    }
}

#[test]
fn random_ranges_while_downloading_equal_the_source() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new("ranges");
    let seed_dir = dir.path().join("seed");
    fs::create_dir_all(&seed_dir).expect("mkdir");
    let len = 6 * MIB + 4321;
    let (bytes, meta, torrent) = make_torrent(&seed_dir, "movie.mkv", len);
    let ip = "127.0.0.81";
    let port = free_port(ip);
    let _aria = aria2c_seed(&seed_dir, &torrent, ip, port, "1M");

    let e = engine("127.0.0.82");
    let out = dir.path().join("out");
    let (id, store) = add_and_open(&e, &meta, &out, &format!("{ip}:{port}"));
    let pieces = store.layout().piece_count;
    let waits_before = rill::reader::stats().waits;

    let mut reader = FileReader::open(&e, id, 0, cfg()).expect("open reader");
    assert_eq!(reader.len(), len as u64);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut during_download = 0;
    for i in 0..200 {
        let start = rng.below(len as u64);
        let want = 1 + rng.below(200 * KIB as u64);
        let end = (start + want).min(len as u64);
        // Most ranges on the shared reader (seeks), some on fresh readers
        // as HTTP requests do.
        let mut fresh;
        let r: &mut FileReader = if i % 10 == 0 {
            fresh = FileReader::open(&e, id, 0, cfg()).expect("open reader");
            &mut fresh
        } else {
            &mut reader
        };
        assert_eq!(r.seek(SeekFrom::Start(start)).expect("seek"), start);
        let mut buf = vec![0u8; (end - start) as usize];
        r.read_exact(&mut buf).expect("read range");
        assert!(
            buf == bytes[start as usize..end as usize],
            "range {i}: bytes {start}..{end} differ from the source"
        );
        if store.have().count() < pieces {
            during_download += 1;
        }
    }
    // A read at the end of the file returns 0.
    reader.seek(SeekFrom::End(0)).expect("seek end");
    assert_eq!(reader.read(&mut [0u8; 16]).expect("read at EOF"), 0);
    assert!(reader.seek(SeekFrom::Current(-(len as i64) - 1)).is_err());
    eprintln!("{during_download} of 200 ranges were read before the download completed");
    assert!(
        during_download > 0,
        "every range was read after the download completed"
    );
    assert!(rill::reader::stats().waits > waits_before);
    drop(reader);
    wait_complete(&store);
    assert_eq!(fs::read(out.join("movie.mkv")).expect("read out"), bytes);
    e.shutdown();
}

#[test]
fn a_read_at_80_percent_is_served_before_the_middle_downloads() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new("eighty");
    let seed_dir = dir.path().join("seed");
    fs::create_dir_all(&seed_dir).expect("mkdir");
    let len = 16 * MIB;
    let (bytes, meta, torrent) = make_torrent(&seed_dir, "film.mp4", len);
    let ip = "127.0.0.83";
    let port = free_port(ip);

    // The leecher starts before the seeder listens: its first connection
    // attempt fails and the retry comes seconds later, by when the reader
    // has told the picker what it needs. So no piece is picked before the
    // reader's priorities are in place.
    let e = Arc::new(engine("127.0.0.84"));
    let out = dir.path().join("out");
    let (id, store) = add_and_open(&e, &meta, &out, &format!("{ip}:{port}"));
    let pieces = store.layout().piece_count;
    let pl = u64::from(store.layout().piece_length);
    let at = (len as u64) * 8 / 10;
    let p80 = (at / pl) as u32;

    let around: Vec<u32> = (p80..p80 + 4).collect();
    let middle: Vec<u32> = (pieces / 10..pieces * 7 / 10).collect();
    let stamps = Stamps::start(&store, around.iter().chain(middle.iter()));

    let waits_before = rill::reader::stats().waits;
    let (e2, s2) = (e.clone(), store.clone());
    let reading = std::thread::spawn(move || {
        let mut r = FileReader::open(&e2, id, 0, cfg()).expect("open reader");
        r.seek(SeekFrom::Start(at)).expect("seek");
        let mut buf = vec![0u8; 64 * KIB];
        r.read_exact(&mut buf).expect("read at 80%");
        let have = s2.have().count();
        (r, buf, have)
    });
    wait_for_a_wait(waits_before);
    let _aria = aria2c_seed(&seed_dir, &torrent, ip, port, "1M");

    let (reader, buf, have) = reading.join().expect("reader thread");
    assert!(
        buf == bytes[at as usize..at as usize + 64 * KIB],
        "bytes at 80% differ from the source"
    );
    assert!(
        have < pieces,
        "the read returned only after the whole file was there"
    );
    eprintln!("read at 80% done with {have} of {pieces} pieces verified");

    let fast = allowed_fast([127, 0, 0, 84], &id.0, pieces, 10);
    eprintln!("allowed-fast pieces (excluded from the order check): {fast:?}");
    let early = stamps.completed_before(&around, &middle, &fast);
    assert!(
        early.is_empty(),
        "pieces {early:?} (10%..70%) completed before those around 80% ({around:?})"
    );
    drop(reader);
    wait_complete(&store);
    assert_eq!(fs::read(out.join("film.mp4")).expect("read out"), bytes);
    e.shutdown();
}

#[test]
fn a_piece_nobody_sends_times_out_and_bad_opens_are_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new("nopeer");
    let seed_dir = dir.path().join("seed");
    fs::create_dir_all(&seed_dir).expect("mkdir");
    let (_, meta, _) = make_torrent(&seed_dir, "lonely.mkv", 300 * KIB);
    let e = engine("127.0.0.87");
    // The only peer is a port nobody listens on.
    let dead = format!("127.0.0.88:{}", free_port("127.0.0.88"));
    let (id, _store) = add_and_open(&e, &meta, &dir.path().join("out"), &dead);

    assert!(matches!(
        FileReader::open(&e, id, 1, cfg()),
        Err(rill::reader::ReaderError::File(
            rill::reader::FileError::NoSuchFile {
                index: 1,
                files: 1,
                ..
            }
        ))
    ));
    let other = rill::torrent::InfoHash([7; 20]);
    assert!(matches!(
        FileReader::open(&e, other, 0, cfg()),
        Err(rill::reader::ReaderError::File(
            rill::reader::FileError::UnknownTorrent(_)
        ))
    ));

    let before = rill::reader::stats();
    let mut r = FileReader::open(
        &e,
        id,
        0,
        ReaderConfig {
            wait_timeout: Duration::from_millis(300),
            ..cfg()
        },
    )
    .expect("open reader");
    assert_eq!(rill::reader::stats().open, before.open + 1);
    r.seek(SeekFrom::Start(100 * KIB as u64)).expect("seek");
    let err = r
        .read(&mut [0u8; 100])
        .expect_err("no peer sends the piece");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(
        r.position(),
        100 * KIB as u64,
        "a failed read does not move"
    );
    assert_eq!(
        r.wait_ready().expect_err("still nobody").kind(),
        std::io::ErrorKind::TimedOut
    );
    let during = rill::reader::stats();
    assert_eq!(during.timeouts, before.timeouts + 2);
    assert!(during.window_bytes >= MIB as u64, "{during:?}");
    drop(r);
    let after = rill::reader::stats();
    assert_eq!(after.open, before.open);
    assert_eq!(after.window_bytes, before.window_bytes);
    e.shutdown();
}

/// While a reader streams torrent A (still downloading, from a seeder
/// limited to 512 KiB/s), torrent B (no reader) only gets the background
/// budget (16 blocks of 16 KiB per one-second tick); once the reader is
/// gone B downloads at full speed. (A reader of complete data asks the
/// engine for nothing, so it takes no bandwidth from anybody.) The bound below only gets
/// easier on a slow machine (it is a ceiling on B's bytes per elapsed
/// second, not a speed demand on rill).
#[test]
fn a_torrent_without_readers_yields_while_another_streams() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new("fair");
    let (seed_a, seed_b) = (dir.path().join("seed-a"), dir.path().join("seed-b"));
    fs::create_dir_all(&seed_a).expect("mkdir");
    fs::create_dir_all(&seed_b).expect("mkdir");
    let (_, meta_a, torrent_a) = make_torrent(&seed_a, "playing.mkv", 16 * MIB + 17);
    let (bytes_b, meta_b, torrent_b) = make_torrent(&seed_b, "background.bin", 24 * MIB + 5);
    let ip = "127.0.0.87";
    let (port_a, port_b) = (free_port(ip), free_port(ip));
    let _aria_a = aria2c_seed(&seed_a, &torrent_a, ip, port_a, "512K");
    let _aria_b = aria2c_seed(&seed_b, &torrent_b, ip, port_b, "0");
    let e = engine("127.0.0.88");
    let out = dir.path().join("out");
    let (id_a, _) = add_and_open(&e, &meta_a, &out, &format!("{ip}:{port_a}"));
    let mut reader = FileReader::open(&e, id_a, 0, cfg()).expect("open reader");
    let mut buf = vec![0u8; 64 * KIB];
    reader.read_exact(&mut buf).expect("first bytes of A");

    let (id_b, store_b) = add_and_open(&e, &meta_b, &out, &format!("{ip}:{port_b}"));
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(6));
    let done = e.stats(id_b).expect("B listed").bytes_done;
    let elapsed = start.elapsed().as_secs_f64();
    eprintln!("background torrent: {done} bytes in {elapsed:.1} s while A streamed");
    // 16 blocks a tick, one more tick than elapsed, plus one piece that
    // may have been completed from blocks requested in the first tick.
    let ceiling = ((elapsed + 2.0) * 16.0 * 16.0 * KIB as f64) as u64 + 64 * KIB as u64;
    assert!(
        done <= ceiling,
        "B got {done} bytes in {elapsed:.1} s while A streamed (ceiling {ceiling})"
    );
    assert!(done < bytes_b.len() as u64, "B finished while A streamed");

    drop(reader);
    wait_complete(&store_b);
    let got = fs::read(out.join("background.bin")).expect("B's file");
    assert!(got == bytes_b, "B differs from the source");
}
