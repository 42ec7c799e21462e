//! Crash safety and resume: rill downloads from a rate-limited aria2c, gets
//! `kill -9` at about half way (measured by what the seeder uploaded), and
//! is started again on the same directory. The second run must reuse the
//! verified data (`already on disk` at least 40% of the torrent) and fetch
//! little more than the rest, both by its own count and by the seeder's.

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::rill::{Rill, RillOpts};
use crate::support::torrent::make_torrent;
use crate::support::tracker::Opentracker;
use crate::support::{TestEnv, WAIT};
use crate::{assert_same, seed_copy, single_file, MIB, PIECE, PIECE_LOG2};
use std::time::Duration;

/// Slack for pieces in flight or fetched twice: a few pieces.
const SLACK: u64 = 4 * PIECE;

#[test]
fn resume_after_kill_9() {
    let env = TestEnv::new("resume");
    let content = single_file(&env, "resume.bin", 6 * MIB);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let dir = seed_copy(&env, &content, "aria2");
    let opts = SeedOpts {
        max_upload: Some("1M".into()),
        ..SeedOpts::default()
    };
    let mut seeder = Aria2::seed(&env, "aria2-slow-seed", &t, &dir, &opts);
    tracker.wait_seeders(&env, &t, 1);

    let out = env.mkdir("out");
    let source = t.file.to_string_lossy().into_owned();
    let mut first = Rill::download(&env, "rill-first", &source, &out, &RillOpts::default());
    let half = t.total_len * 55 / 100;
    env.wait_until("the seeder to upload 55% to rill", WAIT, || {
        first.check_alive()?;
        Ok(seeder.uploaded()? >= half)
    });
    first.kill9();
    if first.stdout().contains("done: ") {
        env.fail("rill finished before it was killed: the seeder's rate limit did not hold");
    }

    // Let the seeder notice the dead connection before taking its count.
    std::thread::sleep(Duration::from_secs(1));
    let uploaded_before = seeder.uploaded().unwrap_or_else(|e| env.fail(&e));

    let mut second = Rill::download(&env, "rill-second", &source, &out, &RillOpts::default());
    let done = second.wait_finished(&env);
    assert_same(&env, &content, &out.join(&t.name));
    let sent_to_second = seeder.uploaded().unwrap_or_else(|e| env.fail(&e)) - uploaded_before;

    let size = t.total_len;
    let rest = size.saturating_sub(done.on_disk);
    if done.name != t.name || done.on_disk > size || done.on_disk < size * 40 / 100 {
        env.fail(&format!(
            "after kill -9 at >=55% uploaded, the restart should find >=40% of {size} bytes on disk; done line: {done:?}"
        ));
    }
    if done.from_peers < rest || done.from_peers > rest + SLACK {
        env.fail(&format!(
            "the restart should fetch the missing {rest} bytes (+ at most {SLACK}); done line: {done:?}"
        ));
    }
    if sent_to_second > rest + SLACK {
        env.fail(&format!(
            "the seeder sent {sent_to_second} bytes to the restarted rill, which had {} of {size} on disk",
            done.on_disk
        ));
    }
}
