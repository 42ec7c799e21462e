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

/// Tracker + rill seeding `content` from a copy in its `--out` directory.
struct RillSeed {
    t: Torrent,
    // Field order is drop order: rill goes before the tracker.
    rill: Rill,
    _tracker: Opentracker,
}

fn rill_seeds(env: &TestEnv, content: &Path) -> RillSeed {
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(env, content, PIECE_LOG2, &tracker_addr.announce_url());
    let tracker = Opentracker::start(env, tracker_addr, &[&t]);

    let out = env.mkdir("rill-out");
    data::copy_tree(content, &out.join(&t.name));
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
    let what = "rill to be known to the tracker";
    env.wait_until(what, WAIT, || {
        rill.check_alive()?;
        let (seeders, leechers) = tracker.scrape(&t)?;
        Ok(seeders + leechers >= 1)
    });
    RillSeed {
        t,
        rill,
        _tracker: tracker,
    }
}

/// After a leecher finished: rill must still be seeding and must not have
/// panicked, and the leecher's copy must match.
fn check_after(env: &TestEnv, seed: &mut RillSeed, content: &Path, leeched: &Path) {
    if let Err(e) = seed
        .rill
        .check_alive()
        .and_then(|_| seed.rill.check_no_panic())
    {
        env.fail(&e);
    }
    assert_same(env, content, leeched);
}

#[test]
fn aria2_downloads_from_rill() {
    let env = TestEnv::new("seed_to_aria2");
    let content = multi_file(&env, "seeded-multi");
    let mut seed = rill_seeds(&env, &content);
    let out = env.mkdir("aria2-out");
    let mut leecher = Aria2::leech(&env, "aria2-leech", &seed.t, &out);
    leecher.wait_done(&env);
    let leeched = out.join(&seed.t.name);
    check_after(&env, &mut seed, &content, &leeched);
}

#[test]
fn transmission_downloads_from_rill() {
    let env = TestEnv::new("seed_to_transmission");
    let content = single_file(&env, "seeded-single.bin", 4 * MIB + 555);
    let mut seed = rill_seeds(&env, &content);
    let out = env.mkdir("transmission-out");
    let mut tr = Transmission::start(&env, "transmission", &out);
    tr.add(&env, &seed.t, &out);
    tr.wait_complete(&env, &seed.t);
    let leeched = out.join(&seed.t.name);
    check_after(&env, &mut seed, &content, &leeched);
}

#[test]
fn qbittorrent_downloads_from_rill() {
    let env = TestEnv::new("seed_to_qbittorrent");
    let content = multi_file(&env, "seeded-multi-qb");
    let mut seed = rill_seeds(&env, &content);
    let out = env.mkdir("qbittorrent-out");
    let mut qb = Qbittorrent::start(&env, "qbittorrent");
    qb.add(&env, &seed.t, &out);
    qb.wait_complete(&env, &seed.t);
    let leeched = out.join(&seed.t.name);
    check_after(&env, &mut seed, &content, &leeched);
}
