//! (8) and bounded failures: missing ffmpeg/ffprobe, an ffmpeg that always
//! fails.

use std::path::PathBuf;

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::torrent::make_torrent;
use crate::support::TestEnv;
use crate::*;

#[test]
fn missing_ffmpeg() {
    let env = TestEnv::new("hls-noff");
    let content = env.mkdir("content");
    let file = content.join("clip.mp4");
    support::data::write_random_file(&file, 300_000, 7);
    let t = make_torrent(&env, &file, 15, "http://127.0.0.1:1/announce");
    let seeder = Aria2::seed(&env, "seeder", &t, &content, &SeedOpts::default());
    let config = env.path("rill.toml");
    std::fs::write(
        &config,
        "ffmpeg = \"/nonexistent/bin/ffmpeg\"\nffprobe = \"/nonexistent/bin/ffprobe\"\n",
    )
    .unwrap();
    let data: PathBuf = env.mkdir("rill");
    let s = Serve::start(&env, "rill", &data, Some(&config));
    add(&env, &s, &t, &seeder);
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
    let mut args = SRC.to_vec();
    args.extend([
        "-t",
        "8",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
    ]);
    ffmpeg_make(&env, &clip, &args);
    let t = make_torrent(&env, &clip, 15, "http://127.0.0.1:1/announce");
    let seeder = Aria2::seed(&env, "seeder", &t, &content, &SeedOpts::default());
    // A real ffprobe, but an "ffmpeg" that always fails.
    let config = env.path("rill.toml");
    std::fs::write(&config, "ffmpeg = \"/bin/false\"\n").unwrap();
    let data = env.mkdir("rill");
    let s = Serve::start(&env, "rill", &data, Some(&config));
    add(&env, &s, &t, &seeder);
    let base = s.url(&format!("/hls/{}/0/", t.hex()));
    let variant = variant_of(&get_ok(&env, &format!("{base}index.m3u8")).text());
    let list = segments(&get_ok(&env, &format!("{base}{variant}")).text());
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
