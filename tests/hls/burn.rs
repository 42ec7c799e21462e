//! Bitmap (PGS) subtitle burn-in end to end: an MKV (40 s) with black
//! H.264 video, AAC and a PGS track that shows a white box from 5 s to
//! 35 s (written by [`crate::pgs`]), seeded by aria2c. With `?subtitle=0`
//! the variant re-encodes the video and the box is in the segments'
//! pixels: from a job that starts more than [`BURN_LEAD`] into the file,
//! after the box appeared (the subtitle then comes from a second opening
//! of the source, seeked earlier), from a job at segment 0 (one input),
//! and it is gone after 35 s; the plain copy variant has no box.

use std::path::Path;
use std::time::Instant;

use rill::media::plan::BURN_LEAD;

use crate::pgs::BoxSub;
use crate::support::aria2::SeedOpts;
use crate::support::TestEnv;
use crate::*;

const W: usize = 640;
const H: usize = 360;
const SUB: BoxSub = BoxSub {
    video: (W as u16, H as u16),
    x: 220,
    y: 280,
    w: 200,
    h: 60,
    from: 5.0,
    to: 35.0,
};

#[test]
fn pgs_subtitle_is_burned_in() {
    let env = TestEnv::new("hls-burn");
    let content = env.mkdir("content");
    let video = env.path("v.mp4");
    ffmpeg_make(
        &env,
        &video,
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=640x360:r=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "40",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    );
    let sup = env.path("box.sup");
    SUB.write(&sup);
    let movie = content.join("boxed.mkv");
    // `-copyts`: otherwise ffmpeg moves each input to start at 0 and the
    // box would come 5 s early.
    ffmpeg_make(
        &env,
        &movie,
        &[
            "-i",
            video.to_str().unwrap(),
            "-i",
            sup.to_str().unwrap(),
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            "-copyts",
        ],
    );
    let subs = tool(
        &env,
        &[
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "s",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            movie.to_str().unwrap(),
        ],
    );
    let first: f64 = subs
        .trim()
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(-1.0);
    assert!(
        (first - SUB.from).abs() < 0.1,
        "the box starts at {first}: {subs}"
    );
    let Served {
        t,
        s,
        seeder: _seeder,
        ..
    } = serve_seeded(&env, &movie, &content, 16, &SeedOpts::default(), None);
    let base = s.hls_base(&t, 0);

    // The probe lists the PGS track as a bitmap one.
    let media = s.media_of(&env, &t, 0);
    assert!(
        media.contains("\"codec\":\"hdmv_pgs_subtitle\"") && media.contains("\"text\":false"),
        "{media}"
    );

    // Chosen, it is burned in: the video is re-encoded, no rendition.
    let master = get_ok(&env, &format!("{base}index.m3u8?subtitle=0")).text();
    let burned = variant_of(&master);
    assert_eq!(burned, "v0e-a1c-b0.m3u8", "{master}");
    assert!(!master.contains("TYPE=SUBTITLES"), "{master}");
    let list = segments(&get_ok(&env, &format!("{base}{burned}")).text());
    let mut starts = vec![0.0];
    for (_, d) in &list {
        starts.push(starts.last().unwrap() + d);
    }
    // A segment inside the box's interval that starts more than BURN_LEAD
    // into the file but less after the box appeared: asked first, so the
    // job starts there (`-ss`), where the box is already on screen.
    let n = (1..list.len())
        .find(|&i| starts[i] > BURN_LEAD && starts[i + 1] < SUB.to)
        .unwrap_or_else(|| env.fail(&format!("no segment inside the box: {list:?}")));
    assert!(starts[n] - BURN_LEAD < SUB.from, "{list:?}");
    let asked = Instant::now();
    let seg = fetch(&env, &format!("{base}{}", list[n].0), &format!("burn-{n}"));
    eprintln!(
        "burn: segment {n} ({:.2}..{:.2} s) came {:.2} s after it was asked",
        starts[n],
        starts[n + 1],
        asked.elapsed().as_secs_f64()
    );
    let (s0, dur, codecs) = probe_segment(&env, &seg);
    assert_eq!(codecs, "h264,aac");
    assert!((s0 - starts[n]).abs() < 0.1, "segment {n} starts at {s0}");
    assert!((dur - list[n].1).abs() < 0.1, "segment {n}: {dur}");
    let f = frame(&env, &seg, list[n].1 / 2.0, "burn-mid");
    assert_box(&env, &f, true, &format!("burned segment {n}"));
    let status = get_ok(&env, &format!("{base}status")).text();
    assert!(
        status.contains("\"name\":\"v0e-a1c-b0\",\"video\":\"encode\""),
        "{status}"
    );
    let m = get_ok(&env, &s.url("/metrics")).text();
    assert!(
        metric(&m, "rill_hls_jobs_started_total{video=\"encode\"}") >= 1.0,
        "{m}"
    );

    // From the start (a new job, the subtitle from the only input): the box
    // from 5 s on; after 35 s it is gone.
    let seg = fetch(&env, &format!("{base}{}", list[0].0), "burn-0");
    probe_segment(&env, &seg);
    let f = frame(&env, &seg, SUB.from + 0.5, "burn-0");
    assert_box(&env, &f, true, "burned segment 0");
    let last = list.len() - 1;
    assert!(starts[last] > SUB.to, "{list:?}");
    let seg = fetch(&env, &format!("{base}{}", list[last].0), "burn-last");
    let f = frame(&env, &seg, 0.5, "burn-last");
    assert_box(&env, &f, false, "burned segment after 35 s");

    // Without the choice: video copied, no box at the same time.
    let master = get_ok(&env, &format!("{base}index.m3u8")).text();
    let plain = variant_of(&master);
    assert_eq!(plain, "v0c-a1c.m3u8", "{master}");
    let plain_list = segments(&get_ok(&env, &format!("{base}{plain}")).text());
    let mid = (starts[n] + starts[n + 1]) / 2.0;
    let mut at = 0.0;
    let k = plain_list
        .iter()
        .position(|(_, d)| {
            at += d;
            at > mid
        })
        .unwrap_or_else(|| env.fail(&format!("{mid} s not in {plain_list:?}")));
    let plain_start: f64 = plain_list[..k].iter().map(|(_, d)| d).sum();
    let seg = fetch(&env, &format!("{base}{}", plain_list[k].0), "plain");
    let (_, _, codecs) = probe_segment(&env, &seg);
    assert_eq!(codecs, "h264,aac");
    let f = frame(&env, &seg, mid - plain_start, "plain");
    assert_box(&env, &f, false, &format!("plain segment {k}"));
}

/// GET a segment into a file.
fn fetch(env: &TestEnv, url: &str, name: &str) -> std::path::PathBuf {
    let path = env.path(&format!("segs/{name}.ts"));
    std::fs::write(&path, get_ok(env, url).body).unwrap();
    path
}

/// The frame `offset` seconds into `seg` as 8-bit gray, `W`×`H`.
fn frame(env: &TestEnv, seg: &Path, offset: f64, name: &str) -> Vec<u8> {
    let out = env.path(&format!("frames/{name}.gray"));
    let ss = format!("{offset:.3}");
    ffmpeg_make(
        env,
        &out,
        &[
            "-i",
            seg.to_str().unwrap(),
            "-ss",
            &ss,
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
        ],
    );
    let f = std::fs::read(&out).unwrap();
    assert_eq!(f.len(), W * H, "{name}: not one {W}x{H} frame");
    f
}

/// With `shown`, every pixel inside the box (a few pixels in from its
/// edges) is bright; either way every pixel away from it is dark, and
/// without `shown` the box's area is dark too.
fn assert_box(env: &TestEnv, f: &[u8], shown: bool, what: &str) {
    let (x0, y0) = (usize::from(SUB.x), usize::from(SUB.y));
    let (x1, y1) = (x0 + usize::from(SUB.w), y0 + usize::from(SUB.h));
    let mut inside = (255u8, 0u8);
    let mut outside = 0u8;
    for y in 0..H {
        for x in 0..W {
            let v = f[y * W + x];
            if (x0 + 4..x1 - 4).contains(&x) && (y0 + 4..y1 - 4).contains(&y) {
                inside = (inside.0.min(v), inside.1.max(v));
            } else if !((x0 - 8..x1 + 8).contains(&x) && (y0 - 8..y1 + 8).contains(&y)) {
                outside = outside.max(v);
            }
        }
    }
    eprintln!("burn: {what}: box {inside:?} (min, max), elsewhere max {outside}");
    if outside >= 40 {
        env.fail(&format!(
            "{what}: bright pixels ({outside}) away from the box"
        ));
    }
    if shown && inside.0 <= 200 {
        env.fail(&format!(
            "{what}: the box is not burned in (min {})",
            inside.0
        ));
    }
    if !shown && inside.1 >= 40 {
        env.fail(&format!(
            "{what}: a box where none is shown (max {})",
            inside.1
        ));
    }
}
