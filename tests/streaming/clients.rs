//! Eight clients stream eight files at once and are all killed mid-stream:
//! the workers, readers and memory they held come back.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rill::codec::json::Value;

use crate::harness::*;
use crate::tempdir::TempDir;

const FILES: usize = 8;
/// Larger than what socket buffers swallow from a client that reads 16
/// KiB/s (the server's send buffer is at most 4 MiB here), so every stream
/// is still running when its client dies.
const FILE_LEN: usize = 8 << 20;
/// Above the idle RSS a settled process may sit (allocator slack).
const RSS_SLACK_KIB: u64 = 16 * 1024;

/// Poll `check` until true, at most `timeout`; false if it never was.
fn settle(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    // Bounded by `timeout`.
    while start.elapsed() < timeout {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    check()
}

/// The per-torrent open streams gauge of the test's torrent.
fn streams_of(id: &str) -> String {
    format!("rill_torrent_streams{{id=\"{id}\",name=\"album\"}}")
}

/// Start one slow `curl` per file, wait until all eight are being served,
/// then kill every one of them.
fn round(serve: &Serve, id: &str) {
    let guards: Vec<Guard> = (0..FILES)
        .map(|i| {
            let url = format!("http://{}/stream/{id}/{i}", serve.addr);
            Guard(
                Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "--limit-rate", "16k", &url])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("curl is installed"),
            )
        })
        .collect();
    let all_busy = settle(WAIT, || {
        serve.metric("rill_stream_readers") >= FILES as u64
            && serve.metric("rill_http_workers_busy") > FILES as u64
            && serve.metric(&streams_of(id)) == FILES as u64
    });
    assert!(
        all_busy,
        "8 streams never ran at once; log:\n{}",
        tail(&serve.log)
    );
    // Mid-stream: 8 MiB at 16 KiB/s would take minutes; kill after 1 s.
    std::thread::sleep(Duration::from_secs(1));
    drop(guards);
}

#[test]
fn eight_killed_clients_give_back_workers_and_memory() {
    let tmp = TempDir::new("clients");
    let root = tmp.path();
    let seed_dir = root.join("seed");
    let album = seed_dir.join("album");
    std::fs::create_dir_all(&album).unwrap();
    for i in 0..FILES {
        std::fs::write(album.join(format!("{i}.mkv")), data(FILE_LEN, i as u64 + 1)).unwrap();
    }
    let torrent = root.join("album.torrent");
    let meta = mktorrent(&album, &torrent, 16);
    let seeder = Seeder::start(&torrent, &seed_dir, None, &root.join("aria2.log"));
    // pi4: 16 workers, and a RAM tier (64 MiB) that holds the whole
    // torrent, so the memory the data takes is the same in every round.
    let serve = Serve::start(root, "rill", "board = \"pi4\"");
    let id = serve.add_magnet(&magnet(&meta, seeder.addr));
    serve.wait_files(&id);
    let complete = settle(WAIT, || {
        let t = serve
            .request("GET", &format!("/api/torrents/{id}"), b"")
            .json();
        t.get("progress").and_then(Value::as_f64) == Some(1.0)
    });
    assert!(
        complete,
        "torrent never completed; log:\n{}",
        tail(&serve.log)
    );
    let idle_busy = serve.metric("rill_http_workers_busy");
    assert_eq!(idle_busy, 1, "only the metrics request itself is busy");

    let mut rss = Vec::new();
    for r in 0..5 {
        round(&serve, &id);
        let back = settle(WAIT, || {
            serve.metric("rill_http_workers_busy") == idle_busy
                && serve.metric("rill_stream_readers") == 0
                && serve.metric("rill_stream_window_bytes") == 0
                && serve.metric(&streams_of(&id)) == 0
        });
        assert!(
            back,
            "round {r}: workers or readers still held; log:\n{}",
            tail(&serve.log)
        );
        // Freed memory may take a moment to be returned.
        let first = rss.first().copied();
        let settled = settle(Duration::from_secs(20), || {
            first.is_none_or(|idle| serve.rss_kib() <= idle + RSS_SLACK_KIB)
        });
        let now = serve.rss_kib();
        eprintln!("round {r}: RSS {now} KiB");
        assert!(
            settled,
            "round {r}: RSS {now} KiB did not come back to the idle level {first:?} KiB + {RSS_SLACK_KIB}"
        );
        rss.push(now);
    }
    assert!(serve.metric("rill_http_requests_total{class=\"stream\"}") >= 5 * FILES as u64);
    assert!(!tail(&serve.log).contains("panicked"));
}
