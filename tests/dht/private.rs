//! A private DHT on loopback: aria2c node N (seeding a dummy torrent, as
//! aria2c runs its DHT only with a BitTorrent download), and an aria2c
//! seeder of the test's torrent bootstrapped from N, so its announce lands
//! in N. Every aria2c has its own 127.a.b.c, ports and DHT file.

use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::proc::Proc;
use super::support::{self, data, net, TestEnv};

/// A torrent without trackers: its file, content and info hash.
pub struct Trackerless {
    pub file: PathBuf,
    pub content: PathBuf,
    pub hex: String,
}

impl Trackerless {
    pub fn magnet(&self) -> String {
        format!("magnet:?xt=urn:btih:{}", self.hex)
    }
}

/// `mktorrent` without an announce URL (64 KiB pieces).
pub fn trackerless(env: &TestEnv, content: &Path) -> Trackerless {
    let name = content.file_name().and_then(|n| n.to_str()).expect("name");
    let file = env.path(&format!("torrents/{name}.torrent"));
    let bytes = support::torrent::mktorrent(content, &file, 16, None);
    let meta = rill::torrent::Metainfo::from_bytes(&bytes).expect("torrent parses");
    Trackerless {
        file,
        content: content.to_path_buf(),
        hex: meta.info_hash.to_hex(),
    }
}

/// aria2c with its DHT on `dht` (UDP, same IP as its peer port `peer`).
pub fn aria2_dht(
    peer: SocketAddrV4,
    dht_port: u16,
    entry: Option<SocketAddr>,
    dir: &Path,
) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--enable-dht=true",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=notice",
        "--show-console-readout=false",
    ])
    .arg(format!("--dht-listen-port={dht_port}"))
    .arg(format!("--dht-file-path={}", dir.join("dht.dat").display()))
    .arg(format!("--interface={}", peer.ip()))
    .arg(format!("--listen-port={}", peer.port()))
    .arg(format!("--dir={}", dir.display()));
    if let Some(e) = entry {
        cmd.arg(format!("--dht-entry-point={e}"));
    }
    cmd
}

pub struct PrivateDht {
    /// N's DHT address.
    pub node: SocketAddr,
    pub torrent: Trackerless,
    _procs: Vec<Proc>,
}

impl PrivateDht {
    /// N, then a seeder of `len` random bytes announcing through N.
    pub fn start(env: &TestEnv, len: u64) -> PrivateDht {
        let n_peer = net::loopback_addr();
        let n_dht = net::free_port();
        let n_dir = env.mkdir("aria2-node");
        let dummy = n_dir.join("dummy.bin");
        data::write_random_file(&dummy, 70_000, 99);
        let dummy_t = trackerless(env, &dummy);
        let mut cmd = aria2_dht(n_peer, n_dht, None, &n_dir);
        cmd.args(["-V", "--seed-ratio=0"]).arg(&dummy_t.file);
        let node_proc = Proc::spawn(env, "aria2-node", &mut cmd);
        let node = SocketAddr::new((*n_peer.ip()).into(), n_dht);
        wait_udp(env, node);

        let s_dir = env.mkdir("aria2-seeder");
        let content = s_dir.join("video.bin");
        data::write_random_file(&content, len, 7);
        let torrent = trackerless(env, &content);
        let s_peer = net::loopback_addr();
        let mut cmd = aria2_dht(s_peer, net::free_port(), Some(node), &s_dir);
        cmd.args(["-V", "--seed-ratio=0"]).arg(&torrent.file);
        let seeder = Proc::spawn(env, "aria2-seeder", &mut cmd);
        env.wait_until("the seeder to listen", support::WAIT, || {
            Ok(std::net::TcpStream::connect(s_peer).is_ok())
        });
        let hash = rill::torrent::InfoHash::from_hex(&torrent.hex).expect("hex");
        env.wait_until("the seeder's announce to reach N", support::WAIT, || {
            Ok(get_peers(node, hash.0).contains(&SocketAddr::V4(s_peer)))
        });
        PrivateDht {
            node,
            torrent,
            _procs: vec![node_proc, seeder],
        }
    }
}

/// One `get_peers` query to `node` from a throwaway socket: the peers it
/// answers with (empty on no answer within 2 s).
pub fn get_peers(node: SocketAddr, info_hash: [u8; 20]) -> Vec<SocketAddr> {
    let Ok(sock) = std::net::UdpSocket::bind(SocketAddr::new(node.ip(), 0)) else {
        return Vec::new();
    };
    get_peers_from(&sock, node, info_hash).map_or_else(Vec::new, |r| r.values)
}

/// `get_peers` to `node` from `sock`: its answer (None on no answer
/// within 2 s).
fn get_peers_from(
    sock: &std::net::UdpSocket,
    node: SocketAddr,
    info_hash: [u8; 20],
) -> Option<rill::wire::krpc::Response> {
    use rill::wire::krpc::{Body, Krpc, Query};
    let _ = sock.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let q = Krpc {
        tid: b"tp".to_vec(),
        body: Body::Query(Query::GetPeers {
            id: [0x5a; 20],
            info_hash,
            want: Default::default(),
        }),
    };
    sock.send_to(&q.encode(), node).ok()?;
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    match Krpc::parse(&buf[..n]) {
        Ok(Krpc {
            body: Body::Response(r),
            ..
        }) => Some(r),
        _ => None,
    }
}

/// Store `peer` in `node` for `info_hash` as a peer would (`get_peers`
/// for a token, then `announce_peer`, both from `peer`'s IP): a peer that
/// runs no DHT of its own, so it never learns of anyone to dial.
pub fn announce_peer(node: SocketAddr, info_hash: [u8; 20], peer: SocketAddrV4) -> bool {
    use rill::wire::krpc::{Body, Krpc, Query};
    let Ok(sock) = std::net::UdpSocket::bind(SocketAddr::new((*peer.ip()).into(), 0)) else {
        return false;
    };
    let Some(token) = get_peers_from(&sock, node, info_hash).and_then(|r| r.token) else {
        return false;
    };
    let q = Krpc {
        tid: b"ap".to_vec(),
        body: Body::Query(Query::AnnouncePeer {
            id: [0x5a; 20],
            info_hash,
            port: peer.port(),
            implied_port: false,
            token,
        }),
    };
    sock.send_to(&q.encode(), node).is_ok()
}

/// Wait until something has bound UDP `addr` (binding it fails).
pub fn wait_udp(env: &TestEnv, addr: SocketAddr) {
    env.wait_until(&format!("UDP {addr} to be bound"), support::WAIT, || {
        Ok(std::net::UdpSocket::bind(addr).is_err())
    });
}
