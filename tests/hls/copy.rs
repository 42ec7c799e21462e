//! (1), (2), (3), (5), (7) and the watchdog and read-ahead: an H.264+AAC
//! MP4 with its index at the end, seeded slowly (see `main.rs`); and HLS
//! in storage mode `stream` (no whole file on disk).

use std::process::Command;
use std::time::Duration;

use crate::support::aria2::SeedOpts;
use crate::support::{json_field, run_tool, TestEnv, WAIT};
use crate::*;

#[test]
fn copy_while_downloading() {
    let env = TestEnv::new("hls-copy");
    let content = env.mkdir("content");
    let movie = content.join("movie.mp4");
    // Irregular keyframes (every 2.3 s): segments must follow them.
    let mut args = SRC.to_vec();
    args.extend([
        "-t",
        "90",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-b:v",
        "1200k",
    ]);
    args.extend([
        "-force_key_frames",
        "expr:gte(t,n_forced*2.3)",
        "-g",
        "500",
        "-sc_threshold",
        "0",
    ]);
    args.extend(["-c:a", "aac", "-shortest"]);
    ffmpeg_make(&env, &movie, &args);
    let opts = SeedOpts {
        max_upload: Some("400K".into()),
        ..SeedOpts::default()
    };
    let Served { t, seeder, s, data } = serve_seeded(&env, &movie, &content, 16, &opts, None);
    let base = s.hls_base(&t, 0);

    // The probe works on the partial file.
    let media = s.media_of(&env, &t, 0);
    assert!(
        media.contains("\"codec\":\"h264\"") && media.contains("\"codec\":\"aac\""),
        "{media}"
    );
    let duration: f64 = json_field(&media, "duration").unwrap().parse().unwrap();
    assert!((duration - 90.0).abs() < 0.5, "{media}");

    // (1) Playlist and first segments while the file is partial.
    let master = get_ok(&env, &format!("{base}index.m3u8")).text();
    let variant = variant_of(&master);
    assert_eq!(variant, "v0c-a1c.m3u8", "{master}");
    let pl = get_ok(&env, &format!("{base}{variant}"));
    let list = segments(&pl.text());
    assert!(list.len() >= 8, "{}", pl.text());
    let seg_dir = env.mkdir("segs");
    let mut starts = vec![0.0];
    for (_, d) in &list {
        starts.push(starts.last().unwrap() + d);
    }
    for (i, (uri, extinf)) in list.iter().take(2).enumerate() {
        let r = get_ok(&env, &format!("{base}{uri}"));
        assert!(
            r.headers.to_ascii_lowercase().contains("immutable"),
            "{}",
            r.headers
        );
        let p = seg_dir.join(format!("{i}.ts"));
        std::fs::write(&p, &r.body).unwrap();
        let (start, dur, codecs) = probe_segment(&env, &p);
        assert_eq!(codecs, "h264,aac");
        assert!(
            (start - starts[i]).abs() < 0.1,
            "segment {i} starts at {start}"
        );
        assert!((dur - extinf).abs() < 0.1, "segment {i}: {dur} vs {extinf}");
    }
    let p = progress(&env, &s, &t);
    assert!(
        p < 1.0,
        "the file should still be downloading (progress {p})"
    );
    let status = get_ok(&env, &format!("{base}status")).text();
    assert!(
        status.contains("\"video\":\"copy\"") && status.contains("\"audio\":\"copy\""),
        "{status}"
    );
    let m = get_ok(&env, &s.url("/metrics")).text();
    assert!(
        metric(&m, "rill_hls_jobs_started_total{video=\"copy\"}") >= 1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "rill_hls_jobs_started_total{video=\"encode\"}"),
        0.0
    );
    assert_eq!(metric(&m, "rill_hls_probes_total"), 1.0);

    // The read-ahead is bounded: the job stops READ_AHEAD (4) segments
    // past the last one asked for (1) and waits.
    let mut paused_at = 0usize;
    env.wait_until("the job to pause ahead of the player", WAIT, || {
        let st = get_ok(&env, &format!("{base}status")).text();
        paused_at = json_field(&st, "next")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Ok(st.contains("\"state\":\"paused\"") && (6..=7).contains(&paused_at))
    });

    // (3) A segment at 70%, before it exists.
    // (Past what the paused job would make next, so ffmpeg restarts there.)
    let n = (list.len() * 7 / 10).max(paused_at + 4);
    assert!(n + 1 < list.len(), "{n} of {}", list.len());
    let on_disk = data.join(format!("hls/{}/0/v0c-a1c/{n:05}.ts", t.hex()));
    assert!(!on_disk.exists(), "segment {n} already made");
    let r = get_ok(&env, &format!("{base}{}", list[n].0));
    let m = get_ok(&env, &s.url("/metrics")).text();
    assert_eq!(
        metric(&m, "rill_hls_jobs_started_total{video=\"copy\"}"),
        2.0,
        "{m}"
    );
    let p70 = seg_dir.join("70.ts");
    std::fs::write(&p70, &r.body).unwrap();
    let (start, dur, codecs) = probe_segment(&env, &p70);
    assert_eq!(codecs, "h264,aac");
    assert!(
        (start - starts[n]).abs() < 0.1,
        "segment {n} starts at {start}, playlist says {}",
        starts[n]
    );
    assert!(
        (dur - list[n].1).abs() < 0.1,
        "segment {n}: {dur} vs {}",
        list[n].1
    );

    // The watchdog: ffmpeg killed mid-job (the one making segment n and
    // on) is restarted from the last finished segment; the next segment
    // still comes.
    let status = get_ok(&env, &format!("{base}status")).text();
    let pid = json_field(&status, "pid")
        .unwrap_or_else(|| env.fail(&format!("no running job while downloading: {status}")));
    tool(&env, &["kill", "-KILL", pid]);
    env.wait_until(
        "the watchdog to restart ffmpeg",
        Duration::from_secs(15),
        || {
            let m = get_ok(&env, &s.url("/metrics")).text();
            Ok(metric(&m, "rill_hls_job_restarts_total") >= 1.0)
        },
    );
    let r = get_ok(&env, &format!("{base}{}", list[n + 1].0));
    let p = seg_dir.join("after-kill.ts");
    std::fs::write(&p, &r.body).unwrap();
    let (start, _, codecs) = probe_segment(&env, &p);
    assert_eq!(codecs, "h264,aac");
    assert!(
        (start - starts[n + 1]).abs() < 0.1,
        "segment {} starts at {start}",
        n + 1
    );

    // (2) Every segment matches its EXTINF; together they are the duration.
    wait_complete(&env, &s, &t);
    let sum: f64 = list.iter().map(|(_, d)| d).sum();
    assert!(
        (sum - duration).abs() <= list.len() as f64 / 24.0,
        "{sum} vs {duration}"
    );
    for (i, (uri, extinf)) in list.iter().enumerate() {
        let r = get_ok(&env, &format!("{base}{uri}"));
        let p = seg_dir.join(format!("all-{i}.ts"));
        std::fs::write(&p, &r.body).unwrap();
        let (start, dur, _) = probe_segment(&env, &p);
        assert!(
            (dur - extinf).abs() < 0.1,
            "segment {i}: {dur} vs EXTINF {extinf}"
        );
        assert!(
            (start - starts[i]).abs() < 0.1,
            "segment {i} starts at {start}, not {}",
            starts[i]
        );
    }

    // (7) mpv plays it for 10 s.
    let mut mpv = Command::new("sh");
    mpv.arg("-c").arg(format!(
        "mpv --no-config --vo=null --ao=null --end=10 '{base}index.m3u8' 2>&1"
    ));
    let out = run_tool(&mut mpv, Duration::from_secs(120)).unwrap_or_else(|e| env.fail(&e));
    assert!(
        out.contains("Exiting... (End of file)") || out.contains("(Quit)"),
        "{out}"
    );
    assert!(out.contains("h264"), "{out}");

    // (5) Restart: nothing probed again, segments come from the cache.
    let cache = data.join("media/probe-cache");
    env.wait_until("the probe cache file", Duration::from_secs(10), || {
        Ok(std::fs::read_to_string(&cache)
            .unwrap_or_default()
            .contains(&t.hex()))
    });
    drop(s);
    drop(seeder);
    let s = Serve::start(&env, "rill-again", &data, None);
    let base = s.hls_base(&t, 0);
    wait_complete(&env, &s, &t);
    s.media_of(&env, &t, 0);
    assert_eq!(get_ok(&env, &format!("{base}index.m3u8")).text(), master);
    for (uri, _) in list.iter().take(3) {
        get_ok(&env, &format!("{base}{uri}"));
    }
    let m = get_ok(&env, &s.url("/metrics")).text();
    assert_eq!(metric(&m, "rill_hls_probes_total"), 0.0, "{m}");
    assert_eq!(metric(&m, "rill_hls_segments_made_total"), 0.0, "{m}");
    assert_eq!(
        metric(&m, "rill_hls_jobs_started_total{video=\"copy\"}"),
        0.0,
        "{m}"
    );
    assert!(metric(&m, "rill_hls_segments_served_total") >= 3.0, "{m}");
    assert!(
        metric(&m, "rill_hls_segment_cache_segments") >= list.len() as f64,
        "{m}"
    );
}

#[test]
fn storage_mode_stream() {
    // No whole file on disk: everything goes through the source, which
    // reads the bounded piece cache.
    let env = TestEnv::new("hls-streammode");
    let content = env.mkdir("content");
    let clip = content.join("clip.mp4");
    let mut args = SRC.to_vec();
    args.extend(["-t", "20", "-c:v", "libx264", "-preset", "ultrafast"]);
    args.extend(["-g", "48", "-c:a", "aac"]);
    ffmpeg_make(&env, &clip, &args);
    let config = "storage = \"stream\"\nstream_cache_mib = 64\n";
    let Served {
        t,
        s,
        data,
        seeder: _seeder,
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
    assert_eq!(variant, "v0c-a1c.m3u8");
    let list = segments(&get_ok(&env, &format!("{base}{variant}")).text());
    assert!(list.len() >= 3, "{list:?}");
    let mut start = 0.0;
    for (i, (uri, extinf)) in list.iter().enumerate() {
        let p = env.path(&format!("segs/{i}.ts"));
        std::fs::write(&p, get_ok(&env, &format!("{base}{uri}")).body).unwrap();
        let (s0, dur, codecs) = probe_segment(&env, &p);
        assert_eq!(codecs, "h264,aac");
        assert!((dur - extinf).abs() < 0.1, "segment {i}: {dur} vs {extinf}");
        assert!((s0 - start).abs() < 0.1, "segment {i} starts at {s0}");
        start += extinf;
    }
    assert!(!data.join("downloads/clip.mp4").exists());
}
