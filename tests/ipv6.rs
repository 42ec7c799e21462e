//! IPv6 peers: rill listening on `[::1]` downloads from a real
//! transmission-daemon seeding on `[::1]` (its `bind-address-ipv6`),
//! byte-identical.
//!
//! Discovery is `--peer [::1]:PORT` (the same path as a magnet's `x.pe`):
//! Debian's opentracker is IPv4-only (`opentracker -i ::1` says "V4
//! Tracker is V4 only!"), and transmission leaves `::1`
//! out of its PEX (a "martian" address), so neither a tracker's `peers6`
//! nor PEX `added6` can name a `::1` seeder here; both are parsed and fed
//! to the same address book (unit tests in wire/tracker_http.rs and
//! wire/pex.rs). Needs transmission-daemon, transmission-cli, mktorrent.

use rill_testkit as support;

use std::time::Duration;

use support::rill::{Rill, RillOpts};
use support::torrent::make_torrent;
use support::transmission::Transmission;
use support::{data, net, TestEnv};

#[test]
fn download_from_a_seeder_on_ipv6_loopback() {
    let env = TestEnv::new("ipv6_seed");
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        env.fail("this machine has no ::1 (IPv6 loopback); the test needs it");
    }
    let content = env.path("src/v6.bin");
    data::write_random_file(&content, 3 * 1024 * 1024 + 77, 5);
    // A tracker that is never started: peers come only from --peer.
    let dead = format!("http://127.0.0.1:{}/announce", net::free_port());
    let t = make_torrent(&env, &content, 15, &dead);

    let dir = env.mkdir("seed-tr");
    data::copy_tree(&content, &dir.join(&t.name));
    let mut tr = Transmission::start(&env, "transmission", &dir);
    tr.add(&env, &t, &dir);
    tr.wait_complete(&env, &t);
    let seeder = format!("[::1]:{}", tr.port());
    env.wait_until(
        "transmission to listen on [::1]",
        Duration::from_secs(30),
        || Ok(std::net::TcpStream::connect(&seeder).is_ok()),
    );

    let listen = format!("[::1]:{}", net::free_port());
    let opts = RillOpts {
        args: vec![
            "--no-dht".into(),
            "--listen".into(),
            listen,
            "--peer".into(),
            seeder.clone(),
        ],
        env: vec![("RILL_LOG".into(), "debug".into())],
        ..RillOpts::default()
    };
    let out = env.mkdir("out");
    let source = t.file.to_string_lossy().into_owned();
    let mut rill = Rill::download(&env, "rill", &source, &out, &opts);
    let done = rill.wait_finished(&env);
    if done.from_peers < t.total_len {
        env.fail(&format!(
            "done line {done:?}: not all of it came from the peer"
        ));
    }
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&e);
    }
    if !rill
        .stderr()
        .contains(&format!("{seeder}: connected (outgoing"))
    {
        env.fail(&format!("rill's log shows no connection to {seeder}"));
    }
}
