//! Runs the swarm harness's player-model tests (`bench/swarm/test_player.py`,
//! Python's unittest, no network) so `cargo test` covers them: a known
//! schedule of arriving bytes must give the known startup, rebuffers and
//! seek resumes. Needs `python3` (Debian's `python3`); says so and fails
//! if it is missing, since the bench harness cannot work without it either.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The unittest run takes milliseconds; this bounds a hung interpreter.
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn player_model_unittests_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/swarm");
    let mut child = Command::new("python3")
        .args(["-B", "-m", "unittest", "-v", "test_player"])
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed (Debian package python3) to run the player model tests");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for python3") {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("python3 -m unittest test_player ran over {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("reading python3 output");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.success(),
        "player model tests failed in {}:\n{text}",
        dir.display()
    );
    let ran = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Ran ")?
                .split(' ')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .unwrap_or(0);
    assert!(
        ran >= 10,
        "expected the whole player model suite, saw {ran} tests:\n{text}"
    );
    assert!(
        text.lines().any(|l| l == "OK"),
        "unittest did not say OK:\n{text}"
    );
}
