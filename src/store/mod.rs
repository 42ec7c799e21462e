//! The spill-to-disk piece store.
//!
//! Blocks of in-flight pieces are held in RAM up to a cap; a complete piece is
//! SHA-1 verified (on the blocking pool, never on the network thread) and then
//! written with positional writes into the real file layout (sparse files).
//! A bounded RAM tier keeps recently verified pieces for readers. A resume
//! file (atomic write: temp, fsync, rename) lets a restart reuse verified data;
//! an unverified piece is never marked done.
//!
//! Parts: `inflight.rs` (blocks in RAM), `buf.rs` (aligned, recycled piece
//! buffers), `verify.rs` (hash, then write or drop; two pieces at a time),
//! `sha1.rs` (SHA-1 with the CPU's SHA instructions), `files.rs`
//! (positional file I/O, `O_DIRECT` writes, the descriptor cache),
//! `ram_tier.rs` (verified-piece LRU), `resume.rs` (the resume file format
//! and its atomic write), `check.rs` (hashing data found on disk at open),
//! `cache/` (storage mode `stream`: verified pieces in a bounded on-disk
//! cache shared by all torrents, instead of the torrent's files; see its
//! docs for the hooks below), `writeq.rs` (mode `keep` with a write
//! budget: verified pieces wait in RAM for a writer thread, so the network
//! does not wait for the disk), `fslimits.rs` (files too big for their
//! filesystem, e.g. over 4 GiB on FAT, refused at open).
//!
//! # Shared state
//!
//! [`PieceStore`] is `Send + Sync`; every mutable part sits behind its own
//! mutex, held only for bookkeeping: no lock is held while hashing a piece
//! or doing disk I/O, except `save`, which exists to serialise saves.
//!
//! Lock order (take them in this order, never an earlier one while holding a
//! later one):
//!
//! 1. `save`: held for a whole [`PieceStore::save_resume`] (fsyncs, resume
//!    write). Nothing else takes it, so only concurrent saves wait on it.
//! 2. the write queue's state (`writeq.rs`; it takes `have` inside it to
//!    snapshot the written pieces and to unverify a piece it could not
//!    write); its budget's lock is taken alone.
//! 3. `inflight`: the in-flight pieces.
//! 4. `have`: the verified bitfield (with the `piece_done` condvar).
//! 5. `ram`: the RAM tier; taken alone.
//! 6. the file table inside `files::Files`; taken alone, never across I/O.
//!
//! In storage mode `stream` the disk cache's lock (`cache::DiskCache`) comes
//! before `have`: an eviction clears the evicted piece's `have` bit while
//! holding it. The store calls into the cache only while holding none of
//! its own locks.
//!
//! Invariants:
//!
//! - A piece's `have` bit is set only after all its bytes were written to
//!   its files (the writes returned) and the files were marked dirty, or,
//!   with a write queue, once it is queued: then it stays in the queue
//!   (readable from RAM) until its write returned, and `save_resume`
//!   flushes the queue and leaves out whatever is still queued.
//! - A piece is never both verified and in flight: marking it verified and
//!   dropping its in-flight entry happen under `inflight` + `have` together,
//!   and `put_block` checks `have` while holding `inflight`.
//! - In-flight bytes stay under `StoreConfig::inflight_ram`, except that one
//!   piece may always be in flight (progress with a tiny cap).
//! - The RAM tier holds only verified pieces and at most
//!   `StoreConfig::ram_tier` bytes.
//! - A file is in the dirty set from its write until a `sync_data` that
//!   started after the write. `save_resume` snapshots `have` *before* taking
//!   the dirty set, then syncs, then writes the resume: every piece the
//!   resume claims is durable (DESIGN decision 6). File mtimes for the
//!   resume are taken before the snapshot too, so a piece missing from the
//!   snapshot but written later moved its files' mtimes (see `check.rs`).
//! - A failed write leaves the piece unverified with its blocks in RAM, so
//!   `verify_piece` can be retried (or the piece discarded).

mod buf;
pub mod cache;
mod check;
mod files;
mod fslimits;
mod inflight;
mod open;
mod ram_tier;
mod resume;
mod sha1;
#[cfg(test)]
mod tests;
mod verify;
mod writeback;
mod writeq;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::torrent::{Bitfield, Info, InfoHash, Layout};

pub use cache::DiskCache;
use files::Files;
use inflight::Inflight;
use ram_tier::RamTier;
pub use writeq::{WriteBudget, RETRY as WRITE_RETRY};

#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Cap on bytes of in-flight (unverified) blocks held in RAM.
    pub inflight_ram: u64,
    /// Cap on bytes of verified pieces kept in RAM for readers.
    pub ram_tier: u64,
    /// Threads hashing existing data at open (0 counts as 1).
    pub hash_threads: u32,
    /// RAM for verified pieces waiting to be written, shared by the stores
    /// given the same budget (see `writeq.rs`); `None`: the hashing thread
    /// writes each piece itself. Storage mode `keep` only.
    pub write_budget: Option<Arc<WriteBudget>>,
}

impl Default for StoreConfig {
    /// Small enough for a Pi Zero; board profiles set the real values.
    fn default() -> StoreConfig {
        StoreConfig {
            inflight_ram: 32 << 20,
            ram_tier: 16 << 20,
            hash_threads: 2,
            write_budget: None,
        }
    }
}

#[derive(Debug)]
pub enum StoreError {
    Io {
        path: PathBuf,
        op: &'static str,
        err: std::io::Error,
    },
    Invalid(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io { path, op, err } => write!(f, "{op} {}: {err}", path.display()),
            StoreError::Invalid(s) => write!(f, "piece store: {s}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The layout of `info`, refused when its piece hashes do not match its
/// piece count (a hand-made or damaged metainfo).
pub(crate) fn checked_layout(info: &Info) -> Result<Layout, StoreError> {
    let layout = Layout::new(info);
    if info.piece_hashes.len() != layout.piece_count as usize {
        return Err(StoreError::Invalid(format!(
            "{}: {} piece hashes for {} pieces",
            info.name,
            info.piece_hashes.len(),
            layout.piece_count
        )));
    }
    Ok(layout)
}

/// What happened to a block handed to [`PieceStore::put_block`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// Stored; the piece still misses blocks.
    Stored,
    /// Stored, and now every block of the piece is in RAM: verify it.
    PieceReady,
    /// We already had this block (or the piece is verified): ignored.
    Duplicate,
    /// The in-flight RAM cap is reached and this block starts no piece we
    /// hold: dropped. The picker should not have asked for it.
    NoRoom,
}

/// Result of [`PieceStore::verify_piece`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hash matched; the piece is on disk (and in the RAM tier) and marked have.
    Good,
    /// Hash mismatch; the piece's blocks were dropped, fetch it again.
    Bad,
}

/// Thread-safe (`Send + Sync`); share it with `Arc`.
pub struct PieceStore {
    layout: Layout,
    info_hash: InfoHash,
    name: String,
    piece_hashes: Vec<[u8; 20]>,
    resume_path: Option<PathBuf>,
    files: Arc<Files>,
    save: Mutex<()>,
    inflight: Mutex<Inflight>,
    /// Shared with the disk cache in mode `stream`, which clears evicted bits.
    have: Arc<Mutex<Bitfield>>,
    piece_done: Condvar,
    ram: Mutex<RamTier>,
    bytes_written: Arc<AtomicU64>,
    hashed_at_open: u32,
    /// Mode `keep` with a write budget: verified pieces waiting for the disk.
    writes: Option<writeq::WriteQueue>,
    /// Storage mode `stream`: pieces live in the disk cache, not in `files`.
    cache: Option<cache::TorrentCache>,
}

/// Lock a mutex, ignoring poisoning: no critical section here leaves its
/// data half-updated when it panics (and release builds abort on panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PieceStore {
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Where file `file` lives on disk in storage mode `keep` (the torrent's
    /// own folder: it may not be the default one, see `session::owner`),
    /// while no verified piece waits in the write queue (a reader of the
    /// path would see a hole there); `None` in mode `stream`, whose pieces
    /// live in the shared cache.
    pub fn file_path(&self, file: usize) -> Option<&Path> {
        let queued = self.writes.as_ref().is_some_and(|q| q.bytes() > 0);
        match self.cache {
            Some(_) => None,
            None if queued => None,
            None => self.files.path(file).ok(),
        }
    }

    /// Verified pieces (a copy).
    pub fn have(&self) -> Bitfield {
        lock(&self.have).clone()
    }

    pub fn has_piece(&self, piece: u32) -> bool {
        lock(&self.have).get(piece)
    }

    /// How many more pieces the in-flight RAM has room to start (at least
    /// one while nothing is in flight). Each piece started on it is to be
    /// reserved with [`PieceStore::admit`] when its blocks are requested.
    pub fn pieces_that_fit(&self) -> u32 {
        lock(&self.inflight).pieces_that_fit(self.layout.piece_length)
    }

    /// Pieces read and hashed by the check at open (the rest were vouched
    /// for by the resume file or skipped as absent).
    pub fn pieces_hashed_at_open(&self) -> u32 {
        self.hashed_at_open
    }

    /// Change the RAM caps (in-flight blocks, verified-piece tier), e.g.
    /// when the engine splits its budget over more or fewer torrents.
    /// Pieces already in flight stay; the tier evicts down to its new cap.
    pub fn set_ram_caps(&self, inflight_ram: u64, ram_tier: u64) {
        lock(&self.inflight).set_cap(inflight_ram);
        lock(&self.ram).set_cap(ram_tier);
    }

    /// Bytes of unverified blocks held in RAM now.
    pub fn inflight_bytes(&self) -> u64 {
        lock(&self.inflight).bytes()
    }

    /// Bytes of verified pieces held in the RAM tier now.
    pub fn ram_tier_bytes(&self) -> u64 {
        lock(&self.ram).bytes()
    }

    /// Hand over one received block. Cheap (a copy into RAM); callable on the
    /// network thread.
    pub fn put_block(
        &self,
        piece: u32,
        begin: u32,
        data: &[u8],
    ) -> Result<BlockOutcome, StoreError> {
        self.check_piece_index(piece)?;
        let mut inflight = lock(&self.inflight);
        let verified = lock(&self.have).get(piece);
        inflight.put(&self.layout, piece, begin, data, verified)
    }

    /// Reserve room in the in-flight RAM for `piece`, whose blocks the
    /// engine is requesting: within the cap for a piece it started on
    /// [`PieceStore::pieces_that_fit`], over it for one a stream reader
    /// waits for (an urgent piece). No-op for a piece already in flight,
    /// verified or unknown.
    pub fn admit(&self, piece: u32) {
        if piece >= self.layout.piece_count || self.has_piece(piece) {
            return;
        }
        let size = self.layout.piece_size(piece);
        lock(&self.inflight).start_over_cap(piece, size);
    }

    /// Drop the in-flight blocks of a piece (e.g. all its peers vanished).
    pub fn discard_piece(&self, piece: u32) {
        lock(&self.inflight).remove(piece, false);
    }

    /// Read verified bytes (RAM tier first, then disk). Blocking.
    pub fn read(&self, piece: u32, begin: u32, len: u32) -> Result<Vec<u8>, StoreError> {
        self.read_as(piece, begin, len, false)
    }

    /// [`PieceStore::read`] for a stream reader playing the file: in
    /// storage mode `stream` the piece then counts as played (evicted
    /// first once no reader's plan holds it).
    pub fn read_played(&self, piece: u32, begin: u32, len: u32) -> Result<Vec<u8>, StoreError> {
        self.read_as(piece, begin, len, true)
    }

    /// A stream reader's plan (window and file edges) now also holds `add`
    /// and no longer holds `drop`, each piece at most once per call: in
    /// storage mode `stream` the disk cache evicts pieces a plan holds only
    /// when nothing else is left. No-op in mode `keep`.
    pub fn want_pieces(&self, add: &[u32], drop: &[u32]) {
        if let Some(c) = &self.cache {
            c.want(add, drop);
        }
    }

    fn read_as(
        &self,
        piece: u32,
        begin: u32,
        len: u32,
        played: bool,
    ) -> Result<Vec<u8>, StoreError> {
        self.check_piece_index(piece)?;
        let size = self.layout.piece_size(piece);
        let end = match begin.checked_add(len) {
            Some(end) if end <= size => end,
            _ => {
                return Err(StoreError::Invalid(format!(
                    "piece {piece} (size {size}): read of {len} bytes at {begin} is out of range"
                )))
            }
        };
        if !self.has_piece(piece) {
            return Err(StoreError::Invalid(format!(
                "piece {piece}: not verified, cannot read"
            )));
        }
        if let Some(c) = &self.cache {
            c.touch(piece, played);
        }
        let queued = self.writes.as_ref().and_then(|q| q.get(piece));
        if let Some(data) = queued.or_else(|| lock(&self.ram).get(piece)) {
            if let Some(part) = data.get(begin as usize..end as usize) {
                return Ok(part.to_vec());
            }
        }
        let mut out = vec![0u8; len as usize];
        if let Some(c) = &self.cache {
            c.read(piece, begin, &mut out)?;
            return Ok(out);
        }
        for sp in self.layout.spans(piece, begin, len) {
            let at = sp.piece_offset.checked_sub(begin).map(|a| a as usize);
            let dst = at.and_then(|a| {
                a.checked_add(sp.len as usize)
                    .and_then(|e| out.get_mut(a..e))
            });
            let Some(dst) = dst else {
                return Err(StoreError::Invalid(format!(
                    "piece {piece}: layout span outside the read"
                )));
            };
            self.files.read_at(sp.file, sp.file_offset, dst)?;
        }
        Ok(out)
    }

    /// Block until `piece` is verified or `timeout` passes; true if verified.
    /// Woken by piece completion (condvar), never by polling.
    pub fn wait_for_piece(&self, piece: u32, timeout: Duration) -> bool {
        if piece >= self.layout.piece_count {
            return false;
        }
        let start = Instant::now();
        let mut have = lock(&self.have);
        // Bounded by `timeout`: every turn waits for what is left of it.
        loop {
            if have.get(piece) {
                return true;
            }
            let Some(left) = timeout.checked_sub(start.elapsed()) else {
                return false;
            };
            if left.is_zero() {
                return false;
            }
            have = match self.piece_done.wait_timeout(have, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Wait until no verified piece waits in the write queue (bounded; an
    /// error says how many are left). Blocking.
    pub fn flush_writes(&self) -> Result<(), StoreError> {
        match &self.writes {
            Some(q) => q.flush(),
            None => Ok(()),
        }
    }

    /// Make verified data durable, then atomically write the resume file.
    /// Blocking.
    pub fn save_resume(&self) -> Result<(), StoreError> {
        let _saving = lock(&self.save);
        if let Some(q) = &self.writes {
            // While writes fail this returns at once; the snapshot below
            // leaves out whatever is still queued either way.
            if let Err(e) = q.flush() {
                log::debug!("{}: resume saved without the queued pieces: {e}", self.name);
            }
        }
        // File stamps before the snapshot: a piece written after its file's
        // stamp changes the mtime, so the next open checks it if it is not
        // in the snapshot (see `check`).
        let stamps = match self.resume_path {
            Some(_) => self.files.quiet_stamps(),
            None => Vec::new(),
        };
        // Snapshot before the sync: every piece in it was written (and its
        // files marked dirty) before, so the sync below covers it.
        let have = match &self.writes {
            Some(q) => q.written(),
            None => self.have(),
        };
        self.files.sync_dirty()?;
        let Some(path) = &self.resume_path else {
            return Ok(());
        };
        let r = resume::Resume {
            info_hash: self.info_hash,
            files: stamps,
            have,
        };
        resume::write_atomic(path, &resume::encode(&r))
    }

    /// Total bytes written to disk since open (for metrics and SD-card wear).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// How many pieces the stream cache evicted since the last
    /// [`Self::take_evicted`] (0 without a cache).
    pub fn evicted_pending(&self) -> u32 {
        self.cache.as_ref().map_or(0, |c| c.evicted_pending())
    }

    /// Pieces the disk cache (storage mode `stream`) evicted since the last
    /// call: they are no longer verified.
    pub fn take_evicted(&self) -> Vec<u32> {
        self.cache
            .as_ref()
            .map(|c| c.take_evicted())
            .unwrap_or_default()
    }

    /// Why verified pieces cannot be written now (they wait in RAM and the
    /// write is retried), if they cannot.
    pub fn write_error(&self) -> Option<String> {
        self.writes.as_ref().and_then(|q| q.error())
    }

    /// Bytes of verified pieces waiting in RAM to be written.
    pub fn queued_write_bytes(&self) -> u64 {
        self.writes.as_ref().map_or(0, |q| q.bytes())
    }

    fn check_piece_index(&self, piece: u32) -> Result<(), StoreError> {
        if piece < self.layout.piece_count {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "piece {piece} out of range ({} pieces)",
                self.layout.piece_count
            )))
        }
    }

    /// Write a verified piece to its files (a piece may span several).
    fn write_piece(&self, piece: u32, buf: &[u8]) -> Result<(), StoreError> {
        if let Some(c) = &self.cache {
            c.write(piece, buf)?;
            self.bytes_written
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            return Ok(());
        }
        open::write_spans(&self.layout, &self.files, piece, buf, &self.bytes_written)
    }
}
