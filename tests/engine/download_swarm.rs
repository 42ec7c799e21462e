//! rill downloads from real seeders found through a real tracker: single-
//! and multi-file torrents, from transmission and aria2c together, and from
//! qBittorrent alone (once from an http:// URL of the .torrent). The result
//! must be byte-identical to the source, and the done line must add up.

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::http::FileServer;
use crate::support::qbittorrent::Qbittorrent;
use crate::support::rill::{Done, Rill, RillOpts};
use crate::support::torrent::{make_torrent, Torrent};
use crate::support::tracker::Opentracker;
use crate::support::transmission::Transmission;
use crate::support::TestEnv;
use crate::{assert_same, multi_file, seed_copy, single_file, MIB, PIECE_LOG2};
use std::path::Path;

/// A fresh download's done line: right name, nothing on disk, everything
/// (at least) from peers.
fn check_fresh_done(env: &TestEnv, done: &Done, t: &Torrent) {
    if done.name != t.name || done.on_disk != 0 || done.from_peers < t.total_len {
        env.fail(&format!(
            "done line {done:?} does not fit a fresh download of {} ({} bytes)",
            t.name, t.total_len
        ));
    }
}

/// Seed `content` with transmission and aria2c (each from its own copy)
/// through one tracker, then let rill download it and compare.
fn from_transmission_and_aria2(env: &TestEnv, content: &Path) {
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(env, content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(env, tracker_addr, &[&t]);

    let tr_dir = seed_copy(env, content, "transmission");
    let mut transmission = Transmission::start(env, "transmission", &tr_dir);
    transmission.add(env, &t, &tr_dir);
    transmission.wait_complete(env, &t);
    let a2_dir = seed_copy(env, content, "aria2");
    let _aria2 = Aria2::seed(env, "aria2-seed", &t, &a2_dir, &SeedOpts::default());
    tracker.wait_seeders(env, &t, 2);

    let out = env.mkdir("out");
    let source = t.file.to_string_lossy().into_owned();
    let mut rill = Rill::download(env, "rill", &source, &out, &RillOpts::default());
    let done = rill.wait_finished(env);
    check_fresh_done(env, &done, &t);
    assert_same(env, content, &out.join(&t.name));
}

#[test]
fn single_file_from_transmission_and_aria2() {
    let env = TestEnv::new("single_tr_a2");
    // 5 MiB + a bit: the last piece is short.
    let content = single_file(&env, "single file.bin", 5 * MIB + 1234);
    from_transmission_and_aria2(&env, &content);
}

#[test]
fn multi_file_from_transmission_and_aria2() {
    let env = TestEnv::new("multi_tr_a2");
    let content = multi_file(&env, "Multi Ünïcødé");
    from_transmission_and_aria2(&env, &content);
}

/// Seed `content` with qBittorrent alone; rill gets the torrent from
/// `source(t)` (a path, or a URL served by the returned guard).
fn from_qbittorrent(env: &TestEnv, content: &Path, by_url: bool) {
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(env, content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(env, tracker_addr, &[&t]);

    let qb_dir = seed_copy(env, content, "qbittorrent");
    let mut qb = Qbittorrent::start(env, "qbittorrent");
    qb.add(env, &t, &qb_dir);
    qb.wait_complete(env, &t);
    tracker.wait_seeders(env, &t, 1);

    let server = by_url.then(|| FileServer::start(&t.file));
    let source = match &server {
        Some(s) => s.url(&format!("{}.torrent", t.name)),
        None => t.file.to_string_lossy().into_owned(),
    };
    let out = env.mkdir("out");
    let mut rill = Rill::download(env, "rill", &source, &out, &RillOpts::default());
    let done = rill.wait_finished(env);
    check_fresh_done(env, &done, &t);
    assert_same(env, content, &out.join(&t.name));
}

#[test]
fn multi_file_from_qbittorrent() {
    let env = TestEnv::new("multi_qb");
    let content = multi_file(&env, "multi-qb");
    from_qbittorrent(&env, &content, false);
}

#[test]
fn single_file_by_http_url_from_qbittorrent() {
    let env = TestEnv::new("single_url_qb");
    let content = single_file(&env, "by-url.bin", 4 * MIB + 4321);
    from_qbittorrent(&env, &content, true);
}
