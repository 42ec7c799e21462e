//! Guards for long-running child processes (a tracker, a client, rill).
//!
//! Its stdout and stderr go to files in the test directory (registered with
//! the [`TestEnv`] so failures show them); dropping the guard sends SIGKILL
//! and reaps the process, so a failing test never leaves daemons behind.

use super::TestEnv;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A running child process, killed on drop.
pub struct Proc {
    label: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// Spawn `cmd` with output to `<test dir>/logs/<label>.{out,err}`.
    pub fn spawn(env: &TestEnv, label: &str, cmd: &mut Command) -> Proc {
        let stdout = env.path(&format!("logs/{label}.out"));
        let stderr = env.path(&format!("logs/{label}.err"));
        let out = std::fs::File::create(&stdout)
            .unwrap_or_else(|e| panic!("create {}: {e}", stdout.display()));
        let err = std::fs::File::create(&stderr)
            .unwrap_or_else(|e| panic!("create {}: {e}", stderr.display()));
        env.register_log(&format!("{label} stdout"), &stdout);
        env.register_log(&format!("{label} stderr"), &stderr);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| env.fail(&format!("cannot start {label} ({cmd:?}): {e}")));
        Proc {
            label: label.to_string(),
            child,
            stdout,
            stderr,
            exited: None,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The process id (to send it a signal).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stdout so far (lossy UTF-8).
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout)
    }

    /// Everything the process wrote to stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// The file its stderr goes to.
    pub fn stderr_path(&self) -> &std::path::Path {
        &self.stderr
    }

    /// The exit status if the process has ended (reaps it).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
            }
        }
        self.exited
    }

    /// Fail (with logs) if the process has ended: for daemons that must stay up.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.try_exit() {
            Some(status) => Err(format!("{} exited unexpectedly ({status})", self.label)),
            None => Ok(()),
        }
    }

    /// Wait for the process to end, at most `timeout`.
    pub fn wait_exit(&mut self, env: &TestEnv, timeout: Duration) -> ExitStatus {
        let what = format!("{} to exit", self.label);
        env.wait_until(&what, timeout, || Ok(self.try_exit().is_some()));
        self.exited.expect("set by the wait above")
    }

    /// SIGKILL and reap (no-op if it already ended).
    pub fn kill(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        let _ = self.child.kill();
        if let Ok(status) = self.child.wait() {
            self.exited = Some(status);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bare child process killed (SIGKILL) and reaped on drop, for tests that
/// wire up its stdio themselves instead of logging through a [`TestEnv`].
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `cmd` to its end, at most `limit` (else panic with what it printed),
/// stdout and stderr both going to the file `log`; returns the exit status
/// and the log's text.
pub fn run_logged(cmd: &mut Command, log: &Path, limit: Duration) -> (ExitStatus, String) {
    let file =
        std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    let file2 = file
        .try_clone()
        .unwrap_or_else(|e| panic!("dup {}: {e}", log.display()));
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(file2))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut child = Guard(child);
    let start = Instant::now();
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => panic!(
                "{cmd:?} still running after {limit:?}; output:\n{}",
                read_lossy(log)
            ),
            Err(e) => panic!("wait for {cmd:?}: {e}"),
        }
    };
    (status, read_lossy(log))
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// Collect a child's output, killing it if it runs longer than `timeout`.
/// The pipes are drained on threads so a chatty child cannot block.
pub fn wait_output(mut child: Child, timeout: Duration) -> Result<Output, String> {
    fn drain<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("still running after {timeout:?}; killed"));
            }
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Whether this process runs as root (the real uid in /proc/self/status).
/// Tests that loop-mount, make namespaces or set cgroup limits need it.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}
