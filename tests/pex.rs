//! Peer exchange (BEP 11) against real aria2c: rill knows only seeder A
//! (a magnet with `x.pe`, no tracker, no DHT); aria2c B found A through a
//! tracker rill never hears of. A sends rill ut_pex (aria2 does, about a
//! minute after the connection starts) naming B; rill must connect to B,
//! and B's own peer list (its JSON-RPC `aria2.getPeers`) must show rill.
//!
//! A uploads slowly so rill is still downloading when the PEX message
//! comes; B has peer exchange off, so it cannot learn rill from A and dial
//! it itself: the connection is rill's. Needs aria2, opentracker, mktorrent.

use rill_testkit as support;

use std::time::Duration;

use support::aria2::{Aria2, SeedOpts};
use support::rill::{Rill, RillOpts};
use support::torrent::make_torrent;
use support::tracker::Opentracker;
use support::{data, net, TestEnv};

/// aria2 sends its first ut_pex 60 s after connecting; leave room.
const PEX_WAIT: Duration = Duration::from_secs(150);

#[test]
fn rill_learns_a_second_peer_by_pex_and_connects() {
    let env = TestEnv::new("pex_aria2");
    let content = env.path("src/pex.bin");
    data::write_random_file(&content, 8 * 1024 * 1024, 11);
    let tracker_addr = Opentracker::reserve();
    let t = make_torrent(&env, &content, 15, &tracker_addr.announce_url());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t]);

    let a_dir = env.mkdir("seed-a");
    data::copy_tree(&content, &a_dir.join(&t.name));
    let opts = SeedOpts {
        max_upload: Some("48K".into()),
        pex: true,
        ..SeedOpts::default()
    };
    let a = Aria2::seed(&env, "aria2-a", &t, &a_dir, &opts);
    tracker.wait_seeders(&env, &t, 1);
    let b_dir = env.mkdir("leech-b");
    let mut b = Aria2::leech_with_rpc(&env, "aria2-b", &t, &b_dir);
    let b_addr = b.peer_addr();
    env.wait_until(
        "aria2-b to connect to aria2-a",
        Duration::from_secs(60),
        || {
            Ok(b.peers()
                .is_ok_and(|p| p.contains(&a.peer_addr().ip().to_string())))
        },
    );

    let listen = net::loopback_addr();
    let opts = RillOpts {
        listen: Some(listen),
        args: vec!["--no-dht".into()],
        env: vec![("RILL_LOG".into(), "debug".into())],
        ..RillOpts::default()
    };
    let out = env.mkdir("out");
    let mut rill = Rill::download(&env, "rill", &t.magnet(&[a.peer_addr()]), &out, &opts);
    let rill_ip = listen.ip().to_string();
    env.wait_until("aria2-b to list rill as a peer", PEX_WAIT, || {
        rill.check_no_panic()?;
        rill.check_alive()?;
        Ok(b.peers()?.contains(&format!("\"{rill_ip}\"")))
    });
    // aria2-b lists rill as soon as the TCP connection is up; rill logs
    // its side once the handshake is done: wait for that line (bounded).
    let dialled = format!("{b_addr}: connected (outgoing");
    env.wait_until(
        "rill's log to show its connection to aria2-b",
        PEX_WAIT,
        || {
            rill.check_alive()?;
            Ok(rill.stderr().contains(&dialled))
        },
    );
    let learned = rill
        .stderr()
        .lines()
        .any(|l| l.contains("by PEX") && l.contains(&a.peer_addr().to_string()));
    if !learned {
        env.fail("rill's log has no ut_pex message from aria2-a");
    }
}

/// rill's extension handshake, as a peer that connects to `addr` for
/// torrent `info_hash` sees it (bounded: 20 s to connect, 10 s to read).
fn ext_handshake_of(
    env: &TestEnv,
    addr: std::net::SocketAddrV4,
    info_hash: [u8; 20],
) -> rill::wire::extension::ExtHandshake {
    use std::io::{Read, Write};
    let mut s = None;
    env.wait_until(
        "rill to accept a connection",
        Duration::from_secs(20),
        || {
            s = std::net::TcpStream::connect_timeout(&addr.into(), Duration::from_secs(2)).ok();
            Ok(s.is_some())
        },
    );
    let mut s = s.expect("connected");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ours = rill::wire::handshake::Handshake::new(info_hash, *b"-TS0001-pexprobe0000");
    s.write_all(&ours.encode()).unwrap();
    let mut theirs = [0u8; rill::wire::handshake::HANDSHAKE_LEN];
    s.read_exact(&mut theirs)
        .unwrap_or_else(|e| env.fail(&format!("no handshake from rill: {e}")));
    // Messages until the extended handshake (id 20, extended id 0), at
    // most 8 of them (a bitfield or have-all comes first or after).
    for _ in 0..8 {
        let mut len = [0u8; 4];
        s.read_exact(&mut len)
            .unwrap_or_else(|e| env.fail(&format!("rill closed: {e}")));
        let len = u32::from_be_bytes(len) as usize;
        assert!(len < 1 << 20, "a {len}-byte message");
        let mut msg = vec![0u8; len];
        s.read_exact(&mut msg).unwrap();
        if len >= 2 && msg[0] == 20 && msg[1] == 0 {
            return rill::wire::extension::ExtHandshake::parse(&msg[2..])
                .unwrap_or_else(|e| env.fail(&format!("rill's extension handshake: {e}")));
        }
    }
    env.fail("no extension handshake from rill in its first 8 messages")
}

#[test]
fn no_pex_leaves_ut_pex_out_of_the_extension_handshake() {
    // `--no-pex` (and `pex = false` for `rill serve`): rill neither offers
    // ut_pex to its peers nor reads theirs; without it, it offers it.
    let env = TestEnv::new("pex_off");
    let content = env.path("src/off.bin");
    data::write_random_file(&content, 256 * 1024, 12);
    let t = make_torrent(&env, &content, 15, "http://127.0.0.1:9/announce");
    let seed_dir = env.mkdir("seed");
    data::copy_tree(&content, &seed_dir.join(&t.name));
    for (label, extra) in [("pex-on", None), ("pex-off", Some("--no-pex"))] {
        let listen = net::loopback_addr();
        let mut args = vec!["--no-dht".to_string(), "--no-lsd".to_string()];
        args.extend(extra.map(str::to_string));
        let opts = RillOpts {
            listen: Some(listen),
            seed: true,
            args,
            ..RillOpts::default()
        };
        let mut rill = Rill::download(&env, label, t.file.to_str().unwrap(), &seed_dir, &opts);
        // Seeding once the data on disk is verified (before that, a
        // handshake for the torrent is not answered).
        rill.wait_done(&env, Duration::from_secs(30));
        let hs = ext_handshake_of(&env, listen, t.info_hash);
        assert_eq!(hs.ut_pex.is_some(), extra.is_none(), "{label}: {hs:?}");
    }
}
