//! Storage mode `stream` spares the SD card: two files, each 2.5 times the
//! disk cache, read whole at once by two readers, and rill writes (the
//! kernel's `write_bytes` of its /proc/PID/io, and the store's own count)
//! at most 1.05 times the bytes played, with no piece evicted from an open
//! reader's window (issue 10: the plans' file edges and read-ahead were
//! evicted while still wanted and fetched again, 1.06 to 1.21x).

use std::path::Path;
use std::time::Instant;

use crate::harness::*;
use crate::tempdir::TempDir;

const MB: usize = 1_000_000;
const CACHE_MIB: u64 = 16;
const FILE_BYTES: usize = 40 * MB;

/// `write_bytes` of /proc/PID/io: bytes this process made the kernel
/// write to a block device (counted when the page is dirtied).
fn write_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("/proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes")
}

/// Whether `dir` is on a file system the kernel counts writes to (tmpfs
/// has no block device: its writes never show in `write_bytes`).
fn on_block_device(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let (_, at, fs) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(at).then(|| (at.len(), fs.to_string()))
        })
        .max()
        .is_some_and(|(_, fs)| fs != "tmpfs" && fs != "ramfs")
}

#[test]
fn stream_mode_writes_about_what_is_played() {
    let tmp = TempDir::new("stream-writes");
    let root = tmp.path();
    let seed_dir = root.join("seed");
    let folder = seed_dir.join("pair");
    std::fs::create_dir_all(&folder).unwrap();
    let files = [data(FILE_BYTES, 21), data(FILE_BYTES, 22)];
    for (i, f) in files.iter().enumerate() {
        std::fs::write(folder.join(format!("f{i}.bin")), f).unwrap();
    }
    let torrent = root.join("pair.torrent");
    // 256 KiB pieces.
    let meta = mktorrent(&folder, &torrent, 18);
    let seeder = Seeder::start(&torrent, &seed_dir, None, &root.join("aria2.log"));
    let serve = Serve::start(
        root,
        "rill",
        &format!("board = \"pi-zero-2w\"\nstorage = \"stream\"\nstream_cache_mib = {CACHE_MIB}"),
    );
    // From before the add: the preloaded file edges count too.
    let w0 = write_bytes(serve.pid());
    let s0 = serve.metric("rill_disk_written_bytes_total");
    let id = serve.add_magnet(&magnet(&meta, seeder.addr));
    let t = serve.wait_files(&id);
    let names: Vec<String> = (0..2)
        .map(|i| {
            let f = t.get("files").and_then(|f| f.at(i)).expect("file");
            let path = f.get("path").and_then(|p| p.as_str()).expect("path");
            path.rsplit('/').next().unwrap_or(path).to_string()
        })
        .collect();

    let started = Instant::now();
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let (addr, path) = (serve.addr, format!("/stream/{id}/{i}"));
            std::thread::spawn(move || request(addr, "GET", &path, "", b""))
        })
        .collect();
    let bodies: Vec<Resp> = readers
        .into_iter()
        .map(|h| h.join().expect("reader"))
        .collect();
    for (i, r) in bodies.iter().enumerate() {
        assert_eq!(r.status, 200, "{}\nlog:\n{}", r.headers, tail(&serve.log));
        let want = if names[i] == "f0.bin" {
            &files[0]
        } else {
            &files[1]
        };
        assert_eq!(
            r.body.len(),
            want.len(),
            "file {i}; log:\n{}",
            tail(&serve.log)
        );
        assert!(r.body == *want, "file {i}: streamed bytes differ");
    }
    // Pieces still being verified when the readers finished land now.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let played = 2 * FILE_BYTES as u64;
    let kernel = write_bytes(serve.pid()) - w0;
    let store = serve.metric("rill_disk_written_bytes_total") - s0;
    let evictions = serve.metric("rill_stream_cache_evictions_total");
    eprintln!(
        "played {played} bytes in {:.1} s; written: {kernel} (kernel, {:.3}x), \
         {store} (store, {:.3}x); {evictions} evictions",
        started.elapsed().as_secs_f64(),
        kernel as f64 / played as f64,
        store as f64 / played as f64
    );
    assert!(
        evictions > 100,
        "only {evictions} evictions: the cache never turned over"
    );
    assert!(
        store * 100 <= played * 105,
        "the store wrote {store} bytes for {played} played"
    );
    if on_block_device(root) {
        assert!(
            kernel * 100 <= played * 105,
            "rill wrote {kernel} bytes (write_bytes) for {played} played"
        );
    } else {
        eprintln!("{} is on tmpfs: write_bytes not checked", root.display());
    }
    let window_evictions = serve.metric("rill_stream_cache_window_evictions_total");
    assert_eq!(
        window_evictions,
        0,
        "pieces evicted from open readers' windows; log:\n{}",
        tail(&serve.log)
    );
}
