//! (4): an MKV with H.264 + AC-3 + AAC + SRT while it downloads, an
//! MPEG-4 Part 2 + AC-3 re-encode, and segments removed with the torrent.

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::torrent::make_torrent;
use crate::support::TestEnv;
use crate::*;

#[test]
fn mkv_tracks_and_reencode() {
    let env = TestEnv::new("hls-mkv");
    let content = env.mkdir("content/pack");
    let srt = env.path("subs.srt");
    std::fs::write(&srt, "1\n00:00:01,000 --> 00:00:04,000\nHello from rill\n\n2\n00:00:10,000 --> 00:00:12,000\nSecond line\n").unwrap();
    let mkv = content.join("show.mkv");
    let mut args = SRC.to_vec();
    args.extend([
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=660:sample_rate=44100",
        "-i",
        srt.to_str().unwrap(),
    ]);
    args.extend([
        "-t", "20", "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s",
    ]);
    args.extend([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "48",
        "-b:v",
        "1500k",
    ]);
    args.extend(["-c:a:0", "ac3", "-c:a:1", "aac", "-c:s", "srt"]);
    args.extend([
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:1",
        "language=fre",
        "-metadata:s:s:0",
        "language=ger",
    ]);
    ffmpeg_make(&env, &mkv, &args);
    let old = content.join("old.mkv");
    let mut args = SRC.to_vec();
    args.extend(["-t", "15", "-c:v", "mpeg4", "-q:v", "5", "-c:a", "ac3"]);
    ffmpeg_make(&env, &old, &args);
    let t = make_torrent(&env, &content, 16, "http://127.0.0.1:1/announce");
    let seeder = Aria2::seed(
        &env,
        "seeder",
        &t,
        content.parent().unwrap(),
        &SeedOpts {
            max_upload: Some("200K".into()),
            ..SeedOpts::default()
        },
    );
    let data = env.mkdir("rill");
    let s = Serve::start(&env, "rill", &data, None);
    add(&env, &s, &t, &seeder);
    let info = get_ok(&env, &s.url(&format!("/api/torrents/{}", t.hex()))).text();
    let idx = |name: &str| -> usize {
        let at = info
            .find(name)
            .unwrap_or_else(|| env.fail(&format!("{name} not in {info}")));
        let before = &info[..at];
        let i = before.rfind("\"index\":").unwrap() + 8;
        before[i..].split(',').next().unwrap().parse().unwrap()
    };
    let (show, old_n) = (idx("show.mkv"), idx("old.mkv"));

    // (4) Tracks: AC-3 default → AAC, video copied.
    let media = get_ok(
        &env,
        &s.url(&format!("/api/torrents/{}/files/{show}/media", t.hex())),
    )
    .text();
    assert!(
        media.contains("\"codec\":\"ac3\"") && media.contains("\"codec\":\"subrip\""),
        "{media}"
    );
    let base = s.url(&format!("/hls/{}/{show}/", t.hex()));
    let master = get_ok(&env, &format!("{base}index.m3u8?audio=0")).text();
    assert_eq!(variant_of(&master), "v0c-a1t.m3u8", "{master}");
    assert!(
        master.contains("TYPE=SUBTITLES") && master.contains("DEFAULT=NO"),
        "{master}"
    );
    let list = segments(&get_ok(&env, &format!("{base}v0c-a1t.m3u8")).text());
    // The Cues gave the keyframes: the playlist came before the download
    // finished.
    let p = progress(&env, &s, &t);
    assert!(
        p < 1.0,
        "the pack should still be downloading (progress {p})"
    );
    let sum: f64 = list.iter().map(|(_, d)| d).sum();
    assert!((sum - 20.0).abs() < 0.1, "{sum}");
    let mut start = 0.0;
    for (i, (uri, extinf)) in list.iter().enumerate() {
        let seg = env.path(&format!("segs/ac3-{i}.ts"));
        std::fs::write(&seg, get_ok(&env, &format!("{base}{uri}")).body).unwrap();
        let (s0, dur, codecs) = probe_segment(&env, &seg);
        assert_eq!(codecs, "h264,aac");
        assert!((dur - extinf).abs() < 0.1, "segment {i}: {dur} vs {extinf}");
        assert!(
            (s0 - start).abs() < 0.1,
            "segment {i} starts at {s0}, not {start}"
        );
        start += extinf;
    }
    let status = get_ok(&env, &format!("{base}status")).text();
    assert!(
        status.contains("\"video\":\"copy\",\"audio\":\"aac\""),
        "{status}"
    );
    // The second audio track (AAC, copied) with the subtitle chosen.
    let master = get_ok(&env, &format!("{base}index.m3u8?audio=1&subtitle=0")).text();
    assert_eq!(variant_of(&master), "v0c-a2c.m3u8", "{master}");
    assert!(
        master.contains("LANGUAGE=\"ger\",DEFAULT=YES") && master.contains("SUBTITLES=\"subs\""),
        "{master}"
    );
    let list = segments(&get_ok(&env, &format!("{base}v0c-a2c.m3u8")).text());
    let seg = env.path("segs/fre.ts");
    std::fs::write(&seg, get_ok(&env, &format!("{base}{}", list[1].0)).body).unwrap();
    let (_, _, codecs) = probe_segment(&env, &seg);
    assert_eq!(codecs, "h264,aac");
    let ch = tool(
        &env,
        &[
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=sample_rate",
            "-of",
            "csv=p=0",
            seg.to_str().unwrap(),
        ],
    );
    assert_eq!(
        ch.lines().next().map(str::trim),
        Some("44100"),
        "the French track is the 44.1 kHz one"
    );
    let sub = get_ok(&env, &format!("{base}sub/0.m3u8")).text();
    assert!(sub.contains("0.vtt"), "{sub}");
    let vtt = get_ok(&env, &format!("{base}sub/0.vtt")).text();
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("Hello from rill"),
        "{vtt}"
    );

    // MPEG-4 Part 2 + AC-3: re-encoded to H.264 + AAC on a 6 s grid.
    let base = s.url(&format!("/hls/{}/{old_n}/", t.hex()));
    let master = get_ok(&env, &format!("{base}index.m3u8")).text();
    assert_eq!(variant_of(&master), "v0e-a1t.m3u8", "{master}");
    let list = segments(&get_ok(&env, &format!("{base}v0e-a1t.m3u8")).text());
    let ms: Vec<u64> = list
        .iter()
        .map(|(_, d)| (d * 1000.0).round() as u64)
        .collect();
    assert!(
        ms.len() == 3 && ms[0] == 6000 && ms[1] == 6000 && ms[2].abs_diff(3000) < 50,
        "{ms:?}"
    );
    for (i, (uri, extinf)) in list.iter().enumerate() {
        let seg = env.path(&format!("segs/old-{i}.ts"));
        std::fs::write(&seg, get_ok(&env, &format!("{base}{uri}")).body).unwrap();
        let (start, dur, codecs) = probe_segment(&env, &seg);
        assert_eq!(codecs, "h264,aac");
        assert!((dur - extinf).abs() < 0.1, "segment {i}: {dur} vs {extinf}");
        assert!(
            (start - 6.0 * i as f64).abs() < 0.1,
            "segment {i} starts at {start}"
        );
    }
    let m = get_ok(&env, &s.url("/metrics")).text();
    assert!(
        metric(&m, "rill_hls_jobs_started_total{video=\"encode\"}") >= 1.0,
        "{m}"
    );
}
