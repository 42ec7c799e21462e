//! One ffmpeg process making the segments of one variant, from a start
//! segment onwards.
//!
//! ffmpeg writes each segment into the job's own `tmp-<job>` directory and
//! announces it on stdout (`-segment_list pipe:1`, CSV `name,start,end`)
//! once it is complete; the job's stdout thread then renames it into the
//! variant directory (atomic: a reader of an older copy keeps its inode)
//! and hands it to the `on_segment` callback. The stderr thread reads
//! `-progress` lines (`out_time_us`, `speed`) so the watchdog can tell a
//! job that moves from one that does not, and keeps ffmpeg's last error
//! line for the error message.
//!
//! The read-ahead is bounded by holding the job's reads from its source
//! when it is far enough ahead of what the player asked for (ffmpeg then
//! blocks on its input) and releasing them when the player comes closer
//! ([`Job::set_paused`], driven by the watchdog in [`super`]). Not SIGSTOP:
//! a stopped ffmpeg would outlive a rill killed with -9; a blocked one
//! sees its input connection close and exits.
//!
//! Dropping a [`Job`] kills and reaps its ffmpeg and removes its
//! temporary directory.
//!
//! # Shared state
//! [`Progress`] is atomics plus one mutex for the last error line; the
//! threads write it, the watchdog and metrics read it. No lock is held
//! while calling `on_segment`.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use log::{debug, warn};

use super::playlist::parse_segment_name;
use super::source::JobIo;

/// What a running job has done (shared with its reader threads).
pub struct Progress {
    /// The next segment number the job will finish.
    pub next: AtomicUsize,
    /// ffmpeg's `out_time_us`.
    pub out_time_us: AtomicU64,
    /// ffmpeg's `speed`, in thousandths.
    pub speed_milli: AtomicU64,
    /// Milliseconds since `epoch` of the last sign of life (progress
    /// that moved, or a segment).
    pub last_alive_ms: AtomicU64,
    /// stdout closed: ffmpeg finished or died.
    pub ended: AtomicBool,
    pub last_error: Mutex<String>,
    epoch: Instant,
}

impl Progress {
    /// Note a sign of life (also after a pause ends).
    pub fn alive(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_alive_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last sign of life.
    pub fn quiet_for(&self) -> std::time::Duration {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        std::time::Duration::from_millis(
            now.saturating_sub(self.last_alive_ms.load(Ordering::Relaxed)),
        )
    }

    pub fn error(&self) -> String {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

pub struct Job {
    pub id: u64,
    /// The first segment this job makes.
    pub first: usize,
    pub progress: Arc<Progress>,
    child: Child,
    tmp: PathBuf,
    /// Its reads are held: it is far enough ahead of the player.
    paused: bool,
    io: Arc<JobIo>,
}

impl Job {
    /// Start `ffmpeg args` (see [`crate::media::plan::Plan::ffmpeg_args`],
    /// whose output directory must be `tmp`); finished segments are moved
    /// into `dir` and passed to `on_segment(number, bytes)`; `io` is the
    /// job's source accounting (and read hold).
    pub fn start(
        id: u64,
        ffmpeg: &std::path::Path,
        args: &[String],
        first: usize,
        (dir, tmp): (PathBuf, PathBuf),
        io: Arc<JobIo>,
        on_segment: Box<dyn Fn(usize, u64) + Send>,
    ) -> Result<Job, String> {
        fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let mut cmd = Command::new(ffmpeg);
        crate::media::child::die_with_parent(&mut cmd);
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                let _ = fs::remove_dir_all(&tmp);
                format!(
                    "cannot run {} ({e}); install ffmpeg or set `ffmpeg` in the config",
                    ffmpeg.display()
                )
            })?;
        let progress = Arc::new(Progress {
            next: AtomicUsize::new(first),
            out_time_us: AtomicU64::new(0),
            speed_milli: AtomicU64::new(0),
            last_alive_ms: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            epoch: Instant::now(),
        });
        progress.alive();
        if let Some(out) = child.stdout.take() {
            let (p, dir, tmp) = (progress.clone(), dir, tmp.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("rill-hls-job-{id}"))
                .spawn(move || {
                    for line in BufReader::new(out.take(1 << 24)).lines() {
                        let Ok(line) = line else { break };
                        let name = line.split(',').next().unwrap_or("");
                        let Some(n) = parse_segment_name(name) else {
                            continue;
                        };
                        let (from, to) = (tmp.join(name), dir.join(name));
                        let size = fs::metadata(&from).map(|m| m.len()).unwrap_or(0);
                        match fs::rename(&from, &to) {
                            Ok(()) => {
                                p.next.store(n + 1, Ordering::SeqCst);
                                p.alive();
                                on_segment(n, size);
                            }
                            Err(e) => warn!("hls job {id}: moving {}: {e}", from.display()),
                        }
                    }
                    p.ended.store(true, Ordering::SeqCst);
                    on_segment(usize::MAX, 0);
                });
            if let Err(e) = spawned {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("cannot start a thread: {e}"));
            }
        }
        if let Some(err) = child.stderr.take() {
            let p = progress.clone();
            let _ = std::thread::Builder::new()
                .name(format!("rill-hls-err-{id}"))
                .spawn(move || {
                    for line in BufReader::new(err).lines() {
                        let Ok(line) = line else { break };
                        if let Some(v) = line.strip_prefix("out_time_us=") {
                            if let Ok(us) = v.trim().parse::<u64>() {
                                if us != p.out_time_us.swap(us, Ordering::Relaxed) {
                                    p.alive();
                                }
                            }
                        } else if let Some(v) = line.strip_prefix("speed=") {
                            let x = v.trim().trim_end_matches('x').parse::<f64>().unwrap_or(0.0);
                            if x.is_finite() && x >= 0.0 {
                                p.speed_milli.store((x * 1000.0) as u64, Ordering::Relaxed);
                            }
                        } else if !is_progress_line(&line) && !line.trim().is_empty() {
                            debug!("ffmpeg job {id}: {line}");
                            if let Ok(mut e) = p.last_error.lock() {
                                *e = line.chars().take(300).collect();
                            }
                        }
                    }
                });
        }
        Ok(Job {
            id,
            first,
            progress,
            child,
            tmp,
            paused: false,
            io,
        })
    }

    /// The next segment number it will finish.
    pub fn next(&self) -> usize {
        self.progress.next.load(Ordering::SeqCst)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its source reads (is it waiting for torrent data?).
    pub fn io(&self) -> &JobIo {
        &self.io
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Hold or release ffmpeg's reads: the read-ahead bound.
    pub fn set_paused(&mut self, pause: bool) {
        if pause != self.paused {
            self.paused = pause;
            self.io.set_hold(pause);
            self.progress.alive();
        }
    }

    /// Once ffmpeg has exited: `Ok` for success, else how it ended. A
    /// job whose output has closed is reaped here (waiting at most 2 s),
    /// so "ended" and "exited" never disagree.
    pub fn exited(&mut self) -> Option<Result<(), String>> {
        if self.progress.ended.load(Ordering::SeqCst) {
            for _ in 0..200 {
                match self.child.try_wait() {
                    Ok(Some(st)) if st.success() => return Some(Ok(())),
                    Ok(Some(st)) => return Some(Err(st.to_string())),
                    Ok(None) => std::thread::sleep(std::time::Duration::from_millis(10)),
                    Err(e) => return Some(Err(e.to_string())),
                }
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            return Some(Err("closed its output but kept running".into()));
        }
        match self.child.try_wait() {
            Ok(Some(st)) if st.success() => Some(Ok(())),
            Ok(Some(st)) => Some(Err(st.to_string())),
            Ok(None) => None,
            Err(e) => Some(Err(e.to_string())),
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.io.set_hold(false);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

/// A `-progress` line is `key=value` with a plain key (`frame=12`,
/// `bitrate= 812.4kbits/s`: values may be padded); anything else on
/// stderr is a message from ffmpeg, which may contain `=` too ("[http @
/// 0x55d0] Will reconnect at 1234 in 1 second(s), error=End of file.").
fn is_progress_line(line: &str) -> bool {
    match line.split_once('=') {
        Some((key, _)) => {
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_progress_line;

    #[test]
    fn progress_lines_and_messages() {
        for l in [
            "frame=12",
            "out_time_us=6000000",
            "bitrate= 812.4kbits/s",
            "speed=   1x",
            "progress=end",
        ] {
            assert!(is_progress_line(l), "{l}");
        }
        for l in [
            "[http @ 0x55d0] Will reconnect at 1234 in 1 second(s), error=End of file.",
            "Error opening input file x.",
            "=x",
            "",
        ] {
            assert!(!is_progress_line(l), "{l}");
        }
    }
}
