//! ffmpeg and ffprobe die with rill: a `kill -9` of rill (or a crash) must
//! not leave a job running. Closing its source connection is not enough:
//! jobs run with `-reconnect_on_network_error`, so an orphaned ffmpeg
//! keeps retrying for seconds and its next run's `tmp-<job>` directory
//! (job numbers start again at each start) could receive the orphan's
//! segments. Linux's parent-death signal ends the child with SIGKILL when
//! the thread that spawned it ends; rill spawns them from its long-lived
//! HTTP worker and watchdog threads, whose end is the end of rill.

use std::process::Command;

/// Make the child `cmd` starts get SIGKILL when its spawning thread (and
/// so rill) dies. Not on other systems (no such signal).
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::unix::process::CommandExt;
        let parent = rustix::process::getpid();
        // SAFETY: between fork and exec the closure makes only two
        // async-signal-safe system calls (prctl, getppid) and allocates
        // nothing.
        unsafe {
            cmd.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))?;
                // The parent may have died before the prctl: exit then.
                if rustix::process::getppid() != Some(parent) {
                    return Err(std::io::Error::other("rill exited"));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = cmd;
}
