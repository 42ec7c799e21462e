//! A real aria2c, as seeder or as leecher, on its own 127.a.b.c.
//!
//! Common flags: DHT, LPD, peer exchange and IPv6 off, `--interface` binds
//! its tracker and peer sockets to its own address. A seeder also opens
//! aria2's JSON-RPC on 127.0.0.1 so tests can read how much it uploaded.
//!
//! Seeder flavours ([`SeedOpts`]):
//! - verified (`-V --seed-ratio=0`): the normal honest seeder;
//! - `max_upload`: `--max-upload-limit` for a slow seeder (resume test);
//! - `unverified`: `--bt-seed-unverified=true` without `-V` seeds whatever is
//!   on disk as if complete: given a corrupted copy it is a lying peer.
//!
//! A leecher runs with `--seed-time=0` and exits 0 once it has everything.

use super::proc::Proc;
use super::torrent::Torrent;
use super::{curl, json_field, net, TestEnv, WAIT};
use std::net::{SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// How to seed.
#[derive(Clone, Debug, Default)]
pub struct SeedOpts {
    /// `--max-upload-limit` value, e.g. `"1M"`.
    pub max_upload: Option<String>,
    /// Seed the data on disk without checking it (`--bt-seed-unverified`).
    pub unverified: bool,
    /// Peer exchange on (`--enable-peer-exchange=true`): it sends ut_pex
    /// about once a minute.
    pub pex: bool,
}

pub struct Aria2 {
    peer: SocketAddrV4,
    rpc_port: Option<u16>,
    proc: Proc,
}

/// aria2c on `peer` with `dir` as its data directory: no DHT, PEX, local
/// discovery or IPv6 (tests only touch loopback), no preallocation.
pub fn base_command(peer: SocketAddrV4, dir: &Path) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=notice",
        "--show-console-readout=false",
    ])
    .arg(format!("--interface={}", peer.ip()))
    .arg(format!("--listen-port={}", peer.port()))
    .arg(format!("--dir={}", dir.display()));
    cmd
}

impl Aria2 {
    /// Seed `t` from the data in `dir` (`dir/<name>`).
    pub fn seed(env: &TestEnv, label: &str, t: &Torrent, dir: &Path, opts: &SeedOpts) -> Aria2 {
        let peer = net::loopback_addr();
        let rpc_port = net::free_port();
        let mut cmd = base_command(peer, dir);
        cmd.arg("--seed-ratio=0")
            .arg("--enable-rpc=true")
            .arg(format!("--rpc-listen-port={rpc_port}"));
        if opts.unverified {
            cmd.arg("--bt-seed-unverified=true");
        } else {
            cmd.arg("-V");
        }
        if opts.pex {
            cmd.arg("--enable-peer-exchange=true");
        }
        if let Some(limit) = &opts.max_upload {
            cmd.arg(format!("--max-upload-limit={limit}"));
        }
        cmd.arg(&t.file);
        let proc = Proc::spawn(env, label, &mut cmd);
        let mut a = Aria2 {
            peer,
            rpc_port: Some(rpc_port),
            proc,
        };
        a.wait_seeding(env);
        a
    }

    /// Download `t` into `dir`; wait with [`Aria2::wait_done`].
    pub fn leech(env: &TestEnv, label: &str, t: &Torrent, dir: &Path) -> Aria2 {
        let peer = net::loopback_addr();
        let mut cmd = base_command(peer, dir);
        cmd.arg("--seed-time=0").arg(&t.file);
        let proc = Proc::spawn(env, label, &mut cmd);
        Aria2 {
            peer,
            rpc_port: None,
            proc,
        }
    }

    /// Download `t` into `dir` and keep seeding, with JSON-RPC on so
    /// [`Aria2::peers`] can read its peers.
    pub fn leech_with_rpc(env: &TestEnv, label: &str, t: &Torrent, dir: &Path) -> Aria2 {
        let peer = net::loopback_addr();
        let rpc_port = net::free_port();
        let mut cmd = base_command(peer, dir);
        cmd.arg("--seed-ratio=0")
            .arg("--enable-rpc=true")
            .arg(format!("--rpc-listen-port={rpc_port}"))
            .arg(&t.file);
        let proc = Proc::spawn(env, label, &mut cmd);
        Aria2 {
            peer,
            rpc_port: Some(rpc_port),
            proc,
        }
    }

    /// `aria2.getPeers` of its only torrent, as JSON text.
    pub fn peers(&mut self) -> Result<String, String> {
        self.proc.check_alive()?;
        let active = self.rpc("aria2.tellActive")?;
        let gid = json_field(&active, "gid").ok_or_else(|| format!("no gid in {active}"))?;
        self.rpc_with("aria2.getPeers", &format!(r#"["{gid}"]"#))
    }

    /// The address other peers reach it at.
    pub fn peer_addr(&self) -> SocketAddrV4 {
        self.peer
    }

    fn rpc(&self, method: &str) -> Result<String, String> {
        self.rpc_with(method, "[]")
    }

    fn rpc_with(&self, method: &str, params: &str) -> Result<String, String> {
        let port = self.rpc_port.ok_or("this aria2c has no RPC")?;
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":"t","method":"{method}","params":{params}}}"#);
        curl(&["-d", &body, &format!("http://127.0.0.1:{port}/jsonrpc")])
    }

    /// Wait until the seeder has checked its data and listens for peers.
    fn wait_seeding(&mut self, env: &TestEnv) {
        let what = format!("{} to seed", self.proc.label());
        let peer = self.peer;
        env.wait_until(&what, WAIT, || {
            self.proc.check_alive()?;
            let Ok(active) = self.rpc("aria2.tellActive") else {
                return Ok(false);
            };
            let seeding = json_field(&active, "seeder") == Some("true");
            Ok(seeding && TcpStream::connect_timeout(&peer.into(), Duration::from_secs(1)).is_ok())
        });
    }

    /// Bytes this seeder has uploaded so far (its only torrent).
    pub fn uploaded(&mut self) -> Result<u64, String> {
        self.proc.check_alive()?;
        let active = self.rpc("aria2.tellActive")?;
        json_field(&active, "uploadLength")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no uploadLength in {active}"))
    }

    /// Wait for a leecher to finish; fails unless it exits 0.
    pub fn wait_done(&mut self, env: &TestEnv) -> ExitStatus {
        let status = self.proc.wait_exit(env, WAIT);
        if !status.success() {
            env.fail(&format!("{} failed: {status}", self.proc.label()));
        }
        status
    }
}
