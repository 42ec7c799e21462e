//! The engine's public handle and its command loop.
//!
//! [`Engine::start`] binds the listen socket and spawns the executor thread
//! (`rill-swarm`), which runs a `smol::LocalExecutor`: every torrent, peer,
//! tracker and timer lives there as a task. The handle is `Send + Sync`;
//! its methods send a [`Command`] over a channel and, where they return
//! something, wait for the reply. Snapshots ([`Engine::stats`]) are read
//! from shared state without a round trip, and [`Engine::wait_change`]
//! blocks on a condvar until the executor publishes something new.

use std::net::{SocketAddr, TcpListener};
use std::ops::Range;
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use log::{debug, info, warn};
use smol::channel::{Receiver, Sender};
use smol::{Async, LocalExecutor};

use super::ctx::Ctx;
use super::lifecycle::UPCALLS;
use super::listener;
use super::mailbox::Mailbox;
pub use super::options::{AddOptions, Discovery};
use super::peer::Encryption;
use super::picker::Priority;
use super::state::TState;
use super::stats::{Shared, TorrentStats};
use super::torrent::{Torrent, Torrents};
use crate::board::BoardProfile;
use crate::dht::{DhtSnapshot, DhtStats};
use crate::store::PieceStore;
use crate::torrent::{Info, InfoHash, Magnet, Metainfo};

/// A torrent's id is its info hash.
pub type TorrentId = InfoHash;

/// Ports tried after a busy default port (`listen_fallback`).
const FALLBACK_PORTS: u16 = 8;
/// How long a handle waits for the executor to answer a command.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where to accept peers. Outgoing connections come from its IP too
    /// unless it is unspecified (0.0.0.0).
    pub listen: SocketAddr,
    /// If the port is busy, try the next [`FALLBACK_PORTS`] ports, then
    /// any free port.
    pub listen_fallback: bool,
    pub board: BoardProfile,
    /// MSE/PE policy.
    pub encryption: Encryption,
    /// uTP (BEP 29) on the UDP socket of the listen address, in and out.
    pub utp: bool,
}

/// What to add: a parsed `.torrent` or a magnet link.
#[derive(Clone, Debug)]
pub enum Source {
    Torrent(Box<Metainfo>),
    Magnet(Magnet),
}

#[derive(Debug)]
pub enum EngineError {
    Bind {
        addr: SocketAddr,
        err: std::io::Error,
    },
    Thread(std::io::Error),
    AlreadyAdded(InfoHash),
    NotFound(InfoHash),
    /// The executor thread is gone (shut down, or it failed).
    Stopped,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Bind { addr, err } => write!(f, "cannot listen on {addr}: {err}"),
            EngineError::Thread(e) => write!(f, "cannot start the engine thread: {e}"),
            EngineError::AlreadyAdded(id) => write!(f, "torrent {id} is already added"),
            EngineError::NotFound(id) => write!(f, "no torrent {id}"),
            EngineError::Stopped => f.write_str("the engine has stopped"),
        }
    }
}

impl std::error::Error for EngineError {}

enum Command {
    Add {
        source: Source,
        opts: AddOptions,
        reply: SyncSender<Result<InfoHash, EngineError>>,
    },
    SetPriority {
        id: InfoHash,
        owner: u64,
        ranges: Vec<(Range<u32>, Priority)>,
        reply: SyncSender<Result<(), EngineError>>,
    },
    /// Apply what the [`Mailbox`] holds for this owner (sent by a
    /// [`PriorityHandle`] when the slot was empty).
    ApplyPriority {
        id: InfoHash,
        owner: u64,
    },
    Remove {
        id: InfoHash,
        reply: SyncSender<Result<(), EngineError>>,
    },
    Shutdown {
        reply: SyncSender<()>,
    },
}

/// The engine handle. Dropping it shuts the engine down.
pub struct Engine {
    tx: Sender<Command>,
    mailbox: Arc<Mailbox>,
    shared: Arc<Shared>,
    listen: SocketAddr,
    thread: Mutex<Option<JoinHandle<()>>>,
    dht: Option<Arc<DhtStats>>,
    utp: Option<Arc<crate::utp::UtpStats>>,
    lsd: Option<Arc<crate::lsd::LsdStats>>,
}

impl Engine {
    /// Bind the listen socket and start the executor thread (no DHT).
    pub fn start(cfg: EngineConfig) -> Result<Engine, EngineError> {
        Engine::start_with(cfg, Discovery::default())
    }

    /// Like [`Engine::start`], with a DHT node on the UDP socket of the
    /// listen address and port when `disc.dht` is given (if that UDP port
    /// cannot be bound, the engine runs without DHT and says so), and
    /// local peer discovery when `disc.lsd`.
    pub fn start_with(cfg: EngineConfig, disc: Discovery) -> Result<Engine, EngineError> {
        let dht = disc.dht;
        let listener = bind(cfg.listen, cfg.listen_fallback)?;
        let listen = listener.local_addr().map_err(|err| EngineError::Bind {
            addr: cfg.listen,
            err,
        })?;
        let bound = super::udp::bind(listen, dht, cfg.utp);
        let (udp, utp_stats) = (bound.dht, bound.stats.clone());
        let dht_stats = udp.as_ref().map(|_| Arc::new(DhtStats::default()));
        let ds = dht_stats.clone();
        let (lsd, lsd_stats) = super::lsd_peers::bind(listen, disc.lsd).unzip();
        let listener =
            Async::new(listener).map_err(|err| EngineError::Bind { addr: listen, err })?;
        let shared = Arc::new(Shared::default());
        let (tx, rx) = smol::channel::unbounded();
        let mailbox = Arc::new(Mailbox::default());
        let mb = mailbox.clone();
        let sh = shared.clone();
        let board = cfg.board;
        let encryption = cfg.encryption;
        let pex = disc.pex;
        let holepunch = disc.holepunch;
        let thread = std::thread::Builder::new()
            .name("rill-swarm".into())
            .spawn(move || {
                let ex = Rc::new(LocalExecutor::new());
                let mut ctx = Ctx::new(Rc::downgrade(&ex), listen, board, sh);
                ctx.encryption = encryption;
                ctx.pex = pex;
                ctx.holepunch = holepunch;
                let ctx = Rc::new(ctx);
                if let (Some((sock, c)), Some(stats)) = (udp, ds) {
                    match crate::dht::Node::new(sock, c, stats) {
                        Ok(node) => {
                            let _ = ctx.dht.set(node);
                        }
                        Err(e) => warn!("DHT off: {e}"),
                    }
                }
                super::udp::start_utp(&ctx, bound.utp, bound.stats);
                if let Some(l) = lsd {
                    let _ = ctx.lsd.set(Rc::new(l));
                }
                smol::block_on(ex.run(main_loop(ctx, rx, mb, listener)));
                // Dropping the executor drops every task and socket.
                drop(ex);
            })
            .map_err(EngineError::Thread)?;
        info!("listening for peers on {listen}");
        Ok(Engine {
            tx,
            mailbox,
            shared,
            listen,
            thread: Mutex::new(Some(thread)),
            dht: dht_stats,
            utp: utp_stats,
            lsd: lsd_stats,
        })
    }

    /// The address peers can reach us on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The uTP layer's counters, when it runs.
    pub fn utp_stats(&self) -> Option<&crate::utp::UtpStats> {
        self.utp.as_deref()
    }

    /// Local peer discovery's counters, when it runs.
    pub fn lsd_stats(&self) -> Option<&crate::lsd::LsdStats> {
        self.lsd.as_deref()
    }

    /// The DHT node's counters, when it runs.
    pub fn dht_stats(&self) -> Option<DhtSnapshot> {
        self.dht.as_ref().map(|s| s.snapshot())
    }

    fn call<T>(&self, make: impl FnOnce(SyncSender<T>) -> Command) -> Result<T, EngineError> {
        let (reply, rx) = sync_channel(1);
        self.tx
            .try_send(make(reply))
            .map_err(|_| EngineError::Stopped)?;
        rx.recv_timeout(REPLY_TIMEOUT)
            .map_err(|_| EngineError::Stopped)
    }

    /// Add a torrent; it starts at once (checking, or fetching metadata).
    pub fn add(&self, source: Source, opts: AddOptions) -> Result<TorrentId, EngineError> {
        self.call(|reply| Command::Add {
            source,
            opts,
            reply,
        })?
    }

    /// A snapshot of one torrent.
    pub fn stats(&self, id: TorrentId) -> Option<TorrentStats> {
        self.shared
            .lock()
            .torrents
            .get(&id)
            .map(|p| p.stats.clone())
    }

    /// Snapshots of every torrent.
    pub fn list(&self) -> Vec<TorrentStats> {
        self.shared
            .lock()
            .torrents
            .values()
            .map(|p| p.stats.clone())
            .collect()
    }

    /// The torrent's `info` once known (for file listings and readers).
    pub fn info(&self, id: TorrentId) -> Option<Arc<Info>> {
        self.shared
            .lock()
            .torrents
            .get(&id)
            .and_then(|p| p.info.clone())
    }

    /// The torrent's piece store once open (for stream readers).
    pub fn store(&self, id: TorrentId) -> Option<Arc<PieceStore>> {
        self.shared
            .lock()
            .torrents
            .get(&id)
            .and_then(|p| p.store.clone())
    }

    /// Block until something is published after generation `seen` (or
    /// `timeout` passes); returns the generation to pass next time. Start
    /// with 0.
    pub fn wait_change(&self, seen: u64, timeout: Duration) -> u64 {
        self.shared.wait(seen, timeout)
    }

    /// Set piece priorities for one owner (a stream reader, a file
    /// selection); owners combine by maximum. Empty `ranges` clears them.
    pub fn set_priority(
        &self,
        id: TorrentId,
        owner: u64,
        ranges: Vec<(Range<u32>, Priority)>,
    ) -> Result<(), EngineError> {
        self.call(|reply| Command::SetPriority {
            id,
            owner,
            ranges,
            reply,
        })?
    }

    /// A `'static`, cloneable handle that only sets priorities: for stream
    /// readers, which outlive any borrow of the engine.
    pub fn priority_handle(&self) -> PriorityHandle {
        PriorityHandle {
            tx: self.tx.clone(),
            mailbox: self.mailbox.clone(),
        }
    }

    /// Stop a torrent (announce `stopped`, save resume) and forget it. The
    /// data stays on disk.
    pub fn remove(&self, id: TorrentId) -> Result<(), EngineError> {
        self.call(|reply| Command::Remove { id, reply })?
    }

    /// Stop every torrent (announce `stopped`, save resume) and end the
    /// executor thread. Idempotent; bounded in time.
    pub fn shutdown(&self) {
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(thread) = thread else { return };
        if self.call(|reply| Command::Shutdown { reply }).is_err() {
            debug!("engine thread did not confirm shutdown");
        }
        self.tx.close();
        let _ = thread.join();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Sets piece priorities without waiting for the engine: an owner's
/// latest ranges wait in the engine's [`Mailbox`] (replacing what was
/// waiting there, so the latest call wins and the queue stays bounded
/// however fast they change) until the executor applies them; the outcome
/// is not reported. Made by [`Engine::priority_handle`]. Use one owner id
/// either here or with [`Engine::set_priority`], not both (the two paths
/// are not ordered with each other).
#[derive(Clone)]
pub struct PriorityHandle {
    tx: Sender<Command>,
    mailbox: Arc<Mailbox>,
}

impl PriorityHandle {
    /// Like [`Engine::set_priority`], but fire-and-forget; fails only when
    /// the engine has stopped.
    pub fn set_priority(
        &self,
        id: TorrentId,
        owner: u64,
        ranges: Vec<(Range<u32>, Priority)>,
    ) -> Result<(), EngineError> {
        if self.tx.is_closed() {
            return Err(EngineError::Stopped);
        }
        if !self.mailbox.put(id, owner, ranges) {
            // A command for this slot is queued; it takes the new ranges.
            return Ok(());
        }
        self.tx
            .try_send(Command::ApplyPriority { id, owner })
            .map_err(|_| {
                self.mailbox.forget(id, owner);
                EngineError::Stopped
            })
    }
}

/// The TCP listener (dual-stack on `[::]`; on a host without IPv6, `[::]`
/// falls back to `0.0.0.0` on the same port).
fn bind(addr: SocketAddr, fallback: bool) -> Result<TcpListener, EngineError> {
    let tcp = crate::net::dual::bind_tcp;
    let first = match tcp(addr) {
        Ok(l) => return Ok(l),
        Err(err) => err,
    };
    if addr.ip() == std::net::Ipv6Addr::UNSPECIFIED && crate::net::dual::no_ipv6(&first) {
        info!("no IPv6 on this host ({first}): peers listen on IPv4 only");
        return bind(SocketAddr::from(([0, 0, 0, 0], addr.port())), fallback);
    }
    if !fallback || addr.port() == 0 || first.kind() != std::io::ErrorKind::AddrInUse {
        return Err(EngineError::Bind { addr, err: first });
    }
    for i in 1..=FALLBACK_PORTS {
        let Some(port) = addr.port().checked_add(i) else {
            break;
        };
        if let Ok(l) = tcp(SocketAddr::new(addr.ip(), port)) {
            return Ok(l);
        }
    }
    tcp(SocketAddr::new(addr.ip(), 0)).map_err(|err| EngineError::Bind { addr, err })
}

async fn main_loop(
    ctx: Rc<Ctx>,
    rx: Receiver<Command>,
    mailbox: Arc<Mailbox>,
    listener: Async<TcpListener>,
) {
    let torrents = Rc::new(Torrents::default());
    listener::start(&ctx, &torrents, listener);
    super::lsd_peers::start(&ctx, &torrents);
    if let Some(node) = ctx.dht.get() {
        let (a, b) = (node.clone(), node.clone());
        ctx.spawn(async move { a.run().await });
        ctx.spawn(async move { b.maintain().await });
    }
    while let Ok(cmd) = rx.recv().await {
        match cmd {
            Command::Add {
                source,
                opts,
                reply,
            } => {
                let _ = reply.try_send(add(&ctx, &torrents, source, opts));
            }
            Command::SetPriority {
                id,
                owner,
                ranges,
                reply,
            } => {
                let t = torrents.get(&id);
                let r = match t {
                    Some(t) => {
                        t.set_priority(owner, ranges);
                        Ok(())
                    }
                    None => Err(EngineError::NotFound(id)),
                };
                let _ = reply.try_send(r);
            }
            Command::ApplyPriority { id, owner } => {
                let t = torrents.get(&id);
                if let Some(ranges) = mailbox.take(id, owner) {
                    match t {
                        Some(t) => t.set_priority(owner, ranges),
                        None => debug!("priorities of owner {owner} for {id}: no such torrent"),
                    }
                }
            }
            Command::Remove { id, reply } => {
                let t = torrents.remove(&id);
                let r = match t {
                    Some(t) => {
                        ctx.shared.update(|m| {
                            m.remove(&id);
                        });
                        ctx.spawn(async move { t.stop().await });
                        // Its RAM share goes back to the others.
                        torrents.rebalance_ram(&ctx);
                        Ok(())
                    }
                    None => Err(EngineError::NotFound(id)),
                };
                let _ = reply.try_send(r);
            }
            Command::Shutdown { reply } => {
                let all: Vec<Rc<Torrent>> = torrents.all();
                let tasks: Vec<_> = all
                    .into_iter()
                    .filter_map(|t| ctx.spawn_task(async move { t.stop().await }))
                    .collect();
                for task in tasks {
                    task.await;
                }
                if let Some(node) = ctx.dht.get() {
                    node.save().await;
                }
                let _ = reply.try_send(());
                return;
            }
        }
    }
}

fn add(
    ctx: &Rc<Ctx>,
    torrents: &Rc<Torrents>,
    source: Source,
    opts: AddOptions,
) -> Result<InfoHash, EngineError> {
    let (id, name, trackers, info, mut opts) = match source {
        Source::Torrent(m) => {
            let m = *m;
            let bytes: Rc<[u8]> = Rc::from(m.info_bytes);
            (
                m.info_hash,
                m.info.name.clone(),
                m.trackers,
                Some((Arc::new(m.info), bytes)),
                opts,
            )
        }
        Source::Magnet(m) => {
            let mut opts = opts;
            opts.extra_peers.extend(m.peers.iter().copied());
            let name = m
                .display_name
                .clone()
                .unwrap_or_else(|| m.info_hash.to_hex());
            let trackers = m.trackers.iter().map(|t| vec![t.clone()]).collect();
            (m.info_hash, name, trackers, None, opts)
        }
    };
    if torrents.contains(&id) {
        return Err(EngineError::AlreadyAdded(id));
    }
    opts.extra_peers.dedup();
    info!("adding {name} ({id})");
    let st = TState::new(
        name,
        trackers,
        info,
        &opts.extra_peers,
        ctx.streaming.clone(),
    );
    let t = Torrent::new(ctx, torrents, id, st, opts, &UPCALLS);
    torrents.insert(t.clone());
    t.start();
    Ok(id)
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
