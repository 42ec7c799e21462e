//! End-to-end smoke tests of the swarm engine on loopback: rill seeds a
//! generated torrent and other rill engines fetch it (from the `.torrent`
//! and from a magnet, which exercises BEP 9 serving and fetching); and the
//! `rill download` command fetches from a real aria2c seeder, then reuses
//! the data on a second run. Every wait is bounded; child processes are
//! killed by guards.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rill::swarm::picker::Priority;
use rill::swarm::{AddOptions, Engine, EngineConfig, Source, TorrentId, TorrentState};
use rill::torrent::{Magnet, Metainfo};
use rill_testkit::data::xorshift_bytes as data;
use rill_testkit::net::free_port_on as free_port;
use rill_testkit::proc::Guard;
use rill_testkit::torrent::mktorrent;
use rill_testkit::TempDir;

const WAIT: Duration = Duration::from_secs(90);

/// Write `name` (len bytes) into `dir` and make `dir/name.torrent` with
/// mktorrent (64 KiB pieces).
fn make_torrent(dir: &Path, name: &str, len: usize) -> (Vec<u8>, Metainfo, PathBuf) {
    let bytes = data(len, len as u64);
    fs::write(dir.join(name), &bytes).expect("write data");
    let torrent = dir.join(format!("{name}.torrent"));
    let meta = Metainfo::from_bytes(&mktorrent(&dir.join(name), &torrent, 16, None))
        .expect("parse torrent");
    (bytes, meta, torrent)
}

fn engine(ip: &str) -> Engine {
    engine_with(ip, true)
}

/// An engine on `ip`, uTP on or off (off, outgoing connections are TCP
/// only, dialled at once).
fn engine_with(ip: &str, utp: bool) -> Engine {
    let board = rill::board::select(None).expect("board profile");
    Engine::start(EngineConfig {
        listen: format!("{ip}:0").parse().expect("addr"),
        listen_fallback: false,
        board,
        encryption: Default::default(),
        utp,
    })
    .expect("engine starts")
}

/// An engine on `ip` seeding `meta` from the data already in `dir`, once it
/// says it seeds.
fn seeding_engine(ip: &str, meta: Metainfo, dir: &Path) -> Engine {
    let e = engine(ip);
    let id = meta.info_hash;
    let opts = AddOptions {
        disk_cache: None,
        preload_edges: false,
        out_dir: dir.to_path_buf(),
        seed: true,
        ..AddOptions::default()
    };
    e.add(Source::Torrent(Box::new(meta)), opts).unwrap();
    wait_for(&e, id, "seeding", |s| *s == TorrentState::Seeding);
    e
}

/// Wait until the torrent's state satisfies `done`; panic after WAIT.
fn wait_for(e: &Engine, id: TorrentId, what: &str, done: impl Fn(&TorrentState) -> bool) {
    let start = Instant::now();
    let mut gen = 0;
    loop {
        let s = e.stats(id).expect("torrent is known");
        if let TorrentState::Error(m) = &s.state {
            panic!("torrent failed while waiting for {what}: {m}");
        }
        if done(&s.state) {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}: {s:?}"
        );
        gen = e.wait_change(gen, Duration::from_secs(1));
    }
}

#[test]
fn engine_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
}

#[test]
fn rill_seeds_to_rill_by_torrent_and_by_magnet() {
    let dir = TempDir::new("r2r");
    let seed_dir = dir.path().join("seed");
    fs::create_dir_all(&seed_dir).unwrap();
    let len = 3 * 1024 * 1024 + 12345;
    let (bytes, meta, _) = make_torrent(&seed_dir, "payload.bin", len);
    let id = meta.info_hash;

    let seeder = engine("127.0.0.61");
    let opts = AddOptions {
        disk_cache: None,
        preload_edges: false,
        out_dir: seed_dir.clone(),
        resume_dir: Some(seed_dir.join(".rill")),
        seed: true,
        ..AddOptions::default()
    };
    assert_eq!(
        seeder
            .add(Source::Torrent(Box::new(meta.clone())), opts)
            .unwrap(),
        id
    );
    wait_for(&seeder, id, "seeding", |s| *s == TorrentState::Seeding);
    let s = seeder.stats(id).unwrap();
    assert_eq!(s.reused, len as u64);
    assert_eq!(s.downloaded, 0);
    let seed_addr: SocketAddr = seeder.listen_addr();

    // From the .torrent.
    let out = dir.path().join("leech1");
    let leech = engine("127.0.0.62");
    let opts = AddOptions {
        disk_cache: None,
        preload_edges: false,
        out_dir: out.clone(),
        resume_dir: Some(out.join(".rill")),
        extra_peers: vec![seed_addr],
        seed: false,
    };
    leech
        .add(Source::Torrent(Box::new(meta.clone())), opts.clone())
        .unwrap();
    assert!(matches!(
        leech.add(Source::Torrent(Box::new(meta.clone())), opts),
        Err(rill::swarm::EngineError::AlreadyAdded(_))
    ));
    wait_for(&leech, id, "complete", |s| *s == TorrentState::Complete);
    let s = leech.stats(id).unwrap();
    assert_eq!(s.downloaded, len as u64);
    assert_eq!(s.reused, 0);
    assert_eq!(s.pieces_done, s.pieces_total);
    assert_eq!(fs::read(out.join("payload.bin")).unwrap(), bytes);
    leech.shutdown();
    assert!(out
        .join(".rill")
        .join(format!("{}.resume", id.to_hex()))
        .exists());

    // From a magnet naming the seeder: metadata over BEP 9 first.
    let out = dir.path().join("leech2");
    let leech = engine("127.0.0.63");
    let magnet = Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{}&x.pe={seed_addr}",
        id.to_hex()
    ))
    .unwrap();
    let opts = AddOptions {
        disk_cache: None,
        preload_edges: false,
        out_dir: out.clone(),
        resume_dir: None,
        ..AddOptions::default()
    };
    leech.add(Source::Magnet(magnet), opts).unwrap();
    // Priorities set before the metadata arrives are kept for the picker.
    leech
        .set_priority(id, 7, vec![(0..2, Priority::High)])
        .unwrap();
    assert!(matches!(
        leech.set_priority(rill::torrent::InfoHash([9; 20]), 7, Vec::new()),
        Err(rill::swarm::EngineError::NotFound(_))
    ));
    wait_for(&leech, id, "complete", |s| *s == TorrentState::Complete);
    let s = leech.stats(id).unwrap();
    assert_eq!(s.name, "payload.bin");
    assert_eq!(s.downloaded, len as u64);
    assert_eq!(fs::read(out.join("payload.bin")).unwrap(), bytes);
    assert!(leech.info(id).is_some());
    leech.remove(id).unwrap();
    assert!(leech.stats(id).is_none());
    leech.shutdown();

    // Stats are published once a second: wait for the count to catch up.
    let start = Instant::now();
    let mut gen = 0;
    while seeder.stats(id).unwrap().uploaded < 2 * len as u64 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            seeder.stats(id)
        );
        gen = seeder.wait_change(gen, Duration::from_secs(1));
    }
    seeder.shutdown();
}

/// Run `rill download` and return its stdout "done:" line.
fn rill_download(torrent: &Path, out: &Path, peer: &str, listen: &str) -> String {
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_rill"))
            .arg("download")
            .arg(torrent)
            .arg("--out")
            .arg(out)
            .args(["--peer", peer, "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run rill"),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < WAIT, "rill download did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdout = String::new();
    use std::io::Read;
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(
        status.success(),
        "rill download failed: {status}, stdout {stdout}"
    );
    stdout
        .lines()
        .find(|l| l.starts_with("done: "))
        .expect("a done line")
        .to_string()
}

#[test]
fn cli_downloads_from_aria2c_then_reuses_the_data() {
    let dir = TempDir::new("aria");
    let seed_dir = dir.path().join("seed");
    fs::create_dir_all(&seed_dir).unwrap();
    let len = 2 * 1024 * 1024 + 777;
    let (bytes, _, torrent) = make_torrent(&seed_dir, "movie.bin", len);
    let port = free_port("127.0.0.65");
    let _aria = Guard(
        Command::new("aria2c")
            .args([
                "--enable-dht=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--interface=127.0.0.65",
                "-V",
                "--seed-ratio=0",
                &format!("--listen-port={port}"),
                "-d",
            ])
            .arg(&seed_dir)
            .arg(&torrent)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aria2c is installed"),
    );
    let out = dir.path().join("out");
    let peer = format!("127.0.0.65:{port}");
    // rill retries the peer with back-off until aria2c listens.
    let line = rill_download(&torrent, &out, &peer, "127.0.0.66:0");
    assert!(
        line.starts_with(&format!(
            "done: movie.bin: {len} bytes from peers, 0 bytes already on disk, "
        )),
        "{line}"
    );
    assert!(line.ends_with(" s"), "{line}");
    assert_eq!(fs::read(out.join("movie.bin")).unwrap(), bytes);

    let line = rill_download(&torrent, &out, &peer, "127.0.0.66:0");
    assert!(
        line.starts_with(&format!(
            "done: movie.bin: 0 bytes from peers, {len} bytes already on disk, "
        )),
        "{line}"
    );
}

#[test]
fn cli_rejects_bad_input_with_exit_2() {
    let dir = TempDir::new("bad");
    let junk = dir.path().join("junk.torrent");
    fs::write(&junk, b"this is not bencode").unwrap();
    for args in [
        vec![junk.to_string_lossy().into_owned()],
        vec!["magnet:?xt=urn:btih:zz".to_string()],
        vec!["x.torrent".to_string(), "--bogus".to_string()],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rill"))
            .arg("download")
            .args(&args)
            .output()
            .expect("run rill");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines().any(|l| l.starts_with("rill: ")),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// Log lines of the whole test binary (warnings and up), for tests that
/// check what the engine reported.
fn captured_logs() -> &'static std::sync::Mutex<Vec<u8>> {
    use std::sync::{Mutex, OnceLock};
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    static INIT: std::sync::Once = std::sync::Once::new();
    struct Sink;
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = captured_logs().lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    INIT.call_once(|| {
        let cfg = simplelog::ConfigBuilder::new()
            .add_filter_allow_str("rill")
            .build();
        let _ = simplelog::WriteLogger::init(log::LevelFilter::Warn, cfg, Sink);
    });
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

/// A peer that claims every piece and answers every request with junk.
/// Returns its address and a counter of connections it accepted.
fn evil_peer(
    ip: &str,
    meta: &Metainfo,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use rill::wire::{Handshake, Message};
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = TcpListener::bind(format!("{ip}:0")).unwrap();
    let addr = l.local_addr().unwrap();
    let conns = std::sync::Arc::new(AtomicUsize::new(0));
    let pieces = meta.info.piece_hashes.len() as u32;
    let ih = meta.info_hash.0;
    let c = conns.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).is_err() {
                    return;
                }
                let mut out = Handshake::new(ih, *b"-EV0001-evilevilevil")
                    .encode()
                    .to_vec();
                let mut bits = vec![0xffu8; pieces.div_ceil(8) as usize];
                if pieces % 8 != 0 {
                    if let Some(last) = bits.last_mut() {
                        *last = 0xff << (8 - pieces % 8);
                    }
                }
                Message::Bitfield(bits).encode(&mut out);
                Message::Unchoke.encode(&mut out);
                if s.write_all(&out).is_err() {
                    return;
                }
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Ok(Some((msg, n))) = Message::decode(&buf) {
                        buf.drain(..n);
                        if let Message::Request {
                            index,
                            begin,
                            length,
                        } = msg
                        {
                            let mut o = Vec::new();
                            Message::Piece {
                                index,
                                begin,
                                data: vec![0xa5; length as usize],
                            }
                            .encode(&mut o);
                            if s.write_all(&o).is_err() {
                                return;
                            }
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, conns)
}

#[test]
fn peer_sending_bad_data_is_banned_and_the_download_completes() {
    let logs = captured_logs();
    let dir = TempDir::new("evil");
    let seed_dir = dir.path().join("seed");
    fs::create_dir_all(&seed_dir).unwrap();
    let len = 2 * 1024 * 1024 + 99;
    let (bytes, meta, _) = make_torrent(&seed_dir, "clip.bin", len);
    let id = meta.info_hash;
    let (evil, evil_conns) = evil_peer("127.0.0.67", &meta);

    let seeder = seeding_engine("127.0.0.68", meta.clone(), &seed_dir);

    let out = dir.path().join("out");
    // TCP only: with uTP the leech dials the (TCP-only) evil peer 500 ms
    // after the seeder, which has delivered everything by then, and the
    // ban this test is about never comes.
    let leech = engine_with("127.0.0.69", false);
    let opts = AddOptions {
        disk_cache: None,
        preload_edges: false,
        out_dir: out.clone(),
        extra_peers: vec![evil, seeder.listen_addr()],
        ..AddOptions::default()
    };
    leech
        .add(Source::Torrent(Box::new(meta.clone())), opts)
        .unwrap();
    wait_for(&leech, id, "complete", |s| *s == TorrentState::Complete);
    assert_eq!(fs::read(out.join("clip.bin")).unwrap(), bytes);
    leech.shutdown();
    seeder.shutdown();

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains(&format!("banning peer {evil}")),
        "no ban in the log:\n{text}"
    );
    assert!(text.contains("failed its hash check"), "{text}");
    // Banned peers are never dialled again: the evil peer saw our MSE
    // attempt (encryption = prefer; it answered in plaintext) and the
    // plaintext connection it was banned on, nothing after.
    assert_eq!(evil_conns.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A running opentracker tracking one hash, killed on drop. Debian's
/// opentracker only tracks whitelisted hashes (a file in its `-d` dir).
struct Tracker {
    _child: Guard,
    _dir: TempDir,
    http: u16,
    udp: u16,
}

fn opentracker(id: rill::torrent::InfoHash) -> Tracker {
    let dir = TempDir::new("tracker");
    fs::write(dir.path().join("whitelist"), id.to_hex() + "\n").unwrap();
    let http = free_port("127.0.0.1");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Guard(
        Command::new("opentracker")
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &http.to_string(),
                "-P",
                &udp.to_string(),
            ])
            .args(["-w", "/whitelist", "-d"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("opentracker is installed"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "opentracker did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Tracker {
        _child: child,
        _dir: dir,
        http,
        udp,
    }
}

#[test]
fn peers_find_each_other_through_opentracker() {
    let dir = TempDir::new("trk");
    let seed_dir = dir.path().join("seed");
    fs::create_dir_all(&seed_dir).unwrap();
    let len = 1024 * 1024 + 5;
    let (bytes, meta, _) = make_torrent(&seed_dir, "song.bin", len);
    let id = meta.info_hash;
    let tracker = opentracker(id);

    // The seeder announces over HTTP, the leecher over UDP; nobody is
    // told the other's address.
    let mut seed_meta = meta.clone();
    seed_meta.trackers = vec![vec![format!("http://127.0.0.1:{}/announce", tracker.http)]];
    let seeder = seeding_engine("127.0.0.71", seed_meta, &seed_dir);

    let mut leech_meta = meta.clone();
    leech_meta.trackers = vec![vec![format!("udp://127.0.0.1:{}", tracker.udp)]];
    let out = dir.path().join("out");
    let leech = engine("127.0.0.72");
    let opts = AddOptions {
        disk_cache: None,
        preload_edges: false,
        out_dir: out.clone(),
        ..AddOptions::default()
    };
    leech
        .add(Source::Torrent(Box::new(leech_meta)), opts)
        .unwrap();
    wait_for(&leech, id, "complete", |s| *s == TorrentState::Complete);
    assert_eq!(fs::read(out.join("song.bin")).unwrap(), bytes);
    leech.shutdown();
    seeder.shutdown();
}
