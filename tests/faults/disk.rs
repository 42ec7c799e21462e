//! Disk full: `rill serve` with its data directory on a 32 MiB tmpfs and a
//! 48 MiB torrent from a real aria2c seeder. The torrent must say what went
//! wrong (API `error`, the log), keep nothing corrupt (every piece the
//! resume file vouches for verifies, no verified piece is given up, the
//! error does not flap while the disk stays full), and complete
//! byte-identical by itself once the tmpfs is remounted bigger, the error
//! cleared.

use std::time::{Duration, Instant};

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::data::{diff_trees, write_random_file};
use crate::support::torrent::make_torrent;
use crate::support::tracker::Opentracker;
use crate::support::{net, TestEnv, WAIT};
use crate::{resume_have, str_of, u64_of, verify_claimed, Serve, Tmpfs};

#[test]
fn disk_full() {
    let started = Instant::now();
    let env = TestEnv::new("faults-disk");
    let src = env.mkdir("seed");
    let file = src.join("big.bin");
    write_random_file(&file, 48 << 20, 7);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &file, 18, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    // Slow enough that a resume file is saved (every 5 s) before the disk
    // fills, so the check below has something to check.
    let opts = SeedOpts {
        max_upload: Some("5M".into()),
        ..SeedOpts::default()
    };
    let _seeder = Aria2::seed(&env, "seeder", &t, &src, &opts);
    tracker.wait_seeders(&env, &t, 1);

    let data = env.root().join("data");
    let fs = Tmpfs::mount(&env, &data, 32);
    let listen = format!("{}:0", net::loopback_ip());
    let s = Serve::start(&env, "rill", &data, &listen);
    s.add(&env, &t.file);
    let id = t.hex();

    // The disk fills: the torrent says so.
    let mut v = s.torrent(&env, &id);
    env.wait_until("the torrent to report the full disk", WAIT, || {
        v = s.torrent(&env, &id);
        Ok(str_of(&v, "state") == "error" || !str_of(&v, "error").is_empty())
    });
    let err = str_of(&v, "error").to_string();
    eprintln!(
        "disk full: API says state={} error={err:?}",
        str_of(&v, "state")
    );
    if !err.contains("No space left") {
        env.fail(&format!(
            "the API's error does not say the disk is full: {v:?}"
        ));
    }
    let log = std::fs::read_to_string(env.root().join("logs/rill.log")).unwrap_or_default();
    let line = log.lines().find(|l| l.contains("No space left"));
    match line {
        Some(l) => eprintln!("disk full: log says {l}"),
        None => env.fail("the log does not say the disk is full"),
    }
    let done_at_error = u64_of(&v, "pieces_done");

    // The error holds while the disk stays full (no flapping back to
    // downloading), and no verified piece is given up.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        let w = s.torrent(&env, &id);
        if str_of(&w, "state") != "error" || u64_of(&w, "pieces_done") < done_at_error {
            env.fail(&format!(
                "with the disk still full the torrent left the error state or lost pieces ({done_at_error} before): {w:?}"
            ));
        }
    }

    // Nothing corrupt: every piece the store vouches for verifies.
    let data_file = data.join("downloads").join(&t.name);
    if let Some(have) = resume_have(&env, &data, &id) {
        let n = verify_claimed(&env, &t.file, &data_file, &have);
        eprintln!("disk full: {n} pieces in the resume file verify ({done_at_error} reported)");
    } else {
        env.fail("no resume file was saved before the disk filled");
    }

    // Space comes back: the download completes, byte-identical.
    fs.resize(&env, 128);
    env.wait_until("the download to resume after the remount", WAIT, || {
        let v = s.torrent(&env, &id);
        Ok(u64_of(&v, "pieces_done") == t.piece_count())
    });
    if let Err(e) = diff_trees(&file, &data_file) {
        env.fail(&e);
    }
    let v = s.torrent(&env, &id);
    if !str_of(&v, "error").is_empty() {
        env.fail(&format!(
            "the error is still reported after completion: {v:?}"
        ));
    }
    let log = std::fs::read_to_string(env.root().join("logs/rill.log")).unwrap_or_default();
    if !log.contains("writing to disk works again") {
        env.fail("the log does not say that writing works again");
    }
    drop(s);
    std::thread::sleep(Duration::from_millis(100));
    drop(fs);
    eprintln!("disk_full: {:.1} s", started.elapsed().as_secs_f64());
}
