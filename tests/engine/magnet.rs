//! Magnet links without a tracker: rill must fetch the info dictionary from
//! a peer over BEP 9/10 (ut_metadata), check it against the info hash, then
//! download. Both aria2c and qBittorrent serve ut_metadata; the peer comes
//! from the magnet's `x.pe` (aria2c) or from `--peer` (qBittorrent).
//! The torrents name a tracker that is never started, and magnets carry no
//! `tr`, so peers can only come from `x.pe` / `--peer`.

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::qbittorrent::Qbittorrent;
use crate::support::rill::{Rill, RillOpts};
use crate::support::torrent::make_torrent;
use crate::support::tracker::Opentracker;
use crate::support::TestEnv;
use crate::{assert_same, multi_file, seed_copy, single_file, MIB, PIECE_LOG2};

#[test]
fn magnet_with_x_pe_from_aria2() {
    let env = TestEnv::new("magnet_aria2");
    let content = multi_file(&env, "magnet multi");
    let dead_tracker = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &dead_tracker.announce_url());
    let dir = seed_copy(&env, &content, "aria2");
    let seeder = Aria2::seed(&env, "aria2-seed", &t, &dir, &SeedOpts::default());

    let out = env.mkdir("out");
    let magnet = t.magnet(&[seeder.peer_addr()]);
    let mut rill = Rill::download(&env, "rill", &magnet, &out, &RillOpts::default());
    let done = rill.wait_finished(&env);
    if done.name != t.name || done.from_peers < t.total_len {
        env.fail(&format!(
            "done line {done:?} does not fit {} ({} bytes)",
            t.name, t.total_len
        ));
    }
    assert_same(&env, &content, &out.join(&t.name));
}

#[test]
fn magnet_with_peer_flag_from_qbittorrent() {
    let env = TestEnv::new("magnet_qb");
    let content = single_file(&env, "magnet-single.bin", 3 * MIB + 99);
    let dead_tracker = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &dead_tracker.announce_url());
    let dir = seed_copy(&env, &content, "qbittorrent");
    let mut qb = Qbittorrent::start(&env, "qbittorrent");
    qb.add(&env, &t, &dir);
    qb.wait_complete(&env, &t);

    let out = env.mkdir("out");
    let opts = RillOpts {
        peers: vec![qb.peer_addr()],
        ..RillOpts::default()
    };
    let mut rill = Rill::download(&env, "rill", &t.magnet(&[]), &out, &opts);
    let done = rill.wait_finished(&env);
    if done.name != t.name || done.from_peers < t.total_len {
        env.fail(&format!(
            "done line {done:?} does not fit {} ({} bytes)",
            t.name, t.total_len
        ));
    }
    assert_same(&env, &content, &out.join(&t.name));
}
