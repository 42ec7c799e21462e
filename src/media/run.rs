//! Running an ffprobe or ffmpeg child bounded in time and output: its
//! stdout is read here line by line, its stderr in a thread of its own
//! (the last few KiB are kept for the error message), and a watcher
//! thread kills it with [`Child::kill`] at the deadline. A thread that
//! cannot be made is an error ([`ProbeError::NoThread`]), never an abort;
//! the child is then killed and reaped.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::error::ProbeError;

/// Stderr kept for error messages.
const STDERR_TAIL: usize = 2048;
/// Longest stdout or stderr line read at once.
const MAX_LINE: u64 = 64 * 1024;

/// Run `cmd` until it exits or `timeout` passes (then kill it), giving
/// each stdout line to `on_line`. Non-zero exit is [`ProbeError::Failed`].
pub fn run(
    cmd: &mut Command,
    tool: &Path,
    input: &str,
    timeout: Duration,
    on_line: impl FnMut(&[u8]),
) -> Result<(), ProbeError> {
    run_with_stderr(cmd, tool, input, timeout, on_line, |_| {})
}

/// Whether `tool` names an existing file: a path as given, a bare name
/// on `PATH`. Checked before spawning, so a missing ffmpeg is told apart
/// from a failing one even where a failed `exec` is not reported to the
/// parent (under qemu-user the child simply exits).
fn is_installed(tool: &Path) -> bool {
    if tool.components().count() > 1 {
        return tool.is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// Kill and reap a child we give up on.
fn stop(child: &Mutex<Child>) {
    let mut c = child.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = c.kill();
    let _ = c.wait();
}

/// [`run`], also giving each stderr line to `on_err` (in another thread).
pub fn run_with_stderr(
    cmd: &mut Command,
    tool: &Path,
    input: &str,
    timeout: Duration,
    mut on_line: impl FnMut(&[u8]),
    mut on_err: impl FnMut(&[u8]) + Send + 'static,
) -> Result<(), ProbeError> {
    let tool_name = tool.display().to_string();
    if !is_installed(tool) {
        return Err(ProbeError::Missing {
            tool: tool_name,
            cause: "not found (no such file, or not on PATH)".into(),
        });
    }
    super::child::die_with_parent(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ProbeError::Missing {
            tool: tool_name.clone(),
            cause: e.to_string(),
        })?;
    let stderr = child.stderr.take();
    let stdout = child.stdout.take();
    let child = Arc::new(Mutex::new(child));
    let no_thread = |e: std::io::Error| ProbeError::NoThread {
        tool: tool_name.clone(),
        cause: e.to_string(),
    };
    let err_thread = std::thread::Builder::new()
        .name("child-stderr".into())
        .spawn(move || {
            let mut tail = Vec::new();
            if let Some(s) = stderr {
                let mut r = BufReader::new(s);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match (&mut r).take(MAX_LINE).read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let l = line.strip_suffix(b"\n").unwrap_or(&line);
                    on_err(l);
                    if !l.starts_with(b"[") || !l.contains(&b'@') {
                        tail.extend_from_slice(l);
                        tail.push(b'\n');
                    }
                    if tail.len() > 2 * STDERR_TAIL {
                        tail.drain(..tail.len() - STDERR_TAIL);
                    }
                }
            }
            tail
        });
    let err_thread = match err_thread {
        Ok(t) => t,
        Err(e) => {
            stop(&child);
            return Err(no_thread(e));
        }
    };
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    if let Some(stdout) = stdout {
        // The reader is in this thread; a watcher kills the child at the
        // deadline, which ends the reads.
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let target = Arc::clone(&child);
        let watcher = std::thread::Builder::new()
            .name("child-watch".into())
            .spawn(move || {
                let late = matches!(
                    done_rx.recv_timeout(timeout),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                if late {
                    let _ = target.lock().unwrap_or_else(PoisonError::into_inner).kill();
                }
                late
            });
        let watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                stop(&child);
                let _ = err_thread.join();
                return Err(no_thread(e));
            }
        };
        let mut r = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            // Lines are bounded by the cap the callbacks apply; a single
            // absurd line is bounded by `take`.
            match (&mut r).take(MAX_LINE).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => on_line(line.strip_suffix(b"\n").unwrap_or(&line)),
            }
        }
        let _ = done_tx.send(());
        timed_out = watcher.join().unwrap_or(false);
    }
    let status = loop {
        let polled = child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_wait();
        match polled {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                timed_out = true;
                stop(&child);
                break None;
            }
        }
    };
    let tail = err_thread.join().unwrap_or_default();
    if timed_out {
        return Err(ProbeError::TimedOut {
            tool: tool_name,
            input: input.to_string(),
        });
    }
    match status {
        Some(st) if st.success() => Ok(()),
        _ => {
            let text = String::from_utf8_lossy(&tail);
            let last = text
                .trim()
                .lines()
                .last()
                .unwrap_or("no message")
                .to_string();
            Err(ProbeError::Failed {
                tool: tool_name,
                input: input.to_string(),
                stderr: last,
            })
        }
    }
}
