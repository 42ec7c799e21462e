//! A stream that waits on a piece no connected peer has: rill asks the DHT
//! again 10 s after its last lookup, whatever its peer count (the "short of
//! peers" re-lookup waits 30 s, the regular one 5 minutes), and finds the
//! seeder that was announced only after rill's first lookup. Two partial
//! aria2c peers (the file's last quarter missing) are what rill has until
//! then. (With four, the four would hold the seeder's upload slots: aria2c
//! kept rill choked for 30 s.)

use std::net::SocketAddr;

use super::download::{config, Serve};
use super::private::{announce_peer, aria2_dht, get_peers, trackerless, wait_udp};
use super::support::proc::Proc;
use super::support::request::request;
use super::support::{self, data, json_field, net, TestEnv, WAIT};

const LEN: u64 = 4 << 20;
/// The partial peers' copies end in this many zero bytes (16 pieces).
const HOLE: u64 = 1 << 20;
const PARTIAL: usize = 2;

#[test]
fn a_stream_stranded_on_a_missing_piece_finds_a_later_seeder_through_the_dht() {
    let env = TestEnv::new("dht-stranded");
    // N: a DHT node (aria2c seeding a dummy torrent to run its DHT).
    let n_peer = net::loopback_addr();
    let n_dht = net::free_port();
    let n_dir = env.mkdir("aria2-node");
    let dummy = n_dir.join("dummy.bin");
    data::write_random_file(&dummy, 70_000, 99);
    let dummy_t = trackerless(&env, &dummy);
    let mut cmd = aria2_dht(n_peer, n_dht, None, &n_dir);
    cmd.args(["-V", "--seed-ratio=0"]).arg(&dummy_t.file);
    let mut procs = vec![Proc::spawn(&env, "aria2-node", &mut cmd)];
    let node = SocketAddr::new((*n_peer.ip()).into(), n_dht);
    wait_udp(&env, node);

    let s_dir = env.mkdir("aria2-seeder");
    let content = s_dir.join("video.bin");
    data::write_random_file(&content, LEN, 7);
    let torrent = trackerless(&env, &content);
    let hash = rill::torrent::InfoHash::from_hex(&torrent.hex).expect("hex");
    let want = std::fs::read(&content).expect("content");
    let mut partial = want.clone();
    let hole_at = (LEN - HOLE) as usize;
    partial[hole_at..].fill(0);

    // The partial peers: they check their copies (-V), hold the first 3 MiB
    // and download at 1 KB/s, so they stay partial.
    let mut partial_addrs = Vec::new();
    for i in 0..PARTIAL {
        let dir = env.mkdir(&format!("aria2-partial-{i}"));
        std::fs::write(dir.join("video.bin"), &partial).expect("partial copy");
        let peer = net::loopback_addr();
        let mut cmd = aria2_dht(peer, net::free_port(), Some(node), &dir);
        cmd.args(["-V", "--seed-ratio=0", "--max-download-limit=1K"])
            .arg(&torrent.file);
        procs.push(Proc::spawn(&env, &format!("aria2-partial-{i}"), &mut cmd));
        partial_addrs.push(SocketAddr::V4(peer));
    }
    env.wait_until("the partial peers' announces to reach N", WAIT, || {
        let listed = get_peers(node, hash.0);
        Ok(partial_addrs.iter().all(|a| listed.contains(a)))
    });

    let (text, _) = config(&env, "data", &[node]);
    let serve = Serve::start_with(&env, "serve", &text, &[("RILL_LOG", "debug")]);
    let http = serve.http;
    let r = request(
        http,
        "POST",
        "/api/torrents",
        "",
        torrent.magnet().as_bytes(),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let one = format!("/api/torrents/{}", torrent.hex);
    env.wait_until("rill connected to the partial peers", WAIT, || {
        let r = request(http, "GET", &one, "", b"");
        let body = String::from_utf8_lossy(&r.body).into_owned();
        Ok(json_field(&body, "peers").and_then(|n| n.parse::<usize>().ok()) == Some(PARTIAL))
    });
    let done = format!("DHT: lookup of {} found", torrent.hex);
    env.wait_until("rill's first lookup to end", WAIT, || {
        Ok(serve.log().contains(&done))
    });

    // Only now the seeder. It runs no DHT (so it never learns of rill and
    // dials nobody: rill must find it); the test announces it to N.
    let s_peer = net::loopback_addr();
    let mut cmd = aria2_dht(s_peer, net::free_port(), None, &s_dir);
    cmd.args(["--enable-dht=false", "-V", "--seed-ratio=0"])
        .arg(&torrent.file);
    procs.push(Proc::spawn(&env, "aria2-seeder", &mut cmd));
    env.wait_until("the seeder to listen", WAIT, || {
        Ok(std::net::TcpStream::connect(s_peer).is_ok())
    });
    env.wait_until("the seeder to be listed in N", WAIT, || {
        Ok(announce_peer(node, hash.0, s_peer)
            && get_peers(node, hash.0).contains(&SocketAddr::V4(s_peer)))
    });

    // The last 64 KiB: no connected peer has them.
    let from = LEN - 65536;
    let range = format!("Range: bytes={from}-\r\n");
    let r = request(
        http,
        "GET",
        &format!("/stream/{}/0", torrent.hex),
        &range,
        b"",
    );
    assert_eq!(r.status, 206, "{}", r.headers);
    assert!(
        r.body == want[from as usize..],
        "streamed tail differs ({} bytes)",
        r.body.len()
    );
    let log = serve.log();
    assert!(
        log.contains(&format!(
            "which none of the {PARTIAL} connected peers has: asking the DHT again"
        )),
        "no re-lookup for the stranded piece:\n{}",
        support::tail_lines(&env.path("logs/serve.err"), 40)
    );
    let seeder = s_peer.to_string();
    assert!(
        log.lines()
            .any(|l| l.contains(&seeder) && l.contains("connected (outgoing")),
        "rill did not dial the late seeder {seeder}"
    );
    drop(procs);
}
