//! Verifying complete pieces: hash a piece whose blocks are all in RAM,
//! then write it and mark it verified, or drop it.
//!
//! Pieces can be verified two at a time ([`PieceStore::verify_pieces_with`]):
//! the SHA-1 of one piece is a chain of dependent instructions, and hashing
//! two pieces interleaved (`sha1::digest2`) runs about twice as fast on
//! CPUs with SHA instructions. The engine pairs pieces that complete close
//! together. Locking follows the order in `mod.rs`; no lock is held while
//! hashing or writing.

use std::sync::Arc;

use super::buf::PieceBuf;
use super::inflight::Take;
use super::{lock, sha1, PieceStore, StoreError, Verdict};

impl PieceStore {
    /// Hash a piece whose blocks are all in RAM; if good write it to the files
    /// and mark it verified, if bad drop it. Blocking (SHA-1 + disk writes).
    pub fn verify_piece(&self, piece: u32) -> Result<Verdict, StoreError> {
        self.verify_piece_with(piece, |_| {})
    }

    /// [`PieceStore::verify_piece`], letting `inspect` look at the piece's
    /// bytes once they are hashed (good or bad; not called when there is
    /// nothing to verify). The engine takes block digests there to blame
    /// senders of bad data without a pass of its own over every piece.
    pub fn verify_piece_with(
        &self,
        piece: u32,
        inspect: impl FnOnce(&[u8]),
    ) -> Result<Verdict, StoreError> {
        let mut inspect = Some(inspect);
        let mut out = self.verify_pieces_with(
            &[piece],
            |_| true,
            |_, buf| {
                if let Some(f) = inspect.take() {
                    f(buf)
                }
            },
        );
        out.pop().unwrap_or_else(|| {
            Err(StoreError::Invalid(format!(
                "piece {piece}: no verification result"
            )))
        })
    }

    /// Verify several pieces, hashing them two at a time; one result per
    /// piece, in order. A good piece is kept in the RAM tier only if
    /// `hot(piece)` (a reader wants it soon); the others are read back from
    /// disk if ever needed, so a background download does not fill RAM.
    /// `inspect(piece, bytes)` as in [`PieceStore::verify_piece_with`].
    pub fn verify_pieces_with(
        &self,
        pieces: &[u32],
        hot: impl Fn(u32) -> bool,
        mut inspect: impl FnMut(u32, &[u8]),
    ) -> Vec<Result<Verdict, StoreError>> {
        let mut results = Vec::with_capacity(pieces.len());
        for pair in pieces.chunks(2) {
            let taken: Vec<Result<Option<PieceBuf>, StoreError>> =
                pair.iter().map(|&p| self.take_complete(p)).collect();
            let hashes: Vec<Option<[u8; 20]>> = match (taken.first(), taken.get(1)) {
                (Some(Ok(Some(a))), Some(Ok(Some(b)))) => {
                    let (ha, hb) = sha1::digest2(a, b);
                    vec![Some(ha), Some(hb)]
                }
                _ => taken
                    .iter()
                    .map(|t| match t {
                        Ok(Some(buf)) => Some(sha1::digest(buf)),
                        _ => None,
                    })
                    .collect(),
            };
            for ((&piece, t), hash) in pair.iter().zip(taken).zip(hashes) {
                results.push(match t {
                    Err(e) => Err(e),
                    Ok(None) => Ok(Verdict::Good),
                    Ok(Some(buf)) => {
                        let good = hash.is_some()
                            && hash.as_ref() == self.piece_hashes.get(piece as usize);
                        inspect(piece, &buf);
                        self.finish_verify(piece, buf, good, hot(piece))
                    }
                });
            }
        }
        results
    }

    /// The complete piece's buffer, taken out for hashing; `None` if the
    /// piece is already verified.
    fn take_complete(&self, piece: u32) -> Result<Option<PieceBuf>, StoreError> {
        self.check_piece_index(piece)?;
        if self.has_piece(piece) {
            return Ok(None);
        }
        let taken = lock(&self.inflight).take_for_verify(piece);
        match taken {
            Take::Ready(buf) => Ok(Some(buf)),
            Take::Absent => Err(StoreError::Invalid(format!(
                "piece {piece}: no blocks in RAM to verify"
            ))),
            Take::Incomplete { received, total } => Err(StoreError::Invalid(format!(
                "piece {piece}: only {received} of {total} blocks received"
            ))),
            Take::Busy => Err(StoreError::Invalid(format!(
                "piece {piece}: already being verified"
            ))),
        }
    }

    /// Act on a hash verdict: drop a bad piece; write a good one, mark it
    /// verified, wake readers and, if `hot`, keep it in the RAM tier.
    fn finish_verify(
        &self,
        piece: u32,
        buf: PieceBuf,
        good: bool,
        hot: bool,
    ) -> Result<Verdict, StoreError> {
        if !good {
            let mut inflight = lock(&self.inflight);
            inflight.remove(piece, true);
            inflight.recycle(buf);
            drop(inflight);
            log::debug!(
                "{}: piece {piece} failed its hash check; dropped",
                self.name
            );
            return Ok(Verdict::Bad);
        }
        if let Some(q) = &self.writes {
            return self.queue_verified(q, piece, buf, hot);
        }
        if let Err(e) = self.write_piece(piece, &buf) {
            log::warn!(
                "{}: piece {piece} verified but not stored ({e}); kept in RAM for a retry",
                self.name
            );
            lock(&self.inflight).restore(piece, buf);
            return Err(e);
        }
        {
            let mut inflight = lock(&self.inflight);
            lock(&self.have).set(piece);
            inflight.remove(piece, true);
        }
        if let Some(c) = &self.cache {
            c.commit(piece);
        }
        self.piece_done.notify_all();
        if !hot {
            lock(&self.inflight).recycle(buf);
            return Ok(Verdict::Good);
        }
        // Keep it for readers if the tier has room for it; reuse what the
        // tier drops (unless a reader still holds it).
        let dropped = lock(&self.ram).insert(piece, Arc::new(buf));
        let reusable: Vec<PieceBuf> = dropped
            .into_iter()
            .filter_map(|b| Arc::try_unwrap(b).ok())
            .collect();
        if !reusable.is_empty() {
            let mut inflight = lock(&self.inflight);
            for b in reusable {
                inflight.recycle(b);
            }
        }
        Ok(Verdict::Good)
    }

    /// A good piece with a write queue: queue it (waiting while the write
    /// budget is full), then mark it verified: readers get it from the
    /// queue until it is written (a failed write is retried there, see
    /// `writeq.rs`).
    fn queue_verified(
        &self,
        q: &super::writeq::WriteQueue,
        piece: u32,
        buf: PieceBuf,
        hot: bool,
    ) -> Result<Verdict, StoreError> {
        let buf = Arc::new(buf);
        q.push(piece, buf.clone());
        let spares = q.take_returned();
        {
            let mut inflight = lock(&self.inflight);
            lock(&self.have).set(piece);
            inflight.remove(piece, true);
            for b in spares {
                inflight.recycle(b);
            }
        }
        self.piece_done.notify_all();
        if hot {
            // Whatever the tier drops is freed (the queue may still hold it).
            drop(lock(&self.ram).insert(piece, buf));
        }
        Ok(Verdict::Good)
    }
}
