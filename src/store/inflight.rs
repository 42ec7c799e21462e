//! In-flight pieces: blocks received from peers, held in RAM until the whole
//! piece is there and can be hashed.
//!
//! Each piece being downloaded owns one buffer of its full size plus a
//! block-received bitmap (blocks of [`BLOCK_LEN`], the last one short). The
//! sum of those buffers is capped so a Pi Zero never holds more unverified
//! data than its board profile allows. This type is plain data: the store
//! wraps it in a mutex, and nothing here does I/O or hashing.
//!
//! Buffers of finished pieces come back ([`Inflight::recycle`]) and are
//! kept as spares for the next pieces, so a download reuses a few
//! allocations instead of faulting in fresh pages for every piece. Spares
//! count against the same cap: in-flight plus spare bytes stay under it.

use std::collections::HashMap;

use super::buf::PieceBuf;
use super::{BlockOutcome, StoreError};
use crate::torrent::Layout;
use crate::wire::message::BLOCK_LEN;

/// One piece being downloaded.
struct Partial {
    /// `piece_size` bytes; `None` while a verifier has taken it out.
    buf: Option<PieceBuf>,
    /// One flag per block.
    got: Vec<bool>,
    /// Number of `true` entries in `got`.
    received: usize,
    /// The bytes counted against the cap (the piece's size).
    size: u32,
    /// A verifier holds `buf`; blocks for the piece are duplicates.
    verifying: bool,
}

/// All in-flight pieces of one torrent.
///
/// Invariants: `bytes` is the sum of `size` over `pieces`; a new piece is
/// admitted only when it fits under `cap` or when nothing else is in flight
/// (so a cap smaller than one piece still makes progress), or when the
/// engine requests its blocks ([`Inflight::start_over_cap`]: under the cap
/// for pieces it started on [`Inflight::pieces_that_fit`], over it by one
/// piece per reader that waits for one); spares are dropped to make room.
pub(crate) struct Inflight {
    pieces: HashMap<u32, Partial>,
    bytes: u64,
    cap: u64,
    /// Buffers of finished pieces, ready for reuse.
    spares: Vec<PieceBuf>,
}

/// What [`Inflight::take_for_verify`] found.
pub(crate) enum Take {
    /// The piece's full buffer; the entry stays, marked verifying.
    Ready(PieceBuf),
    /// Not in flight at all.
    Absent,
    /// In flight but blocks are missing.
    Incomplete { received: usize, total: usize },
    /// Another thread is verifying it right now.
    Busy,
}

impl Inflight {
    pub(crate) fn new(cap: u64) -> Inflight {
        Inflight {
            pieces: HashMap::new(),
            bytes: 0,
            cap,
            spares: Vec::new(),
        }
    }

    /// Change the cap (the board budget was split anew). Pieces already in
    /// flight stay; new ones start only under the new cap.
    pub(crate) fn set_cap(&mut self, cap: u64) {
        self.cap = cap;
        self.trim_spares();
    }

    /// Take back the buffer of a piece that left the in-flight set, for
    /// reuse, if it fits under the cap.
    pub(crate) fn recycle(&mut self, buf: PieceBuf) {
        self.spares.push(buf);
        self.trim_spares();
    }

    fn spare_bytes(&self) -> u64 {
        self.spares.iter().map(|b| b.len() as u64).sum()
    }

    fn trim_spares(&mut self) {
        while !self.spares.is_empty() && self.bytes.saturating_add(self.spare_bytes()) > self.cap {
            self.spares.pop();
        }
    }

    /// A buffer of `size` bytes: a spare of that size, or a new one. Its
    /// contents are stale; every block of the piece overwrites its part
    /// before the piece is complete.
    fn buffer(&mut self, size: u32) -> PieceBuf {
        match self.spares.iter().position(|b| b.len() == size as usize) {
            Some(i) => self.spares.swap_remove(i),
            None => {
                // Make room for a buffer of another size (the last piece).
                self.spares.pop();
                PieceBuf::new(size as usize)
            }
        }
    }

    /// Bytes of in-flight buffers (for metrics and tests).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether a piece of `size` bytes may start now.
    pub(crate) fn fits(&self, size: u32) -> bool {
        self.pieces.is_empty() || self.bytes.saturating_add(u64::from(size)) <= self.cap
    }

    /// How many more pieces of `size` bytes fit under the cap (at least one
    /// while nothing is in flight, as [`Inflight::fits`]).
    pub(crate) fn pieces_that_fit(&self, size: u32) -> u32 {
        let n = self.cap.saturating_sub(self.bytes) / u64::from(size.max(1));
        let n = if self.pieces.is_empty() { n.max(1) } else { n };
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Make room for `piece` now, whatever the cap: the engine requested
    /// its blocks (under the cap by [`Inflight::pieces_that_fit`], or over
    /// it for a reader blocked on it). No-op if it is in flight already or
    /// `size` is 0.
    pub(crate) fn start_over_cap(&mut self, piece: u32, size: u32) {
        if size > 0 && !self.pieces.contains_key(&piece) {
            self.start(piece, size);
        }
    }

    fn start(&mut self, piece: u32, size: u32) {
        let blocks = block_count(size);
        self.bytes += u64::from(size);
        let buf = self.buffer(size);
        self.trim_spares();
        self.pieces.insert(
            piece,
            Partial {
                buf: Some(buf),
                got: vec![false; blocks],
                received: 0,
                size,
                verifying: false,
            },
        );
    }

    /// Check one block's position and length, then copy it into its piece,
    /// starting the piece if needed. A block of a `verified` piece is a
    /// duplicate.
    pub(crate) fn put(
        &mut self,
        layout: &Layout,
        piece: u32,
        begin: u32,
        data: &[u8],
        verified: bool,
    ) -> Result<BlockOutcome, StoreError> {
        let size = layout.piece_size(piece);
        let block = check_block(piece, size, begin, data.len())?;
        if verified {
            return Ok(BlockOutcome::Duplicate);
        }
        if !self.pieces.contains_key(&piece) {
            if !self.fits(size) {
                return Ok(BlockOutcome::NoRoom);
            }
            self.start(piece, size);
        }
        let Some(p) = self.pieces.get_mut(&piece) else {
            return Err(StoreError::Invalid(format!(
                "piece {piece}: in-flight entry vanished"
            )));
        };
        if p.verifying || p.got.get(block) != Some(&false) {
            return Ok(BlockOutcome::Duplicate);
        }
        let start = begin as usize;
        let dst = start
            .checked_add(data.len())
            .and_then(|end| p.buf.as_mut().and_then(|b| b.get_mut(start..end)));
        let Some(dst) = dst else {
            return Err(StoreError::Invalid(format!(
                "piece {piece}: block at {begin} outside buffer"
            )));
        };
        dst.copy_from_slice(data);
        if let Some(flag) = p.got.get_mut(block) {
            *flag = true;
            p.received += 1;
        }
        Ok(if p.received == p.got.len() {
            BlockOutcome::PieceReady
        } else {
            BlockOutcome::Stored
        })
    }

    /// Take the buffer of a complete piece for hashing; the entry stays
    /// (still counted against the cap) and is marked verifying.
    pub(crate) fn take_for_verify(&mut self, piece: u32) -> Take {
        match self.pieces.get_mut(&piece) {
            None => Take::Absent,
            Some(p) if p.verifying => Take::Busy,
            Some(p) if p.received < p.got.len() => Take::Incomplete {
                received: p.received,
                total: p.got.len(),
            },
            Some(p) => match p.buf.take() {
                Some(buf) => {
                    p.verifying = true;
                    Take::Ready(buf)
                }
                None => Take::Busy,
            },
        }
    }

    /// Give a buffer back after a failed write, so the piece can be retried.
    pub(crate) fn restore(&mut self, piece: u32, buf: PieceBuf) {
        match self.pieces.get_mut(&piece) {
            Some(p) => {
                p.buf = Some(buf);
                p.verifying = false;
            }
            None => self.recycle(buf),
        }
    }

    /// Forget a piece (verified, bad, or given up). With `force` false a
    /// piece being verified is left alone (its verifier finishes it).
    pub(crate) fn remove(&mut self, piece: u32, force: bool) {
        let busy = self.pieces.get(&piece).is_some_and(|p| p.verifying);
        if busy && !force {
            return;
        }
        if let Some(p) = self.pieces.remove(&piece) {
            self.bytes -= u64::from(p.size);
            if let Some(buf) = p.buf {
                self.recycle(buf);
            }
        }
    }
}

/// Number of blocks in a piece of `size` bytes.
pub(crate) fn block_count(size: u32) -> usize {
    size.div_ceil(BLOCK_LEN) as usize
}

/// Check a block's position and length against its piece; returns the
/// block's index.
fn check_block(piece: u32, size: u32, begin: u32, len: usize) -> Result<usize, StoreError> {
    let bad = |why: &str| {
        StoreError::Invalid(format!(
            "piece {piece} (size {size}): block at {begin} len {len}: {why}"
        ))
    };
    if size == 0 {
        return Err(bad("no such piece"));
    }
    if begin % BLOCK_LEN != 0 {
        return Err(bad("offset not a multiple of 16 KiB"));
    }
    if begin >= size {
        return Err(bad("offset past the end of the piece"));
    }
    let expected = (size - begin).min(BLOCK_LEN);
    if u32::try_from(len).ok() != Some(expected) {
        return Err(bad(&format!("length should be {expected}")));
    }
    Ok((begin / BLOCK_LEN) as usize)
}
