//! kill -9 at random moments: 20 cycles of `rill serve` started on the same
//! data directory and killed after a random delay (seeded and printed;
//! `RILL_FAULT_SEED=N` repeats a run), while a 12 MiB torrent downloads
//! from a slow aria2c seeder and, every other cycle, while an HLS job
//! (ffmpeg) makes segments of a 5 min MP4 from a second torrent (also
//! seeded slowly, so jobs wait for pieces through rill's source), started
//! at a segment no earlier cycle asked for (so not from the cache).
//!
//! After each kill: every piece the resume file vouches for verifies, and
//! no ffmpeg of the dead rill is left running. After each restart: both
//! torrents are listed and the verified-piece count is at least what the
//! API reported just before the kill. At the end both files are
//! byte-identical to the seeds.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::data::{diff_trees, write_random_file};
use crate::support::torrent::{make_torrent, Torrent};
use crate::support::tracker::Opentracker;
use crate::support::{net, TestEnv, WAIT};
use crate::{make_mp4, resume_have, str_of, u64_of, verify_claimed, Rng, Serve};

const CYCLES: usize = 20;

#[test]
fn kill9_cycles() {
    let started = Instant::now();
    let env = TestEnv::new("faults-kill9");
    let seed = std::env::var("RILL_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("kill9: RILL_FAULT_SEED={seed}");
    let mut rng = Rng::new(seed);

    let src = env.mkdir("seed");
    let dl_file = src.join("dl.bin");
    write_random_file(&dl_file, 12 << 20, 3);
    let mp4 = src.join("clip.mp4");
    make_mp4(&env, &mp4, 300);
    let tracker_addr = Opentracker::reserve();
    let announce = tracker_addr.announce_url();
    let dl = make_torrent(&env, &dl_file, 16, &announce);
    let media = make_torrent(&env, &mp4, 16, &announce);
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&dl, &media]);
    let slow = SeedOpts {
        max_upload: Some("256K".into()),
        ..SeedOpts::default()
    };
    let _s1 = Aria2::seed(&env, "seed-dl", &dl, &src, &slow);
    let _s2 = Aria2::seed(&env, "seed-media", &media, &src, &slow);
    tracker.wait_seeders(&env, &dl, 1);
    tracker.wait_seeders(&env, &media, 1);

    let data = env.mkdir("data");
    let ip = net::loopback_ip();
    let (dl_id, media_id) = (dl.hex(), media.hex());
    let mut before_kill = 0u64;
    let mut with_ffmpeg = 0;
    // Segments far enough apart that each job starts outside the others'
    // output (a job runs AHEAD = 3 segments past what is asked), shuffled.
    let mut starts: Vec<usize> = (0..CYCLES / 2).map(|i| i * 5).collect();
    for i in (1..starts.len()).rev() {
        starts.swap(i, rng.range(0, i as u64 + 1) as usize);
    }
    for cycle in 0..CYCLES {
        let s = Serve::start(&env, &format!("rill-{cycle}"), &data, &format!("{ip}:0"));
        if cycle == 0 {
            s.add(&env, &dl.file);
            s.add(&env, &media.file);
        }
        let ids = s.ids(&env);
        if !ids.contains(&dl_id) || !ids.contains(&media_id) {
            env.fail(&format!(
                "cycle {cycle}: the session lost a torrent: {ids:?}"
            ));
        }
        let after = settled_pieces(&env, &s, &dl_id);
        if after < before_kill {
            env.fail(&format!(
                "cycle {cycle}: {after} verified pieces after the restart, {before_kill} before the kill"
            ));
        }
        let hls = cycle % 2 == 1;
        if hls {
            start_hls_job(&env, &s, &media, starts.pop().unwrap_or(0));
        }
        let delay = Duration::from_millis(rng.range(200, 2500));
        let until = Instant::now() + delay;
        let mut ffmpeg_seen = false;
        while Instant::now() < until {
            before_kill = before_kill.max(u64_of(&s.torrent(&env, &dl_id), "pieces_done"));
            ffmpeg_seen |= !children_named(s.pid(), "ffmpeg").is_empty();
            std::thread::sleep(Duration::from_millis(50));
        }
        with_ffmpeg += usize::from(ffmpeg_seen);
        eprintln!(
            "kill9: cycle {cycle}: {after} pieces after start, kill -9 after {delay:?} at {before_kill}/{} pieces{}",
            dl.piece_count(),
            if ffmpeg_seen { ", ffmpeg running" } else { "" }
        );
        s.kill9();
        let claimed = check_resume(&env, &data, &dl);
        if claimed > before_kill {
            // Fine (pieces verified after the last poll), only noted.
            eprintln!("kill9: cycle {cycle}: resume file vouches for {claimed}");
        }
        check_resume(&env, &data, &media);
        wait_no_orphans(&env, &data);
    }
    eprintln!("kill9: {with_ffmpeg} of {CYCLES} kills hit a running ffmpeg");
    if with_ffmpeg == 0 {
        env.fail("no kill hit a running HLS job");
    }

    let s = Serve::start(&env, "rill-final", &data, &format!("{ip}:0"));
    for (t, id) in [(&dl, &dl_id), (&media, &media_id)] {
        env.wait_until("the download to complete after the kills", WAIT, || {
            Ok(u64_of(&s.torrent(&env, id), "pieces_done") == t.piece_count())
        });
        let got = data.join("downloads").join(&t.name);
        let want = src.join(&t.name);
        if let Err(e) = diff_trees(&want, &got) {
            env.fail(&e);
        }
    }
    eprintln!("kill9_cycles: {:.1} s", started.elapsed().as_secs_f64());
}

/// The torrent's verified-piece count once its check at open is over.
fn settled_pieces(env: &TestEnv, s: &Serve, id: &str) -> u64 {
    let mut n = 0;
    env.wait_until(
        "the torrent's check at open",
        Duration::from_secs(60),
        || {
            let v = s.torrent(env, id);
            n = u64_of(&v, "pieces_done");
            Ok(!matches!(
                str_of(&v, "state"),
                "checking" | "fetching_metadata" | ""
            ))
        },
    );
    n
}

/// Ask for the media's HLS playlist and, on a thread, its segment `n` (so
/// a job starts there); wait until rill runs ffmpeg.
fn start_hls_job(env: &TestEnv, s: &Serve, media: &Torrent, n: usize) {
    let base = format!("/hls/{}/0/", media.hex());
    let master = s.get(&format!("{base}index.m3u8"));
    if master.status != 200 {
        env.fail(&format!(
            "HLS master playlist: {} {}",
            master.status,
            String::from_utf8_lossy(&master.body)
        ));
    }
    let master = String::from_utf8_lossy(&master.body).into_owned();
    let Some(variant) = master
        .lines()
        .find(|l| l.ends_with(".m3u8") && !l.starts_with('#'))
    else {
        env.fail(&format!("no variant in {master}"))
    };
    let media_pl = s.get(&format!("{base}{variant}"));
    let text = String::from_utf8_lossy(&media_pl.body).into_owned();
    let segs: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    if media_pl.status != 200 || segs.is_empty() {
        env.fail(&format!("HLS media playlist: {} {text}", media_pl.status));
    }
    let dir = variant.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let seg = segs[n.min(segs.len() - 1)];
    let path = if dir.is_empty() || seg.starts_with('/') {
        format!("{base}{seg}")
    } else {
        format!("{base}{dir}/{seg}")
    };
    let addr = s.addr;
    // Ends with the answer or when rill is killed (its connection closes).
    std::thread::spawn(move || {
        let _ = crate::try_get(addr, &path, "");
    });
    let pid = s.pid();
    let t0 = Instant::now();
    while children_named(pid, "ffmpeg").is_empty() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every piece the resume file of `t` vouches for verifies; their count.
fn check_resume(env: &TestEnv, data: &Path, t: &Torrent) -> u64 {
    match resume_have(env, data, &t.hex()) {
        Some(have) => verify_claimed(env, &t.file, &data.join("downloads").join(&t.name), &have),
        None => 0,
    }
}

/// `(pid, ppid, comm, cmdline)` of every process.
fn processes() -> Vec<(u32, u32, String, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // "pid (comm) state ppid ...": comm may hold spaces, so split at ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        out.push((pid, ppid, comm, cmdline));
    }
    out
}

fn children_named(parent: u32, name: &str) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(_, ppid, comm, _)| *ppid == parent && comm == name)
        .map(|(pid, ..)| pid)
        .collect()
}

/// No ffmpeg/ffprobe working on `data` outlives the rill that started it
/// (waits up to 5 s for them to notice).
fn wait_no_orphans(env: &TestEnv, data: &Path) {
    let needle = data.to_string_lossy().into_owned();
    let t0 = Instant::now();
    loop {
        let left: Vec<String> = processes()
            .into_iter()
            .filter(|(_, _, comm, cmd)| comm.starts_with("ff") && cmd.contains(&needle))
            .map(|(pid, _, _, cmd)| format!("{pid}: {cmd}"))
            .collect();
        if left.is_empty() {
            return;
        }
        if t0.elapsed() > Duration::from_secs(5) {
            env.fail(&format!(
                "ffmpeg outlived the killed rill by 5 s:\n{}",
                left.join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
