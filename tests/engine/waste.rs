//! Bandwidth spent for nothing: two fast seeders must not make `rill
//! download` fetch blocks twice. The completion line says what was wasted
//! (`src/swarm/waste.rs`); a download from two rill seeders on loopback,
//! with in-flight RAM for a few pieces only, must waste less than 1% of the
//! file. (Before the picker reserved RAM for the pieces it started, the
//! blocks of pieces started beyond the cap arrived to no room and were
//! fetched again: 5-30% of the file.)

use crate::support::rill::{Rill, RillOpts};
use crate::support::torrent::make_torrent;
use crate::support::tracker::Opentracker;
use crate::support::{data, TestEnv, WAIT};
use crate::{assert_same, single_file, MIB};

/// 1 MiB pieces (`mktorrent -l 20`), as a film of this size has.
const BIG_PIECE_LOG2: u32 = 20;

/// The "N MiB wasted" of rill's completion line, in bytes.
fn wasted_bytes(line: &str) -> Option<u64> {
    let head = line.split(" MiB wasted").next()?;
    let mib: f64 = head.rsplit(' ').next()?.parse().ok()?;
    Some((mib * MIB as f64) as u64)
}

#[test]
fn two_fast_seeders_send_each_block_once() {
    let env = TestEnv::new("waste_two_seeders");
    let len = 96 * MIB;
    let content = single_file(&env, "film.bin", len);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, BIG_PIECE_LOG2, &tracker_addr.announce_url());
    let tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let source = t.file.to_string_lossy().into_owned();
    let seed_opts = RillOpts {
        seed: true,
        args: vec!["--no-dht".into(), "--utp".into(), "off".into()],
        ..RillOpts::default()
    };
    let mut seeders = Vec::new();
    for label in ["seed-a", "seed-b"] {
        let out = env.mkdir(label);
        data::copy_tree(&content, &out.join(&t.name));
        let mut s = Rill::download(&env, label, &source, &out, &seed_opts);
        s.wait_done(&env, WAIT);
        seeders.push(s);
    }
    env.wait_until("both seeders to be known to the tracker", WAIT, || {
        let (seeding, _) = tracker.scrape(&t)?;
        Ok(seeding >= 2)
    });
    // `rill download` keeps 6 MiB in flight: a few 1 MiB pieces.
    let out = env.mkdir("leech");
    let opts = RillOpts {
        args: vec!["--no-dht".into(), "--utp".into(), "off".into()],
        ..RillOpts::default()
    };
    let mut leech = Rill::download(&env, "leech", &source, &out, &opts);
    let done = leech.wait_finished(&env);
    assert_eq!(done.from_peers, len, "{done:?}");
    assert_same(&env, &content, &out.join(&t.name));
    let stderr = leech.stderr();
    let Some(line) = stderr.lines().rev().find(|l| l.contains(" MiB wasted")) else {
        env.fail("no 'MiB wasted' in the completion line");
    };
    eprintln!("{line}");
    // No block may arrive to a piece without room: that is fetched twice.
    assert!(!line.contains("no room"), "{line}");
    // What is left is endgame's second requests, bounded by the blocks in
    // flight at the end (6 MiB here), not by the file.
    let wasted = wasted_bytes(line).unwrap_or(u64::MAX);
    assert!(wasted < len / 20, "{wasted} bytes of {len} wasted: {line}");
    for s in &mut seeders {
        if let Err(e) = s.check_alive().and_then(|_| s.check_no_panic()) {
            env.fail(&e);
        }
    }
}
