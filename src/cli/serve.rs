//! `rill serve [--config FILE] [--listen ADDR] [--data DIR] [--board NAME]
//! [--peer-listen ADDR]`: the appliance service.
//!
//! Starts the engine, re-adds the session's torrents (see
//! [`crate::session`]), and serves the HTTP API, streams and metrics
//! ([`crate::http::server`]). Every setting has a default, so no config file
//! is needed; a TOML config file can set them all (documented in
//! `docs/config.md`), and command-line flags win over it. Unknown keys in
//! the file are warned about, not fatal (a typo must not take the box
//! down); a value of the wrong type is an error naming the line.
//!
//! Once ready it prints one line to stdout, which scripts and tests read:
//! `rill serve: http://<addr>/ (peers on <addr>)`.
//!
//! Storage mode (`storage`): `keep` (the default) downloads torrents whole
//! into `<data>/downloads`; `stream` keeps only a bounded piece cache of
//! `stream_cache_mib` in `<data>/cache` (see [`crate::store::cache`]) and
//! downloads what players read, for boards on SD cards. In `stream` mode the
//! readers' read-ahead window is capped at a quarter of the cache, so the
//! pieces a player is about to read are never the least recently read ones.
//!
//! SIGTERM/SIGINT stop it cleanly: HTTP stops taking requests, every
//! torrent announces `stopped` and saves its resume file, exit 0. A kill -9
//! loses nothing either: the session is written before an add or remove is
//! answered, and resume files are saved periodically by the engine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use log::{error, info, warn};

use crate::board::BoardProfile;
use crate::config::toml::Document;
use crate::http::api::Service;
use crate::http::auth::{BasicAuth, StreamTokens};
use crate::http::guard::Guard;
use crate::http::server::{Budget, HttpServer};
use crate::reader::ReaderConfig;
use crate::session::positions::Positions;
use crate::session::{Session, SessionOptions};
use crate::store::DiskCache;
use crate::swarm::{Engine, EngineConfig};

const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
const DEFAULT_DATA: &str = "./rill-data";
const DEFAULT_PEER_LISTEN: &str = "0.0.0.0:6881";
const DEFAULT_USER: &str = "rill";
/// Default largest upload (and fetched `.torrent`): 16 MiB.
const DEFAULT_UPLOAD_LIMIT: u64 = 16 << 20;
/// Default disk cache of storage mode `stream`, MiB.
const DEFAULT_STREAM_CACHE_MIB: u64 = 1024;
/// Smallest disk cache accepted, MiB (a few pieces of the largest size
/// plus a read-ahead window).
const MIN_STREAM_CACHE_MIB: u64 = 16;
/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 256 * 1024;
/// How often the session keeper runs.
const KEEPER_PERIOD: Duration = Duration::from_secs(1);

/// Every key the config file may hold.
const KNOWN_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "board",
    "peer_listen",
    "user",
    "password",
    "upload_limit",
    "seed",
    "dlna",
    "dlna_name",
    "dlna_interface",
    "storage",
    "stream_cache_mib",
    "ffmpeg",
    "ffprobe",
    "allowed_hosts",
    "max_torrents",
    "encryption",
    "port_mapping",
    "utp",
    "dht",
    "dht_bootstrap",
];

/// Where verified pieces go (`storage = "keep" | "stream"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    /// Whole files in `<data>/downloads`.
    Keep,
    /// A bounded piece cache in `<data>/cache`; only what is read is fetched.
    Stream,
}

/// The settings after defaults, config file and flags.
#[derive(Debug, PartialEq)]
struct Settings {
    listen: SocketAddr,
    data_dir: PathBuf,
    board: Option<String>,
    /// `None`: the default, with fallback to the next free port.
    peer_listen: Option<SocketAddr>,
    user: String,
    password: Option<String>,
    upload_limit: u64,
    seed: bool,
    dlna: crate::dlna::DlnaSettings,
    storage: Storage,
    stream_cache_mib: u64,
    /// ffmpeg and ffprobe binaries (HLS).
    tools: crate::media::Tools,
    /// Extra `Host` names the HTTP side answers to.
    allowed_hosts: Vec<String>,
    /// Most torrents kept; `None`: the board profile's.
    max_torrents: Option<u32>,
    /// MSE/PE policy (`encryption = "prefer" | "require" | "off"`).
    encryption: crate::swarm::Encryption,
    /// Ask the router to forward the peer port (UPnP-IGD, NAT-PMP).
    port_mapping: bool,
    /// uTP (BEP 29) to and from peers (`utp = true | false`).
    utp: bool,
    dht: crate::dht::DhtSettings,
}

/// Command-line flags (each overrides the config file).
#[derive(Debug, Default, PartialEq)]
struct Flags {
    config: Option<PathBuf>,
    listen: Option<String>,
    data: Option<PathBuf>,
    board: Option<String>,
    peer_listen: Option<String>,
}

pub fn run(args: &[String]) -> i32 {
    let flags = match parse_flags(args) {
        Ok(f) => f,
        Err(m) => return super::usage_error(&m),
    };
    super::init_logging();
    let settings = match load_settings(&flags) {
        Ok(s) => s,
        Err(m) => {
            eprintln!("rill: {m}");
            return 2;
        }
    };
    // Bad input (exit 2) is found before anything starts.
    let board = match crate::board::select(settings.board.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rill: {e}");
            return 2;
        }
    };
    let auth = match &settings.password {
        Some(p) => match BasicAuth::new(&settings.user, p) {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("rill: {e}");
                return 2;
            }
        },
        None => None,
    };
    match serve(settings, board, auth) {
        Ok(()) => 0,
        Err(m) => {
            eprintln!("rill: {m}");
            1
        }
    }
}

fn parse_flags(args: &[String]) -> Result<Flags, String> {
    let mut f = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--config" => f.config = Some(PathBuf::from(value()?)),
            "--listen" => f.listen = Some(value()?),
            "--data" => f.data = Some(PathBuf::from(value()?)),
            "--board" => f.board = Some(value()?),
            "--peer-listen" => f.peer_listen = Some(value()?),
            _ => return Err(format!("serve: unexpected argument '{arg}'")),
        }
    }
    Ok(f)
}

fn parse_addr(what: &str, v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("{what} {v:?}: not an IP:PORT address"))
}

/// Defaults, then the config file, then the flags.
fn load_settings(flags: &Flags) -> Result<Settings, String> {
    let doc = match &flags.config {
        Some(path) => {
            let text = read_config(path)?;
            let doc = Document::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            for (key, pos) in doc.unknown_keys(KNOWN_KEYS) {
                warn!(
                    "{}: {pos}: unknown setting '{key}' ignored (known: {})",
                    path.display(),
                    KNOWN_KEYS.join(", ")
                );
            }
            Some((path.clone(), doc))
        }
        None => None,
    };
    settings_from(
        doc.as_ref().map(|(p, d)| (p.display().to_string(), d)),
        flags,
    )
}

fn read_config(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("config {}: {e}", path.display()))?;
    let mut text = String::new();
    f.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("config {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!("config {}: larger than 256 KiB", path.display()));
    }
    Ok(text)
}

fn settings_from(doc: Option<(String, &Document)>, flags: &Flags) -> Result<Settings, String> {
    let origin = doc.as_ref().map(|(p, _)| p.clone()).unwrap_or_default();
    let err = |e: crate::config::toml::TomlError| format!("{origin}: {e}");
    let mut s = Settings {
        listen: parse_addr("listen", DEFAULT_LISTEN)?,
        data_dir: PathBuf::from(DEFAULT_DATA),
        board: None,
        peer_listen: None,
        user: DEFAULT_USER.to_string(),
        password: None,
        upload_limit: DEFAULT_UPLOAD_LIMIT,
        seed: true,
        dlna: Default::default(),
        storage: Storage::Keep,
        stream_cache_mib: DEFAULT_STREAM_CACHE_MIB,
        tools: crate::media::Tools::default(),
        allowed_hosts: Vec::new(),
        max_torrents: None,
        encryption: crate::swarm::Encryption::default(),
        port_mapping: true,
        utp: true,
        dht: Default::default(),
    };
    if let Some((_, d)) = &doc {
        if let Some(v) = d.get_str("listen").map_err(err)? {
            s.listen = parse_addr(&format!("{origin}: listen"), v)?;
        }
        if let Some(v) = d.get_str("data_dir").map_err(err)? {
            s.data_dir = PathBuf::from(v);
        }
        if let Some(v) = d.get_str("board").map_err(err)? {
            if v != "auto" {
                s.board = Some(v.to_string());
            }
        }
        if let Some(v) = d.get_str("peer_listen").map_err(err)? {
            s.peer_listen = Some(parse_addr(&format!("{origin}: peer_listen"), v)?);
        }
        if let Some(v) = d.get_str("user").map_err(err)? {
            s.user = v.to_string();
        }
        if let Some(v) = d.get_str("password").map_err(err)? {
            s.password = Some(v.to_string()).filter(|p| !p.is_empty());
        }
        if let Some(v) = d.get_u64("upload_limit").map_err(err)? {
            if v < 1024 {
                return Err(format!("{origin}: upload_limit {v} is below 1024 bytes"));
            }
            s.upload_limit = v;
        }
        if let Some(v) = d.get_bool("seed").map_err(err)? {
            s.seed = v;
        }
        s.dlna = crate::dlna::DlnaSettings::from_config(d, &origin)?;
        s.dht = crate::dht::DhtSettings::from_config(d, &origin)?;
        if let Some(v) = d.get_str("storage").map_err(err)? {
            s.storage = match v {
                "keep" => Storage::Keep,
                "stream" => Storage::Stream,
                other => {
                    return Err(format!(
                        "{origin}: storage {other:?}: expected \"keep\" or \"stream\""
                    ))
                }
            };
        }
        if let Some(v) = d.get_u64("stream_cache_mib").map_err(err)? {
            if !(MIN_STREAM_CACHE_MIB..=u64::MAX >> 20).contains(&v) {
                return Err(format!(
                    "{origin}: stream_cache_mib {v} is below {MIN_STREAM_CACHE_MIB} (or absurdly large)"
                ));
            }
            s.stream_cache_mib = v;
        }
        if let Some(v) = d.get_str("ffmpeg").map_err(err)? {
            s.tools.ffmpeg = PathBuf::from(v);
        }
        if let Some(v) = d.get_str("ffprobe").map_err(err)? {
            s.tools.ffprobe = PathBuf::from(v);
        }
        if let Some(v) = d.get_u32("max_torrents").map_err(err)? {
            if v == 0 {
                return Err(format!("{origin}: max_torrents must be at least 1"));
            }
            s.max_torrents = Some(v);
        }
        if let Some(v) = d.get_str_array("allowed_hosts").map_err(err)? {
            s.allowed_hosts = v.into_iter().map(str::to_string).collect();
        }
        if let Some(v) = d.get_bool("port_mapping").map_err(err)? {
            s.port_mapping = v;
        }
        if let Some(v) = d.get_bool("utp").map_err(err)? {
            s.utp = v;
        }
        if let Some(v) = d.get_str("encryption").map_err(err)? {
            s.encryption = crate::swarm::Encryption::parse(v).ok_or_else(|| {
                format!("{origin}: encryption {v:?}: expected \"prefer\", \"require\" or \"off\"")
            })?;
        }
    }
    if let Some(v) = &flags.listen {
        s.listen = parse_addr("--listen", v)?;
    }
    if let Some(v) = &flags.data {
        s.data_dir = v.clone();
    }
    if let Some(v) = &flags.board {
        s.board = Some(v.clone()).filter(|b| b != "auto");
    }
    if let Some(v) = &flags.peer_listen {
        s.peer_listen = Some(parse_addr("--peer-listen", v)?);
    }
    Ok(s)
}

/// Stream reader settings from the board: the read-ahead window may take
/// up to an eighth of the RAM budget, between 4 and 64 MiB.
fn reader_config(board: &BoardProfile) -> ReaderConfig {
    const MIB: u64 = 1 << 20;
    ReaderConfig {
        window_min: 4 * MIB,
        window_max: (board.ram_budget / 8).clamp(4 * MIB, 64 * MIB),
        wait_timeout: Duration::from_secs(30),
    }
}

fn serve(s: Settings, board: BoardProfile, auth: Option<BasicAuth>) -> Result<(), String> {
    let (peer_listen, listen_fallback) = match s.peer_listen {
        Some(a) => (a, false),
        None => (parse_addr("peer_listen", DEFAULT_PEER_LISTEN)?, true),
    };
    info!(
        "board '{}': {} HTTP workers; data in {}",
        board.name,
        board.http_workers,
        s.data_dir.display()
    );
    let budget = Budget::from_profile(board.http_workers, board.http_connections);
    let max_torrents = s.max_torrents.unwrap_or(board.max_torrents) as usize;
    let mut reader = reader_config(&board);
    let disk_cache = match s.storage {
        Storage::Keep => None,
        Storage::Stream => {
            let limit = s.stream_cache_mib << 20;
            let dir = s.data_dir.join("cache");
            let cache = DiskCache::open(&dir, limit).map_err(|e| e.to_string())?;
            reader.window_max = reader.window_max.min(limit / 4);
            reader.window_min = reader.window_min.min(reader.window_max);
            info!(
                "storage mode stream: at most {} MiB of pieces in {}; read-ahead up to {} MiB",
                s.stream_cache_mib,
                dir.display(),
                reader.window_max >> 20
            );
            Some(cache)
        }
    };
    let hls_board = board.clone();
    let engine = Arc::new(
        Engine::start_with(
            EngineConfig {
                listen: peer_listen,
                listen_fallback,
                board,
                encryption: s.encryption,
                utp: s.utp,
            },
            s.dht.engine_config(&s.data_dir),
        )
        .map_err(|e| e.to_string())?,
    );
    let opts = SessionOptions {
        seed: s.seed,
        disk_cache: disk_cache.clone(),
        max_torrents,
    };
    let session =
        Arc::new(Session::open_with(&s.data_dir, engine.clone(), opts).map_err(|e| e.to_string())?);
    let tokens = StreamTokens::load_or_create(&s.data_dir.join("stream_secret"))
        .map_err(|e| e.to_string())?;
    let dlna = crate::dlna::prepare(&s.dlna, &s.data_dir, s.password.is_some());
    let positions = Positions::open(&s.data_dir).map_err(|e| e.to_string())?;
    let hls_cfg = crate::hls::HlsConfig::new(&hls_board, s.tools.clone(), s.data_dir.clone());
    let hls = match crate::hls::Hls::start(hls_cfg, engine.clone()) {
        Ok(h) => Some(h),
        Err(e) => {
            error!("HLS is off: {e}");
            None
        }
    };
    let portmap = start_port_mapping(s.port_mapping, engine.listen_addr());
    let service = Arc::new(Service {
        external_addr: portmap.as_ref().map(|p| p.external_addr()),
        engine: engine.clone(),
        session: session.clone(),
        upload_limit: s.upload_limit,
        reader,
        auth,
        auth_limit: Default::default(),
        http: Default::default(),
        dlna: dlna.clone(),
        positions: positions.clone(),
        tokens,
        disk_cache,
        hls: hls.clone(),
    });
    let guard = Guard::new(Guard::system_hostname().as_deref(), &s.allowed_hosts);
    let server = HttpServer::start(s.listen, budget, guard, service).map_err(|e| e.to_string())?;
    println!(
        "rill serve: http://{}/ (peers on {})",
        server.addr(),
        engine.listen_addr()
    );
    let ssdp = dlna.and_then(|d| crate::dlna::announce(&d, server.addr(), &s.dlna));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Under systemd (Type=notify) this is the readiness signal.
    if let Err(e) = super::notify::notify("READY=1") {
        warn!("{e}; systemd will not see rill as started");
    }
    if s.password.is_none() && !server.addr().ip().is_loopback() {
        info!("no password set: anyone on the network can use this box (see docs/config.md)");
    }

    let (stop_tx, stop_rx) = channel::<()>();
    let keeper_session = session.clone();
    let keeper = std::thread::Builder::new()
        .name("rill-session".into())
        .spawn(move || loop {
            keeper_session.maintain();
            match stop_rx.recv_timeout(KEEPER_PERIOD) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => break,
            }
        })
        .map_err(|e| format!("cannot start the session thread: {e}"))?;

    wait_for_signal();
    info!("stopping: saving resume data");
    let _ = super::notify::notify("STOPPING=1");
    if let Some(a) = ssdp {
        a.stop();
    }
    if let Some(p) = portmap {
        p.stop();
    }
    server.stop(Duration::from_secs(2));
    positions.shutdown();
    let _ = stop_tx.send(());
    let _ = keeper.join();
    session.maintain();
    if let Some(h) = &hls {
        h.shutdown();
    }
    engine.shutdown();
    info!("stopped");
    Ok(())
}

/// Port mapping for the peer port, unless it is off or peers listen on
/// loopback only (nothing to forward).
fn start_port_mapping(on: bool, peers: SocketAddr) -> Option<crate::net::portmap::PortMapper> {
    if !on || peers.ip().is_loopback() {
        return None;
    }
    match crate::net::portmap::PortMapper::start(peers.port()) {
        Ok(p) => Some(p),
        Err(e) => {
            error!("port mapping is off: cannot start its thread: {e}");
            None
        }
    }
}

/// Block until SIGTERM or SIGINT. If signals cannot be registered, block
/// forever: the service is still safe to kill (see the module docs).
fn wait_for_signal() {
    use async_signal::{Signal, Signals};
    use smol::stream::StreamExt;
    match Signals::new([Signal::Term, Signal::Int]) {
        Ok(mut signals) => {
            if let Some(Ok(sig)) = smol::block_on(signals.next()) {
                info!("got {sig:?}");
            }
        }
        Err(e) => {
            error!("cannot listen for SIGTERM/SIGINT ({e}); stop with kill -9 (nothing is lost)");
            loop {
                std::thread::park();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_without_config() {
        let s = settings_from(None, &Flags::default()).unwrap();
        assert_eq!(s.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("./rill-data"));
        assert_eq!(s.board, None);
        assert_eq!(s.peer_listen, None);
        assert_eq!(s.password, None);
        assert_eq!(s.upload_limit, 16 << 20);
        assert!(s.seed);
        assert_eq!(s.storage, Storage::Keep);
        assert_eq!(s.stream_cache_mib, 1024);
    }

    #[test]
    fn config_then_flags() {
        let doc = Document::parse(
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/rill\"\nboard = \"pi4\"\n\
             peer_listen = \"0.0.0.0:7000\"\nuser = \"me\"\npassword = \"pw\"\n\
             upload_limit = 2048\nseed = false\nstorage = \"stream\"\nstream_cache_mib = 64\nffmpeg = \"/opt/ff/ffmpeg\"\n",
        )
        .unwrap();
        let s = settings_from(Some(("c.toml".into(), &doc)), &Flags::default()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("/srv/rill"));
        assert_eq!(s.board.as_deref(), Some("pi4"));
        assert_eq!(s.peer_listen, Some("0.0.0.0:7000".parse().unwrap()));
        assert_eq!((s.user.as_str(), s.password.as_deref()), ("me", Some("pw")));
        assert_eq!(s.upload_limit, 2048);
        assert!(!s.seed);
        assert_eq!((s.storage, s.stream_cache_mib), (Storage::Stream, 64));
        assert_eq!(s.tools.ffmpeg, PathBuf::from("/opt/ff/ffmpeg"));
        assert_eq!(s.tools.ffprobe, PathBuf::from("ffprobe"));
        let flags = parse_flags(&args(&[
            "--listen",
            "127.0.0.2:1",
            "--data=/d",
            "--board",
            "auto",
            "--peer-listen=127.0.0.3:2",
        ]))
        .unwrap();
        let s = settings_from(Some(("c.toml".into(), &doc)), &flags).unwrap();
        assert_eq!(s.listen, "127.0.0.2:1".parse().unwrap());
        assert_eq!(s.data_dir, PathBuf::from("/d"));
        assert_eq!(s.board, None);
        assert_eq!(s.peer_listen, Some("127.0.0.3:2".parse().unwrap()));
    }

    #[test]
    fn sample_config_and_docs_cover_every_key() {
        let sample = include_str!("../../docs/rill.example.toml");
        let doc = Document::parse(sample).unwrap();
        assert!(doc.unknown_keys(KNOWN_KEYS).is_empty());
        let s = settings_from(Some(("sample".into(), &doc)), &Flags::default()).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/rill"));
        let docs = include_str!("../../docs/config.md");
        for key in KNOWN_KEYS {
            assert!(
                docs.contains(&format!("| `{key}` |")),
                "{key} not in docs/config.md"
            );
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        for text in [
            "listen = 8080",
            "listen = \"nonsense\"",
            "upload_limit = -1",
            "upload_limit = 10",
            "seed = \"yes\"",
            "peer_listen = \"1.2.3.4\"",
            "storage = \"cache\"",
            "storage = true",
            "stream_cache_mib = 15",
            "stream_cache_mib = \"64\"",
            "encryption = \"on\"",
            "port_mapping = \"yes\"",
            "encryption = true",
        ] {
            let doc = Document::parse(text).unwrap();
            let e = settings_from(Some(("c.toml".into(), &doc)), &Flags::default());
            assert!(e.is_err(), "{text}");
            assert!(e.unwrap_err().starts_with("c.toml"), "{text}");
        }
        for bad in [&["--listen"][..], &["--bogus"], &["x"], &["--listen=nope"]] {
            let r = parse_flags(&args(bad)).and_then(|f| settings_from(None, &f));
            assert!(r.is_err(), "{bad:?}");
        }
    }
}
