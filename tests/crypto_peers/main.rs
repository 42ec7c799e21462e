//! MSE/PE against real clients that insist on encryption: rill downloads
//! byte-identical from qbittorrent-nox with encryption required
//! (`setPreferences {"encryption":1}`) and from `transmission-daemon -er`,
//! and seeds to aria2c with `--bt-require-crypto=true
//! --bt-min-crypto-level=arc4`. Each test first shows that plain-only rill
//! (`--encryption off`) gets (or gives) nothing from the same peer in
//! [`PLAIN_TRIAL`], so a pass proves the encryption, not just a download.
//!
//! Run with `cargo test --test crypto_peers`. Needs opentracker,
//! transmission-daemon + transmission-cli, aria2, qbittorrent-nox,
//! mktorrent, curl (Debian packages). Everything binds 127.a.b.c.

use rill_testkit as support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::aria2::base_command;
use support::proc::Proc;
use support::qbittorrent::Qbittorrent;
use support::rill::{Rill, RillOpts};
use support::torrent::{make_torrent, Torrent};
use support::tracker::Opentracker;
use support::transmission::Transmission;
use support::{data, net, TestEnv, WAIT};

/// 32 KiB pieces.
const PIECE_LOG2: u32 = 15;
const MIB: u64 = 1024 * 1024;
/// How long plain-only rill is given to get anything (it connects within
/// a second: the tracker names the peer at once).
const PLAIN_TRIAL: Duration = Duration::from_secs(15);

fn content(env: &TestEnv, name: &str) -> PathBuf {
    let path = env.path(&format!("src/{name}"));
    data::write_random_file(&path, 3 * MIB + 777, 12);
    path
}

fn seed_copy(env: &TestEnv, content: &Path, label: &str) -> PathBuf {
    let dir = env.mkdir(&format!("seed-{label}"));
    data::copy_tree(content, &dir.join(content.file_name().expect("a name")));
    dir
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Run plain-only rill against the swarm for [`PLAIN_TRIAL`]: it must not
/// finish. `uploaded` reads what the seeder has sent so far.
fn plain_rill_gets_nothing(env: &TestEnv, t: &Torrent, uploaded: impl Fn() -> Result<u64, String>) {
    let out = env.mkdir("out-plain");
    let source = t.file.to_string_lossy().into_owned();
    let opts = RillOpts {
        args: args(&["--encryption", "off"]),
        ..RillOpts::default()
    };
    let mut rill = Rill::download(env, "rill-plain", &source, &out, &opts);
    let start = Instant::now();
    // Bounded by PLAIN_TRIAL.
    while start.elapsed() < PLAIN_TRIAL {
        if rill.stdout().contains("done: ") {
            env.fail("plain-only rill completed against an encryption-only peer");
        }
        if let Err(e) = rill.check_alive() {
            env.fail(&format!("plain-only rill died: {e}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(rill);
    match uploaded() {
        Ok(0) => {}
        Ok(n) => env.fail(&format!("the seeder sent {n} bytes to plain-only rill")),
        Err(e) => env.fail(&format!("reading the seeder's upload count: {e}")),
    }
}

/// Debug logging, whose connection lines say "RC4" or "plaintext".
fn debug_log() -> Vec<(String, String)> {
    vec![("RILL_LOG".into(), "debug".into())]
}

/// Fail unless rill's log shows an RC4 connection (`direction`: the
/// text before "RC4)": "outgoing, ", "incoming, " or ", " for either).
fn check_rc4(env: &TestEnv, rill: &Rill, direction: &str) {
    let want = format!("{direction}RC4)");
    if !rill.stderr().contains(&want) {
        env.fail(&format!("no \"{want}\" line in rill's log"));
    }
}

/// Default rill (`--encryption prefer`) downloads `t` byte-identical, over
/// RC4.
fn rill_downloads(env: &TestEnv, t: &Torrent, content: &Path) {
    let out = env.mkdir("out");
    let source = t.file.to_string_lossy().into_owned();
    let opts = RillOpts {
        env: debug_log(),
        ..RillOpts::default()
    };
    let mut rill = Rill::download(env, "rill", &source, &out, &opts);
    let done = rill.wait_finished(env);
    check_rc4(env, &rill, "outgoing, ");
    if done.from_peers < t.total_len {
        env.fail(&format!(
            "done line {done:?}: not all of {} from peers",
            t.name
        ));
    }
    if let Err(e) = data::diff_trees(content, &out.join(&t.name)) {
        env.fail(&e);
    }
}

#[test]
fn from_qbittorrent_requiring_encryption() {
    let env = TestEnv::new("mse_qb");
    let content = content(&env, "qb-required.bin");
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let dir = seed_copy(&env, &content, "qb");
    let mut qb = Qbittorrent::start(&env, "qbittorrent");
    qb.set_preferences(&env, r#"{"encryption":1}"#);
    match qb.preference("encryption") {
        Ok(v) if v == "1" => {}
        other => env.fail(&format!("qBittorrent encryption preference: {other:?}")),
    }
    qb.add(&env, &t, &dir);
    qb.wait_complete(&env, &t);
    tracker.wait_seeders(&env, &t, 1);

    plain_rill_gets_nothing(&env, &t, || qb.uploaded(&t));
    rill_downloads(&env, &t, &content);
}

#[test]
fn from_transmission_requiring_encryption() {
    let env = TestEnv::new("mse_tr");
    let content = content(&env, "tr-required.bin");
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let dir = seed_copy(&env, &content, "tr");
    let mut tr = Transmission::start_with(&env, "transmission", &dir, &["-er"]);
    tr.add(&env, &t, &dir);
    tr.wait_complete(&env, &t);
    tracker.wait_seeders(&env, &t, 1);

    plain_rill_gets_nothing(&env, &t, || tr.uploaded(&t));
    rill_downloads(&env, &t, &content);
}

/// aria2c leeching `t` into `dir` with RC4 required.
fn aria2_crypto_leech(env: &TestEnv, label: &str, t: &Torrent, dir: &Path) -> Proc {
    let mut cmd = base_command(net::loopback_addr(), dir);
    cmd.args([
        "--bt-require-crypto=true",
        "--bt-min-crypto-level=arc4",
        "--seed-time=0",
    ])
    .arg(&t.file);
    Proc::spawn(env, label, &mut cmd)
}

/// rill seeding `t` from a copy of `content`, with extra flags.
fn rill_seeds(env: &TestEnv, label: &str, t: &Torrent, content: &Path, flags: &[&str]) -> Rill {
    let out = seed_copy(env, content, label);
    let opts = RillOpts {
        seed: true,
        args: args(flags),
        env: debug_log(),
        ..RillOpts::default()
    };
    let source = t.file.to_string_lossy().into_owned();
    let mut rill = Rill::download(env, label, &source, &out, &opts);
    let done = rill.wait_done(env, WAIT);
    if done.on_disk != t.total_len {
        env.fail(&format!("{label} did not find its data: {done:?}"));
    }
    rill
}

#[test]
fn seeds_to_aria2_requiring_rc4() {
    let env = TestEnv::new("mse_a2");
    let content = content(&env, "a2-required.bin");
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);

    // Plain-only rill: aria2c finds it (tracker) and gets nothing.
    let plain = rill_seeds(&env, "rill-plain", &t, &content, &["--encryption", "off"]);
    tracker.wait_seeders(&env, &t, 1);
    let out = env.mkdir("out-plain");
    let mut leech = aria2_crypto_leech(&env, "aria2-plain", &t, &out);
    std::thread::sleep(PLAIN_TRIAL);
    if let Some(status) = leech.try_exit() {
        env.fail(&format!("aria2c exited ({status}) against plain-only rill"));
    }
    leech.kill();
    drop(plain);
    let got = std::fs::metadata(out.join(&t.name)).map_or(0, |m| m.len());
    if got != 0 {
        env.fail(&format!("aria2c wrote {got} bytes from plain-only rill"));
    }

    // rill with the default policy: aria2c completes over RC4.
    let rill = rill_seeds(&env, "rill-seed", &t, &content, &[]);
    let out = env.mkdir("out");
    let mut leech = aria2_crypto_leech(&env, "aria2-crypto", &t, &out);
    let status = leech.wait_exit(&env, WAIT);
    if !status.success() {
        env.fail(&format!("aria2c failed: {status}"));
    }
    // aria2c dials rill (it announced later); either way it must be RC4.
    check_rc4(&env, &rill, ", ");
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&e);
    }
}
