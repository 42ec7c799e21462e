//! The web UI, the playlists and the watch positions, end to end against
//! the real `rill serve` binary on loopback:
//!
//! - `ui_playlists_and_positions`: `GET /` is the UI (and its files are
//!   served); `/playlist.m3u` and `/playlist/ID.m3u` list the playable
//!   files of torrents added through the API with absolute URLs from the
//!   `Host` header; a position PUT reads back, survives kill -9 (once the
//!   debounce has passed) and a clean stop (at once), and goes with its
//!   torrent.
//! - `playlist_with_a_password_uses_token_urls`: with a password the UI
//!   and lists need credentials, and the list's URLs are token URLs that
//!   play without them (players do not pass credentials on).
//! - `mpv_plays_the_playlist`: an H.264/AAC MP4 made by ffmpeg, seeded by
//!   aria2c behind opentracker; mpv opens `/playlist.m3u` and plays the
//!   first item for 5 s.
//! - `browser_ui`: `web/tests/ui.mjs` (playwright-core driving Debian's
//!   chromium) adds that torrent through the page, plays, seeks, resumes,
//!   checks error messages and takes screenshots. Needs `npm ci` in `web/`.
//!   `RILL_SCREENSHOTS=docs/screenshots` writes the README's screenshots.
//!
//! Every wait is bounded; processes die with their guards.

#[path = "serve_api/support.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rill::torrent::Metainfo;
use rill_testkit::proc::run_logged;
use support::*;

/// Upper bound for the browser script (it has its own, shorter, waits).
const BROWSER_WAIT: Duration = Duration::from_secs(300);

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn add_torrent(s: &Serve, bytes: &[u8]) -> String {
    let r = request(
        s.addr,
        "POST",
        "/api/torrents",
        "Content-Type: application/x-bittorrent\r\n",
        bytes,
    );
    assert!(r.status == 201 || r.status == 200, "{}", text(&r));
    r.json()
        .get("id")
        .and_then(|i| i.as_str())
        .expect("an id")
        .to_string()
}

fn put_position(s: &Serve, id: &str, n: u32, body: &str) -> Resp {
    request(
        s.addr,
        "PUT",
        &format!("/api/torrents/{id}/files/{n}/position"),
        "Content-Type: application/json\r\n",
        body.as_bytes(),
    )
}

fn seconds(s: &Serve, id: &str, n: u32) -> f64 {
    let r = get(s.addr, &format!("/api/torrents/{id}/files/{n}/position"));
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()
        .get("seconds")
        .and_then(|v| v.as_f64())
        .expect("seconds")
}

#[test]
fn ui_playlists_and_positions() {
    let dir = TempDir::new("webui");
    let data_dir = dir.path().join("data");
    let mut s = Serve::start(&data_dir, "127.0.12.1", &[]);

    // The UI and its files.
    let r = get(s.addr, "/");
    assert_eq!(r.status, 200);
    assert!(
        r.headers.contains("Content-Type: text/html"),
        "{}",
        r.headers
    );
    assert!(
        r.headers.contains("Content-Security-Policy"),
        "{}",
        r.headers
    );
    let page = text(&r);
    assert!(page.contains("<title>rill</title>") && page.contains("/ui/app.js"));
    for path in ["/ui/app.js", "/ui/style.css", "/ui/icon.svg"] {
        let r = get(s.addr, path);
        assert_eq!(r.status, 200, "{path}");
        assert!(!r.body.is_empty(), "{path}");
    }
    let hls = get(s.addr, "/ui/hls.min.js");
    assert!(hls.status == 200 || hls.status == 404, "{}", hls.status);
    assert_eq!(get(s.addr, "/ui/missing.js").status, 404);
    assert_eq!(request(s.addr, "POST", "/", "", b"x").status, 404);

    // Two torrents (no peers needed: their files are known from the upload).
    let src = dir.path().join("src/Show");
    fs::create_dir_all(src.join("extras")).unwrap();
    fs::write(src.join("ep1.mkv"), data(40_000, 1)).unwrap();
    fs::write(src.join("extras/theme.mp3"), data(20_000, 2)).unwrap();
    fs::write(src.join("readme.txt"), b"hello").unwrap();
    let show = dir.path().join("show.torrent");
    let show_meta = mktorrent(&src, &show, "http://127.0.0.1:1/announce");
    let show_id = add_torrent(&s, &fs::read(&show).unwrap());
    assert_eq!(show_id, show_meta.info_hash.to_hex());
    let clip_id = add_torrent(&s, &tiny_torrent("clip.mp4"));
    let notes_id = add_torrent(&s, &tiny_torrent("notes.txt"));
    let mut want = vec![show_id.clone(), clip_id.clone(), notes_id.clone()];
    want.sort();
    assert_eq!(list_ids(&s), want);

    // URLs are absolute, from the Host header (the test client sends the
    // address it connected to; hostile values are covered by unit tests).
    let r = get(s.addr, "/playlist.m3u");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("audio/x-mpegurl"), "{}", r.headers);
    let m3u = text(&r);
    let lines: Vec<&str> = m3u.lines().collect();
    assert_eq!(lines.first(), Some(&"#EXTM3U"), "{m3u}");
    let base = format!("http://{}", s.addr);
    // The files sit in torrent order; which torrent comes first is the
    // session's order, so look each entry up.
    let entry = |title: &str, url: &str| {
        let at = lines
            .iter()
            .position(|l| *l == format!("#EXTINF:-1,{title}"))
            .unwrap_or_else(|| panic!("no {title} in\n{m3u}"));
        assert_eq!(lines.get(at + 1), Some(&url), "{m3u}");
    };
    let show_files = get(s.addr, &format!("/api/torrents/{show_id}")).json();
    let paths: Vec<String> = show_files
        .get("files")
        .and_then(|f| f.as_array())
        .unwrap()
        .iter()
        .map(|f| f.get("path").and_then(|p| p.as_str()).unwrap().to_string())
        .collect();
    let idx = |p: &str| paths.iter().position(|x| x == p).expect(p);
    entry(
        "Show/ep1.mkv",
        &format!("{base}/stream/{show_id}/{}", idx("Show/ep1.mkv")),
    );
    entry(
        "Show/extras/theme.mp3",
        &format!("{base}/stream/{show_id}/{}", idx("Show/extras/theme.mp3")),
    );
    entry("clip.mp4", &format!("{base}/stream/{clip_id}/0"));
    assert!(m3u.contains(&format!("# HLS: {base}/hls/{clip_id}/0/index.m3u8")));
    assert!(!m3u.contains("readme") && !m3u.contains("notes"), "{m3u}");
    assert_eq!(m3u.matches("#EXTINF").count(), 3, "{m3u}");
    // Per torrent.
    let r = get(s.addr, &format!("/playlist/{clip_id}.m3u"));
    assert_eq!(r.status, 200);
    assert_eq!(
        text(&r),
        format!(
            "#EXTM3U\n#EXTINF:-1,clip.mp4\n{base}/stream/{clip_id}/0\n\
             # HLS: {base}/hls/{clip_id}/0/index.m3u8\n"
        )
    );
    let r = get(s.addr, &format!("/playlist/{notes_id}.m3u"));
    assert_eq!(text(&r), "#EXTM3U\n");
    assert_eq!(
        get(s.addr, &format!("/playlist/{}.m3u", "ab".repeat(20))).status,
        404
    );
    assert_eq!(get(s.addr, "/playlist/nothing").status, 404);
    assert_eq!(
        request(s.addr, "POST", "/playlist.m3u", "", b"").status,
        405
    );

    // Positions: default, round trip, bad input.
    assert_eq!(seconds(&s, &clip_id, 0), 0.0);
    let r = put_position(&s, &clip_id, 0, r#"{"seconds": 12.5, "duration": 60}"#);
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(seconds(&s, &clip_id, 0), 12.5);
    for bad in [r#"{"seconds": -3}"#, r#"{"seconds": "x"}"#, "{}", "nope"] {
        let r = put_position(&s, &clip_id, 0, bad);
        assert_eq!(r.status, 400, "{bad}: {}", text(&r));
        assert!(!r.error().is_empty());
    }
    assert_eq!(
        put_position(&s, &clip_id, 1, r#"{"seconds": 1}"#).status,
        404
    );
    assert_eq!(
        put_position(&s, &"cd".repeat(20), 0, r#"{"seconds": 1}"#).status,
        404
    );
    let big = format!(r#"{{"seconds": 1, "pad": "{}"}}"#, "x".repeat(5000));
    assert_eq!(put_position(&s, &clip_id, 0, &big).status, 413);
    assert_eq!(
        request(
            s.addr,
            "DELETE",
            &format!("/api/torrents/{clip_id}/files/0/position"),
            "",
            b""
        )
        .status,
        405
    );
    let r = put_position(&s, &show_id, 1, r#"{"seconds": 30.25}"#);
    assert_eq!(r.status, 200, "{}", text(&r));
    let recent = get(s.addr, "/api/positions").json();
    let recent = recent.as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(
        recent[0].get("id").and_then(|v| v.as_str()),
        Some(show_id.as_str())
    );
    assert_eq!(
        recent[1].get("path").and_then(|v| v.as_str()),
        Some("clip.mp4")
    );
    assert_eq!(
        recent[1].get("duration").and_then(|v| v.as_f64()),
        Some(60.0)
    );

    // kill -9 once the debounce has passed: kept.
    let file = data_dir.join("positions");
    let start = Instant::now();
    while !fs::read_to_string(&file).is_ok_and(|t| t.contains("30.250")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "positions never written"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s.kill9();
    s = Serve::start(&data_dir, "127.0.12.1", &[]);
    assert_eq!(seconds(&s, &clip_id, 0), 12.5);
    assert_eq!(seconds(&s, &show_id, 1), 30.25);
    // A clean stop right after a report writes it.
    assert_eq!(
        put_position(&s, &clip_id, 0, r#"{"seconds": 42}"#).status,
        200
    );
    s.stop_cleanly();
    s = Serve::start(&data_dir, "127.0.12.1", &[]);
    assert_eq!(seconds(&s, &clip_id, 0), 42.0);
    // Removing a torrent forgets its positions.
    let r = request(
        s.addr,
        "DELETE",
        &format!("/api/torrents/{clip_id}"),
        "",
        b"",
    );
    assert_eq!(r.status, 200);
    let recent = get(s.addr, "/api/positions").json();
    assert_eq!(recent.as_array().unwrap().len(), 1);
    assert_eq!(
        get(s.addr, &format!("/api/torrents/{clip_id}/files/0/position")).status,
        404
    );
    s.stop_cleanly();
}

#[test]
fn playlist_with_a_password_uses_token_urls() {
    let dir = TempDir::new("webui-auth");
    let s = Serve::with_config(
        dir.path(),
        "127.0.12.7",
        "user = \"me\"\npassword = \"s3cret\"\n",
    );
    // "me:s3cret" in base64.
    let creds = "Authorization: Basic bWU6czNjcmV0\r\n";
    assert_eq!(get(s.addr, "/").status, 401);
    assert_eq!(get(s.addr, "/playlist.m3u").status, 401);
    assert_eq!(request(s.addr, "GET", "/", creds, b"").status, 200);
    let r = request(
        s.addr,
        "POST",
        "/api/torrents",
        &format!("{creds}Content-Type: application/x-bittorrent\r\n"),
        &tiny_torrent("film.mkv"),
    );
    assert_eq!(r.status, 201, "{}", text(&r));
    let id = r
        .json()
        .get("id")
        .and_then(|i| i.as_str())
        .unwrap()
        .to_string();
    let r = request(s.addr, "GET", "/playlist.m3u", creds, b"");
    assert_eq!(r.status, 200);
    let m3u = text(&r);
    let base = format!("http://{}", s.addr);
    let url = m3u
        .lines()
        .find(|l| l.starts_with(&format!("{base}/s/{id}-0-")))
        .unwrap_or_else(|| panic!("no token URL in\n{m3u}"));
    assert!(url.ends_with("/film.mkv"), "{url}");
    assert!(!m3u.contains("/stream/"), "{m3u}");
    // The token URL answers without credentials (the bytes are not there:
    // nobody seeds, so only HEAD, which needs no data).
    let path = url.strip_prefix(&base).unwrap();
    let r = request(s.addr, "HEAD", path, "", b"");
    assert_eq!(r.status, 200, "{}", r.headers);
    s.stop_cleanly();
}

// ---- seeded media -----------------------------------------------------------

/// A test-pattern video of `secs` seconds, by extension: `.mp4` is H.264 +
/// AAC with `moov` first; `.mkv` is H.264 with two AAC tracks (English 440
/// Hz, French 880 Hz) and an English SRT subtitle track.
fn make_media(path: &Path, secs: u32) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    if path.extension().is_some_and(|e| e == "mkv") {
        let srt = path.with_extension("srt");
        fs::write(
            &srt,
            "1\n00:00:00,500 --> 00:00:09,000\nHello from rill\n\n\
             2\n00:00:10,000 --> 00:00:19,000\nSecond line\n",
        )
        .unwrap();
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=44100"])
            .arg("-i")
            .arg(&srt)
            .args(["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s"])
            .args([
                "-metadata:s:a:0",
                "language=eng",
                "-metadata:s:a:1",
                "language=fra",
            ])
            .args(["-metadata:s:s:0", "language=eng", "-c:s", "srt"]);
    } else {
        cmd.args(["-movflags", "+faststart"]);
    }
    let st = cmd
        .args(["-t", &secs.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "50"])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg is installed");
    assert!(st.success(), "ffmpeg failed for {}", path.display());
    if path.extension().is_some_and(|e| e == "mkv") {
        fs::remove_file(path.with_extension("srt")).unwrap();
    }
}

/// Single-file torrents seeded by one aria2c on `seeder_ip`, known to an
/// opentracker: `(.torrent path, metainfo)` in the order asked.
struct Seeded {
    torrents: Vec<(PathBuf, Metainfo)>,
    _tracker: Tracker,
    _seeder: Guard,
}

fn seeded(dir: &Path, seeder_ip: &str, files: &[(&str, u32)]) -> Seeded {
    let seed = dir.join("seed");
    fs::create_dir_all(&seed).unwrap();
    for (name, secs) in files {
        make_media(&seed.join(name), *secs);
    }
    // The tracker shares the seeder's address (each test has its own), and
    // its port is taken only now, after the slow ffmpeg runs.
    let tport = free_port(seeder_ip);
    let mut torrents = Vec::new();
    for (name, _) in files {
        let torrent = dir.join(format!("{name}.torrent"));
        let meta = mktorrent(
            &seed.join(name),
            &torrent,
            &format!("http://{seeder_ip}:{tport}/announce"),
        );
        torrents.push((torrent, meta));
    }
    let hashes: Vec<_> = torrents.iter().map(|(_, m)| m.info_hash).collect();
    let tracker = Tracker::start(seeder_ip, tport, &hashes);
    let port = free_port(seeder_ip);
    let log = dir.join("aria2c.log");
    let mut seeder = Guard(
        Command::new("aria2c")
            .args([
                "--enable-dht=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "-V",
                "--seed-ratio=0",
                "--log-level=notice",
            ])
            .arg(format!("--log={}", log.display()))
            .arg(format!("--interface={seeder_ip}"))
            .arg(format!("--listen-port={port}"))
            .arg("-d")
            .arg(&seed)
            .args(torrents.iter().map(|(t, _)| t))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aria2c is installed"),
    );
    let start = Instant::now();
    for h in hashes {
        while tracker.seeders(h) == 0 {
            let exited = seeder.0.try_wait().ok().flatten();
            if exited.is_some() || start.elapsed() > WAIT {
                let text = fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                panic!(
                    "aria2c on {seeder_ip}:{port} never announced {} to the tracker on port {tport} \
                     (aria2c exited: {exited:?}); its log, last lines first:\n{}",
                    h.to_hex(),
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Seeded {
        torrents,
        _tracker: tracker,
        _seeder: seeder,
    }
}

/// Largest `AV: HH:MM:SS` mpv printed, in seconds.
fn mpv_played(output: &str) -> u64 {
    output
        .split("AV: ")
        .skip(1)
        .filter_map(|s| {
            let t = s.get(..8)?;
            let mut it = t.split(':').map(|p| p.parse::<u64>().ok());
            Some(it.next()?? * 3600 + it.next()?? * 60 + it.next()??)
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn mpv_plays_the_playlist() {
    let dir = TempDir::new("webui-mpv");
    let swarm = seeded(dir.path(), "127.0.12.3", &[("clip.mp4", 20)]);
    let clip = &swarm.torrents[0];
    let s = Serve::start(&dir.path().join("data"), "127.0.12.2", &[]);
    let id = add_torrent(&s, &fs::read(&clip.0).unwrap());
    assert_eq!(id, clip.1.info_hash.to_hex());
    let url = format!("http://{}/playlist.m3u", s.addr);
    let (status, out) = run_logged(
        Command::new("mpv")
            .args(["--no-config", "--vo=null", "--ao=null", "--length=5"])
            .args(["--network-timeout=60", "--term-playing-msg=PLAYING ${path}"])
            .arg(&url),
        &dir.path().join("mpv.log"),
        Duration::from_secs(120),
    );
    assert!(
        status.success(),
        "mpv: {status}\n{out}\nrill:\n{}",
        read_log(&s.log)
    );
    let first = format!("PLAYING http://{}/stream/{id}/0", s.addr);
    assert!(out.contains(&first), "{out}");
    assert!(out.contains("h264") && out.contains("aac"), "{out}");
    assert!(
        mpv_played(&out) >= 4,
        "played {} s:\n{out}",
        mpv_played(&out)
    );
    // Playing through rill did not upset the download.
    let v = wait_torrent(&s, &id, "clip.mp4 complete", is_complete);
    assert_eq!(num(&v, "bytes_done"), num(&v, "size"));
    s.stop_cleanly();
}

#[test]
fn browser_ui() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: run `npm ci` in web/ (CI does, see .ci/run)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing: apt-get install chromium"
    );
    let dir = TempDir::new("webui-browser");
    let swarm = seeded(
        dir.path(),
        "127.0.12.5",
        &[("clip.mp4", 60), ("tracks.mkv", 20)],
    );
    let (clip, tracks) = (&swarm.torrents[0], &swarm.torrents[1]);
    let s = Serve::start(&dir.path().join("data"), "127.0.12.4", &[]);
    let html = FileServer::start(
        "127.0.12.6",
        "text/html",
        b"<html>not a torrent</html>".to_vec(),
    );
    let shots = match std::env::var_os("RILL_SCREENSHOTS") {
        Some(d) => PathBuf::from(d),
        None => dir.path().join("screenshots"),
    };
    fs::create_dir_all(&shots).unwrap();
    let other = dir.path().join("other.torrent");
    fs::write(&other, tiny_torrent("other-movie.mkv")).unwrap();
    let (status, out) = run_logged(
        Command::new("node")
            .arg(web.join("tests/ui.mjs"))
            .current_dir(&web)
            .env("RILL_URL", format!("http://{}/", s.addr))
            .env("RILL_TORRENT", &clip.0)
            .env("RILL_OTHER_TORRENT", &other)
            .env("RILL_TRACKS_TORRENT", &tracks.0)
            .env("RILL_TRACKS_ID", tracks.1.info_hash.to_hex())
            .env("RILL_ID", clip.1.info_hash.to_hex())
            .env("RILL_HTML_URL", html.url("/page.torrent"))
            .env("RILL_SHOTS", &shots),
        &dir.path().join("browser.log"),
        BROWSER_WAIT,
    );
    println!("{out}");
    assert!(
        status.success(),
        "web/tests/ui.mjs failed ({status}):\n{out}\nrill:\n{}",
        read_log(&s.log)
    );
    assert!(out.contains("ALL PASSED"), "{out}");
    s.stop_cleanly();
}
