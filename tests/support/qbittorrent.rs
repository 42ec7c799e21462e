//! A real qbittorrent-nox (4.5, libtorrent-rasterbar 2.0), headless.
//!
//! Its profile directory holds `qBittorrent/config/qBittorrent.conf`: legal
//! notice accepted, listening (and announcing) on its own 127.a.b.c, DHT,
//! LSD, PeX, UPnP and the GeoIP lookup off, Web UI on 127.0.0.1 without
//! authentication. Torrents are added through the Web API and progress is
//! read from `/api/v2/torrents/info`. Protocol (TCP + uTP) and encryption
//! ("prefer encrypted") keep their defaults: that is what users run.
//! [`Qbittorrent::start_with`] can put it in a network namespace
//! (`support::netns`; its Web API is then reached from inside it) on a
//! given address, with local peer discovery or peer exchange on;
//! [`Qbittorrent::post`] reaches the rest of the Web API.

use super::netns::Netns;
use super::proc::Proc;
use super::torrent::Torrent;
use super::{json_field, net, run_tool, TestEnv, WAIT};
use std::net::SocketAddrV4;
use std::path::Path;
use std::process::Command;

pub struct Qbittorrent {
    peer: SocketAddrV4,
    api: String,
    proc: Proc,
    /// The namespace it runs in (`None`: the test's own).
    netns: Option<String>,
}

/// Where and how [`Qbittorrent::start_with`] runs it.
#[derive(Default)]
pub struct QbOpts<'a> {
    /// Run inside this namespace.
    pub netns: Option<&'a Netns>,
    /// Its peer address (default: a fresh loopback one).
    pub peer: Option<SocketAddrV4>,
    /// Local peer discovery (BEP 14) on.
    pub lsd: bool,
    /// Peer exchange (BEP 11) on.
    pub pex: bool,
}

impl Qbittorrent {
    pub fn start(env: &TestEnv, label: &str) -> Qbittorrent {
        Qbittorrent::start_with(env, label, &QbOpts::default())
    }

    pub fn start_with(env: &TestEnv, label: &str, opts: &QbOpts) -> Qbittorrent {
        let peer = opts.peer.unwrap_or_else(net::loopback_addr);
        let web_port = net::free_port();
        let profile = env.mkdir(&format!("{label}-profile"));
        let config_dir = profile.join("qBittorrent/config");
        std::fs::create_dir_all(&config_dir)
            .unwrap_or_else(|e| env.fail(&format!("mkdir {}: {e}", config_dir.display())));
        let conf = format!(
            "[LegalNotice]
Accepted=true

[BitTorrent]
Session\\InterfaceAddress={ip}
Session\\Port={port}
Session\\DHTEnabled=false
Session\\LSDEnabled={lsd}
Session\\PeXEnabled={pex}
Session\\AddTorrentPaused=false
Session\\QueueingSystemEnabled=false
Session\\GlobalMaxRatio=-1

[Network]
PortForwardingEnabled=false

[Preferences]
Connection\\ResolvePeerCountries=false
General\\Locale=en
WebUI\\Address=127.0.0.1
WebUI\\Port={web_port}
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
",
            ip = peer.ip(),
            port = peer.port(),
            lsd = opts.lsd,
            pex = opts.pex,
        );
        std::fs::write(config_dir.join("qBittorrent.conf"), conf)
            .unwrap_or_else(|e| env.fail(&format!("write qBittorrent.conf: {e}")));
        env.register_log(
            &format!("{label} log"),
            &profile.join("qBittorrent/data/logs/qbittorrent.log"),
        );
        let (profile_arg, port_arg) = (
            format!("--profile={}", profile.display()),
            format!("--webui-port={web_port}"),
        );
        let argv = ["qbittorrent-nox", &profile_arg, &port_arg];
        let mut cmd = match opts.netns {
            Some(ns) => ns.exec(&argv),
            None => {
                let mut c = Command::new(argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        let proc = Proc::spawn(env, label, &mut cmd);
        let mut q = Qbittorrent {
            peer,
            api: format!("http://127.0.0.1:{web_port}/api/v2"),
            proc,
            netns: opts.netns.map(|n| n.name.clone()),
        };
        let what = format!("{label} Web API to answer");
        env.wait_until(&what, WAIT, || {
            q.proc.check_alive()?;
            Ok(q.curl(&[&format!("{}/app/version", q.api)]).is_ok())
        });
        q
    }

    /// The address other peers reach it at.
    pub fn peer_addr(&self) -> SocketAddrV4 {
        self.peer
    }

    /// Add `t`, saving to (or seeding from) `dir`.
    pub fn add(&mut self, env: &TestEnv, t: &Torrent, dir: &Path) {
        let url = format!("{}/torrents/add", self.api);
        let torrent = format!("torrents=@{}", t.file.display());
        let save = format!("savepath={}", dir.display());
        match self.curl(&["-F", &torrent, "-F", &save, &url]) {
            Ok(body) if body.trim() == "Ok." => {}
            Ok(body) => env.fail(&format!("qBittorrent refused {}: {body}", t.name)),
            Err(e) => env.fail(&format!("qBittorrent add {}: {e}", t.name)),
        }
    }

    /// Change preferences at run time (`/app/setPreferences`), e.g.
    /// `{"encryption":1}` (0 prefer, 1 require, 2 off).
    pub fn set_preferences(&mut self, env: &TestEnv, json: &str) {
        let url = format!("{}/app/setPreferences", self.api);
        if let Err(e) = self.curl(&["--data", &format!("json={json}"), &url]) {
            env.fail(&format!("qBittorrent setPreferences {json}: {e}"));
        }
    }

    /// A preference's value as `/app/preferences` shows it.
    pub fn preference(&self, key: &str) -> Result<String, String> {
        let prefs = self.curl(&[&format!("{}/app/preferences", self.api)])?;
        json_field(&prefs, key)
            .map(str::to_string)
            .ok_or_else(|| format!("no {key} in the preferences"))
    }

    /// Payload bytes uploaded for `t`.
    pub fn uploaded(&self, t: &Torrent) -> Result<u64, String> {
        let url = format!("{}/torrents/info?hashes={}", self.api, t.hex());
        let info = self.curl(&[&url])?;
        json_field(&info, "uploaded")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no uploaded for {} in {info}", t.name))
    }

    /// Progress (0..=1) and state of `t`.
    pub fn status(&self, t: &Torrent) -> Result<(f64, String), String> {
        let url = format!("{}/torrents/info?hashes={}", self.api, t.hex());
        let info = self.curl(&[&url])?;
        let progress = json_field(&info, "progress")
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| format!("no progress for {} in {info}", t.name))?;
        let state = json_field(&info, "state").unwrap_or_default().to_string();
        Ok((progress, state))
    }

    /// POST form fields (`key=value`) to the Web API's `path` (e.g.
    /// `torrents/addPeers`); the response body.
    pub fn post(&self, path: &str, fields: &[&str]) -> Result<String, String> {
        let url = format!("{}/{path}", self.api);
        let mut args = Vec::new();
        for f in fields {
            args.extend_from_slice(&["--data-urlencode", f]);
        }
        args.push(&url);
        self.curl(&args)
    }

    /// A GET of the Web API's `path` (with its query); the response body.
    pub fn get(&self, path: &str) -> Result<String, String> {
        self.curl(&[&format!("{}/{path}", self.api)])
    }

    /// `curl` (silent, failing on HTTP errors, 10 s cap) where it runs.
    fn curl(&self, args: &[&str]) -> Result<String, String> {
        let mut argv = vec!["curl", "-sS", "--fail", "--max-time", "10"];
        argv.extend_from_slice(args);
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).args(&argv);
                c
            }
            None => {
                let mut c = Command::new(argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        run_tool(&mut cmd, std::time::Duration::from_secs(15))
    }

    /// Wait until `t` is complete and checked (seeding or stalled seeding).
    pub fn wait_complete(&mut self, env: &TestEnv, t: &Torrent) {
        let what = format!("{} to have all of {}", self.proc.label(), t.name);
        env.wait_until(&what, WAIT, || {
            self.proc.check_alive()?;
            let (progress, state) = self.status(t)?;
            Ok(progress >= 1.0 && state.ends_with("UP") && !state.starts_with("checking"))
        });
    }
}
