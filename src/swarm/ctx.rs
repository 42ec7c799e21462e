//! Engine-wide state that lives on the executor thread: limits, bans,
//! and helpers to spawn tasks and run blocking work.
//!
//! # Shared state
//! Only the executor thread touches a [`Ctx`] (it is `!Send`). Its cells are
//! borrowed for single statements or short blocks, never across an
//! `.await`. The executor is held weakly so that dropping it (engine
//! shutdown) drops every task, and with them every socket.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::lock::Semaphore;
use smol::{LocalExecutor, Task, Timer};

use super::peer::link::Encryption;
use super::stats::Shared;
use crate::board::BoardProfile;

/// Connections being set up at once (TCP connect + handshake), all torrents.
pub(crate) const MAX_HALF_OPEN: u32 = 8;

/// In-flight RAM every torrent may use whatever its share of the budget:
/// this many of its pieces (below that, downloads crawl). With many torrents
/// the floors together may exceed the board's `inflight_ram`.
pub(crate) const MIN_INFLIGHT_PIECES: u64 = 4;

pub(crate) struct Ctx {
    ex: Weak<LocalExecutor<'static>>,
    pub peer_id: [u8; 20],
    /// Our listen address (its port goes to trackers and peers).
    pub listen: SocketAddr,
    /// Source address for outgoing connections (the listen IP unless that
    /// is unspecified).
    pub local_ip: Option<IpAddr>,
    pub board: BoardProfile,
    /// RAM for verified pieces waiting for the disk, all torrents (mode `keep`).
    pub write_budget: Arc<crate::store::WriteBudget>,
    /// Gate for the blocking pool (hashing, disk I/O): `hash_threads` permits.
    io: Arc<Semaphore>,
    /// Established plus half-open connections, all torrents.
    pub connections: Cell<u32>,
    pub half_open: Cell<u32>,
    next_key: Cell<u64>,
    pub shared: Arc<Shared>,
    /// Peers that sent bad data: never connected to or accepted again.
    pub banned: RefCell<HashSet<IpAddr>>,
    pub epoch: Instant,
    /// MSE/PE policy for every connection.
    pub encryption: Encryption,
    /// Torrents with at least one stream reader now (see
    /// `TState::readers`); while non-zero, the others download slowly.
    pub streaming: Rc<Cell<u32>>,
    /// The DHT node, when the engine runs one (set once at start).
    pub dht: std::cell::OnceCell<Rc<crate::dht::Node>>,
    /// The uTP layer on the same UDP socket, when on (set once at start).
    pub utp: std::cell::OnceCell<crate::utp::Utp>,
    /// Local peer discovery, when on (set once at start).
    pub lsd: std::cell::OnceCell<Rc<crate::lsd::Lsd>>,
    /// Peer exchange (BEP 11) offered and honoured (`Discovery::pex`).
    pub pex: bool,
    /// ut_holepunch (BEP 55) offered and honoured (`Discovery::holepunch`).
    pub holepunch: bool,
}

impl Ctx {
    pub fn new(
        ex: Weak<LocalExecutor<'static>>,
        listen: SocketAddr,
        board: BoardProfile,
        shared: Arc<Shared>,
    ) -> Ctx {
        let local_ip = Some(listen.ip()).filter(|ip| !ip.is_unspecified());
        let permits = board.hash_threads.clamp(1, 64) as usize;
        Ctx {
            ex,
            peer_id: new_peer_id(),
            listen,
            local_ip,
            write_budget: crate::store::WriteBudget::new(board.write_queue),
            board,
            io: Arc::new(Semaphore::new(permits)),
            connections: Cell::new(0),
            half_open: Cell::new(0),
            next_key: Cell::new(1),
            shared,
            banned: RefCell::new(HashSet::new()),
            epoch: Instant::now(),
            streaming: Rc::new(Cell::new(0)),
            encryption: Encryption::default(),
            dht: std::cell::OnceCell::new(),
            utp: std::cell::OnceCell::new(),
            lsd: std::cell::OnceCell::new(),
            pex: true,
            holepunch: true,
        }
    }

    /// Run a task on the executor; it is dropped with the executor.
    pub fn spawn(&self, fut: impl Future<Output = ()> + 'static) {
        if let Some(ex) = self.ex.upgrade() {
            ex.spawn(fut).detach();
        }
    }

    /// Run a task and keep its handle (awaiting it waits for its end;
    /// dropping the handle cancels it).
    pub fn spawn_task<T: 'static>(
        &self,
        fut: impl Future<Output = T> + 'static,
    ) -> Option<Task<T>> {
        self.ex.upgrade().map(|ex| ex.spawn(fut))
    }

    /// Run blocking work (hashing, disk) on the blocking pool, at most
    /// `hash_threads` at a time.
    pub async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self.io.acquire_arc().await;
        smol::unblock(f).await
    }

    /// One torrent's share of the board's RAM caps when `open` torrents
    /// have their store open: (in-flight, verified-piece tier). The budget
    /// is split evenly; the in-flight share is at least
    /// [`MIN_INFLIGHT_PIECES`] pieces of `piece_length`.
    pub fn ram_share(&self, open: usize, piece_length: u32) -> (u64, u64) {
        let n = u64::try_from(open.max(1)).unwrap_or(u64::MAX);
        let floor = MIN_INFLIGHT_PIECES.saturating_mul(u64::from(piece_length));
        (
            (self.board.inflight_ram / n).max(floor),
            self.board.ram_tier / n,
        )
    }

    pub fn new_peer_key(&self) -> u64 {
        let k = self.next_key.get();
        self.next_key.set(k.wrapping_add(1));
        k
    }

    /// Milliseconds since the engine started (the picker's and choker's clock).
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.banned.borrow().contains(&ip)
    }

    /// Whether `a` is our own listen address.
    pub fn is_own(&self, a: &SocketAddr) -> bool {
        let listen = self.listen;
        a.port() == listen.port() && (a.ip() == listen.ip() || Some(a.ip()) == self.local_ip)
    }

    /// Room for one more connection under the board's global limit.
    pub fn has_connection_room(&self) -> bool {
        self.connections.get() < self.board.max_connections.max(1)
    }
}

/// Counts a connection (established or half-open) against the global limit
/// for as long as it lives; also released when its task is cancelled.
pub(crate) struct ConnSlot {
    ctx: Rc<Ctx>,
    half_open: bool,
}

impl ConnSlot {
    pub fn new(ctx: &Rc<Ctx>, half_open: bool) -> ConnSlot {
        ctx.connections.set(ctx.connections.get().saturating_add(1));
        if half_open {
            ctx.half_open.set(ctx.half_open.get().saturating_add(1));
        }
        ConnSlot {
            ctx: ctx.clone(),
            half_open,
        }
    }

    /// The connection is established: it no longer counts as half-open.
    pub fn established(&mut self) {
        if self.half_open {
            self.half_open = false;
            self.ctx
                .half_open
                .set(self.ctx.half_open.get().saturating_sub(1));
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.established();
        self.ctx
            .connections
            .set(self.ctx.connections.get().saturating_sub(1));
    }
}

/// `f`, or `None` if it takes longer than `d`.
pub(crate) async fn timeout<T>(d: Duration, f: impl Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(f.await) }, async {
        Timer::after(d).await;
        None
    })
    .await
}

/// `-RL0100-` followed by 12 random characters (BEP 20 style).
fn new_peer_id() -> [u8; 20] {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-RL0100-");
    let mut r = crate::random::seed();
    for (i, b) in id[8..].iter_mut().enumerate() {
        if i == 6 {
            r = crate::random::seed();
        }
        *b = ALPHABET[(r % ALPHABET.len() as u64) as usize];
        r /= ALPHABET.len() as u64;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_has_our_prefix_and_random_tail() {
        let a = new_peer_id();
        let b = new_peer_id();
        assert_eq!(&a[..8], b"-RL0100-");
        assert!(a[8..].iter().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn ram_budget_is_split_with_a_floor() {
        let mut board = crate::board::select(Some("pi4")).expect("pi4 profile");
        board.inflight_ram = 64 << 20;
        board.ram_tier = 32 << 20;
        let ctx = Ctx::new(
            Weak::new(),
            "127.0.0.1:0".parse().unwrap(),
            board,
            Arc::new(Shared::default()),
        );
        assert_eq!(ctx.ram_share(0, 1 << 20), (64 << 20, 32 << 20));
        assert_eq!(ctx.ram_share(1, 1 << 20), (64 << 20, 32 << 20));
        assert_eq!(ctx.ram_share(4, 1 << 20), (16 << 20, 8 << 20));
        // 64 torrents: 1 MiB each, below the floor of 4 pieces.
        assert_eq!(ctx.ram_share(64, 1 << 20).0, 4 << 20);
        assert_eq!(ctx.ram_share(64, 1 << 20).1, 512 << 10);
        // Huge pieces: the floor wins even for one torrent.
        assert_eq!(ctx.ram_share(1, 32 << 20).0, 128 << 20);
    }

    #[test]
    fn timeout_expires() {
        let r = smol::block_on(timeout(
            Duration::from_millis(5),
            smol::future::pending::<()>(),
        ));
        assert_eq!(r, None);
        assert_eq!(
            smol::block_on(timeout(Duration::from_secs(5), async { 3 })),
            Some(3)
        );
    }
}
