//! uTP (BEP 29) against a real client: qbittorrent-nox speaking uTP only
//! (`setPreferences {"bittorrent_protocol":2}`) seeds on 127.a.b.c and
//! `rill download` completes byte-identical from it; and the reverse, a
//! uTP-only qbittorrent-nox downloads byte-identical from seeding rill.
//! First, rill with
//! `--utp off` (TCP only) must get nothing from the same peer in
//! [`TCP_TRIAL`], so a pass proves uTP; and rill's log must show the
//! connection over uTP.
//!
//! And `rill serve` streams 200 random ranges byte-identical over
//! `/stream` while it downloads from a uTP-only qBittorrent, its only peer.
//!
//! Run with `cargo test --test utp`. Needs opentracker, qbittorrent-nox,
//! mktorrent, curl (Debian packages).

use rill_testkit as support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::qbittorrent::Qbittorrent;
use support::request::request;
use support::rill::{Rill, RillOpts};
use support::torrent::{make_torrent, Torrent};
use support::tracker::Opentracker;
use support::{data, json_field, TestEnv, WAIT};

const PIECE_LOG2: u32 = 15;
const MIB: u64 = 1024 * 1024;
/// How long TCP-only rill is given to get anything.
const TCP_TRIAL: Duration = Duration::from_secs(15);

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// qbittorrent-nox speaking uTP only (`bittorrent_protocol` 2), with
/// `more` preferences (`,"key":value...`), checked to have taken.
fn utp_only_qbittorrent(env: &TestEnv, more: &str) -> Qbittorrent {
    let mut qb = Qbittorrent::start(env, "qbittorrent");
    qb.set_preferences(env, &format!(r#"{{"bittorrent_protocol":2{more}}}"#));
    match qb.preference("bittorrent_protocol") {
        Ok(v) if v == "2" => {}
        other => env.fail(&format!("qBittorrent bittorrent_protocol: {other:?}")),
    }
    qb
}

/// `qb` seeds `content` (the file `t` was made from), registered at the
/// tracker.
fn seed_from(
    env: &TestEnv,
    qb: &mut Qbittorrent,
    tracker: &mut Opentracker,
    t: &Torrent,
    content: &Path,
) {
    let dir = env.mkdir("seed-qb");
    data::copy_tree(content, &dir.join(content.file_name().expect("a name")));
    qb.add(env, t, &dir);
    qb.wait_complete(env, t);
    tracker.wait_seeders(env, t, 1);
}

#[test]
fn downloads_from_utp_only_qbittorrent() {
    let env = TestEnv::new("utp_qb");
    let content: PathBuf = env.path("src/utp-only.bin");
    data::write_random_file(&content, 6 * MIB + 1234, 29);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let mut qb = utp_only_qbittorrent(&env, "");
    seed_from(&env, &mut qb, &mut tracker, &t, &content);
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
    let mut qb = utp_only_qbittorrent(&env, "");
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

/// `/stream` through `rill serve` whose only peer is a uTP-only
/// qBittorrent (issue 12, shown 4): the 200 random ranges of
/// tests/stream, over HTTP while the torrent downloads over uTP, equal the
/// source; the API lists the peer as `utp`.
#[test]
fn streams_from_utp_only_qbittorrent() {
    let env = TestEnv::new("utp_stream");
    let content: PathBuf = env.path("src/utp-stream.bin");
    let len = 12 * MIB + 777;
    data::write_random_file(&content, len, 37);
    let bytes = std::fs::read(&content).expect("read the source");
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, 16, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    // Slow enough that the ranges come while downloading.
    let mut qb = utp_only_qbittorrent(&env, r#","up_limit":2097152"#);
    seed_from(&env, &mut qb, &mut tracker, &t, &content);

    let ip = support::net::loopback_ip();
    let config = env.path("serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{ip}:0\"\npeer_listen = \"{ip}:0\"\ndata_dir = \"{}\"\n\
             board = \"generic-x86_64\"\ndht = false\nlsd = false\nport_mapping = false\n",
            env.path("serve-data").display()
        ),
    )
    .expect("write the config");
    let log = env.path("logs/serve.err");
    env.register_log("rill serve", &log);
    let mut cmd = std::process::Command::new(support::rill::bin());
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .env("RILL_LOG", "debug");
    let (child, addr) = support::rill::start_serve(cmd, &log, Duration::from_secs(30))
        .unwrap_or_else(|e| env.fail(&format!("rill serve: {e}")));
    let _serve = support::proc::Guard(child);
    let torrent = std::fs::read(&t.file).expect("read the torrent");
    let head = "Content-Type: application/x-bittorrent\r\n";
    let r = request(addr, "POST", "/api/torrents", head, &torrent);
    if r.status != 201 {
        env.fail(&format!(
            "add: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    let id = t.hex();
    let path = format!("/stream/{id}/0");
    let n = len;
    // xorshift64, the sequence of tests/stream's ranges.
    let mut state: u64 = 0xfeed_beef_0123_4567;
    let mut below = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut during = 0;
    let mut listed_utp = 0;
    for i in 0..200 {
        let start = below(n);
        let end = (start + below(64 * 1024)).min(n - 1);
        let range = format!("Range: bytes={start}-{end}\r\n");
        let r = request(addr, "GET", &path, &range, b"");
        if r.status != 206 {
            env.fail(&format!("range {i}: status {}", r.status));
        }
        if r.body != bytes[start as usize..=end as usize] {
            env.fail(&format!(
                "range {i}: bytes {start}..={end} differ from the source"
            ));
        }
        let info = request(addr, "GET", &format!("/api/torrents/{id}"), "", b"");
        let text = String::from_utf8_lossy(&info.body).into_owned();
        match json_field(&text, "progress").and_then(|p| p.parse::<f64>().ok()) {
            Some(p) if p < 1.0 => during += 1,
            Some(_) => {}
            None => env.fail(&format!("no progress in {text}")),
        }
        // The API's snapshot is a second old at most: the one peer shows
        // up in some of them, and only over uTP.
        match json_field(&text, "transport") {
            Some("utp") => listed_utp += 1,
            Some(other) => env.fail(&format!("a peer over {other}: {text}")),
            None => {}
        }
    }
    eprintln!(
        "{during} of 200 ranges over uTP were served before the download completed; \
         {listed_utp} API answers listed the peer as uTP"
    );
    if during == 0 {
        env.fail("every range came after the download completed");
    }
    if listed_utp == 0 {
        env.fail("no API answer listed the peer (as uTP)");
    }
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    if !stderr.contains(") over uTP") || stderr.contains(") over TCP") {
        env.fail("rill serve's peer connection was not over uTP only");
    }
}
