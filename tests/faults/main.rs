//! Fault tests: `rill serve` as a real process under the faults an appliance
//! meets, fed by real aria2c seeders (and opentracker), media made by ffmpeg.
//!
//! - `disk_full` (`disk.rs`): the data directory on a 32 MiB tmpfs the test
//!   mounts, a 48 MiB torrent: the torrent reports a clear `error` in
//!   `/api/torrents` and the log says why; every piece the resume file
//!   vouches for verifies; after `mount -o remount,size=...` the download
//!   completes byte-identical.
//! - `kill9_cycles` (`kill9.rs`): 20 cycles of start → `kill -9` after a
//!   seeded random delay (the seed is printed; `RILL_FAULT_SEED` repeats a
//!   run) during a download and during HLS jobs: the verified-piece count
//!   never goes down, every piece the resume file vouches for verifies,
//!   both torrents stay listed, the files end byte-identical.
//! - `load_rss_bounded` (`load.rs`): 16 stream clients reading random
//!   ranges plus 100 playlist requests per second for 20 s
//!   (`RILL_FAULT_LOAD_SECS=60` for the full minute): 0 errors;
//!   peak RSS (VmHWM) grows by at most 64 MiB.
//! - `slow_disk` (`slow.rs`): the data directory on a loop-mounted ext4
//!   throttled to 2 MB/s (blkio cgroup): `/stream` of a 32 MiB torrent
//!   ends byte-identical before the disk has three quarters of it,
//!   `/api/torrents` answers within a second meanwhile, the file then
//!   completes on disk.
//!
//! This file holds the harness they share. Needs root (mount), aria2c,
//! opentracker, mktorrent, ffmpeg, ffprobe.

use rill_testkit as support;

mod disk;
mod kill9;
mod load;
mod slow;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use rill::codec::json::{self, Value};
use support::request::{request, Response};
use support::{run_tool, TestEnv};

/// A running `rill serve`; killed (SIGKILL) and reaped on drop.
pub struct Serve {
    child: Child,
    pub addr: SocketAddr,
}

impl Serve {
    /// Start `rill serve --data DATA` on `listen` (`IP:0` for any port),
    /// log to `logs/<label>.log`.
    pub fn start(env: &TestEnv, label: &str, data: &Path, listen: &str) -> Serve {
        let ip = listen.split(':').next().unwrap_or("127.0.0.1");
        let mut cmd = Command::new(support::rill::bin());
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", listen, "--peer-listen", &format!("{ip}:0")])
            .args(["--board", "generic-x86_64"])
            .env("RILL_LOG", "debug");
        let log = env.path(&format!("logs/{label}.log"));
        env.register_log(label, &log);
        match support::rill::start_serve(cmd, &log, Duration::from_secs(60)) {
            Ok((child, addr)) => Serve { child, addr },
            Err(e) => env.fail(&format!("rill serve did not start: {e}")),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fail if the process has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Err(format!("rill serve exited unexpectedly ({st})")),
            _ => Ok(()),
        }
    }

    /// `kill -9` and reap.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, "", b"")
    }

    /// `GET /api/torrents/ID` as JSON (fails the test on anything but 200).
    pub fn torrent(&self, env: &TestEnv, id: &str) -> Value {
        let r = self.get(&format!("/api/torrents/{id}"));
        if r.status != 200 {
            env.fail(&format!(
                "GET /api/torrents/{id}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        parse_json(env, &r.body)
    }

    /// The ids `GET /api/torrents` lists.
    pub fn ids(&self, env: &TestEnv) -> Vec<String> {
        let r = self.get("/api/torrents");
        if r.status != 200 {
            env.fail(&format!("GET /api/torrents: {}", r.status));
        }
        let v = parse_json(env, &r.body);
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("id").and_then(|i| i.as_str()).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Add a `.torrent` file (`POST /api/torrents`).
    pub fn add(&self, env: &TestEnv, torrent: &Path) {
        let body = std::fs::read(torrent).unwrap_or_else(|e| env.fail(&format!("read: {e}")));
        let r = request(
            self.addr,
            "POST",
            "/api/torrents",
            "Content-Type: application/x-bittorrent\r\n",
            &body,
        );
        if r.status != 201 && r.status != 200 {
            env.fail(&format!(
                "add {}: {} {}",
                torrent.display(),
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
    }

    /// Peak resident set size (VmHWM) in KiB.
    pub fn vm_hwm_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn parse_json(env: &TestEnv, body: &[u8]) -> Value {
    json::parse(body).unwrap_or_else(|e| {
        env.fail(&format!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        ))
    })
}

pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(|s| s.as_str()).unwrap_or("")
}

pub fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(|n| n.as_u64()).unwrap_or(0)
}

/// A `/proc/PID/status` value in KiB (0 if unreadable).
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The verified bitfield of a resume file (format in src/store/resume.rs:
/// magic 8, version 4, info hash 20, pieces 4, files 4, 16 per file, then
/// the bitfield and a SHA-1 of everything before it). `None` if there is
/// no file; a torn or garbled file fails the test (the write is atomic).
pub fn resume_have(env: &TestEnv, data: &Path, id: &str) -> Option<Vec<bool>> {
    let path = data.join("resume").join(format!("{id}.resume"));
    let b = std::fs::read(&path).ok()?;
    let bad = |why: &str| -> ! { env.fail(&format!("{}: {why}", path.display())) };
    if b.len() < 40 + 20 || &b[..8] != b"RILLRSM\n" {
        bad("not a resume file");
    }
    let be = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
    let (pieces, files) = (be(32), be(36));
    let bits = 40 + 16 * files;
    let end = bits + pieces.div_ceil(8);
    if b.len() != end + 20 {
        bad("wrong length");
    }
    if sha1_smol::Sha1::from(&b[..end]).digest().bytes() != b[end..] {
        bad("checksum does not match");
    }
    Some(
        (0..pieces)
            .map(|p| b[bits + p / 8] & (0x80 >> (p % 8)) != 0)
            .collect(),
    )
}

/// Check that every piece `have` marks verifies against the .torrent's
/// hashes in the single-file torrent's `data_file`; the count of them.
pub fn verify_claimed(env: &TestEnv, torrent: &Path, data_file: &Path, have: &[bool]) -> u64 {
    let bytes = std::fs::read(torrent).unwrap_or_else(|e| env.fail(&format!("read: {e}")));
    let meta = rill::torrent::Metainfo::from_bytes(&bytes)
        .unwrap_or_else(|e| env.fail(&format!("parse .torrent: {e:?}")));
    let info = &meta.info;
    if have.len() != info.piece_hashes.len() {
        env.fail("resume file has the wrong piece count");
    }
    let data = std::fs::read(data_file).unwrap_or_default();
    let pl = info.piece_length as usize;
    let mut n = 0;
    for (p, _) in have.iter().enumerate().filter(|(_, h)| **h) {
        let start = p * pl;
        let end = (start + pl).min(info.total_length as usize);
        let ok = data
            .get(start..end)
            .is_some_and(|s| sha1_smol::Sha1::from(s).digest().bytes() == info.piece_hashes[p]);
        if !ok {
            env.fail(&format!(
                "piece {p} is marked verified in the resume file but its bytes in {} do not match the .torrent",
                data_file.display()
            ));
        }
        n += 1;
    }
    n
}

/// Run ffmpeg with `args` writing `out` (bounded).
pub fn ffmpeg(env: &TestEnv, out: &Path, args: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]).args(args).arg(out);
    run_tool(&mut cmd, Duration::from_secs(300)).unwrap_or_else(|e| env.fail(&e));
}

/// A `secs` long 320x240 12 fps H.264 + AAC MP4 (index at the end, as
/// cameras write), a keyframe every 2 s.
pub fn make_mp4(env: &TestEnv, out: &Path, secs: u32) {
    let video = format!("testsrc2=size=320x240:rate=12:duration={secs}");
    let audio = format!("sine=frequency=440:sample_rate=48000:duration={secs}");
    ffmpeg(
        env,
        out,
        &[
            "-f",
            "lavfi",
            "-i",
            &video,
            "-f",
            "lavfi",
            "-i",
            &audio,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "24",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ],
    );
}

/// A tmpfs of `size_mib` mounted at `dir`, unmounted (lazily) on drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(env: &TestEnv, dir: &Path, size_mib: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| env.fail(&format!("mkdir: {e}")));
        let mut cmd = Command::new("mount");
        cmd.args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir);
        run_tool(&mut cmd, Duration::from_secs(10))
            .unwrap_or_else(|e| env.fail(&format!("mount tmpfs (needs root): {e}")));
        Tmpfs(dir.to_path_buf())
    }

    pub fn resize(&self, env: &TestEnv, size_mib: u64) {
        let mut cmd = Command::new("mount");
        cmd.args(["-o", &format!("remount,size={size_mib}m")])
            .arg(&self.0);
        run_tool(&mut cmd, Duration::from_secs(10))
            .unwrap_or_else(|e| env.fail(&format!("remount tmpfs: {e}")));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A splitmix64 generator: seeded, printed, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// One GET with `Connection: close` and 30 s timeouts: status and body,
/// or what went wrong (never panics: every failure is an error counted).
pub fn try_get(addr: SocketAddr, path: &str, head: &str) -> Result<(u16, Vec<u8>), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .and_then(|_| s.set_write_timeout(Some(Duration::from_secs(30))))
        .map_err(|e| format!("timeouts: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{head}\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete head")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, raw[split + 4..].to_vec()))
}
