//! Storage mode `stream` spares the SD card: two files, each 2.5 times the
//! disk cache, read whole at once by two readers, and rill writes (the
//! kernel's `write_bytes` of its /proc/PID/io, and the store's own count)
//! at most 1.05 times the bytes played, with no piece evicted from an open
//! reader's window (issue 10: the plans' file edges and read-ahead were
//! evicted while still wanted and fetched again, 1.06 to 1.21x; then the
//! preload of the files' edges, larger than the cache, evicted its own
//! first pieces before the readers came, 1.09x).

use std::path::Path;
use std::time::Instant;

use crate::harness::*;
use crate::tempdir::TempDir;

const MB: usize = 1_000_000;
const CACHE_MIB: u64 = 16;
const FILE_BYTES: usize = 40 * MB;
/// The HLS test's cache: smaller than the torrent (so pieces are evicted),
/// large enough that the MP4's pieces ffmpeg passed are not the ones
/// evicted while a job may still read them again (with 16 MiB, 2 runs of
/// 13 refetched a dozen of them: 1.058x and 1.077x).
const HLS_CACHE_MIB: u64 = 32;

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
    // The players open late (as on a loaded machine), so the preload of
    // the files' edges and heads is fetched before anyone reads: it must
    // fit the cache, or it evicts its own first pieces and the readers
    // fetch and write them again (1.09x before the preload had a budget).
    std::thread::sleep(std::time::Duration::from_secs(2));

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
    let window_evictions = serve.metric("rill_stream_cache_window_evictions_total");
    eprintln!(
        "played {played} bytes in {:.1} s; written: {kernel} (kernel, {:.3}x), \
         {store} (store, {:.3}x); {evictions} evictions, {window_evictions} from readers' windows",
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
        "the store wrote {store} bytes for {played} played; log:\n{}",
        tail(&serve.log)
    );
    if on_block_device(root) {
        assert!(
            kernel * 100 <= played * 105,
            "rill wrote {kernel} bytes (write_bytes) for {played} played"
        );
    } else {
        eprintln!("{} is on tmpfs: write_bytes not checked", root.display());
    }
    assert_eq!(
        window_evictions,
        0,
        "pieces evicted from open readers' windows; log:\n{}",
        tail(&serve.log)
    );
}

/// The directory of a URL path, with its trailing slash.
fn dir_of(path: &str) -> &str {
    &path[..path.rfind('/').map_or(0, |i| i + 1)]
}

/// The URIs of a playlist (its lines that are not tags), resolved
/// against the playlist's own path.
fn uris(playlist_path: &str, text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            if l.starts_with('/') {
                l.to_string()
            } else {
                format!("{}{l}", dir_of(playlist_path))
            }
        })
        .collect()
}

/// Files under `dir` whose name ends with `suffix`.
fn count_files(dir: &Path, suffix: &str) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                count_files(&p, suffix)
            } else {
                usize::from(p.to_string_lossy().ends_with(suffix))
            }
        })
        .sum()
}

#[test]
fn stream_mode_keeps_hls_segments_off_the_disk() {
    // Issue 10's run in small: a file streamed whole while an HLS player
    // fetches every segment of an MP4 of the same torrent. ffmpeg's
    // segments are as many bytes again as the MP4: on disk they made the
    // issue's 1.21x (and 1.09x after the cache fix); in stream mode they
    // are made in RAM, so what is written stays within 1.05x of what is
    // played.
    let tmp = TempDir::new("stream-writes-hls");
    let root = tmp.path();
    let seed_dir = root.join("seed");
    let folder = seed_dir.join("film");
    std::fs::create_dir_all(&folder).unwrap();
    let file = data(FILE_BYTES, 23);
    std::fs::write(folder.join("f0.bin"), &file).unwrap();
    let mp4 = folder.join("movie.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440", "-t", "40"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "800k",
            "-g",
            "50",
        ])
        .args(["-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart"])
        .arg(&mp4)
        .status()
        .expect("ffmpeg");
    assert!(made.success(), "ffmpeg could not make the MP4");
    let torrent = root.join("film.torrent");
    let meta = mktorrent(&folder, &torrent, 18);
    let seeder = Seeder::start(&torrent, &seed_dir, None, &root.join("aria2.log"));
    let serve = Serve::start(
        root,
        "rill",
        &format!(
            "board = \"pi-zero-2w\"\nstorage = \"stream\"\nstream_cache_mib = {HLS_CACHE_MIB}"
        ),
    );
    let ram = rill_testkit::rill::ram_segment_dir(&serve.log)
        .unwrap_or_else(|| panic!("no RAM segment directory in the log:\n{}", tail(&serve.log)));
    assert!(
        !ram.starts_with(root),
        "{} is under the data directory",
        ram.display()
    );
    let w0 = write_bytes(serve.pid());
    let s0 = serve.metric("rill_disk_written_bytes_total");
    let id = serve.add_magnet(&magnet(&meta, seeder.addr));
    let t = serve.wait_files(&id);
    let index_of = |name: &str| {
        (0..2)
            .find(|&i| {
                let f = t.get("files").and_then(|f| f.at(i)).expect("file");
                let path = f.get("path").and_then(|p| p.as_str()).expect("path");
                path.ends_with(name)
            })
            .unwrap_or_else(|| panic!("{name} not in the torrent"))
    };
    let (bin, movie) = (index_of("f0.bin"), index_of("movie.mp4"));

    let (addr, path) = (serve.addr, format!("/stream/{id}/{bin}"));
    let reader = std::thread::spawn(move || request(addr, "GET", &path, "", b""));
    let master_path = format!("/hls/{id}/{movie}/index.m3u8");
    let master = serve.request("GET", &master_path, b"");
    assert_eq!(master.status, 200, "{}", tail(&serve.log));
    let variant = uris(&master_path, &String::from_utf8_lossy(&master.body))
        .into_iter()
        .next()
        .expect("a variant in the master playlist");
    let media = serve.request("GET", &variant, b"");
    assert_eq!(media.status, 200, "{}", tail(&serve.log));
    let segments = uris(&variant, &String::from_utf8_lossy(&media.body));
    assert!(segments.len() >= 4, "{} segments", segments.len());
    let mut segment_bytes = 0u64;
    for s in &segments {
        let r = serve.request("GET", s, b"");
        assert_eq!(
            r.status,
            200,
            "{s}: {}\nlog:\n{}",
            r.headers,
            tail(&serve.log)
        );
        assert_eq!(&r.body[..1], b"G", "{s} is not MPEG-TS");
        segment_bytes += r.body.len() as u64;
    }
    let r = reader.join().expect("reader");
    assert_eq!(r.status, 200, "{}", tail(&serve.log));
    assert!(r.body == file, "streamed bytes differ");
    std::thread::sleep(std::time::Duration::from_secs(1));

    let played = FILE_BYTES as u64 + segment_bytes;
    let kernel = write_bytes(serve.pid()) - w0;
    let store = serve.metric("rill_disk_written_bytes_total") - s0;
    let evictions = serve.metric("rill_stream_cache_evictions_total");
    let data_dir = root.join("rill-data");
    let (on_disk, in_ram) = (count_files(&data_dir, ".ts"), count_files(&ram, ".ts"));
    eprintln!(
        "played {played} bytes ({segment_bytes} of segments); written {kernel} \
         ({:.3}x; the store's count {store}, {evictions} evictions, {} of wanted pieces); \
         segments: {in_ram} in {}, {on_disk} under the data directory",
        kernel as f64 / played as f64,
        serve.metric("rill_stream_cache_window_evictions_total"),
        ram.display()
    );
    assert_eq!(
        on_disk,
        0,
        "segments were written under {}",
        data_dir.display()
    );
    assert!(in_ram > 0, "no segment in {}", ram.display());
    if on_block_device(root) {
        assert!(
            kernel * 100 <= played * 105,
            "rill and its ffmpeg wrote {kernel} bytes (write_bytes) for {played} played"
        );
    } else {
        eprintln!("{} is on tmpfs: write_bytes not checked", root.display());
    }
    drop(serve);
    assert!(!ram.exists(), "{} left behind", ram.display());
}
