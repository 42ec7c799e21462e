//! The front door of `rill serve` under hostile and careless clients, each
//! test against a real `rill serve` process on its own loopback address:
//!
//! - [`limits`]: fd exhaustion (`prlimit --nofile`), a 16 MB header flood,
//!   abandoned huge uploads, stalled streams next to API calls;
//! - [`adding`]: add-by-URL answers, the torrent cap, the password rate limit;
//! - [`owners`]: torrents with the same file names never share bytes;
//! - [`guards`]: foreign `Host` names and cross-site writes refused, while
//!   curl, mpv and same-origin browser requests keep working.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use rill_testkit::rill::{bin, start_serve};
use rill_testkit::{net, TestEnv};

mod adding;
mod guards;
mod limits;
mod owners;

/// A running `rill serve`, killed on drop.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
    /// The rill process (prlimit execs it, so this is also its pid).
    pub pid: u32,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `rill serve` on a fresh loopback address with the generic
/// profile, its data in `<test dir>/<label>`; `prefix` runs before it
/// (e.g. `prlimit --nofile=1024 --`); `config` is written as its config.
pub fn serve(env: &TestEnv, label: &str, prefix: &[&str], config: &str) -> Serve {
    let data = env.mkdir(label);
    let conf = data.join("rill.toml");
    std::fs::write(&conf, config).expect("write the config");
    let ip = net::loopback_ip();
    let peer = net::loopback_addr();
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    cmd.arg("serve")
        .arg("--config")
        .arg(&conf)
        .arg("--listen")
        .arg(format!("{ip}:0"))
        .arg("--data")
        .arg(data.join("data"))
        .arg("--board")
        .arg("generic-x86_64")
        .arg("--peer-listen")
        .arg(peer.to_string())
        .env("RILL_LOG", "info");
    let log = env.path(&format!("{label}.log"));
    env.register_log(label, &log);
    let (child, addr) = match start_serve(cmd, &log, Duration::from_secs(30)) {
        Ok(x) => x,
        Err(e) => env.fail(&format!("rill serve did not start: {e}")),
    };
    let pid = child.id();
    Serve { child, addr, pid }
}

/// Open file descriptors of `pid`.
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A `/proc/PID/status` field's number (`Threads`, `VmRSS` in kB).
pub fn status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The log of `label` so far.
pub fn log(env: &TestEnv, label: &str) -> String {
    std::fs::read_to_string(env.path(&format!("{label}.log"))).unwrap_or_default()
}

/// `mktorrent` of a random file of `len` bytes named `name` in `dir`
/// (created), announcing to a tracker that does not exist.
pub fn dead_torrent(
    env: &TestEnv,
    dir: &Path,
    name: &str,
    len: u64,
) -> rill_testkit::torrent::Torrent {
    std::fs::create_dir_all(dir).expect("mkdir");
    let file = dir.join(name);
    rill_testkit::data::write_random_file(&file, len, 7);
    rill_testkit::torrent::make_torrent(env, &file, 15, "http://127.0.0.1:9/announce")
}
