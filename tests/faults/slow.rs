//! Slow disk: `rill serve` with its data directory on a loop-mounted ext4
//! whose writes the kernel throttles to 2 MB/s (the root blkio cgroup's
//! `blkio.throttle.write_bps_device` for that loop device only: a slow SD
//! card or USB stick), and a 32 MiB torrent from an unthrottled aria2c
//! seeder. A viewer must not wait for the card:
//!
//! - `/stream` delivers the whole file byte-identical while the disk has
//!   taken less than three quarters of it (so the bytes came from RAM:
//!   verified pieces waiting in the write queue or the page cache);
//! - `/api/torrents` keeps answering within a second meanwhile;
//! - the torrent then completes on disk, byte-identical.
//!
//! Needs root (losetup, mount, the blkio cgroup), e2fsprogs, aria2c,
//! opentracker, mktorrent. Without root it says so and does not run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::data::{diff_trees, write_random_file};
use crate::support::proc::is_root;
use crate::support::torrent::make_torrent;
use crate::support::tracker::Opentracker;
use crate::support::{net, run_tool, TestEnv, WAIT};
use crate::{str_of, u64_of, Serve};

const THROTTLE: &str = "/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device";
const DISK_BPS: u64 = 2_000_000;
const FILE_BYTES: u64 = 32 << 20;

/// An ext4 image on a loop device mounted at `dir`, its writes throttled;
/// the rule removed, the file system unmounted and the device freed on
/// drop.
struct SlowDisk {
    dir: PathBuf,
    dev: String,
    major_minor: String,
}

impl SlowDisk {
    fn mount(env: &TestEnv, dir: &Path, bytes_per_sec: u64) -> SlowDisk {
        let tool = |args: &[&str]| {
            let mut cmd = Command::new(args[0]);
            cmd.args(&args[1..]);
            run_tool(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| env.fail(&e))
        };
        let img = env.path("slow.img");
        let f = std::fs::File::create(&img).unwrap_or_else(|e| env.fail(&format!("image: {e}")));
        f.set_len(256 << 20)
            .unwrap_or_else(|e| env.fail(&format!("size the image: {e}")));
        drop(f);
        let dev = tool(&["losetup", "-f", "--show", &img.to_string_lossy()])
            .trim()
            .to_string();
        let name = dev.trim_start_matches("/dev/");
        let major_minor = std::fs::read_to_string(format!("/sys/block/{name}/dev"))
            .unwrap_or_else(|e| env.fail(&format!("{dev}: no major:minor: {e}")))
            .trim()
            .to_string();
        let disk = SlowDisk {
            dir: dir.to_path_buf(),
            dev: dev.clone(),
            major_minor,
        };
        tool(&["mkfs.ext4", "-q", "-F", &dev]);
        std::fs::create_dir_all(dir).unwrap_or_else(|e| env.fail(&format!("mkdir: {e}")));
        tool(&["mount", &dev, &dir.to_string_lossy()]);
        std::fs::write(THROTTLE, format!("{} {bytes_per_sec}", disk.major_minor))
            .unwrap_or_else(|e| env.fail(&format!("{THROTTLE}: {e}")));
        disk
    }

    /// Bytes written to the device so far (its stat's write sectors).
    fn written(&self) -> u64 {
        let name = self.dev.trim_start_matches("/dev/");
        std::fs::read_to_string(format!("/sys/block/{name}/stat"))
            .ok()
            .and_then(|s| s.split_whitespace().nth(6).and_then(|n| n.parse().ok()))
            .map_or(0, |sectors: u64| sectors * 512)
    }
}

impl Drop for SlowDisk {
    fn drop(&mut self) {
        let _ = std::fs::write(THROTTLE, format!("{} 0", self.major_minor));
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

#[test]
fn slow_disk() {
    if !is_root() || !Path::new(THROTTLE).exists() {
        eprintln!("slow_disk: needs root and the blkio cgroup: not run");
        return;
    }
    let env = TestEnv::new("faults-slow");
    let src = env.mkdir("seed");
    let file = src.join("film.bin");
    write_random_file(&file, FILE_BYTES, 11);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &file, 18, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let _seeder = Aria2::seed(&env, "seeder", &t, &src, &SeedOpts::default());
    tracker.wait_seeders(&env, &t, 1);

    let data = env.root().join("data");
    let disk = SlowDisk::mount(&env, &data, DISK_BPS);
    let before = disk.written();
    let s = Arc::new(Serve::start(
        &env,
        "rill",
        &data,
        &format!("{}:0", net::loopback_ip()),
    ));
    s.add(&env, &t.file);
    let id = t.hex();

    // While the stream runs, the API is asked every 200 ms.
    let streaming = Arc::new(AtomicBool::new(true));
    let slowest_ms = Arc::new(AtomicU64::new(0));
    let poller = {
        let (s, streaming, slowest_ms) = (s.clone(), streaming.clone(), slowest_ms.clone());
        std::thread::spawn(move || {
            let mut asked = 0u32;
            while streaming.load(Ordering::SeqCst) && asked < 1000 {
                let t0 = Instant::now();
                let r = s.get("/api/torrents");
                let ms = t0.elapsed().as_millis() as u64;
                if r.status == 200 {
                    slowest_ms.fetch_max(ms, Ordering::SeqCst);
                } else {
                    slowest_ms.store(u64::MAX, Ordering::SeqCst);
                }
                asked += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            asked
        })
    };
    let started = Instant::now();
    let r = s.get(&format!("/stream/{id}/0"));
    let streamed_in = started.elapsed();
    let on_disk_then = disk.written().saturating_sub(before);
    streaming.store(false, Ordering::SeqCst);
    let asked = poller.join().unwrap_or(0);
    let want = std::fs::read(&file).unwrap_or_else(|e| env.fail(&format!("read: {e}")));
    if r.status != 200 || r.body != want {
        env.fail(&format!(
            "/stream answered {} with {} bytes; want 200 and the file's {} bytes",
            r.status,
            r.body.len(),
            want.len()
        ));
    }
    eprintln!(
        "slow_disk: streamed {} MiB in {:.1} s; the disk had taken {:.1} MiB then (throttled to {} MB/s); /api/torrents slowest {} ms over {asked} requests",
        FILE_BYTES >> 20,
        streamed_in.as_secs_f64(),
        on_disk_then as f64 / (1 << 20) as f64,
        DISK_BPS / 1_000_000,
        slowest_ms.load(Ordering::SeqCst)
    );
    if on_disk_then >= FILE_BYTES * 3 / 4 {
        env.fail(&format!(
            "the stream ended only after {on_disk_then} bytes had reached the throttled disk: it waited for the card instead of serving verified pieces from RAM"
        ));
    }
    let slowest = slowest_ms.load(Ordering::SeqCst);
    if asked == 0 || slowest > 1000 {
        env.fail(&format!(
            "/api/torrents was slow or failing while the disk lagged: slowest {slowest} ms over {asked} requests"
        ));
    }

    // The disk catches up: complete and byte-identical on it.
    env.wait_until("the torrent to be complete on the slow disk", WAIT, || {
        let v = s.torrent(&env, &id);
        Ok(u64_of(&v, "pieces_done") == t.piece_count()
            && matches!(str_of(&v, "state"), "seeding" | "complete"))
    });
    let data_file = data.join("downloads").join(&t.name);
    // The last writes may still be in the page cache: the comparison reads
    // through it, which is what a reader sees.
    if let Err(e) = diff_trees(&file, &data_file) {
        env.fail(&e);
    }
    drop(s);
    std::thread::sleep(Duration::from_millis(100));
    drop(disk);
}
