//! Local peer discovery (BEP 14) between two rill instances on a LAN made
//! of two network namespaces joined by a veth pair (multicast on, a route
//! for 224.0.0.0/4): no tracker (the torrent names none), no DHT, no
//! `x.pe`, no `--peer`. The downloader (`rill serve` on its default peer
//! listener, the torrent added through the API) starts first and
//! announces into the empty LAN; the seeder (`rill download --seed` on
//! its veth address) starts next and announces at start; the downloader
//! hears it, dials it and completes byte-identical, after a flood of
//! hostile datagrams on the group (counted as malformed and rate-limited
//! in `/metrics`, no harm done). Asserted: its log
//! names the seeder as found by local discovery and the outgoing
//! connection to exactly that address, `/metrics` counts the LSD peer,
//! and the seeder's log shows the incoming connection from the
//! downloader's address. Twice: the seeder on its IPv4 address (the
//! IPv4 group) and on its IPv6 address (the IPv6 group only). And once
//! against a real qBittorrent with LSD on as the seeder: rill finds it by
//! its announce, and qBittorrent's own counter shows the upload.
//!
//! Needs root (network namespaces), iproute2, curl, mktorrent,
//! qbittorrent-nox; without
//! root it says so and passes (nothing to test).

use rill_testkit as support;

use std::time::Duration;

use support::netns::{tag, veth_pair, Netns};
use support::proc::{is_root, Proc};
use support::{data, json_field, run_tool, TestEnv};

const SUBNET: u8 = 78;

#[test]
fn two_rills_on_a_lan_find_each_other_by_local_discovery() {
    run(
        "lsd_lan",
        &format!("10.{SUBNET}.0.1:6881"),
        &format!("10.{SUBNET}.0.2"),
    );
}

/// The seeder on its IPv6 address only: it announces on the IPv6 group
/// alone, and the dual-stack downloader must hear it there.
#[test]
fn local_discovery_over_ipv6() {
    run(
        "lsd_lan6",
        &format!("[fd00:{SUBNET}::1]:6881"),
        &format!("[fd00:{SUBNET}::2]"),
    );
}

/// `seeder`: the seeder's `--listen`; `downloader_ip`: how the seeder's
/// log names the downloader.
fn run(test: &str, seeder: &str, downloader_ip: &str) {
    if !is_root() {
        eprintln!("SKIPPED: local discovery test needs root for network namespaces");
        return;
    }
    let env = TestEnv::new(test);
    let content = env.path("src/lsd.bin");
    data::write_random_file(&content, 6 * 1024 * 1024 + 123, 14);
    let name = "lsd.bin";
    let torrent = env.path("lsd.torrent");
    support::torrent::mktorrent(&content, &torrent, 15, None);

    let t = tag();
    let seed_ns = Netns::new(&env, format!("peerslsd{t}a"));
    let down_ns = Netns::new(&env, format!("peerslsd{t}b"));
    veth_pair(&env, &seed_ns, &down_ns, &format!("pl{t}"), SUBNET);

    // The downloader: rill serve, peer listener on its default.
    let data_dir = env.mkdir("down-data");
    let config = env.path("down.toml");
    std::fs::write(
        &config,
        "dlna = false\nport_mapping = false\ndht = false\nlsd = true\n",
    )
    .unwrap();
    let bin = support::rill::bin().to_string_lossy().into_owned();
    let (cfg, dir) = (
        config.to_string_lossy().into_owned(),
        data_dir.to_string_lossy().into_owned(),
    );
    let http = "127.0.0.1:8080";
    let mut down = Proc::spawn(
        &env,
        "rill-serve",
        &mut down_ns.exec(&[
            "env",
            "RILL_LOG=debug",
            &bin,
            "serve",
            "--config",
            &cfg,
            "--data",
            &dir,
            "--listen",
            http,
        ]),
    );
    env.wait_until("rill serve to be ready", Duration::from_secs(30), || {
        down.check_alive()?;
        Ok(down.stdout().contains("rill serve: http://"))
    });
    let curl = |args: &[&str]| {
        let mut v = vec!["curl", "-sS", "--fail", "--max-time", "10"];
        v.extend_from_slice(args);
        run_tool(&mut down_ns.exec(&v), Duration::from_secs(15))
    };
    let file = format!("@{}", torrent.display());
    let added = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-bittorrent",
        "--data-binary",
        &file,
        &format!("http://{http}/api/torrents"),
    ])
    .unwrap_or_else(|e| env.fail(&format!("adding the torrent: {e}")));
    let id = json_field(&added, "id")
        .unwrap_or_else(|| env.fail(&format!("no id in {added}")))
        .to_string();
    env.wait_until(
        "the downloader's first LAN announce",
        Duration::from_secs(30),
        || {
            down.check_alive()?;
            Ok(down.stderr().contains("announced on the LAN"))
        },
    );
    // Hostile datagrams on the group first, from the seeder's side: 400
    // at once (garbage, bad announces, oversized ones) go past the read
    // budget; the downloader counts them and carries on.
    let flood = "import socket\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        bad = [b'\\xff' * 40, b'BT-SEARCH * HTTP/1.1\\r\\nPort: 0\\r\\n\\r\\n', b'x' * 2000,\n\
               b'BT-SEARCH * HTTP/1.1\\r\\nPort: 1\\r\\nInfohash: zz\\r\\n\\r\\n']\n\
        for i in range(400):\n    s.sendto(bad[i % 4], ('239.192.152.143', 6771))\n";
    run_tool(
        &mut seed_ns.exec(&["python3", "-c", flood]),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| env.fail(&format!("sending the flood: {e}")));
    let counter = |page: &str, name: &str| {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    env.wait_until("the flood to be counted", Duration::from_secs(10), || {
        down.check_alive()?;
        let m = curl(&[&format!("http://{http}/metrics")])?;
        Ok(counter(&m, "rill_lsd_malformed_total") > 0
            && counter(&m, "rill_lsd_rate_limited_total") > 0)
    });

    // The seeder: data in place, its veth address.
    let seed_dir = env.mkdir("seed");
    data::copy_tree(&content, &seed_dir.join(name));
    let (t_path, s_dir) = (
        torrent.to_string_lossy().into_owned(),
        seed_dir.to_string_lossy().into_owned(),
    );
    let mut seed = Proc::spawn(
        &env,
        "rill-seed",
        &mut seed_ns.exec(&[
            "env",
            "RILL_LOG=debug",
            &bin,
            "download",
            &t_path,
            "--out",
            &s_dir,
            "--seed",
            "--listen",
            seeder,
            "--no-dht",
        ]),
    );

    let url = format!("http://{http}/api/torrents/{id}");
    env.wait_until("the download to complete", Duration::from_secs(90), || {
        down.check_alive()?;
        seed.check_alive()?;
        let j = curl(&[&url])?;
        Ok(matches!(
            json_field(&j, "state"),
            Some("seeding") | Some("complete")
        ))
    });
    if let Err(e) = data::diff_trees(&content, &data_dir.join("downloads").join(name)) {
        env.fail(&e);
    }
    let log = down.stderr();
    if !log.contains(&format!("local peer discovery found {seeder}")) {
        env.fail(&format!(
            "the downloader did not find {seeder} by local discovery"
        ));
    }
    if !log.contains(&format!("{seeder}: connected (outgoing")) {
        env.fail(&format!("the downloader did not dial {seeder}"));
    }
    let metrics = curl(&[&format!("http://{http}/metrics")]).unwrap_or_else(|e| env.fail(&e));
    let peers = counter(&metrics, "rill_lsd_peers_total");
    if peers < 1 {
        env.fail(&format!("/metrics: rill_lsd_peers_total is {peers}"));
    }
    // The other side's view: the connection came from the downloader.
    env.wait_until(
        "the seeder's log of the downloader's connection",
        Duration::from_secs(10),
        || {
            Ok(seed.stderr().contains(&format!("{downloader_ip}:"))
                && seed.stderr().contains("connected (incoming"))
        },
    );
}

/// rill and a real qBittorrent (libtorrent) with LSD on: rill downloads
/// what qBittorrent seeds, found only by qBittorrent's announce (the
/// torrent names a tracker on the namespace's 127.0.0.1:1, where nothing
/// listens). qBittorrent's own `uploaded` must show the whole torrent.
#[test]
fn rill_finds_qbittorrent_by_local_discovery() {
    if !is_root() {
        eprintln!("SKIPPED: local discovery test needs root for network namespaces");
        return;
    }
    use support::qbittorrent::{QbOpts, Qbittorrent};
    let env = TestEnv::new("lsd_qbt");
    let content = env.path("src/lsdq.bin");
    data::write_random_file(&content, 5 * 1024 * 1024 + 7, 15);
    let t = support::torrent::make_torrent(&env, &content, 15, "http://127.0.0.1:1/announce");
    let tag = tag();
    let qb_ns = Netns::new(&env, format!("peerslsd{tag}a"));
    let rill_ns = Netns::new(&env, format!("peerslsd{tag}b"));
    veth_pair(&env, &qb_ns, &rill_ns, &format!("pl{tag}"), SUBNET);
    let qb_addr = format!("10.{SUBNET}.0.1:7881");

    // rill first, on its default listener: nobody hears its announce.
    let out = env.mkdir("out");
    let bin = support::rill::bin().to_string_lossy().into_owned();
    let (tf, o) = (
        t.file.to_string_lossy().into_owned(),
        out.to_string_lossy().into_owned(),
    );
    let mut rill = Proc::spawn(
        &env,
        "rill",
        &mut rill_ns.exec(&[
            "env",
            "RILL_LOG=debug",
            &bin,
            "download",
            &tf,
            "--out",
            &o,
            "--no-dht",
        ]),
    );
    env.wait_until("rill's first LAN announce", Duration::from_secs(30), || {
        rill.check_alive()?;
        Ok(rill.stderr().contains("announced on the LAN"))
    });
    let seed_dir = env.mkdir("seed");
    data::copy_tree(&content, &seed_dir.join(&t.name));
    let opts = QbOpts {
        netns: Some(&qb_ns),
        peer: Some(qb_addr.parse().unwrap()),
        lsd: true,
        pex: false,
    };
    let mut qb = Qbittorrent::start_with(&env, "qbittorrent", &opts);
    qb.add(&env, &t, &seed_dir);

    env.wait_until("rill to finish", Duration::from_secs(90), || {
        match rill.try_exit() {
            Some(s) if s.success() => Ok(true),
            Some(s) => Err(format!("rill exited with {s}")),
            None => Ok(false),
        }
    });
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&e);
    }
    let log = rill.stderr();
    if !log.contains(&format!("local peer discovery found {qb_addr}")) {
        env.fail(&format!("rill did not find {qb_addr} by local discovery"));
    }
    if !log.contains(&format!("{qb_addr}: connected (outgoing")) {
        env.fail(&format!("rill did not connect to {qb_addr}"));
    }
    // qBittorrent's view (its counters lag a second or two).
    env.wait_until(
        "qBittorrent to count the upload",
        Duration::from_secs(20),
        || Ok(qb.uploaded(&t)? >= t.total_len),
    );
}
