//! Our tracker clients against a real `opentracker` (Debian package) on
//! 127.0.0.1: two peers on their own loopback addresses announce over
//! HTTP and over UDP and must see each other with the right address and
//! port; a hash missing from the whitelist must come back as a tracker
//! failure with opentracker's own words; BEP 12 tiers must skip dead
//! trackers and promote the live one.
//!
//! Debian's opentracker only tracks whitelisted hashes: the whitelist is a
//! file in its `-d` directory, named with `-w /name` (read after chroot).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rill::torrent::InfoHash;
use rill::tracker::{announce, AnnounceRequest, Event, TrackerError, TrackerTiers};

/// A running opentracker, killed and cleaned up on drop.
struct OpenTracker {
    child: Child,
    dir: PathBuf,
    http_port: u16,
    udp_port: u16,
}

impl Drop for OpenTracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free TCP port")
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free UDP port")
        .port()
}

impl OpenTracker {
    /// Start opentracker tracking only `whitelist`; a few tries in case a
    /// port we picked was taken meanwhile.
    fn start(tag: &str, whitelist: &[InfoHash]) -> OpenTracker {
        for attempt in 0..3 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "rill-opentracker-{tag}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let list: String = whitelist.iter().map(|h| h.to_hex() + "\n").collect();
            std::fs::write(dir.join("whitelist"), list).expect("whitelist");
            let (http_port, udp_port) = (free_tcp_port(), free_udp_port());
            let child = Command::new("opentracker")
                .args(["-i", "127.0.0.1", "-p", &http_port.to_string()])
                .args(["-P", &udp_port.to_string(), "-w", "/whitelist", "-d"])
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("opentracker is installed (Debian package opentracker)");
            let mut t = OpenTracker {
                child,
                dir,
                http_port,
                udp_port,
            };
            if t.wait_ready() && t.wait_whitelist(whitelist.first()) {
                return t;
            }
            eprintln!("opentracker did not come up (attempt {attempt}); retrying");
        }
        panic!("opentracker did not start in 3 tries");
    }

    /// Up to 10 s for the HTTP port to accept; false if it exited.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.http_port));
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Up to 10 s for opentracker to load its whitelist (a thread of its
    /// own reads it after the ports are open; until then it refuses every
    /// hash). Probed with a `started` announce, whose probe peer a
    /// `stopped` announce then removes: once, a `stopped` probe passed and
    /// the test's first real announce was still refused.
    fn wait_whitelist(&mut self, probe: Option<&InfoHash>) -> bool {
        let Some(hash) = probe else { return true };
        let query: String = hash.0.iter().map(|b| format!("%{b:02X}")).collect();
        let request = |event: &str| {
            format!(
                "GET /announce?info_hash={query}&peer_id=-RT0000-whitelistprb&port=1\
                 &uploaded=0&downloaded=0&left=0&event={event}&compact=1 HTTP/1.0\r\n\r\n"
            )
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], self.http_port));
        let ask = |req: &str| -> Option<String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut answer = Vec::new();
            s.write_all(req.as_bytes()).ok()?;
            s.read_to_end(&mut answer).ok()?;
            answer
                .starts_with(b"HTTP/1.")
                .then(|| String::from_utf8_lossy(&answer).into_owned())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if ask(&request("started")).is_some_and(|a| !a.contains("failure reason")) {
                return ask(&request("stopped")).is_some();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.http_port)
    }

    fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}", self.udp_port)
    }
}

fn hash(seed: u8) -> InfoHash {
    InfoHash(std::array::from_fn(|i| {
        seed.wrapping_mul(31).wrapping_add(i as u8)
    }))
}

fn peer(info_hash: InfoHash, ip: &str, port: u16, name: u8) -> AnnounceRequest {
    let mut peer_id = *b"-RL0001-000000000000";
    peer_id[19] = name;
    AnnounceRequest {
        info_hash,
        peer_id,
        port,
        uploaded: 0,
        downloaded: 0,
        left: 1000,
        event: Event::Started,
        num_want: 50,
        local_ip: Some(ip.parse::<IpAddr>().expect("ip")),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Two peers announce to `url` and find each other; then one stops and
/// disappears from the other's list.
fn peers_find_each_other(url: &str, h: InfoHash, ips: [&str; 2], ports: [u16; 2]) {
    let mut a = peer(h, ips[0], ports[0], b'a');
    let mut b = peer(h, ips[1], ports[1], b'b');
    let a_addr = addr(&format!("{}:{}", ips[0], ports[0]));
    let b_addr = addr(&format!("{}:{}", ips[1], ports[1]));
    smol::block_on(async {
        announce(url, &a).await.expect("first announce of A");
        let rb = announce(url, &b).await.expect("announce of B");
        assert!(
            rb.peers.contains(&a_addr),
            "{url}: B got {:?}, not A",
            rb.peers
        );
        assert_eq!(rb.leechers, Some(2), "{url}");
        assert!(rb.interval >= Duration::from_secs(60));
        a.event = Event::None;
        let ra = announce(url, &a).await.expect("second announce of A");
        assert!(
            ra.peers.contains(&b_addr),
            "{url}: A got {:?}, not B",
            ra.peers
        );
        a.event = Event::Stopped;
        announce(url, &a).await.expect("stop of A");
        b.event = Event::None;
        let rb = announce(url, &b).await.expect("B again");
        assert!(
            !rb.peers.contains(&a_addr),
            "{url}: A stopped but B still got it"
        );
        assert_eq!(rb.leechers, Some(1), "{url}");
    });
}

#[test]
fn http_peers_see_each_other() {
    let h = hash(1);
    let t = OpenTracker::start("http", &[h]);
    peers_find_each_other(&t.http_url(), h, ["127.0.0.21", "127.0.0.22"], [6001, 6002]);
}

#[test]
fn udp_peers_see_each_other() {
    let h = hash(2);
    let t = OpenTracker::start("udp", &[h]);
    peers_find_each_other(&t.udp_url(), h, ["127.0.0.23", "127.0.0.24"], [7001, 7002]);
}

#[test]
fn unlisted_hash_is_a_tracker_failure() {
    let t = OpenTracker::start("deny", &[hash(3)]);
    let req = peer(hash(4), "127.0.0.25", 6003, b'c');
    // Over HTTP opentracker gives its reason; over UDP it answers with an
    // empty announce (no BEP 15 error packet), which we report as a refusal.
    let cases = [
        (
            t.http_url(),
            "Requested download is not authorized for use with this tracker.",
        ),
        (t.udp_url(), "refused without a reason"),
    ];
    for (url, words) in cases {
        match smol::block_on(announce(&url, &req)) {
            Err(e @ TrackerError::Failure { .. }) => {
                let text = e.to_string();
                assert!(text.contains(words), "{url}: {text}");
                assert!(
                    text.contains("127.0.0.1"),
                    "the error names the tracker: {text}"
                );
            }
            other => panic!("{url}: expected a failure, got {other:?}"),
        }
    }
}

#[test]
fn tiers_skip_dead_trackers_and_promote_the_live_one() {
    let h = hash(5);
    let t = OpenTracker::start("tiers", &[h]);
    // Nothing listens on these: they fail at once (RST / ICMP unreachable).
    let dead_udp = format!("udp://127.0.0.1:{}", free_udp_port());
    let dead_http = format!("http://127.0.0.1:{}/announce", free_tcp_port());
    let live = t.udp_url();
    let mut tiers = TrackerTiers::new(vec![
        vec![dead_udp.clone(), dead_http.clone()],
        vec![dead_http, live.clone(), dead_udp],
    ]);
    let req = peer(h, "127.0.0.26", 6004, b'd');
    smol::block_on(async {
        let r = tiers
            .announce(&req)
            .await
            .expect("the live tracker answers");
        assert!(r.peers.contains(&addr("127.0.0.26:6004")), "{:?}", r.peers);
        assert_eq!(tiers.tiers[1][0], live);
        assert_eq!(tiers.tiers[0].len(), 2);
        assert!(tiers.announce(&req).await.is_ok());
        assert_eq!(tiers.tiers[1][0], live);
    });
    drop(t);
    let e = smol::block_on(tiers.announce(&req)).err();
    assert!(
        matches!(e, Some(TrackerError::AllFailed { tried: 5, .. })),
        "{e:?}"
    );
}
