//! Holepunch (BEP 55, `ut_holepunch`) through two NATs, with real
//! programs in network namespaces the test makes (root only):
//!
//! ```text
//!   rill 192.168.1.2 -- gw A (masquerade) 11.0.0.2 --+
//!                                                     inet (a bridge): relay qBittorrent 11.0.0.1
//!   qBittorrent seeder 192.168.2.2 -- gw B 11.0.0.3 --+
//! ```
//!
//! Each gateway masquerades its LAN and drops every packet from the
//! "internet" that is not part of a flow its LAN started, so neither rill
//! nor the seeder accepts a connection from outside. Both connect to the
//! relay (a qbittorrent-nox in the internet namespace, uTP only so that it
//! sees each peer at the UDP port its NAT maps, with peer exchange on and
//! a 2 KiB/s download limit: enough for handshakes and PEX, and with
//! 1 MiB pieces it has no piece to give for minutes). The relay tells
//! rill of the seeder by PEX; rill's direct dial fails, it asks the relay
//! for a rendezvous, and both ends dial each other over uTP at once.
//!
//! First `rill download --no-holepunch` must get nothing in
//! [`NO_HOLEPUNCH_TRIAL`] (so the NATs hold and a pass proves the
//! holepunch); then rill completes byte-identical, its log shows the
//! holepunched connection, and the relay uploaded nothing.
//!
//! And rill as the relay (in the internet namespace) for a qBittorrent
//! leecher behind NAT A and the NAT'd seeder: the leecher gets connected
//! to the seeder (only a holepunch can do that) and completes
//! byte-identical. With the relay's `--no-holepunch` that connection never
//! comes (checked by hand once, see the test's docs).
//!
//! Run with `cargo test --test holepunch` as root. Needs ip, nft,
//! qbittorrent-nox, mktorrent, curl.

use rill_testkit as support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::netns::{sh, tag, Netns};
use support::proc::Proc;
use support::qbittorrent::{QbOpts, Qbittorrent};
use support::torrent::{make_torrent, Torrent};
use support::{data, json_field, TestEnv};

const RELAY: &str = "11.0.0.1:7001";
const SEEDER: &str = "192.168.2.2:7002";
/// rill's listen port (on 192.168.N.2 behind NAT N).
const RILL_PORT: u16 = 7003;
const MIB: u64 = 1024 * 1024;
/// How long rill without holepunch is given to get anything.
const NO_HOLEPUNCH_TRIAL: Duration = Duration::from_secs(30);
/// Bound for the holepunched download.
const DOWNLOAD: Duration = Duration::from_secs(120);

/// One NAT'd LAN: its gateway and the host behind it.
struct Nat {
    gw: Netns,
    host: Netns,
}

/// The internet namespace and the NATs (deleted on drop): rill behind
/// `a`, the seeder behind `b`, rill without holepunch behind `c` (a NAT of
/// its own: libtorrent takes one connection per IP, and the relay may
/// still hold the killed rill's uTP connection when the next one comes).
struct World {
    inet: Netns,
    a: Nat,
    b: Nat,
    c: Nat,
}

/// The address of the host in `ns` (`<prefix>hN`: 192.168.N.2).
fn host_ip(ns: &Netns) -> String {
    let n = ns.name.rsplit('h').next().unwrap_or("1");
    format!("192.168.{n}.2")
}

/// A veth pair `x` (in `xn`, address `xa`/24) -- `y` (in `yn`, `ya`/24), up.
fn link(env: &TestEnv, (xn, x, xa): (&Netns, &str, &str), (yn, y, ya): (&Netns, &str, &str)) {
    sh(
        env,
        &["ip", "link", "add", x, "type", "veth", "peer", "name", y],
    );
    for (ns, dev, addr) in [(xn, x, xa), (yn, y, ya)] {
        sh(env, &["ip", "link", "set", dev, "netns", &ns.name]);
        ns.ip(env, &["addr", "add", &format!("{addr}/24"), "dev", dev]);
        ns.ip(env, &["link", "set", dev, "up"]);
    }
}

/// LAN `192.168.N.0/24` behind a gateway at `11.0.0.(N+1)` on the
/// internet (the bridge `inet0` in `inet`).
fn nat(env: &TestEnv, inet: &Netns, tag: &str, n: u8) -> Nat {
    let nat = Nat {
        gw: Netns::new(env, format!("rhp{tag}g{n}")),
        host: Netns::new(env, format!("rhp{tag}h{n}")),
    };
    let (inet_if, wan, lan, host_if) = (
        format!("rhp{tag}i{n}"),
        format!("rhp{tag}w{n}"),
        format!("rhp{tag}l{n}"),
        format!("rhp{tag}e{n}"),
    );
    sh(
        env,
        &[
            "ip", "link", "add", &inet_if, "type", "veth", "peer", "name", &wan,
        ],
    );
    sh(env, &["ip", "link", "set", &inet_if, "netns", &inet.name]);
    sh(env, &["ip", "link", "set", &wan, "netns", &nat.gw.name]);
    inet.ip(env, &["link", "set", &inet_if, "master", "inet0", "up"]);
    let wan_ip = format!("11.0.0.{}/24", n + 1);
    nat.gw.ip(env, &["addr", "add", &wan_ip, "dev", &wan]);
    nat.gw.ip(env, &["link", "set", &wan, "up"]);
    link(
        env,
        (&nat.gw, &lan, &format!("192.168.{n}.1")),
        (&nat.host, &host_if, &format!("192.168.{n}.2")),
    );
    nat.gw
        .ip(env, &["route", "add", "default", "via", "11.0.0.1"]);
    nat.host.ip(
        env,
        &["route", "add", "default", "via", &format!("192.168.{n}.1")],
    );
    let gw = &nat.gw.name;
    sh(
        env,
        &[
            "ip",
            "netns",
            "exec",
            gw,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    );
    // Masquerade; from the WAN only what belongs to a flow the LAN began.
    let rules = env.path(&format!("gw{n}.nft"));
    std::fs::write(
        &rules,
        format!(
            "table ip nat {{\n\
             chain postrouting {{ type nat hook postrouting priority 100; oifname \"{wan}\" masquerade; }}\n\
             }}\n\
             table ip filter {{\n\
             chain forward {{ type filter hook forward priority 0; policy drop;\n\
               ct state established,related accept; iifname \"{lan}\" oifname \"{wan}\" accept; }}\n\
             chain input {{ type filter hook input priority 0; policy accept;\n\
               iifname \"{wan}\" ct state established,related accept; iifname \"{wan}\" drop; }}\n\
             }}\n"
        ),
    )
    .unwrap_or_else(|e| env.fail(&format!("write {}: {e}", rules.display())));
    let r = rules.to_string_lossy().into_owned();
    sh(env, &["ip", "netns", "exec", gw, "nft", "-f", &r]);
    nat
}

impl World {
    fn new(env: &TestEnv) -> World {
        let tag = tag();
        let inet = Netns::new(env, format!("rhp{tag}n"));
        inet.ip(env, &["link", "add", "name", "inet0", "type", "bridge"]);
        inet.ip(env, &["addr", "add", "11.0.0.1/24", "dev", "inet0"]);
        inet.ip(env, &["link", "set", "inet0", "up"]);
        // One segment with a default route: with the relay's address on
        // one of two point-to-point links and no default route, the
        // seeder's libtorrent never completed a connection to it.
        inet.ip(env, &["route", "add", "default", "dev", "inet0"]);
        let a = nat(env, &inet, &tag, 1);
        let b = nat(env, &inet, &tag, 2);
        let c = nat(env, &inet, &tag, 3);
        World { inet, a, b, c }
    }
}

/// `rill download` of `t` in `ns` into `out`, listening on `listen`,
/// debug log, with `more` flags.
fn rill_run(
    env: &TestEnv,
    ns: &Netns,
    label: &str,
    (t, out): (&Torrent, &Path),
    listen: &str,
    more: &[&str],
) -> Proc {
    let bin = support::rill::bin().to_string_lossy().into_owned();
    let (file, out) = (
        t.file.to_string_lossy().into_owned(),
        out.to_string_lossy().into_owned(),
    );
    let mut argv = vec![
        "env",
        "RILL_LOG=debug",
        &bin,
        "download",
        &file,
        "--out",
        &out,
        "--listen",
        listen,
        "--no-dht",
        "--no-lsd",
    ];
    argv.extend_from_slice(more);
    Proc::spawn(env, label, &mut ns.exec(&argv))
}

/// rill behind a NAT (`ns`), told of the relay; holepunch off if
/// `no_holepunch`.
fn rill_in(
    env: &TestEnv,
    ns: &Netns,
    label: &str,
    t: &Torrent,
    out: &Path,
    no_holepunch: bool,
) -> Proc {
    let listen = format!("{}:{RILL_PORT}", host_ip(ns));
    let mut more = vec!["--peer", RELAY];
    if no_holepunch {
        more.push("--no-holepunch");
    }
    rill_run(env, ns, label, (t, out), &listen, &more)
}

/// A qBittorrent seeder of `t` (made from `content`) behind NAT B, PEX
/// off: it learns of others only from a relay's holepunch connect (with
/// PEX, both ends would keep dialling each other and a hole could open by
/// chance).
fn natted_seeder(env: &TestEnv, world: &World, t: &Torrent, content: &Path) -> Qbittorrent {
    let opts = QbOpts {
        netns: Some(&world.b.host),
        peer: Some(SEEDER.parse().unwrap()),
        lsd: false,
        pex: false,
    };
    let mut seeder = Qbittorrent::start_with(env, "seeder-qb", &opts);
    let seed_dir = env.mkdir("seed");
    data::copy_tree(content, &seed_dir.join(&t.name));
    seeder.add(env, t, &seed_dir);
    seeder.wait_complete(env, t);
    seeder
}

/// Tell `qb` of `peer` for `t`.
fn add_peer(env: &TestEnv, qb: &Qbittorrent, t: &Torrent, peer: &str) {
    let (hashes, peers) = (format!("hashes={}", t.hex()), format!("peers={peer}"));
    if let Err(e) = qb.post("torrents/addPeers", &[&hashes, &peers]) {
        env.fail(&format!("addPeers {peer}: {e}"));
    }
}

#[test]
fn rill_behind_nat_downloads_from_natted_qbittorrent_by_holepunch() {
    if !support::proc::is_root() {
        eprintln!("skipped: needs root for network namespaces");
        return;
    }
    let env = TestEnv::new("holepunch");
    let world = World::new(&env);
    let content = env.path("src/punched.bin");
    // Whole 1 MiB pieces: a short last one would reach the relay at
    // 2 KiB/s in a second, and it could pass it on.
    data::write_random_file(&content, 3 * MIB, 55);
    let t = make_torrent(&env, &content, 20, "http://11.0.0.1:1/announce");

    // The relay: uTP only, PEX on, downloading at 2 KiB/s (no piece).
    let relay_opts = QbOpts {
        netns: Some(&world.inet),
        peer: Some(RELAY.parse().unwrap()),
        lsd: false,
        pex: true,
    };
    let mut relay = Qbittorrent::start_with(&env, "relay-qb", &relay_opts);
    relay.set_preferences(&env, r#"{"bittorrent_protocol":2}"#);
    relay.add(&env, &t, &env.mkdir("relay-data"));
    let hashes = format!("hashes={}", t.hex());
    if let Err(e) = relay.post("torrents/setDownloadLimit", &[&hashes, "limit=2048"]) {
        env.fail(&format!("relay setDownloadLimit: {e}"));
    }

    // The seeder behind NAT B, told of the relay.
    let seeder = natted_seeder(&env, &world, &t, &content);
    add_peer(&env, &seeder, &t, RELAY);
    let relay_peers = format!("sync/torrentPeers?hash={}", t.hex());
    env.wait_until(
        "the relay to be connected to the seeder (11.0.0.3)",
        Duration::from_secs(60),
        || {
            let body = relay.get(&relay_peers)?;
            // The handshake done: the peer's client is named.
            Ok(body.contains("11.0.0.3:7002") && body.contains("qBittorrent/"))
        },
    );

    // Without holepunch: the NATs keep rill and the seeder apart.
    let out = env.mkdir("out-no-holepunch");
    let mut rill = rill_in(&env, &world.c.host, "rill-no-holepunch", &t, &out, true);
    let start = Instant::now();
    // Bounded by NO_HOLEPUNCH_TRIAL.
    while start.elapsed() < NO_HOLEPUNCH_TRIAL {
        if rill.stdout().contains("done: ") {
            env.fail("rill without holepunch completed through two NATs");
        }
        if let Err(e) = rill.check_alive() {
            env.fail(&format!("rill without holepunch died: {e}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = rill.stderr();
    if !log.contains("peers by PEX") {
        env.fail("rill without holepunch never heard of the seeder by PEX");
    }
    let to_seeder = |l: &str| l.contains("11.0.0.3:7002: connected (");
    if log.contains("holepunched") || log.lines().any(to_seeder) {
        env.fail("rill without holepunch connected to the seeder");
    }
    rill.kill();
    drop(rill);
    // The relay still has the seeder.
    env.wait_until(
        "the relay to be connected to the seeder still",
        Duration::from_secs(30),
        || Ok(relay.get(&relay_peers)?.contains("11.0.0.3:7002")),
    );

    // With holepunch: done, byte-identical, over the punched connection.
    let out = env.mkdir("out");
    let mut rill = rill_in(&env, &world.a.host, "rill", &t, &out, false);
    env.wait_until("rill to finish by holepunch", DOWNLOAD, || {
        if rill.stdout().contains("done: ") {
            return Ok(true);
        }
        rill.check_alive()?;
        Ok(false)
    });
    let log = rill.stderr();
    let punched = |l: &str| l.contains("11.0.0.3:7002: holepunched uTP connection (");
    if !log.lines().any(punched) {
        env.fail("no holepunched connection in rill's log");
    }
    let done = rill
        .stdout()
        .lines()
        .find_map(support::rill::parse_done)
        .unwrap_or_else(|| env.fail("no parsable done line"));
    if done.from_peers < t.total_len {
        env.fail(&format!("done line {done:?}: not all from peers"));
    }
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&e);
    }
    // Everything came from the seeder: the relay sent nothing.
    let uploaded = relay.get(&format!("torrents/info?hashes={}", t.hex()));
    let up = uploaded
        .as_deref()
        .ok()
        .and_then(|j| json_field(j, "uploaded"))
        .unwrap_or("?");
    if up != "0" {
        env.fail(&format!("the relay uploaded {up} bytes"));
    }
}

/// rill as the relay, in the internet namespace: a qBittorrent leecher
/// behind NAT A (PEX on) learns the NAT'd seeder from rill's ut_pex (with
/// the holepunch flag), fails to dial it, asks rill for a rendezvous, and
/// rill sends both a connect. The seeder uploads slowly (64 KiB/s), so the
/// leecher is still downloading when the hole opens; a pass needs the
/// leecher connected to the seeder (which only a holepunch can do) and a
/// byte-identical copy. With `--no-holepunch` added to the relay's flags
/// the wait for that connection times out (90 s).
#[test]
fn rill_relays_a_holepunch_between_two_natted_qbittorrents() {
    if !support::proc::is_root() {
        eprintln!("skipped: needs root for network namespaces");
        return;
    }
    let env = TestEnv::new("holepunch_relay");
    let world = World::new(&env);
    let content = env.path("src/relayed.bin");
    data::write_random_file(&content, 4 * MIB + 321, 56);
    let t = make_torrent(&env, &content, 18, "http://11.0.0.1:1/announce");
    let seeder = natted_seeder(&env, &world, &t, &content);
    let hashes = format!("hashes={}", t.hex());
    if let Err(e) = seeder.post("torrents/setUploadLimit", &[&hashes, "limit=65536"]) {
        env.fail(&format!("seeder setUploadLimit: {e}"));
    }

    let relay_out = env.mkdir("relay-out");
    let mut relay = rill_run(
        &env,
        &world.inet,
        "rill-relay",
        (&t, &relay_out),
        RELAY,
        &["--seed"],
    );
    add_peer(&env, &seeder, &t, RELAY);
    env.wait_until(
        "the seeder to connect to rill",
        Duration::from_secs(60),
        || {
            relay.check_alive()?;
            Ok(relay
                .stderr()
                .contains("11.0.0.3:7002: connected (incoming"))
        },
    );

    let leecher_opts = QbOpts {
        netns: Some(&world.a.host),
        peer: Some("192.168.1.2:7003".parse().unwrap()),
        lsd: false,
        pex: true,
    };
    let mut leecher = Qbittorrent::start_with(&env, "leecher-qb", &leecher_opts);
    let out = env.mkdir("leecher-out");
    leecher.add(&env, &t, &out);
    add_peer(&env, &leecher, &t, RELAY);
    let peers = format!("sync/torrentPeers?hash={}", t.hex());
    env.wait_until(
        "the leecher to be connected to the NAT'd seeder",
        Duration::from_secs(90),
        || {
            relay.check_alive()?;
            let body = leecher.get(&peers)?;
            // The seeder's entry with its client named: handshake done.
            Ok(body
                .split("\"11.0.0.3:7002\":")
                .nth(1)
                .is_some_and(|e| e.contains("\"client\":\"qBittorrent/")))
        },
    );
    if !relay.stderr().contains("relayed a holepunch rendezvous") {
        env.fail("no relayed rendezvous in rill's log");
    }
    leecher.wait_complete(&env, &t);
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&e);
    }
}
