//! Fixtures for the streaming tests: a `rill serve` child with its pid (for
//! RSS), an aria2c seeder (optionally rate-limited), `mktorrent`, a small
//! HTTP/1.1 client and `/metrics` reading. Loopback addresses and the temp
//! dir come from `tests/support` (`net.rs`, `tempdir.rs`). Every process is
//! killed on drop; every wait is bounded.

use std::fs;
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rill::codec::json::{self, Value};
use rill::torrent::Metainfo;

use crate::net;
use rill_testkit::data::xorshift_bytes;
pub use rill_testkit::proc::Guard;
use rill_testkit::rill::{remove_ram_segment_dir, start_serve};
use rill_testkit::tail_lines;

/// Bound for a client, a torrent or a stream to get ready.
pub const WAIT: Duration = Duration::from_secs(90);

/// Deterministic pseudo-random bytes (xorshift, the seed spread first).
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    xorshift_bytes(len, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// `mktorrent` of `target` into `out` with 2^`piece_log2` byte pieces; the
/// announce URL points nowhere (peers come from the magnet's `x.pe`).
pub fn mktorrent(target: &Path, out: &Path, piece_log2: u32) -> Metainfo {
    let bytes = rill_testkit::torrent::mktorrent(
        target,
        out,
        piece_log2,
        Some("http://127.0.0.1:9/announce"),
    );
    Metainfo::from_bytes(&bytes).expect("parses")
}

/// An aria2c seeding the torrent `file` from `dir`.
pub struct Seeder {
    _child: Guard,
    pub addr: SocketAddrV4,
}

impl Seeder {
    /// `max_upload`: aria2c's `--max-upload-limit` (e.g. `"1M"`), if any.
    pub fn start(torrent: &Path, dir: &Path, max_upload: Option<&str>, log: &Path) -> Seeder {
        let addr = net::loopback_addr();
        let mut cmd = rill_testkit::aria2::base_command(addr, dir);
        cmd.args(["--seed-ratio=0", "-V"]);
        if let Some(limit) = max_upload {
            cmd.arg(format!("--max-upload-limit={limit}"));
        }
        let child = cmd
            .arg(torrent)
            .stdin(Stdio::null())
            .stdout(Stdio::from(fs::File::create(log).expect("log")))
            .stderr(Stdio::null())
            .spawn()
            .expect("aria2c is installed");
        let guard = Guard(child);
        let start = Instant::now();
        // Bounded: until aria2c listens (after checking its data) or WAIT.
        while TcpStream::connect_timeout(&addr.into(), Duration::from_secs(1)).is_err() {
            assert!(start.elapsed() < WAIT, "aria2c never listened on {addr}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Seeder {
            _child: guard,
            addr,
        }
    }
}

/// A running `rill serve`.
pub struct Serve {
    pub child: Guard,
    pub addr: SocketAddr,
    pub log: PathBuf,
    /// `user:password` for Basic auth, if the config sets one.
    pub creds: Option<String>,
}

impl Drop for Serve {
    /// Stop rill, then remove its RAM segment directory (storage mode
    /// `stream`), if it made one.
    fn drop(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        remove_ram_segment_dir(&self.log);
    }
}

impl Serve {
    /// Start `rill serve` on a fresh loopback IP with the config `extra`
    /// (TOML lines) added to listen and data dir (board `generic-x86_64`
    /// unless `extra` names one).
    pub fn start(root: &Path, label: &str, extra: &str) -> Serve {
        let ip = net::loopback_ip();
        let data = root.join(format!("{label}-data"));
        let config = root.join(format!("{label}.toml"));
        let log = root.join(format!("{label}.log"));
        fs::write(
            &config,
            format!(
                "listen = \"{ip}:0\"\npeer_listen = \"{ip}:0\"\ndata_dir = \"{}\"\n{}{extra}\n",
                data.display(),
                if extra.contains("board = ") {
                    ""
                } else {
                    "board = \"generic-x86_64\"\n"
                }
            ),
        )
        .expect("config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RILL_LOG", "debug");
        let (child, addr) = start_serve(cmd, &log, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("rill serve did not start: {e}; log:\n{}", tail(&log)));
        let child = Guard(child);
        let creds = extra
            .lines()
            .find_map(|l| l.strip_prefix("password = \""))
            .map(|p| format!("rill:{}", p.trim_end_matches('"')));
        Serve {
            child,
            addr,
            log,
            creds,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The process's resident set (`VmRSS` of /proc/PID/status), KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// A request with the configured credentials.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> Resp {
        let auth = match &self.creds {
            Some(c) => format!(
                "Authorization: Basic {}\r\n",
                rill::codec::base64::encode(c.as_bytes())
            ),
            None => String::new(),
        };
        request(self.addr, method, path, &auth, body)
    }

    /// Add a magnet (JSON `uri`); the torrent's id.
    pub fn add_magnet(&self, magnet: &str) -> String {
        let body = format!("{{\"uri\": \"{magnet}\"}}");
        let r = self.request("POST", "/api/torrents", body.as_bytes());
        assert!(
            r.status == 201 || r.status == 202,
            "add: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        r.json()
            .get("id")
            .and_then(Value::as_str)
            .expect("id")
            .to_string()
    }

    /// The torrent object once its files are known (metadata arrived).
    pub fn wait_files(&self, id: &str) -> Value {
        let start = Instant::now();
        // Bounded by WAIT.
        loop {
            let v = self
                .request("GET", &format!("/api/torrents/{id}"), b"")
                .json();
            let n = v
                .get("files")
                .and_then(Value::as_array)
                .map_or(0, |f| f.len());
            let ready = v.get("state").and_then(Value::as_str) != Some("checking");
            if n > 0 && ready {
                return v;
            }
            assert!(
                start.elapsed() < WAIT,
                "no files for {id}; log:\n{}",
                tail(&self.log)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// One sample of `/metrics` (without labels).
    pub fn metric(&self, name: &str) -> u64 {
        let page = self.request("GET", "/metrics", b"");
        assert_eq!(page.status, 200);
        let text = String::from_utf8_lossy(&page.body).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
    }
}

/// The magnet of `meta` pointing at `peer`.
pub fn magnet(meta: &Metainfo, peer: SocketAddrV4) -> String {
    format!(
        "magnet:?xt=urn:btih:{}&x.pe={peer}",
        meta.info_hash.to_hex()
    )
}

/// The last 60 lines of a log.
pub fn tail(p: &Path) -> String {
    tail_lines(p, 60)
}

pub use rill_testkit::request::{request, Response as Resp};

/// The JSON of an answer's body.
pub trait JsonBody {
    fn json(&self) -> Value;
}

impl JsonBody for Resp {
    fn json(&self) -> Value {
        json::parse(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Bytes of the regular files under `dir` (recursively); 0 if absent.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(list) = fs::read_dir(dir) else {
        return 0;
    };
    list.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
