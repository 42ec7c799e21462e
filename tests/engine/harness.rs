//! Self-checks of the harness with real clients only (no rill), so a broken
//! environment (a missing program, a tracker that refuses the hash) shows up
//! as a harness failure instead of a rill failure. Kept cheap: aria2c to
//! aria2c in a few seconds, plus pure helpers.

use crate::support::aria2::{Aria2, SeedOpts};
use crate::support::rill::{parse_done, Done};
use crate::support::torrent::make_torrent;
use crate::support::tracker::Opentracker;
use crate::support::{json_field, TestEnv};
use crate::{assert_same, multi_file, seed_copy, PIECE_LOG2};

#[test]
fn harness_aria2_to_aria2_through_opentracker() {
    let env = TestEnv::new("harness");
    let content = multi_file(&env, "harness-multi");
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, PIECE_LOG2, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);
    let seed_dir = seed_copy(&env, &content, "aria2");
    let _seeder = Aria2::seed(&env, "aria2-seed", &t, &seed_dir, &SeedOpts::default());
    tracker.wait_seeders(&env, &t, 1);
    let out = env.mkdir("out");
    let mut leecher = Aria2::leech(&env, "aria2-leech", &t, &out);
    leecher.wait_done(&env);
    assert_same(&env, &content, &out.join(&t.name));
}

#[test]
fn done_line_parses() {
    assert_eq!(
        parse_done("done: Ünïcødé: x.bin: 123 bytes from peers, 45 bytes already on disk, 6.5 s"),
        Some(Done {
            name: "Ünïcødé: x.bin".into(),
            from_peers: 123,
            on_disk: 45,
            secs: 6.5
        })
    );
    assert_eq!(
        parse_done("done: a: 1 bytes from peers, 2 bytes already on disk"),
        None
    );
    assert_eq!(
        parse_done("done: a: x bytes from peers, 2 bytes already on disk, 1 s"),
        None
    );
}

#[test]
fn json_fields_are_found() {
    let j = r#"[{"gid":"2","seeder":"true","uploadLength":"123","progress":0.5,"x":true}]"#;
    assert_eq!(json_field(j, "seeder"), Some("true"));
    assert_eq!(json_field(j, "uploadLength"), Some("123"));
    assert_eq!(json_field(j, "progress"), Some("0.5"));
    assert_eq!(json_field(j, "x"), Some("true"));
    assert_eq!(json_field(j, "missing"), None);
}
