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
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use log::{error, info, warn};

use crate::app::tokens::StreamTokens;
use crate::app::Service;
use crate::board::BoardProfile;
use crate::http::auth::BasicAuth;
use crate::http::guard::Guard;
use crate::http::server::{Budget, HttpServer};
use crate::http::web::Web;
use crate::reader::ReaderConfig;
use crate::session::positions::Positions;
use crate::session::{Session, SessionOptions};
use crate::store::DiskCache;
use crate::swarm::{Engine, EngineConfig};

mod ram_dir;
mod settings;

use settings::{load_settings, parse_addr, parse_flags, Settings, Storage, DEFAULT_PEER_LISTEN};

/// How often the session keeper runs.
const KEEPER_PERIOD: Duration = Duration::from_secs(1);

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
            crate::swarm::Discovery {
                dht: s.dht.engine_config(&s.data_dir),
                lsd: s.lsd,
                pex: s.pex,
                holepunch: true,
            },
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
    let mut hls_cfg = crate::hls::HlsConfig::new(&hls_board, s.tools.clone(), s.data_dir.clone());
    if s.storage == Storage::Stream {
        // Segments are as many bytes again as the pieces they come from:
        // in the mode that spares the SD card they stay in RAM.
        match ram_dir::segment_dir(&s.data_dir) {
            Ok(dir) => {
                info!(
                    "storage mode stream: HLS segments in RAM in {} (at most {} MiB)",
                    dir.display(),
                    hls_cfg.segment_limit >> 20
                );
                hls_cfg.segment_dir = dir;
            }
            Err(e) => warn!(
                "storage mode stream: HLS segments go to {} on disk ({e})",
                hls_cfg.segment_dir.display()
            ),
        }
    }
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
        reader,
        dlna: dlna.clone(),
        positions: positions.clone(),
        tokens,
        disk_cache,
        hls: hls.clone(),
    });
    let guard = Guard::new(Guard::system_hostname().as_deref(), &s.allowed_hosts);
    let web = Arc::new(Web::new(service, s.upload_limit, auth));
    let server = HttpServer::start(s.listen, budget, guard, web).map_err(|e| e.to_string())?;
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
