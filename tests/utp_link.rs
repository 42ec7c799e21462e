//! uTP over a slow link, and LEDBAT yielding to TCP (issue 12, shown 5).
//!
//! Two network namespaces this test makes (`tr-…a`, `tr-…b`) are joined
//! through a third, a router (`tr-…r`), whose link toward b is a TBF rate
//! limit ([`RATE_MBIT`], a queue of [`QUEUE_MS`]). A seeding `rill download --seed` runs in a,
//! with TCP to its peer port refused by an nftables rule, so the
//! downloading rill in b (`--peer`) can only reach it over uTP. nftables
//! counters in b count the bytes that arrive over uTP (UDP from the peer
//! port) and over a competing TCP flow (a Python bulk sender in a, a
//! sink in b), so the rates are measured on the wire, not by rill.
//!
//! Asserted: uTP alone uses a good part of the link; while the TCP flow
//! runs, rill's uTP send rate falls to under a quarter of that (LEDBAT
//! sees the queue TCP builds and backs off) and TCP gets most of the
//! link; the download completes byte-identical.
//!
//! Needs root, iproute2 (tc with TBF), nft, python3, mktorrent. Run with
//! `cargo test --test utp_link` (about 25 s).

use rill_testkit as support;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use support::proc::{is_root, Proc};
use support::rill::{bin, parse_done};
use support::torrent::make_torrent;
use support::{data, run_tool, TestEnv};

const A_IP: &str = "10.78.1.2";
const R_A_IP: &str = "10.78.1.1";
const B_IP: &str = "10.78.2.2";
const R_B_IP: &str = "10.78.2.1";
const PEER_PORT: u16 = 6881;
const BULK_PORT: u16 = 5001;
/// The a→b link rate; 8 Mbit/s is 1 MB/s.
const RATE_MBIT: u64 = 8;
const LINK_BYTES_PER_S: f64 = (RATE_MBIT * 1_000_000 / 8) as f64;
/// TBF queue: what a TCP flow fills, far above LEDBAT's 100 ms target.
const QUEUE_MS: u64 = 400;
const MIB: u64 = 1024 * 1024;
const SIZE: u64 = 10 * MIB;
/// uTP alone is measured over this window.
const ALONE: Duration = Duration::from_millis(2500);
/// The TCP flow runs this long ...
const BULK: Duration = Duration::from_secs(7);
/// ... and uTP is measured in it from `SETTLE` on, for `SHARED`.
const SETTLE: Duration = Duration::from_secs(2);
const SHARED: Duration = Duration::from_secs(4);

/// The namespaces of one test, deleted on drop.
struct Net {
    a: String,
    r: String,
    b: String,
}

fn sh(env: &TestEnv, args: &[&str]) -> String {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    run_tool(&mut cmd, Duration::from_secs(15))
        .unwrap_or_else(|e| env.fail(&format!("{}: {e}", args.join(" "))))
}

impl Net {
    /// a — r — b: the rate limit sits on r (a router), not on a's own
    /// qdisc, where TCP small queues would keep the TCP flow from ever
    /// building a queue.
    fn new(env: &TestEnv) -> Net {
        static N: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{}{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let n = Net {
            a: format!("tr-{tag}a"),
            r: format!("tr-{tag}r"),
            b: format!("tr-{tag}b"),
        };
        for ns in [&n.a, &n.r, &n.b] {
            sh(env, &["ip", "netns", "add", ns]);
            sh(env, &["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let links = [
            (
                &n.a,
                format!("tr-{tag}a0"),
                A_IP,
                R_A_IP,
                format!("tr-{tag}r0"),
            ),
            (
                &n.b,
                format!("tr-{tag}b0"),
                B_IP,
                R_B_IP,
                format!("tr-{tag}r1"),
            ),
        ];
        for (ns, dev, ip, r_ip, r_dev) in &links {
            sh(
                env,
                &[
                    "ip", "link", "add", dev, "type", "veth", "peer", "name", r_dev,
                ],
            );
            sh(env, &["ip", "link", "set", dev, "netns", ns]);
            sh(env, &["ip", "link", "set", r_dev, "netns", &n.r]);
            for (ns, dev, ip) in [(*ns, dev, *ip), (&n.r, r_dev, *r_ip)] {
                let cidr = format!("{ip}/24");
                sh(env, &["ip", "-n", ns, "addr", "add", &cidr, "dev", dev]);
                sh(env, &["ip", "-n", ns, "link", "set", dev, "up"]);
            }
            sh(
                env,
                &["ip", "-n", ns, "route", "add", "default", "via", r_ip],
            );
        }
        n.run(env, &n.r, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        let (rate, latency) = (format!("{RATE_MBIT}mbit"), format!("{QUEUE_MS}ms"));
        let toward_b = &links[1].4;
        n.run(
            env,
            &n.r,
            &[
                "tc", "qdisc", "add", "dev", toward_b, "root", "tbf", "rate", &rate, "burst",
                "16kb", "latency", &latency,
            ],
        );
        // a: TCP to the peer port refused, so only uTP reaches the seeder.
        // b: counters of what arrives over uTP and over the TCP flow.
        let rules = env.path("net/rules.nft");
        std::fs::write(
            &rules,
            format!(
                "table inet tr_a {{\n chain input {{ type filter hook input priority 0; \
                 tcp dport {PEER_PORT} reject with tcp reset; }}\n}}\n"
            ),
        )
        .unwrap();
        n.run(env, &n.a, &["nft", "-f", &rules.to_string_lossy()]);
        std::fs::write(
            &rules,
            format!(
                "table inet tr_b {{\n chain input {{ type filter hook input priority 0; \
                 udp sport {PEER_PORT} counter; tcp dport {BULK_PORT} counter; }}\n}}\n"
            ),
        )
        .unwrap();
        n.run(env, &n.b, &["nft", "-f", &rules.to_string_lossy()]);
        n
    }

    fn exec(&self, ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args);
        cmd
    }

    fn run(&self, env: &TestEnv, ns: &str, args: &[&str]) -> String {
        run_tool(&mut self.exec(ns, args), Duration::from_secs(15)).unwrap_or_else(|e| env.fail(&e))
    }

    /// Bytes arrived in b so far: (over uTP, over the TCP flow).
    fn counters(&self, env: &TestEnv) -> (u64, u64) {
        let out = self.run(env, &self.b, &["nft", "list", "table", "inet", "tr_b"]);
        let bytes = |what: &str| {
            out.lines()
                .find(|l| l.contains(what))
                .and_then(|l| l.split("bytes ").nth(1))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| env.fail(&format!("no counter for {what} in:\n{out}")))
        };
        (
            bytes(&format!("udp sport {PEER_PORT}")),
            bytes(&format!("tcp dport {BULK_PORT}")),
        )
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.a, &self.r, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Bytes per second of (uTP, TCP) over `window`, sampled now and after it.
fn rates(env: &TestEnv, net: &Net, window: Duration) -> (f64, f64) {
    let (u0, t0) = net.counters(env);
    let start = Instant::now();
    std::thread::sleep(window);
    let (u1, t1) = net.counters(env);
    let secs = start.elapsed().as_secs_f64();
    ((u1 - u0) as f64 / secs, (t1 - t0) as f64 / secs)
}

fn rill(net: &Net, ns: &str, ip: &str, source: &str, out: &std::path::Path) -> Command {
    let listen = format!("{ip}:{PEER_PORT}");
    let out = out.to_string_lossy();
    let b = bin().to_string_lossy();
    let mut args = vec![
        &*b, "download", source, "--out", &*out, "--listen", &*listen,
    ];
    args.push("--no-dht");
    let peer = format!("{A_IP}:{PEER_PORT}");
    if ip == A_IP {
        args.push("--seed");
    } else {
        args.extend(["--peer", &*peer]);
    }
    let mut cmd = net.exec(ns, &args);
    cmd.env("RILL_LOG", "info");
    cmd
}

#[test]
fn utp_completes_over_a_slow_link_and_yields_to_tcp() {
    if !is_root() {
        panic!("this test needs root (network namespaces, tc, nft)");
    }
    let env = TestEnv::new("utp_link");
    let net = Net::new(&env);
    let content = env.path("src/slow-link.bin");
    data::write_random_file(&content, SIZE, 41);
    // No tracker: the leecher is given the seeder with --peer.
    let t = make_torrent(&env, &content, 16, "http://127.0.0.1:9/announce");
    let source = t.file.to_string_lossy().into_owned();
    let seed_dir = env.mkdir("seed");
    data::copy_tree(&content, &seed_dir.join(&t.name));
    let mut seeder = Proc::spawn(
        &env,
        "rill-seed",
        &mut rill(&net, &net.a, A_IP, &source, &seed_dir),
    );
    env.wait_until(
        "the seeder to verify its data",
        Duration::from_secs(30),
        || {
            seeder.check_alive()?;
            Ok(seeder.stdout().contains("done: "))
        },
    );
    let sink_code = format!(
        "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{B_IP}', {BULK_PORT})); s.listen(1); c,_=s.accept()\n\
         while c.recv(65536): pass\n"
    );
    let _sink = Proc::spawn(
        &env,
        "tcp-sink",
        &mut net.exec(&net.b, &["python3", "-c", &sink_code]),
    );
    let out = env.mkdir("out");
    let mut leecher = Proc::spawn(
        &env,
        "rill-leech",
        &mut rill(&net, &net.b, B_IP, &source, &out),
    );

    // Past the start (connection, slow start), then uTP alone.
    env.wait_until("1 MiB over uTP", Duration::from_secs(30), || {
        leecher.check_alive()?;
        Ok(net.counters(&env).0 > MIB)
    });
    let (alone, _) = rates(&env, &net, ALONE);

    let bulk_code = format!(
        "import socket, time\ns=socket.create_connection(('{B_IP}', {BULK_PORT}))\n\
         b=bytes(65536); t=time.time()\nwhile time.time()-t < {}: s.sendall(b)\n",
        BULK.as_secs_f64()
    );
    let mut bulk = Proc::spawn(
        &env,
        "tcp-bulk",
        &mut net.exec(&net.a, &["python3", "-c", &bulk_code]),
    );
    std::thread::sleep(SETTLE);
    let (shared, tcp) = rates(&env, &net, SHARED);
    let done_at = Instant::now() + BULK;
    env.wait_until(
        "the TCP flow to end",
        BULK + Duration::from_secs(10),
        || Ok(bulk.try_exit().is_some() || Instant::now() > done_at + Duration::from_secs(5)),
    );
    bulk.kill();
    let (after, _) = rates(&env, &net, ALONE);
    eprintln!(
        "uTP alone {:.0} KB/s, beside TCP {:.0} KB/s (TCP {:.0} KB/s), after {:.0} KB/s; link {:.0} KB/s",
        alone / 1e3,
        shared / 1e3,
        tcp / 1e3,
        after / 1e3,
        LINK_BYTES_PER_S / 1e3
    );

    env.wait_until("the download to finish", Duration::from_secs(60), || {
        if leecher.stdout().contains("done: ") {
            return Ok(true);
        }
        leecher.check_alive().map(|_| false)
    });
    let done = leecher
        .stdout()
        .lines()
        .find_map(parse_done)
        .unwrap_or_else(|| env.fail("no done line"));
    if done.from_peers != t.total_len {
        env.fail(&format!(
            "done line {done:?}: not all of {} from the peer",
            t.name
        ));
    }
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&e);
    }
    let (utp_total, _) = net.counters(&env);
    if utp_total < t.total_len {
        env.fail(&format!(
            "only {utp_total} bytes arrived over uTP for {} bytes",
            t.total_len
        ));
    }
    if alone < 0.4 * LINK_BYTES_PER_S {
        env.fail(&format!(
            "uTP alone used {alone:.0} B/s of a {LINK_BYTES_PER_S:.0} B/s link"
        ));
    }
    if shared > 0.25 * alone {
        env.fail(&format!(
            "LEDBAT did not yield: uTP {shared:.0} B/s beside TCP, {alone:.0} B/s alone"
        ));
    }
    if tcp < 0.5 * LINK_BYTES_PER_S {
        env.fail(&format!("the TCP flow got only {tcp:.0} B/s beside uTP"));
    }
    let _ = seeder.check_alive();
}
