//! Storage mode `stream`: a torrent twice the disk cache streams start to
//! end through its token URL while the cache stays within its limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::codec::json::Value;

use crate::harness::*;
use crate::tempdir::TempDir;

const MIB: u64 = 1 << 20;
const CACHE_MIB: u64 = 16;

#[test]
fn torrent_twice_the_cache_streams_start_to_end_within_it() {
    let tmp = TempDir::new("stream-mode");
    let root = tmp.path();
    let seed_dir = root.join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let bytes = data((2 * CACHE_MIB * MIB) as usize + 12_345, 7);
    std::fs::write(seed_dir.join("movie.mkv"), &bytes).unwrap();
    let torrent = root.join("movie.torrent");
    // 256 KiB pieces: 129 of them.
    let meta = mktorrent(&seed_dir.join("movie.mkv"), &torrent, 18);
    let seeder = Seeder::start(&torrent, &seed_dir, None, &root.join("aria2.log"));
    let serve = Serve::start(
        root,
        "rill",
        &format!("storage = \"stream\"\nstream_cache_mib = {CACHE_MIB}\npassword = \"pw\""),
    );
    let id = serve.add_magnet(&magnet(&meta, seeder.addr));
    let t = serve.wait_files(&id);
    let file = t.get("files").and_then(|f| f.at(0)).expect("file 0");
    let url = file
        .get("stream_url")
        .and_then(Value::as_str)
        .expect("stream_url")
        .to_string();
    assert!(
        url.starts_with("/s/") && url.ends_with("/movie.mkv"),
        "{url}"
    );

    // Without credentials only the token URL answers.
    let open = |path: &str| request(serve.addr, "GET", path, "", b"");
    assert_eq!(open(&format!("/stream/{id}/0")).status, 401);
    assert_eq!(open("/metrics").status, 401);
    let forged = format!("{}0{}", &url[..url.len() - 11], &url[url.len() - 10..]);
    let forged = if forged == url {
        format!("{}1{}", &url[..url.len() - 11], &url[url.len() - 10..])
    } else {
        forged
    };
    assert_eq!(open(&forged).status, 404, "{forged}");
    let head = request(serve.addr, "HEAD", &url, "", b"");
    assert_eq!(head.status, 200, "{}", head.headers);

    // Stream it all while sampling the cache directory's size.
    let cache_dir = root.join("rill-data/cache");
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, dir) = (stop.clone(), cache_dir.clone());
        std::thread::spawn(move || {
            let (mut max, mut samples) = (0u64, 0u32);
            let start = Instant::now();
            // Bounded: until stopped, at most 10 minutes.
            while !stop.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(600) {
                max = max.max(dir_bytes(&dir));
                samples += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            (max, samples)
        })
    };
    let started = Instant::now();
    let resp = open(&url);
    stop.store(true, Ordering::SeqCst);
    let (max, samples) = sampler.join().expect("sampler");
    eprintln!(
        "streamed {} bytes in {:.1} s; cache peak {max} bytes over {samples} samples",
        resp.body.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(resp.status, 200, "{}", resp.headers);
    assert_eq!(resp.body.len(), bytes.len(), "log:\n{}", tail(&serve.log));
    let first_diff = resp.body.iter().zip(&bytes).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "streamed bytes differ");
    assert!(samples >= 5, "too few samples ({samples}) to mean anything");
    assert!(
        max <= CACHE_MIB * MIB,
        "cache directory held {max} bytes, over its {CACHE_MIB} MiB limit"
    );
    assert!(dir_bytes(&cache_dir) <= CACHE_MIB * MIB);
    assert!(dir_bytes(&cache_dir) > 0, "nothing in the cache directory");
    // Nothing went to the keep-mode download folder.
    assert_eq!(dir_bytes(&root.join("rill-data/downloads")), 0);

    let evictions = serve.metric("rill_stream_cache_evictions_total");
    let written = serve.metric("rill_disk_written_bytes_total");
    let cached = serve.metric("rill_stream_cache_bytes");
    eprintln!("evictions {evictions}, written {written}, cached {cached}");
    assert!(evictions >= 60, "only {evictions} evictions");
    assert!(
        written >= bytes.len() as u64,
        "only {written} bytes written"
    );
    assert!(cached <= CACHE_MIB * MIB);
    assert_eq!(
        serve.metric("rill_stream_cache_limit_bytes"),
        CACHE_MIB * MIB
    );
    // Evicted pieces are not claimed.
    let t = serve
        .request("GET", &format!("/api/torrents/{id}"), b"")
        .json();
    let done = t.get("pieces_done").and_then(Value::as_u64).unwrap_or(0);
    assert!(
        done * (256 << 10) <= CACHE_MIB * MIB,
        "{done} pieces claimed"
    );

    // The start was evicted long ago: reading it again fetches it again.
    let again = request(serve.addr, "GET", &url, "Range: bytes=0-999999\r\n", b"");
    assert_eq!(again.status, 206);
    assert_eq!(again.body, &bytes[..1_000_000]);
    assert!(dir_bytes(&cache_dir) <= CACHE_MIB * MIB);
    assert!(!tail(&serve.log).contains("panicked"));

    // kill -9 and restart without the seeder: the cached pieces come back
    // (hashed again), nothing else is claimed, and the cached tail streams
    // through the same token URL (the key survived).
    // The restart has no seeder to fetch metadata from: wait for the
    // session to have stored it (its keeper does so within a second of the
    // metadata's arrival; a kill before that keeps only the magnet).
    let stored = root
        .join("rill-data/torrents")
        .join(format!("{id}.torrent"));
    let since = std::time::Instant::now();
    while !stored.exists() {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(20),
            "no {} after 20 s; log:\n{}",
            stored.display(),
            tail(&serve.log)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(serve);
    drop(seeder);
    let pieces_dir = cache_dir.join(&id);
    let files = std::fs::read_dir(&pieces_dir).expect("piece files").count() as u64;
    let serve = Serve::start(
        root,
        "rill",
        &format!("storage = \"stream\"\nstream_cache_mib = {CACHE_MIB}\npassword = \"pw\""),
    );
    let t = serve.wait_files(&id);
    let done = t.get("pieces_done").and_then(Value::as_u64).unwrap_or(0);
    assert_eq!(
        done, files,
        "restart claims {done} pieces, {files} files cached"
    );
    let from = bytes.len() - 1_000_000;
    let range = format!("Range: bytes={from}-\r\n");
    let tail_bytes = request(serve.addr, "GET", &url, &range, b"");
    assert_eq!(tail_bytes.status, 206, "{}", tail_bytes.headers);
    assert_eq!(tail_bytes.body, &bytes[from..]);
}
