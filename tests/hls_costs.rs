//! In-process cost measurements for the HLS issue (run by `bench/hls.sh`;
//! numbers in docs/benchmarks.md): the cost of storing one segment in the
//! segment cache when it holds 1,000 vs 100,000 segments (full, so every
//! store also evicts the oldest segment through the heap and deletes its
//! file), and the per-request work of the playlist and segment routes at
//! 100 vs 10,000 segments (playlist text shared, segment name parsed, start
//! time looked up, cache looked up), and the one-time costs per variant:
//! rendering the playlist text and compressing it with gzip.
//!
//! A benchmark, not a test: `#[ignore]`d, it asserts only that the work was
//! done. Run it with
//! `cargo test --release --locked --test hls_costs -- --ignored --nocapture`.
//! Each line `RESULT <what> <size> <ns>` is a median over repetitions of
//! the average over a batch; the script turns them into a table.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rill::codec::gzip::gzip;
use rill::hls::cache::SegmentCache;
use rill::hls::playlist;
use rill_testkit::TempDir;

/// Notional size of one segment (the cache only adds the numbers).
const SEG_BYTES: u64 = 1 << 20;
/// Segments per variant directory (a 100-minute film at 6 s).
const PER_DIR: usize = 1000;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Relative path of the i-th segment ever stored: one torrent directory
/// per [`PER_DIR`] segments, like the real layout.
fn rel(i: usize) -> PathBuf {
    PathBuf::from(format!("{:040x}", i / PER_DIR))
        .join("0")
        .join("v0c-a1c")
        .join(playlist::segment_name(i % PER_DIR))
}

fn touch(root: &Path, r: &Path) {
    let p = root.join(r);
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).expect("segment dir");
    }
    fs::write(&p, b"").expect("segment file");
}

/// Average ns of one `insert` into a cache that holds `n` segments and is
/// full (each insert evicts the oldest). With `files`, every segment is a
/// real (empty) file, so the eviction's unlink is real too.
fn store_cost(n: usize, measured: usize, files: bool) -> f64 {
    let dir = TempDir::new("store");
    let root = dir.path().join("hls");
    let mut cache = SegmentCache::open(&root, n as u64 * SEG_BYTES, Duration::from_secs(1 << 30));
    let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let at = |i: usize| t0 + Duration::from_millis(i as u64);
    if files {
        for i in 0..n + measured {
            touch(&root, &rel(i));
        }
    }
    for i in 0..n {
        cache.insert(&rel(i), SEG_BYTES, at(i)).delete();
    }
    assert_eq!(cache.len(), n);
    let rels: Vec<PathBuf> = (n..n + measured).map(rel).collect();
    let start = Instant::now();
    for (k, r) in rels.iter().enumerate() {
        cache.insert(r, SEG_BYTES, at(n + k)).delete();
    }
    let ns = start.elapsed().as_nanos() as f64 / measured as f64;
    assert_eq!(cache.len(), n);
    assert_eq!(cache.evicted(), measured as u64);
    if files {
        // The evicted files are gone, the kept ones are not.
        assert!(!root.join(rel(0)).exists());
        assert!(root.join(rel(n + measured - 1)).exists());
    }
    ns
}

/// The per-request work of the two routes at `segments` segments:
/// (playlist ns, segment lookup ns, one-time render ns, one-time gzip ns).
fn route_cost(segments: usize, requests: usize) -> (f64, f64, f64, f64) {
    let starts: Vec<f64> = (0..segments).map(|i| i as f64 * 6.0).collect();
    let duration = segments as f64 * 6.0;
    let t = Instant::now();
    let text = Arc::new(playlist::render(&starts, duration, "v0c-a1c/"));
    let render_ns = t.elapsed().as_nanos() as f64;

    // The gzip form, made once by the first request that accepts it.
    let t = Instant::now();
    let gz = gzip(std::hint::black_box(text.as_bytes()));
    let gzip_ns = t.elapsed().as_nanos() as f64;
    assert!(gz.len() > 18 && gz.len() < text.len());

    // A playlist request shares the variant's text (an Arc clone) and the
    // body is its bytes; count the bytes so the work is not optimised out.
    let t = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..requests {
        let shared = Arc::clone(std::hint::black_box(&text));
        bytes += std::hint::black_box(shared.as_bytes()).len();
    }
    let playlist_ns = t.elapsed().as_nanos() as f64 / requests as f64;
    assert_eq!(bytes, text.len() * requests);

    // A segment request: parse the name, find the start time, build the
    // cache path, look it up in a cache holding this variant's segments.
    let dir = TempDir::new("route");
    let mut cache = SegmentCache::open(dir.path(), u64::MAX, Duration::from_secs(1 << 30));
    let id = format!("{:040x}", 7);
    let seg_rel = |n: usize| {
        PathBuf::from(&id)
            .join("0")
            .join("v0c-a1c")
            .join(playlist::segment_name(n))
    };
    for n in 0..segments {
        cache
            .insert(&seg_rel(n), SEG_BYTES, SystemTime::now())
            .delete();
    }
    let names: Vec<String> = (0..requests)
        .map(|k| playlist::segment_name((k * 7919) % segments))
        .collect();
    let t = Instant::now();
    let mut found = 0usize;
    let mut sum = 0.0;
    for name in &names {
        let n = playlist::parse_segment_name(name).expect("segment name");
        sum += starts.get(n).copied().unwrap_or(0.0);
        if cache.contains(&seg_rel(n)) {
            found += 1;
        }
    }
    let lookup_ns = t.elapsed().as_nanos() as f64 / requests as f64;
    assert_eq!(found, requests);
    assert!(sum >= 0.0);
    (playlist_ns, lookup_ns, render_ns, gzip_ns)
}

#[test]
#[ignore = "benchmark: run by bench/hls.sh"]
fn hls_costs() {
    let reps = env_usize("BENCH_REPS", 5).max(1);
    let measured = env_usize("BENCH_STORES", 2000).max(1);
    for files in [false, true] {
        let what = if files { "store_files" } else { "store_memory" };
        for n in [1_000usize, 100_000] {
            // Creating 100,000 files is slow: fewer repetitions with files.
            let r = if files { reps.min(3) } else { reps };
            let v: Vec<f64> = (0..r).map(|_| store_cost(n, measured, files)).collect();
            println!("RESULT {what} {n} {:.0}", median(v));
        }
    }
    for segments in [100usize, 10_000] {
        let mut p = Vec::new();
        let mut l = Vec::new();
        let mut r = Vec::new();
        let mut g = Vec::new();
        for _ in 0..reps {
            let (a, b, c, d) = route_cost(segments, 20_000);
            p.push(a);
            l.push(b);
            r.push(c);
            g.push(d);
        }
        println!("RESULT playlist_share {segments} {:.0}", median(p));
        println!("RESULT segment_lookup {segments} {:.0}", median(l));
        println!("RESULT playlist_render {segments} {:.0}", median(r));
        println!("RESULT playlist_gzip {segments} {:.0}", median(g));
    }
}
