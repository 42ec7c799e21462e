//! Shared harness for integration tests that run rill against real BitTorrent
//! programs (opentracker, transmission-daemon, aria2c, qbittorrent-nox).
//!
//! Why a harness: every test builds its own data, torrent and swarm on its own
//! loopback addresses, so tests run in parallel (threads of one test binary
//! and several test binaries at once) without seeing each other's peers.
//! Everything a test starts is owned by a guard that kills it on drop, every
//! wait is bounded, and a failed wait panics with the tails of all logs the
//! test produced, which is usually all one needs to see why.
//!
//! Pieces:
//! - [`TestEnv`]: one per test: a [`TempDir`], the list of log files, bounded
//!   waits that fail with those logs. Tests that keep their own fixtures
//!   still take [`TempDir`], [`proc::Guard`] and the helpers below from here:
//!   no test binary defines its own.
//! - [`net`]: unique 127.a.b.c addresses and free ports.
//! - [`data`]: deterministic file trees and in-memory bytes, corruption,
//!   byte-identical compare.
//! - [`torrent`]: `mktorrent`, info hash, magnet URIs.
//! - [`netns`]: network namespaces and veth LANs (root only).
//! - [`proc`]: child process guards (with output captured to files, or
//!   bare), and bounded runs of a command logged to a file.
//! - one module per real program, plus [`rill`] for the binary under test.
//!
//! `RILL_KEEP_TMP=1` keeps the temporary directories (data, configs, logs).

// A crate of its own (`rill-testkit`, see Cargo.toml here): test binaries
// say `use rill_testkit as support;`.

pub mod aria2;
pub mod data;
pub mod http;
pub mod net;
pub mod netns;
pub mod proc;
pub mod qbittorrent;
pub mod request;
pub mod rill;
pub mod tempdir;
pub mod torrent;
pub mod tracker;
pub mod transmission;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use tempdir::TempDir;

/// Default bound for anything a test waits for (a client starting, a
/// download finishing). Generous: the machine running CI may be busy.
pub const WAIT: Duration = Duration::from_secs(120);

/// How often bounded waits poll.
const POLL: Duration = Duration::from_millis(150);

/// Lines of each log shown when a test fails.
const TAIL_LINES: usize = 40;

/// One test's world: its temporary directory and the logs of what it started.
pub struct TestEnv {
    dir: TempDir,
    logs: RefCell<Vec<(String, PathBuf)>>,
}

impl TestEnv {
    /// A fresh environment; `name` goes into the directory name.
    pub fn new(name: &str) -> TestEnv {
        TestEnv {
            dir: TempDir::new(name),
            logs: RefCell::new(Vec::new()),
        }
    }

    /// The test's temporary directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the test's directory, with its parent directories made.
    pub fn path(&self, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        p
    }

    /// A new empty directory inside the test's directory.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        p
    }

    /// Remember a log file so failures show its tail.
    pub fn register_log(&self, label: &str, path: &Path) {
        self.logs
            .borrow_mut()
            .push((label.to_string(), path.to_path_buf()));
    }

    /// The last lines of every registered log, labelled.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for (label, path) in self.logs.borrow().iter() {
            let tail = tail_lines(path, TAIL_LINES);
            if tail.trim().is_empty() {
                continue;
            }
            out.push_str(&format!(
                "\n----- {label} ({}) -----\n{tail}",
                path.display()
            ));
        }
        out
    }

    /// Fail the test with `msg` and every log's tail.
    pub fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}\n(test dir {}){}",
            self.dir.path().display(),
            self.log_tails()
        )
    }

    /// Poll `check` until it returns `Ok(true)`, at most `timeout`.
    /// `Err(reason)` from `check` fails at once (e.g. a process died).
    pub fn wait_until<F>(&self, what: &str, timeout: Duration, mut check: F)
    where
        F: FnMut() -> Result<bool, String>,
    {
        let start = Instant::now();
        loop {
            match check() {
                Ok(true) => return,
                Ok(false) => {}
                Err(reason) => self.fail(&format!("while waiting for {what}: {reason}")),
            }
            if start.elapsed() >= timeout {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The last `n` lines of a text file (lossy UTF-8); empty if unreadable.
pub fn tail_lines(path: &Path, n: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    lines[from..].join("\n")
}

/// Run a short helper command (curl, transmission-remote) to completion with
/// a bounded time; returns stdout, or an error with its stderr.
pub fn run_tool(cmd: &mut Command, timeout: Duration) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {shown}: {e}"))?;
    let out = proc::wait_output(child, timeout).map_err(|e| format!("{shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `curl` with the given arguments, silent, failing on HTTP errors, 10 s cap.
pub fn curl(args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "--max-time", "10"]).args(args);
    run_tool(&mut cmd, Duration::from_secs(15))
}

/// The raw value of `"key":` in a flat JSON text (first occurrence): a number,
/// `true`/`false`, or a string without its quotes. Enough for the few fields
/// tests read from qBittorrent's and aria2's APIs without a JSON crate.
pub fn json_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat)? + pat.len();
    let rest = json[at..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        let end = s.find('"')?;
        return Some(&s[..end]);
    }
    let end = rest.find([',', '}', ']']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}
