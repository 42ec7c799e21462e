//! Network namespaces a test makes (root only), deleted on drop, for tests
//! that run rill on `0.0.0.0`, `[::]` or its default ports (the house rule)
//! or need a LAN: [`Netns::new`] makes one with `lo` up;
//! [`veth_pair`] joins two by a veth pair with IPv4 and IPv6 addresses,
//! multicast on and a route for 224.0.0.0/4, as a two-box LAN.
//!
//! Names are `<prefix><pid><n><suffix>` (interface names stay under the
//! kernel's 15 characters for a prefix of up to 8).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{run_tool, TestEnv};

/// One namespace; `ip netns del` on drop.
pub struct Netns {
    pub name: String,
}

/// A unique tag per call in this process: pid (5 digits) and a counter.
pub fn tag() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Run a tool (bounded); fail the test with its output if it fails.
pub fn sh(env: &TestEnv, args: &[&str]) -> String {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    run_tool(&mut cmd, Duration::from_secs(15))
        .unwrap_or_else(|e| env.fail(&format!("{}: {e}", args.join(" "))))
}

impl Netns {
    /// `ip netns add NAME` with `lo` up.
    pub fn new(env: &TestEnv, name: String) -> Netns {
        sh(env, &["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(env, &["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS...`.
    pub fn ip(&self, env: &TestEnv, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(env, &v)
    }

    /// A command that runs `args` inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(args);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Join `a` and `b` by a veth pair named `<ifname>a` / `<ifname>b`:
/// `10.N.0.1/24` + `fd00:N::1/64` on a's side, `.2` / `::2` on b's
/// (IPv6 without duplicate address detection, so usable at once),
/// multicast on, a route for 224.0.0.0/4 on each side. Returns the
/// interface names (a's, b's).
pub fn veth_pair(env: &TestEnv, a: &Netns, b: &Netns, ifname: &str, n: u8) -> (String, String) {
    let (ia, ib) = (format!("{ifname}a"), format!("{ifname}b"));
    sh(
        env,
        &["ip", "link", "add", &ia, "type", "veth", "peer", "name", &ib],
    );
    sh(env, &["ip", "link", "set", &ia, "netns", &a.name]);
    sh(env, &["ip", "link", "set", &ib, "netns", &b.name]);
    for (ns, dev, host) in [(a, &ia, 1), (b, &ib, 2)] {
        ns.ip(env, &["addr", "add", &format!("10.{n}.0.{host}/24"), "dev", dev]);
        ns.ip(
            env,
            &[
                "addr",
                "add",
                &format!("fd00:{n}::{host}/64"),
                "dev",
                dev,
                "nodad",
            ],
        );
        ns.ip(env, &["link", "set", "dev", dev, "multicast", "on"]);
        ns.ip(env, &["link", "set", dev, "up"]);
        ns.ip(env, &["route", "add", "224.0.0.0/4", "dev", dev]);
    }
    (ia, ib)
}
