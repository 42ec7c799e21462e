//! The binary under test: `rill download SOURCE --out DIR --listen ADDR ...`.
//!
//! The contract these tests hold rill to (see DESIGN.md and the CLI docs):
//! - on completion stdout gets exactly
//!   `done: <name>: <D> bytes from peers, <R> bytes already on disk, <S> s`
//!   and rill exits 0 (with `--seed` it keeps seeding until killed);
//! - `--listen 127.a.b.c:PORT` also binds rill's outgoing sockets to that IP,
//!   so trackers and peers see it there;
//! - bad input exits 2 with one `rill: ` line on stderr; nothing ever panics.

use super::proc::{wait_output, Proc};
use super::{net, TestEnv, WAIT};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Path of the `rill` binary cargo built for these tests: `RILL_BIN` if
/// set, else `rill` beside the test binary's `deps/` directory (where
/// `cargo test` puts the package's binaries before running its tests).
pub fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("RILL_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        dir.join(format!("rill{}", std::env::consts::EXE_SUFFIX))
    })
}

/// Options of one `rill download` run.
#[derive(Clone, Debug, Default)]
pub struct RillOpts {
    /// `--peer` addresses.
    pub peers: Vec<SocketAddrV4>,
    /// `--seed`: keep seeding after completion.
    pub seed: bool,
    /// Reuse this `--listen` address (e.g. a restart); a fresh one otherwise.
    pub listen: Option<SocketAddrV4>,
    /// More flags, as they are (e.g. `--encryption off`).
    pub args: Vec<String>,
    /// Environment variables (e.g. `RILL_LOG=debug`).
    pub env: Vec<(String, String)>,
}

/// The parsed `done:` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    pub name: String,
    pub from_peers: u64,
    pub on_disk: u64,
    pub secs: f64,
}

/// Parse `done: <name>: <D> bytes from peers, <R> bytes already on disk, <S> s`.
pub fn parse_done(line: &str) -> Option<Done> {
    let rest = line.strip_prefix("done: ")?;
    let tail_at = rest.rfind(": ")?;
    let (name, tail) = (&rest[..tail_at], &rest[tail_at + 2..]);
    let (d, tail) = tail.split_once(" bytes from peers, ")?;
    let (r, tail) = tail.split_once(" bytes already on disk, ")?;
    let s = tail.strip_suffix(" s")?;
    Some(Done {
        name: name.to_string(),
        from_peers: d.parse().ok()?,
        on_disk: r.parse().ok()?,
        secs: s.parse().ok()?,
    })
}

/// A running `rill download`.
pub struct Rill {
    proc: Proc,
}

impl Rill {
    /// Start `rill download <source> --out <out> --listen <addr> ...`.
    pub fn download(env: &TestEnv, label: &str, source: &str, out: &Path, opts: &RillOpts) -> Rill {
        let listen = opts.listen.unwrap_or_else(net::loopback_addr);
        let mut cmd = Command::new(bin());
        cmd.arg("download")
            .arg(source)
            .arg("--out")
            .arg(out)
            .arg("--listen")
            .arg(listen.to_string());
        for p in &opts.peers {
            cmd.arg("--peer").arg(p.to_string());
        }
        if opts.seed {
            cmd.arg("--seed");
        }
        cmd.args(&opts.args);
        cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
        let proc = Proc::spawn(env, label, &mut cmd);
        Rill { proc }
    }

    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }

    pub fn stdout(&self) -> String {
        self.proc.stdout()
    }

    /// The `done:` line if rill printed one (fails on a malformed one).
    fn done_line(&self, env: &TestEnv) -> Option<Done> {
        let out = self.proc.stdout();
        let line = out.lines().find(|l| l.starts_with("done: "))?;
        match parse_done(line) {
            Some(d) => Some(d),
            None => env.fail(&format!(
                "malformed done line from {}: {line:?}",
                self.proc.label()
            )),
        }
    }

    /// Wait for the `done:` line (at most `timeout`); fails if rill exits
    /// first or panics.
    pub fn wait_done(&mut self, env: &TestEnv, timeout: Duration) -> Done {
        let what = format!("{} to print its done line", self.proc.label());
        let mut done = None;
        env.wait_until(&what, timeout, || {
            self.check_no_panic()?;
            done = self.done_line(env);
            if done.is_some() {
                return Ok(true);
            }
            match self.proc.try_exit() {
                Some(status) => Err(format!("rill exited with {status} before finishing")),
                None => Ok(false),
            }
        });
        done.expect("set by the wait above")
    }

    /// Wait for a download without `--seed` to finish: done line, exit 0.
    pub fn wait_finished(&mut self, env: &TestEnv) -> Done {
        let done = self.wait_done(env, WAIT);
        let status = self.proc.wait_exit(env, Duration::from_secs(30));
        if status.code() != Some(0) {
            env.fail(&format!(
                "{} printed its done line but exited with {status}",
                self.proc.label()
            ));
        }
        if let Err(e) = self.check_no_panic() {
            env.fail(&e);
        }
        done
    }

    /// Fail if rill's output mentions a panic.
    pub fn check_no_panic(&self) -> Result<(), String> {
        if self.proc.stderr().contains("panicked") || self.proc.stdout().contains("panicked") {
            return Err(format!("{} panicked", self.proc.label()));
        }
        Ok(())
    }

    /// Fail if rill is no longer running (it should be seeding).
    pub fn check_alive(&mut self) -> Result<(), String> {
        self.proc.check_alive()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        self.proc.kill();
    }
}

/// Run rill to completion with `args` (bounded by `timeout`), for tests of
/// its handling of bad input.
pub fn run(args: &[&str], cwd: &Path, timeout: Duration) -> Result<Output, String> {
    // Default logging: the one-line contract is about what a user sees.
    let child = Command::new(bin())
        .args(args)
        .env_remove("RILL_LOG")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn rill: {e}"))?;
    wait_output(child, timeout)
}

/// Spawn `rill serve` as `cmd` (its arguments and environment set by the
/// caller), stderr into `log`, and wait up to `timeout` for its ready line
/// `rill serve: http://ADDR/ ...` on stdout. The child and ADDR; on
/// failure the child is killed and the error says what came instead.
pub fn start_serve(
    mut cmd: Command,
    log: &Path,
    timeout: Duration,
) -> Result<(std::process::Child, std::net::SocketAddr), String> {
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| format!("cannot run rill serve: {e}"))?;
    let stdout = child.stdout.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
        }
        let _ = tx.send(line);
    });
    let addr = match rx.recv_timeout(timeout) {
        Ok(line) => line
            .strip_prefix("rill serve: http://")
            .and_then(|l| l.split('/').next())
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected first line {line:?}")),
        Err(_) => Err(format!("no ready line within {timeout:?}")),
    };
    match addr {
        Ok(a) => Ok((child, a)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// The RAM directory `rill serve` named in its log for HLS segments in
/// storage mode `stream` ("HLS segments in RAM in DIR (...)"), if any.
pub fn ram_segment_dir(log: &Path) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .find_map(|l| l.split("HLS segments in RAM in ").nth(1))
        .and_then(|rest| rest.split(" (").next())
        .map(std::path::PathBuf::from)
}

/// Remove the per-data-directory RAM directory of a stopped `rill serve`
/// (`/dev/shm/rill-UID-HASH`, named in its log), so tests leave nothing
/// in /dev/shm. Anything else is left alone.
pub fn remove_ram_segment_dir(log: &Path) {
    let Some(dir) = ram_segment_dir(log) else {
        return;
    };
    if let Some(base) = dir.parent() {
        if base.to_string_lossy().starts_with("/dev/shm/rill-") {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}
