//! Stream readers: a blocking `Read + Seek` over one file of a torrent,
//! which waits for missing pieces and steers the picker with a sliding,
//! adaptive priority window.
//!
//! A [`FileReader`] reads verified bytes through the piece store (RAM tier
//! first, then disk). When the piece under the read position is missing it
//! first tells the engine what it needs (the plan of [`window`]: the piece
//! under the read position `Urgent`, the rest of the adaptive window and
//! the file's edges `High`) and then blocks on the store's piece-completion
//! condvar, at most [`ReaderConfig::wait_timeout`]; a wait that runs out
//! becomes an [`std::io::ErrorKind::TimedOut`] error, so an HTTP worker is
//! never hung on a piece nobody sends. The engine hears from a reader only
//! when its plan changes, i.e. when the window moved by a piece or more.
//!
//! The same plan goes to the piece store ([`PieceStore::want_pieces`]): in
//! storage mode `stream` its disk cache keeps the pieces an open reader's
//! plan holds until the reader has passed them, and reads through a reader
//! count as played ([`PieceStore::read_played`]).
//!
//! Each reader is its own priority owner (a process-wide counter starting
//! at [`READER_OWNER_BASE`], so readers never collide with other owners
//! such as a file selection); dropping the reader clears its ranges.
//!
//! # Shared state
//!
//! A `FileReader` is owned by one thread. Process-wide there are only the
//! owner counter and the counters behind [`stats`], all independent
//! atomics (no locks, no ordering between them).

pub mod file;
pub mod window;

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, warn};

use crate::board::BoardProfile;
use crate::store::PieceStore;
use crate::swarm::{Engine, PriorityHandle, TorrentId};
pub use file::{resolve, FileError, FileRef};
use window::{Plan, Window};

/// Readers take priority owner ids from here up; smaller ids are left to
/// other owners (file selections).
pub const READER_OWNER_BASE: u64 = 1 << 32;

static NEXT_OWNER: AtomicU64 = AtomicU64::new(READER_OWNER_BASE);
static OPEN: AtomicU64 = AtomicU64::new(0);
static WAITS: AtomicU64 = AtomicU64::new(0);
static TIMEOUTS: AtomicU64 = AtomicU64::new(0);
static WINDOW_BYTES: AtomicU64 = AtomicU64::new(0);

/// Process-wide reader counters (for `/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Readers alive now.
    pub open: u64,
    /// Reads that had to wait for a piece (since start).
    pub waits: u64,
    /// Waits that ran out of time: stalls a client saw as an error.
    pub timeouts: u64,
    /// Sum of the current read-ahead windows of the open readers (bytes).
    pub window_bytes: u64,
}

/// A snapshot of the reader counters.
pub fn stats() -> ReaderStats {
    ReaderStats {
        open: OPEN.load(Ordering::Relaxed),
        waits: WAITS.load(Ordering::Relaxed),
        timeouts: TIMEOUTS.load(Ordering::Relaxed),
        window_bytes: WINDOW_BYTES.load(Ordering::Relaxed),
    }
}

/// What a reader needs from the configuration ([`ReaderConfig::for_board`]
/// takes the window bounds from the board profile's `[stream]` section).
#[derive(Clone, Debug)]
pub struct ReaderConfig {
    /// Smallest read-ahead window (bytes).
    pub window_min: u64,
    /// Largest read-ahead window (bytes).
    pub window_max: u64,
    /// How long one read waits for a missing piece before failing.
    pub wait_timeout: Duration,
}

/// How long a read waits for a missing piece by default.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(60);

impl ReaderConfig {
    /// The board's window bounds and [`DEFAULT_WAIT_TIMEOUT`].
    pub fn for_board(board: &BoardProfile) -> ReaderConfig {
        ReaderConfig {
            window_min: board.stream_window_min,
            window_max: board.stream_window_max,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }
}

impl Default for ReaderConfig {
    /// 4 MiB to 64 MiB of window, [`DEFAULT_WAIT_TIMEOUT`] per wait.
    fn default() -> Self {
        ReaderConfig {
            window_min: 4 * 1024 * 1024,
            window_max: 64 * 1024 * 1024,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }
}

#[derive(Debug)]
pub enum ReaderError {
    Invalid(String),
    /// No such torrent or file, or no metadata yet (see [`resolve`]).
    File(FileError),
    /// The torrent's piece store is not open yet (the check of existing
    /// data is running).
    NotReady(TorrentId),
}

impl From<FileError> for ReaderError {
    fn from(e: FileError) -> Self {
        ReaderError::File(e)
    }
}

impl std::fmt::Display for ReaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReaderError::Invalid(s) => write!(f, "stream reader: {s}"),
            ReaderError::File(e) => e.fmt(f),
            ReaderError::NotReady(id) => {
                write!(
                    f,
                    "torrent {id} is not ready to stream yet (its data is being checked)"
                )
            }
        }
    }
}

impl std::error::Error for ReaderError {}

/// Dropping it releases its priorities.
pub struct FileReader {
    id: TorrentId,
    file: usize,
    store: Arc<PieceStore>,
    prio: PriorityHandle,
    owner: u64,
    /// The file's first byte in the torrent's byte stream, and its length.
    offset: u64,
    len: u64,
    pos: u64,
    /// Where this reader started (opened, or last seeked to) plus
    /// [`window::URGENT_BYTES`]: the pieces before it are `Urgent` until
    /// read (what a player needs before it shows a picture), after it only
    /// the piece under `pos`.
    urgent_until: u64,
    wait_timeout: Duration,
    window: Window,
    /// The plan last sent to the engine.
    sent: Option<Plan>,
    /// This reader's share of `WINDOW_BYTES`.
    window_reported: u64,
}

impl FileReader {
    /// Open file `file` of torrent `id` ([`resolve`], then
    /// [`FileReader::open_file`]).
    pub fn open(
        engine: &Engine,
        id: TorrentId,
        file: usize,
        cfg: ReaderConfig,
    ) -> Result<FileReader, ReaderError> {
        let f = resolve(engine, id, file)?;
        Self::open_file(engine, &f, cfg)
    }

    /// Open a file [`resolve`] has found; [`ReaderError::NotReady`] while
    /// the torrent's piece store is still opening.
    pub fn open_file(
        engine: &Engine,
        f: &FileRef,
        cfg: ReaderConfig,
    ) -> Result<FileReader, ReaderError> {
        let (id, file) = (f.id, f.index);
        let store = engine.store(id).ok_or(ReaderError::NotReady(id))?;
        let &(offset, len) = store.layout().files.get(file).ok_or_else(|| {
            ReaderError::Invalid(format!(
                "torrent {id}: the store's layout has no file {file}"
            ))
        })?;
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        OPEN.fetch_add(1, Ordering::Relaxed);
        debug!("reader {owner}: opened file {file} of {id} ({len} bytes)");
        Ok(FileReader {
            id,
            file,
            store,
            prio: engine.priority_handle(),
            owner,
            offset,
            len,
            pos: 0,
            urgent_until: window::URGENT_BYTES,
            wait_timeout: cfg.wait_timeout,
            window: Window::new(cfg.window_min, cfg.window_max, Instant::now()),
            sent: None,
            window_reported: 0,
        })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The read position (bytes from the file's start).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Wait (bounded by the configured timeout) until the byte at the read
    /// position can be read without blocking; `Ok` at the end of the file.
    /// Lets a server answer a stalled request with an error status before
    /// it has sent any headers.
    pub fn wait_ready(&mut self) -> io::Result<()> {
        match self.locate(1) {
            Some((piece, _, _)) => self.ensure(piece),
            None => Ok(()),
        }
    }

    /// The piece, offset in it and length of the next read of at most
    /// `want` bytes; `None` at or past the end of the file.
    fn locate(&self, want: usize) -> Option<(u32, u32, u32)> {
        let left = self.len.checked_sub(self.pos).filter(|&l| l > 0)?;
        let layout = self.store.layout();
        let pl = u64::from(layout.piece_length);
        if pl == 0 {
            return None;
        }
        let abs = self.offset.checked_add(self.pos)?;
        let piece = u32::try_from(abs / pl).ok()?;
        // abs % pl < pl, a u32.
        let begin = (abs % pl) as u32;
        let in_piece = layout.piece_size(piece).checked_sub(begin)?;
        let n = u64::from(in_piece)
            .min(left)
            .min(u64::try_from(want).unwrap_or(u64::MAX));
        // n <= in_piece, a u32.
        (n > 0).then_some((piece, begin, n as u32))
    }

    /// Steer the picker from the current position, then block until
    /// `piece` is verified (bounded).
    fn ensure(&mut self, piece: u32) -> io::Result<()> {
        self.steer(Instant::now());
        if self.store.has_piece(piece) {
            return Ok(());
        }
        WAITS.fetch_add(1, Ordering::Relaxed);
        let t = Instant::now();
        if self.store.wait_for_piece(piece, self.wait_timeout) {
            debug!(
                "reader {}: waited {:?} for piece {piece} (byte {} of file {})",
                self.owner,
                t.elapsed(),
                self.pos,
                self.file
            );
            return Ok(());
        }
        TIMEOUTS.fetch_add(1, Ordering::Relaxed);
        warn!(
            "reader {}: piece {piece} of {} (file {}, byte {}) did not arrive within {:?}",
            self.owner, self.id, self.file, self.pos, self.wait_timeout
        );
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "piece {piece} of torrent {} did not arrive within {:?}",
                self.id, self.wait_timeout
            ),
        ))
    }

    /// Send the plan for the current position if it differs from the last
    /// one sent (the window moved by a piece or more).
    fn steer(&mut self, now: Instant) {
        let ahead = self.window.ahead(now);
        if ahead != self.window_reported {
            WINDOW_BYTES.fetch_add(ahead, Ordering::Relaxed);
            WINDOW_BYTES.fetch_sub(self.window_reported, Ordering::Relaxed);
            self.window_reported = ahead;
        }
        let plan = window::plan(
            self.store.layout(),
            self.file,
            self.pos,
            self.urgent_until,
            ahead,
        );
        if self.sent.as_ref() == Some(&plan) {
            return;
        }
        if let Err(e) = self.prio.set_priority(self.id, self.owner, plan.ranges()) {
            debug!("reader {}: cannot set priorities: {e}", self.owner);
        }
        let old = self.sent.as_ref().map(Plan::pieces).unwrap_or_default();
        let (add, drop) = window::diff(&old, &plan.pieces());
        self.store.want_pieces(&add, &drop);
        self.sent = Some(plan);
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some((piece, begin, n)) = self.locate(buf.len()) else {
            return Ok(0);
        };
        self.ensure(piece)?;
        let data = self
            .store
            .read_played(piece, begin, n)
            .map_err(|e| io::Error::other(format!("torrent {}: {e}", self.id)))?;
        let dst = buf
            .get_mut(..data.len())
            .ok_or_else(|| io::Error::other("store returned more bytes than asked"))?;
        dst.copy_from_slice(&data);
        let n = data.len() as u64;
        self.pos = self.pos.saturating_add(n);
        self.window.consumed(n, Instant::now());
        Ok(data.len())
    }
}

impl Seek for FileReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let new = new.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file or past u64",
            )
        })?;
        if new != self.pos {
            self.window.seeked(Instant::now());
            self.pos = new;
            self.urgent_until = new.saturating_add(window::URGENT_BYTES);
        }
        Ok(new)
    }
}

impl Drop for FileReader {
    fn drop(&mut self) {
        if let Some(plan) = self.sent.take() {
            // Fails only when the engine is gone, which dropped them anyway.
            let _ = self.prio.set_priority(self.id, self.owner, Vec::new());
            self.store.want_pieces(&[], &plan.pieces());
        }
        WINDOW_BYTES.fetch_sub(self.window_reported, Ordering::Relaxed);
        OPEN.fetch_sub(1, Ordering::Relaxed);
        debug!("reader {}: closed at byte {}", self.owner, self.pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_every_board() {
        for name in crate::board::known_names() {
            let b = crate::board::by_name(name).expect("profile");
            let c = ReaderConfig::for_board(&b);
            assert!(c.window_min >= 1024 * 1024, "{name}");
            assert!(c.window_min <= c.window_max, "{name}");
            assert_eq!(c.wait_timeout, DEFAULT_WAIT_TIMEOUT);
        }
    }
}
