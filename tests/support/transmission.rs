//! A real transmission-daemon (3.00) with its own config directory.
//!
//! It listens for peers on its own 127.a.b.c (transmission counts all peers on
//! one IP as one peer) and binds its tracker and peer connections there too;
//! RPC is on 127.0.0.1 and driven with `transmission-remote`. DHT, LPD, PEX,
//! uTP and port mapping are off. Encryption stays at its default ("prefer
//! encrypted"): a real transmission first tries MSE and falls back to a
//! plain handshake, which rill must survive. transmission unchokes a new
//! peer only after about 10 s.
//!
//! transmission 3.00 never dials 127/8 addresses that a tracker gives it
//! (it treats them as "martian"): on loopback it only gets incoming
//! connections. As a leecher it must announce before its seeder does, so
//! the seeder learns its address and connects to it.

use super::proc::Proc;
use super::torrent::Torrent;
use super::{net, run_tool, TestEnv, WAIT};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub struct Transmission {
    peer: SocketAddrV4,
    rpc: String,
    proc: Proc,
}

impl Transmission {
    /// Start a daemon labelled `label`; torrents go to `download_dir` unless
    /// [`Transmission::add`] says otherwise.
    pub fn start(env: &TestEnv, label: &str, download_dir: &Path) -> Transmission {
        Transmission::start_with(env, label, download_dir, &[])
    }

    /// [`Transmission::start`] with more daemon flags (e.g. `-er`: require
    /// encryption).
    pub fn start_with(
        env: &TestEnv,
        label: &str,
        download_dir: &Path,
        flags: &[&str],
    ) -> Transmission {
        let peer = net::loopback_addr();
        let rpc_port = net::free_port();
        let config = env.mkdir(&format!("{label}-config"));
        let settings = format!(
            r#"{{
    "bind-address-ipv4": "{ip}",
    "bind-address-ipv6": "::1",
    "peer-port": {port},
    "peer-port-random-on-start": false,
    "rpc-enabled": true,
    "rpc-bind-address": "127.0.0.1",
    "rpc-port": {rpc_port},
    "rpc-authentication-required": false,
    "rpc-whitelist-enabled": false,
    "rpc-host-whitelist-enabled": false,
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "utp-enabled": false,
    "port-forwarding-enabled": false,
    "blocklist-enabled": false,
    "download-dir": "{dir}",
    "incomplete-dir-enabled": false,
    "rename-partial-files": false,
    "start-added-torrents": true,
    "ratio-limit-enabled": false,
    "idle-seeding-limit-enabled": false,
    "download-queue-enabled": false,
    "seed-queue-enabled": false,
    "message-level": 2
}}
"#,
            ip = peer.ip(),
            port = peer.port(),
            dir = json_escape(&download_dir.to_string_lossy()),
        );
        std::fs::write(config.join("settings.json"), settings)
            .unwrap_or_else(|e| env.fail(&format!("write transmission settings: {e}")));
        let mut cmd = Command::new("transmission-daemon");
        cmd.arg("-f").arg("-g").arg(&config).args(flags);
        let proc = Proc::spawn(env, label, &mut cmd);
        let mut t = Transmission {
            peer,
            rpc: format!("127.0.0.1:{rpc_port}"),
            proc,
        };
        let what = format!("{label} RPC to answer");
        env.wait_until(&what, WAIT, || {
            t.proc.check_alive()?;
            Ok(t.remote(&["-l"]).is_ok())
        });
        t
    }

    pub fn ip(&self) -> Ipv4Addr {
        *self.peer.ip()
    }

    /// Its peer port (the same on 127.a.b.c and on `[::1]`).
    pub fn port(&self) -> u16 {
        self.peer.port()
    }

    /// Run `transmission-remote <rpc> args...`.
    pub fn remote(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("transmission-remote");
        cmd.arg(&self.rpc).args(args);
        run_tool(&mut cmd, Duration::from_secs(15))
    }

    /// Add a torrent whose data is (or will be) in `dir`.
    pub fn add(&mut self, env: &TestEnv, t: &Torrent, dir: &Path) {
        let file = t.file.to_string_lossy().into_owned();
        let dir = dir.to_string_lossy().into_owned();
        if let Err(e) = self.remote(&["-a", &file, "-w", &dir]) {
            env.fail(&format!("{}: adding {}: {e}", self.proc.label(), t.name));
        }
    }

    /// Percent done of `t` (0..=100) and its state, from `-t <hash> -i`.
    pub fn status(&self, t: &Torrent) -> Result<(f64, String), String> {
        let info = self.remote(&["-t", &t.hex(), "-i"])?;
        let field = |key: &str| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
        };
        let done = field("Percent Done:")
            .and_then(|v| v.trim_end_matches('%').parse::<f64>().ok())
            .ok_or_else(|| format!("no 'Percent Done' in: {info}"))?;
        Ok((done, field("State:").unwrap_or_default()))
    }

    /// Payload bytes uploaded for `t` (`Uploaded:` of `-i`; "None" is 0).
    pub fn uploaded(&self, t: &Torrent) -> Result<u64, String> {
        let info = self.remote(&["-t", &t.hex(), "-i"])?;
        let v = info
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Uploaded:")
                    .map(|v| v.trim().to_string())
            })
            .ok_or_else(|| format!("no 'Uploaded' in: {info}"))?;
        if v == "None" {
            return Ok(0);
        }
        // "1.23 MB", "512 bytes", "4 KB", ...
        let mut it = v.split_whitespace();
        let n: f64 = it
            .next()
            .and_then(|n| n.replace(',', "").parse().ok())
            .ok_or_else(|| format!("bad 'Uploaded: {v}'"))?;
        let unit = match it.next().unwrap_or("bytes") {
            "kB" | "KB" | "KiB" => 1e3,
            "MB" | "MiB" => 1e6,
            "GB" | "GiB" => 1e9,
            _ => 1.0,
        };
        Ok((n * unit) as u64)
    }

    /// Wait until `t` is verified complete (seeding).
    pub fn wait_complete(&mut self, env: &TestEnv, t: &Torrent) {
        let what = format!("{} to have all of {}", self.proc.label(), t.name);
        env.wait_until(&what, WAIT, || {
            self.proc.check_alive()?;
            let (done, state) = self.status(t)?;
            Ok(done >= 100.0 && !state.contains("Verif"))
        });
    }
}

fn json_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
