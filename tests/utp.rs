//! uTP (BEP 29) against a real client: qbittorrent-nox speaking uTP only
//! (`setPreferences {"bittorrent_protocol":2}`) seeds on 127.a.b.c and
//! `rill download` completes byte-identical from it; and the reverse, a
//! uTP-only qbittorrent-nox downloads byte-identical from seeding rill.
//! First, rill with
//! `--utp off` (TCP only) must get nothing from the same peer in
//! [`TCP_TRIAL`], so a pass proves uTP; and rill's log must show the
//! connection over uTP.
//!
//! Run with `cargo test --test utp`. Needs opentracker, qbittorrent-nox,
//! mktorrent, curl (Debian packages).

use rill_testkit as support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::qbittorrent::Qbittorrent;
use support::rill::{Rill, RillOpts};
use support::torrent::make_torrent;
use support::tracker::Opentracker;
use support::{data, TestEnv, WAIT};

const PIECE_LOG2: u32 = 15;
const MIB: u64 = 1024 * 1024;
/// How long TCP-only rill is given to get anything.
const TCP_TRIAL: Duration = Duration::from_secs(15);

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn downloads_from_utp_only_qbittorrent() {
    let env = TestEnv::new("utp_qb");
    let content: PathBuf = env.path("src/utp-only.bin");
    data::write_random_file(&content, 6 * MIB + 1234, 29);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let dir = env.mkdir("seed-qb");
    data::copy_tree(&content, &dir.join(content.file_name().expect("a name")));
    let mut qb = Qbittorrent::start(&env, "qbittorrent");
    qb.set_preferences(&env, r#"{"bittorrent_protocol":2}"#);
    match qb.preference("bittorrent_protocol") {
        Ok(v) if v == "2" => {}
        other => env.fail(&format!("qBittorrent bittorrent_protocol: {other:?}")),
    }
    qb.add(&env, &t, &dir);
    qb.wait_complete(&env, &t);
    tracker.wait_seeders(&env, &t, 1);
    let source = t.file.to_string_lossy().into_owned();

    // TCP only: nothing.
    let out = env.mkdir("out-tcp");
    let opts = RillOpts {
        args: args(&["--utp", "off"]),
        ..RillOpts::default()
    };
    let mut rill = Rill::download(&env, "rill-tcp", &source, &out, &opts);
    let start = Instant::now();
    // Bounded by TCP_TRIAL.
    while start.elapsed() < TCP_TRIAL {
        if rill.stdout().contains("done: ") {
            env.fail("TCP-only rill completed against a uTP-only peer");
        }
        if let Err(e) = rill.check_alive() {
            env.fail(&format!("TCP-only rill died: {e}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(rill);
    match qb.uploaded(&t) {
        Ok(0) => {}
        Ok(n) => env.fail(&format!("qBittorrent sent {n} bytes to TCP-only rill")),
        Err(e) => env.fail(&format!("reading qBittorrent's upload count: {e}")),
    }

    // Default rill: uTP.
    let out = env.mkdir("out");
    let opts = RillOpts {
        env: vec![("RILL_LOG".into(), "debug".into())],
        ..RillOpts::default()
    };
    let mut rill = Rill::download(&env, "rill", &source, &out, &opts);
    let done = rill.wait_finished(&env);
    if !rill.stderr().contains("(outgoing, RC4) over uTP")
        && !rill.stderr().contains("(outgoing, plaintext) over uTP")
    {
        env.fail("no outgoing uTP connection in rill's log");
    }
    if done.from_peers < t.total_len {
        env.fail(&format!(
            "done line {done:?}: not all of {} from peers",
            t.name
        ));
    }
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&e);
    }
    // qBittorrent's counters lag: bounded wait for them to show the upload.
    let start = Instant::now();
    loop {
        match qb.uploaded(&t) {
            Ok(n) if n >= t.total_len => break,
            other if start.elapsed() > Duration::from_secs(20) => {
                env.fail(&format!("qBittorrent's upload count after rill: {other:?}"))
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

#[test]
fn seeds_to_utp_only_qbittorrent() {
    let env = TestEnv::new("utp_qb_leech");
    let content: PathBuf = env.path("src/to-qb.bin");
    data::write_random_file(&content, 5 * MIB + 4321, 31);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let seed_dir = env.mkdir("seed-rill");
    data::copy_tree(
        &content,
        &seed_dir.join(content.file_name().expect("a name")),
    );
    let opts = RillOpts {
        seed: true,
        env: vec![("RILL_LOG".into(), "debug".into())],
        ..RillOpts::default()
    };
    let source = t.file.to_string_lossy().into_owned();
    let mut rill = Rill::download(&env, "rill-seed", &source, &seed_dir, &opts);
    let done = rill.wait_done(&env, WAIT);
    if done.on_disk != t.total_len {
        env.fail(&format!("seeding rill did not find its data: {done:?}"));
    }
    tracker.wait_seeders(&env, &t, 1);
    let mut qb = Qbittorrent::start(&env, "qbittorrent");
    qb.set_preferences(&env, r#"{"bittorrent_protocol":2}"#);
    match qb.preference("bittorrent_protocol") {
        Ok(v) if v == "2" => {}
        other => env.fail(&format!("qBittorrent bittorrent_protocol: {other:?}")),
    }
    let out = env.mkdir("out-qb");
    qb.add(&env, &t, &out);
    qb.wait_complete(&env, &t);
    if !rill.stderr().contains(") over uTP") {
        env.fail("no uTP connection in seeding rill's log");
    }
    if rill.stderr().contains(") over TCP") {
        env.fail("a TCP connection to a uTP-only peer in rill's log");
    }
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&e);
    }
}
