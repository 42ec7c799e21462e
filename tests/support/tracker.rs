//! A real opentracker on its own loopback address.
//!
//! Debian's opentracker tracks only whitelisted info hashes: the whitelist is
//! a file of hex hashes inside its `-d` directory, named by `-w /name` (read
//! after opentracker chroots into `-d`). The tracker's address must exist
//! before the torrent (it is the torrent's announce URL) and the whitelist
//! needs the torrent's hash, hence [`Opentracker::reserve`] then
//! [`Opentracker::start`].

use super::proc::Proc;
use super::torrent::Torrent;
use super::{curl, net, TestEnv, WAIT};
use std::net::{SocketAddrV4, TcpStream};
use std::process::Command;
use std::time::Duration;

/// An address for a tracker not started yet.
pub struct TrackerAddr(pub SocketAddrV4);

impl TrackerAddr {
    pub fn announce_url(&self) -> String {
        format!("http://{}/announce", self.0)
    }
}

/// A running opentracker (HTTP and UDP on the same port).
pub struct Opentracker {
    addr: SocketAddrV4,
    proc: Proc,
}

impl Opentracker {
    /// Pick the tracker's address.
    pub fn reserve() -> TrackerAddr {
        TrackerAddr(net::loopback_addr())
    }

    /// Start the tracker at `addr`, whitelisting `torrents`.
    pub fn start(env: &TestEnv, addr: TrackerAddr, torrents: &[&Torrent]) -> Opentracker {
        let addr = addr.0;
        let dir = env.mkdir("opentracker");
        let list: String = torrents.iter().map(|t| format!("{}\n", t.hex())).collect();
        std::fs::write(dir.join("whitelist"), list)
            .unwrap_or_else(|e| env.fail(&format!("write whitelist: {e}")));
        // opentracker drops to user `nobody` after chroot: it must be able to
        // enter its directory and read the whitelist.
        set_mode(&dir, 0o755);
        set_mode(&dir.join("whitelist"), 0o644);
        let mut cmd = Command::new("opentracker");
        cmd.arg("-i")
            .arg(addr.ip().to_string())
            .arg("-p")
            .arg(addr.port().to_string())
            .arg("-P")
            .arg(addr.port().to_string())
            .arg("-d")
            .arg(&dir)
            .arg("-w")
            .arg("/whitelist");
        let mut proc = Proc::spawn(env, "opentracker", &mut cmd);
        env.wait_until("opentracker to listen", WAIT, || {
            proc.check_alive()?;
            Ok(TcpStream::connect_timeout(&addr.into(), Duration::from_secs(1)).is_ok())
        });
        // opentracker reads its whitelist in a thread of its own after it
        // starts listening: until then it refuses every hash. A `stopped`
        // announce is answered without adding a peer, so it probes safely.
        if let Some(t) = torrents.first() {
            env.wait_until("opentracker to load its whitelist", WAIT, || {
                proc.check_alive()?;
                Ok(whitelist_loaded(addr, t))
            });
        }
        Opentracker { addr, proc }
    }

    /// Seeders and leechers the tracker knows for `t` (BEP 48 scrape).
    pub fn scrape(&self, t: &Torrent) -> Result<(u64, u64), String> {
        let url = format!(
            "http://{}/scrape?info_hash={}",
            self.addr,
            t.hash_urlencoded()
        );
        let body = curl(&[&url])?;
        let count = |key: &str| -> u64 {
            let pat = format!("{key}i");
            body.find(&pat)
                .map(|at| &body[at + pat.len()..])
                .and_then(|rest| rest.split('e').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok((count("8:complete"), count("10:incomplete")))
    }

    /// Wait until at least `n` seeders of `t` have announced.
    pub fn wait_seeders(&mut self, env: &TestEnv, t: &Torrent, n: u64) {
        let what = format!("{n} seeder(s) of {} announced to the tracker", t.name);
        env.wait_until(&what, WAIT, || {
            self.proc.check_alive()?;
            Ok(self.scrape(t)?.0 >= n)
        });
    }
}

/// Whether a `stopped` announce of `t` is accepted (not "not authorized").
fn whitelist_loaded(addr: SocketAddrV4, t: &Torrent) -> bool {
    let url = format!(
        "http://{addr}/announce?info_hash={}&peer_id=-RT0000-whitelistprb&port=1\
         &uploaded=0&downloaded=0&left=0&event=stopped&compact=1",
        t.hash_urlencoded()
    );
    matches!(curl(&[&url]), Ok(body) if !body.contains("failure reason"))
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}
