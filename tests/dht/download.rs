//! A bare magnet (no tracker, no `x.pe`) fetched through the private DHT:
//! by `rill download --dht-bootstrap N`, and by `rill serve` with
//! `dht_bootstrap = [N]` (202 at once, then the bytes from `/stream`).

use std::net::SocketAddr;
use std::process::Command;

use super::private::PrivateDht;
use super::support::proc::Proc;
use super::support::request::request;
use super::support::{json_field, net, rill, TestEnv, WAIT};

#[test]
fn download_of_a_bare_magnet_through_the_dht() {
    let env = TestEnv::new("dht-download");
    let dht = PrivateDht::start(&env, 3 << 20);
    let out = env.mkdir("out");
    let mut cmd = Command::new(rill::bin());
    cmd.arg("download")
        .arg(dht.torrent.magnet())
        .arg("--out")
        .arg(&out)
        .arg("--listen")
        .arg(net::loopback_addr().to_string())
        .arg("--dht-bootstrap")
        .arg(dht.node.to_string());
    let mut p = Proc::spawn(&env, "rill", &mut cmd);
    let status = p.wait_exit(&env, WAIT);
    if !status.success() {
        env.fail(&format!("rill download exited with {status}"));
    }
    let got = std::fs::read(out.join("video.bin")).expect("downloaded file");
    let want = std::fs::read(&dht.torrent.content).expect("seeded file");
    assert!(got == want, "downloaded bytes differ");
    let log = p.stderr();
    assert!(log.contains("DHT gave"), "peers not from the DHT:\n{log}");
}

/// A running `rill serve`, killed on drop.
pub struct Serve {
    child: std::process::Child,
    pub http: SocketAddr,
    log: std::path::PathBuf,
}

impl Serve {
    /// `rill serve` with this config text.
    pub fn start(env: &TestEnv, label: &str, config: &str) -> Serve {
        Serve::start_with(env, label, config, &[])
    }

    /// [`Serve::start`] with these environment variables (`RILL_LOG`).
    pub fn start_with(env: &TestEnv, label: &str, config: &str, vars: &[(&str, &str)]) -> Serve {
        let path = env.path(&format!("{label}.toml"));
        std::fs::write(&path, config).expect("write config");
        let log = env.path(&format!("logs/{label}.err"));
        env.register_log(label, &log);
        let mut cmd = Command::new(rill::bin());
        cmd.arg("serve").arg("--config").arg(&path);
        cmd.envs(vars.iter().copied());
        let (child, http) = rill::start_serve(cmd, &log, WAIT).unwrap_or_else(|e| env.fail(&e));
        Serve { child, http, log }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit (bounded).
    pub fn stop(mut self, env: &TestEnv) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        env.wait_until("rill serve to exit", WAIT, || {
            Ok(self.child.try_wait().map_err(|e| e.to_string())?.is_some())
        });
    }

    /// `GET /metrics`, the value of one unlabelled metric.
    pub fn metric(&self, name: &str) -> u64 {
        let r = request(self.http, "GET", "/metrics", "", b"");
        let text = String::from_utf8_lossy(&r.body).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in /metrics"))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config for `rill serve` on its own loopback address.
pub fn config(env: &TestEnv, data: &str, bootstrap: &[SocketAddr]) -> (String, SocketAddr) {
    let ip = net::loopback_ip();
    let peer = SocketAddr::new(ip.into(), net::free_port());
    let list: Vec<String> = bootstrap.iter().map(|b| format!("\"{b}\"")).collect();
    let text = format!(
        "listen = \"{ip}:0\"\ndata_dir = \"{}\"\npeer_listen = \"{peer}\"\ndlna = false\n\
         dht_bootstrap = [{}]\n",
        env.mkdir(data).display(),
        list.join(", ")
    );
    (text, peer)
}

#[test]
fn serve_streams_a_bare_magnet_found_through_the_dht() {
    let env = TestEnv::new("dht-serve");
    let dht = PrivateDht::start(&env, 2 << 20);
    let (text, _) = config(&env, "data", &[dht.node]);
    let serve = Serve::start(&env, "serve", &text);
    let http = serve.http;
    let r = request(
        http,
        "POST",
        "/api/torrents",
        "",
        dht.torrent.magnet().as_bytes(),
    );
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 202, "{body}");
    assert_eq!(
        json_field(&body, "state"),
        Some("fetching_metadata"),
        "{body}"
    );
    let one = format!("/api/torrents/{}", dht.torrent.hex);
    // Asked at once, as a player handed the stream URL would: the request
    // waits for the metadata (it was a 503 before it came).
    let r = request(
        http,
        "GET",
        &format!("/stream/{}/0", dht.torrent.hex),
        "",
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.headers);
    let want = std::fs::read(&dht.torrent.content).expect("seeded file");
    assert!(
        r.body == want,
        "streamed bytes differ ({} bytes)",
        r.body.len()
    );
    assert!(serve.metric("rill_dht_peers_found_total") >= 1);
    // The seeder shows as a DHT peer while connected (it seeds on).
    let r = request(http, "GET", &one, "", b"");
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let sources = body.split("\"peer_sources\":").nth(1).unwrap_or("");
    assert!(json_field(sources, "dht").is_some(), "{body}");
    assert!(
        json_field(&body, "dht_nodes").is_some_and(|n| n != "0"),
        "{body}"
    );
}
