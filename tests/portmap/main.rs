//! Port mapping against a real gateway: miniupnpd (Debian package) runs in
//! a network namespace this test makes ("gw", with a "wan" side), and
//! `rill serve` in another ("lan") joined to it by a veth pair, its
//! default route through the gateway. With UPnP-IGD (NAT-PMP/PCP off),
//! with PCP (UPnP off; miniupnpd speaks PCP and NAT-PMP on one port) and
//! with NAT-PMP (UPnP off, rill's PCP off by `RILL_PORTMAP_NO_PCP=1`), the
//! mapping of the peer port, TCP and UDP, must appear in miniupnpd's rules
//! (and in `upnpc -l` for UPnP), outlive its short lease because rill
//! renews it, and be gone after SIGTERM.
//!
//! Needs root (network namespaces, nftables), miniupnpd, miniupnpc, nft,
//! iproute2. Run with `cargo test --test portmap`.

use rill_testkit as support;

use std::time::Duration;

use support::netns::{sh, tag, Netns};
use support::proc::Proc;
use support::{run_tool, TestEnv};

const PEER_PORT: u16 = 6881;
const LAN_IP: &str = "10.77.0.2";
const GW_IP: &str = "10.77.0.1";
/// rill's lease (RILL_PORTMAP_LEASE): it renews at half of it.
const LEASE: u64 = 8;

/// Namespaces (deleted on drop) and the LAN-side interface of one test.
struct Net {
    gw: Netns,
    lan: Netns,
    wan: Netns,
    lan_if: String,
}

impl Net {
    fn new(env: &TestEnv) -> Net {
        let tag = tag();
        let n = Net {
            gw: Netns::new(env, format!("rpm{tag}g")),
            lan: Netns::new(env, format!("rpm{tag}l")),
            wan: Netns::new(env, format!("rpm{tag}w")),
            lan_if: format!("rpm{tag}b"),
        };
        let (gw_lan, gw_wan, wan_if) = (
            format!("rpm{tag}a"),
            format!("rpm{tag}c"),
            format!("rpm{tag}d"),
        );
        sh(
            env,
            &[
                "ip", "link", "add", &gw_lan, "type", "veth", "peer", "name", &n.lan_if,
            ],
        );
        sh(env, &["ip", "link", "set", &gw_lan, "netns", &n.gw.name]);
        sh(env, &["ip", "link", "set", &n.lan_if, "netns", &n.lan.name]);
        sh(
            env,
            &[
                "ip", "link", "add", &gw_wan, "type", "veth", "peer", "name", &wan_if,
            ],
        );
        sh(env, &["ip", "link", "set", &gw_wan, "netns", &n.gw.name]);
        sh(env, &["ip", "link", "set", &wan_if, "netns", &n.wan.name]);
        n.gw.ip(
            env,
            &["addr", "add", &format!("{GW_IP}/24"), "dev", &gw_lan],
        );
        // miniupnpd refuses private and reserved external addresses; this
        // one exists only inside the test's namespaces.
        n.gw.ip(env, &["addr", "add", "11.22.33.1/24", "dev", &gw_wan]);
        n.lan.ip(
            env,
            &["addr", "add", &format!("{LAN_IP}/24"), "dev", &n.lan_if],
        );
        n.wan
            .ip(env, &["addr", "add", "11.22.33.2/24", "dev", &wan_if]);
        for (ns, dev) in [
            (&n.gw, &gw_lan),
            (&n.gw, &gw_wan),
            (&n.lan, &n.lan_if),
            (&n.wan, &wan_if),
        ] {
            ns.ip(env, &["link", "set", dev, "up"]);
        }
        n.lan.ip(env, &["route", "add", "default", "via", GW_IP]);
        // The chains miniupnpd's nftables backend fills.
        let rules = env.path("gw/rules.nft");
        std::fs::create_dir_all(rules.parent().unwrap()).unwrap();
        std::fs::write(
            &rules,
            "table inet filter {\n\
             chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }\n\
             chain miniupnpd { }\n\
             chain prerouting { type nat hook prerouting priority -100; jump prerouting_miniupnpd; }\n\
             chain postrouting { type nat hook postrouting priority 100; jump postrouting_miniupnpd; }\n\
             chain prerouting_miniupnpd { }\n\
             chain postrouting_miniupnpd { }\n}\n",
        )
        .unwrap();
        let r = rules.to_string_lossy().into_owned();
        sh(env, &["ip", "netns", "exec", &n.gw.name, "nft", "-f", &r]);
        let conf = env.path("gw/miniupnpd.conf");
        std::fs::write(
            &conf,
            format!(
                "ext_ifname={gw_wan}\nlistening_ip={gw_lan}\nport=0\nsecure_mode=yes\n\
                 system_uptime=yes\nuuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b\n\
                 allow 1024-65535 10.77.0.0/24 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n"
            ),
        )
        .unwrap();
        n
    }

    /// miniupnpd with only `upnp` or only NAT-PMP.
    fn gateway(&self, env: &TestEnv, upnp: bool) -> Proc {
        let conf = env.path("gw/miniupnpd.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        let leases = env.path("gw/leases");
        text.push_str(&format!("lease_file={}\n", leases.display()));
        // PCP grants at least min_lifetime (120 s by default): 2 s lets
        // rill's short test lease stand.
        text.push_str(if upnp {
            "enable_upnp=yes\nenable_natpmp=no\n"
        } else {
            "enable_upnp=no\nenable_natpmp=yes\nmin_lifetime=2\n"
        });
        let conf = env.path("gw/miniupnpd-run.conf");
        std::fs::write(&conf, text).unwrap();
        let c = conf.to_string_lossy().into_owned();
        // miniupnpd refuses to start while its pid file in /run names a
        // live process (another test's gateway, or a stale file whose pid
        // was reused): it gets a /run of its own.
        let script = format!("mount -t tmpfs rill-test /run && exec miniupnpd -d -f '{c}'");
        let args = [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ];
        Proc::spawn(env, "miniupnpd", &mut self.gw.exec(&args))
    }

    /// miniupnpd's redirect rules for our port (its own state).
    fn rules(&self, env: &TestEnv) -> String {
        let mut cmd = self.gw.exec(&[
            "nft",
            "list",
            "chain",
            "inet",
            "filter",
            "prerouting_miniupnpd",
        ]);
        run_tool(&mut cmd, Duration::from_secs(10)).unwrap_or_else(|e| env.fail(&e))
    }

    /// Whether miniupnpd redirects our port for TCP and for UDP. This nft
    /// prints the protocol as the IPv4 header byte it matches
    /// (`@nh,72,8 0x6` is TCP, `0x11` UDP), others by name.
    fn mapped(&self, env: &TestEnv) -> (bool, bool) {
        let r = self.rules(env);
        let port = format!("dport {PEER_PORT} ");
        let has = |names: [&str; 2]| {
            r.lines()
                .any(|l| l.contains(&port) && names.iter().any(|n| l.contains(n)))
        };
        (
            has(["@nh,72,8 0x6 ", "tcp "]),
            has(["@nh,72,8 0x11 ", "udp "]),
        )
    }

    fn upnpc_list(&self, env: &TestEnv) -> String {
        let mut cmd = self.lan.exec(&["upnpc", "-m", &self.lan_if, "-l"]);
        run_tool(&mut cmd, Duration::from_secs(15)).unwrap_or_else(|e| env.fail(&e))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Upnp,
    Pcp,
    NatPmp,
}

fn run(name: &str, mode: Mode) {
    let upnp = mode == Mode::Upnp;
    let env = TestEnv::new(name);
    let net = Net::new(&env);
    let mut gw = net.gateway(&env, upnp);
    // rill looks once at start (then every few minutes): the gateway must
    // be listening first.
    let ready = if upnp {
        "HTTP listening on port"
    } else {
        "Listening for NAT-PMP"
    };
    env.wait_until("miniupnpd to listen", Duration::from_secs(20), || {
        gw.check_alive()?;
        Ok(gw.stderr().contains(ready))
    });
    let data = env.mkdir("data");
    let config = env.path("rill.toml");
    std::fs::write(&config, "dlna = false\nport_mapping = true\n").unwrap();
    let (cfg, dir) = (
        config.to_string_lossy().into_owned(),
        data.to_string_lossy().into_owned(),
    );
    let listen = format!("{LAN_IP}:0");
    let peers = format!("{LAN_IP}:{PEER_PORT}");
    let lease = LEASE.to_string();
    let bin = support::rill::bin().to_string_lossy().into_owned();
    let mut cmd = net.lan.exec(&[
        "env",
        &format!("RILL_PORTMAP_LEASE={lease}"),
        if mode == Mode::NatPmp {
            "RILL_PORTMAP_NO_PCP=1"
        } else {
            "RILL_PORTMAP_NO_PCP=0"
        },
        "RILL_LOG=debug",
        &bin,
        "serve",
        "--config",
        &cfg,
        "--data",
        &dir,
        "--listen",
        &listen,
        "--peer-listen",
        &peers,
    ]);
    let mut rill = Proc::spawn(&env, "rill", &mut cmd);
    let via = match mode {
        Mode::Upnp => "by UPnP",
        Mode::Pcp => "by PCP",
        Mode::NatPmp => "by NAT-PMP",
    };

    env.wait_until(
        "the mapping to appear on the gateway",
        Duration::from_secs(30),
        || {
            rill.check_alive()?;
            Ok(
                net.mapped(&env) == (true, true)
                    && rill.stderr().contains(&format!("mapped {via}")),
            )
        },
    );
    if !rill.stderr().contains("external address 11.22.33.1") {
        env.fail("rill did not learn the gateway's external address");
    }
    // The API shows it.
    let http = rill
        .stdout()
        .lines()
        .find_map(|l| {
            l.strip_prefix("rill serve: http://")
                .map(|r| r.split('/').next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| env.fail("no ready line from rill serve"));
    let url = format!("http://{http}/metrics");
    let mut curl = net.lan.exec(&["curl", "-s", &url]);
    let page = run_tool(&mut curl, Duration::from_secs(10)).unwrap_or_else(|e| env.fail(&e));
    if !page.contains("rill_external_address_info{address=\"11.22.33.1\"} 1") {
        env.fail("/metrics does not show the external address");
    }
    if upnp {
        let list = net.upnpc_list(&env);
        for proto in ["TCP", "UDP"] {
            let want = format!("{proto}  {PEER_PORT}->{LAN_IP}:{PEER_PORT}");
            if !list.contains(&want) {
                env.fail(&format!("upnpc -l lacks {want:?}:\n{list}"));
            }
        }
    }
    // Past two leases the mapping is still there: rill renewed it.
    std::thread::sleep(Duration::from_secs(2 * LEASE + 2));
    if net.mapped(&env) != (true, true) || !rill.stderr().contains(&format!("renewed {via}")) {
        env.fail("the mapping was not renewed within its lease");
    }
    sh(&env, &["kill", "-TERM", &rill.pid().to_string()]);
    let status = rill.wait_exit(&env, Duration::from_secs(30));
    if !status.success() {
        env.fail(&format!("rill serve exited with {status} after SIGTERM"));
    }
    if net.mapped(&env) != (false, false) {
        env.fail(&format!("mapping left after SIGTERM:\n{}", net.rules(&env)));
    }
    if !rill.stderr().contains("removed port 6881") {
        env.fail("rill did not say it removed the mapping");
    }
}

#[test]
fn upnp_igd_mapping_is_made_renewed_and_removed() {
    run("portmap_upnp", Mode::Upnp);
}

#[test]
fn pcp_mapping_is_made_renewed_and_removed() {
    run("portmap_pcp", Mode::Pcp);
}

#[test]
fn nat_pmp_mapping_is_made_renewed_and_removed() {
    run("portmap_natpmp", Mode::NatPmp);
}
