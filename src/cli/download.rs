//! `rill download SOURCE [--out DIR] [--peer HOST:PORT]... [--seed]
//! [--listen ADDR] [--board NAME] [--encryption prefer|require|off] [--utp on|off]
//! [--dht-bootstrap HOST:PORT]... [--no-dht] [--no-lsd] [--no-pex] [--no-holepunch]`:
//! fetch one
//! torrent to completion.
//!
//! The DHT runs on the UDP port of `--listen` unless `--no-dht`;
//! `--dht-bootstrap` (repeatable) replaces the built-in router list. The
//! routing table is not kept between runs (`rill serve` keeps its own).
//! Local peer discovery (BEP 14) announces the torrent on the LAN unless
//! `--no-lsd` (or the listen address is loopback). Peer exchange (BEP 11)
//! with peers that offer it unless `--no-pex`; holepunching (BEP 55, as
//! relay and as either end) unless `--no-holepunch`.
//!
//! SOURCE is a `.torrent` path, a magnet URI, or an http(s) URL of a
//! `.torrent`. Files land in `DIR/<name>`; the resume file is
//! `DIR/.rill/<infohash-hex>.resume`; data already there is verified and
//! reused. Progress goes to stderr (a line redrawn in place on a terminal,
//! a log line every 5 s otherwise). On completion one line goes to stdout,
//! which scripts and tests parse:
//!
//! `done: <name>: <D> bytes from peers, <R> bytes already on disk, <S> s`
//!
//! Exit codes: 0 done (or, with `--seed`, seeding until killed), 2 bad
//! input (flags, unparsable torrent or magnet, a URL that is not a
//! torrent), 1 anything else (I/O, cannot listen), each with one line
//! `rill: <message>` on stderr.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use log::info;

use crate::board::BoardProfile;
use crate::swarm::{
    AddOptions, Encryption, Engine, EngineConfig, Source, TorrentState, TorrentStats,
};
use crate::torrent::{Magnet, Metainfo};

/// Largest `.torrent` we read or download.
const MAX_TORRENT_BYTES: usize = 16 * 1024 * 1024;
const URL_TIMEOUT: Duration = Duration::from_secs(60);
/// Dual-stack (IPv4 and IPv6); `0.0.0.0` on a host without IPv6.
const DEFAULT_LISTEN: &str = "[::]:6881";
/// Plain progress lines (not a terminal) come this often.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// RAM caps of a download (the board's are for `rill serve`). No stream
/// reader waits here, so the verified-piece tier only keeps the newest
/// pieces for peers that ask for them right after our `Have`; the in-flight
/// cap only has to keep the request pipes to fast peers full (a few pieces
/// per peer; the engine's floor is 4 pieces of the torrent's size).
const DOWNLOAD_INFLIGHT_RAM: u64 = 6 << 20;
const DOWNLOAD_RAM_TIER: u64 = 2 << 20;

#[derive(Debug, PartialEq)]
struct Args {
    source: String,
    out: PathBuf,
    peers: Vec<SocketAddr>,
    seed: bool,
    listen: Option<SocketAddr>,
    board: Option<String>,
    encryption: Encryption,
    /// `--utp on|off` (default on).
    utp: bool,
    /// `--dht-bootstrap` entries (empty: the built-in routers).
    dht_bootstrap: Vec<String>,
    no_dht: bool,
    /// `--no-lsd`: no local peer discovery.
    no_lsd: bool,
    /// `--no-pex`: no peer exchange.
    no_pex: bool,
    /// `--no-holepunch`: no ut_holepunch.
    no_holepunch: bool,
}

/// Why the command failed: bad input (exit 2) or anything else (exit 1).
#[derive(Debug)]
enum Failure {
    Input(String),
    Other(String),
}

pub fn run(args: &[String]) -> i32 {
    let result = parse_args(args).and_then(|a| {
        super::init_logging();
        download(a)
    });
    match result {
        Ok(()) => 0,
        Err(Failure::Input(m)) => {
            eprintln!("rill: {m}");
            2
        }
        Err(Failure::Other(m)) => {
            eprintln!("rill: {m}");
            1
        }
    }
}

fn parse_args(args: &[String]) -> Result<Args, Failure> {
    let mut source = None;
    let mut a = Args {
        source: String::new(),
        out: PathBuf::from("."),
        peers: Vec::new(),
        seed: false,
        listen: None,
        board: None,
        encryption: Encryption::default(),
        utp: true,
        dht_bootstrap: Vec::new(),
        no_dht: false,
        no_lsd: false,
        no_pex: false,
        no_holepunch: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, Failure> {
            match inline.clone().or_else(|| it.next().cloned()) {
                Some(v) => Ok(v),
                None => Err(Failure::Input(format!("{name} needs a value"))),
            }
        };
        match flag {
            "--out" | "-o" => a.out = PathBuf::from(value("--out")?),
            "--peer" => {
                let v = value("--peer")?;
                let addr = v
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut i| i.next())
                    .ok_or_else(|| {
                        Failure::Input(format!("--peer {v}: not a HOST:PORT address"))
                    })?;
                a.peers.push(addr);
            }
            "--seed" if inline.is_none() => a.seed = true,
            "--listen" => {
                let v = value("--listen")?;
                a.listen = Some(v.parse().map_err(|_| {
                    Failure::Input(format!("--listen {v}: not an IP:PORT address"))
                })?);
            }
            "--board" => a.board = Some(value("--board")?),
            "--encryption" => {
                let v = value("--encryption")?;
                a.encryption = Encryption::parse(&v).ok_or_else(|| {
                    Failure::Input(format!("--encryption {v}: use prefer, require or off"))
                })?;
            }
            "--utp" => {
                a.utp = match value("--utp")?.as_str() {
                    "on" => true,
                    "off" => false,
                    v => return Err(Failure::Input(format!("--utp {v}: use on or off"))),
                };
            }
            "--dht-bootstrap" => {
                let v = value("--dht-bootstrap")?;
                crate::dht::check_bootstrap(&v)
                    .map_err(|m| Failure::Input(format!("--dht-bootstrap {m}")))?;
                a.dht_bootstrap.push(v);
            }
            "--no-dht" if inline.is_none() => a.no_dht = true,
            "--no-lsd" if inline.is_none() => a.no_lsd = true,
            "--no-pex" if inline.is_none() => a.no_pex = true,
            "--no-holepunch" if inline.is_none() => a.no_holepunch = true,
            f if f.starts_with('-') && f.len() > 1 => {
                return Err(Failure::Input(format!("unknown option '{f}'")))
            }
            _ => {
                if source.is_some() {
                    return Err(Failure::Input(format!("unexpected argument '{arg}'")));
                }
                source = Some(arg.clone());
            }
        }
    }
    a.source = source.ok_or_else(|| {
        Failure::Input("download needs a SOURCE (.torrent file, magnet URI or URL)".into())
    })?;
    Ok(a)
}

/// Read SOURCE into something the engine can add.
fn load_source(src: &str) -> Result<Source, Failure> {
    if src.starts_with("magnet:") {
        return Magnet::parse(src)
            .map(Source::Magnet)
            .map_err(|e| Failure::Input(e.to_string()));
    }
    let bytes = if src.starts_with("http://") || src.starts_with("https://") {
        fetch_url(src)?
    } else {
        read_file(src)?
    };
    Metainfo::from_bytes(&bytes)
        .map(|m| Source::Torrent(Box::new(m)))
        .map_err(|e| Failure::Input(format!("{src}: {e}")))
}

fn fetch_url(url: &str) -> Result<Vec<u8>, Failure> {
    use crate::net::http_client::{get, HttpError};
    let resp = smol::block_on(get(url, MAX_TORRENT_BYTES, URL_TIMEOUT)).map_err(|e| match e {
        // The URL itself is wrong, or what it names is no torrent.
        HttpError::InvalidUrl(_) | HttpError::BodyTooLarge { .. } => {
            Failure::Input(format!("{e} (not a torrent)"))
        }
        _ => Failure::Other(e.to_string()),
    })?;
    if resp.status != 200 {
        return Err(Failure::Input(format!(
            "{url}: HTTP status {}, not a torrent",
            resp.status
        )));
    }
    Ok(resp.body)
}

fn read_file(path: &str) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Failure::Input(format!("{path}: no such file")),
        _ => Failure::Other(format!("{path}: {e}")),
    })?;
    let mut bytes = Vec::new();
    f.take(MAX_TORRENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Other(format!("{path}: {e}")))?;
    if bytes.len() > MAX_TORRENT_BYTES {
        return Err(Failure::Input(format!(
            "{path}: larger than 16 MiB, not a torrent"
        )));
    }
    Ok(bytes)
}

fn board_profile(name: Option<&str>) -> Result<BoardProfile, Failure> {
    crate::board::select(name).map_err(|e| Failure::Input(e.to_string()))
}

fn download(a: Args) -> Result<(), Failure> {
    let source = load_source(&a.source)?;
    let mut board = board_profile(a.board.as_deref())?;
    board.inflight_ram = board.inflight_ram.min(DOWNLOAD_INFLIGHT_RAM);
    board.ram_tier = board.ram_tier.min(DOWNLOAD_RAM_TIER);
    let resume_dir = a.out.join(".rill");
    std::fs::create_dir_all(&resume_dir)
        .map_err(|e| Failure::Other(format!("creating {}: {e}", resume_dir.display())))?;
    let (listen, listen_fallback) = match a.listen {
        Some(l) => (l, false),
        None => (
            DEFAULT_LISTEN
                .parse()
                .map_err(|_| Failure::Other("bad default listen address".into()))?,
            true,
        ),
    };
    if let Source::Magnet(m) = &source {
        if m.trackers.is_empty() && m.peers.is_empty() && a.peers.is_empty() && a.no_dht {
            log::warn!("the magnet names no trackers or peers; waiting for peers to connect to us");
        }
    }
    let dht = (!a.no_dht).then(|| {
        let mut c = crate::dht::DhtConfig::default();
        if !a.dht_bootstrap.is_empty() {
            c.bootstrap = a.dht_bootstrap.clone();
        }
        c
    });
    let engine = Engine::start_with(
        EngineConfig {
            listen,
            listen_fallback,
            board,
            encryption: a.encryption,
            utp: a.utp,
        },
        crate::swarm::Discovery {
            dht,
            lsd: !a.no_lsd,
            pex: !a.no_pex,
            holepunch: !a.no_holepunch,
        },
    )
    .map_err(|e| Failure::Other(e.to_string()))?;
    let opts = AddOptions {
        disk_cache: None,
        preload_edges: false,
        out_dir: a.out.clone(),
        resume_dir: Some(resume_dir),
        extra_peers: a.peers.clone(),
        seed: a.seed,
    };
    let id = engine
        .add(source, opts)
        .map_err(|e| Failure::Other(e.to_string()))?;
    watch(&engine, id, a.seed)
}

/// Report progress until done (or forever when seeding).
fn watch(engine: &Engine, id: crate::swarm::TorrentId, seed: bool) -> Result<(), Failure> {
    let tty = std::io::stderr().is_terminal();
    let mut gen = 0;
    let mut last_line = Instant::now();
    let mut reported_done = false;
    loop {
        gen = engine.wait_change(gen, Duration::from_secs(1));
        let Some(s) = engine.stats(id) else {
            return Err(Failure::Other("the torrent vanished".into()));
        };
        if let TorrentState::Error(msg) = &s.state {
            engine.shutdown();
            return Err(Failure::Other(format!("{}: {msg}", s.name)));
        }
        if s.state.is_done() && !reported_done {
            reported_done = true;
            if tty {
                eprintln!();
            }
            println!(
                "done: {}: {} bytes from peers, {} bytes already on disk, {:.1} s",
                s.name,
                s.downloaded,
                s.reused,
                s.elapsed.as_secs_f64()
            );
            let _ = std::io::stdout().flush();
            if !seed {
                engine.shutdown();
                return Ok(());
            }
            info!("{}: seeding until interrupted", s.name);
        }
        if tty {
            if last_line.elapsed() >= Duration::from_millis(500) {
                last_line = Instant::now();
                eprint!("\r\x1b[K{}", progress_line(&s));
                let _ = std::io::stderr().flush();
            }
        } else if last_line.elapsed() >= LOG_EVERY {
            last_line = Instant::now();
            info!("{}", progress_line(&s));
        }
    }
}

fn progress_line(s: &TorrentStats) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let head = match &s.state {
        TorrentState::FetchingMetadata => "fetching metadata:".to_string(),
        TorrentState::Checking => "checking:".to_string(),
        TorrentState::Seeding => "seeding:".to_string(),
        _ => "progress:".to_string(),
    };
    let left = s.total_length.saturating_sub(s.bytes_done);
    let eta = if s.state.is_done() {
        "0s".to_string()
    } else if s.download_rate >= 1.0 && s.total_length > 0 {
        fmt_duration(left as f64 / s.download_rate)
    } else {
        "-".to_string()
    };
    format!(
        "{head} {:.1}% {:.1} MiB/s down, {:.1} MiB/s up, {} peers, ETA {eta}",
        s.progress() * 100.0,
        s.download_rate / MIB,
        s.upload_rate / MIB,
        s.peers
    )
}

fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs > 360_000.0 {
        return "-".into();
    }
    let s = secs.ceil() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let a = parse_args(&args(&[
            "x.torrent",
            "--out",
            "d",
            "--peer",
            "127.0.0.2:7000",
            "--peer=127.0.0.3:7001",
            "--seed",
            "--listen",
            "127.0.0.4:0",
            "--board=pi4",
            "--encryption=require",
            "--dht-bootstrap",
            "127.0.0.5:6881",
            "--dht-bootstrap=router.example:1",
        ]))
        .unwrap();
        assert_eq!(a.dht_bootstrap, ["127.0.0.5:6881", "router.example:1"]);
        assert!(!a.no_dht);
        assert!(parse_args(&args(&["x", "--no-dht"])).unwrap().no_dht);
        assert!(parse_args(&args(&["x", "--no-lsd"])).unwrap().no_lsd);
        assert!(parse_args(&args(&["x", "--no-pex"])).unwrap().no_pex);
        assert!(
            parse_args(&args(&["x", "--no-holepunch"]))
                .unwrap()
                .no_holepunch
        );
        assert!(!a.no_lsd);
        assert_eq!(a.source, "x.torrent");
        assert_eq!(a.out, PathBuf::from("d"));
        assert_eq!(a.peers.len(), 2);
        assert!(a.seed);
        assert_eq!(a.listen, Some("127.0.0.4:0".parse().unwrap()));
        assert_eq!(a.board.as_deref(), Some("pi4"));
        assert_eq!(a.encryption, Encryption::Require);
        let a = parse_args(&args(&["x", "--encryption", "off"])).unwrap();
        assert_eq!(a.encryption, Encryption::Off);
        assert!(a.utp);
        let a = parse_args(&args(&["x", "--utp", "off"])).unwrap();
        assert!(!a.utp);
        assert!(parse_args(&args(&["x", "--utp", "maybe"])).is_err());
    }

    #[test]
    fn bad_flags_are_input_errors() {
        for bad in [
            &["--out"][..],
            &["x", "--peer", "nohostport"],
            &["x", "--listen", "nonsense"],
            &["x", "--bogus"],
            &["x", "y"],
            &[],
            &["x", "--seed=yes"],
            &["x", "--encryption", "on"],
            &["x", "--dht-bootstrap", "nohostport"],
            &["x", "--no-dht=1"],
        ] {
            assert!(
                matches!(parse_args(&args(bad)), Err(Failure::Input(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bad_sources_are_input_errors() {
        assert!(matches!(
            load_source("magnet:?xt=urn:btih:nothex"),
            Err(Failure::Input(_))
        ));
        assert!(matches!(
            load_source("/nonexistent/x.torrent"),
            Err(Failure::Input(_))
        ));
    }

    #[test]
    fn formats_durations() {
        assert_eq!(fmt_duration(5.2), "6s");
        assert_eq!(fmt_duration(125.0), "2m05s");
        assert_eq!(fmt_duration(7300.0), "2h01m");
        assert_eq!(fmt_duration(f64::INFINITY), "-");
    }
}
