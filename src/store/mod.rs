//! The spill-to-disk piece store.
//!
//! INTERFACE STUB — to be implemented (keep these signatures; add freely).
//!
//! Blocks of in-flight pieces are held in RAM up to a cap; a complete piece is
//! SHA-1 verified (on the blocking pool, never on the network thread) and then
//! written with positional writes into the real file layout (sparse files).
//! A bounded RAM tier keeps recently verified pieces for readers. A resume
//! file (atomic write: temp, fsync, rename) lets a restart reuse verified data;
//! an unverified piece is never marked done.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::torrent::{Bitfield, Info, InfoHash, Layout};

#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Cap on bytes of in-flight (unverified) blocks held in RAM.
    pub inflight_ram: u64,
    /// Cap on bytes of verified pieces kept in RAM for readers.
    pub ram_tier: u64,
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
pub struct PieceStore {}

impl PieceStore {
    /// Open the store for a torrent whose files live under `dir` (each file at
    /// `FileEntry::path` under `dir`). Uses `resume` (if it exists and is
    /// consistent with the files) or else hash-checks whatever data is already
    /// on disk. Blocking: call it off the network thread.
    pub fn open(
        _info: &Info,
        _info_hash: InfoHash,
        _dir: &Path,
        _resume: Option<PathBuf>,
        _cfg: StoreConfig,
    ) -> Result<PieceStore, StoreError> {
        todo!()
    }

    pub fn layout(&self) -> &Layout {
        todo!()
    }

    /// Verified pieces (a copy).
    pub fn have(&self) -> Bitfield {
        todo!()
    }

    pub fn has_piece(&self, _piece: u32) -> bool {
        todo!()
    }

    /// Whether the in-flight RAM has room to start another piece.
    pub fn can_start_piece(&self) -> bool {
        todo!()
    }

    /// Hand over one received block. Cheap (a copy into RAM); callable on the
    /// network thread.
    pub fn put_block(
        &self,
        _piece: u32,
        _begin: u32,
        _data: &[u8],
    ) -> Result<BlockOutcome, StoreError> {
        todo!()
    }

    /// Hash a piece whose blocks are all in RAM; if good write it to the files
    /// and mark it verified, if bad drop it. Blocking (SHA-1 + disk writes).
    pub fn verify_piece(&self, _piece: u32) -> Result<Verdict, StoreError> {
        todo!()
    }

    /// Drop the in-flight blocks of a piece (e.g. all its peers vanished).
    pub fn discard_piece(&self, _piece: u32) {
        todo!()
    }

    /// Read verified bytes (RAM tier first, then disk). Blocking.
    pub fn read(&self, _piece: u32, _begin: u32, _len: u32) -> Result<Vec<u8>, StoreError> {
        todo!()
    }

    /// Block until `piece` is verified or `timeout` passes; true if verified.
    /// Woken by piece completion (condvar), never by polling.
    pub fn wait_for_piece(&self, _piece: u32, _timeout: Duration) -> bool {
        todo!()
    }

    /// Make verified data durable, then atomically write the resume file.
    /// Blocking.
    pub fn save_resume(&self) -> Result<(), StoreError> {
        todo!()
    }

    /// Total bytes written to disk since open (for metrics and SD-card wear).
    pub fn bytes_written(&self) -> u64 {
        todo!()
    }
}
