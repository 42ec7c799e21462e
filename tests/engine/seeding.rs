//! rill as the only seeder: `rill download --seed` on data already complete
//! in its output directory (the "verified and reused" path) must report it
//! all as already on disk, announce to the tracker, and serve it to aria2c,
//! transmission and qBittorrent (each alone, in its own test), which must end
//! with byte-identical copies.

use crate::support::aria2::Aria2;
use crate::support::qbittorrent::Qbittorrent;
use crate::support::rill::{Rill, RillOpts};
use crate::support::torrent::{make_torrent, Torrent};
use crate::support::tracker::Opentracker;
use crate::support::transmission::Transmission;
use crate::support::{data, TestEnv, WAIT};
use crate::{assert_same, multi_file, single_file, MIB, PIECE_LOG2};
use std::path::Path;

/// A torrent of `content` and a tracker for it.
fn tracked(env: &TestEnv, content: &Path) -> (Torrent, Opentracker) {
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(env, content, PIECE_LOG2, &tracker_addr.announce_url());
    let tracker = Opentracker::start(env, tracker_addr, &[&t]);
    (t, tracker)
}

/// Start rill seeding `t` from a copy of `content` in its `--out` directory;
/// returns once it reported everything on disk and announced.
fn rill_seeds(env: &TestEnv, t: &Torrent, content: &Path, tracker: &Opentracker) -> Rill {
    let out = env.mkdir("rill-out");
    data::copy_tree(content, &out.join(&t.name));
    let known_before = tracker.scrape(t).map(|(s, l)| s + l).unwrap_or(0);
    let opts = RillOpts {
        seed: true,
        ..RillOpts::default()
    };
    let source = t.file.to_string_lossy().into_owned();
    let mut rill = Rill::download(env, "rill-seed", &source, &out, &opts);
    let done = rill.wait_done(env, WAIT);
    if done.name != t.name || done.on_disk != t.total_len || done.from_peers != 0 {
        env.fail(&format!(
            "rill should have found all {} bytes of {} on disk; done line: {done:?}",
            t.total_len, t.name
        ));
    }
    // Whether rill first announced as leecher or seeder, it must be listed.
    env.wait_until("rill to be known to the tracker", WAIT, || {
        rill.check_alive()?;
        let (seeders, leechers) = tracker.scrape(t)?;
        Ok(seeders + leechers > known_before)
    });
    rill
}

/// After a leecher finished: rill must still be seeding and must not have
/// panicked, and the leecher's copy must match.
fn check_after(env: &TestEnv, rill: &mut Rill, content: &Path, leeched: &Path) {
    if let Err(e) = rill.check_alive().and_then(|_| rill.check_no_panic()) {
        env.fail(&e);
    }
    assert_same(env, content, leeched);
}

#[test]
fn aria2_downloads_from_rill() {
    let env = TestEnv::new("seed_to_aria2");
    let content = multi_file(&env, "seeded-multi");
    let (t, tracker) = tracked(&env, &content);
    let mut rill = rill_seeds(&env, &t, &content, &tracker);
    let out = env.mkdir("aria2-out");
    let mut leecher = Aria2::leech(&env, "aria2-leech", &t, &out);
    leecher.wait_done(&env);
    check_after(&env, &mut rill, &content, &out.join(&t.name));
}

/// transmission 3.00 never dials loopback (127/8) addresses it gets from a
/// tracker: it only takes incoming connections here. So it announces first
/// and rill, starting after it, must connect to it (a seeder dialing the
/// leechers the tracker lists, as other clients do).
#[test]
fn transmission_downloads_from_rill() {
    let env = TestEnv::new("seed_to_transmission");
    let content = single_file(&env, "seeded-single.bin", 4 * MIB + 555);
    let (t, tracker) = tracked(&env, &content);
    let out = env.mkdir("transmission-out");
    let mut tr = Transmission::start(&env, "transmission", &out);
    tr.add(&env, &t, &out);
    env.wait_until("transmission to announce as leecher", WAIT, || {
        Ok(tracker.scrape(&t)?.1 >= 1)
    });
    let mut rill = rill_seeds(&env, &t, &content, &tracker);
    tr.wait_complete(&env, &t);
    check_after(&env, &mut rill, &content, &out.join(&t.name));
}

#[test]
fn qbittorrent_downloads_from_rill() {
    let env = TestEnv::new("seed_to_qbittorrent");
    let content = multi_file(&env, "seeded-multi-qb");
    let (t, tracker) = tracked(&env, &content);
    let mut rill = rill_seeds(&env, &t, &content, &tracker);
    let out = env.mkdir("qbittorrent-out");
    let mut qb = Qbittorrent::start(&env, "qbittorrent");
    qb.add(&env, &t, &out);
    qb.wait_complete(&env, &t);
    check_after(&env, &mut rill, &content, &out.join(&t.name));
}
