//! Storage mode `stream`: a bounded on-disk piece cache shared by every
//! torrent, for boards whose storage is an SD card.
//!
//! In the default mode (`keep`) verified pieces go into the torrent's real
//! files and stay there. In `stream` mode they go into this cache instead,
//! which never holds more than its limit (`stream_cache_mib`): when a new
//! piece needs room, a piece of any torrent is evicted in this order
//! ([`order::Band`], through [`order::ReadOrder`], a min-heap keyed by band
//! and a clock, O(log n) per read, insert and eviction):
//! 1. pieces a reader has passed (read, and in no open reader's plan),
//!    least recently read first;
//! 2. pieces fetched but never read and in no plan (preloads, the
//!    read-ahead of a reader that seeked away), oldest first;
//! 3. only when nothing else is left: pieces in an open reader's plan (its
//!    read-ahead window and its file's edges, told by
//!    [`PieceStore::want_pieces`]). That means the cache cannot hold the
//!    readers' windows: a rate-limited warning says so and
//!    [`DiskCache::window_evictions`] counts it (a metric).
//!
//! Why not plain least-recently-read: a piece fetched ahead of a reader
//! carries its arrival time until it is read, so every piece the readers
//! passed since looks newer, and the read-ahead and the file edges a plan
//! keeps asking for went first; the picker fetched them again at once, and
//! again after the next turn of the cache (measured: 1.06 to 1.21 bytes
//! written per byte played, issue 10; see docs/benchmarks.md).
//! An evicted piece is
//! "not have" again: its store's bitfield bit is cleared at once and the
//! engine hears of it from [`PieceStore::take_evicted`] (its picker may
//! fetch the piece again if a reader wants it later). So a torrent many
//! times the cache size streams start to end while the card only ever
//! holds the limit.
//!
//! # On-disk form: one file per piece
//!
//! `<cache>/<info hash hex>/<piece>.piece`, holding exactly that piece's
//! verified bytes. Why not one preallocated file of fixed slots per torrent:
//! - A slot is reused for another piece while a reader may still be reading
//!   it; a per-piece file is unlinked instead, so a read either gets the
//!   piece's own bytes (an open descriptor keeps them) or fails. Wrong bytes
//!   are never served.
//! - The files name their piece, so no slot map has to be kept crash-safe:
//!   at start every piece file is hashed (the cache is bounded, so this reads
//!   at most the limit once) and a file that does not hash right, was cut
//!   short by a crash, or belongs to no piece is deleted. No resume file
//!   is used in this mode, so none can claim an evicted piece.
//! - Evicting frees the space at once (unlink) and one cache serves every
//!   torrent without per-torrent preallocation.
//!
//! Costs: one file create and unlink per piece (file-system metadata writes,
//! small next to a 256 KiB..16 MiB piece), and each read opens the file.
//! Eviction happens before a new piece is written, so the files on disk
//! never exceed the limit, and a piece larger than the limit cannot be
//! stored at all (the torrent fails with a message saying so).
//!
//! # Shared state
//!
//! One `Mutex<Inner>` holds the accounting (`used` bytes, reserved or on
//! disk), each torrent's pieces, the read order and the evicted lists, with
//! a condvar (`room`) for writers waiting while every cached piece is still
//! being committed. Lock order: `inner` first, then a store's `have`
//! bitfield (eviction clears the bit under `inner`); a store never calls
//! into the cache while holding one of its own locks. Unlinks happen under
//! `inner`, so the bytes on disk never exceed `used`; piece writes and
//! reads happen outside it.
//!
//! Invariants:
//! - `used` is the sum of every torrent's piece sizes and is at most
//!   `limit` (reservations included).
//! - A piece is in the read order only after its store marked it verified
//!   ([`TorrentCache::commit`]); a reserved, still-being-written piece is
//!   never evicted.
//! - A store's `have` bit for a piece is set only while the piece is in the
//!   cache: eviction clears it under `inner`, and open sets it under
//!   `inner` only if the piece is still there.

mod open;
mod order;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use log::{info, warn};

use super::{lock, StoreError};
use crate::torrent::{Bitfield, InfoHash};
use order::{Band, ReadOrder};

/// At most one warning about evicted windows per this long.
const WINDOW_WARN_EVERY: Duration = Duration::from_secs(10);

/// How long a writer waits for room while nothing is evictable.
const ROOM_WAIT: Duration = Duration::from_secs(30);

/// Suffix of a piece file.
const PIECE_SUFFIX: &str = ".piece";

/// What the cache knows of one torrent.
#[derive(Default)]
struct Entry {
    /// Pieces on disk or reserved, with their sizes.
    pieces: HashMap<u32, u64>,
    /// The open store's bitfield (none while the torrent is not open).
    have: Weak<Mutex<Bitfield>>,
    /// Evicted while the store was open; not yet taken by the engine.
    evicted: Vec<u32>,
}

/// How many open readers' plans hold a piece, and whether it was read
/// since it was fetched.
#[derive(Clone, Copy, Debug, Default)]
struct Want {
    readers: u32,
    read: bool,
}

struct Inner {
    used: u64,
    torrents: HashMap<InfoHash, Entry>,
    order: ReadOrder<(InfoHash, u32)>,
    /// Pieces in open readers' plans (bounded by the readers' plans).
    wanted: HashMap<(InfoHash, u32), Want>,
    evictions: u64,
    /// Evictions of pieces in an open reader's plan.
    window_evictions: u64,
    /// When the last warning about them went out, and how many since.
    window_warned: Option<Instant>,
    window_unwarned: u64,
}

impl Inner {
    fn new() -> Inner {
        Inner {
            used: 0,
            torrents: HashMap::new(),
            order: ReadOrder::new(),
            wanted: HashMap::new(),
            evictions: 0,
            window_evictions: 0,
            window_warned: None,
            window_unwarned: 0,
        }
    }

    /// The band of a piece that has just arrived (entries of `wanted`
    /// always have readers: `want` removes them at zero).
    fn band(&self, key: (InfoHash, u32)) -> Band {
        if self.wanted.contains_key(&key) {
            Band::Wanted
        } else {
            Band::Unread
        }
    }
}

/// The process-wide piece cache of storage mode `stream`.
pub struct DiskCache {
    dir: PathBuf,
    limit: u64,
    inner: Mutex<Inner>,
    room: Condvar,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DiskCache({}, {} bytes)", self.dir.display(), self.limit)
    }
}

/// Piece index of a file named `<index>.piece`; `None` for anything else.
fn parse_piece_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(PIECE_SUFFIX)?;
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |err| StoreError::Io {
        path: path.to_path_buf(),
        op,
        err,
    }
}

impl DiskCache {
    /// Open (or create) the cache in `dir`, holding at most `limit` bytes.
    /// Piece files already there are counted (and evicted down to the limit
    /// if it shrank); their contents are checked when their torrent opens.
    pub fn open(dir: &Path, limit: u64) -> Result<Arc<DiskCache>, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir, "create"))?;
        let mut inner = Inner::new();
        let list = std::fs::read_dir(dir).map_err(io_err(dir, "list"))?;
        for ent in list.flatten() {
            let name = ent.file_name();
            let Some(id) = name.to_str().and_then(InfoHash::from_hex) else {
                continue;
            };
            let tdir = ent.path();
            let Ok(files) = std::fs::read_dir(&tdir) else {
                continue;
            };
            for f in files.flatten() {
                let path = f.path();
                let piece = f.file_name().to_str().and_then(parse_piece_name);
                let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
                match (piece, len) {
                    (Some(p), Some(len)) => {
                        inner.torrents.entry(id).or_default().pieces.insert(p, len);
                        inner.used = inner.used.saturating_add(len);
                        inner.order.touch((id, p), Band::Unread);
                    }
                    _ => {
                        if let Err(e) = std::fs::remove_file(&path) {
                            warn!("stream cache: cannot delete stray {}: {e}", path.display());
                        }
                    }
                }
            }
        }
        let cache = DiskCache {
            dir: dir.to_path_buf(),
            limit,
            inner: Mutex::new(Inner::new()),
            room: Condvar::new(),
        };
        while inner.used > limit && cache.evict_one(&mut inner) {}
        info!(
            "stream cache {}: {} of {} bytes used by {} pieces",
            dir.display(),
            inner.used,
            limit,
            inner.order.len()
        );
        *lock(&cache.inner) = inner;
        Ok(Arc::new(cache))
    }

    /// The most bytes the cache holds.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes of pieces on disk or being written now.
    pub fn used(&self) -> u64 {
        lock(&self.inner).used
    }

    /// Pieces evicted since start.
    pub fn evictions(&self) -> u64 {
        lock(&self.inner).evictions
    }

    /// Pieces evicted since start while an open reader's plan held them
    /// (the cache could not hold the readers' windows).
    pub fn window_evictions(&self) -> u64 {
        lock(&self.inner).window_evictions
    }

    /// Delete every cached piece of a torrent (it was removed).
    pub fn remove_torrent(&self, id: InfoHash) {
        let mut inner = lock(&self.inner);
        if let Some(e) = inner.torrents.remove(&id) {
            for (p, size) in e.pieces {
                inner.order.remove((id, p));
                inner.used = inner.used.saturating_sub(size);
                self.unlink(id, p);
            }
        }
        drop(inner);
        let _ = std::fs::remove_dir(self.torrent_dir(id));
        self.room.notify_all();
    }

    fn torrent_dir(&self, id: InfoHash) -> PathBuf {
        self.dir.join(id.to_hex())
    }

    fn piece_path(&self, id: InfoHash, piece: u32) -> PathBuf {
        self.torrent_dir(id).join(format!("{piece}{PIECE_SUFFIX}"))
    }

    fn unlink(&self, id: InfoHash, piece: u32) {
        let path = self.piece_path(id, piece);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => warn!(
                "stream cache: cannot delete {} ({e}); the disk may hold more than the limit",
                path.display()
            ),
        }
    }

    /// Evict one piece, in the order of the module docs; false if none is
    /// evictable.
    fn evict_one(&self, inner: &mut Inner) -> bool {
        let Some(((id, p), band)) = inner.order.pop_oldest() else {
            return false;
        };
        if let Some(w) = inner.wanted.get_mut(&(id, p)) {
            // Fetched again later, it is unread again.
            w.read = false;
        }
        if band == Band::Wanted {
            self.window_evicted(inner);
        }
        if let Some(e) = inner.torrents.get_mut(&id) {
            if let Some(size) = e.pieces.remove(&p) {
                inner.used = inner.used.saturating_sub(size);
            }
            if let Some(have) = e.have.upgrade() {
                lock(&have).clear(p);
                e.evicted.push(p);
            }
        }
        inner.evictions = inner.evictions.saturating_add(1);
        self.unlink(id, p);
        true
    }

    /// Count (and now and then report) the eviction of a wanted piece.
    fn window_evicted(&self, inner: &mut Inner) {
        inner.window_evictions = inner.window_evictions.saturating_add(1);
        inner.window_unwarned = inner.window_unwarned.saturating_add(1);
        let due = inner
            .window_warned
            .is_none_or(|t| t.elapsed() >= WINDOW_WARN_EVERY);
        if !due {
            return;
        }
        warn!(
            "stream cache {}: evicted {} pieces that open stream readers still want \
             ({} pieces in their read-ahead windows and file edges, {} MiB cache): \
             they will be downloaded and written again; raise stream_cache_mib or play \
             fewer streams at once",
            self.dir.display(),
            inner.window_unwarned,
            inner.wanted.len(),
            self.limit >> 20
        );
        inner.window_warned = Some(Instant::now());
        inner.window_unwarned = 0;
    }

    fn wait_room<'a>(&self, g: MutexGuard<'a, Inner>, left: Duration) -> MutexGuard<'a, Inner> {
        match self.room.wait_timeout(g, left) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }

    /// Account `size` bytes for `piece`, evicting others first; waits
    /// (bounded) while everything cached is still being committed.
    fn reserve(&self, id: InfoHash, piece: u32, size: u64) -> Result<(), StoreError> {
        if size > self.limit {
            return Err(StoreError::Invalid(format!(
                "piece {piece} of {id} is {size} bytes, more than the whole stream cache \
                 ({} bytes): raise stream_cache_mib",
                self.limit
            )));
        }
        let start = Instant::now();
        let mut inner = lock(&self.inner);
        // Bounded by ROOM_WAIT: each turn waits for what is left of it.
        loop {
            let old = inner
                .torrents
                .get_mut(&id)
                .and_then(|e| e.pieces.remove(&piece));
            if let Some(old) = old {
                inner.order.remove((id, piece));
                inner.used = inner.used.saturating_sub(old);
            }
            while inner.used.saturating_add(size) > self.limit && self.evict_one(&mut inner) {}
            if inner.used.saturating_add(size) <= self.limit {
                inner.used += size;
                inner
                    .torrents
                    .entry(id)
                    .or_default()
                    .pieces
                    .insert(piece, size);
                return Ok(());
            }
            let left = ROOM_WAIT.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(StoreError::Invalid(format!(
                    "piece {piece} of {id}: no room in the stream cache after {ROOM_WAIT:?} \
                     ({} of {} bytes being written)",
                    inner.used, self.limit
                )));
            }
            inner = self.wait_room(inner, left);
        }
    }

    /// Forget a piece and delete its file (a failed write, a bad file).
    fn drop_piece(&self, id: InfoHash, piece: u32) {
        let mut inner = lock(&self.inner);
        let size = inner
            .torrents
            .get_mut(&id)
            .and_then(|e| e.pieces.remove(&piece));
        if let Some(size) = size {
            inner.used = inner.used.saturating_sub(size);
        }
        inner.order.remove((id, piece));
        self.unlink(id, piece);
        drop(inner);
        self.room.notify_all();
    }
}

/// One open torrent's view of the cache (held by its [`PieceStore`]).
pub(crate) struct TorrentCache {
    cache: Arc<DiskCache>,
    id: InfoHash,
    have: Weak<Mutex<Bitfield>>,
}

impl TorrentCache {
    /// Store a verified piece: make room (evicting), then write its file.
    /// The piece is not evictable until [`TorrentCache::commit`].
    pub(crate) fn write(&self, piece: u32, buf: &[u8]) -> Result<(), StoreError> {
        let c = &self.cache;
        c.reserve(self.id, piece, buf.len() as u64)?;
        let path = c.piece_path(self.id, piece);
        let written = File::create(&path)
            .or_else(|e| {
                if e.kind() != ErrorKind::NotFound {
                    return Err(e);
                }
                std::fs::create_dir_all(c.torrent_dir(self.id))?;
                File::create(&path)
            })
            .and_then(|mut f| f.write_all(buf));
        if let Err(e) = written {
            c.drop_piece(self.id, piece);
            return Err(io_err(&path, "write")(e));
        }
        Ok(())
    }

    /// The piece is marked verified: from now on it may be evicted.
    pub(crate) fn commit(&self, piece: u32) {
        let mut inner = lock(&self.cache.inner);
        let present = inner
            .torrents
            .get(&self.id)
            .is_some_and(|e| e.pieces.contains_key(&piece));
        if present {
            let band = inner.band((self.id, piece));
            inner.order.touch((self.id, piece), band);
        }
        drop(inner);
        self.cache.room.notify_all();
    }

    /// The piece is being read: it becomes the most recently read of its
    /// band. `played`: by a stream reader (not by an upload to a peer), so
    /// once no plan holds it, it is a piece a reader passed.
    pub(crate) fn touch(&self, piece: u32, played: bool) {
        let mut inner = lock(&self.cache.inner);
        let key = (self.id, piece);
        let band = match inner.wanted.get_mut(&key) {
            Some(w) if played => {
                w.read = true;
                Band::Wanted
            }
            _ if played => Band::Passed,
            _ => match inner.order.band(key) {
                Some(b) => b,
                None => return,
            },
        };
        inner.order.touch_if_present(key, band);
    }

    /// One reader's plan now also holds `add` and no longer holds `drop`
    /// (each piece once per call). A piece leaving the last plan becomes
    /// evictable: first if it was read, after the unread ones otherwise.
    pub(crate) fn want(&self, add: &[u32], drop: &[u32]) {
        let mut inner = lock(&self.cache.inner);
        for &p in add {
            let key = (self.id, p);
            let w = inner.wanted.entry(key).or_default();
            w.readers = w.readers.saturating_add(1);
            if w.readers == 1 {
                inner.order.touch_if_present(key, Band::Wanted);
            }
        }
        for &p in drop {
            let key = (self.id, p);
            let Some(w) = inner.wanted.get_mut(&key) else {
                continue;
            };
            w.readers = w.readers.saturating_sub(1);
            if w.readers > 0 {
                continue;
            }
            let band = if w.read { Band::Passed } else { Band::Unread };
            inner.wanted.remove(&key);
            inner.order.touch_if_present(key, band);
        }
    }

    /// Read `dst.len()` bytes at `begin` of a cached piece.
    pub(crate) fn read(&self, piece: u32, begin: u32, dst: &mut [u8]) -> Result<(), StoreError> {
        let path = self.cache.piece_path(self.id, piece);
        File::open(&path)
            .and_then(|f| f.read_exact_at(dst, u64::from(begin)))
            .map_err(io_err(&path, "read"))
    }

    /// How many pieces were evicted since the last [`Self::take_evicted`].
    pub(crate) fn evicted_pending(&self) -> u32 {
        let inner = lock(&self.cache.inner);
        inner
            .torrents
            .get(&self.id)
            .map_or(0, |e| u32::try_from(e.evicted.len()).unwrap_or(u32::MAX))
    }

    /// Pieces evicted since the last call.
    pub(crate) fn take_evicted(&self) -> Vec<u32> {
        let mut inner = lock(&self.cache.inner);
        inner
            .torrents
            .get_mut(&self.id)
            .map(|e| std::mem::take(&mut e.evicted))
            .unwrap_or_default()
    }
}

impl Drop for TorrentCache {
    fn drop(&mut self) {
        let mut inner = lock(&self.cache.inner);
        if let Some(e) = inner.torrents.get_mut(&self.id) {
            // A newer store of the same torrent may have attached since.
            if Weak::ptr_eq(&e.have, &self.have) {
                e.have = Weak::new();
                e.evicted.clear();
            }
        }
    }
}
