//! The Raspberry Pi Zero 2 W budget without a Pi: `rill serve --board
//! pi-zero-2w` (storage `stream`) inside a 128 MiB cgroup v1 memory cgroup,
//! with its ffmpeg children in it too, streams two files of a torrent
//! seeded by a real aria2c and runs one copy-mode HLS job at the same time.
//! No OOM kill, every streamed byte right, and rill's peak RSS (VmHWM)
//! under 40 MiB; the numbers are printed for docs/benchmarks.md.
//!
//! Needs root and the cgroup v1 memory controller at
//! /sys/fs/cgroup/memory; without them it says so and passes (skipped).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use rill_testkit as support;
use support::aria2::{Aria2, SeedOpts};
use support::torrent::make_torrent;
use support::{data, net, run_tool, TestEnv, WAIT};

const MIB: u64 = 1 << 20;
const CGROUP_ROOT: &str = "/sys/fs/cgroup/memory";
/// The board's budget for rill and its ffmpeg children.
const LIMIT: u64 = 128 * MIB;
/// rill's own peak resident set must stay under this.
const MAX_RSS: u64 = 40 * MIB;

/// A memory cgroup of this test, removed on drop (after its processes).
struct MemCgroup {
    dir: PathBuf,
}

impl MemCgroup {
    /// `None` (with the reason) when cgroup v1 memory cannot be used here.
    fn create(name: &str, limit: u64) -> Result<MemCgroup, String> {
        let root = Path::new(CGROUP_ROOT);
        if !root.join("memory.limit_in_bytes").exists() {
            return Err(format!("no cgroup v1 memory controller at {CGROUP_ROOT}"));
        }
        let dir = root.join(format!("{name}-{}", std::process::id()));
        fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e} (needs root)", dir.display()))?;
        let cg = MemCgroup { dir };
        cg.write("memory.limit_in_bytes", &limit.to_string())?;
        // With swap accounting, swap must not stretch the budget either.
        if cg.dir.join("memory.memsw.limit_in_bytes").exists() {
            cg.write("memory.memsw.limit_in_bytes", &limit.to_string())?;
        }
        Ok(cg)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        fs::write(self.dir.join(file), value)
            .map_err(|e| format!("write {value} to {}/{file}: {e}", self.dir.display()))
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    /// The `oom_kill` count of memory.oom_control (0 on kernels without it).
    fn oom_kills(&self) -> u64 {
        self.read("memory.oom_control")
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    fn max_usage(&self) -> u64 {
        self.read("memory.max_usage_in_bytes")
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// A shell that joins this cgroup, then execs `program` with `args`.
    fn command(&self, program: &Path, args: &[String]) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo $$ > \"$0/cgroup.procs\" && exec \"$@\"")
            .arg(&self.dir)
            .arg(program)
            .args(args);
        cmd
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        // rmdir fails while a process is in it; the guards kill them first.
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("could not remove {}", self.dir.display());
    }
}

/// The rill child, killed on drop.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl` a URL into `out` (up to 10 minutes); the HTTP status.
fn fetch(url: &str, out: &Path) -> Result<u16, String> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "600", "-w", "%{http_code}", "-o"])
        .arg(out)
        .arg(url);
    let code = run_tool(&mut cmd, Duration::from_secs(620))?;
    code.trim()
        .parse()
        .map_err(|_| format!("curl printed {code:?} for {url}"))
}

fn text(env: &TestEnv, url: &str) -> String {
    let out = env.path(&format!("get-{}.txt", net::free_port()));
    match fetch(url, &out) {
        Ok(200) => fs::read_to_string(&out).unwrap_or_default(),
        other => env.fail(&format!("GET {url}: {other:?}")),
    }
}

/// VmHWM (peak resident set) of process `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// A 60 s H.264 + AAC MP4 with its index at the end (copy-mode HLS input).
fn make_movie(env: &TestEnv, out: &Path) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
        ])
        .args(["-b:v", "1500k", "-c:a", "aac", "-shortest"])
        .arg(out);
    run_tool(&mut cmd, Duration::from_secs(300)).unwrap_or_else(|e| env.fail(&e));
}

#[test]
fn pi_zero_2w_streams_two_files_and_hls_in_128_mib() {
    let cg = match MemCgroup::create("rill-board-budget", LIMIT) {
        Ok(cg) => cg,
        Err(why) => {
            eprintln!("SKIPPED pi_zero_2w budget test: {why}");
            return;
        }
    };
    let env = TestEnv::new("board-budget");
    let content = env.mkdir("content/box");
    data::write_random_file(&content.join("big.bin"), 48 * MIB + 4321, 77);
    make_movie(&env, &content.join("movie.mp4"));
    let t = make_torrent(&env, &content, 18, "http://127.0.0.1:1/announce");
    let seeder = Aria2::seed(
        &env,
        "aria2c",
        &t,
        &env.root().join("content"),
        &SeedOpts::default(),
    );

    let data_dir = env.mkdir("rill");
    let config = env.path("rill.toml");
    let ip = net::loopback_ip();
    fs::write(
        &config,
        format!(
            "storage = \"stream\"\nstream_cache_mib = 64\ndlna = false\n\
             peer_listen = \"{ip}:0\"\n"
        ),
    )
    .unwrap();
    let args: Vec<String> = [
        "serve",
        "--board",
        "pi-zero-2w",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data_dir.to_str().unwrap(),
        "--listen",
        &format!("{ip}:0"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let log = env.path("rill.log");
    env.register_log("rill", &log);
    let cmd = cg.command(support::rill::bin(), &args);
    let (child, addr) =
        support::rill::start_serve(cmd, &log, WAIT).unwrap_or_else(|e| env.fail(&e));
    let rill = Served(child);
    let pid = rill.0.id();
    let base = format!("http://{addr}");

    let magnet = t.magnet(&[seeder.peer_addr()]);
    support::curl(&["--data-binary", &magnet, &format!("{base}/api/torrents")])
        .unwrap_or_else(|e| env.fail(&e));
    let id = t.hex();
    let info_url = format!("{base}/api/torrents/{id}");
    env.wait_until("the torrent's metadata", WAIT, || {
        Ok(text(&env, &info_url).contains("\"index\":1"))
    });
    let info = text(&env, &info_url);
    // Files are listed in torrent order: big.bin, then movie.mp4.
    let (big, movie) = if info.find("big.bin") < info.find("movie.mp4") {
        (0, 1)
    } else {
        (1, 0)
    };

    // Two streams and the HLS job at the same time.
    let streams: Vec<_> = [(big, "big.bin"), (movie, "movie.mp4")]
        .into_iter()
        .map(|(n, name)| {
            let url = format!("{base}/stream/{id}/{n}");
            let out = env.path(&format!("out/{name}"));
            std::thread::spawn(move || (name, fetch(&url, &out), out))
        })
        .collect();

    let hls = format!("{base}/hls/{id}/{movie}/");
    let master = text(&env, &format!("{hls}index.m3u8"));
    let variant = master
        .lines()
        .find(|l| !l.starts_with('#') && l.ends_with(".m3u8"))
        .unwrap_or_else(|| env.fail(&format!("no variant in {master}")))
        .to_string();
    assert!(
        variant.contains("v0c"),
        "not a video copy variant: {variant}"
    );
    let playlist = text(&env, &format!("{hls}{variant}"));
    let mut seconds = 0.0;
    let mut segments = 0;
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            seconds += d
                .trim_end_matches(',')
                .split(',')
                .next()
                .unwrap()
                .parse::<f64>()
                .unwrap();
        } else if !line.starts_with('#') && !line.is_empty() {
            let out = env.path(&format!("segs/{segments}"));
            let status = fetch(&format!("{hls}{line}"), &out).unwrap_or_else(|e| env.fail(&e));
            let len = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            assert!(
                status == 200 && len > 0,
                "segment {line}: {status}, {len} bytes"
            );
            segments += 1;
        }
    }
    assert!((seconds - 60.0).abs() < 1.0, "playlist covers {seconds} s");
    assert!(segments >= 5, "{playlist}");

    for s in streams {
        let (name, status, out) = s.join().expect("stream thread");
        assert_eq!(status, Ok(200), "stream of {name}");
        data::diff_trees(&content.join(name), &out)
            .unwrap_or_else(|e| env.fail(&format!("{name} streamed wrong: {e}")));
    }

    let rss = peak_rss(pid);
    let kills = cg.oom_kills();
    let usage = cg.max_usage();
    eprintln!(
        "pi-zero-2w in {} MiB: rill peak RSS {:.1} MiB, cgroup peak {:.1} MiB \
         (with page cache), {segments} HLS segments, oom kills {kills}",
        LIMIT / MIB,
        rss as f64 / MIB as f64,
        usage as f64 / MIB as f64
    );
    assert_eq!(kills, 0, "the OOM killer ran in the 128 MiB cgroup");
    let alive = fs::metadata(format!("/proc/{pid}")).is_ok();
    assert!(alive, "rill is gone");
    assert!(rss > 0, "no VmHWM for pid {pid}");
    assert!(
        rss < MAX_RSS,
        "rill peak RSS {rss} bytes, over the {MAX_RSS} budget"
    );
    assert!(!support::tail_lines(&log, 200).contains("panicked"));
    drop(rill);
    support::rill::remove_ram_segment_dir(&log);
    drop(seeder);
}
