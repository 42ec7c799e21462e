//! mpv plays 10 s of an H.264/AAC MP4 through `/stream` while the torrent
//! still trickles in from a rate-limited aria2c.

use std::process::{Command, Stdio};
use std::time::Duration;

use rill::codec::json::Value;

use crate::harness::*;
use crate::tempdir::TempDir;

#[test]
fn mpv_plays_ten_seconds_while_downloading() {
    let tmp = TempDir::new("mpv");
    let root = tmp.path();
    let seed_dir = root.join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let movie = seed_dir.join("movie.mp4");
    // 40 s of 640x360 H.264 at ~800 kbit/s with AAC; the moov box is at
    // the end (no faststart), as in most downloads.
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=duration=40:size=640x360:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=40"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "800k"])
        .args([
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-shortest",
        ])
        .arg(&movie)
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg is installed");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let len = std::fs::metadata(&movie).unwrap().len();
    let torrent = root.join("movie.torrent");
    let meta = mktorrent(&movie, &torrent, 16);
    // About twice the bitrate: playback outruns nothing, yet the whole
    // file takes far longer than the 10 s played.
    let seeder = Seeder::start(&torrent, &seed_dir, Some("256K"), &root.join("aria2.log"));
    let serve = Serve::start(root, "rill", "");
    let id = serve.add_magnet(&magnet(&meta, seeder.addr));
    serve.wait_files(&id);
    let before = serve
        .request("GET", &format!("/api/torrents/{id}"), b"")
        .json();
    let progress = before
        .get("progress")
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    assert!(
        progress < 0.5,
        "{len} bytes already {progress} done before playing"
    );

    let url = format!("http://{}/stream/{id}/0", serve.addr);
    let log = root.join("mpv.log");
    let child = Command::new("mpv")
        .args(["--no-config", "--vo=null", "--ao=null", "--length=10"])
        .args(["--network-timeout=60", "--msg-level=all=info"])
        // No read-ahead cache: the quit at 10 s then never aborts a read
        // mid-packet (which mpv would log as a corrupt packet).
        .arg("--cache=no")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mpv is installed");
    let mut mpv = Guard(child);
    let status = {
        let start = std::time::Instant::now();
        // Bounded: 120 s for 10 s of playback.
        loop {
            if let Some(st) = mpv.0.try_wait().expect("wait mpv") {
                break st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "mpv still running after 120 s; mpv:\n{}\nrill:\n{}",
                tail(&log),
                tail(&serve.log)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("{}", tail(&log));
    assert!(
        status.success(),
        "mpv: {status}\n{out}\nrill:\n{}",
        tail(&serve.log)
    );
    assert!(out.contains("(+) Video --vid=1"), "no video track:\n{out}");
    assert!(out.contains("(+) Audio --aid=1"), "no audio track:\n{out}");
    assert!(out.contains("Exiting... (End of file)"), "{out}");
    // Every byte it decoded was right (with mpv's read-ahead cache off, the
    // quit at 10 s does not cut a packet short mid-read).
    for bad in ["corrupt", "Invalid NAL", "missing picture"] {
        assert!(!out.contains(bad), "mpv saw {bad:?}:\n{out}");
    }
    // It really played from a torrent still downloading.
    assert!(serve.metric("rill_stream_waits_total") > 0);
    let after = serve
        .request("GET", &format!("/api/torrents/{id}"), b"")
        .json();
    let done = after.get("bytes_done").and_then(Value::as_u64).unwrap_or(0);
    eprintln!("{done} of {len} bytes verified when mpv finished");
}
