//! Helpers for `tests/serve_api.rs` and `tests/web_ui.rs`: a minimal HTTP
//! client (temp dirs, process guards, data and ports come from the shared
//! testkit, re-exported here), and fixtures (opentracker, a one-file HTTP server,
//! a running `rill serve`). Every wait is bounded; processes die on drop.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::codec::json::{self, Value};
use rill::torrent::{InfoHash, Metainfo};
pub use rill_testkit::data::xorshift_bytes as data;
pub use rill_testkit::net::free_port_on as free_port;
pub use rill_testkit::proc::Guard;
use rill_testkit::rill::start_serve;
pub use rill_testkit::TempDir;

pub const WAIT: Duration = Duration::from_secs(90);

/// `mktorrent` (16 KiB pieces) of `target` into `out`.
pub fn mktorrent(target: &Path, out: &Path, announce: &str) -> Metainfo {
    let bytes = rill_testkit::torrent::mktorrent(target, out, 16, Some(announce));
    Metainfo::from_bytes(&bytes).expect("parse torrent")
}

// ---- a minimal HTTP client ----------------------------------------------

pub use rill_testkit::request::{request, Response as Resp};

/// The JSON of an answer's body, and its `error` message.
pub trait JsonBody {
    fn json(&self) -> Value;
    fn error(&self) -> String;
}

impl JsonBody for Resp {
    fn json(&self) -> Value {
        json::parse(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn error(&self) -> String {
        self.json()
            .get("error")
            .and_then(|e| e.as_str())
            .expect("an error message")
            .to_string()
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, "", b"")
}

// ---- fixtures ------------------------------------------------------------

/// A running opentracker on `ip:port` tracking only the given hashes.
/// Each test gives its tracker an address of its own, so two trackers of
/// concurrent tests never meet on one port.
pub struct Tracker {
    _child: Guard,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Tracker {
    pub fn start(ip: &str, port: u16, hashes: &[InfoHash]) -> Tracker {
        let dir = TempDir::new("tracker");
        let list: String = hashes.iter().map(|h| h.to_hex() + "\n").collect();
        fs::write(dir.path().join("whitelist"), list).unwrap();
        let child = Command::new("opentracker")
            .args(["-i", ip, "-p", &port.to_string(), "-w", "/whitelist", "-d"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("opentracker is installed");
        let mut t = Tracker {
            _child: Guard(child),
            addr: format!("{ip}:{port}").parse().unwrap(),
            _dir: dir,
        };
        let start = Instant::now();
        while TcpStream::connect_timeout(&t.addr, Duration::from_millis(200)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "opentracker did not start on {}",
                t.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Something answering is not proof that it is ours: an opentracker
        // that could not bind exits at once.
        std::thread::sleep(Duration::from_millis(300));
        if let Ok(Some(st)) = t._child.0.try_wait() {
            panic!("opentracker on {} exited ({st}): port taken?", t.addr);
        }
        t
    }

    /// Seeders the tracker knows for `h` (from its scrape).
    pub fn seeders(&self, h: InfoHash) -> u64 {
        let q: String = h.0.iter().map(|b| format!("%{b:02x}")).collect();
        let r = get(self.addr, &format!("/scrape?info_hash={q}"));
        let body = String::from_utf8_lossy(&r.body).to_string();
        body.split("8:completei")
            .nth(1)
            .and_then(|s| s.split('e').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// A tiny HTTP server answering every request with one fixed body.
pub struct FileServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl FileServer {
    pub fn start(ip: &str, content_type: &'static str, body: Vec<u8>) -> FileServer {
        let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(head.as_bytes());
                let _ = c.write_all(&body);
            }
        });
        FileServer { addr, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A running `rill serve`, its HTTP address, and its log file.
pub struct Serve {
    child: Guard,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Serve {
    /// `rill serve` on `dir/data` with `config` (TOML) written to
    /// `dir/rill.toml` and passed with `--config`.
    pub fn with_config(dir: &Path, ip: &str, config: &str) -> Serve {
        let file = dir.join("rill.toml");
        fs::write(&file, config).unwrap();
        let file = file.to_str().expect("temp paths are UTF-8");
        Serve::start(&dir.join("data"), ip, &["--config", file])
    }

    pub fn start(data: &Path, ip: &str, extra: &[&str]) -> Serve {
        let n = fs::read_dir(data.parent().expect("parent"))
            .map(|d| d.count())
            .unwrap_or(0);
        let log = data.with_extension(format!("log{n}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .args([
                "--listen",
                &format!("{ip}:0"),
                "--peer-listen",
                &format!("{ip}:0"),
            ])
            .args(extra)
            .env("RILL_LOG", "debug");
        let (child, addr) = start_serve(cmd, &log, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("rill serve did not start: {e}; log:\n{}", read_log(&log)));
        Serve {
            child: Guard(child),
            addr,
            log,
        }
    }

    /// SIGTERM, then wait (bounded) for exit 0.
    pub fn stop_cleanly(mut self) {
        let pid = self.child.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let start = Instant::now();
        let status = loop {
            if let Some(st) = self.child.0.try_wait().unwrap() {
                break st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status}; log:\n{}", read_log(&self.log));
    }

    pub fn kill9(mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

pub fn read_log(p: &Path) -> String {
    let s = fs::read_to_string(p).unwrap_or_default();
    let tail: Vec<&str> = s.lines().rev().take(60).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// GET a torrent until `done` holds for it; panic after WAIT.
pub fn wait_torrent(s: &Serve, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let r = get(s.addr, &format!("/api/torrents/{id}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_ne!(
            v.get("state").and_then(|s| s.as_str()),
            Some("error"),
            "{v:?}"
        );
        if done(&v) {
            return v;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}: {v:?}\nlog:\n{}",
            read_log(&s.log)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn is_complete(v: &Value) -> bool {
    matches!(
        v.get("state").and_then(|s| s.as_str()),
        Some("seeding") | Some("complete")
    )
}

pub fn num(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(|n| n.as_u64())
        .unwrap_or_else(|| panic!("{key} in {v:?}"))
}

pub fn list_ids(s: &Serve) -> Vec<String> {
    let r = get(s.addr, "/api/torrents");
    assert_eq!(r.status, 200);
    let mut ids: Vec<String> = r
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| t.get("id").and_then(|i| i.as_str()).unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

pub fn tiny_torrent(name: &str) -> Vec<u8> {
    let mut t = format!(
        "d4:infod6:lengthi16384e4:name{}:{name}12:piece lengthi16384e6:pieces20:",
        name.len()
    )
    .into_bytes();
    t.extend_from_slice(&[7u8; 20]);
    t.extend_from_slice(b"ee");
    t
}
