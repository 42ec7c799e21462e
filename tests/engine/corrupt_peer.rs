//! A lying peer: aria2c seeding a corrupted copy (`--bt-seed-unverified`,
//! every third piece damaged) beside an honest transmission. transmission
//! unchokes only after ~10 s, so rill meets the liar's data first. rill must
//! still finish byte-identical, warn about the hash failures naming the
//! liar's address, and never ban the honest seeder.

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::rill::{Rill, RillOpts};
use crate::support::torrent::make_torrent;
use crate::support::tracker::Opentracker;
use crate::support::transmission::Transmission;
use crate::support::{data, TestEnv};
use crate::{assert_same, seed_copy, single_file, MIB, PIECE, PIECE_LOG2};

#[test]
fn lying_seeder_is_detected_and_named() {
    let env = TestEnv::new("corrupt_peer");
    let content = single_file(&env, "lied-about.bin", 4 * MIB);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);

    let liar_dir = seed_copy(&env, &content, "liar");
    let bad: Vec<u64> = (0..t.piece_count()).filter(|p| p % 3 == 1).collect();
    data::corrupt_pieces(&liar_dir.join(&t.name), PIECE, &bad);
    let opts = SeedOpts {
        unverified: true,
        ..SeedOpts::default()
    };
    let liar = Aria2::seed(&env, "aria2-liar", &t, &liar_dir, &opts);

    let honest_dir = seed_copy(&env, &content, "transmission");
    let mut honest = Transmission::start(&env, "transmission", &honest_dir);
    honest.add(&env, &t, &honest_dir);
    honest.wait_complete(&env, &t);
    tracker.wait_seeders(&env, &t, 2);

    let out = env.mkdir("out");
    let source = t.file.to_string_lossy().into_owned();
    let mut rill = Rill::download(&env, "rill", &source, &out, &RillOpts::default());
    let done = rill.wait_finished(&env);
    assert_same(&env, &content, &out.join(&t.name));
    if done.from_peers < t.total_len {
        env.fail(&format!(
            "done line {done:?}: fewer bytes from peers than the torrent has"
        ));
    }

    let stderr = rill.stderr();
    let liar_addr = liar.peer_addr().to_string();
    let named = stderr.lines().any(|l| {
        let lower = l.to_lowercase();
        l.contains(&liar_addr) && lower.contains("hash") && lower.contains("piece")
    });
    if !named {
        env.fail(&format!(
            "no hash-failure warning naming the lying peer {liar_addr} in rill's stderr"
        ));
    }
    let honest_ban = format!("banning peer {}:", honest.ip());
    if let Some(line) = stderr.lines().find(|l| l.contains(&honest_ban)) {
        env.fail(&format!("rill banned the honest seeder: {line}"));
    }
}
