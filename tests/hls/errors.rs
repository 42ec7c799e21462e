//! (8) and bounded failures: missing ffmpeg/ffprobe, an ffmpeg that always
//! fails (and, as its playlist is long enough, gzip-compressed playlists);
//! and the `-protocol_whitelist` ffprobe runs with (issue 13).

use std::process::Command;
use std::time::Duration;

use crate::support::aria2::SeedOpts;
use crate::support::{run_tool, TestEnv};
use crate::*;

#[test]
fn missing_ffmpeg() {
    let env = TestEnv::new("hls-noff");
    let content = env.mkdir("content");
    let file = content.join("clip.mp4");
    support::data::write_random_file(&file, 300_000, 7);
    let config = "ffmpeg = \"/nonexistent/bin/ffmpeg\"\nffprobe = \"/nonexistent/bin/ffprobe\"\n";
    let Served {
        t,
        s,
        seeder: _seeder,
        ..
    } = serve_seeded(
        &env,
        &file,
        &content,
        15,
        &SeedOpts::default(),
        Some(config),
    );
    for path in [
        format!("/api/torrents/{}/files/0/media", t.hex()),
        format!("/hls/{}/0/index.m3u8", t.hex()),
        format!("/hls/{}/0/v0c-a1c/00000.ts", t.hex()),
    ] {
        let r = get(&env, &s.url(&path));
        assert_eq!(r.status, 503, "{path}: {}", r.text());
        assert!(r.headers.contains("application/json"), "{}", r.headers);
        let e = r.text();
        assert!(
            e.contains("\"error\"") && e.contains("/nonexistent/bin/ffprobe"),
            "{path}: {e}"
        );
    }
    let r = get_ok(&env, &s.url(&format!("/stream/{}/0", t.hex())));
    assert_eq!(r.body, std::fs::read(&file).unwrap(), "/stream still works");
}

#[test]
fn failing_ffmpeg_is_bounded() {
    let env = TestEnv::new("hls-false");
    let content = env.mkdir("content");
    let clip = content.join("clip.mp4");
    // Four minutes, but cheap to make (4 frames/s, 160x120): a keyframe
    // every 6 s gives a 40-segment playlist, over the gzip threshold.
    ffmpeg_make(
        &env,
        &clip,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=4",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=16000",
            "-t",
            "240",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "24",
            "-c:a",
            "aac",
            "-b:a",
            "32k",
        ],
    );
    // A real ffprobe, but an "ffmpeg" that always fails.
    let config = "ffmpeg = \"/bin/false\"\n";
    let Served {
        t,
        s,
        seeder: _seeder,
        ..
    } = serve_seeded(
        &env,
        &clip,
        &content,
        15,
        &SeedOpts::default(),
        Some(config),
    );
    let base = s.hls_base(&t, 0);
    let variant = variant_of(&get_ok(&env, &format!("{base}index.m3u8")).text());
    let url = format!("{base}{variant}");
    let plain = get_ok(&env, &url);
    let list = segments(&plain.text());
    assert!(list.len() >= 30, "{}", plain.text());
    gzip_playlist(&env, &url, &plain);
    let r = get(&env, &format!("{base}{}", list[0].0));
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        r.text().contains("ffmpeg failed 3 times in a row"),
        "{}",
        r.text()
    );
    let m = get_ok(&env, &s.url("/metrics")).text();
    assert_eq!(metric(&m, "rill_hls_job_failures_total"), 1.0, "{m}");
    assert_eq!(metric(&m, "rill_hls_job_restarts_total"), 3.0, "{m}");
    assert_eq!(
        metric(&m, "rill_hls_jobs_started_total{video=\"copy\"}"),
        4.0,
        "{m}"
    );
    // The error stays (no further attempts) and the playlist says so.
    let r = get(&env, &format!("{base}{}", list[0].0));
    assert_eq!(r.status, 502);
    let pl = get_ok(&env, &format!("{base}{variant}"));
    assert!(
        pl.headers.contains("X-Rill-Job-State: error"),
        "{}",
        pl.headers
    );
}

/// The media playlist at `url` (whose plain answer is `plain`) through
/// clients that accept gzip: curl's own decoding, and the raw bytes
/// through the system `gzip -dc`.
fn gzip_playlist(env: &TestEnv, url: &str, plain: &Resp) {
    assert_eq!(header(plain, "Vary").as_deref(), Some("Accept-Encoding"));
    assert_eq!(header(plain, "Content-Encoding"), None, "{}", plain.headers);
    assert_eq!(
        header(plain, "Content-Length"),
        Some(plain.body.len().to_string())
    );
    assert!(plain.body.len() > 1024, "{} bytes", plain.body.len());

    let decoded = get_with(env, url, &["--compressed"]);
    assert_eq!(decoded.status, 200);
    assert_eq!(
        header(&decoded, "Content-Encoding").as_deref(),
        Some("gzip")
    );
    assert_eq!(decoded.text(), plain.text(), "curl --compressed");

    let raw = get_with(env, url, &["-H", "Accept-Encoding: gzip"]);
    assert_eq!(raw.status, 200);
    assert_eq!(
        header(&raw, "Content-Encoding").as_deref(),
        Some("gzip"),
        "{}",
        raw.headers
    );
    assert_eq!(header(&raw, "Vary").as_deref(), Some("Accept-Encoding"));
    assert_eq!(
        header(&raw, "Content-Length"),
        Some(raw.body.len().to_string())
    );
    assert_eq!(raw.body.get(..2), Some(&[0x1f, 0x8b][..]));
    assert!(
        raw.body.len() * 3 < plain.body.len(),
        "{} of {}",
        raw.body.len(),
        plain.body.len()
    );
    let gz = env.path("playlist.m3u8.gz");
    std::fs::write(&gz, &raw.body).unwrap();
    let mut cmd = Command::new("gzip");
    cmd.arg("-dc").arg(&gz);
    let text = run_tool(&mut cmd, Duration::from_secs(30)).unwrap_or_else(|e| env.fail(&e));
    assert_eq!(text, plain.text(), "gzip -dc of the raw answer");
    eprintln!(
        "media playlist: {} bytes, {} gzip-compressed",
        plain.body.len(),
        raw.body.len()
    );

    // HEAD: the same headers, the compressed length, no body.
    let head = get_with(env, url, &["-I", "-H", "Accept-Encoding: gzip"]);
    assert_eq!(head.status, 200);
    assert_eq!(header(&head, "Content-Encoding").as_deref(), Some("gzip"));
    assert_eq!(
        header(&head, "Content-Length"),
        Some(raw.body.len().to_string())
    );
    // (`-I` writes the headers where the body would go: nothing more.)
    assert_eq!(head.text(), head.headers);
}

#[test]
fn protocol_whitelist_holds() {
    // ffprobe reads what rill gives it through rill's own argument
    // builder: an HLS playlist at an http URL (as the loopback source
    // serves a partial file) whose segment is an https URL of a listener
    // here. Allowed only `http,tcp`, ffprobe refuses to open it before
    // connecting; ffmpeg's default for http inputs would have connected.
    use std::net::TcpListener;
    use std::time::{Duration, Instant};
    let env = TestEnv::new("hls-whitelist");
    let target = TcpListener::bind(crate::support::net::loopback_addr()).unwrap();
    target.set_nonblocking(true).unwrap();
    let list = env.path("evil.m3u8");
    let text = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10,\nhttps://{}/seg.ts\n#EXT-X-ENDLIST\n",
        target.local_addr().unwrap()
    );
    std::fs::write(&list, text).unwrap();
    let server = crate::support::http::FileServer::start(&list);
    let url = server.url("evil.m3u8");
    let tools = rill::media::Tools::default();
    let r = rill::media::probe::probe(&tools, &url, Duration::from_secs(30));
    if let Ok(m) = r {
        env.fail(&format!("probed a playlist of nothing: {m:?}"));
    }
    // Nothing connected to the segment's address (checked for a moment:
    // ffprobe has exited, so a connection would already be queued).
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        if let Ok((_, from)) = target.accept() {
            env.fail(&format!("ffprobe connected to the segment URL from {from}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
