//! The preload of big files' edges (`swarm::preload`) gives way to the
//! first stream reader: in a two-file torrent whose first file's 8 MiB head
//! is preloaded, a reader in the middle of the second file gets its window
//! before any piece of that head (completion order, as in `reader`).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use rill::reader::FileReader;

use crate::reader::{add_with, allowed_fast, cfg, engine, wait_complete, wait_for_a_wait, Stamps};
use crate::{aria2c_seed, data, free_port, mktorrent, TempDir, KIB, MIB, SERIAL};

#[test]
fn the_first_reader_replaces_the_preloaded_heads() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = TempDir::new("preload");
    let seed_dir = dir.path().join("seed");
    let season = seed_dir.join("season");
    fs::create_dir_all(&season).expect("mkdir");
    let len = 20 * MIB + 3;
    let (a, b) = (data(len, 11), data(len, 12));
    fs::write(season.join("e01.mkv"), &a).expect("write e01");
    fs::write(season.join("e02.mkv"), &b).expect("write e02");
    let torrent = seed_dir.join("season.torrent");
    let meta = mktorrent(&season, &torrent);
    let ip = "127.0.0.89";
    let port = free_port(ip);

    // As in `reader`: the seeder is not listening yet, so nothing is
    // picked before the reader's priorities are in place; the preload is
    // set when the store opens, before the reader.
    let e = Arc::new(engine("127.0.0.90"));
    let out = dir.path().join("out");
    let (id, store) = add_with(&e, &meta, &out, &format!("{ip}:{port}"), true);
    let layout = store.layout().clone();
    let pl = layout.piece_length as usize;
    let pieces = layout.piece_count;
    // e01 spans torrent bytes 0..len; its preloaded head is 8 MiB.
    let head: Vec<u32> = (0..(8 * MIB / pl) as u32).collect();
    // The reader reads e02 at half its length.
    let at = len / 2;
    let first = ((len + at) / pl) as u32;
    let around: Vec<u32> = (first..first + 8).collect();

    let stamps = Stamps::start(&store, around.iter().chain(head.iter()));

    let waits_before = rill::reader::stats().waits;
    let e2 = e.clone();
    let reading = std::thread::spawn(move || {
        let mut r = FileReader::open(&e2, id, 1, cfg()).expect("open reader on e02");
        r.seek(SeekFrom::Start(at as u64)).expect("seek");
        let mut buf = vec![0u8; 64 * KIB];
        r.read_exact(&mut buf).expect("read e02 at 50%");
        (r, buf)
    });
    wait_for_a_wait(waits_before);
    let _aria = aria2c_seed(&seed_dir, &torrent, ip, port, "1M");

    let (reader, buf) = reading.join().expect("reader thread");
    assert!(buf == b[at..at + 64 * KIB], "bytes of e02 at 50% differ");

    let fast = allowed_fast([127, 0, 0, 90], &id.0, pieces, 10);
    let early = stamps.completed_before(&around, &head, &fast);
    assert!(
        early.is_empty(),
        "pieces {early:?} of e01's preloaded head completed before the reader's window in e02 ({around:?})"
    );
    drop(reader);
    wait_complete(&store);
    assert!(
        fs::read(out.join("season/e01.mkv")).expect("e01") == a,
        "e01 differs"
    );
    assert!(
        fs::read(out.join("season/e02.mkv")).expect("e02") == b,
        "e02 differs"
    );
    e.shutdown();
}
